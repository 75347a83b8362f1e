"""Array files that are byte-for-byte reproducible.

``np.savez`` stamps each zip entry with the time of writing, so the same arrays give different
bytes on every run; Snakemake and users comparing artifacts want the same input to give the
same file. :func:`write_npz` writes what ``np.load`` reads, with fixed timestamps.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np


def write_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """An uncompressed ``.npz`` that ``np.load`` reads, with fixed zip timestamps."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            # np.require, not np.ascontiguousarray, which turns a 0-d scalar into shape (1,)
            np.lib.format.write_array(
                buffer, np.require(array, requirements="C"), allow_pickle=False
            )
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, buffer.getvalue())
