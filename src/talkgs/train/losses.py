"""The loss terms of the three stages (weights and schedules come from the preset).

All terms take ``[H, W, C]`` images and ``[H, W, 1]`` masks in [0, 1] on the training device
and return 0-d tensors: nothing here reads a value back to the host.
"""

from __future__ import annotations

from torch import Tensor

from talkgs.metrics.ssim import hwc_to_batch, ssim_map


def photometric(
    image: Tensor, target: Tensor, weight: Tensor | None, lambda_dssim: float
) -> Tensor:
    """L1 + λ·D-SSIM over ``[H, W, 3]`` images, optionally weighted per pixel ``[H, W, 1]``."""
    l1 = (image - target).abs()
    ssim = ssim_map(hwc_to_batch(image), hwc_to_batch(target))[0].permute(1, 2, 0)
    if weight is None:
        return l1.mean() + lambda_dssim * (1 - ssim.mean())
    total = weight.sum().clamp_min(1.0) * 3
    return (l1 * weight).sum() / total + lambda_dssim * ((1 - ssim) * weight).sum() / total


def alpha_mismatch(alpha: Tensor, target: Tensor) -> Tensor:
    """``mean |α − m|``: upstream's ``((1 − α) m).mean() + (α (1 − m)).mean()`` for a binary
    mask ``m``, and its area-weighted form at mask edges."""
    return (alpha - target).abs().mean()


def offsets(delta: Tensor) -> Tensor:
    """train_face.py's offset regulariser (without its weight): mean |Δμ| + mean |Δs| +
    mean |Δq| of a ``[N, 10]`` deformation (``Δμ`` already scaled)."""
    return delta[:, :3].abs().mean() + delta[:, 3:6].abs().mean() + delta[:, 6:10].abs().mean()


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` ``[H, W]`` where ``mask`` ``[H, W]`` is set (area-weighted)."""
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def attention(
    attention_image: Tensor, lips_box: Tensor, hair: Tensor, hair_in_loss: bool
) -> Tensor:
    """train_face.py's attention regulariser (without its weight) on the rendered attention
    norms ``[H, W, 2]`` (audio side, expression side): the expression attention inside the lips
    box, and — on iterations where hair is supervised — both attentions on hair, so that
    neither the mouth follows the expression nor the hair follows anything."""
    audio_side, expression_side = attention_image[..., 0], attention_image[..., 1]
    total = masked_mean(expression_side, lips_box[..., 0])
    if hair_in_loss:
        total = total + masked_mean(expression_side, hair[..., 0])
        total = total + masked_mean(audio_side, hair[..., 0])
    return total
