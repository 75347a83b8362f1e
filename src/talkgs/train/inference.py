"""Rendering a model's branches for one frame: shared by the training loop, its snapshots and
validation, and the render stage."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from talkgs.metrics import image as image_metrics
from talkgs.splat import RenderResult, rasterize
from talkgs.train.data import Conditions, FrameSample
from talkgs.train.model import TalkingHead
from talkgs.train.presets import Method


def render(
    gaussians: dict[str, Tensor],
    sample: FrameSample,
    resolution: int,
    renderer: str,
    tile_size: int,
    colors: Tensor | None = None,
) -> RenderResult:
    """One branch's Gaussians through the frame's camera (``colors`` replaces theirs)."""
    return rasterize(
        gaussians["means"],
        gaussians["quats"],
        gaussians["scales"],
        gaussians["opacities"],
        gaussians["colors"] if colors is None else colors,
        sample.viewmat,
        sample.K,
        resolution,
        resolution,
        backend=renderer,
        tile_size=tile_size,
    )


def render_attention(
    gaussians: dict[str, Tensor],
    norms: Tensor,
    sample: FrameSample,
    resolution: int,
    renderer: str,
    tile_size: int,
) -> Tensor:
    """``[H, W, 2]``: the per-Gaussian attention ``norms`` ``[N, 2]`` splatted with the face's
    geometry held fixed (TalkingGaussian's ``return_attn`` pass), so that only the attention
    networks learn from the penalty on the image."""
    fixed = {key: value.detach() for key, value in gaussians.items()}
    return render(fixed, sample, resolution, renderer, tile_size, colors=norms).image


def composite(face: RenderResult, mouth: RenderResult, background: Tensor) -> Tensor:
    """M2DAO eq. 12: ``Î_f A_f + (Î_m A_m + I_bg (1 − A_m)) (1 − A_f)``; the renderer's images
    are already multiplied by their alpha."""
    return face.image + (1 - face.alpha) * (mouth.image + (1 - mouth.alpha) * background)


@torch.no_grad()
def render_view(
    model: TalkingHead,
    sample: FrameSample,
    stage: str,
    renderer: str,
    method: Method,
    cond: Conditions,
) -> Tensor:
    """A frame as the given stage sees it (face or mouth over the background, or the fuse)."""
    p = method.preset
    if stage == "mouth":
        mouth = render(model.mouth_gaussians(cond), sample, p.resolution, renderer, p.tile_size)
        return mouth.image + (1 - mouth.alpha) * sample.background
    face_g, _ = model.face_gaussians(cond)
    face = render(face_g, sample, p.resolution, renderer, p.tile_size)
    if stage == "face":
        return face.image + (1 - face.alpha) * sample.background
    mouth = render(model.mouth_gaussians(cond), sample, p.resolution, renderer, p.tile_size)
    return composite(face, mouth, sample.background)


def to_uint8(image: Tensor) -> np.ndarray:
    """``[H, W, C]`` in [0, 1], on any device → uint8 on the host."""
    return (image.detach().clamp(0, 1) * 255).round().byte().cpu().numpy()


def psnr(image: Tensor, target: Tensor | FrameSample) -> float:
    """PSNR of a render (clipped to [0, 1], as it is saved) against a target or a sample's frame."""
    if isinstance(target, FrameSample):
        target = target.image
    return image_metrics.psnr(image.detach().clamp(0, 1), target)
