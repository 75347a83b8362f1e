"""The evaluate stage: metrics of one identity and method on its validation frames.

Ground truth is each validation frame on the background plate (``gt_imgs``) resized to the
render's resolution, as in training; renders are the PNG frames of the render stage (never the
re-encoded mp4 — upstream ``metrics.py`` reads both back from lossy video). Per frame: PSNR,
SSIM, MS-SSIM, LPIPS, CPBD, the seam along the head/torso boundary (:mod:`talkgs.metrics.seam`),
LMD, AUE-L/U; per clip: the lip motion (correlation and amplitude
ratio of the rendered mouth opening against the recorded one; no weights), Sync-D/C of the render
with its own audio and of each cross-driven video with its driving audio, FID, CSIM, training
time, rendering FPS.
An external baseline's renders (:mod:`talkgs.baselines`, aligned to the validation frames) go
through the same code; their training time and FPS are not computed (``kind: baseline``).

LMD, AUE and Sync need landmarks of rendered frames: Face Mesh (the identity's landmark model)
runs on ground truth and render alike, both brought to the identity's frame size by the same
bicubic resize, so the two go through one pipeline. AUs come from the identity's AU backend
(landmarks) relative to its own neutral frames. AUE-L/U: :mod:`talkgs.metrics.landmark_metrics`
(HM-Talker's groups, ``auerror.py``'s formula). A metric that cannot be computed (weights
absent, frames too small) is ``null`` with its reason, never 0.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from talkgs.atomic import StagedOutputs, write_json
from talkgs.errors import input_error
from talkgs.face import landmarks as face_landmarks
from talkgs.features import au as au_stage
from talkgs.features import neutral as neutral_stage
from talkgs.features.audio import frame_samples
from talkgs.features.openface import INTENSITY_AUS, AuTable
from talkgs.frames import frame_paths, read_labels, read_rgb
from talkgs.layout import IdentityLayout
from talkgs.log import progress
from talkgs.media import VideoReader, probe, read_audio, read_wav
from talkgs.metrics import NotComputed
from talkgs.metrics import image as image_metrics
from talkgs.metrics.landmark_metrics import (
    AUE_LOWER,
    AUE_UPPER,
    aue_per_frame,
    lip_motion,
    lmd_per_frame,
    mouth_opening,
)
from talkgs.metrics.seam import seam
from talkgs.png import write_png
from talkgs.pose.transforms import split
from talkgs.weights import WeightStore

log = logging.getLogger("talkgs.evaluate")

PER_FRAME = ("psnr", "ssim", "ms_ssim", "lpips", "cpbd", "seam", "lmd", "aue_l", "aue_u")


@dataclass(frozen=True)
class EvaluateParams:
    weights_manifest: Path = Path("resources/weights.yaml")
    weights_dir: Path = Path("resources/weights")
    lpips: bool = True  # each weighted metric is computed when its file is present
    syncnet: bool = True
    fid: bool = True
    csim: bool = True
    cpbd: bool = True
    cpbd_frames: int = 20  # CPBD is slow (seconds per frame): an even sample of frames


@dataclass(frozen=True)
class EvaluateInputs:
    identity_root: Path
    method: str
    render_frames: Path
    render_summary: Path
    training_summaries: list[Path]
    cross_videos: dict[str, Path] = field(default_factory=dict)  # audio identity → mp4
    # audio identity → its gt_imgs folder: the recorded mouth the cross render's lips should follow
    cross_truths: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class EvaluateOutputs:
    metrics: Path  # metrics/{method}.json
    frames_csv: Path  # metrics/{method}.csv
    samples: Path  # metrics/{method}_samples.jpg: ground truth | render | error
    training_plot: Path | None = None  # metrics/{method}_training.png: loss and PSNR curves
    lips_plot: Path | None = None  # metrics/{method}_lips.png: rendered vs recorded mouth opening


def summary_of(values: list[float | NotComputed] | float | NotComputed) -> dict[str, Any]:
    """``{"mean", "std", "n"}`` of the computed values, or ``{"mean": null, "reason"}``."""
    if isinstance(values, NotComputed):
        return {"mean": None, "reason": values.reason}
    if not isinstance(values, list):
        return {"mean": float(values), "std": 0.0, "n": 1}
    reasons = [v.reason for v in values if isinstance(v, NotComputed)]
    numbers = [float(v) for v in values if not isinstance(v, NotComputed)]
    numbers = [v for v in numbers if math.isfinite(v)]
    if not numbers:
        return {"mean": None, "reason": reasons[0] if reasons else "no frames"}
    return {"mean": float(np.mean(numbers)), "std": float(np.std(numbers)), "n": len(numbers)}


def landmarks_of(
    frames: list[np.ndarray], size: int, folder: Path
) -> face_landmarks.FaceLandmarks | NotComputed:
    """Face Mesh on ``frames`` resized (bicubic) to ``size``² — the identity's frame size;
    frames without a face are interpolated, and if none has one the landmark metrics are not
    computed (a model that learnt little renders no face Face Mesh can find)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, frame in enumerate(frames):
        path = folder / f"{index:06d}.png"
        big = cv2.resize(frame, (size, size), interpolation=cv2.INTER_CUBIC)
        write_png(path, big)
        paths.append(path)
    found = face_landmarks.track(paths, face_landmarks.LandmarksParams())
    if not found.detected.any():
        return NotComputed(f"Face Mesh found no face in any of the {len(frames)} frames")
    return face_landmarks.fill_missing(found, folder, max_missing=1.0)


def run(inputs: EvaluateInputs, outputs: EvaluateOutputs, params: EvaluateParams) -> dict[str, Any]:
    layout = IdentityLayout(str(inputs.identity_root))
    store = WeightStore(params.weights_manifest, params.weights_dir)
    render_summary = json.loads(Path(inputs.render_summary).read_text())
    renders = sorted(Path(inputs.render_frames).glob("*.png"))
    if not renders:
        raise input_error(inputs.render_frames, "no rendered frames")
    ids = [int(p.stem) for p in renders]
    rendered = [read_rgb(p) for p in renders]
    size = rendered[0].shape[0]
    truths = [
        cv2.resize(
            read_rgb(layout.path("gt_imgs") / f"{i:06d}.jpg"),
            (size, size),
            interpolation=cv2.INTER_AREA,
        )
        for i in ids
    ]
    full_size = read_rgb(layout.path("gt_imgs") / f"{ids[0]:06d}.jpg").shape[0]
    per_frame: dict[str, list[Any]] = {name: [] for name in PER_FRAME}

    from talkgs.metrics.lpips import lpips_or_reason

    lpips_model = lpips_or_reason(store) if params.lpips else NotComputed("evaluate.lpips: false")
    for render, truth in progress(list(zip(rendered, truths, strict=True)), "image metrics"):
        per_frame["psnr"].append(image_metrics.psnr(render, truth))
        per_frame["ssim"].append(image_metrics.ssim(render, truth))
        per_frame["ms_ssim"].append(image_metrics.ms_ssim(render, truth))
        per_frame["lpips"].append(
            lpips_model
            if isinstance(lpips_model, NotComputed)
            else lpips_model.distance(render, truth)
        )
    per_frame["cpbd"] = _cpbd(rendered, params)
    per_frame["seam"] = [
        seam(render, truth, read_labels(layout.path("parsing") / f"{i:06d}.png"))
        for i, render, truth in zip(ids, rendered, truths, strict=True)
    ]

    with tempfile.TemporaryDirectory(prefix="talkgs-evaluate-") as temp:
        truth_marks = landmarks_of(truths, full_size, Path(temp) / "truth")
        render_marks = landmarks_of(rendered, full_size, Path(temp) / "render")
        cross = {
            name: _cross_metrics(
                video,
                inputs.cross_truths.get(name),
                full_size,
                Path(temp) / f"cross_{name}",
                store,
                params,
            )
            for name, video in inputs.cross_videos.items()
        }
    unmarked = next((m for m in (truth_marks, render_marks) if isinstance(m, NotComputed)), None)
    lips: dict[str, Any] = {"lip_r": unmarked, "lip_amplitude": unmarked}
    if unmarked is not None:
        for name in ("lmd", "aue_l", "aue_u"):
            per_frame[name] = [unmarked] * len(ids)
    else:
        assert not isinstance(truth_marks, NotComputed)
        assert not isinstance(render_marks, NotComputed)
        per_frame["lmd"] = list(lmd_per_frame(truth_marks.ibug68, render_marks.ibug68, full_size))
        truth_au, render_au = _action_units(layout, truth_marks, render_marks)
        per_frame["aue_l"] = list(aue_per_frame(truth_au, render_au, AUE_LOWER))
        per_frame["aue_u"] = list(aue_per_frame(truth_au, render_au, AUE_UPPER))
        per_frame["mouth_open_truth"] = list(mouth_opening(truth_marks.landmarks))
        per_frame["mouth_open_render"] = list(mouth_opening(render_marks.landmarks))
        lips["lip_r"], lips["lip_amplitude"] = lip_motion(
            per_frame["mouth_open_truth"], per_frame["mouth_open_render"]
        )
        # the intensities behind AUE, per frame, so a reader can see which AU differs
        for index, au in enumerate(INTENSITY_AUS):
            per_frame[f"AU{au}_truth"] = list(truth_au.intensity[:, index])
            per_frame[f"AU{au}_render"] = list(render_au.intensity[:, index])

    clip: dict[str, Any] = {name: summary_of(per_frame[name]) for name in PER_FRAME}
    clip.update({name: summary_of(value) for name, value in lips.items()})
    sync = _sync(
        store, params, rendered, render_marks, full_size, _audio_of(layout, ids[0], len(ids))
    )
    clip.update(sync)
    clip["fid"] = summary_of(_fid(store, params, rendered, truths))
    clip["csim"] = summary_of(_csim(store, params, layout, rendered, render_marks, full_size))
    external = render_summary.get("kind") == "baseline"
    if external:
        unmeasured = NotComputed("external baseline: not measured by talkgs")
        clip["train_hours"] = clip["fps"] = summary_of(unmeasured)
    else:
        seconds = sum(json.loads(Path(p).read_text())["seconds"] for p in inputs.training_summaries)
        clip["train_hours"] = {"mean": seconds / 3600, "std": 0.0, "n": 1}
        clip["fps"] = {"mean": float(render_summary["fps"]), "std": 0.0, "n": 1}
    document = {
        "identity": layout.path("frames").parent.name,
        "method": inputs.method,
        "kind": "baseline" if external else "method",
        "checkpoint": render_summary.get("model"),
        "method_settings": render_summary if external else render_summary.get("method"),
        "frames": ids,
        "resolution": size,
        "metrics": clip,
        "cross": cross,
        "settings": {
            "ground_truth": "gt_imgs resized (INTER_AREA) to the render resolution",
            "landmarks": f"Face Mesh on frames resized (bicubic) to {full_size} px",
            "aue_groups": {"lower": list(AUE_LOWER), "upper": list(AUE_UPPER)},
            "aue_formula": "sum over the group of squared AU_r differences, mean over frames",
            "lmd_units": "pixels of a 512 px frame",
            "weights_dir": str(params.weights_dir),
        },
    }
    if outputs.training_plot is not None:
        from talkgs.report import plot_training

        plot_training(
            inputs.training_summaries,
            outputs.training_plot,
            f"{document['identity']} / {inputs.method}",
        )
    if outputs.lips_plot is not None:
        from talkgs.report import plot_lips

        plot_lips(
            ids,
            per_frame.get("mouth_open_truth"),
            per_frame.get("mouth_open_render"),
            clip,
            outputs.lips_plot,
            f"{document['identity']} / {inputs.method}",
        )
    with StagedOutputs(outputs.frames_csv, outputs.samples, outputs.metrics) as staged:
        _write_frames_csv(staged[outputs.frames_csv], ids, per_frame)
        _write_samples(staged[outputs.samples], rendered, truths)
        write_json(staged[outputs.metrics], document)
    shown = {
        k: clip[k]["mean"]
        for k in ("psnr", "ssim", "seam", "lmd", "aue_l", "aue_u", "lip_r", "lip_amplitude")
    }
    log.info(
        "evaluate %s/%s on %d frames: %s",
        document["identity"],
        inputs.method,
        len(ids),
        ", ".join(f"{k} {'null' if v is None else f'{v:.4g}'}" for k, v in shown.items()),
    )
    return document


def _cpbd(rendered: list[np.ndarray], params: EvaluateParams) -> list[Any]:
    from talkgs.metrics.cpbd import cpbd, load_cpbd

    if not params.cpbd:
        return [NotComputed("evaluate.cpbd: false")]
    compute = load_cpbd()
    picks = np.unique(np.linspace(0, len(rendered) - 1, min(params.cpbd_frames, len(rendered))))
    return [cpbd(rendered[int(i)], compute) for i in picks]


def _action_units(
    layout: IdentityLayout,
    truth: face_landmarks.FaceLandmarks,
    render: face_landmarks.FaceLandmarks,
) -> tuple[AuTable, AuTable]:
    """AUs of ground truth and render, each relative to the identity's neutral frames: the
    identity's own landmarks go in first so that its canonical face and neutral frames anchor
    both estimates. Ground truth and render are estimated in separate calls: the eye-closure
    baseline is a running median over time, which must not run from one into the other (the
    ground truth against itself would not give 0)."""
    own = face_landmarks.load(layout.path("landmarks"))
    neutral = neutral_stage.load(layout.path("neutral"))
    frames = np.asarray(neutral["frames"], int)
    count = len(own.landmarks)

    def estimate(found: face_landmarks.FaceLandmarks) -> AuTable:
        stacked = np.concatenate([own.landmarks, found.landmarks])
        detected = np.concatenate([own.detected, found.detected])
        table = au_stage.estimate(stacked, detected, frames, 25.0, au_stage.AuParams())
        return _rows(table, slice(count, count + len(found.landmarks)))

    return estimate(truth), estimate(render)


def _rows(table: AuTable, rows: slice) -> AuTable:
    return AuTable(
        table.timestamp[rows],
        table.confidence[rows],
        table.success[rows],
        table.intensity[rows],
        table.presence[rows],
    )


def _audio_of(layout: IdentityLayout, first: int, frames: int) -> np.ndarray:
    samples, _ = read_wav(layout.path("audio"))
    return frame_samples(samples, first, frames)


def _sync(
    store: WeightStore,
    params: EvaluateParams,
    frames: list[np.ndarray],
    marks: face_landmarks.FaceLandmarks | NotComputed,
    full_size: int,
    samples: np.ndarray,
) -> dict[str, Any]:
    from talkgs.metrics.syncnet import evaluate_sync, syncnet_or_reason

    model = syncnet_or_reason(store) if params.syncnet else NotComputed("evaluate.syncnet: false")
    if isinstance(marks, NotComputed) and not isinstance(model, NotComputed):
        model = marks  # the lip crops come from the landmarks
    if isinstance(model, NotComputed) or isinstance(marks, NotComputed):
        return {"sync_d": summary_of(model), "sync_c": summary_of(model)}
    big = np.stack(
        [cv2.resize(f, (full_size, full_size), interpolation=cv2.INTER_CUBIC) for f in frames]
    )
    scores = evaluate_sync(model, big, marks.ibug68, samples)
    return {
        "sync_d": summary_of(scores.sync_d),
        "sync_c": summary_of(scores.sync_c),
        "sync_offset": int(scores.offset),
    }


def _cross_metrics(
    video: Path,
    driver_truth: Path | None,
    full_size: int,
    folder: Path,
    store: WeightStore,
    params: EvaluateParams,
) -> dict[str, Any]:
    """Sync of a cross-driven video with the audio muxed into it, and its lip motion against
    the driving identity's recorded mouth over the same validation frames (``driver_truth``:
    that identity's ``gt_imgs``), both measured at the video's size."""
    from talkgs.metrics.syncnet import syncnet_or_reason

    info = probe(video)
    size = (info.video.width, info.video.height)
    frames = list(VideoReader(video, size))
    marks = landmarks_of(frames, full_size, folder / "render")
    result: dict[str, Any] = {}
    if driver_truth is None:
        lips: tuple[Any, Any] = (NotComputed("the driving identity's frames were not given"),) * 2
    else:
        driver_ids = list(split(len(frame_paths(driver_truth)))[1])[: len(frames)]
        recorded = [
            cv2.resize(read_rgb(driver_truth / f"{i:06d}.jpg"), size, interpolation=cv2.INTER_AREA)
            for i in driver_ids
        ]
        truth_marks = landmarks_of(recorded, full_size, folder / "truth")
        unmarked = next((m for m in (truth_marks, marks) if isinstance(m, NotComputed)), None)
        if unmarked is not None:
            lips = (unmarked, unmarked)
        else:
            assert not isinstance(truth_marks, NotComputed) and not isinstance(marks, NotComputed)
            opened = mouth_opening(marks.landmarks)[: len(driver_ids)]
            lips = lip_motion(mouth_opening(truth_marks.landmarks), opened)
    result["lip_r"], result["lip_amplitude"] = (summary_of(value) for value in lips)
    model = syncnet_or_reason(store) if params.syncnet else NotComputed("evaluate.syncnet: false")
    if isinstance(model, NotComputed):
        return {"sync_d": summary_of(model), "sync_c": summary_of(model), **result}
    samples = read_audio(video, 16000)
    return {**_sync(store, params, frames, marks, full_size, samples), **result}


def _fid(
    store: WeightStore, params: EvaluateParams, rendered: list[np.ndarray], truths: list[np.ndarray]
) -> float | NotComputed:
    from talkgs.metrics.fid import fid, fid_inception_or_reason, inception_features

    model = fid_inception_or_reason(store) if params.fid else NotComputed("evaluate.fid: false")
    if isinstance(model, NotComputed):
        return model
    return fid(inception_features(model, rendered), inception_features(model, truths))


def _csim(
    store: WeightStore,
    params: EvaluateParams,
    layout: IdentityLayout,
    rendered: list[np.ndarray],
    marks: face_landmarks.FaceLandmarks | NotComputed,
    full_size: int,
) -> list[float] | NotComputed:
    """ArcFace cosine similarity of each render to the identity's neutral frame."""
    from talkgs.metrics.csim import align_face, arcface_or_reason, cosine_similarity, embeddings

    model = arcface_or_reason(store) if params.csim else NotComputed("evaluate.csim: false")
    if isinstance(model, NotComputed):
        return model
    if isinstance(marks, NotComputed):
        return marks  # faces are aligned by their landmarks
    reference_index = int(neutral_stage.load(layout.path("neutral"))["frame"])
    reference = read_rgb(layout.path("gt_imgs") / f"{reference_index:06d}.jpg")
    reference_marks = face_landmarks.load(layout.path("landmarks")).ibug68[reference_index]
    faces = [
        align_face(cv2.resize(f, (full_size, full_size), interpolation=cv2.INTER_CUBIC), m)
        for f, m in zip(rendered, marks.ibug68, strict=True)
    ]
    ref = embeddings(model, [align_face(reference, reference_marks)])
    return list(cosine_similarity(embeddings(model, faces), ref))


def _write_frames_csv(path: Path, ids: list[int], per_frame: dict[str, list[Any]]) -> None:
    """One row per frame: the per-frame metrics, then the AU intensities of ground truth and
    render (``AU01_truth``, ``AU01_render``, …; empty where the landmarks were not found)."""
    columns = [
        *PER_FRAME,
        "mouth_open_truth",
        "mouth_open_render",
        *(f"AU{au}_{side}" for au in INTENSITY_AUS for side in ("truth", "render")),
    ]
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(["frame", *columns])
        for row, frame in enumerate(ids):
            values = []
            for name in columns:
                column = per_frame.get(name, [])
                value = column[row] if len(column) == len(ids) else None
                values.append(
                    "" if value is None or isinstance(value, NotComputed) else f"{float(value):.6g}"
                )
            writer.writerow([frame, *values])


def _write_samples(path: Path, rendered: list[np.ndarray], truths: list[np.ndarray]) -> None:
    """Ground truth | render | error heat map for the first, middle and last frame."""
    rows = []
    for index in sorted({0, len(rendered) // 2, len(rendered) - 1}):
        render, truth = rendered[index], truths[index]
        error = np.abs(render.astype(np.float32) - truth).mean(axis=2)
        heat = cv2.applyColorMap(np.clip(error * 4, 0, 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
        rows.append(np.concatenate([truth, render, cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)], 1))
    image = np.concatenate(rows, 0)
    scale = max(1, 384 // image.shape[1] * 3)
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    # encoded here, not by imwrite: the staged name has no .jpg suffix
    _, data = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92]
    )
    path.write_bytes(data.tobytes())
