"""The render stage: a trained model's validation frames, and cross-driven videos.

- ``render/val/NNNNNN.png``: each validation frame rendered with its own pose, action units and
  audio features (frame numbers are the identity's frame ids);
- ``render/val.mp4``: those frames with the matching stretch of ``audio.wav`` muxed in (upstream
  TalkingGaussian renders silent videos, its issue #29);
- ``render/val.json``: frame count, resolution, rendering FPS and what ran (device, its name,
  renderer, gsplat version, peak memory);
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
from talkgs.features.audio import audio_segment
from talkgs.layout import IdentityLayout
from talkgs.log import progress
from talkgs.media import write_video
from talkgs.png import write_png
from talkgs.pose.transforms import split
from talkgs.train.data import IdentityData, as_windows, load_audio_features
from talkgs.train.families import Family
from talkgs.train.inference import render_view, to_uint8
from talkgs.train.model import TalkingHead
from talkgs.train.model_file import load_model
from talkgs.train.presets import Method
from talkgs.train.runtime import Runtime
from talkgs.train.stage import TrainParams

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
    runtime = params.runtime(method, training=False)
    data = params.identity_data(identity_root, method, runtime, audio_override)
    model = load_model(model_path, method, data.audio_shape, runtime.device)
    model.eval()
    finals = [*(video for _, video in cross)]
    if outputs is not None:
        finals = [outputs.frames, outputs.video, *finals, outputs.summary]
    summary: dict[str, Any] = {}
    with StagedOutputs(*finals) as staged:
        if outputs is not None:
            summary = _validation(model, data, method, runtime, outputs, staged, model_path)
        for other_root, video in cross:
            _cross(model, data, method, runtime, Path(other_root), staged[video])
    return summary


def render_validation(
    model: TalkingHead, data: IdentityData, method: Method, runtime: Runtime
) -> tuple[list[np.ndarray], float]:
    """Every validation frame with its own conditions (uint8 RGB on the host), and the seconds
    spent rendering them (device work included, PNG and video encoding not)."""
    identity = Path(data.layout.root).name
    seconds = 0.0
    images = []
    for index in progress(data.val_ids, f"render {identity}/{method.name}"):
        sample = data.sample(index)
        runtime.synchronize()
        started = time.perf_counter()
        image = render_view(model, sample, "fuse", runtime.renderer, method, data.conditions(index))
        runtime.synchronize()
        seconds += time.perf_counter() - started
        images.append(to_uint8(image))
    return images, seconds


def _validation(
    model: TalkingHead,
    data: IdentityData,
    method: Method,
    runtime: Runtime,
    outputs: RenderOutputs,
    staged: StagedOutputs,
    model_path: Path,
) -> dict[str, Any]:
    identity = Path(data.layout.root).name
    frames_dir = staged[outputs.frames]
    frames_dir.mkdir()
    images, seconds = render_validation(model, data, method, runtime)
    for index, rgb in zip(data.val_ids, images, strict=True):
        write_png(frames_dir / f"{index:06d}.png", rgb)
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
        "face_driven_by": method.spec.face_driver,
        "render_seconds": round(seconds, 3),
        "fps": round(fps, 2),
        **runtime.describe(),
        "frames_placement": data.placement,
    }
    write_json(staged[outputs.summary], summary)
    log.info(
        "render: %s/%s, %d validation frames at %d² in %.1f s (%.1f FPS, %s, renderer %s)",
        identity, method.name, len(images), method.preset.resolution, seconds, fps,
        summary["device_name"], runtime.renderer,
    )  # fmt: skip
    return summary


def _cross(
    model: TalkingHead,
    data: IdentityData,
    method: Method,
    runtime: Runtime,
    other_root: Path,
    video: Path,
) -> None:
    """This identity driven by ``other_root``'s validation audio. Of the other identity only
    its audio features and ``audio.wav`` are read (what the rule declares)."""
    other = IdentityLayout(str(other_root))
    extractor = method.option("audio_features")
    features = as_windows(load_audio_features(Path(other.audio_features(extractor)), extractor))
    if features.shape[1:] != data.audio.shape[1:]:
        raise ValueError(
            f"{other_root}: audio features {features.shape[1:]} differ from "
            f"{tuple(data.audio.shape[1:])}"
        )
    audio = torch.from_numpy(features.astype(np.float32)).to(runtime.device)
    if method.spec.face_driver != Family.face_driver:
        log.warning("render: %s's face is driven by %s", method.name, method.spec.face_driver)
    other_val = list(split(len(features))[1])
    poses = ping_pong(len(data.val_ids), len(other_val))
    images = []
    for step, audio_index in enumerate(progress(other_val, f"cross {other_root.name}")):
        index = data.val_ids[poses[step]]
        sample = data.sample(index)
        cond = data.conditions(index, audio=audio, audio_index=audio_index)
        images.append(to_uint8(render_view(model, sample, "fuse", runtime.renderer, method, cond)))
    wav = video.with_suffix(".wav")
    audio_segment(Path(other.audio), other_val[0], len(other_val), wav)
    write_video(video, images, 25, audio=wav, extra_args=["-f", "mp4"])
    wav.unlink()
    log.info("render: %s driven by %s's validation audio, %d frames", data.layout.root,
             other_root.name, len(images))  # fmt: skip
