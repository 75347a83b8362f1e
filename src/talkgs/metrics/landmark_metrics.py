"""Motion metrics from landmarks and action units: LMD and AUE-L / AUE-U per frame, and the lip
motion of a sequence (correlation and amplitude of the mouth opening), all without weights.

**LMD** (Chen et al. 2018, as TalkingGaussian's ``metrics.py`` computes it): the 20 mouth points
(iBUG-68 indices 48–67) of the render and of the ground truth, each set centred on its own mean,
then the mean over the 20 points of the Euclidean distance between corresponding points; the
metric is the mean of that over frames. Both sets must come from the same landmark model
(talkgs: Face Mesh's iBUG-68 subset, :data:`talkgs.face.landmarks.IBUG68`; upstream: FAN).
Distances are in pixels of a :data:`LMD_REFERENCE_SIZE` = 512 px frame, the size the published
numbers were measured at: landmarks measured on ``frame_size``-px frames are scaled by
``512 / frame_size``, so a 128² render and its 128² ground truth report comparable numbers.

**AUE-L / AUE-U** (HM-Talker's metric, which M2DAO-Talker reports alike; ANCHORS.md): the AU
intensities (``AU**_r``, 0–5) of render and ground truth compared over HM-Talker's two groups,
lower face {09, 10, 12, 14, 15, 17, 20, 23, 25, 26} and upper face {01, 02, 04, 05, 06, 07, 45}
(:data:`AUE_LOWER`, :data:`AUE_UPPER`: the same split of the 17 OpenFace AUs as the model's
features, :data:`talkgs.features.openface.LOWER_AUS` / ``UPPER_AUS``). The formula is
TalkingGaussian's ``auerror.py``, the one public implementation: for each AU of a group, the mean
over frames of the squared intensity difference, summed over the group — per frame the sum over
the group of the squared differences, whose mean over frames is the metric. (``auerror.py``
itself files AU09 under the upper face; the seed papers' tables use HM-Talker's split, and so
does talkgs: one definition, here.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from talkgs.face.landmarks import MOUTH68
from talkgs.features.openface import INTENSITY_AUS, LOWER_AUS, UPPER_AUS, AuTable
from talkgs.metrics import NotComputed

LMD_REFERENCE_SIZE = 512
AUE_LOWER = LOWER_AUS  # HM-Talker's lower face, AU09 included
AUE_UPPER = UPPER_AUS


def lmd_per_frame(
    truth: np.ndarray, render: np.ndarray, frame_size: int, reference_size: int = LMD_REFERENCE_SIZE
) -> np.ndarray:
    """``[T]`` mouth landmark distance of each frame, in pixels of a ``reference_size`` frame.

    ``truth`` and ``render`` are ``[T, 68, 2]`` iBUG-68 landmarks in pixels of frames of
    ``frame_size`` px per side (``FaceLandmarks.ibug68``).
    """
    truth, render = np.asarray(truth, np.float64), np.asarray(render, np.float64)
    if truth.shape != render.shape or truth.ndim != 3 or truth.shape[1:] != (68, 2):
        raise ValueError(f"expected two [T, 68, 2] arrays, got {truth.shape} and {render.shape}")
    a, b = truth[:, MOUTH68], render[:, MOUTH68]
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    return np.linalg.norm(a - b, axis=2).mean(axis=1) * (reference_size / frame_size)


def aue_per_frame(truth: AuTable, render: AuTable, aus: Sequence[str]) -> np.ndarray:
    """``[T]`` sum over ``aus`` (e.g. :data:`AUE_LOWER`) of the squared intensity differences."""
    if len(truth) != len(render):
        raise ValueError(f"AU tables differ in length: {len(truth)} and {len(render)} frames")
    columns = [INTENSITY_AUS.index(au) for au in aus]
    difference = truth.intensity[:, columns] - render.intensity[:, columns]
    return (difference**2).sum(axis=1)


# Lip motion without weights (the seed papers' Sync-C needs SyncNet's): the mouth opening of each
# frame is the inner-lip gap (Face Mesh 13–14, 82–87, 312–317, the pairs AU25 reads) over the
# mouth width (outer corners 61–291), both in the image plane; rendered and ground-truth frames go
# through the same Face Mesh at the same size, so the two sequences compare.
INNER_LIP_PAIRS = ((13, 14), (82, 87), (312, 317))
MOUTH_CORNERS = (61, 291)


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """``[T]`` inner-lip gap over mouth width of ``[T, 478, 2|3]`` Face Mesh landmarks."""
    points = np.asarray(landmarks, np.float64)[..., :2]
    gap = np.mean([np.linalg.norm(points[:, a] - points[:, b], axis=-1)
                   for a, b in INNER_LIP_PAIRS], axis=0)  # fmt: skip
    width = np.linalg.norm(points[:, MOUTH_CORNERS[0]] - points[:, MOUTH_CORNERS[1]], axis=-1)
    return gap / np.maximum(width, 1e-9)


def lip_motion(
    truth: np.ndarray, render: np.ndarray
) -> tuple[float | NotComputed, float | NotComputed]:
    """How the rendered mouth opening ``[T]`` follows the recorded one ``[T]``: their Pearson
    correlation, and the amplitude ratio std(render) / std(truth) (1: opens as far; 0: frozen).
    Undefined values are :class:`NotComputed` with the reason, never 0."""
    truth, render = np.asarray(truth, np.float64), np.asarray(render, np.float64)
    if truth.shape != render.shape or truth.ndim != 1:
        raise ValueError(f"expected two [T] sequences, got {truth.shape} and {render.shape}")
    if len(truth) < 3:
        reason = NotComputed(f"{len(truth)} frames: lip motion needs 3 or more")
        return reason, reason
    if truth.std() < 1e-9:
        reason = NotComputed("the recorded mouth does not move in these frames")
        return reason, reason
    amplitude = float(render.std() / truth.std())
    if render.std() < 1e-12:
        return NotComputed("the rendered mouth does not move: no correlation"), amplitude
    return float(np.corrcoef(truth, render)[0, 1]), amplitude
