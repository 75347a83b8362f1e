"""tests/gpu/check.sh in its CPU mode: the GPU check's own logic, tried here before any GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_runs_in_cpu_mode(demo_trainable, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "OUT": str(tmp_path / "out"),
        "PYTHON": sys.executable,
        "TALKGS_CHECK_IDENTITY": str(demo_trainable.root),
    }
    result = subprocess.run(
        ["bash", str(REPO / "tests/gpu/check.sh"), "--cpu"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "check.json").read_text())
    steps, figures = report["steps"], report["figures"]
    assert steps["train and render"] == "ok" and steps["imports"] == "ok"
    assert steps["renderers on the trained avatar"].startswith("ok (torch against itself")
    assert figures["torch_vs_torch"]["face"]["psnr_db"] == 100.0
    assert steps["LPIPS / FID vs lpips / pytorch-fid"].startswith("skipped: ")
    assert set(figures["iterations_per_second"]) == {"face", "mouth", "fuse"}
    assert all(v > 0 for v in figures["iterations_per_second"].values())
    assert figures["render_fps"] > 0 and figures["resolution"] == 64
    assert 10 < figures["validation_psnr_db"] < 60 and 10 < figures["mean_frame_psnr_db"] < 60
    assert figures["peak_device_memory_mb"] == {"face": None, "mouth": None, "fuse": None}
    assert "iterations_per_second" in result.stdout  # the figures are printed
