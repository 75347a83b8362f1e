"""The inside of the open mouth: the photo's own upper teeth, a dark cavity, a hint of lower teeth.

The astronaut smiles with her upper teeth showing between the lips. The mesh warp would stretch
those teeth as the lips part, so the polygon of the inner lips (in frame pixels) is repainted:
the upper teeth stay fixed to the skull, i.e. they move with the head only, and the jaw opens a
dark cavity below them, with a tongue tint and the edge of the lower teeth above the lower lip.
At zero opening the painting equals the warped photo, so there is no jump as the mouth starts
to open.

Positions in the mouth are measured along the face's axes in the frame: ``u`` across from the
mouth centre and ``s`` down, compared with the lip lines at the same ``u``.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from talkgs.demo.portrait import INNER_LIP_LOWER, INNER_LIP_RING, INNER_LIP_UPPER

# Colours, RGB.
CAVITY = np.array([50.0, 18.0, 20.0])  # dark red-brown, the back of the mouth
TONGUE = np.array([150.0, 66.0, 72.0])
LOWER_TEETH = np.array([214.0, 206.0, 196.0])  # in the shadow of the upper teeth

SUPERSAMPLING = 4
GROW_PX = 0.75
# A function giving, for frame points [h, w, 2], the photo's colours [h, w, 3] moved with the
# head alone (no face deformation): where the skull-fixed upper teeth are seen.
PhotoOnHead = Callable[[np.ndarray], np.ndarray]


def paint_inner_mouth(
    person: np.ndarray,
    landmarks: np.ndarray,
    rest_landmarks: np.ndarray,
    mouth_open_px: float,
    axes: tuple[np.ndarray, np.ndarray],
    photo_on_head: PhotoOnHead,
) -> None:
    """Paint the mouth interior into `person` (``[H, W, 3]`` float32 RGB, changed in place).

    `landmarks` ``[478, 2]`` are the frame's (deformed, then moved) and `rest_landmarks` the
    undeformed ones moved the same way, both in frame pixels; `mouth_open_px` is the growth of
    the lip gap and `axes` the face's unit (across, down) vectors in the frame.
    """
    if mouth_open_px <= 1e-3:
        return  # closed: the warped photo is already right
    height, width = person.shape[:2]
    ring = landmarks[list(INNER_LIP_RING)]
    x0, y0 = np.maximum(np.floor(ring.min(axis=0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(ring.max(axis=0)).astype(int) + 3, [width, height])
    coverage = _polygon_coverage(ring - [x0, y0], (int(y1 - y0), int(x1 - x0)))

    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    pixels = np.stack([xs, ys], axis=-1)
    layer = _interior(pixels, landmarks, rest_landmarks, mouth_open_px, axes, photo_on_head)
    alpha = coverage[:, :, None]
    crop = person[y0:y1, x0:x1]
    crop[...] = alpha * layer + (1.0 - alpha) * crop


def _interior(
    pixels: np.ndarray,
    landmarks: np.ndarray,
    rest_landmarks: np.ndarray,
    mouth_open_px: float,
    axes: tuple[np.ndarray, np.ndarray],
    photo_on_head: PhotoOnHead,
) -> np.ndarray:
    """``[h, w, 3]`` colour of the mouth interior at `pixels` ``[h, w, 2]`` (frame pixels)."""
    across, down = axes
    centre = 0.5 * (landmarks[INNER_LIP_UPPER[0]] + landmarks[INNER_LIP_UPPER[-1]])
    half_width = float(np.linalg.norm(landmarks[INNER_LIP_UPPER[-1]] - centre))
    u = (pixels - centre) @ across
    s = (pixels - centre) @ down

    def lip_line(lip_points: np.ndarray) -> np.ndarray:
        """Depth of a lip line (``[N, 2]`` frame points) at every pixel's ``u``."""
        lip_u, lip_s = (lip_points - centre) @ across, (lip_points - centre) @ down
        order = np.argsort(lip_u)
        return np.interp(u, lip_u[order], lip_s[order])

    # The upper teeth ride with the upper lip: where it has lifted off its rest line they are
    # shifted up by as much, rather than stretched.
    lift = lip_line(rest_landmarks[list(INNER_LIP_UPPER)]) - lip_line(
        landmarks[list(INNER_LIP_UPPER)]
    )
    teeth_edge = lip_line(rest_landmarks[list(INNER_LIP_LOWER)]) - lift  # rest lower lip line
    lower_lip = lip_line(landmarks[list(INNER_LIP_LOWER)])
    centrality = np.clip(1.0 - (u / half_width) ** 2, 0.0, 1.0)  # 1 mid-mouth, 0 at the corners
    above_lower_lip = lower_lip - s
    gap = np.clip(lower_lip - teeth_edge, 1.0, None)  # the dark opening under the teeth

    # Cavity, darker towards the corners, with the tongue as a soft half-ellipse resting on
    # the lower lip in the middle of the mouth.
    tongue = np.clip(
        1.5 - 1.5 * ((u / (0.55 * half_width)) ** 2 + (above_lower_lip / (0.55 * gap)) ** 2),
        0.0,
        1.0,
    )
    layer = _mix(CAVITY, TONGUE, tongue) * (0.55 + 0.45 * np.sqrt(centrality))[..., None]

    # The edges of the lower incisors just above the lower lip, in the middle of the mouth,
    # each tooth a little rounded at its top corners.
    incisor_px = 0.2 * half_width
    tooth_phase = np.abs(np.sin(np.pi * u / incisor_px))  # 0 between two teeth
    lower_teeth_px = (
        min(0.15 * mouth_open_px, 0.12 * half_width)
        * np.clip((centrality - 0.55) / 0.3, 0.0, 1.0)
        * (0.55 + 0.45 * np.sqrt(np.cos(0.5 * np.pi * (1.0 - tooth_phase))))
    )
    lower_teeth = np.clip(lower_teeth_px - above_lower_lip, 0.0, 1.0) * (lower_teeth_px > 0.5)
    layer = _mix(layer, LOWER_TEETH * (0.8 + 0.2 * centrality)[..., None], lower_teeth)

    teeth_colour = photo_on_head(pixels + lift[..., None] * down)
    upper_teeth = np.clip(teeth_edge - s + 0.5, 0.0, 1.0)
    return _mix(layer, teeth_colour, upper_teeth)


def _mix(base: np.ndarray, top: np.ndarray, share: np.ndarray) -> np.ndarray:
    """``base`` blended towards ``top`` by ``share`` (``[h, w]`` in [0, 1]), colours last."""
    return base + (top - base) * share[..., None]


def _polygon_coverage(polygon: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``[h, w]`` float32 share of each pixel inside `polygon` (``[N, 2]``, pixel centres at
    integers), grown by GROW_PX: filled SUPERSAMPLING× finer, averaged, softened a little.

    The growth puts the soft edge onto the lips rather than inside the opening, where the
    warped photo shows the unmoved teeth (a pale rim along the lower lip otherwise)."""
    factor, fraction_bits = SUPERSAMPLING, 4
    fine = np.zeros((shape[0] * factor, shape[1] * factor), np.uint8)
    fine_points = ((polygon + 0.5) * factor - 0.5) * (1 << fraction_bits)
    cv2.fillPoly(fine, [np.round(fine_points).astype(np.int32)], 255, cv2.LINE_8, fraction_bits)
    grow = round(GROW_PX * factor)
    fine = cv2.dilate(fine, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2))
    coverage = cv2.resize(fine, shape[::-1], interpolation=cv2.INTER_AREA).astype(np.float32)
    return cv2.GaussianBlur(coverage / 255.0, (0, 0), 0.5)
