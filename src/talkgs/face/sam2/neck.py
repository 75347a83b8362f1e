"""SAM 2's image encoder: the Hiera trunk followed by the FPN neck.

The neck projects every trunk level to ``d_model`` channels with a 1×1 convolution and, on the
``fpn_top_down_levels`` only, adds the 2× upsampled coarser level (SAM 2.1: levels 2 and 3, so
the stride-4 and stride-8 maps are purely lateral). ``scalp`` then drops the coarsest level(s).

The neck's sine position encoding is not computed: the image predictor never reads it (only the
video path's memory attention does), and it has no parameters.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from talkgs.face.sam2.config import NeckConfig, Sam2Config
from talkgs.face.sam2.hiera import Hiera


class FpnNeck(nn.Module):
    def __init__(self, config: NeckConfig) -> None:
        super().__init__()
        # convs[j] reads trunk level (n - j): the checkpoint lists the coarsest level first,
        # and each entry is a Sequential holding one module called "conv".
        self.convs = nn.ModuleList(
            nn.Sequential(OrderedDict(conv=nn.Conv2d(channels, config.d_model, kernel_size=1)))
            for channels in config.backbone_channel_list
        )
        levels = len(config.backbone_channel_list)
        top_down = config.fpn_top_down_levels
        self.top_down_levels = set(range(levels) if top_down is None else top_down)
        self.interp_mode = config.fpn_interp_model
        self.average = config.fuse_type == "avg"

    def forward(self, levels: list[torch.Tensor]) -> list[torch.Tensor]:
        """Trunk maps (finest first) → ``d_model``-channel maps at the same strides."""
        last = len(self.convs) - 1
        outputs: list[torch.Tensor] = [torch.empty(0)] * len(self.convs)
        coarser: torch.Tensor | None = None
        for level in range(last, -1, -1):  # coarse to fine
            lateral = self.convs[last - level](levels[level])
            if level in self.top_down_levels and coarser is not None:
                upsampled = F.interpolate(
                    coarser.to(torch.float32),
                    scale_factor=2.0,
                    mode=self.interp_mode,
                    align_corners=None if self.interp_mode == "nearest" else False,
                    antialias=False,
                )
                coarser = lateral + upsampled
                if self.average:
                    coarser = coarser / 2
            else:
                coarser = lateral
            outputs[level] = coarser
        return outputs


class ImageEncoder(nn.Module):
    """``[B, 3, S, S]`` normalised image → FPN maps, finest first, ``scalp`` coarsest dropped."""

    def __init__(self, config: Sam2Config) -> None:
        super().__init__()
        self.trunk = Hiera(config.trunk)
        self.neck = FpnNeck(config.neck)
        self.scalp = config.scalp

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        features = self.neck(self.trunk(image))
        return features[: len(features) - self.scalp]
