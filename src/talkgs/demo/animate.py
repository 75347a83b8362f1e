"""Rendering one demo frame: deform the face, move the head, paint the open mouth, composite.

Three coordinate frames meet here, all in pixels with x right and y down:

* source: the astronaut photo;
* deformed: the photo after the face deformation (mouth, blink), still unmoved;
* frame: the video frame, where the head has moved by the frame's homography.

A frame pixel p shows source point ``q + d(q)``, with ``q`` the motion's inverse at p and ``d``
the mesh warp's inverse displacement (see :mod:`talkgs.demo.warp`): one ``cv2.remap`` per frame.
The head, down to a little below the chin, moves exactly by the homography. Below, the body
follows a damped copy of the motion, blended across the neck: TORSO_SHARE of it at the
shoulders, fading to BOTTOM_SHARE at the bottom edge, as a seated speaker whose head moves more
than the shoulders. The person is then laid over the static background plate with its matte
warped the same way, so the camera and the background stay still.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from talkgs.demo.deform import FaceRig, face_axes
from talkgs.demo.motion import apply_homography
from talkgs.demo.mouth import paint_inner_mouth
from talkgs.demo.portrait import EYES, INNER_LIP_RING, Portrait
from talkgs.demo.warp import MeshWarp

NECK_START_BELOW_CHIN_PX = 30.0  # the exact head motion reaches this far below the rest chin
NECK_LENGTH_PX = 90.0  # and is blended into the torso motion over this height
TORSO_SHARE = 0.3  # share of the head motion made by the shoulders, at the end of the neck
BOTTOM_SHARE = 0.1  # and by the body at the bottom edge of the frame
CHIN = 152


@dataclass(frozen=True)
class RenderedFrame:
    image: np.ndarray  # [H, W, 3] uint8 RGB
    landmarks: np.ndarray  # [478, 2] float64, frame pixels: deformed, then moved by H


class Animator:
    """Renders frames of the portrait for given controls (homography, mouth opening, blink)."""

    def __init__(self, portrait: Portrait, rig: FaceRig) -> None:
        self.portrait = portrait
        self.rig = rig
        height, width = portrait.image.shape[:2]
        openings = [eye.ring for eye in EYES] + [INNER_LIP_RING]
        self.mesh = MeshWarp(rig.rest, (width, height), openings)
        self._xs = np.arange(width, dtype=np.float32)[None, :]  # [1, W]
        self._ys = np.arange(height, dtype=np.float32)[:, None]  # [H, 1]
        self._motion_share = _motion_share(height, rig.rest[CHIN, 1])  # [H, 1]
        self._person = portrait.image.astype(np.float32)
        self._background = portrait.background.astype(np.float32)
        self._alpha = portrait.person_alpha

    def render(self, homography: np.ndarray, mouth_open_px: float, blink: float) -> RenderedFrame:
        deformed = self.rig.deform(mouth_open_px, blink)
        landmarks = apply_homography(homography, deformed)
        map_x, map_y = self._source_maps(homography, deformed)
        person = cv2.remap(
            self._person, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101
        )
        alpha = cv2.remap(
            self._alpha, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101
        )
        rest_landmarks = apply_homography(homography, self.rig.rest)
        paint_inner_mouth(
            person,
            landmarks,
            rest_landmarks,
            mouth_open_px,
            face_axes(rest_landmarks),
            lambda points: self._photo_on_head(homography, points),
        )
        frame = cv2.blendLinear(person, self._background, alpha, 1.0 - alpha)
        return RenderedFrame(cv2.convertScaleAbs(frame), landmarks)  # rounds and saturates

    def _source_maps(
        self, homography: np.ndarray, deformed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``map_x, map_y`` ``[H, W]`` float32: the source point that each frame pixel shows."""
        h = np.linalg.inv(homography).astype(np.float32)  # frame -> deformed source, for the head
        xs, ys = self._xs, self._ys
        w = h[2, 0] * xs + (h[2, 1] * ys + h[2, 2])
        head_x = (h[0, 0] * xs + (h[0, 1] * ys + h[0, 2])) / w
        head_y = (h[1, 0] * xs + (h[1, 1] * ys + h[1, 2])) / w
        share = self._motion_share
        map_x = xs + share * (head_x - xs)  # the deformed photo's point at each frame pixel
        map_y = ys + share * (head_y - ys)
        lookup = self.mesh.frame_warp(deformed)
        if lookup is not None:  # undo the face deformation where it lands
            x0, y0, x1, y1 = lookup.bounds()
            # Frame pixels that can land there: the bounds grown by the largest head shift at
            # their corners (the shift of a near-affine map peaks at a corner).
            corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], np.float64)
            reach = int(np.ceil(np.abs(apply_homography(homography, corners) - corners).max())) + 2
            height, width = map_x.shape
            window = (
                slice(max(y0 - reach, 0), min(y1 + reach, height)),
                slice(max(x0 - reach, 0), min(x1 + reach, width)),
            )
            wx, wy = map_x[window], map_y[window]
            rows, cols = np.nonzero((wx > x0 - 1) & (wx < x1) & (wy > y0 - 1) & (wy < y1))
            rows, cols = rows + window[0].start, cols + window[1].start
            source_x, source_y = lookup.source_points(
                map_x[rows, cols].astype(np.float64), map_y[rows, cols].astype(np.float64)
            )
            map_x[rows, cols], map_y[rows, cols] = source_x, source_y
        return map_x, map_y

    def _photo_on_head(self, homography: np.ndarray, points: np.ndarray) -> np.ndarray:
        """The photo's colours ``[h, w, 3]`` at frame `points` ``[h, w, 2]``, moved by the head's
        homography alone (valid in the head region, where the mouth is)."""
        flat = apply_homography(np.linalg.inv(homography), points.reshape(-1, 2))
        source = flat.reshape(points.shape).astype(np.float32)
        return cv2.remap(
            self._person,
            source[..., 0],
            source[..., 1],
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT101,
        )


def _motion_share(height: int, chin_y: float) -> np.ndarray:
    """``[H, 1]`` float32: how much of the head's motion each frame row makes (1 for the head)."""
    rows = np.arange(height, dtype=np.float64)
    neck_start = chin_y + NECK_START_BELOW_CHIN_PX
    neck_end = neck_start + NECK_LENGTH_PX
    along_neck = np.clip((rows - neck_start) / NECK_LENGTH_PX, 0.0, 1.0)
    neck_blend = along_neck * along_neck * (3.0 - 2.0 * along_neck)  # smoothstep
    torso_share = TORSO_SHARE + (BOTTOM_SHARE - TORSO_SHARE) * np.clip(
        (rows - neck_end) / max(height - 1 - neck_end, 1.0), 0.0, 1.0
    )
    share = 1.0 - (1.0 - torso_share) * neck_blend
    return share.astype(np.float32)[:, None]
