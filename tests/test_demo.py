"""The embedded demo identity: deterministic bytes, a valid video, and a self-consistent truth."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from talkgs.demo import make_demo
from talkgs.demo.animate import Animator
from talkgs.demo.portrait import EYES, INNER_LIP_RING
from talkgs.errors import TalkgsError
from talkgs.media import VideoReader, probe

DURATION_S = 3.0
FRAMES = 75
# Landmarks that no deformation moves (forehead, nose bridge, nose tip, outer eye corners):
# in every frame they sit exactly where the frame's homography puts them.
RIGID_LANDMARKS = [10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 33, 263]


@dataclass(frozen=True)
class Demo:
    video: Path
    truth_path: Path
    landmarks_path: Path
    truth: dict
    landmarks: np.ndarray  # [T, 478, 2] frame pixels
    source_landmarks: np.ndarray  # [478, 2]

    def column(self, key: str) -> np.ndarray:
        return np.array([frame[key] for frame in self.truth["frames"]], dtype=np.float64)


def _make(directory: Path, seed: int) -> Demo:
    video, truth_path = directory / "demo.mp4", directory / "truth.json"
    summary = make_demo(video, truth_path, seed=seed, duration_s=DURATION_S)
    assert summary["frame_count"] == FRAMES
    landmarks_path = directory / "truth_landmarks.npz"
    with np.load(landmarks_path) as arrays:
        landmarks, source = arrays["landmarks"], arrays["source_landmarks"]
    truth = json.loads(truth_path.read_text())
    return Demo(video, truth_path, landmarks_path, truth, landmarks, source)


@pytest.fixture(scope="module")
def demos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Demo]:
    root = tmp_path_factory.mktemp("demo")
    return {
        "first": _make(root / "first", seed=0),
        "again": _make(root / "again", seed=0),
        "seed1": _make(root / "seed1", seed=1),
    }


@pytest.fixture(scope="module")
def demo(demos: dict[str, Demo]) -> Demo:
    return demos["first"]


@pytest.fixture(scope="module")
def frames(demo: Demo) -> np.ndarray:
    reader = VideoReader(demo.video, size=(512, 512))
    decoded = np.stack(list(reader))
    assert reader.returncode == 0, reader.errors
    return decoded  # [T, 512, 512, 3] uint8 RGB


def test_same_seed_same_bytes_other_seed_other_motion(demos: dict[str, Demo]) -> None:
    first, again, other = demos["first"], demos["again"], demos["seed1"]
    for name in ("video", "truth_path", "landmarks_path"):
        assert getattr(first, name).read_bytes() == getattr(again, name).read_bytes(), name
        assert getattr(first, name).read_bytes() != getattr(other, name).read_bytes(), name
    first_yaw = [frame["euler_deg"]["yaw"] for frame in first.truth["frames"]]
    other_yaw = [frame["euler_deg"]["yaw"] for frame in other.truth["frames"]]
    assert np.abs(np.subtract(first_yaw, other_yaw)).max() > 0.5


def test_video_is_512_square_25_fps_with_audio(demo: Demo) -> None:
    info = probe(demo.video)
    assert info.video is not None and info.audio is not None
    assert (info.video.width, info.video.height) == (512, 512)
    assert info.video.nominal_fps == pytest.approx(25.0)
    assert info.video.frame_count == FRAMES
    assert info.video.codec == "h264" and info.audio.codec == "aac"
    assert info.audio.sample_rate == 16000 and info.audio.channels == 1


def test_truth_header(demo: Demo) -> None:
    truth = demo.truth
    assert truth["seed"] == 0 and truth["fps"] == 25 and truth["size"] == [512, 512]
    assert truth["frame_count"] == FRAMES == len(truth["frames"]) == len(demo.landmarks)
    assert truth["duration_s"] == pytest.approx(DURATION_S)
    assert {"rotation", "homography", "mouth_open", "blink"} <= set(truth["conventions"])
    assert demo.landmarks.shape == (FRAMES, 478, 2) and demo.landmarks.dtype == np.float32
    assert demo.source_landmarks.shape == (478, 2)
    assert np.allclose(truth["face_center_px"], demo.source_landmarks.mean(axis=0), atol=1e-3)
    assert [frame["index"] for frame in truth["frames"]] == list(range(FRAMES))


def test_pose_homography_and_landmarks_agree(demo: Demo) -> None:
    camera = demo.truth["camera"]
    k = np.array(
        [[camera["focal"], 0, camera["cx"]], [0, camera["focal"], camera["cy"]], [0, 0, 1]]
    )
    cx, cy = demo.truth["face_center_px"]
    rest = k @ np.array(
        [[1, 0, cx - camera["cx"]], [0, 1, cy - camera["cy"]], [0, 0, camera["focal"]]]
    )
    for frame, landmarks in zip(demo.truth["frames"], demo.landmarks, strict=True):
        rotation, homography = np.array(frame["rotation"]), np.array(frame["homography"])
        assert np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-5)
        posed = k @ np.column_stack([rotation[:, 0], rotation[:, 1], frame["translation"]])
        from_pose = posed @ np.linalg.inv(rest)  # compared where it matters: on the face
        projected = _apply(homography, demo.source_landmarks.astype(np.float64))
        assert np.abs(_apply(from_pose, demo.source_landmarks) - projected).max() < 0.01

        error = np.linalg.norm(projected[RIGID_LANDMARKS] - landmarks[RIGID_LANDMARKS], axis=1)
        assert error.max() < 0.05, frame["index"]
        if frame["mouth_open"] == 0 and frame["blink"] == 0:  # nothing deformed at all
            assert np.linalg.norm(projected - landmarks, axis=1).max() < 0.05
        box = np.concatenate([landmarks.min(axis=0), landmarks.max(axis=0)])
        assert np.allclose(frame["face_box"], box, atol=2e-3)


def test_mouth_is_dark_inside_when_open(demo: Demo, frames: np.ndarray) -> None:
    mouth_open = demo.column("mouth_open")
    opened, closed = np.flatnonzero(mouth_open > 0.5), np.flatnonzero(mouth_open == 0)
    assert len(opened) >= 5 and len(closed) >= 5
    brightness = np.array(
        [
            _mean_luma_inside(f, lm[list(INNER_LIP_RING)])
            for f, lm in zip(frames, demo.landmarks, strict=True)
        ]
    )
    # Closed, the ring holds the photo's smile (upper teeth); open, mostly the dark cavity.
    assert brightness[opened].mean() < brightness[closed].mean() - 40
    assert brightness[opened].max() < brightness[closed].min()
    # The lips really part by the recorded amount (inner lips 13 and 14, in source pixels).
    in_source = np.stack(
        [
            _apply(np.linalg.inv(frame["homography"]), landmarks.astype(np.float64))
            for frame, landmarks in zip(demo.truth["frames"], demo.landmarks, strict=True)
        ]
    )
    gap = np.linalg.norm(in_source[:, 13] - in_source[:, 14], axis=1)
    rest_gap = np.linalg.norm(demo.source_landmarks[13] - demo.source_landmarks[14])
    assert np.allclose(gap - rest_gap, demo.column("mouth_open_px"), atol=0.02)


def test_mouth_follows_the_speech(demo: Demo) -> None:
    mouth_open, rms = demo.column("mouth_open"), demo.column("speech_rms")
    assert rms[:5].max() == 0.0  # the clip opens in silence, with the mouth at rest
    assert mouth_open[:5].max() == 0.0
    assert np.corrcoef(mouth_open, rms)[0, 1] > 0.6
    assert mouth_open.min() >= 0.0 and mouth_open.max() <= 1.0


def test_blink_closes_the_eyes(demo: Demo, frames: np.ndarray) -> None:
    blink = demo.column("blink")
    shut, open_ = int(np.argmax(blink)), np.flatnonzero(blink == 0)
    assert blink[shut] == 1.0 and shut >= 12  # not in the first half second
    opening = np.mean(
        [
            np.linalg.norm(
                demo.landmarks[:, eye.upper[4]] - demo.landmarks[:, eye.lower[4]], axis=1
            )
            for eye in EYES
        ],
        axis=0,
    )
    assert opening[shut] < 0.3 * np.median(opening[open_])
    # The image agrees: the lids cover the dark iris and pupil (only the lash line is left).
    darkest_open = np.median([_darkest_in_eyes(frames[i], demo.landmarks[i]) for i in open_[:10]])
    assert _darkest_in_eyes(frames[shut], demo.landmarks[shut]) > darkest_open + 12


def test_bad_duration_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(TalkgsError, match="between 2 and 12 s"):
        make_demo(tmp_path / "demo.mp4", tmp_path / "truth.json", duration_s=30.0)
    assert not any(tmp_path.iterdir())


def test_missing_espeak_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("talkgs.demo.speech.shutil.which", lambda name: None)
    with pytest.raises(TalkgsError, match="espeak-ng"):
        make_demo(tmp_path / "demo.mp4", tmp_path / "truth.json", duration_s=2.0)
    assert not any(tmp_path.iterdir())


def test_failure_while_rendering_leaves_no_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_render = Animator.render
    calls = []

    def failing_render(self: Animator, *args: object) -> object:
        calls.append(1)
        if len(calls) > 10:
            raise RuntimeError("simulated crash")
        return real_render(self, *args)

    monkeypatch.setattr(Animator, "render", failing_render)
    out = tmp_path / "identity"
    with pytest.raises(RuntimeError, match="simulated crash"):
        make_demo(out / "demo.mp4", out / "truth.json", duration_s=2.0)
    assert not out.exists()


def _apply(homography: np.ndarray, points: np.ndarray) -> np.ndarray:
    mapped = np.column_stack([points, np.ones(len(points))]) @ homography.T
    return mapped[:, :2] / mapped[:, 2:]


def _mean_luma_inside(frame: np.ndarray, polygon: np.ndarray) -> float:
    mask = np.zeros(frame.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
    luma = frame.astype(np.float64) @ [0.299, 0.587, 0.114]
    return float(luma[mask > 0].mean())


def _darkest_in_eyes(frame: np.ndarray, landmarks: np.ndarray) -> float:
    """The darkest luma (5th percentile) inside both eyes' rest-size boxes."""
    luma = frame.astype(np.float64) @ [0.299, 0.587, 0.114]
    values = []
    for eye in EYES:
        corners = landmarks[[eye.upper[0], eye.upper[-1]]]
        x0, x1 = int(corners[:, 0].min()) + 2, int(corners[:, 0].max()) - 2
        y = round(float(corners[:, 1].mean()))
        values.append(luma[y - 3 : y + 4, x0:x1].ravel())
    return float(np.percentile(np.concatenate(values), 5))
