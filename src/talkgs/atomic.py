"""Atomic stage outputs: everything is written under a temporary name and renamed on success.

A stage that fails, or is interrupted, leaves none of its declared outputs behind, so a rerun
(by Snakemake or by hand) never mistakes a half-written artifact for a finished one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from types import TracebackType
from typing import Any


class StagedOutputs:
    """Temporary paths beside each final output, renamed into place when the block succeeds.

    >>> with StagedOutputs(frames_dir, meta_json) as staged:      # doctest: +SKIP
    ...     write_frames(staged[frames_dir]); write_meta(staged[meta_json])

    Outputs are renamed in the order given, so list the one that marks completion (e.g. a
    ``meta.json``) last. On an exception every temporary is removed, and so is any parent
    directory this object created, if it is left empty.
    """

    def __init__(self, *finals: str | Path) -> None:
        self.finals = [Path(p) for p in finals]
        self._temps = {
            final: final.with_name(f".{final.name}.tmp-{os.getpid()}") for final in self.finals
        }
        self._created_dirs: list[Path] = []

    def __getitem__(self, final: str | Path) -> Path:
        return self._temps[Path(final)]

    def __enter__(self) -> StagedOutputs:
        for final in self.finals:
            self._make_parents(final.parent)
            _remove(self._temps[final])  # left over from a killed run with the same pid
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            for final in self.finals:
                temp = self._temps[final]
                if not temp.exists():
                    raise RuntimeError(f"stage did not write its output {final}")
                _remove(final)
                temp.rename(final)
            return
        for temp in self._temps.values():
            _remove(temp)
        for directory in reversed(self._created_dirs):
            with contextlib.suppress(OSError):  # not empty: something else lives there
                directory.rmdir()

    def _make_parents(self, directory: Path) -> None:
        missing = []
        while not directory.exists():
            missing.append(directory)
            directory = directory.parent
        for d in reversed(missing):
            d.mkdir()
            self._created_dirs.append(d)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON through a temporary file and an atomic rename."""
    path = Path(path)
    with StagedOutputs(path) as staged:
        staged[path].write_text(json.dumps(data, indent=2) + "\n")
