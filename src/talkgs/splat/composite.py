"""Front-to-back alpha compositing of projected Gaussians over binned tiles, in PyTorch.

Per pixel, with the Gaussians of its tile in depth order (gsplat's ``rasterize_to_pixels``):
``σ = ½(a dx² + c dy²) + b dx dy`` with ``d = mean − pixel centre``,
``α = min(0.999, opacity · e^(−σ))``, skipped when ``α < 1/255`` (or ``σ < 0``); the pixel stops
before the first Gaussian that would bring its transmittance ``T`` to ≤ 1e-4. Outputs are
``Σ αᵢ Tᵢ fᵢ`` and ``1 − T``.

:class:`Composite` is a custom autograd function: its forward keeps nothing per pixel and its
backward recomputes each group of tiles, so memory stays bounded by one group (the tile
binning's budget) whatever the number of Gaussians or pixels. Blocks are ``[tiles, Gaussians,
pixels]``. Comparisons are written as ``threshold``/``sign`` arithmetic because boolean tensors
are several times slower than float ones in PyTorch's CPU kernels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from talkgs.splat.projection import ALPHA_THRESHOLD
from talkgs.splat.tiles import TileBins, TileGroup

MAX_ALPHA = 0.999
MIN_TRANSMITTANCE = 1e-4


def _below(value: float, dtype: torch.dtype) -> float:
    """The largest ``dtype`` number below ``value`` in that dtype: ``x > _below(v)`` is
    ``x ≥ v``, which is how ``threshold`` can keep values ≥ a cutoff."""
    v = torch.tensor(value, dtype=dtype, device="cpu")  # a host constant, whatever the default
    return float(torch.nextafter(v, torch.zeros_like(v)))


@dataclass
class _Pixels:
    """Pixel centres of one tile, relative to the tile's centre, and their moments."""

    x: Tensor  # [P]
    y: Tensor  # [P]
    moments: Tensor  # [P, 6]: 1, x, y, x², y², xy

    @classmethod
    def of(cls, size: int, dtype: torch.dtype, device: torch.device) -> _Pixels:
        local = torch.arange(size * size, device=device)
        x = (local % size).to(dtype) + 0.5 - size / 2
        y = (local // size).to(dtype) + 0.5 - size / 2
        moments = torch.stack([torch.ones_like(x), x, y, x * x, y * y, x * y], dim=-1)
        return cls(x, y, moments)


@dataclass
class _Gaussians:
    """The inputs with a zero row appended, which the padding id of :class:`TileBins` reads."""

    means2d: Tensor  # [N+1, 2]
    conics: Tensor  # [N+1, 3]
    opacities: Tensor  # [N+1]
    inverse_opacities: Tensor  # [N+1], 0 for the padding row
    features: Tensor  # [N+1, D]

    @classmethod
    def padded(
        cls, means2d: Tensor, conics: Tensor, opacities: Tensor, features: Tensor
    ) -> _Gaussians:
        def pad(x: Tensor) -> Tensor:
            return torch.cat([x, x.new_zeros((1, *x.shape[1:]))])

        opacities = pad(opacities)
        inverse = torch.where(opacities > 0, 1.0 / opacities.clamp_min(1e-30), 0.0)
        return cls(pad(means2d), pad(conics), opacities, inverse, pad(features))


class _Blend:
    """One group of tiles: alphas and transmittances, ``[T, K, P]``.

    Written with in-place operations into few buffers: at this size, allocating a fresh tensor
    per step costs as much as the arithmetic."""

    def __init__(self, group: TileGroup, bins: TileBins, g: _Gaussians, pixels: _Pixels) -> None:
        ids = group.gaussians  # [T, K]
        size = bins.tile_size
        centre = torch.stack([group.tiles % bins.tiles_x, group.tiles // bins.tiles_x], -1)
        centre = centre.to(g.means2d.dtype) * size + size / 2
        self.local = g.means2d[ids] - centre[:, None, :]  # [T, K, 2] mean − tile centre
        self.conic = g.conics[ids]  # [T, K, 3]
        self.opacity = g.opacities[ids][..., None]  # [T, K, 1]
        a, b, c = (self.conic[..., i : i + 1] for i in range(3))
        dx = self.local[..., 0:1] - pixels.x
        dy = self.local[..., 1:2] - pixels.y
        sigma = (0.5 * a) * dx
        sigma.addcmul_(b, dy).mul_(dx)
        sigma.addcmul_(torch.mul(0.5 * c, dy, out=dx), dy)
        tiny = torch.finfo(sigma.dtype).tiny
        # σ < 0 (rounding) is skipped as in gsplat: e^(−∞) = 0 falls below the threshold
        gauss = F.threshold(sigma, -tiny, float("inf"), inplace=True).neg_().exp_()  # e^(−σ)
        alpha = torch.mul(gauss, self.opacity, out=dy)
        # only an opacity above 0.999 can be clamped; then the gradient needs to know where
        self.unclamped = None
        if bool((self.opacity > MAX_ALPHA).any()):
            self.unclamped = torch.sign(F.threshold(MAX_ALPHA - alpha, 0.0, 0.0))
        alpha.clamp_max_(MAX_ALPHA)
        F.threshold(alpha, _below(ALPHA_THRESHOLD, alpha.dtype), 0.0, inplace=True)
        t, k, p = alpha.shape
        # transmittance before each Gaussian, then the final one: [T, K + 1, P]
        transmittance = alpha.new_empty((t, k + 1, p))
        transmittance[:, 0] = 1.0
        torch.sub(alpha.new_ones(()), alpha, out=transmittance[:, 1:]).cumprod_(dim=1)
        final = transmittance[:, -1]  # [T, P]
        if float(final.min()) <= MIN_TRANSMITTANCE:
            # a pixel stops before the Gaussian that would take T to ≤ 1e-4; T only falls, so
            # the Gaussians that count form a prefix
            running = F.threshold(transmittance[:, 1:], MIN_TRANSMITTANCE, 0.0).sign_()
            alpha.mul_(running)
            n_running = running.sum(1, keepdim=True).long()  # [T, 1, P]
            final = transmittance.gather(1, n_running).squeeze(1)
        self.alpha = alpha
        self.final = final
        self.before = transmittance[:, :-1]
        self.weight = alpha * self.before


class Composite(torch.autograd.Function):
    """``(means2d [N,2], conics [N,3], opacities [N], features [N,D], bins)`` →
    ``(features [tiles, P, D], alpha [tiles, P])``, tiles row-major over the tile grid."""

    @staticmethod
    def forward(
        ctx: Any,
        means2d: Tensor,
        conics: Tensor,
        opacities: Tensor,
        features: Tensor,
        bins: TileBins,
    ) -> tuple[Tensor, Tensor]:
        pixels = _Pixels.of(bins.tile_size, means2d.dtype, means2d.device)
        g = _Gaussians.padded(means2d, conics, opacities, features)
        n_pixels = bins.tile_size**2
        out = features.new_zeros((bins.n_tiles, n_pixels, features.shape[1]))
        alpha = features.new_zeros((bins.n_tiles, n_pixels))
        for group in bins.groups:
            blend = _Blend(group, bins, g, pixels)
            out[group.tiles] = blend.weight.transpose(1, 2) @ g.features[group.gaussians]
            alpha[group.tiles] = 1.0 - blend.final
        ctx.bins = bins
        ctx.save_for_backward(means2d, conics, opacities, features)
        return out, alpha

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor, grad_alpha: Tensor) -> tuple[Tensor | None, ...]:
        means2d, conics, opacities, features = ctx.saved_tensors
        bins: TileBins = ctx.bins
        pixels = _Pixels.of(bins.tile_size, means2d.dtype, means2d.device)
        g = _Gaussians.padded(means2d, conics, opacities, features)
        d_means = torch.zeros_like(g.means2d)
        d_conics = torch.zeros_like(g.conics)
        d_opacities = torch.zeros_like(g.opacities)
        d_features = torch.zeros_like(g.features)
        for group in bins.groups:
            blend = _Blend(group, bins, g, pixels)
            ids = group.gaussians.reshape(-1)
            g_out = grad_out[group.tiles]  # [T, P, D]
            d_features.index_add_(0, ids, (blend.weight @ g_out).flatten(0, 1))

            # dL/dαₖ = Tₖ sₖ + (g_A T_final − Σ_{j>k} wⱼ sⱼ) / (1 − αₖ), with sₖ = g·fₖ
            s = g.features[group.gaussians] @ g_out.transpose(1, 2)  # [T, K, P]
            ws = blend.weight.mul_(s)
            later = torch.cumsum(ws, dim=1).sub_(ws.sum(1, keepdim=True))  # −Σ_{j>k}
            later.add_((grad_alpha[group.tiles] * blend.final)[:, None, :])
            # dL/d(opacity·e^(−σ)) · e^(−σ) = dL/dα · α/opacity where α counts, and 0 where it
            # was skipped, stopped or clamped
            gauss = blend.alpha * g.inverse_opacities[group.gaussians][..., None]
            if blend.unclamped is not None:
                gauss.mul_(blend.unclamped)
            one_minus_alpha = blend.alpha.neg_().add_(1.0)
            q = later.div_(one_minus_alpha).addcmul_(blend.before, s).mul_(gauss)  # [T, K, P]
            d_opacities.index_add_(0, ids, q.sum(-1).reshape(-1))
            _mean_conic_grads(blend, q, pixels, ids, d_means, d_conics)
        return d_means[:-1], d_conics[:-1], d_opacities[:-1], d_features[:-1], None


def _mean_conic_grads(
    blend: _Blend, q: Tensor, pixels: _Pixels, ids: Tensor, d_means: Tensor, d_conics: Tensor
) -> None:
    """Accumulate dL/dmean and dL/dconic from ``q = dL/dα · e^(−σ)`` ``[T, K, P]``.

    dL/dσ = −opacity · q, and σ is quadratic in d = mean − pixel, so every sum over pixels
    needed is one of the six pixel moments of dL/dσ: one matrix product instead of ten
    elementwise passes.
    """
    t, k, p = q.shape
    m = (q.reshape(-1, p) @ pixels.moments).reshape(t, k, 6) * -blend.opacity
    s0, sx, sy, sxx, syy, sxy = m.unbind(-1)
    mx, my = blend.local.unbind(-1)
    a, b, c = blend.conic.unbind(-1)
    sum_dx = mx * s0 - sx  # Σ dL/dσ · dx
    sum_dy = my * s0 - sy
    sum_dxx = mx * mx * s0 - 2 * mx * sx + sxx
    sum_dyy = my * my * s0 - 2 * my * sy + syy
    sum_dxy = mx * my * s0 - mx * sy - my * sx + sxy
    d_means.index_add_(
        0, ids, torch.stack([a * sum_dx + b * sum_dy, c * sum_dy + b * sum_dx], -1).reshape(-1, 2)
    )
    d_conics.index_add_(
        0, ids, torch.stack([0.5 * sum_dxx, sum_dxy, 0.5 * sum_dyy], -1).reshape(-1, 3)
    )


def composite(
    means2d: Tensor, conics: Tensor, opacities: Tensor, features: Tensor, bins: TileBins
) -> tuple[Tensor, Tensor]:
    """Composite ``features`` and return ``([H_pad, W_pad, D], [H_pad, W_pad, 1])`` over the
    whole tile grid (the caller crops to the image)."""
    out, alpha = Composite.apply(means2d, conics, opacities, features, bins)
    size = bins.tile_size
    grid = (bins.tiles_y, bins.tiles_x, size, size)
    image = (
        out.reshape(*grid, -1).permute(0, 2, 1, 3, 4).reshape(grid[0] * size, grid[1] * size, -1)
    )
    alpha = alpha.reshape(*grid).permute(0, 2, 1, 3).reshape(grid[0] * size, grid[1] * size, 1)
    return image, alpha
