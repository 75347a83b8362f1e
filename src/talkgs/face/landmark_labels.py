"""Labels from a person mask and Face Mesh landmarks: the landmark-based region split that every
parsing backend shares (MediaPipe's selfie mask, SAM 2's masks). The face's regions are the
landmark polygons (:mod:`talkgs.face.regions`); below the jaw line the person is neck where its
colour is the face's skin, torso elsewhere; with the identity's appearance, colours place hair,
ears and neck below the line (:func:`talkgs.face.appearance.refine_labels`)."""

from __future__ import annotations

import cv2
import numpy as np

from talkgs.face import regions
from talkgs.face.appearance import Appearance, FaceGeometry, refine_labels
from talkgs.face.labels import Label
from talkgs.face.teeth import teeth_mask

NECK_CHROMA_TOLERANCE = 20.0  # YCrCb Cr/Cb units (of 255) between neck and face skin
NECK_MIN_RELATIVE_LUMA = 0.4  # a shadowed neck is darker than the face, but not near-black


def label_from_landmarks(
    person: np.ndarray,
    landmarks: np.ndarray,
    rgb: np.ndarray,
    appearance: Appearance | None = None,
) -> np.ndarray:
    """Split a ``[H, W]`` bool person mask into labels with the landmark polygons.

    The jaw line (the lower half of the face oval, extended sideways at ear height) divides
    the person: above it and outside the face is hair, below it is neck (skin under the chin)
    and torso (the rest) — unless the identity's ``appearance`` is given, which then places
    hair, ears and neck below the line and a fringe above the brows by colour
    (:func:`talkgs.face.appearance.refine_labels`).
    """
    height, width = person.shape
    labels = np.zeros((height, width), np.uint8)
    labels[person] = Label.HAIR
    below_jaw = person & below_jaw_line(landmarks, width, height)
    labels[below_jaw] = Label.TORSO
    for loop, label in (
        (regions.FACE_OVAL, Label.FACE),
        (regions.RIGHT_BROW, Label.BROWS),
        (regions.LEFT_BROW, Label.BROWS),
        (regions.RIGHT_EYE, Label.EYES),
        (regions.LEFT_EYE, Label.EYES),
        (regions.LIPS_OUTER, Label.LIPS),
        (regions.LIPS_INNER, Label.INNER_MOUTH),
    ):
        cv2.fillPoly(labels, [regions.polygon(landmarks, loop)], int(label))
    inner = labels == Label.INNER_MOUTH
    labels[teeth_mask(rgb, inner)] = Label.TEETH
    labels[below_jaw & _neck_skin(rgb, labels, landmarks)] = Label.NECK
    if appearance is not None:
        labels = refine_labels(labels, rgb, landmarks, below_jaw, appearance)
    return labels


def below_jaw_line(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """``[H, W]`` bool: below the jaw line, held at ear height beyond its ends."""
    jaw = landmarks[list(regions.JAW), :2]
    order = np.argsort(jaw[:, 0])
    jaw_y = np.interp(np.arange(width), jaw[order, 0], jaw[order, 1])  # ends held at ear height
    return np.arange(height)[:, None] > jaw_y[None, :]


def _neck_skin(rgb: np.ndarray, labels: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """``[H, W]`` bool: skin-coloured pixels in the zone under the chin where the neck can be.

    The zone is :meth:`talkgs.face.appearance.FaceGeometry.neck_box`; skin is a colour (YCrCb)
    close to the face's own skin, sampled on the cheeks and forehead, so a collar, a tie, a
    scarf or a dark turtleneck in that zone stays torso.
    """
    x0, y0, x1, y1 = FaceGeometry.of(landmarks).neck_box(labels.shape)
    neck = np.zeros(labels.shape, bool)
    if y1 <= y0 or x1 <= x0:
        return neck
    ycrcb = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2YCrCb)
    luma, cr, cb = _skin_colour(rgb, landmarks)
    # a box in YCrCb: chroma within the tolerance of the face's skin, and not much darker than
    # it (near-black cloth has a neutral, meaningless chroma that would otherwise pass)
    low = (NECK_MIN_RELATIVE_LUMA * luma, cr - NECK_CHROMA_TOLERANCE, cb - NECK_CHROMA_TOLERANCE)
    high = (255, cr + NECK_CHROMA_TOLERANCE, cb + NECK_CHROMA_TOLERANCE)
    neck[y0:y1, x0:x1] = cv2.inRange(ycrcb, low, high) > 0
    return neck


def _skin_colour(rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Median (Y, Cr, Cb) of 5×5 patches at cheek and forehead landmarks."""
    height, width = rgb.shape[:2]
    patches = []
    for index in regions.SKIN_SAMPLES:
        x, y = np.clip(np.round(landmarks[index, :2]).astype(int), 2, [width - 3, height - 3])
        patches.append(rgb[y - 2 : y + 3, x - 2 : x + 3].reshape(-1, 3))
    samples = np.concatenate(patches)[None]
    return np.median(cv2.cvtColor(samples, cv2.COLOR_RGB2YCrCb)[0], axis=0)
