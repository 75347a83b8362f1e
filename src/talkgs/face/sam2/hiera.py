"""The Hiera image trunk of SAM 2 (hierarchical ViT with windowed and global attention).

Tokens are kept as ``[B, H, W, C]`` maps. The patch embedding makes stride-4 tokens; each later
stage starts with a block that max-pools its queries 2×2 (halving H and W, doubling the
channels and heads), so the four stage outputs have strides 4, 8, 16 and 32. Blocks attend
within non-overlapping windows except the ``global_att_blocks``, which attend over the whole
map. The first block of a stage still partitions with the previous stage's window size, then
un-partitions with that size halved by the pooling (as the original does).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from talkgs.face.sam2.config import HieraConfig
from talkgs.face.sam2.layers import MLP


def partition_windows(x: torch.Tensor, size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """``[B, H, W, C]`` → ``[B·windows, size, size, C]`` (zero-padded bottom/right), padded H, W."""
    batch, height, width, channels = x.shape
    pad_h, pad_w = -height % size, -width % size
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    rows, cols = (height + pad_h) // size, (width + pad_w) // size
    x = x.view(batch, rows, size, cols, size, channels).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, size, size, channels), (rows * size, cols * size)


def merge_windows(
    windows: torch.Tensor, size: int, padded_hw: tuple[int, int], hw: tuple[int, int]
) -> torch.Tensor:
    """Inverse of :func:`partition_windows`: ``[B·nWindows, size, size, C]`` → ``[B, H, W, C]``."""
    rows, cols = padded_hw[0] // size, padded_hw[1] // size
    batch = windows.shape[0] // (rows * cols)
    x = windows.reshape(batch, rows, cols, size, size, -1).permute(0, 1, 3, 2, 4, 5)
    x = x.reshape(batch, rows * size, cols * size, -1)
    return x[:, : hw[0], : hw[1]]


def pool_map(x: torch.Tensor, pool: nn.Module) -> torch.Tensor:
    """Apply a 2-D pooling to a channels-last ``[B, H, W, C]`` map."""
    return pool(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class PatchEmbed(nn.Module):
    """7×7 stride-4 convolution: ``[B, 3, S, S]`` image → ``[B, S/4, S/4, C]`` tokens."""

    def __init__(self, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=7, stride=4, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)


class MultiScaleAttention(nn.Module):
    """Multi-head self-attention whose queries are optionally pooled (the stage transition)."""

    def __init__(self, dim: int, dim_out: int, num_heads: int, q_pool: nn.Module | None) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q_pool = q_pool
        self.qkv = nn.Linear(dim, dim_out * 3)
        self.proj = nn.Linear(dim_out, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, height, width, _ = x.shape
        # [B, H·W, 3, heads, C/heads] → q, k, v each [B, H·W, heads, C/heads]
        q, k, v = self.qkv(x).reshape(batch, height * width, 3, self.num_heads, -1).unbind(2)
        if self.q_pool is not None:
            pooled = pool_map(q.reshape(batch, height, width, -1), self.q_pool)
            height, width = pooled.shape[1:3]
            q = pooled.reshape(batch, height * width, self.num_heads, -1)
        out = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        )
        return self.proj(out.transpose(1, 2).reshape(batch, height, width, -1))


class MultiScaleBlock(nn.Module):
    def __init__(
        self,
        dim: int,
        dim_out: int,
        num_heads: int,
        window_size: int,
        q_stride: tuple[int, int] | None,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        self.dim, self.dim_out = dim, dim_out
        self.window_size = window_size  # 0: global attention
        self.q_stride = q_stride
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        # MaxPool2d has no parameters, so sharing it with the attention adds no checkpoint keys.
        self.pool = nn.MaxPool2d(q_stride, stride=q_stride) if q_stride else None
        self.attn = MultiScaleAttention(dim, dim_out, num_heads, self.pool)
        self.norm2 = nn.LayerNorm(dim_out, eps=1e-6)
        self.mlp = MLP(dim_out, int(dim_out * mlp_ratio), dim_out, 2, activation=nn.GELU)
        if dim != dim_out:
            self.proj = nn.Linear(dim, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.norm1(x)
        if self.dim != self.dim_out:
            # the residual path is projected from the *normalised* tokens, then pooled
            shortcut = self.proj(x)
            if self.pool is not None:
                shortcut = pool_map(shortcut, self.pool)

        size = self.window_size
        height, width = x.shape[1:3]
        if size > 0:
            x, padded_hw = partition_windows(x, size)
        x = self.attn(x)
        if self.q_stride:
            # queries were pooled inside each window: smaller windows on a smaller map
            size = self.window_size // self.q_stride[0]
            height, width = shortcut.shape[1:3]
            if size > 0:
                padded_hw = (height + -height % size, width + -width % size)
        if self.window_size > 0:
            x = merge_windows(x, size, padded_hw, (height, width))

        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class Hiera(nn.Module):
    """``[B, 3, S, S]`` → one ``[B, C_i, S/s_i, S/s_i]`` map per stage (strides 4, 8, 16, 32)."""

    def __init__(self, config: HieraConfig) -> None:
        super().__init__()
        stage_ends = [sum(config.stages[: i + 1]) - 1 for i in range(len(config.stages))]
        pooled_blocks = [end + 1 for end in stage_ends[:-1]][: config.q_pool]
        self.stage_ends = stage_ends
        self.patch_embed = PatchEmbed(config.embed_dim)
        # Windowed positional embedding (Bolya et al. 2023): a coarse background embedding
        # resized to the token map plus one window-sized embedding tiled over it.
        self.pos_embed = nn.Parameter(
            torch.zeros(1, config.embed_dim, *config.window_pos_embed_bkg_spatial_size)
        )
        first_window = config.window_spec[0]
        self.pos_embed_window = nn.Parameter(
            torch.zeros(1, config.embed_dim, first_window, first_window)
        )

        self.blocks = nn.ModuleList()
        dim, heads, stage = config.embed_dim, config.num_heads, 0
        for index in range(sum(config.stages)):
            # the window size lags one block behind the stage change (see module docstring)
            window = 0 if index in config.global_att_blocks else config.window_spec[stage]
            dim_out = dim
            if index - 1 in stage_ends:
                dim_out = int(dim * config.dim_mul)
                heads = int(heads * config.head_mul)
                stage += 1
            q_stride = config.q_stride if index in pooled_blocks else None
            self.blocks.append(MultiScaleBlock(dim, dim_out, heads, window, q_stride))
            dim = dim_out

    def position_embedding(self, hw: tuple[int, int]) -> torch.Tensor:
        """``[1, H, W, C]``: bicubic-resized background embedding + tiled window embedding."""
        background = F.interpolate(self.pos_embed, size=hw, mode="bicubic")
        window = self.pos_embed_window
        tiles = (hw[0] // window.shape[-2], hw[1] // window.shape[-1])
        return (background + window.tile(1, 1, *tiles)).permute(0, 2, 3, 1)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        x = self.patch_embed(image)  # [B, S/4, S/4, C]
        x = x + self.position_embedding((x.shape[1], x.shape[2]))
        outputs = []
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in self.stage_ends:
                outputs.append(x.permute(0, 3, 1, 2))
        return outputs
