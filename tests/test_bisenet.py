"""The bisenet parsing backend: checkpoint-compatible network, verified loading, label mapping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from conftest import REPO, astronaut
from talkgs.checksum import sha256_of
from talkgs.errors import TalkgsError
from talkgs.face.bisenet import (
    CELEBAMASK_CLASSES,
    BiSeNet,
    BiSeNetParser,
    celebamask_to_labels,
)
from talkgs.face.labels import Label
from talkgs.weights import WeightStore

# The real 79999_iter.pth (zllrunning/face-parsing.PyTorch), as recorded in the manifest.
REAL_SHA256 = "468e13ca13a9b43cc0881a9f99083a430e9c0a38abd935431d1c28ee94b26567"
REAL_BYTES = 53_289_463

# A hand-checked sample of the real checkpoint's keys and shapes, read off upstream model.py and
# resnet.py (module names and channel counts); int64 num_batches_tracked is there too (the file
# pickles torch.LongStorage).
REAL_KEYS: dict[str, tuple[int, ...]] = {
    "cp.resnet.conv1.weight": (64, 3, 7, 7),
    "cp.resnet.bn1.num_batches_tracked": (),
    "cp.resnet.layer1.0.conv1.weight": (64, 64, 3, 3),
    "cp.resnet.layer2.0.downsample.0.weight": (128, 64, 1, 1),
    "cp.resnet.layer2.0.downsample.1.running_mean": (128,),
    "cp.resnet.layer4.1.bn2.running_var": (512,),
    "cp.arm16.conv.conv.weight": (128, 256, 3, 3),
    "cp.arm16.conv_atten.weight": (128, 128, 1, 1),
    "cp.arm16.bn_atten.running_mean": (128,),
    "cp.arm32.conv.conv.weight": (128, 512, 3, 3),
    "cp.conv_head32.conv.weight": (128, 128, 3, 3),
    "cp.conv_head16.bn.weight": (128,),
    "cp.conv_avg.conv.weight": (128, 512, 1, 1),
    "ffm.convblk.conv.weight": (256, 256, 1, 1),
    "ffm.conv1.weight": (64, 256, 1, 1),
    "ffm.conv2.weight": (256, 64, 1, 1),
    "conv_out.conv.conv.weight": (256, 256, 3, 3),
    "conv_out.conv_out.weight": (19, 256, 1, 1),
    "conv_out16.conv.conv.weight": (64, 128, 3, 3),
    "conv_out16.conv_out.weight": (19, 64, 1, 1),
    "conv_out32.conv_out.weight": (19, 64, 1, 1),
}
# Inventory of the real file published with its sha256 (an independent converter's manifest):
# 191 tensors; without the aux heads and num_batches_tracked, 148 float32 tensors, 52,650,752 B.
REAL_TENSORS = 191
REAL_MAIN_FLOAT_TENSORS = 148
REAL_MAIN_FLOAT_BYTES = 52_650_752
REAL_BATCH_NORMS = 31  # 20 in the ResNet-18, 7 in the context path, 1 in the FFM, 3 in the heads


def write_manifest(directory: Path, sha256: str, size: int | None = None) -> Path:
    """A manifest with the real entry, its sha256 and size swapped for those of a test file."""
    real = yaml.safe_load((REPO / "resources" / "weights.yaml").read_text())
    entry = dict(real["weights"]["bisenet_face_parsing"], sha256=sha256, bytes=size)
    manifest = directory / "weights.yaml"
    manifest.write_text(yaml.safe_dump({"weights": {"bisenet_face_parsing": entry}}))
    return manifest


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A random BiSeNet saved the way upstream saved 79999_iter.pth, and its state dict."""
    torch.manual_seed(0)
    model = BiSeNet()
    # Random running statistics too, so the equality check below covers the BN buffers.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    directory = tmp_path_factory.mktemp("weights")
    state = {key: value.clone() for key, value in model.state_dict().items()}
    torch.save(model.state_dict(), directory / "79999_iter.pth")
    return directory, state


def test_real_manifest_entry() -> None:
    spec = WeightStore(REPO / "resources" / "weights.yaml").spec("bisenet_face_parsing")
    assert (spec.file, spec.sha256, spec.bytes) == ("79999_iter.pth", REAL_SHA256, REAL_BYTES)
    assert spec.used_by == "parsing.backend: bisenet"


def test_state_dict_matches_the_real_checkpoint() -> None:
    state = BiSeNet().state_dict()
    for key, shape in REAL_KEYS.items():
        assert tuple(state[key].shape) == shape, key
    assert state["cp.resnet.bn1.num_batches_tracked"].dtype == torch.int64
    assert len(state) == REAL_TENSORS
    assert sum(key.endswith("num_batches_tracked") for key in state) == REAL_BATCH_NORMS
    main = {
        key: value
        for key, value in state.items()
        if value.dtype == torch.float32 and not key.startswith(("conv_out16.", "conv_out32."))
    }
    assert len(main) == REAL_MAIN_FLOAT_TENSORS
    assert sum(value.numel() * 4 for value in main.values()) == REAL_MAIN_FLOAT_BYTES


def test_forward_shapes() -> None:
    torch.manual_seed(0)
    model = BiSeNet().eval()
    with torch.inference_mode():
        x = torch.randn(1, 3, 96, 64)  # [B, 3, H, W], not a multiple of 32 on purpose
        main, aux16, aux32 = model(x, return_aux=True)
        assert main.shape == aux16.shape == aux32.shape == (1, 19, 96, 64)
        assert torch.equal(model(x), main)


def test_parse_through_the_weight_store(saved: tuple[Path, dict[str, torch.Tensor]]) -> None:
    directory, state = saved
    weights = directory / "79999_iter.pth"
    manifest = write_manifest(directory, sha256_of(weights), weights.stat().st_size)
    parser = BiSeNetParser(WeightStore(manifest, directory))

    loaded = parser.model.state_dict()
    assert loaded.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key
    assert all(p.dtype == torch.float32 for p in parser.model.parameters())
    assert not parser.model.training

    rgb = astronaut()  # [512, 512, 3] uint8
    labels = parser.parse(rgb)
    assert labels.shape == (512, 512) and labels.dtype == np.uint8
    assert set(np.unique(labels).tolist()) <= {int(label) for label in Label}

    # A non-512 frame: the label map comes back at the frame's own size.
    crop = np.ascontiguousarray(rgb[100:400, 50:450])  # [300, 400, 3]
    labels = parser.parse(crop)
    assert labels.shape == (300, 400) and labels.dtype == np.uint8
    assert set(np.unique(labels).tolist()) <= {int(label) for label in Label}


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, REAL_SHA256)
    with pytest.raises(TalkgsError) as caught:
        BiSeNetParser(WeightStore(manifest, tmp_path))
    message = str(caught.value)
    assert "\n" not in message
    assert "79999_iter.pth" in message and REAL_SHA256 in message
    assert "parsing.backend: bisenet" in message


def test_checksum_mismatch_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "79999_iter.pth").write_bytes(b"not the checkpoint")
    manifest = write_manifest(tmp_path, REAL_SHA256)
    with pytest.raises(TalkgsError) as caught:
        BiSeNetParser(WeightStore(manifest, tmp_path))
    message = str(caught.value)
    assert "\n" not in message
    assert "79999_iter.pth" in message and f"expected {REAL_SHA256}" in message
    assert "parsing.backend: bisenet" in message


def test_wrong_state_dict_is_one_line(tmp_path: Path) -> None:
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "79999_iter.pth")
    manifest = write_manifest(tmp_path, sha256_of(tmp_path / "79999_iter.pth"))
    with pytest.raises(TalkgsError, match=r"79999_iter\.pth: not a face-parsing") as caught:
        BiSeNetParser(WeightStore(manifest, tmp_path))
    assert "\n" not in str(caught.value)


EXPECTED = [
    ("background", Label.BACKGROUND),
    ("skin", Label.FACE),
    ("l_brow", Label.BROWS),
    ("r_brow", Label.BROWS),
    ("l_eye", Label.EYES),
    ("r_eye", Label.EYES),
    ("eye_g", Label.FACE),
    ("l_ear", Label.FACE),
    ("r_ear", Label.FACE),
    ("ear_r", Label.FACE),
    ("nose", Label.FACE),
    ("mouth", Label.INNER_MOUTH),
    ("u_lip", Label.LIPS),
    ("l_lip", Label.LIPS),
    ("neck", Label.NECK),
    ("neck_l", Label.NECK),
    ("cloth", Label.TORSO),
    ("hair", Label.HAIR),
    ("hat", Label.HAIR),
]


@pytest.mark.parametrize(("index", "name", "label"), [(i, *row) for i, row in enumerate(EXPECTED)])
def test_celebamask_to_labels(index: int, name: str, label: Label) -> None:
    assert CELEBAMASK_CLASSES[index] == name
    classes = np.full((2, 3), index, np.int64)  # [H, W]
    labels = celebamask_to_labels(classes)
    assert labels.dtype == np.uint8 and labels.shape == (2, 3)
    assert (labels == label).all()


def test_celebamask_to_labels_whole_map_and_range() -> None:
    assert len(CELEBAMASK_CLASSES) == len(EXPECTED) == 19
    classes = np.arange(19).reshape(1, 19)  # [1, 19], every class once
    assert celebamask_to_labels(classes)[0].tolist() == [int(label) for _, label in EXPECTED]
    with pytest.raises(ValueError):
        celebamask_to_labels(np.array([[19]]))
    with pytest.raises(ValueError):
        celebamask_to_labels(np.array([[-1]]))


def test_teeth_are_split_from_the_mouth(saved: tuple[Path, dict[str, torch.Tensor]]) -> None:
    directory, _ = saved
    weights = directory / "79999_iter.pth"
    manifest = write_manifest(directory, sha256_of(weights), weights.stat().st_size)
    parser = BiSeNetParser(WeightStore(manifest, directory))
    rgb = np.zeros((64, 64, 3), np.uint8)  # [H, W, 3]: a dark mouth with a white tooth band
    rgb[20:30] = (240, 240, 235)
    mouth = np.full((64, 64), CELEBAMASK_CLASSES.index("mouth"), np.uint8)
    parser.classes = lambda image: mouth  # type: ignore[method-assign]  # the network's say
    labels = parser.parse(rgb)
    assert (labels[20:30] == Label.TEETH).all()
    assert (labels[:20] == Label.INNER_MOUTH).all() and (labels[30:] == Label.INNER_MOUTH).all()
