"""The head pose of one identity, end to end in memory (:mod:`.stage` writes it out).

1. The canonical face from the identity's own landmarks (:mod:`.shape`); a camera whose focal
   length starts from the source's field of view and whose principal point is where the
   source video's centre lands after ingest's crop (:func:`principal_point`).
2. Flow keypoints (:mod:`.flow`) over the whole clip.
3. The depth scale of the face: a real head's parallax wants Face Mesh's depth (about 1), a
   flat picture's absence of it wants 0, and in between the fit trades depth for rotation (the
   bas-relief ambiguity), so it is not left to the joint fit. The trajectory is fitted for the
   depth scales 0, ½ and 1 on a quarter of the keypoints — each from its own start: per-frame
   PnP of the landmarks, or for the flat face, whose out-of-plane PnP is unreliable, the same
   turned to face the camera — and Face Mesh's depth stays unless another lowers the cost by more
   than a quarter (keypoints tied to a flat face fit a head that hardly turns a little better
   whatever its shape; the flat demo's costs differ by 35–80 %, the real clip's by 14 %); then
   the parabola through the three costs gives the scale. The landmarks stay out of this
   comparison: Face Mesh lends a flat picture a face's depth.
4. The focal length, jointly with every pose (on a quarter of the keypoints), without the
   acceleration prior, which would otherwise buy smaller rotations of a flat face with a
   shorter lens.
5. The final trajectory: poses with the acceleration prior (:mod:`.solve`), the keypoints
   re-tied to it (:mod:`.ties`) and fitted again. The rigid landmarks take part, each with a
   hundredth of a keypoint's weight (σ 3 px against 0.3 px): too little to move a frame, enough
   to hold the slow drift that keypoints tied generation after generation would gather, and to
   carry a frame where the flow found no keypoints. The same fit without the prior gives the
   "raw" trajectory whose jitter the quality report shows beside the smoothed one.
6. Per-frame reprojection errors; frames whose error is high for this sequence are flagged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from talkgs.camera import Camera
from talkgs.pose import baseline, flow, shape, solve, ties
from talkgs.pose.camera import exp_so3, project

log = logging.getLogger("talkgs.pose")

# Frame flags (bits of PoseEstimate.flags)
HIGH_RESIDUAL = 1  # reprojection error high for this sequence: kept for training, left out of
# motion statistics (M2DAO-Talker)
NO_LANDMARKS = 2  # Face Mesh found no face; landmarks were interpolated
FEW_KEYPOINTS = 4  # fewer than MIN_KEYPOINTS flow keypoints: the pose leans on its neighbours

MIN_KEYPOINTS = 12
KEYPOINT_SIGMA_PX = 0.3  # expected error of a flow keypoint's position
LANDMARK_SIGMA_PX = 3.0  # of a Face Mesh landmark (jitter, and its own idea of the face)
ANCHOR_STEP = 4  # the fits use every 4th rigid landmark
DEPTH_SCALES = (0.0, 0.5, 1.0)  # the depth scales tried (step 3)
DEPTH_EVIDENCE = 0.25  # relative cost drop that overrules Face Mesh's depth (step 3)
CANDIDATE_STEP = 4  # depth scales and the focal length are compared on every fourth keypoint
HELD = 1e-4  # σ of log focal that holds the focal length while other things are fitted


@dataclass(frozen=True)
class PoseParams:
    fov_deg: float = 40.0  # horizontal field of view of the source video: the focal prior
    focal_sigma: float = 0.2  # σ of that prior on log focal (±20 %)
    smoothing: bool = True  # the acceleration prior (temporal smoothing)
    rotation_accel_deg: float = 0.005  # its σ for rotation, degrees/frame²
    translation_accel: float = 0.0003  # its σ for translation, face widths/frame²
    flag_mad: float = 4.0  # flag frames whose error exceeds median + this × MAD
    flow: flow.FlowParams = field(default_factory=flow.FlowParams)


@dataclass(frozen=True)
class PoseEstimate:
    """Per-frame head pose of one identity (conventions: :mod:`talkgs.pose.camera`)."""

    rotations: np.ndarray  # [T, 3, 3] camera-from-head
    translations: np.ndarray  # [T, 3] head units
    camera: Camera  # focal length and principal point, pixels
    depth_scale: float  # the canonical face's depth multiplier found by the fit
    face: shape.CanonicalFace
    residual_px: np.ndarray  # [T] median reprojection error of the frame's keypoints, pixels
    keypoints: np.ndarray  # [T] keypoints used per frame
    flags: np.ndarray  # [T] uint8 bits: HIGH_RESIDUAL | NO_LANDMARKS | FEW_KEYPOINTS
    errors_px: np.ndarray  # [M] reprojection error of every keypoint observation, pixels
    raw_rotations: np.ndarray  # [T, 3, 3] the fit without the acceleration prior
    raw_translations: np.ndarray  # [T, 3]
    baseline_rotations: np.ndarray  # [T, 3, 3] per-frame PnP of the landmarks (same face, camera)
    baseline_translations: np.ndarray  # [T, 3]
    baseline_errors_px: np.ndarray  # [T, K] its reprojection error per rigid landmark


def focal_prior(meta: dict, fov_deg: float) -> float:
    """The focal length (pixels of the ingested frame) of a source camera with horizontal field
    of view ``fov_deg``, after ingest's crop and resize (meta.json)."""
    source_width = float(meta["source"]["width"])
    focal_source = (source_width / 2.0) / np.tan(np.radians(fov_deg) / 2.0)
    return focal_source * meta["size"] / meta["crop"]["size"]


def principal_point(meta: dict) -> tuple[float, float]:
    """Where the source video's centre lands in the ingested frame (meta.json's crop).

    A camera's principal point is the centre of its picture; ingest crops around the face, so in
    the frame it moves off-centre when the face was not in the middle of the video. Fitting with
    it at the frame centre instead would bend every off-axis head's perspective (on the demo, a
    shift of 0.16 × focal: more than the perspective a 6° turn shows)."""
    scale = meta["size"] / meta["crop"]["size"]
    source = meta["source"]
    return (
        (source["width"] / 2.0 - meta["crop"]["x"]) * scale,
        (source["height"] / 2.0 - meta["crop"]["y"]) * scale,
    )


@dataclass
class _Context:
    """What every fit of one identity shares."""

    face: shape.CanonicalFace
    tracks: flow.Tracks
    marks: solve.Observations  # rigid landmarks of the frames where Face Mesh found the face
    params: PoseParams

    def observations(self, tie_points: np.ndarray) -> solve.Observations:
        base, depth = shape.lift(self.face, tie_points)
        track = self.tracks.track
        keypoints = solve.Observations(
            frame=self.tracks.frame.astype(np.int64),
            base=base[track],
            depth=depth[track],
            xy=self.tracks.xy,
            sigma=np.full(len(track), KEYPOINT_SIGMA_PX),
        )
        return solve.Observations.concat([keypoints, self.marks])

    def priors(self, focal: float, sigma: float, smooth: bool) -> solve.Priors:
        p = self.params
        smooth = smooth and p.smoothing
        return solve.Priors(
            focal=focal,
            log_focal_sigma=sigma,
            rotation_accel=np.radians(p.rotation_accel_deg) if smooth else None,
            translation_accel=p.translation_accel * shape.FACE_WIDTH if smooth else None,
        )

    def fit(
        self, start: solve.Fit, camera: Camera, tie_points: np.ndarray, priors: solve.Priors
    ) -> solve.Fit:
        return solve.fit(
            self.observations(tie_points),
            start.rotations,
            start.translations,
            camera,
            start.depth_scale,
            priors,
            fit_depth_scale=False,
        )

    def chain(self, start: solve.Fit, camera: Camera) -> np.ndarray:
        r, t, s = start.rotations, start.translations, start.depth_scale
        return ties.chain_ties(self.face, self.tracks, r, t, camera, s)

    def refine(self, points: np.ndarray, fit: solve.Fit, camera: Camera) -> np.ndarray:
        r, t, s = fit.rotations, fit.translations, fit.depth_scale
        return ties.refine_ties(self.face, self.tracks, points, r, t, camera, s)

    def every(self, step: int) -> _Context:
        """The same with every ``step``-th keypoint only (for cheap comparisons)."""
        rows = self.tracks.track % step == 0
        tracks = flow.Tracks(
            frame=self.tracks.frame[rows],
            track=self.tracks.track[rows] // step,
            xy=self.tracks.xy[rows],
            birth=self.tracks.birth[::step],
        )
        return _Context(self.face, tracks, self.marks, self.params)


def estimate(
    frames: list[Path],
    labels: list[Path] | None,
    landmarks: np.ndarray,
    detected: np.ndarray,
    meta: dict,
    params: PoseParams,
) -> PoseEstimate:
    """The head pose of every frame (``landmarks`` ``[T, 478, 3]``, ``detected`` ``[T]``)."""
    count = len(frames)
    face = shape.canonical_face(landmarks, detected)
    focal0 = focal_prior(meta, params.fov_deg)
    camera = Camera(focal0, *principal_point(meta))
    rigid_xy = landmarks[:, face.rigid, :2].astype(np.float64)
    # A start only: the fits refine it.
    pnp_r, pnp_t = baseline.per_frame_pnp(rigid_xy, face.vertices[face.rigid], camera, refine=False)
    tracks = flow.track_keypoints(frames, labels, landmarks, detected, face.triangles, params.flow)
    keypoints = np.bincount(tracks.frame, minlength=count)
    context = _Context(face, tracks, _landmark_observations(face, rigid_xy, detected), params)

    # 3. The depth scale, compared on a quarter of the keypoints.
    held = context.priors(focal0, HELD, smooth=True)
    # Without the landmarks: Face Mesh lends a flat picture a face's depth.
    some = _Context(
        face, tracks, _landmark_observations(face, rigid_xy, np.zeros(count, bool)), params
    ).every(CANDIDATE_STEP)
    trials = {}
    for s in DEPTH_SCALES:
        start_r = pnp_r if s >= 0.5 else _facing_camera(pnp_r)
        start = solve.Fit(start_r, pnp_t, focal0, s, np.inf, 0)
        trials[s] = some.fit(start, camera, some.chain(start, camera), held)
    depth_scale = _depth_scale([trials[s].cost for s in DEPTH_SCALES])
    nearest = trials[min(DEPTH_SCALES, key=lambda s: abs(s - depth_scale))]
    start = solve.Fit(nearest.rotations, nearest.translations, focal0, depth_scale, np.inf, 0)

    # 4. The focal length, with every pose, on a quarter of the keypoints, without the
    # acceleration prior.
    focal_fit = some.fit(
        start, camera, some.chain(start, camera), some.priors(focal0, params.focal_sigma, False)
    )
    camera = Camera(focal_fit.focal, camera.cx, camera.cy)

    # 5. The final trajectory: tie, fit, re-tie, fit; and the same without the prior.
    held = context.priors(camera.focal, HELD, smooth=True)
    points = context.chain(start, camera)
    final = context.fit(start, camera, points, held)
    points = context.refine(points, final, camera)
    final = context.fit(final, camera, points, held)
    rotations, translations = final.rotations, final.translations
    raw = context.fit(final, camera, points, context.priors(camera.focal, HELD, smooth=False))

    # 6. Errors and flags; the baseline with the same face and camera.
    observed = context.observations(points)
    keypoint_rows = np.arange(len(tracks.frame))
    errors = np.linalg.norm(
        solve.residuals(observed, rotations, translations, camera, depth_scale), axis=1
    )[keypoint_rows]
    residual = _per_frame_median(errors, tracks.frame, count)
    flags = _flags(residual, detected, keypoints, params.flag_mad)
    points3d = face.scaled(depth_scale)[face.rigid]
    base_r, base_t = baseline.per_frame_pnp(rigid_xy, points3d, camera)
    base_err = np.linalg.norm(
        project(np.einsum("tij,kj->tki", base_r, points3d) + base_t[:, None], camera) - rigid_xy,
        axis=2,
    )
    log.info(
        "pose fit: focal %.0f px (prior %.0f), depth scale %.2f (costs %s)",
        camera.focal,
        focal0,
        depth_scale,
        ", ".join(f"{s:g}: {trials[s].cost:.0f}" for s in DEPTH_SCALES),
    )
    return PoseEstimate(
        rotations=rotations,
        translations=translations,
        camera=camera,
        depth_scale=depth_scale,
        face=face,
        residual_px=residual,
        keypoints=keypoints,
        flags=flags,
        errors_px=errors,
        raw_rotations=raw.rotations,
        raw_translations=raw.translations,
        baseline_rotations=base_r,
        baseline_translations=base_t,
        baseline_errors_px=base_err,
    )


def _depth_scale(costs: list[float]) -> float:
    """The depth scale from the costs of the :data:`DEPTH_SCALES` fits: Face Mesh's own (1)
    unless another lowers the cost by more than :data:`DEPTH_EVIDENCE` of it; then the minimum
    of the parabola through the three. (With little head rotation the costs hardly differ, and
    a face is more likely shaped like a face.)"""
    own = costs[DEPTH_SCALES.index(1.0)]
    if min(costs) > (1.0 - DEPTH_EVIDENCE) * own:
        return 1.0
    return _parabola_minimum(DEPTH_SCALES, costs)


def _parabola_minimum(xs: tuple[float, ...], costs: list[float]) -> float:
    """The minimum of the parabola through three (x, cost) points, kept within their range;
    the best x itself when the parabola opens downwards."""
    a, b, _ = np.polyfit(xs, costs, 2)
    if a <= 0:
        return float(xs[int(np.argmin(costs))])
    return float(np.clip(-b / (2 * a), min(xs), max(xs)))


def _facing_camera(rotations: np.ndarray) -> np.ndarray:
    """``[T, 3, 3]``: the rotations' twist about the optical axis alone (a face turned neither
    sideways nor up or down, rolled as before)."""
    roll = np.arctan2(
        rotations[:, 1, 0] - rotations[:, 0, 1], rotations[:, 0, 0] + rotations[:, 1, 1]
    )
    zero = np.zeros_like(roll)
    return exp_so3(np.column_stack([zero, zero, roll]))


def _landmark_observations(
    face: shape.CanonicalFace, rigid_xy: np.ndarray, frames: np.ndarray
) -> solve.Observations:
    """The rigid landmarks of ``frames`` ``[T]`` (bool), as observations of σ
    :data:`LANDMARK_SIGMA_PX`."""
    index = np.flatnonzero(frames)
    # Every ANCHOR_STEP-th rigid landmark, each with the weight of ANCHOR_STEP of them: the same
    # pull for a fraction of the arithmetic.
    chosen = np.arange(0, len(face.rigid), ANCHOR_STEP)
    k = len(chosen)
    vertices = face.vertices[face.rigid[chosen]]
    return solve.Observations(
        frame=np.repeat(index, k),
        base=np.tile(vertices * [1.0, 1.0, 0.0], (len(index), 1)),
        depth=np.tile(vertices * [0.0, 0.0, 1.0], (len(index), 1)),
        xy=rigid_xy[index][:, chosen].reshape(-1, 2),
        sigma=np.full(len(index) * k, LANDMARK_SIGMA_PX / np.sqrt(ANCHOR_STEP)),
    )


def _per_frame_median(values: np.ndarray, frames: np.ndarray, count: int) -> np.ndarray:
    """``[T]`` median of ``values`` per frame (NaN where a frame has none)."""
    order = np.argsort(frames, kind="stable")
    sorted_frames, sorted_values = frames[order], values[order]
    starts = np.searchsorted(sorted_frames, np.arange(count))
    ends = np.searchsorted(sorted_frames, np.arange(count), side="right")
    return np.array(
        [
            np.median(sorted_values[a:b]) if b > a else np.nan
            for a, b in zip(starts, ends, strict=True)
        ]
    )


def _flags(
    residual: np.ndarray, detected: np.ndarray, keypoints: np.ndarray, mad_factor: float
) -> np.ndarray:
    """Per-frame flag bits from the sequence's own error statistics."""
    flags = np.zeros(len(residual), np.uint8)
    known = np.isfinite(residual)
    if known.any():
        median = np.median(residual[known])
        mad = 1.4826 * np.median(np.abs(residual[known] - median))
        high = known & (residual > median + mad_factor * max(mad, 0.05))
        flags[high] |= HIGH_RESIDUAL
    flags[~detected] |= NO_LANDMARKS
    flags[keypoints < MIN_KEYPOINTS] |= FEW_KEYPOINTS
    return flags
