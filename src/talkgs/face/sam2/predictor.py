"""Point-prompted SAM 2 on single images, loading the official checkpoints through the store.

Follows ``sam2/sam2_image_predictor.py`` with ``build_sam2``'s defaults (mask threshold 0, no
hole filling or sprinkle removal, dynamic multimask fallback on), without torchvision:

- ``set_image``: ``[H, W, 3]`` uint8 → float in [0, 1] → bilinear resize to ``image_size``²
  with antialiasing (torchvision ≥ 0.17 ``Resize`` on tensors, which sam2 ≥ 1.0 requires, is
  ``F.interpolate(..., mode="bilinear", align_corners=False, antialias=True)``) → ImageNet
  mean/std → image encoder; the aspect ratio is not kept, exactly as in the original;
- ``predict``: pixel points → normalised by the input width/height → × ``image_size`` → prompt
  encoder and mask decoder → low-res logits bilinearly upsampled to the input size → ``> 0``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from talkgs.face.sam2.config import load_config
from talkgs.face.sam2.model import ImageFeatures, Sam2ImageModel, load_checkpoint
from talkgs.face.sam2.prompts import portrait_prompts
from talkgs.weights import WeightStore

__all__ = ["Sam2ImagePredictor", "portrait_prompts"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MASK_THRESHOLD = 0.0


class Sam2ImagePredictor:
    """SAM 2 image predictor: embed an image once, then segment it for any point prompts."""

    def __init__(
        self,
        store: WeightStore,
        weight_name: str = "sam2_hiera_tiny",
        config_file: str = "sam2.1_hiera_t.yaml",
        device: str = "cpu",
    ) -> None:
        checkpoint_path = store.path(weight_name)  # verify the file before anything else
        config_path = store.directory / config_file
        self.config = load_config(config_path)
        model = Sam2ImageModel(self.config)
        load_checkpoint(model, store.load_torch(weight_name), checkpoint_path, config_path)
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self._features: ImageFeatures | None = None
        self._image_hw: tuple[int, int] | None = None

    def transform(self, rgb: np.ndarray) -> torch.Tensor:
        """``[H, W, 3]`` uint8 RGB → ``[1, 3, S, S]`` float32 model input (SAM2Transforms)."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an [H, W, 3] uint8 RGB image, got {rgb.shape} {rgb.dtype}")
        image = torch.from_numpy(np.ascontiguousarray(rgb)).to(self.device)
        image = image.permute(2, 0, 1)[None].to(torch.float32).div(255)  # ToTensor
        size = self.config.image_size
        if image.shape[-2:] != (size, size):  # torchvision's resize returns equal sizes as is
            image = F.interpolate(
                image, size=(size, size), mode="bilinear", align_corners=False, antialias=True
            )
        mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
        return (image - mean) / std

    @torch.inference_mode()
    def set_image(self, rgb: np.ndarray) -> None:
        """Compute and keep the image embedding of ``rgb`` (``[H, W, 3]`` uint8 RGB)."""
        self._features = self.model.encode(self.transform(rgb))
        self._image_hw = (rgb.shape[0], rgb.shape[1])

    @torch.inference_mode()
    def predict(
        self, points: np.ndarray, point_labels: np.ndarray, multimask_output: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Masks ``[K, H, W]`` bool at the input size and IoU scores ``[K]`` float32.

        ``points`` ``[N, 2]`` pixel x, y in the image given to :meth:`set_image`;
        ``point_labels`` ``[N]``, 1 foreground, 0 background. ``K`` is 3 with
        ``multimask_output``, else 1: the single-mask token's mask, or (SAM 2's dynamic
        fallback) the best-scored of the three when that mask is unstable.
        """
        if self._features is None or self._image_hw is None:
            raise RuntimeError("call set_image before predict")
        points = np.asarray(points, dtype=np.float32)
        labels = np.asarray(point_labels)
        if points.ndim != 2 or points.shape[1] != 2 or labels.shape != (len(points),):
            raise ValueError(
                f"expected [N, 2] points and [N] labels, got {points.shape}, {labels.shape}"
            )
        height, width = self._image_hw
        coords = torch.from_numpy(points).to(self.device).clone()  # [N, 2]
        coords[:, 0] = coords[:, 0] / width
        coords[:, 1] = coords[:, 1] / height
        coords = coords * self.config.image_size  # pixels of the model's square input
        label_tensor = torch.as_tensor(labels, dtype=torch.int32, device=self.device)
        low_res, iou = self.model.decode(
            self._features, coords[None], label_tensor[None], multimask_output
        )
        logits = F.interpolate(
            low_res.float(), size=(height, width), mode="bilinear", align_corners=False
        )
        masks = (logits > MASK_THRESHOLD)[0].cpu().numpy()
        return masks, iou[0].float().cpu().numpy()
