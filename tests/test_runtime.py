"""Which device and renderer a job runs on: the decision, its one-line refusals, and the checks of
gsplat's per-environment build (what a GPU job refuses when the build does not fit)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from talkgs.errors import TalkgsError
from talkgs.splat import gsplat_build
from talkgs.splat.agreement import gsplat_problem
from talkgs.train.data import choose_placement
from talkgs.train.runtime import decide


def no_gsplat_question() -> str | None:
    raise AssertionError("gsplat was asked about although it would not run")


def gsplat_works() -> str | None:
    return None


def gsplat_broken() -> str | None:
    return "gsplat's CUDA kernels are not built for this environment (no /env/talkgs-gsplat.json)"


def refusal(**requests: object) -> str:
    with pytest.raises(TalkgsError) as caught:
        decide(**requests)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_without_a_gpu_the_cpu_and_the_pytorch_rasterizer_run() -> None:
    common = dict(allow_paper_on_cpu=False, cuda_visible=False, gsplat_problem=no_gsplat_question)
    assert decide("auto", "auto", "cpu", **common) == ("cpu", "torch")
    assert decide("cpu", "torch", "tiny", **common) == ("cpu", "torch")
    message = refusal(device="auto", backend="gsplat", preset="cpu", **common)
    assert "gsplat" in message and "CUDA GPU" in message
    message = refusal(device="cuda", backend="auto", preset="cpu", **common)
    assert "no CUDA GPU" in message and "train.device: cpu" in message


def test_paper_preset_on_the_cpu_is_refused_unless_asked_for() -> None:
    message = refusal(
        device="auto", backend="auto", preset="paper", allow_paper_on_cpu=False,
        cuda_visible=False, gsplat_problem=no_gsplat_question,
    )  # fmt: skip
    assert "days" in message and "train.allow_paper_on_cpu: true" in message
    # also where a GPU is visible but the user pins the CPU
    refusal(
        device="cpu", backend="auto", preset="paper", allow_paper_on_cpu=False,
        cuda_visible=True, gsplat_problem=no_gsplat_question,
    )  # fmt: skip
    opted_in = decide("auto", "auto", "paper", True, False, no_gsplat_question)
    assert opted_in == ("cpu", "torch")


def test_a_visible_gpu_trains_with_gsplat_or_refuses_with_the_reason() -> None:
    assert decide("auto", "auto", "paper", False, True, gsplat_works) == ("cuda", "gsplat")
    assert decide("cuda", "gsplat", "cpu", False, True, gsplat_works) == ("cuda", "gsplat")
    for device, backend in (("auto", "auto"), ("cuda", "auto"), ("auto", "gsplat")):
        message = refusal(
            device=device, backend=backend, preset="paper", allow_paper_on_cpu=False,
            cuda_visible=True, gsplat_problem=gsplat_broken,
        )  # fmt: skip
        assert gsplat_broken() in message  # why
        assert "train.backend: torch" in message  # and the way out
    # choosing the PyTorch rasterizer explicitly is the one way to skip gsplat on a GPU
    assert decide("auto", "torch", "paper", False, True, no_gsplat_question) == ("cuda", "torch")


def test_unknown_requests_are_named() -> None:
    common = dict(allow_paper_on_cpu=False, cuda_visible=False, gsplat_problem=gsplat_works)
    assert "train.device" in refusal(device="tpu", backend="auto", preset="cpu", **common)
    assert "train.backend" in refusal(device="auto", backend="vulkan", preset="cpu", **common)


def test_frame_placement() -> None:
    gpu, cpu = torch.device("cuda"), torch.device("cpu")
    gib = 2**30
    assert choose_placement("auto", 2 * gib, gpu, 80 * gib, 64 * gib) == "device"
    assert choose_placement("auto", 20 * gib, gpu, 16 * gib, 64 * gib) == "host"
    assert choose_placement("auto", 40 * gib, gpu, 16 * gib, 64 * gib) == "stream"
    assert choose_placement("auto", 2 * gib, cpu, 0, 64 * gib) == "device"  # host memory
    assert choose_placement("auto", 40 * gib, cpu, 0, 64 * gib) == "stream"
    assert choose_placement("host", 1, cpu, 0, 64 * gib) == "device"  # the CPU's device is host
    assert choose_placement("stream", 1, gpu, 80 * gib, 64 * gib) == "stream"
    with pytest.raises(TalkgsError, match=r"train\.frames"):
        choose_placement("disk", 1, cpu, 0, 1)


def test_a_gsplat_build_is_used_only_where_it_was_made_for(tmp_path: Path) -> None:
    module = tmp_path / "gsplat_cuda" / "gsplat_cuda.so"
    module.parent.mkdir()
    module.write_bytes(b"")
    stamp = {**gsplat_build.environment(), "arch_list": ["8.0", "9.0+PTX"], "module": str(module)}
    assert gsplat_build.stamp_problem(stamp, tmp_path, "9.0") is None
    assert gsplat_build.stamp_problem(stamp, tmp_path, "8.0") is None
    assert "this GPU is 8.6" in gsplat_build.stamp_problem(stamp, tmp_path, "8.6")
    other = {**stamp, "torch": "2.9.1+cu128"}
    assert "another environment (torch 2.9.1+cu128" in gsplat_build.stamp_problem(
        other, tmp_path, "9.0"
    )
    assert "not built" in gsplat_build.stamp_problem(None, tmp_path, "9.0")
    module.unlink()
    assert "missing" in gsplat_build.stamp_problem(stamp, tmp_path, "9.0")


def test_gsplat_reports_why_it_cannot_run_here() -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA machine: tests/gpu/check.sh covers gsplat there")
    assert gsplat_problem() == "no CUDA device is visible"


def test_gpu_setup_without_a_gpu_says_so_in_one_line(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA machine would build")
    result = subprocess.run(
        [sys.executable, "-m", "talkgs", "gpu-setup", "--extensions-dir", str(tmp_path / "ext")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "needs a CUDA GPU" in lines[0], result.stderr
    assert not (tmp_path / "ext" / gsplat_build.STAMP_NAME).exists()


def test_stamp_is_json_with_the_fields_jobs_check(tmp_path: Path) -> None:
    """read_stamp tolerates a cut-off file (a job then refuses, it does not crash)."""
    (tmp_path / gsplat_build.STAMP_NAME).write_text('{"gsplat": "1.5')
    assert gsplat_build.read_stamp(tmp_path) is None
    (tmp_path / gsplat_build.STAMP_NAME).write_text(json.dumps({"gsplat": "1.5.3"}))
    assert gsplat_build.read_stamp(tmp_path) == {"gsplat": "1.5.3"}


def test_train_refuses_the_paper_preset_on_the_cpu_in_one_line(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA machine would train")
    out = tmp_path / "methods" / "tg"
    result = subprocess.run(
        [sys.executable, "-m", "talkgs", "train", "--stage", "face", "--identity-root",
         str(tmp_path), "--method", "tg", "--method-config", '{"family": "talkinggaussian"}',
         "--preset", "paper", "--output", str(out / "face.pt"), "--summary",
         str(out / "face.json")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "allow_paper_on_cpu" in errors[0], result.stderr
    assert not out.exists()


def test_rendering_a_paper_model_on_the_cpu_is_allowed() -> None:
    assert decide("auto", "auto", None, False, False, no_gsplat_question) == ("cpu", "torch")
