"""Rigid keypoints of the face, found and followed by dense optical flow (M2DAO-Talker HPE).

Keypoints are born in keyframes (every few frames), on a grid over the rigid part of the face:
the triangles of :attr:`talkgs.pose.shape.CanonicalFace.triangles` (forehead, temples, nose,
upper cheeks) at that frame's Face Mesh landmarks, where the parsing says face or hair. In every
later frame, OpenCV's DIS optical flow from the keyframe to the frame, in a box around the face,
says where each keypoint went. Measuring from the keyframe rather than chaining frame-to-frame
flows keeps the error of a keypoint's position from growing with its age: chained DIS flow
drifts by about 0.02 px a frame on the demo identity, as much as the perspective cue of a small
head turn over a second.

A keypoint is kept only where the motion is rigid: where the magnitude of the flow's Laplacian
is small (the paper filters the Laplacian of the flow magnitude; the Laplacian of the flow
itself is used here, because the magnitude has a kink wherever the flow passes through zero,
e.g. at the centre of a head roll, which is rigid motion). It dies when that stops holding (a
lid, a brow or a hand moving over it), when it leaves the face or hair, or at its age limit.
Keypoints are born only in frames whose landmarks were detected, so a stretch of interpolated
landmarks is crossed by flow alone; and when fewer than ``reseed_below`` remain (fast motion
kills them) the frame becomes a keyframe at once rather than on schedule — on a real clip, four
frames that had fallen to 17, 6, 3 and 0 keypoints had pose errors of 5–11 px.

Keypoints on hair (a fringe inside the face oval, which the parser labels hair) are kept: on the
real clips they are 2 % (may) and 0.1 % (german) of all keypoints, and trusting them 4× less
changed nothing there while it cost a flat demo head, whose fringe is as rigid as its skin, 1°
of out-of-plane accuracy.

All positions are pixels of the ingested frame (x right, y down).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from talkgs.errors import input_error
from talkgs.face.labels import Label
from talkgs.frames import read_image, read_labels
from talkgs.log import progress
from talkgs.parallel import ordered_map

log = logging.getLogger("talkgs.pose")

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
TRACKED_LABELS = (Label.FACE, Label.HAIR)
LAPLACIAN_STEP_PX = 2.0
REFERENCE_FACE_WIDTH_PX = 180.0  # spacing_px is given for a face this wide (Face Mesh 234–454)


@dataclass(frozen=True)
class FlowParams:
    preset: str = "fast"  # DIS preset: ultrafast | fast | medium
    keyframe_every: int = 6  # frames between keyframes
    max_age: int = 24  # frames; a keypoint lives between half and all of this after its birth
    spacing_px: float = 10.0  # keypoint grid spacing for a 180 px wide face
    max_laplacian: float = 0.025  # |∇²flow| above this (px/px²) is not rigid motion
    margin: float = 0.15  # flow box margin around the rigid region, × face width
    reseed_below: int = 30  # fewer live keypoints than this: the frame becomes a keyframe early
    threads: int = 2  # frame decoding overlaps the flow


@dataclass(frozen=True)
class Tracks:
    """Keypoint observations: one row per (frame, keypoint) while the keypoint lives.

    Rows are ordered by frame, then keypoint id; a keypoint's first row is its birth.
    """

    frame: np.ndarray  # [M] int32 frame index
    track: np.ndarray  # [M] int32 keypoint id, 0 … N-1
    xy: np.ndarray  # [M, 2] float64 pixels
    birth: np.ndarray  # [N] int32 frame of birth of each keypoint

    @property
    def count(self) -> int:
        return len(self.birth)

    def birth_xy(self) -> np.ndarray:
        """``[N, 2]`` where each keypoint was born, pixels."""
        first = self.frame == self.birth[self.track]
        xy = np.zeros((self.count, 2))
        xy[self.track[first]] = self.xy[first]
        return xy


@dataclass
class _Frame:
    index: int
    gray: np.ndarray  # [H, W] uint8
    labels: np.ndarray | None  # [H, W] uint8 label map, None without parsing


@dataclass
class _Keyframe:
    frame: _Frame
    ids: np.ndarray  # [n] ids of its live keypoints
    origin: np.ndarray  # [n, 2] their positions in the keyframe
    deadline: np.ndarray  # [n] the frame at which each dies
    points: np.ndarray = field(init=False)  # [K, 2] the rigid landmarks, for the flow box

    def keep(self, alive: np.ndarray) -> None:
        self.ids, self.origin, self.deadline = (
            self.ids[alive],
            self.origin[alive],
            self.deadline[alive],
        )


def track_keypoints(
    frames: list[Path],
    labels: list[Path] | None,
    landmarks: np.ndarray,
    detected: np.ndarray,
    triangles: np.ndarray,
    params: FlowParams,
) -> Tracks:
    """Keypoints over ``frames`` (and their label maps, when given), born in the region that
    ``triangles`` ``[M, 3]`` cover at each keyframe's Face Mesh ``landmarks`` ``[T, 478, 2+]``."""
    local = threading.local()  # one DIS instance per thread: it keeps per-call buffers

    def follow(keyframe: _Keyframe) -> np.ndarray:
        if not hasattr(local, "dis"):
            local.dis = cv2.DISOpticalFlow_create(PRESETS[params.preset])
        box = _flow_box(np.concatenate([keyframe.points, landmarks[t, corners, :2]]), margin)
        return _follow(local.dis, keyframe, current, box, params)

    corners = np.unique(triangles)
    width = float(np.median(np.linalg.norm(landmarks[:, 454, :2] - landmarks[:, 234, :2], axis=1)))
    spacing = max(params.spacing_px * width / REFERENCE_FACE_WIDTH_PX, 3.0)
    margin = params.margin * width
    keyframes: list[_Keyframe] = []
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (frame, ids, xy) per frame
    births: list[np.ndarray] = []
    born = 0
    last_keyframe = -(10**9)
    pool = ThreadPoolExecutor(max(params.threads, 1))  # OpenCV's flow releases the GIL
    for current in progress(_frames(frames, labels, params.threads), "keypoints", len(frames)):
        t = current.index
        xy = list(pool.map(follow, keyframes))  # each keyframe's keypoints, independently
        ids = [keyframe.ids for keyframe in keyframes]
        keyframes = [k for k in keyframes if len(k.ids)]
        occupied = np.concatenate(xy) if xy else np.zeros((0, 2))
        due = t - last_keyframe >= params.keyframe_every or len(occupied) < params.reseed_below
        if detected[t] and due:
            origin = _seed(current, landmarks[t, :, :2], triangles, spacing, occupied)
            if len(origin):
                new_ids = np.arange(born, born + len(origin))
                born += len(origin)
                births.append(np.full(len(origin), t, np.int32))
                keyframe = _Keyframe(current, new_ids, origin, _deadlines(new_ids, t, params))
                keyframe.points = landmarks[t, corners, :2]
                keyframes.append(keyframe)
                ids.append(new_ids)
                xy.append(origin)
                last_keyframe = t
        if ids:
            all_ids = np.concatenate(ids)
            order = np.argsort(all_ids, kind="stable")
            rows.append(
                (np.full(len(all_ids), t, np.int32), all_ids[order], np.concatenate(xy)[order])
            )
    pool.shutdown()
    tracks = Tracks(
        frame=np.concatenate([r[0] for r in rows]) if rows else np.zeros(0, np.int32),
        track=np.concatenate([r[1] for r in rows]).astype(np.int32)
        if rows
        else np.zeros(0, np.int32),
        xy=np.concatenate([r[2] for r in rows]) if rows else np.zeros((0, 2)),
        birth=np.concatenate(births) if births else np.zeros(0, np.int32),
    )
    log.info(
        "keypoints: %d born in %d keyframes, %.0f alive per frame on average",
        tracks.count,
        len(births),
        len(tracks.frame) / max(len(frames), 1),
    )
    return tracks


def _frames(frames: list[Path], labels: list[Path] | None, threads: int) -> Iterator[_Frame]:
    def read(index: int) -> _Frame:
        gray = read_image(frames[index], cv2.IMREAD_GRAYSCALE)
        label_map = None
        if labels is not None:
            label_map = read_labels(labels[index])
            if label_map.shape != gray.shape:
                raise input_error(labels[index], "not a label map of the frame's size")
        return _Frame(index, gray, label_map)

    return ordered_map(read, range(len(frames)), threads)


def _deadlines(ids: np.ndarray, frame: int, params: FlowParams) -> np.ndarray:
    # Staggered lifetimes (a golden-ratio sequence over the ids): keypoints born together do not
    # die together, so the set in use changes a little every frame instead of all at once.
    spread = (ids * 0.6180339887) % 1.0
    return frame + np.ceil(params.max_age * (0.5 + 0.5 * spread)).astype(np.int64)


def _flow_box(points: np.ndarray, margin: float) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` around ``points`` ``[K, 2]``, grown by ``margin`` pixels."""
    x0, y0 = np.floor(points.min(axis=0) - margin).astype(int)
    x1, y1 = np.ceil(points.max(axis=0) + margin).astype(int)
    return int(x0), int(y0), int(x1), int(y1)


def _follow(
    dis: cv2.DISOpticalFlow,
    keyframe: _Keyframe,
    current: _Frame,
    box: tuple[int, int, int, int],
    params: FlowParams,
) -> np.ndarray:
    """Where ``keyframe``'s live keypoints are in ``current`` (``[n, 2]``); ends, in place,
    those whose motion is not rigid, that left the face or that reached their age."""
    height, width = current.gray.shape
    x0, y0, x1, y1 = max(box[0], 0), max(box[1], 0), min(box[2], width), min(box[3], height)
    if x1 - x0 < 16 or y1 - y0 < 16:
        keyframe.keep(np.zeros(len(keyframe.ids), bool))
        return np.zeros((0, 2))
    a = np.ascontiguousarray(keyframe.frame.gray[y0:y1, x0:x1])
    b = np.ascontiguousarray(current.gray[y0:y1, x0:x1])
    flow = dis.calc(a, b, None)
    local = keyframe.origin - (x0, y0)
    inside = (local >= 0).all(axis=1) & (local[:, 0] <= x1 - x0 - 1) & (local[:, 1] <= y1 - y0 - 1)
    moved = keyframe.origin + _sample(flow, local)
    rough = _laplacian_at(flow, local)
    on_frame = (moved >= 0).all(axis=1) & (moved[:, 0] <= width - 1) & (moved[:, 1] <= height - 1)
    alive = inside & on_frame & (rough <= params.max_laplacian)
    alive &= keyframe.deadline > current.index
    if current.labels is not None:
        alive &= _on_labels(current.labels, moved)
    keyframe.keep(alive)
    return moved[alive]


def _seed(
    frame: _Frame,
    landmarks: np.ndarray,
    triangles: np.ndarray,
    spacing: float,
    occupied: np.ndarray,
) -> np.ndarray:
    """``[n, 2]`` new keypoints: grid points in the rigid triangles (at ``landmarks``
    ``[478, 2]``) on face or hair, one per grid cell that no live keypoint (``occupied``) holds."""
    height, width = frame.gray.shape
    inside = np.zeros((height, width), np.uint8)
    corners = np.round(landmarks[triangles] * 16).astype(np.int32)  # 4 fractional bits
    for triangle in corners:
        cv2.fillConvexPoly(inside, triangle, 1, cv2.LINE_8, 4)
    ys, xs = np.mgrid[spacing / 2 : height : spacing, spacing / 2 : width : spacing]
    grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
    pixel = np.minimum(np.round(grid).astype(np.int64), [width - 1, height - 1])
    candidate = inside[pixel[:, 1], pixel[:, 0]] > 0
    if frame.labels is not None:
        candidate &= np.isin(frame.labels[pixel[:, 1], pixel[:, 0]], TRACKED_LABELS)
    if len(occupied):
        taken = np.floor(occupied / spacing).astype(np.int64)
        rows, cols = xs.shape
        valid = (taken >= 0).all(axis=1) & (taken[:, 0] < cols) & (taken[:, 1] < rows)
        busy = np.zeros((rows, cols), bool)
        busy[taken[valid, 1], taken[valid, 0]] = True
        candidate &= ~busy.ravel()
    return grid[candidate]


def _sample(field: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear samples ``[N, C]`` of an ``[h, w, C]`` float32 field at ``points`` ``[N, 2]``."""
    if len(points) == 0:
        return np.zeros((0, field.shape[2]))
    maps = points.astype(np.float32).reshape(1, -1, 2)
    sampled = cv2.remap(field, maps, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return sampled.reshape(len(points), -1).astype(np.float64)


def _laplacian_at(flow: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``[n]`` |∇²F| (px/px²) of an ``[h, w, 2]`` flow at ``points`` ``[n, 2]``: the
    five-point stencil with a step of :data:`LAPLACIAN_STEP_PX`, on bilinear samples (only where
    it is needed: a whole-box Laplacian costs more than the flow)."""
    h = LAPLACIAN_STEP_PX
    ring = sum(_sample(flow, points + offset) for offset in ((h, 0), (-h, 0), (0, h), (0, -h)))
    return np.linalg.norm(ring - 4.0 * _sample(flow, points), axis=1) / h**2


def _on_labels(labels: np.ndarray, xy: np.ndarray) -> np.ndarray:
    height, width = labels.shape
    pixel = np.clip(np.round(xy).astype(np.int64), 0, [width - 1, height - 1])
    return np.isin(labels[pixel[:, 1], pixel[:, 0]], TRACKED_LABELS)
