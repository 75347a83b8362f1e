"""The Retrieval-Based Pose Generator's database and pose space (paper 003, §4.3.2): the
identity's training frames as units of recorded poses keyed by their audio, and the retrieval
that gives the Pose Refiner its initial poses ``p̂`` (:mod:`talkgs.motion.pose` says what
follows the paper and what differs)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from talkgs.errors import TalkgsError
from talkgs.pose.camera import exp_so3, log_so3, project_to_rotation

POSE_DIM = 6  # rotation vector (3) and translation (3)


def join_offsets(previous: np.ndarray, unit: np.ndarray, length: int) -> np.ndarray:
    """``[len(unit), 6]`` offsets that make ``unit`` continue ``previous`` (its last one or two
    poses) in position and velocity, fading to zero over ``length`` frames with zero slope at
    both ends (a raised cosine ``f``): ``f(k) · (gap + k · Δv)``. A fade of the position gap
    alone would leave a kink, the velocity jump, at every join."""
    k = np.arange(len(unit), dtype=np.float32)[:, None]
    fade = 0.5 * (1.0 + np.cos(np.pi * np.minimum(k, length) / length))
    if len(previous) > 1 and len(unit) > 1:
        velocity = previous[-1] - previous[-2]
        gap = previous[-1] + velocity - unit[0]  # its first pose one step on from the last
        velocity_gap = velocity - (unit[1] - unit[0])
    else:
        gap, velocity_gap = previous[-1] - unit[0], np.zeros_like(unit[0])
    return (fade * (gap + k * velocity_gap)).astype(np.float32)


@dataclass(frozen=True)
class PoseSpace:
    """Camera-from-head poses ↔ standardised 6-vectors (module docstring)."""

    mean_rotation: np.ndarray  # R̄ [3, 3]
    mean_translation: np.ndarray  # t̄ [3]
    scale: np.ndarray  # [6] standard deviation of each component
    low: np.ndarray  # [6] the training poses' range, standardised
    high: np.ndarray

    @staticmethod
    def fit(rotations: np.ndarray, translations: np.ndarray) -> PoseSpace:
        mean_rotation = project_to_rotation(rotations.mean(axis=0))
        mean_translation = translations.mean(axis=0)
        raw = _raw(rotations, translations, mean_rotation, mean_translation)
        scale = np.maximum(raw.std(axis=0), 1e-6)
        vectors = raw / scale
        return PoseSpace(
            mean_rotation, mean_translation, scale, vectors.min(axis=0), vectors.max(axis=0)
        )

    def encode(self, rotations: np.ndarray, translations: np.ndarray) -> np.ndarray:
        """``[T, 3, 3]``, ``[T, 3]`` → ``[T, 6]`` float32."""
        raw = _raw(rotations, translations, self.mean_rotation, self.mean_translation)
        return (raw / self.scale).astype(np.float32)

    def decode(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``[T, 6]`` → rotations ``[T, 3, 3]`` and translations ``[T, 3]``."""
        raw = np.asarray(vectors, np.float64) * self.scale
        return exp_so3(raw[:, :3]) @ self.mean_rotation, raw[:, 3:] + self.mean_translation

    def as_dict(self) -> dict[str, Tensor]:
        return {f.name: torch.from_numpy(np.asarray(getattr(self, f.name), np.float64))
                for f in dataclasses.fields(self)}  # fmt: skip

    @staticmethod
    def from_dict(values: dict[str, Tensor]) -> PoseSpace:
        names = [f.name for f in dataclasses.fields(PoseSpace)]
        return PoseSpace(*(values[name].numpy().astype(np.float64) for name in names))


def _raw(
    rotations: np.ndarray, translations: np.ndarray, mean_rotation: np.ndarray, mean_t: np.ndarray
) -> np.ndarray:
    rotvec = log_so3(rotations @ mean_rotation.T)
    return np.concatenate([rotvec, translations - mean_t], axis=1)


# retrieval -----------------------------------------------------------------------------------
def audio_keys(mel: np.ndarray, starts: Sequence[int], length: int) -> np.ndarray:
    """``a'`` of the units ``[s, s + length)``: each mel band's mean and standard deviation over
    the unit's frames (mean over each frame's windows first), ``[len(starts), 2 · bins]``."""
    per_frame = mel.mean(axis=1)  # [T, bins]
    keys = []
    for s in starts:
        unit = per_frame[s : s + length]
        keys.append(np.concatenate([unit.mean(axis=0), unit.std(axis=0)]))
    return np.asarray(keys, np.float64).reshape(len(keys), -1)


@dataclass
class Database:
    """``D``: units of the training frames with their audio keys and poses."""

    starts: np.ndarray  # [K] first frame of each unit
    keys: np.ndarray  # [K, 2 · bins], centred by key_mean
    key_mean: np.ndarray  # [2 · bins]
    poses: np.ndarray  # [T, 6] standardised poses of all frames (units index into it)
    unit: int

    @staticmethod
    def build(mel: np.ndarray, poses: np.ndarray, train_ids: Sequence[int], unit: int) -> Database:
        first, last = int(train_ids[0]), int(train_ids[-1]) + 1
        if last - first < unit:
            raise TalkgsError(f"{last - first} training frames: fewer than one unit of {unit}")
        starts = np.arange(first, last - unit + 1, max(unit // 2, 1))
        keys = audio_keys(mel, starts, unit)
        key_mean = keys.mean(axis=0)
        return Database(starts, keys - key_mean, key_mean, poses.astype(np.float32), unit)

    def retrieve(
        self, mel: np.ndarray, candidates: int, exclude: tuple[int, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Initial poses ``p̂`` ``[T, 6]`` for mel windows ``[T, W, D]`` and the frame each was
        taken from ``[T]``; ``exclude``: a frame range ``[a, b)`` whose units are not used."""
        count = len(mel)
        usable = np.ones(len(self.starts), bool)
        if exclude is not None:
            usable = (self.starts + self.unit <= exclude[0]) | (self.starts >= exclude[1])
        if not usable.any():
            raise TalkgsError("no database unit left to retrieve from")
        index = np.flatnonzero(usable)
        keys = self.keys[index]
        norms = np.linalg.norm(keys, axis=1) + 1e-9
        poses = np.empty((count, POSE_DIM), np.float32)
        frames = np.empty(count, np.int64)
        previous: np.ndarray | None = None
        for begin in range(0, count, self.unit):
            length = min(self.unit, count - begin)
            query = audio_keys(mel, [begin], length)[0] - self.key_mean
            similarity = keys @ query / (norms * (np.linalg.norm(query) + 1e-9))
            best = index[np.argsort(-similarity, kind="stable")[:candidates]]
            if previous is not None:  # of the most similar, the one that joins best
                chosen = int(best[np.argmin([self._gap(previous, s) for s in self.starts[best]])])
            else:
                chosen = int(best[0])
            rows = np.arange(self.starts[chosen], self.starts[chosen] + length)
            unit = self.poses[rows]
            if previous is not None:  # join: the gap to the previous unit, fading over this one
                unit = unit + join_offsets(previous, unit, self.unit)[:length]
            poses[begin : begin + length] = unit
            frames[begin : begin + length] = rows
            previous = poses[max(begin + length - 2, 0) : begin + length]
        return poses, frames

    def _gap(self, previous: np.ndarray, start: int) -> float:
        """How far a unit starting at ``start`` is from continuing ``previous`` (its last two
        poses): the distance of positions plus that of velocities."""
        first = self.poses[start : start + 2]
        gap = float(np.linalg.norm(first[0] - previous[-1]))
        if len(previous) == 2 and len(first) == 2:
            gap += float(np.linalg.norm((first[1] - first[0]) - (previous[1] - previous[0])))
        return gap

    def as_dict(self) -> dict[str, Tensor]:
        return {
            "starts": torch.from_numpy(self.starts.astype(np.int64)),
            "keys": torch.from_numpy(self.keys),
            "key_mean": torch.from_numpy(self.key_mean),
            "poses": torch.from_numpy(self.poses),
            "unit": torch.tensor(self.unit),
        }

    @staticmethod
    def from_dict(values: dict[str, Tensor]) -> Database:
        return Database(
            values["starts"].numpy(), values["keys"].numpy(), values["key_mean"].numpy(),
            values["poses"].numpy(), int(values["unit"]),
        )  # fmt: skip
