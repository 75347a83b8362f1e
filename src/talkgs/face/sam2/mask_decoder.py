"""SAM 2's mask decoder: image embedding + prompt tokens → 4 low-res mask logits and IoU scores.

Output token 0 predicts a single mask, tokens 1–3 three alternatives for ambiguous prompts. The
image embedding (stride 16) is upscaled ×4 by two transposed convolutions; with
``use_high_res_features`` the stride-8 and stride-4 backbone maps (already projected by
``conv_s1`` / ``conv_s0`` when the image was encoded) are added on the way up.
"""

from __future__ import annotations

import torch
from torch import nn

from talkgs.face.sam2.layers import MLP, LayerNorm2d
from talkgs.face.sam2.transformer import TwoWayTransformer


class MaskDecoder(nn.Module):
    def __init__(
        self,
        transformer_dim: int = 256,
        num_multimask_outputs: int = 3,
        iou_head_depth: int = 3,
        iou_head_hidden_dim: int = 256,
        use_high_res_features: bool = False,
        iou_prediction_use_sigmoid: bool = False,
        pred_obj_scores: bool = False,
        pred_obj_scores_mlp: bool = False,
        dynamic_multimask_via_stability: bool = False,
        dynamic_multimask_stability_delta: float = 0.05,
        dynamic_multimask_stability_thresh: float = 0.98,
    ) -> None:
        super().__init__()
        dim = transformer_dim
        self.transformer = TwoWayTransformer(2, dim, num_heads=8, mlp_dim=2048)
        self.num_mask_tokens = num_multimask_outputs + 1
        self.iou_token = nn.Embedding(1, dim)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, dim)
        self.pred_obj_scores = pred_obj_scores
        if pred_obj_scores:
            # this token takes part in attention even though the image predictor ignores
            # its score, so it is needed for the masks too
            self.obj_score_token = nn.Embedding(1, dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(dim, dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(dim // 4),
            nn.GELU(),
            nn.ConvTranspose2d(dim // 4, dim // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        self.use_high_res_features = use_high_res_features
        if use_high_res_features:
            self.conv_s0 = nn.Conv2d(dim, dim // 8, kernel_size=1)
            self.conv_s1 = nn.Conv2d(dim, dim // 4, kernel_size=1)
        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP(dim, dim, dim // 8, 3) for _ in range(self.num_mask_tokens)
        )
        self.iou_prediction_head = MLP(
            dim,
            iou_head_hidden_dim,
            self.num_mask_tokens,
            iou_head_depth,
            sigmoid_output=iou_prediction_use_sigmoid,
        )
        if pred_obj_scores:
            self.pred_obj_score_head: nn.Module = (
                MLP(dim, dim, 1, 3) if pred_obj_scores_mlp else nn.Linear(dim, 1)
            )
        self.dynamic_multimask_via_stability = dynamic_multimask_via_stability
        self.stability_delta = dynamic_multimask_stability_delta
        self.stability_thresh = dynamic_multimask_stability_thresh

    def predict_masks(
        self,
        image_embedding: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt: torch.Tensor,
        dense_prompt: torch.Tensor,
        high_res_features: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """All ``[B, 4, 4h, 4w]`` mask logits and ``[B, 4]`` IoU predictions.

        ``image_embedding`` ``[B, C, h, w]`` (one per prompt set), ``image_pe`` ``[1, C, h, w]``,
        ``sparse_prompt`` ``[B, N, C]``, ``dense_prompt`` ``[B, C, h, w]``.
        """
        weights = [self.iou_token.weight, self.mask_tokens.weight]
        if self.pred_obj_scores:
            weights.insert(0, self.obj_score_token.weight)
        first = 1 if self.pred_obj_scores else 0  # index of the IoU token
        output_tokens = torch.cat(weights, dim=0).unsqueeze(0).expand(len(sparse_prompt), -1, -1)
        tokens = torch.cat([output_tokens, sparse_prompt], dim=1)

        src = image_embedding + dense_prompt
        pos = image_pe.expand(len(tokens), -1, -1, -1)
        batch, channels, height, width = src.shape
        hs, src = self.transformer(src, pos, tokens)
        iou_token_out = hs[:, first, :]
        mask_tokens_out = hs[:, first + 1 : first + 1 + self.num_mask_tokens, :]

        src = src.transpose(1, 2).reshape(batch, channels, height, width)
        up1, norm1, act1, up2, act2 = self.output_upscaling
        if self.use_high_res_features:
            if high_res_features is None:
                raise ValueError("this decoder needs the stride-4 and stride-8 features")
            feat_s0, feat_s1 = high_res_features
            upscaled = act1(norm1(up1(src) + feat_s1))
            upscaled = act2(up2(upscaled) + feat_s0)
        else:
            upscaled = act2(up2(act1(norm1(up1(src)))))

        # one dynamic 1×1 "hypernetwork" filter per mask token: [B, 4, C/8]
        hyper_in = torch.stack(
            [mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(self.output_hypernetworks_mlps)],
            dim=1,
        )
        batch, channels, height, width = upscaled.shape
        masks = (hyper_in @ upscaled.view(batch, channels, height * width)).view(
            batch, -1, height, width
        )
        return masks, self.iou_prediction_head(iou_token_out)

    def select(
        self, masks: torch.Tensor, iou: torch.Tensor, multimask_output: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The outputs SAM 2 returns: the 3 alternatives, or one mask (see below)."""
        if multimask_output:
            return masks[:, 1:], iou[:, 1:]
        if self.dynamic_multimask_via_stability and not self.training:
            return self._stable_single_mask(masks, iou)
        return masks[:, :1], iou[:, :1]

    def stability_scores(self, logits: torch.Tensor) -> torch.Tensor:
        """IoU between the masks thresholded at +delta and at -delta, ``[B, K]``."""
        flat = logits.flatten(-2)
        inner = (flat > self.stability_delta).sum(-1).float()
        outer = (flat > -self.stability_delta).sum(-1).float()
        return torch.where(outer > 0, inner / outer, 1.0)

    def _stable_single_mask(
        self, masks: torch.Tensor, iou: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Token 0's mask, unless it is unstable: then the alternative with the best IoU score."""
        rows = torch.arange(len(masks), device=masks.device)
        best = iou[:, 1:].argmax(dim=-1) + 1
        stable = self.stability_scores(masks[:, :1]) >= self.stability_thresh  # [B, 1]
        chosen = torch.where(stable[..., None, None], masks[:, :1], masks[rows, best][:, None])
        scores = torch.where(stable, iou[:, :1], iou[rows, best][:, None])
        return chosen, scores
