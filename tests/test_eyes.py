"""The eyes stage (EAR, blinks) and the neutral frame, against the demo's truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import DemoIdentity
from talkgs.arrays import write_npz
from talkgs.errors import TalkgsError
from talkgs.face.landmarks import IBUG68
from talkgs.features import eyes, neutral

MIN_F1 = 0.9  # issue 5: blink events find truth.json's blinks


def truth_blinks(truth: dict) -> list[tuple[int, int]]:
    """``(first, last)`` frames of each truth blink: runs of ``blink`` > 0.5."""
    shut = np.array([frame["blink"] for frame in truth["frames"]]) > 0.5
    return runs(shut)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    events, start = [], None
    for t, on in enumerate([*list(mask), False]):
        if on and start is None:
            start = t
        elif not on and start is not None:
            events.append((start, t - 1))
            start = None
    return events


def event_f1(found: list[tuple[int, int]], truth: list[tuple[int, int]]) -> float:
    """F1 of events matched one to one when their frame ranges overlap."""
    unmatched = list(truth)
    hits = 0
    for first, last in found:
        match = next((t for t in unmatched if first <= t[1] and t[0] <= last), None)
        if match is not None:
            unmatched.remove(match)
            hits += 1
    if not found or not truth:
        return float(found == truth)
    precision, recall = hits / len(found), hits / len(truth)
    return 0.0 if hits == 0 else 2 * precision * recall / (precision + recall)


def truth_pose_npz(demo: DemoIdentity, path: Path) -> Path:
    """A pose.npz holding the demo's true ``euler_deg`` (yaw, pitch, roll), as the pose stage
    writes it, so that the neutral frame can be checked against the truth alone."""
    euler = [[f["euler_deg"][k] for k in ("yaw", "pitch", "roll")] for f in demo.truth["frames"]]
    write_npz(path, {"euler_deg": np.array(euler, np.float64)})
    return path


@pytest.fixture(scope="module")
def demo_eyes(demo_identity: DemoIdentity, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("eyes")
    csv, events = folder / "eyes.csv", folder / "blinks.json"
    eyes.run(demo_identity.layout.path("landmarks"), csv, events, eyes.EyesParams())
    return csv, json.loads(events.read_text())


def test_ear_points_are_the_ibug68_eye_points() -> None:
    # p1..p6 of Soukupová & Čech are iBUG-68 points 36–41 (right eye) and 42–47 (left eye);
    # the left eye's p1 is its inner corner (iBUG order runs left to right in the image).
    assert tuple(IBUG68[36:42]) == eyes.RIGHT_EYE_EAR
    assert tuple(IBUG68[42:48]) == eyes.LEFT_EYE_EAR


def test_demo_blinks_match_truth(demo_eyes, demo_identity: DemoIdentity) -> None:
    _, summary = demo_eyes
    truth = truth_blinks(demo_identity.truth)
    assert truth, "the demo has blinks"
    found = [(event["onset"], event["end"]) for event in summary["events"]]
    assert event_f1(found, truth) >= MIN_F1, (found, truth)
    for event in summary["events"]:
        assert event["onset"] <= event["apex"] <= event["end"]
        assert event["closure"] >= summary["closure_threshold"]


def test_eyes_csv_has_one_row_per_frame(demo_eyes, demo_identity: DemoIdentity) -> None:
    csv, summary = demo_eyes
    assert csv.read_text().splitlines()[0] == "frame,ear_left,ear_right,ear,blink"
    table = eyes.read_csv(csv)
    count = len(demo_identity.truth["frames"])
    assert np.array_equal(table["frame"], np.arange(count))
    np.testing.assert_allclose(
        table["ear"], (table["ear_left"] + table["ear_right"]) / 2, atol=2e-4
    )
    flagged = runs(table["blink"] > 0.5)
    assert flagged == [(e["onset"], e["end"]) for e in summary["events"]]
    # Open eyes: the demo portrait's EAR, far above a shut eye's.
    assert 0.2 < summary["open_ear_median"] < 0.45


def test_find_blinks_merges_widens_and_ignores_noise() -> None:
    closure = np.zeros(40)
    closure[10:13] = [0.3, 0.6, 0.3]  # a blink
    closure[14] = 0.5  # its second half after one open-looking frame: the same blink
    closure[9] = closure[15] = 0.13  # the lids moving: above half the threshold
    closure[30] = 0.15  # a twitch below the threshold
    ear = 0.3 * (1 - closure)
    found = eyes.find_blinks(closure, ear, threshold=0.25, merge_gap=1)
    assert [(b.onset, b.apex, b.end) for b in found] == [(9, 11, 15)]
    assert found[0].ear == pytest.approx(ear[11])
    assert eyes.find_blinks(closure, ear, threshold=0.25, merge_gap=0)[0].end == 12


def test_a_turned_head_keeps_its_ear(demo_identity: DemoIdentity) -> None:
    from talkgs.face import landmarks as face_landmarks

    points = face_landmarks.load(demo_identity.layout.path("landmarks")).landmarks[:5]
    angle = np.radians(25)  # yaw: the image shortens the eyes' width, 3D does not
    yaw = np.array(
        [[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]]
    )
    turned = 1.3 * points @ yaw.T + np.array([40.0, -10.0, 5.0])
    np.testing.assert_allclose(
        eyes.eye_aspect_ratio(turned), eyes.eye_aspect_ratio(points), rtol=1e-5
    )


# neutral frame


@pytest.fixture(scope="module")
def demo_neutral(demo_identity: DemoIdentity, tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("neutral")
    pose = truth_pose_npz(demo_identity, folder / "pose.npz")
    output = folder / "neutral.json"
    neutral.run(demo_identity.layout.path("landmarks"), pose, output, neutral.NeutralParams())
    return json.loads(output.read_text())


def test_neutral_frame_is_frontal_at_rest(demo_neutral: dict, demo_identity: DemoIdentity) -> None:
    frames = demo_identity.truth["frames"]
    turn = np.array([np.hypot(f["euler_deg"]["yaw"], f["euler_deg"]["pitch"]) for f in frames])
    mouth = np.array([f["mouth_open"] for f in frames])
    blink = np.array([f["blink"] for f in frames])
    at_rest = (mouth == 0) & (blink == 0)
    chosen = demo_neutral["frame"]
    assert mouth[chosen] <= 0.1 and blink[chosen] == 0, chosen
    assert turn[chosen] <= turn[at_rest].min() + 0.5, (turn[chosen], turn[at_rest].min())
    assert (
        chosen
        == demo_neutral["scores"]["frame"]["frame"]
        == demo_neutral["scores"]["frames"][0]["frame"]
    )
    neutral_set = demo_neutral["frames"]
    assert len(neutral_set) == max(5, round(0.05 * len(frames))) and chosen in neutral_set
    assert all(mouth[i] <= 0.1 and blink[i] == 0 for i in neutral_set), neutral_set
    # Listed cheapest first, all eligible on the demo (it rests often).
    assert all(s["eligible"] for s in demo_neutral["scores"]["frames"])
    costs = [s["cost"] for s in demo_neutral["scores"]["frames"]]
    assert costs == sorted(costs)


def test_neutral_refuses_a_pose_of_another_clip(
    demo_identity: DemoIdentity, tmp_path: Path
) -> None:
    pose = tmp_path / "pose.npz"
    write_npz(pose, {"euler_deg": np.zeros((3, 3))})
    with pytest.raises(TalkgsError, match="euler_deg has shape") as error:
        neutral.run(
            demo_identity.layout.path("landmarks"),
            pose,
            tmp_path / "n.json",
            neutral.NeutralParams(),
        )
    assert "\n" not in str(error.value) and str(pose) in str(error.value)
    assert not (tmp_path / "n.json").exists()
