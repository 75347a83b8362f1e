"""The pinhole camera shared by the demo (which renders through it) and the pose stage (which
estimates it): one focal length in pixels and a principal point, OpenCV axes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Camera:
    focal: float  # pixels
    cx: float  # principal point, pixels
    cy: float

    @classmethod
    def centred(cls, focal: float, width: int, height: int) -> Camera:
        return cls(float(focal), width / 2.0, height / 2.0)

    @property
    def matrix(self) -> np.ndarray:
        """The 3×3 intrinsic matrix K."""
        return np.array([[self.focal, 0.0, self.cx], [0.0, self.focal, self.cy], [0.0, 0.0, 1.0]])
