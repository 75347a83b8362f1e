"""Small pictures for people: strips of labelled frames, and label maps drawn over frames."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from talkgs.face.labels import Label

# Distinct RGB colours per label for looking at (not TalkingGaussian's code, which merges labels).
LABEL_COLOURS = np.zeros((256, 3), np.uint8)
LABEL_COLOURS[: len(Label)] = [
    (40, 40, 40),  # background
    (255, 200, 150),  # face
    (200, 30, 60),  # lips
    (90, 0, 40),  # inner mouth
    (255, 255, 255),  # teeth
    (30, 120, 255),  # eyes
    (120, 60, 20),  # brows
    (250, 220, 0),  # hair
    (0, 200, 0),  # neck
    (0, 80, 255),  # torso
]


def label_overlay(rgb: np.ndarray, labels: np.ndarray, opacity: float = 0.6) -> np.ndarray:
    """``[H, W, 3]`` RGB: the frame with each label's colour laid over it."""
    return cv2.addWeighted(rgb, 1.0 - opacity, LABEL_COLOURS[labels], opacity, 0.0)


def save_strip(path: Path, tiles: Sequence[tuple[str, np.ndarray]], quality: int = 90) -> None:
    """Write RGB tiles of one height side by side as a JPEG, each captioned top-left."""
    captioned = []
    for caption, rgb in tiles:
        tile = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        cv2.putText(
            tile, caption, (8, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2, cv2.LINE_AA
        )
        captioned.append(tile)
    # imencode, not imwrite: a staged temporary name has no extension to pick the format by
    ok, encoded = cv2.imencode(".jpg", np.hstack(captioned), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OSError(f"could not encode {path}")
    Path(path).write_bytes(encoded.tobytes())


def first_middle_last(count: int) -> list[int]:
    return sorted({0, count // 2, count - 1})
