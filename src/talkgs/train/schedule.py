"""What a training stage does at each iteration: its phases, learning-rate factors, the frame
each step samples and when hair leaves the loss.

Iterations count from 0 within a stage (``face``, ``mouth``, ``fuse``), as upstream's scripts
count them per script; the schedules below are functions of that count alone, so a resumed
stage continues exactly where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # the families build their phases from this module
    from talkgs.train.presets import Method, Preset

# What a phase can train: a branch's Gaussians (all of their parameters), a branch's motion
# networks, or only the appearance of a branch (colours; the face's opacity too).
FACE, MOUTH = "face", "mouth"
FACE_MOTION, MOUTH_MOTION = "face_motion", "mouth_motion"
APPEARANCE = ("face.colors", "face.opacities", "mouth.colors")  # TalkingGaussian's fuse
EVERYTHING = (FACE, MOUTH, FACE_MOTION, MOUTH_MOTION)


@dataclass(frozen=True)
class Phase:
    name: str  # e.g. "face-static"
    iterations: int
    face_motion: bool  # the face is deformed by its motion network
    mouth_motion: bool
    loss: str  # "face" | "mouth" | "fuse"
    trains: tuple[str, ...]  # groups whose parameters this phase updates (see above)
    densify: str | None  # "face" | "mouth" | None

    def trains_parameter(self, name: str) -> bool:
        """Whether the model parameter ``name`` (``face.params.colors``, ``face_motion.…``)
        is updated in this phase."""
        group, _, rest = name.partition(".")
        if group in self.trains:
            return True
        if group in (FACE, MOUTH):
            return f"{group}.{rest.removeprefix('params.')}" in self.trains
        return False


def phases(method: Method, stage: str) -> list[Phase]:
    """The stage's phases, empty ones dropped."""
    p = method.preset
    if stage == "face":
        chosen = [
            Phase("face-static", p.face_static_iters, False, False, "face", (FACE,), "face"),
            Phase("face-motion", p.face_motion_iters, True, False, "face", (FACE, FACE_MOTION),
                  "face"),
        ]  # fmt: skip
    elif stage == "mouth":
        chosen = [
            Phase("mouth-static", p.mouth_static_iters, False, False, "mouth", (MOUTH,), "mouth"),
            Phase("mouth-motion", p.mouth_motion_iters, False, True, "mouth",
                  (MOUTH, MOUTH_MOTION), "mouth"),
        ]  # fmt: skip
    else:
        chosen = method.spec.fuse_phases(method)
    return [phase for phase in chosen if phase.iterations > 0]


class Schedule:
    """The phases of one stage laid end to end."""

    def __init__(self, method: Method, stage: str) -> None:
        self.stage = stage
        self.phases = phases(method, stage)
        self.total = sum(phase.iterations for phase in self.phases)

    def phase_at(self, iteration: int) -> tuple[Phase, int]:
        """The phase of ``iteration`` and the iteration's number within it."""
        start = 0
        for phase in self.phases:
            if iteration < start + phase.iterations:
                return phase, iteration - start
            start += phase.iterations
        return self.phases[-1], self.phases[-1].iterations


def means_lr_factor(preset: Preset, iteration: int) -> float:
    """3DGS's position schedule: log-linear from 1 to ``lr_means_final / lr_means`` over
    ``lr_means_steps`` iterations, then constant (upstream passes no delay steps)."""
    if preset.lr_means_final is None:
        return 1.0
    t = min(max(iteration / max(preset.lr_means_steps, 1), 0.0), 1.0)
    return (preset.lr_means_final / preset.lr_means) ** t


def network_lr_factor(preset: Preset, iteration: int, total: int) -> float:
    """TalkingGaussian's LambdaLR on the motion networks, with its 40k / 50k of a 50k stage as
    0.8 and 1.0 of this stage: ``0.5^(i / 0.8T)`` before 0.8 T, ``0.1^(i / T)`` after."""
    if not preset.lr_network_decay or total <= 0:
        return 1.0
    knee = 0.8 * total
    return 0.5 ** (iteration / knee) if iteration < knee else 0.1 ** (iteration / total)


def hair_dropped(preset: Preset, phase: Phase, iteration: int, total: int) -> bool:
    """train_face.py's ``hair_mask_iter``: between the warm-up and 0.92 of the stage (its 46k of
    50k), hair leaves the face loss except every 7th iteration, so the motion network does not
    learn the sway of hair; the attention penalty on hair applies when it is in."""
    return (
        preset.hair_dropout
        and phase.loss == "face"
        and phase.face_motion
        and iteration < 0.92 * total
        and iteration % 7 != 0
    )


@dataclass(frozen=True)
class Draws:
    """The host's random choices of every iteration of a stage, drawn up front with the seed:
    known in advance (frames can be decoded ahead) and the same after a resume."""

    frames: list[int]  # the training frame (see :func:`draws`)
    paths: list[str]  # HM-Talker's fusion path ("audio" for the other families)
    mask_ratios: list[float]  # the share of audio features its masked path zeroes


def draws(
    method: Method,
    train_ids: list[int],
    total: int,
    seed: int,
    opening: list[float] | None = None,
) -> Draws:
    """The frame, fusion path and mask ratio of each of ``total`` iterations.

    Frames are drawn uniformly, except that a share ``open_mouth_share`` of the iterations
    draws a mouth opening uniformly between the smallest and the largest of the training
    frames' (``opening``, one value per training frame) and takes the frame nearest to it.
    Speech holds the mouth nearly closed most of the time; drawn uniformly, the rare wide
    openings weigh little and the motion regresses to a half-open mean (the aim of upstream's
    AU25 curriculum, which talkgs' AU scale does not reproduce).
    """
    generator = torch.Generator().manual_seed(seed)
    host = torch.device("cpu")
    total = max(total, 0)
    picks = torch.randint(len(train_ids), (total,), generator=generator, device=host).tolist()
    frames = [train_ids[i] for i in picks]
    share = method.preset.open_mouth_share
    if share > 0 and opening is not None and total > 0:
        if len(opening) != len(train_ids):
            raise ValueError(f"{len(opening)} mouth openings for {len(train_ids)} frames")
        values, order = torch.sort(torch.tensor(opening, dtype=torch.float64))
        chosen = torch.rand(total, generator=generator, device=host) < share
        targets = values[0] + (values[-1] - values[0]) * torch.rand(
            total, generator=generator, device=host, dtype=torch.float64
        )
        # the nearest opening by bisection: a total × frames table would be gigabytes at the
        # paper's 50k iterations of a 7 000-frame identity
        above = torch.searchsorted(values, targets).clamp(1, len(values) - 1)
        below_closer = (targets - values[above - 1]) <= (values[above] - targets)
        nearest = order[torch.where(below_closer, above - 1, above)].tolist()
        for iteration in torch.nonzero(chosen).flatten().tolist():
            frames[iteration] = train_ids[nearest[iteration]]
    if total == 0:
        return Draws(frames, [], [])
    paths, ratios = method.spec.fusion_paths(method, total, generator)
    return Draws(frames, paths, ratios)
