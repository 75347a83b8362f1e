"""Head motion and blinks of the demo: smooth seeded curves, and the camera that sees them.

Camera: a pinhole with OpenCV axes (x right, y down, z forward, into the scene) and pixel
coordinates with pixel centres at integers. The focal length is in pixels and the principal point
is the image centre ``(W / 2, H / 2)``, the convention of TalkingGaussian's transforms files.

Head: the person is a plane facing the camera. Head coordinates have their origin at the face
centre (the mean of the rest landmarks), axes parallel to the camera's at rest and units of source
pixels; the face plane is ``z = 0``. At rest the plane sits at depth ``focal``, so a source pixel
``(u, v)`` is the head point ``(u - xc, v - yc, 0)`` and projects back onto itself. A frame's pose
is camera-from-head: ``X_cam = R @ X_head + t``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from talkgs.camera import Camera

# Bounds of the head motion. Angles in degrees, offsets in pixels at the rest depth.
YAW_DEG, PITCH_DEG, ROLL_DEG = 6.0, 3.0, 4.0
SHIFT_X_PX, SHIFT_Y_PX, SHIFT_Z_PX = 8.0, 6.0, 16.0
SLOW_HZ, FAST_HZ = (0.05, 0.15), (0.15, 0.30)  # frequency ranges of the two sinusoids per axis

# Blinks: the first one after FIRST_BLINK_S, then one every BLINK_INTERVAL_S.
FIRST_BLINK_S = (0.8, 1.6)
BLINK_INTERVAL_S = (2.2, 3.4)
BLINK_FRAMES = (5, 7)  # inclusive range of a blink's length in frames
BLINK_HORIZON_S = 12.0  # blinks are drawn over the longest demo, so shorter ones are prefixes


@dataclass(frozen=True)
class HeadTrajectory:
    """The rigid head pose of every frame (T frames), camera-from-head."""

    euler_deg: np.ndarray  # [T, 3] (yaw, pitch, roll) in degrees; R = Rz(roll) Ry(yaw) Rx(pitch)
    rotations: np.ndarray  # [T, 3, 3]
    translations: np.ndarray  # [T, 3], pixels at the rest depth
    homographies: np.ndarray  # [T, 3, 3] source photo pixels -> frame pixels, H[2, 2] = 1


def rotation_matrix(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """``Rz(roll) @ Ry(yaw) @ Rx(pitch)``, right-handed rotations about the camera axes.

    Seen in the image: positive roll turns the face clockwise, positive yaw turns it towards the
    image's left (the person's right), positive pitch tilts it down.
    """
    yaw, pitch, roll = np.radians([yaw_deg, pitch_deg, roll_deg])
    cx, sx = np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(yaw), np.sin(yaw)
    cz, sz = np.cos(roll), np.sin(roll)
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]])
    ry = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    rz = np.array([[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]])
    return rz @ ry @ rx


def rest_translation(camera: Camera, face_center: np.ndarray) -> np.ndarray:
    """t0: where the head origin sits at rest so that the rest pose reproduces the source photo."""
    return np.array([face_center[0] - camera.cx, face_center[1] - camera.cy, camera.focal])


def plane_homography(
    camera: Camera, rotation: np.ndarray, translation: np.ndarray, rest_t: np.ndarray
) -> np.ndarray:
    """Source photo pixels -> frame pixels for the face plane posed at (R, t).

    ``H = K [r1 r2 t] (K [e1 e2 t0])^-1``: undo the rest projection back onto the plane, then
    project the plane at its new pose.
    """
    k = camera.matrix
    posed = k @ np.column_stack([rotation[:, 0], rotation[:, 1], translation])
    rest = k @ np.column_stack([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], rest_t])
    homography = posed @ np.linalg.inv(rest)
    return homography / homography[2, 2]


def apply_homography(homography: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``[N, 2]`` points mapped through a 3×3 homography."""
    mapped = np.column_stack([points, np.ones(len(points))]) @ homography.T
    return mapped[:, :2] / mapped[:, 2:3]


def head_trajectory(
    times: np.ndarray, rng: np.random.Generator, camera: Camera, face_center: np.ndarray
) -> HeadTrajectory:
    """A smooth head motion over `times` (``[T]`` seconds): each of the three angles and three
    offsets is the sum of a slow and a faster sinusoid with seeded frequencies and phases,
    bounded by the module's amplitude constants."""
    bounds = [YAW_DEG, PITCH_DEG, ROLL_DEG, SHIFT_X_PX, SHIFT_Y_PX, SHIFT_Z_PX]
    curves = np.stack([_two_sinusoids(times, bound, rng) for bound in bounds], axis=1)
    euler, offsets = curves[:, :3], curves[:, 3:]
    rest_t = rest_translation(camera, face_center)
    rotations = np.stack([rotation_matrix(*angles) for angles in euler])
    translations = rest_t + offsets
    homographies = np.stack(
        [
            plane_homography(camera, rotation, translation, rest_t)
            for rotation, translation in zip(rotations, translations, strict=True)
        ]
    )
    return HeadTrajectory(euler, rotations, translations, homographies)


def _two_sinusoids(times: np.ndarray, bound: float, rng: np.random.Generator) -> np.ndarray:
    slow_hz, fast_hz = rng.uniform(*SLOW_HZ), rng.uniform(*FAST_HZ)
    slow_phase, fast_phase = rng.uniform(0.0, 2.0 * np.pi, size=2)
    return bound * (
        0.6 * np.sin(2.0 * np.pi * slow_hz * times + slow_phase)
        + 0.4 * np.sin(2.0 * np.pi * fast_hz * times + fast_phase)
    )


def blink_curve(frame_count: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """How closed the eyes are in each frame, ``[T]`` in [0, 1] (1 = shut).

    Blinks start at seeded frames, the first after FIRST_BLINK_S; each lasts 5-7 frames, closing
    in about a third of it and reopening more slowly, and is shut (exactly 1) in one frame.
    """
    curve = np.zeros(frame_count)
    start_s = rng.uniform(*FIRST_BLINK_S)
    while start_s < BLINK_HORIZON_S:
        length = int(rng.integers(BLINK_FRAMES[0], BLINK_FRAMES[1] + 1))
        start = round(start_s * fps)
        profile = _blink_profile(length)
        span = slice(start, min(start + length, frame_count))
        curve[span] = profile[: max(span.stop - span.start, 0)]
        start_s += rng.uniform(*BLINK_INTERVAL_S)
    return curve


def _blink_profile(length: int) -> np.ndarray:
    """``[length]`` lid closure: a sin² rise to 1 at about 35 % of the blink, a cos² fall after."""
    x = np.arange(1, length + 1) / (length + 1)
    shut_at = x[max(round(0.35 * (length + 1)) - 1, 0)]
    rising = np.sin(0.5 * np.pi * x / shut_at) ** 2
    falling = np.cos(0.5 * np.pi * (x - shut_at) / (1.0 - shut_at)) ** 2
    return np.where(x <= shut_at, rising, falling)
