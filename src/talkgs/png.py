"""A fast PNG writer for the per-frame label maps and RGBA layers.

OpenCV's PNG encoder spends most of its time choosing row filters; label maps and mostly
transparent layers compress as well without them. Writing the chunks ourselves around one
``zlib.compress`` call (which releases the GIL) is ~3× faster on 512² frames, and any PNG
reader (OpenCV, PIL, TalkingGaussian's loaders) reads the result.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPE = {1: 0, 3: 2, 4: 6}  # channels → PNG colour type: grey, RGB, RGBA


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(image: np.ndarray, level: int = 1) -> bytes:
    """PNG bytes of a uint8 ``[H, W]`` (grey), ``[H, W, 3]`` (RGB) or ``[H, W, 4]`` (RGBA) array.

    Channels are stored in the order given: pass RGB(A), not OpenCV's BGR(A).
    """
    if image.dtype != np.uint8:
        raise ValueError(f"PNG needs uint8, got {image.dtype}")
    height, width = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    rows = np.zeros((height, 1 + width * channels), np.uint8)  # filter byte 0 ("none") per row
    rows[:, 1:] = image.reshape(height, width * channels)
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPE[channels], 0, 0, 0)
    return b"".join((
        _SIGNATURE,
        _chunk(b"IHDR", header),
        _chunk(b"IDAT", zlib.compress(rows.tobytes(), level)),
        _chunk(b"IEND", b""),
    ))  # fmt: skip


def write_png(path: str | Path, image: np.ndarray, level: int = 1) -> None:
    Path(path).write_bytes(encode_png(image, level))
