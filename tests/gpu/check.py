"""The GPU check of talkgs: train and render the demo identity with gsplat, and compare.

Run by ``tests/gpu/check.sh`` (README: "The GPU check") after ``talkgs gpu-setup`` and the CUDA
tests. On a machine with a CUDA GPU (``--mode gpu``) it

1. trains ``talkinggaussian`` on the demo at 512² with the ``paper`` recipe on a shortened
   schedule (face, mouth, fuse), with gsplat, frames on the GPU;
2. renders the validation frames (render FPS at 512², validation PSNR);
3. renders the trained avatar's face and mouth with gsplat and with the PyTorch rasterizer on
   CUDA and compares images and gradients (PSNR > 45 dB, gradient error < 1e-2);
4. compares talkgs' LPIPS and FID feature networks with the ``lpips`` and ``pytorch-fid``
   packages, all fed the same random weights through talkgs' verifying loaders;
5. prints iterations/s per stage, render FPS, peak device memory and the PSNR, and writes them
   to ``check.json``.

``--mode cpu`` runs the same steps at toy sizes (``tiny`` preset, PyTorch rasterizer); the
steps that need gsplat's kernels or torchvision are skipped with the reason. The test suite runs
it (``tests/test_gpu_check.py``), so that the script's logic is never first tried on a GPU. It
also checks that nothing it imports is missing on the GPU machine.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))  # weight_files

from talkgs.metrics.image import psnr as image_psnr  # noqa: E402
from talkgs.render import RenderOutputs, render_validation  # noqa: E402
from talkgs.render import run as render_run  # noqa: E402
from talkgs.splat.agreement import backend_agreement  # noqa: E402
from talkgs.train import stage  # noqa: E402
from talkgs.train.inference import to_uint8  # noqa: E402
from talkgs.train.model_file import load_model  # noqa: E402
from talkgs.train.presets import resolve_method  # noqa: E402

# The paper recipe on a schedule that fits the check's time: 2k face, 1k mouth, 500 fuse
# iterations, with its iteration-based milestones scaled alike (upstream's 3k warm-up, 45k
# position decay, densification to 49k / 45k).
SHORT_PAPER = {
    "face_static_iters": 300,
    "face_motion_iters": 1700,
    "mouth_static_iters": 300,
    "mouth_motion_iters": 700,
    "fuse_iters": 500,
    "lr_means_steps": 1800,
    "refine_stop_face": 1960,
    "refine_stop_mouth": 900,
    "prune_big_from": 300,
    "checkpoint_every": 100000,
    "snapshot_every": 100000,
}
# Modules the GPU machine lacks (its image holds torch, numpy, OpenCV, SciPy, tensorboard, …;
# gsplat, lpips and pytorch-fid are carried): importing one would break the check there.
ABSENT_THERE = ("mediapipe", "librosa", "soundfile", "snakemake", "pocketsphinx", "cpbd")


class Report:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.figures: dict[str, Any] = {}
        self.steps: dict[str, str] = {}  # step → "ok" | "skipped: why" | "FAILED: why"

    def run(self, name: str, step: Callable[[], None]) -> None:
        print(f"--- {name}", flush=True)
        try:
            step()
            self.steps.setdefault(name, "ok")
        except Exception as error:
            traceback.print_exc()
            self.steps[name] = f"FAILED: {type(error).__name__}: {str(error).splitlines()[0]}"
        print(f"    {self.steps[name]}", flush=True)

    def skip(self, name: str, why: str) -> None:
        self.steps[name] = f"skipped: {why}"

    def check(self, name: str, passed: bool, detail: str) -> None:
        if not passed:
            raise AssertionError(f"{name}: {detail}")

    @property
    def failed(self) -> bool:
        return any(v.startswith("FAILED") for v in self.steps.values())


def environment(mode: str) -> dict[str, Any]:
    cuda = torch.cuda.is_available()
    return {
        "mode": mode,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "date": time.strftime("%Y-%m-%d"),
    }


def train_and_render(report: Report, root: Path, work: Path, gpu: bool) -> None:
    entry = {"family": "talkinggaussian", "params": SHORT_PAPER if gpu else {}}
    method = resolve_method("check", entry, "paper" if gpu else "tiny")
    params = stage.TrainParams(
        device="cuda" if gpu else "cpu",
        backend="gsplat" if gpu else "torch",
        threads=2,
        snapshot_dir=work / "snapshots",
    )
    model = work / "fuse.pt"
    summaries = {}
    for name in ("face", "mouth", "fuse"):
        summaries[name] = stage.run(
            name,
            method,
            stage.TrainInputs(root, work / "face.pt", work / "mouth.pt"),
            stage.TrainOutputs(work / f"{name}.pt", work / f"{name}.json"),
            params,
        )
    expected = ("cuda", "gsplat") if gpu else ("cpu", "torch")
    for name, summary in summaries.items():
        ran = (summary["device"], summary["renderer"])
        report.check(f"{name} ran on", ran == expected, f"{ran}, not {expected}")
    report.figures["iterations_per_second"] = {
        k: s["iterations_per_second"] for k, s in summaries.items()
    }
    report.figures["training_seconds"] = {k: s["seconds"] for k, s in summaries.items()}
    report.figures["gaussians"] = {
        "face": summaries["fuse"]["face_gaussians"],
        "mouth": summaries["fuse"]["mouth_gaussians"],
    }
    report.figures["peak_device_memory_mb"] = {
        k: s["peak_device_memory_mb"] for k, s in summaries.items()
    }
    report.figures["frames_placement"] = summaries["face"]["frames_placement"]
    report.figures["resolution"] = method.preset.resolution

    # the render stage itself when ffmpeg is here (it writes an mp4), else its frame renderer
    runtime = params.runtime(method, training=False)
    data = params.identity_data(root, method, runtime)
    if shutil.which("ffmpeg"):
        outputs = RenderOutputs(work / "val", work / "val.mp4", work / "val.json")
        rendered = render_run(method, root, model, outputs, params)
        fps, how = rendered["fps"], "talkgs render"
        images = [image for image in _read_pngs(work / "val")]
    else:
        avatar = load_model(model, method, data.audio_shape, runtime.device)
        images, seconds = render_validation(avatar, data, method, runtime)
        fps, how = len(images) / max(seconds, 1e-9), "render_validation (no ffmpeg here)"
    truths = [to_uint8(data.sample(i).image) for i in data.val_ids]
    report.figures["render_fps"] = round(fps, 1)
    report.figures["render"] = how
    report.figures["validation_psnr_db"] = round(
        float(np.mean([image_psnr(a, b) for a, b in zip(images, truths, strict=True)])), 2
    )
    mean_frame = np.mean([to_uint8(data.sample(i).image) for i in data.train_ids[::10]], 0)
    report.figures["mean_frame_psnr_db"] = round(
        float(np.mean([image_psnr(mean_frame.astype(np.uint8), t) for t in truths])), 2
    )
    report.check(  # the toy CPU schedule learns too little for this bar
        "validation PSNR",
        not gpu or report.figures["validation_psnr_db"] > report.figures["mean_frame_psnr_db"] + 3,
        f"{report.figures['validation_psnr_db']} dB: barely above the mean training frame "
        f"({report.figures['mean_frame_psnr_db']} dB)",
    )


def _read_pngs(folder: Path) -> list[np.ndarray]:
    import cv2

    return [
        cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(folder.glob("*.png"))
    ]


def backends_on_the_trained_avatar(report: Report, root: Path, work: Path, gpu: bool) -> None:
    """gsplat against the PyTorch rasterizer on the trained face and mouth (on the CPU, the
    PyTorch rasterizer against itself: the step's own code, nothing about gsplat)."""
    entry = {"family": "talkinggaussian", "params": SHORT_PAPER if gpu else {}}
    method = resolve_method("check", entry, "paper" if gpu else "tiny")
    params = stage.TrainParams(device="cuda" if gpu else "cpu", backend="torch")
    runtime = params.runtime(method, training=False)
    data = params.identity_data(root, method, runtime)
    avatar = load_model(work / "fuse.pt", method, data.audio_shape, runtime.device)
    index = data.val_ids[len(data.val_ids) // 2]
    sample, cond = data.sample(index), data.conditions(index)
    results = {}
    with torch.no_grad():
        face, _ = avatar.face_gaussians(cond)
        mouth = avatar.mouth_gaussians(cond)
    size = method.preset.resolution
    for name, gaussians in (("face", face), ("mouth", mouth)):
        scene = {**gaussians, "viewmat": sample.viewmat, "K": sample.K}
        test = "gsplat" if gpu else "torch"
        agreement = backend_agreement(scene, size, size, test=test, reference="torch")
        results[name] = {
            "psnr_db": round(agreement.psnr_db, 2),
            "gradient_error": agreement.gradient_error,
        }
        report.check(f"gsplat vs torch ({name})", agreement.passes, agreement.describe())
    report.figures["gsplat_vs_torch" if gpu else "torch_vs_torch"] = results


def reference_packages_problem() -> str | None:
    """Why lpips / pytorch-fid cannot run here, or None."""
    try:
        import lpips  # noqa: F401  (imports torchvision)
        import pytorch_fid.inception  # noqa: F401
    except Exception as error:  # torchvision's CUDA build fails at import beside a CPU torch
        reason = str(error).splitlines()[0] if str(error) else ""
        return f"lpips / pytorch-fid do not import here ({type(error).__name__}: {reason})"
    return None


def metric_networks_vs_references(report: Report, work: Path, device: torch.device) -> None:
    """talkgs' LPIPS and FID networks against the lpips and pytorch-fid packages, all with the
    same random weights, which talkgs loads from files in the real formats."""
    import lpips
    import pytorch_fid.inception as fid_reference

    from talkgs.metrics.fid import FID_WEIGHT, FidInception, load_fid_inception
    from talkgs.metrics.lpips import ALEXNET_WEIGHT, HEADS_WEIGHT, load_lpips
    from weight_files import make_store

    torch.backends.cudnn.allow_tf32 = False  # compare float32 with float32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(0)

    reference_lpips = lpips.LPIPS(net="alex", pretrained=False, pnet_rand=True, verbose=False)
    alexnet = {
        f"features.{name}.{key}": value.detach().clone()
        for part in reference_lpips.net.children()  # slice1…slice5, AlexNet's layer indices kept
        for name, module in part.named_children()
        for key, value in module.state_dict().items()
    }
    # lin0…lin4 as in lpips/weights/v0.1/alex.pth (the model also lists them under lins.*)
    heads = {
        k: v.detach().clone()
        for k, v in reference_lpips.state_dict().items()
        if re.match(r"lin\d\.", k)
    }

    generator = torch.Generator().manual_seed(1)
    reference_inception = FidInception()  # random architecture in pytorch-fid's key layout
    state = {}
    for key, value in reference_inception.state_dict().items():
        if key.endswith("running_var"):
            value = torch.rand(value.shape, generator=generator) + 0.5
        elif key.endswith("running_mean") or key.endswith(".bias"):
            value = torch.randn(value.shape, generator=generator) * 0.1
        state[key] = value
    state["fc.weight"] = torch.randn(1008, 2048, generator=generator) * 0.01
    state["fc.bias"] = torch.zeros(1008)
    fid_reference.load_state_dict_from_url = lambda *args, **kwargs: state  # no download
    theirs_fid = fid_reference.InceptionV3([3], resize_input=True, normalize_input=True)

    store = make_store(
        work / "weights",
        {
            ALEXNET_WEIGHT: ("alexnet-owt-7be5be79.pth", ("legacy", alexnet)),
            HEADS_WEIGHT: ("lpips/v0.1/alex.pth", ("legacy", heads)),
            FID_WEIGHT: ("pt_inception-2015-12-05-6726825d.pth", state),
        },
    )
    ours_lpips = load_lpips(store).to(device)
    ours_fid = load_fid_inception(store).to(device)
    reference_lpips = reference_lpips.to(device).eval()
    theirs_fid = theirs_fid.to(device).eval()

    images = torch.rand(4, 3, 256, 256, generator=generator).to(device)
    others = (images + 0.2 * torch.randn(4, 3, 256, 256, generator=generator).to(device)).clamp(
        0, 1
    )
    with torch.no_grad():
        ours = ours_lpips(2 * images - 1, 2 * others - 1)
        theirs = reference_lpips(2 * images - 1, 2 * others - 1).flatten()
        lpips_error = float((ours - theirs).abs().max() / theirs.abs().max())
        ours_features = ours_fid(images)
        theirs_features = theirs_fid(images)[0].flatten(1)
        fid_error = float(
            (ours_features - theirs_features).abs().max() / theirs_features.abs().max()
        )
    report.figures["lpips_vs_lpips_package"] = lpips_error
    report.figures["fid_features_vs_pytorch_fid"] = fid_error
    report.check("LPIPS", lpips_error < 1e-4, f"relative difference {lpips_error:.2e}")
    report.check("FID features", fid_error < 1e-4, f"relative difference {fid_error:.2e}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("gpu", "cpu"), default="gpu")
    parser.add_argument("--identity-root", type=Path, required=True, help="a trainable identity")
    parser.add_argument("--out", type=Path, required=True, help="folder for check.json")
    args = parser.parse_args()
    gpu = args.mode == "gpu"
    if gpu and not torch.cuda.is_available():
        print("check: --mode gpu needs a CUDA GPU; use --mode cpu here", file=sys.stderr)
        return 2
    report = Report(args.mode)
    report.figures["environment"] = environment(args.mode)
    work = Path(tempfile.mkdtemp(prefix="talkgs-check-"))
    report.run("train and render", lambda: train_and_render(report, args.identity_root, work, gpu))
    trained = report.steps["train and render"] == "ok"
    agreement_step = "renderers on the trained avatar"
    if not trained:
        report.skip(agreement_step, "training failed")
    else:
        report.run(
            agreement_step,
            lambda: backends_on_the_trained_avatar(report, args.identity_root, work, gpu),
        )
        if not gpu and report.steps[agreement_step] == "ok":
            report.steps[agreement_step] += " (torch against itself: gsplat needs CUDA)"
    references_step = "LPIPS / FID vs lpips / pytorch-fid"
    problem = reference_packages_problem()
    if problem is not None:
        report.skip(references_step, problem)
    else:
        device = torch.device("cuda" if gpu else "cpu")
        report.run(references_step, lambda: metric_networks_vs_references(report, work, device))
    imported = sorted(name for name in ABSENT_THERE if name in sys.modules)
    report.steps["imports"] = (
        "ok"
        if not imported
        else f"FAILED: imports {', '.join(imported)}, absent on the GPU machine"
    )

    result = {"figures": report.figures, "steps": report.steps}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "check.json").write_text(json.dumps(result, indent=2) + "\n")
    print("=== talkgs GPU check:", args.mode, json.dumps(report.figures["environment"]))
    for name, outcome in report.steps.items():
        print(f"  {name}: {outcome}")
    figures = {k: v for k, v in report.figures.items() if k != "environment"}
    print(json.dumps(figures, indent=1))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
