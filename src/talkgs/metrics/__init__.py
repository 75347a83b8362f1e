"""Image and video quality metrics: one implementation each, shared by training and evaluation.

Modules: :mod:`~talkgs.metrics.image` (PSNR, SSIM, MS-SSIM), :mod:`~talkgs.metrics.landmark_metrics`
(LMD, AUE-L/U), :mod:`~talkgs.metrics.lpips`, :mod:`~talkgs.metrics.syncnet` (Sync-C/D),
:mod:`~talkgs.metrics.fid`, :mod:`~talkgs.metrics.csim`, :mod:`~talkgs.metrics.cpbd`.

A metric that needs a user's weight file (or an optional package) that is absent is reported as
:class:`NotComputed` with the reason (``null`` in the metrics JSON), never as 0. A file that is
present but wrong (checksum, keys, shapes) is a one-line :class:`~talkgs.errors.TalkgsError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from talkgs.weights import WeightStore, load_state


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


__all__ = ["NotComputed", "absent_weights", "load_state"]
