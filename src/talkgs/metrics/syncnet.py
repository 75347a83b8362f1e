"""Sync-C / Sync-D (LSE-C / LSE-D): SyncNet and syncnet_python's evaluation protocol.

**Network.** joonson/syncnet_python's ``SyncNetModel.S`` module for module: an audio tower
(``netcnnaud``, ``netfcaud``) on 13 MFCC × 20 steps (0.2 s) and a lip tower (``netcnnlip``,
``netfclip``) on 5 frames of 224×224 face crops, each ending in a 1024-d embedding. Weights:
``syncnet_v2.model`` (manifest ``syncnet_v2``), which syncnet_python's ``loadParameters`` reads
with ``torch.load(...).items()``, i.e. a plain state dict whose keys are those of ``S``
(``netcnnaud.0.weight`` …). It therefore loads with ``torch.load(weights_only=True)`` and its keys
unchanged (:func:`load_syncnet`); it predates PyTorch 0.4.1, so BatchNorm
``num_batches_tracked`` counters may be absent. Should a copy hold a pickled module instead
(refused by ``weights_only``), convert it once, in an environment that has syncnet_python on
``sys.path``::

    python -c "import torch; m = torch.load('syncnet_v2.model', weights_only=False); \
torch.save(m.state_dict() if hasattr(m, 'state_dict') else m, 'syncnet_v2.model')"

(the sha256 then changes: point the manifest entry at the converted file).

**Inputs**, as syncnet_python's ``run_pipeline.py`` / ``SyncNetInstance.evaluate`` prepare them:

- video at 25 fps; each frame's face crop (:func:`face_crops`): a box of half-size
  ``s = max(w, h) / 2`` around the face centre (median-filtered over 13 frames), the frame
  padded with grey 110, rows ``[cy − s, cy + 1.8 s)``, columns ``[cx − 1.4 s, cx + 1.4 s)``
  (``crop_scale`` 0.4), resized to 224×224. syncnet_python takes the box from the S3FD face
  detector; talkgs from the iBUG-68 landmarks of the same frame (their bounding box: brows to
  chin, where S3FD's box reaches higher up the forehead), a documented difference;
- colour crops in OpenCV's BGR channel order, 0–255, not normalised (the network was trained on
  ``cv2.imread`` frames); :func:`face_crops` returns RGB and :func:`embed` flips them;
- audio 16 kHz mono as int16 values, 13 MFCCs at 100 Hz (:func:`mfcc`: python_speech_features
  0.6 defaults: 25 ms rectangular frames every 10 ms, pre-emphasis 0.97, 512-point FFT, 26 mel
  filters 0–8 kHz, DCT-II ortho, lifter 22, coefficient 0 replaced by the log frame energy);
- window ``i`` (``i = 0 … L − 6``, ``L = min(frames, samples // 640)``): frames ``i … i+4``
  and MFCC steps ``4i … 4i+19``.

**Protocol** (:func:`sync_scores`): for each window ``i`` and shift ``k = 0 … 2·vshift``
(``vshift`` = 15), the Euclidean distance between the lip embedding ``i`` and the audio
embedding ``i + k − vshift`` (a zero vector outside the clip, as syncnet_python pads); the mean
over windows gives a curve over the 31 shifts. **Sync-D** = its minimum, **Sync-C** =
median − minimum, offset = ``vshift − argmin`` (frames; lips at frame ``t`` matching the audio at
``t + d`` give ``−d``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from scipy.fft import dct
from torch import Tensor, nn

from talkgs.metrics import NotComputed, absent_weights, load_state
from talkgs.weights import WeightStore

SYNCNET_WEIGHT = "syncnet_v2"
SAMPLE_RATE = 16000
FPS = 25
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640
MFCC_PER_FRAME = 4  # 100 Hz MFCC / 25 fps
WINDOW_FRAMES = 5
WINDOW_MFCC = 20
VSHIFT = 15
CROP_SIZE = 224
CROP_SCALE = 0.4
CROP_PAD_VALUE = 110
BOX_SMOOTHING = 13  # frames of the median filter on the face box


def _conv_bn_relu(conv: nn.Module, channels: int, bn: type[nn.Module]) -> list[nn.Module]:
    return [conv, bn(channels), nn.ReLU()]


class SyncNet(nn.Module):
    """syncnet_python's ``S`` (``syncnet_v2.model``): layer indices match its state dict."""

    def __init__(self, embedding: int = 1024) -> None:
        super().__init__()
        bn2, bn3 = nn.BatchNorm2d, nn.BatchNorm3d
        self.netcnnaud = nn.Sequential(
            *_conv_bn_relu(nn.Conv2d(1, 64, 3, padding=1), 64, bn2),
            nn.MaxPool2d(kernel_size=1, stride=1),
            *_conv_bn_relu(nn.Conv2d(64, 192, 3, padding=1), 192, bn2),
            nn.MaxPool2d(kernel_size=3, stride=(1, 2)),
            *_conv_bn_relu(nn.Conv2d(192, 384, 3, padding=1), 384, bn2),
            *_conv_bn_relu(nn.Conv2d(384, 256, 3, padding=1), 256, bn2),
            *_conv_bn_relu(nn.Conv2d(256, 256, 3, padding=1), 256, bn2),
            nn.MaxPool2d(kernel_size=3, stride=2),
            *_conv_bn_relu(nn.Conv2d(256, 512, (5, 4)), 512, bn2),
        )
        self.netfcaud = _embedding_head(embedding)
        self.netfclip = _embedding_head(embedding)
        self.netcnnlip = nn.Sequential(
            *_conv_bn_relu(nn.Conv3d(3, 96, (5, 7, 7), stride=(1, 2, 2)), 96, bn3),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
            *_conv_bn_relu(
                nn.Conv3d(96, 256, (1, 5, 5), stride=(1, 2, 2), padding=(0, 1, 1)), 256, bn3
            ),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            *_conv_bn_relu(nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), 256, bn3),
            *_conv_bn_relu(nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), 256, bn3),
            *_conv_bn_relu(nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), 256, bn3),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
            *_conv_bn_relu(nn.Conv3d(256, 512, (1, 6, 6)), 512, bn3),
        )

    def forward_aud(self, mfcc_windows: Tensor) -> Tensor:
        """``[B, 1, 13, 20]`` → ``[B, 1024]``."""
        return self.netfcaud(self.netcnnaud(mfcc_windows).flatten(1))

    def forward_lip(self, crops: Tensor) -> Tensor:
        """``[B, 3, 5, 224, 224]`` BGR 0–255 → ``[B, 1024]``."""
        return self.netfclip(self.netcnnlip(crops).flatten(1))


def _embedding_head(embedding: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, embedding)
    )


def load_syncnet(store: WeightStore, name: str = SYNCNET_WEIGHT) -> SyncNet:
    """SyncNet with the verified ``syncnet_v2.model`` state dict, in eval mode."""
    model = SyncNet()
    load_state(
        model, store.load_torch(name), store.path(name), "syncnet_python's SyncNet state dict"
    )
    return model.eval()


def syncnet_or_reason(store: WeightStore) -> SyncNet | NotComputed:
    """:func:`load_syncnet`, or :class:`NotComputed` when ``syncnet_v2.model`` is absent."""
    return absent_weights(store, SYNCNET_WEIGHT) or load_syncnet(store)


# --- audio --------------------------------------------------------------------------------


def mfcc(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """``[13, N]`` MFCCs at 100 Hz of mono float samples in [-1, 1] (``talkgs.media.read_wav``).

    The samples are scaled back to the int16 values syncnet_python reads with
    ``scipy.io.wavfile`` (coefficient 0, the log energy, depends on that scale).
    """
    signal = np.round(np.asarray(samples, np.float64).reshape(-1) * 32767.0)
    emphasised = np.append(signal[:1], signal[1:] - 0.97 * signal[:-1])
    frame_length, step, n_fft = round(0.025 * sample_rate), round(0.01 * sample_rate), 512
    count = (
        1 if len(signal) <= frame_length else 1 + int(np.ceil((len(signal) - frame_length) / step))
    )
    padded = np.zeros((count - 1) * step + frame_length)
    padded[: len(emphasised)] = emphasised
    starts = np.arange(count)[:, None] * step
    frames = padded[starts + np.arange(frame_length)[None, :]]
    power = np.abs(np.fft.rfft(frames, n_fft)) ** 2 / n_fft
    tiny = np.finfo(float).eps
    energy = np.where(power.sum(axis=1) == 0, tiny, power.sum(axis=1))
    bands = power @ mel_filterbank(26, n_fft, sample_rate).T
    bands = np.where(bands == 0, tiny, bands)
    cepstra = dct(np.log(bands), type=2, axis=1, norm="ortho")[:, :13]
    cepstra *= 1 + 11 * np.sin(np.pi * np.arange(13) / 22)  # lifter 22
    cepstra[:, 0] = np.log(energy)
    return cepstra.T


def mel_filterbank(count: int, n_fft: int, sample_rate: int) -> np.ndarray:
    """``[count, n_fft // 2 + 1]`` triangular filters on FFT bins (python_speech_features)."""
    top_mel = 2595 * np.log10(1 + (sample_rate / 2) / 700)
    mel_points = np.linspace(0, top_mel, count + 2)
    bins = np.floor((n_fft + 1) * 700 * (10 ** (mel_points / 2595) - 1) / sample_rate)
    bank = np.zeros((count, n_fft // 2 + 1))
    for j in range(count):
        left, centre, right = bins[j], bins[j + 1], bins[j + 2]
        rising = np.arange(int(left), int(centre))
        falling = np.arange(int(centre), int(right))
        bank[j, rising] = (rising - left) / (centre - left)
        bank[j, falling] = (right - falling) / (right - centre)
    return bank


# --- video --------------------------------------------------------------------------------


def face_boxes(ibug68: np.ndarray) -> np.ndarray:
    """``[T, 3]`` (centre x, centre y, half-size) per frame from ``[T, 68, 2]`` landmarks.

    Half-size ``max(width, height) / 2`` of the landmarks' bounding box; each column
    median-filtered over 13 frames, as syncnet_python smooths its detections.
    """
    points = np.asarray(ibug68, np.float64)
    low, high = points.min(axis=1), points.max(axis=1)
    columns = [
        (low[:, 0] + high[:, 0]) / 2,
        (low[:, 1] + high[:, 1]) / 2,
        (high - low).max(axis=1) / 2,
    ]
    return np.stack([_median_filter(column, BOX_SMOOTHING) for column in columns], axis=1)


def _median_filter(values: np.ndarray, kernel: int) -> np.ndarray:
    """``scipy.signal.medfilt`` (zero-padded ends, as syncnet_python smooths), for any length."""
    padded = np.pad(values, kernel // 2)
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, kernel), axis=1)


def face_crops(frames: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """``[T, 224, 224, 3]`` uint8 RGB crops of ``[T, H, W, 3]`` frames (syncnet_python's crop)."""
    crops = np.empty((len(frames), CROP_SIZE, CROP_SIZE, 3), np.uint8)
    for index, (frame, (cx, cy, half)) in enumerate(zip(frames, boxes, strict=True)):
        pad = int(half * (1 + 2 * CROP_SCALE))
        padded = np.pad(frame, ((pad, pad), (pad, pad), (0, 0)), constant_values=CROP_PAD_VALUE)
        my, mx = cy + pad, cx + pad
        face = padded[
            int(my - half) : int(my + half * (1 + 2 * CROP_SCALE)),
            int(mx - half * (1 + CROP_SCALE)) : int(mx + half * (1 + CROP_SCALE)),
        ]
        crops[index] = cv2.resize(face, (CROP_SIZE, CROP_SIZE))
    return crops


# --- embeddings and protocol ----------------------------------------------------------------


def window_count(frame_count: int, sample_count: int) -> int:
    """Number of 5-frame windows syncnet_python evaluates (``min_length − 5``)."""
    return min(frame_count, sample_count // SAMPLES_PER_FRAME) - WINDOW_FRAMES


def embed(
    model: SyncNet, crops: np.ndarray, samples: np.ndarray, batch_size: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """Lip and audio embeddings ``([W, 1024], [W, 1024])`` of every window.

    ``crops`` ``[T, 224, 224, 3]`` RGB uint8 (:func:`face_crops`), ``samples`` the clip's 16 kHz
    mono audio in [-1, 1].
    """
    windows = window_count(len(crops), len(samples))
    if windows < 1:
        raise ValueError(f"{len(crops)} frames are too few for SyncNet (needs at least 6)")
    bgr = torch.from_numpy(np.ascontiguousarray(crops[..., ::-1])).float()
    video = bgr.permute(3, 0, 1, 2)  # [3, T, 224, 224]
    cepstra = torch.from_numpy(mfcc(samples)).float()
    lips, audio = [], []
    device = next(model.parameters()).device
    with torch.no_grad():
        for start in range(0, windows, batch_size):
            chunk = range(start, min(windows, start + batch_size))
            clips = torch.stack([video[:, i : i + WINDOW_FRAMES] for i in chunk])
            steps = torch.stack(
                [cepstra[None, :, i * MFCC_PER_FRAME : i * MFCC_PER_FRAME + WINDOW_MFCC]
                 for i in chunk]
            )  # fmt: skip
            lips.append(model.forward_lip(clips.to(device)).cpu())
            audio.append(model.forward_aud(steps.to(device)).cpu())
    return torch.cat(lips).numpy(), torch.cat(audio).numpy()


@dataclass(frozen=True)
class SyncScores:
    sync_d: float  # minimum over shifts of the mean distance (LSE-D)
    sync_c: float  # median − minimum of the mean distances (LSE-C)
    offset: int  # vshift − argmin, frames
    mean_distances: np.ndarray  # [2·vshift + 1] mean over windows, per shift
    frame_distances: np.ndarray  # [W] each window's distance at the chosen shift


def sync_scores(lips: np.ndarray, audio: np.ndarray, vshift: int = VSHIFT) -> SyncScores:
    """syncnet_python's ``calc_pdist`` + offset/confidence on ``[W, D]`` embeddings."""
    lips_t = torch.as_tensor(lips, dtype=torch.float32)
    audio_t = torch.as_tensor(audio, dtype=torch.float32)
    padded = torch.nn.functional.pad(audio_t, (0, 0, vshift, vshift))
    shifts = 2 * vshift + 1
    distances = torch.stack(
        [
            torch.nn.functional.pairwise_distance(lips_t[[i]].expand(shifts, -1),
                                                  padded[i : i + shifts])
            for i in range(len(lips_t))
        ]
    )  # fmt: skip  # [W, shifts]
    mean = distances.mean(dim=0)
    minimum, best = torch.min(mean, 0)
    return SyncScores(
        sync_d=float(minimum),
        sync_c=float(torch.median(mean) - minimum),
        offset=vshift - int(best),
        mean_distances=mean.numpy(),
        frame_distances=distances[:, int(best)].numpy(),
    )


def evaluate_sync(
    model: SyncNet, frames: np.ndarray, ibug68: np.ndarray, samples: np.ndarray
) -> SyncScores:
    """Sync scores of a 25 fps clip: ``[T, H, W, 3]`` RGB frames, their ``[T, 68, 2]`` landmarks
    and the 16 kHz mono audio played with them."""
    crops = face_crops(frames, face_boxes(ibug68))
    return sync_scores(*embed(model, crops, samples))
