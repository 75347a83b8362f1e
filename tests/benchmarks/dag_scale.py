"""Benchmark: how long Snakemake takes to build the DAG of a large study (`snakemake -n`).

Usage: python tests/benchmarks/dag_scale.py [--identities 100] [--methods 3] [--cross-audio 0]
           [--profile slurm] [--repeat 1] [--baseline]
Writes a config with that many identities, each a placeholder source video (an empty file: a dry
run reads no input), the first N method families (--methods 0 leaves `methods:` out, so the
workflow's default applies) and K cross-driving audio identities, then times
`snakemake --profile slurm -n` from the repository root in a temporary working directory, as a
user would start the study. Prints the best wall time of the repeats, the number of jobs
and the CPU time it used, for the README's performance table (issue target: 100 identities ×
3 methods in ≤ 10 s).

--baseline times a workflow of trivial rules instead (one input, one output, `cp`), a chain of
as many jobs per identity as talkgs plans, with no profile: Snakemake's own floor for a DAG of
that size on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
FAMILIES = ("talkinggaussian", "hmtalker", "m2dao")


def study_config(identities: list[str], methods: int, cross_audio: int) -> dict:
    config: dict = {"identities": {name: f"videos/{name}.mp4" for name in identities}}
    if methods:
        # The three families, then ablations of them (a second entry per family), as a study
        # adds them.
        config["methods"] = {}
        for i in range(methods):
            family = FAMILIES[i % len(FAMILIES)]
            name = family if i < len(FAMILIES) else f"{family}_{i // len(FAMILIES)}"
            config["methods"][name] = {"family": family}
    if cross_audio:
        config["render"] = {"cross_audio": identities[:cross_audio]}
    return config


def dry_run(workdir: Path, profile: str | None, baseline: bool = False) -> tuple[float, float, int]:
    """Wall and CPU seconds of one `snakemake -n`, and the number of jobs it planned."""
    command = ["snakemake", "-n", "--directory", str(workdir)]
    if baseline:
        command += ["--snakefile", str(workdir / "Snakefile")]
    else:
        command += ["--configfile", str(workdir / "config.yaml")]
    if profile:
        command += ["--profile", profile]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        sys.exit(f"snakemake -n failed:\n{output[-3000:]}")
    total = re.search(r"^total\s+(\d+)$", output, re.MULTILINE)
    return seconds, cpu, int(total.group(1)) if total else 0


def baseline_workflow(workdir: Path, identities: list[str], jobs_per_identity: int) -> None:
    """A Snakefile of ``jobs_per_identity`` chained trivial rules per identity, in ``workdir``."""
    lines = [
        f"IDS = {identities!r}",
        "rule all:",
        f'    input: expand("r/{{i}}/s{jobs_per_identity - 1}.txt", i=IDS)',
        "rule s0:",
        '    input: "videos/{i}.mp4"',
        '    output: "r/{i}/s0.txt"',
        '    shell: "cp {input} {output}"',
    ]
    for n in range(1, jobs_per_identity):
        lines += [
            f"rule s{n}:",
            f'    input: "r/{{i}}/s{n - 1}.txt"',
            f'    output: "r/{{i}}/s{n}.txt"',
            '    shell: "cp {input} {output}"',
        ]
    (workdir / "Snakefile").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identities", type=int, default=100)
    parser.add_argument("--methods", type=int, default=3, help="0: no methods key")
    parser.add_argument("--cross-audio", type=int, default=0)
    parser.add_argument("--profile", default="slurm", help="'none': no profile")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--baseline", action="store_true", help="trivial rules, same job count (no profile)"
    )
    args = parser.parse_args()
    profile = None if args.profile == "none" else args.profile
    identities = [f"id{i:03d}" for i in range(args.identities)]
    timings, cpu_timings = [], []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "videos").mkdir()
        for name in identities:
            (workdir / "videos" / f"{name}.mp4").touch()
        config = study_config(identities, args.methods, args.cross_audio)
        (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        if args.baseline:
            # talkgs' jobs per identity: preprocessing, features and five per method.
            _, _, planned = dry_run(workdir, None)
            baseline_workflow(workdir, identities, round(planned / len(identities)))
            profile = None
        for _ in range(args.repeat):
            seconds, cpu, jobs = dry_run(workdir, profile, baseline=args.baseline)
            timings.append(seconds)
            cpu_timings.append(cpu)
    print(
        json.dumps(
            {
                "what": (
                    f"snakemake -n: identities={args.identities},"
                    f" methods={args.methods or 'default'}, cross_audio={args.cross_audio},"
                    f" profile={args.profile}"
                    + (", baseline: trivial rules" if args.baseline else "")
                ),
                "seconds": round(min(timings), 2),
                # Wall time suffers when other processes share the cores; CPU time does not.
                "cpu_seconds": round(min(cpu_timings), 2),
                "jobs": jobs,
                "target_seconds": 10,
                "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
            }
        )
    )


if __name__ == "__main__":
    main()
