"""The TalkingGaussian-family model: persistent Gaussian fields deformed by conditioned MLPs.

Two Gaussian fields live in head coordinates (the pose stage's camera-from-head frame): the
*face* field (skin, lips, eyes, brows, hair) and the *inside-mouth* field. A tri-plane encoder
``H(μ)`` (multi-resolution 2D feature planes read with ``grid_sample``) describes where a
Gaussian is; the conditions of a frame (a window of audio features, action units) are turned
into motion features that region attention vectors ``MLP(H(μ))`` weight per Gaussian
(Guo et al. 2022, as ER-NeRF, TalkingGaussian, HM-Talker eq. 8, M2DAO-Talker eq. 8); a
deformation MLP predicts ``δ = {Δμ, Δs, Δq}`` per Gaussian.

Deformations follow TalkingGaussian's ``MotionNetwork``: ``Δμ`` is the MLP's output × the preset's
``offset_scale`` (upstream 1e-2), the mouth's across and into the face further ×
``mouth_offset_xz`` (upstream 1/5); ``Δs`` and ``Δq`` are added unscaled to log-scales and
quaternions. Each forward also returns the per-Gaussian norms of the two region attentions
(audio-side and expression-side), which the attention regulariser renders.

What drives the face's deformation is the family's (:mod:`talkgs.train.families`, one module
each); the inside-mouth branch below is shared: the audio feature weighted by its region
attention (M2DAO-Talker's mouth predicts a full ``δ_m``, eq. 9: ``mouth_deforms_shape``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from talkgs.train.networks import AudioEncoder, TriPlane, mlp

if TYPE_CHECKING:
    from talkgs.train.data import Conditions
    from talkgs.train.presets import Method

GAUSSIAN_KEYS = ("means", "scales", "quats", "opacities", "colors")


class GaussianField(nn.Module):
    """Raw Gaussian parameters (log scales, logit opacities and colours), in head space, and
    any per-Gaussian parameters of the family (``extras``, e.g. Talk2Me's positional table),
    which densification clones, splits and prunes with the rest."""

    def __init__(
        self, means: Tensor, colors: Tensor, scale: Tensor, extras: dict[str, Tensor] | None = None
    ) -> None:
        super().__init__()
        count = len(means)
        quats = torch.zeros(count, 4, device=means.device)
        quats[:, 0] = 1
        self.params = nn.ParameterDict(
            {
                "means": nn.Parameter(means.float()),
                "scales": nn.Parameter(torch.log(scale.float())),
                "quats": nn.Parameter(quats),
                "opacities": nn.Parameter(torch.zeros(count, device=means.device)),  # logit ½
                "colors": nn.Parameter(torch.logit(colors.float().clamp(0.02, 0.98))),
                **{key: nn.Parameter(value.float()) for key, value in (extras or {}).items()},
            }
        )

    def __len__(self) -> int:
        return len(self.params["means"])

    def activated(self, delta: Tensor | None = None) -> dict[str, Tensor]:
        """Renderer inputs; ``delta`` deforms: ``[N, 3]`` (Δμ), ``[N, 10]`` (Δμ, Δs, Δq) or
        ``[N, 14]`` (…, Δ colour logits, Δ opacity logit)."""
        names = ("means", "scales", "quats", "colors", "opacities")
        means, log_scales, quats, colors, opacities = (self.params[k] for k in names)
        if delta is not None:
            means = means + delta[:, :3]
            if delta.shape[1] >= 10:
                log_scales = log_scales + delta[:, 3:6]
                quats = quats + delta[:, 6:10]
            if delta.shape[1] == 14:
                colors = colors + delta[:, 10:13]
                opacities = opacities + delta[:, 13]
        return {
            "means": means,
            "quats": quats,
            "scales": torch.exp(log_scales),
            "opacities": torch.sigmoid(opacities),
            "colors": torch.sigmoid(colors),
        }


class MouthMotion(nn.Module):
    """Inside-mouth branch: ``Δμ`` (TalkingGaussian, HM-Talker) or ``δ_m`` (M2DAO eq. 9)
    from ``H(μ_mouth)`` and the audio feature weighted by its region attention."""

    def __init__(self, method: Method, audio_shape: tuple[int, int], bounds: Tensor) -> None:
        super().__init__()
        p = method.preset
        self.triplane = TriPlane(bounds, p.triplane_resolutions[:2], p.triplane_channels)
        h = self.triplane.out_dim
        self.audio = AudioEncoder(*audio_shape, p.audio_dim, p.audio_window)
        self.attention_audio = mlp(h, p.audio_dim, p.hidden, 2)
        out = 10 if method.option("mouth_deforms_shape") else 3
        self.deform = mlp(h + p.audio_dim, out, p.hidden, 3)
        xz = p.mouth_offset_xz
        self.register_buffer(
            "offset_scale", torch.tensor([xz, 1.0, xz]) * p.offset_scale, persistent=False
        )

    def forward(self, means: Tensor, c: Conditions) -> Tensor:
        position = self.triplane(means)
        audio = self.audio(c.audio) * self.attention_audio(position)
        delta = self.deform(torch.cat([position, audio], 1))
        return torch.cat([delta[:, :3] * self.offset_scale, delta[:, 3:]], 1)


class TalkingHead(nn.Module):
    """Face and mouth fields with their motion networks: one identity, one method."""

    def __init__(
        self,
        method: Method,
        face: GaussianField,
        mouth: GaussianField,
        audio_shape: tuple[int, int],
    ) -> None:
        super().__init__()
        self.method_name = method.name
        self.face = face
        self.mouth = mouth
        self.face_motion = method.spec.face_motion(
            method, audio_shape, bounds_of(face.params["means"])
        )
        self.mouth_motion = MouthMotion(method, audio_shape, bounds_of(mouth.params["means"]))

    def face_gaussians(self, c: Conditions | None) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Renderer inputs of the face field (static when ``c`` is None) and auxiliary terms
        (:meth:`FaceMotion.forward`'s, and ``delta``)."""
        if c is None:
            return self.face.activated(), {}
        delta, extra = self.face_motion(self.face.params, c)
        return self.face.activated(delta), {**extra, "delta": delta}

    def mouth_gaussians(self, c: Conditions | None) -> dict[str, Tensor]:
        if c is None:
            return self.mouth.activated()
        return self.mouth.activated(self.mouth_motion(self.mouth.params["means"], c))


def bounds_of(points: Tensor, margin: float = 0.25) -> Tensor:
    """Axis-aligned bounds ``[2, 3]`` of ``points``, grown by ``margin`` of the extent."""
    low, high = points.detach().min(0).values, points.detach().max(0).values
    pad = (high - low).clamp_min(1e-3) * margin
    return torch.stack([low - pad, high + pad])
