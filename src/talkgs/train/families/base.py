"""What a model family is: the one interface every family module implements.

A family states

- ``defaults``: its options (a method's ``params`` may override them);
- ``inputs``: the identity's feature files its conditions read, by :class:`IdentityLayout`
  property name, besides what every family reads (frames, parsing, pose, ``au.csv`` for the
  frame draws, the audio features): the training and render rules declare exactly these, so a
  file that only one family reads reruns only that family's jobs when it changes;
- ``frame_features``: the per-frame tables of its conditions (``[T, k]`` each), which
  :meth:`IdentityData.conditions` hands to its motion network one row at a time;
- ``face_motion``: its face deformation network (conditions + Gaussians → δ);
- ``gaussian_features``: per-Gaussian parameters of its own, kept with the face Gaussians so that
  densification clones, splits and prunes them along;
- ``fuse_phases`` and ``fusion_paths``: its joint stage and its stochastic training paths;
- ``paper``: the preset fields its paper changes in talkgs' ``paper`` preset (iteration
  counts), applied unless a method sets them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from talkgs.train.schedule import APPEARANCE, EVERYTHING, Phase

if TYPE_CHECKING:
    from talkgs.layout import IdentityLayout
    from talkgs.train.data import Conditions
    from talkgs.train.presets import Method


@dataclass(frozen=True)
class GaussianFeature:
    """A per-Gaussian parameter of a family: its initial values and its learning rate (0: it
    is carried along by densification but never changes)."""

    values: Tensor  # [N, k]
    lr: float


class FaceMotion(nn.Module):
    """A family's face deformation network."""

    def forward(  # type: ignore[override]
        self, gaussians: nn.ParameterDict, c: Conditions
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """``δ`` ``[N, 10]`` (Δμ, Δs, Δq) or ``[N, 14]`` (… Δcolour logits, Δopacity logit)
        and auxiliary terms: ``attention`` ``[N, 2]`` (norms of the audio- and
        expression-side region attention, for the attention regulariser), ``align``
        (HM-Talker's L_align)."""
        raise NotImplementedError


class Family:
    name: ClassVar[str]
    summary: ClassVar[str]  # one line: what drives its face and what its joint stage trains
    # what drives the face in a render (recorded in every render summary)
    face_driver: ClassVar[str] = "audio, with the frame's recorded upper-face AUs"
    # the frame feature holding Talk2Me's expression vector (talkgs.features.expression), which
    # the Expression Generator can generate from audio (render.motion: generated); None: none
    expression_feature: ClassVar[str | None] = None
    defaults: ClassVar[dict[str, Any]]
    inputs: ClassVar[tuple[str, ...]] = ()
    paper: ClassVar[dict[str, int]] = {}

    def frame_features(
        self, layout: IdentityLayout, count: int, au_intensity: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Per-frame condition tables ``[count, k]``; ``au_intensity`` is ``au.csv``'s
        ``[count, 17]`` OpenFace intensities, read once for every family."""
        raise NotImplementedError

    def pose_features(
        self, layout: IdentityLayout, count: int, rotations: np.ndarray, translations: np.ndarray
    ) -> dict[str, np.ndarray]:
        """The frame features that follow the head pose (Talk2Me's ``pose``), ``[T, k]`` each,
        for camera-from-head poses other than the recorded ones (generated); none by default
        (the other families see the pose only through the camera)."""
        return {}

    def face_motion(
        self, method: Method, audio_shape: tuple[int, int], bounds: Tensor
    ) -> FaceMotion:
        raise NotImplementedError

    def prepare(self, motion: FaceMotion, layout: IdentityLayout) -> None:
        """Set what a new face motion network takes from the identity (before training)."""

    def gaussian_features(
        self, method: Method, count: int, generator: torch.Generator
    ) -> dict[str, GaussianFeature]:
        return {}

    def fuse_phases(self, method: Method) -> list[Phase]:
        """The joint stage: TalkingGaussian's appearance-only fuse or everything at once."""
        p = method.preset
        trains = APPEARANCE if method.fuse_trains == "appearance" else EVERYTHING
        return [Phase("fuse", p.fuse_iters, True, True, "fuse", trains, None)]

    def fusion_paths(
        self, method: Method, total: int, generator: torch.Generator
    ) -> tuple[list[str], list[float]]:
        """Each iteration's fusion path and mask ratio (HM-Talker); the audio path otherwise."""
        return ["audio"] * total, [0.0] * total
