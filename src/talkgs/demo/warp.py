"""Piecewise-affine warp of the source photo, driven by moved landmarks.

The mesh is a Delaunay triangulation, made once on the rest landmarks (irises left out: they sit
inside the eye opening, which the lids close over) plus fixed support points: a ring around the
face and the frame border. Support points never move, so the warp is the identity outside the
ring. Per frame the warp is a lookup from deformed pixels to source pixels, evaluated exactly at
the (fractional) points where the head motion's inverse lands, so that the two compose into a
single ``cv2.remap`` of the photo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from matplotlib.path import Path as Polygon
from scipy.spatial import Delaunay

from talkgs.demo.portrait import IRISES, LANDMARK_COUNT

# MediaPipe's face oval, the outline of the landmark mesh.
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
SUPPORT_RING_MARGIN_PX = 40.0  # how far outside the face oval the deformation has died out
BORDER_STEP_PX = 64
RASTER_SHIFT = 4  # fractional bits of the triangle rasteriser's vertex coordinates
MIN_AREA_PX2 = 0.25  # thinner triangles (shut eyelids) are skipped: their affine is degenerate


class MeshWarp:
    def __init__(
        self,
        rest_landmarks: np.ndarray,
        size: tuple[int, int],
        openings: Sequence[Sequence[int]] = (),
    ) -> None:
        """`rest_landmarks` ``[478, 2]`` source pixels; `size` (width, height) of the photo.

        `openings` are landmark rings (eyes, inner lips) around something that does not deform
        with the skin around it (eyeballs, teeth): the mesh inside them keeps showing the photo
        where it was, and the moving lids and lips slide over it instead of squashing it.
        """
        self.size = size
        support = _support_points(rest_landmarks, size)
        rings = [Polygon(rest_landmarks[list(ring)]) for ring in openings]
        self.landmark_ids = np.array(
            [i for i in range(LANDMARK_COUNT) if i not in set(IRISES)], dtype=np.int64
        )
        while True:
            self.rest_vertices = np.concatenate([rest_landmarks[self.landmark_ids], support])
            self.triangles = Delaunay(self.rest_vertices).simplices.astype(np.int64)  # [M, 3]
            straddlers = _vertices_straddling(
                self.triangles, self.landmark_ids, openings, rings, self.rest_vertices
            )
            if not straddlers:
                break
            # Delaunay is not constrained to keep the lip and lid lines as edges; points a pixel
            # or so off a ring make triangles that bridge the opening. Such points leave the
            # mesh (they still move in the truth; here their neighbours carry the texture).
            self.landmark_ids = np.setdiff1d(self.landmark_ids, list(straddlers))
        centroids = self.rest_vertices[self.triangles].mean(axis=1)
        self.in_opening = np.zeros(len(self.triangles), bool)  # [M]
        for polygon in rings:
            self.in_opening |= polygon.contains_points(centroids)

    def frame_warp(self, deformed_landmarks: np.ndarray) -> TriangleLookup | None:
        """The inverse warp for one set of deformed landmarks (``[478, 2]``), or None if no
        landmark moved. Only triangles with a moved vertex are rasterised; elsewhere the warp is
        the identity."""
        vertices = self.rest_vertices.copy()
        vertices[: len(self.landmark_ids)] = deformed_landmarks[self.landmark_ids]
        moved = np.any(np.abs(vertices - self.rest_vertices) > 1e-9, axis=1)[self.triangles]
        moved = moved.any(axis=1)
        # Openings first, so that where a lid or lip has closed over one, the skin drawn
        # afterwards wins the pixels on their shared edges.
        order = np.flatnonzero(moved)[np.argsort(~self.in_opening[moved], kind="stable")]
        target = vertices[self.triangles[order]]  # [K, 3, 2], deformed pixels
        source = self.rest_vertices[self.triangles[order]]
        edge1, edge2 = target[:, 1] - target[:, 0], target[:, 2] - target[:, 0]
        keep = 0.5 * np.abs(np.cross(edge1, edge2)) >= MIN_AREA_PX2
        if not keep.any():
            return None
        target, source, order = target[keep], source[keep], order[keep]
        affines = _affines(target, source)  # [K, 2, 3]: deformed pixel -> source pixel
        affines[self.in_opening[order]] = _IDENTITY  # what an opening shows stays put

        width, height = self.size
        x0, y0 = np.maximum(np.floor(target.reshape(-1, 2).min(axis=0)).astype(int) - 1, 0)
        x1, y1 = np.minimum(
            np.ceil(target.reshape(-1, 2).max(axis=0)).astype(int) + 2, [width, height]
        )
        owner = np.full((y1 - y0, x1 - x0), -1, np.int32)  # triangle covering each pixel
        corners = np.round((target - [x0, y0]) * (1 << RASTER_SHIFT)).astype(np.int32)
        for number, triangle in enumerate(corners):
            cv2.fillConvexPoly(owner, triangle, number, cv2.LINE_8, RASTER_SHIFT)
        return TriangleLookup((int(x0), int(y0)), owner, np.concatenate([affines, [_IDENTITY]]))


@dataclass(frozen=True)
class TriangleLookup:
    """A piecewise-affine inverse warp: deformed pixels -> source pixels."""

    origin: tuple[int, int]  # (x0, y0): deformed pixel of owner[0, 0]
    owner: np.ndarray  # [h, w] int32: index of the triangle covering each pixel, -1 for none
    affines: np.ndarray  # [K + 1, 2, 3]: each triangle's affine, then the identity (index -1)

    def source_points(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Source pixels of deformed points (`x`, `y`: float arrays of one shape). The triangle
        is the one rasterised at the nearest pixel, whose affine is exact inside it and, next to
        its edges, continues its neighbour's."""
        height, width = self.owner.shape
        col = np.rint(x - self.origin[0]).astype(np.int64)
        row = np.rint(y - self.origin[1]).astype(np.int64)
        inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
        index = np.full(x.shape, -1, np.int64)
        index[inside] = self.owner[row[inside], col[inside]]
        a = self.affines[index]  # [..., 2, 3]
        return (
            a[..., 0, 0] * x + a[..., 0, 1] * y + a[..., 0, 2],
            a[..., 1, 0] * x + a[..., 1, 1] * y + a[..., 1, 2],
        )

    def bounds(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the deformed pixels where the warp is not the identity."""
        height, width = self.owner.shape
        return self.origin[0], self.origin[1], self.origin[0] + width, self.origin[1] + height


_IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def _affines(target: np.ndarray, source: np.ndarray) -> np.ndarray:
    """``[K, 2, 3]`` affine maps taking each target triangle ``[K, 3, 2]`` onto its source one,
    in closed form: A = S T^-1 on the edge vectors, then the offset that maps corner 0."""
    t = np.stack([target[:, 1] - target[:, 0], target[:, 2] - target[:, 0]], axis=2)  # [K,2,2]
    s = np.stack([source[:, 1] - source[:, 0], source[:, 2] - source[:, 0]], axis=2)
    det = t[:, 0, 0] * t[:, 1, 1] - t[:, 0, 1] * t[:, 1, 0]
    t_inv = (
        np.stack(
            [
                np.stack([t[:, 1, 1], -t[:, 0, 1]], axis=1),
                np.stack([-t[:, 1, 0], t[:, 0, 0]], axis=1),
            ],
            axis=1,
        )
        / det[:, None, None]
    )
    linear = s @ t_inv
    offset = source[:, 0] - np.einsum("kij,kj->ki", linear, target[:, 0])
    return np.concatenate([linear, offset[:, :, None]], axis=2)


def _vertices_straddling(
    triangles: np.ndarray,
    landmark_ids: np.ndarray,
    openings: Sequence[Sequence[int]],
    rings: Sequence[Polygon],
    vertices: np.ndarray,
) -> set[int]:
    """Landmarks (not on the ring) of triangles that lie partly inside an opening's ring."""
    # Sample points of each triangle: its centroid and a point near each corner and each edge.
    weights = np.array(
        [[1, 1, 1], [4, 1, 1], [1, 4, 1], [1, 1, 4], [2, 2, 1], [2, 1, 2], [1, 2, 2]], np.float64
    )
    weights /= weights.sum(axis=1, keepdims=True)
    samples = np.einsum("sv,tvc->tsc", weights, vertices[triangles])  # [M, 7, 2]
    landmark_of_vertex = np.full(len(vertices), -1)
    landmark_of_vertex[: len(landmark_ids)] = landmark_ids
    found: set[int] = set()
    for ring, polygon in zip(openings, rings, strict=True):
        inside = polygon.contains_points(samples.reshape(-1, 2)).reshape(samples.shape[:2])
        for triangle in triangles[inside.any(axis=1)]:
            outside_ring = [v for v in landmark_of_vertex[triangle] if v not in set(ring)]
            found |= {int(v) for v in outside_ring if v >= 0}
    return found


def _support_points(rest_landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Fixed vertices: the face oval pushed out by SUPPORT_RING_MARGIN_PX, and the frame border."""
    width, height = size
    centre = rest_landmarks.mean(axis=0)
    oval = rest_landmarks[list(FACE_OVAL)]
    outward = (oval - centre) / np.linalg.norm(oval - centre, axis=1, keepdims=True)
    ring = oval + SUPPORT_RING_MARGIN_PX * outward
    ring = np.clip(ring, [2.0, 2.0], [width - 3.0, height - 3.0])
    xs = np.arange(0, width + 1, BORDER_STEP_PX, dtype=np.float64).clip(0, width - 1)
    ys = np.arange(0, height + 1, BORDER_STEP_PX, dtype=np.float64).clip(0, height - 1)
    border = np.concatenate(
        [
            np.stack([xs, np.zeros_like(xs)], 1),
            np.stack([xs, np.full_like(xs, height - 1)], 1),
            np.stack([np.zeros_like(ys), ys], 1),
            np.stack([np.full_like(ys, width - 1), ys], 1),
        ]
    )
    return np.unique(np.concatenate([ring, border]), axis=0)
