"""The demo's soundtrack: sentences spoken by espeak-ng, and the loudness that drives the mouth.

Audio here is float32 mono at :data:`SAMPLE_RATE` (16 kHz, the rate every later stage reads), cut
into video frames of :data:`SAMPLES_PER_FRAME` samples (40 ms at 25 fps). espeak-ng's output for a
given text, voice and rate is deterministic, and so is everything done to it here.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from talkgs.errors import TalkgsError
from talkgs.media import read_wav

SAMPLE_RATE = 16000
FPS = 25
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640

VOICE = "en-us+f3"  # American English, a female variant (the portrait is of a woman)
LEADING_SILENCE_S = 0.4  # the clip opens with the mouth at rest
SENTENCE_GAP_S = 0.45  # a pause between sentences, long enough for the mouth to close
PEAK_LEVEL = 0.7  # the loudest sample of the whole script, in [-1, 1]

# Each script is long enough to fill 12 s; the demo keeps the first `duration_s` of it.
SCRIPTS: tuple[tuple[str, ...], ...] = (
    (
        "Hello, I am glad you are here.",
        "Let me tell you what it feels like to fly in space.",
        "The first thing you notice is the silence.",
        "Then you look down, and the whole Earth is turning below you.",
    ),
    (
        "Good morning, and thank you for coming.",
        "Today we will talk about training for a long mission.",
        "It takes years of practice, and a lot of patience.",
        "But on launch day, every hour of it was worth it.",
    ),
    (
        "Welcome back to the program.",
        "Our crew spent two weeks in orbit, running experiments.",
        "We grew plants, we tested new tools, and we slept very little.",
        "I would go again tomorrow.",
    ),
)
SPEAKING_RATES_WPM = (160, 150, 170)


def script_for_seed(seed: int) -> tuple[tuple[str, ...], int]:
    """The sentences and speaking rate (words per minute) that `seed` picks; 0: the default."""
    script = SCRIPTS[seed % len(SCRIPTS)]
    rate = SPEAKING_RATES_WPM[(seed // len(SCRIPTS)) % len(SPEAKING_RATES_WPM)]
    return script, rate


@dataclass(frozen=True)
class Soundtrack:
    """The demo's audio and what the face does with it; T = video frame count."""

    samples: np.ndarray  # [T * SAMPLES_PER_FRAME] float32 in [-1, 1], 16 kHz mono
    frame_rms: np.ndarray  # [T] float64, RMS of each frame's 40 ms of samples
    mouth_open: np.ndarray  # [T] float64 in [0, 1]: 0 closed, 1 fully open


def make_soundtrack(seed: int, frame_count: int) -> Soundtrack:
    """Speech for `frame_count` video frames, its per-frame loudness and the mouth opening.

    Loudness and opening are computed on the whole script (padded with silence if the video is
    longer) and then cut, so that a shorter demo is an exact prefix of a longer one.
    """
    script = synthesize_script(seed)
    total = frame_count * SAMPLES_PER_FRAME
    padded = np.pad(script, (0, max(total - len(script), 0)))
    rms = frame_rms(padded)
    reference_rms = float(np.percentile(rms[rms > 0], 95))  # the speaker's loud speech
    mouth_open = mouth_opening(rms, reference_rms)
    return Soundtrack(padded[:total], rms[:frame_count], mouth_open[:frame_count])


def synthesize_script(seed: int) -> np.ndarray:
    """The whole script that `seed` picks, spoken: float32 ``[N]`` at 16 kHz, peak PEAK_LEVEL.

    Sentences are synthesised one by one and joined with pauses of a known length (silent
    frames, where the mouth closes), after a short silence that opens the clip.
    """
    sentences, rate = script_for_seed(seed)
    espeak = _espeak_path()
    parts = [np.zeros(round(LEADING_SILENCE_S * SAMPLE_RATE), np.float32)]
    gap = np.zeros(round(SENTENCE_GAP_S * SAMPLE_RATE), np.float32)
    with tempfile.TemporaryDirectory(prefix="talkgs-demo-speech-") as tmp:
        for number, sentence in enumerate(sentences):
            wav_path = Path(tmp) / f"sentence{number}.wav"
            _run_espeak(espeak, sentence, rate, wav_path)
            samples, rate_hz = read_wav(wav_path)
            parts += [_trim_silence(_to_16k(samples, rate_hz)), gap]
    speech = np.concatenate(parts)
    return (speech * (PEAK_LEVEL / max(float(np.abs(speech).max()), 1e-6))).astype(np.float32)


def _espeak_path() -> str:
    found = shutil.which("espeak-ng")
    if found is None:
        raise TalkgsError(
            "espeak-ng not found on PATH: the demo's speech needs it (apt-get install espeak-ng)"
        )
    return found


def _run_espeak(espeak: str, text: str, rate_wpm: int, wav_path: Path) -> None:
    result = subprocess.run(
        [espeak, "-v", VOICE, "-s", str(rate_wpm), "-w", str(wav_path), text],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not wav_path.is_file():
        message = result.stderr.strip().splitlines()[-1:] or ["no message"]
        raise TalkgsError(f"espeak-ng failed to synthesise the demo speech ({message[0]})")


def _to_16k(samples: np.ndarray, rate_hz: int) -> np.ndarray:
    """Mono float32 at 16 kHz (espeak-ng writes 22050 Hz mono)."""
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    divisor = np.gcd(SAMPLE_RATE, rate_hz)
    up, down = SAMPLE_RATE // divisor, rate_hz // divisor
    return resample_poly(samples.astype(np.float64), up, down).astype(np.float32)


def _trim_silence(samples: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    """Drop espeak-ng's leading and trailing silence, so the pauses are ours alone."""
    loud = np.flatnonzero(np.abs(samples) > threshold * np.abs(samples).max())
    if len(loud) == 0:
        return samples
    return samples[loud[0] : loud[-1] + 1]


def frame_rms(speech: np.ndarray) -> np.ndarray:
    """RMS of each video frame's 40 ms of audio: ``[T]`` float64 for ``T = len(speech) // 640``."""
    frames = speech[: len(speech) // SAMPLES_PER_FRAME * SAMPLES_PER_FRAME]
    frames = frames.reshape(-1, SAMPLES_PER_FRAME).astype(np.float64)
    return np.sqrt(np.mean(frames**2, axis=1))


def mouth_opening(rms: np.ndarray, reference_rms: float) -> np.ndarray:
    """How open the mouth is in each frame, ``[T]`` in [0, 1], from the frame loudness.

    The envelope is smoothed over three frames (a jaw cannot jump in 40 ms), divided by
    `reference_rms` (a high percentile of the speaker's loudness), and mapped linearly so that
    near-silence is a closed mouth (0) and loud speech a fully open one (1).
    """
    smoothed = np.convolve(np.pad(rms, 1, mode="edge"), [0.25, 0.5, 0.25], mode="valid")
    relative = smoothed / max(reference_rms, 1e-9)
    closed_below, open_above = 0.12, 0.85
    return np.clip((relative - closed_below) / (open_above - closed_below), 0.0, 1.0)
