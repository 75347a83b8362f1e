"""Which point of the face each flow keypoint sits on: its "tie", head-frame x, y on the
canonical face's surface (:mod:`talkgs.pose.shape`; the depth follows from the surface).

A tie must agree with every frame the keypoint is seen in, not with one frame's pose estimate:
ties cast from per-frame poses inherit those poses' errors, and a fit on them chases its own
tail (on the flat demo head, away from the truth by degrees). So:

1. :func:`chain_ties` ties the keypoints born in each keyframe by casting their rays onto the
   face posed as estimated there, then moving the cast points by the affine map that carries
   the live keypoints' cast points onto their existing ties: each generation of keypoints is
   tied consistently with the one before, whatever the keyframe's pose error (a pose error
   moves all cast points of a frame alike, to first order).
2. :func:`refine_ties` then moves each tie to where the keypoint's observations over its whole
   life agree best, for the current poses (the structure step of bundle adjustment).
"""

from __future__ import annotations

import numpy as np

from talkgs.camera import Camera
from talkgs.pose import shape
from talkgs.pose.camera import project
from talkgs.pose.flow import Tracks

MIN_LIVE = 12  # live keypoints needed to carry ties from one keyframe to the next
CAUCHY_PX = 1.0  # refine_ties: observations farther off than this count less
MAX_STEP = 0.02 * shape.FACE_WIDTH  # refine_ties: the most a tie moves per iteration
MAX_AFFINE = 0.1  # chain_ties: a plausible correction is this close to the identity


def chain_ties(
    face: shape.CanonicalFace,
    tracks: Tracks,
    rotations: np.ndarray,
    translations: np.ndarray,
    camera: Camera,
    depth_scale: float,
) -> np.ndarray:
    """``[N, 2]`` ties of every keypoint, keyframe by keyframe (module docstring, step 1)."""
    ties = np.full((tracks.count, 2), np.nan)
    birth_xy = tracks.birth_xy()
    earlier = tracks.birth[tracks.track]
    for frame in np.unique(tracks.birth):
        born = np.flatnonzero(tracks.birth == frame)
        rows = np.flatnonzero((tracks.frame == frame) & (earlier < frame))
        live = tracks.track[rows]
        cast = shape.cast_rays(
            face,
            depth_scale,
            rotations[frame],
            translations[frame],
            lambda p: project(p, camera),
            np.concatenate([birth_xy[born], tracks.xy[rows]]),
        )
        new, carried = cast[: len(born)], cast[len(born) :]
        if len(live) >= MIN_LIVE:
            affine = _affine_fit(carried, ties[live])
            new = new @ affine[:, :2].T + affine[:, 2]
        ties[born] = new
    return ties


def refine_ties(
    face: shape.CanonicalFace,
    tracks: Tracks,
    ties: np.ndarray,
    rotations: np.ndarray,
    translations: np.ndarray,
    camera: Camera,
    depth_scale: float,
    iterations: int = 3,
) -> np.ndarray:
    """``[N, 2]`` ties moved to where each keypoint's observations agree best with the poses
    (Gauss–Newton on each keypoint's two surface coordinates, Cauchy-weighted)."""
    ties = ties.copy()
    frame_r, frame_t = rotations[tracks.frame], translations[tracks.frame]
    for _ in range(iterations):
        base, depth = shape.lift(face, ties)
        slope = shape.surface_slope(face, ties)[tracks.track]  # dz/dx, dz/dy
        point = base[tracks.track] + depth_scale * depth[tracks.track]
        cam = np.einsum("mij,mj->mi", frame_r, point) + frame_t
        inv_z = 1.0 / cam[:, 2]
        residual = camera.focal * cam[:, :2] * inv_z[:, None] + (camera.cx, camera.cy)
        residual -= tracks.xy
        # d pixel / d (x, y) = d pixel / d camera point · R · d point / d (x, y)
        columns = frame_r[:, :, :2] + depth_scale * frame_r[:, :, 2:3] * slope[:, None, :]
        jac = np.empty((len(cam), 2, 2))
        for row in range(2):
            along = columns[:, row, :] - cam[:, row : row + 1] * inv_z[:, None] * columns[:, 2, :]
            jac[:, row, :] = camera.focal * inv_z[:, None] * along
        weight = 1.0 / (1.0 + (residual**2).sum(axis=1) / CAUCHY_PX**2)
        jtj = np.einsum("mki,mkj->mij", jac, jac) * weight[:, None, None]
        jtr = np.einsum("mki,mk->mi", jac, residual) * weight[:, None]
        normal = np.stack(
            [np.bincount(tracks.track, jtj[:, i, j], tracks.count) for i in (0, 1) for j in (0, 1)],
            axis=1,
        ).reshape(-1, 2, 2)
        gradient = np.stack(
            [np.bincount(tracks.track, jtr[:, i], tracks.count) for i in (0, 1)], axis=1
        )
        # A little damping: a keypoint seen in one frame, or whose observations all disagree,
        # stays about where it was.
        damping = 1e-3 * np.trace(normal, axis1=1, axis2=2)[:, None, None] + 1e-9
        step = np.linalg.solve(normal + damping * np.eye(2), gradient[..., None])[..., 0]
        length = np.linalg.norm(step, axis=1, keepdims=True)
        ties -= step * np.minimum(1.0, MAX_STEP / np.maximum(length, 1e-12))
    return ties


def _affine_fit(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The ``[2, 3]`` affine map from ``source`` to ``target`` ``[n, 2]``: least squares,
    refitted without the points it misses by far; the identity if it is implausible (more
    than :data:`MAX_AFFINE` away from it), e.g. after a keyframe whose pose is off."""
    keep = np.ones(len(source), bool)
    affine = np.hstack([np.eye(2), np.zeros((2, 1))])
    for _ in range(3):
        if keep.sum() < MIN_LIVE:
            break
        design = np.column_stack([source[keep], np.ones(keep.sum())])
        solution, *_ = np.linalg.lstsq(design, target[keep], rcond=None)
        affine = solution.T
        miss = np.linalg.norm(source @ affine[:, :2].T + affine[:, 2] - target, axis=1)
        keep = miss <= 3.0 * max(float(np.median(miss)), 1e-6)
    linear_change = np.abs(affine[:, :2] - np.eye(2)).max()
    if linear_change > MAX_AFFINE or np.abs(affine[:, 2]).max() > MAX_AFFINE * shape.FACE_WIDTH:
        return np.hstack([np.eye(2), np.zeros((2, 1))])
    return affine
