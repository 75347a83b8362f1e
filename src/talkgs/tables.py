"""Paper tables across identities and methods: CSV (full precision), Markdown, LaTeX and HTML.

``self_reconstruction`` has the seed papers' Table 1 columns (PSNR↑ LPIPS↓ SSIM↑ LMD↓ AUE-L↓
AUE-U↓ Sync-C↑, training time, FPS); ``lip_sync`` their Table 3 (Sync-D↓ Sync-C↑ per driving
audio). Each cell is the mean over identities of the per-identity means in
``metrics/{method}.json``; a metric that was not computed for some identity is left out of that
mean and the cell says over how many identities it was taken when not all. Per column the best
value is bold and the second best underlined; equal values share a rank (all tied best are
bold, and the next distinct value is second). Published numbers (a CSV with ``method``,
``citation`` and metric columns) are merged in as extra rows, marked with their citation, and
take part in the ranking.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from talkgs.atomic import StagedOutputs
from talkgs.errors import input_error


@dataclass(frozen=True)
class Column:
    key: str  # the metric's key in metrics/{method}.json
    title: str  # plain header
    latex: str  # LaTeX header
    higher_is_better: bool | None  # None: not ranked (time, FPS are reported, not judged)
    digits: int


SELF_RECONSTRUCTION = (
    Column("psnr", "PSNR↑", r"PSNR$\uparrow$", True, 2),
    Column("lpips", "LPIPS↓", r"LPIPS$\downarrow$", False, 4),
    Column("ssim", "SSIM↑", r"SSIM$\uparrow$", True, 4),
    Column("lmd", "LMD↓", r"LMD$\downarrow$", False, 3),
    Column("aue_l", "AUE-L↓", r"AUE-L$\downarrow$", False, 2),
    Column("aue_u", "AUE-U↓", r"AUE-U$\downarrow$", False, 2),
    Column("sync_c", "Sync-C↑", r"Sync-C$\uparrow$", True, 3),
    Column("train_hours", "Time (h)", r"Time (h)", None, 2),
    Column("fps", "FPS", "FPS", True, 1),
)
SYNC = (
    Column("sync_d", "Sync-D↓", r"Sync-D$\downarrow$", False, 3),
    Column("sync_c", "Sync-C↑", r"Sync-C$\uparrow$", True, 3),
)


@dataclass
class Row:
    name: str
    values: dict[str, float | None]
    counts: dict[str, int] = field(default_factory=dict)  # identities behind each mean
    citation: str | None = None  # published row: its citation key


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
    per_method: dict[str, list[dict[str, float | None]]], columns: tuple[Column, ...]
) -> list[Row]:
    rows = []
    for method, entries in per_method.items():
        row = Row(method, {})
        for column in columns:
            present = [e[column.key] for e in entries if e.get(column.key) is not None]
            row.values[column.key] = sum(present) / len(present) if present else None
            row.counts[column.key] = len(present)
        rows.append(row)
    return rows


def self_reconstruction_rows(documents: list[dict[str, Any]]) -> list[Row]:
    per_method: dict[str, list[dict[str, float | None]]] = {}
    for doc in documents:
        metrics = doc.get("metrics", {})
        entry = {c.key: metric_mean(metrics.get(c.key)) for c in SELF_RECONSTRUCTION}
        per_method.setdefault(doc["method"], []).append(entry)
    return _mean_rows(per_method, SELF_RECONSTRUCTION)


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
    columns = tuple(
        Column(f"{a}/{c.key}", c.title, c.latex, c.higher_is_better, c.digits)
        for a in audios
        for c in SYNC
    )
    return audios, _mean_rows(per_method, columns)


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
        rows.append(Row(record["method"], values, citation=record["citation"].strip()))
    return rows


def ranks(values: list[float | None], higher_is_better: bool | None) -> list[int | None]:
    """1 for the best value(s), 2 for the next distinct value(s), else None."""
    if higher_is_better is None:
        return [None] * len(values)
    distinct = sorted({v for v in values if v is not None}, reverse=higher_is_better)
    order = {value: rank for rank, value in enumerate(distinct[:2], start=1)}
    return [order.get(v) if v is not None else None for v in values]


def _cell(row: Row, column: Column, total: int) -> str:
    value = row.values.get(column.key)
    if value is None:
        return "—"
    text = f"{value:.{column.digits}f}"
    count = row.counts.get(column.key, total)
    if row.citation is None and count < total:
        text += f" ({count}/{total})"
    return text


def ranked_cells(
    rows: list[Row], columns: tuple[Column, ...], total: int
) -> list[list[tuple[str, int | None]]]:
    """Each row's cell texts with their rank in the column (1 best, 2 second, else None)."""
    rounded = {c.key: ranks([_rounded(r, c) for r in rows], c.higher_is_better) for c in columns}
    return [
        [(_cell(row, column, total), rounded[column.key][index]) for column in columns]
        for index, row in enumerate(rows)
    ]


def render_markdown(
    rows: list[Row], columns: tuple[Column, ...], total: int, headers: list[str] | None = None
) -> str:
    header = ["method", *(headers or [c.title for c in columns])]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row, cells in zip(rows, ranked_cells(rows, columns, total), strict=True):
        name = row.name if row.citation is None else f"{row.name} [{row.citation}]†"
        texts = [
            f"**{text}**" if rank == 1 else f"<u>{text}</u>" if rank == 2 else text
            for text, rank in cells
        ]
        lines.append("| " + " | ".join([name, *texts]) + " |")
    return "\n".join(lines) + "\n"


def render_html_table(
    rows: list[Row], columns: tuple[Column, ...], total: int, headers: list[str] | None = None
) -> str:
    """One ``<table>``: best bold, second underlined, published rows in italics with a dagger."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers or [c.title for c in columns])
    body = []
    for row, cells in zip(rows, ranked_cells(rows, columns, total), strict=True):
        name = html.escape(row.name)
        if row.citation is not None:
            name = f"<i>{name} [{html.escape(row.citation)}]&dagger;</i>"
        tds = "".join(
            f"<td><b>{html.escape(t)}</b></td>"
            if rank == 1
            else f"<td><u>{html.escape(t)}</u></td>"
            if rank == 2
            else f"<td>{html.escape(t)}</td>"
            for t, rank in cells
        )
        body.append(f"<tr><th>{name}</th>{tds}</tr>")
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
over k of n identities; &dagger;: published numbers, other data and protocol.</p>
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


def render_latex(
    rows: list[Row],
    columns: tuple[Column, ...],
    total: int,
    caption: str,
    label: str,
    groups: list[str] | None = None,
) -> str:
    """A ``table`` with booktabs rules; needs ``\\usepackage{booktabs}``."""
    ranked = ranked_cells(rows, columns, total)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{latex_escape(caption)}}}",
        rf"\label{{{label}}}",
        r"\begin{tabular}{l" + "c" * len(columns) + "}",
        r"\toprule",
    ]
    if groups:
        width = len(columns) // len(groups)
        lines.append(
            " & "
            + " & ".join(rf"\multicolumn{{{width}}}{{c}}{{{latex_escape(g)}}}" for g in groups)
            + r" \\"
        )
        lines.append(
            " ".join(
                rf"\cmidrule(lr){{{2 + i * width}-{1 + (i + 1) * width}}}"
                for i in range(len(groups))
            )
        )
    lines.append("Method & " + " & ".join(c.latex for c in columns) + r" \\")
    lines.append(r"\midrule")
    ours = [r for r in rows if r.citation is None]
    published = [r for r in rows if r.citation is not None]
    for group_rows in (published, ours):
        if not group_rows:
            continue
        for row in group_rows:
            name = latex_escape(row.name)
            if row.citation is not None:
                name += rf"~\cite{{{row.citation}}}$^\dagger$"
            cells = []
            for text, rank in ranked[rows.index(row)]:
                text = text.replace("—", "--")
                cells.append(
                    rf"\textbf{{{text}}}"
                    if rank == 1
                    else rf"\underline{{{text}}}"
                    if rank == 2
                    else text
                )
            lines.append(" & ".join([name, *cells]) + r" \\")
        if group_rows is published and ours:
            lines.append(r"\midrule")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if published:
        lines.append(
            r"\\[2pt]{\footnotesize $^\dagger$ published numbers, other data and protocol}"
        )
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def render_csv(rows: list[Row], columns: tuple[Column, ...]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["method", "citation", *(c.key for c in columns), *(f"{c.key}_identities" for c in columns)]
    )
    for row in rows:
        writer.writerow(
            [
                row.name,
                row.citation or "",
                *(
                    "" if row.values.get(c.key) is None else repr(row.values[c.key])
                    for c in columns
                ),
                *(row.counts.get(c.key, "") for c in columns),
            ]
        )
    return buffer.getvalue()


@dataclass(frozen=True)
class TableOutputs:
    folder: Path  # results/tables


def run(metrics_files: list[Path], outputs: TableOutputs, published: Path | None = None) -> None:
    """Write ``self_reconstruction.{csv,md,tex}``, ``lip_sync.{csv,md,tex}`` and ``tables.html``
    (both tables on one page, for the report)."""
    documents = read_metrics(metrics_files)
    identities = len({doc["identity"] for doc in documents})
    rows = self_reconstruction_rows(documents)
    if published is not None:
        rows = read_published(published, SELF_RECONSTRUCTION) + rows
    audios, sync_rows = lip_sync_rows(documents)
    sync_columns = tuple(
        Column(f"{a}/{c.key}", c.title, c.latex, c.higher_is_better, c.digits)
        for a in audios
        for c in SYNC
    )
    folder = outputs.folder
    names = [
        folder / f"{table}.{ext}"
        for table in ("self_reconstruction", "lip_sync")
        for ext in ("csv", "md", "tex")
    ] + [folder / "tables.html"]
    with StagedOutputs(*names) as staged:
        staged[folder / "self_reconstruction.csv"].write_text(render_csv(rows, SELF_RECONSTRUCTION))
        staged[folder / "self_reconstruction.md"].write_text(
            render_markdown(rows, SELF_RECONSTRUCTION, identities)
        )
        staged[folder / "self_reconstruction.tex"].write_text(
            render_latex(
                rows,
                SELF_RECONSTRUCTION,
                identities,
                f"Self-reconstruction on the validation frames, mean over {identities} "
                "identit" + ("y" if identities == 1 else "ies") + ".",
                "tab:self_reconstruction",
            )
        )
        headers = [f"{c.title} ({a})" for a in audios for c in SYNC]
        staged[folder / "lip_sync.csv"].write_text(render_csv(sync_rows, sync_columns))
        staged[folder / "lip_sync.md"].write_text(
            render_markdown(sync_rows, sync_columns, identities, headers)
            if audios
            else "No cross-driven renders (render.cross_audio is empty).\n"
        )
        staged[folder / "lip_sync.tex"].write_text(
            render_latex(
                sync_rows,
                sync_columns,
                identities,
                "Lip synchronisation driven by other identities' audio.",
                "tab:lip_sync",
                groups=audios,
            )
            if audios
            else "% no cross-driven renders (render.cross_audio is empty)\n"
        )
        sync_section = (
            render_html_table(sync_rows, sync_columns, identities, headers)
            if audios
            else "<p>No cross-driven renders (render.cross_audio is empty).</p>"
        )
        latex_sections = "".join(
            f"<h3>{name}.tex (needs \\usepackage{{booktabs}})</h3>"
            f"<pre>{html.escape(staged[folder / f'{name}.tex'].read_text())}</pre>"
            for name in ("self_reconstruction", "lip_sync")
        )
        staged[folder / "tables.html"].write_text(
            HTML_PAGE.format(
                sections=(
                    f"<h3>Self-reconstruction (validation frames, {identities} "
                    f"identit{'y' if identities == 1 else 'ies'})</h3>"
                    + render_html_table(rows, SELF_RECONSTRUCTION, identities)
                    + "<h3>Lip synchronisation, driven by other identities' audio</h3>"
                    + sync_section
                ),
                latex=latex_sections,
            )
        )
