"""Face Mesh landmark loops that outline the face's regions, as ordered polygons.

Indices are MediaPipe Face Mesh (478-point) landmarks; each loop runs around its region once,
so ``cv2.fillPoly`` fills it. "Right" is the subject's right (the left of the image).
"""

from __future__ import annotations

import numpy as np

FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
# The lower half of the oval, from the right ear over the chin to the left ear: the jaw line.
JAW = (234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288,
       361, 323, 454)  # fmt: skip
LIPS_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181,
              91, 146)  # fmt: skip
LIPS_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178,
              88, 95)  # fmt: skip
RIGHT_EYE = (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7)
LEFT_EYE = (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249)
RIGHT_BROW = (70, 63, 105, 66, 107, 55, 65, 52, 53, 46)
LEFT_BROW = (336, 296, 334, 293, 300, 276, 283, 282, 295, 285)
CHIN = 152
FOREHEAD = 10
# Plain skin, away from brows, eyes, lips and the nose's highlights: both cheeks, mid-forehead.
SKIN_SAMPLES = (50, 280, 101, 330, 151, 108, 337)


def polygon(landmarks: np.ndarray, loop: tuple[int, ...]) -> np.ndarray:
    """``[N, 2]`` int32 pixel polygon of ``loop`` from ``[478, 2+]`` landmarks (for fillPoly)."""
    return np.round(landmarks[list(loop), :2]).astype(np.int32)
