"""The official SAM 2 model config files (``sam2.1_hiera_{t,s,b+,l}.yaml``), read without hydra.

The files are hydra configs whose ``model`` node instantiates ``SAM2Base`` with an
``image_encoder`` (``Hiera`` trunk + ``FpnNeck``), a memory attention and a memory encoder.
Only the fields the image-predictor path needs are read; every other key (memory attention,
memory encoder, tracking options, ``_target_`` of the video parts, …) is ignored. A field the
file leaves out takes the default of the corresponding constructor argument in the sam2
source (``Hiera``, ``FpnNeck``, ``ImageEncoder``, ``SAM2Base``), so ``sam2.1_hiera_b+.yaml``,
which only sets ``embed_dim`` and ``num_heads`` of its trunk, gets Hiera's default stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from talkgs.errors import TalkgsError

# sam2/build_sam.py: build_sam2(apply_postprocessing=True), which SAM2ImagePredictor users get,
# overrides these three mask decoder arguments whatever the YAML says.
DYNAMIC_MULTIMASK_VIA_STABILITY = True
DYNAMIC_MULTIMASK_STABILITY_DELTA = 0.05
DYNAMIC_MULTIMASK_STABILITY_THRESH = 0.98


@dataclass(frozen=True)
class HieraConfig:
    """``model.image_encoder.trunk``; defaults are those of ``sam2...hieradet.Hiera``."""

    embed_dim: int = 96
    num_heads: int = 1
    stages: tuple[int, ...] = (2, 3, 16, 3)
    global_att_blocks: tuple[int, ...] = (12, 16, 20)
    window_spec: tuple[int, ...] = (8, 4, 14, 7)
    window_pos_embed_bkg_spatial_size: tuple[int, int] = (14, 14)
    q_pool: int = 3
    q_stride: tuple[int, int] = (2, 2)
    dim_mul: float = 2.0
    head_mul: float = 2.0

    @property
    def stage_dims(self) -> tuple[int, ...]:
        """Channels of each stage's output, first (highest resolution) stage first."""
        dims = [self.embed_dim]
        for _ in self.stages[1:]:
            dims.append(int(dims[-1] * self.dim_mul))
        return tuple(dims)


@dataclass(frozen=True)
class NeckConfig:
    """``model.image_encoder.neck``; defaults are those of ``FpnNeck``."""

    d_model: int = 256
    backbone_channel_list: tuple[int, ...] = (768, 384, 192, 96)
    fpn_top_down_levels: tuple[int, ...] | None = None  # None: every level
    fpn_interp_model: str = "bilinear"
    fuse_type: str = "sum"


@dataclass(frozen=True)
class Sam2Config:
    trunk: HieraConfig = field(default_factory=HieraConfig)
    neck: NeckConfig = field(default_factory=NeckConfig)
    scalp: int = 0  # ImageEncoder: number of lowest-resolution levels dropped after the neck
    image_size: int = 512  # SAM2Base defaults from here on
    backbone_stride: int = 16
    use_high_res_features_in_sam: bool = False
    pred_obj_scores: bool = False
    pred_obj_scores_mlp: bool = False
    iou_prediction_use_sigmoid: bool = False
    directly_add_no_mem_embed: bool = False
    use_obj_ptrs_in_encoder: bool = False
    use_multimask_token_for_obj_ptr: bool = False
    dynamic_multimask_via_stability: bool = DYNAMIC_MULTIMASK_VIA_STABILITY
    dynamic_multimask_stability_delta: float = DYNAMIC_MULTIMASK_STABILITY_DELTA
    dynamic_multimask_stability_thresh: float = DYNAMIC_MULTIMASK_STABILITY_THRESH

    @property
    def embedding_size(self) -> int:
        """Side of the lowest-resolution feature map the mask decoder reads (64 at 1024)."""
        return self.image_size // self.backbone_stride


def load_config(path: str | Path) -> Sam2Config:
    """Parse one official SAM 2 config file; a one-line :class:`TalkgsError` if it is unusable."""
    path = Path(path)
    if not path.is_file():
        raise TalkgsError(
            f"{path}: SAM 2 config file absent; copy sam2/configs/sam2.1/{path.name} from "
            "https://github.com/facebookresearch/sam2 next to the checkpoint"
        )
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise TalkgsError(f"{path}: cannot read the SAM 2 config ({first})") from error
    return parse_config(document, path)


def parse_config(document: Any, source: str | Path = "<config>") -> Sam2Config:
    """A :class:`Sam2Config` from an already loaded YAML document (``{"model": {...}}``)."""
    reader = _Reader(source)
    model = reader.mapping(document, "") if isinstance(document, dict) else None
    if model is None or not isinstance(model.get("model"), dict):
        raise TalkgsError(f"{source}: not a SAM 2 model config (no 'model' mapping)")
    model = model["model"]
    encoder = reader.mapping(model.get("image_encoder"), "model.image_encoder")
    trunk = reader.mapping(encoder.get("trunk"), "model.image_encoder.trunk")
    neck = reader.mapping(encoder.get("neck"), "model.image_encoder.neck")
    reader.target(encoder, "model.image_encoder", "ImageEncoder")
    reader.target(trunk, "model.image_encoder.trunk", "Hiera")
    reader.target(neck, "model.image_encoder.neck", "FpnNeck")

    hiera_defaults = HieraConfig()
    hiera = HieraConfig(
        embed_dim=reader.integer(trunk, "embed_dim", hiera_defaults.embed_dim, "trunk"),
        num_heads=reader.integer(trunk, "num_heads", hiera_defaults.num_heads, "trunk"),
        stages=reader.integers(trunk, "stages", hiera_defaults.stages, "trunk"),
        global_att_blocks=reader.integers(
            trunk, "global_att_blocks", hiera_defaults.global_att_blocks, "trunk"
        ),
        window_spec=reader.integers(trunk, "window_spec", hiera_defaults.window_spec, "trunk"),
        window_pos_embed_bkg_spatial_size=reader.pair(
            trunk,
            "window_pos_embed_bkg_spatial_size",
            hiera_defaults.window_pos_embed_bkg_spatial_size,
            "trunk",
        ),
        q_pool=reader.integer(trunk, "q_pool", hiera_defaults.q_pool, "trunk"),
        q_stride=reader.pair(trunk, "q_stride", hiera_defaults.q_stride, "trunk"),
        dim_mul=reader.number(trunk, "dim_mul", hiera_defaults.dim_mul, "trunk"),
        head_mul=reader.number(trunk, "head_mul", hiera_defaults.head_mul, "trunk"),
    )
    neck_defaults = NeckConfig()
    top_down = neck.get("fpn_top_down_levels")
    fpn = NeckConfig(
        d_model=reader.integer(neck, "d_model", neck_defaults.d_model, "neck"),
        backbone_channel_list=reader.integers(
            neck, "backbone_channel_list", neck_defaults.backbone_channel_list, "neck"
        ),
        fpn_top_down_levels=(
            None if top_down is None else reader.integers(neck, "fpn_top_down_levels", (), "neck")
        ),
        fpn_interp_model=reader.choice(
            neck, "fpn_interp_model", neck_defaults.fpn_interp_model, ("nearest", "bilinear")
        ),
        fuse_type=reader.choice(neck, "fuse_type", neck_defaults.fuse_type, ("sum", "avg")),
    )
    base = Sam2Config()
    config = Sam2Config(
        trunk=hiera,
        neck=fpn,
        scalp=reader.integer(encoder, "scalp", base.scalp, "image_encoder"),
        image_size=reader.integer(model, "image_size", base.image_size, "model"),
        backbone_stride=reader.integer(model, "backbone_stride", base.backbone_stride, "model"),
        **{
            name: reader.flag(model, name, getattr(base, name))
            for name in (
                "use_high_res_features_in_sam",
                "pred_obj_scores",
                "pred_obj_scores_mlp",
                "iou_prediction_use_sigmoid",
                "directly_add_no_mem_embed",
                "use_obj_ptrs_in_encoder",
                "use_multimask_token_for_obj_ptr",
            )
        },
    )
    _check_consistent(config, source)
    return config


def _check_consistent(config: Sam2Config, source: str | Path) -> None:
    """The asserts of the sam2 constructors, as one-line errors about the file."""
    trunk, neck = config.trunk, config.neck
    problems = []
    if len(trunk.stages) != len(trunk.window_spec):
        problems.append(f"trunk has {len(trunk.stages)} stages but window_spec {trunk.window_spec}")
    if not 0 <= trunk.q_pool < len(trunk.stages):
        problems.append(f"trunk q_pool {trunk.q_pool} not in 0..{len(trunk.stages) - 1}")
    channels = tuple(reversed(trunk.stage_dims))
    if channels != neck.backbone_channel_list:
        problems.append(
            f"neck backbone_channel_list {list(neck.backbone_channel_list)} does not match the "
            f"trunk's stage channels {list(channels)}"
        )
    levels = len(neck.backbone_channel_list)
    if not 0 <= config.scalp < levels:
        problems.append(f"scalp {config.scalp} not in 0..{levels - 1}")
    if config.use_high_res_features_in_sam and levels - config.scalp < 3:
        problems.append("use_high_res_features_in_sam needs 3 feature levels after the scalp")
    stride = 4 * 2 ** (levels - 1 - config.scalp)  # Hiera: stride 4 patches, halved per stage
    if config.backbone_stride != stride:
        problems.append(f"backbone_stride {config.backbone_stride} but the encoder gives {stride}")
    if config.image_size % (4 * 2 ** (levels - 1)):
        problems.append(f"image_size {config.image_size} not a multiple of the deepest stride")
    if problems:
        raise TalkgsError(f"{source}: unusable SAM 2 config: {'; '.join(problems)}")


class _Reader:
    """Typed access to YAML fields, every failure a one-line error naming the file and key."""

    def __init__(self, source: str | Path) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> TalkgsError:
        return TalkgsError(f"{self.source}: {key}: {problem}")

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key or "document", "missing or not a mapping")
        return value

    def target(self, node: dict[str, Any], key: str, class_name: str) -> None:
        target = node.get("_target_")
        if target is not None and str(target).rsplit(".", 1)[-1] != class_name:
            raise self.fail(f"{key}._target_", f"{target!r} is not supported (only {class_name})")

    def integer(self, node: dict[str, Any], name: str, default: int, where: str) -> int:
        value = node.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{where}.{name}", f"expected an integer, got {value!r}")
        return value

    def number(self, node: dict[str, Any], name: str, default: float, where: str) -> float:
        value = node.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"{where}.{name}", f"expected a number, got {value!r}")
        return float(value)

    def integers(
        self, node: dict[str, Any], name: str, default: tuple[int, ...], where: str
    ) -> tuple[int, ...]:
        value = node.get(name, default)
        if not isinstance(value, list | tuple) or not all(
            isinstance(item, int) and not isinstance(item, bool) for item in value
        ):
            raise self.fail(f"{where}.{name}", f"expected a list of integers, got {value!r}")
        return tuple(value)

    def pair(
        self, node: dict[str, Any], name: str, default: tuple[int, int], where: str
    ) -> tuple[int, int]:
        value = self.integers(node, name, default, where)
        if len(value) != 2:
            raise self.fail(f"{where}.{name}", f"expected two integers, got {list(value)}")
        return value[0], value[1]

    def flag(self, node: dict[str, Any], name: str, default: bool) -> bool:
        value = node.get(name, default)
        if not isinstance(value, bool):
            raise self.fail(f"model.{name}", f"expected true or false, got {value!r}")
        return value

    def choice(
        self, node: dict[str, Any], name: str, default: str, allowed: tuple[str, ...]
    ) -> str:
        value = node.get(name, default)
        if value not in allowed:
            raise self.fail(f"neck.{name}", f"expected one of {list(allowed)}, got {value!r}")
        return str(value)
