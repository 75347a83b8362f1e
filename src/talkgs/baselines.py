"""External baselines: another code base's renders of an identity, checked and aligned so that
the evaluate stage measures them exactly like talkgs' own renders.

The round trip: ``talkgs export`` lays an identity out as a TalkingGaussian data folder, the
upstream code (TalkingGaussian, ER-NeRF, SyncTalk, GaussianTalker, …) is trained on it and
renders its test split — talkgs' validation frames, the last 1/11 of the clip
(``transforms_val.json``) — as an mp4 or a folder of numbered images. ``baselines:`` in
``config.yaml`` points at those renders; this stage

- reads them (an mp4 decoded frame by frame at its own constant rate, or the images of a folder
  in the order of the number in their names, which must run without gaps);
- checks the frame count against the validation split: with ``offset`` k the baseline's frame j
  shows validation frame j + k, so it must have n − k frames (k > 0: its first frame is
  validation frame k; k < 0: its first −k frames precede the split and are dropped);
- resizes square frames to the identity's frame size (noted in the summary) and refuses others;
- writes them as ``NNNNNN.png`` named by the validation frame they show, as the render stage
  does, plus a summary JSON that says what was read. An mp4's own audio is never used: the
  evaluate stage takes the identity's audio, and a cross-driven render gets the driving
  identity's validation audio muxed in (:func:`ingest_cross`).

Everything is written under temporary names and renamed at the end, so refused input leaves
nothing behind.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from talkgs.atomic import StagedOutputs, write_json
from talkgs.errors import TalkgsError, input_error
from talkgs.features.audio import audio_segment
from talkgs.frames import read_rgb
from talkgs.log import progress
from talkgs.media import VideoReader, ffmpeg_message, probe, write_video
from talkgs.png import write_png
from talkgs.pose.transforms import split

log = logging.getLogger("talkgs.baselines")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
_NUMBER = re.compile(r"(\d+)(?!.*\d)")  # the last run of digits in a file name


@dataclass(frozen=True)
class Renders:
    """A baseline's renders as found on disk."""

    path: Path
    kind: str  # "video" or "images"
    size: tuple[int, int]  # (width, height)
    fps: float | None  # a video's frame rate
    images: tuple[Path, ...] = ()  # the numbered images, in order
    expected_count: int | None = None  # a video's frame count as its container states it

    def frames(self) -> Iterator[np.ndarray]:
        """RGB frames in order; a video that ffmpeg stops decoding early is an input error."""
        if self.kind == "images":
            for path in self.images:
                image = read_rgb(path)
                if image.shape[1::-1] != self.size:
                    raise input_error(
                        path, f"is {image.shape[1]}×{image.shape[0]}, the folder's first image "
                        f"{self.size[0]}×{self.size[1]}"
                    )  # fmt: skip
                yield image
            return
        reader = VideoReader(self.path, self.size, fps=self.fps or 25.0)
        yield from reader
        if reader.returncode != 0:
            raise input_error(self.path, f"cannot decode ({ffmpeg_message(reader.errors)})")


def open_renders(path: Path) -> Renders:
    """A baseline's renders: an mp4 (or any video ffmpeg reads) or a folder of numbered images."""
    path = Path(path)
    if not path.exists():
        raise input_error(path, "not found (a baseline's renders: an mp4 or a folder of images)")
    if path.is_dir():
        return _numbered_images(path)
    info = probe(path)
    if info.video is None:
        raise input_error(path, "has no video stream")
    if info.video.variable_fps:
        raise input_error(path, "has a variable frame rate; write the renders at a constant rate")
    return Renders(
        path,
        "video",
        (info.video.width, info.video.height),
        info.video.nominal_fps,
        expected_count=info.video.frame_count,
    )


def _numbered_images(folder: Path) -> Renders:
    images = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        raise input_error(folder, f"no images ({', '.join(IMAGE_SUFFIXES)}) in the folder")
    numbered: dict[int, Path] = {}
    for image in images:
        match = _NUMBER.search(image.stem)
        if match is None:
            raise input_error(image, "has no frame number in its name")
        number = int(match.group(1))
        if number in numbered:
            raise input_error(image, f"has the same frame number as {numbered[number].name}")
        numbered[number] = image
    order = sorted(numbered)
    for previous, number in itertools.pairwise(order):
        if number != previous + 1:
            raise input_error(
                folder,
                f"the numbering has a gap: {numbered[number].name} follows "
                f"{numbered[previous].name}",
            )
    first = read_rgb(numbered[order[0]])
    return Renders(folder, "images", (first.shape[1], first.shape[0]), None,
                   tuple(numbered[n] for n in order))  # fmt: skip


@dataclass(frozen=True)
class Alignment:
    """Which validation frame each of a baseline's frames shows."""

    validation_ids: list[int]  # the identity's validation frame ids
    offset: int  # baseline frame j shows validation frame j + offset
    whose: str  # the identity, for messages

    @property
    def expected(self) -> int:
        """The baseline's frame count: the validation frames less the offset."""
        return len(self.validation_ids) - self.offset

    @property
    def shown(self) -> list[int]:
        """The validation frames the baseline shows, in order."""
        return self.validation_ids[max(self.offset, 0) :]

    def target(self, j: int) -> int | None:
        """The frame id baseline frame ``j`` shows, None for frames before the split."""
        position = j + self.offset
        return self.validation_ids[position] if 0 <= position < len(self.validation_ids) else None

    def check_count(self, renders: Renders, count: int) -> None:
        if count != self.expected:
            ids = self.validation_ids
            which = f"the {len(ids)} validation frames {ids[0]}–{ids[-1]} of {self.whose}"
            which += f", offset {self.offset}" if self.offset else ""
            raise input_error(renders.path, f"{count} frames, expected {self.expected} ({which})")


def _read_meta(meta_json: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(meta_json).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise input_error(meta_json, f"not an ingest meta.json ({error})") from error


def validation_alignment(meta_json: Path, meta: dict[str, Any], offset: int) -> Alignment:
    """The validation split of the identity ``meta`` (read from ``meta_json``) and ``offset``."""
    ids = list(split(int(meta["frame_count"]))[1])
    if not ids:
        raise input_error(meta_json, "the identity has no validation frames")
    if offset >= len(ids):
        raise TalkgsError(f"offset {offset} leaves none of the {len(ids)} validation frames")
    return Alignment(ids, offset, Path(meta_json).parent.name)


@dataclass(frozen=True)
class Prepared:
    """A baseline's renders, checked as far as can be before decoding, and how to align them."""

    name: str
    renders: Renders
    alignment: Alignment
    size: int  # the identity's frame size
    resized: str | None  # what resizing does to the frames (None: nothing)

    def frames(self) -> Iterator[tuple[int, np.ndarray]]:
        """``(validation frame id, frame at size²)`` of every baseline frame inside the split;
        the count is checked again after the last frame (a video may not state it)."""
        width = self.renders.size[0]
        interpolation = cv2.INTER_AREA if width > self.size else cv2.INTER_CUBIC
        count = 0
        for j, frame in enumerate(self.renders.frames()):
            count += 1
            target = self.alignment.target(j)
            if target is not None:
                if self.resized:
                    frame = cv2.resize(frame, (self.size, self.size), interpolation=interpolation)
                yield target, frame
        self.alignment.check_count(self.renders, count)

    def summary(self) -> dict[str, Any]:
        shown = self.alignment.shown
        return {
            "kind": "baseline",
            "baseline": self.name,
            "renders": str(self.renders.path),
            "format": self.renders.kind,
            "source_size": list(self.renders.size),
            "source_fps": self.renders.fps,
            "resized": self.resized,
            "offset": self.alignment.offset,
            "frames": len(shown),
            "first_frame": shown[0],
            "resolution": self.size,
            "fps": None,  # an external code base's speed is not measured here
            "model": f"external renders: {self.renders.path}",
        }


def prepare(name: str, renders_path: Path, size: int, alignment: Alignment) -> Prepared:
    """Open the renders and refuse what can be refused before decoding: a count the container
    or folder states, and frames that are not square (square ones are resized to ``size``²)."""
    renders = open_renders(renders_path)
    known = len(renders.images) if renders.kind == "images" else renders.expected_count
    if known is not None:
        alignment.check_count(renders, known)
    width, height = renders.size
    if width != height:
        raise input_error(
            renders.path,
            f"frames are {width}×{height}, not square: render the exported {size}×{size} crop",
        )
    how = "INTER_AREA" if width > size else "INTER_CUBIC"
    resized = None if width == size else f"resized from {width}×{height} to {size}×{size} ({how})"
    return Prepared(name, renders, alignment, size, resized)


def ingest(
    name: str, renders_path: Path, meta_json: Path, frames_out: Path, summary_out: Path,
    offset: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """A baseline's renders of the validation frames → ``frames_out/NNNNNN.png`` at the
    identity's frame size, and ``summary_out``."""
    meta = _read_meta(meta_json)
    alignment = validation_alignment(meta_json, meta, offset)
    prepared = prepare(name, renders_path, int(meta["size"]), alignment)
    summary = prepared.summary()
    with StagedOutputs(frames_out, summary_out) as staged:
        folder = staged[frames_out]
        folder.mkdir()
        for target, frame in progress(
            prepared.frames(), f"baseline {name}", total=len(alignment.shown)
        ):
            write_png(folder / f"{target:06d}.png", frame)
        write_json(staged[summary_out], summary)
    log.info(
        "baseline %s: %d frames of %s from %s%s", name, summary["frames"], alignment.whose,
        renders_path, f" ({summary['resized']})" if summary["resized"] else "",
    )  # fmt: skip
    return summary


def ingest_cross(
    name: str, renders_path: Path, meta_json: Path, driver_meta_json: Path, driver_audio: Path,
    video_out: Path, offset: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """A baseline's render of this identity driven by another identity's validation audio →
    an mp4 at the identity's frame size with that audio muxed in (the mp4's own is dropped),
    as talkgs' cross-driven renders are."""
    size = int(_read_meta(meta_json)["size"])
    alignment = validation_alignment(driver_meta_json, _read_meta(driver_meta_json), offset)
    prepared = prepare(name, renders_path, size, alignment)
    shown = alignment.shown
    with StagedOutputs(video_out) as staged, tempfile.TemporaryDirectory() as temp:
        wav = Path(temp) / "driver.wav"
        audio_segment(driver_audio, shown[0], len(shown), wav)
        frames = (frame for _, frame in prepared.frames())
        write_video(staged[video_out], frames, 25, audio=wav, extra_args=["-f", "mp4"])
    log.info("baseline %s: cross-driven by %s's validation audio, %d frames from %s",
             name, alignment.whose, len(shown), renders_path)  # fmt: skip
    return prepared.summary()
