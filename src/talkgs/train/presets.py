"""Training presets and method settings.

A *preset* fixes resolution, iteration counts and the training recipe; a *method*
(``config.yaml: methods``) names a model family and may override any preset field or family
option in its ``params``.

- ``paper`` is TalkingGaussian's published recipe (Fictionarry/TalkingGaussian: ``train_mouth.py``,
  ``train_face.py``, ``train_fuse.py``, ``arguments/__init__.py``, ``scripts/train_xx.sh``) at
  512²: 50k mouth, 50k face, 10k fuse iterations (HM-Talker's and M2DAO-Talker's joint stages keep
  their papers' 15k and 20k). Every field that differs from upstream says why beside it, and
  :data:`RECIPE_DIFFERENCES` lists what talkgs does differently that no field expresses. It needs
  a GPU: on two CPU cores it would take days.
- ``cpu`` trains the demo identity on two CPU cores in minutes (128², ~2k iterations).
- ``tiny`` is for the test suite and the cluster tests (seconds per stage), with the parts of the
  paper recipe that a 30-iteration run survives switched on.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any

from talkgs.errors import TalkgsError
from talkgs.train.families import FAMILIES, Family

STAGES = ("face", "mouth", "fuse")


@dataclass(frozen=True)
class Preset:
    resolution: int  # square render and supervision size in pixels
    face_static_iters: int  # face Gaussians without deformation (upstream's warm-up)
    face_motion_iters: int  # then with the deformation networks
    mouth_static_iters: int  # inside-mouth Gaussians without deformation (warm-up)
    mouth_motion_iters: int
    fuse_iters: int
    face_points: int  # initial Gaussians, back-projected from head pixels of training frames
    mouth_points: int  # … and from inside-mouth pixels
    checkpoint_every: int
    snapshot_every: int
    log_every: int = 10  # history, TensorBoard and the only host synchronisation of the loop
    triplane_resolutions: tuple[int, ...] = (32, 64, 128)
    triplane_channels: int = 4
    hidden: int = 64  # width of the deformation and attention MLPs
    audio_dim: int = 32  # implicit audio feature (HM-Talker c_a in R^32)
    audio_window: int = 8  # video frames the audio attention sees (ER-NeRF / HM-Talker)

    # -- learning rates ----------------------------------------------------------------------
    lr_means: float = 1.6e-4  # × scene extent, as 3DGS
    lr_means_final: float | None = None  # exponential decay to this (× extent); None: constant
    lr_means_steps: int = 45000  # … reached at this iteration of a stage, constant after
    lr_scales: float = 5e-3
    lr_quats: float = 1e-3
    lr_opacities: float = 5e-2
    lr_colors: float = 2.5e-3
    lr_fuse_opacities: float | None = None  # face opacity in a fuse that tunes appearance only
    lr_network: float = 5e-4  # MLPs and the audio convolutions
    lr_grid: float = 5e-4  # the tri-plane position encoders
    lr_attention: float = 5e-4  # the audio encoder's attention over the frame window
    weight_decay_grid: float = 0.0
    weight_decay_attention: float = 0.0
    # upstream's LambdaLR on the motion networks: 0.5^(i / 0.8 T) up to 0.8 T, then 0.1^(i / T)
    lr_network_decay: bool = False
    network_betas: tuple[float, float] = (0.9, 0.999)  # AdamW's of the motion networks
    # what the fuse stage trains, whatever the family's recipe says: None (the family's),
    # "appearance" or "all"
    fuse_trains: str | None = None

    open_mouth_share: float = 0.0  # iterations drawing a frame by mouth opening (schedule.draws)

    # -- losses ------------------------------------------------------------------------------
    lambda_dssim: float = 0.2
    lambda_lpips: float = 0.5  # fuse stage, when the LPIPS weights are present
    lambda_align: float = 1e-3  # HM-Talker L_align
    lambda_alpha: float = 0.1  # face alpha against the head mask (region-supervised families)
    lambda_lips: float = 0.0  # the lips box's pixels weigh 1 + this in the face and fuse losses
    lambda_offset: float = 0.0  # mean |Δμ|, |Δq|, |Δs| of the face deformation
    lambda_attention: float = 0.0  # region attention on the lips and on hair
    mouth_lips_box: bool = False  # mouth alpha 1 in the lips box, no photometric loss on lips
    hair_dropout: bool = False  # hair out of the face loss 6 of 7 iterations (motion phase)
    offset_scale: float = 1e-2  # the deformation MLP's Δμ output × this (scene units ≈ metres)
    mouth_offset_xz: float = 0.2  # the mouth's Δμ across and into the face × this

    # -- densification (gsplat's DefaultStrategy, extended in talkgs.train.densify) -----------
    refine_start: int = 500
    refine_stop_face: int = 15000  # stage iteration at which face densification stops
    refine_stop_mouth: int = 15000
    refine_every: int = 100
    grow_grad2d_face: float = 0.0002  # mean screen-space gradient that grows a Gaussian
    grow_grad2d_mouth: float = 0.0002
    grow_scale3d: float = 0.01  # below this × extent a Gaussian is cloned, above it split
    prune_opa: float = 0.005  # opacity under which a Gaussian is pruned …
    prune_opa_final: float | None = None  # … rising linearly to this at refine_stop; None: fixed
    prune_big_from: int = 100000  # from this iteration prune Gaussians too large in 3D / 2D
    prune_scale3d: float = 0.1  # × extent
    prune_scale2d: float = 0.0  # largest radius, fraction of the image side; 0: no limit
    reset_every: int = 0  # opacity reset period; 0: never
    tile_size: int = 8  # the PyTorch rasterizer's tile edge


PRESETS: dict[str, Preset] = {
    "paper": Preset(
        resolution=512,
        face_static_iters=3000,  # train_face.py warm_step
        face_motion_iters=47000,  # 50k in all
        mouth_static_iters=3000,  # train_mouth.py warm_step
        mouth_motion_iters=47000,
        fuse_iters=10000,  # train_fuse.py
        # Upstream's counts (--init_num 2000 face, default 10 000 mouth), but not its random
        # ±0.1 box: talkgs back-projects them from the head's pixels at the face's depth, so
        # they start where the face is, with its colours.
        face_points=2000,
        mouth_points=10000,
        checkpoint_every=2000,
        snapshot_every=5000,
        log_every=100,
        # Dense tri-planes in place of upstream's three 2D hash grids (12 levels, 16 → 38
        # cells over ±0.15): the same kind of encoding without a CUDA hash-grid extension, so
        # the CPU and GPU paths run one model.
        triplane_resolutions=(64, 128, 256, 512),
        lr_means_final=1.6e-6,  # position_lr_final, over position_lr_max_steps = 45k
        lr_means_steps=45000,
        lr_scales=3e-3,  # TalkingGaussian's scaling_lr (3DGS: 5e-3)
        lr_fuse_opacities=1e-3,  # train_xx.sh: train_fuse.py --opacity_lr 0.001
        lr_grid=5e-3,  # motion_net.get_params(5e-3, 5e-4): encoders 5e-3,
        lr_network=5e-4,  # MLPs and audio net 5e-4,
        lr_attention=2.5e-3,  # audio_att_net 5 × 5e-4 with weight decay 1e-4;
        weight_decay_grid=1e-2,  # the encoders get AdamW's default decay
        weight_decay_attention=1e-4,
        lr_network_decay=True,
        network_betas=(0.9, 0.99),  # AdamW(…, betas=(0.9, 0.99), eps=1e-8)
        lambda_alpha=1e-3,  # train_face.py / train_mouth.py: 1e-3 · mean |α − mask|
        lambda_offset=1e-5,  # train_face.py: 1e-5 on each of d_xyz, d_rot, d_scale
        lambda_attention=1e-4,  # 1e-4 · expression attention on the lips, both on hair
        mouth_lips_box=True,
        hair_dropout=True,
        offset_scale=1e-2,  # MotionNetwork: d_xyz = h[..., :3] * 1e-2 (same units as talkgs')
        mouth_offset_xz=0.2,  # MouthMotionNetwork: x and z of d_xyz further / 5
        refine_stop_face=49000,  # train_face.py: densify_until_iter = iterations − 1000
        refine_stop_mouth=45000,  # arguments: densify_until_iter
        grow_grad2d_face=5e-4,  # train_xx.sh: --densify_grad_threshold 0.0005
        grow_grad2d_mouth=2e-4,
        grow_scale3d=0.005,  # percent_dense (3DGS: 0.01)
        prune_opa=0.05,  # densify_and_prune(…, 0.05 + 0.25 · it / densify_until_iter, …)
        prune_opa_final=0.30,
        prune_big_from=3000,  # max_screen_size = 20 if it > 3000 (and 0.1 · extent in 3D)
        prune_scale2d=20 / 512,
        reset_every=0,  # no stage resets opacity (commented out in train_mouth.py)
        tile_size=16,
    ),
    "cpu": Preset(
        resolution=128,
        face_static_iters=250,
        face_motion_iters=1000,
        mouth_static_iters=0,
        mouth_motion_iters=300,
        fuse_iters=300,
        face_points=2500,
        mouth_points=400,
        checkpoint_every=200,
        snapshot_every=300,
        refine_start=100,
        refine_stop_face=700,
        refine_stop_mouth=700,
        refine_every=100,
        grow_grad2d_face=0.0006,  # grow less: the CPU rasterizer's time is linear in the count
        grow_grad2d_mouth=0.0006,
        lr_colors=1e-2,
        lr_opacities=5e-2,
        # upstream's rates for the tri-planes and the audio attention (5e-3, 5 × 5e-4): with
        # the defaults' 5e-4 the demo's face stage learnt 8% of the recorded lip motion, with
        # these 25% (README, Lip motion)
        lr_grid=5e-3,
        lr_attention=2.5e-3,
        # the lips are ~1% of a 128² frame: weighted 5× they get the share of the loss that
        # makes their motion worth learning in 1 000 iterations (amplitude 0.49 → 0.72 on the
        # demo's face stage; PSNR rises too)
        lambda_lips=4.0,
        # half the iterations draw their frame by mouth opening: the wide openings, rare in
        # speech, get seen (face-stage lip amplitude 0.69 → 0.77 on the demo)
        open_mouth_share=0.5,
        # 1 250 face iterations leave geometry and motion unfinished, so every family's fuse
        # trains them too (TalkingGaussian's appearance-only fuse loses 3 dB on the demo here)
        fuse_trains="all",
    ),
    "tiny": Preset(
        resolution=64,
        face_static_iters=10,
        face_motion_iters=20,
        mouth_static_iters=5,
        mouth_motion_iters=10,
        fuse_iters=15,
        face_points=400,
        mouth_points=80,
        checkpoint_every=10,
        snapshot_every=30,
        log_every=5,
        triplane_resolutions=(16, 32),
        hidden=32,
        # the parts of the paper recipe that still make a face in 30 iterations; the others
        # (position decay, hair dropout, opacity reset) empty it that fast, and their code is
        # run by the tests with explicit params
        lr_fuse_opacities=1e-3,
        lr_grid=5e-3,
        lr_attention=2.5e-3,
        weight_decay_grid=1e-2,
        weight_decay_attention=1e-4,
        lr_network_decay=True,
        network_betas=(0.9, 0.99),
        lambda_offset=1e-5,
        lambda_attention=1e-4,
        mouth_lips_box=True,
        refine_start=5,
        refine_stop_face=25,
        refine_stop_mouth=12,
        refine_every=5,
        prune_opa=0.005,
        prune_opa_final=0.05,
        prune_big_from=10,
        prune_scale2d=0.25,  # 20/512 of 64² is 2.5 px, less than the initial Gaussians
    ),
}

# What talkgs does differently from TalkingGaussian's scripts that no preset field expresses,
# and why. (Field-level differences are commented beside the `paper` preset above.)
RECIPE_DIFFERENCES: dict[str, str] = {
    "background": "upstream renders face and mouth on green and composites them over torso + "
    "bc.jpg only in the fuse stage, with green-Gaussian pruning (face) and repair (mouth) to "
    "undo green that leaks into colours; talkgs composites every stage over the frame's real "
    "background layer (plate + its own neck and torso), so no Gaussian learns green and "
    "nothing needs pruning for it",
    "frame curriculum": "upstream draws training frames by a curriculum (mouth: widest AU25 "
    "openings first, then a widening range; face: sliding mouth-opening and blink windows); "
    "talkgs draws frames uniformly, except for a share open_mouth_share (cpu: 0.5; paper: 0, "
    "not yet measured at 50k iterations) drawn by mouth opening (AU25 + AU26) so that wide "
    "openings are seen as often as closed mouths. The curriculum's windows are set on OpenFace "
    "AU25/AU45 percentiles, which talkgs' landmark AUs do not reproduce on the same scale",
    "activations": "scales are exp(log s), not softplus, and colours are RGB (sigmoid), not "
    "degree-2 spherical harmonics: gsplat's DefaultStrategy clones, splits and prunes assuming "
    "log scales, and a fixed frontal camera shows no view-dependent colour",
    "scene extent": "the 3DGS extent that scales position lr, clone/split and 3D pruning is the "
    "diagonal of the initial face Gaussians' bounding box, not 1.1 × the spread of camera "
    "centres: a speaker who barely moves would otherwise get a near-zero extent",
    "LPIPS": "LPIPS (when its weights are present) is used in the fuse stage only, on the whole "
    "frame (λ 0.5); upstream adds patch LPIPS in the last 3k face / 1k mouth iterations and "
    "from fuse iteration 5k",
    "alpha during warm-up": "the face's alpha term also applies during the static warm-up "
    "(upstream from iteration 3000): the warm-up is where the head's silhouette is found",
    "mouth after 49k": "upstream's mouth freezes geometry and switches to a black background for "
    "its last 1k iterations, preparing its own fuse compositing; talkgs' fuse composites over "
    "the real background, so the mouth stage trains the same way to its end",
    "audio attention": "the attention over the 8-frame audio window starts on the frame itself "
    "(logit +6 on offset 0, weight ~0.98) and learns how much of its neighbours to mix in; "
    "upstream's default initialisation starts it near-uniform, a 320 ms average that smears "
    "the mouth's motion until many thousands of iterations have sharpened it",
    "fuse opacity lr": "train_fuse.py restores each optimizer's saved state, which puts back "
    "the face stage's opacity lr (0.05) over --opacity_lr 0.001; talkgs uses 1e-3, what the "
    "script asks for",
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
# so 4 h leave a wide margin. The frames are preloaded (2.4 GB per 1 000 frames at 512², on
# the GPU when they fit, else in host memory). The others are sized for demo-length clips.
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

    @property
    def spec(self) -> Family:
        """The family's module (:mod:`talkgs.train.families`)."""
        return FAMILIES[self.family]

    def option(self, key: str) -> Any:
        return self.options.get(key, self.spec.defaults[key])

    @property
    def fuse_trains(self) -> str:
        """ "appearance" or "all": the preset's choice if it makes one, else the family's."""
        return self.preset.fuse_trains or self.option("fuse_trains")

    def describe(self) -> dict[str, Any]:
        """Everything that determines the model: recorded beside each artifact."""
        return {
            "name": self.name,
            "family": self.family,
            "preset": self.preset_name,
            "preset_fields": dataclasses.asdict(self.preset),
            "options": {**self.spec.defaults, **self.options},
        }


FUSE_TRAINS = ("appearance", "all")


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
    defaults = FAMILIES[family].defaults
    unknown = set(params) - set(defaults)
    if unknown:
        known = sorted(preset_fields | set(defaults))
        close = [m for key in sorted(unknown) for m in difflib.get_close_matches(key, known, 1)]
        raise TalkgsError(
            f"methods.{name}.params: unknown key(s) {', '.join(sorted(unknown))} for family "
            f"{family}"
            + (f" (did you mean {', '.join(close)}?)" if close else "")
            + f" (preset fields: {', '.join(sorted(preset_fields))}; family options: "
            f"{', '.join(sorted(defaults))})"
        )
    fuse_trains = params.get("fuse_trains", overrides.get("fuse_trains"))
    if fuse_trains is not None and fuse_trains not in FUSE_TRAINS:
        raise TalkgsError(
            f"methods.{name}.params.fuse_trains: {fuse_trains!r} is not one of "
            f"{', '.join(FUSE_TRAINS)}"
        )
    if preset_name == "paper":
        # each family's own paper counts (e.g. HM-Talker's 15k joint stage), unless set
        overrides = {**FAMILIES[family].paper, **overrides}
    for key in ("triplane_resolutions", "network_betas"):  # JSON lists → tuples
        if key in overrides:
            overrides[key] = tuple(overrides[key])
    preset = dataclasses.replace(PRESETS[preset_name], **overrides)
    return Method(name=name, family=family, preset_name=preset_name, preset=preset, options=params)
