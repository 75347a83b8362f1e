"""The ``bisenet`` parsing backend: BiSeNet face parsing with CelebAMask-HQ's 19 classes.

The network is the one of zllrunning/face-parsing.PyTorch (vendored by ER-NeRF and
TalkingGaussian under ``data_utils/face_parsing/``): a ResNet-18 context path with attention
refinement, a feature-fusion module and three output heads. Module names follow that code so
that its checkpoint ``79999_iter.pth`` (a plain ``state_dict``, 191 tensors) loads unchanged
with ``strict=True``. The ResNet-18 is built here because torchvision is not available.

Preprocessing follows those repositories: RGB, resized to 512 × 512, scaled to [0, 1] and
normalised with the ImageNet mean and std; the first (fused) head is the prediction.
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from talkgs.errors import TalkgsError
from talkgs.face.labels import Label
from talkgs.face.teeth import teeth_mask
from talkgs.weights import WeightStore

N_CLASSES = 19
INPUT_SIZE = 512  # the network was trained and is evaluated upstream on 512 × 512 crops
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# CelebAMask-HQ class order of the checkpoint (face-parsing.PyTorch's prepropess_data.py).
CELEBAMASK_CLASSES: tuple[str, ...] = (
    "background",
    "skin",
    "l_brow",
    "r_brow",
    "l_eye",
    "r_eye",
    "eye_g",  # eyeglasses
    "l_ear",
    "r_ear",
    "ear_r",  # earring
    "nose",
    "mouth",  # the opening between the lips (teeth and tongue included)
    "u_lip",
    "l_lip",
    "neck",
    "neck_l",  # necklace
    "cloth",
    "hair",
    "hat",
)

_CLASS_TO_LABEL: dict[str, Label] = {
    "background": Label.BACKGROUND,
    "skin": Label.FACE,
    "l_brow": Label.BROWS,
    "r_brow": Label.BROWS,
    "l_eye": Label.EYES,
    "r_eye": Label.EYES,
    # Glasses, ears, earrings and nose are part of the face surface an avatar renders.
    "eye_g": Label.FACE,
    "l_ear": Label.FACE,
    "r_ear": Label.FACE,
    "ear_r": Label.FACE,
    "nose": Label.FACE,
    # Teeth are split out of the mouth afterwards (BiSeNet has no teeth class).
    "mouth": Label.INNER_MOUTH,
    "u_lip": Label.LIPS,
    "l_lip": Label.LIPS,
    "neck": Label.NECK,
    "neck_l": Label.NECK,
    "cloth": Label.TORSO,
    "hair": Label.HAIR,
    "hat": Label.HAIR,
}

# [19] uint8 lookup table: CelebAMask-HQ class index → talkgs Label.
_LUT = np.array([_CLASS_TO_LABEL[name] for name in CELEBAMASK_CLASSES], np.uint8)


def celebamask_to_labels(classes: np.ndarray) -> np.ndarray:
    """``[H, W]`` CelebAMask-HQ class indices (0–18) → ``[H, W]`` uint8 talkgs :class:`Label`.

    ``mouth`` becomes ``INNER_MOUTH`` whole; :meth:`BiSeNetParser.parse` then moves its teeth
    pixels to ``TEETH``, which needs the image.
    """
    classes = np.asarray(classes)
    if not np.issubdtype(classes.dtype, np.integer):
        raise ValueError(f"CelebAMask-HQ classes must be integers, got {classes.dtype}")
    if classes.size and (classes.min() < 0 or classes.max() >= N_CLASSES):
        raise ValueError(
            f"CelebAMask-HQ classes must lie in 0..{N_CLASSES - 1}, "
            f"got {classes.min()}..{classes.max()}"
        )
    return _LUT[classes]


# --- the network -------------------------------------------------------------------------------
# Attribute names below are the checkpoint's key names; renaming any of them breaks loading.


class ConvBNReLU(nn.Module):
    """Bias-free convolution, batch norm, ReLU (keys ``conv.weight``, ``bn.*``)."""

    def __init__(self, in_chan: int, out_chan: int, ks: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_chan, out_chan, ks, stride=stride, padding=ks // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_chan)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class BasicBlock(nn.Module):
    """ResNet basic block; a 1×1 projection (``downsample.0``/``.1``) where the shape changes."""

    def __init__(self, in_chan: int, out_chan: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chan, out_chan, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_chan)
        self.conv2 = nn.Conv2d(out_chan, out_chan, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_chan)
        self.downsample: nn.Sequential | None = None
        if in_chan != out_chan or stride != 1:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_chan, out_chan, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_chan),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(shortcut + residual)


def _stage(in_chan: int, out_chan: int, stride: int) -> nn.Sequential:
    return nn.Sequential(BasicBlock(in_chan, out_chan, stride), BasicBlock(out_chan, out_chan))


class ResNet18(nn.Module):
    """ResNet-18 trunk without pooling head; returns the 1/8, 1/16 and 1/32 feature maps."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = _stage(64, 64, 1)
        self.layer2 = _stage(64, 128, 2)
        self.layer3 = _stage(128, 256, 2)
        self.layer4 = _stage(256, 512, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))  # [B, 64, H/4, W/4]
        feat8 = self.layer2(self.layer1(x))  # [B, 128, H/8, W/8]
        feat16 = self.layer3(feat8)  # [B, 256, H/16, W/16]
        feat32 = self.layer4(feat16)  # [B, 512, H/32, W/32]
        return feat8, feat16, feat32


class AttentionRefinement(nn.Module):
    """3×3 ConvBNReLU, reweighted per channel by a sigmoid of its global average."""

    def __init__(self, in_chan: int, out_chan: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_chan, out_chan, ks=3)
        self.conv_atten = nn.Conv2d(out_chan, out_chan, 1, bias=False)
        self.bn_atten = nn.BatchNorm2d(out_chan)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv(x)
        atten = F.adaptive_avg_pool2d(feat, 1)  # [B, C, 1, 1]
        atten = torch.sigmoid(self.bn_atten(self.conv_atten(atten)))
        return feat * atten


class ContextPath(nn.Module):
    """ResNet-18 features refined top-down: global context + 1/32 → 1/16 → 1/8 (128 ch)."""

    def __init__(self) -> None:
        super().__init__()
        self.resnet = ResNet18()
        self.arm16 = AttentionRefinement(256, 128)
        self.arm32 = AttentionRefinement(512, 128)
        self.conv_head32 = ConvBNReLU(128, 128, ks=3)
        self.conv_head16 = ConvBNReLU(128, 128, ks=3)
        self.conv_avg = ConvBNReLU(512, 128, ks=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        feat8, feat16, feat32 = self.resnet(x)
        # Global context: the pooled 1/32 features, broadcast back over the 1/32 grid.
        avg = self.conv_avg(F.adaptive_avg_pool2d(feat32, 1))  # [B, 128, 1, 1]
        avg_up = F.interpolate(avg, feat32.shape[2:], mode="nearest")
        feat32_sum = self.arm32(feat32) + avg_up  # [B, 128, H/32, W/32]
        feat32_up = F.interpolate(feat32_sum, feat16.shape[2:], mode="nearest")
        feat32_up = self.conv_head32(feat32_up)  # [B, 128, H/16, W/16]
        feat16_sum = self.arm16(feat16) + feat32_up
        feat16_up = F.interpolate(feat16_sum, feat8.shape[2:], mode="nearest")
        feat16_up = self.conv_head16(feat16_up)  # [B, 128, H/8, W/8]
        return feat8, feat16_up, feat32_up


class FeatureFusion(nn.Module):
    """Concatenate spatial and context features, 1×1 fuse, add a channel-attention copy."""

    def __init__(self, in_chan: int, out_chan: int) -> None:
        super().__init__()
        self.convblk = ConvBNReLU(in_chan, out_chan, ks=1)
        self.conv1 = nn.Conv2d(out_chan, out_chan // 4, 1, bias=False)
        self.conv2 = nn.Conv2d(out_chan // 4, out_chan, 1, bias=False)

    def forward(self, fsp: torch.Tensor, fcp: torch.Tensor) -> torch.Tensor:
        feat = self.convblk(torch.cat([fsp, fcp], dim=1))  # [B, 256, H/8, W/8]
        atten = F.adaptive_avg_pool2d(feat, 1)
        atten = torch.sigmoid(self.conv2(F.relu(self.conv1(atten))))  # [B, 256, 1, 1]
        return feat * atten + feat


class OutputHead(nn.Module):
    """3×3 ConvBNReLU then a 1×1 classifier (keys ``conv.conv.weight``, ``conv_out.weight``)."""

    def __init__(self, in_chan: int, mid_chan: int, n_classes: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_chan, mid_chan, ks=3)
        self.conv_out = nn.Conv2d(mid_chan, n_classes, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.conv(x))


class BiSeNet(nn.Module):
    """BiSeNet whose spatial path is the ResNet's 1/8 features, as in face-parsing.PyTorch.

    ``forward`` returns the fused head's logits ``[B, n_classes, H, W]``, upsampled bilinearly
    (``align_corners=True``, as upstream) from 1/8 scale; that is the head used at inference.
    ``return_aux=True`` also returns the two auxiliary heads (used upstream only for training
    losses; kept so the checkpoint's ``conv_out16``/``conv_out32`` keys have a home).
    """

    def __init__(self, n_classes: int = N_CLASSES) -> None:
        super().__init__()
        self.cp = ContextPath()
        self.ffm = FeatureFusion(256, 256)
        self.conv_out = OutputHead(256, 256, n_classes)
        self.conv_out16 = OutputHead(128, 64, n_classes)
        self.conv_out32 = OutputHead(128, 64, n_classes)

    def forward(
        self, x: torch.Tensor, return_aux: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        size = x.shape[2:]
        feat_res8, feat_cp8, feat_cp16 = self.cp(x)
        logits = self.conv_out(self.ffm(feat_res8, feat_cp8))  # [B, n_classes, H/8, W/8]
        logits = F.interpolate(logits, size, mode="bilinear", align_corners=True)
        if not return_aux:
            return logits
        aux = [
            F.interpolate(head(feat), size, mode="bilinear", align_corners=True)
            for head, feat in ((self.conv_out16, feat_cp8), (self.conv_out32, feat_cp16))
        ]
        return logits, aux[0], aux[1]


# --- the backend -------------------------------------------------------------------------------


class BiSeNetParser:
    """``parsing.backend: bisenet``: frames → talkgs label maps, with verified weights."""

    def __init__(
        self, store: WeightStore, weight_name: str = "bisenet_face_parsing", device: str = "cpu"
    ) -> None:
        self.device = torch.device(device)
        state = store.load_torch(weight_name)  # sha256-checked, weights_only=True
        path = store.path(weight_name)
        if not isinstance(state, Mapping) or not all(
            isinstance(value, torch.Tensor) for value in state.values()
        ):
            raise TalkgsError(f"{path}: not a state dict of tensors (needed by bisenet)")
        model = BiSeNet(N_CLASSES)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as error:
            # torch's message spans many lines; keep the one-line error contract.
            expected = model.state_dict()
            missing = sorted(set(expected) - set(state))
            unexpected = sorted(set(state) - set(expected))
            detail = (
                f"{len(missing)} missing keys (e.g. {missing[:2]}), "
                f"{len(unexpected)} unexpected (e.g. {unexpected[:2]})"
                if missing or unexpected
                else str(error).strip().splitlines()[-1].strip()
            )
            raise TalkgsError(
                f"{path}: not a face-parsing.PyTorch BiSeNet checkpoint ({detail})"
            ) from error
        self.model = model.to(self.device, torch.float32).eval()

    def _input(self, rgb: np.ndarray) -> torch.Tensor:
        """``[H, W, 3]`` uint8 RGB → ``[1, 3, 512, 512]`` float32, ImageNet-normalised."""
        height, width = rgb.shape[:2]
        if (height, width) != (INPUT_SIZE, INPUT_SIZE):
            # Upstream resizes with PIL's bilinear filter, which widens its support when
            # shrinking (antialiasing); INTER_AREA is OpenCV's antialiased shrink. At talkgs'
            # default ingest size (512) no resize happens, so inputs match upstream exactly.
            shrink = height > INPUT_SIZE or width > INPUT_SIZE
            interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            rgb = cv2.resize(rgb, (INPUT_SIZE, INPUT_SIZE), interpolation=interpolation)
        image = torch.from_numpy(np.ascontiguousarray(rgb)).to(self.device)
        image = image.permute(2, 0, 1).to(torch.float32).div_(255.0)  # [3, 512, 512]
        mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=self.device).view(3, 1, 1)
        return ((image - mean) / std).unsqueeze(0)  # [1, 3, 512, 512]

    def classes(self, rgb: np.ndarray) -> np.ndarray:
        """``[H, W, 3]`` uint8 RGB → ``[H, W]`` uint8 CelebAMask-HQ class indices."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an [H, W, 3] uint8 RGB image, got {rgb.shape} {rgb.dtype}")
        with torch.inference_mode():
            logits = self.model(self._input(rgb))  # [1, 19, 512, 512]
            classes = logits[0].argmax(0).to(torch.uint8).cpu().numpy()  # [512, 512]
        height, width = rgb.shape[:2]
        if classes.shape != (height, width):
            # Argmax at the network's 512 × 512 output, then nearest-neighbour labels back to
            # the frame, as TalkingGaussian's face_parsing/test.py does: the same maps as the
            # reference pipeline, and no [19, H, W] float logits at full frame size.
            classes = cv2.resize(classes, (width, height), interpolation=cv2.INTER_NEAREST)
        return classes

    def parse(self, rgb: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        """``[H, W, 3]`` uint8 RGB → ``[H, W]`` uint8 talkgs label map at the input size.

        ``landmarks`` is accepted for the common backend signature; BiSeNet does not use them.
        """
        del landmarks
        labels = celebamask_to_labels(self.classes(rgb))  # [H, W] uint8
        teeth = teeth_mask(rgb, labels == Label.INNER_MOUTH)
        labels[teeth] = Label.TEETH
        return labels
