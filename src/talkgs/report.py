"""Figures for the Snakemake report: training curves and per-stage runtimes.

The report's other pictures come from the stages themselves (ingest and parsing previews, the
pose plot, the AU plot, the evaluate stage's ground truth | render | error strips); the tables
are the CSV files of the tables rule.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from talkgs.atomic import StagedOutputs
from talkgs.errors import input_error


def _save(figure: plt.Figure, path: Path) -> None:
    with StagedOutputs(path) as staged:
        # the staged name has no .png suffix: name the format
        figure.savefig(staged[path], format="png", dpi=110, metadata={"Software": None})
    plt.close(figure)


def plot_training(summaries: list[Path], output: Path, title: str) -> None:
    """Loss and training-view PSNR of each stage (face, mouth, fuse) over its iterations."""
    figure, (loss_axis, psnr_axis) = plt.subplots(1, 2, figsize=(10, 3.4))
    for path in summaries:
        try:
            summary = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise input_error(path, f"not a training summary ({error})") from error
        history = summary.get("history", [])
        steps = [h["iteration"] for h in history]
        label = f"{summary['stage']} ({summary['seconds']:.0f} s)"
        loss_axis.plot(steps, [h["loss"] for h in history], label=label, linewidth=1)
        psnr_axis.plot(steps, [h["psnr"] for h in history], label=label, linewidth=1)
    loss_axis.set(xlabel="iteration", ylabel="loss", yscale="log", title=f"{title}: loss")
    psnr_axis.set(
        xlabel="iteration", ylabel="PSNR of the training frame (dB)", title=f"{title}: PSNR"
    )
    for axis in (loss_axis, psnr_axis):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    _save(figure, output)


def plot_runtimes(benchmarks: list[Path], output: Path) -> None:
    """Wall-clock seconds of every job from Snakemake's ``benchmark:`` files, longest first."""
    rows = []
    for path in benchmarks:
        with open(path) as stream:
            record = next(csv.DictReader(stream, delimiter="\t"), None)
        if record is None:
            raise input_error(path, "empty benchmark file")
        name = str(Path(path).with_suffix("")).removeprefix("benchmarks/")
        rows.append((name, float(record["s"])))
    rows.sort(key=lambda row: row[1])
    figure, axis = plt.subplots(figsize=(8, 0.28 * len(rows) + 1.2))
    axis.barh([r[0] for r in rows], [r[1] for r in rows], color="#4c72b0")
    axis.set(xlabel="seconds (wall clock)", title="runtime of each job")
    axis.tick_params(axis="y", labelsize=7)
    axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    _save(figure, output)


def plot_lips(
    frames: list[int],
    truth: list[float] | None,
    render: list[float] | None,
    metrics: dict,
    output: Path,
    title: str,
) -> None:
    """The mouth opening of the rendered and of the recorded validation frames over time, with
    their correlation and amplitude ratio; a note instead when the landmarks were not found."""
    figure, axis = plt.subplots(figsize=(10, 3.2))
    if truth is None or render is None:
        reason = metrics["lip_r"].get("reason", "no landmarks")
        axis.text(0.5, 0.5, f"lip motion not computed: {reason}", ha="center", va="center")
        axis.set_axis_off()
    else:
        axis.plot(frames, truth, label="recorded", color="#222222", linewidth=1.2)
        axis.plot(frames, render, label="rendered", color="#c44e52", linewidth=1.2)
        r, amplitude = metrics["lip_r"]["mean"], metrics["lip_amplitude"]["mean"]
        shown = "—" if r is None else f"{r:.2f}"
        axis.set_title(
            f"{title}: mouth opening (correlation {shown}, amplitude ratio {amplitude:.2f})"
            if amplitude is not None
            else f"{title}: mouth opening"
        )
        axis.set(xlabel="frame", ylabel="inner-lip gap / mouth width")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    _save(figure, output)
