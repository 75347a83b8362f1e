"""SAM's prompt encoder: points (and optionally a low-res mask) → decoder prompt tokens.

Points are encoded with random Fourier features of their position normalised by the model's
input size, plus a learned embedding per label: 0 background, 1 foreground, 2/3 box corners,
-1 "not a point" (padding). The same random features evaluated on the centres of the
64×64 embedding grid give the dense positional encoding of the image tokens.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from talkgs.face.sam2.layers import LayerNorm2d


class PositionEmbeddingRandom(nn.Module):
    """Random spatial frequencies: ``[..., 2]`` coordinates in ``[0, 1]`` → ``[..., 2·F]``."""

    def __init__(self, num_pos_feats: int = 64) -> None:
        super().__init__()
        # A persistent buffer: the checkpoint stores the frequencies SAM was trained with.
        self.register_buffer("positional_encoding_gaussian_matrix", torch.randn(2, num_pos_feats))

    def encode(self, unit_coords: torch.Tensor) -> torch.Tensor:
        centred = 2 * unit_coords - 1
        angles = 2 * math.pi * (centred @ self.positional_encoding_gaussian_matrix)
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)

    def grid(self, height: int, width: int) -> torch.Tensor:
        """``[2·F, H, W]``: the encoding of every cell centre of an ``H × W`` grid."""
        device = self.positional_encoding_gaussian_matrix.device
        ys = (torch.arange(height, dtype=torch.float32, device=device) + 0.5) / height
        xs = (torch.arange(width, dtype=torch.float32, device=device) + 0.5) / width
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        return self.encode(torch.stack([grid_x, grid_y], dim=-1)).permute(2, 0, 1)

    def encode_pixels(self, coords: torch.Tensor, image_hw: tuple[int, int]) -> torch.Tensor:
        """``[B, N, 2]`` x, y in pixels of an ``image_hw`` image → ``[B, N, 2·F]``."""
        scale = torch.tensor([image_hw[1], image_hw[0]], dtype=torch.float32, device=coords.device)
        return self.encode(coords.to(torch.float32) / scale)


class PromptEncoder(nn.Module):
    def __init__(
        self,
        embed_dim: int,
        image_embedding_size: tuple[int, int],
        input_image_size: tuple[int, int],
        mask_in_chans: int = 16,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.image_embedding_size = image_embedding_size
        self.input_image_size = input_image_size
        self.pe_layer = PositionEmbeddingRandom(embed_dim // 2)
        # 0: background point, 1: foreground point, 2/3: box top-left / bottom-right corner
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, embed_dim) for _ in range(4))
        self.not_a_point_embed = nn.Embedding(1, embed_dim)
        self.mask_input_size = (4 * image_embedding_size[0], 4 * image_embedding_size[1])
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_in_chans // 4, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans // 4),
            nn.GELU(),
            nn.Conv2d(mask_in_chans // 4, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans),
            nn.GELU(),
            nn.Conv2d(mask_in_chans, embed_dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, embed_dim)

    def dense_pe(self) -> torch.Tensor:
        """``[1, C, h, w]`` positional encoding of the image embedding grid."""
        return self.pe_layer.grid(*self.image_embedding_size).unsqueeze(0)

    def embed_points(self, points: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
        """``[B, N, 2]`` model-input pixel coords, ``[B, N]`` labels → ``[B, N(+1), C]``."""
        points = points + 0.5  # pixel index → pixel centre
        if pad:
            # without a box SAM appends one "not a point" token, as in training
            batch = points.shape[0]
            points = torch.cat([points, points.new_zeros(batch, 1, 2)], dim=1)
            labels = torch.cat([labels, labels.new_full((batch, 1), -1)], dim=1)
        embedding = self.pe_layer.encode_pixels(points, self.input_image_size)
        labels = labels[..., None]
        embedding = torch.where(labels == -1, self.not_a_point_embed.weight, embedding)
        for label, learned in enumerate(self.point_embeddings):
            embedding = torch.where(labels == label, embedding + learned.weight, embedding)
        return embedding

    def forward(
        self,
        points: tuple[torch.Tensor, torch.Tensor] | None,
        masks: torch.Tensor | None = None,
        pad: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sparse ``[B, N, C]`` and dense ``[B, C, h, w]`` prompt embeddings."""
        batch = points[0].shape[0] if points is not None else 1 if masks is None else len(masks)
        device = self.no_mask_embed.weight.device
        sparse = torch.empty(batch, 0, self.embed_dim, device=device)
        if points is not None:
            sparse = torch.cat([sparse, self.embed_points(points[0], points[1], pad)], dim=1)
        if masks is not None:
            dense = self.mask_downscaling(masks)
        else:
            dense = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(
                batch, -1, *self.image_embedding_size
            )
        return sparse, dense
