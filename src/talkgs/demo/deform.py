"""Face deformation of the demo: how the landmarks move when the jaw opens and the eyes blink.

Everything here is in source photo pixels, before the head motion. The deformation is linear in
its two controls, so it is stored as two displacement fields over the landmarks:

``deformed = rest + mouth_open_px * per_mouth_px + blink * per_blink``

with ``mouth_open_px`` the growth of the gap between the inner lips at the mouth's centre line and
``blink`` in [0, 1] (1 = lids shut).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from talkgs.demo.portrait import (
    EYES,
    INNER_LIP_LOWER,
    INNER_LIP_UPPER,
    IRISES,
    MOUTH_CORNERS,
    SUBNASALE,
    EyeContour,
)

# A fully open mouth (mouth_open = 1) widens the gap between the inner lips by this share of
# the mouth width; of that, the lower lip and jaw travel JAW_SHARE down and the upper lip the
# rest up.
MOUTH_OPEN_MAX_SHARE = 0.35
JAW_SHARE = 0.8
# A shut upper lid meets the lower lid this far (as a share of the lid gap) above the lower lid.
LID_MEETING_SHARE = 0.2


@dataclass(frozen=True)
class FaceRig:
    rest: np.ndarray  # [478, 2] source pixels
    per_mouth_px: np.ndarray  # [478, 2] displacement per pixel of mouth opening
    per_blink: np.ndarray  # [478, 2] displacement of a full blink

    def deform(self, mouth_open_px: float, blink: float) -> np.ndarray:
        """``[478, 2]`` deformed landmarks, source pixels."""
        return self.rest + mouth_open_px * self.per_mouth_px + blink * self.per_blink


def build_rig(rest: np.ndarray) -> FaceRig:
    return FaceRig(rest, mouth_displacement(rest), blink_displacement(rest))


def face_axes(rest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors (across, down) of the face: along the eye line, and normal to it."""
    right_eye, left_eye = (rest[list(eye.upper + eye.lower)].mean(axis=0) for eye in EYES)
    across = (left_eye - right_eye) / np.linalg.norm(left_eye - right_eye)
    down = np.array([-across[1], across[0]])  # across rotated by +90° in image axes (y down)
    return across, down


def mouth_width_px(rest: np.ndarray) -> float:
    """Distance between the outer mouth corners, the scale of the mouth opening."""
    return float(np.linalg.norm(rest[MOUTH_CORNERS[1]] - rest[MOUTH_CORNERS[0]]))


def mouth_displacement(rest: np.ndarray) -> np.ndarray:
    """``[478, 2]`` motion of each landmark per pixel of mouth opening.

    In face axes centred between the mouth corners, ``u`` across and ``s`` down from the mouth's
    midline (halfway between the inner lips): points below the midline ride on the jaw and move
    down, by JAW_SHARE at the centre line and less towards the sides, and the lateral reach grows
    from the mouth corners (which stay put) at lip level to the whole chin further down. Points
    above the midline move up by the rest of the opening, on the upper lip only, fading out
    before the base of the nose.
    """
    axes = face_axes(rest)
    left_corner, right_corner = rest[INNER_LIP_UPPER[0]], rest[INNER_LIP_UPPER[-1]]
    centre = 0.5 * (left_corner + right_corner)
    half_width = 0.5 * float(np.linalg.norm(right_corner - left_corner))
    u, s = _mouth_coordinates(rest, rest, centre, axes)

    reach = half_width * (1.0 + 1.2 * np.clip(s / (1.2 * half_width), 0.0, 1.0))
    jaw = np.where(s > 0.0, np.clip(1.0 - (u / reach) ** 2, 0.0, 1.0), 0.0)

    _, nose_s = _mouth_coordinates(rest[[SUBNASALE]], rest, centre, axes)  # negative: above
    upper_lip_fade = np.clip((s - nose_s[0]) / (0.5 * abs(nose_s[0])), 0.0, 1.0)
    upper_lip = np.clip(1.0 - (u / half_width) ** 2, 0.0, 1.0) * upper_lip_fade
    upper = np.where(s <= 0.0, upper_lip, 0.0)

    share = JAW_SHARE * jaw - (1.0 - JAW_SHARE) * upper  # [478], positive: down
    return share[:, None] * axes[1][None, :]


def _mouth_coordinates(
    points: np.ndarray, rest: np.ndarray, centre: np.ndarray, axes: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """``(u, s)`` of `points` ``[N, 2]``: across from `centre`, and down from the mouth's midline
    (halfway between the inner lips of `rest`; flat at the corners' depth beyond them)."""
    across, down = axes
    middle = 0.5 * (rest[list(INNER_LIP_UPPER)] + rest[list(INNER_LIP_LOWER)]) - centre
    mid_u, mid_s = middle @ across, middle @ down
    order = np.argsort(mid_u)
    u = (points - centre) @ across
    return u, (points - centre) @ down - np.interp(u, mid_u[order], mid_s[order])


def blink_displacement(rest: np.ndarray) -> np.ndarray:
    """``[478, 2]`` motion of each landmark in a full blink, for both eyes.

    The upper lid margin comes down to meet the lower one, which rises a little; the skin above
    the upper lid follows, fading out within about one eye height so the brow stays put, and the
    skin just under the lower lid follows it the same way over a shorter reach.
    """
    across, down = face_axes(rest)
    displacement = np.zeros_like(rest)
    for eye in EYES:
        displacement += _one_eye_blink(rest, eye, across, down)
    displacement[list(IRISES)] = 0.0  # the eyeballs stay; the lids close over them
    return displacement


def _one_eye_blink(
    rest: np.ndarray, eye: EyeContour, across: np.ndarray, down: np.ndarray
) -> np.ndarray:
    upper, lower = rest[list(eye.upper)], rest[list(eye.lower)]
    corners = upper[[0, -1]]
    centre = corners.mean(axis=0)
    half_width = 0.5 * float(np.linalg.norm(corners[1] - corners[0]))

    def lid_depth(points: np.ndarray, u: np.ndarray) -> np.ndarray:
        pu, ps = (points - centre) @ across, (points - centre) @ down
        order = np.argsort(pu)
        return np.interp(u, pu[order], ps[order])

    u = (rest - centre) @ across
    s = (rest - centre) @ down
    upper_s, lower_s = lid_depth(upper, u), lid_depth(lower, u)
    gap = np.clip(lower_s - upper_s, 0.0, None) * (np.abs(u) < half_width)
    eye_height = float(gap.max()) if gap.any() else 1.0
    upper_travel = (1.0 - LID_MEETING_SHARE) * gap
    lower_travel = -LID_MEETING_SHARE * gap

    above = np.clip(1.0 - (upper_s - s) / (1.2 * eye_height), 0.0, 1.0) * (s <= upper_s + 0.01)
    below = np.clip(1.0 - (s - lower_s) / (0.8 * eye_height), 0.0, 1.0) * (s >= lower_s - 0.01)
    inside = (s > upper_s + 0.01) & (s < lower_s - 0.01)  # none but the irises, which stay
    travel = upper_travel * above + lower_travel * below
    travel = np.where(inside, 0.0, travel)
    return travel[:, None] * down[None, :]
