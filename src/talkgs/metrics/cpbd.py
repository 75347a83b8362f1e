"""CPBD, the no-reference sharpness of Narvekar & Karam (2011), through the ``cpbd`` package.

The frame is converted to 8-bit grey (ITU-R 601 luma, as ``imread(..., mode="L")`` gives the
package's own command line) and passed to ``cpbd.compute``; higher is sharper, 0–1. cpbd 1.0.7
(pure Python, ~2–3 s per 512² frame on one core) imports ``scipy.ndimage.imread``, which SciPy
removed in 1.2; only its command line uses it, so :func:`load_cpbd` puts a stand-in that raises
into ``scipy.ndimage`` before the import. Without the package the metric is
:class:`~talkgs.metrics.NotComputed`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from talkgs.metrics import NotComputed
from talkgs.metrics.image import Frame, to_unit_float

INSTALL_HINT = "pip install cpbd==1.0.7"


def _removed_imread(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("scipy.ndimage.imread was removed from SciPy; talkgs reads frames itself")


def load_cpbd() -> Callable[[np.ndarray], float] | NotComputed:
    """``cpbd.compute`` (grey uint8 ``[H, W]`` → float), or why it is unavailable."""
    import scipy.ndimage

    if not hasattr(scipy.ndimage, "imread"):
        scipy.ndimage.imread = _removed_imread  # type: ignore[attr-defined]
    try:
        module = importlib.import_module("cpbd")
    except ImportError as error:
        return NotComputed(f"the cpbd package is not installed ({error}); {INSTALL_HINT}")
    return module.compute


def grey(frame: Frame) -> np.ndarray:
    """``[H, W]`` uint8 luma of an ``[H, W, 3]`` RGB frame (uint8 or [0, 1] float)."""
    rgb = np.round(to_unit_float(frame).numpy() * 255).astype(np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def cpbd(frame: Frame, compute: Callable[[np.ndarray], float] | NotComputed) -> float | NotComputed:
    """CPBD of one frame with ``compute`` from :func:`load_cpbd` (passed on if NotComputed)."""
    if isinstance(compute, NotComputed):
        return compute
    return float(compute(grey(frame)))
