"""One identity's colours of hair, clothing and skin, for the parts of a portrait that landmark
polygons cannot place: hair below the ears, ears, the neck, hair over the forehead.

The default parser (:mod:`talkgs.face.parsing`) knows the face from Face Mesh and the person
from selfie segmentation. Everything else of the person used to be split by one line: hair above
the jaw, torso below it — so hair that falls below the ears became torso, cut straight across,
and went into the per-frame background layer while the rest of the hair was learnt. This module
learns, per identity, what the hair, the clothing and the skin look like:

- **hair**: person pixels above the brows and away from the face (confidently hair, or a hat);
- **clothing**: person pixels below where the torso begins — MediaPipe Pose's shoulder line,
  raised by a quarter of the shoulder span for the slope of the shoulders, and never above the
  chin — minus those whose colour is typical of the hair or the skin (long hair over the chest);
- **skin**: the inside of the face oval;

each as a colour histogram (YCrCb: 8 luma × 32 × 32 chroma bins, Gaussian-smoothed, so a
shadowed strand of hair still looks like hair), from a dozen frames spread over the clip. Per
frame, every pixel's log-likelihood under the three, box-filtered over a few pixels, picks its
class, with a prior against clothing above where the torso begins. :func:`refine_labels` then
gives the landmark labels what the colours say, under rules of where each part can be:

- hair below the jaw only where it is connected to the hair above it, and never in the zone
  under the chin where the neck is;
- skin beside the face above the chin is an ear (face); skin in the neck zone is neck;
- inside the face oval, above the brows, hair-coloured pixels are hair (a fringe), which the
  training's hair terms then see as hair.

Hair, ears and face are the learnt head; neck and clothing the background layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from talkgs.face import regions
from talkgs.face.labels import Label

LUMA_BINS, CHROMA_BINS = 8, 32
HAIR, CLOTHING, SKIN = 0, 1, 2
CLOTHING_PRIOR_NATS = 2.0  # log-odds against clothing at 10 % of the frame above the torso line
SEED_TYPICAL_PERCENTILE = 10  # a clothing seed this typical of hair or skin is dropped


def colour_bins(rgb: np.ndarray) -> np.ndarray:
    """``[H, W]`` int32 histogram bin of each pixel of a uint8 RGB frame."""
    ycrcb = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(np.int32)
    luma = ycrcb[..., 0] * LUMA_BINS // 256
    cr, cb = (ycrcb[..., c] * CHROMA_BINS // 256 for c in (1, 2))
    return (luma * CHROMA_BINS + cr) * CHROMA_BINS + cb


def _log_density(bins: np.ndarray) -> np.ndarray:
    counts = np.bincount(bins, minlength=LUMA_BINS * CHROMA_BINS**2).astype(np.float64)
    smooth = ndimage.gaussian_filter(counts.reshape(LUMA_BINS, CHROMA_BINS, CHROMA_BINS), 1.0)
    density = smooth.ravel() / max(smooth.sum(), 1.0)
    return np.log(density + 1e-6).astype(np.float32)


@dataclass(frozen=True)
class FaceGeometry:
    """Where a frame's face is, from its Face Mesh landmarks (pixels)."""

    landmarks: np.ndarray  # [478, 2+]
    chin_y: float
    face_height: float  # forehead top to chin
    brow_y: float  # the top of the brows
    neck_left: float  # the middle 60 % of the jaw's width: where the neck can be
    neck_right: float

    @classmethod
    def of(cls, landmarks: np.ndarray) -> FaceGeometry:
        chin_y = float(landmarks[regions.CHIN, 1])
        brows = list(regions.RIGHT_BROW) + list(regions.LEFT_BROW)
        left, right = np.percentile(landmarks[list(regions.JAW), 0], [20, 80])
        return cls(
            landmarks=landmarks,
            chin_y=chin_y,
            face_height=chin_y - float(landmarks[regions.FOREHEAD, 1]),
            brow_y=float(landmarks[brows, 1].min()),
            neck_left=float(left),
            neck_right=float(right),
        )

    def face_mask(self, shape: tuple[int, int], grow: float = 0.0) -> np.ndarray:
        """``[H, W]`` bool face oval, grown (> 0) or shrunk (< 0) by ``grow`` × face height."""
        mask = np.zeros(shape, np.uint8)
        cv2.fillPoly(mask, [regions.polygon(self.landmarks, regions.FACE_OVAL)], 1)
        size = int(abs(grow) * self.face_height) | 1
        if grow:
            kernel = np.ones((size, size), np.uint8)
            mask = cv2.dilate(mask, kernel) if grow > 0 else cv2.erode(mask, kernel)
        return mask > 0

    def neck_box(self, shape: tuple[int, int]) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` of the zone under the chin where the neck can be (and no hair
        grows): the jaw's middle 60 %, from its lowest part (not the ears) to half a face height
        below the chin; empty when it leaves the frame."""
        height, width = shape
        y0 = int(max(self.chin_y - 0.35 * self.face_height, 0))
        y1 = int(min(self.chin_y + 0.5 * self.face_height, height))
        x0, x1 = int(max(self.neck_left, 0)), int(min(self.neck_right + 1, width))
        return x0, y0, max(x1, x0), max(y1, y0)

    def neck_zone(self, shape: tuple[int, int]) -> np.ndarray:
        """``[H, W]`` bool :meth:`neck_box`."""
        x0, y0, x1, y1 = self.neck_box(shape)
        zone = np.zeros(shape, bool)
        zone[y0:y1, x0:x1] = True
        return zone


def shoulder_line(pose_landmarks: np.ndarray | None, width: int, height: int) -> float | None:
    """Row where the torso begins, from MediaPipe Pose's ``[33, 2]`` normalised landmarks: the
    higher shoulder, raised by a quarter of the shoulder span (the shoulders' slope to the neck);
    ``None`` without a pose."""
    if pose_landmarks is None:
        return None
    shoulders = pose_landmarks[[11, 12]] * [width, height]
    span = abs(shoulders[0, 0] - shoulders[1, 0])
    return float(shoulders[:, 1].min() - 0.25 * span)


@dataclass(frozen=True)
class Sample:
    """One frame the appearance is learnt from."""

    rgb: np.ndarray  # [H, W, 3] uint8
    person: np.ndarray  # [H, W] bool
    landmarks: np.ndarray  # [478, 2+]
    torso_top: float | None  # :func:`shoulder_line`


@dataclass(frozen=True)
class Appearance:
    log_density: np.ndarray  # [3, bins] float32: hair, clothing, skin
    torso_top: float  # median row where the torso begins
    seed_pixels: tuple[int, int, int]  # hair, clothing, skin pixels it was learnt from

    def classes(self, rgb: np.ndarray) -> np.ndarray:
        """``[3, H, W]`` float32 log-likelihoods, box-filtered over 1/64 of the frame (so one
        pixel's colour does not decide alone), with the prior against clothing above the
        torso line."""
        height = rgb.shape[0]
        size = max(3, height // 64 | 1)
        scores = self.log_density[:, colour_bins(rgb)]
        scores = np.stack([cv2.blur(s, (size, size)) for s in scores])
        above = (self.torso_top - np.arange(height, dtype=np.float32)) / (0.1 * height)
        scores[CLOTHING] -= CLOTHING_PRIOR_NATS * np.clip(above, 0.0, 1.0)[:, None]
        return scores


def fit_appearance(samples: list[Sample]) -> Appearance:
    """The identity's hair, clothing and skin colours from ``samples`` (see the module doc)."""
    hair, candidates, skin, tops = [], [], [], []
    for sample in samples:
        shape = sample.person.shape
        face = FaceGeometry.of(sample.landmarks)
        bins = colour_bins(sample.rgb)
        rows = np.arange(shape[0])[:, None]
        near_face = face.face_mask(shape, grow=0.1)
        hair.append(bins[sample.person & ~near_face & (rows < face.brow_y)])
        skin.append(bins[face.face_mask(shape, grow=-0.1)])
        top = face.chin_y if sample.torso_top is None else max(sample.torso_top, face.chin_y)
        tops.append(top)
        candidates.append(bins[sample.person & ~near_face & (rows > top)])
    hair_bins, skin_bins, clothing = (np.concatenate(b) for b in (hair, skin, candidates))
    hair_density, skin_density = _log_density(hair_bins), _log_density(skin_bins)
    typical_hair = np.percentile(hair_density[hair_bins], SEED_TYPICAL_PERCENTILE)
    typical_skin = np.percentile(skin_density[skin_bins], SEED_TYPICAL_PERCENTILE)
    clothing = clothing[
        (hair_density[clothing] < typical_hair) & (skin_density[clothing] < typical_skin)
    ]
    return Appearance(
        log_density=np.stack([hair_density, _log_density(clothing), skin_density]),
        torso_top=float(np.median(tops)),
        seed_pixels=(len(hair_bins), len(clothing), len(skin_bins)),
    )


def _connected_to(candidates: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """The pixels of ``candidates`` in 8-connected components of ``candidates | anchor`` that
    touch ``anchor``."""
    _, components = cv2.connectedComponents((candidates | anchor).astype(np.uint8), connectivity=8)
    keep = np.unique(components[anchor])
    return candidates & np.isin(components, keep[keep > 0])


def refine_labels(
    labels: np.ndarray, rgb: np.ndarray, landmarks: np.ndarray, below_jaw: np.ndarray,
    appearance: Appearance,
) -> np.ndarray:  # fmt: skip
    """The landmark parser's ``labels`` with hair, ears, neck and fringe placed by colour (see
    the module doc); ``below_jaw`` is the person below the parser's jaw line."""
    shape = labels.shape
    face = FaceGeometry.of(landmarks)
    scores = appearance.classes(rgb)
    best = scores.argmax(0)
    rows = np.arange(shape[0])[:, None]
    open_ = below_jaw & (labels == Label.TORSO)
    neck_zone = face.neck_zone(shape)
    hair = _connected_to((best == HAIR) & open_ & ~neck_zone, labels == Label.HAIR)
    out = labels.copy()
    out[hair] = Label.HAIR
    skin = (best == SKIN) & open_ & ~hair
    beside_face = skin & ~neck_zone & (rows < face.chin_y - 0.1 * face.face_height)
    out[_connected_to(beside_face, labels == Label.FACE)] = Label.FACE  # ears
    out[skin & neck_zone] = Label.NECK
    # a fringe: inside the oval above the brows, where the colour is hair's rather than skin's
    fringe = (labels == Label.FACE) & (rows < face.brow_y) & (scores[HAIR] > scores[SKIN])
    out[_connected_to(fringe, labels == Label.HAIR)] = Label.HAIR
    return out
