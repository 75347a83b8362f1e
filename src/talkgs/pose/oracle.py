"""A pose trajectory against the demo identity's ``truth.json`` (:mod:`talkgs.demo`).

What is compared, and why so:

- The head frame is a convention: truth's is the photo's rest pose, the estimate's the face's
  own symmetry (:mod:`talkgs.pose.shape`). One constant rotation ``G`` (head side,
  ``R_est ≈ R_true G``, their chordal mean) maps one onto the other; the errors are those of
  ``E_t = R_est_t (R_true_t G)ᵀ``, a rotation in camera axes, split into its twist about the
  optical axis (in-plane, what roll errors look like) and the tilt of the optical axis
  (out-of-plane, yaw and pitch).
- Translations in 3D depend on the focal length, which a video barely shows; the image does
  show where the head is and how large. So the translation error is the error of the head
  centre's image position (after removing the constant offset between the two head origins)
  and of its relative depth, the latter as the image-scale change it causes across the face;
  both over the face width in pixels.
- Ingest's crop and resize are applied to truth first: frame pixel = (video pixel − (x, y)) ×
  size / crop size. Angles do not change with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from talkgs.pose.camera import angular_jitter, project_to_rotation
from talkgs.pose.shape import FACE_WIDTH


@dataclass(frozen=True)
class TruthComparison:
    in_plane_deg: np.ndarray  # [T]
    out_of_plane_deg: np.ndarray  # [T]
    translation_error: np.ndarray  # [T] fraction of the face width
    jitter: float  # deg/frame², the estimate's
    truth_jitter: float  # deg/frame², truth's
    face_width_px: float

    def summary(self) -> dict[str, float]:
        return {
            "in_plane_median_deg": float(np.median(self.in_plane_deg)),
            "out_of_plane_median_deg": float(np.median(self.out_of_plane_deg)),
            "translation_median_face_width": float(np.median(self.translation_error)),
            "jitter_deg_per_frame2": self.jitter,
            "truth_jitter_deg_per_frame2": self.truth_jitter,
        }


def truth_trajectory(truth: dict, crop: dict, size: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Truth's rotations ``[T, 3, 3]``, the head centre's frame pixels and relative depth
    ``[T, 3]`` (x, y, depth / mean depth), and the face width in frame pixels."""
    scale = size / crop["size"]
    camera = truth["camera"]
    rotations = np.array([f["rotation"] for f in truth["frames"]], dtype=np.float64)
    translations = np.array([f["translation"] for f in truth["frames"]], dtype=np.float64)
    video_px = camera["focal"] * translations[:, :2] / translations[:, 2:3] + (
        camera["cx"],
        camera["cy"],
    )
    frame_px = (video_px - (crop["x"], crop["y"])) * scale
    depth = translations[:, 2] / translations[:, 2].mean()
    return rotations, np.column_stack([frame_px, depth]), truth["face_width_px"] * scale


def compare(
    rotations: np.ndarray,
    translations: np.ndarray,
    focal: float,
    principal: tuple[float, float],
    truth: dict,
    crop: dict,
    size: int,
) -> TruthComparison:
    """Errors of an estimate (camera-from-head ``[T, 3, 3]``, ``[T, 3]``, its focal length and
    principal point in frame pixels) against ``truth`` (the parsed truth.json)."""
    true_r, true_centre, width = truth_trajectory(truth, crop, size)
    n = min(len(rotations), len(true_r))
    rotations, translations, true_r, true_centre = (
        rotations[:n],
        translations[:n],
        true_r[:n],
        true_centre[:n],
    )
    gauge = project_to_rotation(np.einsum("tji,tjk->ik", true_r, rotations))
    error = rotations @ np.swapaxes(true_r @ gauge, 1, 2)  # [T, 3, 3] camera axes
    out_of_plane = np.degrees(np.arccos(np.clip(error[:, 2, 2], -1.0, 1.0)))
    w = np.sqrt(np.clip(1.0 + np.trace(error, axis1=1, axis2=2), 1e-12, None)) / 2.0
    qz = (error[:, 1, 0] - error[:, 0, 1]) / (4.0 * w)
    in_plane = np.abs(np.degrees(2.0 * np.arctan2(qz, w)))
    est_px = focal * translations[:, :2] / translations[:, 2:3] + principal
    offset = est_px - true_centre[:, :2]
    offset -= offset.mean(axis=0)  # the two head origins are different points of the head
    est_depth = translations[:, 2] / translations[:, 2].mean()
    scale_error = (est_depth - true_centre[:, 2]) * width
    translation_error = np.sqrt((offset**2).sum(axis=1) + scale_error**2) / width
    return TruthComparison(
        in_plane_deg=in_plane,
        out_of_plane_deg=out_of_plane,
        translation_error=translation_error,
        jitter=angular_jitter(rotations),
        truth_jitter=angular_jitter(true_r),
        face_width_px=width,
    )


def truth_in_head_frame(
    rotations: np.ndarray, truth: dict, crop: dict, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Truth's rotations ``[T, 3, 3]`` in the estimate's head frame (``R_true G``, for the
    estimate's ``rotations``) and its translations ``[T, 3]`` in head units (truth's source
    pixels scaled by the face width), for drawing beside an estimate."""
    true_r, _, _ = truth_trajectory(truth, crop, size)
    n = min(len(rotations), len(true_r))
    gauge = project_to_rotation(np.einsum("tji,tjk->ik", true_r[:n], rotations[:n]))
    translations = np.array([f["translation"] for f in truth["frames"]], dtype=np.float64)
    return true_r[:n] @ gauge, translations[:n] * FACE_WIDTH / truth["face_width_px"]
