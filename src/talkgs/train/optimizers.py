"""The optimizers of one training stage, built in one place (also when resuming).

- Gaussians: one Adam per parameter of each branch (``eps`` 1e-15, as 3DGS), the form gsplat's
  densification strategies expect (they resize a parameter together with its Adam state);
- motion networks: one AdamW with TalkingGaussian's parameter groups — position encoders
  (``lr_grid``), the audio encoder's attention over the frame window (``lr_attention``), every
  other layer (``lr_network``) — each with its own weight decay.

:meth:`Optimizers.set_iteration` applies the schedules (:mod:`talkgs.train.schedule`) before a
step; each group keeps its base rate under ``base_lr``, so a resumed stage recomputes the
same rates.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from talkgs.train.model import TalkingHead
from talkgs.train.presets import Preset
from talkgs.train.schedule import means_lr_factor, network_lr_factor

BRANCHES = ("face", "mouth")


def network_groups(model: TalkingHead, preset: Preset) -> list[dict[str, Any]]:
    """The motion networks' parameters in TalkingGaussian's groups."""
    grids, attention, rest = [], [], []
    for name, parameter in model.named_parameters():
        if name.split(".")[0] in BRANCHES:
            continue  # the Gaussians themselves
        if ".triplane." in name or ".encoding." in name:  # position encoders
            grids.append(parameter)
        elif ".audio.attention" in name:  # AudioEncoder.attention_convs / .attention
            attention.append(parameter)
        else:
            rest.append(parameter)
    specs = [
        ("grid", grids, preset.lr_grid, preset.weight_decay_grid),
        ("attention", attention, preset.lr_attention, preset.weight_decay_attention),
        ("network", rest, preset.lr_network, 0.0),
    ]
    return [
        {"name": name, "params": params, "lr": lr, "base_lr": lr, "weight_decay": decay}
        for name, params, lr, decay in specs
        if params
    ]


class Optimizers:
    def __init__(
        self,
        model: TalkingHead,
        preset: Preset,
        stage: str,
        total: int,
        scene_scales: dict[str, float],
        extra_rates: dict[str, float] | None = None,
    ) -> None:
        extra_rates = extra_rates or {}
        self.preset = preset
        self.total = total  # the stage's length, for the network schedule
        self.gaussians: dict[str, dict[str, torch.optim.Optimizer]] = {}
        for branch in BRANCHES:
            field = getattr(model, branch)
            branch_rates = {
                "means": preset.lr_means * scene_scales[branch],  # × extent, as 3DGS
                "scales": preset.lr_scales,
                "quats": preset.lr_quats,
                "opacities": preset.lr_opacities,
                "colors": preset.lr_colors,
            }
            if branch == "face" and stage == "fuse" and preset.lr_fuse_opacities is not None:
                branch_rates["opacities"] = preset.lr_fuse_opacities
            if branch == "face":  # the family's own per-Gaussian parameters
                branch_rates.update(extra_rates)
            self.gaussians[branch] = {
                key: torch.optim.Adam(
                    [{"params": [field.params[key]], "lr": rate, "base_lr": rate}], eps=1e-15
                )
                for key, rate in branch_rates.items()
            }
        self.network = torch.optim.AdamW(
            network_groups(model, preset), betas=preset.network_betas, eps=1e-8
        )

    def set_iteration(self, iteration: int) -> None:
        """Learning rates of ``iteration`` (position decay, network decay)."""
        means = means_lr_factor(self.preset, iteration)
        for branch in BRANCHES:
            group = self.gaussians[branch]["means"].param_groups[0]
            group["lr"] = group["base_lr"] * means
        network = network_lr_factor(self.preset, iteration, self.total)
        for group in self.network.param_groups:
            group["lr"] = group["base_lr"] * network

    def zero_grad(self) -> None:
        self.network.zero_grad(set_to_none=True)
        for branch in self.gaussians.values():
            for optimizer in branch.values():
                optimizer.zero_grad(set_to_none=True)

    def step(self) -> None:
        """Every optimizer steps; parameters frozen by the phase have no gradient, so Adam
        leaves them (and their moments) alone."""
        for branch in self.gaussians.values():
            for optimizer in branch.values():
                optimizer.step()
        self.network.step()

    def state_dict(self) -> dict[str, Any]:
        return {
            "network": self.network.state_dict(),
            "gaussians": {
                branch: {key: o.state_dict() for key, o in optimizers.items()}
                for branch, optimizers in self.gaussians.items()
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.network.load_state_dict(state["network"])
        for branch, optimizers in state["gaussians"].items():
            for key, optimizer_state in optimizers.items():
                self.gaussians[branch][key].load_state_dict(optimizer_state)


def freeze_for(model: nn.Module, trains: Any) -> None:
    """``requires_grad`` of every parameter as the phase says (``trains.trains_parameter``)."""
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(trains.trains_parameter(name))
