"""Benchmark and quality check of one method on one identity: train (face, mouth, fuse), render.

    python tests/benchmarks/train.py --identity-root results/demo --method talkinggaussian

The identity must have been through the workflow up to its features (e.g. ``snakemake --cores 2
results/demo/features/au.csv results/demo/features/aud_mel.npy``). Prints, for the README's
performance table: wall time of each stage, training iterations/s, rendering FPS, validation
PSNR over all validation frames at the preset's resolution, the PSNR of the mean training frame
(a baseline a model must beat), and the mouth-region error of the render driven by the
identity's own audio against the same model driven by zeroed audio features.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from talkgs import render
from talkgs.face.labels import Label
from talkgs.frames import read_labels, read_rgb
from talkgs.layout import IdentityLayout
from talkgs.train import stage
from talkgs.train.presets import resolve_method

MOUTH_REGION = (Label.LIPS, Label.INNER_MOUTH, Label.TEETH)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)) / 255.0**2
    return 10 * np.log10(1 / max(mse, 1e-12))


def resized(image: np.ndarray, size: int, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    return cv2.resize(image, (size, size), interpolation=interpolation)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--identity-root", type=Path, default=Path("results/demo"))
    parser.add_argument("--method", default="talkinggaussian")
    parser.add_argument("--family", help="default: the method name")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, help="output folder (default: a temporary one)")
    args = parser.parse_args()

    method = resolve_method(args.method, {"family": args.family or args.method}, args.preset)
    layout = IdentityLayout(str(args.identity_root))
    work = args.work or Path(tempfile.mkdtemp(prefix="talkgs-train-bench-"))
    params = stage.TrainParams(backend=args.backend, device=args.device, threads=args.threads)
    seconds: dict[str, float] = {}
    summaries = {}
    for name in ("face", "mouth", "fuse"):
        started = time.perf_counter()
        summaries[name] = stage.run(
            name,
            method,
            stage.TrainInputs(args.identity_root, work / "face.pt", work / "mouth.pt"),
            stage.TrainOutputs(work / f"{name}.pt", work / f"{name}.json"),
            params,
        )
        seconds[name] = time.perf_counter() - started

    started = time.perf_counter()
    outputs = render.RenderOutputs(work / "val", work / "val.mp4", work / "val.json")
    rendered = render.run(method, args.identity_root, work / "fuse.pt", outputs, params)
    seconds["render"] = time.perf_counter() - started
    frame_count = len(list(layout.path("frames").glob("*.jpg")))
    silence = np.zeros_like(np.load(layout.audio_features(method.option("audio_features"))))
    silent = render.RenderOutputs(work / "silent", work / "silent.mp4", work / "silent.json")
    render.run(method, args.identity_root, work / "fuse.pt", silent, params, audio_override=silence)

    size = method.preset.resolution
    cut = int(frame_count * 10 / 11)
    val_ids = range(cut, frame_count)
    train_step = max(1, cut // 100)
    mean_frame = np.mean(
        [resized(read_rgb(layout.path("gt_imgs") / f"{i:06d}.jpg"), size).astype(np.float64)
         for i in range(0, cut, train_step)], axis=0)  # fmt: skip
    scores: dict[str, list[float]] = {"psnr": [], "baseline": [], "mouth": [], "mouth_silent": []}
    for i in val_ids:
        truth = resized(read_rgb(layout.path("gt_imgs") / f"{i:06d}.jpg"), size)
        image = read_rgb(work / "val" / f"{i:06d}.png")
        quiet = read_rgb(work / "silent" / f"{i:06d}.png")
        labels = resized(read_labels(layout.path("parsing") / f"{i:06d}.png"), size,
                         cv2.INTER_NEAREST)  # fmt: skip
        mouth = cv2.dilate(np.isin(labels, MOUTH_REGION).astype(np.uint8), np.ones((3, 3))) > 0
        scores["psnr"].append(psnr(image, truth))
        scores["baseline"].append(psnr(mean_frame, truth))
        if mouth.any():
            diff = np.abs(image.astype(np.float64) - truth)[mouth].mean()
            diff_quiet = np.abs(quiet.astype(np.float64) - truth)[mouth].mean()
            scores["mouth"].append(diff)
            scores["mouth_silent"].append(diff_quiet)
    result = {
        "identity": args.identity_root.name,
        "method": method.name,
        "preset": method.preset_name,
        "resolution": size,
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "train_and_render_seconds": round(sum(seconds.values()), 1),
        "iterations_per_second": {k: s["iterations_per_second"] for k, s in summaries.items()},
        "render_fps": rendered["fps"],
        "validation_psnr_db": round(float(np.mean(scores["psnr"])), 2),
        "mean_frame_psnr_db": round(float(np.mean(scores["baseline"])), 2),
        "mouth_l1_own_audio": round(float(np.mean(scores["mouth"])), 3),
        "mouth_l1_zeroed_audio": round(float(np.mean(scores["mouth_silent"])), 3),
        "work": str(work),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
