"""One identity's training data, on the training device.

Per frame a training step needs the frame on the background plate (``gt_imgs``), the background
layer it is composited over (the plate plus the frame's own neck and torso, as TalkingGaussian's
fuse stage does), the head, inside-mouth and hair masks and the lips box (from the parsing
labels), the camera from the pose stage and the conditions (audio window, action units).

Frames are decoded once, at the training resolution, into one uint8 tensor of
:data:`CHANNELS` channels per pixel (9 bytes: 2.4 GB per 1 000 frames at 512², 147 MB at 128²),
and kept where :func:`choose_placement` finds room:

- ``device``: on the GPU (or, for CPU training, in host memory): a step only indexes it;
- ``host``: in pinned host memory, one frame copied to the GPU per step, asynchronously;
- ``stream``: decoded from disk by worker threads ahead of the steps that need them (the
  trainer announces its frame order), for identities larger than memory.

Upstream TalkingGaussian preloads float frames into RAM (~32 GB per 5k frames, its issue #74).
Cameras, audio features and action units of every frame live on the device as well, so a step
creates nothing on the host and never waits for the device.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch
from torch import Tensor

from talkgs.errors import TalkgsError, input_error
from talkgs.face.labels import HEAD_LABELS, MOUTH_LABELS, TORSO_LABELS, Label
from talkgs.features.expression import MOUTH_OPENING_COLUMNS
from talkgs.features.openface import read_csv as read_au_csv
from talkgs.frames import frame_paths, read_labels, read_rgb
from talkgs.layout import IdentityLayout
from talkgs.log import progress
from talkgs.parallel import ordered_map
from talkgs.pose.transforms import split

if TYPE_CHECKING:
    from talkgs.train.families import Family

log = logging.getLogger("talkgs.train")

HAIR_LABELS = (Label.HAIR,)
LIPS_BOX_LABELS = (Label.LIPS, Label.INNER_MOUTH, Label.TEETH)

# The channels of a decoded frame: RGB of gt_imgs, RGB of the background layer (composited at
# full resolution, then downscaled like the frame), then the share of each pixel covered by
# head, mouth and hair labels (0–255, area-averaged when downscaled).
CHANNELS = 9
RGB, BACKGROUND, HEAD, MOUTH, HAIR = slice(0, 3), slice(3, 6), 6, 7, 8
PLACEMENTS = ("auto", "device", "host", "stream")
DEVICE_SHARE = 0.4  # of the GPU's free memory that frames may take (the rest: training)
HOST_SHARE = 0.5  # of the available host memory


def frame_bytes(resolution: int) -> int:
    return resolution * resolution * CHANNELS


@dataclass
class FrameSample:
    index: int
    image: Tensor  # [H, W, 3] in [0, 1]: the frame on the background plate (gt_imgs)
    background: Tensor  # [H, W, 3]: plate + this frame's neck and torso
    head_mask: Tensor  # [H, W, 1]: face, lips, eyes, brows, hair
    mouth_mask: Tensor  # [H, W, 1]: inner mouth and teeth
    hair_mask: Tensor  # [H, W, 1]
    lips_box: Tensor  # [H, W, 1]: 1 inside the square around lips and mouth, else 0
    viewmat: Tensor  # [4, 4] head-to-camera, OpenCV axes
    K: Tensor  # [3, 3] at the training resolution


@dataclass
class Conditions:
    """One frame's conditions; ``path`` selects HM-Talker's fusion path during training."""

    audio: Tensor  # [1, frames, W, D]
    features: dict[str, Tensor]  # the family's per-frame features, [1, k] each
    path: str = "audio"  # "audio" | "masked" | "vanilla"
    audio_keep: Tensor | None = None  # masked path: [1, audio_dim] 1 where the feature is kept


def available_host_bytes() -> int:
    """Host memory this process may still use: MemAvailable, capped by a cgroup limit
    (SLURM confines jobs with one)."""
    available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except OSError:
        pass
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            if limit.isdigit():
                available = min(available, int(limit) - int(Path(usage_file).read_text()))
        except (OSError, ValueError):
            continue
    return max(available, 0)


def choose_placement(
    requested: str, need: int, device: torch.device, free_device: int, free_host: int
) -> str:
    """Where ``need`` bytes of frames go: ``device``, ``host`` or ``stream``."""
    if requested not in PLACEMENTS:
        raise TalkgsError(f"train.frames: {requested!r} is not one of {', '.join(PLACEMENTS)}")
    if requested != "auto":
        return "device" if requested == "host" and device.type == "cpu" else requested
    if device.type == "cuda" and need <= DEVICE_SHARE * free_device:
        return "device"
    if need <= HOST_SHARE * free_host:
        return "device" if device.type == "cpu" else "host"
    return "stream"


class FrameDecoder:
    """Reads frame ``index`` from disk as ``[H, W, CHANNELS]`` uint8 and its lips box."""

    def __init__(self, layout: IdentityLayout, resolution: int) -> None:
        self.layout = layout
        self.size = (resolution, resolution)
        self.plate = read_rgb(layout.path("background"))

    def __call__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        gt = read_rgb(Path(self.layout.gt_imgs) / f"{index:06d}.jpg")
        labels = read_labels(Path(self.layout.parsing) / f"{index:06d}.png")
        if labels.shape != gt.shape[:2]:
            raise input_error(
                Path(self.layout.parsing) / f"{index:06d}.png",
                f"label map of {labels.shape[1]}×{labels.shape[0]} for a frame of "
                f"{gt.shape[1]}×{gt.shape[0]}",
            )
        if self.plate.shape != gt.shape:
            raise input_error(
                self.layout.path("background"),
                f"plate of {self.plate.shape[1]}×{self.plate.shape[0]} for frames of "
                f"{gt.shape[1]}×{gt.shape[0]}",
            )
        torso = np.isin(labels, TORSO_LABELS)[..., None]
        out = np.empty((*self.size, CHANNELS), np.uint8)
        out[..., RGB] = cv2.resize(gt, self.size, interpolation=cv2.INTER_AREA)
        background = np.where(torso, gt, self.plate)
        out[..., BACKGROUND] = cv2.resize(background, self.size, interpolation=cv2.INTER_AREA)
        for channel, values in ((HEAD, HEAD_LABELS), (MOUTH, MOUTH_LABELS),
                                (HAIR, HAIR_LABELS)):  # fmt: skip
            full = np.isin(labels, values).astype(np.uint8) * 255
            out[..., channel] = cv2.resize(full, self.size, interpolation=cv2.INTER_AREA)
        return out, self.lips_box(labels, gt.shape[1])

    def lips_box(self, labels: np.ndarray, width: int) -> np.ndarray:
        """``[x0, y0, x1, y1)`` at the training resolution: the square around lips and mouth
        (TalkingGaussian's ``lips_rect``, from the parsing instead of landmarks 48–59)."""
        ys, xs = np.nonzero(np.isin(labels, LIPS_BOX_LABELS))
        if len(xs) == 0:
            return np.zeros(4, np.int32)
        scale = self.size[0] / width
        cx, cy = (xs.min() + xs.max() + 1) / 2 * scale, (ys.min() + ys.max() + 1) / 2 * scale
        half = max(xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()) / 2 * scale
        box = np.array([cx - half, cy - half, cx + half, cy + half])
        return np.clip(np.round(box), 0, self.size[0]).astype(np.int32)


class PreloadedFrames:
    """Every frame in one tensor, on the training device or in pinned host memory."""

    def __init__(
        self, decoder: FrameDecoder, count: int, device: torch.device, where: str, threads: int
    ) -> None:
        self.device = device
        on_device = where == "device"
        home = device if on_device else torch.device("cpu")
        size = decoder.size[0]
        self.frames = torch.empty(
            (count, size, size, CHANNELS), dtype=torch.uint8, device=home, pin_memory=not on_device
        )
        boxes = np.zeros((count, 4), np.int32)
        decoded = ordered_map(decoder, range(count), threads=threads, ahead=4 * threads)
        for index, (frame, box) in enumerate(progress(decoded, "load frames", total=count)):
            self.frames[index].copy_(torch.from_numpy(frame))
            boxes[index] = box
        self.boxes = torch.from_numpy(boxes).to(device)

    def prefetch(self, indices: list[int]) -> None:
        pass  # everything is loaded

    def get(self, index: int) -> tuple[Tensor, Tensor]:
        return self.frames[index].to(self.device, non_blocking=True), self.boxes[index]


class StreamedFrames:
    """Frames decoded by worker threads in the order the trainer announces, a bounded few
    kept; for identities whose frames fit neither the GPU nor host memory."""

    def __init__(self, decoder: FrameDecoder, device: torch.device, threads: int) -> None:
        self.decoder = decoder
        self.device = device
        self.pool = ThreadPoolExecutor(max(threads, 1), thread_name_prefix="talkgs-frames")
        self.pending: OrderedDict[int, Future[tuple[np.ndarray, np.ndarray]]] = OrderedDict()
        self.limit = 8 * max(threads, 1)

    def prefetch(self, indices: list[int]) -> None:
        for index in indices:
            if index not in self.pending:
                self.pending[index] = self.pool.submit(self.decoder, index)
        while len(self.pending) > self.limit:
            self.pending.popitem(last=False)

    def get(self, index: int) -> tuple[Tensor, Tensor]:
        future = self.pending.pop(index, None)
        frame, box = future.result() if future is not None else self.decoder(index)
        source = torch.from_numpy(frame)
        if self.device.type == "cuda":
            source = source.pin_memory()  # what an asynchronous copy to the GPU reads from
        return source.to(self.device, non_blocking=True), torch.from_numpy(box).to(self.device)


class IdentityData:
    """Frames, masks, cameras and conditions of one identity at one resolution, on ``device``.

    Frames are loaded when first sampled (:meth:`load_frames`), so that a job that only needs
    the conditions (a cross-driven render's audio) reads nothing else.
    """

    def __init__(
        self,
        root: str | Path,
        resolution: int,
        audio_features: str,
        audio_window: int,
        device: torch.device | str = "cpu",
        placement: str = "auto",
        threads: int = 2,
        audio_override: np.ndarray | None = None,
        family: Family | None = None,
    ) -> None:
        self.layout = IdentityLayout(str(root))
        self.resolution = resolution
        self.window = audio_window
        self.device = torch.device(device)
        self.requested_placement = placement
        self.threads = threads
        self.count = len(frame_paths(self.layout.path("frames")))
        self.train_ids, self.val_ids = (list(r) for r in split(self.count))

        pose = np.load(self.layout.path("pose"))
        rotations = pose["rotations"].astype(np.float32)
        translations = pose["translations"].astype(np.float32)
        if len(rotations) != self.count:
            raise input_error(self.layout.pose, f"{len(rotations)} poses for {self.count} frames")
        self.translations = translations
        width = int(pose["image_size"][0])  # square frames: the scale is the same both ways
        # The pose stage puts pixel centres at integer coordinates, the renderer (as gsplat) at
        # +0.5: shift by half a pixel, then scale to the training resolution.
        scale = resolution / width
        focal = float(pose["focal"]) * scale
        cx, cy = ((np.asarray(pose["principal_point"], np.float64) + 0.5) * scale).tolist()
        self.K_host = np.array([[focal, 0, cx], [0, focal, cy], [0, 0, 1]], np.float32)
        viewmats = np.tile(np.eye(4, dtype=np.float32), (self.count, 1, 1))
        viewmats[:, :3, :3] = rotations
        viewmats[:, :3, 3] = translations
        self.viewmats = torch.from_numpy(viewmats).to(self.device)
        self.K = torch.from_numpy(self.K_host).to(self.device)
        self.face_vertices = pose["face_vertices"].astype(np.float32)

        if audio_override is not None:
            audio = audio_override
        else:
            audio_path = Path(self.layout.audio_features(audio_features))
            audio = load_audio_features(audio_path, audio_features)
            if len(audio) != self.count:
                raise input_error(audio_path, f"{len(audio)} rows for {self.count} frames")
        self.audio = torch.from_numpy(as_windows(audio).astype(np.float32)).to(self.device)
        self.window_offsets = torch.arange(self.window, device=self.device) - self.window // 2
        au = read_au_csv(self.layout.path("au"), self.count).intensity.astype(np.float32)
        # AU25 + AU26 (lips part, jaw drop), scaled to [0, 1] each: how far the mouth is open
        self.opening = (au[:, list(MOUTH_OPENING_COLUMNS)] / np.float32(5.0)).sum(1)
        # the family's per-frame condition tables (none without a family: frames only)
        tables = family.frame_features(self.layout, self.count, au) if family else {}
        self.features = {
            name: torch.from_numpy(np.ascontiguousarray(table, np.float32)).to(self.device)
            for name, table in tables.items()
        }
        self._frames: PreloadedFrames | StreamedFrames | None = None
        self._rows = torch.arange(resolution, device=self.device)
        self.placement: str | None = None

    # conditions -------------------------------------------------------------------------
    @property
    def audio_shape(self) -> tuple[int, int]:
        """(windows, dims) of one frame's audio feature."""
        return int(self.audio.shape[1]), int(self.audio.shape[2])

    def audio_window(self, index: int, audio: Tensor | None = None) -> Tensor:
        """``[window, W, D]``: frames ``index - window/2 … index + window/2 - 1``, clamped."""
        source = self.audio if audio is None else audio
        return source[(self.window_offsets + index).clamp(0, len(source) - 1)]

    def conditions(
        self,
        index: int,
        path: str = "audio",
        audio_keep: Tensor | None = None,
        audio: Tensor | None = None,
        audio_index: int | None = None,
    ) -> Conditions:
        """Frame ``index``'s conditions; ``audio``/``audio_index`` drive it with other audio
        features (another identity's, or silence) while its AUs stay the frame's own."""
        return Conditions(
            audio=self.audio_window(index if audio_index is None else audio_index, audio)[None],
            features={name: table[index : index + 1] for name, table in self.features.items()},
            path=path,
            audio_keep=audio_keep,
        )

    def mouth_opening(self, indices: list[int]) -> list[float]:
        """AU25 + AU26 (lips part, jaw drop) of frames ``indices``: how far the mouth is open."""
        return self.opening[indices].astype(np.float64).tolist()

    # frames -----------------------------------------------------------------------------
    def camera(self, index: int) -> tuple[Tensor, Tensor]:
        """``viewmat`` [4, 4] and ``K`` [3, 3] of frame ``index``, on the host."""
        return self.viewmats[index].cpu(), self.K.cpu()

    def load_frames(self) -> None:
        if self._frames is not None:
            return
        need = self.count * frame_bytes(self.resolution)
        free_device = torch.cuda.mem_get_info(self.device)[0] if self.device.type == "cuda" else 0
        self.placement = choose_placement(
            self.requested_placement, need, self.device, free_device, available_host_bytes()
        )
        decoder = FrameDecoder(self.layout, self.resolution)
        if self.placement == "stream":
            self._frames = StreamedFrames(decoder, self.device, self.threads)
        else:
            self._frames = PreloadedFrames(
                decoder, self.count, self.device, self.placement, self.threads
            )
        log.info(
            "frames: %d at %d² (%.0f MB), kept on %s (%s)",
            self.count,
            self.resolution,
            need / 2**20,
            self.placement,
            self.device,
        )

    def prefetch(self, indices: list[int]) -> None:
        """Announce the frames the next steps will sample (decoded ahead when streaming)."""
        self.load_frames()
        assert self._frames is not None
        self._frames.prefetch(indices)

    def sample(self, index: int) -> FrameSample:
        self.load_frames()
        assert self._frames is not None
        frame, box = self._frames.get(index)
        values = frame.float() / 255.0
        rows = self._rows
        inside_y = (rows >= box[1]) & (rows < box[3])
        inside_x = (rows >= box[0]) & (rows < box[2])
        lips_box = (inside_y[:, None] & inside_x[None, :]).float()[..., None]
        return FrameSample(
            index=index,
            image=values[..., RGB],
            background=values[..., BACKGROUND],
            head_mask=values[..., HEAD : HEAD + 1],
            mouth_mask=values[..., MOUTH : MOUTH + 1],
            hair_mask=values[..., HAIR : HAIR + 1],
            lips_box=lips_box,
            viewmat=self.viewmats[index],
            K=self.K,
        )

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


def load_audio_features(path: Path, extractor: str) -> np.ndarray:
    """An identity's ``aud_<extractor>.npy``, with a one-line error when it is absent."""
    if not path.is_file():
        raise input_error(
            path, f"no {extractor} audio features (is {extractor!r} in audio.extractors?)"
        )
    return np.load(path)


def as_windows(features: np.ndarray) -> np.ndarray:
    """Per-frame audio features as ``[T, W, D]``: mel ``[T,16,80]`` and HuBERT ``[T,2,1024]``
    keep their windows, a vector per frame (AVE ``[T,512]``, phones) becomes ``W = 1``."""
    if features.ndim == 2:
        return features[:, None, :]
    if features.ndim == 3:
        return features
    raise ValueError(f"audio features of shape {features.shape}: expected [T,D] or [T,W,D]")
