"""The matting stage: plate, frames on the plate, torso layer."""

from __future__ import annotations

import cv2
import numpy as np

from conftest import DemoIdentity
from talkgs.face.labels import Label


def test_background_plate_is_the_static_background(demo_identity: DemoIdentity) -> None:
    layout = demo_identity.layout
    plate = cv2.imread(str(layout.path("background"))).astype(np.float32)
    frame = cv2.imread(str(layout.path("frames") / "000040.jpg")).astype(np.float32)
    labels = cv2.imread(str(layout.path("parsing") / "000040.png"), cv2.IMREAD_UNCHANGED)
    # away from the outline, the demo's background never moves: the plate must equal it there
    background = cv2.erode((labels == Label.BACKGROUND).astype(np.uint8), np.ones((15, 15)))
    difference = np.abs(plate - frame)[background == 1]
    assert background.sum() > 10_000
    assert np.median(difference) < 3.0 and np.percentile(difference, 95) < 12.0


def test_gt_and_torso_images(demo_identity: DemoIdentity) -> None:
    layout = demo_identity.layout
    count = demo_identity.truth["frame_count"]
    assert len(list(layout.path("gt_imgs").glob("*.jpg"))) == count
    assert len(list(layout.path("torso_imgs").glob("*.png"))) == count
    plate = cv2.imread(str(layout.path("background"))).astype(np.float32)
    for index in (0, count - 1):
        name = f"{index:06d}"
        labels = cv2.imread(str(layout.path("parsing") / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        frame = cv2.imread(str(layout.path("frames") / f"{name}.jpg")).astype(np.float32)
        gt = cv2.imread(str(layout.path("gt_imgs") / f"{name}.jpg")).astype(np.float32)
        inside = cv2.erode((labels != Label.BACKGROUND).astype(np.uint8), np.ones((5, 5))) == 1
        outside = cv2.erode((labels == Label.BACKGROUND).astype(np.uint8), np.ones((5, 5))) == 1
        assert np.median(np.abs(gt - frame)[inside]) < 3, "the person is the frame's"
        assert np.median(np.abs(gt - plate)[outside]) < 3, "the background is the plate's"
        torso = cv2.imread(str(layout.path("torso_imgs") / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        assert torso.shape == (512, 512, 4)
        expected = np.isin(labels, [Label.NECK, Label.TORSO])
        assert ((torso[..., 3] == 255) == expected).all()
        assert (torso[..., 3][~expected] == 0).all()
