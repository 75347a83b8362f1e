"""Densification and pruning: gsplat's ``DefaultStrategy`` with TalkingGaussian's rules.

What :class:`Densifier` changes in gsplat 1.5.3's strategy:

- **prune opacity rises** from ``prune_opa`` to ``prune_opa_final`` over the densification
  window (upstream ``0.05 + 0.25 · it / densify_until_iter``);
- **size limits from ``prune_big_from``** (upstream: after the 3k warm-up), in 3D
  (``prune_scale3d`` × extent) and on screen (largest radius since the last refinement over
  ``prune_scale2d`` of the image side; upstream 20 px at 512²), without gsplat's splitting by
  screen size, which 3DGS does not do;
- **opacity reset that happens**: 1.5.3 tests ``step % reset_every == 0 & step > 0``, which by
  Python's precedence is never true; talkgs resets when ``reset_every > 0`` (upstream: never);
- **no host synchronisation per step**: the running statistics are updated with masked sums
  instead of ``torch.where`` (whose output size the host must wait for).

Clone, split and the ops on parameters and Adam state are gsplat's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from gsplat.strategy import DefaultStrategy
from gsplat.strategy.ops import remove, reset_opa

from talkgs.train.presets import Preset

NEVER = 10**9


@dataclass
class Densifier(DefaultStrategy):
    prune_opa_final: float | None = None
    prune_big_from: int = 0
    opacity_reset_every: int = 0  # 0: never (gsplat's own reset_every is left at NEVER)

    def prune_threshold(self, step: int) -> float:
        if self.prune_opa_final is None:
            return self.prune_opa
        share = min(step / max(self.refine_stop_iter, 1), 1.0)
        return self.prune_opa + (self.prune_opa_final - self.prune_opa) * share

    def step_post_backward(
        self,
        params: Any,
        optimizers: dict[str, torch.optim.Optimizer],
        state: dict[str, Any],
        step: int,
        info: dict[str, Any],
        packed: bool = False,
    ) -> None:
        super().step_post_backward(params, optimizers, state, step, info, packed=packed)
        every = self.opacity_reset_every
        if every > 0 and 0 < step < self.refine_stop_iter and step % every == 0:
            reset_opa(params, optimizers, state, value=self.prune_opa * 2.0)

    def _update_state(
        self, params: Any, state: dict[str, Any], info: dict[str, Any], packed: bool = False
    ) -> None:
        if packed:
            raise ValueError("talkgs renders unpacked")
        grads = info[self.key_for_gradient].grad  # [C, N, 2] pixels → NDC, as gsplat does
        cameras = info["n_cameras"]
        ndc = torch.stack(
            [grads[..., 0] * (info["width"] / 2.0 * cameras),
             grads[..., 1] * (info["height"] / 2.0 * cameras)], -1,
        )  # fmt: skip
        visible = (info["radii"] > 0).all(dim=-1)  # [C, N]
        count = len(params["means"])
        for key in ("grad2d", "count", "radii"):
            if state.get(key) is None and (key != "radii" or self.prune_scale2d > 0):
                state[key] = torch.zeros(count, device=grads.device)
        state["grad2d"] += (ndc.norm(dim=-1) * visible).sum(0)
        state["count"] += visible.sum(0)
        if self.prune_scale2d > 0:
            radii = info["radii"].max(dim=-1).values / float(max(info["width"], info["height"]))
            state["radii"] = torch.maximum(state["radii"], (radii * visible).max(0).values)

    @torch.no_grad()
    def _prune_gs(
        self, params: Any, optimizers: dict[str, torch.optim.Optimizer], state: dict[str, Any],
        step: int,
    ) -> int:  # fmt: skip
        prune = torch.sigmoid(params["opacities"].flatten()) < self.prune_threshold(step)
        if step > self.prune_big_from:
            size = torch.exp(params["scales"]).max(dim=-1).values
            prune |= size > self.prune_scale3d * state["scene_scale"]
            if self.prune_scale2d > 0:
                prune |= state["radii"] > self.prune_scale2d
        count = int(prune.sum())
        if count > 0:
            remove(params=params, optimizers=optimizers, state=state, mask=prune)
        if "radii" in state and state["radii"] is not None:
            state["radii"].zero_()
        return count


def densifier(preset: Preset, branch: str) -> Densifier:
    """The strategy of one branch (``face`` or ``mouth``) under ``preset``."""
    return Densifier(
        refine_start_iter=preset.refine_start,
        refine_stop_iter=preset.refine_stop_face if branch == "face" else preset.refine_stop_mouth,
        refine_every=preset.refine_every,
        reset_every=NEVER,
        opacity_reset_every=preset.reset_every,
        grow_grad2d=preset.grow_grad2d_face if branch == "face" else preset.grow_grad2d_mouth,
        grow_scale3d=preset.grow_scale3d,
        prune_opa=preset.prune_opa,
        prune_opa_final=preset.prune_opa_final,
        prune_big_from=preset.prune_big_from,
        prune_scale3d=preset.prune_scale3d,
        prune_scale2d=preset.prune_scale2d,
        # gsplat uses refine_scale2d_stop_iter both to track radii and to split by screen size;
        # talkgs tracks radii itself (above) and never splits by screen size.
        refine_scale2d_stop_iter=0,
        absgrad=False,
        verbose=False,
    )
