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

Families differ in how the face's motion features are made:
- ``talkinggaussian``: audio feature ``A`` and expression AUs ``E`` (AU01/04/05/06/07/45), each
  weighted by its region attention;
- ``hmtalker``: upper-face AUs ``c_vu`` (7), lower-face AUs through an MLP with skip (eq. 5),
  the audio-to-AU mapper A2AM (eq. 6, ``L_align``), gated fusion of explicit and implicit
  features (eq. 7) over three stochastic paths; at inference the audio path only;
- ``m2dao``: encoded audio and encoded expression features, each weighted by attention (eq. 8);
  the mouth branch predicts a full ``δ_m`` (eq. 9).
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from talkgs.train.data import AU_LOWER, AU_TALKINGGAUSSIAN, AU_UPPER, Conditions
from talkgs.train.presets import Method

GAUSSIAN_KEYS = ("means", "scales", "quats", "opacities", "colors")
ATTENTION_SELF_LOGIT = 6.0  # the audio attention's initial preference for the frame itself


def mlp(dim_in: int, dim_out: int, hidden: int, layers: int) -> nn.Sequential:
    """``layers`` linear layers with ReLU between them and no bias terms, as ER-NeRF's and
    TalkingGaussian's ``MLP``: the output is a function of the inputs alone, so a deformation
    cannot settle on a frame-independent offset (a bias) and leave the audio unused. With
    biases and a zero-initialised last layer the demo's face stage learnt lips that moved 2% as
    far as the recorded ones in 650 iterations; without, they follow the audio from the start."""
    dims = [dim_in] + [hidden] * (layers - 1) + [dim_out]
    modules: list[nn.Module] = []
    for index, (a, b) in enumerate(itertools.pairwise(dims)):
        modules.append(nn.Linear(a, b, bias=False))
        if index < layers - 1:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


class TriPlane(nn.Module):
    """``H(μ)``: xy, yz and xz feature planes at several resolutions, bilinearly sampled."""

    def __init__(self, bounds: Tensor, resolutions: tuple[int, ...], channels: int) -> None:
        super().__init__()
        self.register_buffer("bounds", bounds.clone().float())  # [2, 3] min, max
        # the planes' axes as index tensors that live with the module: a Python list index
        # would be copied to the device (and waited for) on every call
        self.register_buffer("axes", torch.tensor([[0, 1], [1, 2], [0, 2]]), persistent=False)
        self.planes = nn.ParameterList(
            nn.Parameter(torch.empty(3, channels, r, r).uniform_(-0.1, 0.1)) for r in resolutions
        )
        self.out_dim = 3 * channels * len(resolutions)

    def forward(self, points: Tensor) -> Tensor:
        low, high = self.bounds[0], self.bounds[1]
        unit = ((points - low) / (high - low) * 2 - 1).clamp(-1, 1)
        coords = torch.stack([unit[:, axes] for axes in self.axes])  # [3, N, 2]: xy, yz, xz
        grid = coords[:, None]  # [3, 1, N, 2]
        features = []
        for planes in self.planes:
            sampled = F.grid_sample(planes, grid, mode="bilinear", align_corners=True)
            features.append(sampled[:, :, 0].permute(2, 0, 1).flatten(1))
        return torch.cat(features, 1)


class AudioEncoder(nn.Module):
    """ER-NeRF's AudioNet (1D convolutions over a frame's feature windows, then an MLP) and
    AudioAttNet (attention over a window of video frames); HM-Talker uses the same pair."""

    def __init__(self, windows: int, dims: int, out_dim: int, frames: int) -> None:
        super().__init__()
        convs: list[nn.Module] = []
        channels, length = dims, windows
        for width in (32, 32, 64, 64):
            convs += [
                nn.Conv1d(channels, width, 3, stride=2 if length > 1 else 1, padding=1),
                nn.LeakyReLU(0.02),
            ]
            channels, length = width, max(1, (length + 1) // 2)
        self.convs = nn.Sequential(*convs)
        self.fc = nn.Sequential(
            nn.Linear(channels * length, 64), nn.LeakyReLU(0.02), nn.Linear(64, out_dim)
        )
        att: list[nn.Module] = []
        widths = [out_dim, 16, 8, 4, 2, 1]
        for a, b in itertools.pairwise(widths):
            att += [nn.Conv1d(a, b, 3, padding=1), nn.LeakyReLU(0.02)]
        self.attention_convs = nn.Sequential(*att)
        self.attention = nn.Linear(frames, frames)
        # The attention starts on the frame itself (weight ~0.98 on offset 0 of the window
        # ``-frames/2 … frames/2 - 1``) and learns from there how much of its neighbours to
        # mix in. Upstream's default initialisation starts it near-uniform, a 320 ms average
        # that smears the mouth's motion until tens of thousands of iterations sharpen it; on the
        # demo the face's attention was still uniform after the `cpu` preset's 650 iterations.
        with torch.no_grad():
            self.attention.bias[frames // 2] += ATTENTION_SELF_LOGIT

    def forward(self, window: Tensor) -> Tensor:
        """``[B, frames, W, D]`` → ``[B, out_dim]``."""
        batch, frames, windows, dims = window.shape
        per_frame = self.convs(window.reshape(batch * frames, windows, dims).transpose(1, 2))
        per_frame = self.fc(per_frame.flatten(1)).reshape(batch, frames, -1)
        scores = self.attention_convs(per_frame.transpose(1, 2))[:, 0]  # [B, frames]
        weights = torch.softmax(self.attention(scores), dim=1)
        return (weights[..., None] * per_frame).sum(1)


class GaussianField(nn.Module):
    """Raw Gaussian parameters (log scales, logit opacities and colours), in head space."""

    def __init__(self, means: Tensor, colors: Tensor, scale: Tensor) -> None:
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
            }
        )

    def __len__(self) -> int:
        return len(self.params["means"])

    def activated(self, delta: Tensor | None = None) -> dict[str, Tensor]:
        """Renderer inputs; ``delta`` ``[N, 3]`` (Δμ) or ``[N, 10]`` (Δμ, Δs, Δq) deforms."""
        means, log_scales, quats = (self.params[k] for k in ("means", "scales", "quats"))
        if delta is not None:
            means = means + delta[:, :3]
            if delta.shape[1] == 10:
                log_scales = log_scales + delta[:, 3:6]
                quats = quats + delta[:, 6:10]
        return {
            "means": means,
            "quats": quats,
            "scales": torch.exp(log_scales),
            "opacities": torch.sigmoid(self.params["opacities"]),
            "colors": torch.sigmoid(self.params["colors"]),
        }


class FaceMotion(nn.Module):
    """Conditions + ``H(μ)`` → ``δ_face`` for one family; also returns auxiliary losses."""

    def __init__(self, method: Method, audio_shape: tuple[int, int], bounds: Tensor) -> None:
        super().__init__()
        p = method.preset
        self.family = method.family
        self.offset_scale = p.offset_scale
        self.triplane = TriPlane(bounds, p.triplane_resolutions, p.triplane_channels)
        h = self.triplane.out_dim
        self.audio = AudioEncoder(*audio_shape, p.audio_dim, p.audio_window)
        if self.family == "hmtalker":
            self.au_lower = mlp(len(AU_LOWER), p.audio_dim - len(AU_LOWER), p.hidden, 2)  # eq. 5
            self.a2am = nn.Sequential(
                nn.Linear(p.audio_dim, p.hidden), nn.ReLU(), nn.Linear(p.hidden, p.audio_dim)
            )  # eq. 6
            self.gate = nn.Sequential(mlp(2 * p.audio_dim, p.audio_dim, p.hidden, 2), nn.Sigmoid())
            self.attention_motion = mlp(h, p.audio_dim, p.hidden, 2)  # MLP_f, eq. 8
            self.attention_upper = mlp(h, len(AU_UPPER), p.hidden, 2)  # MLP_u
            cond = p.audio_dim + len(AU_UPPER)
        elif self.family == "m2dao":
            self.expression = mlp(len(AU_TALKINGGAUSSIAN), 16, p.hidden, 2)  # Enc(e)
            self.attention_audio = mlp(h, p.audio_dim, p.hidden, 2)  # V_a
            self.attention_expression = mlp(h, 16, p.hidden, 2)  # V_e
            cond = p.audio_dim + 16
        else:
            self.attention_audio = mlp(h, p.audio_dim, p.hidden, 2)
            self.attention_expression = mlp(h, len(AU_TALKINGGAUSSIAN), p.hidden, 2)
            cond = p.audio_dim + len(AU_TALKINGGAUSSIAN)
        self.deform = mlp(h + cond, 10, p.hidden, 3)

    def forward(self, means: Tensor, c: Conditions) -> tuple[Tensor, dict[str, Tensor]]:
        """``δ`` ``[N, 10]`` (Δμ scaled, Δs, Δq) and auxiliary terms: ``align`` (HM-Talker),
        ``attention`` ``[N, 2]`` (norms of the audio- and expression-side region attention)."""
        position = self.triplane(means)
        audio = self.audio(c.audio)  # [1, audio_dim]: implicit motion feature c_a^i
        extra: dict[str, Tensor] = {}
        if self.family == "hmtalker":
            explicit_visual = torch.cat([self.au_lower(c.au_lower), c.au_lower], 1)  # c_v,l^e
            explicit_audio = self.a2am(audio)  # c_a,l^e
            extra["align"] = F.l1_loss(explicit_audio, explicit_visual.detach())
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
            upper = c.au_upper * expression_attention  # C_u
            condition = torch.cat([motion, upper], 1)
        elif self.family == "m2dao":
            audio_attention = self.attention_audio(position)
            expression_attention = self.attention_expression(position)
            motion = audio * audio_attention  # A = Enc(a) ⊙ V_a
            expression = self.expression(c.au_expression) * expression_attention
            condition = torch.cat([motion, expression], 1)
        else:
            audio_attention = self.attention_audio(position)
            expression_attention = torch.relu(self.attention_expression(position))
            motion = audio * audio_attention
            expression = c.au_expression * expression_attention
            condition = torch.cat([motion, expression], 1)
        extra["attention"] = torch.stack(
            [audio_attention.norm(dim=1), expression_attention.norm(dim=1)], 1
        )
        delta = self.deform(torch.cat([position, condition], 1))
        return torch.cat([delta[:, :3] * self.offset_scale, delta[:, 3:]], 1), extra


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
        self.face_motion = FaceMotion(method, audio_shape, bounds_of(face.params["means"]))
        self.mouth_motion = MouthMotion(method, audio_shape, bounds_of(mouth.params["means"]))

    def face_gaussians(self, c: Conditions | None) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Renderer inputs of the face field (static when ``c`` is None) and auxiliary terms
        (:meth:`FaceMotion.forward`'s, and ``delta``)."""
        if c is None:
            return self.face.activated(), {}
        delta, extra = self.face_motion(self.face.params["means"], c)
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
