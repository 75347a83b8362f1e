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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from talkgs.atomic import StagedOutputs
from talkgs.errors import input_error
from talkgs.face.labels import Label
from talkgs.face.landmarks import frame_paths, read_rgb
from talkgs.log import progress

log = logging.getLogger("talkgs.matting")

JPEG_QUALITY = [cv2.IMWRITE_JPEG_QUALITY, 95]
PNG_FAST = [cv2.IMWRITE_PNG_COMPRESSION, 1]


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


def read_labels(path: Path) -> np.ndarray:
    labels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if labels is None or labels.ndim != 2:
        raise input_error(path, "not a single-channel label map")
    return labels


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
    rgb = read_rgb(frame)
    labels = read_labels(labels_path)
    background = labels == Label.BACKGROUND
    composed = rgb.copy()
    composed[background] = plate[background]
    torso = (labels == Label.NECK) | (labels == Label.TORSO)
    bgra = np.zeros((*labels.shape, 4), np.uint8)  # transparent pixels stay 0: smaller, faster
    bgra[torso, :3] = rgb[torso, ::-1]
    bgra[torso, 3] = 255
    ok = cv2.imwrite(str(gt), cv2.cvtColor(composed, cv2.COLOR_RGB2BGR), JPEG_QUALITY)
    if not (ok and cv2.imwrite(str(torso_path), bgra, PNG_FAST)):
        raise OSError(f"could not write {gt} or {torso_path}")


def run(
    frames_dir: Path, parsing_dir: Path, outputs: MattingOutputs, params: MattingParams
) -> dict[str, Any]:
    frames = frame_paths(frames_dir)
    labels = [parsing_dir / f"{i:06d}.png" for i in range(len(frames))]
    missing = [p for p in labels if not p.is_file()]
    if missing:
        raise input_error(missing[0], f"label map missing ({len(missing)} of {len(frames)})")
    plate = background_plate(frames, labels, params)
    with StagedOutputs(outputs.gt_imgs, outputs.torso_imgs, outputs.background) as staged:
        gt_dir, torso_dir = staged[outputs.gt_imgs], staged[outputs.torso_imgs]
        gt_dir.mkdir()
        torso_dir.mkdir()
        with ThreadPoolExecutor(params.threads) as pool:  # cv2 codecs release the GIL
            jobs = [
                pool.submit(
                    _layers,
                    frame,
                    label,
                    plate,
                    gt_dir / f"{i:06d}.jpg",
                    torso_dir / f"{i:06d}.png",
                )
                for i, (frame, label) in enumerate(zip(frames, labels, strict=True))
            ]
            for job in progress(jobs, "gt and torso images"):
                job.result()
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(plate, cv2.COLOR_RGB2BGR), JPEG_QUALITY)
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
