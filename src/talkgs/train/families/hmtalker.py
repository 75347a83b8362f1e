"""HM-Talker: upper-face AUs ``c_vu`` (7), lower-face AUs through an MLP with skip (eq. 5), the
audio-to-AU mapper A2AM (eq. 6, ``L_align``), gated fusion of explicit and implicit features
(eq. 7) over three stochastic paths (audio, masked audio, vanilla); at inference the audio path
only. "Both branches are jointly fine-tuned" in its joint stage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from talkgs.features.expression import scaled_intensities
from talkgs.features.openface import LOWER_AUS, UPPER_AUS
from talkgs.train.families.base import FaceMotion, Family
from talkgs.train.families.talkinggaussian import scaled_offsets
from talkgs.train.networks import AudioEncoder, TriPlane, mlp

if TYPE_CHECKING:
    from talkgs.layout import IdentityLayout
    from talkgs.train.data import Conditions
    from talkgs.train.presets import Method

PATHS = ("audio", "masked", "vanilla")


class HmTalkerMotion(FaceMotion):
    def __init__(self, method: Method, audio_shape: tuple[int, int], bounds: Tensor) -> None:
        super().__init__()
        p = method.preset
        self.offset_scale = p.offset_scale
        self.triplane = TriPlane(bounds, p.triplane_resolutions, p.triplane_channels)
        h = self.triplane.out_dim
        self.audio = AudioEncoder(*audio_shape, p.audio_dim, p.audio_window)
        self.au_lower = mlp(len(LOWER_AUS), p.audio_dim - len(LOWER_AUS), p.hidden, 2)  # eq. 5
        self.a2am = nn.Sequential(
            nn.Linear(p.audio_dim, p.hidden), nn.ReLU(), nn.Linear(p.hidden, p.audio_dim)
        )  # eq. 6
        self.gate = nn.Sequential(mlp(2 * p.audio_dim, p.audio_dim, p.hidden, 2), nn.Sigmoid())
        self.attention_motion = mlp(h, p.audio_dim, p.hidden, 2)  # MLP_f, eq. 8
        self.attention_upper = mlp(h, len(UPPER_AUS), p.hidden, 2)  # MLP_u
        self.deform = mlp(h + p.audio_dim + len(UPPER_AUS), 10, p.hidden, 3)

    def forward(
        self, gaussians: nn.ParameterDict, c: Conditions
    ) -> tuple[Tensor, dict[str, Tensor]]:
        position = self.triplane(gaussians["means"])
        audio = self.audio(c.audio)  # [1, audio_dim]: implicit motion feature c_a^i
        au_lower = c.features["au_lower"]
        explicit_visual = torch.cat([self.au_lower(au_lower), au_lower], 1)  # c_v,l^e
        explicit_audio = self.a2am(audio)  # c_a,l^e
        align = F.l1_loss(explicit_audio, explicit_visual.detach())
        implicit = audio
        if c.path == "audio":
            explicit = explicit_audio
        else:
            explicit = explicit_visual
            if c.path == "masked":  # M_a: zero a random share of the audio feature
                if c.audio_keep is None:
                    raise ValueError("the masked path needs Conditions.audio_keep")
                implicit = audio * c.audio_keep
        alpha = self.gate(torch.cat([implicit, explicit], 1))
        fused = alpha * explicit + (1 - alpha) * implicit  # eq. 7
        audio_attention = self.attention_motion(position)
        expression_attention = self.attention_upper(position)
        motion = fused * audio_attention  # C_f, eq. 8
        upper = c.features["au_upper"] * expression_attention  # C_u
        delta = self.deform(torch.cat([position, motion, upper], 1))
        attention = torch.stack([audio_attention.norm(dim=1), expression_attention.norm(dim=1)], 1)
        return scaled_offsets(delta, self.offset_scale), {"attention": attention, "align": align}


class HmTalker(Family):
    name = "hmtalker"
    summary = (
        "lower-face AUs + audio-to-AU mapper, gated fusion over stochastic paths; audio path at "
        "inference (HM-Talker)"
    )
    defaults: ClassVar[dict[str, Any]] = {
        "audio_features": "mel",
        "region_supervision": True,
        "mouth_deforms_shape": False,
        "path_ratios": [4, 4, 2],  # audio, masked, vanilla
        "mask_ratio": [0.1, 0.3],
        "fuse_trains": "all",
    }
    # "both branches are jointly fine-tuned" for 15k iterations
    paper: ClassVar[dict[str, int]] = {"fuse_iters": 15000}

    def frame_features(
        self, layout: IdentityLayout, count: int, au_intensity: np.ndarray
    ) -> dict[str, np.ndarray]:
        return {
            "au_upper": scaled_intensities(au_intensity, UPPER_AUS),
            "au_lower": scaled_intensities(au_intensity, LOWER_AUS),
        }

    def face_motion(
        self, method: Method, audio_shape: tuple[int, int], bounds: Tensor
    ) -> FaceMotion:
        return HmTalkerMotion(method, audio_shape, bounds)

    def fusion_paths(
        self, method: Method, total: int, generator: torch.Generator
    ) -> tuple[list[str], list[float]]:
        host = torch.device("cpu")
        weights = torch.tensor(method.option("path_ratios"), dtype=torch.float, device=host)
        weights = weights / weights.sum()
        low, high = method.option("mask_ratio")
        choices = torch.multinomial(weights, total, replacement=True, generator=generator)
        ratios = low + (high - low) * torch.rand(total, generator=generator, device=host)
        return [PATHS[i] for i in choices.tolist()], ratios.tolist()
