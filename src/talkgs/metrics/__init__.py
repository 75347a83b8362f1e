"""Image and video quality metrics: one implementation each, shared by training and evaluation.

Modules: :mod:`~talkgs.metrics.image` (PSNR, SSIM, MS-SSIM), :mod:`~talkgs.metrics.landmark_metrics`
(LMD, AUE-L/U), :mod:`~talkgs.metrics.lpips`, :mod:`~talkgs.metrics.syncnet` (Sync-C/D),
:mod:`~talkgs.metrics.fid`, :mod:`~talkgs.metrics.csim`, :mod:`~talkgs.metrics.cpbd`.

A metric that needs a user's weight file (or an optional package) that is absent is reported as
:class:`NotComputed` with the reason (``null`` in the metrics JSON), never as 0. A file that is
present but wrong (checksum, keys, shapes) is a one-line :class:`~talkgs.errors.TalkgsError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from talkgs.errors import input_error
from talkgs.weights import WeightStore


@dataclass(frozen=True)
class NotComputed:
    """A metric that was not computed, and why (one line, e.g. the absent weight file)."""

    reason: str

    def __str__(self) -> str:
        return f"not computed: {self.reason}"


def absent_weights(store: WeightStore, *names: str) -> NotComputed | None:
    """:class:`NotComputed` naming the first of ``names`` whose file is absent; else None.

    Only absence is a reason not to compute: a present file is verified when it is loaded.
    """
    for name in names:
        spec = store.spec(name)
        path = store.directory / spec.file
        if not path.is_file():
            return NotComputed(
                f"weight file {path} absent (sha256 {spec.sha256}, needed by {spec.used_by}); "
                f"get it from {spec.source}"
            )
    return None


def load_state(
    module: Any,
    state: object,
    path: Path,
    what: str,
    ignored_prefixes: Iterable[str] = (),
) -> None:
    """Load ``state`` into ``module`` with its keys unchanged, or raise one line saying why not.

    Keys under ``ignored_prefixes`` (parts of the checkpoint the metric does not use, e.g.
    AlexNet's classifier) are dropped; BatchNorm ``num_batches_tracked`` counters may be absent
    (checkpoints saved before PyTorch 0.4.1 have none). Every other key must match exactly, in
    name and shape: a missing or unknown key is refused.
    """
    import torch

    if not isinstance(state, Mapping) or not all(isinstance(key, str) for key in state):
        raise input_error(path, f"not a state dict (expected {what})")
    prefixes = tuple(ignored_prefixes)
    used = {key: value for key, value in state.items() if not key.startswith(prefixes)}
    expected = module.state_dict()
    optional = {key for key in expected if key.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(used) - optional)
    unknown = sorted(set(used) - set(expected))
    misshapen = sorted(
        key
        for key in set(used) & set(expected)
        if not isinstance(used[key], torch.Tensor) or used[key].shape != expected[key].shape
    )
    if missing or unknown or misshapen:
        problems = [
            f"{label} {_few(keys)}"
            for label, keys in (
                ("missing keys", missing),
                ("unknown keys", unknown),
                ("wrong shapes", misshapen),
            )
            if keys
        ]
        raise input_error(path, f"not {what} ({'; '.join(problems)})")
    module.load_state_dict(used, strict=False)


def _few(keys: list[str], shown: int = 3) -> str:
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more
