"""Talk2Me's expression vector: one row per frame of action-unit intensities and the eye aspect
ratio (paper §4.2.1: "e, augmented with EAR for ocular details").

The AU intensities (``au.csv``, OpenFace's 0–5) are scaled to [0, 1], the blink AU45 clipped
to 0–2 first, as TalkingGaussian feeds them; the EAR (``eyes.csv``) is divided by the
identity's open-eye EAR (its median), so that 1 is an open eye and 0 a shut one, whoever
the speaker. Talk2Me's avatar is deformed by this vector, and its Expression Generator
predicts it from audio.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from talkgs.errors import input_error
from talkgs.features import eyes
from talkgs.features.openface import INTENSITY_AUS
from talkgs.features.openface import read_csv as read_au_csv

EXPRESSION_NAMES = (*(f"AU{au}" for au in INTENSITY_AUS), "EAR")
# the columns of the eyes (lids and blink): what eq. 11 weights higher
EYE_COLUMNS = tuple(EXPRESSION_NAMES.index(name) for name in ("AU05", "AU07", "AU45", "EAR"))
# the mouth opening (lips part, jaw drop)
MOUTH_OPENING_COLUMNS = (EXPRESSION_NAMES.index("AU25"), EXPRESSION_NAMES.index("AU26"))


def scaled_intensities(intensity: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """``[T, len(names)]`` of the ``[T, 17]`` OpenFace intensities (columns
    :data:`INTENSITY_AUS`), scaled to [0, 1]; AU45 clipped to 0–2 first (TalkingGaussian)."""
    columns = [INTENSITY_AUS.index(name) for name in names]
    values = intensity[:, columns] / 5.0
    if "45" in names:
        values[:, names.index("45")] = np.clip(intensity[:, INTENSITY_AUS.index("45")], 0, 2) / 2
    return values


def expression_table(au_csv: str | Path, eyes_csv: str | Path, count: int) -> np.ndarray:
    """``[count, len(EXPRESSION_NAMES)]`` float32 expression vectors of an identity's frames."""
    au = read_au_csv(au_csv, count).intensity.astype(np.float64)
    try:
        ear = eyes.read_csv(eyes_csv)["ear"]
    except (OSError, ValueError, IndexError) as error:
        raise input_error(eyes_csv, f"cannot read the eye aspect ratios ({error})") from error
    if len(ear) != count:
        raise input_error(eyes_csv, f"{len(ear)} rows for {count} frames")
    open_eye = float(np.median(ear))
    if not open_eye > 0:
        raise input_error(eyes_csv, "no open eye (median eye aspect ratio is 0)")
    table = np.concatenate(
        [scaled_intensities(au, INTENSITY_AUS), (ear / open_eye)[:, None]], axis=1
    )
    return table.astype(np.float32)
