"""The Snakemake workflow: lint, DAG, and real runs of the demo and ingest rules."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
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


def test_a_bad_method_parameter_is_refused_before_any_job_runs(tmp_path: Path) -> None:
    config = {
        "identities": {"demo": "results/_demo/demo.mp4"},
        "methods": {"tg": {"family": "talkinggaussian", "params": {"face_motion_itres": 10}}},
    }
    result = snakemake(workdir_with(tmp_path, config), "--cores", "1")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert (
        "methods.tg.params: unknown key(s) face_motion_itres for family talkinggaussian" in output
    )
    assert not (tmp_path / "results").exists()  # not even the demo video was made


def test_bad_identity_name_stops_the_run_with_a_readable_message(tmp_path: Path) -> None:
    result = snakemake(workdir_with(tmp_path, {"identities": {"a/../b": "x.mp4"}}), "-n")
    assert result.returncode != 0
    assert "identities: 'a/../b' is not a valid identity name" in result.stdout + result.stderr


def write_frames_video(path: Path, frames: int, size: int) -> Path:
    """An mp4 of ``frames`` frames of noise, ``size``² (an external code base's renders)."""
    from talkgs.media import write_video

    rng = np.random.default_rng(frames)
    write_video(path, (rng.integers(0, 255, (size, size, 3), np.uint8) for _ in range(frames)), 25)
    return path


@pytest.mark.slow
def test_whole_workflow_runs_reading_only_declared_inputs(
    tmp_path: Path, demo_clip: tuple[Path, Path]
) -> None:
    """The whole workflow, demo video to tables, with the tiny training preset: two identities,
    each driven by the other's audio, and an external baseline; every job in a shadow directory
    that holds only its declared inputs (check_declared_inputs), so a stage that opens a file
    its rule does not declare fails here, as it would race the job writing it on a cluster."""
    from talkgs.pose.transforms import split

    renders = tmp_path / "renders"
    renders.mkdir()
    validation = {"demo": len(split(200)[1]), "short": len(split(75)[1])}  # 8 s and 3 s
    for name, count in validation.items():
        write_frames_video(renders / f"{name}.mp4", count, 256)
    write_frames_video(renders / "demo_by_short.mp4", validation["short"], 256)
    config = {
        "identities": {"demo": "results/_demo/demo.mp4", "short": str(demo_clip[0])},
        "demo": {"duration_s": 8},
        "train": {"preset": "tiny", "backend": "torch"},
        "methods": {"tg": {"family": "talkinggaussian"}},
        "render": {"cross_audio": ["demo", "short"]},
        "baselines": {
            "ext": {
                "renders": str(renders / "{identity}.mp4"),
                "cross": {"short": {"demo": str(renders / "demo_by_short.mp4")}},
            }
        },
        # Files no job writes are read where they are (absolute paths stay valid in a shadow).
        "weights": {
            "manifest": str(REPO / "resources/weights.yaml"),
            "dir": str(REPO / "resources/weights"),
        },
        "check_declared_inputs": True,
    }
    work = workdir_with(tmp_path, config)
    result = snakemake(work, "--cores", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    # Every job ran in a shadow directory (Snakemake keeps none after success).
    assert (work / ".snakemake/shadow").is_dir()
    assert not list((work / ".snakemake/shadow").iterdir())
    table = (work / "results/tables/self_reconstruction.md").read_text()
    rows = [line.split(" | ")[0] for line in table.splitlines()[2:]]
    assert [row.split()[1] for row in rows] == ["tg", "ext‡"], rows
    metrics = json.loads((work / "results/demo/metrics/tg.json").read_text())["metrics"]
    assert metrics["psnr"]["mean"] > 15 and metrics["lpips"]["mean"] is None
    cross = json.loads((work / "results/short/metrics/tg.json").read_text())["cross"]
    assert list(cross) == ["demo"]
    assert (work / "results/demo/baselines/ext/cross_short.mp4").is_file()
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


# --- which jobs a change reruns, from dry runs (no SLURM, no job runs) -------------------------


def planned(work: Path, *args: str) -> set[tuple[str, str]]:
    """``(rule, wildcards)`` of every job ``snakemake -n`` plans, e.g. ``("pose", "alice")`` or
    ``("train_face", "alice/hm")``; the gathering rules (tables, runtimes, all) with ``""``."""
    result = snakemake(work, "-n", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = set()
    for block in re.split(r"^\[.*\]$", result.stdout, flags=re.MULTILINE):
        rule = re.search(r"^(?:local)?rule (\w+):", block, re.MULTILINE)
        if rule is None:
            continue
        found = re.search(r"^\s+wildcards: (.*)$", block, re.MULTILINE)
        values = dict(kv.split("=", 1) for kv in found.group(1).split(", ")) if found else {}
        names = [values[k] for k in ("identity", "method", "audio_identity") if k in values]
        jobs.add((rule.group(1), "/".join(names)))
    return jobs


def pretend_finished(work: Path) -> None:
    """Every output and benchmark file of the study's jobs (as the first dry run lists them) as
    an empty file, or a folder where the name has no suffix; then ``snakemake --touch``:
    Snakemake records each job as run, with its params and code, as a real run would, and
    nothing runs."""
    plan = snakemake(work, "-n").stdout
    files = [
        name
        for line in re.findall(r"^\s+(?:output|benchmark): (.+)$", plan, flags=re.MULTILINE)
        for name in line.split(", ")
    ]
    for name in files:
        path = work / name
        if "." in path.name:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        else:
            path.mkdir(parents=True, exist_ok=True)
    # Sources newer than everything: every job is due, so --touch "runs" each one (in order,
    # recording its metadata); jobs that were not due would leave no metadata behind.
    time.sleep(0.01)
    for source in yaml.safe_load((work / "config.yaml").read_text())["identities"].values():
        (work / source).touch()
    assert snakemake(work, "--touch", "--cores", "1").returncode == 0


STUDY = {
    "identities": {"alice": "alice.mp4", "bob": "bob.mp4"},
    "methods": {
        "tg": {"family": "talkinggaussian"},
        "hm": {"family": "hmtalker"},
        "t2": {"family": "talk2me"},
    },
}
METHOD_JOBS = ("train_face", "train_mouth", "train_fuse", "render", "evaluate")
GATHERING = {("tables", ""), ("runtimes", ""), ("all", "")}


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("study")
    for name in STUDY["identities"].values():
        (work / name).write_bytes(b"a source video (not read: nothing runs)")
    workdir_with(work, STUDY)
    pretend_finished(work)
    assert planned(work) == set()
    return work


def changed_study(finished: Path, tmp_path: Path, edit) -> Path:
    work = tmp_path / "work"
    shutil.copytree(finished, work, symlinks=True)
    config = copy.deepcopy(STUDY)
    edit(config)
    return workdir_with(work, config)


def method_jobs(identities: list[str], methods: list[str]) -> set[tuple[str, str]]:
    return {(rule, f"{i}/{m}") for rule in METHOD_JOBS for i in identities for m in methods}


def test_a_method_parameter_reruns_only_that_method(finished_study: Path, tmp_path: Path) -> None:
    work = changed_study(
        finished_study,
        tmp_path,
        lambda c: c["methods"]["hm"].update(params={"face_motion_iters": 7}),
    )
    assert planned(work) == method_jobs(["alice", "bob"], ["hm"]) | GATHERING


def test_a_new_method_runs_only_its_own_jobs(finished_study: Path, tmp_path: Path) -> None:
    work = changed_study(
        finished_study, tmp_path, lambda c: c["methods"].update(m2={"family": "m2dao"})
    )
    assert planned(work) == method_jobs(["alice", "bob"], ["m2"]) | GATHERING


def test_a_file_only_one_family_reads_reruns_only_that_familys_jobs(
    finished_study: Path, tmp_path: Path
) -> None:
    work = changed_study(finished_study, tmp_path, lambda c: None)
    time.sleep(0.01)
    # new content (a touch alone is not a change: Snakemake compares checksums of small files)
    (work / "results/alice/features/eyes.csv").write_text("frame,ear_left,ear_right,ear,blink\n")
    assert planned(work) == method_jobs(["alice"], ["t2"]) | GATHERING


def test_generated_motion_adds_the_motion_generators_and_reruns_only_talk2me(
    finished_study: Path, tmp_path: Path
) -> None:
    work = changed_study(
        finished_study, tmp_path, lambda c: c.update(render={"motion": "generated"})
    )
    generators = {(rule, i) for rule in ("expression_generator", "pose_generator")
                  for i in ("alice", "bob")}  # fmt: skip
    rerendered = {(rule, f"{i}/t2") for rule in ("render", "evaluate") for i in ("alice", "bob")}
    assert planned(work) == generators | rerendered | GATHERING
    # driven by bob's audio, alice's talk2me render takes the poses generated for that audio
    config = yaml.safe_load((work / "config.yaml").read_text())
    config["render"]["cross_audio"] = ["bob"]
    workdir_with(work, config)
    jobs = planned(work)
    assert ("generated_poses", "alice/bob") in jobs and ("render_cross", "alice/t2/bob") in jobs
    assert {name for rule, name in jobs if rule == "generated_poses"} == {"alice/bob"}


def test_a_new_identity_runs_only_its_own_jobs(finished_study: Path, tmp_path: Path) -> None:
    work = changed_study(
        finished_study, tmp_path, lambda c: c["identities"].update(carol="carol.mp4")
    )
    (work / "carol.mp4").write_bytes(b"another source video")
    jobs = planned(work)
    assert {name.split("/")[0] for _, name in jobs - GATHERING} == {"carol"}
    assert method_jobs(["carol"], ["tg", "hm"]) <= jobs
    assert {("ingest", "carol"), ("pose", "carol"), ("au", "carol")} <= jobs


def test_a_preprocessing_parameter_reruns_its_stage_and_what_reads_it(
    finished_study: Path, tmp_path: Path
) -> None:
    work = changed_study(finished_study, tmp_path, lambda c: c.update(pose={"fov_deg": 30}))
    jobs = planned(work)
    rules = {rule for rule, _ in jobs}
    # the pose stage, and what reads its outputs: neutral frame, AUs (relative to it), training
    assert {"pose", "neutral", "au", *METHOD_JOBS} <= rules
    assert not rules & {"ingest", "landmarks", "parsing", "matting", "eyes", "audio_features"}
    assert {name.split("/")[0] for _, name in jobs - GATHERING} == {"alice", "bob"}


def test_a_changed_source_video_reruns_only_that_identity(
    finished_study: Path, tmp_path: Path
) -> None:
    work = changed_study(finished_study, tmp_path, lambda c: None)
    time.sleep(0.01)
    (work / "bob.mp4").write_bytes(b"bob's new take")  # newer than everything made from it
    jobs = planned(work)
    assert {name.split("/")[0] for _, name in jobs - GATHERING} == {"bob"}
    assert ("ingest", "bob") in jobs and method_jobs(["bob"], ["tg", "hm"]) <= jobs
