"""Phone classes per video frame from pocketsphinx's phone decoder (offline, English).

pocketsphinx's wheel carries a US-English acoustic model and a phone n-gram; its ``allphone``
search decodes the audio into a phone sequence with 10 ms timestamps (100 frames/s). Frame ``i``
gets the phone that covers most of its 40 ms ``[t_i − 20 ms, t_i + 20 ms)`` (four 10 ms steps);
on a tie, the phone at ``t_i`` itself. Output is one-hot ``[T, 40]`` float32 over
:data:`PHONE_CLASSES`: ``SIL`` (silence, and pocketsphinx's noise fillers ``+NSN+`` / ``+SPN+``)
followed by the 39 ARPAbet phones of CMUdict, in alphabetical order.
"""

from __future__ import annotations

import os

import numpy as np

from talkgs.errors import TalkgsError

# fmt: off
PHONE_CLASSES = (
    "SIL",
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH",
    "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH",
    "UW", "V", "W", "Y", "Z", "ZH",
)
# fmt: on
SILENCE = 0
STEPS_PER_SECOND = 100  # pocketsphinx frame rate
STEPS_PER_FRAME = 4  # 40 ms video frame
_CLASS_INDEX = {name: index for index, name in enumerate(PHONE_CLASSES)}


def decode_phones(samples: np.ndarray, lm_weight: float = 1.0) -> np.ndarray:
    """Class index (into :data:`PHONE_CLASSES`) of every 10 ms step of 16 kHz mono audio."""
    try:
        from pocketsphinx import Decoder, get_model_path
    except ImportError as error:
        raise TalkgsError(
            "the phones audio extractor needs pocketsphinx (pip install pocketsphinx)"
        ) from error
    model = get_model_path()
    decoder = Decoder(
        hmm=os.path.join(model, "en-us", "en-us"),
        allphone=os.path.join(model, "en-us", "en-us-phone.lm.bin"),
        lm=None,
        lw=lm_weight,
        samprate=16000,
        loglevel="FATAL",
    )
    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    steps = np.full(len(samples) * STEPS_PER_SECOND // 16000 + 1, SILENCE, np.int16)
    for segment in decoder.seg():
        label = _CLASS_INDEX.get(segment.word, SILENCE)  # fillers and <sil> are silence
        steps[segment.start_frame : segment.end_frame + 1] = label
    return steps


def frame_phones(steps: np.ndarray, frame_count: int) -> np.ndarray:
    """``[T]`` class per video frame: the majority of its four 10 ms steps (centred on t_i)."""
    half = STEPS_PER_FRAME // 2
    padded = np.full(STEPS_PER_FRAME * frame_count + half, SILENCE, np.int64)
    kept = steps[: len(padded) - half]
    padded[half : half + len(kept)] = kept
    # row i: steps 4i-2 .. 4i+1, i.e. [t_i - 20 ms, t_i + 20 ms); column `half` starts at t_i
    windows = padded[: STEPS_PER_FRAME * frame_count].reshape(frame_count, STEPS_PER_FRAME)
    counts = np.zeros((frame_count, len(PHONE_CLASSES)), np.int64)
    np.add.at(counts, (np.arange(frame_count)[:, None], windows), 1)
    winners = counts.argmax(axis=1)
    at_centre = windows[:, half]
    tied = counts[np.arange(frame_count), at_centre] == counts.max(axis=1)
    return np.where(tied, at_centre, winners)


def phone_features(samples: np.ndarray, frame_count: int, lm_weight: float = 1.0) -> np.ndarray:
    """``[T, 40]`` float32 one-hot phone classes of 16 kHz mono audio."""
    classes = frame_phones(decode_phones(samples, lm_weight), frame_count)
    return np.eye(len(PHONE_CLASSES), dtype=np.float32)[classes]
