"""SLURM execution through the `slurm` profile, on a real single-node cluster on this machine.

tests/cluster/slurm_up.sh installs (apt) and starts munged, slurmctld and slurmd; the tests skip
where that cannot work (not root, or SLURM absent and no apt-get). Every run is the user's
command, `snakemake --profile slurm` from the repository root, with these additions:
`--directory` (a private working directory, so the user's results/ is never touched),
`--until matting pose` (the stages through the head pose; training has its own tests), status
polling every second (the profile's 10 s, growing by 10 s per idle check, suit a busy cluster,
not one that answers at once) and `--max-threads 1 --cores 1`: the test node has 2 CPUs, and
1-CPU jobs let two identities' jobs run at the same time (`--cores` is the width the profile's
job groups are sized to). The local runs compared against use the same thread limit.

The profile groups jobs (Snakemake job groups): an identity's preprocessing is one SLURM job,
and with TALKGS_GPU_CHAIN=1 an identity × method's training, render and evaluation is one GPU
job. A group job's SLURM comment names the group and its rules, not the wildcards.

"SLURM's own record" is the job completion log that slurmctld writes (JobCompType=
jobcomp/filetxt: job id, name, state, start and end) joined with the comment that the Snakemake
plugin gives each job (`rule_<rule>_wildcards_<identity>[_<method>]`), read back with `squeue`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from talkgs.train.presets import JOB_SIZES, PRESETS

pytestmark = pytest.mark.slow

UP = REPO / "tests" / "cluster" / "slurm_up.sh"
DOWN = REPO / "tests" / "cluster" / "slurm_down.sh"
STATE = Path(os.environ.get("TALKGS_SLURM_DIR", "/var/tmp/talkgs-slurm"))
SBIN_PATH = f"{os.environ['PATH']}{os.pathsep}/usr/sbin{os.pathsep}/sbin"
RUN_TIMEOUT_S = 900
FAST_POLLING = (
    "--slurm-init-seconds-before-status-checks",
    "1",
    "--seconds-between-status-checks",
    "1",
)
ONE_CPU = ("--max-threads", "1")
# Group jobs are sized for jobs in series that each fit in --cores (slurm/config.yaml).
GROUP_WIDTH = ("--cores", "1")
# The stages tested here: preprocessing up to the pose (training has its own, longer tests).
UNTIL = ("--until", "matting", "pose")
POSE_OUTPUTS = {
    "pose.npz",
    "transforms_train.json",
    "transforms_val.json",
    "pose_quality.json",
    "pose.png",
}
PROFILE_VARIABLES = {
    "SBATCH_PARTITION",
    "SBATCH_ACCOUNT",
    "TALKGS_GPU_PARTITION",
    "TALKGS_GPU_CHAIN",
}
# The target rule only collects inputs: Snakemake finishes it itself, nothing is submitted.
TARGET_RULES = {"all"}
# The profile's job groups (slurm/config.yaml).
GROUPS = ("preprocess", "gpu_chain")


def cluster_unavailable() -> str | None:
    """Why this machine cannot run the test cluster, or None."""
    if os.geteuid() != 0:
        return "the SLURM test cluster needs root (it installs packages and starts daemons)"
    installed = all(shutil.which(c, path=SBIN_PATH) for c in ("munged", "slurmctld", "slurmd"))
    if not installed and shutil.which("apt-get") is None:
        return "SLURM is not installed and there is no apt-get to install it"
    return None


@pytest.fixture(scope="module")
def cluster_env() -> Iterator[dict[str, str]]:
    """The environment of a process that uses the test cluster; starts it, stops it if started."""
    reason = cluster_unavailable()
    if reason:
        pytest.skip(reason)
    started_file = STATE / "started"
    ran_before = started_file.exists() and started_file.read_text().strip()
    # Two stand-in GPUs, so that GPU rules go through the profile unchanged (`--gpus=1`) and two
    # methods' training jobs can run side by side, one per CPU.
    up = subprocess.run(
        [str(UP)],
        env={**os.environ, "TALKGS_SLURM_GPUS": "2"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    started_here = not ran_before and started_file.exists() and started_file.read_text().strip()
    try:
        assert up.returncode == 0, f"{UP.name} failed:\n{up.stdout}{up.stderr}"
        yield {**os.environ, "SLURM_CONF": str(STATE / "slurm.conf")}
    finally:
        if started_here:
            down = subprocess.run([str(DOWN)], capture_output=True, text=True, timeout=300)
            assert down.returncode == 0, f"{DOWN.name} failed:\n{down.stdout}{down.stderr}"


# --- runs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlurmJob:
    job_id: int
    rule: str  # a group job: "<group>_<its rules joined by '_'>" (cut off after a few)
    wildcards: str  # its values joined by "_": "alice", "alice_hm" (identity_method); "": none
    state: str
    start: datetime
    end: datetime
    cpus: int  # what the job was given (ProcCnt), its memory (TRES mem) and time limit
    memory_mb: int
    minutes: int

    @property
    def group(self) -> str | None:
        return next((g for g in GROUPS if self.rule.startswith(f"{g}_")), None)


@dataclass
class Run:
    result: subprocess.CompletedProcess[str]
    jobs: list[SlurmJob]  # SLURM's record of the jobs this run submitted, by job id

    @property
    def log(self) -> str:
        return self.result.stdout + self.result.stderr

    def submitted_ids(self) -> set[int]:
        """SLURM job ids as Snakemake reported them at submission."""
        return {int(i) for i in re.findall(r"submitted with SLURM jobid (\d+)", self.log)}

    def done(self) -> Run:
        assert self.result.returncode == 0, self.log[-4000:]
        return self


def snakemake_args(workdir: Path) -> list[str]:
    return ["snakemake", "--directory", str(workdir), "--configfile", str(workdir / "config.yaml")]


def slurm_command(workdir: Path, *args: str, until: tuple[str, ...] = UNTIL) -> list[str]:
    """`snakemake --profile slurm` working in ``workdir`` (see the module docstring)."""
    return [
        *snakemake_args(workdir),
        "--profile",
        "slurm",
        *FAST_POLLING,
        *ONE_CPU,
        *GROUP_WIDTH,
        *until,
        *args,
    ]


def finished_run(env: dict[str, str], result: subprocess.CompletedProcess[str]) -> Run:
    found = re.search(r"SLURM run ID: (\S+)", result.stdout + result.stderr)
    return Run(result, slurm_record(env, found.group(1)) if found else [])


def slurm_run(
    env: dict[str, str], workdir: Path, *args: str, until: tuple[str, ...] = UNTIL
) -> Run:
    """`snakemake --profile slurm` from the repository root, working in ``workdir``."""
    result = subprocess.run(
        slurm_command(workdir, *args, until=until),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    return finished_run(env, result)


def local_run(workdir: Path) -> subprocess.Popen[str]:
    """A plain local run (no profile) in ``workdir``, started in the background."""
    command = [*snakemake_args(workdir), "--cores", "2", *ONE_CPU, *UNTIL]
    return subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@dataclass(frozen=True)
class PlannedJob:
    rule: str
    identity: str  # "" for a rule without wildcards
    resources: dict[str, str]
    method: str = ""  # "" for a job of no method
    group: str = ""  # the job group it is submitted in, "" for none


def dry_run_listing(env: dict[str, str], workdir: Path, *args: str) -> str:
    """What `snakemake --profile slurm --dry-run` prints."""
    result = subprocess.run(
        [*snakemake_args(workdir), "--profile", "slurm", "--dry-run", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def dry_run(env: dict[str, str], workdir: Path, *args: str) -> list[PlannedJob]:
    """The jobs that `snakemake --profile slurm --dry-run` plans, in its order."""
    return planned(dry_run_listing(env, workdir, *args))


def planned(listing: str) -> list[PlannedJob]:
    """The jobs of a dry run's listing (it lists local rules' jobs as `rule` too)."""
    jobs: list[PlannedJob] = []
    group = ""
    # A group job is listed as "Group job <name> …" followed by its jobs, indented four spaces.
    blocks = re.split(r"^(?=(?:    )?(?:local)?rule \w+:$|\[.*\] Group job )", listing, flags=re.M)
    for block in blocks:
        found = re.match(r"\[.*\] Group job (\w+)", block)
        if found:
            group = found.group(1)
            continue
        header = re.match(r"( *)(local)?rule (\w+):", block)
        if header is None or header.group(3) in TARGET_RULES:
            continue
        in_group = group if header.group(1) else ""
        fields = dict(re.findall(r"^ +(wildcards|resources): (.*)$", block, flags=re.M))
        wildcards = dict(
            item.split("=", 1) for item in fields.get("wildcards", "").split(", ") if item
        )
        resources = dict(
            item.split("=", 1) for item in fields.get("resources", "").split(", ") if item
        )
        jobs.append(
            PlannedJob(
                header.group(3),
                wildcards.get("identity", ""),
                resources,
                wildcards.get("method", ""),
                in_group,
            )
        )
    return jobs


def group_blocks(listing: str, group: str) -> list[str]:
    """The text of each group job ``group`` in a dry run's listing (its jobs, indented)."""
    return re.findall(
        rf"^\[[^]\n]*\] Group job {group} [^\n]*\n(.*?)(?=^\[[^]\n]*\] Group job |^rule |\Z)",
        listing,
        flags=re.M | re.S,
    )


def planned_jobs(env: dict[str, str], workdir: Path, *args: str) -> Counter[tuple[str, str]]:
    """(rule, identity) of every job a dry run of the tested stages plans to submit."""
    return Counter((job.rule, job.identity) for job in dry_run(env, workdir, *UNTIL, *args))


def slurm_record(env: dict[str, str], job_name: str) -> list[SlurmJob]:
    """The jobs named ``job_name`` in SLURM's completion log, with the rule from their comment."""
    queue = subprocess.run(
        ["squeue", "-h", "--states=all", "--name", job_name, "-o", "%i|%k"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    comments = dict(line.split("|", 1) for line in queue.stdout.splitlines())
    jobs = []
    for line in (STATE / "jobcomp.log").read_text().splitlines():
        fields = dict(token.split("=", 1) for token in line.split() if "=" in token)
        if fields.get("Name") != job_name:
            continue
        # The plugin's comment: rule_<rule>_wildcards_<wildcard values joined by '_'>.
        rule, _, wildcards = comments[fields["JobId"]].partition("_wildcards_")
        jobs.append(
            SlurmJob(
                int(fields["JobId"]),
                rule.removeprefix("rule_"),
                wildcards,
                fields["JobState"],
                datetime.fromisoformat(fields["StartTime"]),
                datetime.fromisoformat(fields["EndTime"]),
                int(fields["ProcCnt"]),
                int(re.search(r"mem=(\d+)M", fields["Tres"]).group(1)),
                int(fields["TimeLimit"]),
            )
        )
    return sorted(jobs, key=lambda job: job.job_id)


def digests(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``, by relative path."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def differing(a: Path, b: Path) -> list[str]:
    left, right = digests(a), digests(b)
    return sorted(name for name in left.keys() | right.keys() if left.get(name) != right.get(name))


def workdir(path: Path, identities: dict[str, Path]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    config = {"identities": {name: str(video) for name, video in identities.items()}}
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    return path


# --- the shared run: two identities through the profile, and each alone locally ---------------


@dataclass
class Shared:
    work: Path  # the cluster run's working directory
    planned: Counter[tuple[str, str]]
    plan: list[PlannedJob]
    first: Run
    solo: dict[str, Path]  # identity → working directory of its own local run
    videos: dict[str, Path]


@pytest.fixture(scope="module")
def videos(demo_clip: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory):
    """Two different 3 s demo identities: the session's demo clip and one with another seed."""
    from talkgs.demo import make_demo

    folder = tmp_path_factory.mktemp("other")
    other = folder / "other.mp4"
    make_demo(other, folder / "truth.json", seed=1, duration_s=3.0)
    return {"alice": demo_clip[0], "bob": other}


@pytest.fixture(scope="module")
def shared(cluster_env, videos, tmp_path_factory: pytest.TempPathFactory) -> Shared:
    root = tmp_path_factory.mktemp("cluster")
    work = workdir(root / "cluster", videos)
    solo = {name: workdir(root / f"local_{name}", {name: v}) for name, v in videos.items()}
    plan = dry_run(cluster_env, work, *UNTIL)
    planned = Counter((job.rule, job.identity) for job in plan)
    # The local runs share the CPUs with the cluster jobs; most of a cluster run's time is
    # submission and polling, so running them side by side saves minutes.
    local = [local_run(path) for path in solo.values()]
    first = slurm_run(cluster_env, work)
    for process in local:
        output, _ = process.communicate(timeout=RUN_TIMEOUT_S)
        assert process.returncode == 0, output[-3000:]
    return Shared(work, planned, plan, first.done(), solo, videos)


def test_each_identitys_preprocessing_is_one_slurm_job(cluster_env, shared: Shared) -> None:
    run = shared.first
    # Snakemake's plan: every preprocessing stage of both identities, all in the group.
    for rule in ("ingest", "landmarks", "parsing", "matting", "pose"):
        assert shared.planned[rule, "alice"] == 1 and shared.planned[rule, "bob"] == 1
    assert {job.group for job in shared.plan} == {"preprocess"}
    # SLURM's record: one job per identity where ungrouped there would be one per stage (10).
    assert len(shared.plan) == 10
    assert len(run.jobs) == 2, [(job.rule, job.wildcards) for job in run.jobs]
    assert {job.group for job in run.jobs} == {"preprocess"}
    assert {job.state for job in run.jobs} == {"COMPLETED"}
    assert {job.job_id for job in run.jobs} == run.submitted_ids()
    # Sized as its stages in series (slurm/config.yaml): the largest memory, not the sum, and
    # the sum of the runtimes.
    sizes = {(job.rule, job.identity): job.resources for job in shared.plan}
    for job in run.jobs:
        stages = [sizes[rule, identity] for rule, identity in sizes if identity == "alice"]
        assert job.memory_mb == max(int(size["mem_mb"]) for size in stages)
        assert job.minutes == sum(int(size["runtime"]) for size in stages)
        assert job.cpus == 1
    # sacct is installed but fails (no accounting database): squeue polling is what worked.
    sacct = subprocess.run(["sacct", "-X", "-n"], env=cluster_env, capture_output=True, text=True)
    assert sacct.returncode != 0, sacct.stdout
    assert "Falling back to 'sacct'" not in run.log


def test_outputs_equal_those_of_local_runs_of_each_identity_alone(shared: Shared) -> None:
    for name, local in shared.solo.items():
        produced = shared.work / "results" / name
        assert len(digests(produced)) > 100  # frames, parsing maps, ...: a real comparison
        assert differing(produced, local / "results" / name) == []


def test_a_second_run_schedules_no_job(cluster_env, shared: Shared) -> None:
    again = slurm_run(cluster_env, shared.work).done()
    assert re.search(r"^total +0$", again.log, flags=re.M), again.log[-2000:]
    assert again.submitted_ids() == set() and again.jobs == []


def test_two_identities_ran_in_parallel_each_in_its_own_folders(shared: Shared) -> None:
    # One group job per identity (test_each_identitys_preprocessing_is_one_slurm_job): the two
    # ran at the same time.
    first, second = shared.first.jobs
    assert first.start < second.end and second.start < first.end, shared.first.jobs
    # Everything written is in one identity's folders (and each identity's files are those of
    # a run of it alone: test_outputs_equal_those_of_local_runs_of_each_identity_alone).
    for folder in ("results", "logs", "benchmarks"):
        top = {p.name for p in (shared.work / folder).iterdir()}
        assert top == set(shared.videos), (folder, top)


@dataclass
class PoseRerun:
    work: Path
    run: Run


@pytest.fixture(scope="module")
def pose_rerun(cluster_env, shared: Shared, tmp_path_factory: pytest.TempPathFactory):
    """A copy of the shared run with a new pose.fov_deg, run again through the profile.

    bob's pose job gets 100 MB on its first attempt: less than it uses, so SLURM kills it, as a
    cluster kills any job over its --mem; the profile's retries resubmit it with enough. (This
    --set-resources replaces the profile's per-rule table for this run, which has no entry for
    the preprocessing rules; resources are no rerun trigger, so which jobs rerun is unaffected.)
    """
    work = tmp_path_factory.mktemp("pose") / "work"
    shutil.copytree(shared.work, work, symlinks=True)
    config = yaml.safe_load((work / "config.yaml").read_text())
    config["pose"] = {"fov_deg": 30}
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    memory = "pose:mem_mb=100 if attempt == 1 and wildcards.identity == 'bob' else 8000"
    return PoseRerun(work, slurm_run(cluster_env, work, "--set-resources", memory).done())


def test_changed_pose_parameter_reruns_only_the_pose_jobs(
    shared: Shared, pose_rerun: PoseRerun
) -> None:
    # Each identity's group job holds only what reruns: its pose job.
    completed = [job for job in pose_rerun.run.jobs if job.state == "COMPLETED"]
    assert [job.rule for job in completed] == ["preprocess_pose", "preprocess_pose"]
    for name in shared.videos:
        changed = differing(shared.work / "results" / name, pose_rerun.work / "results" / name)
        assert "pose.npz" in changed and set(changed) <= POSE_OUTPUTS, changed


def test_changed_source_video_reruns_only_that_identity(
    cluster_env, shared: Shared, tmp_path: Path
) -> None:
    other_config = tmp_path / "bob_changed.yaml"
    other_config.write_text(yaml.safe_dump({"identities": {"bob": str(shared.videos["alice"])}}))
    planned = planned_jobs(cluster_env, shared.work, "--configfile", str(other_config))
    assert {identity for _, identity in planned} == {"bob"}
    assert set(planned) == {(rule, "bob") for rule, _ in shared.planned}


def test_a_job_killed_for_memory_is_retried_and_succeeds(pose_rerun: PoseRerun) -> None:
    jobs = pose_rerun.run.jobs
    assert sorted(job.state for job in jobs) == ["COMPLETED", "COMPLETED", "FAILED"]
    (failed,) = [job for job in jobs if job.state == "FAILED"]
    # 100 MB is what only bob's first attempt asked for; the retry and alice's job got the
    # rule's size.
    assert failed.memory_mb == 100
    assert {job.memory_mb for job in jobs if job.state == "COMPLETED"} == {8000}
    # The plugin keeps the SLURM log of a failed job: slurmstepd wrote why it killed it.
    log = pose_rerun.work / f".snakemake/slurm_logs/group_preprocess_pose/{failed.job_id}.log"
    assert "exceeded memory limit" in log.read_text()
    assert (pose_rerun.work / "results/bob/pose.npz").is_file()


# --- training through the profile: scancel and resume, one method's parameter changed --------

# Two methods on alice with the tiny preset. hm's face stage runs long enough (and checkpoints
# often enough) to be cancelled in the middle.
TRAINING_METHODS = {
    "tg": {"family": "talkinggaussian"},
    "hm": {"family": "hmtalker", "params": {"face_motion_iters": 300, "checkpoint_every": 10}},
}
METHOD_RULES = ("train_face", "train_mouth", "train_fuse", "render", "evaluate")
# Snakemake runs these itself (localrules): the gathering ones.
LOCAL_RULES = ("tables", "runtimes")
# The profile's option: one GPU job per identity × method.
GPU_CHAIN = {"TALKGS_GPU_CHAIN": "1"}


@dataclass
class Training:
    work: Path
    cancelled: Run  # the first run, during which hm's GPU job was cancelled in its face stage
    cancelled_job: int
    checkpoint_iteration: int  # where hm's face checkpoint stood when the job was cancelled
    resumed: Run  # the user's rerun
    changed: list[PlannedJob]  # what a run after tg's parameters changed would submit


def training_config(work: Path, video: Path, methods: dict) -> None:
    config = {
        "identities": {"alice": str(video)},
        "train": {"preset": "tiny"},
        "methods": methods,
    }
    (work / "config.yaml").write_text(yaml.safe_dump(config))


def slurm_job_running(command: str) -> int | None:
    """The SLURM job in which a process whose command line contains ``command`` runs, if any.
    The test node is this machine, so the process and its SLURM_JOB_ID are visible in /proc (a
    group job's comment names no wildcards, so squeue cannot tell two methods' jobs apart)."""
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        try:
            line = (process / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if command not in line:
                continue
            environment = (process / "environ").read_bytes().split(b"\0")
        except OSError:  # the process ended meanwhile
            continue
        for item in environment:
            if item.startswith(b"SLURM_JOB_ID="):
                return int(item.split(b"=", 1)[1])
    return None


@pytest.fixture(scope="module")
def training(cluster_env, shared: Shared, tmp_path_factory: pytest.TempPathFactory) -> Training:
    """alice's preprocessing from the shared run, then features and two methods through the
    profile with TALKGS_GPU_CHAIN=1; hm's GPU job is cancelled with scancel once its face stage
    has checkpointed (the run has --retries 0, so it ends failed, as a user would see it); the
    user's rerun; then a dry run after tg's parameters changed."""
    import torch

    work = tmp_path_factory.mktemp("training") / "work"
    shutil.copytree(shared.work, work, symlinks=True)
    # The weights manifest, at the path config.yaml's weights.manifest names, as in a checkout.
    (work / "resources").symlink_to(REPO / "resources")
    training_config(work, shared.videos["alice"], TRAINING_METHODS)
    checkpoint = work / "results/alice/methods/hm/checkpoints/face.pt"
    env = {**cluster_env, **GPU_CHAIN}
    process = subprocess.Popen(
        slurm_command(work, "--retries", "0", until=()),
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    cancelled_job = None
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while cancelled_job is None and process.poll() is None and time.monotonic() < deadline:
        job = slurm_job_running("--stage face --identity-root results/alice --method hm ")
        if job is not None and checkpoint.exists():
            subprocess.run(["scancel", str(job)], env=cluster_env, check=True)
            cancelled_job = job
        time.sleep(0.2)
    stdout, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    cancelled = finished_run(
        env, subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    )
    assert cancelled_job is not None, cancelled.log[-4000:]
    checkpoint_iteration = torch.load(checkpoint, weights_only=True)["iteration"]

    resumed = slurm_run(env, work, until=()).done()
    # tg's training parameter changed: what the profile would run now (a dry run: the jobs
    # themselves are those that ran above; which of them rerun is Snakemake's decision).
    changed_config = work / "changed.yaml"
    changed_config.write_text(
        yaml.safe_dump(
            {"methods": {"tg": {"family": "talkinggaussian", "params": {"mouth_motion_iters": 20}}}}
        )
    )
    changed = dry_run(env, work, "--configfile", str(changed_config))
    return Training(work, cancelled, cancelled_job, checkpoint_iteration, resumed, changed)


def test_cancelled_training_job_resumes_from_its_checkpoint_on_rerun(training: Training) -> None:
    first = {job.job_id: job for job in training.cancelled.jobs}
    assert first[training.cancelled_job].group == "gpu_chain"
    assert first[training.cancelled_job].state == "CANCELLED"
    assert training.cancelled.result.returncode != 0  # the run says it did not finish
    # SLURM's record of the first run: one GPU job per method (tg's finished) and alice's
    # features as CPU group jobs (the rest of her preprocessing came from the shared run, so
    # they form three unconnected parts: neutral + AUs, eyes, audio features).
    assert sorted((job.group, job.state) for job in first.values()) == [
        ("gpu_chain", "CANCELLED"),
        ("gpu_chain", "COMPLETED"),
        *[("preprocess", "COMPLETED")] * 3,
    ]
    assert (training.work / "results/alice/metrics/tg.json").is_file()
    assert training.checkpoint_iteration > 0
    # The rerun submits what is left of hm as one GPU job, and its face stage starts from the
    # checkpoint.
    assert [(job.group, job.state) for job in training.resumed.jobs] == [("gpu_chain", "COMPLETED")]
    summary = json.loads((training.work / "results/alice/methods/hm/face.json").read_text())
    assert summary["resumed_from"] >= training.checkpoint_iteration
    entry = TRAINING_METHODS["hm"]["params"]
    assert summary["iterations"] == PRESETS["tiny"].face_static_iters + entry["face_motion_iters"]
    assert (training.work / "results/alice/metrics/hm.json").is_file()


def test_gpu_chain_is_sized_as_its_stages_in_series(training: Training) -> None:
    tg = next(
        job
        for job in training.cancelled.jobs
        if job.state == "COMPLETED" and job.group == "gpu_chain"
    )
    stages = [job for job in training.changed if job.method == "tg"]
    assert sorted(job.rule for job in stages) == sorted(METHOD_RULES)
    assert {job.group for job in stages} == {"gpu_chain"}
    assert tg.memory_mb == max(int(job.resources["mem_mb"]) for job in stages)
    assert tg.minutes == sum(int(job.resources["runtime"]) for job in stages)
    assert tg.cpus == 1


def test_changed_method_parameter_reruns_only_that_method(training: Training) -> None:
    per_method = Counter((j.rule, j.identity, j.method) for j in training.changed if j.method)
    assert per_method == Counter((rule, "alice", "tg") for rule in METHOD_RULES)
    # Besides them only the tables and the runtimes figure, which gather every method (local
    # rules: Snakemake runs them itself); no preprocessing or feature job.
    others = sorted(job.rule for job in training.changed if not job.method)
    assert others == sorted(LOCAL_RULES)


# --- the profile itself (no cluster needed) ---------------------------------------------------


def test_profile_takes_partition_and_account_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "source.mp4").write_bytes(b"not read by a dry run")
    work = workdir(tmp_path, {"alice": tmp_path / "source.mp4"})
    env = {
        **os.environ,
        # `all` is also a Python builtin: the profile must keep it a string.
        "SBATCH_PARTITION": "all",
        "SBATCH_ACCOUNT": "lab",
        "TALKGS_GPU_PARTITION": "gpu",
    }
    jobs = {job.rule: job.resources for job in dry_run(env, work)}
    assert jobs["ingest"]["slurm_partition"] == "all"
    assert jobs["ingest"]["slurm_account"] == "lab"
    assert "gpu" not in jobs["ingest"]
    assert jobs["train_face"]["slurm_partition"] == "gpu"
    assert jobs["train_face"]["slurm_account"] == "lab"
    assert jobs["train_face"]["gpu"] == "1"
    assert jobs["evaluate"]["slurm_partition"] == "all"
    # In one GPU job per identity × method, evaluate runs on the GPU partition with the rest
    # (a group's jobs must agree on the partition).
    chained = {job.rule: job for job in dry_run({**env, **GPU_CHAIN}, work)}
    for rule in METHOD_RULES:
        assert chained[rule].group == "gpu_chain"
        assert chained[rule].resources["slurm_partition"] == "gpu"
    assert chained["ingest"].group == "preprocess"


def test_gpu_jobs_are_sized_by_the_methods_preset(tmp_path: Path) -> None:
    (tmp_path / "source.mp4").write_bytes(b"not read by a dry run")
    work = workdir(tmp_path, {"alice": tmp_path / "source.mp4"})
    config = yaml.safe_load((work / "config.yaml").read_text())
    config["methods"] = {
        "small": {"family": "talkinggaussian", "preset": "tiny"},
        "big": {"family": "talkinggaussian", "preset": "paper"},
    }
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    sizes = {
        (job.rule, job.method): (int(job.resources["mem_mb"]), int(job.resources["runtime"]))
        for job in dry_run(dict(os.environ), work)
        if job.method
    }
    for stage, size in (("train_face", "train"), ("train_fuse", "fuse"), ("render", "render")):
        for method, preset in (("small", "tiny"), ("big", "paper")):
            expected = JOB_SIZES[preset]
            memory = expected.render_mem_mb if size == "render" else expected.train_mem_mb
            assert sizes[stage, method] == (memory, getattr(expected, f"{size}_minutes"))
    assert sizes["train_face", "big"] == (64000, 240)  # what a paper-preset identity needs


def test_whole_preprocessing_is_one_group_job_per_identity(tmp_path: Path) -> None:
    videos = {name: tmp_path / f"{name}.mp4" for name in ("alice", "bob", "carol")}
    for video in videos.values():
        video.write_bytes(b"not read by a dry run")
    work = workdir(tmp_path, videos)
    listing = dry_run_listing(dict(os.environ), work)
    plan = planned(listing)
    preprocessing = [job for job in plan if not job.method and job.rule not in LOCAL_RULES]
    assert {job.rule for job in preprocessing} == {
        "ingest", "landmarks", "parsing", "matting", "pose", "neutral", "eyes", "au",
        "audio_features",
    }  # fmt: skip
    assert {job.group for job in preprocessing} == {"preprocess"}
    # Snakemake lists each group job with its jobs: one per identity, holding all of hers.
    blocks = group_blocks(listing, "preprocess")
    assert len(blocks) == len(videos)
    for block, name in zip(sorted(blocks), sorted(videos), strict=True):
        assert set(re.findall(r"identity=(\w+)", block)) == {name}
        assert len(re.findall(r"^    rule \w+:$", block, flags=re.M)) == 9


def test_profile_without_environment_leaves_partition_and_account_to_slurm() -> None:
    from snakemake.profiles import ProfileConfigFileParser

    env = {k: os.environ.pop(k) for k in list(os.environ) if k in PROFILE_VARIABLES}
    try:
        with (REPO / "slurm" / "config.yaml").open() as stream:
            profile = ProfileConfigFileParser().parse(stream)
    finally:
        os.environ.update(env)
    settings = profile["default-resources"] + profile["set-resources"]
    assert not [item for item in settings if "slurm_partition" in item or "slurm_account" in item]
    # Job sizes have one home, the rules: the profile adds the GPU and nothing else per rule.
    assert {item.split(":")[1].split("=")[0] for item in profile["set-resources"]} == {"gpu"}
    assert "groups" in profile and "train_face=gpu_chain" not in profile["groups"]
    assert "train_face:gpu=1" in profile["set-resources"]
    # GPU jobs' memory and runtime come from the rules (by preset), not from the profile.
    assert not [item for item in profile["set-resources"] if item.startswith("train_face:mem")]
    # Status through squeue: sacct without an accounting database waits forever.
    assert profile["slurm-status-command"] == "squeue"
