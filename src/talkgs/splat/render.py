"""``rasterize``: one Gaussian renderer, two backends with the same conventions.

- ``"gsplat"``: ``gsplat.rasterization`` (CUDA kernels; gsplat 1.5.3, classic mode,
  ``eps2d=0.3``, not packed).
- ``"torch"``: :mod:`talkgs.splat.projection` + :mod:`talkgs.splat.tiles` +
  :mod:`talkgs.splat.composite`, plain PyTorch on any device; the reference for the other and
  the renderer of CPU machines.

Both fill ``RenderResult.info`` the way ``gsplat.strategy.DefaultStrategy`` reads it (``means2d``
``[1, N, 2]`` with its gradient retained, ``radii`` ``[1, N, 2]`` int32, ``width``, ``height``,
``n_cameras``, ``gaussian_ids`` None), so densification works with either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from talkgs.errors import TalkgsError
from talkgs.splat.composite import composite
from talkgs.splat.projection import EPS2D, project
from talkgs.splat.tiles import bin_tiles

BACKENDS = ("auto", "torch", "gsplat")
GSPLAT_TILE_SIZE = 16  # gsplat's default; its results do not depend on it


@dataclass
class RenderResult:
    image: Tensor  # [H, W, D] composited features, background not added
    alpha: Tensor  # [H, W, 1] accumulated opacity
    depth: Tensor  # [H, W, 1] alpha-normalised expected camera z (0 where alpha is 0)
    info: dict[str, Any] = field(default_factory=dict)  # for gsplat's densification strategies


def _check_inputs(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    colors: Tensor,
    viewmat: Tensor,
    K: Tensor,
) -> None:
    n = means.shape[0]
    expected = {
        "means": (means, (n, 3)),
        "quats": (quats, (n, 4)),
        "scales": (scales, (n, 3)),
        "opacities": (opacities, (n,)),
        "viewmat": (viewmat, (4, 4)),
        "K": (K, (3, 3)),
    }
    for name, (tensor, shape) in expected.items():
        if tuple(tensor.shape) != shape:
            raise ValueError(f"rasterize: {name} has shape {tuple(tensor.shape)}, want {shape}")
    if colors.dim() != 2 or colors.shape[0] != n or colors.shape[1] < 1:
        raise ValueError(f"rasterize: colors has shape {tuple(colors.shape)}, want ({n}, D≥1)")


def rasterize(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    colors: Tensor,
    viewmat: Tensor,
    K: Tensor,
    width: int,
    height: int,
    backend: str = "auto",
    near: float = 0.01,
    far: float = 1e10,
    tile_size: int = 8,
) -> RenderResult:
    """Render N Gaussians into one ``width × height`` pinhole camera.

    means [N,3] world; quats [N,4] wxyz (any norm); scales [N,3] linear; opacities [N] in
    (0,1); colors [N,D]; viewmat [4,4] world-to-camera (OpenCV axes); K [3,3] pixels.
    ``backend``: ``"torch"``, ``"gsplat"`` or ``"auto"`` (gsplat for CUDA tensors, torch for
    CPU tensors; never one in place of the other). ``tile_size`` is the torch backend's tile
    edge in pixels.
    """
    if backend not in BACKENDS:
        raise TalkgsError(f"renderer backend {backend!r} is not one of {', '.join(BACKENDS)}")
    _check_inputs(means, quats, scales, opacities, colors, viewmat, K)
    if backend == "auto":
        backend = "gsplat" if means.is_cuda else "torch"
    if backend == "gsplat":
        if not means.is_cuda:
            raise TalkgsError(
                f"renderer backend 'gsplat' needs CUDA tensors, but got {means.device} tensors "
                f"(CUDA available: {torch.cuda.is_available()}); use backend 'torch'"
            )
        from talkgs.splat import gsplat_build

        gsplat_build.load()  # this environment's build, or a one-line error with the fix
        return _rasterize_gsplat(
            means, quats, scales, opacities, colors, viewmat, K, width, height, near, far
        )
    return _rasterize_torch(
        means, quats, scales, opacities, colors, viewmat, K, width, height, near, far, tile_size
    )


def _rasterize_torch(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    colors: Tensor,
    viewmat: Tensor,
    K: Tensor,
    width: int,
    height: int,
    near: float,
    far: float,
    tile_size: int,
) -> RenderResult:
    proj = project(means, quats, scales, viewmat, K, width, height, opacities, near, far)
    # The compositor reads the 2D means through this [1, N, 2] tensor, so its gradient is
    # dL/dmeans2d, which DefaultStrategy accumulates to decide where to densify.
    means2d = proj.means2d[None]
    if means2d.requires_grad:
        means2d.retain_grad()
    bins = bin_tiles(
        proj.means2d.detach(),
        proj.radii,
        proj.depths.detach(),
        width,
        height,
        tile_size,
        proj.conics.detach(),
        opacities.detach(),
    )
    features = torch.cat([colors, proj.depths[:, None]], dim=-1)
    image, alpha = composite(means2d[0], proj.conics, opacities, features, bins)
    image, alpha = image[:height, :width], alpha[:height, :width]
    info = {
        "batch_ids": None,
        "camera_ids": None,
        "gaussian_ids": None,
        "radii": proj.radii[None],
        "means2d": means2d,
        "depths": proj.depths[None],
        "conics": proj.conics[None],
        "opacities": opacities[None],
        "width": width,
        "height": height,
        "tile_size": tile_size,
        "n_batches": 1,
        "n_cameras": 1,
    }
    return RenderResult(
        image=image[..., :-1],
        alpha=alpha,
        depth=image[..., -1:] / alpha.clamp_min(1e-10),
        info=info,
    )


def _rasterize_gsplat(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    colors: Tensor,
    viewmat: Tensor,
    K: Tensor,
    width: int,
    height: int,
    near: float,
    far: float,
) -> RenderResult:
    from gsplat import rasterization

    rendered, alpha, info = rasterization(
        means,
        quats,
        scales,
        opacities,
        colors,
        viewmat[None],
        K[None],
        width,
        height,
        near_plane=near,
        far_plane=far,
        eps2d=EPS2D,
        packed=False,
        tile_size=GSPLAT_TILE_SIZE,
        render_mode="RGB+ED",
        rasterize_mode="classic",
    )
    if info["means2d"].requires_grad:
        info["means2d"].retain_grad()
    return RenderResult(
        image=rendered[0, ..., :-1], alpha=alpha[0], depth=rendered[0, ..., -1:], info=info
    )
