"""The landmarks stage: MediaPipe Face Mesh on every frame, with tracking between frames.

``landmarks.npz``:
- ``landmarks`` ``[T, 478, 3]`` float32: x, y in pixels of the ingested frame (x right, y down,
  pixel centres at integers), z in the same pixel scale (MediaPipe's relative depth × width;
  smaller is nearer the camera);
- ``detected`` ``[T]`` bool: False where no face was found and the row was filled by linear
  interpolation between the nearest detected frames (held constant before the first and after
  the last);
- ``ibug68`` ``[68]`` int: the Face Mesh index of each iBUG-68 point (:data:`IBUG68`), so that
  ``landmarks[:, ibug68, :2]`` are 68-point landmarks (LMD, TalkingGaussian ``.lms``).

Row ``t`` is always frame ``t``: a missing face never shifts the indices.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from talkgs.arrays import write_npz
from talkgs.atomic import StagedOutputs
from talkgs.errors import TalkgsError, input_error
from talkgs.frames import frame_paths, read_rgb
from talkgs.log import progress
from talkgs.parallel import ordered_map

log = logging.getLogger("talkgs.landmarks")

# Face Mesh index of each iBUG-68 point, in iBUG order (checked by drawing both on a portrait):
# jaw 0–16 from the subject's right ear (image left) over the chin (8) to the left ear; brows
# 17–26; nose bridge 27–30 and base 31–35; eyes 36–47 (subject's right eye first); outer lips
# 48–59 from the right corner; inner lips 60–67.
IBUG68 = np.array(
    [127, 234, 93, 132, 58, 172, 136, 150, 152, 379, 365, 397, 288, 361, 323, 454, 356,
     70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
     168, 197, 5, 4, 75, 97, 2, 326, 305,
     33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
     61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
     78, 82, 13, 312, 308, 317, 14, 87],
    dtype=np.int64,
)  # fmt: skip
MOUTH68 = slice(48, 68)  # the mouth points LMD is computed on
NUM_LANDMARKS = 478


@dataclass(frozen=True)
class LandmarksParams:
    max_missing: float = 0.05  # fraction of frames without a face that is still acceptable
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    threads: int = 2  # frame decoding overlaps the model


@dataclass(frozen=True)
class FaceLandmarks:
    landmarks: np.ndarray  # [T, 478, 3] float32 pixels
    detected: np.ndarray  # [T] bool

    @property
    def ibug68(self) -> np.ndarray:
        """``[T, 68, 2]`` float32 iBUG-68 points in pixels."""
        return self.landmarks[:, IBUG68, :2]


def track(paths: list[Path], params: LandmarksParams) -> FaceLandmarks:
    """Face Mesh in video mode (each frame seeds the next) over ``paths``."""
    import mediapipe as mp

    count = len(paths)
    landmarks = np.zeros((count, NUM_LANDMARKS, 3), np.float32)
    detected = np.zeros(count, bool)
    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=False,
        max_num_faces=1,
        refine_landmarks=True,
        min_detection_confidence=params.min_detection_confidence,
        min_tracking_confidence=params.min_tracking_confidence,
    ) as mesh:
        frames = ordered_map(read_rgb, paths, params.threads)
        for index, rgb in enumerate(progress(frames, "face mesh", total=count)):
            result = mesh.process(rgb)
            if not result.multi_face_landmarks:
                continue
            height, width = rgb.shape[:2]
            points = result.multi_face_landmarks[0].landmark
            landmarks[index] = [(p.x * width, p.y * height, p.z * width) for p in points]
            detected[index] = True
    return FaceLandmarks(landmarks, detected)


def fill_missing(found: FaceLandmarks, source: Path, max_missing: float) -> FaceLandmarks:
    """Interpolate frames without a face linearly in time; refuse when too many are missing."""
    detected = found.detected
    missing = int((~detected).sum())
    if missing == 0:
        return found
    share = missing / len(detected)
    if share > max_missing:
        raise TalkgsError(
            f"{source}: no face in {missing} of {len(detected)} frames ({share:.1%}, more than "
            f"the {max_missing:.0%} allowed by landmarks.max_missing)"
        )
    times = np.arange(len(detected))
    known = times[detected]
    flat = found.landmarks.reshape(len(detected), -1)
    filled = flat.copy()
    for column in range(flat.shape[1]):  # np.interp holds the ends constant
        filled[~detected, column] = np.interp(times[~detected], known, flat[detected, column])
    log.info("no face in %d frames (%.1f%%): interpolated and flagged", missing, 100 * share)
    return FaceLandmarks(filled.reshape(found.landmarks.shape), detected)


def save(path: Path, found: FaceLandmarks) -> None:
    write_npz(path, {"landmarks": found.landmarks, "detected": found.detected, "ibug68": IBUG68})


def load(path: str | Path) -> FaceLandmarks:
    with np.load(path) as data:
        return FaceLandmarks(data["landmarks"], data["detected"])


def run(frames_dir: Path, output: Path, params: LandmarksParams) -> dict[str, Any]:
    """Landmarks of every frame in ``frames_dir`` → ``output`` (landmarks.npz)."""
    paths = frame_paths(frames_dir)
    found = track(paths, params)
    if not found.detected.any():
        raise input_error(frames_dir, "no face found in any frame")
    found = fill_missing(found, frames_dir, params.max_missing)
    with StagedOutputs(output) as staged:
        save(staged[output], found)
    missing = int((~found.detected).sum())
    log.info(
        "landmarks: %d frames, face in %d, %d interpolated → %s",
        len(paths),
        len(paths) - missing,
        missing,
        output,
    )
    return {"frames": len(paths), "interpolated": missing}
