"""The neutral frame: the identity at rest — frontal, mouth closed, eyes open.

IMGTalk uses such a frame as the silent-state reference, and :mod:`talkgs.features.au`
measures every action unit from the identity's neutral frames. Each frame gets three scores:

- ``pose_deg``: how far the head is turned from the camera, ``sqrt(yaw² + pitch²)`` of
  pose.npz's ``euler_deg`` (yaw, pitch, roll; :mod:`talkgs.pose.camera`). Roll turns the face
  within the image and leaves it frontal, so it does not count.
- ``mouth_gap``: the gap between the inner lips (Face Mesh 13 and 14, 3D) in face widths
  (Face Mesh 234–454, cheek to cheek beside the ears).
- ``eye_open``: the mean eye aspect ratio (:mod:`talkgs.features.eyes`) over its median over the
  clip (1: as open as usual; a blink is far below).

A frame is *eligible* when Face Mesh found the face in it (not interpolated), its mouth is closed
(``mouth_gap`` within :attr:`NeutralParams.closed_margin` of the clip's
:attr:`NeutralParams.closed_quantile` quantile: a mouth that rests slightly open still counts) and
its eyes are open (``eye_open`` ≥ :attr:`NeutralParams.min_eye_open`). Among eligible frames,
the cost ``pose_deg / pose_scale_deg + max(mouth_gap − closed gap, 0) / gap_scale``
ranks them; the neutral frame is
the cheapest, and the neutral set the cheapest :attr:`NeutralParams.fraction` of all frames (at
least :attr:`NeutralParams.min_frames`), topped up from ineligible frames by the same cost if too
few are eligible.

``neutral.json``: ``frame`` (0-based), ``frames`` (the neutral set, ascending), ``scores`` of the
neutral frame and of each frame of the set, the identity's ``reference`` values (median EAR,
closed-mouth gap), ``eligible`` (how many frames), the ``criteria`` in words and the ``params``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from talkgs.atomic import write_json
from talkgs.errors import input_error
from talkgs.face import landmarks as face_landmarks
from talkgs.features.eyes import eye_aspect_ratio

log = logging.getLogger("talkgs.neutral")

INNER_LIPS = (13, 14)  # upper and lower inner lip on the midline
FACE_WIDTH_PAIR = (234, 454)  # as talkgs.pose.shape.WIDTH_PAIR


@dataclass(frozen=True)
class NeutralParams:
    fraction: float = 0.05  # share of the frames in the neutral set
    min_frames: int = 5  # the neutral set has at least this many frames (if the clip has)
    closed_quantile: float = 0.05  # the clip's closed-mouth gap: this quantile of the gaps
    closed_margin: float = 0.01  # face widths above it that still count as closed
    min_eye_open: float = 0.9  # EAR / the clip's median EAR
    pose_scale_deg: float = 5.0  # cost: this many degrees of turn …
    gap_scale: float = 0.02  # … weigh as much as this mouth gap (face widths)


@dataclass(frozen=True)
class NeutralScores:
    pose_deg: np.ndarray  # [T]
    mouth_gap: np.ndarray  # [T] face widths
    eye_open: np.ndarray  # [T] EAR / median EAR
    eligible: np.ndarray  # [T] bool
    cost: np.ndarray  # [T]
    closed_gap: float  # the clip's closed-mouth gap (face widths)
    median_ear: float


def mouth_gap(landmarks: np.ndarray) -> np.ndarray:
    """``[T]`` inner-lip gap (Face Mesh 13–14, 3D) in face widths of ``[T, 478, 3]`` landmarks."""
    points = landmarks.astype(np.float64)
    gap = np.linalg.norm(points[:, INNER_LIPS[0]] - points[:, INNER_LIPS[1]], axis=-1)
    width = np.linalg.norm(points[:, FACE_WIDTH_PAIR[0]] - points[:, FACE_WIDTH_PAIR[1]], axis=-1)
    return gap / np.maximum(width, 1e-9)


def score(
    landmarks: np.ndarray, detected: np.ndarray, euler_deg: np.ndarray, params: NeutralParams
) -> NeutralScores:
    """The per-frame scores and eligibility (module docstring)."""
    pose_deg = np.hypot(euler_deg[:, 0], euler_deg[:, 1])
    gap = mouth_gap(landmarks)
    ear = eye_aspect_ratio(landmarks).mean(axis=1)
    median_ear = float(np.median(ear[detected] if detected.any() else ear))
    eye_open = ear / max(median_ear, 1e-9)
    closed_gap = float(np.quantile(gap, params.closed_quantile))
    eligible = (
        detected & (gap <= closed_gap + params.closed_margin) & (eye_open >= params.min_eye_open)
    )
    cost = pose_deg / params.pose_scale_deg + np.maximum(gap - closed_gap, 0.0) / params.gap_scale
    return NeutralScores(pose_deg, gap, eye_open, eligible, cost, closed_gap, median_ear)


def choose(scores: NeutralScores, params: NeutralParams) -> np.ndarray:
    """Indices of the neutral set, cheapest first: eligible frames, then the others."""
    count = len(scores.cost)
    wanted = min(count, max(params.min_frames, round(params.fraction * count)))
    # Ineligible frames rank after every eligible one; ties keep frame order (stable sort).
    order = np.lexsort((np.arange(count), scores.cost, ~scores.eligible))
    return order[:wanted]


def _frame_scores(scores: NeutralScores, frame: int) -> dict[str, Any]:
    return {
        "frame": int(frame),
        "pose_deg": round(float(scores.pose_deg[frame]), 3),
        "mouth_gap": round(float(scores.mouth_gap[frame]), 5),
        "eye_open": round(float(scores.eye_open[frame]), 4),
        "eligible": bool(scores.eligible[frame]),
        "cost": round(float(scores.cost[frame]), 4),
    }


def run(
    landmarks_npz: Path, pose_npz: Path, output_json: Path, params: NeutralParams
) -> dict[str, Any]:
    """Choose the neutral frame and set from landmarks.npz and pose.npz → ``neutral.json``."""
    found = face_landmarks.load(landmarks_npz)
    with np.load(pose_npz) as pose:
        if "euler_deg" not in pose.files:
            raise input_error(pose_npz, "no euler_deg array (not a talkgs pose.npz?)")
        euler = np.asarray(pose["euler_deg"], np.float64)
    if euler.shape != (len(found.landmarks), 3):
        raise input_error(
            pose_npz,
            f"euler_deg has shape {euler.shape}, landmarks have {len(found.landmarks)} rows",
        )
    scores = score(found.landmarks, found.detected, euler, params)
    chosen = choose(scores, params)
    frame = int(chosen[0])
    result = {
        "frame": frame,
        "frames": sorted(int(i) for i in chosen),
        "scores": {
            "frame": _frame_scores(scores, frame),
            "frames": [_frame_scores(scores, int(i)) for i in chosen],
        },
        "reference": {
            "median_ear": round(scores.median_ear, 5),
            "closed_mouth_gap": round(scores.closed_gap, 5),
        },
        "eligible": int(scores.eligible.sum()),
        "frame_count": len(scores.cost),
        "criteria": {
            "frames": "0-based frame indices (frames/000000.jpg is 0)",
            "pose_deg": "sqrt(yaw^2 + pitch^2) of pose.npz euler_deg (roll ignored)",
            "mouth_gap": "|landmark 13 - landmark 14| (3D) / |234 - 454|, face widths",
            "eye_open": "mean eye aspect ratio / its median over the detected frames",
            "eligible": "face detected, mouth_gap <= closed_mouth_gap + closed_margin, "
            "eye_open >= min_eye_open",
            "cost": "pose_deg / pose_scale_deg + max(mouth_gap - closed_mouth_gap, 0) / gap_scale; "
            "eligible frames first",
        },
        "params": asdict(params),
    }
    write_json(output_json, result)
    log.info(
        "neutral: frame %d (%.1f° from frontal, mouth gap %.3f face widths), %d neutral frames, "
        "%d of %d eligible → %s",
        frame,
        scores.pose_deg[frame],
        scores.mouth_gap[frame],
        len(chosen),
        result["eligible"],
        len(scores.cost),
        output_json,
    )
    return {"frame": frame, "frames": len(chosen), "eligible": result["eligible"]}


def load(path: str | Path) -> dict[str, Any]:
    """A ``neutral.json``, checked to hold a frame and a non-empty neutral set."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise input_error(path, f"cannot read the neutral frames ({error})") from error
    if not isinstance(data, dict) or not data.get("frames") or "frame" not in data:
        raise input_error(path, "no 'frame' and 'frames' (not a talkgs neutral.json?)")
    return data
