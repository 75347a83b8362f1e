"""A new model: face and mouth Gaussians back-projected from training frames.

Built on the host with its own seeded generator, then moved to the training device, so that a
CPU and a GPU run start from the same Gaussians.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from talkgs.errors import input_error
from talkgs.face.labels import Label
from talkgs.train.data import HEAD_LABELS, MOUTH_LABELS, IdentityData
from talkgs.train.model import GaussianField, TalkingHead
from talkgs.train.presets import Method


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
        pixel_size = float(data.translations[frames[0], 2]) / float(data.K_host[0, 0])
        spacing = math.sqrt(len(all_points) / len(frames) / count) * pixel_size
        scale = torch.tensor([spacing, spacing, spacing * 0.5]).expand(len(chosen), 3)
        return all_points[chosen] + jitter, all_colours[chosen], scale.clone()

    means, colours, scales = back_project(
        HEAD_LABELS, preset.face_points, 0.0, [data.train_ids[i] for i in picks]
    )
    features = method.spec.gaussian_features(method, len(means), generator)
    face = GaussianField(means, colours, scales, {name: f.values for name, f in features.items()})
    mouth_frames = open_mouth_frames(data)
    mouth = GaussianField(
        *back_project(MOUTH_LABELS, preset.mouth_points, 0.05 * face_width, mouth_frames)
    )
    return face, mouth


def open_mouth_frames(data: IdentityData, count: int = 8) -> list[int]:
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
    """A new model on the host (move it to the training device)."""
    face, mouth = initial_fields(data, method)
    model = TalkingHead(method, face, mouth, data.audio_shape)
    method.spec.prepare(model.face_motion, data.layout)
    return model
