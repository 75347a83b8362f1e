"""One identity's training data, streamed from disk frame by frame.

Upstream TalkingGaussian preloads every frame into RAM (~32 GB per 5k frames, its issue #74);
here a frame is read when a training step asks for it, resized to the preset's resolution and
kept in a small byte-bounded cache. Per frame a step gets the frame on the background plate,
the background layer it is composited over (plate + the frame's own neck and torso, as
TalkingGaussian's fuse stage does), the head and mouth masks from the parsing labels, the head
camera from the pose stage and the conditions (audio window, action units).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from talkgs.errors import input_error
from talkgs.face.labels import Label
from talkgs.features.openface import INTENSITY_AUS, LOWER_AUS, UPPER_AUS
from talkgs.features.openface import read_csv as read_au_csv
from talkgs.frames import frame_paths, read_labels, read_rgb
from talkgs.layout import IdentityLayout
from talkgs.pose.transforms import split

# HM-Talker's upper- and lower-face AUs, as the AU stage names them.
AU_UPPER = UPPER_AUS
AU_LOWER = LOWER_AUS
AU_ALL = INTENSITY_AUS
# TalkingGaussian's expression features, also M2DAO-Talker's six upper-face AUs.
AU_TALKINGGAUSSIAN = ("01", "04", "05", "06", "07", "45")

HEAD_LABELS = (Label.FACE, Label.LIPS, Label.EYES, Label.BROWS, Label.HAIR)
MOUTH_LABELS = (Label.INNER_MOUTH, Label.TEETH)
TORSO_LABELS = (Label.NECK, Label.TORSO)


@dataclass
class FrameSample:
    index: int
    image: torch.Tensor  # [H, W, 3] in [0, 1]: the frame on the background plate (gt_imgs)
    background: torch.Tensor  # [H, W, 3]: plate + this frame's neck and torso
    head_mask: torch.Tensor  # [H, W, 1]: face, lips, eyes, brows, hair
    mouth_mask: torch.Tensor  # [H, W, 1]: inner mouth and teeth
    viewmat: torch.Tensor  # [4, 4] head-to-camera, OpenCV axes
    K: torch.Tensor  # [3, 3] at the training resolution


class IdentityData:
    """Frames, masks, cameras and conditions of one identity at one resolution."""

    def __init__(
        self,
        root: str | Path,
        resolution: int,
        audio_features: str,
        audio_window: int,
        cache_mb: int = 512,
        audio_override: np.ndarray | None = None,
    ) -> None:
        self.layout = IdentityLayout(str(root))
        self.resolution = resolution
        self.window = audio_window
        self.frames = frame_paths(self.layout.path("frames"))
        self.count = len(self.frames)
        self.train_ids, self.val_ids = (list(r) for r in split(self.count))

        pose = np.load(self.layout.path("pose"))
        self.rotations = pose["rotations"].astype(np.float32)
        self.translations = pose["translations"].astype(np.float32)
        if len(self.rotations) != self.count:
            raise input_error(
                self.layout.pose, f"{len(self.rotations)} poses for {self.count} frames"
            )
        width, height = (int(v) for v in pose["image_size"])
        # The pose stage puts pixel centres at integer coordinates, the renderer (as gsplat) at
        # +0.5: shift by half a pixel, then scale to the training resolution.
        scale = resolution / width
        focal = float(pose["focal"]) * scale
        cx, cy = ((np.asarray(pose["principal_point"], np.float64) + 0.5) * scale).tolist()
        self.K = np.array([[focal, 0, cx], [0, focal, cy], [0, 0, 1]], np.float32)
        self.face_vertices = pose["face_vertices"].astype(np.float32)
        self.source_size = (width, height)

        if audio_override is not None:
            audio = audio_override
        else:
            audio_path = Path(self.layout.audio_features(audio_features))
            if not audio_path.is_file():
                raise input_error(
                    audio_path,
                    f"no {audio_features} audio features (is "
                    f"{audio_features!r} in audio.extractors?)",
                )
            audio = np.load(audio_path)
            if len(audio) != self.count:
                raise input_error(audio_path, f"{len(audio)} rows for {self.count} frames")
        self.audio = torch.from_numpy(as_windows(audio).astype(np.float32))
        au = read_au_csv(self.layout.path("au"), self.count)
        self.au = torch.from_numpy(au.intensity.astype(np.float32))  # columns AU_ALL
        self.background_plate = read_rgb(self.layout.path("background"))
        self._cache: OrderedDict[int, tuple[np.ndarray, ...]] = OrderedDict()
        self._cache_limit = cache_mb * 2**20
        self._cache_bytes = 0

    # conditions -------------------------------------------------------------------------
    @property
    def audio_shape(self) -> tuple[int, int]:
        """(windows, dims) of one frame's audio feature."""
        return int(self.audio.shape[1]), int(self.audio.shape[2])

    def audio_window(self, index: int, audio: torch.Tensor | None = None) -> torch.Tensor:
        """``[window, W, D]``: frames ``index - window/2 … index + window/2 - 1``, clamped."""
        source = self.audio if audio is None else audio
        offsets = torch.arange(self.window) - self.window // 2
        ids = (index + offsets).clamp(0, len(source) - 1)
        return source[ids]

    def au_vector(self, index: int, names: tuple[str, ...]) -> torch.Tensor:
        columns = [AU_ALL.index(name) for name in names]
        values = self.au[index, columns] / 5.0  # OpenFace intensities are 0–5
        if "45" in names:  # TalkingGaussian clips the blink AU to 0–2
            blink = names.index("45")
            values[blink] = self.au[index, AU_ALL.index("45")].clamp(0, 2) / 2.0
        return values

    # frames -----------------------------------------------------------------------------
    def camera(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        viewmat = np.eye(4, dtype=np.float32)
        viewmat[:3, :3] = self.rotations[index]
        viewmat[:3, 3] = self.translations[index]
        return torch.from_numpy(viewmat), torch.from_numpy(self.K.copy())

    def sample(self, index: int) -> FrameSample:
        image, background, head, mouth = self._read(index)
        viewmat, K = self.camera(index)

        def tensor(array: np.ndarray) -> torch.Tensor:
            t = torch.from_numpy(array).float() / 255.0
            return t if t.ndim == 3 else t[..., None]

        return FrameSample(
            index, tensor(image), tensor(background), tensor(head), tensor(mouth), viewmat, K
        )

    def _read(self, index: int) -> tuple[np.ndarray, ...]:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        size = (self.resolution, self.resolution)
        gt = read_rgb(Path(self.layout.gt_imgs) / f"{index:06d}.jpg")
        labels = read_labels(Path(self.layout.parsing) / f"{index:06d}.png")
        torso = np.isin(labels, TORSO_LABELS)
        background = np.where(torso[..., None], gt, self.background_plate)

        def mask(values: tuple[Label, ...]) -> np.ndarray:
            full = np.isin(labels, values).astype(np.uint8) * 255
            return cv2.resize(full, size, interpolation=cv2.INTER_AREA)

        item = (
            cv2.resize(gt, size, interpolation=cv2.INTER_AREA),
            cv2.resize(background, size, interpolation=cv2.INTER_AREA),
            mask(HEAD_LABELS),
            mask(MOUTH_LABELS),
        )
        self._cache[index] = item
        self._cache_bytes += sum(a.nbytes for a in item)
        while self._cache_bytes > self._cache_limit and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cache_bytes -= sum(a.nbytes for a in old)
        return item

    def head_pixels(self, index: int, labels: tuple[Label, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates ``[M, 2]`` (training resolution) and RGB ``[M, 3]`` of ``labels``."""
        size = (self.resolution, self.resolution)
        gt = cv2.resize(
            read_rgb(Path(self.layout.gt_imgs) / f"{index:06d}.jpg"),
            size,
            interpolation=cv2.INTER_AREA,
        )
        labels_map = cv2.resize(
            read_labels(Path(self.layout.parsing) / f"{index:06d}.png"),
            size,
            interpolation=cv2.INTER_NEAREST,
        )
        ys, xs = np.nonzero(np.isin(labels_map, labels))
        return np.stack([xs, ys], 1).astype(np.float32), gt[ys, xs].astype(np.float32) / 255


def as_windows(features: np.ndarray) -> np.ndarray:
    """Per-frame audio features as ``[T, W, D]``: mel ``[T,16,80]`` and HuBERT ``[T,2,1024]``
    keep their windows, a vector per frame (AVE ``[T,512]``, phones) becomes ``W = 1``."""
    if features.ndim == 2:
        return features[:, None, :]
    if features.ndim == 3:
        return features
    raise ValueError(f"audio features of shape {features.shape}: expected [T,D] or [T,W,D]")
