"""Checkpoints of a running stage: everything needed to continue as if never stopped.

Written every ``checkpoint_every`` iterations and when SLURM signals the job, under a temporary
name and renamed (a kill mid-write leaves the previous checkpoint). Besides model, optimizers
and densification state they hold the random states the loop draws from — the host's and the
CUDA device's (gsplat's split and HM-Talker's audio mask draw there) — so that a resumed run
ends at the same model as an uninterrupted one. They load on the job's device, whatever
device wrote them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger("talkgs.train")

CHECKPOINT_FORMAT = "talkgs-checkpoint/2"


def random_states(device: torch.device) -> dict[str, Any]:
    """The host's and the device's default random states (the loop's own draws are fixed up
    front by the seed: :func:`talkgs.train.schedule.draws`)."""
    states: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def restore_random_states(states: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(states["torch"].cpu())
    if device.type == "cuda" and "cuda" in states:
        torch.cuda.set_rng_state(states["cuda"].cpu(), device)


def save(path: Path, blob: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    torch.save({"format": CHECKPOINT_FORMAT, **blob}, temp)
    temp.replace(path)


def load(path: Path | None, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint at ``path``, on the host, or None (absent, cut off by a kill, or written
    for other ``settings``: each said in the log). The trainer moves what it restores to its
    device (optimizers move their state to their parameters' device themselves)."""
    if path is None or not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a checkpoint cut off by a kill: start over, say so
        log.warning(
            "%s: unreadable checkpoint (%s); starting from scratch",
            path,
            str(error).splitlines()[0],
        )
        return None
    if blob.get("format") != CHECKPOINT_FORMAT or blob.get("method") != settings:
        log.info("%s: checkpoint of other settings; starting from scratch", path)
        return None
    return blob
