"""Training presets and method settings.

A *preset* fixes resolution, iteration counts and schedule; a *method* (``config.yaml:
methods``) names a model family and may override any preset field or family option in its
``params``. ``cpu`` trains the demo identity on two CPU cores in minutes; ``paper`` is the
upstream recipe (512², 50k face / 50k mouth / 10k fuse iterations, TalkingGaussian); ``tiny``
exists for the test suite and the cluster tests (seconds per stage).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from talkgs.errors import TalkgsError

FAMILIES = ("talkinggaussian", "hmtalker", "m2dao")
STAGES = ("face", "mouth", "fuse")


@dataclass(frozen=True)
class Preset:
    resolution: int  # square render and supervision size in pixels
    face_static_iters: int  # face Gaussians without deformation (static initialisation)
    face_motion_iters: int  # then with the deformation networks
    mouth_iters: int
    fuse_iters: int
    face_points: int  # initial Gaussians, sampled from head pixels of training frames
    mouth_points: int
    checkpoint_every: int
    snapshot_every: int
    log_every: int = 10
    triplane_resolutions: tuple[int, ...] = (32, 64, 128)
    triplane_channels: int = 4
    hidden: int = 64  # width of the deformation and attention MLPs
    audio_dim: int = 32  # implicit audio feature (HM-Talker c_a in R^32)
    audio_window: int = 8  # video frames the audio attention sees (ER-NeRF / HM-Talker)
    lr_network: float = 5e-4  # both papers: 5e-4 for all modules
    lr_means: float = 1.6e-4  # × scene extent, as 3DGS
    lr_scales: float = 5e-3
    lr_quats: float = 1e-3
    lr_opacities: float = 5e-2
    lr_colors: float = 2.5e-3
    lambda_dssim: float = 0.2
    lambda_lpips: float = 0.5
    lambda_align: float = 1e-3  # HM-Talker L_align
    refine_start: int = 500
    refine_stop: int = 15000
    refine_every: int = 100
    reset_every: int = 3000
    grow_grad2d: float = 0.0002  # gsplat DefaultStrategy's densification threshold
    tile_size: int = 8


PRESETS: dict[str, Preset] = {
    "paper": Preset(
        resolution=512,
        face_static_iters=5000,
        face_motion_iters=45000,
        mouth_iters=50000,
        fuse_iters=10000,
        face_points=20000,
        mouth_points=4000,
        checkpoint_every=2000,
        snapshot_every=5000,
        log_every=100,
        triplane_resolutions=(64, 128, 256, 512),
        tile_size=16,
    ),
    "cpu": Preset(
        resolution=128,
        face_static_iters=250,
        face_motion_iters=650,
        mouth_iters=300,
        fuse_iters=300,
        face_points=2500,
        mouth_points=400,
        checkpoint_every=200,
        snapshot_every=300,
        refine_start=100,
        refine_stop=700,
        refine_every=100,
        reset_every=100000,  # an opacity reset costs more iterations than the preset has
        grow_grad2d=0.0006,  # grow less: the CPU rasterizer's time is linear in the count
        lr_colors=1e-2,
        lr_opacities=5e-2,
    ),
    "tiny": Preset(
        resolution=64,
        face_static_iters=10,
        face_motion_iters=20,
        mouth_iters=15,
        fuse_iters=15,
        face_points=400,
        mouth_points=80,
        checkpoint_every=10,
        snapshot_every=30,
        log_every=5,
        triplane_resolutions=(16, 32),
        hidden=32,
        refine_start=5,
        refine_stop=25,
        refine_every=10,
        reset_every=100000,
    ),
}


@dataclass(frozen=True)
class JobSize:
    """What one cluster job of a method with this preset asks for: memory (MB), runtime (min)."""

    train_mem_mb: int
    train_minutes: int  # face and mouth stages
    fuse_minutes: int
    render_mem_mb: int
    render_minutes: int


# `paper`: ~7 000-frame (280 s) identities at 512²; upstream trains one in ~0.5 h on an RTX 3090,
# so 4 h leave a wide margin. The others are sized for demo-length clips.
JOB_SIZES: dict[str, JobSize] = {
    "paper": JobSize(64000, 240, 120, 32000, 60),
    "cpu": JobSize(8000, 120, 60, 8000, 30),
    "tiny": JobSize(2000, 30, 30, 2000, 15),
}


@dataclass(frozen=True)
class Method:
    """One entry of ``config.yaml: methods``, resolved against its preset."""

    name: str
    family: str
    preset_name: str
    preset: Preset
    options: dict[str, Any] = field(default_factory=dict)  # family options, e.g. path ratios

    def option(self, key: str) -> Any:
        return self.options.get(key, FAMILY_DEFAULTS[self.family][key])

    def describe(self) -> dict[str, Any]:
        """Everything that determines the model: recorded beside each artifact."""
        return {
            "name": self.name,
            "family": self.family,
            "preset": self.preset_name,
            "preset_fields": dataclasses.asdict(self.preset),
            "options": {**FAMILY_DEFAULTS[self.family], **self.options},
        }


FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    # face-region supervision with an alpha term (TalkingGaussian train_face / train_mouth)
    "talkinggaussian": {
        "audio_features": "mel",
        "region_supervision": True,
        "alternating": False,
        "mouth_deforms_shape": False,
    },
    # HM-Talker: AU MLP with skip, A2AM + L_align, gated fusion with stochastic paths
    "hmtalker": {
        "audio_features": "mel",
        "region_supervision": True,
        "alternating": False,
        "mouth_deforms_shape": False,
        "path_ratios": [4, 4, 2],
        "mask_ratio": [0.1, 0.3],
    },
    # M2DAO-Talker: full-portrait supervision (MCC), alternating face/mouth optimisation
    "m2dao": {
        "audio_features": "mel",
        "region_supervision": False,
        "alternating": True,
        "mouth_deforms_shape": True,
        "alternating_share": 0.5,
    },
}


PAPER_FUSE_ITERS = {"talkinggaussian": 10000, "hmtalker": 15000, "m2dao": 20000}


def resolve_method(name: str, entry: dict[str, Any], default_preset: str) -> Method:
    """A method entry ``{family, preset?, params?}`` → :class:`Method`; one-line errors."""
    family = entry.get("family")
    if family not in FAMILIES:
        raise TalkgsError(f"methods.{name}.family: {family!r} is not one of {', '.join(FAMILIES)}")
    preset_name = entry.get("preset", default_preset)
    if preset_name not in PRESETS:
        raise TalkgsError(
            f"methods.{name}.preset: {preset_name!r} is not one of {', '.join(PRESETS)}"
        )
    params = dict(entry.get("params") or {})
    preset_fields = {f.name for f in dataclasses.fields(Preset)}
    overrides = {key: params.pop(key) for key in list(params) if key in preset_fields}
    unknown = set(params) - set(FAMILY_DEFAULTS[family])
    if unknown:
        raise TalkgsError(
            f"methods.{name}.params: unknown key(s) {', '.join(sorted(unknown))} for family "
            f"{family} (preset fields: {', '.join(sorted(preset_fields))}; family options: "
            f"{', '.join(sorted(FAMILY_DEFAULTS[family]))})"
        )
    if preset_name == "paper" and "fuse_iters" not in overrides:
        # the papers' joint stages: HM-Talker fine-tunes both branches 15k iterations,
        # M2DAO-Talker alternates for 20k; TalkingGaussian's fuse is 10k
        overrides["fuse_iters"] = PAPER_FUSE_ITERS[family]
    if "triplane_resolutions" in overrides:
        overrides["triplane_resolutions"] = tuple(overrides["triplane_resolutions"])
    preset = dataclasses.replace(PRESETS[preset_name], **overrides)
    return Method(name=name, family=family, preset_name=preset_name, preset=preset, options=params)
