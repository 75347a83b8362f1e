"""The ingest stage on the demo identity, on generated clips, and on malformed input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import read_code
from talkgs.cli import main
from talkgs.media import read_wav


def ingest(video: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "ingest",
            str(video),
            "--frames",
            str(out / "frames"),
            "--audio",
            str(out / "audio.wav"),
            "--preview",
            str(out / "ingest_preview.jpg"),
            "--meta",
            str(out / "meta.json"),
            *extra,
        ]
    )


def frames_of(out: Path) -> list[Path]:
    return sorted((out / "frames").glob("*.jpg"))


def load_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def check_audio(out: Path, frame_count: int) -> np.ndarray:
    samples, rate = read_wav(out / "audio.wav")
    assert rate == 16000
    assert samples.ndim == 1, "audio.wav must be mono"
    assert len(samples) == frame_count * 640, "audio must last exactly frame_count / 25 s"
    return samples


def beep_onsets(samples: np.ndarray, rate: int = 16000) -> list[float]:
    loud = np.abs(samples) > 0.3
    starts = np.flatnonzero(loud[1:] & ~loud[:-1]) + 1
    onsets: list[float] = []
    for s in starts:
        if not onsets or s / rate - onsets[-1] > 0.2:
            onsets.append(s / rate)
    return onsets


def test_demo_identity(demo_clip: tuple[Path, Path], tmp_path: Path) -> None:
    video, truth_path = demo_clip
    out = tmp_path / "demo"
    assert ingest(video, out) == 0
    truth = json.loads(truth_path.read_text())
    meta = json.loads((out / "meta.json").read_text())
    frames = frames_of(out)
    assert meta["frame_count"] == len(frames) == truth["frame_count"] == 75
    assert [p.name for p in frames[:2]] == ["000000.jpg", "000001.jpg"]
    assert load_rgb(frames[0]).shape == (512, 512, 3)
    check_audio(out, len(frames))
    # The whole face (its 478 landmarks, from the demo's ground truth) is inside the crop in
    # every frame, with room to spare: at least 10% of the crop on every side.
    crop = meta["crop"]
    boxes = np.array([f["face_box"] for f in truth["frames"]], float)
    margin = 0.1 * crop["size"]
    assert (boxes[:, 0] >= crop["x"] + margin).all() and (boxes[:, 1] >= crop["y"] + margin).all()
    assert (boxes[:, 2] <= crop["x"] + crop["size"] - margin).all()
    assert (boxes[:, 3] <= crop["y"] + crop["size"] - margin).all()
    assert meta["source"]["sha256"] and len(meta["source"]["sha256"]) == 64
    preview = cv2.imread(str(out / "ingest_preview.jpg"))
    assert preview.shape == (512, 3 * 512, 3)


def test_same_input_same_artifacts(demo_clip: tuple[Path, Path], tmp_path: Path) -> None:
    video, _ = demo_clip
    assert ingest(video, tmp_path / "a") == 0
    assert ingest(video, tmp_path / "b") == 0
    for name in ("meta.json", "audio.wav", "frames/000000.jpg", "frames/000074.jpg"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_30fps_clip_becomes_25fps(clip, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert ingest(clip(seconds=3.0, fps=30.0), out) == 0
    meta = json.loads((out / "meta.json").read_text())
    frames = frames_of(out)
    assert len(frames) == meta["frame_count"] == 75
    assert meta["source"]["fps"] == pytest.approx(30.0)
    check_audio(out, 75)
    # Output frame i (time i/25) shows the source frame of time i/25: index i·30/25.
    codes = np.array([read_code(load_rgb(p), meta["crop"], 512) for p in frames])
    expected = np.arange(75) * 30 / 25
    assert np.abs(codes - expected).max() <= 1.0


def test_variable_frame_rate_clip(clip, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    durations = rng.choice([0.02, 0.04, 0.07], size=70)  # ~3 s of irregular frames
    source = clip(frame_durations=list(durations), seconds=float(durations.sum()))
    out = tmp_path / "out"
    assert ingest(source, out) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["source"]["variable_fps"] is True
    frames = frames_of(out)
    assert len(frames) == meta["frame_count"]
    assert abs(len(frames) - durations.sum() * 25) <= 2
    # The source frame on screen at time i/25 is the one whose display interval contains it.
    starts = np.concatenate([[0.0], np.cumsum(durations)[:-1]])
    codes = np.array([read_code(load_rgb(p), meta["crop"], 512) for p in frames])
    on_screen = np.searchsorted(starts, np.arange(len(frames)) / 25 + 1e-6, side="right") - 1
    assert np.abs(codes - on_screen).max() <= 1
    assert (np.diff(codes) >= 0).all(), "time never runs backwards"
    check_audio(out, len(frames))


@pytest.mark.parametrize("rate", [44100, 48000])
def test_stereo_audio_is_resampled_and_aligned(clip, tmp_path: Path, rate: int) -> None:
    source = clip(seconds=3.0, fps=25.0, audio_rate=rate, audio_channels=2, beeps=[0.52, 2.0])
    out = tmp_path / "out"
    assert ingest(source, out) == 0
    samples = check_audio(out, 75)
    onsets = beep_onsets(samples)
    assert len(onsets) == 2
    assert onsets == pytest.approx([0.52, 2.0], abs=0.01), "audio drifted against the frames"


def test_audio_longer_than_video_is_trimmed(clip, tmp_path: Path) -> None:
    source = clip(seconds=3.0, fps=25.0, audio_seconds=4.5, beeps=[1.0, 4.0])
    out = tmp_path / "out"
    assert ingest(source, out) == 0
    samples = check_audio(out, 75)
    assert beep_onsets(samples) == pytest.approx([1.0], abs=0.01)  # the 4 s beep is cut


def test_audio_shorter_than_video_is_padded_with_silence(clip, tmp_path: Path) -> None:
    source = clip(seconds=3.0, fps=25.0, audio_seconds=2.0, beeps=[1.0])
    out = tmp_path / "out"
    assert ingest(source, out) == 0
    samples = check_audio(out, 75)
    assert beep_onsets(samples) == pytest.approx([1.0], abs=0.01)
    assert np.abs(samples[int(2.1 * 16000) :]).max() == 0.0


def _make_audio_only(tmp_path: Path) -> Path:
    from conftest import tone
    from talkgs.media import write_wav

    path = tmp_path / "speech.wav"
    write_wav(path, tone(3.0, 16000, 1)[:, 0], 16000)
    return path


def _make_truncated(clip, tmp_path: Path) -> Path:
    # faststart puts the index first, so the file still probes with its full duration and
    # only decoding finds the missing second half
    import subprocess

    whole = clip("whole.mp4", seconds=4.0, fps=25.0)
    fast = tmp_path / "fast.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(whole),
            "-c",
            "copy",
            "-movflags",
            "+faststart",
            str(fast),
        ],
        check=True,
    )
    cut = tmp_path / "truncated.mp4"
    data = fast.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    return cut


def _make_cut_index(clip, tmp_path: Path) -> Path:
    whole = clip("whole.mp4", seconds=3.0, fps=25.0).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: len(whole) // 2])  # index at the end: lost
    return cut


def _make_garbage(tmp_path: Path) -> Path:
    path = tmp_path / "garbage.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, np.uint8).tobytes())
    return path


REFUSALS = {
    "no video stream": lambda clip, tmp: _make_audio_only(tmp),
    "no audio stream": lambda clip, tmp: clip("silent.mp4", audio_seconds=0),
    "unreadable media file": lambda clip, tmp: _make_garbage(tmp),
    "truncated or corrupt": lambda clip, tmp: _make_truncated(clip, tmp),
    "unreadable media file (moov atom not found": lambda clip, tmp: _make_cut_index(clip, tmp),
    "too short: 1.52 s": lambda clip, tmp: clip("short.mp4", seconds=1.52, fps=25.0),
    "no face detected in the first 3 s": lambda clip, tmp: clip("noface.mp4", face=False),
    "no such file": lambda clip, tmp: tmp / "missing.mp4",
}


@pytest.mark.parametrize("problem", list(REFUSALS))
def test_malformed_input_is_refused_in_one_line(
    problem: str, clip, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    source = REFUSALS[problem](clip, tmp_path)
    results, log = tmp_path / "results", tmp_path / "logs" / "ingest.log"
    capfd.readouterr()
    assert ingest(source, results / "someone", "--log", str(log)) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"talkgs ingest: error: {source}: "), err
    assert problem in err
    assert err in log.read_text(), "the error is in the rule's log too"
    assert not results.exists() or not any(results.rglob("*")), "left a partial artifact"


@pytest.mark.realdata
def test_real_clip(real_clip: Path, tmp_path: Path) -> None:
    from talkgs.ingest.crop import FaceDetector

    out = tmp_path / "real"
    assert ingest(real_clip, out) == 0
    meta = json.loads((out / "meta.json").read_text())
    frames = frames_of(out)
    assert len(frames) == meta["frame_count"] == 500
    check_audio(out, 500)
    # The face is found, whole and away from the borders, in frames across the clip.
    detector = FaceDetector()
    for path in [*frames[:: len(frames) // 10], frames[-1]]:
        face = detector.detect(load_rgb(path), 0, scale=1.0)
        assert face is not None, path
        x0, y0, x1, y1 = face.box
        assert x0 > 16 and y0 > 16 and x1 < 512 - 16 and y1 < 512 - 16, (path, face.box)
    detector.close()
