"""Paper tables: means over identities, ranks with ties, published rows, LaTeX that compiles."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from talkgs import tables
from talkgs.cli import main
from talkgs.errors import TalkgsError


def metrics_doc(
    identity: str, method: str, cross: dict | None = None, **values: float | None
) -> dict:
    metrics = {
        key: (
            {"mean": None, "reason": "weights absent"}
            if value is None
            else {"mean": value, "std": 0.0, "n": 1}
        )
        for key, value in values.items()
    }
    return {"identity": identity, "method": method, "metrics": metrics, "cross": cross or {}}


def write(folder: Path, docs: list[dict]) -> list[Path]:
    paths = []
    for doc in docs:
        path = folder / f"{doc['identity']}_{doc['method']}.json"
        path.write_text(json.dumps(doc))
        paths.append(path)
    return paths


class _TableCells(HTMLParser):
    """The cells of an HTML page's tables, with <b>/<u> kept as markers of rank."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.in_cell = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.rows[-1].append("")
            self.in_cell = True
        elif tag in ("b", "u"):
            self.rows[-1][-1] += f"<{tag}>"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("b", "u"):
            self.rows[-1][-1] += f"</{tag}>"
        elif tag in ("td", "th"):
            self.in_cell = False

    def handle_data(self, data: str) -> None:
        if self.in_cell:
            self.rows[-1][-1] += data


def table_rows(page: str) -> list[list[str]]:
    parser = _TableCells()
    parser.feed(page)
    return parser.rows


def test_ranks_share_ties_and_skip_missing() -> None:
    assert tables.ranks([1.0, 3.0, 3.0, 2.0, None], True) == [None, 1, 1, 2, None]
    assert tables.ranks([1.0, 1.0, 2.0, 3.0], False) == [1, 1, 2, None]
    assert tables.ranks([5.0, 5.0], True) == [1, 1]
    assert tables.ranks([1.0, 2.0], None) == [None, None]
    # an amplitude ratio is best at 1: the closest value wins, whichever side it is on
    assert tables.ranks([0.25, 1.1, 0.95, None], False, target=1.0) == [None, 2, 1, None]


def test_means_over_identities_and_not_computed_cells(tmp_path: Path) -> None:
    docs = [
        metrics_doc("a", "m1", psnr=30.0, lpips=None, ssim=0.9),
        metrics_doc("b", "m1", psnr=32.0, lpips=None, ssim=0.8),
        metrics_doc("a", "m2", psnr=31.0, lpips=0.05, ssim=0.95),
        metrics_doc("b", "m2", psnr=31.0, lpips=None, ssim=0.75),
    ]
    rows = {r.name: r for r in tables.self_reconstruction_rows(docs)}
    assert rows["m1"].values["psnr"] == pytest.approx(31.0)
    assert rows["m1"].values["lpips"] is None  # never 0
    assert rows["m2"].values["lpips"] == pytest.approx(0.05) and rows["m2"].counts["lpips"] == 1
    markdown = tables.render_markdown(list(rows.values()), tables.SELF_RECONSTRUCTION, 2)
    line_m1 = next(line for line in markdown.splitlines() if line.startswith("| m1 "))
    line_m2 = next(line for line in markdown.splitlines() if line.startswith("| m2 "))
    # PSNR 31.00 vs 31.00: a tie, both bold; LPIPS of m1 is not computed: a dash, unranked
    assert "**31.00**" in line_m1 and "**31.00**" in line_m2
    assert "| — |" in line_m1
    assert "0.0500 (1/2)" in line_m2  # a mean over fewer identities says so
    # SSIM: m1 0.85 (best), m2 0.85 → tie again; check a clear second place with three rows
    third = tables.Row("m3", {"ssim": 0.5, "psnr": 20.0})
    markdown = tables.render_markdown([*rows.values(), third], tables.SELF_RECONSTRUCTION, 2)
    line_m3 = next(line for line in markdown.splitlines() if line.startswith("| m3 "))
    assert "<u>20.00</u>" in line_m3  # the next distinct value after a tie is second


def test_published_rows_are_merged_marked_and_ranked(tmp_path: Path) -> None:
    published = tmp_path / "published.csv"
    published.write_text("method,citation,psnr,lpips,ssim\nHM-Talker,liu2025hm,35.15,0.0207,\n")
    paths = write(tmp_path, [metrics_doc("a", "ours", psnr=33.0, lpips=0.03, ssim=0.99)])
    tables.run(paths, tables.TableOutputs(tmp_path / "tables"), published)
    markdown = (tmp_path / "tables" / "self_reconstruction.md").read_text()
    assert "HM-Talker [liu2025hm]†" in markdown and "**35.15**" in markdown
    assert "<u>33.00</u>" in markdown
    latex = (tmp_path / "tables" / "self_reconstruction.tex").read_text()
    assert r"\cite{liu2025hm}" in latex and r"\textbf{35.15}" in latex
    assert r"\underline{33.00}" in latex and r"\toprule" in latex
    csv_text = (tmp_path / "tables" / "self_reconstruction.csv").read_text()
    assert "HM-Talker,published,liu2025hm,,35.15," in csv_text
    page = (tmp_path / "tables" / "tables.html").read_text()
    rows = table_rows(page)
    assert rows[0][0] == "method" and rows[0][1] == "PSNR↑"
    assert rows[1][:2] == ["HM-Talker [liu2025hm]†", "<b>35.15</b>"]
    assert rows[2][:2] == ["ours", "<u>33.00</u>"]
    assert "No cross-driven renders" in page


def test_bad_published_number_is_one_line(tmp_path: Path) -> None:
    published = tmp_path / "published.csv"
    published.write_text("method,citation,psnr\nX,key,thirty\n")
    with pytest.raises(TalkgsError, match="line 2: psnr") as error:
        tables.read_published(published, tables.SELF_RECONSTRUCTION)
    assert "\n" not in str(error.value)


def test_lip_sync_table_per_driving_audio(tmp_path: Path) -> None:
    cross = {"bob": {"sync_d": {"mean": 8.0}, "sync_c": {"mean": 6.0}}}
    docs = [
        metrics_doc("a", "m1", cross=cross),
        metrics_doc(
            "a",
            "m2",
            cross={"bob": {"sync_d": {"mean": 7.0}, "sync_c": {"mean": None, "reason": "x"}}},
        ),
    ]
    tables.run(write(tmp_path, docs), tables.TableOutputs(tmp_path / "tables"))
    markdown = (tmp_path / "tables" / "lip_sync.md").read_text()
    assert "Sync-D↓ (bob)" in markdown
    line_m2 = next(line for line in markdown.splitlines() if line.startswith("| m2 "))
    assert "**7.000**" in line_m2 and "—" in line_m2
    rows = table_rows((tmp_path / "tables" / "tables.html").read_text())
    header = next(i for i, row in enumerate(rows) if "Sync-D↓ (bob)" in row)
    assert rows[header] == [
        "method", "Sync-D↓ (bob)", "Sync-C↑ (bob)", "Lip r↑ (bob)", "Lip amp.→1 (bob)"
    ]  # fmt: skip
    assert rows[header + 1] == ["m1", "<u>8.000</u>", "<b>6.000</b>", "—", "—"]
    assert rows[header + 2] == ["m2", "<b>7.000</b>", "—", "—", "—"]


def head_motion_summary(folder: Path, identity: str, scale: float) -> Path:
    """A pose generator summary whose metrics are ``scale`` × fixed values."""
    rows = {
        name: {"angular_velocity": scale * speed, "jerk": scale * 100.0, "yaw_std": scale,
               "pitch_std": 0.5, "roll_std": None, "velocity_fd": fd}
        for name, speed, fd in (("recorded", 2.0, None), ("replay", 3.0, 4.0),
                                ("generated", 5.0, 1.0 * scale))
    }  # fmt: skip
    path = folder / f"{identity}_pose_generator.json"
    path.write_text(json.dumps({"identity": identity, "head_motion": {"frames": 46, "rows": rows}}))
    return path


def test_head_motion_table_means_over_identities(tmp_path: Path) -> None:
    summaries = [head_motion_summary(tmp_path, "a", 1.0), head_motion_summary(tmp_path, "b", 3.0)]
    docs = write(tmp_path, [metrics_doc("a", "m1"), metrics_doc("b", "m1")])
    tables.run(docs, tables.TableOutputs(tmp_path / "tables"), head_motion=summaries)
    lines = list(csv.DictReader((tmp_path / "tables" / "head_motion.csv").open()))
    by_name = {line["method"]: line for line in lines}
    assert list(by_name) == ["recorded", "replay of training poses", "generated (pose generator)"]
    generated = by_name["generated (pose generator)"]
    assert float(generated["angular_velocity"]) == pytest.approx(10.0)  # (5 + 15) / 2
    assert float(generated["velocity_fd"]) == pytest.approx(2.0)  # (1 + 3) / 2
    assert by_name["recorded"]["velocity_fd"] == "" and generated["roll_std"] == ""
    markdown = (tmp_path / "tables" / "head_motion.md").read_text()
    assert "**2.00**" in markdown  # the generated motion's FD is the lowest
    assert "Head motion" in (tmp_path / "tables" / "tables.html").read_text()

    # without summaries the files say there is no generated motion
    tables.run(docs, tables.TableOutputs(tmp_path / "none"))
    assert "No generated head motion" in (tmp_path / "none" / "head_motion.md").read_text()
    bad = tmp_path / "metrics_not_motion.json"
    bad.write_text(json.dumps({"identity": "a", "metrics": {}}))
    with pytest.raises(TalkgsError) as caught:
        tables.run(docs, tables.TableOutputs(tmp_path / "bad"), head_motion=[bad])
    assert str(caught.value).startswith(f"{bad}: ") and "\n" not in str(caught.value)
    assert not (tmp_path / "bad").exists()


def test_tables_command_takes_one_head_motion_summary_per_identity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = write(tmp_path, [metrics_doc("a", "m1"), metrics_doc("b", "m1")])
    summaries = [head_motion_summary(tmp_path, "a", 1.0), head_motion_summary(tmp_path, "b", 3.0)]
    out = tmp_path / "tables"
    argv = ["tables", *map(str, docs), "--output", str(out)]
    motion = [arg for path in summaries for arg in ("--head-motion", str(path))]
    assert main([*argv, *motion]) == 0
    recorded = next(csv.DictReader((out / "head_motion.csv").open()))
    assert recorded["method"] == "recorded" and recorded["jerk_identities"] == "2"
    assert float(recorded["jerk"]) == pytest.approx(200.0)  # (100 + 300) / 2
    assert "mean over 2 identities" in (out / "head_motion.tex").read_text()

    # a summary with a metric that is not a number: one line naming the file, no tables
    broken = json.loads(summaries[1].read_text())
    broken["head_motion"]["rows"]["generated"]["jerk"] = "fast"
    summaries[1].write_text(json.dumps(broken))
    assert main([*argv[:-1], str(tmp_path / "broken"), *motion]) != 0
    message = capsys.readouterr().err.strip()
    assert str(summaries[1]) in message and "jerk" in message and "\n" not in message
    assert not (tmp_path / "broken").exists()


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_latex_tables_compile(tmp_path: Path) -> None:
    published = tmp_path / "published.csv"
    published.write_text("method,citation,psnr,sync_c\nTalkingGaussian,li2024tg,32.48,6.246\n")
    cross = {"other_id": {"sync_d": {"mean": 8.0}, "sync_c": {"mean": 6.0}}}
    docs = [
        metrics_doc(
            "a_1",
            "talking_gaussian",
            cross=cross,
            psnr=30.0,
            lpips=None,
            ssim=0.97,
            lmd=2.5,
            aue_l=0.6,
            aue_u=0.3,
            sync_c=6.0,
            train_hours=0.1,
            fps=20.0,
        ),
        metrics_doc("a_1", "m2dao", cross=cross, psnr=31.0, ssim=0.97, fps=25.0),
    ]
    motion = [head_motion_summary(tmp_path, "a_1", 1.0)]
    tables.run(
        write(tmp_path, docs), tables.TableOutputs(tmp_path / "tables"), published,
        head_motion=motion,
    )  # fmt: skip
    document = tmp_path / "paper.tex"
    document.write_text(
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\usepackage[utf8]{inputenc}\n"
        "\\begin{document}\n\\input{tables/self_reconstruction.tex}\n"
        "\\input{tables/lip_sync.tex}\n\\input{tables/head_motion.tex}\n"
        "\\begin{thebibliography}{1}\n"
        "\\bibitem{li2024tg} TalkingGaussian.\n\\end{thebibliography}\n\\end{document}\n"
    )
    for _ in range(2):  # twice, so that the citation resolves
        result = subprocess.run(
            ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", document.name],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-2000:]
    assert (tmp_path / "paper.pdf").stat().st_size > 1000
    assert "undefined" not in (tmp_path / "paper.log").read_text().lower()


def test_std_per_identity_table_and_paired_wilcoxon_by_hand(tmp_path: Path) -> None:
    docs = []
    for i in range(8):
        docs.append(metrics_doc(f"id{i}", "ref", psnr=30.0 + i, lpips=0.05))
        # better PSNR on all 8 identities; LPIPS tied on 2, better (lower) on the other 6
        lpips = 0.05 if i < 2 else 0.05 - 0.001 * i
        docs.append(metrics_doc(f"id{i}", "ours", psnr=30.5 + 1.1 * i, lpips=lpips))
        if i < 3:
            docs.append(metrics_doc(f"id{i}", "few", psnr=20.0 + i))
    options = tables.TableOptions(std=True, per_identity=("psnr", "lpips"), reference="ref")
    tables.run(write(tmp_path, docs), tables.TableOutputs(tmp_path / "t"), options=options)
    out = tmp_path / "t"
    # mean 30.5 + 1.1 · 3.5; sample std 1.1 · std(0…7) = 1.1 · √6
    line = next(
        x for x in (out / "self_reconstruction.md").read_text().splitlines() if "| ours" in x
    )
    assert "**34.35 ± 2.69**" in line
    assert "21.00 ± 1.00 (3/8)" in (out / "self_reconstruction.md").read_text()
    latex = (out / "self_reconstruction.tex").read_text()
    assert r"\textbf{34.35$\pm$2.69}" in latex
    per_identity = (out / "per_identity.md").read_text().splitlines()
    assert per_identity[0] == "| identity | method | PSNR↑ | LPIPS↓ |"
    block = per_identity[2:5]  # id0: ref, ours, few; ranks within the identity
    assert block[0].startswith("| id0 | ref | <u>30.00</u> |")
    assert block[1].startswith("|  | ours | **30.50** |") and block[2].startswith(
        "|  | few | 20.00 |"
    )
    rows = {
        (r["method"], r["metric"]): r
        for r in csv.DictReader(io.StringIO((out / "paired.csv").read_text()))
    }
    psnr = rows[("ours", "psnr")]
    assert (psnr["identities"], psnr["better"], psnr["ties"], psnr["worse"]) == ("8", "8", "0", "0")
    assert float(psnr["p_value"]) == pytest.approx(2 / 2**8)  # exact: all 8 signs positive
    lpips = rows[("ours", "lpips")]
    assert (lpips["better"], lpips["ties"]) == ("6", "2")
    assert float(lpips["p_value"]) == pytest.approx(2 / 2**6)  # the 2 ties dropped
    few = rows[("few", "psnr")]
    assert (few["identities"], few["worse"], few["p_value"]) == ("3", "3", "")
    assert "no test" in few["note"]
    markdown = (out / "paired.md").read_text()
    assert "| ours | 8/8 (p=0.00781) | 6/8 (p=0.0312) |" in markdown


def test_rows_measured_at_different_sizes_say_so(tmp_path: Path) -> None:
    ours = metrics_doc("a", "ours", psnr=37.0) | {"resolution": 128}
    ext = metrics_doc("a", "ext", psnr=33.0) | {"resolution": 512, "kind": "baseline"}
    tables.run(write(tmp_path, [ours, ext]), tables.TableOutputs(tmp_path / "mixed"))
    markdown = (tmp_path / "mixed" / "self_reconstruction.md").read_text()
    assert "| ours @128² |" in markdown and "| ext‡ @512² |" in markdown
    assert "do not compare" in (tmp_path / "mixed" / "self_reconstruction.tex").read_text()
    assert "ours,method,,128," in (tmp_path / "mixed" / "self_reconstruction.csv").read_text()
    ext["resolution"] = 128
    tables.run(write(tmp_path, [ours, ext]), tables.TableOutputs(tmp_path / "same"))
    markdown = (tmp_path / "same" / "self_reconstruction.md").read_text()
    assert "| ours |" in markdown and "| ext‡ |" in markdown and "@" not in markdown
