"""Talk2Me's Retrieval-Based Pose Generator (talkgs.motion.pose): on the 6-s demo, that its poses
are its own (not a replay of the training poses), stay within the recorded range and are smoother
than per-frame noise; that retrieval never hands a training sequence its own poses; that its
camera files hold the poses exactly; and that wrong files are one-line errors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from talkgs.cli import main
from talkgs.errors import TalkgsError
from talkgs.layout import IdentityLayout
from talkgs.metrics.head_motion import head_motion_metrics
from talkgs.motion import pose
from talkgs.motion.retrieval import POSE_DIM, Database, PoseSpace, join_offsets
from talkgs.pose.camera import euler_from_rotation, exp_so3, log_so3
from talkgs.pose.transforms import read_camera_file, split

# Measured on the demo (2026-12-03, default PoseParams, 2 threads): see the README's talk2me
# section for the figures; the thresholds below leave a wide margin.
MIN_DIFFERENCE_FROM_REPLAY_DEG = 0.1
RANGE_TOLERANCE_DEG = 0.1  # the range is enforced on rotation vectors, checked on Euler angles
MAX_JERK_SHARE_OF_NOISE = 0.5


@dataclass
class Generated:
    root: Path  # the demo identity
    out: IdentityLayout  # where the generators were written
    summary: dict
    rotations: np.ndarray  # generated for the validation audio
    frames: list[int]  # img_id
    audio: list[int]  # aud_id


@pytest.fixture(scope="module")
def generated(demo_6s: tuple[Path, np.ndarray], tmp_path_factory: pytest.TempPathFactory):
    """``talkgs expressions`` (short) and ``talkgs poses`` (default steps) on the demo."""
    root = demo_6s[0]
    source = IdentityLayout(str(root))
    out = IdentityLayout(str(tmp_path_factory.mktemp("motion") / "demo"))
    log = Path(out.root) / "poses.log"
    features = ["--audio-features", source.audio_features("mel"), "--au", source.au,
                "--eyes", source.eyes]  # fmt: skip
    assert main([
        "expressions", *features, "--neutral", source.neutral,
        "--output", out.expression_generator, "--summary", out.expression_generator_summary,
        "--iterations", "200",
    ]) == 0  # fmt: skip
    assert main([
        "poses", *features, "--pose", source.pose,
        "--expression-generator", out.expression_generator, "--output", out.pose_generator,
        "--summary", out.pose_generator_summary, "--poses", out.generated_poses_val,
        "--plot", out.poses_plot, "--log", str(log),
    ]) == 0  # fmt: skip
    rotations, _, frames, audio = read_camera_file(out.generated_poses_val)
    summary = json.loads(Path(out.pose_generator_summary).read_text())
    assert "poses:" in log.read_text().splitlines()[-1]
    return Generated(root, out, summary, rotations, frames, audio)


@pytest.mark.slow
def test_generated_poses_are_new_within_range_and_smooth(generated: Generated) -> None:
    recorded = np.load(IdentityLayout(str(generated.root)).pose)["rotations"]
    train_ids, val_ids = split(len(recorded))
    assert generated.audio == list(val_ids)
    assert all(i in train_ids for i in generated.frames)  # backgrounds from the database

    replay = recorded[: len(val_ids)]  # the training poses played back
    apart = np.degrees(np.linalg.norm(
        log_so3(generated.rotations @ np.swapaxes(replay, 1, 2)), axis=1
    ))  # fmt: skip
    assert apart.mean() > MIN_DIFFERENCE_FROM_REPLAY_DEG, apart

    angles = euler_from_rotation(generated.rotations)
    training = euler_from_rotation(recorded[list(train_ids)])
    assert np.all(angles >= training.min(axis=0) - RANGE_TOLERANCE_DEG), (angles, training.min(0))
    assert np.all(angles <= training.max(axis=0) + RANGE_TOLERANCE_DEG), (angles, training.max(0))

    # per-frame noise with the same distribution: the generated poses in random order
    shuffled = generated.rotations[np.random.default_rng(0).permutation(len(val_ids))]
    smooth = head_motion_metrics(generated.rotations)["jerk"]
    noise = head_motion_metrics(shuffled)["jerk"]
    assert smooth is not None and noise is not None
    assert smooth < MAX_JERK_SHARE_OF_NOISE * noise, (smooth, noise)


@pytest.mark.slow
def test_summary_holds_the_head_motion_rows_and_a_plot(generated: Generated) -> None:
    rows = generated.summary["head_motion"]["rows"]
    assert list(rows) == ["recorded", "replay", "generated"]
    assert rows["recorded"]["velocity_fd"] is None
    assert rows["replay"]["velocity_fd"] is not None and rows["generated"]["velocity_fd"] >= 0
    assert generated.summary["val_frames"] == len(generated.audio) == 14
    assert generated.summary["identity"] == generated.root.name  # the tables' row key
    assert Path(generated.out.poses_plot).read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_generate_poses_for_another_audio(generated: Generated, tmp_path: Path) -> None:
    """``talkgs generate-poses`` on a longer audio: the other audio's validation frames."""
    mel = np.load(IdentityLayout(str(generated.root)).audio_features("mel"))
    longer = tmp_path / "aud_mel.npy"
    np.save(longer, np.concatenate([mel, mel[::-1]]))
    camera = tmp_path / "driven_by_other.json"
    out = generated.out
    argv = ["generate-poses", "--pose-generator", out.pose_generator,
            "--expression-generator", out.expression_generator,
            "--audio-features", str(longer), "--output", str(camera)]  # fmt: skip
    assert main(argv) == 0
    rotations, _, frames, audio = read_camera_file(camera)
    assert audio == list(split(2 * len(mel))[1]) and len(rotations) == len(frames) == len(audio)
    document = json.loads(camera.read_text())
    assert {"focal_len", "cx", "cy", "frames"} <= set(document)
    missing = [*argv[:6], str(tmp_path / "missing.npy"), "--output", str(tmp_path / "x.json")]
    assert main(missing) == 2 and not (tmp_path / "x.json").exists()


def test_retrieval_never_hands_a_sequence_its_own_poses() -> None:
    rng = np.random.default_rng(0)
    mel = rng.normal(size=(120, 16, 80)).astype(np.float32)
    poses = rng.normal(size=(120, POSE_DIM)).astype(np.float32)
    database = Database.build(mel, poses, range(100), unit=8)
    assert database.starts[-1] + 8 <= 100  # units of the training frames only
    for first in (0, 20, 37, 68):
        retrieved, frames = database.retrieve(mel[first : first + 16], 3, (first, first + 16))
        assert not np.any((frames >= first) & (frames < first + 16)), (first, frames)
        assert np.array_equal(retrieved[:8], poses[frames[:8]])  # the first unit as recorded
    # without exclusion its own audio finds its own unit (the keys are the audio's)
    _, frames = database.retrieve(mel[40:48], 1)
    assert list(frames) == list(range(40, 48))


def test_pose_space_and_camera_file_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rotations = exp_so3(rng.normal(scale=0.1, size=(30, 3)))
    translations = rng.normal(size=(30, 3)) * 0.01 + [0, 0, 0.5]
    space = PoseSpace.fit(rotations, translations)
    decoded = space.decode(space.encode(rotations, translations))
    assert np.allclose(decoded[0], rotations, atol=1e-6)
    assert np.allclose(decoded[1], translations, atol=1e-6)

    poses = pose.GeneratedPoses(rotations, translations, np.arange(30), np.zeros((30, 6)))
    camera = {"focal": 900.0, "cx": 250.5, "cy": 260.0}
    path = tmp_path / "poses.json"
    path.write_text(json.dumps(poses.camera_file(list(range(100, 130)), camera)))
    read_r, read_t, images, audio = read_camera_file(path)
    assert np.allclose(read_r, rotations) and np.allclose(read_t, translations)
    assert images == list(range(30)) and audio == list(range(100, 130))


def test_an_untrained_refiner_returns_the_retrieval() -> None:
    refiner = pose.PoseRefiner(16, 80, pose.PoseParams().model_config())
    retrieved = torch.randn(2, 12, POSE_DIM)
    out = refiner(retrieved, torch.rand(2, 12, 18), torch.randn(2, 12, 16, 80))
    assert torch.equal(out, retrieved)  # the residual head starts at zero
    assert refiner.fusion.in_features == pose.PoseParams().kron_dim ** 2  # p̂ ⊗ e', eq. 9


def test_wrong_files_are_one_line_errors(tmp_path: Path) -> None:
    text = tmp_path / "notes.pt"
    text.write_text("not a model\n")
    other = tmp_path / "other.pt"
    torch.save({"format": "talkgs-expression/1"}, other)
    not_camera = tmp_path / "cameras.json"
    not_camera.write_text(json.dumps({"frames": [{"img_id": 0}]}))
    for path, words, read in (
        (text, "cannot read", pose.load),
        (other, "not a pose generator", pose.load),
        (not_camera, "not a camera file", read_camera_file),
        (tmp_path / "missing.json", "not a camera file", read_camera_file),
    ):
        with pytest.raises(TalkgsError) as caught:
            read(path)
        message = str(caught.value)
        assert message.startswith(f"{path}: ") and words in message and "\n" not in message


def test_joined_units_continue_position_and_velocity() -> None:
    previous = np.stack([np.full(POSE_DIM, 0.0), np.full(POSE_DIM, 0.1)]).astype(np.float32)
    unit = (2.0 - 0.05 * np.arange(16, dtype=np.float32))[:, None].repeat(POSE_DIM, 1)
    joined = unit + join_offsets(previous, unit, 16)
    steps = np.diff(np.concatenate([previous, joined]), axis=0)[:, 0]
    assert abs(steps[1] - 0.1) < 1e-6  # the first step continues the previous velocity
    assert np.abs(np.diff(steps)).max() < 0.1  # no kink anywhere (the gap was 1.9)
    assert np.allclose(joined[-1], unit[-1], atol=0.05)  # back on the recorded unit
