"""The five positional prompts of M2DAO-Talker's motion region segmentation (paper eq. 5).

``M_R = Enc_p(P_le, P_re, P_m, P_lt, P_rt)``: both eyes, the mouth and two torso points, all
foreground clicks for SAM 2, taken from MediaPipe Face Mesh landmarks in pixels.

Torso points (the paper does not say how they are placed; this is talkgs's rule): the face's
"down" direction is the unit vector from the midpoint of the eyes to the chin (152), so a
rolled head tilts the points with it; the face width ``w`` is the distance between the cheek
contour points 234 and 454. Each torso point lies ``TORSO_DROP · w`` below the chin along
"down" and ``TORSO_SPREAD · w`` to either side across it: on the upper chest / shoulders,
left and right of the neck (at 0.75 w the points clear a typical neck, half as wide as the
face, with margin). Points that fall outside the frame are clipped onto its border, which
keeps them on the torso for crops that cut through the shoulders.
"""

from __future__ import annotations

import numpy as np

# Face Mesh indices. "Left"/"right" below mean the *image* left/right: the first eye is the
# subject's right eye (iris 468, corners 33 and 133).
IRIS_CENTRES = (468, 473)  # only present with refine_landmarks=True (478 points)
EYE_CORNERS = ((33, 133), (362, 263))
MOUTH = (13, 14)  # inner lip midpoints, upper and lower
CHIN = 152
CHEEKS = (234, 454)  # the face contour's leftmost and rightmost points in a frontal view
TORSO_DROP = 0.6  # face widths below the chin
TORSO_SPREAD = 0.75  # face widths either side of the face's vertical axis

PROMPT_NAMES = ("left eye", "right eye", "mouth", "torso left", "torso right")


def portrait_prompts(landmarks: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """``[5, 2]`` float32 pixel x, y: left eye, right eye, mouth, torso left, torso right.

    ``landmarks``: ``[478, 2|3]`` Face Mesh points in pixels (x right, y down; a ``[468, …]``
    mesh without irises uses eye-corner midpoints). ``image_size``: ``(width, height)`` of the
    frame (OpenCV/PIL order, not ``rgb.shape[:2]``), used to clip the torso points inside it.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] < 468 or points.shape[1] not in (2, 3):
        raise ValueError(f"expected [478, 2|3] Face Mesh landmarks, got {points.shape}")
    xy = points[:, :2]
    if len(xy) >= 478:
        eyes = xy[list(IRIS_CENTRES)]
    else:
        eyes = np.stack([xy[list(pair)].mean(axis=0) for pair in EYE_CORNERS])
    mouth = xy[list(MOUTH)].mean(axis=0)
    chin = xy[CHIN]

    down = chin - eyes.mean(axis=0)
    down /= max(float(np.linalg.norm(down)), 1e-6)
    across = np.array([down[1], -down[0]])  # down turned a quarter: image right when upright
    width = float(np.linalg.norm(xy[CHEEKS[1]] - xy[CHEEKS[0]]))
    below = chin + TORSO_DROP * width * down
    torso = np.stack([below - TORSO_SPREAD * width * across, below + TORSO_SPREAD * width * across])
    frame_width, frame_height = image_size
    torso = np.clip(torso, [0.0, 0.0], [frame_width - 1.0, frame_height - 1.0])
    return np.vstack([eyes, mouth[None], torso]).astype(np.float32)
