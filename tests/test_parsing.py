"""The parsing stage with the default backend, checked against the demo's ground truth."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
import yaml

from conftest import DemoIdentity, first_frames, parsing_args, run_parsing_backend
from talkgs.checksum import sha256_of
from talkgs.cli import main
from talkgs.face import regions
from talkgs.face.labels import Label
from talkgs.face.landmarks import IBUG68


def label_maps(demo: DemoIdentity) -> np.ndarray:
    paths = sorted(demo.layout.path("parsing").glob("*.png"))
    return np.stack([cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in paths])


def test_one_label_map_per_frame(demo_identity: DemoIdentity) -> None:
    labels = label_maps(demo_identity)
    assert labels.shape == (demo_identity.truth["frame_count"], 512, 512)
    assert labels.dtype == np.uint8 and labels.max() < len(Label)
    # first, middle and last frame, and the one with the most hair below the jaw line (the
    # demo's hair reaches below it beside the cheeks)
    assert cv2.imread(str(demo_identity.layout.path("parsing_preview"))).shape == (512, 2048, 3)


def test_inner_mouth_area_follows_the_mouth_opening(demo_identity: DemoIdentity) -> None:
    labels = label_maps(demo_identity)
    area = ((labels == Label.INNER_MOUTH) | (labels == Label.TEETH)).sum(axis=(1, 2))
    opening = np.array([f["mouth_open"] for f in demo_identity.truth["frames"]])
    r = np.corrcoef(area, opening)[0, 1]
    assert r >= 0.8, f"r = {r:.3f}"


def _hull(points: np.ndarray) -> np.ndarray:
    """The filled convex hull of ``points`` [K, 2] in a 512² frame: a region drawn without the
    parser's polygon lists, so the check does not share their definition."""
    mask = np.zeros((512, 512), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points).astype(np.int32)), 1)
    return mask == 1


def test_mouth_and_face_are_where_the_demo_put_them(demo_identity: DemoIdentity) -> None:
    labels = label_maps(demo_identity)
    truth = demo_identity.truth_landmarks
    ious = []
    for index in range(len(labels)):
        mouth = np.isin(labels[index], [Label.LIPS, Label.INNER_MOUTH, Label.TEETH])
        # the outer lip contour of the iBUG-68 scheme (points 48–59) on the true landmarks
        true_mouth = _hull(truth[index][IBUG68[48:60]])
        ious.append((mouth & true_mouth).sum() / (mouth | true_mouth).sum())
        face = labels[index] == Label.FACE
        # the whole true mesh, brow to chin and ear to ear
        inside = (face & _hull(truth[index])).sum() / face.sum()
        assert inside > 0.9, f"frame {index}: {inside:.2f} of face pixels inside the true oval"
    assert min(ious) > 0.6 and np.median(ious) > 0.75, f"mouth IoU {np.median(ious):.2f}"


def test_hair_above_torso_below(demo_identity: DemoIdentity) -> None:
    labels = label_maps(demo_identity)[0]
    truth = demo_identity.truth_landmarks[0]
    forehead_y, chin_y = truth[regions.FOREHEAD, 1], truth[regions.CHIN, 1]
    hair_y = np.nonzero(labels == Label.HAIR)[0]
    torso_y = np.nonzero(labels == Label.TORSO)[0]
    assert np.median(hair_y) < forehead_y + 0.3 * (chin_y - forehead_y)
    assert np.median(torso_y) > chin_y
    assert (labels == Label.BACKGROUND).mean() > 0.05


def test_bisenet_backend_runs_through_the_cli(demo_identity: DemoIdentity, tmp_path: Path) -> None:
    """`talkgs parsing --backend bisenet` with random weights in the real checkpoint format."""
    from talkgs.face.bisenet import BiSeNet

    frames, landmarks_npz = first_frames(demo_identity, tmp_path)
    weights = tmp_path / "weights"
    weights.mkdir()
    torch.manual_seed(0)
    torch.save(BiSeNet().state_dict(), weights / "79999_iter.pth")
    manifest = tmp_path / "weights.yaml"
    real = yaml.safe_load(Path("resources/weights.yaml").read_text())["weights"]
    entry = dict(real["bisenet_face_parsing"], sha256=sha256_of(weights / "79999_iter.pth"))
    manifest.write_text(yaml.safe_dump({"weights": {"bisenet_face_parsing": entry}}))
    maps = run_parsing_backend(
        "bisenet", frames, landmarks_npz, manifest, weights, tmp_path / "parsing"
    )
    assert len(maps) == 2 and maps[0].shape == (512, 512) and maps[0].max() < len(Label)


def test_bisenet_without_weights_says_which_file(
    demo_identity: DemoIdentity, tmp_path: Path, capfd
) -> None:
    layout = demo_identity.layout
    args = parsing_args(
        layout.path("frames"),
        layout.path("landmarks"),
        tmp_path / "p",
        "--backend",
        "bisenet",
        "--weights-dir",
        str(tmp_path / "none"),
    )
    code = main(args)
    err = capfd.readouterr().err.strip().splitlines()[-1]
    assert code == 2
    assert "79999_iter.pth: weight file absent (sha256 468e13ca" in err
    assert "needed by parsing.backend: bisenet" in err
    assert not (tmp_path / "p").exists()


def test_same_frames_give_the_same_files(demo_identity: DemoIdentity, tmp_path: Path) -> None:
    from talkgs.face import landmarks, parsing

    frames, _ = first_frames(demo_identity, tmp_path / "identity", count=6)
    outputs = []
    for run in ("a", "b"):
        landmarks.run(frames, tmp_path / f"{run}.npz", landmarks.LandmarksParams())
        parsing.run(
            frames,
            tmp_path / f"{run}.npz",
            tmp_path / run,
            tmp_path / f"{run}.jpg",
            parsing.ParsingParams(),
        )
        files = [tmp_path / f"{run}.npz", *sorted((tmp_path / run).glob("*.png"))]
        outputs.append([f.read_bytes() for f in files])
    assert outputs[0] == outputs[1]


def test_neck_is_skin_not_the_dark_collar(demo_identity: DemoIdentity) -> None:
    """The demo's black turtleneck sits in the neck zone; only skin may be labelled neck."""
    labels = label_maps(demo_identity)
    for index in (0, len(labels) // 2):
        rgb = cv2.imread(str(demo_identity.layout.path("frames") / f"{index:06d}.jpg"))
        luma = cv2.cvtColor(rgb, cv2.COLOR_BGR2GRAY)
        neck, face = labels[index] == Label.NECK, labels[index] == Label.FACE
        assert neck.sum() > 500, "the skin under the chin is neck"
        assert np.percentile(luma[neck], 5) > 0.4 * np.median(luma[face]), "no near-black neck"


def test_sam2_model_choice_names_its_own_checkpoint(
    demo_identity: DemoIdentity, tmp_path: Path, capfd
) -> None:
    frames, landmarks_npz = first_frames(demo_identity, tmp_path / "identity")
    code = main(
        parsing_args(
            frames,
            landmarks_npz,
            tmp_path / "p",
            "--backend",
            "sam2",
            "--sam2-model",
            "small",
            "--weights-dir",
            str(tmp_path / "none"),
        )
    )
    err = capfd.readouterr().err.strip().splitlines()[-1]
    assert code == 2
    assert "sam2.1_hiera_small.pt: weight file absent (sha256 6d1aa6f3" in err
    assert "needed by parsing.sam2_model: small" in err


def test_hair_below_the_ears_is_hair_and_moves_with_the_head(long_hair_identity) -> None:
    """On a real clip of a speaker whose hair falls below the ears: beside the face, from ear
    level down to the mouth, the person is hair (not torso, as a jaw-line split made it); the
    bottom of the frame is torso and neck; and consecutive frames' hair and torso masks agree
    (intersection over union ≥ 0.9 on average, ≥ 0.8 in every pair: the label moves with the
    head rather than flickering)."""
    from talkgs.face.landmarks import load

    p = long_hair_identity.path
    labels = np.stack(
        [cv2.imread(str(f), cv2.IMREAD_UNCHANGED) for f in sorted(p("parsing").glob("*.png"))]
    )
    marks = load(p("landmarks")).landmarks
    beside, bottom = [], []
    for frame, mark in zip(labels, marks, strict=True):
        # Face Mesh 234/454: the face's sides at the ears; 61/291: the mouth corners
        width = mark[454, 0] - mark[234, 0]
        top, low = int(max(mark[234, 1], mark[454, 1])), int(min(mark[61, 1], mark[291, 1]))
        for x0, x1 in ((mark[234, 0] - 0.2 * width, mark[234, 0] - 0.05 * width),
                       (mark[454, 0] + 0.05 * width, mark[454, 0] + 0.2 * width)):  # fmt: skip
            region = frame[top:low, int(x0) : int(x1)]
            beside.append(region[region != Label.BACKGROUND])
        strip = frame[-25:]
        bottom.append(strip[strip != Label.BACKGROUND])
    beside_px, bottom_px = np.concatenate(beside), np.concatenate(bottom)
    assert np.mean(beside_px == Label.HAIR) > 0.8
    assert np.mean(beside_px == Label.TORSO) < 0.05
    assert np.mean(np.isin(bottom_px, [Label.TORSO, Label.NECK])) > 0.95
    for parts in ([Label.HAIR], [Label.TORSO, Label.NECK]):
        masks = np.isin(labels, parts)
        iou = (masks[1:] & masks[:-1]).sum((1, 2)) / (masks[1:] | masks[:-1]).sum((1, 2))
        assert iou.mean() >= 0.9 and iou.min() >= 0.8, (parts, iou.mean(), iou.min())
    # the preview shows the hard case beside the first, middle and last frame
    assert cv2.imread(str(p("parsing_preview"))).shape == (512, 2048, 3)
