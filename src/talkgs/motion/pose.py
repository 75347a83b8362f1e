"""Talk2Me's Retrieval-Based Pose Generator (paper 003, §4.3.2; loss eq. 12, §4.4): audio and
expressions → one head pose per frame, grounded in the identity's own recorded motion.

What follows the paper:

- **Audio-pose database** ``D``: the identity's training frames cut into units of
  :attr:`PoseParams.unit` frames, each stored with its audio key and its recorded poses.
- **Retrieval**: the driving audio, cut into units of the same length, is encoded to ``a'`` and
  matched by cosine similarity with the database keys; the retrieved units' poses, end to end,
  are the initial poses ``p̂``.
- **Pose Refiner** (Fig. 12): ``p̂``, the expressions ``e'`` and the audio each pass a linear
  projection; the Kronecker fusion of eq. 9, ``f_p = φ_p(p̂ ⊗ e')``; a cross-attention block to
  the audio embedding; a Transformer decoder (self-attention over time, cross-attention to the
  audio) and a linear head predicting residuals, ``p = p̂ + Δp`` (the head starts at zero, so an
  untrained refiner returns the retrieval).
- **Loss** (eq. 12): ``L_P = λ_gan L_gan + λ_rec |p − p_gt|₁ + λ_vel |v|₁`` with
  ``v_t = p_t − p_{t−1}``, ``λ_rec = 10``, ``λ_vel = 1``; ``L_gan`` from a **dual-branch
  discriminator** (a global branch scoring the whole sequence, a local branch scoring each short
  stretch) on poses and their velocities, least-squares GAN losses, the discriminator at the
  paper's lr of 1e-3.

What differs, and why:

- **Pose**: a 6-vector per frame, the rotation vector of ``R_t R̄ᵀ`` (radians) and ``t_t − t̄``
  (``R̄``, ``t̄``: the training frames' mean camera-from-head pose of ``pose.npz``), divided by the
  training frames' standard deviation of each component.
- **Retrieval key ``a'``**: a fixed encoding of each unit's mel windows (the mean and standard
  deviation over the unit of each mel band, minus the database's mean), not a learnt one: the
  database never needs rebuilding as the refiner trains, and no pretrained audio model
  (the paper does not say which encoder it uses). Units overlap by half
  (:attr:`PoseParams.unit` ÷ 2 stride) for twice the candidates on a short clip. Of the
  :attr:`PoseParams.candidates` most similar units, the one that starts nearest the previous
  unit's last pose is taken, and shifted by the gap that remains, the shift fading to zero over
  the unit, so that consecutive units join without a jump (a motion-graph blend; the paper
  leaves the joins to the refiner).
- **Training pairs**: a training sequence retrieves from units that do not overlap it (else it
  would retrieve its own poses and the refiner would learn nothing).
- **Expressions**: the recorded ones (AUs + EAR, ``au.csv`` + ``eyes.csv``) in training; the
  identity's Expression Generator's, from the driving audio, when generating — the paper trains
  both jointly, talkgs one after the other (each a cached stage).
- **Residuals are slow**: ``Δp`` passes a fixed Gaussian low-pass (σ = 4 frames, 0.16 s) before
  it is added, so the retrieved units (recorded motion) carry the fine detail and the refiner
  only corrects their course. Without it the refiner's frame-wise audio conditioning put
  ripples on the poses (on ``real_german_20s.mp4`` a jerk of ~1 400°/s³ against 345 for the
  retrieval alone and 34 recorded; its Fréchet distance to the recorded velocities 105 → 45).
- **Range**: generated poses are clipped to the range of the training poses in each component,
  so that a render never shows the avatar from a side it was not trained on.
- **CPU-sized defaults** (:class:`PoseParams`): the paper trains for 2 000 epochs at lr 1e-4; here
  500 AdamW steps at lr 2e-3 with small widths. ``λ_gan`` is not given in the paper (0.1 here).

Over 450 lines on purpose: the Pose Refiner's networks, training, model file and stage stay in
one module so that it reads against the paper section above (a third of it is this text).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from talkgs import log as talkgs_log
from talkgs.atomic import StagedOutputs
from talkgs.errors import TalkgsError, first_line, input_error
from talkgs.features.expression import EXPRESSION_NAMES, expression_table
from talkgs.metrics.head_motion import head_motion_metrics
from talkgs.motion import expression
from talkgs.motion.expression import AudioEncoder, kronecker, over_windows, sinusoidal_positions
from talkgs.motion.retrieval import POSE_DIM, Database, PoseSpace
from talkgs.pose.camera import euler_from_rotation, log_so3
from talkgs.pose.transforms import camera_file, split

log = logging.getLogger("talkgs.poses")

FORMAT = "talkgs-pose-generator/1"
FPS = 25.0
RESIDUAL_SIGMA = 4.0  # frames (0.16 s): the Gaussian low-pass on Δp (module docstring)


@dataclass(frozen=True)
class PoseParams:
    unit: int = 16  # N, frames per database unit (0.64 s); paper: not given
    sequence: int = 32  # frames per training sequence (two units); paper: not given
    candidates: int = 3  # most similar units among which continuity decides
    iterations: int = 500  # optimizer steps; paper: 2 000 epochs
    batch: int = 8
    lr: float = 2e-3  # the refiner (AdamW); paper: 1e-4
    discriminator_lr: float = 1e-3  # paper: 1e-3
    weight_decay: float = 1e-4
    rec_weight: float = 10.0  # λ_rec, paper
    vel_weight: float = 1.0  # λ_vel, paper
    gan_weight: float = 0.1  # λ_gan; paper: not given
    audio_dim: int = 32
    kron_dim: int = 8  # p̂ and e' projected to this before eq. 9's Kronecker product
    model_dim: int = 32
    heads: int = 4
    layers: int = 1  # Transformer decoder layers
    dropout: float = 0.1
    seed: int = 0
    threads: int = 2

    def model_config(self) -> dict[str, Any]:
        names = ("unit", "sequence", "candidates", "audio_dim", "kron_dim", "model_dim", "heads")
        return {name: getattr(self, name) for name in (*names, "layers", "dropout")}


@dataclass(frozen=True)
class PoseInputs:
    audio_features: Path  # features/aud_mel.npy [T, 16, 80]
    au: Path  # features/au.csv
    eyes: Path  # features/eyes.csv
    pose: Path  # pose/pose.npz
    expression_generator: Path  # motion/expression_generator.pt (e' of the validation audio)


@dataclass(frozen=True)
class PoseOutputs:
    model: Path  # motion/pose_generator.pt
    summary: Path  # motion/pose_generator.json
    poses: Path  # motion/poses_val.json: generated for the validation audio (camera file)
    plot: Path | None = None  # motion/poses.png


# networks ------------------------------------------------------------------------------------
class PoseRefiner(nn.Module):
    """``p̂`` ``[B, L, 6]``, expressions ``[B, L, C]`` and mel windows ``[B, L, W, D]`` →
    refined poses ``[B, L, 6]`` (module docstring, Fig. 12)."""

    def __init__(self, windows: int, bins: int, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = {"windows": windows, "bins": bins, **config}
        k, d, heads = config["kron_dim"], config["model_dim"], config["heads"]
        self.audio_encoder = AudioEncoder(windows, bins, config["audio_dim"], 1)
        self.pose_in = nn.Linear(POSE_DIM, k)
        self.expression_in = nn.Linear(len(EXPRESSION_NAMES), k)
        self.fusion = nn.Linear(k * k, d)  # φ_p of eq. 9
        self.audio_in = nn.Linear(config["audio_dim"], d)
        self.cross = nn.MultiheadAttention(d, heads, dropout=config["dropout"], batch_first=True)
        self.cross_norm = nn.LayerNorm(d)
        layer = nn.TransformerDecoderLayer(d, heads, 2 * d, config["dropout"], batch_first=True)
        self.decoder = nn.TransformerDecoder(layer, config["layers"])
        self.head = nn.Linear(d, POSE_DIM)
        nn.init.zeros_(self.head.weight)  # Δp = 0 at first: the retrieval itself
        nn.init.zeros_(self.head.bias)
        self.register_buffer("low_pass", gaussian_kernel(RESIDUAL_SIGMA))

    def forward(self, retrieved: Tensor, expressions: Tensor, mel: Tensor) -> Tensor:
        audio, _ = self.audio_encoder(mel)
        audio = self.audio_in(audio)
        fused = self.fusion(kronecker(self.pose_in(retrieved), self.expression_in(expressions)))
        fused = fused + sinusoidal_positions(fused.shape[1], fused.shape[2]).to(fused)
        attended, _ = self.cross(fused, audio, audio, need_weights=False)
        tokens = self.cross_norm(fused + attended)
        residual = self.head(self.decoder(tokens, audio))
        return retrieved + low_pass(residual, self.low_pass)


def gaussian_kernel(sigma: float) -> Tensor:
    """A normalised Gaussian of ``sigma`` frames, ±3σ wide."""
    radius = math.ceil(3 * sigma)
    weights = torch.exp(-0.5 * (torch.arange(-radius, radius + 1) / sigma) ** 2)
    return weights / weights.sum()


def low_pass(sequence: Tensor, kernel: Tensor) -> Tensor:
    """Each channel of ``[B, L, C]`` convolved over time with ``kernel`` (ends replicated)."""
    channels = sequence.shape[-1]
    x = sequence.transpose(1, 2)
    x = nn.functional.pad(x, (len(kernel) // 2, len(kernel) // 2), mode="replicate")
    weight = kernel.to(x).expand(channels, 1, -1)
    return nn.functional.conv1d(x, weight, groups=channels).transpose(1, 2)


class DualDiscriminator(nn.Module):
    """Scores pose sequences ``[B, L, 6]`` (with their velocities) as recorded or generated:
    a global branch (one score per sequence) and a local one (a score per short stretch)."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        channels = 2 * POSE_DIM
        self.global_branch = nn.Sequential(
            nn.Conv1d(channels, width, 5, padding=2), nn.LeakyReLU(0.2),
            nn.Conv1d(width, width, 5, stride=2, padding=2), nn.LeakyReLU(0.2),
        )  # fmt: skip
        self.global_score = nn.Linear(width, 1)
        self.local_branch = nn.Sequential(
            nn.Conv1d(channels, width, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv1d(width, 1, 3, padding=1),
        )  # fmt: skip

    def forward(self, poses: Tensor) -> tuple[Tensor, Tensor]:
        velocity = torch.diff(poses, dim=1, prepend=poses[:, :1])
        x = torch.cat([poses, velocity], -1).transpose(1, 2)
        global_score = self.global_score(self.global_branch(x).mean(dim=2))
        return global_score, self.local_branch(x)


def _lsgan(scores: tuple[Tensor, Tensor], target: float) -> Tensor:
    return sum(((s - target) ** 2).mean() for s in scores) / len(scores)  # type: ignore[return-value]


# training ------------------------------------------------------------------------------------
@dataclass
class Trained:
    refiner: PoseRefiner
    database: Database
    losses: list[float]  # the refiner's loss every 10 steps
    seconds: float
    iterations: int


def train(
    mel: np.ndarray,
    expressions: np.ndarray,
    poses: np.ndarray,
    train_ids: Sequence[int],
    params: PoseParams = PoseParams(),
) -> Trained:
    """The database of ``train_ids`` and a refiner fitted (eq. 12) to turn each training
    sequence's retrieval (from units outside it) into its recorded poses ``[T, 6]``."""
    ids = np.asarray(train_ids, dtype=np.int64)
    if len(ids) < 2 or not np.all(np.diff(ids) == 1):
        raise TalkgsError("the training frames must be consecutive, at least two")
    length = min(params.sequence, len(ids))
    if len(ids) < length + params.unit:
        raise TalkgsError(
            f"{len(ids)} training frames: the pose generator needs {length + params.unit}"
        )
    torch.manual_seed(params.seed)
    rng = np.random.default_rng(params.seed)
    database = Database.build(mel, poses, ids, params.unit)
    refiner = PoseRefiner(mel.shape[1], mel.shape[2], dict(params.model_config(), sequence=length))
    discriminator = DualDiscriminator()
    optimizer = torch.optim.AdamW(refiner.parameters(), params.lr, weight_decay=params.weight_decay)
    d_optimizer = torch.optim.Adam(discriminator.parameters(), params.discriminator_lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, max(params.iterations, 1), eta_min=params.lr * 0.05
    )
    mel_t = torch.from_numpy(np.ascontiguousarray(mel, np.float32))
    expressions_t = torch.from_numpy(np.ascontiguousarray(expressions, np.float32))
    poses_t = torch.from_numpy(np.ascontiguousarray(poses, np.float32))
    losses: list[float] = []
    refiner.train()
    start = time.perf_counter()
    for step in talkgs_log.progress(range(params.iterations), "pose generator"):
        firsts = rng.integers(int(ids[0]), int(ids[-1]) + 2 - length, params.batch)
        retrieved = np.stack([
            database.retrieve(mel[f : f + length], params.candidates, (f, f + length))[0]
            for f in firsts
        ])  # fmt: skip
        window = torch.from_numpy(firsts)[:, None] + torch.arange(length)
        truth = poses_t[window]
        predicted = refiner(torch.from_numpy(retrieved), expressions_t[window], mel_t[window])
        # the discriminator: recorded sequences are real, refined ones fake
        d_loss = _lsgan(discriminator(truth), 1.0) + _lsgan(discriminator(predicted.detach()), 0.0)
        d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        d_optimizer.step()
        velocity = torch.diff(predicted, dim=1)
        loss = (
            params.rec_weight * (predicted - truth).abs().mean()
            + params.vel_weight * velocity.abs().mean()
            + params.gan_weight * _lsgan(discriminator(predicted), 1.0)
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 10 == 0 or step == params.iterations - 1:
            losses.append(round(float(loss.detach()), 6))
    refiner.eval()
    return Trained(refiner, database, losses, time.perf_counter() - start, params.iterations)


# the model file ------------------------------------------------------------------------------
@dataclass
class PoseGenerator:
    """A trained refiner with its database and pose space, and the camera it was fitted for."""

    refiner: PoseRefiner
    database: Database
    space: PoseSpace
    camera: dict[str, float]  # focal, cx, cy (pixels of the frames), width, height

    @torch.no_grad()
    def generate(self, mel: np.ndarray, expressions: np.ndarray) -> GeneratedPoses:
        """Poses for mel windows ``[T, W, D]`` and expressions ``[T, C]``."""
        expression.check_mel(mel, self.refiner.config)
        if len(expressions) != len(mel):
            raise TalkgsError(f"{len(expressions)} expressions for {len(mel)} frames of audio")
        candidates = int(self.refiner.config["candidates"])
        retrieved, frames = self.database.retrieve(mel, candidates)
        inputs = [torch.from_numpy(np.ascontiguousarray(a, np.float32))
                  for a in (retrieved, expressions, mel)]  # fmt: skip

        def refine(starts: list[int], length: int) -> np.ndarray:
            windows = [torch.stack([x[s : s + length] for s in starts]) for x in inputs]
            return self.refiner(*windows).numpy()

        # the refiner over windows of its training length, as the Expression Generator
        sequence = int(self.refiner.config["sequence"])
        refined = over_windows(refine, len(mel), sequence, POSE_DIM)
        vectors = np.clip(refined, self.space.low, self.space.high)
        rotations, translations = self.space.decode(vectors)
        return GeneratedPoses(rotations, translations, frames, retrieved)


@dataclass
class GeneratedPoses:
    rotations: np.ndarray  # [T, 3, 3] camera-from-head
    translations: np.ndarray  # [T, 3]
    frames: np.ndarray  # [T] the training frame each pose was retrieved from
    retrieved: np.ndarray  # [T, 6] p̂

    def camera_file(self, audio_ids: list[int], camera: dict[str, float]) -> dict[str, Any]:
        """These poses as a camera file (:func:`talkgs.pose.transforms.camera_file`)."""
        by = "talkgs pose generator (Talk2Me's Retrieval-Based Pose Generator)"
        return camera_file(self.rotations, self.translations, self.frames, audio_ids, camera, by)


def save(path: str | Path, generator: PoseGenerator, metadata: dict[str, Any]) -> None:
    """A dict of plain tensors and metadata (``torch.load(weights_only=True)``)."""
    state = {k: v.detach().cpu().clone() for k, v in generator.refiner.state_dict().items()}
    torch.save(
        {
            "format": FORMAT,
            "config": dict(generator.refiner.config),
            "state": state,
            "database": generator.database.as_dict(),
            "space": generator.space.as_dict(),
            "camera": dict(generator.camera),
            "metadata": metadata,
        },
        path,
    )


def load(path: str | Path) -> PoseGenerator:
    """A :class:`PoseGenerator` saved by :func:`save`; one-line error on another file."""
    try:
        artifact = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds; all mean "not a model file"
        raise input_error(path, f"cannot read the pose generator ({first_line(error)})") from error
    if not isinstance(artifact, dict) or artifact.get("format") != FORMAT:
        found = artifact.get("format") if isinstance(artifact, dict) else type(artifact).__name__
        raise input_error(path, f"not a pose generator ({found!r}, not {FORMAT!r})")
    try:
        config = dict(artifact["config"])
        windows, bins = int(config.pop("windows")), int(config.pop("bins"))
        refiner = PoseRefiner(windows, bins, config)
        refiner.load_state_dict(artifact["state"])
        database = Database.from_dict(artifact["database"])
        space = PoseSpace.from_dict(artifact["space"])
        camera = {k: float(v) for k, v in artifact["camera"].items()}
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise input_error(path, f"a damaged pose generator ({first_line(error)})") from error
    refiner.eval()
    return PoseGenerator(refiner, database, space, camera)


# the stage -----------------------------------------------------------------------------------
def read_pose(path: Path, count: int) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Rotations, translations and the camera of ``pose.npz``."""
    try:
        pose = np.load(path)
        rotations = pose["rotations"].astype(np.float64)
        translations = pose["translations"].astype(np.float64)
        width, height = (int(v) for v in pose["image_size"][:2])
        cx, cy = (float(v) for v in pose["principal_point"][:2])
        camera = {"focal": float(pose["focal"]), "cx": cx, "cy": cy,
                  "width": float(width), "height": float(height)}  # fmt: skip
    except (OSError, ValueError, KeyError) as error:
        raise input_error(path, f"cannot read the poses ({first_line(error)})") from error
    if len(rotations) != count:
        raise input_error(path, f"{len(rotations)} poses for {count} frames of audio")
    return rotations, translations, camera


def run(
    inputs: PoseInputs, outputs: PoseOutputs, params: PoseParams = PoseParams()
) -> dict[str, Any]:
    """Build the identity's database, train the refiner on its training frames, generate the
    validation segment's poses from its audio (and the Expression Generator's expressions) and
    compare them with the recorded ones (:mod:`talkgs.metrics.head_motion`)."""
    torch.set_num_threads(params.threads)
    mel = expression.read_mel(inputs.audio_features)
    table = expression_table(inputs.au, inputs.eyes, len(mel))
    rotations, translations, camera = read_pose(inputs.pose, len(mel))
    train_ids, val_ids = split(len(mel))
    space = PoseSpace.fit(rotations[list(train_ids)], translations[list(train_ids)])
    vectors = space.encode(rotations, translations)
    trained = train(mel, table, vectors, train_ids, params)
    generator = PoseGenerator(trained.refiner, trained.database, space, camera)
    expression_generator = expression.load(inputs.expression_generator)
    val = np.asarray(val_ids)
    generated_expressions = expression.predict(expression_generator, mel)[val]
    generated = generator.generate(mel[val], generated_expressions)
    replay = np.arange(len(val)) % len(train_ids)
    rows = {
        "recorded": head_motion_metrics(rotations[val]),
        "replay": head_motion_metrics(rotations[replay], rotations[val]),
        "generated": head_motion_metrics(generated.rotations, rotations[val]),
    }
    error = np.degrees(np.linalg.norm(
        log_so3(generated.rotations @ np.swapaxes(rotations[val], 1, 2)), axis=1
    ))  # fmt: skip
    summary = {
        "format": FORMAT,
        "identity": Path(inputs.pose).absolute().parent.name,  # results/<identity>/pose.npz
        "frames": len(mel),
        "train_frames": len(train_ids),
        "val_frames": len(val_ids),
        "units": len(trained.database.starts),
        "iterations": trained.iterations,
        "seconds": round(trained.seconds, 2),
        "threads": params.threads,
        "val_angle_error_deg": float(error.mean()),
        "head_motion": {"frames": len(val), "fps": FPS, "rows": rows},
        "losses": trained.losses,
        "params": dataclasses.asdict(params),
        "inputs": {name: str(path) for name, path in dataclasses.asdict(inputs).items()},
        "torch": torch.__version__,
    }
    finals = [outputs.model, outputs.poses, *([outputs.plot] if outputs.plot else [])]
    with StagedOutputs(*finals, outputs.summary) as staged:
        save(staged[outputs.model], generator, {"seed": params.seed, "frames": len(mel)})
        document = generated.camera_file(val.tolist(), camera)
        staged[outputs.poses].write_text(json.dumps(document, indent=1) + "\n")
        if outputs.plot is not None:
            plot(staged[outputs.plot], rotations[val], generated.rotations, rotations[replay], val)
        staged[outputs.summary].write_text(json.dumps(summary, indent=2) + "\n")
    gen = rows["generated"]
    log.info(
        "poses: %d units of %d frames, %d iterations in %.1f s; validation: %.2f° from the "
        "recorded poses, angular velocity %.1f°/s (recorded %.1f°/s) → %s",
        len(trained.database.starts), params.unit, trained.iterations, trained.seconds,
        summary["val_angle_error_deg"], gen["angular_velocity"] or 0.0,
        rows["recorded"]["angular_velocity"] or 0.0, outputs.model,
    )  # fmt: skip
    return summary


def plot(
    path: Path,
    recorded: np.ndarray,
    generated: np.ndarray,
    replay: np.ndarray,
    frames: np.ndarray,
) -> None:
    """Yaw, pitch and roll over the validation frames: recorded, generated, replayed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    time_s = frames / FPS
    series = [(euler_from_rotation(r), label, style) for r, label, style in (
        (recorded, "recorded", dict(color="black", linewidth=1.4)),
        (generated, "generated from audio", dict(color="tab:red", linewidth=1.2)),
        (replay, "replay of training poses", dict(color="tab:gray", linewidth=1, linestyle="--")),
    )]  # fmt: skip
    figure, axes = plt.subplots(3, 1, figsize=(11, 7), sharex=True, layout="constrained")
    for column, (axis, name) in enumerate(zip(axes, ("yaw", "pitch", "roll"), strict=True)):
        for angles, label, style in series:
            axis.plot(time_s, angles[:, column], label=label, **style)
        axis.set_ylabel(f"{name} (°)")
        axis.grid(alpha=0.3)
    axes[0].legend(loc="upper right", fontsize=8)
    axes[0].set_title("pose generator, validation frames", loc="left")
    axes[2].set_xlabel("time (s)")
    figure.savefig(path, format="png", dpi=90, metadata={"Software": None})
    plt.close(figure)


def generate_for_audio(
    pose_generator: Path,
    expression_generator: Path,
    audio_features: Path,
    output: Path,
    threads: int = 2,
) -> dict[str, Any]:
    """The camera file of poses generated for the validation frames of ``audio_features``
    (another identity's ``aud_mel.npy``, or this one's), with the expressions the identity's
    Expression Generator makes of that audio; written atomically."""
    torch.set_num_threads(threads)
    generator = load(pose_generator)
    expressions_model = expression.load(expression_generator)
    mel = expression.read_mel(audio_features, min_frames=2)
    val = np.asarray(split(len(mel))[1])
    if len(val) == 0:
        raise input_error(audio_features, f"{len(mel)} frames: no validation frames")
    expressions = expression.predict(expressions_model, mel)[val]
    generated = generator.generate(mel[val], expressions)
    document = generated.camera_file(val.tolist(), generator.camera)
    with StagedOutputs(output) as staged:
        staged[output].write_text(json.dumps(document, indent=1) + "\n")
    angles = euler_from_rotation(generated.rotations)
    spread = ", ".join(f"{n} {lo:+.1f}…{hi:+.1f}°" for n, lo, hi in zip(
        ("yaw", "pitch", "roll"), angles.min(0), angles.max(0), strict=True))  # fmt: skip
    log.info("poses: %d frames generated for %s (%s) → %s", len(val), audio_features, spread,
             output)  # fmt: skip
    return document
