"""The training loop of one stage: steps, densification, logging, snapshots, checkpoints and
signals.

One step samples the frame :func:`~talkgs.train.schedule.draws` assigned to the iteration,
renders the branches the phase uses, adds the phase's loss terms (:mod:`talkgs.train.losses`),
steps the optimizers with the scheduled rates and lets the densifier grow and prune. Everything
a step touches lives on the job's device, and the loop reads values back to the host only
every ``log_every`` iterations, at densification steps and at checkpoints (within a render,
gsplat itself waits once for its tile-intersection count).

SLURM (or a user) stops a job with SIGTERM (before a time limit or preemption) or SIGUSR1:
the loop checkpoints and exits with :class:`Interrupted`; the next run resumes.
"""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from talkgs.errors import TalkgsError
from talkgs.log import progress
from talkgs.png import write_png
from talkgs.train import checkpoint, losses
from talkgs.train.data import FrameSample, IdentityData
from talkgs.train.densify import densifier
from talkgs.train.inference import composite, psnr, render, render_attention, render_view, to_uint8
from talkgs.train.model import GaussianField, TalkingHead
from talkgs.train.model_file import host_state, model_from_state
from talkgs.train.optimizers import BRANCHES, Optimizers, freeze_for
from talkgs.train.presets import Method
from talkgs.train.runtime import Runtime
from talkgs.train.schedule import Phase, Schedule, draws, hair_dropped

log = logging.getLogger("talkgs.train")

PREFETCH = 8  # frames announced ahead to a streaming frame store


class Interrupted(TalkgsError):
    """SLURM (or a user) asked the job to stop; the state is in the checkpoint."""

    def __init__(self, signum: int, path: Path | None) -> None:
        super().__init__(
            f"training stopped by signal {signal.Signals(signum).name}; "
            + (f"state saved to {path}, a rerun resumes" if path else "no checkpoint")
        )
        self.signum = signum


def scene_scale(field: GaussianField) -> float:
    """The extent of a branch's initial Gaussians (diagonal of their bounding box)."""
    means = field.params["means"].detach()
    return max(float((means.amax(0) - means.amin(0)).norm()), 1e-3)


class Trainer:
    def __init__(
        self,
        data: IdentityData,
        method: Method,
        stage: str,
        model: TalkingHead,
        runtime: Runtime,
        seed: int = 0,
        checkpoint_dir: Path | None = None,
        snapshot_dir: Path | None = None,
        tensorboard_dir: Path | None = None,
        lpips: Any = None,
    ) -> None:
        self.data, self.method, self.stage, self.runtime = data, method, stage, runtime
        self.preset = method.preset
        self.device = runtime.device
        self.checkpoint_path = checkpoint_dir / f"{stage}.pt" if checkpoint_dir else None
        self.snapshot_dir, self.tensorboard_dir, self.lpips = snapshot_dir, tensorboard_dir, lpips
        self.schedule = Schedule(method, stage)
        self.total = self.schedule.total
        self.draws = draws(
            method, data.train_ids, self.total, seed, data.mouth_opening(data.train_ids)
        )
        self.iteration = 0
        self.elapsed = 0.0
        self.stop_signal: int | None = None
        self.writer: Any = None
        self.history: list[dict[str, float]] = []
        self._phase: Phase | None = None
        self._setup(model.to(self.device))

    def _setup(self, model: TalkingHead, scales: dict[str, float] | None = None) -> None:
        """Model, optimizers and densifiers (also after a resume, with the saved model and the
        extents of the stage's initial Gaussians)."""
        self.model = model
        self.scales = scales or {b: scene_scale(getattr(model, b)) for b in BRANCHES}
        features = self.method.spec.gaussian_features(self.method, 0, torch.Generator())
        self.optimizers = Optimizers(
            model,
            self.preset,
            self.stage,
            self.total,
            self.scales,
            {name: feature.lr for name, feature in features.items()},
        )
        self.strategies = {branch: densifier(self.preset, branch) for branch in BRANCHES}
        # both branches' sizes are judged against the face's extent
        self.strategy_states = {
            branch: strategy.initialize_state(scene_scale=self.scales["face"])
            for branch, strategy in self.strategies.items()
        }

    # -- checkpoints -----------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        if self.checkpoint_path is None:
            return
        checkpoint.save(
            self.checkpoint_path,
            {
                "method": self.method.describe(),
                "stage": self.stage,
                "iteration": self.iteration,
                "elapsed": self.elapsed,
                "face_count": len(self.model.face),
                "mouth_count": len(self.model.mouth),
                "scales": self.scales,
                "model": host_state(self.model),
                "optimizers": self.optimizers.state_dict(),
                "strategy_states": self.strategy_states,
                "random": checkpoint.random_states(self.device),
                "history": self.history,
            },
        )

    def try_resume(self) -> bool:
        blob = checkpoint.load(self.checkpoint_path, self.method.describe())
        if blob is None:
            return False
        model = model_from_state(
            blob["model"],
            blob["face_count"],
            blob["mouth_count"],
            self.method,
            self.data.audio_shape,
        )
        self._setup(model.to(self.device), blob["scales"])
        self.optimizers.load_state_dict(blob["optimizers"])
        self.strategy_states = {
            branch: {
                key: value.to(self.device) if isinstance(value, Tensor) else value
                for key, value in state.items()
            }
            for branch, state in blob["strategy_states"].items()
        }
        checkpoint.restore_random_states(blob["random"], self.device)
        self.iteration = int(blob["iteration"])
        self.elapsed = float(blob["elapsed"])
        self.history = list(blob["history"])
        log.info(
            "resumed %s from %s at iteration %d of %d",
            self.stage,
            self.checkpoint_path,
            self.iteration,
            self.total,
        )
        return True

    # -- one step ----------------------------------------------------------------------------
    def _path(self, phase: Phase) -> tuple[str, Tensor | None]:
        """HM-Talker's stochastic fusion path of this iteration and, for the masked one, which
        audio features it keeps (drawn on the device, from its default generator, and only when
        the face's motion network runs)."""
        path = self.draws.paths[self.iteration]
        if path != "masked" or not phase.face_motion:
            return path, None
        shape = (1, self.preset.audio_dim)
        keep = torch.rand(shape, device=self.device) >= self.draws.mask_ratios[self.iteration]
        return path, keep.float()

    def step(self, phase: Phase) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """One iteration; returns its loss terms, the image and its target (all on the device,
        detached)."""
        p = self.preset
        index = self.draws.frames[self.iteration]
        sample = self.data.sample(index)
        path, keep = self._path(phase)
        cond = self.data.conditions(index, path, keep)
        terms: dict[str, Tensor] = {}
        hair_out = hair_dropped(p, phase, self.iteration, self.total)
        if phase.loss in ("face", "fuse"):
            face_g, extra = self.model.face_gaussians(cond if phase.face_motion else None)
            face = render(face_g, sample, p.resolution, self.runtime.renderer, p.tile_size)
            if "align" in extra:
                terms["align"] = p.lambda_align * extra["align"]
        if phase.loss in ("mouth", "fuse"):
            mouth_g = self.model.mouth_gaussians(cond if phase.mouth_motion else None)
            mouth = render(mouth_g, sample, p.resolution, self.runtime.renderer, p.tile_size)
        # lambda_lips: the lips box's pixels count (1 + λ) times in the face and fuse losses
        lips_weight = None
        if p.lambda_lips > 0 and phase.loss != "mouth":
            lips_weight = 1 + p.lambda_lips * sample.lips_box
        if phase.loss == "face":
            weight = 1 - sample.mouth_mask
            if lips_weight is not None:
                weight = weight * lips_weight
            if hair_out:
                weight = weight * (1 - sample.hair_mask)
            image = face.image + (1 - face.alpha) * sample.background
            target = sample.image
            terms["photo"] = losses.photometric(image, target, weight, p.lambda_dssim)
            if self.method.option("region_supervision"):
                terms["alpha"] = p.lambda_alpha * losses.alpha_mismatch(
                    face.alpha, sample.head_mask
                )
            if phase.face_motion:
                terms.update(self._motion_terms(face_g, extra, sample, hair_out))
            info = face.info
        elif phase.loss == "mouth":
            target = sample.image * sample.mouth_mask + sample.background * (1 - sample.mouth_mask)
            image = mouth.image + (1 - mouth.alpha) * sample.background
            weight = None
            if p.mouth_lips_box:  # train_mouth.py: the lips inside the box are not its business
                weight = 1 - sample.lips_box * (1 - sample.mouth_mask)
                if phase.mouth_motion:
                    terms["alpha"] = p.lambda_alpha * losses.alpha_mismatch(
                        mouth.alpha, sample.lips_box
                    )
            terms["photo"] = losses.photometric(image, target, weight, p.lambda_dssim)
            info = mouth.info
        else:
            image = composite(face, mouth, sample.background)
            target = sample.image
            terms["photo"] = losses.photometric(image, target, lips_weight, p.lambda_dssim)
            if self.lpips is not None:
                terms["lpips"] = p.lambda_lpips * self.lpips(image, target)
            info = face.info
        loss = torch.stack(list(terms.values())).sum()

        branch = phase.densify
        strategy_args: tuple[Any, ...] | None = None
        if branch is not None and self.iteration < self.strategies[branch].refine_stop_iter:
            field = getattr(self.model, branch)
            strategy_args = (
                field.params,
                self.optimizers.gaussians[branch],
                self.strategy_states[branch],
            )
            self.strategies[branch].step_pre_backward(*strategy_args, self.iteration, info)
        self.optimizers.zero_grad()
        loss.backward()
        self.optimizers.set_iteration(self.iteration)
        self.optimizers.step()
        if branch is not None and strategy_args is not None:
            self.strategies[branch].step_post_backward(
                *strategy_args, self.iteration, info, packed=False
            )
        terms = {"loss": loss.detach(), **{k: v.detach() for k, v in terms.items()}}
        return terms, image.detach(), target

    def _motion_terms(
        self, face_g: dict[str, Tensor], extra: dict[str, Tensor], sample: FrameSample,
        hair_out: bool,
    ) -> dict[str, Tensor]:  # fmt: skip
        """train_face.py's regularisers of the deformed face."""
        p = self.preset
        terms: dict[str, Tensor] = {}
        if p.lambda_offset > 0:
            terms["offset"] = p.lambda_offset * losses.offsets(extra["delta"])
        if p.lambda_attention > 0:
            attention = render_attention(
                face_g, extra["attention"], sample, p.resolution, self.runtime.renderer,
                p.tile_size,
            )  # fmt: skip
            terms["attention"] = p.lambda_attention * losses.attention(
                attention, sample.lips_box, sample.hair_mask, hair_in_loss=not hair_out
            )
        return terms

    # -- the loop ---------------------------------------------------------------------------
    def advance(self) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """One iteration of the schedule: the phase's trainable parameters, the frames to
        decode ahead, :meth:`step`."""
        phase, _ = self.schedule.phase_at(self.iteration)
        if phase is not self._phase:
            freeze_for(self.model, phase)
            self._phase = phase
        self.data.prefetch(self.draws.frames[self.iteration + 1 : self.iteration + 1 + PREFETCH])
        result = self.step(phase)
        self.iteration += 1
        return result

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.stop_signal = signum

    def run(self) -> dict[str, Any]:
        self.try_resume()
        start_iteration = self.iteration
        handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGUSR1)}
        self._open_writer()
        self.runtime.synchronize()
        started = time.perf_counter()
        try:
            bar = progress(
                range(self.iteration, self.total),
                f"train {self.stage}",
                total=self.total - self.iteration,
            )
            for _ in bar:
                terms, image, target = self.advance()
                if self.iteration % self.preset.log_every == 0 or self.iteration == self.total:
                    self._log(terms, image, target)
                if self.iteration % self.preset.snapshot_every == 0:
                    self.snapshot()
                stopping = self.stop_signal is not None
                due = self.iteration % self.preset.checkpoint_every == 0
                if stopping or (due and self.iteration < self.total):
                    self.runtime.synchronize()
                    self.elapsed += time.perf_counter() - started
                    started = time.perf_counter()
                    self.save_checkpoint()
                if stopping:
                    assert self.stop_signal is not None
                    raise Interrupted(self.stop_signal, self.checkpoint_path)
        finally:
            for s, handler in handlers.items():
                signal.signal(s, handler)
            if self.writer is not None:
                self.writer.close()
        self.runtime.synchronize()
        self.elapsed += time.perf_counter() - started
        if self.iteration != start_iteration or self.total == 0:
            self.snapshot()
        return {"resumed_from": start_iteration, "run_iterations": self.iteration - start_iteration}

    def _open_writer(self) -> None:
        if self.tensorboard_dir is None:
            return
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(self.tensorboard_dir / self.stage))

    def _log(self, terms: dict[str, Tensor], image: Tensor, target: Tensor) -> None:
        """The only place the loop reads values back from the device."""
        record: dict[str, Any] = {
            "iteration": self.iteration,
            **{key: float(value) for key, value in terms.items()},
            "psnr": psnr(image, target),
            "face_gaussians": len(self.model.face),
            "mouth_gaussians": len(self.model.mouth),
        }
        self.history.append(record)
        if self.writer is not None:
            for key, value in record.items():
                if key != "iteration":
                    self.writer.add_scalar(f"{self.stage}/{key}", value, self.iteration)

    def snapshot(self) -> None:
        """Ground truth | render | error of the first validation frame, as a PNG."""
        if self.snapshot_dir is None:
            return
        image, sample = self.render_frame(self.data.val_ids[0])
        error = (image - sample.image).abs().mean(2, keepdim=True).clamp(0, 0.25) * 4
        heat = torch.cat([error, 1 - (1 - error) ** 4, torch.zeros_like(error)], 2)
        strip = torch.cat([sample.image, image, heat], 1)
        self.snapshot_dir.mkdir(parents=True, exist_ok=True)
        write_png(self.snapshot_dir / f"{self.stage}_{self.iteration:06d}.png", to_uint8(strip))

    @torch.no_grad()
    def render_frame(self, index: int) -> tuple[Tensor, FrameSample]:
        """This stage's view of frame ``index``: face over background, mouth, or both."""
        sample = self.data.sample(index)
        cond = self.data.conditions(index)
        image = render_view(
            self.model, sample, self.stage, self.runtime.renderer, self.method, cond
        )
        return image, sample
