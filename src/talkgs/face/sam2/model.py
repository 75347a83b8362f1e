"""The image-only part of ``SAM2Base``, with the official checkpoints' parameter names.

:class:`Sam2ImageModel` holds ``image_encoder``, ``sam_prompt_encoder``, ``sam_mask_decoder``
and ``no_mem_embed`` exactly as ``SAM2Base`` names them, so ``state_dict()`` keys equal the
checkpoint keys. The checkpoint's remaining keys belong to the video path (memory attention,
memory encoder, object pointers, temporal encodings); :func:`load_checkpoint` accepts those by
their known names and refuses anything else, which catches a config that does not belong to
the file (a wrong trunk size gives missing, unexpected or mis-shaped ``image_encoder`` keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from talkgs.errors import TalkgsError
from talkgs.face.sam2.config import Sam2Config
from talkgs.face.sam2.mask_decoder import MaskDecoder
from talkgs.face.sam2.neck import ImageEncoder
from talkgs.face.sam2.prompt_encoder import PromptEncoder

# Checkpoint entries only the video predictor reads (sam2_base.py, SAM2Base.__init__ and
# _build_sam_heads): submodules by prefix, single parameters by exact name.
VIDEO_ONLY_MODULES = (
    "memory_attention.",
    "memory_encoder.",
    "mask_downsample.",
    "obj_ptr_proj.",
    "obj_ptr_tpos_proj.",
)
VIDEO_ONLY_PARAMETERS = frozenset(
    {"maskmem_tpos_enc", "no_mem_pos_enc", "no_obj_ptr", "no_obj_embed_spatial"}
)


def is_video_only(key: str) -> bool:
    return key in VIDEO_ONLY_PARAMETERS or key.startswith(VIDEO_ONLY_MODULES)


@dataclass(frozen=True)
class ImageFeatures:
    """What :meth:`Sam2ImageModel.encode` keeps of one image for any number of prompts."""

    image_embed: torch.Tensor  # [B, C, S/16, S/16], no_mem_embed added
    high_res: list[torch.Tensor] | None  # [B, C/8, S/4, S/4] and [B, C/4, S/8, S/8], or None


class Sam2ImageModel(nn.Module):
    def __init__(self, config: Sam2Config) -> None:
        super().__init__()
        self.config = config
        dim = config.neck.d_model
        side = config.embedding_size
        self.image_encoder = ImageEncoder(config)
        self.sam_prompt_encoder = PromptEncoder(
            embed_dim=dim,
            image_embedding_size=(side, side),
            input_image_size=(config.image_size, config.image_size),
            mask_in_chans=16,
        )
        self.sam_mask_decoder = MaskDecoder(
            transformer_dim=dim,
            use_high_res_features=config.use_high_res_features_in_sam,
            iou_prediction_use_sigmoid=config.iou_prediction_use_sigmoid,
            pred_obj_scores=config.pred_obj_scores,
            pred_obj_scores_mlp=config.pred_obj_scores_mlp,
            dynamic_multimask_via_stability=config.dynamic_multimask_via_stability,
            dynamic_multimask_stability_delta=config.dynamic_multimask_stability_delta,
            dynamic_multimask_stability_thresh=config.dynamic_multimask_stability_thresh,
        )
        # SAM 2 was trained on videos: a frame without memories gets this token added to its
        # lowest-resolution features (directly_add_no_mem_embed), and images are such frames.
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, dim))

    def encode(self, image: torch.Tensor) -> ImageFeatures:
        """``[B, 3, S, S]`` normalised image → decoder inputs (SAM2Base.forward_image and
        SAM2ImagePredictor.set_image)."""
        levels = self.image_encoder(image)  # finest first, strides 4, 8, 16 for SAM 2.1
        embed = levels[-1]
        if self.config.directly_add_no_mem_embed:
            embed = embed + self.no_mem_embed.view(1, -1, 1, 1)
        high_res = None
        if self.config.use_high_res_features_in_sam:
            decoder = self.sam_mask_decoder
            high_res = [decoder.conv_s0(levels[-3]), decoder.conv_s1(levels[-2])]
        return ImageFeatures(embed, high_res)

    def decode(
        self,
        features: ImageFeatures,
        points: torch.Tensor,
        labels: torch.Tensor,
        multimask_output: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``[1, N, 2]`` points in model-input pixels, ``[1, N]`` int labels → low-res logits
        ``[1, K, S/4, S/4]`` and IoU scores ``[1, K]`` (K = 3 or 1)."""
        sparse, dense = self.sam_prompt_encoder((points, labels), pad=True)
        masks, iou = self.sam_mask_decoder.predict_masks(
            features.image_embed,
            self.sam_prompt_encoder.dense_pe(),
            sparse,
            dense,
            features.high_res,
        )
        return self.sam_mask_decoder.select(masks, iou, multimask_output)


def load_checkpoint(
    model: Sam2ImageModel, checkpoint: Any, source: str | Path, config_source: str | Path
) -> None:
    """Copy an official checkpoint (``{"model": state_dict}``) into ``model``, strictly.

    Every key of ``model.state_dict()`` must be present with its shape; every other key must be
    a known video-only one. Otherwise a one-line :class:`TalkgsError` names the file.
    """
    state = checkpoint.get("model") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise TalkgsError(f"{source}: not a SAM 2 checkpoint (no 'model' state dict)")
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected and not is_video_only(key)]
    misshapen = [
        f"{key} {_shape(value)} (expected {list(expected[key].shape)})"
        for key, value in state.items()
        if key in expected
        and (not isinstance(value, torch.Tensor) or value.shape != expected[key].shape)
    ]
    problems = []
    for label, keys in (
        ("missing", missing),
        ("unexpected", unexpected),
        ("wrong shape", misshapen),
    ):
        if keys:
            shown = ", ".join(keys[:3]) + (", …" if len(keys) > 3 else "")
            problems.append(f"{len(keys)} {label} ({shown})")
    if problems:
        raise TalkgsError(
            f"{source}: does not match the SAM 2 image model of {config_source}: "
            + "; ".join(problems)
        )
    model.load_state_dict({key: state[key] for key in expected}, strict=True)


def _shape(value: Any) -> str:
    return str(list(value.shape)) if isinstance(value, torch.Tensor) else type(value).__name__
