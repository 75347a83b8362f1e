"""Paper tables across identities and methods: CSV (full precision), Markdown, LaTeX and HTML.

``self_reconstruction`` has the seed papers' Table 1 columns (PSNR↑ LPIPS↓ SSIM↑ LMD↓ AUE-L↓
AUE-U↓ Sync-C↑, training time, FPS) and the weight-free lip motion (correlation of the rendered
with the recorded mouth opening, and their amplitude ratio, best at 1); ``lip_sync`` their
Table 3 (Sync-D↓ Sync-C↑ per driving audio). Each cell is the mean over identities of the
per-identity means in ``metrics/{method}.json``; a metric that was not computed for some
identity is left out of that mean and the cell says over how many identities it was taken when
not all. With ``std`` the cells read mean ± the sample standard deviation across identities.
Per column the best value is bold and the second best underlined; equal printed values share a
rank (all tied best are bold, and the next distinct value is second).

Three kinds of rows: talkgs' methods; external baselines (``kind: baseline`` in their metrics,
‡), another code base's renders measured here on the same frames with the same metric code; and
published numbers (a CSV with ``method``, ``citation`` and metric columns, †), other data and
protocol, merged in with their citation. All take part in the ranking.

Two more tables: ``per_identity`` (identity × method, the chosen metrics, ranked within each
identity) and ``paired`` (each method or baseline against ``reference``, identity by identity:
on how many identities it is better per metric, and a two-sided Wilcoxon signed-rank test from
SciPy once enough identities allow one, see :data:`MIN_IDENTITIES_FOR_TEST`).

``head_motion`` (with the identities' pose generator summaries): the metrics of
:mod:`talkgs.metrics.head_motion` of the recorded validation poses, a replay of the training
poses and the poses generated from the validation audio, each the mean over identities.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import json
import logging
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from talkgs.atomic import StagedOutputs
from talkgs.errors import TalkgsError, input_error

log = logging.getLogger("talkgs.tables")


@dataclass(frozen=True)
class Column:
    key: str  # the metric's key in metrics/{method}.json
    title: str  # plain header
    latex: str  # LaTeX header
    higher_is_better: bool | None  # None: not ranked (time, FPS are reported, not judged)
    digits: int
    target: float | None = None  # ranked by closeness to this value instead (amplitude: 1)


SELF_RECONSTRUCTION = (
    Column("psnr", "PSNR↑", r"PSNR$\uparrow$", True, 2),
    Column("lpips", "LPIPS↓", r"LPIPS$\downarrow$", False, 4),
    Column("ssim", "SSIM↑", r"SSIM$\uparrow$", True, 4),
    Column("lmd", "LMD↓", r"LMD$\downarrow$", False, 3),
    Column("aue_l", "AUE-L↓", r"AUE-L$\downarrow$", False, 2),
    Column("aue_u", "AUE-U↓", r"AUE-U$\downarrow$", False, 2),
    Column("lip_r", "Lip r↑", r"Lip $r\uparrow$", True, 3),
    Column("lip_amplitude", "Lip amp.→1", r"Lip amp.$\rightarrow$1", False, 2, target=1.0),
    Column("sync_c", "Sync-C↑", r"Sync-C$\uparrow$", True, 3),
    Column("train_hours", "Time (h)", r"Time (h)", None, 2),
    Column("fps", "FPS", "FPS", True, 1),
)
SYNC = (
    Column("sync_d", "Sync-D↓", r"Sync-D$\downarrow$", False, 3),
    Column("sync_c", "Sync-C↑", r"Sync-C$\uparrow$", True, 3),
    # the cross render's lips against the driving identity's recorded mouth (no weights)
    Column("lip_r", "Lip r↑", r"Lip $r\uparrow$", True, 3),
    Column("lip_amplitude", "Lip amp.→1", r"Lip amp.$\rightarrow$1", False, 2, target=1.0),
)
# Generated head motion (talkgs.metrics.head_motion; the pose generator's summaries): reported,
# not ranked, but for the Fréchet distance to the recorded motion (lower is closer).
HEAD_MOTION = (
    Column("angular_velocity", "Ang. vel. (°/s)", r"Ang.\ vel.\ ($^\circ$/s)", None, 2),
    Column("jerk", "Jerk (°/s³)", r"Jerk ($^\circ$/s$^3$)", None, 1),
    Column("yaw_std", "Yaw SD (°)", r"Yaw SD ($^\circ$)", None, 2),
    Column("pitch_std", "Pitch SD (°)", r"Pitch SD ($^\circ$)", None, 2),
    Column("roll_std", "Roll SD (°)", r"Roll SD ($^\circ$)", None, 2),
    Column("velocity_fd", "Vel. FD↓", r"Vel.\ FD$\downarrow$", False, 2),
)
HEAD_MOTION_ROWS = {
    "recorded": "recorded",
    "replay": "replay of training poses",
    "generated": "generated (pose generator)",
}
# Every per-identity metric a table can show, by its key in metrics/{method}.json.
METRIC_COLUMNS = {
    c.key: c
    for c in (
        *SELF_RECONSTRUCTION,
        SYNC[0],
        Column("ms_ssim", "MS-SSIM↑", r"MS-SSIM$\uparrow$", True, 4),
        Column("fid", "FID↓", r"FID$\downarrow$", False, 2),
        Column("csim", "CSIM↑", r"CSIM$\uparrow$", True, 3),
        Column("cpbd", "CPBD↑", r"CPBD$\uparrow$", True, 3),
    )
}
PER_IDENTITY_DEFAULT = (
    "psnr", "lpips", "ssim", "lmd", "aue_l", "aue_u", "lip_r", "lip_amplitude", "sync_c",
)  # fmt: skip
# Below 6 identities (non-zero differences) the exact two-sided Wilcoxon signed-rank test cannot
# reach p < 0.05 whatever the data: its smallest p-value is 2 / 2^n (n = 5: 0.0625).
MIN_IDENTITIES_FOR_TEST = 6
KIND_MARKS = {"method": "", "baseline": "‡", "published": "†"}


@dataclass(frozen=True)
class TableOptions:
    std: bool = False  # cells read mean ± std across identities
    per_identity: tuple[str, ...] = PER_IDENTITY_DEFAULT
    reference: str | None = None  # the method or baseline of the paired comparison


@dataclass
class Row:
    name: str
    values: dict[str, float | None]
    counts: dict[str, int] = field(default_factory=dict)  # identities behind each mean
    citation: str | None = None  # published row: its citation key
    kind: str = "method"  # method | baseline | published
    stds: dict[str, float | None] = field(default_factory=dict)  # across identities
    resolution: str = ""  # side of the measured frames, e.g. "128" (or "128/512")
    show_resolution: bool = False  # rows of one table were measured at different resolutions

    def label(self) -> str:
        """The plain-text name with its kind's mark (and a published row's citation)."""
        if self.citation is not None:
            return f"{self.name} [{self.citation}]†"
        return self.name + KIND_MARKS[self.kind] + self.resolution_note("²")

    def resolution_note(self, squared: str) -> str:
        return f" @{self.resolution}{squared}" if self.show_resolution else ""


def metric_mean(entry: Any) -> float | None:
    """``{"mean": x, …}`` → x; ``{"value": null, "reason": …}`` or absent → None."""
    value = entry.get("mean") if isinstance(entry, dict) else entry
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def read_metrics(paths: list[Path]) -> list[dict[str, Any]]:
    documents = []
    for path in paths:
        try:
            documents.append(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as error:
            raise input_error(path, f"not a metrics JSON ({error})") from error
    return documents


def _mean_rows(
    per_method: dict[str, list[dict[str, float | None]]],
    columns: tuple[Column, ...],
    kinds: dict[str, str],
) -> list[Row]:
    rows = []
    for method, entries in per_method.items():
        row = Row(method, {}, kind=kinds.get(method, "method"))
        for column in columns:
            present = [e[column.key] for e in entries if e.get(column.key) is not None]
            row.values[column.key] = sum(present) / len(present) if present else None
            row.counts[column.key] = len(present)
            row.stds[column.key] = statistics.stdev(present) if len(present) > 1 else None
        rows.append(row)
    return rows


def _kinds(documents: list[dict[str, Any]]) -> dict[str, str]:
    return {doc["method"]: doc.get("kind", "method") for doc in documents}


def self_reconstruction_rows(documents: list[dict[str, Any]]) -> list[Row]:
    per_method: dict[str, list[dict[str, float | None]]] = {}
    for doc in documents:
        metrics = doc.get("metrics", {})
        entry = {c.key: metric_mean(metrics.get(c.key)) for c in SELF_RECONSTRUCTION}
        per_method.setdefault(doc["method"], []).append(entry)
    return _mean_rows(per_method, SELF_RECONSTRUCTION, _kinds(documents))


def lip_sync_rows(documents: list[dict[str, Any]]) -> tuple[list[str], list[Row]]:
    """Driving audios (column groups) and one row per method: ``<audio>/sync_d`` etc."""
    audios = sorted({a for doc in documents for a in doc.get("cross", {})})
    per_method: dict[str, list[dict[str, float | None]]] = {}
    for doc in documents:
        entry: dict[str, float | None] = {}
        for audio in audios:
            cross = doc.get("cross", {}).get(audio, {})
            for column in SYNC:
                entry[f"{audio}/{column.key}"] = metric_mean(cross.get(column.key))
        per_method.setdefault(doc["method"], []).append(entry)
    columns = tuple(dataclasses.replace(c, key=f"{a}/{c.key}") for a in audios for c in SYNC)
    return audios, _mean_rows(per_method, columns, _kinds(documents))


def read_head_motion(paths: list[Path]) -> list[dict[str, Any]]:
    """Each identity's ``head_motion`` block of its pose generator's summary (with
    ``identity``), checked to hold every row of :data:`HEAD_MOTION_ROWS`."""
    blocks = []
    for path in paths:
        try:
            document = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise input_error(path, f"not a pose generator summary ({error})") from error
        block = document.get("head_motion") if isinstance(document, dict) else None
        rows = block.get("rows") if isinstance(block, dict) else None
        if not isinstance(rows, dict) or not all(
            isinstance(rows.get(key), dict) for key in HEAD_MOTION_ROWS
        ):
            rows_needed = ", ".join(HEAD_MOTION_ROWS)
            raise input_error(
                path, f"no head_motion rows ({rows_needed}): not a pose generator summary"
            )
        for key in HEAD_MOTION_ROWS:
            for column in HEAD_MOTION:
                value = rows[key].get(column.key)
                if value is not None and not isinstance(value, int | float):
                    raise input_error(
                        path, f"head_motion {key} {column.key} = {value!r} is not a number"
                    )
        blocks.append({"identity": document.get("identity", str(path)), **block})
    return blocks


def head_motion_rows(blocks: list[dict[str, Any]]) -> list[Row]:
    """Recorded, replayed and generated poses: each metric's mean over identities."""
    per_row: dict[str, list[dict[str, float | None]]] = {}
    for block in blocks:
        for key, label in HEAD_MOTION_ROWS.items():
            values = block["rows"][key]
            entry = {c.key: metric_mean(values.get(c.key)) for c in HEAD_MOTION}
            per_row.setdefault(label, []).append(entry)
    return _mean_rows(per_row, HEAD_MOTION, {})


def read_published(path: Path, columns: tuple[Column, ...]) -> list[Row]:
    """Published rows: ``method, citation`` and any of the columns' keys (empty = not reported)."""
    try:
        table = list(csv.DictReader(io.StringIO(Path(path).read_text())))
    except OSError as error:
        raise input_error(path, f"cannot read ({error})") from error
    if table and not {"method", "citation"} <= set(table[0]):
        raise input_error(path, "needs the columns method and citation")
    rows = []
    for line, record in enumerate(table, start=2):
        values: dict[str, float | None] = {}
        for column in columns:
            text = (record.get(column.key) or "").strip()
            try:
                values[column.key] = float(text) if text else None
            except ValueError as error:
                raise input_error(
                    path, f"line {line}: {column.key} = {text!r} is not a number"
                ) from error
        rows.append(
            Row(record["method"], values, citation=record["citation"].strip(), kind="published")
        )
    return rows


def ranks(
    values: list[float | None], higher_is_better: bool | None, target: float | None = None
) -> list[int | None]:
    """1 for the best value(s), 2 for the next distinct value(s), else None; with a ``target``
    the values closest to it are best."""
    if higher_is_better is None:
        return [None] * len(values)
    if target is not None:
        distances = [None if v is None else abs(v - target) for v in values]
        return ranks(distances, False)
    distinct = sorted({v for v in values if v is not None}, reverse=higher_is_better)
    order = {value: rank for rank, value in enumerate(distinct[:2], start=1)}
    return [order.get(v) if v is not None else None for v in values]


def _cell(row: Row, column: Column, total: int, std: bool = False) -> str:
    value = row.values.get(column.key)
    if value is None:
        return "—"
    text = f"{value:.{column.digits}f}"
    spread = row.stds.get(column.key)
    if std and spread is not None:
        text += f" ± {spread:.{column.digits}f}"
    count = row.counts.get(column.key, total)
    if row.citation is None and count < total:
        text += f" ({count}/{total})"
    return text


def ranked_cells(
    rows: list[Row], columns: tuple[Column, ...], total: int, std: bool = False
) -> list[list[tuple[str, int | None]]]:
    """Each row's cell texts with their rank in the column (1 best, 2 second, else None)."""
    rounded = {
        c.key: ranks([_rounded(r, c) for r in rows], c.higher_is_better, c.target) for c in columns
    }
    return [
        [(_cell(row, column, total, std), rounded[column.key][index]) for column in columns]
        for index, row in enumerate(rows)
    ]


def _markdown_cells(cells: list[tuple[str, int | None]]) -> list[str]:
    return [
        f"**{text}**" if rank == 1 else f"<u>{text}</u>" if rank == 2 else text
        for text, rank in cells
    ]


def render_markdown(
    rows: list[Row],
    columns: tuple[Column, ...],
    total: int,
    headers: list[str] | None = None,
    std: bool = False,
) -> str:
    header = ["method", *(headers or [c.title for c in columns])]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row, cells in zip(rows, ranked_cells(rows, columns, total, std), strict=True):
        lines.append("| " + " | ".join([row.label(), *_markdown_cells(cells)]) + " |")
    return "\n".join(lines) + "\n"


def _html_cells(cells: list[tuple[str, int | None]]) -> str:
    return "".join(
        f"<td><b>{html.escape(t)}</b></td>"
        if rank == 1
        else f"<td><u>{html.escape(t)}</u></td>"
        if rank == 2
        else f"<td>{html.escape(t)}</td>"
        for t, rank in cells
    )


def _html_name(row: Row) -> str:
    """Published rows in italics with a dagger, baselines with a double dagger."""
    name = html.escape(row.name)
    if row.citation is not None:
        return f"<i>{name} [{html.escape(row.citation)}]&dagger;</i>"
    return name + ("&Dagger;" if row.kind == "baseline" else "") + row.resolution_note("²")


def render_html_table(
    rows: list[Row],
    columns: tuple[Column, ...],
    total: int,
    headers: list[str] | None = None,
    std: bool = False,
) -> str:
    """One ``<table>``: best bold, second underlined, rows marked by kind."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers or [c.title for c in columns])
    body = [
        f"<tr><th>{_html_name(row)}</th>{_html_cells(cells)}</tr>"
        for row, cells in zip(rows, ranked_cells(rows, columns, total, std), strict=True)
    ]
    return (
        f"<table><thead><tr><th>method</th>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


HTML_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>talkgs tables</title><style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 0.5em; }}
th, td {{ padding: 0.3em 0.8em; text-align: right; }}
thead th {{ border-top: 2px solid #222; border-bottom: 1px solid #222; }}
tbody tr:last-child > * {{ border-bottom: 2px solid #222; }}
tbody th, thead th:first-child {{ text-align: left; font-weight: normal; }}
p.note {{ font-size: 0.85em; color: #555; }}
pre {{ background: #f4f4f4; padding: 0.8em; font-size: 0.8em; overflow-x: auto; }}
</style></head><body>
{sections}
<p class="note">Means over identities; best in bold, second underlined (equal printed values
share a rank); "—": not computed (see metrics/&lt;method&gt;.json for the reason); "(k/n)": mean
over k of n identities; &Dagger;: external code base, its renders measured here on the same
frames with the same metric code; &dagger;: published numbers, other data and protocol;
"@N²" (shown when rows were measured at different sizes): measured on N×N frames, and such rows
do not compare.</p>
{latex}
</body></html>
"""


def _rounded(row: Row, column: Column) -> float | None:
    """Ranks go by the printed value: two cells that read the same are tied."""
    value = row.values.get(column.key)
    return None if value is None else round(value, column.digits)


def latex_escape(text: str) -> str:
    for char, replacement in (
        ("\\", r"\textbackslash{}"),
        ("_", r"\_"),
        ("&", r"\&"),
        ("%", r"\%"),
        ("#", r"\#"),
        ("$", r"\$"),
    ):
        text = text.replace(char, replacement)
    return text


LATEX_NOTES = {
    "published": r"$^\dagger$ published numbers, other data and protocol",
    "baseline": r"$^\ddagger$ external code, its renders measured here on the same frames",
    "resolution": r"@$N^2$: measured on $N \times N$ frames (rows of other sizes do not compare)",
}


def _latex_cell(text: str, rank: int | None) -> str:
    text = text.replace("—", "--").replace(" ± ", r"$\pm$")
    return rf"\textbf{{{text}}}" if rank == 1 else rf"\underline{{{text}}}" if rank == 2 else text


def _latex_name(row: Row) -> str:
    name = latex_escape(row.name)
    if row.citation is not None:
        return name + rf"~\cite{{{row.citation}}}$^\dagger$"
    return name + (r"$^\ddagger$" if row.kind == "baseline" else "") + row.resolution_note("$^2$")


def _latex_table(
    caption: str, label: str, spec: str, head: list[str], body: list[str], notes: list[str]
) -> str:
    """A ``table`` with booktabs rules around ``head`` and ``body`` lines; needs
    ``\\usepackage{booktabs}``."""
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{latex_escape(caption)}}}",
        rf"\label{{{label}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        *head,
        r"\midrule",
        *body,
        r"\bottomrule",
        r"\end{tabular}",
    ]
    if notes:
        lines.append(r"\\[2pt]{\footnotesize " + "; ".join(notes) + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def render_latex(
    rows: list[Row],
    columns: tuple[Column, ...],
    total: int,
    caption: str,
    label: str,
    groups: list[str] | None = None,
    std: bool = False,
) -> str:
    """Published rows first, then baselines, then talkgs' methods, each block ruled off."""
    ranked = ranked_cells(rows, columns, total, std)
    head = []
    if groups:
        width = len(columns) // len(groups)
        head.append(
            " & "
            + " & ".join(rf"\multicolumn{{{width}}}{{c}}{{{latex_escape(g)}}}" for g in groups)
            + r" \\"
        )
        head.append(
            " ".join(
                rf"\cmidrule(lr){{{2 + i * width}-{1 + (i + 1) * width}}}"
                for i in range(len(groups))
            )
        )
    head.append("Method & " + " & ".join(c.latex for c in columns) + r" \\")
    body: list[str] = []
    kinds = [k for k in ("published", "baseline", "method") if any(r.kind == k for r in rows)]
    for kind in kinds:
        if body:
            body.append(r"\midrule")
        for index, row in enumerate(rows):
            if row.kind == kind:
                cells = [_latex_cell(text, rank) for text, rank in ranked[index]]
                body.append(" & ".join([_latex_name(row), *cells]) + r" \\")
    notes = [LATEX_NOTES[k] for k in kinds if k in LATEX_NOTES]
    if any(row.show_resolution for row in rows):
        notes.append(LATEX_NOTES["resolution"])
    return _latex_table(caption, label, "l" + "c" * len(columns), head, body, notes)


def _number(value: float | None) -> str:
    return "" if value is None else repr(value)


def render_csv(rows: list[Row], columns: tuple[Column, ...]) -> str:
    """Full precision: per metric the mean, the sample std across identities and their count."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "method", "kind", "citation", "resolution", *(c.key for c in columns),
            *(f"{c.key}_std" for c in columns), *(f"{c.key}_identities" for c in columns),
        ]
    )  # fmt: skip
    for row in rows:
        writer.writerow(
            [
                row.name, row.kind, row.citation or "", row.resolution,
                *(_number(row.values.get(c.key)) for c in columns),
                *(_number(row.stds.get(c.key)) for c in columns),
                *(row.counts.get(c.key, "") for c in columns),
            ]
        )  # fmt: skip
    return buffer.getvalue()


# --- per identity -------------------------------------------------------------------------------


def per_identity_rows(
    documents: list[dict[str, Any]], keys: tuple[str, ...]
) -> dict[str, list[Row]]:
    """Identity → one row per method and baseline (in the order of the metrics files)."""
    blocks: dict[str, list[Row]] = {}
    for doc in documents:
        metrics = doc.get("metrics", {})
        values = {key: metric_mean(metrics.get(key)) for key in keys}
        row = Row(
            doc["method"], values, {k: 1 for k in keys}, kind=doc.get("kind", "method"),
            resolution=str(doc.get("resolution", "")),
        )  # fmt: skip
        blocks.setdefault(doc["identity"], []).append(row)
    return dict(sorted(blocks.items()))


def render_per_identity(blocks: dict[str, list[Row]], columns: tuple[Column, ...], fmt: str) -> str:
    """The identity × method table as ``csv``, ``md``, ``tex`` or ``html``; ranks within each
    identity."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["identity", "method", "kind", *(c.key for c in columns)])
        for identity, rows in blocks.items():
            for row in rows:
                writer.writerow(
                    [identity, row.name, row.kind, *(_number(row.values[c.key]) for c in columns)]
                )
        return buffer.getvalue()
    lines: list[str] = []
    for identity, rows in blocks.items():
        for first, (row, cells) in enumerate(
            zip(rows, ranked_cells(rows, columns, 1), strict=True)
        ):
            shown = identity if first == 0 else ""
            if fmt == "md":
                lines.append(
                    "| " + " | ".join([shown, row.label(), *_markdown_cells(cells)]) + " |"
                )
            elif fmt == "html":
                lines.append(
                    f"<tr><th>{html.escape(shown)}</th><th>{_html_name(row)}</th>"
                    f"{_html_cells(cells)}</tr>"
                )
            else:
                texts = [_latex_cell(text, rank) for text, rank in cells]
                lines.append(" & ".join([latex_escape(shown), _latex_name(row), *texts]) + r" \\")
        if fmt == "tex" and identity != list(blocks)[-1]:
            lines.append(r"\midrule")
    if fmt == "md":
        header = ["identity", "method", *(c.title for c in columns)]
        return (
            "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *lines]) + "\n"
        )
    if fmt == "html":
        head = "".join(f"<th>{html.escape(c.title)}</th>" for c in columns)
        return (
            f"<table><thead><tr><th>identity</th><th>method</th>{head}</tr></thead>"
            f"<tbody>{''.join(lines)}</tbody></table>"
        )
    kinds = {row.kind for rows in blocks.values() for row in rows}
    mixed = any(row.show_resolution for rows in blocks.values() for row in rows)
    return _latex_table(
        "Per identity, on its validation frames (best per identity in bold).",
        "tab:per_identity",
        "ll" + "c" * len(columns),
        ["Identity & Method & " + " & ".join(c.latex for c in columns) + r" \\"],
        lines,
        [
            LATEX_NOTES[k]
            for k in ("baseline", "resolution")
            if k in kinds or (mixed and k == "resolution")
        ],
    )


# --- paired comparison against a reference ------------------------------------------------------


@dataclass(frozen=True)
class Paired:
    """One method against the reference on one metric, over the identities both have."""

    method: str
    kind: str
    metric: str
    n: int  # identities where both values were computed
    better: int
    ties: int
    worse: int
    mean_difference: float | None  # method − reference
    p_value: float | None  # two-sided Wilcoxon signed-rank; None: see note
    note: str

    def text(self) -> str:
        if self.n == 0:
            return "—"
        shown = f"{self.better}/{self.n}"
        return shown + (f" (p={self.p_value:.3g})" if self.p_value is not None else "")


def paired_comparison(
    documents: list[dict[str, Any]], reference: str, columns: tuple[Column, ...]
) -> list[Paired]:
    """Every other method and baseline against ``reference``, per ranked column."""
    from scipy.stats import wilcoxon

    values: dict[str, dict[str, dict[str, float | None]]] = {}  # method → identity → key → mean
    kinds = _kinds(documents)
    for doc in documents:
        metrics = doc.get("metrics", {})
        values.setdefault(doc["method"], {})[doc["identity"]] = {
            c.key: metric_mean(metrics.get(c.key)) for c in columns
        }
    if reference not in values:
        raise TalkgsError(f"tables: the reference {reference!r} has no metrics files")
    results = []
    for method in (m for m in values if m != reference):
        for column in (c for c in columns if c.higher_is_better is not None):
            pairs = [
                (mine[column.key], values[reference][identity][column.key])
                for identity, mine in values[method].items()
                if identity in values[reference]
                and mine[column.key] is not None
                and values[reference][identity][column.key] is not None
            ]
            if column.target is not None:  # closeness to the target: smaller distance wins
                pairs = [(abs(a - column.target), abs(b - column.target)) for a, b in pairs]  # type: ignore[operator]
            differences = [a - b for a, b in pairs]  # type: ignore[operator]
            sign = 1.0 if column.higher_is_better else -1.0
            better = sum(sign * d > 0 for d in differences)
            worse = sum(sign * d < 0 for d in differences)
            nonzero = better + worse
            p_value = None
            if nonzero >= MIN_IDENTITIES_FOR_TEST:
                # zero differences dropped first (Wilcoxon's own treatment), so that SciPy
                # computes the exact distribution whenever the rest has no tied magnitudes
                p_value = float(wilcoxon([d for d in differences if d != 0]).pvalue)
                note = "two-sided Wilcoxon signed-rank test over identities"
            else:
                note = (
                    f"no test: {nonzero} identities differ, the test needs "
                    f"{MIN_IDENTITIES_FOR_TEST} (below that p cannot fall under 0.05)"
                )
            results.append(
                Paired(
                    method, kinds[method], column.key, len(pairs), better,
                    len(pairs) - nonzero, worse,
                    sum(differences) / len(differences) if differences else None, p_value, note,
                )
            )  # fmt: skip
    return results


def render_paired(
    results: list[Paired], reference: str, columns: tuple[Column, ...], fmt: str
) -> str:
    """Rows: methods; columns: metrics; cells: "better on k of n identities (p)"."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(
            ["method", "kind", "reference", "metric", "identities", "better", "ties", "worse",
             "mean_difference", "p_value", "note"]
        )  # fmt: skip
        for r in results:
            writer.writerow(
                [r.method, r.kind, reference, r.metric, r.n, r.better, r.ties, r.worse,
                 _number(r.mean_difference), _number(r.p_value), r.note]
            )  # fmt: skip
        return buffer.getvalue()
    shown = [c for c in columns if any(r.metric == c.key for r in results)]
    cells = {(r.method, r.metric): r.text() for r in results}
    kinds = {r.method: r.kind for r in results}
    methods = list(dict.fromkeys(r.method for r in results))
    tested = any(r.p_value is not None for r in results)
    note = (
        f"Against {reference}, identity by identity: on how many of the identities with both "
        "values each method is better (p: two-sided Wilcoxon signed-rank test, SciPy)."
        if tested
        else f"Against {reference}, identity by identity: on how many of the identities with "
        f"both values each method is better. No Wilcoxon test: it needs "
        f"{MIN_IDENTITIES_FOR_TEST} identities that differ (below that p cannot fall under 0.05)."
    )
    if fmt == "md":
        header = ["method", *(c.title for c in shown)]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for m in methods:
            name = m + KIND_MARKS[kinds[m]]
            lines.append("| " + " | ".join([name, *(cells[(m, c.key)] for c in shown)]) + " |")
        return "\n".join(lines) + "\n\n" + note + "\n"
    if fmt == "html":
        head = "".join(f"<th>{html.escape(c.title)}</th>" for c in shown)
        body = "".join(
            f"<tr><th>{_html_name(Row(m, {}, kind=kinds[m]))}</th>"
            + "".join(f"<td>{html.escape(cells[(m, c.key)])}</td>" for c in shown)
            + "</tr>"
            for m in methods
        )
        return (
            f"<table><thead><tr><th>method</th>{head}</tr></thead><tbody>{body}</tbody></table>"
            f'<p class="note">{html.escape(note)}</p>'
        )
    body = [
        " & ".join(
            [_latex_name(Row(m, {}, kind=kinds[m])),
             *(_latex_cell(cells[(m, c.key)], None) for c in shown)]
        ) + r" \\"
        for m in methods
    ]  # fmt: skip
    return _latex_table(
        note, "tab:paired", "l" + "c" * len(shown),
        ["Method & " + " & ".join(c.latex for c in shown) + r" \\"], body,
        [LATEX_NOTES["baseline"]] if "baseline" in kinds.values() else [],
    )  # fmt: skip


def mark_resolutions(documents: list[dict[str, Any]], rows: list[Row]) -> None:
    """Give each measured row its resolution, shown in its name when the documents were
    measured at more than one (a 128² render and a 512² one do not compare)."""
    per_method: dict[str, set[int]] = {}
    for doc in documents:
        if doc.get("resolution") is not None:
            per_method.setdefault(doc["method"], set()).add(int(doc["resolution"]))
    every = sorted(set().union(*per_method.values())) if per_method else []
    for row in rows:
        if row.kind != "published" and row.name in per_method:
            row.resolution = row.resolution or "/".join(map(str, sorted(per_method[row.name])))
            row.show_resolution = len(every) > 1
    if len(every) > 1:
        log.warning(
            "tables: metrics measured at %s px: the rows do not compare; each shows its own",
            ", ".join(map(str, every)),
        )


@dataclass(frozen=True)
class TableOutputs:
    folder: Path  # results/tables


TABLE_NAMES = ("self_reconstruction", "lip_sync", "per_identity", "paired", "head_motion")


def _identities(count: int) -> str:
    return f"{count} identit" + ("y" if count == 1 else "ies")


def run(
    metrics_files: list[Path],
    outputs: TableOutputs,
    published: Path | None = None,
    options: TableOptions = TableOptions(),
    head_motion: Sequence[Path] = (),
) -> None:
    """Write ``<table>.{csv,md,tex}`` for each of :data:`TABLE_NAMES` and ``tables.html`` (all
    tables on one page, then their LaTeX, for the report); ``head_motion``: the identities' pose
    generator summaries (no head-motion table without them)."""
    documents = read_metrics(metrics_files)
    identities = len({doc["identity"] for doc in documents})
    unknown = [k for k in options.per_identity if k not in METRIC_COLUMNS]
    if unknown:
        raise TalkgsError(
            f"tables: per-identity metric {unknown[0]!r} is not one of {', '.join(METRIC_COLUMNS)}"
        )
    std = options.std
    rows = self_reconstruction_rows(documents)
    if published is not None:
        rows = read_published(published, SELF_RECONSTRUCTION) + rows
    audios, sync_rows = lip_sync_rows(documents)
    sync_columns = tuple(dataclasses.replace(c, key=f"{a}/{c.key}") for a in audios for c in SYNC)
    headers = [f"{c.title} ({a})" for a in audios for c in SYNC]
    per_identity_columns = tuple(METRIC_COLUMNS[k] for k in options.per_identity)
    blocks = per_identity_rows(documents, options.per_identity)
    mark_resolutions(documents, [*rows, *sync_rows, *(r for b in blocks.values() for r in b)])
    paired = (
        paired_comparison(documents, options.reference, SELF_RECONSTRUCTION)
        if options.reference
        else None
    )
    texts: dict[str, str] = {
        "self_reconstruction.csv": render_csv(rows, SELF_RECONSTRUCTION),
        "self_reconstruction.md": render_markdown(rows, SELF_RECONSTRUCTION, identities, std=std),
        "self_reconstruction.tex": render_latex(
            rows,
            SELF_RECONSTRUCTION,
            identities,
            "Self-reconstruction on the validation frames, mean"
            + (" and standard deviation" if std else "")
            + f" over {_identities(identities)}.",
            "tab:self_reconstruction",
            std=std,
        ),
        "lip_sync.csv": render_csv(sync_rows, sync_columns),
        "per_identity.csv": render_per_identity(blocks, per_identity_columns, "csv"),
        "per_identity.md": render_per_identity(blocks, per_identity_columns, "md"),
        "per_identity.tex": render_per_identity(blocks, per_identity_columns, "tex"),
    }
    no_cross = "No cross-driven renders (render.cross_audio is empty)."
    if audios:
        texts["lip_sync.md"] = render_markdown(
            sync_rows, sync_columns, identities, headers, std=std
        )
        texts["lip_sync.tex"] = render_latex(
            sync_rows,
            sync_columns,
            identities,
            "Lip synchronisation driven by other identities' audio.",
            "tab:lip_sync",
            groups=audios,
            std=std,
        )
    else:
        texts["lip_sync.md"] = no_cross + "\n"
        texts["lip_sync.tex"] = "% no cross-driven renders (render.cross_audio is empty)\n"
    if paired:
        for ext in ("csv", "md", "tex"):
            texts[f"paired.{ext}"] = render_paired(
                paired, options.reference or "", SELF_RECONSTRUCTION, ext
            )
        paired_html = render_paired(paired, options.reference or "", SELF_RECONSTRUCTION, "html")
    else:
        why = (
            "No paired comparison: no reference method (tables.reference)."
            if paired is None
            else f"No paired comparison: nothing but {options.reference} to compare."
        )
        texts |= {"paired.csv": "", "paired.md": why + "\n", "paired.tex": f"% {why}\n"}
        paired_html = f"<p>{html.escape(why)}</p>"
    motion_blocks = read_head_motion(list(head_motion))
    if motion_blocks:
        motion_rows = head_motion_rows(motion_blocks)
        motion_total = len(motion_blocks)
        caption = (
            "Head motion on the validation frames: recorded, a replay of the training poses, and "
            f"generated from the audio; mean over {_identities(motion_total)}."
        )
        texts["head_motion.csv"] = render_csv(motion_rows, HEAD_MOTION)
        texts["head_motion.md"] = render_markdown(motion_rows, HEAD_MOTION, motion_total)
        texts["head_motion.tex"] = render_latex(
            motion_rows, HEAD_MOTION, motion_total, caption, "tab:head_motion"
        )
        motion_html = render_html_table(motion_rows, HEAD_MOTION, motion_total)
    else:
        why = "No generated head motion (render.motion is replay, or no talk2me method)."
        texts |= {"head_motion.csv": "", "head_motion.md": why + "\n",
                  "head_motion.tex": f"% {why}\n"}  # fmt: skip
        motion_html = f"<p>{html.escape(why)}</p>"
    sections = [
        f"<h3>Self-reconstruction (validation frames, {_identities(identities)})</h3>",
        render_html_table(rows, SELF_RECONSTRUCTION, identities, std=std),
        "<h3>Lip synchronisation, driven by other identities' audio</h3>",
        render_html_table(sync_rows, sync_columns, identities, headers, std=std)
        if audios
        else f"<p>{no_cross}</p>",
        "<h3>Per identity</h3>",
        render_per_identity(blocks, per_identity_columns, "html"),
        f"<h3>Paired comparison against {html.escape(options.reference or '—')}</h3>",
        paired_html,
        "<h3>Head motion, validation frames (recorded, replayed, generated from audio)</h3>",
        motion_html,
    ]
    latex = "".join(
        f"<h3>{name}.tex (needs \\usepackage{{booktabs}})</h3>"
        f"<pre>{html.escape(texts[f'{name}.tex'])}</pre>"
        for name in TABLE_NAMES
    )
    texts["tables.html"] = HTML_PAGE.format(sections="\n".join(sections), latex=latex)
    folder = outputs.folder
    with StagedOutputs(*(folder / name for name in texts)) as staged:
        for name, text in texts.items():
            staged[folder / name].write_text(text)
