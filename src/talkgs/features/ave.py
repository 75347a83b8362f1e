"""SyncTalk's audio-visual encoder (AVE), audio branch: 16 mel windows → a 512-d vector.

The architecture follows SyncTalk's ``nerf_triplane/network.py`` ``AudioEncoder`` (itself the
audio tower of Wav2Lip's SyncNet): 13 blocks of 3×3 convolution + batch norm + ReLU, some
residual, shrinking the ``[1, 80, 16]`` mel patch (80 bands × 16 windows) to ``[512, 1, 1]``.

Checkpoint format: SyncTalk's ``audio_visual_encoder.pth`` is a plain state dict of the
``nn.Sequential`` itself, keys ``"<block>.conv_block.<0 conv|1 bn>.<tensor>"`` (SyncTalk adds
the ``audio_encoder.`` prefix when it loads it). The loader accepts exactly that key set (with or
without the prefix) and refuses anything else, naming the keys, in one line.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from talkgs.weights import WeightStore, load_state

AVE_WEIGHT = "synctalk_ave"  # manifest entry
FEATURE_DIM = 512
_KEY_PREFIX = "audio_encoder."

# (in, out, stride, padding, residual) of each block; kernel 3 except the last (1).
_BLOCKS = (
    (1, 32, 1, 1, False),
    (32, 32, 1, 1, True),
    (32, 32, 1, 1, True),
    (32, 64, (3, 1), 1, False),
    (64, 64, 1, 1, True),
    (64, 64, 1, 1, True),
    (64, 128, 3, 1, False),
    (128, 128, 1, 1, True),
    (128, 128, 1, 1, True),
    (128, 256, (3, 2), 1, False),
    (256, 256, 1, 1, True),
    (256, 512, 1, 0, False),
    (512, 512, 1, 0, False),
)


class ConvBlock(nn.Module):
    """Convolution + batch norm (``conv_block``), optional identity skip, then ReLU."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int,
        stride: int | tuple[int, int],
        padding: int,
        residual: bool,
    ) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.Conv2d(cin, cout, kernel, stride, padding), nn.BatchNorm2d(cout)
        )
        self.residual = residual
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_block(x)
        return self.act(out + x if self.residual else out)


class AveAudioEncoder(nn.Module):
    """``[B, 1, 80, 16]`` normalised log-mel patches → ``[B, 512]``."""

    def __init__(self) -> None:
        super().__init__()
        self.audio_encoder = nn.Sequential(
            *(
                ConvBlock(cin, cout, 1 if index == len(_BLOCKS) - 1 else 3, stride, pad, res)
                for index, (cin, cout, stride, pad, res) in enumerate(_BLOCKS)
            )
        )

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.audio_encoder(mel).flatten(1)


def load_ave(store: WeightStore, name: str = AVE_WEIGHT) -> AveAudioEncoder:
    """The encoder with the verified checkpoint ``name`` loaded, in eval mode."""
    state = store.load_torch(name)
    path = store.directory / store.spec(name).file
    encoder = AveAudioEncoder()
    if isinstance(state, dict) and all(isinstance(key, str) for key in state):
        state = {key.removeprefix(_KEY_PREFIX): value for key, value in state.items()}
    load_state(encoder.audio_encoder, state, path, "a SyncTalk audio-visual encoder checkpoint")
    return encoder.eval()


def ave_features(
    encoder: AveAudioEncoder, mel_windows: np.ndarray, batch_size: int = 64
) -> np.ndarray:
    """``[T, 16, 80]`` windows of :func:`talkgs.features.audio.log_mel_windows` → ``[T, 512]``."""
    # SyncTalk feeds each frame's windows as [1, 80 bands, 16 windows]
    patches = torch.from_numpy(np.ascontiguousarray(mel_windows.transpose(0, 2, 1)))[:, None]
    outputs = []
    with torch.inference_mode():
        for first in range(0, len(patches), batch_size):
            outputs.append(encoder(patches[first : first + batch_size].float()))
    if not outputs:
        return np.zeros((0, FEATURE_DIM), np.float32)
    return torch.cat(outputs).numpy().astype(np.float32)
