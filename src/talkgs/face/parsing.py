"""The parsing stage: a label map per frame (:class:`talkgs.face.labels.Label`).

Backends:
- ``mediapipe`` (default, offline): MediaPipe selfie segmentation separates person from
  background; Face Mesh landmark polygons give face, lips, inner mouth, eyes and brows; the rest
  of the person is hair above the jaw line, and below it hair, ears, neck or torso by the
  identity's own colours of hair, clothing and skin, learnt first from a dozen of its frames with
  MediaPipe Pose's shoulders for where the torso begins (:mod:`talkgs.face.appearance`); teeth
  are the bright, low-saturation pixels inside the inner lips.
- ``bisenet``: a BiSeNet face-parsing network with user-provided weights
  (:mod:`talkgs.face.bisenet`).
- ``sam2``: SAM2 prompted with five landmark points for the portrait (M2DAO-Talker eq. 5),
  then split into regions by the landmark polygons and jaw line, without the colour model
  (M2DAO's two-stage motion region segmentation; :mod:`talkgs.face.sam2`).

Output: ``parsing/NNNNNN.png``, one single-channel uint8 PNG per frame, same index as the frame.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from talkgs.atomic import StagedOutputs
from talkgs.errors import input_error
from talkgs.face import landmarks as face_landmarks
from talkgs.face.appearance import (
    Appearance,
    Sample,
    fit_appearance,
    shoulder_line,
)
from talkgs.face.labels import Label
from talkgs.face.landmark_labels import below_jaw_line, label_from_landmarks
from talkgs.frames import frame_paths, read_rgb
from talkgs.log import progress
from talkgs.parallel import BackgroundTasks, ordered_map
from talkgs.png import write_png
from talkgs.preview import first_middle_last, label_overlay, save_strip
from talkgs.weights import WeightStore

log = logging.getLogger("talkgs.parsing")

BACKENDS = ("mediapipe", "bisenet", "sam2")


class Parser(Protocol):
    def parse(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """``[H, W, 3]`` uint8 RGB frame and its ``[478, 3]`` landmarks → ``[H, W]`` labels."""
        ...


@dataclass(frozen=True)
class ParsingParams:
    backend: str = "mediapipe"
    person_threshold: float = 0.5  # selfie-segmentation probability that counts as person
    weights_manifest: Path = Path("resources/weights.yaml")
    weights_dir: Path = Path("resources/weights")
    sam2_model: str = "tiny"  # tiny | small | base_plus | large
    threads: int = 2  # frame decoding and PNG encoding overlap the model
    appearance_frames: int = 12  # mediapipe: frames the hair/clothing/skin colours are learnt from


class MediapipeParser:
    """Selfie segmentation for the person, landmark polygons and the identity's colours for the
    rest.

    :meth:`fit` learns the colours first (one pass over a dozen frames, with MediaPipe Pose).
    Then frames are independent and MediaPipe releases the GIL while it infers, so each thread
    gets its own segmenter and frames are parsed in parallel (same results as one segmenter).
    """

    parallel_frames = True

    def __init__(self, person_threshold: float = 0.5, appearance_frames: int = 12) -> None:
        import mediapipe as mp

        self._solution = mp.solutions.selfie_segmentation
        self._per_thread = threading.local()
        self.person_threshold = person_threshold
        self.appearance_frames = appearance_frames
        self.appearance: Appearance | None = None

    def _person(self, rgb: np.ndarray) -> np.ndarray:
        if not hasattr(self._per_thread, "segmenter"):
            self._per_thread.segmenter = self._solution.SelfieSegmentation(model_selection=0)
        return self._per_thread.segmenter.process(rgb).segmentation_mask > self.person_threshold

    def fit(self, paths: list[Path], found: face_landmarks.FaceLandmarks) -> None:
        """Learn the identity's hair, clothing and skin colours from frames spread over the
        clip whose landmarks were detected."""
        import mediapipe as mp

        detected = np.flatnonzero(found.detected)
        if len(detected) == 0:
            log.warning("parsing: no frame with landmarks: hair below the jaw line stays torso")
            return
        picks = np.unique(np.linspace(0, len(detected) - 1, self.appearance_frames).round())
        samples = []
        with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
            for index in detected[picks.astype(int)]:
                rgb = read_rgb(paths[index])
                height, width = rgb.shape[:2]
                result = pose.process(rgb).pose_landmarks
                points = (
                    None
                    if result is None
                    else np.array([(p.x, p.y) for p in result.landmark], np.float64)
                )
                samples.append(
                    Sample(
                        rgb,
                        self._person(rgb),
                        found.landmarks[index],
                        shoulder_line(points, width, height),
                    )
                )
        self.appearance = fit_appearance(samples)
        log.info(
            "parsing: colours of hair, clothing and skin from %d frames (%d, %d, %d pixels); "
            "torso from row %.0f",
            len(samples),
            *self.appearance.seed_pixels,
            self.appearance.torso_top,
        )

    def parse(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        return label_from_landmarks(self._person(rgb), landmarks, rgb, self.appearance)


def make_parser(params: ParsingParams) -> Parser:
    if params.backend == "mediapipe":
        return MediapipeParser(params.person_threshold, params.appearance_frames)
    store = WeightStore(params.weights_manifest, params.weights_dir)
    if params.backend == "bisenet":
        from talkgs.face.bisenet import BiSeNetParser

        return BiSeNetParser(store)
    if params.backend == "sam2":
        from talkgs.face.sam2_parser import SAM2_CONFIGS, Sam2PortraitParser

        if params.sam2_model not in SAM2_CONFIGS:
            raise ValueError(f"unknown SAM2 model {params.sam2_model!r}")
        return Sam2PortraitParser(
            store, f"sam2_hiera_{params.sam2_model}", SAM2_CONFIGS[params.sam2_model]
        )
    raise ValueError(f"unknown parsing backend {params.backend!r}; choose from {BACKENDS}")


def run(
    frames_dir: Path,
    landmarks_path: Path,
    output_dir: Path,
    preview: Path,
    params: ParsingParams,
    parser_factory: Callable[[ParsingParams], Parser] = make_parser,
) -> dict[str, Any]:
    """Label maps of every frame → ``output_dir/NNNNNN.png``; ``preview``: first, middle and
    last frame, and the frame with the most hair below the jaw line (the hard case)."""
    paths = frame_paths(frames_dir)
    found = face_landmarks.load(landmarks_path)
    if len(found.landmarks) != len(paths):
        raise input_error(
            landmarks_path, f"{len(found.landmarks)} rows for {len(paths)} frames in {frames_dir}"
        )
    parser = parser_factory(params)
    fit = getattr(parser, "fit", None)  # a parser that learns the identity first
    if fit is not None:
        fit(paths, found)
    counts = np.zeros(len(Label), np.int64)
    shown = first_middle_last(len(paths))
    tiles = []
    hardest: tuple[int, int, np.ndarray] | None = None  # hair pixels below the jaw, index, tile

    def parse_frame(index: int) -> tuple[np.ndarray, np.ndarray]:
        rgb = read_rgb(paths[index])
        return rgb, parser.parse(rgb, found.landmarks[index])

    # torch backends use their own intra-op threads; frame-parallel only where it is safe
    workers = params.threads if getattr(parser, "parallel_frames", False) else 1
    parsed = ordered_map(parse_frame, range(len(paths)), workers)
    with StagedOutputs(output_dir, preview) as staged:
        staged[output_dir].mkdir()
        with BackgroundTasks(params.threads) as writes:
            for index, (rgb, labels) in enumerate(
                progress(parsed, f"parsing ({params.backend})", len(paths))
            ):
                counts += np.bincount(labels.ravel(), minlength=len(Label))[: len(Label)]
                writes.submit(write_png, staged[output_dir] / f"{index:06d}.png", labels)
                if index in shown:
                    tiles.append((f"frame {index}", label_overlay(rgb, labels)))
                height, width = labels.shape
                below = below_jaw_line(found.landmarks[index], width, height)
                hair = int(np.count_nonzero((labels == Label.HAIR) & below))
                if hair and (hardest is None or hair > hardest[0]):
                    hardest = (hair, index, label_overlay(rgb, labels))
        if hardest is not None:
            tiles.append((f"frame {hardest[1]}: most hair below the jaw", hardest[2]))
        save_strip(staged[preview], tiles)
    shares = counts / counts.sum()
    summary = ", ".join(f"{Label(i).name.lower()} {100 * s:.1f}%" for i, s in enumerate(shares))
    log.info(
        "parsing: %d frames with %s → %s (%s)", len(paths), params.backend, output_dir, summary
    )
    return {"frames": len(paths), "label_shares": shares.tolist()}
