"""The training stages of one identity and method: face, mouth, fuse.

Each stage is its own Snakemake rule and artifact (``methods/<method>/<stage>.pt``):

- **face**: face Gaussians from head pixels of training frames, first static, then with the
  deformation networks. ``talkinggaussian``/``hmtalker`` supervise the head region and its
  alpha (TalkingGaussian's region supervision); ``m2dao`` the full portrait composited over the
  frame's background layer, the face's alpha left free (motion consistency, eq. 11).
- **mouth**: inside-mouth Gaussians, supervised on the mouth region composited over the
  background layer (TalkingGaussian's train_mouth).
- **fuse**: both branches composited over the background (M2DAO eq. 12) against the whole
  frame, L1 + λ·D-SSIM (+ LPIPS when its weights are present) (+ L_align for ``hmtalker``);
  ``m2dao`` first trains the face with the mouth frozen, then both (alternating optimisation).

Training is seeded and deterministic on the CPU; state is checkpointed every
``checkpoint_every`` iterations and when SLURM signals the job (SIGTERM before a time limit or
preemption, SIGUSR1 when asked with ``--signal``); a rerun resumes from the checkpoint.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from talkgs.atomic import StagedOutputs, write_json
from talkgs.errors import TalkgsError, input_error
from talkgs.face.labels import Label
from talkgs.log import progress
from talkgs.metrics import image as image_metrics
from talkgs.metrics.ssim import hwc_to_batch, ssim_map
from talkgs.png import write_png
from talkgs.splat import rasterize
from talkgs.train.data import (
    AU_LOWER,
    AU_TALKINGGAUSSIAN,
    AU_UPPER,
    MOUTH_LABELS,
    FrameSample,
    IdentityData,
)
from talkgs.train.model import Conditions, GaussianField, TalkingHead
from talkgs.train.presets import STAGES, Method

log = logging.getLogger("talkgs.train")

MODEL_FORMAT = "talkgs-model/1"
CHECKPOINT_FORMAT = "talkgs-checkpoint/1"
HEAD_INIT_LABELS = (Label.FACE, Label.LIPS, Label.EYES, Label.BROWS, Label.HAIR)
ALPHA_WEIGHT = 0.1  # region supervision of the face's / mouth's alpha


@dataclass(frozen=True)
class TrainParams:
    backend: str = "auto"  # renderer: torch (CPU) | gsplat (CUDA) | auto
    threads: int = 2
    seed: int = 0
    checkpoint_dir: Path | None = None  # resumable state; None: no checkpoints
    snapshot_dir: Path | None = None  # periodic PNG snapshots
    tensorboard_dir: Path | None = None
    lpips: Any = None  # a callable (image, target) → loss, when its weights are present


class Interrupted(TalkgsError):
    """SLURM (or a user) asked the job to stop; the state is in the checkpoint."""

    def __init__(self, signum: int, checkpoint: Path | None) -> None:
        super().__init__(
            f"training stopped by signal {signal.Signals(signum).name}; "
            + (f"state saved to {checkpoint}, a rerun resumes" if checkpoint else "no checkpoint")
        )
        self.signum = signum


# ----------------------------------------------------------------------------------------------
# model construction and files


def initial_fields(data: IdentityData, method: Method) -> tuple[GaussianField, GaussianField]:
    """Face and mouth Gaussians back-projected from head / mouth pixels of training frames."""
    preset = method.preset
    generator = torch.Generator().manual_seed(0)
    picks = np.linspace(0, len(data.train_ids) - 1, min(8, len(data.train_ids))).astype(int)
    face_width = float(np.ptp(data.face_vertices[:, 0]))
    face_depth = float(np.median(data.face_vertices[:, 2]))

    def back_project(
        labels: tuple[Label, ...], count: int, depth_offset: float, frames: list[int]
    ) -> tuple[Tensor, Tensor, Tensor]:
        points, colours = [], []
        for index in frames:
            pixels, rgb = data.head_pixels(index, labels)
            if len(pixels) == 0:
                continue
            viewmat, K = data.camera(index)
            rays = torch.cat([torch.from_numpy(pixels) + 0.5, torch.ones(len(pixels), 1)], 1)
            rays = rays @ torch.linalg.inv(K).T  # camera directions
            rotation, translation = viewmat[:3, :3], viewmat[:3, 3]
            origin = -rotation.T @ translation  # camera centre in head space
            directions = rays @ rotation  # = (Rᵀ d)ᵀ
            depth = (face_depth + depth_offset - origin[2]) / directions[:, 2]
            points.append(origin + depth[:, None] * directions)
            colours.append(torch.from_numpy(rgb))
        if not points:
            raise input_error(
                data.layout.parsing,
                f"no pixels labelled {labels[0].name.lower()} in the training frames",
            )
        all_points, all_colours = torch.cat(points), torch.cat(colours)
        chosen = torch.randperm(len(all_points), generator=generator)[:count]
        jitter = (torch.rand(len(chosen), 3, generator=generator) - 0.5) * face_width * 0.02
        pixel_size = float(data.translations[frames[0], 2]) / float(data.K[0, 0])
        spacing = math.sqrt(len(all_points) / len(frames) / count) * pixel_size
        scale = torch.tensor([spacing, spacing, spacing * 0.5]).expand(len(chosen), 3)
        return all_points[chosen] + jitter, all_colours[chosen], scale.clone()

    face = GaussianField(
        *back_project(HEAD_INIT_LABELS, preset.face_points, 0.0, [data.train_ids[i] for i in picks])
    )
    mouth_frames = _open_mouth_frames(data)
    mouth = GaussianField(
        *back_project(MOUTH_LABELS, preset.mouth_points, 0.05 * face_width, mouth_frames)
    )
    return face, mouth


def _open_mouth_frames(data: IdentityData, count: int = 8) -> list[int]:
    """Training frames with the most mouth-interior pixels (the mouth field's init)."""
    step = max(1, len(data.train_ids) // 64)
    candidates = data.train_ids[::step]
    areas = [float(data.sample(i).mouth_mask.sum()) for i in candidates]
    order = np.argsort(areas)[::-1][:count]
    chosen = [candidates[i] for i in order if areas[i] > 0]
    if not chosen:
        raise input_error(data.layout.parsing, "no frame shows the inside of the mouth")
    return chosen


def build_model(data: IdentityData, method: Method) -> TalkingHead:
    face, mouth = initial_fields(data, method)
    return TalkingHead(method, face, mouth, data.audio_shape)


def save_model(
    path: Path, model: TalkingHead, method: Method, stage: str, identity: str, iteration: int
) -> None:
    torch.save(
        {
            "format": MODEL_FORMAT,
            "identity": identity,
            "method": method.describe(),
            "stage": stage,
            "iteration": iteration,
            "face_count": len(model.face),
            "mouth_count": len(model.mouth),
            "state": model.state_dict(),
        },
        path,
    )


def load_model(path: Path, method: Method, audio_shape: tuple[int, int]) -> TalkingHead:
    """A trained model file (``torch.load(weights_only=True)``), checked against ``method``."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise input_error(path, f"cannot load the model ({str(error).splitlines()[0]})") from error
    if not isinstance(blob, dict) or blob.get("format") != MODEL_FORMAT:
        raise input_error(path, f"not a {MODEL_FORMAT} file")
    if blob["method"]["family"] != method.family:
        raise input_error(
            path, f"trained as family {blob['method']['family']}, not {method.family}"
        )
    return model_from_state(
        blob["state"], blob["face_count"], blob["mouth_count"], method, audio_shape
    )


def model_from_state(
    state: dict[str, Tensor],
    face_count: int,
    mouth_count: int,
    method: Method,
    audio_shape: tuple[int, int],
) -> TalkingHead:
    def empty(count: int) -> GaussianField:
        return GaussianField(
            torch.zeros(count, 3), torch.full((count, 3), 0.5), torch.ones(count, 3)
        )

    model = TalkingHead(method, empty(face_count), empty(mouth_count), audio_shape)
    model.load_state_dict(state)
    return model


# ----------------------------------------------------------------------------------------------
# rendering and losses


def render(
    gaussians: dict[str, Tensor],
    sample: FrameSample,
    resolution: int,
    params: TrainParams,
    tile_size: int,
) -> Any:
    return rasterize(
        gaussians["means"],
        gaussians["quats"],
        gaussians["scales"],
        gaussians["opacities"],
        gaussians["colors"],
        sample.viewmat,
        sample.K,
        resolution,
        resolution,
        backend=params.backend,
        tile_size=tile_size,
    )


def photometric(
    image: Tensor, target: Tensor, weight: Tensor | None, lambda_dssim: float
) -> Tensor:
    """L1 + λ·D-SSIM over ``[H, W, 3]`` images, optionally weighted per pixel ``[H, W, 1]``."""
    l1 = (image - target).abs()
    ssim = ssim_map(hwc_to_batch(image), hwc_to_batch(target))[0].permute(1, 2, 0)
    if weight is None:
        return l1.mean() + lambda_dssim * (1 - ssim.mean())
    total = weight.sum().clamp_min(1.0) * 3
    return (l1 * weight).sum() / total + lambda_dssim * ((1 - ssim) * weight).sum() / total


def to_uint8(image: Tensor) -> np.ndarray:
    """``[H, W, C]`` in [0, 1] → uint8."""
    return (image.detach().clamp(0, 1) * 255).round().byte().numpy()


def psnr(image: Tensor, target: Tensor | FrameSample) -> float:
    """PSNR of a render (clipped to [0, 1], as it is saved) against a target or a sample's frame."""
    if isinstance(target, FrameSample):
        target = target.image
    return image_metrics.psnr(image.detach().clamp(0, 1), target)


def conditions(
    data: IdentityData,
    index: int,
    path: str = "audio",
    mask_ratio: float = 0.0,
    audio: Tensor | None = None,
    audio_index: int | None = None,
) -> Conditions:
    """Frame ``index``'s conditions; ``audio``/``audio_index`` drive it with other audio
    features (another identity's, or silence) while its AUs stay the frame's own."""
    return Conditions(
        audio=data.audio_window(index if audio_index is None else audio_index, audio)[None],
        au_upper=data.au_vector(index, AU_UPPER)[None],
        au_lower=data.au_vector(index, AU_LOWER)[None],
        au_expression=data.au_vector(index, AU_TALKINGGAUSSIAN)[None],
        path=path,
        mask_ratio=mask_ratio,
    )


def composite(face: Any, mouth: Any, background: Tensor) -> Tensor:
    """M2DAO eq. 12: ``Î_f A_f + (Î_m A_m + I_bg (1 − A_m)) (1 − A_f)``; the renderer's images
    are already multiplied by their alpha."""
    return face.image + (1 - face.alpha) * (mouth.image + (1 - mouth.alpha) * background)


# ----------------------------------------------------------------------------------------------
# the training loop


@dataclass
class Phase:
    name: str  # e.g. "face-static"
    iterations: int
    train_face: bool
    train_mouth: bool
    face_motion: bool
    mouth_motion: bool
    loss: str  # "face" | "mouth" | "fuse"
    densify: str | None  # "face" | "mouth" | None


def phases(method: Method, stage: str) -> list[Phase]:
    p = method.preset
    if stage == "face":
        return [
            Phase("face-static", p.face_static_iters, True, False, False, False, "face", "face"),
            Phase("face-motion", p.face_motion_iters, True, False, True, False, "face", "face"),
        ]
    if stage == "mouth":
        return [Phase("mouth", p.mouth_iters, False, True, False, True, "mouth", "mouth")]
    if method.option("alternating"):  # M2DAO eq. 12–13: face with the mouth frozen, then joint
        first = round(p.fuse_iters * method.option("alternating_share"))
        return [
            Phase("fuse-face", first, True, False, True, True, "fuse", None),
            Phase("fuse-joint", p.fuse_iters - first, True, True, True, True, "fuse", None),
        ]
    return [Phase("fuse", p.fuse_iters, True, True, True, True, "fuse", None)]


class Trainer:
    def __init__(
        self,
        data: IdentityData,
        method: Method,
        stage: str,
        model: TalkingHead,
        params: TrainParams,
    ) -> None:
        self.data, self.method, self.stage, self.model, self.params = (
            data,
            method,
            stage,
            model,
            params,
        )
        self.preset = method.preset
        self.phases = [phase for phase in phases(method, stage) if phase.iterations > 0]
        self.total = sum(phase.iterations for phase in self.phases)
        self.generator = torch.Generator().manual_seed(params.seed)
        self.iteration = 0
        self.elapsed = 0.0
        self.stop_signal: int | None = None
        self.scene_scale = self.scene_scale_guess(model.face)
        self.gaussian_optimizers: dict[str, dict[str, torch.optim.Optimizer]] = {
            "face": self._field_optimizers(model.face),
            "mouth": self._field_optimizers(model.mouth),
        }
        network_params = [
            p for name, p in model.named_parameters() if not name.startswith(("face.", "mouth."))
        ]
        self.network_optimizer = torch.optim.AdamW(
            network_params, lr=self.preset.lr_network, weight_decay=0.0
        )
        self.strategies = {name: self._strategy() for name in ("face", "mouth")}
        self.strategy_states = {
            name: self.strategies[name].initialize_state(scene_scale=self.scene_scale)
            for name in ("face", "mouth")
        }
        self.writer = None
        self.history: list[dict[str, float]] = []

    def _field_optimizers(self, field: GaussianField) -> dict[str, torch.optim.Optimizer]:
        p = self.preset
        rates = {
            "means": p.lr_means * self.scene_scale_guess(field),
            "scales": p.lr_scales,
            "quats": p.lr_quats,
            "opacities": p.lr_opacities,
            "colors": p.lr_colors,
        }
        return {
            name: torch.optim.Adam([field.params[name]], lr=rate, eps=1e-15)
            for name, rate in rates.items()
        }

    @staticmethod
    def scene_scale_guess(field: GaussianField) -> float:
        means = field.params["means"].detach()
        return max(float((means.amax(0) - means.amin(0)).norm()), 1e-3)

    def _strategy(self) -> Any:
        from gsplat.strategy import DefaultStrategy

        p = self.preset
        return DefaultStrategy(
            refine_start_iter=p.refine_start,
            refine_stop_iter=p.refine_stop,
            refine_every=p.refine_every,
            reset_every=p.reset_every,
            grow_grad2d=p.grow_grad2d,
            absgrad=False,
            verbose=False,
        )

    # -- checkpoints -----------------------------------------------------------------------
    def checkpoint_path(self) -> Path | None:
        if self.params.checkpoint_dir is None:
            return None
        return self.params.checkpoint_dir / f"{self.stage}.pt"

    def save_checkpoint(self) -> None:
        path = self.checkpoint_path()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        blob = {
            "format": CHECKPOINT_FORMAT,
            "method": self.method.describe(),
            "stage": self.stage,
            "iteration": self.iteration,
            "elapsed": self.elapsed,
            "face_count": len(self.model.face),
            "mouth_count": len(self.model.mouth),
            "model": self.model.state_dict(),
            "network_optimizer": self.network_optimizer.state_dict(),
            "gaussian_optimizers": {
                field: {k: o.state_dict() for k, o in opts.items()}
                for field, opts in self.gaussian_optimizers.items()
            },
            "strategy_states": self.strategy_states,
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "history": self.history,
        }
        temp = path.with_name(f".{path.name}.tmp")
        torch.save(blob, temp)
        temp.replace(path)

    def try_resume(self) -> bool:
        path = self.checkpoint_path()
        if path is None or not path.is_file():
            return False
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # a checkpoint cut off by a kill: start over, say so
            log.warning(
                "%s: unreadable checkpoint (%s); starting from scratch",
                path,
                str(error).splitlines()[0],
            )
            return False
        if blob.get("format") != CHECKPOINT_FORMAT or blob.get("method") != self.method.describe():
            log.info("%s: checkpoint of other settings; starting from scratch", path)
            return False
        audio_shape = self.data.audio_shape
        self.model = model_from_state(
            blob["model"], blob["face_count"], blob["mouth_count"], self.method, audio_shape
        )
        self.gaussian_optimizers = {
            "face": self._field_optimizers(self.model.face),
            "mouth": self._field_optimizers(self.model.mouth),
        }
        for field, states in blob["gaussian_optimizers"].items():
            for key, state in states.items():
                self.gaussian_optimizers[field][key].load_state_dict(state)
        network_params = [
            p
            for name, p in self.model.named_parameters()
            if not name.startswith(("face.", "mouth."))
        ]
        self.network_optimizer = torch.optim.AdamW(
            network_params, lr=self.preset.lr_network, weight_decay=0.0
        )
        self.network_optimizer.load_state_dict(blob["network_optimizer"])
        self.strategy_states = blob["strategy_states"]
        self.generator.set_state(blob["generator"])
        torch.set_rng_state(blob["torch_rng"])
        self.iteration = int(blob["iteration"])
        self.elapsed = float(blob["elapsed"])
        self.history = list(blob["history"])
        log.info(
            "resumed %s from %s at iteration %d of %d", self.stage, path, self.iteration, self.total
        )
        return True

    # -- signals ----------------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: Any) -> None:
        self.stop_signal = signum

    # -- one step ----------------------------------------------------------------------------
    def _phase_at(self, iteration: int) -> tuple[Phase, int]:
        start = 0
        for phase in self.phases:
            if iteration < start + phase.iterations:
                return phase, iteration - start
            start += phase.iterations
        return self.phases[-1], self.phases[-1].iterations

    def _path(self) -> tuple[str, float]:
        """HM-Talker's stochastic fusion path and audio mask ratio for this iteration."""
        if self.method.family != "hmtalker":
            return "audio", 0.0
        ratios = torch.tensor(self.method.option("path_ratios"), dtype=torch.float)
        choice = int(torch.multinomial(ratios / ratios.sum(), 1, generator=self.generator))
        low, high = self.method.option("mask_ratio")
        ratio = low + (high - low) * float(torch.rand(1, generator=self.generator))
        return ("audio", "masked", "vanilla")[choice], ratio

    def step(self, phase: Phase, phase_iteration: int) -> dict[str, float]:
        p, params = self.preset, self.params
        index = self.data.train_ids[
            int(torch.randint(len(self.data.train_ids), (1,), generator=self.generator))
        ]
        sample = self.data.sample(index)
        path, ratio = self._path()
        cond = conditions(self.data, index, path, ratio)
        face_cond = cond if phase.face_motion else None
        losses: dict[str, Tensor] = {}
        if phase.loss in ("face", "fuse"):
            face_g, extra = self.model.face_gaussians(face_cond)
            face = render(face_g, sample, p.resolution, params, p.tile_size)
            if "align" in extra:
                losses["align"] = p.lambda_align * extra["align"]
        if phase.loss in ("mouth", "fuse"):
            mouth_g = self.model.mouth_gaussians(cond if phase.mouth_motion else None)
            mouth = render(mouth_g, sample, p.resolution, params, p.tile_size)
        if phase.loss == "face":
            not_mouth = 1 - sample.mouth_mask
            image = face.image + (1 - face.alpha) * sample.background
            losses["photo"] = photometric(image, sample.image, not_mouth, p.lambda_dssim)
            if self.method.option("region_supervision"):
                losses["alpha"] = ALPHA_WEIGHT * (face.alpha - sample.head_mask).abs().mean()
            info = face.info
        elif phase.loss == "mouth":
            target = sample.image * sample.mouth_mask + sample.background * (1 - sample.mouth_mask)
            image = mouth.image + (1 - mouth.alpha) * sample.background
            losses["photo"] = photometric(image, target, None, p.lambda_dssim)
            sample = dataclasses.replace(sample, image=target)
            info = mouth.info
        else:
            image = composite(face, mouth, sample.background)
            losses["photo"] = photometric(image, sample.image, None, p.lambda_dssim)
            if params.lpips is not None:
                losses["lpips"] = p.lambda_lpips * params.lpips(image, sample.image)
            info = face.info
        loss = sum(losses.values())
        assert isinstance(loss, Tensor)

        densify = phase.densify
        strategy_args = None
        if densify is not None and phase_iteration < p.refine_stop:
            field_module = self.model.face if densify == "face" else self.model.mouth
            strategy_args = (
                field_module.params,
                self.gaussian_optimizers[densify],
                self.strategy_states[densify],
            )
            self.strategies[densify].step_pre_backward(*strategy_args, self.iteration, info)
        self._zero_grad()
        loss.backward()
        self._optimizer_step(phase)
        if strategy_args is not None:
            self.strategies[densify].step_post_backward(
                *strategy_args, self.iteration, info, packed=False
            )
        return {
            "loss": float(loss.detach()),
            "psnr": psnr(image, sample.image),
            **{k: float(v.detach()) for k, v in losses.items()},
        }

    def _zero_grad(self) -> None:
        self.network_optimizer.zero_grad(set_to_none=True)
        for opts in self.gaussian_optimizers.values():
            for o in opts.values():
                o.zero_grad(set_to_none=True)

    def _optimizer_step(self, phase: Phase) -> None:
        if phase.train_face:
            for o in self.gaussian_optimizers["face"].values():
                o.step()
        if phase.train_mouth:
            for o in self.gaussian_optimizers["mouth"].values():
                o.step()
        if phase.face_motion or phase.mouth_motion:
            if not phase.train_mouth:  # frozen branch: its networks get no update either
                for p in self.model.mouth_motion.parameters():
                    p.grad = None
            if not phase.train_face:
                for p in self.model.face_motion.parameters():
                    p.grad = None
            self.network_optimizer.step()

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        self.try_resume()
        start_iteration = self.iteration
        handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGUSR1)}
        self._open_writer()
        started = time.perf_counter()
        try:
            bar = progress(
                range(self.iteration, self.total),
                f"train {self.stage}",
                total=self.total - self.iteration,
            )
            for _ in bar:
                phase, phase_iteration = self._phase_at(self.iteration)
                stats = self.step(phase, phase_iteration)
                self.iteration += 1
                if self.iteration % self.preset.log_every == 0 or self.iteration == self.total:
                    self._log(stats, phase)
                if self.iteration % self.preset.snapshot_every == 0:
                    self.snapshot()
                if self.stop_signal is not None:
                    self.elapsed += time.perf_counter() - started
                    started = time.perf_counter()
                    self.save_checkpoint()
                    raise Interrupted(self.stop_signal, self.checkpoint_path())
                if (
                    self.iteration % self.preset.checkpoint_every == 0
                    and self.iteration < self.total
                ):
                    self.elapsed += time.perf_counter() - started
                    started = time.perf_counter()
                    self.save_checkpoint()
        finally:
            for s, handler in handlers.items():
                signal.signal(s, handler)
            if self.writer is not None:
                self.writer.close()
        self.elapsed += time.perf_counter() - started
        if self.iteration != start_iteration or self.total == 0:
            self.snapshot()
        run_iterations = self.iteration - start_iteration
        return {"resumed_from": start_iteration, "run_iterations": run_iterations}

    def _open_writer(self) -> None:
        if self.params.tensorboard_dir is None:
            return
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(self.params.tensorboard_dir / self.stage))

    def _log(self, stats: dict[str, float], phase: Phase) -> None:
        record = {
            "iteration": self.iteration,
            **stats,
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
        if self.params.snapshot_dir is None:
            return
        image, sample = self.render_frame(self.data.val_ids[0])
        error = (image - sample.image).abs().mean(2, keepdim=True).clamp(0, 0.25) * 4
        heat = torch.cat([error, 1 - (1 - error) ** 4, torch.zeros_like(error)], 2)
        strip = torch.cat([sample.image, image, heat], 1)
        self.params.snapshot_dir.mkdir(parents=True, exist_ok=True)
        write_png(
            self.params.snapshot_dir / f"{self.stage}_{self.iteration:06d}.png", to_uint8(strip)
        )

    @torch.no_grad()
    def render_frame(self, index: int) -> tuple[Tensor, FrameSample]:
        """This stage's view of frame ``index``: face over background, mouth, or both."""
        sample = self.data.sample(index)
        cond = conditions(self.data, index)
        return render_view(self.model, sample, self.stage, self.params, self.method, cond), sample


@torch.no_grad()
def render_view(
    model: TalkingHead,
    sample: FrameSample,
    stage: str,
    params: TrainParams,
    method: Method,
    cond: Conditions,
) -> Tensor:
    """A frame as the given stage sees it (face or mouth over the background, or the fuse)."""
    p = method.preset
    if stage == "mouth":
        mouth = render(model.mouth_gaussians(cond), sample, p.resolution, params, p.tile_size)
        return mouth.image + (1 - mouth.alpha) * sample.background
    face_g, _ = model.face_gaussians(cond)
    face = render(face_g, sample, p.resolution, params, p.tile_size)
    if stage == "face":
        return face.image + (1 - face.alpha) * sample.background
    mouth = render(model.mouth_gaussians(cond), sample, p.resolution, params, p.tile_size)
    return composite(face, mouth, sample.background)


# ----------------------------------------------------------------------------------------------
# the stage entry point


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
    torch.manual_seed(params.seed)
    torch.set_num_threads(params.threads)
    identity = Path(inputs.identity_root).name
    data = IdentityData(
        inputs.identity_root,
        method.preset.resolution,
        method.option("audio_features"),
        method.preset.audio_window,
    )
    if stage == "fuse":
        if inputs.face_model is None or inputs.mouth_model is None:
            raise TalkgsError("the fuse stage needs --face-model and --mouth-model")
        face_model = load_model(inputs.face_model, method, data.audio_shape)
        mouth_model = load_model(inputs.mouth_model, method, data.audio_shape)
        model = face_model
        model.mouth = mouth_model.mouth
        model.mouth_motion = mouth_model.mouth_motion
    else:
        model = build_model(data, method)
    trainer = Trainer(data, method, stage, model, params)
    with StagedOutputs(outputs.model, outputs.summary) as staged:
        result = trainer.run()
        val_psnr = float(
            np.mean(
                [
                    psnr(*trainer.render_frame(i))
                    for i in data.val_ids[:: max(1, len(data.val_ids) // 8)]
                ]
            )
        )
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
            "backend": params.backend,
            "history": trainer.history,
        }
        write_json(staged[outputs.summary], summary)
    if trainer.checkpoint_path() is not None and trainer.checkpoint_path().exists():
        trainer.checkpoint_path().unlink()  # the model file now holds the result
    log.info(
        "train %s: %s on %s, %d iterations in %.1f s (%.2f it/s), %d face + %d mouth Gaussians, "
        "validation PSNR %.2f dB (this stage's view)",
        stage,
        method.name,
        identity,
        trainer.iteration,
        trainer.elapsed,
        summary["iterations_per_second"],
        summary["face_gaussians"],
        summary["mouth_gaussians"],
        val_psnr,
    )
    return summary
