"""One stable square crop around the face for a whole clip.

Boxes are ``(x0, y0, x1, y1)`` in source pixels of the displayed (auto-rotated) video.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FaceBox:
    frame: int  # index in the 25 fps stream
    box: tuple[float, float, float, float]
    score: float

    @property
    def center(self) -> np.ndarray:
        x0, y0, x1, y1 = self.box
        return np.array([(x0 + x1) / 2, (y0 + y1) / 2])

    @property
    def extent(self) -> float:
        x0, y0, x1, y1 = self.box
        return max(x1 - x0, y1 - y0)


@dataclass(frozen=True)
class CropBox:
    """A square ``size`` × ``size`` region whose top-left corner is ``(x, y)``."""

    x: int
    y: int
    size: int

    def as_dict(self) -> dict[str, int]:
        return {"x": self.x, "y": self.y, "size": self.size}

    def ffmpeg_filter(self) -> str:
        return f"crop={self.size}:{self.size}:{self.x}:{self.y}"


class FaceDetector:
    """MediaPipe face detection (full-range model, ships in the mediapipe wheel)."""

    def __init__(self, min_confidence: float = 0.5) -> None:
        import mediapipe as mp  # slow import; only stages that detect faces pay for it

        self._detector = mp.solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=min_confidence
        )

    def detect(self, rgb: np.ndarray, frame: int, scale: float) -> FaceBox | None:
        """The most confident face in ``rgb``; ``scale`` maps its pixels back to the source's."""
        result = self._detector.process(rgb)
        if not result.detections:
            return None
        best = max(result.detections, key=lambda d: d.score[0])
        rel = best.location_data.relative_bounding_box
        height, width = rgb.shape[:2]
        x0, y0 = rel.xmin * width * scale, rel.ymin * height * scale
        x1, y1 = x0 + rel.width * width * scale, y0 + rel.height * height * scale
        return FaceBox(frame, (x0, y0, x1, y1), float(best.score[0]))

    def close(self) -> None:
        self._detector.close()


def consistent_faces(faces: Iterable[FaceBox]) -> list[FaceBox]:
    """Drop detections far from the clip's typical face (false positives, a passer-by)."""
    faces = list(faces)
    if len(faces) < 3:
        return faces
    centers = np.stack([f.center for f in faces])
    median_center = np.median(centers, axis=0)
    median_extent = float(np.median([f.extent for f in faces]))
    distance = np.linalg.norm(centers - median_center, axis=1)
    return [f for f, d in zip(faces, distance, strict=True) if d <= median_extent]


def choose_crop(
    faces: list[FaceBox],
    frame_size: tuple[int, int],
    scale: float = 2.4,
    margin: float = 0.3,
    top_margin: float = 0.6,
    room_above: float = 0.15,
) -> CropBox:
    """A square that holds every detected face box with margins, framed like TalkingGaussian data.

    The detector's box runs from the brows to the chin, so the hair needs ``top_margin`` ×
    face extent above it and the other sides ``margin`` × extent. The side is ``scale`` × the
    median face extent (face about 40% of the width, shoulders visible), grown so that the union
    of all boxes with their margins fits (head motion), and shrunk to the frame. Of the room
    left over, ``room_above`` goes above the head and the rest below (neck and shoulders).
    """
    if not faces:
        raise ValueError("choose_crop needs at least one face")
    width, height = frame_size
    boxes = np.array([f.box for f in faces])
    extent = float(np.median([f.extent for f in faces]))
    x0, y0 = boxes[:, 0].min() - margin * extent, boxes[:, 1].min() - top_margin * extent
    x1, y1 = boxes[:, 2].max() + margin * extent, boxes[:, 3].max() + margin * extent
    side = max(scale * extent, x1 - x0, y1 - y0)
    side = min(side, width, height)
    side = int(side) // 2 * 2  # even sizes and offsets: chroma planes stay aligned
    left = (x0 + x1) / 2 - side / 2
    top = y0 - room_above * max(side - (y1 - y0), 0.0)
    left = int(np.clip(round(left), 0, width - side)) // 2 * 2
    top = int(np.clip(round(top), 0, height - side)) // 2 * 2
    return CropBox(left, top, side)
