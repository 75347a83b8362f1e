"""CSIM: cosine similarity of ArcFace identity embeddings of two faces.

**Network.** insightface's ``arcface_torch`` IResNet in plain PyTorch, default IResNet-100
(``[3, 13, 30, 3]`` blocks): 3×3 stem with PReLU, four stages of pre-activation blocks
(BN → conv → BN → PReLU → conv(stride) → BN, plus a 1×1 conv + BN shortcut on each stage's first
block), BN, flatten, ``fc`` to 512, BatchNorm1d ``features``. Weights:
``ms1mv3_arcface_r100_fp16/backbone.pth`` (manifest ``arcface_r100``; a plain state dict,
float32 despite the name), loaded with its keys unchanged (``conv1.weight``,
``layer1.0.bn1.running_mean``, …, ``features.weight``); unknown or missing keys are refused.

**Input.** A 112×112 face aligned as insightface's ``norm_crop``: the similarity transform
(least squares, Umeyama) that maps five points — eye centres (iBUG-68 36–41, 42–47), nose tip
(30), mouth corners (48, 54) — onto the ArcFace template :data:`ARCFACE_TEMPLATE`, applied with
bilinear ``cv2.warpAffine`` and black borders (:func:`align_face`); RGB scaled to [-1, 1].

**Metric.** ``cos(e₁, e₂)`` of the two embeddings (:func:`cosine_similarity`), e.g. each render
against its ground-truth frame, or against a reference frame of the identity.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from talkgs.metrics import NotComputed, absent_weights, load_state
from talkgs.metrics.image import Frame, to_unit_float
from talkgs.weights import WeightStore

ARCFACE_WEIGHT = "arcface_r100"
IRESNET100 = (3, 13, 30, 3)
ALIGNED_SIZE = 112
# insightface's arcface_dst: left eye, right eye (image left to right), nose tip, mouth corners.
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
     [70.7299, 92.2041]]
)  # fmt: skip


class Block(nn.Module):
    """arcface_torch's ``IBasicBlock``."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin, eps=1e-5)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout, eps=1e-5)
        self.prelu = nn.PReLU(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout, eps=1e-5)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout, eps=1e-5)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (x if self.downsample is None else self.downsample(x))


class IResNet(nn.Module):
    """arcface_torch's ``IResNet`` (112×112 input, 512-d embedding)."""

    def __init__(self, layers: Sequence[int] = IRESNET100, embedding: int = 512) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-5)
        self.prelu = nn.PReLU(64)
        cin = 64
        for index, (cout, blocks) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
            stage = [Block(cin, cout, 2)] + [Block(cout, cout, 1) for _ in range(blocks - 1)]
            self.add_module(f"layer{index + 1}", nn.Sequential(*stage))
            cin = cout
        self.bn2 = nn.BatchNorm2d(512, eps=1e-5)
        self.fc = nn.Linear(512 * 7 * 7, embedding)
        self.features = nn.BatchNorm1d(embedding, eps=1e-5)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, 3, 112, 112]`` RGB in [-1, 1] → ``[B, 512]``."""
        x = self.prelu(self.bn1(self.conv1(x)))
        for index in range(1, 5):
            x = getattr(self, f"layer{index}")(x)
        return self.features(self.fc(self.bn2(x).flatten(1)))


def load_arcface(
    store: WeightStore, name: str = ARCFACE_WEIGHT, layers: Sequence[int] = IRESNET100
) -> IResNet:
    """IResNet with the verified arcface_torch ``backbone.pth``, in eval mode."""
    model = IResNet(layers)
    load_state(
        model, store.load_torch(name), store.path(name), "an arcface_torch IResNet state dict"
    )
    return model.eval()


def arcface_or_reason(store: WeightStore) -> IResNet | NotComputed:
    """:func:`load_arcface`, or :class:`NotComputed` when the weight file is absent."""
    return absent_weights(store, ARCFACE_WEIGHT) or load_arcface(store)


def five_points(ibug68: np.ndarray) -> np.ndarray:
    """``[5, 2]`` eye centres, nose tip and mouth corners of ``[68, 2]`` landmarks."""
    points = np.asarray(ibug68, np.float64)
    return np.stack(
        [points[36:42].mean(0), points[42:48].mean(0), points[30], points[48], points[54]]
    )


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``[2, 3]`` least-squares similarity (Umeyama 1991) mapping ``source`` onto ``target``."""
    mean_s, mean_t = source.mean(0), target.mean(0)
    s, t = source - mean_s, target - mean_t
    u, singular, vt = np.linalg.svd(t.T @ s / len(source))
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(singular) @ sign) / (s**2).sum(axis=1).mean()
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = mean_t - scale * rotation @ mean_s
    return matrix


def align_face(frame: Frame, ibug68: np.ndarray) -> np.ndarray:
    """``[112, 112, 3]`` uint8 RGB face aligned to the ArcFace template."""
    rgb = np.round(to_unit_float(frame).numpy() * 255).astype(np.uint8)
    matrix = similarity_transform(five_points(ibug68), ARCFACE_TEMPLATE)
    return cv2.warpAffine(rgb, matrix, (ALIGNED_SIZE, ALIGNED_SIZE), borderValue=0.0)


def embeddings(model: IResNet, faces: Iterable[np.ndarray], batch_size: int = 16) -> np.ndarray:
    """``[N, 512]`` embeddings of aligned ``[112, 112, 3]`` uint8 RGB faces."""
    device = next(model.parameters()).device
    stacked = [torch.from_numpy(np.asarray(face)) for face in faces]
    out = []
    with torch.no_grad():
        for start in range(0, len(stacked), batch_size):
            batch = torch.stack(stacked[start : start + batch_size]).permute(0, 3, 1, 2).float()
            out.append(model(((batch / 255 - 0.5) / 0.5).to(device)).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 512))


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of ``[N, D]`` and ``[N, D]`` (or ``[D]``, broadcast)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
