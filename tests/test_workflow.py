"""The Snakemake workflow: lint, DAG, and real runs of the demo and ingest rules."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "snakemake",
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(workdir),
            "--configfile",
            str(workdir / "config.yaml"),
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=workdir,
    )


def workdir_with(tmp_path: Path, config: dict) -> Path:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def test_lint_is_clean() -> None:
    result = subprocess.run(["snakemake", "--lint"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for" not in result.stdout + result.stderr, result.stdout + result.stderr


def test_dry_run_lists_the_dag(tmp_path: Path) -> None:
    config = {"identities": {"demo": "results/_demo/demo.mp4", "alice": "alice.mp4"}}
    (tmp_path / "alice.mp4").write_bytes(b"not checked in a dry run")
    result = snakemake(workdir_with(tmp_path, config), "-n", "--quiet", "rules")
    assert result.returncode == 0, result.stderr
    table = result.stdout + result.stderr
    for rule, count in (("demo_video", 1), ("ingest", 2), ("all", 1)):
        assert any(line.split()[:2] == [rule, str(count)] for line in table.splitlines()), table


def test_baselines_join_the_dag_where_they_have_renders(tmp_path: Path) -> None:
    renders = tmp_path / "renders"
    renders.mkdir()
    for name in ("demo.mp4", "alice.mp4", "alice_by_demo.mp4"):
        (renders / name).write_bytes(b"not read in a dry run")
    (renders / "alice_dir").mkdir()
    config = {
        "identities": {"demo": "results/_demo/demo.mp4", "alice": "alice.mp4"},
        "methods": {"tg": {"family": "talkinggaussian"}},
        "render": {"cross_audio": ["demo"]},
        "baselines": {
            "ext": "renders/{identity}.mp4",
            "part": {
                "renders": {"alice": "renders/alice_dir"},
                "cross": {"demo": "renders/{identity}_by_demo.mp4"},
            },
        },
        "tables": {"reference": "ext"},
    }
    (tmp_path / "alice.mp4").write_bytes(b"not checked in a dry run")
    result = snakemake(workdir_with(tmp_path, config), "-n", "--quiet", "rules")
    assert result.returncode == 0, result.stdout + result.stderr
    table = result.stdout + result.stderr
    # ext on both identities, part on alice only (and alice driven by demo's audio)
    for rule, count in (
        ("baseline", 3), ("baseline_cross", 1), ("evaluate_baseline", 3), ("evaluate", 2),
        ("render_cross", 1), ("tables", 1),
    ):  # fmt: skip
        assert any(line.split()[:2] == [rule, str(count)] for line in table.splitlines()), table
    config["baselines"]["tg"] = "renders/{identity}.mp4"
    result = snakemake(workdir_with(tmp_path, config), "-n")
    assert result.returncode != 0
    assert "baselines.tg: also the name of a method" in result.stdout + result.stderr


def test_bad_identity_name_stops_the_run_with_a_readable_message(tmp_path: Path) -> None:
    result = snakemake(workdir_with(tmp_path, {"identities": {"a/../b": "x.mp4"}}), "-n")
    assert result.returncode != 0
    assert "identities: 'a/../b' is not a valid identity name" in result.stdout + result.stderr


@pytest.mark.slow
def test_demo_and_ingest_run_end_to_end(tmp_path: Path) -> None:
    """The whole workflow, demo video to tables, with the tiny training preset."""
    config = {
        "identities": {"demo": "results/_demo/demo.mp4"},
        "demo": {"duration_s": 8},
        "train": {"preset": "tiny", "backend": "torch"},
        "methods": {"tg": {"family": "talkinggaussian"}},
    }
    work = workdir_with(tmp_path, config)
    (work / "resources").symlink_to(REPO / "resources")  # the weights manifest, as in the repo
    result = snakemake(work, "--cores", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    table = (work / "results/tables/self_reconstruction.md").read_text()
    assert table.splitlines()[2].startswith("| tg | ")
    metrics = json.loads((work / "results/demo/metrics/tg.json").read_text())["metrics"]
    assert metrics["psnr"]["mean"] > 15 and metrics["lpips"]["mean"] is None
    assert (work / "results/report/runtimes.png").stat().st_size > 1000
    meta = json.loads((work / "results/demo/meta.json").read_text())
    assert meta["frame_count"] == 200
    assert len(list((work / "results/demo/frames").glob("*.jpg"))) == 200
    assert (work / "logs/demo/ingest.log").read_text().count("ingest:") >= 1
    assert (work / "benchmarks/demo/ingest.tsv").is_file()
    # nothing changed: nothing to do
    again = snakemake(work, "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
def test_failing_ingest_leaves_no_partial_results(tmp_path: Path) -> None:
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 4096)
    work = workdir_with(tmp_path, {"identities": {"broken": "broken.mp4"}})
    result = snakemake(work, "--cores", "1")
    assert result.returncode != 0
    assert (
        "talkgs ingest: error: broken.mp4: unreadable media file" in result.stdout + result.stderr
    )
    results = work / "results"
    assert not results.exists() or not [p for p in results.rglob("*") if p.is_file()]
