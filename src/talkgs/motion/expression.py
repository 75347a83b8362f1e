"""Talk2Me's Expression Generator (paper 003, §4.3.1; loss eq. 11, §4.4): audio → one expression
vector per frame (:data:`~talkgs.features.expression.EXPRESSION_NAMES`: 17 AU intensities in
[0, 1] and the normalised eye aspect ratio), trained per identity on its own frames.

What follows the paper:

- **Audio encoder**: 1D convolutions over each frame's mel windows, then linear layers, give the
  per-frame audio feature ``a``; a second head, averaged over the sequence, gives the emotion
  feature ``e``.
- **Expression encoder** (linear + ReLU, Fig. 10) of the reference frame's expression vector
  (the identity's neutral frame, ``neutral.json``) gives the style feature ``s``.
- **Structured temporal fusion** (Fig. 11): the K-product fusion of eq. 8,
  ``f_e = φ_E(a ⊗ e, a ⊗ s, e ⊗ s)`` (each of ``a, e, s`` first projected to
  :attr:`ExpressionParams.kron_dim` so that the Kronecker products stay small), a feature gate
  on ``a`` (embedding G) concatenated with ``f_e`` (embedding K), then a Transformer encoder over
  the frames of a sequence.
- **Region-aware decoding**: a global decoder predicts the whole vector; multi-head attention
  over the fused features and a regional decoder predict the eye columns
  (:data:`~talkgs.features.expression.EYE_COLUMNS`), merged with the global ones by a learnt
  weight per column.
- **Dual pathway**: a direct audio → expression path beside the fusion path (phoneme-synchronous
  lips), mixed by a learnt weight per column, then a **temporal smoothing layer**: a depthwise
  ``Conv1d`` over time, initialised as the kernel ``[¼, ½, ¼]`` and learnt.
- **Loss** (eq. 11): ``L_E = λ_e · Σ_c w_c |ê_c − e_c| / Σ_c w_c`` (mean over frames), ``w_c`` =
  :data:`EYE_WEIGHT` on the eye columns and 1 elsewhere, ``λ_e = 1`` (the only loss).

What differs, and why:

- **No pretrained audio model.** The paper feeds wav2vec and a pretrained Wav2Lip audio encoder;
  talkgs downloads no weights, so the audio encoder reads talkgs' own log-mel windows
  (``aud_mel.npy``, Wav2Lip's mel settings, :mod:`talkgs.features.audio`) and is trained from
  scratch.
- **Per identity.** The paper trains EG on its dataset; here it is trained on one identity's
  training frames (:func:`talkgs.pose.transforms.split`, the same split as the avatar) and
  judged on its validation frames, as a cached stage of its own.
- **CPU-sized defaults.** The paper trains EG (jointly with the pose generator) for 2 000 epochs
  at lr 1e-4 on a GPU; :class:`ExpressionParams` trains 600 AdamW steps at lr 2e-3 with
  small widths (a 6-s clip in well under a minute on 2 CPU threads). Widths, sequence length
  and the eye weight are not given in the paper; each default says what was chosen.
- Predictions for a clip longer than a training sequence are made over windows of
  ``sequence`` frames at half overlap, blended with triangular weights.

Over 450 lines on purpose: the Expression Generator's networks, training, model file and stage
stay in one module so that it reads against the paper section above (a third of it is text).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from talkgs import log as talkgs_log
from talkgs.atomic import StagedOutputs
from talkgs.errors import TalkgsError, first_line, input_error
from talkgs.features import neutral as neutral_frames
from talkgs.features.audio import MAX_ABS_VALUE
from talkgs.features.expression import (
    EXPRESSION_NAMES,
    EYE_COLUMNS,
    MOUTH_OPENING_COLUMNS,
    expression_table,
)
from talkgs.pose.transforms import split

log = logging.getLogger("talkgs.expressions")

FORMAT = "talkgs-expression/1"
EYE_WEIGHT = 3.0  # eq. 11's w on EYE_COLUMNS (1 elsewhere); the paper says "higher", no value
SMOOTHING_KERNEL = (0.25, 0.5, 0.25)  # the temporal smoothing layer's initial kernel
MIN_FRAMES = 25  # 1 s: fewer leaves no validation frames worth the name
FPS = 25.0
PREDICT_BATCH = 256  # sequences per forward pass in predict()


@dataclass(frozen=True)
class ExpressionParams:
    sequence: int = 32  # frames per training sequence (1.28 s); paper: not given
    iterations: int = 600  # optimizer steps; paper: 2 000 epochs (on its dataset, a GPU)
    batch: int = 8  # sequences per step; paper: not given
    lr: float = 2e-3  # AdamW; paper: 1e-4 (Adam assumed) over 2 000 epochs
    weight_decay: float = 1e-4  # paper: not given
    eye_weight: float = EYE_WEIGHT  # eq. 11's w on the eye columns; paper: "higher"
    audio_dim: int = 32  # a; paper: not given (from Wav2Lip's 512-d audio embedding)
    emotion_dim: int = 8  # e; paper: not given
    style_dim: int = 8  # s; paper: not given
    kron_dim: int = 8  # a, e, s projected to this before eq. 8's Kronecker products
    model_dim: int = 32  # the Transformer's width; paper: not given
    heads: int = 4  # of the Transformer and the region attention; paper: not given
    layers: int = 1  # Transformer encoder layers; paper: "a Transformer layer" (Fig. 11)
    dropout: float = 0.1
    seed: int = 0
    threads: int = 2

    def model_config(self) -> dict[str, Any]:
        names = ("sequence", "audio_dim", "emotion_dim", "style_dim", "kron_dim", "model_dim")
        return {name: getattr(self, name) for name in (*names, "heads", "layers", "dropout")}


@dataclass(frozen=True)
class ExpressionInputs:
    audio_features: Path  # features/aud_mel.npy [T, 16, 80]
    au: Path  # features/au.csv
    eyes: Path  # features/eyes.csv
    neutral: Path  # features/neutral.json (its "frame" is the reference frame)


@dataclass(frozen=True)
class ExpressionOutputs:
    model: Path  # motion/expression_generator.pt
    summary: Path  # motion/expression_generator.json
    plot: Path | None = None  # motion/expressions.png


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (the paper's shared encoder/decoder, Fig. 10)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def kronecker(x: Tensor, y: Tensor) -> Tensor:
    """Row-wise Kronecker product of ``[..., m]`` and ``[..., n]`` → ``[..., m·n]``."""
    return (x[..., :, None] * y[..., None, :]).flatten(-2)


class AudioEncoder(nn.Module):
    """Each frame's mel windows ``[W, D]`` → audio feature ``a``; a second head, averaged over
    the sequence, → emotion feature ``e``."""

    def __init__(self, windows: int, bins: int, audio_dim: int, emotion_dim: int) -> None:
        super().__init__()
        convs: list[nn.Module] = []
        channels, length = bins, windows
        for width in (64, 64, 64):
            stride = 2 if length > 1 else 1
            convs += [nn.Conv1d(channels, width, 3, stride=stride, padding=1), nn.LeakyReLU(0.02)]
            channels, length = width, (length - 1) // stride + 1
        self.convs = nn.Sequential(*convs)
        self.fc = nn.Sequential(nn.Linear(channels * length, 64), nn.LeakyReLU(0.02))
        self.audio = nn.Linear(64, audio_dim)
        self.emotion = nn.Linear(64, emotion_dim)

    def forward(self, mel: Tensor) -> tuple[Tensor, Tensor]:
        """``[B, L, W, D]`` → ``a`` ``[B, L, audio_dim]``, ``e`` ``[B, emotion_dim]``."""
        batch, frames, windows, bins = mel.shape
        flat = mel.reshape(batch * frames, windows, bins).transpose(1, 2) / MAX_ABS_VALUE
        hidden = self.fc(self.convs(flat).flatten(1)).reshape(batch, frames, -1)
        return self.audio(hidden), self.emotion(hidden).mean(dim=1)


class KProductFusion(nn.Module):
    """Eq. 8: ``f_e = φ_E(a ⊗ e, a ⊗ s, e ⊗ s)``, each factor first projected to ``k`` dims."""

    def __init__(self, audio_dim: int, emotion_dim: int, style_dim: int, k: int, out: int) -> None:
        super().__init__()
        self.to_a = nn.Linear(audio_dim, k)
        self.to_e = nn.Linear(emotion_dim, k)
        self.to_s = nn.Linear(style_dim, k)
        self.project = nn.Linear(3 * k * k, out)  # φ_E

    def forward(self, a: Tensor, e: Tensor, s: Tensor) -> Tensor:
        """``a`` ``[B, L, ·]``, ``e`` and ``s`` ``[B, ·]`` → ``[B, L, out]``."""
        pa = self.to_a(a)
        pe = self.to_e(e)[:, None].expand_as(pa)
        ps = self.to_s(s)[:, None].expand_as(pa)
        return self.project(
            torch.cat([kronecker(pa, pe), kronecker(pa, ps), kronecker(pe, ps)], -1)
        )


def sinusoidal_positions(length: int, dim: int) -> Tensor:
    position = torch.arange(length, dtype=torch.float32)[:, None]
    rate = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(1e4) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate)
    return table


class ExpressionGenerator(nn.Module):
    """Mel windows ``[B, L, W, D]`` of a sequence of frames → expressions ``[B, L, C]``
    (module docstring). The reference frame's expression vector is a buffer, so a saved model
    predicts from audio alone."""

    def __init__(self, windows: int, bins: int, reference: Tensor, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = {"windows": windows, "bins": bins, **config}
        channels = len(EXPRESSION_NAMES)
        eyes = len(EYE_COLUMNS)
        a_dim, d = config["audio_dim"], config["model_dim"]
        self.sequence = int(config["sequence"])
        self.register_buffer("reference", reference.detach().float().reshape(channels).clone())
        self.register_buffer("eye_columns", torch.tensor(EYE_COLUMNS, dtype=torch.long))
        # audio-expression temporal fusion (AETF)
        self.audio_encoder = AudioEncoder(windows, bins, a_dim, config["emotion_dim"])
        self.expression_encoder = mlp([channels, 32, config["style_dim"]])
        self.kproduct = KProductFusion(
            a_dim, config["emotion_dim"], config["style_dim"], config["kron_dim"], d
        )
        self.audio_in = nn.Linear(a_dim, d)
        self.gate = nn.Linear(2 * d, d)  # feature gate on the audio: embedding G
        self.tokens = nn.Linear(2 * d, d)  # [G; K] → Transformer input
        layer = nn.TransformerEncoderLayer(
            d, config["heads"], 2 * d, config["dropout"], batch_first=True
        )
        self.temporal = nn.TransformerEncoder(layer, config["layers"], enable_nested_tensor=False)
        # region-aware decoding
        self.global_decoder = mlp([d, 32, channels])
        self.region_attention = nn.MultiheadAttention(
            d, config["heads"], dropout=config["dropout"], batch_first=True
        )
        self.region_decoder = mlp([d, 32, eyes])
        self.region_mix = nn.Parameter(torch.zeros(eyes))  # σ(0) = ½ regional, ½ global
        # dual pathway and temporal smoothing
        self.direct = mlp([a_dim, 32, channels])
        self.path_mix = nn.Parameter(torch.zeros(channels))  # σ(0) = ½ fusion, ½ direct
        self.smoothing = nn.Conv1d(
            channels, channels, len(SMOOTHING_KERNEL), padding=len(SMOOTHING_KERNEL) // 2,
            padding_mode="replicate", groups=channels, bias=False,
        )  # fmt: skip
        with torch.no_grad():
            self.smoothing.weight.copy_(torch.tensor(SMOOTHING_KERNEL).expand(channels, 1, -1))

    def forward(self, mel: Tensor) -> Tensor:
        batch, frames = mel.shape[:2]
        a, e = self.audio_encoder(mel)
        s = self.expression_encoder(self.reference.expand(batch, -1))
        k = self.kproduct(a, e, s)  # embedding K
        audio = self.audio_in(a)
        g = torch.sigmoid(self.gate(torch.cat([audio, k], -1))) * audio  # embedding G
        tokens = self.tokens(torch.cat([g, k], -1))
        tokens = tokens + sinusoidal_positions(frames, tokens.shape[-1]).to(tokens)
        fused = self.temporal(tokens)
        expression = self.global_decoder(fused)
        attended, _ = self.region_attention(fused, fused, fused, need_weights=False)
        region = self.region_decoder(attended)
        weight = torch.sigmoid(self.region_mix)
        eyes = weight * region + (1 - weight) * expression[..., self.eye_columns]
        expression = expression.index_copy(-1, self.eye_columns, eyes)
        mix = torch.sigmoid(self.path_mix)
        merged = mix * expression + (1 - mix) * self.direct(a)
        return self.smoothing(merged.transpose(1, 2)).transpose(1, 2)


def loss_weights(eye_weight: float = EYE_WEIGHT) -> Tensor:
    """Eq. 11's ``w``: ``eye_weight`` on :data:`EYE_COLUMNS`, 1 elsewhere."""
    weights = torch.ones(len(EXPRESSION_NAMES))
    weights[list(EYE_COLUMNS)] = eye_weight
    return weights


def weighted_l1(predicted: Tensor, target: Tensor, weights: Tensor) -> Tensor:
    """Eq. 11 with ``λ_e = 1``: the ``weights``-weighted mean of each column's mean absolute
    error (``[..., C]`` tensors)."""
    per_column = (predicted - target).abs().flatten(0, -2).mean(dim=0)
    return (per_column * weights).sum() / weights.sum()


@dataclass
class Trained:
    model: ExpressionGenerator
    losses: list[float]  # the training loss every 10 steps
    seconds: float
    iterations: int


def train(
    mel: np.ndarray,
    table: np.ndarray,
    reference: np.ndarray,
    train_ids: Sequence[int],
    params: ExpressionParams = ExpressionParams(),
) -> Trained:
    """An :class:`ExpressionGenerator` fitted to ``table`` ``[T, C]`` from ``mel``
    ``[T, W, D]`` on sequences of consecutive ``train_ids`` (eq. 11), seeded by
    ``params.seed`` (deterministic on the CPU for a given thread count)."""
    ids = np.asarray(train_ids, dtype=np.int64)
    if len(ids) < 2:
        raise TalkgsError(f"{len(ids)} training frames: too few to train the expression generator")
    if not np.all(np.diff(ids) == 1):
        raise TalkgsError("the training frames must be consecutive")
    torch.manual_seed(params.seed)
    generator = torch.Generator().manual_seed(params.seed)
    length = min(params.sequence, len(ids))
    config = dict(params.model_config(), sequence=length)
    model = ExpressionGenerator(mel.shape[1], mel.shape[2], torch.from_numpy(reference), config)
    mel_t = torch.from_numpy(np.ascontiguousarray(mel[ids], dtype=np.float32))
    table_t = torch.from_numpy(np.ascontiguousarray(table[ids], dtype=np.float32))
    weights = loss_weights(params.eye_weight)
    optimizer = torch.optim.AdamW(model.parameters(), params.lr, weight_decay=params.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, max(params.iterations, 1), eta_min=params.lr * 0.05
    )
    offsets = torch.arange(length)
    losses: list[float] = []
    model.train()
    start = time.perf_counter()
    steps = talkgs_log.progress(range(params.iterations), "expression generator")
    for step in steps:
        first = torch.randint(0, len(ids) - length + 1, (params.batch,), generator=generator)
        window = first[:, None] + offsets
        loss = weighted_l1(model(mel_t[window]), table_t[window], weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 10 == 0 or step == params.iterations - 1:
            losses.append(round(float(loss.detach()), 6))
    model.eval()
    return Trained(model, losses, time.perf_counter() - start, params.iterations)


@torch.no_grad()
def predict(model: ExpressionGenerator, mel: np.ndarray) -> np.ndarray:
    """``[T, len(EXPRESSION_NAMES)]`` float32 expressions of mel windows ``[T, W, D]``: the model
    over sequences of its training length at half overlap, blended with triangular weights."""
    check_mel(mel, model.config)
    was_training = model.training
    model.eval()
    try:
        return over_windows(
            lambda starts, length: model(torch.from_numpy(
                np.stack([mel[s : s + length] for s in starts]).astype(np.float32)
            )).numpy(),
            len(mel), model.sequence, len(EXPRESSION_NAMES),
        )  # fmt: skip
    finally:
        model.train(was_training)


def check_mel(mel: np.ndarray, config: dict[str, Any]) -> None:
    """Mel windows ``[T, W, D]`` of the shape a model (its ``config``) was trained on."""
    expected = (config["windows"], config["bins"])
    if mel.ndim != 3 or tuple(mel.shape[1:]) != expected:
        raise TalkgsError(
            f"mel windows of shape {list(mel.shape)}, not [T, {expected[0]}, {expected[1]}]"
        )


def over_windows(
    predict_windows: Callable[[list[int], int], np.ndarray], count: int, sequence: int, dim: int
) -> np.ndarray:
    """``[count, dim]`` float32: a sequence model applied to a clip of any length, as it was
    trained — over windows of ``sequence`` frames (fewer for a shorter clip) at half overlap,
    blended with triangular weights. ``predict_windows(starts, length)`` returns
    ``[len(starts), length, dim]`` for the windows ``[s, s + length)``."""
    if count == 0:
        return np.zeros((0, dim), np.float32)
    length = min(sequence, count)
    starts = list(range(0, count - length + 1, max(length // 2, 1)))
    if starts[-1] != count - length:
        starts.append(count - length)
    weight = 1.0 - np.abs(2.0 * (np.arange(length) + 0.5) / length - 1.0) + 1e-3
    total = np.zeros((count, dim))
    norm = np.zeros((count, 1))
    for first in range(0, len(starts), PREDICT_BATCH):
        batch = starts[first : first + PREDICT_BATCH]
        for s, values in zip(batch, predict_windows(batch, length), strict=True):
            total[s : s + length] += weight[:, None] * values
            norm[s : s + length] += weight[:, None]
    return (total / norm).astype(np.float32)


def save(path: str | Path, model: ExpressionGenerator, metadata: dict[str, Any]) -> None:
    """The model as a dict of plain tensors and metadata (``torch.load(weights_only=True)``)."""
    state = {name: value.detach().cpu().clone() for name, value in model.state_dict().items()}
    artifact = {
        "format": FORMAT,
        "config": dict(model.config),
        "names": list(EXPRESSION_NAMES),
        "eye_columns": list(EYE_COLUMNS),
        "state": state,
        "metadata": metadata,
    }
    torch.save(artifact, path)


def load(path: str | Path) -> ExpressionGenerator:
    """An :class:`ExpressionGenerator` saved by :func:`save`; one-line error on another file."""
    try:
        artifact = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds; all mean "not a model file"
        raise input_error(
            path, f"cannot read the expression generator ({first_line(error)})"
        ) from error
    if not isinstance(artifact, dict):
        kind = type(artifact).__name__
        raise input_error(path, f"not an expression generator (a {kind}, not a {FORMAT!r} dict)")
    if artifact.get("format") != FORMAT:
        found = artifact.get("format")
        raise input_error(path, f"not an expression generator (format {found!r}, not {FORMAT!r})")
    if artifact.get("names") != list(EXPRESSION_NAMES):
        raise input_error(path, "made for another expression vector (its names differ)")
    try:
        config = dict(artifact["config"])
        windows, bins = int(config.pop("windows")), int(config.pop("bins"))
        state = artifact["state"]
        model = ExpressionGenerator(windows, bins, state["reference"], config)
        model.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise input_error(path, f"a damaged expression generator ({first_line(error)})") from error
    model.eval()
    return model


def read_mel(path: Path, min_frames: int = MIN_FRAMES) -> np.ndarray:
    """An identity's mel windows ``[T, W, D]`` (``aud_mel.npy``), checked."""
    try:
        mel = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise input_error(path, f"cannot read the audio features ({first_line(error)})") from error
    if mel.ndim != 3 or not np.issubdtype(mel.dtype, np.floating):
        raise input_error(
            path, f"{mel.dtype} array of shape {list(mel.shape)}, not float mel windows [T, 16, 80]"
        )
    if len(mel) < min_frames:
        raise input_error(path, f"{len(mel)} frames: at least {min_frames} are needed")
    if not np.isfinite(mel).all():
        raise input_error(path, "holds NaN or infinite values")
    return mel.astype(np.float32, copy=False)


def read_inputs(inputs: ExpressionInputs) -> tuple[np.ndarray, np.ndarray, int]:
    """Mel windows ``[T, W, D]``, expressions ``[T, C]`` and the reference frame, checked."""
    mel = read_mel(inputs.audio_features)
    table = expression_table(inputs.au, inputs.eyes, len(mel))
    frame = neutral_frames.load(inputs.neutral)["frame"]
    if not isinstance(frame, int) or not 0 <= frame < len(mel):
        raise input_error(inputs.neutral, f"neutral frame {frame!r} outside 0..{len(mel) - 1}")
    return mel, table, frame


def correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson's r, or None where either series is constant."""
    if len(a) < 2 or np.std(a) < 1e-9 or np.std(b) < 1e-9:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def mouth_opening(expressions: np.ndarray) -> np.ndarray:
    """AU25 + AU26 (each in [0, 1]) of ``[T, C]`` expressions."""
    return expressions[:, list(MOUTH_OPENING_COLUMNS)].sum(axis=1)


def run(
    inputs: ExpressionInputs,
    outputs: ExpressionOutputs,
    params: ExpressionParams = ExpressionParams(),
) -> dict[str, Any]:
    """Train the identity's expression generator on its training frames; write the model, the
    JSON summary (validation L1 and mouth-opening correlation) and the plot, atomically."""
    torch.set_num_threads(params.threads)
    mel, table, frame = read_inputs(inputs)
    train_ids, val_ids = split(len(mel))
    trained = train(mel, table, table[frame], train_ids, params)
    predicted = predict(trained.model, mel)
    val = np.asarray(val_ids)
    error = np.abs(predicted[val] - table[val])
    per_column = error.mean(axis=0, dtype=np.float64)
    weights = loss_weights(params.eye_weight).numpy()
    r_mouth = correlation(mouth_opening(predicted[val]), mouth_opening(table[val]))
    ear = EXPRESSION_NAMES.index("EAR")
    summary = {
        "format": FORMAT,
        "frames": len(mel),
        "train_frames": len(train_ids),
        "val_frames": len(val_ids),
        "neutral_frame": frame,
        "iterations": trained.iterations,
        "seconds": round(trained.seconds, 2),
        "threads": params.threads,
        "val_l1": float(error.mean()),
        "val_weighted_l1": float((per_column * weights).sum() / weights.sum()),
        "val_l1_per_column": dict(zip(EXPRESSION_NAMES, per_column.round(5).tolist(), strict=True)),
        "val_mouth_opening_r": r_mouth,
        "val_ear_r": correlation(predicted[val, ear], table[val, ear]),
        "train_l1": float(np.abs(predicted[list(train_ids)] - table[list(train_ids)]).mean()),
        "losses": trained.losses,
        "params": dataclasses.asdict(params),
        "inputs": {name: str(path) for name, path in dataclasses.asdict(inputs).items()},
        "torch": torch.__version__,
    }
    metadata = {k: summary[k] for k in ("frames", "train_frames", "neutral_frame", "iterations")}
    finals = [outputs.model, *([outputs.plot] if outputs.plot else []), outputs.summary]
    with StagedOutputs(*finals) as staged:
        save(staged[outputs.model], trained.model, dict(metadata, seed=params.seed))
        if outputs.plot is not None:
            plot(staged[outputs.plot], predicted, table, val)
        staged[outputs.summary].write_text(json.dumps(summary, indent=2) + "\n")
    log.info(
        "expressions: %d training / %d validation frames, %d iterations in %.1f s; validation "
        "L1 %.3f, mouth opening r %s → %s",
        len(train_ids), len(val_ids), trained.iterations, trained.seconds, summary["val_l1"],
        "n/a" if r_mouth is None else f"{r_mouth:.2f}", outputs.model,
    )  # fmt: skip
    return summary


def plot(path: Path, predicted: np.ndarray, recorded: np.ndarray, frames: np.ndarray) -> None:
    """Predicted vs recorded mouth opening (AU25 + AU26) and EAR over ``frames``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    time_s = frames / FPS
    ear = EXPRESSION_NAMES.index("EAR")
    figure, axes = plt.subplots(2, 1, figsize=(11, 6), sharex=True, layout="constrained")
    series = (
        (
            mouth_opening(recorded[frames]),
            mouth_opening(predicted[frames]),
            "mouth opening\nAU25 + AU26",
        ),
        (recorded[frames, ear], predicted[frames, ear], "eye aspect ratio\n(÷ open eye)"),
    )
    for axis, (truth, guess, label) in zip(axes, series, strict=True):
        axis.plot(time_s, truth, color="black", linewidth=1.4, label="recorded")
        axis.plot(time_s, guess, color="tab:red", linewidth=1.2, label="predicted from audio")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        axis.legend(loc="upper right", fontsize=8)
    axes[0].set_title("expression generator, validation frames", loc="left")
    axes[1].set_xlabel("time (s)")
    figure.savefig(path, format="png", dpi=90, metadata={"Software": None})
    plt.close(figure)
