"""LPIPS v0.1 with the AlexNet backbone (Zhang et al. 2018), in plain PyTorch (no torchvision).

The distance TalkingGaussian's ``metrics.py`` reports (``lpips.LPIPS(net="alex")``, version 0.1,
inputs in [0, 1] mapped to [-1, 1]): both images go through the lpips scaling layer
(``(x - shift) / scale``, :data:`SHIFT`, :data:`SCALE`) and AlexNet's five ReLU outputs
(conv1–conv5, :data:`CHANNELS`); each feature map is unit-normalised over channels
(``x / (‖x‖₂ + 1e-10)``), the squared difference is weighted per channel by the v0.1 linear head
(a 1×1 convolution without bias) and averaged over the pixels; the five layers add up.

Weights (user-provided, ``resources/weights.yaml``):

- ``lpips_alexnet``: torchvision's ImageNet AlexNet, ``alexnet-owt-7be5be79.pth``, loaded with
  its keys unchanged: ``features.{0,3,6,8,10}.{weight,bias}``; ``classifier.*`` is not used;
  any other key, a missing one or a wrong shape is refused.
- ``lpips_alex_v0_1``: the lpips package's ``lpips/weights/v0.1/alex.pth`` (6009 bytes),
  keys ``lin{0..4}.model.1.weight`` of shapes ``[1, C, 1, 1]`` (index 1 because lpips puts a
  dropout layer, inactive at evaluation, at index 0).

:class:`Lpips` is both the metric (:meth:`Lpips.distance` on two frames) and a training loss
(:meth:`Lpips.loss`: ``[H, W, 3]`` images in [0, 1] → differentiable scalar; the network's own
weights stay frozen).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from talkgs.metrics import NotComputed, absent_weights, load_state
from talkgs.metrics.image import Frame, to_unit_float
from talkgs.metrics.ssim import hwc_to_batch
from talkgs.weights import WeightStore

ALEXNET_WEIGHT = "lpips_alexnet"
HEADS_WEIGHT = "lpips_alex_v0_1"
CHANNELS = (64, 192, 384, 256, 256)
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
_RELU_OUTPUTS = (1, 4, 7, 9, 11)  # indices in ``features`` whose outputs LPIPS compares
EPS = 1e-10


class AlexNetFeatures(nn.Module):
    """torchvision's ``alexnet().features``, module for module, so its state-dict keys match."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        outputs = []
        for index, layer in enumerate(self.features[: _RELU_OUTPUTS[-1] + 1]):
            x = layer(x)
            if index in _RELU_OUTPUTS:
                outputs.append(x)
        return outputs


class LinearHead(nn.Module):
    """lpips' ``NetLinLayer``: (dropout,) 1×1 convolution to one channel, no bias."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, 1, bias=False))


class LinearHeads(nn.Module):
    """The five v0.1 heads, named as in ``alex.pth`` (``lin0`` … ``lin4``)."""

    def __init__(self) -> None:
        super().__init__()
        for index, channels in enumerate(CHANNELS):
            self.add_module(f"lin{index}", LinearHead(channels))

    def head(self, index: int) -> LinearHead:
        return getattr(self, f"lin{index}")


class Lpips(nn.Module):
    """LPIPS v0.1 (AlexNet); frozen, in eval mode."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = AlexNetFeatures()
        self.heads = LinearHeads()
        self.register_buffer("shift", torch.tensor(SHIFT)[None, :, None, None], persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE)[None, :, None, None], persistent=False)
        self.requires_grad_(False)
        self.eval()

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """``[B]`` distances of ``[B, 3, H, W]`` images in [-1, 1]."""
        features_a = self.backbone((a - self.shift) / self.scale)
        features_b = self.backbone((b - self.shift) / self.scale)
        total = torch.zeros(a.shape[0], dtype=a.dtype, device=a.device)
        for index, (fa, fb) in enumerate(zip(features_a, features_b, strict=True)):
            difference = (unit_normalise(fa) - unit_normalise(fb)) ** 2
            total = total + self.heads.head(index).model(difference).mean(dim=(1, 2, 3))
        return total

    def distance(self, render: Frame, truth: Frame) -> float:
        """LPIPS of two ``[H, W, 3]`` frames (uint8, or float in [0, 1])."""
        a, b = (hwc_to_batch(to_unit_float(x)).float() for x in (render, truth))
        device = self.shift.device
        with torch.no_grad():
            return float(self(2 * a.to(device) - 1, 2 * b.to(device) - 1)[0])

    def loss(self, image: Tensor, target: Tensor) -> Tensor:
        """Differentiable LPIPS of ``[H, W, 3]`` images in [0, 1] (the training loss)."""
        if self.shift.device != image.device:
            self.to(image.device)
        a, b = hwc_to_batch(image), hwc_to_batch(target)
        return self(2 * a - 1, 2 * b - 1)[0]


def unit_normalise(features: Tensor) -> Tensor:
    """Each pixel's feature vector divided by its Euclidean norm (+1e-10), as lpips does."""
    return features / (features.pow(2).sum(dim=1, keepdim=True).sqrt() + EPS)


def load_lpips(
    store: WeightStore, backbone: str = ALEXNET_WEIGHT, heads: str = HEADS_WEIGHT
) -> Lpips:
    """LPIPS with the verified AlexNet and v0.1 head weights; one-line error if one is unusable."""
    model = Lpips()
    load_state(
        model.backbone,
        store.load_torch(backbone),
        store.path(backbone),
        "torchvision's AlexNet state dict (alexnet-owt-7be5be79.pth)",
        ignored_prefixes=("classifier.",),  # the ImageNet classifier; LPIPS uses the features
    )
    load_state(
        model.heads,
        store.load_torch(heads),
        store.path(heads),
        "the lpips v0.1 AlexNet linear heads (lpips/weights/v0.1/alex.pth)",
    )
    return model.eval()


def lpips_or_reason(store: WeightStore) -> Lpips | NotComputed:
    """:func:`load_lpips`, or :class:`NotComputed` when a weight file is absent."""
    return absent_weights(store, ALEXNET_WEIGHT, HEADS_WEIGHT) or load_lpips(store)
