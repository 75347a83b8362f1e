"""External baselines: the round trip export → "upstream code" → baselines → evaluate → tables.

The upstream code is stood in for by real files made from the exported data folder: the
validation frames that its ``transforms_val.json`` lists, read back from ``gt_imgs`` and then
blurred, shifted by a frame, or written as an mp4 at another resolution with audio of its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from conftest import REPO, tone
from talkgs import baselines, evaluate, export, tables
from talkgs.cli import main
from talkgs.config import baseline_entries
from talkgs.errors import TalkgsError
from talkgs.frames import read_rgb
from talkgs.media import probe, read_audio, write_video, write_wav


def upstream_renders(folder: Path, digits: int = 0) -> list[np.ndarray]:
    """What an upstream code base trained on the export renders for its test split: here the
    ground truth of each frame that ``transforms_val.json`` lists, in its order, from an
    exported data folder (``gt_imgs/<i>.jpg``) or an identity's results (``digits=6``)."""
    listing = json.loads((folder / "transforms_val.json").read_text())["frames"]
    return [read_rgb(folder / "gt_imgs" / f"{f['img_id']:0{digits}d}.jpg") for f in listing]


def write_folder(folder: Path, frames: list[np.ndarray], first_number: int = 1) -> Path:
    """Numbered the way upstream scripts often do it: from 1, zero-padded, with a prefix; as
    JPEG (quality 95), so that no frame equals the ground truth bit for bit (infinite PSNR)."""
    folder.mkdir()
    for number, frame in enumerate(frames, start=first_number):
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        assert cv2.imwrite(
            str(folder / f"frame_{number:04d}.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 95]
        )
    return folder


def evaluate_baseline(name: str, renders: Path, identity: Path, work: Path, offset: int = 0):
    """The baseline stage, then the evaluate stage on its output, as the two rules run them."""
    frames, summary = work / name / "val", work / name / "val.json"
    baselines.ingest(name, renders, identity / "meta.json", frames, summary, offset=offset)
    return evaluate.run(
        evaluate.EvaluateInputs(identity, name, frames, summary, []),
        evaluate.EvaluateOutputs(
            work / f"{name}.json", work / f"{name}.csv", work / f"{name}_samples.jpg"
        ),
        evaluate.EvaluateParams(weights_dir=work / "no-weights", cpbd_frames=4),
    )


@pytest.fixture(scope="module")
def round_trip(demo_trainable, tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("baselines")
    identity = Path(demo_trainable.root)
    exported = work / "export"
    export.run("demo", identity, exported)
    # what TalkingGaussian's loaders read besides the frames: at the data folder's root
    for name in (
        "aud.wav",
        "aud_mel.npy",
        "au.csv",
        "transforms_train.json",
        "transforms_val.json",
    ):
        assert (exported / name).is_file(), name
    truth = upstream_renders(exported)
    n = len(truth)
    assert n == len(json.loads((identity / "transforms_val.json").read_text())["frames"])
    wav = work / "own_audio.wav"
    write_wav(wav, tone(n / 25, 16000, 1, beeps=[0.05]), 16000)
    small = [cv2.resize(f, (256, 256), interpolation=cv2.INTER_AREA) for f in truth]
    sources = {
        "exact": write_folder(work / "exact", truth),
        "blurred": write_folder(
            work / "blurred", [cv2.GaussianBlur(f, (0, 0), sigmaX=3.0) for f in truth]
        ),
        # frame j shows validation frame j + 1 (the last one held)
        "shifted": write_folder(work / "shifted", [*truth[1:], truth[-1]]),
        "small_mp4": work / "small.mp4",
    }
    write_video(sources["small_mp4"], small, 25, audio=wav)
    documents = {
        name: evaluate_baseline(name, path, identity, work) for name, path in sources.items()
    }
    # the shifted renders without their held last frame, aligned by the offset
    aligned = write_folder(work / "aligned", truth[1:], first_number=0)
    documents["aligned"] = evaluate_baseline("aligned", aligned, identity, work, offset=1)
    return {"work": work, "identity": identity, "documents": documents, "n": n}


def metric(document: dict, key: str) -> float:
    value = document["metrics"][key]["mean"]
    assert value is not None, (key, document["metrics"][key])
    return value


def test_round_trip_metrics_move_the_way_they_should(round_trip: dict) -> None:
    docs = round_trip["documents"]
    exact, blurred, shifted = docs["exact"], docs["blurred"], docs["shifted"]
    assert exact["kind"] == "baseline" and exact["frames"] == blurred["frames"]
    assert len(exact["frames"]) == round_trip["n"]
    assert metric(exact, "psnr") > 38  # the exported ground truth, as JPEG
    assert metric(exact, "lmd") < 0.3  # px at 512²
    assert metric(blurred, "psnr") < metric(exact, "psnr") - 20
    assert metric(blurred, "cpbd") < metric(exact, "cpbd")
    assert metric(shifted, "lmd") > metric(exact, "lmd") + 0.2  # px at 512²
    # an mp4 at 256² is brought to the identity's 512² and measured there; its audio is unused
    small = docs["small_mp4"]
    assert small["resolution"] == 512
    assert "resized from 256×256 to 512×512" in small["method_settings"]["resized"]
    assert metric(blurred, "psnr") < metric(small, "psnr") < metric(exact, "psnr")
    # the offset puts the shifted frames back in place: frame ids and landmarks line up
    aligned = docs["aligned"]
    assert aligned["frames"] == exact["frames"][1:]
    assert metric(aligned, "lmd") < metric(shifted, "lmd") - 0.2
    for key in ("train_hours", "fps"):
        assert exact["metrics"][key] == {"mean": None, "reason": "external baseline: not "
                                         "measured by talkgs"}  # fmt: skip


def test_round_trip_tables_mark_baselines_and_compare_with_the_reference(
    round_trip: dict, tmp_path: Path
) -> None:
    work = round_trip["work"]
    files = [work / f"{name}.json" for name in ("exact", "blurred", "shifted", "small_mp4")]
    tables.run(
        files,
        tables.TableOutputs(tmp_path / "tables"),
        options=tables.TableOptions(std=True, reference="exact"),
    )
    out = tmp_path / "tables"
    markdown = (out / "self_reconstruction.md").read_text()
    assert "| blurred‡ |" in markdown and "| exact‡ |" in markdown
    latex = (out / "self_reconstruction.tex").read_text()
    assert r"blurred$^\ddagger$" in latex and "external code" in latex
    per_identity = (out / "per_identity.csv").read_text().splitlines()
    assert per_identity[0].startswith("identity,method,kind,psnr,lpips")
    assert len(per_identity) == 1 + 4 and all(",baseline," in line for line in per_identity[1:])
    paired = (out / "paired.csv").read_text()
    # one identity: the blurred renders are worse than the exact ones on PSNR, and no test
    psnr_row = next(
        line for line in paired.splitlines() if line.startswith("blurred,") and ",psnr," in line
    )
    assert ",exact,psnr,1,0,0,1," in psnr_row and "no test" in psnr_row
    page = (out / "tables.html").read_text()
    assert "blurred&Dagger;" in page and "Per identity" in page and "Paired comparison" in page


def test_cross_driven_baseline_gets_the_driving_audio(round_trip: dict, tmp_path: Path) -> None:
    identity = round_trip["identity"]
    frames = upstream_renders(identity, digits=6)
    own = tmp_path / "own.wav"
    write_wav(own, tone(len(frames) / 25, 16000, 1, beeps=[0.0, 0.1, 0.2]), 16000)
    renders = tmp_path / "cross.mp4"
    write_video(renders, frames, 25, audio=own)
    out = tmp_path / "cross_demo.mp4"
    # driven by its own identity's audio here: the driver is any identity with meta and audio
    baselines.ingest_cross(
        "x", renders, identity / "meta.json", identity / "meta.json", identity / "audio.wav", out
    )
    info = probe(out)
    assert (info.video.width, info.video.height) == (512, 512)
    from talkgs.features.audio import frame_samples
    from talkgs.media import read_wav

    driver, _ = read_wav(identity / "audio.wav")
    first = json.loads((identity / "transforms_val.json").read_text())["frames"][0]["img_id"]
    expected = frame_samples(driver, first, len(frames))
    muxed = read_audio(out, 16000)[: len(expected)]
    beeps = read_audio(renders, 16000)[: len(expected)]
    # the muxed audio follows the driver's validation audio, not the renders' own beeps
    assert np.corrcoef(muxed, expected)[0, 1] > 0.9
    assert abs(np.corrcoef(muxed, beeps)[0, 1]) < 0.3


# --- refused input: one line naming the file, exit status 2, nothing left behind -----------------


def run_baseline_cli(renders: Path, identity: Path, out: Path, capsys) -> tuple[int, str]:
    code = main(
        ["baseline", "--name", "b", "--renders", str(renders), "--meta",
         str(identity / "meta.json"), "--frames", str(out / "val"), "--summary",
         str(out / "val.json")]
    )  # fmt: skip
    return code, capsys.readouterr().err


@pytest.mark.parametrize("problem", ["missing", "count", "unreadable", "gap", "not_square"])
def test_bad_baseline_input_is_refused_in_one_line(
    problem: str, demo_trainable, tmp_path: Path, capsys
) -> None:
    identity = Path(demo_trainable.root)
    truth = upstream_renders(identity, digits=6)
    renders = {
        "missing": tmp_path / "nowhere.mp4",
        "count": tmp_path / "count",
        "unreadable": tmp_path / "broken.mp4",
        "gap": tmp_path / "gap",
        "not_square": tmp_path / "wide",
    }[problem]
    if problem == "count":
        write_folder(renders, [*truth, truth[-1]])
    elif problem == "unreadable":
        renders.write_bytes(b"\x00\x01 this is not a video" * 100)
    elif problem == "gap":
        write_folder(renders, truth)
        (renders / "frame_0003.jpg").unlink()
    elif problem == "not_square":
        write_folder(renders, [np.zeros((512, 600, 3), np.uint8)] * len(truth))
    out = tmp_path / "out"
    code, err = run_baseline_cli(renders, identity, out, capsys)
    n = len(truth)
    expected = {
        "missing": f"{renders}: not found",
        "count": f"{renders}: {n + 1} frames, expected {n} (the {n} validation frames",
        "unreadable": f"{renders}: unreadable media file",
        "gap": f"{renders}: the numbering has a gap: frame_0004.jpg follows frame_0002.jpg",
        "not_square": f"{renders}: frames are 600×512, not square",
    }[problem]
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_a_short_video_is_refused_and_leaves_nothing(
    container: str, demo_trainable, tmp_path: Path
) -> None:
    """An mp4 states its frame count and is refused before anything is decoded; a Matroska file
    does not, so it is refused after decoding, and the frames written so far are removed."""
    identity = Path(demo_trainable.root)
    truth = upstream_renders(identity, digits=6)
    short = tmp_path / f"short.{container}"
    write_video(
        short, truth[:-2], 25, extra_args=["-f", "matroska" if container == "mkv" else "mp4"]
    )
    assert (probe(short).video.frame_count is None) == (container == "mkv")
    out = tmp_path / "out"
    with pytest.raises(TalkgsError, match=rf"{len(truth) - 2} frames, expected {len(truth)}"):
        baselines.ingest("b", short, identity / "meta.json", out / "val", out / "val.json")
    assert not out.exists()


# --- config ---------------------------------------------------------------------------------------


def test_baseline_entries_resolve_paths_and_refuse_mistakes() -> None:
    ids, methods = ["alice", "bob"], ["tg"]
    entries = baseline_entries(
        {
            "ernerf": "renders/{identity}/test.mp4",
            "synctalk": {
                "renders": {"alice": "st/alice"},
                "offset": 2,
                "cross": {"bob": "st/{identity}_by_bob.mp4"},
            },
        },
        ids,
        methods,
    )
    assert entries["ernerf"].renders_of("bob") == "renders/bob/test.mp4"
    assert entries["synctalk"].renders_of("bob") is None  # not evaluated for bob
    assert entries["synctalk"].offset == 2
    assert entries["synctalk"].cross_audios("alice") == ["bob"]
    assert entries["synctalk"].cross_audios("bob") == []  # nobody is driven by themselves
    assert entries["synctalk"].cross_of("alice", "bob") == "st/alice_by_bob.mp4"
    for config, message in (
        ({"tg": "x/{identity}.mp4"}, "baselines.tg: also the name of a method"),
        ({"b": "same.mp4"}, "baselines.b.renders: 'same.mp4' has no {identity}"),
        ({"b": {"renders": {"carol": "c.mp4"}}}, "baselines.b.renders: 'carol' is not an identity"),
        ({"b": {"renders": "{identity}", "cross": {"carol": "x"}}}, "'carol' is not an identity"),
    ):
        with pytest.raises(TalkgsError, match=message.replace("{", r"\{").replace("}", r"\}")):
            baseline_entries(config, ids, methods)


def test_schema_lists_the_tables_metrics_of_the_code() -> None:
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    per_identity = schema["properties"]["tables"]["properties"]["per_identity"]
    assert per_identity["items"]["enum"] == list(tables.METRIC_COLUMNS)
    assert tuple(per_identity["default"]) == tables.PER_IDENTITY_DEFAULT
