"""TalkingGaussian's camera files: ``transforms_train.json`` and ``transforms_val.json``.

Format (ANCHORS.md): ``{focal_len, cx, cy, frames: [{img_id, aud_id, transform_matrix}]}``,
``transform_matrix`` a 4×4 camera-to-world in OpenGL camera axes (x right, y up, looking down
−z); the reader flips ``c2w[:3, 1:3] *= -1`` to OpenCV axes and infers the image size as
``2 cx × 2 cy``. The last ``N − int(N · 10/11)`` frames are the validation split.

World frame: the head frame (:mod:`talkgs.pose.camera`) turned to OpenGL-style axes,
``X_world = diag(1, −1, −1) · X_head``: x to the face's left, y up, z out of the face, origin at
the face centre, units of about metres (face width 0.14) — so a frontal camera sits on the +z
axis looking down −z, as in ER-NeRF's and TalkingGaussian's data, and the face lies inside
TalkingGaussian's ±0.1 initial point cloud and its ±0.15 deformation-field bounds.

TalkingGaussian renders with the principal point at the image centre, so the poses written here
are the ones that, with a centred principal point, show the face where the estimate's own
camera (principal point where ingest's crop put the source's centre) shows it:
:func:`centred_poses`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from talkgs.camera import Camera
from talkgs.errors import first_line, input_error
from talkgs.pose.camera import project

FLIP = np.diag([1.0, -1.0, -1.0])  # OpenCV-style head axes ↔ OpenGL-style world axes
TRAIN_SHARE = 10 / 11


def split(count: int) -> tuple[range, range]:
    """Train and validation frame ids: ``int(N · 10/11)`` first frames, then the rest."""
    cut = int(count * TRAIN_SHARE)
    return range(cut), range(cut, count)


def camera_to_world(rotations: np.ndarray, translations: np.ndarray) -> np.ndarray:
    """``[T, 4, 4]`` camera-to-world, OpenGL camera axes, of camera-from-head poses
    ``[T, 3, 3]`` / ``[T, 3]``."""
    r_t = np.swapaxes(rotations, 1, 2)
    c2w = np.tile(np.eye(4), (len(rotations), 1, 1))
    c2w[:, :3, :3] = FLIP @ r_t @ FLIP
    c2w[:, :3, 3] = -np.einsum("ij,tjk,tk->ti", FLIP, r_t, translations)
    return c2w


def world_to_camera_opencv(c2w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What TalkingGaussian's reader makes of ``[T, 4, 4]`` camera-to-world matrices: rotations
    ``[T, 3, 3]`` and translations ``[T, 3]`` taking world points to OpenCV camera points."""
    flipped = c2w.copy()
    flipped[:, :3, 1:3] *= -1.0
    w2c = np.linalg.inv(flipped)
    return w2c[:, :3, :3], w2c[:, :3, 3]


def centred_poses(
    rotations: np.ndarray,
    translations: np.ndarray,
    camera: Camera,
    points: np.ndarray,
    size: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Poses ``[T, 3, 3]`` / ``[T, 3]`` for a camera with the same focal length and the
    principal point at the centre of a ``size`` (width, height) image that project the head
    ``points`` ``[K, 3]`` where ``camera`` and the given poses do (per-frame PnP, started from
    the given pose). Identical when ``camera``'s principal point is already centred."""
    centred = Camera.centred(camera.focal, *size)
    if np.allclose((camera.cx, camera.cy), (centred.cx, centred.cy)):
        return rotations.copy(), translations.copy()
    object_points = np.ascontiguousarray(points, dtype=np.float64)
    out_r, out_t = rotations.copy(), translations.copy()
    for t in range(len(rotations)):
        pixels = project(points @ rotations[t].T + translations[t], camera)
        rvec = cv2.Rodrigues(rotations[t])[0]
        tvec = translations[t].reshape(3, 1).copy()
        ok, rvec, tvec = cv2.solvePnP(
            object_points,
            np.ascontiguousarray(pixels),
            centred.matrix,
            None,
            rvec,
            tvec,
            useExtrinsicGuess=True,
            flags=cv2.SOLVEPNP_ITERATIVE,
        )
        if ok:
            out_r[t], out_t[t] = cv2.Rodrigues(rvec)[0], tvec.ravel()
    return out_r, out_t


def transforms_document(
    c2w: np.ndarray, frame_ids: range, focal: float, size: tuple[int, int]
) -> dict[str, Any]:
    """One ``transforms_*.json`` document for ``frame_ids`` of the ``[T, 4, 4]`` poses."""
    width, height = size
    return {
        "focal_len": float(focal),
        "cx": width / 2.0,
        "cy": height / 2.0,
        "frames": [
            {"img_id": i, "aud_id": i, "transform_matrix": c2w[i].tolist()} for i in frame_ids
        ],
    }


def write_transforms(
    train: Path, val: Path, c2w: np.ndarray, focal: float, size: tuple[int, int]
) -> None:
    """Write both files for the ``[T, 4, 4]`` camera-to-world poses."""
    for path, ids in zip((train, val), split(len(c2w)), strict=True):
        Path(path).write_text(
            json.dumps(transforms_document(c2w, ids, focal, size), indent=2) + "\n"
        )


def read_transforms(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """``[n, 4, 4]`` camera-to-world matrices of a transforms file, and the whole document."""
    document = json.loads(Path(path).read_text())
    c2w = np.array([frame["transform_matrix"] for frame in document["frames"]], np.float64)
    return c2w.reshape(-1, 4, 4), document


def camera_file(
    rotations: np.ndarray,
    translations: np.ndarray,
    image_ids: Sequence[int],
    audio_ids: Sequence[int],
    camera: dict[str, float],
    generated_by: str,
) -> dict[str, Any]:
    """Camera-from-head poses ``[T, 3, 3]`` / ``[T, 3]`` as a ``transforms_val.json``-style
    document: camera-to-world matrices (:func:`camera_to_world`), ``img_id`` the recorded frame
    whose background and torso go behind the head, ``aud_id`` the driving audio's frame. Its
    ``focal_len``, ``cx``, ``cy`` are ``camera``'s (the pose stage's principal point, where
    TalkingGaussian's reader assumes the image centre)."""
    c2w = camera_to_world(rotations, translations)
    return {
        "focal_len": float(camera["focal"]),
        "cx": float(camera["cx"]),
        "cy": float(camera["cy"]),
        "generated_by": generated_by,
        "frames": [
            {"img_id": int(image), "aud_id": int(audio), "transform_matrix": matrix.tolist()}
            for image, audio, matrix in zip(image_ids, audio_ids, c2w, strict=True)
        ],
    }


def read_camera_file(path: str | Path) -> tuple[np.ndarray, np.ndarray, list[int], list[int]]:
    """Rotations ``[T, 3, 3]``, translations ``[T, 3]`` (camera-from-head, OpenCV axes),
    ``img_id`` and ``aud_id`` of a camera file; one-line error when it is not one."""
    try:
        document = json.loads(Path(path).read_text())
        frames = document["frames"]
        c2w = np.array([f["transform_matrix"] for f in frames], np.float64).reshape(-1, 4, 4)
        images = [int(f["img_id"]) for f in frames]
        audio = [int(f["aud_id"]) for f in frames]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise input_error(path, f"not a camera file ({first_line(error)})") from error
    if not frames:
        raise input_error(path, "a camera file without frames")
    # camera-from-world (OpenCV axes) → camera-from-head: X_world = FLIP · X_head
    rotations, translations = world_to_camera_opencv(c2w)
    return rotations @ FLIP, translations, images, audio
