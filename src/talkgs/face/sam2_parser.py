"""The ``sam2`` parsing backend: M2DAO-Talker's two-stage motion region segmentation.

Stage one: SAM2's image predictor, prompted with five landmark points (left eye, right eye,
mouth, torso left, torso right; M2DAO eq. 5), segments the portrait foreground. Stage two: the
landmark parser splits that foreground into face, mouth, hair, neck and torso regions with the
polygons and the jaw line of the ``mediapipe`` backend — without that backend's per-identity
colours of hair, clothing and skin (:mod:`talkgs.face.appearance`), so hair below the jaw line
is torso here.
"""

from __future__ import annotations

import numpy as np

from talkgs.face.landmark_labels import label_from_landmarks
from talkgs.face.sam2 import Sam2ImagePredictor, portrait_prompts
from talkgs.weights import WeightStore

# parsing.sam2_model → the official config file that goes with its checkpoint
SAM2_CONFIGS = {
    "tiny": "sam2.1_hiera_t.yaml",
    "small": "sam2.1_hiera_s.yaml",
    "base_plus": "sam2.1_hiera_b+.yaml",
    "large": "sam2.1_hiera_l.yaml",
}


class Sam2PortraitParser:
    def __init__(
        self,
        store: WeightStore,
        weight_name: str = "sam2_hiera_tiny",
        config_file: str = "sam2.1_hiera_t.yaml",
    ) -> None:
        self.predictor = Sam2ImagePredictor(store, weight_name, config_file)

    def parse(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        height, width = rgb.shape[:2]
        points = portrait_prompts(landmarks, (width, height))
        self.predictor.set_image(rgb)
        masks, _ = self.predictor.predict(points, np.ones(len(points), np.int64))
        return label_from_landmarks(masks[0], landmarks, rgb)
