"""The torchvision-free SAM 2 image predictor (talkgs.face.sam2).

``tests/data/sam2.1_hiera_t.yaml`` is the official config, verbatim from
facebookresearch/sam2 (``sam2/configs/sam2.1/sam2.1_hiera_t.yaml``, Apache-2.0). No real
checkpoint is needed: the real tiny model is built from that config with random weights, saved
in the official format, and loaded back through a WeightStore; the expected key names and
shapes below were derived by hand from the sam2 source (hieradet.py, image_encoder.py,
prompt_encoder.py, mask_decoder.py, sam2_base.py).
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from talkgs.checksum import sha256_of
from talkgs.errors import TalkgsError
from talkgs.face.sam2 import Sam2ImagePredictor, load_config, portrait_prompts
from talkgs.face.sam2.config import parse_config
from talkgs.face.sam2.hiera import MultiScaleBlock, merge_windows, partition_windows
from talkgs.face.sam2.mask_decoder import MaskDecoder
from talkgs.face.sam2.model import Sam2ImageModel
from talkgs.face.sam2.prompt_encoder import PromptEncoder
from talkgs.weights import WeightStore

TINY_YAML = Path(__file__).parent / "data" / "sam2.1_hiera_t.yaml"

# Hand-derived from the sam2 source for hiera-tiny (embed 96, stages 1-2-7-2, d_model 256).
TINY_KEYS = {
    "image_encoder.trunk.patch_embed.proj.weight": (96, 3, 7, 7),
    "image_encoder.trunk.pos_embed": (1, 96, 7, 7),
    "image_encoder.trunk.pos_embed_window": (1, 96, 8, 8),
    "image_encoder.trunk.blocks.0.attn.qkv.weight": (288, 96),
    "image_encoder.trunk.blocks.1.proj.weight": (192, 96),  # first block of stage 2
    "image_encoder.trunk.blocks.1.attn.qkv.weight": (576, 96),
    "image_encoder.trunk.blocks.3.proj.weight": (384, 192),
    "image_encoder.trunk.blocks.10.proj.weight": (768, 384),
    "image_encoder.trunk.blocks.11.mlp.layers.0.weight": (3072, 768),
    "image_encoder.trunk.blocks.11.norm2.weight": (768,),
    "image_encoder.neck.convs.0.conv.weight": (256, 768, 1, 1),
    "image_encoder.neck.convs.3.conv.weight": (256, 96, 1, 1),
    "sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix": (2, 128),
    "sam_prompt_encoder.point_embeddings.0.weight": (1, 256),
    "sam_prompt_encoder.point_embeddings.3.weight": (1, 256),
    "sam_prompt_encoder.not_a_point_embed.weight": (1, 256),
    "sam_prompt_encoder.no_mask_embed.weight": (1, 256),
    "sam_prompt_encoder.mask_downscaling.0.weight": (4, 1, 2, 2),
    "sam_prompt_encoder.mask_downscaling.6.weight": (256, 16, 1, 1),
    "sam_mask_decoder.iou_token.weight": (1, 256),
    "sam_mask_decoder.mask_tokens.weight": (4, 256),
    "sam_mask_decoder.obj_score_token.weight": (1, 256),
    "sam_mask_decoder.transformer.layers.0.self_attn.q_proj.weight": (256, 256),
    "sam_mask_decoder.transformer.layers.1.cross_attn_token_to_image.q_proj.weight": (128, 256),
    "sam_mask_decoder.transformer.layers.1.mlp.layers.0.weight": (2048, 256),
    "sam_mask_decoder.transformer.final_attn_token_to_image.out_proj.weight": (256, 128),
    "sam_mask_decoder.output_upscaling.0.weight": (256, 64, 2, 2),  # ConvTranspose: in, out
    "sam_mask_decoder.output_upscaling.1.weight": (64,),
    "sam_mask_decoder.conv_s0.weight": (32, 256, 1, 1),
    "sam_mask_decoder.conv_s1.weight": (64, 256, 1, 1),
    "sam_mask_decoder.output_hypernetworks_mlps.3.layers.2.weight": (32, 256),
    "sam_mask_decoder.iou_prediction_head.layers.0.weight": (256, 256),
    "sam_mask_decoder.iou_prediction_head.layers.2.weight": (4, 256),
    "sam_mask_decoder.pred_obj_score_head.layers.2.weight": (1, 256),
    "no_mem_embed": (1, 1, 256),
}

# A few video-only entries of the real tiny checkpoint with their real shapes (mem_dim 64,
# num_maskmem 7, kv_in_dim 64): the loader must accept and ignore them.
TINY_VIDEO_KEYS = {
    "maskmem_tpos_enc": (7, 1, 1, 64),
    "no_mem_pos_enc": (1, 1, 256),
    "no_obj_ptr": (1, 256),
    "no_obj_embed_spatial": (1, 64),
    "mask_downsample.weight": (1, 1, 4, 4),
    "mask_downsample.bias": (1,),
    "obj_ptr_proj.layers.0.weight": (256, 256),
    "obj_ptr_tpos_proj.weight": (64, 256),
    "memory_encoder.pix_feat_proj.weight": (256, 256, 1, 1),
    "memory_encoder.out_proj.weight": (64, 256, 1, 1),
    "memory_attention.layers.0.cross_attn_image.k_proj.weight": (256, 64),
    "memory_attention.norm.weight": (256,),
}

# A miniature model of the same architecture (for the loader's error paths: fast to save).
SMALL_MODEL = {
    "image_encoder": {
        "scalp": 1,
        "trunk": {
            "embed_dim": 8,
            "num_heads": 1,
            "stages": [1, 1, 2, 1],
            "global_att_blocks": [3],
            "window_spec": [4, 2, 2, 2],
            "window_pos_embed_bkg_spatial_size": [4, 4],
        },
        "neck": {
            "d_model": 32,
            "backbone_channel_list": [64, 32, 16, 8],
            "fpn_top_down_levels": [2, 3],
            "fpn_interp_model": "nearest",
        },
    },
    "image_size": 128,
    "directly_add_no_mem_embed": True,
    "use_high_res_features_in_sam": True,
    "iou_prediction_use_sigmoid": True,
    "pred_obj_scores": True,
    "pred_obj_scores_mlp": True,
}


def random_state(model: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """The model's state with every tensor perturbed (zero-initialised ones included)."""
    generator = torch.Generator().manual_seed(seed)
    return {
        key: value + 0.02 * torch.randn(value.shape, generator=generator)
        for key, value in model.state_dict().items()
    }


def write_store(
    directory: Path, state: dict[str, torch.Tensor], config_text: str, name: str
) -> WeightStore:
    """An official-format checkpoint, its config and a manifest listing its sha256."""
    directory.mkdir(parents=True, exist_ok=True)
    checkpoint = directory / "sam2.1_hiera_tiny.pt"
    torch.save({"model": state}, checkpoint)
    (directory / "sam2.1_hiera_t.yaml").write_text(config_text)
    manifest = directory / "weights.yaml"
    entry = {
        "file": checkpoint.name,
        "sha256": sha256_of(checkpoint),
        "bytes": checkpoint.stat().st_size,
        "source": "test",
        "licence": "Apache-2.0",
        "used_by": "parsing.backend: sam2",
    }
    manifest.write_text(yaml.safe_dump({"weights": {name: entry}}))
    return WeightStore(manifest, directory)


@pytest.fixture(scope="module")
def tiny_config():
    return load_config(TINY_YAML)


@pytest.fixture(scope="module")
def face_landmarks() -> np.ndarray:
    """``[478, 3]`` MediaPipe Face Mesh pixel landmarks of the astronaut portrait."""
    import mediapipe as mp
    from skimage import data

    rgb = data.astronaut()
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True) as mesh:
        result = mesh.process(rgb)
    assert result.multi_face_landmarks, "Face Mesh found no face on the astronaut"
    height, width = rgb.shape[:2]
    points = result.multi_face_landmarks[0].landmark
    return np.array([(p.x * width, p.y * height, p.z * width) for p in points], np.float32)


def small_store(tmp_path: Path, edit=None) -> WeightStore:
    config_text = yaml.safe_dump({"model": SMALL_MODEL})
    model = Sam2ImageModel(parse_config({"model": SMALL_MODEL}))
    state = random_state(model, seed=1)
    if edit is not None:
        edit(state)
    return write_store(tmp_path, state, config_text, "sam2_hiera_tiny")


# --- config -----------------------------------------------------------------------------------


def test_tiny_config_fields(tiny_config) -> None:
    trunk, neck = tiny_config.trunk, tiny_config.neck
    assert (trunk.embed_dim, trunk.num_heads, trunk.stages) == (96, 1, (1, 2, 7, 2))
    assert trunk.global_att_blocks == (5, 7, 9)
    assert trunk.window_spec == (8, 4, 14, 7)  # not in the file: Hiera's default
    assert trunk.window_pos_embed_bkg_spatial_size == (7, 7)
    assert trunk.stage_dims == (96, 192, 384, 768)
    assert neck.backbone_channel_list == (768, 384, 192, 96)
    assert (neck.fpn_top_down_levels, neck.fpn_interp_model) == ((2, 3), "nearest")
    assert (tiny_config.scalp, tiny_config.image_size, tiny_config.embedding_size) == (1, 1024, 64)
    assert tiny_config.use_high_res_features_in_sam and tiny_config.directly_add_no_mem_embed
    assert tiny_config.pred_obj_scores and tiny_config.pred_obj_scores_mlp
    assert tiny_config.iou_prediction_use_sigmoid and tiny_config.dynamic_multimask_via_stability


def test_config_defaults_and_refusals(tmp_path: Path) -> None:
    # sam2.1_hiera_b+.yaml sets only embed_dim and num_heads of its trunk
    document = yaml.safe_load(TINY_YAML.read_text())
    trunk = document["model"]["image_encoder"]["trunk"]
    document["model"]["image_encoder"]["trunk"] = {"embed_dim": 112, "num_heads": 2}
    document["model"]["image_encoder"]["neck"]["backbone_channel_list"] = [896, 448, 224, 112]
    base_plus = parse_config(document, "b+.yaml")
    assert base_plus.trunk.stages == (2, 3, 16, 3)
    assert base_plus.trunk.global_att_blocks == (12, 16, 20)
    assert base_plus.trunk.window_pos_embed_bkg_spatial_size == (14, 14)

    document["model"]["image_encoder"]["trunk"] = trunk  # tiny trunk, b+ neck: inconsistent
    with pytest.raises(TalkgsError, match=r"^bad\.yaml: .*backbone_channel_list") as caught:
        parse_config(document, "bad.yaml")
    assert "\n" not in str(caught.value)
    with pytest.raises(TalkgsError, match="config file absent"):
        load_config(tmp_path / "sam2.1_hiera_t.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("model:\n  image_encoder:\n    trunk: {stages: three}\n    neck: {}\n")
    with pytest.raises(TalkgsError, match=r"broken\.yaml: trunk\.stages"):
        load_config(broken)


# --- model structure ---------------------------------------------------------------------------


def test_state_dict_has_the_checkpoint_names(tiny_config) -> None:
    state = Sam2ImageModel(tiny_config).state_dict()
    for key, shape in TINY_KEYS.items():
        assert key in state, key
        assert tuple(state[key].shape) == shape, key
    blocks = {
        int(key.split(".")[3]) for key in state if key.startswith("image_encoder.trunk.blocks")
    }
    assert blocks == set(range(12))
    assert not any(key.startswith(("memory_", "obj_ptr", "mask_downsample")) for key in state)


def test_window_partition_round_trip() -> None:
    x = torch.randn(2, 10, 13, 3)  # [B, H, W, C], not a multiple of the window
    windows, padded = partition_windows(x, 4)
    assert windows.shape == (2 * 3 * 4, 4, 4, 3) and padded == (12, 16)
    assert torch.equal(merge_windows(windows, 4, padded, (10, 13)), x)


def test_pooled_block_matches_per_window_attention() -> None:
    """A stage-transition block against a direct per-window computation."""
    torch.manual_seed(0)
    block = MultiScaleBlock(dim=4, dim_out=8, num_heads=2, window_size=4, q_stride=(2, 2)).eval()
    x = torch.randn(1, 8, 8, 4)  # [B, H, W, C]: 2×2 windows of 4×4
    with torch.no_grad():
        out = block(x)
        normed = block.norm1(x)
        qkv = block.attn.qkv(normed)  # [1, 8, 8, 24]
        expected = torch.zeros(1, 4, 4, 8)
        for wy in range(2):
            for wx in range(2):
                cell = qkv[0, 4 * wy : 4 * wy + 4, 4 * wx : 4 * wx + 4]  # [4, 4, 24]
                q, k, v = cell.reshape(4, 4, 3, 8).unbind(2)  # each [4, 4, 8]
                q = q.reshape(2, 2, 2, 2, 8).amax(dim=(1, 3))  # 2×2 max pool → [2, 2, 8]
                q, k, v = q.reshape(4, 2, 4), k.reshape(16, 2, 4), v.reshape(16, 2, 4)
                weights = torch.softmax(torch.einsum("qhc,khc->hqk", q, k) / 2.0, dim=-1)
                attended = torch.einsum("hqk,khc->qhc", weights, v).reshape(2, 2, 8)
                expected[0, 2 * wy : 2 * wy + 2, 2 * wx : 2 * wx + 2] = block.attn.proj(attended)
        shortcut = block.proj(normed).reshape(1, 4, 2, 4, 2, 8).amax(dim=(2, 4))
        expected = shortcut + expected
        expected = expected + block.mlp(block.norm2(expected))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_prompt_encoding_formulas() -> None:
    torch.manual_seed(0)
    encoder = PromptEncoder(embed_dim=8, image_embedding_size=(4, 4), input_image_size=(64, 64))
    gauss = encoder.pe_layer.positional_encoding_gaussian_matrix.numpy().astype(np.float64)

    def fourier(x: float, y: float) -> np.ndarray:
        angles = 2 * math.pi * (np.array([2 * x - 1, 2 * y - 1]) @ gauss)
        return np.concatenate([np.sin(angles), np.cos(angles)])

    dense = encoder.dense_pe().detach().numpy()  # [1, 8, 4, 4]
    np.testing.assert_allclose(dense[0, :, 1, 2], fourier(2.5 / 4, 1.5 / 4), atol=1e-5)
    points = torch.tensor([[[10.0, 20.0], [30.0, 40.0]]])  # [1, 2, 2] model-input pixels
    sparse, _ = encoder((points, torch.tensor([[1, 0]])))
    assert sparse.shape == (1, 3, 8)  # + the "not a point" pad token
    foreground = (
        fourier(10.5 / 64, 20.5 / 64) + encoder.point_embeddings[1].weight[0].detach().numpy()
    )
    np.testing.assert_allclose(sparse[0, 0].detach().numpy(), foreground, atol=1e-5)
    background = (
        fourier(30.5 / 64, 40.5 / 64) + encoder.point_embeddings[0].weight[0].detach().numpy()
    )
    np.testing.assert_allclose(sparse[0, 1].detach().numpy(), background, atol=1e-5)
    assert torch.equal(sparse[0, 2], encoder.not_a_point_embed.weight[0])


def test_single_mask_falls_back_to_best_alternative_when_unstable() -> None:
    decoder = MaskDecoder(transformer_dim=32, dynamic_multimask_via_stability=True).eval()
    masks = torch.zeros(2, 4, 8, 8)  # [B, 4 tokens, h, w] logits
    masks[:, 1:] = torch.arange(3.0)[:, None, None] + 1  # alternatives told apart by value
    masks[0, 0] = 5.0  # stable: every logit far from 0
    masks[1, 0] = 0.01  # unstable: inside ±delta, stability 0
    iou = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.9, 0.4]])
    chosen, scores = decoder.select(masks, iou, multimask_output=False)
    assert chosen.shape == (2, 1, 8, 8)
    assert torch.all(chosen[0] == 5.0) and float(scores[0, 0]) == pytest.approx(0.1)
    assert torch.all(chosen[1] == 2.0) and float(scores[1, 0]) == pytest.approx(0.9)  # token 2
    three, three_scores = decoder.select(masks, iou, multimask_output=True)
    assert three.shape == (2, 3, 8, 8) and torch.equal(three_scores, iou[:, 1:])


# --- prompts -----------------------------------------------------------------------------------


def test_portrait_prompts_on_the_astronaut(face_landmarks: np.ndarray) -> None:
    prompts = portrait_prompts(face_landmarks, (512, 512))
    assert prompts.shape == (5, 2) and prompts.dtype == np.float32
    left_eye, right_eye, mouth, torso_left, torso_right = prompts
    assert left_eye[0] < mouth[0] < right_eye[0]
    assert max(left_eye[1], right_eye[1]) < mouth[1] < face_landmarks[152, 1]
    chin = face_landmarks[152, :2]
    face_width = np.linalg.norm(face_landmarks[454, :2] - face_landmarks[234, :2])
    for torso in (torso_left, torso_right):
        assert torso[1] > chin[1] + 0.3 * face_width  # below the chin
    assert torso_left[0] < chin[0] - 0.5 * face_width < chin[0] + 0.5 * face_width < torso_right[0]
    assert np.all(prompts >= 0) and np.all(prompts <= 511)
    # 468 points (no irises): eye-corner midpoints, close to the iris centres
    corners = portrait_prompts(face_landmarks[:468, :2], (512, 512))
    assert np.abs(corners[:2] - prompts[:2]).max() < 0.2 * face_width


def test_portrait_prompts_follow_roll_and_stay_inside() -> None:
    mesh = np.zeros((478, 2), np.float32)
    mesh[[468, 473]] = [[40, 50], [60, 50]]
    mesh[[13, 14]] = [[50, 70], [50, 72]]
    mesh[152] = [50, 90]
    mesh[[234, 454]] = [[30, 60], [70, 60]]  # face width 40
    upright = portrait_prompts(mesh, (100, 200))  # (width, height)
    np.testing.assert_allclose(upright[3:], [[20, 114], [80, 114]], atol=1e-4)
    quarter_turn = np.array([[0, 1], [-1, 0]], np.float32)  # (x, y) → (y, -x)
    rolled = portrait_prompts(mesh @ quarter_turn.T + 200, (500, 500))
    # rolled by 90° ("down" is now +x): the torso points lie one above the other
    assert abs(rolled[3, 0] - rolled[4, 0]) < 1e-3 < abs(rolled[3, 1] - rolled[4, 1])
    clipped = portrait_prompts(mesh, (300, 100))  # frame ends above the torso
    assert np.all(clipped[3:, 1] == 99) and np.allclose(clipped[3:, 0], [20, 80])


# --- loading and the full path ----------------------------------------------------------------


def test_predictor_full_path_on_real_tiny_config(tmp_path: Path, face_landmarks) -> None:
    from skimage import data

    config = load_config(TINY_YAML)
    torch.manual_seed(0)
    state = random_state(Sam2ImageModel(config), seed=0)
    generator = torch.Generator().manual_seed(2)
    video = {key: torch.randn(shape, generator=generator) for key, shape in TINY_VIDEO_KEYS.items()}
    store = write_store(tmp_path, {**state, **video}, TINY_YAML.read_text(), "sam2_hiera_tiny")

    predictor = Sam2ImagePredictor(store)
    loaded = predictor.model.state_dict()
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[key], state[key]) for key in state)

    rgb = data.astronaut()  # [512, 512, 3] uint8
    model_input = predictor.transform(rgb)
    assert model_input.shape == (1, 3, 1024, 1024)
    # upsampling ignores antialiasing: compare with OpenCV's half-pixel bilinear resize
    reference = cv2.resize(
        rgb.astype(np.float32) / 255, (1024, 1024), interpolation=cv2.INTER_LINEAR
    )
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    reference = ((reference - mean) / std).transpose(2, 0, 1)
    np.testing.assert_allclose(model_input[0].numpy(), reference, atol=1e-4)

    predictor.set_image(rgb)
    prompts = portrait_prompts(face_landmarks, (rgb.shape[1], rgb.shape[0]))
    masks, scores = predictor.predict(prompts, np.ones(5, np.int64))
    assert masks.shape == (1, 512, 512) and masks.dtype == bool
    assert scores.shape == (1,) and 0.0 <= scores[0] <= 1.0  # iou_prediction_use_sigmoid
    three, three_scores = predictor.predict(prompts, np.ones(5, np.int64), multimask_output=True)
    assert three.shape == (3, 512, 512) and three_scores.shape == (3,)
    # SAM 2's single-mask output is token 0's mask while it is stable, else the alternative
    # with the best IoU score: both branches, forced through the stability threshold
    decoder = predictor.model.sam_mask_decoder
    decoder.stability_thresh = 2.0  # nothing is stable
    unstable, unstable_score = predictor.predict(prompts, np.ones(5, np.int64))
    assert np.array_equal(unstable[0], three[np.argmax(three_scores)])
    assert unstable_score[0] == pytest.approx(three_scores.max())
    decoder.stability_thresh = -1.0  # everything is stable
    stable, stable_score = predictor.predict(prompts, np.ones(5, np.int64))
    decoder.dynamic_multimask_via_stability = False  # token 0, always
    token0, token0_score = predictor.predict(prompts, np.ones(5, np.int64))
    assert np.array_equal(stable, token0) and stable_score[0] == token0_score[0]
    assert not np.array_equal(token0[0], unstable[0])  # the two branches differ here


def test_loader_refuses_an_unexpected_key(tmp_path: Path) -> None:
    store = small_store(tmp_path, lambda state: state.update({"foo.bar": torch.zeros(1)}))
    with pytest.raises(TalkgsError) as caught:
        Sam2ImagePredictor(store)
    message = str(caught.value)
    assert message.startswith(str(tmp_path / "sam2.1_hiera_tiny.pt"))
    assert "1 unexpected (foo.bar)" in message and "\n" not in message


def test_loader_refuses_a_missing_or_misshapen_key(tmp_path: Path) -> None:
    store = small_store(tmp_path / "a", lambda state: state.pop("no_mem_embed"))
    with pytest.raises(TalkgsError, match=r"sam2\.1_hiera_tiny\.pt: .*1 missing \(no_mem_embed\)"):
        Sam2ImagePredictor(store)

    def shrink(state: dict[str, torch.Tensor]) -> None:
        state["image_encoder.trunk.pos_embed"] = torch.zeros(1, 8, 3, 3)

    store = small_store(tmp_path / "b", shrink)
    with pytest.raises(TalkgsError, match=r"wrong shape \(image_encoder\.trunk\.pos_embed"):
        Sam2ImagePredictor(store)


def test_missing_weight_file_is_the_stores_error(tmp_path: Path) -> None:
    store = small_store(tmp_path)
    (tmp_path / "sam2.1_hiera_tiny.pt").unlink()
    with pytest.raises(TalkgsError, match=r"sam2\.1_hiera_tiny\.pt: weight file absent") as caught:
        Sam2ImagePredictor(store)
    assert "\n" not in str(caught.value)


def test_manifest_lists_the_official_tiny_checkpoint() -> None:
    manifest = Path(__file__).resolve().parents[1] / "resources" / "weights.yaml"
    spec = WeightStore(manifest).spec("sam2_hiera_tiny")
    assert spec.file == "sam2.1_hiera_tiny.pt" and spec.bytes == 156008466
    assert spec.sha256 == "7402e0d864fa82708a20fbd15bc84245c2f26dff0eb43a4b5b93452deb34be69"


def test_sam2_parsing_backend_through_the_cli(demo_identity, tmp_path: Path) -> None:
    """`talkgs parsing --backend sam2`: prompts, SAM2 mask, then the landmark split (M2DAO MRS)."""
    from conftest import first_frames, run_parsing_backend
    from talkgs.face.labels import Label

    frames, landmarks_npz = first_frames(demo_identity, tmp_path / "identity")
    store = small_store(tmp_path / "weights")
    maps = run_parsing_backend(
        "sam2", frames, landmarks_npz, store.manifest_path, store.directory, tmp_path / "parsing"
    )
    assert len(maps) == 2 and maps[0].shape == (512, 512) and maps[0].max() < len(Label)
    # whatever the random SAM2 mask, the landmark stage puts the face regions where they are
    assert (maps[0] == Label.INNER_MOUTH).any() or (maps[0] == Label.LIPS).any()
    assert (maps[0] == Label.FACE).sum() > 5000
