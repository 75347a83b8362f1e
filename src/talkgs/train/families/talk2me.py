"""Talk2Me (paper 003, §4.2): a Gaussian avatar deformed by an expression vector and the head
pose, with a learnable positional encoding and a region-weighted mechanism.

- **Expression** ``e``: the 17 AU intensities and the eye aspect ratio
  (:mod:`talkgs.features.expression`); the **ocular feature** ``β``: AU45 and the EAR.
- **Pose** ``p``: yaw, pitch, roll (÷ 30°) and translation (÷ face width) of the frame relative
  to the identity's neutral frame (``neutral.json``).
- **Region weights** (eq. 2): ``w_exp = clamp((d_far − d) / (d_far − d_near), 0, 1)`` with ``d``
  a Gaussian's distance to the nearest of the identity's 68 face landmarks in head space (the
  pose stage's canonical face), in face widths; ``w_pose = 1 − w_exp``.
- **Learnable positional encoding** (eq. 5–7): ``z_i = PC(x_i) + σ(α) L(i) + (1 − σ(α)) S(i)``,
  ``PC`` linear in the normalised coordinates, ``S(i) = [sin(i γf + φ), cos(i γf + φ)]`` with
  learnable ``γ`` (global scale) and ``φ`` (phase per band), ``L`` a learnable per-Gaussian
  table. The index ``i`` and the table row are per-Gaussian parameters kept with the Gaussians
  (the index, ``i / N`` at initialisation, never changes; clones inherit their parent's), so
  densification cannot re-number them.
- **Deformation** (eq. 3): ``φ_D(z, w_exp E(e), w_pose P(p), w_exp B(β))`` → offsets of
  position, scale, rotation, colour and opacity.

What differs from the paper, and why: Talk2Me initialises from a DMTet neutral mesh head
(30k steps); talkgs has no mesh stage and initialises like the other families (Gaussians
back-projected from head pixels). Its inside-mouth branch is talkgs' audio-driven one, shared
with the other families. The adversarial term of eq. 10 is not implemented; the perceptual term
is LPIPS in the joint stage when its weights are present, as for every family.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from talkgs.errors import input_error
from talkgs.face.landmarks import IBUG68
from talkgs.features import neutral
from talkgs.features.expression import EXPRESSION_NAMES, expression_table
from talkgs.pose.camera import euler_from_rotation
from talkgs.train.families.base import FaceMotion, Family, GaussianFeature
from talkgs.train.families.talkinggaussian import scaled_offsets
from talkgs.train.networks import mlp

if TYPE_CHECKING:
    from talkgs.layout import IdentityLayout
    from talkgs.train.data import Conditions
    from talkgs.train.presets import Method

OCULAR_COLUMNS = (EXPRESSION_NAMES.index("AU45"), EXPRESSION_NAMES.index("EAR"))
POSE_DIM = 6
FEATURE_DIM = 16  # E(e), P(p), B(β)


class LearnablePositionalEncoding(nn.Module):
    """``z_i = PC(x_i) + σ(α) L(i) + (1 − σ(α)) S(i)`` (eq. 5–7)."""

    def __init__(self, bounds: Tensor, dim: int) -> None:
        super().__init__()
        self.register_buffer("bounds", bounds.clone().float())
        self.coordinates = nn.Linear(3, dim)  # PC
        bands = dim // 2
        # f: octaves from one cycle over the initial index range up to bands/2 cycles
        self.register_buffer(
            "frequencies", 2 * math.pi * 2 ** torch.linspace(0, math.log2(max(bands, 2)), bands)
        )
        self.scale = nn.Parameter(torch.ones(()))  # γ
        self.phase = nn.Parameter(torch.zeros(bands))  # φ
        self.blend = nn.Parameter(torch.zeros(()))  # α: σ(0) = ½ of each at the start

    def forward(self, means: Tensor, index: Tensor, table: Tensor) -> Tensor:
        low, high = self.bounds[0], self.bounds[1]
        unit = (means - low) / (high - low) * 2 - 1
        angle = index * (self.scale * self.frequencies) + self.phase  # [N, bands]
        sinusoid = torch.cat([torch.sin(angle), torch.cos(angle)], 1)
        weight = torch.sigmoid(self.blend)
        return self.coordinates(unit) + weight * table + (1 - weight) * sinusoid


class Talk2MeMotion(FaceMotion):
    def __init__(self, method: Method, audio_shape: tuple[int, int], bounds: Tensor) -> None:
        super().__init__()
        p = method.preset
        dim = method.option("lpe_dim")
        self.offset_scale = p.offset_scale
        self.near, self.far = method.option("region_near"), method.option("region_far")
        self.encoding = LearnablePositionalEncoding(bounds, dim)
        # the identity's 68 landmarks in head space and its face width, set by `prepare`
        # (a model file carries them)
        self.register_buffer("landmarks", torch.zeros(len(IBUG68), 3))
        self.register_buffer("face_width", torch.ones(()))
        self.expression = mlp(len(EXPRESSION_NAMES), FEATURE_DIM, p.hidden, 2)  # E(e)
        self.pose = mlp(POSE_DIM, FEATURE_DIM, p.hidden, 2)  # P(p)
        self.ocular = mlp(len(OCULAR_COLUMNS), FEATURE_DIM, p.hidden, 2)  # B(β)
        self.deform = mlp(dim + 3 * FEATURE_DIM, 14, p.hidden, 3)  # φ_D

    def expression_weight(self, means: Tensor) -> Tensor:
        """``w_exp`` ``[N, 1]`` of eq. 2, from the Gaussians' current (undeformed) centres."""
        distance = torch.cdist(means.detach(), self.landmarks).min(1).values / self.face_width
        return ((self.far - distance) / (self.far - self.near)).clamp(0, 1)[:, None]

    def forward(
        self, gaussians: nn.ParameterDict, c: Conditions
    ) -> tuple[Tensor, dict[str, Tensor]]:
        means = gaussians["means"]
        z = self.encoding(means, gaussians["lpe_index"], gaussians["lpe_table"])
        w = self.expression_weight(means)
        expression = c.features["expression"]
        ocular = expression[:, list(OCULAR_COLUMNS)]
        condition = torch.cat(
            [
                w * self.expression(expression),
                (1 - w) * self.pose(c.features["pose"]),
                w * self.ocular(ocular),
            ],
            1,
        )
        delta = self.deform(torch.cat([z, condition], 1))
        # no region attention to regularise: the region weights are fixed by the landmarks
        attention = torch.cat([w, 1 - w], 1).detach()
        return scaled_offsets(delta, self.offset_scale), {"attention": attention}


def relative_pose(
    layout: IdentityLayout,
    count: int,
    rotations: np.ndarray | None = None,
    translations: np.ndarray | None = None,
) -> np.ndarray:
    """``[count, 6]``: Euler angles (÷ 30°) and translation (÷ face width) of each frame
    relative to the identity's neutral frame; of the given camera-from-head ``rotations`` and
    ``translations`` (e.g. generated ones) instead of the recorded ones when given."""
    pose = np.load(layout.pose)
    euler, translation = pose["euler_deg"], pose["translations"]
    if len(euler) != count:
        raise input_error(layout.pose, f"{len(euler)} poses for {count} frames")
    reference = int(neutral.load(layout.neutral)["frame"])
    width = float(np.ptp(pose["face_vertices"][:, 0]))
    if rotations is not None and translations is not None:
        euler, translation = euler_from_rotation(rotations), translations
    relative = np.concatenate(
        [
            (euler - pose["euler_deg"][reference]) / 30.0,
            (translation - pose["translations"][reference]) / width,
        ],
        1,
    )
    return relative.astype(np.float32)


class Talk2Me(Family):
    name = "talk2me"
    summary = (
        "expression (AUs + eye aspect ratio) and head pose, region-weighted, with a learnable "
        "positional encoding (Talk2Me)"
    )
    defaults: ClassVar[dict[str, Any]] = {
        "audio_features": "mel",  # the inside-mouth branch's
        "region_supervision": True,
        "mouth_deforms_shape": False,
        "fuse_trains": "all",
        "lpe_dim": 32,  # z
        "lr_lpe_table": 1e-3,  # L(i)
        "region_near": 0.05,  # d_near, face widths: full expression weight within
        "region_far": 0.25,  # d_far: pose weight only beyond
    }
    inputs: ClassVar[tuple[str, ...]] = ("eyes", "neutral")
    face_driver: ClassVar[str] = (
        "the frame's recorded expression (AUs + EAR) and pose: the face replays the recording "
        "and only the inside of the mouth follows the audio (render.motion: generated drives "
        "it by the Expression Generator)"
    )
    expression_feature: ClassVar[str | None] = "expression"
    # the paper optimises its Gaussian avatar 20k steps (after a 30k-step mesh head)
    paper: ClassVar[dict[str, int]] = {
        "face_static_iters": 3000,
        "face_motion_iters": 17000,
        "fuse_iters": 10000,
    }

    def frame_features(
        self, layout: IdentityLayout, count: int, au_intensity: np.ndarray
    ) -> dict[str, np.ndarray]:
        return {
            "expression": expression_table(layout.au, layout.eyes, count),
            "pose": relative_pose(layout, count),
        }

    def pose_features(
        self, layout: IdentityLayout, count: int, rotations: np.ndarray, translations: np.ndarray
    ) -> dict[str, np.ndarray]:
        return {"pose": relative_pose(layout, count, rotations, translations)}

    def face_motion(
        self, method: Method, audio_shape: tuple[int, int], bounds: Tensor
    ) -> FaceMotion:
        return Talk2MeMotion(method, audio_shape, bounds)

    def gaussian_features(
        self, method: Method, count: int, generator: torch.Generator
    ) -> dict[str, GaussianFeature]:
        dim = method.option("lpe_dim")
        table = torch.randn(count, dim, generator=generator) * 0.01
        index = torch.arange(count, dtype=torch.float32)[:, None] / max(count, 1)
        return {
            "lpe_table": GaussianFeature(table, method.option("lr_lpe_table")),
            "lpe_index": GaussianFeature(index, 0.0),
        }

    def prepare(self, motion: FaceMotion, layout: IdentityLayout) -> None:
        """The identity's landmarks in head space (the pose stage's canonical face)."""
        assert isinstance(motion, Talk2MeMotion)
        vertices = np.load(layout.pose)["face_vertices"]
        motion.landmarks.copy_(torch.from_numpy(vertices[IBUG68]).float())
        motion.face_width.fill_(float(np.ptp(vertices[:, 0])))
