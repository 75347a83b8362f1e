"""Media I/O through ffmpeg/ffprobe: probing, frame and audio decoding, wav and mp4 writing.

Frames are ``[H, W, 3]`` uint8 RGB arrays. Audio is a float32 array in [-1, 1], mono unless
stated. Every ffmpeg call is checked: a failure becomes a one-line :class:`TalkgsError`
naming the file.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import wave
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from talkgs.errors import TalkgsError, input_error


@dataclass(frozen=True)
class VideoStream:
    width: int  # as displayed, after any rotation tag is applied
    height: int
    avg_fps: float  # frames / duration; differs from nominal_fps for variable frame rate
    nominal_fps: float  # ffprobe's r_frame_rate
    frame_count: int | None  # from the container; absent for some formats
    duration: float | None
    start_time: float
    codec: str

    @property
    def variable_fps(self) -> bool:
        return abs(self.avg_fps - self.nominal_fps) > 0.01 * max(self.nominal_fps, 1.0)


@dataclass(frozen=True)
class AudioStream:
    sample_rate: int
    channels: int
    duration: float | None
    start_time: float
    codec: str


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    duration: float  # container duration in seconds
    video: VideoStream | None
    audio: AudioStream | None


def require_tool(name: str) -> str:
    """Path of an external program, or a one-line error saying how to get it."""
    found = shutil.which(name)
    if found is None:
        raise TalkgsError(f"{name} not found on PATH: install it (apt-get install ffmpeg)")
    return found


def probe(path: str | Path) -> MediaInfo:
    """Streams and durations of a media file; raises TalkgsError if ffprobe cannot read it."""
    path = Path(path)
    if not path.is_file():
        raise input_error(path, "no such file")
    result = subprocess.run(
        [
            require_tool("ffprobe"),
            "-v",
            "error",
            "-show_format",
            "-show_streams",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise input_error(path, f"unreadable media file ({ffmpeg_message(result.stderr, path)})")
    info = json.loads(result.stdout or "{}")
    fmt = info.get("format", {})
    video = audio = None
    for stream in info.get("streams", []):
        kind = stream.get("codec_type")
        if (
            kind == "video"
            and video is None
            and not stream.get("disposition", {}).get("attached_pic")
        ):
            video = _video_stream(stream)
        elif kind == "audio" and audio is None:
            audio = AudioStream(
                sample_rate=int(stream.get("sample_rate", 0)),
                channels=int(stream.get("channels", 0)),
                duration=_float_or_none(stream.get("duration")),
                start_time=_float_or_none(stream.get("start_time")) or 0.0,
                codec=stream.get("codec_name", "?"),
            )
    duration = _float_or_none(fmt.get("duration"))
    if duration is None:
        durations = [s.duration for s in (video, audio) if s is not None and s.duration]
        duration = max(durations, default=0.0)
    return MediaInfo(path=path, duration=duration, video=video, audio=audio)


def _video_stream(stream: dict) -> VideoStream:
    width, height = int(stream.get("width", 0)), int(stream.get("height", 0))
    rotation = _rotation_degrees(stream)
    if rotation % 180 == 90:  # ffmpeg auto-rotates when decoding, so report displayed size
        width, height = height, width
    nb_frames = stream.get("nb_frames")
    return VideoStream(
        width=width,
        height=height,
        avg_fps=_rate(stream.get("avg_frame_rate")),
        nominal_fps=_rate(stream.get("r_frame_rate")),
        frame_count=int(nb_frames) if nb_frames and nb_frames.isdigit() else None,
        duration=_float_or_none(stream.get("duration")),
        start_time=_float_or_none(stream.get("start_time")) or 0.0,
        codec=stream.get("codec_name", "?"),
    )


def _rotation_degrees(stream: dict) -> int:
    for side_data in stream.get("side_data_list", []):
        if "rotation" in side_data:
            return round(float(side_data["rotation"])) % 360
    return int(stream.get("tags", {}).get("rotate", 0)) % 360


def _rate(text: str | None) -> float:
    try:
        value = Fraction(text or "0/0")
    except (ValueError, ZeroDivisionError):
        return 0.0
    return float(value)


def _float_or_none(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "N/A") else None
    except ValueError:
        return None


def ffmpeg_message(stderr: str, path: str | Path | None = None, limit: int = 2) -> str:
    """ffmpeg's complaint in a few words: distinct lines without "[mov @ 0x…]" or path prefixes."""
    messages: list[str] = []
    for line in stderr.splitlines():
        text = re.sub(r"^\[[^\]]+ @ 0x[0-9a-f]+\]\s*", "", line.strip())
        if path is not None:
            text = text.removeprefix(f"{path}: ")
        if text and text not in messages:
            messages.append(text)
    return "; ".join(messages[:limit]) or "no message from ffmpeg"


class VideoReader:
    """Decodes a video to constant-rate RGB frames through one ffmpeg pipe.

    ``filters`` is an ffmpeg filter chain applied after ``fps=<fps>`` (e.g. crop and scale), and
    ``size`` the (width, height) it produces. With ``every=k`` only frames 0, k, 2k, … of the
    constant-rate stream are decoded out. Iterate to get frames; afterwards ``errors``
    holds what ffmpeg reported, and ``returncode`` its exit status.
    """

    def __init__(
        self,
        path: str | Path,
        size: tuple[int, int],
        fps: float = 25.0,
        filters: Sequence[str] = (),
        every: int = 1,
    ) -> None:
        self.path = Path(path)
        self.size = size
        # select keeps every n-th frame *of the constant-rate stream*; passthrough stops the
        # muxer from duplicating frames back to fill the gaps.
        sampling = [f"select=not(mod(n\\,{every}))"] if every > 1 else []
        chain = ",".join([f"fps={fps}", *sampling, *filters])
        self._cmd = [
            require_tool("ffmpeg"),
            "-nostdin",
            "-v",
            "error",
            "-i",
            str(self.path),
            "-map",
            "0:v:0",
            "-vf",
            chain,
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ]
        self.errors = ""
        self.returncode: int | None = None

    def __iter__(self) -> Iterator[np.ndarray]:
        width, height = self.size
        frame_bytes = width * height * 3
        proc = subprocess.Popen(self._cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        try:
            while True:
                buffer = proc.stdout.read(frame_bytes)
                if len(buffer) < frame_bytes:
                    break
                yield np.frombuffer(buffer, np.uint8).reshape(height, width, 3)
        finally:
            proc.stdout.close()
            self.errors = proc.stderr.read().decode(errors="replace")
            proc.stderr.close()
            self.returncode = proc.wait()


def read_audio(
    path: str | Path, sample_rate: int = 16000, channels: int | None = None
) -> np.ndarray:
    """The first audio stream as float32 mono at ``sample_rate`` (channels averaged).

    ``channels`` is the stream's channel count when the caller has probed it already.
    """
    path = Path(path)
    if channels is None:
        info = probe(path)
        if info.audio is None:
            raise input_error(path, "no audio stream")
        channels = info.audio.channels
    result = subprocess.run(
        [
            require_tool("ffmpeg"),
            "-nostdin",
            "-v",
            "error",
            "-i",
            str(path),
            "-map",
            "0:a:0",
            "-ar",
            str(sample_rate),
            "-f",
            "f32le",
            "-",
        ],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise input_error(
            path, f"cannot decode audio ({ffmpeg_message(result.stderr.decode(), path)})"
        )
    samples = np.frombuffer(result.stdout, np.float32)
    channels = max(channels, 1)
    samples = samples[: len(samples) // channels * channels].reshape(-1, channels)
    return samples.mean(axis=1).astype(np.float32)


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> None:
    """16-bit PCM wav; ``samples`` is ``[N]`` (mono) or ``[N, C]`` float in [-1, 1]."""
    samples = np.asarray(samples, np.float32)
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """A 16-bit PCM wav as float32 (``[N]`` mono, ``[N, C]`` otherwise) and its sample rate."""
    with wave.open(str(path), "rb") as src:
        if src.getsampwidth() != 2:
            raise input_error(path, "expected 16-bit PCM wav")
        channels, rate = src.getnchannels(), src.getframerate()
        pcm = np.frombuffer(src.readframes(src.getnframes()), "<i2")
    samples = pcm.astype(np.float32) / 32767.0
    return (samples if channels == 1 else samples.reshape(-1, channels)), rate


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float,
    audio: str | Path | None = None,
    crf: int = 18,
    extra_args: Sequence[str] = (),
) -> int:
    """Encode RGB frames (and optionally a wav/audio file) as H.264/AAC mp4; returns frame count.

    Encoding is single-threaded and bit-exact, so the same frames give the same bytes.
    ``extra_args`` go before the output path (e.g. ``["-r", "30"]``).
    """
    path = Path(path)
    frames = iter(frames)
    first = next(frames)
    height, width = first.shape[:2]
    cmd = [
        require_tool("ffmpeg"),
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{width}x{height}",
        "-r",
        str(fps),
        "-i",
        "-",
    ]
    if audio is not None:
        cmd += ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", "128k"]
    cmd += [
        "-c:v",
        "libx264",
        "-preset",
        "medium",
        "-crf",
        str(crf),
        "-pix_fmt",
        "yuv420p",
        "-threads",
        "1",
        "-fflags",
        "+bitexact",
        "-flags:v",
        "+bitexact",
        "-flags:a",
        "+bitexact",
        "-map_metadata",
        "-1",
        *extra_args,
        str(path),
    ]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stderr is not None
    count = 0
    try:
        for image in itertools.chain([first], frames):
            proc.stdin.write(np.ascontiguousarray(image, np.uint8).tobytes())
            count += 1
    finally:
        proc.stdin.close()
        errors = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
    if proc.wait() != 0:
        raise TalkgsError(f"{path}: ffmpeg could not encode the video ({ffmpeg_message(errors)})")
    return count
