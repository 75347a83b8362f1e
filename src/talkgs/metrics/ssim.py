"""SSIM (Wang et al. 2004) in PyTorch, differentiable: the training loss and the evaluation metric.

Gaussian window 11×11 with σ = 1.5, K1 = 0.01, K2 = 0.03, data range 1, statistics per channel
over the valid ("same"-size, zero-padded) neighbourhood as 3DGS' loss; the evaluation uses
``padding="valid"`` so that the mean equals scikit-image's ``structural_similarity(...,
gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1)``.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

WINDOW = 11
SIGMA = 1.5
C1 = 0.01**2
C2 = 0.03**2


@functools.lru_cache(maxsize=32)
def _band(size: int, pad: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``[size + 2·pad − WINDOW + 1, size]``: row i is the 1-D Gaussian at output position i,
    zero outside the image (zero padding by ``pad``). Cached: building it selects with a
    boolean mask, which on a GPU waits for the device, and the training loss asks every step."""
    x = torch.arange(WINDOW, dtype=dtype, device=device) - WINDOW // 2
    g = torch.exp(-(x**2) / (2 * SIGMA**2))
    g = g / g.sum()
    rows = size + 2 * pad - WINDOW + 1
    i = torch.arange(rows, device=device)[:, None].expand(rows, WINDOW)
    k = torch.arange(WINDOW, device=device)[None, :].expand(rows, WINDOW)
    j = i - pad + k
    inside = (j >= 0) & (j < size)
    band = torch.zeros(rows, size, dtype=dtype, device=device)
    band[i[inside], j[inside]] = g.expand(rows, WINDOW)[inside]
    return band


def ssim_map(a: Tensor, b: Tensor, padding: str = "same") -> Tensor:
    """Per-pixel SSIM of ``[B, C, H, W]`` images in [0, 1]; ``padding`` "same" or "valid"."""
    return ssim_and_contrast_maps(a, b, padding)[0]


def ssim_and_contrast_maps(a: Tensor, b: Tensor, padding: str = "same") -> tuple[Tensor, Tensor]:
    """Per-pixel SSIM and its contrast-structure term ``cs = (2σ_ab + C2) / (σ_a² + σ_b² + C2)``.

    MS-SSIM (:func:`talkgs.metrics.image.ms_ssim`) multiplies ``cs`` of the finer scales with
    the SSIM of the coarsest one.
    """
    pad = WINDOW // 2 if padding == "same" else 0
    # The Gaussian window is separable: blurring is band @ image @ bandᵀ, two matrix products.
    # (A grouped 11×11 conv2d is 15× slower in float64 on a CPU: 0.4 s per 512² RGB frame.)
    rows = _band(a.shape[-2], pad, a.dtype, a.device)
    columns = _band(a.shape[-1], pad, a.dtype, a.device).T

    def blur(x: Tensor) -> Tensor:
        return rows @ x @ columns

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    contrast = (2 * cov + C2) / (var_a + var_b + C2)
    return (2 * mu_a * mu_b + C1) / (mu_a**2 + mu_b**2 + C1) * contrast, contrast


def hwc_to_batch(image: Tensor) -> Tensor:
    """``[H, W, C]`` → ``[1, C, H, W]``."""
    return image.permute(2, 0, 1)[None]
