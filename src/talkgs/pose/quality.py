"""How good a pose estimate is, in numbers (``pose_quality.json``) and in a picture (``pose.png``).

- Reprojection error: pixels between each flow keypoint and its head point projected by the
  frame's final pose; the baseline's is that of the rigid landmarks under per-frame PnP.
- Jitter: mean frame-to-frame angular acceleration, degrees/frame²
  (:func:`talkgs.pose.camera.angular_jitter`), of the final trajectory, of the same fit without
  the acceleration prior ("raw") and of the per-frame PnP baseline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from talkgs.pose.camera import angular_jitter, euler_from_rotation
from talkgs.pose.estimate import FEW_KEYPOINTS, HIGH_RESIDUAL, NO_LANDMARKS, PoseEstimate
from talkgs.pose.shape import FACE_WIDTH

FLAG_NAMES = {
    HIGH_RESIDUAL: "high_residual",
    NO_LANDMARKS: "no_landmarks",
    FEW_KEYPOINTS: "few_keypoints",
}


def summary(est: PoseEstimate, fps: float) -> dict[str, Any]:
    """The ``pose_quality.json`` document."""
    flags = est.flags
    count = len(flags)

    def px(values: np.ndarray, worst: bool = False) -> dict[str, float]:
        values = values[np.isfinite(values)]
        stats = {
            "median": round(float(np.median(values)), 4),
            "p95": round(float(np.percentile(values, 95)), 4),
        }
        if worst:
            stats["max"] = round(float(values.max()), 4)
        return stats

    return {
        "frames": count,
        "fps": fps,
        "camera": {
            "focal_px": round(est.camera.focal, 3),
            "principal_point_px": [round(est.camera.cx, 3), round(est.camera.cy, 3)],
        },
        "depth_scale": round(est.depth_scale, 4),
        "keypoints_per_frame_median": float(np.median(est.keypoints)),
        "reprojection_px": px(est.errors_px),
        "frame_reprojection_px": px(est.residual_px, worst=True),
        "baseline_reprojection_px": px(est.baseline_errors_px.ravel()),
        "jitter_deg_per_frame2": {
            "flow": round(angular_jitter(est.rotations), 6),
            "flow_unsmoothed": round(angular_jitter(est.raw_rotations), 6),
            "baseline_pnp": round(angular_jitter(est.baseline_rotations), 6),
        },
        "flagged_frames": {
            name: int(((flags & bit) > 0).sum()) for bit, name in FLAG_NAMES.items()
        },
        "motion_statistics_frames": int(((flags & HIGH_RESIDUAL) == 0).sum()),
        "definitions": {
            "reprojection_px": "distance between each flow keypoint and its face point "
            "projected by the frame's pose, pixels at the frame's size",
            "frame_reprojection_px": "each frame's median reprojection_px, over the frames: "
            "a pose spike is a frame far above the rest",
            "baseline_reprojection_px": "the same for the rigid Face Mesh landmarks under "
            "per-frame solvePnP onto the same face and camera",
            "jitter_deg_per_frame2": "mean norm of the change of frame-to-frame angular "
            "velocity (rotation vector of R[t+1] R[t]^T)",
            "high_residual": "frame's median reprojection error above median + k MAD of the "
            "sequence: kept for training, left out of motion statistics",
        },
    }


def plot(
    path: Path,
    est: PoseEstimate,
    fps: float,
    title: str,
    reference: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    """Write ``pose.png``: yaw, pitch and roll; translation; per-frame error with the flags.

    ``reference`` (rotations ``[T, 3, 3]``, translations ``[T, 3]`` in head units), when given,
    is drawn dashed (the demo's truth, in the estimate's head frame).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    time = np.arange(len(est.rotations)) / fps
    figure, axes = plt.subplots(3, 1, figsize=(10, 8.5), sharex=True, layout="constrained")
    colours = ("tab:blue", "tab:orange", "tab:green")
    euler = euler_from_rotation(est.rotations)
    base = euler_from_rotation(est.baseline_rotations)
    for k, (name, colour) in enumerate(zip(("yaw", "pitch", "roll"), colours, strict=True)):
        axes[0].plot(time, base[:, k], color=colour, alpha=0.25, linewidth=0.8)
        axes[0].plot(time, euler[:, k], color=colour, linewidth=1.6, label=name)
    # The baseline may jump far; the scale follows the estimate (and truth), with some room.
    shown = [euler] if reference is None else [euler, euler_from_rotation(reference[0])]
    low, high = min(float(e.min()) for e in shown), max(float(e.max()) for e in shown)
    room = max(2.0, 0.5 * (high - low))
    axes[0].set_ylim(low - room, high + room)
    axes[0].set_ylabel("rotation (°)")
    axes[0].set_title(f"{title} — head pose (thin: per-frame PnP baseline)", loc="left")

    shift = (est.translations - np.median(est.translations, axis=0)) / FACE_WIDTH
    for k, (name, colour) in enumerate(zip(("x", "y", "z (depth)"), colours, strict=True)):
        axes[1].plot(time, shift[:, k], color=colour, linewidth=1.6, label=name)
    axes[1].set_ylabel("translation (face widths,\nfrom the median)")

    if reference is not None:
        ref_euler = euler_from_rotation(reference[0])
        ref_shift = (reference[1] - np.median(reference[1], axis=0)) / FACE_WIDTH
        for k, colour in enumerate(colours):
            axes[0].plot(time, ref_euler[:, k], color=colour, linestyle="--", linewidth=1.0)
            axes[1].plot(time, ref_shift[:, k], color=colour, linestyle="--", linewidth=1.0)
        axes[0].plot([], [], color="gray", linestyle="--", label="truth")

    axes[2].plot(time, est.residual_px, color="black", linewidth=1.0, label="median keypoint")
    flagged = est.flags != 0
    if flagged.any():
        top = float(np.nanmax(est.residual_px)) if np.isfinite(est.residual_px).any() else 1.0
        axes[2].fill_between(
            time, 0, top, where=flagged, color="tab:red", alpha=0.15, step="mid", label="flagged"
        )
    axes[2].set_ylabel("reprojection\nerror (px)")
    axes[2].set_xlabel("time (s)")
    for axis in axes:
        axis.grid(alpha=0.3)
        axis.legend(loc="upper right", fontsize=8, ncols=4)
    # A fixed PNG writer configuration (no software tag) keeps the bytes reproducible.
    figure.savefig(path, format="png", dpi=90, metadata={"Software": None})
    plt.close(figure)
