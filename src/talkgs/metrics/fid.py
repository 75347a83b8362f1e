"""FID: Fréchet distance between Inception-v3 pool features of two frame sets (pytorch-fid).

**Features.** pytorch-fid's ``InceptionV3([3])`` in plain PyTorch: the TensorFlow FID Inception
graph as torchvision's ``Inception3`` (1008 classes, no auxiliary head) with pytorch-fid's
patches (average pools of Mixed_5b–5d, 6b–6e and 7b exclude the zero padding; Mixed_7c pools
with max). A frame (RGB, [0, 1]) is resized to 299×299 (bilinear, ``align_corners=False``),
mapped to [-1, 1], and its 2048-d global average pool after Mixed_7c is the feature. Weights:
``pt_inception-2015-12-05-6726825d.pth`` (manifest ``fid_inception``), loaded with its keys
unchanged (``Conv2d_1a_3x3.conv.weight`` …, ``Mixed_7c.branch_pool.bn.running_var``); ``fc.*`` is
not used; any other unknown or missing key is refused.

**Distance** (:func:`frechet_distance`): ``‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^½)`` with each set's
mean and sample covariance (``np.cov``, ``ddof = 1``), as pytorch-fid's
``calculate_frechet_distance`` (a 1e-6 ridge when the product's square root is not finite; an
imaginary part above 1e-3 on the diagonal is an error).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from talkgs.errors import TalkgsError
from talkgs.metrics import NotComputed, absent_weights, load_state
from talkgs.metrics.image import Frame, to_unit_float
from talkgs.weights import WeightStore

FID_WEIGHT = "fid_inception"
FEATURES = 2048
INPUT_SIZE = 299


class BasicConv2d(nn.Module):
    def __init__(
        self, cin: int, cout: int, kernel: int | tuple[int, int], **kwargs: object
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, bias=False, **kwargs)  # type: ignore[arg-type]
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool(x: Tensor) -> Tensor:
    # TensorFlow's average pool ignores the padded zeros (pytorch-fid's patch).
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    def __init__(self, cin: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1 = BasicConv2d(cin, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(_avg_pool(x))], 1)


class InceptionB(nn.Module):
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), b3, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionC(nn.Module):
    def __init__(self, cin: int, c7: int) -> None:
        super().__init__()
        row, col = {"padding": (0, 3)}, {"padding": (3, 0)}
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), **row)
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), **col)
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), **col)
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), **row)
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), **col)
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), **row)
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = x
        for index in range(1, 6):
            d = getattr(self, f"branch7x7dbl_{index}")(d)
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(_avg_pool(x))], 1)


class InceptionD(nn.Module):
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = x
        for index in range(1, 5):
            b7 = getattr(self, f"branch7x7x3_{index}")(b7)
        return torch.cat([b3, b7, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionE(nn.Module):
    def __init__(self, cin: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool  # pytorch-fid: Mixed_7c pools with max, Mixed_7b with average
        self.branch1x1 = BasicConv2d(cin, 320, 1)
        self.branch3x3_1 = BasicConv2d(cin, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        d = torch.cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], 1)
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg_pool(x)
        return torch.cat([self.branch1x1(x), b3, d, self.branch_pool(pooled)], 1)


class FidInception(nn.Module):
    """pytorch-fid's FID Inception-v3 up to the 2048-d pool features."""

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, 32)
        self.Mixed_5c = InceptionA(256, 64)
        self.Mixed_5d = InceptionA(288, 64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, 128)
        self.Mixed_6c = InceptionC(768, 160)
        self.Mixed_6d = InceptionC(768, 160)
        self.Mixed_6e = InceptionC(768, 192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, max_pool=False)
        self.Mixed_7c = InceptionE(2048, max_pool=True)

    def forward(self, images: Tensor) -> Tensor:
        """``[B, 3, H, W]`` RGB in [0, 1] → ``[B, 2048]``."""
        x = F.interpolate(images, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear",
                          align_corners=False)  # fmt: skip
        x = 2 * x - 1
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = F.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), 3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


def load_fid_inception(store: WeightStore, name: str = FID_WEIGHT) -> FidInception:
    """The FID Inception with the verified pytorch-fid weights, in eval mode."""
    model = FidInception()
    load_state(
        model,
        store.load_torch(name),
        store.path(name),
        "pytorch-fid's Inception state dict (pt_inception-2015-12-05-6726825d.pth)",
        ignored_prefixes=("fc.",),  # the 1008-class logits; FID uses the pool features
    )
    return model.eval()


def fid_inception_or_reason(store: WeightStore) -> FidInception | NotComputed:
    """:func:`load_fid_inception`, or :class:`NotComputed` when the weight file is absent."""
    return absent_weights(store, FID_WEIGHT) or load_fid_inception(store)


def inception_features(
    model: FidInception, frames: Iterable[Frame], batch_size: int = 16
) -> np.ndarray:
    """``[N, 2048]`` float64 pool features of ``[H, W, 3]`` frames (uint8 or [0, 1] float)."""
    device = next(model.parameters()).device
    features, batch = [], []

    def flush() -> None:
        with torch.no_grad():
            images = torch.stack(batch).permute(0, 3, 1, 2).float().to(device)
            features.append(model(images).double().cpu().numpy())
        batch.clear()

    for frame in frames:
        batch.append(to_unit_float(frame))
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    return np.concatenate(features) if features else np.zeros((0, FEATURES))


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[D]`` and sample covariance ``[D, D]`` of ``[N, D]`` features (N ≥ 2)."""
    features = np.asarray(features, np.float64)
    if len(features) < 2:
        raise TalkgsError(f"FID needs at least 2 frames per set, got {len(features)}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """Fréchet distance of two Gaussians (pytorch-fid's ``calculate_frechet_distance``)."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    diff = mu1 - mu2
    root = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(root).all():
        ridge = np.eye(len(sigma1)) * eps
        root = scipy.linalg.sqrtm((sigma1 + ridge) @ (sigma2 + ridge))
    if np.iscomplexobj(root):
        if not np.allclose(np.diagonal(root).imag, 0, atol=1e-3):
            raise TalkgsError(
                f"FID: imaginary part {np.abs(root.imag).max():.3g} in the covariance product's "
                "square root (too few frames for 2048-d features?)"
            )
        root = root.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(root))


def fid(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FID between two ``[N, D]`` feature sets.

    With fewer frames than feature dimensions (a validation split has hundreds of frames, the
    features 2048 dimensions) the covariances are of low rank: Σ₁ = AᵀA and Σ₂ = BᵀB with A, B
    the centred features over √(N − 1), and tr √(Σ₁Σ₂) is the sum of the singular values of
    ABᵀ, whose nonzero eigen-structure Σ₁Σ₂ shares. That is the same quantity
    :func:`frechet_distance` takes from ``sqrtm`` of a 2048² matrix (13 s on two cores), exactly
    and in milliseconds; larger sets go through ``sqrtm`` as pytorch-fid does.
    """
    a = np.asarray(features_a, np.float64)
    b = np.asarray(features_b, np.float64)
    if min(len(a), len(b)) < 2 or max(len(a), len(b)) >= a.shape[1]:
        return frechet_distance(*feature_statistics(a), *feature_statistics(b))
    centred_a = (a - a.mean(axis=0)) / np.sqrt(len(a) - 1)
    centred_b = (b - b.mean(axis=0)) / np.sqrt(len(b) - 1)
    diff = a.mean(axis=0) - b.mean(axis=0)
    root_trace = np.linalg.svd(centred_a @ centred_b.T, compute_uv=False).sum()
    return float(diff @ diff + (centred_a**2).sum() + (centred_b**2).sum() - 2 * root_trace)
