"""The audio stage: one row of audio features per video frame, as ``aud_<extractor>.npy``.

Input is the ingest stage's ``audio.wav`` (16 kHz mono, ``frame_count / 25`` s long) and its
``meta.json`` (``frame_count``, ``fps``). Any other wav is accepted too: it is mixed down to mono
and resampled to 16 kHz with soxr, so a 44.1/48 kHz stereo file gives the same features.

Alignment (every extractor): video frame ``i`` is shown at time ``t_i = i / 25`` s (its
timestamp), and its audio window is **centred on** ``t_i``. Where a window reaches before the
first or after the last audio sample, it sees silence (zeros). Audio longer than the frames
still feeds the last frames' windows; features always have exactly ``frame_count`` rows.

Extractors and their files (:data:`EXTRACTOR_FILES`):

- ``mel`` → ``aud_mel.npy`` ``[T, 16, 80]`` float32: the log-mel spectrogram of Wav2Lip and
  SyncTalk (pre-emphasis 0.97, 800-sample Hann window, 200-sample hop = 80 windows/s, 80 Slaney
  mel bands 55–7600 Hz, magnitude in dB − 20 dB clipped at −100 dB, scaled to [−4, 4]).
  Frame ``i`` holds the 16 windows centred at ``t_i + (m − 7.5) · 12.5 ms``, ``m = 0..15``
  (200 ms in all, each window 50 ms wide), so windows 7 and 8 straddle ``t_i``.
- ``ave`` → ``aud_ave.npy`` ``[T, 512]`` float32: SyncTalk's audio-visual encoder applied to
  frame ``i``'s mel windows (:mod:`talkgs.features.ave`; user-provided weights).
- ``hubert`` → ``aud_hu.npy`` ``[T, 2, H]`` float32 (H = 1024 for HuBERT-large): the last
  hidden state at 50 Hz; frame ``i`` holds the two 20 ms rows centred at ``t_i ∓ 10 ms``
  (:mod:`talkgs.features.hubert`; user-provided weights).
- ``phones`` → ``aud_phones.npy`` ``[T, 40]`` float32 one-hot over
  :data:`talkgs.features.phones.PHONE_CLASSES`: the phone (pocketsphinx, 10 ms resolution)
  covering most of ``[t_i − 20 ms, t_i + 20 ms)`` (:mod:`talkgs.features.phones`).
"""

from __future__ import annotations

import json
import logging
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from talkgs.atomic import StagedOutputs
from talkgs.errors import TalkgsError, input_error
from talkgs.layout import AUDIO_FEATURE_FILES
from talkgs.media import read_wav, write_wav

log = logging.getLogger("talkgs.audio")

SAMPLE_RATE = 16000
FPS = 25
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640

EXTRACTOR_FILES = AUDIO_FEATURE_FILES  # one place names the files: talkgs.layout
EXTRACTORS = tuple(EXTRACTOR_FILES)

# Mel settings of Wav2Lip's hparams.py, which SyncTalk's audio-visual encoder was trained with.
N_FFT = 800  # = window length, 50 ms
HOP = 200  # 12.5 ms: 80 mel windows per second, 3.2 per video frame
N_MELS = 80
FMIN, FMAX = 55.0, 7600.0
PREEMPHASIS = 0.97
REF_LEVEL_DB = 20.0
MIN_LEVEL_DB = -100.0
MAX_ABS_VALUE = 4.0
WINDOWS_PER_FRAME = 16
# Offset of frame i's first window start from 640 i: centres at t_i + (m - 7.5) hops, each
# window starting N_FFT / 2 before its centre.
_FIRST_WINDOW_OFFSET = round(-(WINDOWS_PER_FRAME - 1) / 2 * HOP) - N_FFT // 2  # -1900 samples


@dataclass(frozen=True)
class AudioParams:
    extractor: str = "mel"  # mel | hubert | ave | phones (config: audio.extractors)
    hubert_model: str = "hubert_large_ls960_ft"  # manifest entry (config: audio.hubert_model)
    weights_manifest: Path = Path("resources/weights.yaml")
    weights_dir: Path = Path("resources/weights")
    hubert_chunk_s: float = 20.0  # HuBERT attends within chunks (memory grows with length²)
    hubert_context_s: float = 2.0  # extra audio each side of a chunk, then discarded
    phone_lm_weight: float = 1.0  # low: the acoustics decide the phones, not the phone LM
    batch_size: int = 64  # mel windows per AVE forward pass


def run(audio_wav: Path, meta_json: Path, output_npy: Path, params: AudioParams) -> dict[str, Any]:
    """Write ``output_npy`` (name it ``EXTRACTOR_FILES[params.extractor]``); returns a summary."""
    if params.extractor not in EXTRACTOR_FILES:
        raise TalkgsError(
            f"unknown audio extractor {params.extractor!r} (choose from {', '.join(EXTRACTORS)})"
        )
    started = time.perf_counter()
    frame_count = frame_count_from_meta(meta_json)
    samples = load_audio(audio_wav)
    _log_length_mismatch(len(samples), frame_count)
    features = extract(samples, frame_count, params)
    output_npy = Path(output_npy)
    with StagedOutputs(output_npy) as staged, open(staged[output_npy], "wb") as stream:
        np.save(stream, features, allow_pickle=False)
    shape = ",".join(str(n) for n in features.shape)
    elapsed = time.perf_counter() - started
    log.info(
        "audio: %s features [%s] for %d frames (%.2f s) in %.1f s",
        *(params.extractor, shape, frame_count, frame_count / FPS, elapsed),
    )
    return {"extractor": params.extractor, "shape": list(features.shape), "seconds": elapsed}


def extract(samples: np.ndarray, frame_count: int, params: AudioParams) -> np.ndarray:
    """Features of 16 kHz mono ``samples`` for ``frame_count`` frames at 25 fps."""
    if params.extractor == "mel":
        return log_mel_windows(samples, frame_count)
    if params.extractor == "phones":
        from talkgs.features.phones import phone_features

        return phone_features(samples, frame_count, params.phone_lm_weight)

    from talkgs.weights import WeightStore

    store = WeightStore(params.weights_manifest, params.weights_dir)
    if params.extractor == "ave":
        from talkgs.features.ave import AVE_WEIGHT, ave_features, load_ave

        encoder = load_ave(store, AVE_WEIGHT)
        return ave_features(encoder, log_mel_windows(samples, frame_count), params.batch_size)
    if params.extractor == "hubert":
        from talkgs.features.hubert import hubert_features, load_hubert

        hubert = load_hubert(store, params.hubert_model)
        return hubert_features(
            hubert, samples, frame_count, params.hubert_chunk_s, params.hubert_context_s
        )
    raise TalkgsError(f"unknown audio extractor {params.extractor!r}")


def frame_samples(samples: np.ndarray, first_frame: int, frames: int) -> np.ndarray:
    """The 16 kHz samples under video frames ``first_frame … first_frame + frames - 1``."""
    start = first_frame * SAMPLES_PER_FRAME
    return samples[start : start + frames * SAMPLES_PER_FRAME]


def audio_segment(wav: Path, first_frame: int, frames: int, out: Path) -> None:
    """Samples of video frames ``first_frame … first_frame + frames - 1`` as a 16 kHz wav."""
    samples, rate = read_wav(wav)
    write_wav(out, frame_samples(samples, first_frame, frames), rate)


def frame_count_from_meta(meta_json: Path) -> int:
    """The frame count of an ingested identity; its frame rate must be the 25 fps assumed here."""
    try:
        meta = json.loads(Path(meta_json).read_text())
        frame_count, fps = int(meta["frame_count"]), meta["fps"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise input_error(meta_json, f"cannot read frame_count and fps ({error})") from error
    if fps != FPS:
        raise input_error(meta_json, f"audio features need {FPS} fps frames, this has {fps}")
    if frame_count < 1:
        raise input_error(meta_json, f"frame_count must be positive, got {frame_count}")
    return frame_count


def load_audio(path: Path) -> np.ndarray:
    """Any wav as float32 mono at 16 kHz (channels averaged, resampled with soxr)."""
    path = Path(path)
    if not path.is_file():
        raise input_error(path, "no such file")
    try:
        samples, rate = read_wav(path)  # the ingest stage's 16-bit PCM
    except (TalkgsError, wave.Error, EOFError) as pcm_error:  # float, 24-bit, extensible wav …
        import soundfile

        try:
            samples, rate = soundfile.read(str(path), dtype="float32", always_2d=False)
        except Exception as error:
            raise input_error(path, f"unreadable audio ({pcm_error}; {error})") from error
    samples = np.asarray(samples, np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1, dtype=np.float32)
    if rate != SAMPLE_RATE:
        import soxr

        samples = soxr.resample(samples, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    return samples


def _log_length_mismatch(sample_count: int, frame_count: int) -> None:
    excess = sample_count / SAMPLE_RATE - frame_count / FPS
    if abs(excess) >= 1 / FPS:
        log.info(
            "audio is %.2f s %s than the %d frames: %s",
            abs(excess),
            "longer" if excess > 0 else "shorter",
            frame_count,
            "the rest is not used" if excess > 0 else "the last frames see silence",
        )


# ---------------------------------------------------------------------------------------------
# Log-mel windows


def mel_filterbank() -> np.ndarray:
    """``[80, 401]`` float32 Slaney-style mel filters (librosa.filters.mel's default, area-norm)."""
    fft_freqs = np.linspace(0.0, SAMPLE_RATE / 2, 1 + N_FFT // 2)
    mel_edges = _mel_to_hz(np.linspace(_hz_to_mel(FMIN), _hz_to_mel(FMAX), N_MELS + 2))
    widths = np.diff(mel_edges)
    ramps = mel_edges[:, None] - fft_freqs[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (mel_edges[2:] - mel_edges[:-2]))[:, None]  # equal area per band
    return weights.astype(np.float32)


# Slaney's mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
_F_SP, _MIN_LOG_HZ = 200.0 / 3, 1000.0
_MIN_LOG_MEL, _LOG_STEP = _MIN_LOG_HZ / _F_SP, np.log(6.4) / 27.0


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    hz = np.asarray(hz, np.float64)
    log_part = _MIN_LOG_MEL + np.log(np.maximum(hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOG_STEP
    return np.where(hz >= _MIN_LOG_HZ, log_part, hz / _F_SP)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    log_part = _MIN_LOG_HZ * np.exp(_LOG_STEP * (mel - _MIN_LOG_MEL))
    return np.where(mel >= _MIN_LOG_MEL, log_part, _F_SP * mel)


def log_mel_windows(samples: np.ndarray, frame_count: int, chunk_frames: int = 256) -> np.ndarray:
    """``[T, 16, 80]`` float32 normalised log-mel windows of 16 kHz mono audio (see module doc)."""
    signal = np.asarray(samples, np.float64)
    emphasised = signal.copy()
    emphasised[1:] -= PREEMPHASIS * signal[:-1]
    # padded[j] is sample j + _FIRST_WINDOW_OFFSET, so window m of frame i starts at 640 i + 200 m
    lead = -_FIRST_WINDOW_OFFSET
    length = SAMPLES_PER_FRAME * (frame_count - 1) + HOP * (WINDOWS_PER_FRAME - 1) + N_FFT
    padded = np.zeros(length)
    used = emphasised[: max(length - lead, 0)]
    padded[lead : lead + len(used)] = used
    windows = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)
    starts = SAMPLES_PER_FRAME * np.arange(frame_count)[:, None] + HOP * np.arange(
        WINDOWS_PER_FRAME
    )
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic, as librosa
    basis = mel_filterbank().astype(np.float64)
    out = np.empty((frame_count, WINDOWS_PER_FRAME, N_MELS), np.float32)
    for first in range(0, frame_count, chunk_frames):
        block = starts[first : first + chunk_frames]
        magnitude = np.abs(np.fft.rfft(windows[block] * hann, axis=-1))
        out[first : first + len(block)] = _normalised_db(magnitude @ basis.T)
    return out


def _normalised_db(mel: np.ndarray) -> np.ndarray:
    floor = 10.0 ** (MIN_LEVEL_DB / 20.0)
    db = 20.0 * np.log10(np.maximum(floor, mel)) - REF_LEVEL_DB
    scaled = 2 * MAX_ABS_VALUE * (db - MIN_LEVEL_DB) / -MIN_LEVEL_DB - MAX_ABS_VALUE
    return np.clip(scaled, -MAX_ABS_VALUE, MAX_ABS_VALUE)
