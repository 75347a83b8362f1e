"""The embedded demo identity: a synthetic talking-head video with its exact ground truth.

Everything comes from installed packages: scikit-image's astronaut photo, MediaPipe landmarks and
person matte, espeak-ng speech. The face is animated by warping landmark triangles (the jaw opens
with the speech loudness, the eyes blink), the head moves smoothly (in-plane rotation,
translation and a small out-of-plane turn, as a posed plane seen through a pinhole camera) over
a still background, and the video is written as a 25 fps H.264/AAC mp4 with its speech.

``truth.json`` records the per-frame head pose, homography, mouth opening and blink; its
``conventions`` key spells out the frames and units (also in :mod:`talkgs.demo.truth`).
``truth_landmarks.npz`` beside it holds the 478 landmarks of every frame. Later stages use both
as a test oracle. The same seed gives the same bytes; another seed another motion.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from talkgs.arrays import write_npz
from talkgs.atomic import StagedOutputs
from talkgs.camera import Camera
from talkgs.demo.animate import Animator
from talkgs.demo.deform import MOUTH_OPEN_MAX_SHARE, FaceRig, build_rig, mouth_width_px
from talkgs.demo.motion import HeadTrajectory, blink_curve, head_trajectory
from talkgs.demo.portrait import Portrait, load_portrait
from talkgs.demo.speech import FPS, SAMPLE_RATE, VOICE, Soundtrack, make_soundtrack, script_for_seed
from talkgs.demo.truth import LANDMARKS_FILE_NAME, write_truth_json
from talkgs.errors import TalkgsError
from talkgs.log import progress
from talkgs.media import write_video, write_wav

__all__ = ["make_demo"]

log = logging.getLogger("talkgs.demo")

MIN_DURATION_S, MAX_DURATION_S = 2.0, 12.0
FOCAL_PX = 800.0


@dataclass(frozen=True)
class DemoPlan:
    """Everything that decides the demo's frames, fixed before the first one is rendered."""

    seed: int
    frame_count: int  # T
    soundtrack: Soundtrack
    portrait: Portrait
    rig: FaceRig
    camera: Camera
    trajectory: HeadTrajectory
    blink: np.ndarray  # [T] in [0, 1]
    mouth_open_px: np.ndarray  # [T] source pixels


def make_demo(
    video_path: Path, truth_path: Path, *, seed: int = 0, duration_s: float = 10.0
) -> dict[str, Any]:
    """Write the demo video, ``truth.json`` and ``truth_landmarks.npz`` (beside the truth).

    All three appear together or, on failure, not at all. Returns a summary for the CLI.
    """
    video_path, truth_path = Path(video_path), Path(truth_path)
    landmarks_path = truth_path.with_name(LANDMARKS_FILE_NAME)
    if not MIN_DURATION_S <= duration_s <= MAX_DURATION_S:
        raise TalkgsError(
            f"demo duration must be between {MIN_DURATION_S:g} and {MAX_DURATION_S:g} s, "
            f"got {duration_s:g}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise TalkgsError(f"demo seed must be a non-negative integer, got {seed!r}")
    plan = plan_demo(int(seed), round(duration_s * FPS))

    with StagedOutputs(video_path, landmarks_path, truth_path) as staged:
        landmarks = _write_video(plan, staged[video_path])
        write_npz(
            staged[landmarks_path],
            {"landmarks": landmarks, "source_landmarks": plan.rig.rest.astype(np.float32)},
        )
        write_truth_json(staged[truth_path], _truth_header(plan), _truth_frames(plan, landmarks))

    duration = plan.frame_count / FPS
    log.info(
        "demo: %d frames (%.2f s, seed %d) -> %s, %s, %s",
        *(plan.frame_count, duration, plan.seed, video_path, truth_path, landmarks_path),
    )
    return {
        "video": str(video_path),
        "truth": str(truth_path),
        "landmarks": str(landmarks_path),
        "frame_count": plan.frame_count,
        "duration_s": duration,
        "fps": FPS,
        "seed": plan.seed,
    }


def plan_demo(seed: int, frame_count: int) -> DemoPlan:
    """Speech, portrait, head motion, blinks and mouth opening for `frame_count` frames."""
    soundtrack = make_soundtrack(seed, frame_count)  # first: fails fast without espeak-ng
    portrait = load_portrait()
    rig = build_rig(portrait.landmarks)
    height, width = portrait.image.shape[:2]
    camera = Camera(FOCAL_PX, width / 2.0, height / 2.0)
    # Independent streams, so that changing one kind of motion leaves the other unchanged.
    motion_seed, blink_seed = np.random.SeedSequence(seed).spawn(2)
    trajectory = head_trajectory(
        np.arange(frame_count) / FPS,
        np.random.default_rng(motion_seed),
        camera,
        face_center=rig.rest.mean(axis=0),
    )
    blink = blink_curve(frame_count, FPS, np.random.default_rng(blink_seed))
    mouth_open_px = soundtrack.mouth_open * MOUTH_OPEN_MAX_SHARE * mouth_width_px(rig.rest)
    return DemoPlan(
        seed, frame_count, soundtrack, portrait, rig, camera, trajectory, blink, mouth_open_px
    )


def _write_video(plan: DemoPlan, video_path: Path) -> np.ndarray:
    """Render and encode every frame; returns the frame landmarks, ``[T, 478, 2]`` float32."""
    animator = Animator(plan.portrait, plan.rig)
    landmarks = np.zeros((plan.frame_count, len(plan.rig.rest), 2), np.float32)

    def frames() -> Iterator[np.ndarray]:
        for index in progress(range(plan.frame_count), "demo frames", plan.frame_count):
            rendered = animator.render(
                plan.trajectory.homographies[index], plan.mouth_open_px[index], plan.blink[index]
            )
            landmarks[index] = rendered.landmarks
            yield rendered.image

    with tempfile.TemporaryDirectory(prefix="talkgs-demo-") as tmp:
        wav_path = Path(tmp) / "speech.wav"
        write_wav(wav_path, plan.soundtrack.samples, SAMPLE_RATE)
        # The staged name has no .mp4 suffix, so the container is named explicitly.
        written = write_video(video_path, frames(), FPS, audio=wav_path, extra_args=["-f", "mp4"])
    if written != plan.frame_count:
        raise RuntimeError(f"encoded {written} frames, expected {plan.frame_count}")
    return landmarks


def _truth_header(plan: DemoPlan) -> dict[str, Any]:
    sentences, rate = script_for_seed(plan.seed)
    rest, camera = plan.rig.rest, plan.camera
    extent = rest.max(axis=0) - rest.min(axis=0)
    height, width = plan.portrait.image.shape[:2]
    return {
        "seed": plan.seed,
        "fps": FPS,
        "frame_count": plan.frame_count,
        "duration_s": plan.frame_count / FPS,
        "size": [width, height],
        "camera": {"focal": camera.focal, "cx": camera.cx, "cy": camera.cy},
        "face_center_px": rest.mean(axis=0),
        "face_width_px": float(extent[0]),
        "face_height_px": float(extent[1]),
        "mouth_width_px": mouth_width_px(rest),
        "audio": {
            "sample_rate": SAMPLE_RATE,
            "voice": VOICE,
            "rate_wpm": rate,
            "text": " ".join(sentences),
        },
    }


def _truth_frames(plan: DemoPlan, landmarks: np.ndarray) -> list[dict[str, Any]]:
    """One record per frame; `landmarks` ``[T, 478, 2]`` give the face boxes."""
    trajectory, soundtrack = plan.trajectory, plan.soundtrack
    frames = []
    for index in range(plan.frame_count):
        yaw, pitch, roll = trajectory.euler_deg[index]
        frames.append(
            {
                "index": index,
                "time_s": index / FPS,
                "rotation": trajectory.rotations[index],
                "translation": trajectory.translations[index],
                "euler_deg": {"yaw": yaw, "pitch": pitch, "roll": roll},
                "homography": trajectory.homographies[index],
                "mouth_open": soundtrack.mouth_open[index],
                "mouth_open_px": plan.mouth_open_px[index],
                "blink": plan.blink[index],
                "speech_rms": soundtrack.frame_rms[index],
                "face_box": [*landmarks[index].min(axis=0), *landmarks[index].max(axis=0)],
            }
        )
    return frames
