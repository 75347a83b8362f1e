"""Logging and progress bars for stages.

A stage logs through ``logging.getLogger("talkgs.<stage>")`` and wraps long loops in
:func:`progress`. The CLI points both at the rule's log file (``--log``), so a Snakemake log
shows the progress and the closing one-line summary; without ``--log`` they go to stderr.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from typing import IO, TypeVar

from tqdm import tqdm

T = TypeVar("T")


class _CurrentStderr:
    """Whatever ``sys.stderr`` is when written to (it may be swapped after configure)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


_stream: IO[str] | _CurrentStderr = _CurrentStderr()


def configure(log_file: IO[str] | None) -> None:
    """Send talkgs logging and progress bars to ``log_file`` (stderr when None)."""
    global _stream
    _stream = log_file if log_file is not None else _CurrentStderr()
    root = logging.getLogger("talkgs")
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(_stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False


def progress(iterable: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
    """A tqdm bar on the stage's log stream; updates at most twice a second in a log file."""
    interactive = _stream.isatty()
    return iter(
        tqdm(
            iterable,
            desc=desc,
            total=total,
            file=_stream,
            mininterval=0.1 if interactive else 0.5,
            dynamic_ncols=interactive,
            ascii=not interactive,
        )
    )
