"""M2DAO-Talker: encoded audio and encoded expression features, each weighted by a region
attention (eq. 8); the mouth branch predicts a full ``δ_m`` (eq. 9); full-portrait supervision
(MCC, eq. 11) and an alternating joint stage: the face with the mouth frozen, then both
(eq. 12–13)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from talkgs.train.families.base import FaceMotion, Family
from talkgs.train.families.talkinggaussian import AU_EXPRESSION, expression_aus, scaled_offsets
from talkgs.train.networks import AudioEncoder, TriPlane, mlp
from talkgs.train.schedule import EVERYTHING, FACE, FACE_MOTION, Phase

if TYPE_CHECKING:
    from talkgs.layout import IdentityLayout
    from talkgs.train.data import Conditions
    from talkgs.train.presets import Method

EXPRESSION_DIM = 16  # Enc(e)


class M2daoMotion(FaceMotion):
    def __init__(self, method: Method, audio_shape: tuple[int, int], bounds: Tensor) -> None:
        super().__init__()
        p = method.preset
        self.offset_scale = p.offset_scale
        self.triplane = TriPlane(bounds, p.triplane_resolutions, p.triplane_channels)
        h = self.triplane.out_dim
        self.audio = AudioEncoder(*audio_shape, p.audio_dim, p.audio_window)
        self.expression = mlp(len(AU_EXPRESSION), EXPRESSION_DIM, p.hidden, 2)  # Enc(e)
        self.attention_audio = mlp(h, p.audio_dim, p.hidden, 2)  # V_a
        self.attention_expression = mlp(h, EXPRESSION_DIM, p.hidden, 2)  # V_e
        self.deform = mlp(h + p.audio_dim + EXPRESSION_DIM, 10, p.hidden, 3)

    def forward(
        self, gaussians: nn.ParameterDict, c: Conditions
    ) -> tuple[Tensor, dict[str, Tensor]]:
        position = self.triplane(gaussians["means"])
        audio_attention = self.attention_audio(position)
        expression_attention = self.attention_expression(position)
        motion = self.audio(c.audio) * audio_attention  # A = Enc(a) ⊙ V_a
        expression = self.expression(c.features["au_expression"]) * expression_attention
        delta = self.deform(torch.cat([position, motion, expression], 1))
        attention = torch.stack([audio_attention.norm(dim=1), expression_attention.norm(dim=1)], 1)
        return scaled_offsets(delta, self.offset_scale), {"attention": attention}


class M2dao(Family):
    name = "m2dao"
    summary = (
        "encoded audio + expression through region attention, full-portrait supervision, "
        "alternating joint stage (M2DAO-Talker)"
    )
    # full-portrait supervision (MCC), alternating face/mouth optimisation of the whole model
    defaults: ClassVar[dict[str, Any]] = {
        "audio_features": "mel",
        "region_supervision": False,
        "mouth_deforms_shape": True,
        "alternating": True,
        "alternating_share": 0.5,
        "fuse_trains": "all",
    }
    paper: ClassVar[dict[str, int]] = {"fuse_iters": 20000}  # its paper's alternating joint stage

    def frame_features(
        self, layout: IdentityLayout, count: int, au_intensity: np.ndarray
    ) -> dict[str, np.ndarray]:
        return expression_aus(au_intensity)

    def face_motion(
        self, method: Method, audio_shape: tuple[int, int], bounds: Tensor
    ) -> FaceMotion:
        return M2daoMotion(method, audio_shape, bounds)

    def fuse_phases(self, method: Method) -> list[Phase]:
        if not method.option("alternating"):
            return super().fuse_phases(method)
        p = method.preset
        first = round(p.fuse_iters * method.option("alternating_share"))
        return [  # eq. 12–13: the face with the mouth frozen, then both
            Phase("fuse-face", first, True, True, "fuse", (FACE, FACE_MOTION), None),
            Phase("fuse-joint", p.fuse_iters - first, True, True, "fuse", EVERYTHING, None),
        ]
