"""Metrics of a head-pose sequence (Talk2Me's generated head motion, issue 14), each on
``[T, 3, 3]`` camera-from-head rotations, one per video frame at ``fps`` (25) frames per second:

- ``angular_velocity`` (°/s): the mean angular speed, the angle of ``R[t+1] R[t]ᵀ`` per frame
  times the frame rate. How much the head moves.
- ``jerk`` (°/s³): the mean norm of the third time difference of the head's orientation (the
  rotation vector of ``R[t] R̄ᵀ``, ``R̄`` the rotation nearest the mean). Smoothness: a smooth
  motion has a small one, per-frame tracking noise or a jittery generator a large one.
- ``yaw_std``, ``pitch_std``, ``roll_std`` (°): the spread of each angle
  (:func:`talkgs.pose.camera.euler_from_rotation`). Diversity: a head that barely moves has
  small ones.
- ``velocity_fd``: the Fréchet distance between Gaussians fitted to windows of
  :data:`WINDOW` consecutive angular velocity vectors (3-d, °/s, flattened) of the sequence and
  of a reference (the recorded poses), in (°/s)²: how far the *kind* of motion is from the
  recorded one, whatever its timing (lower is closer). Computed by
  :func:`talkgs.metrics.fid.fid`, the one Fréchet distance of the package. None without a
  reference.

The column titles, units and directions of the table are :data:`talkgs.tables.HEAD_MOTION`
(kept there: the tables import no NumPy-heavy module).

A metric that the sequence is too short for is None, never 0: the angular velocity and the
spreads need 2 frames, the jerk 4, the Fréchet distance ``WINDOW + 2`` frames in both sequences
(two windows, the fewest a covariance is taken over).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

from talkgs.errors import TalkgsError
from talkgs.metrics.fid import fid
from talkgs.pose.camera import euler_from_rotation, log_so3, project_to_rotation

WINDOW = 5  # frames per velocity window (0.2 s) for the Fréchet distance


def _rotations(value: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(value, np.float64)
    if array.ndim != 3 or array.shape[1:] != (3, 3):
        raise TalkgsError(f"head motion: {name} must be [T, 3, 3] rotations, got {array.shape}")
    return array


def angular_velocities(rotations: np.ndarray, fps: float) -> np.ndarray:
    """``[T − 1, 3]`` rotation vectors of ``R[t+1] R[t]ᵀ`` in degrees per second."""
    relative = rotations[1:] @ np.swapaxes(rotations[:-1], -1, -2)
    return np.degrees(log_so3(relative)) * fps


def head_motion_metrics(
    rotations: np.ndarray, reference: np.ndarray | None = None, fps: float = 25.0
) -> dict[str, float | None]:
    """The metrics of the module docstring for ``rotations`` ``[T, 3, 3]``, the Fréchet
    distance against ``reference`` ``[T', 3, 3]`` when given."""
    rotations = _rotations(rotations, "rotations")
    count = len(rotations)
    velocity = angular_velocities(rotations, fps) if count >= 2 else np.zeros((0, 3))
    metrics: dict[str, float | None] = {
        "angular_velocity": float(np.linalg.norm(velocity, axis=1).mean()) if count >= 2 else None
    }
    if count >= 4:  # a third difference needs 4 frames
        # orientations about the mean pose: small rotation vectors, far from the log map's wrap
        # at 180°, so that their differences are those of the motion
        mean = project_to_rotation(rotations.mean(axis=0))
        orientation = np.degrees(log_so3(rotations @ mean.T))
        third = np.diff(orientation, n=3, axis=0) * fps**3
        metrics["jerk"] = float(np.linalg.norm(third, axis=1).mean())
    else:
        metrics["jerk"] = None
    spread = euler_from_rotation(rotations).std(axis=0) if count >= 2 else [None] * 3
    for name, value in zip(("yaw_std", "pitch_std", "roll_std"), spread, strict=True):
        metrics[name] = None if value is None else float(value)
    metrics["velocity_fd"] = None
    # two windows at least: one window has no covariance
    if reference is not None and min(count, len(reference)) >= WINDOW + 2:
        other = angular_velocities(_rotations(reference, "reference"), fps)
        with warnings.catch_warnings():  # a head turning about one axis: singular covariances
            warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
            distance = fid(velocity_windows(velocity), velocity_windows(other))
        metrics["velocity_fd"] = max(distance, 0.0)  # rounding leaves −1e-6 for equal motions
    return metrics


def velocity_windows(velocity: np.ndarray) -> np.ndarray:
    """``[T − WINDOW + 1, 3 · WINDOW]``: every run of :data:`WINDOW` velocities, flattened."""
    starts = range(len(velocity) - WINDOW + 1)
    return np.stack([velocity[s : s + WINDOW].ravel() for s in starts])
