"""The au stage: facial action units per frame → ``au.csv`` in OpenFace FeatureExtraction format.

TalkingGaussian reads ``au.csv`` by row (row t = frame t): AU45_r for blinks, AU25_r, and
AU01/04/05/06/07/45 as expression features; HM-Talker uses all 17 AUs, split into upper
{01, 02, 04, 05, 06, 07, 45} and lower {09, 10, 12, 14, 15, 17, 20, 23, 25, 26}. The format and
its header styles are in :mod:`talkgs.features.openface`. Backends (``au.backend``):

- ``landmarks`` (default, offline): geometric estimates from the Face Mesh landmarks (below);
- ``openface``: a CSV the user made with OpenFace FeatureExtraction on this identity's frames
  (``au.openface_csv: {identity: path}``), checked (columns, one row per frame) and rewritten;
- ``pyfeat``: not available on this machine (:func:`pyfeat_unavailable` says why).

**The landmarks backend.** Each frame's 468 Face Mesh points (3D: x, y and Face Mesh's relative
depth z, one pixel scale) are aligned by a similarity transform (Umeyama) onto the identity's
canonical face (:func:`talkgs.pose.shape.canonical_face`: frontal, x to the face's left, y down,
z into the head), fitted on its rigid landmarks above the middle of the nose (forehead, temples,
nose bridge; :func:`alignment_points`). Head pose and distance to the camera are gone from the
aligned points; they are measured in face widths (Face Mesh 234–454). Every measurement below is
taken relative to its median over the identity's neutral frames (``neutral.json``,
:mod:`talkgs.features.neutral`), and its change ``Δ`` maps linearly onto OpenFace's 0–5 scale:
``AU_r = 5 · clip(Δ / full, 0, 1)``, ``full`` the change at the top of the scale ("E").
``AU_c = 1`` where ``AU_r ≥`` :attr:`AuParams.presence_threshold` (1.0, FACS "A"/trace level).
"R/L" pairs are the subject's right and left side, averaged; "up" is towards the forehead.

====  ====================  =====================================================  ==========
AU    name                  measured from (Face Mesh indices)                      full
====  ====================  =====================================================  ==========
01    inner brow raiser     inner brow (107, 66, 55, 65 / 336, 296, 285, 295)      0.05 fw
                            height above the inner eye corner (133 / 362)
02    outer brow raiser     outer brow (70, 63, 46, 53 / 300, 293, 276, 283)       0.05 fw
                            height above the outer eye corner (33 / 263)
04    brow lowerer          brows lowered (−mean Δ of 01 and 02) /0.04 fw plus     1
                            inner brows drawn together (107–336, 55–285) /0.03 fw
05    upper lid raiser      upper lid (159, 158, 160 / 386, 385, 387) height       0.02 fw
                            above the eye corners
06    cheek raiser          cheek (50, 101, 205 / 280, 330, 425) height            0.03 fw
07    lid tightener         lower lid (145, 144, 153 / 374, 380, 373) height       0.015 fw
                            above the eye corners
09    nose wrinkler         nose wings (98, 64, 48, 129 / 327, 294, 278, 358)      0.03 fw
                            height
10    upper lip raiser      upper lip (0, 37, 267) height                          0.04 fw
12    lip corner puller     corner (61 / 291) height, plus half the mouth's         0.05 fw
                            widening (61–291)
14    dimpler               corners (61, 291) drawn back: depth behind the lip     0.05 fw
                            centres (0, 17)
15    lip corner depressor  corner (61 / 291) fall                                 0.04 fw
17    chin raiser           lower lip (17) to chin (152) height shrinking, less    0.04 fw
                            the part the mouth opening explains (below)
20    lip stretcher         mouth half-width (61–291) growth, less any corner      0.04 fw
                            rise
23    lip tightener         red lip thickness (0–13 plus 14–17) shrinking,         0.5
                            relative to neutral
25    lips part             inner-lip gap (13–14, 82–87, 312–317)                  0.12 fw
26    jaw drop              chin (152) descent                                     0.15 fw
45    blink                 eye closure 1 − EAR / open EAR                         1
                            (:mod:`talkgs.features.eyes`)
28    lip suck (_c only)    red lip thickness below 30 % of neutral                —
====  ====================  =====================================================  ==========

"fw" = face widths. Face Mesh moves the chin less than the lower lip when the jaw opens (about half
as far, on the demo and on real speech), so the lower lip–chin height shrinks with every opening;
AU17 takes only the part of that shrinking which a straight line through the identity's (lip gap,
lip–chin height) pairs does not explain. The scale factors are set by anatomy (how far a feature
moves at full intensity), not fitted to OpenFace, so the intensities are comparable in time and
across identities but only roughly to OpenFace's. On the demo, AU45 finds the blinks and AU25/AU26
follow the mouth opening (tests/test_au.py). The demo moves only jaw, lips and lids, yet Face Mesh
moves its cheeks, nose wings and brows a little with the mouth, so AU04/06/09 reach 2–3 there:
the cross-talk of this backend. ``confidence`` and ``success`` are 1 where Face Mesh found the face
and 0 where the landmarks were interpolated (their AUs are interpolated too).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from talkgs.atomic import StagedOutputs
from talkgs.errors import TalkgsError, input_error
from talkgs.face import landmarks as face_landmarks
from talkgs.features import neutral as neutral_frames
from talkgs.features import openface
from talkgs.features.eyes import EyesParams, eye_state
from talkgs.features.openface import INTENSITY_AUS, LOWER_AUS, PRESENCE_AUS, UPPER_AUS, AuTable
from talkgs.pose.shape import FACE_WIDTH, MESH_POINTS, canonical_face

log = logging.getLogger("talkgs.au")

BACKENDS = ("landmarks", "openface", "pyfeat")

# Face Mesh indices (module docstring), subject's right side first.
INNER_BROW = ((107, 66, 55, 65), (336, 296, 285, 295))
OUTER_BROW = ((70, 63, 46, 53), (300, 293, 276, 283))
INNER_CORNER = (133, 362)
OUTER_CORNER = (33, 263)
UPPER_LID = (159, 158, 160, 386, 385, 387)
LOWER_LID = (145, 144, 153, 374, 380, 373)
CHEEK = (50, 101, 205, 280, 330, 425)
NOSE_WING = (98, 64, 48, 129, 327, 294, 278, 358)
UPPER_LIP = (0, 37, 267)
MOUTH_CORNERS = (61, 291)
LIP_CENTRES = (0, 17)  # outer upper and lower lip on the midline
INNER_LIP_PAIRS = ((13, 14), (82, 87), (312, 317))
CHIN = 152
MID_NOSE = 195  # the alignment uses rigid points above this one (and the nose below it)
NOSE_RIDGE = (195, 5, 4, 1)

# Change at intensity 5, face widths (AU23: relative thickness; AU04, AU45: a score of 1).
FULL_SCALE = {
    "01": 0.05, "02": 0.05, "04": 1.0, "05": 0.02, "06": 0.03, "07": 0.015, "09": 0.03,
    "10": 0.04, "12": 0.05, "14": 0.05, "15": 0.04, "17": 0.04, "20": 0.04, "23": 0.5,
    "25": 0.12, "26": 0.15, "45": 1.0,
}  # fmt: skip
BROW_LOWERING_FULL = 0.04  # AU04's two parts, face widths
BROW_NARROWING_FULL = 0.03
LIP_SUCK_THICKNESS = 0.3  # AU28_c: lips thinner than this share of their neutral thickness


@dataclass(frozen=True)
class AuInputs:
    meta: Path  # meta.json of the identity: frame_count, fps
    landmarks: Path | None = None  # landmarks.npz (landmarks backend)
    neutral: Path | None = None  # neutral.json (landmarks backend)
    openface_csv: Path | None = None  # the user's OpenFace CSV (openface backend)


@dataclass(frozen=True)
class AuOutputs:
    csv: Path  # au.csv
    plot: Path | None = None  # au.png, the time series for the report


@dataclass(frozen=True)
class AuParams:
    backend: str = "landmarks"  # au.backend
    leading_space: bool = True  # au.leading_space: ", "-separated header, as OpenFace on Windows
    presence_threshold: float = 1.0  # AU_c = 1 where AU_r reaches this (landmarks backend)
    eyes: EyesParams = field(default_factory=EyesParams)  # AU45's open-eye baseline


def alignment_points(rigid: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The rigid landmarks the alignment is fitted on: those of ``rigid`` above the middle of
    the nose in ``reference`` ``[468, 3]`` (y down), and the nose ridge below it — not the
    cheeks and nose wings, which AU06, AU09 and AU12 move."""
    above = rigid[reference[rigid, 1] <= reference[MID_NOSE, 1]]
    return np.union1d(above, np.array(NOSE_RIDGE))


def align(points: np.ndarray, reference: np.ndarray, subset: np.ndarray) -> np.ndarray:
    """``points`` ``[T, N, 3]`` moved, frame by frame, by the similarity transform that best
    maps their ``subset`` onto ``reference``'s (``[N, 3]``; Umeyama, as
    :mod:`talkgs.pose.shape` does for one frame)."""
    a = points[:, subset]
    b = reference[subset]
    mean_a, mean_b = a.mean(axis=1), b.mean(axis=0)
    a0, b0 = a - mean_a[:, None], b - mean_b
    u, sigma, vt = np.linalg.svd(np.einsum("ki,tkj->tij", b0, a0))
    flip = np.ones((len(points), 3))
    flip[:, 2] = np.sign(np.linalg.det(u @ vt))
    rotation = (u * flip[:, None, :]) @ vt
    scale = (sigma * flip).sum(axis=1) / (a0**2).sum(axis=(1, 2))
    centred = points - mean_a[:, None]
    return scale[:, None, None] * centred @ rotation.transpose(0, 2, 1) + mean_b


def measurements(aligned: np.ndarray) -> dict[str, np.ndarray]:
    """``[T]`` geometric measurements (face widths, "up" positive) of ``aligned`` ``[T, N, 3]``
    points in face widths (head frame, y down)."""

    def up(indices: tuple[int, ...]) -> np.ndarray:
        return -aligned[:, list(indices), 1].mean(axis=1)

    def sides(pairs: tuple[tuple[int, ...], tuple[int, ...]], corners: tuple[int, int]):
        return 0.5 * sum(
            up(side) - up((corner,)) for side, corner in zip(pairs, corners, strict=True)
        )

    corners_up = up(INNER_CORNER + OUTER_CORNER)
    right, left = aligned[:, MOUTH_CORNERS[0]], aligned[:, MOUTH_CORNERS[1]]
    brow_gap = [
        np.abs(aligned[:, left_brow, 0] - aligned[:, right_brow, 0])
        for right_brow, left_brow in zip(INNER_BROW[0][::2], INNER_BROW[1][::2], strict=True)
    ]
    upper_lip = np.linalg.norm(aligned[:, 0] - aligned[:, 13], axis=-1)
    lower_lip = np.linalg.norm(aligned[:, 14] - aligned[:, 17], axis=-1)
    return {
        "inner_brow": sides(INNER_BROW, INNER_CORNER),
        "outer_brow": sides(OUTER_BROW, OUTER_CORNER),
        "brow_gap": 0.5 * (brow_gap[0] + brow_gap[1]),
        "upper_lid": up(UPPER_LID) - corners_up,
        "lower_lid": up(LOWER_LID) - corners_up,
        "cheek": up(CHEEK),
        "nose_wing": up(NOSE_WING),
        "upper_lip": up(UPPER_LIP),
        "corner_rise": up(MOUTH_CORNERS),
        "half_width": 0.5 * np.abs(left[:, 0] - right[:, 0]),
        "corner_depth": 0.5 * (right[:, 2] + left[:, 2])
        - aligned[:, list(LIP_CENTRES), 2].mean(axis=1),
        "lip_to_chin": aligned[:, CHIN, 1] - aligned[:, LIP_CENTRES[1], 1],
        "lip_thickness": upper_lip + lower_lip,
        "lip_gap": np.mean(
            [np.linalg.norm(aligned[:, a] - aligned[:, b], axis=-1) for a, b in INNER_LIP_PAIRS],
            axis=0,
        ),
        "chin_drop": aligned[:, CHIN, 1],
    }


def _scores(change: dict[str, np.ndarray], thickness: float) -> dict[str, np.ndarray]:
    """Signed AU scores in units of their :data:`FULL_SCALE` (before ``clip(·, 0, 1)``)."""
    rise, widening = change["corner_rise"], change["half_width"]
    lowering = -0.5 * (change["inner_brow"] + change["outer_brow"])
    raw = {
        "01": change["inner_brow"],
        "02": change["outer_brow"],
        "04": np.maximum(lowering, 0) / BROW_LOWERING_FULL
        + np.maximum(-change["brow_gap"], 0) / BROW_NARROWING_FULL,
        "05": change["upper_lid"],
        "06": change["cheek"],
        "07": change["lower_lid"],
        "09": change["nose_wing"],
        "10": change["upper_lip"],
        "12": rise + 0.5 * widening,
        "14": change["corner_depth"],
        "15": -rise,
        "17": -_unexplained(change["lip_to_chin"], change["lip_gap"]),
        "20": widening - np.maximum(rise, 0),
        "23": -change["lip_thickness"] / thickness,
        "25": change["lip_gap"],
        "26": change["chin_drop"],
    }
    return {au: value / FULL_SCALE[au] for au, value in raw.items()}


def _unexplained(value: np.ndarray, cause: np.ndarray) -> np.ndarray:
    """``value`` less its least-squares linear dependence on ``cause`` (both ``[T]``, changes
    from neutral, so the line passes near 0 at neutral)."""
    spread = float(np.var(cause))
    if spread < 1e-12:
        return value
    slope = float(np.mean((cause - cause.mean()) * (value - value.mean()))) / spread
    return value - slope * cause


def estimate(
    landmarks: np.ndarray,
    detected: np.ndarray,
    neutral: np.ndarray,
    fps: float,
    params: AuParams,
) -> AuTable:
    """The landmarks backend: AUs of ``[T, 478, 3]`` landmarks, relative to the ``neutral``
    frame indices (module docstring)."""
    face = canonical_face(landmarks, detected)
    subset = alignment_points(face.rigid, face.vertices)
    points = landmarks[:, :MESH_POINTS].astype(np.float64)
    aligned = align(points, face.vertices, subset) / FACE_WIDTH
    measured = measurements(aligned)
    reference = {name: float(np.median(value[neutral])) for name, value in measured.items()}
    change = {name: value - reference[name] for name, value in measured.items()}
    thickness = max(reference["lip_thickness"], 1e-6)
    scores = _scores(change, thickness)
    scores["45"] = eye_state(landmarks, params.eyes).closure / FULL_SCALE["45"]
    intensity = np.stack([5.0 * np.clip(scores[au], 0.0, 1.0) for au in INTENSITY_AUS], axis=1)
    # Presence from the intensity as written (2 decimals), so the two columns never disagree.
    present = np.round(intensity, 2) >= params.presence_threshold
    lip_suck = measured["lip_thickness"] < LIP_SUCK_THICKNESS * thickness
    presence = np.stack(
        [lip_suck if au == "28" else present[:, INTENSITY_AUS.index(au)] for au in PRESENCE_AUS],
        axis=1,
    ).astype(np.float64)
    return AuTable(
        timestamp=np.arange(len(landmarks)) / fps,
        confidence=detected.astype(np.float64),
        success=detected.copy(),
        intensity=intensity,
        presence=presence,
    )


def pyfeat_unavailable() -> TalkgsError:
    return TalkgsError(
        "au.backend: pyfeat is not available here: py-feat's AU detector (xgb_au_classifier.skops:"
        " HOG of a face aligned by py-feat's own face and 68-landmark networks → PCA → XGBoost) "
        "needs py-feat, which imports torchvision (broken with the CPU torch), plus xgboost and "
        "skops; use au.backend: landmarks, or openface with au.openface_csv"
    )


def _read_meta(path: Path) -> tuple[int, float]:
    try:
        meta = json.loads(Path(path).read_text())
        return int(meta["frame_count"]), float(meta.get("fps", 25))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise input_error(path, f"cannot read frame_count and fps ({error})") from error


def _landmarks_backend(inputs: AuInputs, frame_count: int, fps: float, params: AuParams):
    if inputs.landmarks is None or inputs.neutral is None:
        raise TalkgsError("au.backend: landmarks needs the landmarks and the neutral frames")
    found = face_landmarks.load(inputs.landmarks)
    if len(found.landmarks) != frame_count:
        raise input_error(
            inputs.landmarks, f"{len(found.landmarks)} rows of landmarks for {frame_count} frames"
        )
    chosen = np.array(neutral_frames.load(inputs.neutral)["frames"], dtype=np.int64)
    if chosen.min() < 0 or chosen.max() >= frame_count:
        raise input_error(inputs.neutral, f"neutral frames outside 0..{frame_count - 1}")
    return estimate(found.landmarks, found.detected, chosen, fps, params)


def run(inputs: AuInputs, outputs: AuOutputs, params: AuParams) -> dict[str, Any]:
    """Action units of every frame with ``params.backend`` → ``au.csv`` (and ``au.png``)."""
    frame_count, fps = _read_meta(inputs.meta)
    if params.backend == "landmarks":
        table = _landmarks_backend(inputs, frame_count, fps, params)
    elif params.backend == "openface":
        if inputs.openface_csv is None:
            raise TalkgsError(
                "au.backend: openface needs this identity's CSV in au.openface_csv: "
                "{identity: path}"
            )
        table = openface.read_csv(inputs.openface_csv, frame_count)
    elif params.backend == "pyfeat":
        raise pyfeat_unavailable()
    else:
        raise TalkgsError(f"au.backend: {params.backend!r} is not one of {', '.join(BACKENDS)}")
    finals = [outputs.csv] + ([outputs.plot] if outputs.plot is not None else [])
    with StagedOutputs(*finals) as staged:
        openface.write_csv(staged[outputs.csv], table, params.leading_space)
        if outputs.plot is not None:
            # From the file as written, so that the plot shows exactly what au.csv holds.
            plot_au(staged[outputs.csv], staged[outputs.plot], f"action units ({params.backend})")
    means = table.intensity.mean(axis=0)
    log.info(
        "au (%s): %d frames, %d without a face, mean AU25 %.2f AU26 %.2f AU45 %.2f → %s",
        params.backend,
        len(table),
        int((~table.success).sum()),
        *(means[INTENSITY_AUS.index(au)] for au in ("25", "26", "45")),
        outputs.csv,
    )
    return {"frames": len(table), "backend": params.backend}


def plot_au(csv_path: Path, png_path: Path, title: str = "action units") -> None:
    """``au.png`` from an ``au.csv``: upper- and lower-face AU intensities over time."""
    plot_table(png_path, openface.read_csv(csv_path), title)


def plot_table(path: Path, table: AuTable, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    time = table.timestamp
    figure, axes = plt.subplots(2, 1, figsize=(11, 7), sharex=True, layout="constrained")
    for axis, group, name in ((axes[0], UPPER_AUS, "upper face"), (axes[1], LOWER_AUS, "lower")):
        colours = plt.get_cmap("tab10")(np.arange(len(group)) % 10)
        for au, colour in zip(group, colours, strict=True):
            axis.plot(time, table.au(f"AU{au}_r"), color=colour, linewidth=1.1, label=f"AU{au}")
        missing = ~table.success
        if missing.any():
            axis.fill_between(
                time, 0, 5, where=missing, color="gray", alpha=0.2, step="mid", label="no face"
            )
        axis.set_ylim(0, 5.2)
        axis.set_ylabel(f"{name}\nintensity (0–5)")
        axis.grid(alpha=0.3)
        axis.legend(loc="upper right", fontsize=8, ncols=6)
    axes[0].set_title(title, loc="left")
    axes[1].set_xlabel("time (s)")
    # A fixed PNG writer configuration (no software tag) keeps the bytes reproducible.
    figure.savefig(path, format="png", dpi=90, metadata={"Software": None})
    plt.close(figure)
