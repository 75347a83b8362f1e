"""The eyes stage: eye aspect ratio per frame and blink events (Talk2Me's EAR feature).

Eye aspect ratio (Soukupová & Čech 2016): with six points per eye, p1 and p4 the corners, p2, p3
on the upper lid and p6, p5 below them on the lower lid,
``EAR = (|p2 − p6| + |p3 − p5|) / (2 |p1 − p4|)``: about 0.25–0.35 open, near 0 shut. It is
measured on Face Mesh's 3D landmarks (x, y and the relative depth z, one pixel scale), so a
turned head does not shorten the eye's width as it does in the image. Face Mesh indices (the
iBUG-68 eye points 36–47 of :data:`talkgs.face.landmarks.IBUG68`; "right" is the subject's right,
the left of the image):

=========  ===  ===  ===  ===  ===  ===
eye        p1   p2   p3   p4   p5   p6
=========  ===  ===  ===  ===  ===  ===
right       33  160  158  133  153  144
left       362  385  387  263  373  380
=========  ===  ===  ===  ===  ===  ===

Blinks: the closure of frame t is ``1 − EAR[t] / open[t]``, where ``open`` is a running median
of the EAR (:attr:`EyesParams.baseline_frames`; blinks last a few frames, so the median stays
on the open eye while it follows slow changes of gaze and pose). A blink is a run of frames whose
closure reaches the threshold — the larger of :attr:`EyesParams.min_closure` and
:attr:`EyesParams.noise_k` robust standard deviations (1.4826 × MAD) of the closure — widened
to the frames around it whose closure is above half the threshold (the lids moving).

Outputs:

- ``eyes.csv``: one row per frame, ``frame`` (0-based, as ``frames/000000.jpg``), ``ear_left``,
  ``ear_right``, ``ear`` (their mean), ``blink`` (1 inside a blink event, else 0);
- ``blinks.json``: the events (``onset``, ``apex``, ``end`` frames, inclusive; the EAR and the
  closure at the apex), the open-eye EAR, the threshold and the parameters.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import median_filter

from talkgs.atomic import StagedOutputs
from talkgs.errors import input_error
from talkgs.face import landmarks as face_landmarks

log = logging.getLogger("talkgs.eyes")

# p1..p6 of each eye (module docstring), subject's right eye first.
RIGHT_EYE_EAR = (33, 160, 158, 133, 153, 144)
LEFT_EYE_EAR = (362, 385, 387, 263, 373, 380)


@dataclass(frozen=True)
class EyesParams:
    baseline_frames: int = 75  # running median of the open-eye EAR: 3 s at 25 fps
    min_closure: float = 0.2  # a blink closes the eye by at least this fraction of its open EAR
    noise_k: float = 4.0  # ... and by this many robust standard deviations of the closure
    merge_gap: int = 1  # events this many frames apart or fewer are one blink


@dataclass(frozen=True)
class Blink:
    onset: int  # first frame of the lid motion
    apex: int  # frame of the smallest EAR
    end: int  # last frame of the lid motion (inclusive)
    ear: float  # EAR at the apex
    closure: float  # closure at the apex


@dataclass(frozen=True)
class EyeState:
    ear: np.ndarray  # [T, 2] EAR of the right and left eye
    open_ear: np.ndarray  # [T] running median of the mean EAR
    closure: np.ndarray  # [T] 1 − mean EAR / open EAR
    threshold: float  # closure a blink reaches
    noise: float  # robust standard deviation of the closure
    blinks: list[Blink]

    @property
    def mean_ear(self) -> np.ndarray:
        return self.ear.mean(axis=1)

    def blink_mask(self) -> np.ndarray:
        """``[T]`` bool: frames inside a blink event."""
        mask = np.zeros(len(self.ear), bool)
        for blink in self.blinks:
            mask[blink.onset : blink.end + 1] = True
        return mask


def eye_aspect_ratio(landmarks: np.ndarray) -> np.ndarray:
    """``[T, 2]`` EAR of the right and left eye from ``[T, 478, 3]`` landmarks (3D)."""
    points = landmarks.astype(np.float64)
    ratios = []
    for p1, p2, p3, p4, p5, p6 in (RIGHT_EYE_EAR, LEFT_EYE_EAR):
        lids = np.linalg.norm(points[:, p2] - points[:, p6], axis=-1) + np.linalg.norm(
            points[:, p3] - points[:, p5], axis=-1
        )
        width = np.linalg.norm(points[:, p1] - points[:, p4], axis=-1)
        ratios.append(lids / (2.0 * np.maximum(width, 1e-9)))
    return np.stack(ratios, axis=1)


def eye_state(landmarks: np.ndarray, params: EyesParams) -> EyeState:
    """EAR, closure and blink events of ``[T, 478, 3]`` landmarks."""
    ear = eye_aspect_ratio(landmarks)
    mean = ear.mean(axis=1)
    window = max(1, min(params.baseline_frames, 2 * len(mean) - 1))
    open_ear = median_filter(mean, size=window, mode="nearest")
    closure = 1.0 - mean / np.maximum(open_ear, 1e-9)
    noise = 1.4826 * float(np.median(np.abs(closure - np.median(closure))))
    threshold = max(params.min_closure, params.noise_k * noise)
    blinks = find_blinks(closure, mean, threshold, params.merge_gap)
    return EyeState(ear, open_ear, closure, threshold, noise, blinks)


def find_blinks(
    closure: np.ndarray, ear: np.ndarray, threshold: float, merge_gap: int
) -> list[Blink]:
    """Runs of ``closure`` ``[T]`` ≥ ``threshold``, widened while it stays above half of it."""
    core = _runs(closure >= threshold)
    merged: list[list[int]] = []
    for start, stop in core:
        if merged and start - merged[-1][1] - 1 <= merge_gap:
            merged[-1][1] = stop
        else:
            merged.append([start, stop])
    moving = closure >= 0.5 * threshold
    blinks = []
    for start, stop in merged:
        while start > 0 and moving[start - 1]:
            start -= 1
        while stop < len(closure) - 1 and moving[stop + 1]:
            stop += 1
        if blinks and start <= blinks[-1].end + merge_gap:  # widened into the previous one
            start = blinks.pop().onset
        apex = start + int(np.argmax(closure[start : stop + 1]))
        blinks.append(Blink(start, apex, stop, float(ear[apex]), float(closure[apex])))
    return blinks


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(first, last)`` inclusive index pairs of the True runs of ``mask``."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def write_csv(path: Path, state: EyeState) -> None:
    mask = state.blink_mask()
    lines = ["frame,ear_left,ear_right,ear,blink"]
    for t, ((right, left), mean, blink) in enumerate(
        zip(state.ear, state.mean_ear, mask, strict=True)
    ):
        lines.append(f"{t},{left:.4f},{right:.4f},{mean:.4f},{int(blink)}")
    path.write_text("\n".join(lines) + "\n")


def read_csv(path: str | Path) -> dict[str, np.ndarray]:
    """The columns of an ``eyes.csv`` by name (module docstring)."""
    table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    names = ("frame", "ear_left", "ear_right", "ear", "blink")
    return {name: table[:, k] for k, name in enumerate(names)}


def events_json(state: EyeState, params: EyesParams) -> dict[str, Any]:
    return {
        "frames": len(state.ear),
        "blink_count": len(state.blinks),
        "events": [asdict(blink) for blink in state.blinks],
        "open_ear_median": float(np.median(state.open_ear)),
        "closure_noise": state.noise,
        "closure_threshold": state.threshold,
        "params": asdict(params),
        "definitions": {
            "frames": "0-based frame indices (frames/000000.jpg is 0); onset and end inclusive",
            "ear": "eye aspect ratio (Soukupova & Cech 2016) of Face Mesh 3D landmarks, "
            "mean of both eyes; right 33,160,158,133,153,144; left 362,385,387,263,373,380",
            "closure": "1 - ear / open_ear, open_ear the running median of ear "
            "(params.baseline_frames)",
            "closure_threshold": "max(min_closure, noise_k x closure_noise); closure_noise is "
            "1.4826 x the median absolute deviation of the closure",
        },
    }


def run(
    landmarks_npz: Path, output_csv: Path, events_json_path: Path, params: EyesParams
) -> dict[str, Any]:
    """EAR of every frame → ``output_csv`` (eyes.csv) and blinks → ``events_json_path``."""
    import json

    found = face_landmarks.load(landmarks_npz)
    if len(found.landmarks) == 0:
        raise input_error(landmarks_npz, "no frames")
    state = eye_state(found.landmarks, params)
    summary = events_json(state, params)
    with StagedOutputs(output_csv, events_json_path) as staged:
        write_csv(staged[output_csv], state)
        staged[events_json_path].write_text(json.dumps(summary, indent=2) + "\n")
    log.info(
        "eyes: %d frames, open EAR %.3f, %d blinks (closure ≥ %.2f) → %s, %s",
        len(state.ear),
        summary["open_ear_median"],
        len(state.blinks),
        state.threshold,
        output_csv,
        events_json_path,
    )
    return {"frames": len(state.ear), "blinks": len(state.blinks)}
