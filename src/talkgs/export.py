"""``talkgs export``: one identity laid out as a TalkingGaussian data folder.

Files and formats follow ANCHORS.md so that the upstream training code reads the folder as if
its own ``process.py`` had made it:

- ``ori_imgs/<i>.jpg`` (frames, numbered from 0 without padding) and ``ori_imgs/<i>.lms``
  (68 × 2 text landmarks, ``x y`` per line);
- ``parsing/<i>.png``: colour-coded BGR (:data:`talkgs.face.labels.TALKINGGAUSSIAN_BGR`);
- ``bc.jpg``, ``gt_imgs/<i>.jpg``, ``torso_imgs/<i>.png`` (RGBA);
- ``teeth_mask/<i>.npy``: bool ``[H, W]``;
- ``aud.wav``, and when the other stages have made them: ``aud_*.npy``, ``au.csv``,
  ``transforms_train.json``, ``transforms_val.json``;
- ``talkgs_export.json``: what was exported, from where.

Large files are hard-linked when the folder is on the same file system (no extra disk), and
copied otherwise.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from talkgs.atomic import StagedOutputs
from talkgs.errors import TalkgsError, input_error
from talkgs.face import landmarks as face_landmarks
from talkgs.face.labels import Label, talkinggaussian_colours
from talkgs.frames import read_labels
from talkgs.layout import AUDIO_FEATURE_FILES, IdentityLayout
from talkgs.log import progress
from talkgs.parallel import ordered_map

log = logging.getLogger("talkgs.export")

REQUIRED = ("frames", "audio", "meta", "landmarks", "parsing", "background", "gt_imgs",
            "torso_imgs")  # fmt: skip


def optional_files(layout: IdentityLayout) -> list[Path]:
    """What the later stages make and the upstream loaders read at the data folder's root:
    audio features under TalkingGaussian's names, ``au.csv`` and the transforms."""
    features = [Path(layout.audio_features(x)) for x in AUDIO_FEATURE_FILES]
    return [*features, *(layout.path(n) for n in ("au", "transforms_train", "transforms_val"))]


def link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _export_frame(index: int, layout: IdentityLayout, out: Path, lms68: np.ndarray) -> None:
    name = f"{index:06d}"
    link_or_copy(layout.path("frames") / f"{name}.jpg", out / "ori_imgs" / f"{index}.jpg")
    np.savetxt(out / "ori_imgs" / f"{index}.lms", lms68, "%f")
    labels = read_labels(layout.path("parsing") / f"{name}.png")
    target = out / "parsing" / f"{index}.png"
    if not cv2.imwrite(str(target), talkinggaussian_colours(labels)):
        raise OSError(f"could not write {target}")
    np.save(out / "teeth_mask" / f"{index}.npy", labels == Label.TEETH)
    link_or_copy(layout.path("gt_imgs") / f"{name}.jpg", out / "gt_imgs" / f"{index}.jpg")
    link_or_copy(layout.path("torso_imgs") / f"{name}.png", out / "torso_imgs" / f"{index}.png")


def run(identity: str, identity_dir: Path, output: Path, threads: int = 2) -> dict[str, Any]:
    """Export ``identity_dir`` (``results/<identity>``) to the data folder ``output``."""
    layout = IdentityLayout(str(identity_dir))
    for name in REQUIRED:
        if not layout.path(name).exists():
            raise input_error(layout.path(name), f"missing: run the workflow for {identity} first")
    if output.exists() and any(output.iterdir()):
        raise TalkgsError(f"{output}: already exists and is not empty; choose another folder")
    meta = json.loads(layout.path("meta").read_text())
    count = meta["frame_count"]
    found = face_landmarks.load(layout.path("landmarks"))
    if len(found.landmarks) != count:
        raise input_error(
            layout.path("landmarks"), f"{len(found.landmarks)} rows for {count} frames"
        )
    lms68 = found.ibug68
    if output.exists():
        output.rmdir()  # empty: StagedOutputs renames the finished folder into its place
    with StagedOutputs(output) as staged:
        out = staged[output]
        for folder in ("ori_imgs", "parsing", "teeth_mask", "gt_imgs", "torso_imgs"):
            (out / folder).mkdir(parents=True)
        frames = ordered_map(
            lambda i: _export_frame(i, layout, out, lms68[i]), range(count), threads
        )
        for _ in progress(frames, "export", total=count):
            pass
        link_or_copy(layout.path("background"), out / "bc.jpg")
        link_or_copy(layout.path("audio"), out / "aud.wav")
        extras = [p for p in optional_files(layout) if p.is_file()]
        for extra in extras:
            link_or_copy(extra, out / extra.name)
        (out / "talkgs_export.json").write_text(
            json.dumps(
                {
                    "identity": identity,
                    "from": str(identity_dir),
                    "frame_count": count,
                    "size": meta["size"],
                    "source": meta["source"],
                    "extras": [p.name for p in extras],
                },
                indent=2,
            )
            + "\n"
        )
    log.info(
        "export: %s → %s (%d frames%s)",
        identity,
        output,
        count,
        f"; with {', '.join(p.name for p in extras)}" if extras else "",
    )
    return {"frames": count, "extras": [p.name for p in extras]}
