"""TalkingGaussian (Li et al. 2024): audio feature ``A`` and the expression AUs ``E`` (AU01/04/
05/06/07/45), each weighted per Gaussian by a region attention ``MLP(H(μ))``, drive the face's
deformation; its fuse tunes colours and face opacity with motion and geometry frozen
(train_fuse.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from talkgs.features.expression import scaled_intensities
from talkgs.train.families.base import FaceMotion, Family
from talkgs.train.networks import AudioEncoder, TriPlane, mlp

if TYPE_CHECKING:
    from talkgs.layout import IdentityLayout
    from talkgs.train.data import Conditions
    from talkgs.train.presets import Method

# TalkingGaussian's expression features, also M2DAO-Talker's six upper-face AUs.
AU_EXPRESSION = ("01", "04", "05", "06", "07", "45")


def expression_aus(au_intensity: np.ndarray) -> dict[str, np.ndarray]:
    return {"au_expression": scaled_intensities(au_intensity, AU_EXPRESSION)}


class TalkingGaussianMotion(FaceMotion):
    def __init__(self, method: Method, audio_shape: tuple[int, int], bounds: Tensor) -> None:
        super().__init__()
        p = method.preset
        self.offset_scale = p.offset_scale
        self.triplane = TriPlane(bounds, p.triplane_resolutions, p.triplane_channels)
        h = self.triplane.out_dim
        self.audio = AudioEncoder(*audio_shape, p.audio_dim, p.audio_window)
        self.attention_audio = mlp(h, p.audio_dim, p.hidden, 2)
        self.attention_expression = mlp(h, len(AU_EXPRESSION), p.hidden, 2)
        self.deform = mlp(h + p.audio_dim + len(AU_EXPRESSION), 10, p.hidden, 3)

    def forward(
        self, gaussians: nn.ParameterDict, c: Conditions
    ) -> tuple[Tensor, dict[str, Tensor]]:
        position = self.triplane(gaussians["means"])
        audio_attention = self.attention_audio(position)
        expression_attention = torch.relu(self.attention_expression(position))
        motion = self.audio(c.audio) * audio_attention
        expression = c.features["au_expression"] * expression_attention
        delta = self.deform(torch.cat([position, motion, expression], 1))
        attention = torch.stack([audio_attention.norm(dim=1), expression_attention.norm(dim=1)], 1)
        return scaled_offsets(delta, self.offset_scale), {"attention": attention}


def scaled_offsets(delta: Tensor, offset_scale: float) -> Tensor:
    """TalkingGaussian's ``MotionNetwork``: ``Δμ`` is the MLP's output × ``offset_scale``
    (upstream 1e-2); the other offsets are added unscaled."""
    return torch.cat([delta[:, :3] * offset_scale, delta[:, 3:]], 1)


class TalkingGaussian(Family):
    name = "talkinggaussian"
    summary = (
        "audio + upper-face AUs through region attention; fuse tunes appearance only "
        "(Li et al. 2024)"
    )
    # face-region supervision with an alpha term (train_face / train_mouth); its fuse tunes
    # colours and face opacity with motion and geometry frozen (train_fuse.py)
    defaults: ClassVar[dict[str, Any]] = {
        "audio_features": "mel",
        "region_supervision": True,
        "mouth_deforms_shape": False,
        "fuse_trains": "appearance",
    }
    paper: ClassVar[dict[str, int]] = {"fuse_iters": 10000}  # train_fuse.py

    def frame_features(
        self, layout: IdentityLayout, count: int, au_intensity: np.ndarray
    ) -> dict[str, np.ndarray]:
        return expression_aus(au_intensity)

    def face_motion(
        self, method: Method, audio_shape: tuple[int, int], bounds: Tensor
    ) -> FaceMotion:
        return TalkingGaussianMotion(method, audio_shape, bounds)
