"""Evaluation metrics: image metrics against scikit-image and torchmetrics, LMD/AUE by hand and on
the demo, the weight loaders on random networks saved in the real checkpoint formats, LPIPS
against an independent computation, SyncNet's protocol on synthetic embeddings, FID's Fréchet
distance by hand, ArcFace alignment and CPBD."""

from __future__ import annotations

import csv
import json
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from talkgs.errors import TalkgsError
from talkgs.features.openface import INTENSITY_AUS, PRESENCE_AUS, AuTable
from talkgs.metrics import NotComputed
from talkgs.weights import WeightStore
from weight_files import make_store


def astronaut_pair(size: tuple[int, int] = (200, 200)) -> tuple[np.ndarray, np.ndarray]:
    """A real photo crop and a blurred, noisy copy of it (uint8 RGB)."""
    from skimage import data

    truth = np.ascontiguousarray(data.astronaut()[20 : 20 + size[0], 120 : 120 + size[1]])
    noise = np.random.default_rng(0).integers(-12, 13, truth.shape)
    render = np.clip(cv2.GaussianBlur(truth, (5, 5), 1.2).astype(int) + noise, 0, 255)
    return render.astype(np.uint8), truth


def batch(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frame).permute(2, 0, 1)[None].double() / 255


# --- PSNR, SSIM, MS-SSIM ---------------------------------------------------------------------


def test_psnr_and_ssim_agree_with_scikit_image_and_torchmetrics() -> None:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    from torchmetrics.functional.image import (
        peak_signal_noise_ratio as tm_psnr,
    )
    from torchmetrics.functional.image import (
        structural_similarity_index_measure as tm_ssim,
    )

    from talkgs.metrics.image import psnr, ssim

    render, truth = astronaut_pair()
    ours = ssim(render, truth)
    reference = structural_similarity(
        render, truth, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        data_range=255, channel_axis=2,
    )  # fmt: skip
    assert abs(ours - reference) < 1e-4 and 0.5 < ours < 0.9
    # torchmetrics' per-pixel map is the same; its mean also covers the reflect-padded border.
    _, full = tm_ssim(batch(render), batch(truth), data_range=1.0, return_full_image=True)
    assert abs(ours - float(full[..., 5:-5, 5:-5].mean())) < 1e-4
    # float input in [0, 1] is the same frame
    assert abs(ssim(render / 255.0, truth / 255.0) - ours) < 1e-12
    assert ssim(truth, truth) == pytest.approx(1.0, abs=1e-12)

    value = psnr(render, truth)
    assert abs(value - peak_signal_noise_ratio(truth, render, data_range=255)) < 1e-4
    assert abs(value - float(tm_psnr(batch(render), batch(truth), data_range=1.0))) < 1e-4
    assert psnr(truth, truth) == float("inf")


def test_ms_ssim_agrees_with_torchmetrics_and_is_not_computed_on_small_frames() -> None:
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

    from talkgs.metrics.image import MS_SSIM_MIN_SIZE, ms_ssim

    assert MS_SSIM_MIN_SIZE == 176
    for size in ((200, 200), (176, 240)):
        render, truth = astronaut_pair(size)
        ours = ms_ssim(render, truth)
        reference = multiscale_structural_similarity_index_measure(
            batch(render), batch(truth), data_range=1.0
        )
        assert isinstance(ours, float) and abs(ours - float(reference)) < 1e-4 and ours < 0.99
    small = ms_ssim(*astronaut_pair((128, 128)))
    assert isinstance(small, NotComputed)
    assert "176 px" in small.reason and "128×128" in small.reason
    with pytest.raises(ValueError):  # torchmetrics refuses it too
        multiscale_structural_similarity_index_measure(
            batch(astronaut_pair((175, 200))[0]), batch(astronaut_pair((175, 200))[1]),
            data_range=1.0,
        )  # fmt: skip
    assert isinstance(ms_ssim(*astronaut_pair((175, 200))), NotComputed)


# --- LMD, AUE ---------------------------------------------------------------------------------


def test_lmd_by_hand() -> None:
    from talkgs.metrics.landmark_metrics import lmd_per_frame

    rng = np.random.default_rng(1)
    truth = rng.uniform(100, 400, (3, 68, 2))
    render = truth.copy()
    render[1, :] += (7.0, -2.0)  # a whole-face shift is removed by the mean-centring
    render[2, 50] += (3.0, 4.0)  # one mouth point moved by 5 px
    render[2, 10] += (30.0, 0.0)  # a jaw point is not a mouth point
    # centring moves the 20 mouth points by (3, 4)/20: the moved one ends 5·19/20 away, the
    # 19 others 5/20 away; mean (4.75 + 19·0.25)/20 = 0.475 px, ×2 for 256-px frames
    expected = np.array([0.0, 0.0, 0.475])
    np.testing.assert_allclose(lmd_per_frame(truth, render, frame_size=512), expected, atol=1e-12)
    np.testing.assert_allclose(
        lmd_per_frame(truth, render, frame_size=256), 2 * expected, atol=1e-12
    )


def au_table(intensity: np.ndarray) -> AuTable:
    count = len(intensity)
    return AuTable(
        timestamp=np.arange(count) / 25,
        confidence=np.ones(count),
        success=np.ones(count, bool),
        intensity=intensity,
        presence=np.zeros((count, len(PRESENCE_AUS))),
    )


def test_aue_by_hand() -> None:
    from talkgs.metrics.landmark_metrics import AUE_LOWER, AUE_UPPER, aue_per_frame

    truth = np.zeros((2, len(INTENSITY_AUS)))
    render = truth.copy()
    render[0, INTENSITY_AUS.index("25")] = 2.0  # lower face
    render[0, INTENSITY_AUS.index("26")] = 1.0
    render[1, INTENSITY_AUS.index("45")] = 3.0  # upper face
    render[1, INTENSITY_AUS.index("09")] = 0.5  # lower face in HM-Talker's split (ANCHORS.md)
    a, b = au_table(truth), au_table(render)
    # auerror.py: per AU the mean over frames of the squared error, summed over the group
    np.testing.assert_allclose(aue_per_frame(a, b, AUE_LOWER), [4.0 + 1.0, 0.25])
    np.testing.assert_allclose(aue_per_frame(a, b, AUE_UPPER), [0.0, 9.0])
    assert aue_per_frame(a, b, AUE_LOWER).mean() == pytest.approx(2.625)
    # HM-Talker's groups, as ANCHORS.md gives them: the 17 OpenFace AUs, each in one group
    assert set(AUE_LOWER) == {"09", "10", "12", "14", "15", "17", "20", "23", "25", "26"}
    assert set(AUE_UPPER) == {"01", "02", "04", "05", "06", "07", "45"}
    with pytest.raises(ValueError, match="differ in length"):
        aue_per_frame(a, au_table(render[:1]), AUE_LOWER)


def evaluate_ground_truth(layout, folder: Path, shift: int) -> dict[str, dict[str, float]]:
    """The evaluate stage with the ground-truth frames as the render ("itself") and with a copy
    delayed by ``shift`` frames ("late": frame i shows frame i − shift); metric → means."""
    from talkgs import evaluate
    from talkgs.frames import read_rgb
    from talkgs.png import write_png

    truth = sorted(layout.path("gt_imgs").glob("*.jpg"))
    ids = [int(p.stem) for p in truth][-50:]  # the last 2 s, where the validation frames are
    (folder / "summary.json").write_text(json.dumps({"fps": 1.0, "model": "ground truth"}))
    (folder / "training.json").write_text(json.dumps({"seconds": 0.0}))
    means = {}
    for name, delay in (("itself", 0), ("late", shift)):
        frames = folder / name
        frames.mkdir()
        for i in ids:
            write_png(frames / f"{i:06d}.png", read_rgb(truth[i - delay]))
        document = evaluate.run(
            evaluate.EvaluateInputs(
                Path(layout.root),
                "truth",
                frames,
                folder / "summary.json",
                [folder / "training.json"],
            ),
            evaluate.EvaluateOutputs(
                folder / f"{name}.json", folder / f"{name}.csv", folder / f"{name}.jpg"
            ),
            evaluate.EvaluateParams(weights_dir=folder / "no-weights", cpbd=False),
        )
        means[name] = {
            k: document["metrics"][k]["mean"]
            for k in ("lmd", "aue_l", "aue_u", "lip_r", "lip_amplitude")
        }
    return means


def test_lmd_and_aue_of_the_demo_ground_truth(demo_trainable, tmp_path: Path) -> None:
    means = evaluate_ground_truth(demo_trainable, tmp_path, shift=3)
    itself = means["itself"]
    assert {k: itself[k] for k in ("lmd", "aue_l", "aue_u")} == {
        "lmd": 0.0,
        "aue_l": 0.0,
        "aue_u": 0.0,
    }
    assert itself["lip_r"] == pytest.approx(1.0) and itself["lip_amplitude"] == pytest.approx(1.0)
    assert means["late"]["lmd"] > 1.0  # px at 512²: the demo speaks
    assert means["late"]["aue_l"] > 0.05
    assert means["late"]["lip_r"] < 0.9  # three frames late: the mouth opens out of time
    # AUE-L/U per frame are the sums of squared AU differences over HM-Talker's groups
    # (ANCHORS.md), the AUs as the stage wrote them beside the metric
    frames = list(csv.DictReader((tmp_path / "late.csv").open()))
    groups = {
        "aue_l": ("09", "10", "12", "14", "15", "17", "20", "23", "25", "26"),
        "aue_u": ("01", "02", "04", "05", "06", "07", "45"),
    }
    for metric, aus in groups.items():
        for frame in frames:
            by_hand = sum(
                (float(frame[f"AU{au}_truth"]) - float(frame[f"AU{au}_render"])) ** 2 for au in aus
            )
            assert float(frame[metric]) == pytest.approx(by_hand, rel=1e-4, abs=1e-4), metric
    assert any(float(f["AU09_truth"]) != float(f["AU09_render"]) for f in frames)


def test_lip_motion_of_hand_made_sequences() -> None:
    from talkgs.metrics import NotComputed
    from talkgs.metrics.landmark_metrics import lip_motion, mouth_opening

    # the opening: mean inner-lip gap over the corner-to-corner width, in the image plane
    points = np.zeros((1, 478, 3))
    points[0, 61], points[0, 291] = (100, 200, 5), (160, 200, -5)  # 60 px wide
    for (a, b), gap in zip(((13, 14), (82, 87), (312, 317)), (12, 6, 6), strict=True):
        points[0, a], points[0, b] = (130, 195, 0), (130, 195 + gap, 9)
    assert mouth_opening(points)[0] == pytest.approx(8 / 60)

    t = np.arange(100)
    truth = 0.1 + 0.05 * np.sin(t / 4)  # a mouth that opens and closes
    assert lip_motion(truth, truth) == (pytest.approx(1.0), pytest.approx(1.0))
    r, amplitude = lip_motion(truth, 0.1 + 0.25 * (truth - 0.1))  # in time, a quarter as far
    assert r == pytest.approx(1.0) and amplitude == pytest.approx(0.25)
    r, amplitude = lip_motion(truth, np.full(100, 0.1))  # frozen
    assert isinstance(r, NotComputed) and "does not move" in r.reason
    assert amplitude == pytest.approx(0.0, abs=1e-9)
    late = lip_motion(truth[:-5], truth[5:])[0]  # five frames out of time
    assert late < 0.6
    r, amplitude = lip_motion(np.full(10, 0.1), truth[:10])
    assert isinstance(r, NotComputed) and isinstance(amplitude, NotComputed)


def test_renders_without_a_face_leave_landmark_metrics_uncomputed(
    demo_trainable, tmp_path: Path
) -> None:
    """A model that learnt nothing renders no face: the landmark metrics say so, PSNR stays."""
    from talkgs import evaluate
    from talkgs.frames import read_rgb
    from talkgs.png import write_png

    plate = read_rgb(demo_trainable.path("background"))
    frames = tmp_path / "blank"
    frames.mkdir()
    for i in sorted(int(p.stem) for p in demo_trainable.path("gt_imgs").glob("*.jpg"))[-4:]:
        write_png(frames / f"{i:06d}.png", plate)
    (tmp_path / "summary.json").write_text(json.dumps({"fps": 1.0, "model": "empty"}))
    (tmp_path / "training.json").write_text(json.dumps({"seconds": 0.0}))
    document = evaluate.run(
        evaluate.EvaluateInputs(
            Path(demo_trainable.root), "empty", frames, tmp_path / "summary.json",
            [tmp_path / "training.json"],
        ),
        evaluate.EvaluateOutputs(tmp_path / "m.json", tmp_path / "m.csv", tmp_path / "m.jpg"),
        evaluate.EvaluateParams(weights_dir=tmp_path / "no-weights", cpbd=False),
    )  # fmt: skip
    metrics = document["metrics"]
    for key in ("lmd", "aue_l", "aue_u", "lip_r", "lip_amplitude"):
        assert metrics[key]["mean"] is None and "no face" in metrics[key]["reason"], key
    assert metrics["psnr"]["mean"] is not None and metrics["psnr"]["mean"] < 25


@pytest.mark.realdata
def test_lmd_and_aue_of_the_real_clip_ground_truth(real_trainable, tmp_path: Path) -> None:
    means = evaluate_ground_truth(real_trainable, tmp_path, shift=3)
    assert means["itself"] == {
        "lmd": 0.0, "aue_l": 0.0, "aue_u": 0.0, "lip_r": pytest.approx(1.0),
        "lip_amplitude": pytest.approx(1.0),
    }  # fmt: skip
    assert means["late"]["lmd"] > 1.0
    assert means["late"]["aue_l"] > 0.05 and means["late"]["aue_u"] > 0.0
    assert means["late"]["lip_r"] < 0.9  # a real speaker three frames out of time


# --- LPIPS ------------------------------------------------------------------------------------


def random_alexnet_checkpoint(seed: int = 0) -> OrderedDict:
    """torchvision's alexnet-owt state dict layout with random values (classifier as
    zero-stride views: their real shapes, a few bytes on disk; LPIPS does not read them)."""
    generator = torch.Generator().manual_seed(seed)
    state: OrderedDict[str, torch.Tensor] = OrderedDict()
    for index, (cin, cout, k) in zip(
        (0, 3, 6, 8, 10), ((3, 64, 11), (64, 192, 5), (192, 384, 3), (384, 256, 3),
                           (256, 256, 3)), strict=True
    ):  # fmt: skip
        fan_in = cin * k * k
        state[f"features.{index}.weight"] = torch.randn(cout, cin, k, k, generator=generator) / (
            fan_in**0.5
        )
        state[f"features.{index}.bias"] = 0.01 * torch.randn(cout, generator=generator)
    for index, (cin, cout) in zip(
        (1, 4, 6), ((9216, 4096), (4096, 4096), (4096, 1000)), strict=True
    ):
        state[f"classifier.{index}.weight"] = torch.zeros(1).expand(cout, cin)
        state[f"classifier.{index}.bias"] = torch.zeros(1).expand(cout)
    return state


def random_lpips_heads(seed: int = 1) -> OrderedDict:
    generator = torch.Generator().manual_seed(seed)
    return OrderedDict(
        (f"lin{i}.model.1.weight", torch.rand(1, c, 1, 1, generator=generator))
        for i, c in enumerate((64, 192, 384, 256, 256))
    )


def lpips_store(tmp_path: Path, alexnet: OrderedDict | None = None) -> WeightStore:
    return make_store(
        tmp_path,
        {
            "lpips_alexnet": (
                "alexnet-owt-7be5be79.pth",
                ("legacy", alexnet if alexnet is not None else random_alexnet_checkpoint()),
            ),
            "lpips_alex_v0_1": ("lpips/v0.1/alex.pth", ("legacy", random_lpips_heads())),
        },
    )


def lpips_by_hand(alexnet: dict, heads: dict, a: np.ndarray, b: np.ndarray) -> float:
    """The LPIPS v0.1 formula written out with functional ops and numpy."""
    shift = np.array([-0.030, -0.088, -0.188])[:, None, None]
    scale = np.array([0.458, 0.448, 0.450])[:, None, None]

    def relu_features(image: np.ndarray) -> list[np.ndarray]:
        x = ((image.transpose(2, 0, 1) / 255.0 * 2 - 1) - shift) / scale
        x = torch.from_numpy(x).float()[None]
        outputs = []
        for index, (stride, pad, pool_before) in zip(
            (0, 3, 6, 8, 10), ((4, 2, False), (1, 2, True), (1, 1, True), (1, 1, False),
                               (1, 1, False)), strict=True
        ):  # fmt: skip
            if pool_before:
                x = F.max_pool2d(x, 3, 2)
            weight, bias = alexnet[f"features.{index}.weight"], alexnet[f"features.{index}.bias"]
            x = F.relu(F.conv2d(x, weight, bias, stride=stride, padding=pad))
            outputs.append(x[0].double().numpy())
        return outputs

    total = 0.0
    for layer, (fa, fb) in enumerate(zip(relu_features(a), relu_features(b), strict=True)):
        na = fa / (np.sqrt((fa**2).sum(0, keepdims=True)) + 1e-10)
        nb = fb / (np.sqrt((fb**2).sum(0, keepdims=True)) + 1e-10)
        weights = heads[f"lin{layer}.model.1.weight"].double().numpy().reshape(-1, 1, 1)
        total += float((weights * (na - nb) ** 2).sum(0).mean())
    return total


def test_lpips_loads_both_real_formats_and_matches_the_formula(tmp_path: Path) -> None:
    from talkgs.metrics.lpips import load_lpips, lpips_or_reason

    store = lpips_store(tmp_path)
    model = lpips_or_reason(store)
    assert not isinstance(model, NotComputed)
    render, truth = astronaut_pair((64, 80))
    assert model.distance(truth, truth) == 0.0
    reference = lpips_by_hand(random_alexnet_checkpoint(), random_lpips_heads(), render, truth)
    assert reference > 1e-3
    assert model.distance(render, truth) == pytest.approx(reference, rel=1e-4)
    assert load_lpips(store).distance(render / 255.0, truth / 255.0) == pytest.approx(
        reference, rel=1e-4
    )


def test_lpips_is_a_differentiable_frozen_training_loss(tmp_path: Path) -> None:
    from talkgs.metrics.lpips import load_lpips

    model = load_lpips(lpips_store(tmp_path))
    render, truth = astronaut_pair((64, 64))
    image = torch.from_numpy(render / 255.0).float().requires_grad_(True)
    target = torch.from_numpy(truth / 255.0).float()
    loss = model.loss(image, target)
    assert loss.ndim == 0 and loss.item() == pytest.approx(model.distance(render, truth), rel=1e-5)
    loss.backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in model.parameters())


def test_lpips_weights_absent_or_wrong(tmp_path: Path) -> None:
    from talkgs.metrics.lpips import load_lpips, lpips_or_reason

    store = lpips_store(tmp_path)
    heads = store.directory / "lpips/v0.1/alex.pth"
    heads.unlink()
    reason = lpips_or_reason(store)
    sha = store.spec("lpips_alex_v0_1").sha256
    assert isinstance(reason, NotComputed)
    assert str(heads) in reason.reason and sha in reason.reason
    assert "evaluate.lpips_alex_v0_1: true" in reason.reason
    with pytest.raises(TalkgsError) as error:
        load_lpips(store)
    message = str(error.value)
    assert "\n" not in message and str(heads) in message and sha in message
    assert "evaluate.lpips_alex_v0_1" in message

    unknown = random_alexnet_checkpoint()
    unknown["features.13.weight"] = torch.zeros(3)
    with pytest.raises(TalkgsError, match=r"unknown keys features\.13\.weight"):
        load_lpips(lpips_store(tmp_path / "unknown", unknown))
    missing = random_alexnet_checkpoint()
    del missing["features.6.bias"]
    with pytest.raises(TalkgsError, match=r"missing keys features\.6\.bias"):
        load_lpips(lpips_store(tmp_path / "missing", missing))


# --- SyncNet ----------------------------------------------------------------------------------


def random_syncnet_checkpoint() -> OrderedDict:
    """syncnet_v2.model's layout: S's state dict without the num_batches_tracked counters
    (saved before PyTorch 0.4.1), random values, BatchNorm statistics non-trivial."""
    from talkgs.metrics.syncnet import SyncNet

    torch.manual_seed(0)
    state = SyncNet().state_dict()
    for key, value in state.items():
        if key.endswith("running_var"):
            value.uniform_(0.5, 2.0)
        elif key.endswith("running_mean"):
            value.normal_(0, 0.1)
    return OrderedDict((k, v) for k, v in state.items() if not k.endswith("num_batches_tracked"))


def test_syncnet_loads_the_real_format_and_embeds_windows(tmp_path: Path) -> None:
    from talkgs.metrics.syncnet import (
        embed,
        face_boxes,
        face_crops,
        load_syncnet,
        sync_scores,
        syncnet_or_reason,
        window_count,
    )

    checkpoint = random_syncnet_checkpoint()
    store = make_store(tmp_path, {"syncnet_v2": ("syncnet_v2.model", ("legacy", checkpoint))})
    model = syncnet_or_reason(store)
    assert not isinstance(model, NotComputed)
    assert torch.equal(model.state_dict()["netcnnlip.18.weight"], checkpoint["netcnnlip.18.weight"])

    frame_count = 8
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (frame_count, 256, 256, 3), dtype=np.uint8)
    mouth = np.tile(np.array([[80.0, 60.0], [180.0, 200.0]]), (34, 1))  # box 100×140 px
    ibug68 = np.repeat(mouth[None], frame_count, axis=0)
    samples = 0.1 * rng.standard_normal(frame_count * 640 + 100)
    assert window_count(frame_count, len(samples)) == 3
    lips, audio = embed(model, face_crops(frames, face_boxes(ibug68)), samples)
    assert lips.shape == audio.shape == (3, 1024) and np.isfinite(lips).all()
    scores = sync_scores(lips, audio)
    assert scores.mean_distances.shape == (31,)
    # at offset 0 each lip window is compared with its own audio window (calc_pdist)
    by_hand = np.linalg.norm(lips - audio, axis=1).mean()
    assert scores.mean_distances[15] == pytest.approx(by_hand, rel=1e-4)
    # LSE-D is the smallest mean distance, LSE-C the median less that (ANCHORS.md)
    assert scores.sync_d == pytest.approx(scores.mean_distances.min())
    assert scores.sync_c == pytest.approx(
        np.median(scores.mean_distances) - scores.mean_distances.min()
    )

    extra = OrderedDict(checkpoint, **{"netfclip.4.weight": torch.zeros(1)})
    with pytest.raises(TalkgsError, match=r"not syncnet_python's SyncNet state dict"):
        load_syncnet(make_store(tmp_path / "x", {"syncnet_v2": ("s.model", ("legacy", extra))}))
    absent = make_store(tmp_path / "y", {"syncnet_v2": ("syncnet_v2.model", checkpoint)})
    (absent.directory / "syncnet_v2.model").unlink()
    reason = syncnet_or_reason(absent)
    assert isinstance(reason, NotComputed) and "syncnet_v2.model" in reason.reason


def test_sync_protocol_finds_a_known_offset_on_synthetic_embeddings() -> None:
    from talkgs.metrics.syncnet import sync_scores

    rng = np.random.default_rng(0)
    windows, delay = 120, 4
    audio = rng.standard_normal((windows, 64))
    lips = np.empty_like(audio)  # lips of window i say what the audio says at i + delay
    for i in range(windows):
        j = min(i + delay, windows - 1)
        lips[i] = audio[j] + 0.1 * rng.standard_normal(64)
    synced = sync_scores(lips, audio)
    assert synced.offset == -delay  # syncnet_python's sign: vshift − argmin
    unsynced = sync_scores(rng.standard_normal((windows, 64)), audio)
    assert synced.sync_c > 5.0 and unsynced.sync_c < 1.0
    assert synced.sync_d < unsynced.sync_d

    # the curve by brute force: zero vectors stand in for audio outside the clip
    expected = np.zeros(31)
    for k in range(31):
        for i in range(windows):
            j = i + k - 15
            other = audio[j] if 0 <= j < windows else np.zeros(64)
            expected[k] += np.linalg.norm(lips[i] - other + 1e-6) / windows
    np.testing.assert_allclose(synced.mean_distances, expected, rtol=1e-5)
    assert synced.sync_d == pytest.approx(expected.min(), rel=1e-5)
    assert synced.sync_c == pytest.approx(np.median(expected) - expected.min(), rel=1e-5)


def test_mfcc_follows_python_speech_features_step_by_step() -> None:
    from talkgs.metrics.syncnet import mfcc

    rng = np.random.default_rng(2)
    samples = np.round(0.2 * rng.standard_normal(1000) * 32767) / 32767
    ours = mfcc(samples)
    assert ours.shape == (13, 1 + int(np.ceil((1000 - 400) / 160)))
    # one frame (the second) by the book, with explicit loops for the DCT and the filters
    signal = np.round(samples * 32767)
    emphasised = np.append(signal[0], signal[1:] - 0.97 * signal[:-1])
    frame = emphasised[160:560]
    spectrum = np.fft.rfft(frame, 512)
    power = np.abs(spectrum) ** 2 / 512
    mel = np.linspace(0, 2595 * np.log10(1 + 8000 / 700), 28)
    edges = np.floor(513 * 700 * (10 ** (mel / 2595) - 1) / 16000)
    energies = np.zeros(26)
    for j in range(26):
        for k in range(257):
            if edges[j] <= k < edges[j + 1]:
                energies[j] += power[k] * (k - edges[j]) / (edges[j + 1] - edges[j])
            elif edges[j + 1] <= k < edges[j + 2]:
                energies[j] += power[k] * (edges[j + 2] - k) / (edges[j + 2] - edges[j + 1])
    logs = np.log(energies)
    cepstra = np.array(
        [
            np.sqrt((1 if n == 0 else 2) / 26)
            * sum(logs[m] * np.cos(np.pi * n * (2 * m + 1) / 52) for m in range(26))
            for n in range(13)
        ]
    )
    cepstra *= 1 + 11 * np.sin(np.pi * np.arange(13) / 22)
    cepstra[0] = np.log(power.sum())
    np.testing.assert_allclose(ours[:, 1], cepstra, rtol=1e-9, atol=1e-9)


def test_face_crop_takes_syncnet_pythons_rows_and_columns() -> None:
    from talkgs.metrics.syncnet import CROP_PAD_VALUE, face_crops

    rows = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 256, axis=1)
    frame = np.repeat(rows[:, :, None], 3, axis=2)
    # centre (128, 100), half-size 40: rows [60, 172), columns [72, 184) → 112 px → 224 px
    crop = face_crops(frame[None], np.array([[128.0, 100.0, 40.0]]))[0]
    assert crop.shape == (224, 224, 3) and crop.dtype == np.uint8
    assert abs(int(crop[0, 112, 0]) - 60) <= 1 and abs(int(crop[-1, 112, 0]) - 171) <= 1
    # near the top edge the crop reaches into syncnet_python's grey padding
    top = face_crops(frame[None], np.array([[128.0, 20.0, 40.0]]))[0]
    assert int(top[0, 112, 0]) == CROP_PAD_VALUE


# --- FID --------------------------------------------------------------------------------------


def test_frechet_distance_by_hand() -> None:
    from talkgs.metrics.fid import fid, frechet_distance

    rng = np.random.default_rng(3)
    rotation, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    a, b = np.array([1.0, 2.0, 0.5, 3.0]), np.array([4.0, 1.0, 0.5, 2.0])
    mu1, mu2 = rng.standard_normal(4), rng.standard_normal(4)
    sigma1 = rotation @ np.diag(a) @ rotation.T  # same eigenvectors: the product's root is
    sigma2 = rotation @ np.diag(b) @ rotation.T  # Q diag(√(ab)) Qᵀ
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(0.0, 4.0, 1.0, 1.0) == pytest.approx(1.0 + 1.0)  # 1-D: Δμ² + (σ₁−σ₂)²
    features = rng.standard_normal((50, 3))
    assert abs(fid(features, features)) < 1e-8
    assert fid(features, features + 1.0) == pytest.approx(3.0, rel=1e-6)
    # fewer frames than dimensions (low-rank covariances): the singular-value route agrees with
    # sqrtm of the covariance product
    few, other = rng.standard_normal((12, 40)), 0.5 + 2 * rng.standard_normal((9, 40))
    mu1, sigma1 = few.mean(axis=0), np.cov(few, rowvar=False)
    mu2, sigma2 = other.mean(axis=0), np.cov(other, rowvar=False)
    assert fid(few, other) == pytest.approx(frechet_distance(mu1, sigma1, mu2, sigma2), rel=1e-6)
    assert abs(fid(few, few)) < 1e-8


def test_fid_inception_loads_the_real_format(tmp_path: Path) -> None:
    from talkgs.metrics.fid import (
        FidInception,
        fid_inception_or_reason,
        inception_features,
        load_fid_inception,
    )

    torch.manual_seed(0)
    state = FidInception().state_dict()
    state["fc.weight"] = torch.zeros(1).expand(1008, 2048)  # the 1008 TF classes, unused
    state["fc.bias"] = torch.zeros(1008)
    file = "pt_inception-2015-12-05-6726825d.pth"
    store = make_store(tmp_path, {"fid_inception": (file, ("legacy", state))})
    model = fid_inception_or_reason(store)
    assert not isinstance(model, NotComputed)
    render, truth = astronaut_pair((96, 96))
    features = inception_features(model, [render, truth, truth])
    assert features.shape == (3, 2048) and np.isfinite(features).all()
    np.testing.assert_allclose(features[1], features[2])
    assert np.abs(features[0] - features[1]).max() > 1e-3 * np.abs(features[1]).max()

    state["Mixed_7c.extra.weight"] = torch.zeros(1)
    with pytest.raises(TalkgsError, match=r"unknown keys Mixed_7c\.extra\.weight"):
        load_fid_inception(make_store(tmp_path / "x", {"fid_inception": (file, state)}))


# --- CSIM -------------------------------------------------------------------------------------


def test_arcface_alignment_and_iresnet_checkpoint(tmp_path: Path) -> None:
    from talkgs.metrics.csim import (
        ARCFACE_TEMPLATE,
        IResNet,
        align_face,
        cosine_similarity,
        embeddings,
        five_points,
        load_arcface,
        similarity_transform,
    )

    # landmarks that are the template scaled ×3, rotated 10° and moved: the alignment undoes it
    angle = np.deg2rad(10)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    placed = ARCFACE_TEMPLATE @ (3 * rotation).T + (40, 25)
    ibug68 = np.zeros((68, 2))
    ibug68[36:42], ibug68[42:48], ibug68[30], ibug68[48], ibug68[54] = placed[:5]
    np.testing.assert_allclose(five_points(ibug68), placed)
    matrix = similarity_transform(placed, ARCFACE_TEMPLATE)
    np.testing.assert_allclose(placed @ matrix[:, :2].T + matrix[:, 2], ARCFACE_TEMPLATE,
                               atol=1e-9)  # fmt: skip
    frame = np.zeros((512, 512, 3), np.uint8)
    x, y = np.round(placed[2]).astype(int)
    frame[y - 3 : y + 4, x - 3 : x + 4] = 255  # a white dot on the nose tip
    face = align_face(frame, ibug68)
    assert face.shape == (112, 112, 3)
    bright = np.argwhere(face[..., 0] > 128).mean(axis=0)
    np.testing.assert_allclose(bright[::-1], ARCFACE_TEMPLATE[2], atol=1.0)

    layers = (2, 2, 2, 2)  # IResNet-18: the same key layout as the r100 checkpoint, smaller
    torch.manual_seed(0)
    state = IResNet(layers).state_dict()
    some_keys = {"conv1.weight", "prelu.weight", "layer1.0.downsample.0.weight",
                 "layer4.1.bn3.running_var", "fc.weight", "features.running_mean"}  # fmt: skip
    assert some_keys <= set(state)
    store = make_store(tmp_path, {"arcface_r100": ("r18/backbone.pth", state)})
    model = load_arcface(store, layers=layers)
    vectors = embeddings(model, [face, face, np.full_like(face, 90)])
    assert vectors.shape == (3, 512)
    similarity = cosine_similarity(vectors[0], vectors)
    assert similarity[0] == pytest.approx(1.0) and similarity[1] == pytest.approx(1.0)
    assert similarity[2] < 0.999
    with pytest.raises(TalkgsError, match="missing keys"):
        load_arcface(store)  # the r100 layout does not fit an r18 file


# --- CPBD -------------------------------------------------------------------------------------


def test_cpbd_sharp_above_blurred_or_not_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from talkgs.metrics.cpbd import cpbd, load_cpbd

    compute = load_cpbd()
    if isinstance(compute, NotComputed):
        pytest.skip(compute.reason)
    _, truth = astronaut_pair((128, 128))
    sharp = cpbd(truth, compute)
    blurred = cpbd(cv2.GaussianBlur(truth, (9, 9), 3), compute)
    assert isinstance(sharp, float) and isinstance(blurred, float) and sharp > blurred + 0.05
    monkeypatch.setitem(sys.modules, "cpbd", None)  # as if the package were not installed
    absent = load_cpbd()
    assert isinstance(absent, NotComputed) and "pip install cpbd" in absent.reason
    assert cpbd(truth, absent) is absent


# --- the evaluate stage with every weight file present ------------------------------------------


def strided_random(
    shape: tuple[int, ...], generator: torch.Generator, scale: float
) -> torch.Tensor:
    """A tensor of ``shape`` whose values come from a small random storage (element
    [i, j, …] = base[i + j + …]): a non-degenerate network in a checkpoint of a few kilobytes."""
    base = scale * torch.randn(sum(shape) + 1, generator=generator)
    return base.as_strided(shape, (1,) * len(shape))


def random_arcface_r100() -> OrderedDict:
    """The r100 backbone's key layout (what ``backbone.pth`` holds), random values, tiny file."""
    from talkgs.metrics.csim import IResNet

    generator = torch.Generator().manual_seed(3)
    state = OrderedDict()
    for key, value in IResNet().state_dict().items():
        if key.endswith("num_batches_tracked"):
            state[key] = value
        elif key.endswith("running_var"):
            state[key] = torch.ones(1).expand(value.shape)
        elif key.endswith(("running_mean", "bias")):
            state[key] = torch.zeros(1).expand(value.shape)
        elif value.ndim == 1:  # BatchNorm / PReLU weights
            state[key] = torch.ones(1).expand(value.shape) * (0.25 if "prelu" in key else 1)
        else:
            # a tenth of He's scale: with identity BatchNorm statistics the 50 residual blocks
            # then neither overflow (NaN at full scale) nor make every face the same
            fan_in = value[0].numel()
            state[key] = strided_random(tuple(value.shape), generator, 0.1 * (2 / fan_in) ** 0.5)
    return state


def every_weight_store(folder: Path) -> WeightStore:
    from talkgs.metrics.fid import FidInception

    torch.manual_seed(0)
    inception = FidInception().state_dict()
    inception["fc.weight"] = torch.zeros(1).expand(1008, 2048)
    inception["fc.bias"] = torch.zeros(1008)
    return make_store(
        folder,
        {
            "lpips_alexnet": ("alexnet-owt-7be5be79.pth", ("legacy", random_alexnet_checkpoint())),
            "lpips_alex_v0_1": ("lpips/v0.1/alex.pth", ("legacy", random_lpips_heads())),
            "syncnet_v2": ("syncnet_v2.model", ("legacy", random_syncnet_checkpoint())),
            "fid_inception": ("pt_inception-2015-12-05-6726825d.pth", ("legacy", inception)),
            "arcface_r100": ("arcface/backbone.pth", random_arcface_r100()),
        },
    )


def test_evaluate_stage_with_every_weight_file_present(demo_trainable, tmp_path: Path) -> None:
    """The stage's own wiring of LPIPS, SyncNet (audio slicing, crops, offsets, and the audio of
    a cross-driven mp4), FID and CSIM: every metric computed and finite, the same twice, and
    better for the ground truth than for a blurred copy (Sync-C/D excepted: with random weights
    no direction is right)."""
    from talkgs import evaluate
    from talkgs.features.audio import audio_segment
    from talkgs.frames import read_rgb
    from talkgs.media import write_video
    from talkgs.png import write_png

    store = every_weight_store(tmp_path)
    layout = demo_trainable
    val = json.loads(layout.path("transforms_val").read_text())["frames"]
    ids = [f["img_id"] for f in val]
    truth = [read_rgb(layout.path("gt_imgs") / f"{i:06d}.jpg") for i in ids]
    (tmp_path / "summary.json").write_text(json.dumps({"fps": 1.0, "model": "ground truth"}))
    (tmp_path / "training.json").write_text(json.dumps({"seconds": 0.0}))
    wav = tmp_path / "driver.wav"
    audio_segment(layout.path("audio"), ids[0], len(ids), wav)
    documents = {}
    for name, blur in (("truth", 0.0), ("blurred", 3.0), ("truth_again", 0.0)):
        frames = tmp_path / name
        frames.mkdir()
        shown = [cv2.GaussianBlur(f, (0, 0), blur) if blur else f for f in truth]
        for i, frame in zip(ids, shown, strict=True):
            write_png(frames / f"{i:06d}.png", frame)
        cross = tmp_path / f"{name}_cross.mp4"  # driven by its own validation audio
        write_video(cross, shown, 25, audio=wav)
        documents[name] = evaluate.run(
            evaluate.EvaluateInputs(
                Path(layout.root), name, frames, tmp_path / "summary.json",
                [tmp_path / "training.json"], {"self": cross},
                {"self": layout.path("gt_imgs")},
            ),
            evaluate.EvaluateOutputs(
                tmp_path / f"{name}.json", tmp_path / f"{name}.csv", tmp_path / f"{name}.jpg"
            ),
            evaluate.EvaluateParams(
                weights_manifest=store.manifest_path, weights_dir=store.directory, cpbd_frames=4
            ),
        )  # fmt: skip
    metrics = {name: doc["metrics"] for name, doc in documents.items()}
    weighted = ("lpips", "sync_d", "sync_c", "fid", "csim")
    for name in ("truth", "blurred"):
        for key in weighted:
            value = metrics[name][key]["mean"]
            assert value is not None and np.isfinite(value), (name, key, metrics[name][key])
        cross = documents[name]["cross"]["self"]
        assert np.isfinite(cross["sync_d"]["mean"]) and np.isfinite(cross["sync_c"]["mean"])
    for key in weighted:  # deterministic
        assert metrics["truth_again"][key] == metrics["truth"][key], key
    assert documents["truth_again"]["cross"] == documents["truth"]["cross"]
    assert metrics["truth"]["lpips"]["mean"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["blurred"]["lpips"]["mean"] > 1e-3
    assert metrics["truth"]["fid"]["mean"] < metrics["blurred"]["fid"]["mean"]
    assert metrics["truth"]["csim"]["mean"] > metrics["blurred"]["csim"]["mean"]
    assert metrics["truth"]["cpbd"]["mean"] > metrics["blurred"]["cpbd"]["mean"]
    # the cross render's lips against the driver's recorded mouth (here its own frames, as mp4)
    lips = documents["truth"]["cross"]["self"]
    assert lips["lip_r"]["mean"] > 0.95
    assert lips["lip_amplitude"]["mean"] == pytest.approx(1.0, abs=0.15)


def test_seam_is_zero_for_the_recording_and_grows_with_an_edge_that_is_not_there() -> None:
    from talkgs.face.labels import Label
    from talkgs.metrics.seam import seam, seam_band

    # a smooth frame; the head (hair) above row 300 of the 512² label map, torso below
    rows = np.linspace(60, 200, 128)[:, None] + np.linspace(0, 30, 128)[None, :]
    truth = np.repeat(rows[..., None], 3, axis=2).astype(np.uint8)
    labels = np.full((512, 512), Label.TORSO, np.uint8)
    labels[:300] = Label.HAIR
    labels[:, :40] = Label.BACKGROUND  # the head's outline against the plate is not a seam
    band = seam_band(labels, 128)
    assert band[74:76, 20:-1].all() and not band[:70].any() and not band[:, :9].any()
    assert seam(truth, truth, labels) == 0.0
    # the learnt head a shade off the layer below it: a straight edge along the boundary
    cut = truth.copy()
    cut[:75] = np.clip(cut[:75].astype(int) + 25, 0, 255).astype(np.uint8)
    assert seam(cut, truth, labels) > 5
    # the same offset away from the boundary leaves the seam alone
    far = truth.copy()
    far[:40] = np.clip(far[:40].astype(int) + 25, 0, 255).astype(np.uint8)
    assert seam(far, truth, labels) == 0.0
    # a boundary the render smears counts too, less than the edge
    smeared = cv2.GaussianBlur(truth, (0, 0), 3)
    assert 0 < seam(smeared, truth, labels) < seam(cut, truth, labels)
    # no torso beside the head: not computed, never 0
    assert isinstance(seam(truth, truth, np.full((512, 512), Label.HAIR, np.uint8)), NotComputed)
