"""Gaussian splatting renderer: :func:`rasterize` with a gsplat (CUDA) and a PyTorch backend.

Conventions (gsplat's) are stated in :mod:`talkgs.splat.projection`."""

from talkgs.splat.agreement import gsplat_available
from talkgs.splat.render import RenderResult, rasterize

__all__ = ["RenderResult", "gsplat_available", "rasterize"]
