"""The matting stage: background plate, frames on the plate, and the torso layer.

Outputs, as in a TalkingGaussian data folder:
- ``bc.jpg``: the static background, per pixel the mean of the frames in which it is background
  (away from the person's outline), and, where the person always covers it, filled by
  inpainting from the seen background;
- ``gt_imgs/NNNNNN.jpg``: each frame with its background pixels replaced by the plate;
- ``torso_imgs/NNNNNN.png``: RGBA, the frame's neck and torso with alpha 255, all else 0.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from talkgs.atomic import StagedOutputs
from talkgs.errors import input_error
from talkgs.face.labels import Label
from talkgs.frames import frame_paths, read_image, read_labels, read_rgb
from talkgs.log import progress
from talkgs.parallel import ordered_map
from talkgs.png import write_png

log = logging.getLogger("talkgs.matting")

JPEG_QUALITY = [cv2.IMWRITE_JPEG_QUALITY, 95]


@dataclass(frozen=True)
class MattingParams:
    plate_frames: int = 100  # frames sampled evenly for the background plate
    edge_px: int = 7  # background this close to the person is not trusted for the plate
    threads: int = 2


@dataclass(frozen=True)
class MattingOutputs:
    background: Path  # bc.jpg
    gt_imgs: Path
    torso_imgs: Path


def background_plate(frames: list[Path], labels: list[Path], params: MattingParams) -> np.ndarray:
    """``[H, W, 3]`` uint8 RGB plate: mean of trusted background, inpainted elsewhere."""
    picks = np.unique(np.linspace(0, len(frames) - 1, min(params.plate_frames, len(frames))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * params.edge_px + 1,) * 2)
    total = count = None
    for index in progress(picks.astype(int), "background plate"):
        rgb = read_rgb(frames[index]).astype(np.float32)
        background = cv2.erode(
            (read_labels(labels[index]) == Label.BACKGROUND).astype(np.uint8), kernel
        )
        if total is None:
            total, count = np.zeros_like(rgb), np.zeros(rgb.shape[:2], np.float32)
        total += rgb * background[..., None]
        count += background
    assert total is not None and count is not None
    seen = count > 0
    plate = np.zeros(total.shape, np.uint8)
    plate[seen] = np.round(total[seen] / count[seen, None]).astype(np.uint8)
    unseen = (~seen).astype(np.uint8)
    if unseen.any():
        plate = cv2.inpaint(plate, unseen, 5, cv2.INPAINT_TELEA)
    log.info(
        "background plate from %d frames; %.1f%% never seen, inpainted",
        len(picks),
        100 * unseen.mean(),
    )
    return plate


def _layers(frame: Path, labels_path: Path, plate: np.ndarray, gt: Path, torso_path: Path) -> None:
    bgr = read_image(frame)
    labels = read_labels(labels_path)
    # cv2 masked copies release the GIL and are ~100× faster than numpy boolean indexing here
    composed = bgr.copy()
    cv2.copyTo(plate, (labels == Label.BACKGROUND).astype(np.uint8), composed)
    if not cv2.imwrite(str(gt), composed, JPEG_QUALITY):
        raise OSError(f"could not write {gt}")
    torso = np.where((labels == Label.NECK) | (labels == Label.TORSO), 255, 0).astype(np.uint8)
    rgba = np.zeros((*labels.shape, 4), np.uint8)  # transparent pixels stay 0: smaller, faster
    cv2.copyTo(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA), torso, rgba)
    write_png(torso_path, rgba)


def run(
    frames_dir: Path, parsing_dir: Path, outputs: MattingOutputs, params: MattingParams
) -> dict[str, Any]:
    frames = frame_paths(frames_dir)
    labels = [parsing_dir / f"{i:06d}.png" for i in range(len(frames))]
    missing = [p for p in labels if not p.is_file()]
    if missing:
        raise input_error(missing[0], f"label map missing ({len(missing)} of {len(frames)})")
    plate = cv2.cvtColor(background_plate(frames, labels, params), cv2.COLOR_RGB2BGR)
    with StagedOutputs(outputs.gt_imgs, outputs.torso_imgs, outputs.background) as staged:
        gt_dir, torso_dir = staged[outputs.gt_imgs], staged[outputs.torso_imgs]
        gt_dir.mkdir()
        torso_dir.mkdir()

        def layers(index: int) -> None:
            name = f"{index:06d}"
            _layers(
                frames[index],
                labels[index],
                plate,
                gt_dir / f"{name}.jpg",
                torso_dir / f"{name}.png",
            )

        # cv2 codecs and zlib release the GIL: the frames really run in parallel
        for _ in progress(
            ordered_map(layers, range(len(frames)), params.threads),
            "gt and torso images",
            total=len(frames),
        ):
            pass
        ok, encoded = cv2.imencode(".jpg", plate, JPEG_QUALITY)
        if not ok:
            raise OSError("could not encode the background plate")
        staged[outputs.background].write_bytes(encoded.tobytes())
    log.info(
        "matting: %d frames → %s, %s, %s",
        len(frames),
        outputs.background,
        outputs.gt_imgs,
        outputs.torso_imgs,
    )
    return {"frames": len(frames)}
