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
from talkgs.metrics import NotComputed
from talkgs.train.families import FAMILIES
from talkgs.train.inference import render_view
from talkgs.train.presets import PRESETS, resolve_method
from talkgs.train.schedule import phases


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
        "--device",
        "cpu",
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
    with pytest.raises(TalkgsError, match="fuse_trains"):
        resolve_method("x", {"family": "hmtalker", "params": {"fuse_trains": "colours"}}, "cpu")


def test_fuse_phases_train_what_each_family_trains() -> None:
    def trained(family: str, preset: str = "paper") -> list[tuple[bool, ...]]:
        names = ("face.params.means", "face.params.colors", "face.params.opacities",
                 "mouth.params.means", "mouth.params.colors", "mouth.params.opacities",
                 "face_motion.deform.0.weight", "mouth_motion.deform.0.weight")  # fmt: skip
        method = resolve_method("m", {"family": family}, preset)
        fuse = phases(method, "fuse")
        assert sum(p.iterations for p in fuse) == method.preset.fuse_iters
        return [tuple(p.trains_parameter(n) for n in names) for p in fuse]

    # M2DAO: face (with its motion) while the mouth is frozen, then everything
    assert trained("m2dao") == [(1, 1, 1, 0, 0, 0, 1, 0), (1, 1, 1, 1, 1, 1, 1, 1)]
    # TalkingGaussian's train_fuse.py: colours and face opacity; geometry and motion frozen
    assert trained("talkinggaussian") == [(0, 1, 1, 0, 1, 0, 0, 0)]
    # HM-Talker fine-tunes both branches jointly
    assert trained("hmtalker") == [(1,) * 8]
    # the cpu preset's short face stage leaves geometry to the fuse, whatever the family
    assert trained("talkinggaussian", "cpu") == [(1,) * 8]


@pytest.mark.slow
@pytest.mark.parametrize("family", ["talkinggaussian", "hmtalker", "m2dao", "talk2me"])
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
    geometry_and_motion = [k for k in face if k.startswith(("face.params.means", "face_motion."))]
    unchanged = [torch.equal(fuse[k], face[k]) for k in geometry_and_motion]
    if family == "talkinggaussian":  # train_fuse.py: appearance only
        assert all(unchanged)
        assert torch.equal(fuse["mouth.params.means"], mouth["mouth.params.means"])
    else:  # both branches fine-tuned
        assert not all(unchanged)
    assert (out / "snapshots").is_dir() and any((out / "snapshots").glob("fuse_*.png"))
    assert any((out / "tensorboard" / "fuse").iterdir())
    # what ran is recorded: no GPU here, so the CPU and the PyTorch rasterizer
    for name in ("face", "mouth", "fuse"):
        ran = json.loads((out / f"{name}.json").read_text())
        assert (ran["device"], ran["renderer"], ran["gsplat_version"]) == ("cpu", "torch", None)
        assert ran["peak_host_memory_mb"] > 0 and ran["frames_placement"] == "device"

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
        "--device",
        "cpu",
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
    rendered = json.loads((render / "val.json").read_text())
    assert (rendered["device"], rendered["renderer"]) == ("cpu", "torch") and rendered["fps"] > 0
    assert rendered["face_driven_by"] == FAMILIES[family].face_driver  # what drove the face
    if family == "hmtalker":  # its fuse trains everything: a face Face Mesh finds in 45 steps
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


def test_a_training_step_makes_no_tensor_off_the_trainers_device(demo_trainable) -> None:
    """Every tensor a step creates names its device: with PyTorch's default device set to
    "meta", one created without a device would collide with the CPU tensors of training. The
    steps cover the static and motion phases, densification, the region-attention and offset
    regularisers, the lips box and its loss weight, frames drawn by mouth opening, and HM-Talker's
    masked path (which draws on the device)."""
    from talkgs.train.data import IdentityData
    from talkgs.train.initialise import build_model
    from talkgs.train.loop import Trainer
    from talkgs.train.runtime import Runtime

    everything = {
        "path_ratios": [0, 1, 0],
        "hair_dropout": True,
        "lr_means_final": 1e-6,
        "lambda_lips": 4.0,
        "open_mouth_share": 0.5,
    }
    method = resolve_method("meta", {"family": "hmtalker", "params": everything}, "tiny")
    p = method.preset
    cpu = torch.device("cpu")
    data = IdentityData(
        Path(demo_trainable.root), p.resolution, "mel", p.audio_window, cpu, family=method.spec
    )
    for stage, steps in (("face", 16), ("mouth", 11)):  # densification at 10 (and 15)
        trainer = Trainer(data, method, stage, build_model(data, method), Runtime(cpu, "torch"))
        branch = trainer.model.face if stage == "face" else trainer.model.mouth
        counts = [len(branch)]
        torch.set_default_device("meta")
        try:
            for _ in range(steps):
                terms, image, _ = trainer.advance()
                counts.append(len(trainer.model.face if stage == "face" else trainer.model.mouth))
        finally:
            torch.set_default_device(None)
        assert image.device == cpu and all(t.device == cpu for t in terms.values())
        assert all(param.device == cpu for param in trainer.model.parameters())
        assert counts[-1] != counts[0]  # densification ran
        if stage == "face":
            assert {"offset", "attention", "align", "alpha"} <= set(terms)


def test_streamed_frames_equal_preloaded_ones(demo_trainable) -> None:
    from talkgs.train.data import IdentityData

    root = Path(demo_trainable.root)
    preloaded, streamed = (
        IdentityData(root, 64, "mel", 8, placement=where, threads=2)
        for where in ("device", "stream")
    )
    indices = [0, 7, preloaded.count - 1]
    streamed.prefetch(indices[1:])
    for index in indices:
        a, b = preloaded.sample(index), streamed.sample(index)
        for key in ("image", "background", "head_mask", "mouth_mask", "hair_mask", "lips_box"):
            assert torch.equal(getattr(a, key), getattr(b, key)), key
    assert (preloaded.placement, streamed.placement) == ("device", "stream")
    sample = preloaded.sample(indices[1])
    # the lips box holds the mouth, the head mask does not
    assert float((sample.mouth_mask * (1 - sample.lips_box)).sum()) == 0.0
    assert float(sample.mouth_mask.sum()) > 0 and float(sample.lips_box.mean()) < 0.2
    assert float((sample.head_mask * sample.mouth_mask).max()) < 1.0


def test_schedules_follow_talkinggaussians_scripts() -> None:
    from talkgs.train.schedule import hair_dropped, means_lr_factor, network_lr_factor

    paper = PRESETS["paper"]
    # position lr: 1.6e-4 → 1.6e-6 log-linearly over 45k, then constant
    assert means_lr_factor(paper, 0) == pytest.approx(1.0)
    assert means_lr_factor(paper, 22500) == pytest.approx(0.1)
    assert means_lr_factor(paper, 45000) == means_lr_factor(paper, 50000) == pytest.approx(0.01)
    assert means_lr_factor(PRESETS["cpu"], 800) == 1.0  # constant there
    # networks: 0.5^(i/40k) up to 40k, then 0.1^(i/50k), for a 50k stage
    assert network_lr_factor(paper, 20000, 50000) == pytest.approx(0.5**0.5)
    assert network_lr_factor(paper, 39999, 50000) == pytest.approx(0.5, rel=1e-4)
    assert network_lr_factor(paper, 40000, 50000) == pytest.approx(0.1**0.8)
    assert network_lr_factor(paper, 50000, 50000) == pytest.approx(0.1)
    # hair leaves the face loss 6 of 7 motion iterations, up to 46k of 50k
    method = resolve_method("t", {"family": "talkinggaussian"}, "paper")
    static, motion = phases(method, "face")
    dropped = [hair_dropped(paper, motion, i, 50000) for i in range(3000, 3700)]
    assert sum(dropped) == 600 and not dropped[3003 - 3000]  # 3003 = 7 · 429
    assert not hair_dropped(paper, static, 1000, 50000)
    assert not hair_dropped(paper, motion, 46001, 50000)
    assert not hair_dropped(PRESETS["cpu"], motion, 3001, 50000)


def test_hmtalker_paths_are_drawn_in_their_ratios_and_fixed_by_the_seed() -> None:
    from talkgs.train.schedule import draws

    method = resolve_method("h", {"family": "hmtalker"}, "cpu")
    first = draws(method, list(range(100)), 10000, seed=0)
    counts = {path: first.paths.count(path) / 10000 for path in ("audio", "masked", "vanilla")}
    assert counts == pytest.approx({"audio": 0.4, "masked": 0.4, "vanilla": 0.2}, abs=0.02)
    assert min(first.mask_ratios) >= 0.1 and max(first.mask_ratios) <= 0.3
    assert len(set(first.frames)) == 100  # uniform over the training frames
    assert draws(method, list(range(100)), 10000, seed=0) == first  # what a resume relies on
    assert draws(method, list(range(100)), 10000, seed=1).frames != first.frames
    assert draws(method, list(range(100)), 0, seed=0).paths == []  # a stage of 0 iterations


# --- family behaviour, seen in what the model and its gradients do ------------------------------


def tiny_trainer(root: Path, family: str, stage: str, params: dict | None = None, seed: int = 0):
    from talkgs.train.data import IdentityData
    from talkgs.train.initialise import build_model
    from talkgs.train.loop import Trainer
    from talkgs.train.runtime import Runtime

    method = resolve_method("b", {"family": family, "params": params or {}}, "tiny")
    p = method.preset
    cpu = torch.device("cpu")
    data = IdentityData(root, p.resolution, "mel", p.audio_window, cpu, family=method.spec)
    torch.manual_seed(seed)
    return Trainer(data, method, stage, build_model(data, method), Runtime(cpu, "torch"))


def test_open_mouth_share_draws_the_rare_wide_openings_more_often() -> None:
    from talkgs.train.schedule import draws

    # speech-like openings: 90 of 100 frames nearly closed, 10 wide open
    opening = [0.02 * (i % 3) for i in range(90)] + [0.6 + 0.04 * i for i in range(10)]
    uniform = resolve_method("t", {"family": "talkinggaussian"}, "tiny")
    balanced = resolve_method(
        "t", {"family": "talkinggaussian", "params": {"open_mouth_share": 0.5}}, "tiny"
    )
    ids = list(range(100, 200))  # training frame ids are not 0..n-1

    def wide_share(method) -> float:
        frames = draws(method, ids, 20000, seed=0, opening=opening).frames
        return sum(frame >= 190 for frame in frames) / len(frames)

    assert wide_share(uniform) == pytest.approx(0.10, abs=0.01)
    # half the draws pick an opening uniformly over [0, 0.96]; those above 0.32 (halfway
    # from 0.04 to 0.6) land nearest a wide frame: 0.5 · 0.1 + 0.5 · 0.64 / 0.96 in all
    assert wide_share(balanced) == pytest.approx(0.383, abs=0.015)
    assert draws(balanced, ids, 500, 0, opening) == draws(balanced, ids, 500, 0, opening)
    with pytest.raises(ValueError, match="99 mouth openings for 100 frames"):
        draws(balanced, ids, 10, 0, opening[:99])


def test_audio_attention_starts_on_the_frame_itself() -> None:
    from talkgs.train.networks import AudioEncoder

    torch.manual_seed(0)
    encoder = AudioEncoder(16, 80, 32, 8)
    speech, other = torch.randn(16, 80), torch.randn(16, 80)
    window = other.expand(1, 8, 16, 80).clone()
    window[0, 4] = speech  # offset 0 of the window -4 … 3
    alone = encoder(speech.expand(1, 8, 16, 80))
    neighbours = encoder(other.expand(1, 8, 16, 80))
    mixed = encoder(window)
    # the output is (nearly) the frame's own: within 5% of the way to its neighbours'
    assert (mixed - alone).norm() < 0.05 * (neighbours - alone).norm()


def test_hmtalker_trains_its_three_paths_in_their_ratios_and_renders_with_audio_only(
    demo_trainable,
) -> None:
    """Per motion step, what the fusion gate is fed and whether the AU MLP learns tell the path:
    the visual AU feature is used (its MLP gets a gradient) on the masked and vanilla paths, the
    gate's audio half has zeroed entries on the masked path alone."""
    steps = 150
    trainer = tiny_trainer(
        Path(demo_trainable.root), "hmtalker", "face",
        {"face_static_iters": 1, "face_motion_iters": steps},
    )  # fmt: skip
    motion = trainer.model.face_motion
    audio_dim = trainer.method.preset.audio_dim
    gate_inputs: list[torch.Tensor] = []
    encoded: list[torch.Tensor] = []
    motion.gate.register_forward_pre_hook(lambda _, args: gate_inputs.append(args[0].detach()))
    motion.audio.register_forward_hook(lambda _, __, out: encoded.append(out.detach()))
    trainer.advance()  # the static warm-up step
    seen = []
    for _ in range(steps):
        gate_inputs.clear()
        encoded.clear()
        trainer.advance()
        (fed,), (audio,) = gate_inputs, encoded
        # the audio feature as the gate sees it, against the encoder's output: masked entries
        live = audio[0] != 0
        dropped = float(((fed[0, :audio_dim] == 0) & live).sum() / live.sum())
        grads = [p.grad for p in motion.au_lower.parameters()]
        visual = any(g is not None and bool(g.abs().sum() > 0) for g in grads)
        seen.append("masked" if dropped > 0 else "vanilla" if visual else "audio")
        if dropped > 0:
            assert visual and 0.02 <= dropped <= 0.5  # mask_ratio [0.1, 0.3] of the features
    shares = {path: seen.count(path) / steps for path in ("audio", "masked", "vanilla")}
    assert shares == pytest.approx({"audio": 0.4, "masked": 0.4, "vanilla": 0.2}, abs=0.12)

    # validation frames: the recorded lower-face AUs do not reach the render (audio path)
    from talkgs.render import render_validation

    data, model = trainer.data, trainer.model
    model.eval()
    with torch.no_grad():
        before, _ = render_validation(model, data, trainer.method, trainer.runtime)
        recorded = data.features["au_lower"].clone()
        data.features["au_lower"] = torch.rand_like(recorded) * 5
        after, _ = render_validation(model, data, trainer.method, trainer.runtime)
        index = data.val_ids[0]
        sample = data.sample(index)
        vanilla = [
            render_view(model, sample, "fuse", "torch", trainer.method, data.conditions(index, p))
            for p in ("vanilla", "vanilla")
        ]
        data.features["au_lower"] = recorded
        vanilla.append(
            render_view(
                model, sample, "fuse", "torch", trainer.method, data.conditions(index, "vanilla")
            )
        )
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert not torch.equal(vanilla[0], vanilla[2])  # the AUs do reach it on the vanilla path


def test_m2dao_fuse_alternates_face_alone_then_both(demo_trainable) -> None:
    trainer = tiny_trainer(Path(demo_trainable.root), "m2dao", "fuse")
    model = trainer.model

    def snapshot(prefix: str) -> dict[str, torch.Tensor]:
        return {
            k: v.detach().clone() for k, v in model.state_dict().items() if k.startswith(prefix)
        }

    changed = []
    for _ in range(trainer.total):
        face, mouth = snapshot(("face.", "face_motion.")), snapshot(("mouth.", "mouth_motion."))
        trainer.advance()
        moved = {
            name: any(not torch.equal(before[k], model.state_dict()[k]) for k in before)
            for name, before in (("face", face), ("mouth", mouth))
        }
        changed.append((moved["face"], moved["mouth"]))
    first = next(p.iterations for p in phases(trainer.method, "fuse"))
    assert set(changed[:first]) == {(True, False)}  # the face (and its motion), mouth frozen
    assert set(changed[first:]) == {(True, True)}  # then both


@pytest.mark.parametrize("family", ["m2dao", "talkinggaussian"])
def test_face_supervision_of_the_full_portrait_or_the_head_region(
    demo_trainable, family: str
) -> None:
    """M2DAO supervises the face on the full portrait with its alpha left free: its face loss
    does not depend on the parsing's head region. TalkingGaussian's region supervision does."""
    import dataclasses

    losses = []
    for erase_head in (False, True):
        trainer = tiny_trainer(Path(demo_trainable.root), family, "face")
        if erase_head:
            sample = trainer.data.sample
            trainer.data.sample = lambda i, s=sample: dataclasses.replace(  # type: ignore[method-assign]
                s(i), head_mask=torch.zeros_like(s(i).head_mask)
            )
        terms, _, _ = trainer.advance()
        losses.append(float(terms["loss"]))
    if family == "m2dao":
        assert losses[0] == losses[1]
    else:
        assert losses[0] != losses[1]


def test_a_model_file_of_an_older_format_asks_to_be_retrained(tmp_path: Path) -> None:
    from talkgs.train.model_file import load_model

    method = resolve_method("t", {"family": "talkinggaussian"}, "tiny")
    old = tmp_path / "face.pt"
    torch.save({"format": "talkgs-model/1", "state": {}}, old)
    with pytest.raises(TalkgsError, match=r"face\.pt: a talkgs-model/1 file.*retrain"):
        load_model(old, method, (16, 80))
    torch.save({"format": "something else"}, old)
    with pytest.raises(TalkgsError, match=r"face\.pt: not a talkgs-model/2 file"):
        load_model(old, method, (16, 80))


# A shortened `cpu` preset: the motion it learns is enough to tell audio from silence (~45 s a
# family here), not the demo's full amplitude (README, Lip motion).
FOLLOW_PARAMS = {
    "face_static_iters": 100,
    "face_motion_iters": 400,
    "mouth_motion_iters": 100,
    "fuse_iters": 100,
}


@pytest.mark.slow
@pytest.mark.parametrize("family", ["talkinggaussian", "hmtalker", "m2dao"])
def test_mouth_follows_audio(demo_6s, family: str, tmp_path: Path) -> None:
    """A trained model's validation renders open the mouth with the demo's true opening (Face
    Mesh on the renders); driven by silence the mouth stays still, driven by time-shuffled audio
    it stops following; and it beats the background layer alone by a margin."""
    from talkgs.evaluate import landmarks_of
    from talkgs.features.audio import log_mel_windows
    from talkgs.metrics.landmark_metrics import lip_motion, mouth_opening
    from talkgs.render import render_validation
    from talkgs.train import stage
    from talkgs.train.inference import psnr
    from talkgs.train.model_file import load_model

    root, truth_opening = demo_6s
    method = resolve_method(family, {"family": family, "params": FOLLOW_PARAMS}, "cpu")
    params = stage.TrainParams(device="cpu", backend="torch")
    model = {s: tmp_path / f"{s}.pt" for s in stage.STAGES}
    for name in ("face", "mouth"):
        outputs = stage.TrainOutputs(model[name], tmp_path / f"{name}.json")
        stage.run(name, method, stage.TrainInputs(root), outputs, params)
    inputs = stage.TrainInputs(root, model["face"], model["mouth"])
    stage.run(
        "fuse", method, inputs, stage.TrainOutputs(model["fuse"], tmp_path / "f.json"), params
    )

    mel = np.load(root / "features" / "aud_mel.npy")
    shuffles = [mel[np.random.default_rng(seed).permutation(len(mel))] for seed in range(3)]
    silence = log_mel_windows(np.zeros(16000 * 8), len(mel))
    lips, psnrs = {}, {}
    for label, audio in [("own", None), ("silence", silence)] + [
        (f"shuffled{k}", shuffled) for k, shuffled in enumerate(shuffles)
    ]:
        runtime = params.runtime(method, training=False)
        data = params.identity_data(root, method, runtime, audio_override=audio)
        trained = load_model(model["fuse"], method, data.audio_shape)
        with torch.no_grad():
            frames, _ = render_validation(trained, data, method, runtime)
        marks = landmarks_of(frames, 512, tmp_path / label)
        assert not isinstance(marks, NotComputed), marks
        lips[label] = lip_motion(truth_opening[data.val_ids], mouth_opening(marks.landmarks))
        if label == "own":
            renders = [torch.from_numpy(f).float() / 255 for f in frames]
            samples = [data.sample(i) for i in data.val_ids]
            psnrs["model"] = np.mean([psnr(r, s) for r, s in zip(renders, samples, strict=True)])
            psnrs["background"] = np.mean([psnr(s.background, s) for s in samples])
    own_r, own_amplitude = lips["own"]
    assert own_r >= 0.8, lips
    # …and opens with it: without the audio (zeroed in training) it reached 0.03, driven only
    # by the upper-face AUs it also sees
    assert own_amplitude >= 0.1, lips
    # silence: the mouth hardly moves (its correlation with the truth is not meaningful then)
    assert lips["silence"][1] < 0.3 * own_amplitude, lips
    shuffled_r = np.mean([lips[f"shuffled{k}"][0] for k in range(3)])
    assert shuffled_r < own_r - 0.5, lips
    assert psnrs["model"] > psnrs["background"] + 5, psnrs
