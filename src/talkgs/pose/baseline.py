"""The per-frame baseline: ``cv2.solvePnP`` of each frame's rigid Face Mesh landmarks onto the
canonical face, frame by frame, with nothing shared in time.

It is what a landmark-based tracker without temporal coupling gives, so the flow method's gain
(jitter, reprojection error) is a measured number; the stage also starts its joint fit from it.
Poses follow :mod:`talkgs.pose.camera`.
"""

from __future__ import annotations

import cv2
import numpy as np

from talkgs.camera import Camera


def per_frame_pnp(
    landmarks: np.ndarray, points: np.ndarray, camera: Camera, *, refine: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """``landmarks`` ``[T, K, 2]`` pixels of the head ``points`` ``[K, 3]`` → rotations
    ``[T, 3, 3]`` and translations ``[T, 3]`` (SQPnP, then, with ``refine``,
    Levenberg–Marquardt on the reprojection error)."""
    k = camera.matrix
    object_points = np.ascontiguousarray(points, dtype=np.float64)
    rotations = np.zeros((len(landmarks), 3, 3))
    translations = np.zeros((len(landmarks), 3))
    for t, image_points in enumerate(landmarks.astype(np.float64)):
        image_points = np.ascontiguousarray(image_points)
        ok, rvec, tvec = cv2.solvePnP(
            object_points, image_points, k, None, flags=cv2.SOLVEPNP_SQPNP
        )
        if not ok:  # degenerate input; the previous frame's pose is the best guess
            rotations[t], translations[t] = rotations[t - 1], translations[t - 1]
            continue
        if refine:
            rvec, tvec = cv2.solvePnPRefineLM(object_points, image_points, k, None, rvec, tvec)
        rotations[t] = cv2.Rodrigues(rvec)[0]
        translations[t] = tvec.ravel()
    return rotations, translations
