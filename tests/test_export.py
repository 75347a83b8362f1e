"""`talkgs export`: a TalkingGaussian data folder that its loader reads unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import DemoIdentity
from talkgs.cli import main
from talkgs.face.labels import Label
from talkgs.media import read_wav

# TalkingGaussian's parsing codes as PIL reads them (RGB): background, face, neck, torso,
# inner mouth, hair
TALKINGGAUSSIAN_RGB = {(255, 255, 255), (0, 0, 255), (0, 255, 0), (255, 0, 0), (100, 100, 100),
                       (0, 0, 0)}  # fmt: skip


def check_talkinggaussian_folder(folder: Path, frame_count: int) -> dict[str, np.ndarray]:
    """Read ``folder`` the way TalkingGaussian's scene/dataset_readers.py does; return its masks.

    File names are unpadded frame ids; images are opened with PIL; the parsing colours are
    decoded with the loader's own tests (face: pure blue in RGB, hair: black, mouth: grey 100
    plus the teeth mask).
    """
    background = np.array(Image.open(folder / "bc.jpg").convert("RGB"))
    height, width = background.shape[:2]
    masks: dict[str, list[np.ndarray]] = {"face": [], "hair": [], "mouth": []}
    for img_id in range(frame_count):
        lms = np.loadtxt(folder / "ori_imgs" / f"{img_id}.lms")
        assert lms.shape == (68, 2)
        assert lms[:, 0].min() >= 0 and lms[:, 0].max() < width  # column 0 is x
        assert np.array(Image.open(folder / "ori_imgs" / f"{img_id}.jpg")).shape == (
            height,
            width,
            3,
        )
        gt = Image.open(folder / "gt_imgs" / f"{img_id}.jpg")
        assert gt.size == (width, height)
        torso = np.array(Image.open(folder / "torso_imgs" / f"{img_id}.png").convert("RGBA"))
        assert torso.shape == (height, width, 4)
        teeth = np.load(folder / "teeth_mask" / f"{img_id}.npy")
        assert teeth.dtype == bool and teeth.shape == (height, width)
        mask = np.array(Image.open(folder / "parsing" / f"{img_id}.png").convert("RGB")) * 1.0
        packed = np.unique(mask.astype(np.int64) @ np.array([1 << 16, 1 << 8, 1]))
        colours = {(int(c) >> 16, (int(c) >> 8) & 255, int(c) & 255) for c in packed}
        assert colours <= TALKINGGAUSSIAN_RGB, colours
        masks["face"].append(
            (mask[:, :, 2] > 254) * (mask[:, :, 0] == 0) * (mask[:, :, 1] == 0) ^ teeth
        )
        masks["hair"].append((mask[:, :, 0] < 1) * (mask[:, :, 1] < 1) * (mask[:, :, 2] < 1))
        masks["mouth"].append(
            (mask[:, :, 0] == 100) * (mask[:, :, 1] == 100) * (mask[:, :, 2] == 100) + teeth
        )
    assert len(list((folder / "ori_imgs").glob("*.jpg"))) == frame_count
    assert len(list((folder / "ori_imgs").glob("*.lms"))) == frame_count
    for sub in ("gt_imgs", "torso_imgs", "parsing", "teeth_mask"):
        assert len(list((folder / sub).iterdir())) == frame_count, sub
    samples, rate = read_wav(folder / "aud.wav")
    assert rate == 16000 and len(samples) == frame_count * 640
    return {name: np.stack(value) for name, value in masks.items()}


def test_export_is_read_by_the_talkinggaussian_checker(
    demo_identity: DemoIdentity, tmp_path: Path
) -> None:
    layout = demo_identity.layout
    identity_dir = Path(layout.root)
    out = tmp_path / "data" / "demo"
    assert main(["export", "demo", str(out), "--results", str(identity_dir.parent)]) == 0
    count = demo_identity.truth["frame_count"]
    masks = check_talkinggaussian_folder(out, count)
    labels = np.stack(
        [
            cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
            for p in sorted(layout.path("parsing").glob("*.png"))
        ]
    )
    teeth = labels == Label.TEETH
    face_like = np.isin(labels, [Label.FACE, Label.LIPS, Label.EYES, Label.BROWS])
    assert (masks["face"] == (face_like ^ teeth)).all()
    assert (masks["hair"] == (labels == Label.HAIR)).all()
    assert (masks["mouth"] == np.isin(labels, [Label.INNER_MOUTH, Label.TEETH])).all()
    assert masks["mouth"].any(axis=(1, 2)).sum() > count // 3, "the demo's mouth opens"
    info = json.loads((out / "talkgs_export.json").read_text())
    assert info["identity"] == "demo" and info["frame_count"] == count


def test_export_refuses_missing_artifacts_and_busy_folders(
    demo_identity: DemoIdentity, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "nobody", str(tmp_path / "x"), "--results", str(tmp_path)]) == 2
    assert "missing: run the workflow for nobody first" in capfd.readouterr().err
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    results = str(Path(demo_identity.layout.root).parent)
    assert main(["export", "demo", str(busy), "--results", results]) == 2
    assert "already exists and is not empty" in capfd.readouterr().err
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]


@pytest.mark.realdata
def test_real_clip_export_passes_the_checker(real_identity, tmp_path: Path) -> None:
    results = Path(real_identity.root).parent
    out = tmp_path / "data" / "german"
    assert main(["export", "german", str(out), "--results", str(results)]) == 0
    masks = check_talkinggaussian_folder(out, 500)
    face_share = masks["face"].mean(axis=(1, 2))
    assert (face_share > 0.08).all(), "a face in every frame"  # his face fills ~15% of 512²
    assert masks["mouth"].any(axis=(1, 2)).mean() > 0.5, "he speaks: the mouth opens often"
    assert masks["hair"].any(axis=(1, 2)).all()
