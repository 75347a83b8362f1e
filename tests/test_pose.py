"""The pose stage: head pose against the demo's truth, camera files, hard cases, the real clip."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from conftest import DemoIdentity, preprocess_identity
from talkgs import export
from talkgs.cli import main
from talkgs.demo.motion import rotation_matrix
from talkgs.errors import TalkgsError
from talkgs.face import landmarks as face_landmarks
from talkgs.layout import IdentityLayout
from talkgs.pose import PoseInputs, PoseOutputs, PoseParams, load, oracle, run, solve, transforms
from talkgs.pose.camera import (
    Camera,
    angular_jitter,
    euler_from_rotation,
    exp_so3,
    log_so3,
    project,
)
from talkgs.pose.estimate import HIGH_RESIDUAL, NO_LANDMARKS

# Done-when of issue 4, on the demo identity against truth.json
IN_PLANE_DEG, OUT_OF_PLANE_DEG, TRANSLATION_FACE_WIDTHS, JITTER_RATIO = 1.0, 2.0, 0.02, 1.2


@dataclass
class Posed:
    layout: IdentityLayout  # where the identity's inputs and the pose outputs are
    truth: dict
    meta: dict

    @property
    def pose(self) -> dict[str, np.ndarray]:
        return load(self.layout.path("pose"))

    def compare(self, frames: slice = slice(None)) -> oracle.TruthComparison:
        pose = self.pose
        truth = dict(self.truth, frames=self.truth["frames"][frames])
        return oracle.compare(
            pose["rotations"][frames],
            pose["translations"][frames],
            float(pose["focal"]),
            tuple(pose["principal_point"]),
            truth,
            self.meta["crop"],
            self.meta["size"],
        )


def pose_cli(layout: IdentityLayout, *extra: str) -> int:
    p = layout.path
    return main(
        [
            "pose",
            "--frames", str(p("frames")),
            "--landmarks", str(p("landmarks")),
            "--parsing", str(p("parsing")),
            "--meta", str(p("meta")),
            "--pose", str(p("pose")),
            "--transforms-train", str(p("transforms_train")),
            "--transforms-val", str(p("transforms_val")),
            "--quality", str(p("pose_quality")),
            "--plot", str(p("pose_plot")),
            *extra,
        ]
    )  # fmt: skip


def linked_identity(source: IdentityLayout, folder: Path) -> IdentityLayout:
    """A new identity folder whose frames, parsing and meta are links to ``source``'s."""
    layout = IdentityLayout(str(folder))
    folder.mkdir(parents=True)
    for name in ("frames", "parsing", "meta"):
        layout.path(name).symlink_to(source.path(name).resolve())
    return layout


def check_against_truth(comparison: oracle.TruthComparison) -> None:
    summary = comparison.summary()
    assert summary["in_plane_median_deg"] <= IN_PLANE_DEG, summary
    assert summary["out_of_plane_median_deg"] <= OUT_OF_PLANE_DEG, summary
    assert summary["translation_median_face_width"] <= TRANSLATION_FACE_WIDTHS, summary
    assert comparison.jitter <= JITTER_RATIO * comparison.truth_jitter, summary


@pytest.fixture(scope="module")
def posed_demo(demo_identity: DemoIdentity, tmp_path_factory: pytest.TempPathFactory) -> Posed:
    """The 3 s demo identity through `talkgs pose`."""
    layout = linked_identity(demo_identity.layout, tmp_path_factory.mktemp("pose") / "demo")
    shutil.copy(demo_identity.layout.path("landmarks"), layout.path("landmarks"))
    assert pose_cli(layout) == 0
    return Posed(layout, demo_identity.truth, json.loads(layout.path("meta").read_text()))


def test_demo_pose_matches_truth(posed_demo: Posed) -> None:
    comparison = posed_demo.compare()
    check_against_truth(comparison)
    quality = json.loads(posed_demo.layout.path("pose_quality").read_text())
    assert quality["reprojection_px"]["median"] < 0.5
    # the flow method is far steadier than per-frame PnP of the landmarks
    jitter = quality["jitter_deg_per_frame2"]
    assert jitter["flow"] < jitter["flow_unsmoothed"] < jitter["baseline_pnp"]
    assert quality["depth_scale"] < 0.25, "the demo's head is a flat picture"


def test_pose_npz_holds_every_frame(posed_demo: Posed) -> None:
    pose = posed_demo.pose
    count = posed_demo.meta["frame_count"]
    rotations = pose["rotations"]
    assert rotations.shape == (count, 3, 3) and pose["translations"].shape == (count, 3)
    assert np.allclose(rotations @ np.swapaxes(rotations, 1, 2), np.eye(3), atol=1e-9)
    assert np.allclose(np.linalg.det(rotations), 1.0)
    assert pose["flags"].dtype == np.uint8 and pose["flags"].shape == (count,)
    assert np.isfinite(pose["residual_px"]).all() and (pose["keypoints"] > 20).all()
    assert np.allclose(pose["euler_deg"], euler_from_rotation(rotations))
    # the face sits in front of the camera, about 8 face widths away at this crop
    assert (pose["translations"][:, 2] > 0.5).all()


def test_transforms_follow_talkinggaussian(posed_demo: Posed) -> None:
    layout, pose = posed_demo.layout, posed_demo.pose
    count, size = posed_demo.meta["frame_count"], posed_demo.meta["size"]
    train = json.loads(layout.path("transforms_train").read_text())
    val = json.loads(layout.path("transforms_val").read_text())
    for document in (train, val):
        assert set(document) == {"focal_len", "cx", "cy", "frames"}  # no w / h: readers infer
        assert document["cx"] == size / 2 and document["cy"] == size / 2
        assert document["focal_len"] == pytest.approx(float(pose["focal"]))
        for frame in document["frames"]:
            assert set(frame) == {"img_id", "aud_id", "transform_matrix"}
            assert frame["img_id"] == frame["aud_id"]
            matrix = np.array(frame["transform_matrix"])
            assert matrix.shape == (4, 4) and np.allclose(matrix[3], [0, 0, 0, 1])
    ids = [f["img_id"] for f in train["frames"] + val["frames"]]
    assert ids == list(range(count))
    assert len(train["frames"]) == int(count * 10 / 11)
    # export copies them under the names TalkingGaussian reads
    for name in ("transforms_train", "transforms_val"):
        assert layout.path(name) in export.optional_files(layout)


def test_talkinggaussian_reader_sees_the_face_where_it_is(posed_demo: Posed) -> None:
    """Read the cameras as TalkingGaussian's dataset_readers.py does and project the face."""
    pose = posed_demo.pose
    size = posed_demo.meta["size"]
    documents = [
        json.loads(posed_demo.layout.path(n).read_text())
        for n in ("transforms_train", "transforms_val")
    ]
    frames = [f for document in documents for f in document["frames"]]
    focal = documents[0]["focal_len"]
    centred = Camera(focal, documents[0]["cx"], documents[0]["cy"])
    head = pose["face_vertices"][pose["rigid"]]
    world = head @ transforms.FLIP.T  # the world frame is the head frame in OpenGL axes
    estimate_camera = Camera(float(pose["focal"]), *pose["principal_point"])
    errors = []
    for frame in frames:
        c2w = np.array(frame["transform_matrix"])
        c2w[:3, 1:3] *= -1  # TalkingGaussian: OpenGL/Blender → COLMAP axes
        w2c = np.linalg.inv(c2w)
        r_glm, t = np.transpose(w2c[:3, :3]), w2c[:3, 3]  # R is stored transposed for glm
        seen = project(world @ r_glm + t, centred)
        i = frame["img_id"]
        expected = project(head @ pose["rotations"][i].T + pose["translations"][i], estimate_camera)
        errors.append(np.linalg.norm(seen - expected, axis=1))
        assert seen.min() >= 0 and seen.max() < size
    # the off-centre principal point of the demo's crop cannot be matched exactly by a centred
    # camera; where the face is drawn stays within a pixel or so
    assert np.median(errors) < 1.0


def test_camera_conventions_match_the_demo() -> None:
    angles = np.array([4.0, -2.0, 3.0])  # yaw, pitch, roll
    rotation = rotation_matrix(*angles)
    assert np.allclose(euler_from_rotation(rotation), angles)
    vectors = np.random.default_rng(0).normal(0.0, 0.4, (20, 3))
    assert np.allclose(log_so3(exp_so3(vectors)), vectors)
    # a steady turn has no jitter; noise has
    steady = exp_so3(np.outer(np.arange(50), [0.0, 0.01, 0.0]))
    assert angular_jitter(steady) < 1e-9
    assert angular_jitter(exp_so3(vectors[:10] * 0.01)) > 0.1


def test_transforms_round_trip() -> None:
    rng = np.random.default_rng(1)
    rotations = exp_so3(rng.normal(0, 0.2, (11, 3)))
    translations = rng.normal(0, 0.05, (11, 3)) + np.array([0.0, 0.0, 1.0])
    back_r, back_t = transforms.world_to_camera_opencv(
        transforms.camera_to_world(rotations, translations)
    )
    assert np.allclose(back_r, rotations @ transforms.FLIP) and np.allclose(back_t, translations)
    # a frontal head: identity camera rotation, camera on the +z axis
    frontal = transforms.camera_to_world(np.eye(3)[None], np.array([[0.0, 0.0, 0.8]]))[0]
    assert np.allclose(frontal[:3, :3], np.eye(3)) and np.allclose(frontal[:3, 3], [0, 0, 0.8])
    assert [len(r) for r in transforms.split(11)] == [10, 1]
    assert [len(r) for r in transforms.split(500)] == [454, 46]


def test_joint_fit_recovers_a_synthetic_trajectory() -> None:
    rng = np.random.default_rng(2)
    frames, per_frame = 30, 40
    frame = np.repeat(np.arange(frames), per_frame)
    points = rng.normal(0.0, 0.05, (len(frame), 3))
    base, depth = points * [1, 1, 0], points * [0, 0, 1]
    rotations = exp_so3(np.outer(np.sin(np.arange(frames) / 5.0), [0.1, 0.05, 0.02]))
    translations = np.column_stack([np.zeros((frames, 2)), np.full(frames, 0.9)])
    camera = Camera(1000.0, 250.0, 270.0)
    exact = solve.Observations(frame, base, depth, np.zeros((len(frame), 2)), np.ones(len(frame)))
    seen = solve.residuals(exact, rotations, translations, camera, 1.0)
    obs = solve.Observations(frame, base, depth, seen, np.full(len(frame), 0.3))
    start = exp_so3(rng.normal(0.0, 0.03, (frames, 3))) @ rotations
    fit = solve.fit(
        obs,
        start,
        translations + 0.01,
        Camera(900.0, 250.0, 270.0),
        0.7,
        solve.Priors(focal=900.0, log_focal_sigma=1.0),
    )
    assert (
        np.degrees(
            np.linalg.norm(log_so3(fit.rotations @ np.swapaxes(rotations, 1, 2)), axis=1)
        ).max()
        < 0.05
    )
    assert fit.focal == pytest.approx(1000.0, rel=0.01) and fit.depth_scale == pytest.approx(
        1.0, abs=0.02
    )


def test_stretch_without_landmarks(
    posed_demo: Posed, demo_identity: DemoIdentity, tmp_path: Path
) -> None:
    """Face Mesh loses the face for half a second; flow carries the pose across."""
    gap = range(30, 42)
    found = face_landmarks.load(demo_identity.layout.path("landmarks"))
    detected = found.detected.copy()
    detected[list(gap)] = False
    filled = face_landmarks.fill_missing(
        face_landmarks.FaceLandmarks(found.landmarks, detected), tmp_path, max_missing=0.5
    )
    layout = linked_identity(demo_identity.layout, tmp_path / "gap")
    face_landmarks.save(layout.path("landmarks"), filled)
    assert pose_cli(layout) == 0
    posed = Posed(layout, demo_identity.truth, posed_demo.meta)
    flags = posed.pose["flags"]
    assert ((flags & NO_LANDMARKS) > 0).tolist() == [i in gap for i in range(len(flags))]
    check_against_truth(posed.compare())
    stretch = posed.compare(slice(gap.start - 2, gap.stop + 2))
    assert np.median(stretch.in_plane_deg) <= IN_PLANE_DEG
    assert np.median(stretch.out_of_plane_deg) <= OUT_OF_PLANE_DEG


def test_first_frame_turned(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Seed 3's head starts turned (yaw −3.7°, pitch 1.6°) and swings to the other side."""
    from talkgs.demo import make_demo

    folder = tmp_path_factory.mktemp("turned")
    video, truth_path = folder / "demo.mp4", folder / "truth.json"
    make_demo(video, truth_path, seed=3, duration_s=3.0)
    truth = json.loads(truth_path.read_text())
    first = truth["frames"][0]["euler_deg"]
    assert np.hypot(first["yaw"], first["pitch"]) > 3.5
    layout = preprocess_identity(video, folder / "turned")
    assert pose_cli(layout) == 0
    posed = Posed(layout, truth, json.loads(layout.path("meta").read_text()))
    check_against_truth(posed.compare())
    # the same input gives the same bytes
    before = {n: layout.path(n).read_bytes() for n in ("pose", "transforms_train", "pose_plot")}
    assert pose_cli(layout) == 0
    assert all(layout.path(n).read_bytes() == data for n, data in before.items())


def test_pose_refuses_landmarks_of_another_clip(posed_demo: Posed, tmp_path: Path) -> None:
    found = face_landmarks.load(posed_demo.layout.path("landmarks"))
    short = tmp_path / "landmarks.npz"
    face_landmarks.save(
        short, face_landmarks.FaceLandmarks(found.landmarks[:10], found.detected[:10])
    )
    p = posed_demo.layout.path
    inputs = PoseInputs(p("frames"), short, p("meta"), p("parsing"))
    outputs = PoseOutputs(*(tmp_path / n for n in ("p.npz", "t.json", "v.json", "q.json", "p.png")))
    with pytest.raises(TalkgsError, match=r"10 rows of landmarks for 75 frames"):
        run(inputs, outputs, PoseParams())
    assert not list(tmp_path.glob("*.json"))


@pytest.mark.realdata
def test_real_clip(real_identity) -> None:
    layout = real_identity
    assert pose_cli(layout) == 0
    quality = json.loads(layout.path("pose_quality").read_text())
    assert quality["frames"] == 500
    assert quality["reprojection_px"]["median"] <= 1.5, quality
    jitter = quality["jitter_deg_per_frame2"]
    assert jitter["flow"] < jitter["baseline_pnp"], quality
    flags = load(layout.path("pose"))["flags"]
    assert ((flags & HIGH_RESIDUAL) > 0).mean() < 0.2, "flags mark exceptions, not the rule"


def test_a_fast_head_roll_keeps_its_keypoints(long_hair_identity, tmp_path: Path) -> None:
    """In the real hair clip the head rolls ~10° in three frames (frames 8–10): flow kills most
    keypoints, and waiting for the next scheduled keyframe left 17, 6, 3 and 0 of them and pose
    errors of 5–11 px there. Reseeding when few remain keeps every frame's error at the level of
    the rest, and no frame is flagged for too few keypoints."""
    layout = linked_identity(long_hair_identity, tmp_path / "may")
    shutil.copy(long_hair_identity.path("landmarks"), layout.path("landmarks"))
    assert pose_cli(layout) == 0
    quality = json.loads(layout.path("pose_quality").read_text())
    assert quality["flagged_frames"]["few_keypoints"] == 0
    assert quality["frame_reprojection_px"]["max"] < 4.0, quality["frame_reprojection_px"]
    keypoints = load(layout.path("pose"))["keypoints"]
    assert keypoints.min() >= PoseParams().flow.reseed_below, keypoints[:16]
