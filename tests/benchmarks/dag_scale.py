"""Benchmark: how long Snakemake takes to build the DAG of a large study (`snakemake -n`),
against Snakemake's own floor.

Usage: python tests/benchmarks/dag_scale.py [--identities 100] [--methods 3] [--cross-audio 0]
           [--profile slurm] [--repeat 3]
Writes a config with that many identities, each a placeholder source video (an empty file: a dry
run reads no input), the first N method families (--methods 0 leaves `methods:` out, so the
workflow's default applies) and K cross-driving audio identities, then times
`snakemake --profile slurm -n` from the repository root in a temporary working directory, as a
user would start the study. Then two floors, timed the same way:

- a chain of trivial rules (one input, one output, `cp`), as many jobs per identity as talkgs
  plans, no profile: what the issue compared against;
- the same DAG with trivial rules: talkgs' rule names, files, wildcards and groups (read back from
  the dry run's listing), `touch` for a shell and no input functions, params, resources or conda,
  with the same profile. Snakemake's cost grows with the input edges too (talkgs' jobs declare
  about eight inputs each where the chain's declare one), so this is the floor of talkgs' DAG.

Prints the best wall times of the repeats, the jobs, the input edges and both ratios, for the
README's performance table.
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


def dry_run(
    workdir: Path, profile: str | None, snakefile: Path | None = None
) -> tuple[float, float, int, str]:
    """Wall and CPU seconds of one `snakemake -n`, the number of jobs it planned and its output."""
    command = ["snakemake", "-n", "--directory", str(workdir)]
    if snakefile:
        command += ["--snakefile", str(snakefile)]
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
    return seconds, cpu, int(total.group(1)) if total else 0, output


def chain_workflow(workdir: Path, identities: list[str], jobs_per_identity: int) -> Path:
    """A Snakefile of ``jobs_per_identity`` chained trivial rules per identity (one input, one
    output each), in ``workdir``: Snakemake's floor for that many jobs."""
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
    snakefile = workdir / "chain.smk"
    snakefile.write_text("\n".join(lines) + "\n")
    return snakefile


def planned_jobs(dry_run_output: str) -> list[dict[str, object]]:
    """Each job of a `snakemake -n` listing: rule, wildcards and its files by kind."""
    # Jobs of a group job are listed indented by four more spaces.
    text = re.sub(r"^    ((?:local)?rule \w+:$|    \w+: )", r"\1", dry_run_output, flags=re.M)
    jobs = []
    for block in re.split(r"^(?=(?:local)?rule \w+:$)", text, flags=re.M):
        header = re.match(r"(?:local)?rule (\w+):", block)
        if header is None:
            continue
        fields = dict(re.findall(r"^    (\w+): (.*)$", block, flags=re.M))
        files = {
            kind: fields[kind].split(", ") if kind in fields else []
            for kind in ("input", "output", "log", "benchmark")
        }
        wildcards = dict(
            item.split("=", 1) for item in fields.get("wildcards", "").split(", ") if item
        )
        jobs.append({"rule": header.group(1), "wildcards": wildcards, **files})
    return jobs


def same_dag_workflow(workdir: Path, dry_run_output: str) -> Path:
    """Trivial rules with talkgs' names, files and wildcards (each rule's first planned job with
    its wildcard values put back as wildcards), `touch` for a shell and nothing else: no input
    functions, params, resources or conda. Its DAG has talkgs' jobs and edges, so timing it gives
    Snakemake's floor for talkgs' DAG itself."""
    first: dict[str, dict] = {}
    values: dict[str, set[str]] = {}  # wildcard → every value it takes, as its constraint
    for job in planned_jobs(dry_run_output):
        first.setdefault(job["rule"], job)
        for name, value in job["wildcards"].items():
            values.setdefault(name, set()).add(value)

    def pattern(path: str, wildcards: dict[str, str]) -> str:
        for name, value in sorted(wildcards.items(), key=lambda kv: -len(kv[1])):
            path = path.replace(value, "{" + name + "}")
        return path

    target = first.pop("all")
    lines = ["wildcard_constraints:"]
    lines += [f"    {name}={'|'.join(map(re.escape, sorted(v)))!r}," for name, v in values.items()]
    lines += [
        "rule all:",
        f"    input: {', '.join(repr(f) for f in target['input'])}",
    ]
    for rule, job in first.items():
        wc = job["wildcards"]
        lines.append(f"rule {rule}:")
        for kind in ("input", "output", "log", "benchmark"):
            if job[kind]:
                values = ", ".join(repr(pattern(f, wc)) for f in job[kind])
                lines.append(f"    {kind}: {values}")
        lines.append('    shell: "touch {output}"')
    snakefile = workdir / "same_dag.smk"
    snakefile.write_text("\n".join(lines) + "\n")
    return snakefile


def best_of(repeat: int, *args, **kwargs) -> tuple[float, float, int, str]:
    runs = [dry_run(*args, **kwargs) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs), runs[0][2], runs[0][3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identities", type=int, default=100)
    parser.add_argument("--methods", type=int, default=3, help="0: no methods key")
    parser.add_argument("--cross-audio", type=int, default=0)
    parser.add_argument("--profile", default="slurm", help="'none': no profile")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    profile = None if args.profile == "none" else args.profile
    identities = [f"id{i:03d}" for i in range(args.identities)]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "videos").mkdir()
        for name in identities:
            (workdir / "videos" / f"{name}.mp4").touch()
        config = study_config(identities, args.methods, args.cross_audio)
        (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        seconds, cpu, jobs, output = best_of(args.repeat, workdir, profile)
        chain = chain_workflow(workdir, identities, round(jobs / len(identities)))
        chain_seconds, _, chain_jobs, _ = best_of(args.repeat, workdir, None, chain)
        same = same_dag_workflow(workdir, output)
        same_seconds, _, same_jobs, _ = best_of(args.repeat, workdir, profile, same)
    edges = sum(len(job["input"]) for job in planned_jobs(output))
    print(
        json.dumps(
            {
                "what": (
                    f"snakemake -n: identities={args.identities},"
                    f" methods={args.methods or 'default'}, cross_audio={args.cross_audio},"
                    f" profile={args.profile}, best of {args.repeat}"
                ),
                "seconds": round(seconds, 2),
                # Wall time suffers when other processes share the cores; CPU time does not.
                "cpu_seconds": round(cpu, 2),
                "jobs": jobs,
                "input_edges": edges,
                # Snakemake's floors: a chain of one-input trivial rules with as many jobs (no
                # profile), and trivial rules with talkgs' own jobs and files (same profile).
                "chain_floor_seconds": round(chain_seconds, 2),
                "chain_floor_jobs": chain_jobs,
                "ratio_to_chain": round(seconds / chain_seconds, 2),
                "same_dag_floor_seconds": round(same_seconds, 2),
                "same_dag_floor_jobs": same_jobs,
                "ratio_to_same_dag": round(seconds / same_seconds, 2),
                "target_ratio": 1.3,
                "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
            }
        )
    )


if __name__ == "__main__":
    main()
