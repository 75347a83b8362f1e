"""HuBERT features in the TalkingGaussian / ER-NeRF layout: ``[T, 2, H]`` per video frame.

The model is a transformers ``HubertModel`` read from a local directory with
``from_pretrained(dir, local_files_only=True)``; the directory is the one holding the weights
file of a manifest entry (e.g. ``resources/weights/hubert-large-ls960-ft/model.safetensors``,
next to the repository's ``config.json``), and that file's sha256 is verified first.
A checkpoint of ``HubertForCTC`` (facebook/hubert-large-ls960-ft, the model ER-NeRF, SyncTalk and
TalkingGaussian use) loads too: its ``hubert.`` prefix is stripped and the CTC head ignored.

Upstream (ER-NeRF / GeneFace ``data_utils/hubert.py``) normalises the whole 16 kHz waveform to
zero mean and unit variance (the ``Wav2Vec2Processor`` of that repository), takes the last
hidden state at 50 Hz (a 400-sample receptive field every 320 samples) and reshapes it to
``[-1, 2, 1024]``, so video frame ``i`` gets rows ``2i`` and ``2i + 1``. Here the waveform is
additionally shifted by 360 samples so that those two rows are centred on the frame's timestamp
(``t_i ∓ 10 ms``, see :mod:`talkgs.features.audio`), and padded so that there are exactly
``2 T`` rows. Long audio is processed in chunks (attention memory grows with length squared)
with some context on each side that is then discarded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from talkgs.errors import TalkgsError, input_error
from talkgs.weights import WeightStore

STRIDE = 320  # samples between HuBERT rows (20 ms: 50 rows/s, two per video frame)
RECEPTIVE_FIELD = 400  # samples seen by one row of the convolutional feature encoder
# Rows 2i and 2i+1 read samples [640 i, 640 i + 720) of the signal; put LEAD samples of silence
# in front and that is [640 i - 360, 640 i + 360) of the audio, centred on frame i's timestamp.
LEAD = (STRIDE + RECEPTIVE_FIELD) // 2  # 360
WEIGHT_FILE_NAMES = {"model.safetensors": True, "pytorch_model.bin": False}  # → use_safetensors


@dataclass(frozen=True)
class Hubert:
    model: Any  # transformers.HubertModel, eval mode
    # zero-mean unit-variance input, as the repository's feature extractor (do_normalize) does
    normalize_input: bool


def load_hubert(store: WeightStore, name: str) -> Hubert:
    """The ``HubertModel`` of manifest entry ``name``, its weights file verified first.

    ``normalize_input`` comes from ``preprocessor_config.json`` when present, else it is true
    for models with a layer-norm feature encoder (as the large ones, trained on normalised input).
    """
    weights = store.path(name)
    directory = weights.parent
    if weights.name not in WEIGHT_FILE_NAMES:
        raise input_error(
            weights,
            f"a HuBERT weights file must be named {' or '.join(WEIGHT_FILE_NAMES)} "
            "(transformers reads it from the model directory by that name)",
        )
    if not (directory / "config.json").is_file():
        raise input_error(
            directory / "config.json",
            f"absent: put the model's config.json next to {weights.name} "
            f"(from {store.spec(name).source})",
        )
    from transformers import HubertModel

    try:
        with _quiet_transformers():  # its load report lists the CTC head as unexpected keys
            model, info = HubertModel.from_pretrained(
                directory,
                local_files_only=True,
                use_safetensors=WEIGHT_FILE_NAMES[weights.name],
                output_loading_info=True,
                dtype=torch.float32,
            )
    except (OSError, ValueError, RuntimeError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        raise input_error(directory, f"cannot load a HuBERT model ({message})") from error
    missing = sorted(info.get("missing_keys") or [])
    mismatched = info.get("mismatched_keys") or []
    if missing or mismatched:
        shown = [*missing[:3], *(str(item[0]) for item in mismatched[:3])]
        raise input_error(
            weights,
            f"does not fit {directory / 'config.json'} ({len(missing)} missing and "
            f"{len(mismatched)} misshapen tensors, e.g. {', '.join(shown)})",
        )
    return Hubert(model.eval(), _normalizes_input(directory, model.config))


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers' warnings and progress bars off for a while (missing keys are checked here)."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _normalizes_input(directory: Path, config: Any) -> bool:
    preprocessor = directory / "preprocessor_config.json"
    if preprocessor.is_file():
        try:
            return bool(json.loads(preprocessor.read_text()).get("do_normalize", True))
        except ValueError as error:
            raise input_error(preprocessor, f"not JSON ({error})") from error
    return config.feat_extract_norm == "layer"


def hubert_features(
    hubert: Hubert,
    samples: np.ndarray,
    frame_count: int,
    chunk_s: float = 20.0,
    context_s: float = 2.0,
) -> np.ndarray:
    """``[T, 2, H]`` float32 last hidden states of 16 kHz mono ``samples``."""
    model = hubert.model
    if tuple(model.config.conv_stride) != (5, 2, 2, 2, 2, 2, 2):
        raise TalkgsError(
            f"HuBERT conv_stride {tuple(model.config.conv_stride)} does not give 50 rows/s"
        )
    signal = np.asarray(samples, np.float64)
    if hubert.normalize_input and len(signal):
        signal = (signal - signal.mean()) / np.sqrt(signal.var() + 1e-7)
    rows = 2 * frame_count
    length = STRIDE * (rows - 1) + RECEPTIVE_FIELD  # samples that make exactly `rows` rows
    shifted = np.zeros(length, np.float32)
    used = signal[: max(length - LEAD, 0)]
    shifted[LEAD : LEAD + len(used)] = used

    chunk_rows = max(1, round(chunk_s * 50))
    context_rows = max(0, round(context_s * 50))
    hidden = []
    with torch.inference_mode():
        for first in range(0, rows, chunk_rows):
            last = min(first + chunk_rows, rows)
            begin, end = max(0, first - context_rows), min(rows, last + context_rows)
            # row r of a piece starting at sample 320 b is global row b + r
            piece = shifted[STRIDE * begin : STRIDE * (end - 1) + RECEPTIVE_FIELD]
            states = model(torch.from_numpy(piece)[None]).last_hidden_state[0]
            hidden.append(states[first - begin : last - begin])
    features = torch.cat(hidden).numpy().astype(np.float32)
    if len(features) != rows:  # a config with other kernels would shift rows: refuse, not guess
        raise TalkgsError(f"HuBERT gave {len(features)} rows for {rows} expected")
    return features.reshape(frame_count, 2, -1)
