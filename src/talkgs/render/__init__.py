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

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from talkgs.atomic import StagedOutputs, write_json
from talkgs.errors import TalkgsError
from talkgs.features.audio import audio_segment
from talkgs.layout import IdentityLayout
from talkgs.log import progress
from talkgs.media import write_video
from talkgs.motion import expression
from talkgs.png import write_png
from talkgs.pose.transforms import read_camera_file, split
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
    expression_generator: Path | None = None,
    poses: list[Path] = (),
) -> dict[str, Any]:
    """Render the validation frames (when ``outputs``) and cross-driven videos (``cross``:
    pairs of another identity's results folder and the mp4 to write); ``audio_override``
    replaces the identity's own audio features (``[T, ...]``), e.g. zeros for a silence check;
    ``expression_generator`` (a family with an expression vector only) generates the
    expressions from the driving audio instead of replaying the recorded ones; ``poses``, one
    camera file per ``cross`` pair (:func:`talkgs.pose.transforms.camera_file`), gives the
    cross-driven renders generated head poses instead of the replayed validation poses."""
    if poses and len(poses) != len(cross):
        raise TalkgsError(f"{len(poses)} camera files for {len(cross)} cross-driven renders")
    expressions = Expressions.of(method, expression_generator)
    runtime = params.runtime(method, training=False)
    data = params.identity_data(identity_root, method, runtime, audio_override)
    model = load_model(model_path, method, data.audio_shape, runtime.device)
    model.eval()
    if expressions is not None:
        own = expressions.predict(Path(identity_root), runtime.device)
        data.features[expressions.feature] = own
    finals = [*(video for _, video in cross)]
    if outputs is not None:
        finals = [outputs.frames, outputs.video, *finals, outputs.summary]
    summary: dict[str, Any] = {}
    with StagedOutputs(*finals) as staged:
        if outputs is not None:
            summary = _validation(
                model, data, method, runtime, outputs, staged, model_path, expressions
            )
        for i, (other_root, video) in enumerate(cross):
            camera_file = Path(poses[i]) if poses else None
            _cross(model, data, method, runtime, Path(other_root), staged[video], expressions,
                   camera_file)  # fmt: skip
    return summary


@dataclass(frozen=True)
class Expressions:
    """Talk2Me's expressions generated from audio by an identity's Expression Generator."""

    feature: str  # the family's frame feature they replace
    path: Path
    generator: Any  # talkgs.motion.expression.ExpressionGenerator

    @staticmethod
    def of(method: Method, path: Path | None) -> Expressions | None:
        if path is None:
            return None
        feature = method.spec.expression_feature
        if feature is None:
            raise TalkgsError(
                f"{method.name}: family {method.family} is not driven by an expression vector; "
                "--expression-generator applies to talk2me"
            )
        return Expressions(feature, Path(path), expression.load(path))

    def predict(self, identity_root: Path, device: torch.device) -> torch.Tensor:
        """``[T, k]`` expressions of ``identity_root``'s audio (its mel windows)."""
        mel_path = Path(IdentityLayout(str(identity_root)).audio_features("mel"))
        values = expression.predict(self.generator, load_audio_features(mel_path, "mel"))
        return torch.from_numpy(values).to(device)

    def describe(self) -> str:
        return (
            f"expressions generated from the driving audio by the identity's Expression "
            f"Generator ({self.path})"
        )


def face_driver(method: Method, expressions: Expressions | None) -> str:
    """What drives the face of a render, in words (recorded in its summary)."""
    return expressions.describe() if expressions is not None else method.spec.face_driver


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
    expressions: Expressions | None,
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
        "face_driven_by": face_driver(method, expressions),
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
    expressions: Expressions | None,
    camera_file: Path | None = None,
) -> None:
    """This identity driven by ``other_root``'s validation audio. Of the other identity only
    its audio features and ``audio.wav`` are read (what the rule declares). With
    ``camera_file``, each frame takes its head pose from it and its background and torso from
    the recorded frame it names (``img_id``)."""
    other = IdentityLayout(str(other_root))
    extractor = method.option("audio_features")
    features = as_windows(load_audio_features(Path(other.audio_features(extractor)), extractor))
    if features.shape[1:] != data.audio.shape[1:]:
        raise ValueError(
            f"{other_root}: audio features {features.shape[1:]} differ from "
            f"{tuple(data.audio.shape[1:])}"
        )
    audio = torch.from_numpy(features.astype(np.float32)).to(runtime.device)
    driver = face_driver(method, expressions)
    generated = expressions.predict(other_root, runtime.device) if expressions else torch.empty(0)
    other_val = list(split(len(features))[1])
    if camera_file is not None:
        poses = GeneratedCameras.read(camera_file, data, method, other_val)
        driver += f"; head poses generated ({camera_file})"
        frame_ids = poses.frame_ids
    else:
        poses = None
        frame_ids = [data.val_ids[i] for i in ping_pong(len(data.val_ids), len(other_val))]
        if expressions is not None:
            driver += "; the validation frames' recorded head poses, replayed"
    if driver != Family.face_driver:
        log.warning("render: %s's face is driven by %s", method.name, driver)
    images = []
    for step, audio_index in enumerate(progress(other_val, f"cross {other_root.name}")):
        index = frame_ids[step]
        sample = data.sample(index)
        cond = data.conditions(index, audio=audio, audio_index=audio_index)
        if expressions is not None:
            cond.features[expressions.feature] = generated[audio_index : audio_index + 1]
        if poses is not None:
            sample = dataclasses.replace(sample, viewmat=poses.viewmats[step])
            for name, table in poses.features.items():
                cond.features[name] = table[step : step + 1]
        images.append(to_uint8(render_view(model, sample, "fuse", runtime.renderer, method, cond)))
    wav = video.with_suffix(".wav")
    audio_segment(Path(other.audio), other_val[0], len(other_val), wav)
    write_video(video, images, 25, audio=wav, extra_args=["-f", "mp4"])
    wav.unlink()
    log.info("render: %s driven by %s's validation audio, %d frames", data.layout.root,
             other_root.name, len(images))  # fmt: skip


@dataclass(frozen=True)
class GeneratedCameras:
    """A camera file's head poses, as the renderer and the family's pose features take them."""

    viewmats: torch.Tensor  # [T, 4, 4] camera-from-head
    features: dict[str, torch.Tensor]  # the family's pose features of these poses
    frame_ids: list[int]  # the recorded frames behind the head

    @staticmethod
    def read(
        path: Path, data: IdentityData, method: Method, audio_ids: list[int]
    ) -> GeneratedCameras:
        rotations, translations, images, audio = read_camera_file(path)
        if audio != audio_ids:
            raise TalkgsError(
                f"{path}: its aud_id run {audio[0]}…{audio[-1]} ({len(audio)} frames) is not the "
                f"driving audio's validation frames {audio_ids[0]}…{audio_ids[-1]}"
            )
        outside = [i for i in images if not 0 <= i < data.count]
        if outside:
            raise TalkgsError(f"{path}: img_id {outside[0]} is not one of the {data.count} frames")
        viewmats = np.tile(np.eye(4, dtype=np.float32), (len(images), 1, 1))
        viewmats[:, :3, :3] = rotations
        viewmats[:, :3, 3] = translations
        family = method.spec
        tables = family.pose_features(data.layout, data.count, rotations, translations)
        return GeneratedCameras(
            torch.from_numpy(viewmats).to(data.device),
            {k: torch.from_numpy(v).to(data.device) for k, v in tables.items()},
            images,
        )
