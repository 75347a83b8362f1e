"""The joint fit of eq. 6: every frame's pose, one focal length and one depth scale per identity.

Minimises, over rotations ``R_t``, translations ``t_t`` (camera-from-head, :mod:`.camera`), the
focal length ``f`` and the canonical face's depth scale ``s`` (:mod:`.shape`):

    Σ_obs ρ(‖π_f(R_t X(s) + t_t) − x‖ / σ)                  the data (eq. 6, robust)
    + Σ_t ρ_a(‖Δ²φ_t‖ / σ_φ) + ρ_a(‖Δ²t_t‖ / σ_t)              an acceleration prior
    + ((log f − log f₀) / σ_f)² + ((s − 1) / σ_s)²             what the video cannot decide

Each observation is a pixel position ``x`` of a head point ``X(s) = base + s · depth`` in frame
``t`` (flow keypoints; Face Mesh landmarks with a larger σ), ρ is the Cauchy loss (keypoints on
skin that moved after all count for little), σ the observation's expected error in pixels.
``φ_t`` is the rotation vector of ``R_t`` about the sequence's mean rotation and Δ² the second
difference in time: the prior is on acceleration, which is what jitter is. Its strength σ_φ is
one number for every axis and identity, yet it smooths adaptively: an axis the data pins down
in every frame (in-plane rotation; out-of-plane rotation of a real head, through the nose's
parallax) barely feels it, while one the data hardly sees (out-of-plane rotation of a flat
picture, seen through perspective alone) follows its neighbours. ρ_a is a Cauchy loss with a
wide scale (:data:`ACCEL_CAUCHY` σ): tracking noise is smoothed away, a real nod that every
keypoint shows is let through.

Levenberg–Marquardt with iteratively reweighted least squares. The frames' six unknowns are
coupled only to their two neighbours on each side (the prior) and to the two shared unknowns,
so the normal equations are a band (solved by banded Cholesky) bordered by two dense rows,
which a Schur complement eliminates: each iteration is linear in frames and observations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields

import numpy as np
from scipy.linalg import solveh_banded

from talkgs.pose.camera import (
    Camera,
    exp_so3,
    left_jacobian_inverse,
    log_so3,
    project_to_rotation,
)

log = logging.getLogger("talkgs.pose")

CAUCHY_SCALE = 2.0  # in σ units: residuals beyond ~2σ weigh less and less
ACCEL_CAUCHY = 15.0  # in σ units: accelerations well beyond σ (a real nod) are let through
BAND = 17  # half-bandwidth of the frame unknowns' normal matrix: 6 × 2 frames + 5


@dataclass(frozen=True)
class Observations:
    """Pixel observations of head points; ``M`` rows."""

    frame: np.ndarray  # [M] int frame index
    base: np.ndarray  # [M, 3] head point with the depth scale at 0, head units
    depth: np.ndarray  # [M, 3] its part that scales with the depth scale s
    xy: np.ndarray  # [M, 2] where it was seen, pixels
    sigma: np.ndarray  # [M] expected error of the observation, pixels

    def __len__(self) -> int:
        return len(self.frame)

    @staticmethod
    def concat(parts: list[Observations]) -> Observations:
        names = [f.name for f in fields(Observations)]
        return Observations(*(np.concatenate([getattr(p, n) for p in parts]) for n in names))


@dataclass(frozen=True)
class Priors:
    focal: float  # pixels: the focal prior's centre
    log_focal_sigma: float = 0.05
    depth_scale: float = 1.0  # Face Mesh's own depth
    depth_scale_sigma: float = 0.5
    rotation_accel: float | None = None  # σ_φ, radians/frame²; None: no acceleration prior
    translation_accel: float | None = None  # σ_t, head units/frame²


@dataclass(frozen=True)
class Fit:
    rotations: np.ndarray  # [T, 3, 3]
    translations: np.ndarray  # [T, 3] head units
    focal: float  # pixels
    depth_scale: float
    cost: float
    iterations: int


def residuals(
    obs: Observations, rotations: np.ndarray, translations: np.ndarray, camera: Camera, s: float
) -> np.ndarray:
    """``[M, 2]`` projected minus observed pixels."""
    cam = _rotate(rotations[obs.frame], obs.base + s * obs.depth) + translations[obs.frame]
    projected = camera.focal * cam[:, :2] / cam[:, 2:3] + (camera.cx, camera.cy)
    return projected - obs.xy


def fit(
    obs: Observations,
    rotations: np.ndarray,
    translations: np.ndarray,
    camera: Camera,
    depth_scale: float,
    priors: Priors,
    *,
    fit_depth_scale: bool = True,
    max_iterations: int = 40,
) -> Fit:
    """Refine poses ``[T, 3, 3]`` / ``[T, 3]``, the focal length and (with
    ``fit_depth_scale``) the depth scale from their initial values."""
    frames = len(rotations)
    state = _State(rotations.copy(), translations.copy(), float(np.log(camera.focal)), depth_scale)
    reference = project_to_rotation(rotations.mean(axis=0))
    problem = _Problem(obs, camera.cx, camera.cy, priors, reference, frames, fit_depth_scale)
    cost = problem.cost(state)
    damping = 1e-5
    iterations = 0
    while iterations < max_iterations:
        iterations += 1
        system = problem.normal_equations(state)
        while True:
            trial = state.moved(system.solve(damping))
            trial_cost = problem.cost(trial)
            if trial_cost <= cost or damping > 1e8:
                break
            damping *= 10.0
        if trial_cost > cost:
            break  # no step lowers the cost: as far as Levenberg–Marquardt goes
        improvement = (cost - trial_cost) / max(cost, 1e-12)
        state, cost = trial, trial_cost
        damping = max(damping / 10.0, 1e-12)
        if improvement < 5e-4:
            break
    return Fit(
        state.rotations,
        state.translations,
        float(np.exp(state.log_focal)),
        state.depth_scale,
        cost,
        iterations,
    )


@dataclass(frozen=True)
class _State:
    rotations: np.ndarray
    translations: np.ndarray
    log_focal: float
    depth_scale: float

    def moved(self, step: np.ndarray) -> _State:
        """The state after ``step`` = [T·6 frame increments (rotation, translation), Δlog f, Δs]."""
        per_frame = step[:-2].reshape(-1, 6)
        return _State(
            exp_so3(per_frame[:, :3]) @ self.rotations,
            self.translations + per_frame[:, 3:],
            self.log_focal + step[-2],
            self.depth_scale + step[-1],
        )


@dataclass
class _System:
    """``H Δ = −g`` with ``H = [[F, B], [Bᵀ, C]]``: F the banded frame block (upper band
    storage), B ``[6T, 2]``, C ``[2, 2]``."""

    band: np.ndarray  # [BAND + 1, 6T]
    coupling: np.ndarray  # [6T, 2]
    global_block: np.ndarray  # [2, 2]
    gradient: np.ndarray  # [6T + 2]
    fit_depth_scale: bool

    def solve(self, damping: float) -> np.ndarray:
        band = self.band.copy()
        # Marquardt's scaling, with a floor so that a frame nothing constrains stays put.
        band[BAND] += damping * band[BAND] + 1e-9
        c = self.global_block + damping * np.diag(np.diag(self.global_block))
        b, g_frames, g_globals = self.coupling, self.gradient[:-2], self.gradient[-2:]
        if not self.fit_depth_scale:  # hold s: only log f is shared
            b, c, g_globals = b[:, :1], c[:1, :1], g_globals[:1]
        solved = solveh_banded(band, np.column_stack([g_frames, b]))
        schur = c - b.T @ solved[:, 1:]
        delta_globals = np.linalg.solve(schur, -g_globals + b.T @ solved[:, 0])
        delta_frames = -solved[:, 0] - solved[:, 1:] @ delta_globals
        if not self.fit_depth_scale:
            delta_globals = np.array([delta_globals[0], 0.0])
        return np.concatenate([delta_frames, delta_globals])


class _Problem:
    def __init__(
        self,
        obs: Observations,
        cx: float,
        cy: float,
        priors: Priors,
        reference: np.ndarray,
        frames: int,
        fit_depth_scale: bool,
    ) -> None:
        self.obs, self.cx, self.cy, self.priors = obs, cx, cy, priors
        self.reference, self.frames, self.fit_depth_scale = reference, frames, fit_depth_scale
        # Each observation's slot among its frame's, for per-frame batched products.
        order = np.argsort(obs.frame, kind="stable")
        counts = np.bincount(obs.frame, minlength=frames)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.slot = np.empty(len(obs), np.int64)
        self.slot[order] = np.arange(len(obs)) - np.repeat(starts, counts)
        self.width = max(int(counts.max()) if len(obs) else 0, 1)
        self.flat = obs.frame * self.width + self.slot
        accel = [priors.rotation_accel] * 3 + [priors.translation_accel] * 3
        self.accel_weight = np.array([0.0 if a is None else 1.0 / a**2 for a in accel])

    def _camera(self, state: _State) -> Camera:
        return Camera(float(np.exp(state.log_focal)), self.cx, self.cy)

    def _motion(self, state: _State) -> np.ndarray:
        """``[T, 6]`` rotation vectors about the reference, and translations."""
        return np.concatenate(
            [log_so3(state.rotations @ self.reference.T), state.translations], axis=1
        )

    def cost(self, state: _State) -> float:
        r = residuals(
            self.obs, state.rotations, state.translations, self._camera(state), state.depth_scale
        )
        r /= self.obs.sigma[:, None]
        c2 = CAUCHY_SCALE**2
        data = c2 * np.log1p((r**2).sum(axis=1) / c2).sum()
        smooth = sum(
            float((ACCEL_CAUCHY**2 * np.log1p(a2 / ACCEL_CAUCHY**2)).sum())
            for a2 in self._acceleration(state)[1]
        )
        prior_r = self._prior_residual(state)
        return float(data + smooth + (prior_r**2).sum())

    def _prior_residual(self, state: _State) -> np.ndarray:
        p = self.priors
        return np.array(
            [
                (state.log_focal - np.log(p.focal)) / p.log_focal_sigma,
                (state.depth_scale - p.depth_scale) / p.depth_scale_sigma,
            ]
        )

    def normal_equations(self, state: _State) -> _System:
        obs = self.obs
        frame_rotations = state.rotations[obs.frame]
        rotated = _rotate(frame_rotations, obs.base + state.depth_scale * obs.depth)  # R X
        cam = rotated + state.translations[obs.frame]
        inv_z = 1.0 / cam[:, 2]
        f = float(np.exp(state.log_focal))
        projected = f * cam[:, :2] * inv_z[:, None]
        # Rows of d(pixel)/d(camera point), whitened by σ: [M, 3] each.
        scale = f * inv_z / obs.sigma
        zero = np.zeros_like(scale)
        dx = np.column_stack([scale, zero, -scale * cam[:, 0] * inv_z])
        dy = np.column_stack([zero, scale, -scale * cam[:, 1] * inv_z])
        rotated_depth = _rotate(frame_rotations, obs.depth)
        centre = np.array([self.cx, self.cy])
        r = (projected + centre - obs.xy) / obs.sigma[:, None]
        root_w = np.sqrt(1.0 / (1.0 + (r**2).sum(axis=1) / CAUCHY_SCALE**2))  # IRLS, Cauchy
        # Weighted Jacobian rows and residuals, laid out per frame (zero-padded) so that JᵀWJ
        # and JᵀWr of every frame come out of one batched matrix product.
        pixel_rows = []
        for row, d in enumerate((dx, dy)):
            d = d * root_w[:, None]
            columns = (
                _cross(rotated, d),  # left rotation increment: dᵀ(−[RX]×) = RX × d
                d,  # translation
                (root_w * projected[:, row] / obs.sigma)[:, None],  # log focal
                (d * rotated_depth).sum(axis=1)[:, None],  # depth scale
                (root_w * r[:, row])[:, None],  # the residual itself, for JᵀWr
            )
            pixel_rows.append(np.concatenate(columns, axis=1))
        rows = np.zeros((self.frames * self.width, 2, 9))
        rows[self.flat] = np.stack(pixel_rows, axis=1)
        rows = rows.reshape(self.frames, 2 * self.width, 9)
        products = np.swapaxes(rows, 1, 2) @ rows  # [T, 9, 9]
        per_frame, grad = products[:, :8, :8], products[:, :8, 8]
        band = _block_band(per_frame[:, :6, :6])
        frame_grad = grad[:, :6].copy()
        if self.accel_weight.any():
            self._add_acceleration_prior(state, band, frame_grad)
        prior_r = self._prior_residual(state)
        prior_sigma = np.array([self.priors.log_focal_sigma, self.priors.depth_scale_sigma])
        return _System(
            band=band,
            coupling=per_frame[:, :6, 6:].reshape(-1, 2),
            global_block=per_frame[:, 6:, 6:].sum(axis=0) + np.diag(1.0 / prior_sigma**2),
            gradient=np.concatenate(
                [frame_grad.ravel(), grad[:, 6:].sum(axis=0) + prior_r / prior_sigma]
            ),
            fit_depth_scale=self.fit_depth_scale,
        )

    def _acceleration(self, state: _State) -> tuple[np.ndarray, list[np.ndarray]]:
        """The motion's second differences ``[T−2, 6]``, and for rotation and translation the
        squared norms of theirs in σ units (``[T−2]`` each)."""
        accel = np.diff(self._motion(state), n=2, axis=0)
        sigma2 = 1.0 / np.where(self.accel_weight > 0, self.accel_weight, np.inf)
        groups = [
            (accel[:, g] ** 2 / np.where(sigma2[g] > 0, sigma2[g], 1.0)).sum(axis=1)
            if self.accel_weight[g].any()
            else np.zeros(len(accel))
            for g in (slice(0, 3), slice(3, 6))
        ]
        return accel, groups

    def _add_acceleration_prior(self, state: _State, band: np.ndarray, grad: np.ndarray) -> None:
        """Add the acceleration prior's Gauss–Newton terms to ``band`` and ``grad`` ``[T, 6]``.

        The prior is robust (Cauchy, scale :data:`ACCEL_CAUCHY` σ) so that a real nod, which the
        keypoints show plainly, is followed rather than smoothed away, while tracking noise,
        which they do not insist on, is. Rotation vectors φ_t = log(R_t R_refᵀ) move with a
        frame's left increment δ_t as dφ_t/dδ_t = J_t, the inverse left Jacobian of SO(3);
        translations move one for one.
        """
        motion = self._motion(state)
        accel, groups = self._acceleration(state)
        # IRLS weight of each second difference, per component, times 1/σ²: [T−2, 6]
        robust = [1.0 / (1.0 + a2 / ACCEL_CAUCHY**2) for a2 in groups]
        weight = np.column_stack([robust[0]] * 3 + [robust[1]] * 3) * self.accel_weight
        jac = np.tile(np.eye(6), (self.frames, 1, 1))
        jac[:, :3, :3] = left_jacobian_inverse(motion[:, :3])
        grad += np.einsum("tji,tj->ti", jac, _second_difference_transpose(accel * weight))
        bands = _weighted_dtd(weight)  # [3, T, 6]
        frames = np.arange(self.frames)
        for offset in range(3):
            t0 = frames[: self.frames - offset]
            t1 = t0 + offset
            # block (t0, t1) += J_t0ᵀ diag((DᵀWD)[t0, t1]) J_t1
            blocks = np.einsum(
                "tki,tk,tkj->tij", jac[t0], bands[offset][: self.frames - offset], jac[t1]
            )
            # Entries on or above the diagonal, in upper band storage: row 6 t0 + i, column
            # 6 t1 + j lands at [BAND + row − column, column].
            i, j = np.nonzero(np.ones((6, 6), bool) if offset else np.triu(np.ones((6, 6), bool)))
            rows, cols = 6 * t0[:, None] + i, 6 * t1[:, None] + j  # [T − offset, entries]
            band[BAND + rows - cols, cols] += blocks[:, i, j]


def _block_band(blocks: np.ndarray) -> np.ndarray:
    """Upper band storage (``[BAND + 1, 6T]``) of the block-diagonal matrix of ``[T, 6, 6]``."""
    frames = len(blocks)
    band = np.zeros((BAND + 1, 6 * frames))
    for i in range(6):
        for j in range(i, 6):
            band[BAND + i - j, 6 * np.arange(frames) + j] = blocks[:, i, j]
    return band


def _second_difference_transpose(values: np.ndarray) -> np.ndarray:
    """``Dᵀ @ values`` for second differences ``values`` ``[T−2, C]``: ``[T, C]``."""
    out = np.zeros((len(values) + 2, values.shape[1]))
    out[:-2] += values
    out[1:-1] -= 2.0 * values
    out[2:] += values
    return out


def _weighted_dtd(weight: np.ndarray) -> np.ndarray:
    """``[3, T, C]``: the bands (frame offsets 0, 1, 2) of ``Dᵀ W D`` per component, for the
    weights ``[T−2, C]`` of the second differences (each spans frames a, a+1, a+2 with 1, −2, 1)."""
    count = len(weight) + 2
    bands = np.zeros((3, count, weight.shape[1]))
    bands[0, :-2] += weight
    bands[0, 1:-1] += 4.0 * weight
    bands[0, 2:] += weight
    bands[1, :-2] -= 2.0 * weight
    bands[1, 1:-1] -= 2.0 * weight
    bands[2, :-2] += weight
    return bands


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cross products of ``[M, 3]`` arrays (faster than ``np.cross`` here)."""
    return np.column_stack(
        [
            a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1],
            a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2],
            a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0],
        ]
    )


def _rotate(rotations: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``[M, 3]``: each of ``points`` ``[M, 3]`` rotated by its ``[M, 3, 3]`` rotation."""
    return (
        rotations[:, :, 0] * points[:, 0:1]
        + rotations[:, :, 1] * points[:, 1:2]
        + rotations[:, :, 2] * points[:, 2:3]
    )
