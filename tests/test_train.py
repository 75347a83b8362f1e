"""Training stages, model files, resume after SIGTERM, and the render stage (tiny preset)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from talkgs.errors import TalkgsError
from talkgs.media import probe
from talkgs.train.presets import PRESETS, resolve_method
from talkgs.train.stage import phases


def talkgs(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "talkgs", *args], capture_output=True, text=True, check=False
    )


def train_args(root: Path, method: str, entry: dict, stage: str, *extra: str) -> list[str]:
    out = root / "methods" / method
    return [
        "train",
        "--stage",
        stage,
        "--identity-root",
        str(root),
        "--method",
        method,
        "--method-config",
        json.dumps(entry),
        "--preset",
        "tiny",
        "--backend",
        "torch",
        "--output",
        str(out / f"{stage}.pt"),
        "--summary",
        str(out / f"{stage}.json"),
        *extra,
    ]


def state_of(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state"]


def test_method_settings_resolve_and_refuse_unknown_keys() -> None:
    method = resolve_method(
        "ablation",
        {"family": "hmtalker", "params": {"face_motion_iters": 7, "path_ratios": [1, 1, 0]}},
        "cpu",
    )
    assert method.preset.face_motion_iters == 7
    assert method.preset.resolution == PRESETS["cpu"].resolution
    assert method.option("path_ratios") == [1, 1, 0]
    assert method.option("mask_ratio") == [0.1, 0.3]  # the family default
    with pytest.raises(TalkgsError, match="unknown key"):
        resolve_method("x", {"family": "talkinggaussian", "params": {"path_ratios": [1]}}, "cpu")
    with pytest.raises(TalkgsError, match="family"):
        resolve_method("x", {"family": "nerf"}, "cpu")


def test_m2dao_fuse_alternates_face_then_joint() -> None:
    method = resolve_method("m", {"family": "m2dao"}, "cpu")
    fuse = phases(method, "fuse")
    assert [(p.train_face, p.train_mouth) for p in fuse] == [(True, False), (True, True)]
    assert sum(p.iterations for p in fuse) == method.preset.fuse_iters
    baseline = phases(resolve_method("t", {"family": "talkinggaussian"}, "cpu"), "fuse")
    assert [(p.train_face, p.train_mouth) for p in baseline] == [(True, True)]


@pytest.mark.slow
@pytest.mark.parametrize("family", ["talkinggaussian", "hmtalker", "m2dao"])
def test_three_stages_and_render(demo_trainable, family: str, tmp_path: Path) -> None:
    root = Path(demo_trainable.root)
    method = f"stages-{family}"
    entry = {"family": family}
    for stage in ("face", "mouth"):
        result = talkgs(*train_args(root, method, entry, stage))
        assert result.returncode == 0, result.stderr
    out = root / "methods" / method
    result = talkgs(
        *train_args(
            root,
            method,
            entry,
            "fuse",
            "--face-model",
            str(out / "face.pt"),
            "--mouth-model",
            str(out / "mouth.pt"),
        )
    )
    assert result.returncode == 0, result.stderr
    tiny = PRESETS["tiny"]
    summary = json.loads((out / "fuse.json").read_text())
    assert summary["iterations"] == tiny.fuse_iters
    face_summary = json.loads((out / "face.json").read_text())
    assert face_summary["iterations"] == tiny.face_static_iters + tiny.face_motion_iters
    # the fuse model carries the trained face of the face stage and mouth of the mouth stage
    fuse, face, mouth = (state_of(out / f"{s}.pt") for s in ("fuse", "face", "mouth"))
    assert fuse["face.params.means"].shape == face["face.params.means"].shape
    assert fuse["mouth.params.means"].shape == mouth["mouth.params.means"].shape
    assert not torch.equal(fuse["face.params.colors"], face["face.params.colors"])  # fine-tuned
    assert (out / "snapshots").is_dir() and any((out / "snapshots").glob("fuse_*.png"))
    assert any((out / "tensorboard" / "fuse").iterdir())

    render = out / "render"
    result = talkgs(
        "render",
        "--identity-root",
        str(root),
        "--method",
        method,
        "--method-config",
        json.dumps(entry),
        "--preset",
        "tiny",
        "--backend",
        "torch",
        "--model",
        str(out / "fuse.pt"),
        "--frames",
        str(render / "val"),
        "--video",
        str(render / "val.mp4"),
        "--summary",
        str(render / "val.json"),
    )
    assert result.returncode == 0, result.stderr
    frame_count = len(list(Path(demo_trainable.frames).glob("*.jpg")))
    val_count = frame_count - int(frame_count * 10 / 11)
    assert len(list((render / "val").glob("*.png"))) == val_count
    info = probe(render / "val.mp4")
    assert info.audio is not None and info.video.frame_count == val_count
    if family == "talkinggaussian":
        check_evaluate(root, method, out, tmp_path)


def check_evaluate(root: Path, method: str, out: Path, tmp_path: Path) -> None:
    """evaluate on the tiny render: image and motion metrics computed, weighted ones null with
    the reason (no weights in an empty folder), never 0."""
    metrics = root / "metrics" / f"{method}.json"
    summaries = [
        a for s in ("face", "mouth", "fuse") for a in ("--training-summary", str(out / f"{s}.json"))
    ]
    result = talkgs(
        "evaluate",
        "--identity-root",
        str(root),
        "--method",
        method,
        "--frames",
        str(out / "render" / "val"),
        "--render-summary",
        str(out / "render" / "val.json"),
        *summaries,
        "--output",
        str(metrics),
        "--frames-csv",
        str(metrics.with_suffix(".csv")),
        "--samples",
        str(root / "metrics" / f"{method}_samples.jpg"),
        "--weights-dir",
        str(tmp_path / "no-weights"),
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(metrics.read_text())["metrics"]
    for key in ("psnr", "ssim", "lmd", "aue_l", "aue_u", "train_hours", "fps"):
        assert doc[key]["mean"] is not None and np.isfinite(doc[key]["mean"]), key
    for key in ("lpips", "sync_c", "sync_d", "fid", "csim"):
        assert doc[key]["mean"] is None and "absent" in doc[key]["reason"], key
    assert doc["ms_ssim"]["mean"] is None  # 64² frames are too small for five scales
    # PSNR recomputed here from the PNGs and the resized ground truth
    frames = sorted((out / "render" / "val").glob("*.png"))
    values = []
    for path in frames:
        render = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB).astype(np.float64)
        truth = cv2.cvtColor(
            cv2.imread(str(root / "gt_imgs" / f"{path.stem}.jpg")), cv2.COLOR_BGR2RGB
        )
        truth = cv2.resize(truth, render.shape[:2][::-1], interpolation=cv2.INTER_AREA)
        values.append(10 * np.log10(255.0**2 / np.mean((render - truth) ** 2)))
    assert doc["psnr"]["mean"] == pytest.approx(np.mean(values), abs=1e-4)
    rows = (metrics.with_suffix(".csv")).read_text().splitlines()
    assert len(rows) == len(frames) + 1


@pytest.mark.slow
def test_training_is_deterministic(demo_trainable) -> None:
    root = Path(demo_trainable.root)
    entry = {"family": "talkinggaussian", "params": {"face_motion_iters": 5}}
    for name in ("det-a", "det-b"):
        result = talkgs(*train_args(root, name, entry, "face"))
        assert result.returncode == 0, result.stderr
    a, b = (state_of(root / "methods" / n / "face.pt") for n in ("det-a", "det-b"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_sigterm_checkpoints_and_rerun_resumes_to_the_same_model(demo_trainable) -> None:
    root = Path(demo_trainable.root)
    entry = {"family": "hmtalker", "params": {"face_motion_iters": 60, "checkpoint_every": 10}}
    args = train_args(root, "resume", entry, "face")
    out = root / "methods" / "resume"
    checkpoint = out / "checkpoints" / "face.pt"
    job = subprocess.Popen(
        [sys.executable, "-m", "talkgs", *args], stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert checkpoint.exists(), "no checkpoint was written"
    job.send_signal(signal.SIGTERM)
    _, stderr = job.communicate(timeout=120)
    assert job.returncode == 2, stderr
    assert "SIGTERM" in stderr and "resumes" in stderr
    assert not (out / "face.pt").exists()  # nothing half-done is left as the output
    stopped_at = torch.load(checkpoint, weights_only=True)["iteration"]
    assert 0 < stopped_at < 70

    result = talkgs(*args)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "face.json").read_text())
    assert summary["resumed_from"] == stopped_at
    assert summary["iterations"] == PRESETS["tiny"].face_static_iters + 60
    assert not checkpoint.exists()

    uninterrupted = talkgs(*train_args(root, "resume-reference", entry, "face"))
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    a = state_of(out / "face.pt")
    b = state_of(root / "methods" / "resume-reference" / "face.pt")
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed training differs from one run"


def test_train_refuses_missing_audio_features(demo_trainable, tmp_path: Path) -> None:
    root = Path(demo_trainable.root)
    entry = {"family": "talkinggaussian", "params": {"audio_features": "ave"}}
    result = talkgs(*train_args(root, "no-ave", entry, "face"))
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "aud_ave.npy" in errors[0], result.stderr
    assert not (root / "methods" / "no-ave" / "face.pt").exists()
