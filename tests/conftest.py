"""Shared fixtures: real media files made on the fly with ffmpeg, and the demo identity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from talkgs.media import write_video, write_wav

REPO = Path(__file__).resolve().parents[1]
# The talkgs and snakemake commands of this interpreter's environment come first on PATH, as
# `make test` arranges, so subprocess tests run the code under test whoever starts pytest.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
REAL_CLIP = REPO.parent / "shared" / "data" / "real_german_20s.mp4"
HAIR_CLIP = REPO.parent / "shared" / "data" / "may_5s.mp4"  # hair below the ears

# A binary time code painted into each source frame: CODE_BITS squares of CODE_CELL px on one
# row at CODE_ORIGIN (source pixels; on the astronaut's chest, inside the face crop).
CODE_BITS = 9
CODE_CELL = 14
CODE_ORIGIN = (163, 228)


def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()  # 512×512 RGB, a real portrait (public domain)


def paint_code(image: np.ndarray, value: int) -> np.ndarray:
    out = image.copy()
    x0, y0 = CODE_ORIGIN
    for bit in range(CODE_BITS):
        on = (value >> bit) & 1
        x = x0 + bit * CODE_CELL
        out[y0 : y0 + CODE_CELL, x : x + CODE_CELL] = 255 if on else 0
    return out


def read_code(frame: np.ndarray, crop: dict, size: int) -> int:
    """The time code in an ingested frame, found through the crop recorded in meta.json."""
    scale = size / crop["size"]
    value = 0
    for bit in range(CODE_BITS):
        cx = CODE_ORIGIN[0] + bit * CODE_CELL + CODE_CELL / 2
        cy = CODE_ORIGIN[1] + CODE_CELL / 2
        x, y = int((cx - crop["x"]) * scale), int((cy - crop["y"]) * scale)
        if frame[y - 2 : y + 3, x - 2 : x + 3].mean() > 128:
            value |= 1 << bit
    return value


def tone(seconds: float, rate: int, channels: int, beeps: Sequence[float] = ()) -> np.ndarray:
    """Quiet noise with 50 ms 1 kHz beeps starting at ``beeps`` seconds; ``[N, channels]``."""
    rng = np.random.default_rng(0)
    n = round(seconds * rate)
    signal = 0.01 * rng.standard_normal(n).astype(np.float32)
    t = np.arange(int(0.05 * rate)) / rate
    for start in beeps:
        i = round(start * rate)
        signal[i : i + len(t)] += 0.6 * np.sin(2 * np.pi * 1000 * t)[: n - i]
    return np.repeat(signal[:, None], channels, axis=1)


@dataclass
class ClipSpec:
    seconds: float = 3.0
    fps: float = 30.0
    audio_seconds: float | None = None  # None: same as the video; 0: no audio stream
    audio_rate: int = 48000
    audio_channels: int = 2
    beeps: Sequence[float] = ()
    face: bool = True
    frame_durations: Sequence[float] | None = None  # variable frame rate when given


def make_clip(path: Path, spec: ClipSpec) -> Path:
    """A real H.264/AAC mp4 of the astronaut (or of noise, face=False) with time-coded frames."""
    base = astronaut() if spec.face else np.full((512, 512, 3), 90, np.uint8)
    audio_path = None
    audio_seconds = spec.seconds if spec.audio_seconds is None else spec.audio_seconds
    if audio_seconds > 0:
        audio_path = path.with_suffix(".src.wav")
        write_wav(
            audio_path,
            tone(audio_seconds, spec.audio_rate, spec.audio_channels, spec.beeps),
            spec.audio_rate,
        )
    if spec.frame_durations is not None:
        return _make_vfr_clip(path, base, spec.frame_durations, audio_path)
    count = round(spec.seconds * spec.fps)
    frames = (paint_code(base, i) for i in range(count))
    write_video(path, frames, spec.fps, audio=audio_path)
    return path


def _make_vfr_clip(
    path: Path, base: np.ndarray, durations: Sequence[float], audio: Path | None
) -> Path:
    """Variable frame rate: frame i is shown for durations[i] seconds (concat demuxer)."""
    import cv2

    folder = path.with_suffix(".frames")
    folder.mkdir()
    lines = []
    for i, duration in enumerate(durations):
        image = folder / f"{i:04d}.png"
        cv2.imwrite(str(image), cv2.cvtColor(paint_code(base, i), cv2.COLOR_RGB2BGR))
        lines += [f"file '{image}'", f"duration {duration:.4f}"]
    lines.append(f"file '{folder / f'{len(durations) - 1:04d}.png'}'")
    listing = folder / "list.txt"
    listing.write_text("\n".join(lines) + "\n")
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing)]
    if audio is not None:
        cmd += ["-i", str(audio), "-c:a", "aac"]
    cmd += [
        "-fps_mode",
        "vfr",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-crf",
        "18",
        "-enc_time_base",
        "1/1000",
        str(path),
    ]
    subprocess.run(cmd, check=True)
    return path


@pytest.fixture
def clip(tmp_path: Path) -> Callable[..., Path]:
    """``clip(name, **ClipSpec fields)`` → path of a new test clip."""

    def factory(name: str = "clip.mp4", **fields: object) -> Path:
        return make_clip(tmp_path / name, ClipSpec(**fields))  # type: ignore[arg-type]

    return factory


@pytest.fixture(scope="session")
def demo_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 3 s demo identity (video, truth.json), made once per test session."""
    from talkgs.demo import make_demo

    folder = tmp_path_factory.mktemp("demo")
    video, truth = folder / "demo.mp4", folder / "truth.json"
    make_demo(video, truth, seed=0, duration_s=3.0)
    return video, truth


@pytest.fixture(scope="session")
def real_clip() -> Path:
    if not REAL_CLIP.is_file():
        pytest.skip(f"real clip absent: {REAL_CLIP}")
    return REAL_CLIP


@pytest.fixture(scope="session")
def real_identity(real_clip: Path, tmp_path_factory: pytest.TempPathFactory):
    """The real clip ingested and through the face stages once per session (~35 s)."""
    return preprocess_identity(real_clip, tmp_path_factory.mktemp("results") / "german")


@pytest.fixture(scope="session")
def long_hair_identity(tmp_path_factory: pytest.TempPathFactory):
    """The 5 s clip of a speaker whose hair falls below the ears, ingested and through the face
    stages once per session (~20 s)."""
    if not HAIR_CLIP.is_file():
        pytest.skip(f"real clip absent: {HAIR_CLIP}")
    return preprocess_identity(HAIR_CLIP, tmp_path_factory.mktemp("results") / "may")


@dataclass
class DemoIdentity:
    """The 3 s demo run through ingest and the face stages, with its ground truth."""

    layout: object  # talkgs.layout.IdentityLayout
    truth: dict
    truth_landmarks: np.ndarray  # [T, 478, 2] in ingested-frame pixels
    crop: dict


def preprocess_identity(video: Path, identity_dir: Path):  # -> IdentityLayout
    """Ingest ``video`` and run the face stages with default settings into ``identity_dir``."""
    from talkgs import ingest
    from talkgs.face import landmarks, matting, parsing
    from talkgs.layout import IdentityLayout

    layout = IdentityLayout(str(identity_dir))
    p = layout.path
    ingest.run(
        ingest.IngestInputs(video),
        ingest.IngestOutputs(p("frames"), p("audio"), p("ingest_preview"), p("meta")),
        ingest.IngestParams(),
    )
    landmarks.run(p("frames"), p("landmarks"), landmarks.LandmarksParams())
    parsing.run(
        p("frames"), p("landmarks"), p("parsing"), p("parsing_preview"), parsing.ParsingParams()
    )
    matting.run(
        p("frames"),
        p("parsing"),
        matting.MattingOutputs(p("background"), p("gt_imgs"), p("torso_imgs")),
        matting.MattingParams(),
    )
    return layout


@pytest.fixture(scope="session")
def demo_identity(
    demo_clip: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> DemoIdentity:
    import json

    video, truth_path = demo_clip
    layout = preprocess_identity(video, tmp_path_factory.mktemp("results") / "demo")
    p = layout.path
    crop = json.loads(p("meta").read_text())["crop"]
    scale = 512 / crop["size"]
    with np.load(truth_path.with_name("truth_landmarks.npz")) as data:
        truth_landmarks = (data["landmarks"] - [crop["x"], crop["y"]]) * scale
    return DemoIdentity(layout, json.loads(truth_path.read_text()), truth_landmarks, crop)


def first_frames(demo: DemoIdentity, folder: Path, count: int = 2) -> tuple[Path, Path]:
    """The first ``count`` demo frames and their landmarks, as a small identity in ``folder``."""
    from talkgs.face import landmarks

    frames = folder / "frames"
    frames.mkdir(parents=True)
    for i in range(count):
        name = f"{i:06d}.jpg"
        (frames / name).write_bytes((demo.layout.path("frames") / name).read_bytes())
    found = landmarks.load(demo.layout.path("landmarks"))
    landmarks_npz = folder / "landmarks.npz"
    landmarks.save(
        landmarks_npz, landmarks.FaceLandmarks(found.landmarks[:count], found.detected[:count])
    )
    return frames, landmarks_npz


def parsing_args(frames: Path, landmarks_npz: Path, out: Path, *options: str) -> list[str]:
    """Arguments of ``talkgs parsing`` writing label maps to ``out`` (preview beside it)."""
    return [
        "parsing",
        "--frames",
        str(frames),
        "--landmarks",
        str(landmarks_npz),
        "--output",
        str(out),
        "--preview",
        str(out.with_suffix(".jpg")),
        *options,
    ]


def run_parsing_backend(
    backend: str, frames: Path, landmarks_npz: Path, manifest: Path, weights: Path, out: Path
) -> list[np.ndarray]:
    """``talkgs parsing --backend …`` through the CLI; returns the label maps it wrote."""
    import cv2

    from talkgs.cli import main

    options = [
        "--backend",
        backend,
        "--weights-manifest",
        str(manifest),
        "--weights-dir",
        str(weights),
    ]
    assert main(parsing_args(frames, landmarks_npz, out, *options)) == 0
    return [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted(out.glob("*.png"))]


def add_pose_and_features(layout, extractors: Sequence[str] = ("mel",)):
    """Run the pose and feature stages (defaults) on a preprocessed identity, in place."""
    from talkgs import pose
    from talkgs.features import au, audio, eyes, neutral

    p = layout.path
    pose.run(
        pose.PoseInputs(
            frames=p("frames"), landmarks=p("landmarks"), meta=p("meta"), parsing=p("parsing")
        ),
        pose.PoseOutputs(
            pose=p("pose"),
            train=p("transforms_train"),
            val=p("transforms_val"),
            quality=p("pose_quality"),
            plot=p("pose_plot"),
        ),
        pose.PoseParams(),
    )
    neutral.run(p("landmarks"), p("pose"), p("neutral"), neutral.NeutralParams())
    eyes.run(p("landmarks"), p("eyes"), p("blinks"), eyes.EyesParams())
    au.run(
        au.AuInputs(p("meta"), p("landmarks"), p("neutral")),
        au.AuOutputs(p("au"), p("au_plot")),
        au.AuParams(),
    )
    for extractor in extractors:
        audio.run(
            p("audio"),
            p("meta"),
            Path(layout.audio_features(extractor)),
            audio.AudioParams(extractor=extractor),
        )
    return layout


def trainable_copy(source, folder: Path):  # -> IdentityLayout
    """``source``'s ingest and face artifacts linked into ``folder``, with pose and features run
    there: everything training and evaluation read, without touching ``source``."""
    from talkgs.layout import IdentityLayout

    folder.mkdir(parents=True)
    for name in (
        "frames",
        "audio",
        "meta",
        "landmarks",
        "parsing",
        "background",
        "gt_imgs",
        "torso_imgs",
    ):
        (folder / source.path(name).name).symlink_to(source.path(name).resolve())
    return add_pose_and_features(IdentityLayout(str(folder)))


@pytest.fixture(scope="session")
def demo_trainable(demo_identity: DemoIdentity, tmp_path_factory: pytest.TempPathFactory):
    """The 3 s demo identity with pose and features: everything training reads (a layout)."""
    return trainable_copy(demo_identity.layout, tmp_path_factory.mktemp("trainable") / "demo")


@pytest.fixture(scope="session")
def real_trainable(real_identity, tmp_path_factory: pytest.TempPathFactory):
    """The real clip with pose and features as well (~30 s more than ``real_identity``)."""
    return trainable_copy(real_identity, tmp_path_factory.mktemp("trainable") / "german")


@pytest.fixture(scope="session")
def demo_6s(tmp_path_factory: pytest.TempPathFactory):
    """A 6 s demo identity ready to train, with its truth: 14 validation frames where the 3 s
    demo has 7, enough for a correlation to mean something."""
    from talkgs.demo import make_demo

    folder = tmp_path_factory.mktemp("demo_6s")
    make_demo(folder / "demo.mp4", folder / "truth.json", seed=0, duration_s=6.0)
    layout = add_pose_and_features(preprocess_identity(folder / "demo.mp4", folder / "demo"))
    opening = [
        frame["mouth_open"] for frame in json.loads((folder / "truth.json").read_text())["frames"]
    ]
    return Path(layout.root), np.array(opening)
