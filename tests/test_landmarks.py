"""The landmarks stage: accuracy on the demo, missing faces, refusal."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import DemoIdentity
from talkgs.errors import TalkgsError
from talkgs.face import landmarks
from talkgs.face.landmarks import IBUG68, LandmarksParams

STABLE = [1, 4, 6, 33, 133, 168, 234, 263, 362, 454]  # nose, eye corners, cheeks: not animated


def test_landmarks_follow_the_demo_face(demo_identity: DemoIdentity) -> None:
    found = landmarks.load(demo_identity.layout.path("landmarks"))
    truth = demo_identity.truth_landmarks
    assert found.landmarks.shape == (len(truth), 478, 3) and found.landmarks.dtype == np.float32
    assert found.detected.all()
    error = np.linalg.norm(found.landmarks[:, STABLE, :2] - truth[:, STABLE], axis=-1)
    assert np.median(error) < 4.0, f"median error {np.median(error):.2f} px at 512²"
    # the tracked mouth opens and closes with the demo's (inner lip gap, 13–14)
    gap = np.linalg.norm(found.landmarks[:, 13, :2] - found.landmarks[:, 14, :2], axis=-1)
    truth_gap = np.linalg.norm(truth[:, 13] - truth[:, 14], axis=-1)
    assert np.corrcoef(gap, truth_gap)[0, 1] > 0.9


def test_ibug68_subset_is_ordered_like_ibug(demo_identity: DemoIdentity) -> None:
    found = landmarks.load(demo_identity.layout.path("landmarks"))
    with np.load(demo_identity.layout.path("landmarks")) as data:
        assert (data["ibug68"] == IBUG68).all()
    points = found.ibug68[0]
    assert points.shape == (68, 2)
    jaw = points[:17]
    assert np.argmax(jaw[:, 1]) in (7, 8, 9), "the chin is the lowest jaw point"
    assert jaw[0, 0] < jaw[8, 0] < jaw[16, 0], "jaw runs from image left to image right"
    assert points[36:42, 0].mean() < points[42:48, 0].mean(), "subject's right eye first"
    assert points[27:31, 1].tolist() == sorted(points[27:31, 1]), "nose bridge runs downward"
    assert points[48:60, 1].mean() > points[33, 1], "mouth below the nose"


def _frames_with_gaps(source: Path, target: Path, blank: range) -> Path:
    shutil.copytree(source, target)
    for index in blank:  # a flat grey frame: no face to find
        cv2.imwrite(str(target / f"{index:06d}.jpg"), np.full((512, 512, 3), 128, np.uint8))
    return target


def test_missing_faces_are_interpolated_and_flagged(
    demo_identity: DemoIdentity, tmp_path: Path
) -> None:
    frames = _frames_with_gaps(demo_identity.layout.path("frames"), tmp_path / "f", range(30, 33))
    output = tmp_path / "landmarks.npz"
    landmarks.run(frames, output, LandmarksParams(max_missing=0.05))
    found = landmarks.load(output)
    complete = landmarks.load(demo_identity.layout.path("landmarks"))
    assert found.detected.tolist() == [i not in (30, 31, 32) for i in range(len(found.detected))]
    # filled rows lie between their neighbours, and no row shifted
    for i in (30, 31, 32):
        w = (i - 29) / 4
        expected = (1 - w) * found.landmarks[29] + w * found.landmarks[33]
        assert np.allclose(found.landmarks[i], expected, atol=1e-3)
    error = np.abs(found.landmarks[40:, :, :2] - complete.landmarks[40:, :, :2])
    assert np.median(error) < 1.0


def test_too_many_missing_faces_is_an_error(demo_identity: DemoIdentity, tmp_path: Path) -> None:
    frames = _frames_with_gaps(demo_identity.layout.path("frames"), tmp_path / "f", range(10, 20))
    output = tmp_path / "landmarks.npz"
    with pytest.raises(TalkgsError, match=r"no face in 10 of 75 frames \(13\.3%.*max_missing"):
        landmarks.run(frames, output, LandmarksParams(max_missing=0.05))
    assert not output.exists()
