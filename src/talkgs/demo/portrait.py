"""The demo's source photo and what is measured on it once: landmarks, person matte, background.

The photo is scikit-image's ``astronaut`` (512×512 RGB, public domain, ships in the wheel). Points
are ``(x, y)`` in source pixels, x right and y down, from MediaPipe's normalised landmarks times the
image size. Indices follow MediaPipe Face Mesh's canonical topology (478 points with the refined
irises), which is fixed by the model, so the named regions below can be written out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from talkgs.errors import TalkgsError

log = logging.getLogger("talkgs.demo")

LANDMARK_COUNT = 478

# Inner lip ring, each half from the right mouth corner (78, image left) to the left one (308).
INNER_LIP_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
INNER_LIP_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
# Closed polygon: along the upper half, back along the lower half.
INNER_LIP_RING = INNER_LIP_UPPER + INNER_LIP_LOWER[-2:0:-1]
MOUTH_CORNERS = (61, 291)  # outer corners, image left then right
SUBNASALE = 2  # where the nose meets the upper lip


@dataclass(frozen=True)
class EyeContour:
    """One eye's lid margins, each ordered from the outer corner to the inner corner."""

    upper: tuple[int, ...]  # corner ... corner, over the top
    lower: tuple[int, ...]  # corner ... corner, along the bottom

    @property
    def ring(self) -> tuple[int, ...]:
        """The eye opening as a closed polygon."""
        return self.upper + self.lower[-2:0:-1]


EYES = (
    EyeContour(  # the person's right eye (image left)
        upper=(33, 246, 161, 160, 159, 158, 157, 173, 133),
        lower=(33, 7, 163, 144, 145, 153, 154, 155, 133),
    ),
    EyeContour(  # the person's left eye (image right)
        upper=(263, 466, 388, 387, 386, 385, 384, 398, 362),
        lower=(263, 249, 390, 373, 374, 380, 381, 382, 362),
    ),
)
IRISES = tuple(range(468, 478))  # two irises: centre then four rim points each


@dataclass(frozen=True)
class Portrait:
    image: np.ndarray  # [H, W, 3] uint8 RGB
    landmarks: np.ndarray  # [478, 2] float64, source pixels
    person_alpha: np.ndarray  # [H, W] float32 in [0, 1], soft matte of the person
    background: np.ndarray  # [H, W, 3] uint8 RGB, the photo with the person inpainted away


def load_portrait() -> Portrait:
    """The astronaut photo with its landmarks, person matte and empty background plate."""
    from skimage import data

    image = np.ascontiguousarray(data.astronaut()[:, :, :3])
    landmarks = detect_landmarks(image)
    alpha = segment_person(image)
    return Portrait(image, landmarks, alpha, inpaint_background(image, alpha))


def detect_landmarks(image: np.ndarray) -> np.ndarray:
    """MediaPipe Face Mesh (refined, 478 points) on one RGB image: ``[478, 2]`` source pixels."""
    import mediapipe as mp

    height, width = image.shape[:2]
    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, refine_landmarks=True, max_num_faces=1
    ) as mesh:
        result = mesh.process(image)
    if not result.multi_face_landmarks:
        raise TalkgsError("MediaPipe Face Mesh found no face in the demo portrait")
    points = result.multi_face_landmarks[0].landmark
    landmarks = np.array([(p.x * width, p.y * height) for p in points], dtype=np.float64)
    if landmarks.shape != (LANDMARK_COUNT, 2):
        raise TalkgsError(f"MediaPipe Face Mesh gave {len(landmarks)} landmarks, expected 478")
    return landmarks


def segment_person(image: np.ndarray) -> np.ndarray:
    """Soft person matte ``[H, W]`` in [0, 1] from MediaPipe selfie segmentation."""
    import mediapipe as mp

    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as segmenter:
        result = segmenter.process(image)
    confidence = np.asarray(result.segmentation_mask, dtype=np.float32)
    # The model's output is a confidence with a wide soft rim; narrow it to a few pixels so
    # the person carries little of the old background when it moves.
    return np.clip((confidence - 0.4) / 0.2, 0.0, 1.0).astype(np.float32)


def inpaint_background(image: np.ndarray, person_alpha: np.ndarray) -> np.ndarray:
    """The photo with the person (matte grown by a margin) filled in from the surroundings."""
    hole = (person_alpha > 0.02).astype(np.uint8)
    hole = cv2.dilate(hole, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (17, 17)))
    # Telea inpainting is slow on a large hole; fill a half-size image and paste it back.
    small = cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    small_hole = cv2.resize(hole, small.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    filled = cv2.inpaint(small, small_hole, 5, cv2.INPAINT_TELEA)
    filled = cv2.resize(filled, image.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    return np.where(hole[:, :, None] > 0, filled, image)
