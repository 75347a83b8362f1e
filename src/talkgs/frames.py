"""Reading the ingested frames and the per-frame label maps, with one-line errors.

Every stage after ingest lists ``frames/NNNNNN.jpg`` with :func:`frame_paths` and reads them
with :func:`read_rgb` (or :func:`read_image` for another OpenCV mode); label maps (single-channel
PNGs of :class:`talkgs.face.labels.Label`) with :func:`read_labels`.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from talkgs.errors import input_error


def frame_paths(frames_dir: Path) -> list[Path]:
    """The ingested frames in index order; their names must be 000000.jpg, 000001.jpg, …"""
    paths = sorted(Path(frames_dir).glob("*.jpg"))
    if not paths:
        raise input_error(frames_dir, "no frames (*.jpg) in the folder")
    for index, path in enumerate(paths):
        if path.stem != f"{index:06d}":
            raise input_error(path, f"frame {index} is missing or misnamed")
    return paths


def read_image(path: Path, mode: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """``cv2.imread`` (BGR for colour) that names the file when it cannot read it."""
    image = cv2.imread(str(path), mode)
    if image is None:
        raise input_error(path, "unreadable image")
    return image


def read_rgb(path: Path) -> np.ndarray:
    """``[H, W, 3]`` uint8 RGB."""
    return cv2.cvtColor(read_image(path), cv2.COLOR_BGR2RGB)


def read_labels(path: Path) -> np.ndarray:
    """``[H, W]`` uint8 label map."""
    labels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if labels is None or labels.ndim != 2:
        raise input_error(path, "not a single-channel label map")
    return labels
