"""The fast PNG writer produces files every reader agrees on."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from talkgs.png import write_png


@pytest.mark.parametrize("shape", [(37, 53), (37, 53, 3), (37, 53, 4)])
def test_round_trip_through_opencv_and_pil(tmp_path: Path, shape: tuple[int, ...]) -> None:
    image = np.random.default_rng(0).integers(0, 256, shape, np.uint8)
    path = tmp_path / "x.png"
    write_png(path, image)
    assert (np.asarray(Image.open(path)) == image).all()
    read = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image.ndim == 3:  # OpenCV hands back BGR(A)
        read = cv2.cvtColor(read, cv2.COLOR_BGR2RGB if shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
    assert (read == image).all()


def test_refuses_non_uint8(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="uint8"):
        write_png(tmp_path / "x.png", np.zeros((4, 4), np.float32))
