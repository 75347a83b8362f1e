"""The training stages of one identity and method: face, mouth, fuse.

Each stage is its own Snakemake rule and artifact (``methods/<method>/<stage>.pt``):

- **face**: face Gaussians from head pixels of training frames, first static (warm-up), then
  with the deformation networks. ``talkinggaussian``/``hmtalker`` supervise the head region and
  its alpha (TalkingGaussian's region supervision); ``m2dao`` the full portrait composited over
  the frame's background layer, the face's alpha left free (motion consistency, eq. 11).
- **mouth**: inside-mouth Gaussians, static then deformed, supervised on the mouth region
  composited over the background layer (TalkingGaussian's train_mouth).
- **fuse**: both branches composited over the background (M2DAO eq. 12) against the whole
  frame, L1 + λ·D-SSIM (+ LPIPS when its weights are present) (+ L_align for ``hmtalker``).
  ``talkinggaussian`` tunes colours and face opacity with motion and geometry frozen
  (train_fuse.py); ``hmtalker`` fine-tunes everything; ``m2dao`` first trains the face with the
  mouth frozen, then both (alternating optimisation).

The modules of the trainer: :mod:`~talkgs.train.runtime` (device and renderer),
:mod:`~talkgs.train.data`, :mod:`~talkgs.train.initialise`, :mod:`~talkgs.train.schedule`,
:mod:`~talkgs.train.optimizers`, :mod:`~talkgs.train.densify`, :mod:`~talkgs.train.losses`,
:mod:`~talkgs.train.loop`, :mod:`~talkgs.train.checkpoint`, :mod:`~talkgs.train.model_file`,
:mod:`~talkgs.train.inference`. Training is seeded and deterministic on the CPU.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from talkgs.atomic import StagedOutputs, write_json
from talkgs.errors import TalkgsError
from talkgs.train.data import IdentityData
from talkgs.train.inference import psnr
from talkgs.train.initialise import build_model
from talkgs.train.loop import Trainer
from talkgs.train.model_file import load_model, save_model
from talkgs.train.presets import STAGES, Method
from talkgs.train.runtime import Runtime

log = logging.getLogger("talkgs.train")


@dataclass(frozen=True)
class TrainParams:
    backend: str = "auto"  # renderer: auto (gsplat on CUDA, torch on the CPU) | gsplat | torch
    device: str = "auto"  # auto (CUDA when a GPU is visible) | cuda | cpu
    frames: str = "auto"  # where frames are kept: auto | device | host | stream
    allow_paper_on_cpu: bool = False
    threads: int = 2
    seed: int = 0
    checkpoint_dir: Path | None = None  # resumable state; None: no checkpoints
    snapshot_dir: Path | None = None  # periodic PNG snapshots
    tensorboard_dir: Path | None = None
    lpips: Any = None  # a callable (image, target) → loss, when its weights are present

    def runtime(self, method: Method, training: bool = True) -> Runtime:
        """Device and renderer for ``method``, or a one-line refusal (rendering a ``paper``
        model on the CPU is slow but allowed; training one is not, unless asked for)."""
        torch.set_num_threads(self.threads)
        preset = method.preset_name if training else None
        return Runtime.resolve(self.device, self.backend, preset, self.allow_paper_on_cpu)

    def identity_data(
        self, root: Path, method: Method, runtime: Runtime, audio_override: np.ndarray | None = None
    ) -> IdentityData:
        return IdentityData(
            root,
            method.preset.resolution,
            method.option("audio_features"),
            method.preset.audio_window,
            device=runtime.device,
            placement=self.frames,
            threads=self.threads,
            audio_override=audio_override,
            family=method.spec,
        )


@dataclass(frozen=True)
class TrainInputs:
    identity_root: Path  # results/<identity>
    face_model: Path | None = None  # fuse: the face stage's model
    mouth_model: Path | None = None  # fuse: the mouth stage's model


@dataclass(frozen=True)
class TrainOutputs:
    model: Path  # methods/<method>/<stage>.pt
    summary: Path  # methods/<method>/<stage>.json


def run(
    stage: str, method: Method, inputs: TrainInputs, outputs: TrainOutputs, params: TrainParams
) -> dict[str, Any]:
    if stage not in STAGES:
        raise TalkgsError(f"unknown training stage {stage!r} (one of {', '.join(STAGES)})")
    runtime = params.runtime(method)
    torch.manual_seed(params.seed)
    identity = Path(inputs.identity_root).name
    data = params.identity_data(inputs.identity_root, method, runtime)
    if stage == "fuse":
        if inputs.face_model is None or inputs.mouth_model is None:
            raise TalkgsError("the fuse stage needs --face-model and --mouth-model")
        model = load_model(inputs.face_model, method, data.audio_shape)
        mouth_model = load_model(inputs.mouth_model, method, data.audio_shape)
        model.mouth = mouth_model.mouth
        model.mouth_motion = mouth_model.mouth_motion
    else:
        model = build_model(data, method)
    trainer = Trainer(
        data,
        method,
        stage,
        model,
        runtime,
        seed=params.seed,
        checkpoint_dir=params.checkpoint_dir,
        snapshot_dir=params.snapshot_dir,
        tensorboard_dir=params.tensorboard_dir,
        lpips=params.lpips,
    )
    with StagedOutputs(outputs.model, outputs.summary) as staged:
        result = trainer.run()
        sampled = data.val_ids[:: max(1, len(data.val_ids) // 8)]
        val_psnr = float(np.mean([psnr(*trainer.render_frame(i)) for i in sampled]))
        save_model(staged[outputs.model], trainer.model, method, stage, identity, trainer.iteration)
        summary = {
            "identity": identity,
            "method": method.describe(),
            "stage": stage,
            "iterations": trainer.iteration,
            "resumed_from": result["resumed_from"],
            "seconds": round(trainer.elapsed, 3),
            "iterations_per_second": round(trainer.iteration / max(trainer.elapsed, 1e-9), 3),
            "face_gaussians": len(trainer.model.face),
            "mouth_gaussians": len(trainer.model.mouth),
            "validation_psnr_sampled": round(val_psnr, 3),
            **runtime.describe(),
            "frames_placement": data.placement,
            "history": trainer.history,
        }
        write_json(staged[outputs.summary], summary)
    if trainer.checkpoint_path is not None and trainer.checkpoint_path.exists():
        trainer.checkpoint_path.unlink()  # the model file now holds the result
    log.info(
        "train %s: %s on %s, %d iterations in %.1f s (%.2f it/s) on %s (%s, renderer %s), "
        "%d face + %d mouth Gaussians, validation PSNR %.2f dB (this stage's view)",
        stage,
        method.name,
        identity,
        trainer.iteration,
        trainer.elapsed,
        summary["iterations_per_second"],
        summary["device"],
        summary["device_name"],
        summary["renderer"],
        summary["face_gaussians"],
        summary["mouth_gaussians"],
        val_psnr,
    )
    return summary
