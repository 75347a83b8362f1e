"""Building blocks of the motion networks, shared by every family
(:mod:`talkgs.train.families`): bias-free MLPs, the tri-plane position encoder ``H(μ)`` and the
audio encoder with its attention over a window of frames."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

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
