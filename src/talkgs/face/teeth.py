"""Teeth inside the mouth: bright, low-saturation pixels (no parsing network has a teeth class)."""

from __future__ import annotations

import cv2
import numpy as np

# HSV thresholds on OpenCV's 8-bit scale (S and V in 0–255): teeth are light and nearly grey;
# the tongue and lips are saturated, the mouth cavity dark.
TEETH_MAX_SATURATION = 90
TEETH_MIN_VALUE = 120


def teeth_mask(rgb: np.ndarray, mouth: np.ndarray) -> np.ndarray:
    """``[H, W]`` bool: teeth pixels of ``rgb`` (``[H, W, 3]`` uint8) within ``mouth`` (bool)."""
    x0, y0, box_width, box_height = cv2.boundingRect(mouth.view(np.uint8))
    if box_width == 0:
        return np.zeros(mouth.shape, bool)
    x1, y1 = x0 + box_width, y0 + box_height
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2HSV)
    light_grey = (hsv[..., 1] <= TEETH_MAX_SATURATION) & (hsv[..., 2] >= TEETH_MIN_VALUE)
    teeth = np.zeros(mouth.shape, bool)
    teeth[y0:y1, x0:x1] = light_grey & mouth[y0:y1, x0:x1]
    return teeth
