"""Tile binning for the PyTorch rasterizer: which Gaussians touch which square tile, in depth
order, packed into padded groups of tiles of similar load.

A Gaussian is listed in every tile its opacity-aware box (:mod:`talkgs.splat.projection`)
overlaps, as in gsplat's ``isect_tiles``, less the tiles its alpha ≥ 1/255 ellipse misses (a
quarter to a third of the box's tiles: its corners, and most of the box of a thin, tilted
Gaussian); no dropped tile has a pixel the Gaussian counts in, so the image does not change.

Tiles are sorted by how many Gaussians they hold and cut into groups whose padded ``tiles ×
pixels × Gaussians`` block stays under a budget: padding to the busiest tile of a group then
costs little, and the memory of one group is bounded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass
class TileGroup:
    tiles: Tensor  # [T] int64 tile ids (row-major over the tile grid)
    gaussians: Tensor  # [T, K] int64 Gaussian ids front to back; padding holds ``pad``


@dataclass
class TileBins:
    tile_size: int
    tiles_x: int
    tiles_y: int
    pad: int  # the padding id: one past the last Gaussian (a zero-opacity dummy)
    groups: list[TileGroup]

    @property
    def n_tiles(self) -> int:
        return self.tiles_x * self.tiles_y


@torch.no_grad()
def bin_tiles(
    means2d: Tensor,
    radii: Tensor,
    depths: Tensor,
    width: int,
    height: int,
    tile_size: int,
    conics: Tensor | None = None,
    opacities: Tensor | None = None,
    budget: int = 1 << 17,
) -> TileBins:
    """Bin ``[N, 2]`` pixel means with ``[N, 2]`` int radii (0 = culled) and ``[N]`` depths;
    with ``[N, 3]`` conics and ``[N]`` opacities, drop the tiles the Gaussian does not reach.

    ``budget`` bounds ``tiles × tile_size² × Gaussians`` per group (except for a single tile
    busier than that, which forms its own group).
    """
    n = means2d.shape[0]
    tiles_x, tiles_y = math.ceil(width / tile_size), math.ceil(height / tile_size)
    visible = torch.nonzero((radii > 0).all(dim=-1)).squeeze(1)
    # front to back; stable so that equal depths keep index order, as gsplat's radix sort does
    ids = visible[torch.sort(depths[visible], stable=True).indices]
    ellipse = None
    if conics is not None and opacities is not None:
        ellipse = (conics[ids], opacities[ids])
    gaussian, tile = _pairs(means2d[ids], radii[ids], ellipse, tile_size, tiles_x, tiles_y)
    return _groups(ids.index_select(0, gaussian), tile, n, tile_size, tiles_x, tiles_y, budget)


def _pairs(
    means2d: Tensor,
    radii: Tensor,
    ellipse: tuple[Tensor, Tensor] | None,
    tile_size: int,
    tiles_x: int,
    tiles_y: int,
) -> tuple[Tensor, Tensor]:
    """``(gaussian, tile)`` ``[M]``, Gaussian by Gaussian, for the tiles of each box; with
    ``ellipse = (conics, opacities)`` only the tiles of each row of the box that the ellipse
    ``σ ≤ ln(255 · opacity)`` (alpha ≥ 1/255) reaches."""
    device = means2d.device
    centre = means2d.to(torch.float64) / tile_size
    reach = radii.to(torch.float64) / tile_size
    lo = torch.floor(centre - reach).long().clamp_min(0)
    hi = torch.ceil(centre + reach).long().clamp_min(0)
    lo_x, lo_y = lo[:, 0].clamp_max(tiles_x), lo[:, 1].clamp_max(tiles_y)
    hi_x = hi[:, 0].clamp_max(tiles_x)
    height = hi[:, 1].clamp_max(tiles_y) - lo_y
    height = torch.where(hi_x > lo_x, height, 0)

    row_owner = torch.repeat_interleave(torch.arange(len(lo), device=device), height)
    row_start = torch.cumsum(height, 0) - height
    rows = torch.arange(len(row_owner), device=device)
    row_y = lo_y.index_select(0, row_owner) + rows - row_start.index_select(0, row_owner)
    start, end = lo_x.index_select(0, row_owner), hi_x.index_select(0, row_owner)
    if ellipse is not None:
        first, last = _ellipse_rows(means2d, *ellipse, row_owner, row_y, tile_size)
        start, end = torch.maximum(start, first), torch.minimum(end, last + 1)
    row_width = (end - start).clamp_min(0)

    pair_row = torch.repeat_interleave(rows, row_width)
    # tile_x = start + (pair index − index of the row's first pair)
    row_x0 = start - (torch.cumsum(row_width, 0) - row_width)
    tile_x = torch.arange(len(pair_row), device=device) + row_x0.index_select(0, pair_row)
    tile = (row_y * tiles_x).index_select(0, pair_row) + tile_x
    return row_owner.index_select(0, pair_row), tile


def _ellipse_rows(
    means2d: Tensor,
    conics: Tensor,
    opacities: Tensor,
    row_owner: Tensor,
    row_y: Tensor,
    size: int,
) -> tuple[Tensor, Tensor]:
    """First and last tile column ``[R]`` that Gaussian ``row_owner[r]`` reaches in tile row
    ``row_y[r]`` (last < first where it misses the row).

    The set ``½ dᵀ C d ≤ L`` (``d`` = mean − pixel, ``C`` the conic, ``L = ln(255 · opacity)``
    plus 1e-3 against rounding) is an ellipse; its x-extent within the band of the row's pixel
    centres is an interval whose ends lie where the ellipse's vertical tangents are, or, when
    those fall outside the band, at the band's edge: a superset of the pixels with alpha ≥
    1/255, in float64.
    """
    f64 = torch.float64
    limit = torch.log(opacities.to(f64).clamp_min(1e-30) * 255.0) + 1e-3
    per_gaussian = torch.cat([means2d.to(f64), conics.to(f64), limit[:, None]], dim=-1)
    # gathered as rows of [6, R]: contiguous operands are several times faster than strided
    mx, my, a, b, c, limit = per_gaussian.T.contiguous().index_select(1, row_owner)
    det = a * c - b * b
    band_lo = row_y.to(f64) * size + 0.5  # pixel-centre rows of the tile row
    dy_lo, dy_hi = my - (band_lo + (size - 1)), my - band_lo
    half_width = torch.sqrt(2.0 * limit * c / det)  # the ellipse's x-extent is ±half_width
    dy_right = torch.minimum(torch.maximum(-b * half_width / c, dy_lo), dy_hi)
    dy_left = torch.minimum(torch.maximum(b * half_width / c, dy_lo), dy_hi)
    disc_right = 2.0 * a * limit - det * dy_right * dy_right
    disc_left = 2.0 * a * limit - det * dy_left * dy_left
    dx_right = (-b * dy_right + torch.sqrt(disc_right.clamp_min(0))) / a
    dx_left = (-b * dy_left - torch.sqrt(disc_left.clamp_min(0))) / a
    # pixels x = mean − dx; tile t holds pixel centres t·size + 0.5 … t·size + size − 0.5
    first = torch.ceil((mx - dx_right + 0.5) / size).long() - 1
    last = torch.floor((mx - dx_left - 0.5) / size).long()
    misses = (disc_right < 0) | (disc_left < 0)
    return first, torch.where(misses, first - 1, last)


def _stable_order(keys: Tensor, n_keys: int) -> Tensor:
    """``argsort(keys, stable=True)`` for small non-negative integer keys; through numpy's
    radix sort where the keys fit 16 bits (several times faster than torch's sort)."""
    if keys.device.type == "cpu" and n_keys < 1 << 15:
        order = np.argsort(keys.to(torch.int16).numpy(), kind="stable")
        return torch.from_numpy(order)
    return torch.sort(keys, stable=True).indices


def _groups(
    gaussian: Tensor,
    tile: Tensor,
    n: int,
    tile_size: int,
    tiles_x: int,
    tiles_y: int,
    budget: int,
) -> TileBins:
    """Pack ``(gaussian, tile)`` pairs (in depth order) into groups of similarly busy tiles."""
    device = gaussian.device
    n_tiles = tiles_x * tiles_y
    per_tile = torch.bincount(tile, minlength=n_tiles)
    busiest_first = torch.sort(per_tile, descending=True, stable=True).indices
    slot_of_tile = torch.empty_like(busiest_first)
    slot_of_tile[busiest_first] = torch.arange(n_tiles, device=device)
    # pairs ordered by slot, keeping depth order inside a tile
    order = _stable_order(slot_of_tile.index_select(0, tile), n_tiles).to(device)
    gaussian = gaussian.index_select(0, order)
    slot_count = per_tile.index_select(0, busiest_first)
    slot = torch.repeat_interleave(torch.arange(n_tiles, device=device), slot_count)
    slot_start = torch.cumsum(slot_count, 0) - slot_count
    rank = torch.arange(len(slot), device=device) - slot_start.index_select(0, slot)

    counts = slot_count.tolist()
    starts = slot_start.tolist()
    pixels = tile_size * tile_size
    groups = []
    s0 = 0
    while s0 < n_tiles and counts[s0] > 0:
        k = counts[s0]
        s1 = min(n_tiles, s0 + max(1, budget // (pixels * k)))
        while counts[s1 - 1] == 0:
            s1 -= 1
        p0, p1 = starts[s0], starts[s1 - 1] + counts[s1 - 1]
        table = torch.full(((s1 - s0) * k,), n, dtype=torch.long, device=device)
        table.index_copy_(0, (slot[p0:p1] - s0) * k + rank[p0:p1], gaussian[p0:p1])
        groups.append(TileGroup(busiest_first[s0:s1], table.view(s1 - s0, k)))
        s0 = s1
    return TileBins(tile_size, tiles_x, tiles_y, n, groups)
