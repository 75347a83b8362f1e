"""The pose stage: frames, landmarks and parsing of one identity → its head pose and cameras.

Outputs (names from :mod:`talkgs.layout`):

- ``pose.npz``: per frame ``rotations`` [T, 3, 3] and ``translations`` [T, 3] (camera-from-head,
  head units ≈ m; conventions in :mod:`talkgs.pose.camera`), ``euler_deg`` [T, 3] (yaw, pitch,
  roll), ``residual_px`` [T], ``keypoints`` [T], ``flags`` [T] (bits: 1 high residual — kept for
  training, left out of motion statistics —, 2 landmarks interpolated, 4 few keypoints),
  ``raw_*`` (without temporal smoothing) and ``baseline_*`` (per-frame PnP); per identity
  ``focal`` and ``principal_point`` (pixels), ``image_size``, ``depth_scale``,
  ``face_vertices`` [468, 3] and ``rigid`` (the canonical face), and ``transform_matrix``
  [T, 4, 4], the cameras of the transforms files;
- ``transforms_train.json`` / ``transforms_val.json``: TalkingGaussian's camera files
  (:mod:`talkgs.pose.transforms`);
- ``pose_quality.json`` (:mod:`talkgs.pose.quality`) and ``pose.png``, the plot for the report.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from talkgs.arrays import write_npz
from talkgs.atomic import StagedOutputs
from talkgs.errors import input_error
from talkgs.face import landmarks as face_landmarks
from talkgs.frames import frame_paths
from talkgs.pose import quality, transforms
from talkgs.pose.camera import euler_from_rotation
from talkgs.pose.estimate import HIGH_RESIDUAL, PoseEstimate, PoseParams, estimate

log = logging.getLogger("talkgs.pose")


@dataclass(frozen=True)
class PoseInputs:
    frames: Path  # folder of ingested frames
    landmarks: Path  # landmarks.npz
    meta: Path  # meta.json (crop, source size, fps)
    parsing: Path | None = None  # folder of label maps; without it keypoints skip that check


@dataclass(frozen=True)
class PoseOutputs:
    pose: Path  # pose.npz
    train: Path  # transforms_train.json
    val: Path  # transforms_val.json
    quality: Path  # pose_quality.json
    plot: Path  # pose.png


def run(inputs: PoseInputs, outputs: PoseOutputs, params: PoseParams) -> dict[str, Any]:
    """Estimate the head pose of every frame and write the stage's outputs atomically."""
    frames = frame_paths(inputs.frames)
    found = face_landmarks.load(inputs.landmarks)
    if len(found.landmarks) != len(frames):
        raise input_error(
            inputs.landmarks, f"{len(found.landmarks)} rows of landmarks for {len(frames)} frames"
        )
    if not found.detected.any():
        raise input_error(inputs.landmarks, "no frame has detected landmarks")
    meta = json.loads(Path(inputs.meta).read_text())
    labels = None
    if inputs.parsing is not None:
        labels = [Path(inputs.parsing) / f"{i:06d}.png" for i in range(len(frames))]
        missing = [p for p in labels if not p.is_file()]
        if missing:
            raise input_error(missing[0], f"label map missing ({len(missing)} of {len(frames)})")
    est = estimate(frames, labels, found.landmarks, found.detected, meta, params)
    size = (int(meta["size"]), int(meta["size"]))
    fps = float(meta.get("fps", 25))
    face_points = est.face.scaled(est.depth_scale)
    tg_r, tg_t = transforms.centred_poses(
        est.rotations, est.translations, est.camera, face_points, size
    )
    c2w = transforms.camera_to_world(tg_r, tg_t)
    report = quality.summary(est, fps)
    with StagedOutputs(
        outputs.train, outputs.val, outputs.quality, outputs.plot, outputs.pose
    ) as staged:
        transforms.write_transforms(
            staged[outputs.train], staged[outputs.val], c2w, est.camera.focal, size
        )
        staged[outputs.quality].write_text(json.dumps(report, indent=2) + "\n")
        quality.plot(staged[outputs.plot], est, fps, Path(inputs.frames).parent.name)
        write_npz(staged[outputs.pose], _arrays(est, c2w, size))
    flagged = int(((est.flags & HIGH_RESIDUAL) > 0).sum())
    log.info(
        "pose: %d frames, reprojection %.2f px median (%.2f p95), jitter %.4f°/frame² "
        "(PnP %.4f), %d flagged → %s",
        len(frames),
        report["reprojection_px"]["median"],
        report["reprojection_px"]["p95"],
        report["jitter_deg_per_frame2"]["flow"],
        report["jitter_deg_per_frame2"]["baseline_pnp"],
        flagged,
        outputs.pose,
    )
    return report


def _arrays(est: PoseEstimate, c2w: np.ndarray, size: tuple[int, int]) -> dict[str, np.ndarray]:
    return {
        "rotations": est.rotations,
        "translations": est.translations,
        "euler_deg": euler_from_rotation(est.rotations),
        "residual_px": est.residual_px.astype(np.float32),
        "keypoints": est.keypoints.astype(np.int32),
        "flags": est.flags,
        "raw_rotations": est.raw_rotations,
        "raw_translations": est.raw_translations,
        "baseline_rotations": est.baseline_rotations,
        "baseline_translations": est.baseline_translations,
        "focal": np.float64(est.camera.focal),
        "principal_point": np.array([est.camera.cx, est.camera.cy]),
        "image_size": np.array(size, np.int32),
        "depth_scale": np.float64(est.depth_scale),
        "face_vertices": est.face.scaled(est.depth_scale),
        "rigid": est.face.rigid.astype(np.int32),
        "transform_matrix": c2w,
    }


def load(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a ``pose.npz``."""
    with np.load(path) as data:
        return {name: data[name] for name in data.files}
