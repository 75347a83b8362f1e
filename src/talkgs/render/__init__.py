"""The render stage: a trained model's validation frames, and cross-driven videos.

- ``render/val/NNNNNN.png``: each validation frame rendered with its own pose, action units and
  audio features (frame numbers are the identity's frame ids);
- ``render/val.mp4``: those frames with the matching stretch of ``audio.wav`` muxed in (upstream
  TalkingGaussian renders silent videos, its issue #29);
- ``render/val.json``: frame count, resolution, renderer backend, rendering FPS;
- ``render/cross_<other>.mp4``: the identity driven by another identity's validation audio, with
  its own validation poses and upper-face AUs (played back and forth when the audio is longer),
  for lip-sync evaluation.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from talkgs.atomic import StagedOutputs, write_json
from talkgs.features.audio import SAMPLES_PER_FRAME
from talkgs.log import progress
from talkgs.media import read_wav, write_video, write_wav
from talkgs.png import write_png
from talkgs.train.data import IdentityData, as_windows
from talkgs.train.presets import Method
from talkgs.train.stage import TrainParams, conditions, load_model, render_view, to_uint8

log = logging.getLogger("talkgs.render")


@dataclass(frozen=True)
class RenderOutputs:
    frames: Path
    video: Path
    summary: Path


def ping_pong(count: int, length: int) -> list[int]:
    """``length`` positions into ``count`` items, going back and forth (0 1 2 1 0 1 …)."""
    if count == 1:
        return [0] * length
    period = 2 * (count - 1)
    return [i % period if i % period < count else period - i % period for i in range(length)]


def audio_segment(wav: Path, first_frame: int, frames: int, out: Path) -> None:
    """Samples of video frames ``first_frame … first_frame + frames - 1`` as a 16 kHz wav."""
    samples, rate = read_wav(wav)
    start = first_frame * SAMPLES_PER_FRAME
    segment = samples[start : start + frames * SAMPLES_PER_FRAME]
    write_wav(out, segment, rate)


def run(
    method: Method,
    identity_root: Path,
    model_path: Path,
    outputs: RenderOutputs | None,
    params: TrainParams,
    cross: list[tuple[Path, Path]] = (),
    audio_override: np.ndarray | None = None,
) -> dict[str, Any]:
    """Render the validation frames (when ``outputs``) and cross-driven videos (``cross``:
    pairs of another identity's results folder and the mp4 to write); ``audio_override``
    replaces the identity's own audio features (``[T, ...]``), e.g. zeros for a silence check."""
    torch.set_num_threads(params.threads)
    data = IdentityData(
        identity_root,
        method.preset.resolution,
        method.option("audio_features"),
        method.preset.audio_window,
        audio_override=audio_override,
    )
    model = load_model(model_path, method, data.audio_shape)
    model.eval()
    finals = [*(video for _, video in cross)]
    if outputs is not None:
        finals = [outputs.frames, outputs.video, *finals, outputs.summary]
    summary: dict[str, Any] = {}
    with StagedOutputs(*finals) as staged:
        if outputs is not None:
            summary = _validation(model, data, method, params, outputs, staged, model_path)
        for other_root, video in cross:
            _cross(model, data, method, params, Path(other_root), staged[video])
    return summary


def _validation(
    model: Any,
    data: IdentityData,
    method: Method,
    params: TrainParams,
    outputs: RenderOutputs,
    staged: StagedOutputs,
    model_path: Path,
) -> dict[str, Any]:
    identity = Path(data.layout.root).name
    frames_dir = staged[outputs.frames]
    frames_dir.mkdir()
    seconds = 0.0
    images = []
    for index in progress(data.val_ids, f"render {identity}/{method.name}"):
        sample = data.sample(index)
        started = time.perf_counter()
        image = render_view(model, sample, "fuse", params, method, conditions(data, index))
        seconds += time.perf_counter() - started
        rgb = to_uint8(image)
        write_png(frames_dir / f"{index:06d}.png", rgb)
        images.append(rgb)
    wav = staged[outputs.video].with_suffix(".wav")
    audio_segment(Path(data.layout.audio), data.val_ids[0], len(data.val_ids), wav)
    write_video(staged[outputs.video], images, 25, audio=wav, extra_args=["-f", "mp4"])
    wav.unlink()
    fps = len(images) / max(seconds, 1e-9)
    summary = {
        "identity": identity,
        "method": method.describe(),
        "model": str(model_path),
        "frames": len(images),
        "first_frame": data.val_ids[0],
        "resolution": method.preset.resolution,
        "backend": params.backend,
        "render_seconds": round(seconds, 3),
        "fps": round(fps, 2),
    }
    write_json(staged[outputs.summary], summary)
    log.info(
        "render: %s/%s, %d validation frames at %d² in %.1f s (%.1f FPS, renderer %s)",
        identity, method.name, len(images), method.preset.resolution, seconds, fps,
        params.backend,
    )  # fmt: skip
    return summary


def _cross(
    model: Any,
    data: IdentityData,
    method: Method,
    params: TrainParams,
    other_root: Path,
    video: Path,
) -> dict[str, Any]:
    """This identity driven by ``other_root``'s validation audio."""
    other = IdentityData(
        other_root,
        method.preset.resolution,
        method.option("audio_features"),
        method.preset.audio_window,
    )
    if other.audio_shape != data.audio_shape:
        raise ValueError(
            f"{other_root}: audio features {other.audio_shape} differ from {data.audio_shape}"
        )
    audio = torch.from_numpy(as_windows(other.audio.numpy()))
    poses = ping_pong(len(data.val_ids), len(other.val_ids))
    images = []
    for step, audio_index in enumerate(progress(other.val_ids, f"cross {other_root.name}")):
        index = data.val_ids[poses[step]]
        sample = data.sample(index)
        cond = conditions(data, index, audio=audio, audio_index=audio_index)
        images.append(to_uint8(render_view(model, sample, "fuse", params, method, cond)))
    wav = video.with_suffix(".wav")
    audio_segment(Path(other.layout.audio), other.val_ids[0], len(other.val_ids), wav)
    write_video(video, images, 25, audio=wav, extra_args=["-f", "mp4"])
    wav.unlink()
    log.info("render: %s driven by %s's validation audio, %d frames", data.layout.root,
             other_root.name, len(images))  # fmt: skip
