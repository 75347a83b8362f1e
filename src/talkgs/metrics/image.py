"""Full-reference image metrics of one frame: PSNR, SSIM, MS-SSIM.

A frame is ``[H, W, 3]`` RGB, uint8 (0–255) or float in [0, 1] (numpy or torch); both frames of
a pair are converted to float64 in [0, 1], so the data range is 1 (255 for uint8 input, the
same numbers). Conventions, each matching a library within 1e-4 (tests/test_metrics.py):

- **PSNR** ``10·log10(1 / MSE)`` over all pixels and channels (torchmetrics
  ``PeakSignalNoiseRatio(data_range=1)``); identical frames give ``inf``.
- **SSIM** Wang et al. 2004: Gaussian window 11×11, σ = 1.5, K1 = 0.01, K2 = 0.03, population
  statistics, per channel, averaged over the pixels whose whole window lies inside the frame
  (the reference MATLAB code's ``'valid'`` filtering) and over the channels: scikit-image
  ``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
  data_range=1, channel_axis=2)``. torchmetrics 1.9 computes the same per-pixel map
  (``return_full_image=True``) but averages it over the whole frame, border pixels included
  (their windows reflect-padded), which reads ~0.01 lower on a 200² crop of a photo; talkgs
  follows scikit-image. The same code is the training loss (:mod:`talkgs.metrics.ssim`).
- **MS-SSIM** Wang et al. 2003 as torchmetrics ``MultiScaleStructuralSimilarityIndexMeasure(
  data_range=1)`` computes it: 5 scales with weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333),
  2×2 average pooling between scales, the contrast-structure term of scales 1–4 averaged over
  the valid pixels and the SSIM of scale 5 averaged over the whole (reflect-padded) image, each
  clipped at 0 (``normalize="relu"``, torchmetrics' default). Scale 5 must still hold one whole
  11-px window, so a frame needs at least :data:`MS_SSIM_MIN_SIZE` = 11·2⁴ = 176 px per side
  (torchmetrics refuses smaller ones too); a smaller frame gives
  :class:`~talkgs.metrics.NotComputed` (fewer scales or another window would not be comparable
  with published numbers).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from talkgs.metrics import NotComputed
from talkgs.metrics.ssim import WINDOW, hwc_to_batch, ssim_and_contrast_maps, ssim_map

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MS_SSIM_MIN_SIZE = WINDOW * 2 ** (len(MS_SSIM_WEIGHTS) - 1)  # 176 px

Frame = np.ndarray | Tensor


def to_unit_float(frame: Frame) -> Tensor:
    """``[H, W, 3]`` uint8 or [0, 1] float → float64 tensor in [0, 1] (a detached copy)."""
    tensor = torch.as_tensor(np.asarray(frame) if not isinstance(frame, Tensor) else frame)
    tensor = tensor.detach().cpu()
    if tensor.ndim != 3 or tensor.shape[2] != 3:
        raise ValueError(f"expected an [H, W, 3] RGB frame, got shape {tuple(tensor.shape)}")
    if tensor.dtype == torch.uint8:
        return tensor.to(torch.float64) / 255.0
    return tensor.to(torch.float64)


def _pair(render: Frame, truth: Frame) -> tuple[Tensor, Tensor]:
    a, b = to_unit_float(render), to_unit_float(truth)
    if a.shape != b.shape:
        raise ValueError(f"frames differ in size: {tuple(a.shape)} and {tuple(b.shape)}")
    return hwc_to_batch(a), hwc_to_batch(b)


def psnr(render: Frame, truth: Frame) -> float:
    """PSNR in dB (data range 1); ``inf`` for identical frames."""
    a, b = _pair(render, truth)
    mse = float(((a - b) ** 2).mean())
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def ssim(render: Frame, truth: Frame) -> float:
    """Mean SSIM over the valid window positions and the three channels."""
    a, b = _pair(render, truth)
    return float(ssim_map(a, b, padding="valid").mean())


def ms_ssim(render: Frame, truth: Frame) -> float | NotComputed:
    """MS-SSIM (5 scales), or :class:`NotComputed` for frames under 176 px per side."""
    a, b = _pair(render, truth)
    height, width = a.shape[-2:]
    if min(height, width) < MS_SSIM_MIN_SIZE:
        return NotComputed(
            f"MS-SSIM needs frames of at least {MS_SSIM_MIN_SIZE} px per side (5 scales of an "
            f"{WINDOW}-px window); these are {width}×{height}"
        )
    value = torch.ones((), dtype=torch.float64)
    for weight in MS_SSIM_WEIGHTS[:-1]:
        contrast = ssim_and_contrast_maps(a, b, padding="valid")[1]
        value = value * contrast.mean().clamp_min(0) ** weight
        a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    border = WINDOW // 2
    a, b = (F.pad(x, (border,) * 4, mode="reflect") for x in (a, b))
    similarity = ssim_map(a, b, padding="valid").mean().clamp_min(0)
    return float(value * similarity ** MS_SSIM_WEIGHTS[-1])
