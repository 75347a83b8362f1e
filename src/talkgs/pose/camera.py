"""The pinhole camera of the pose stage, and the rotation arithmetic every pose module shares.

Conventions, stated once for the whole ``talkgs.pose`` package:

- Pixels: x right, y down, pixel centres at integer coordinates, in the ingested frame.
- Camera: OpenCV axes (x right, y down, z forward, into the scene); one focal length ``focal``
  (pixels) per identity; the principal point is the frame centre ``(W / 2, H / 2)``, because
  TalkingGaussian infers the image size from it (ANCHORS.md).
- Head: a rigid frame fixed to the skull (:mod:`talkgs.pose.shape`): x towards the image's right
  when the face is frontal, y down, z away from the camera; origin at the centre of the face's
  rigid landmarks; units "head units", in which the face's width is
  :data:`talkgs.pose.shape.FACE_WIDTH` (0.14, about metres).
- Pose: camera-from-head, ``X_cam = R @ X_head + t``; rotations are stored as ``[T, 3, 3]``
  matrices, and moved as rotation vectors (axis × angle, radians) while optimising.
- Euler angles (for people and plots): ``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)``, the convention of
  the demo's ``truth.json``.
"""

from __future__ import annotations

import numpy as np

from talkgs.camera import Camera


def skew(v: np.ndarray) -> np.ndarray:
    """``[..., 3]`` vectors → ``[..., 3, 3]`` cross-product matrices ``[v]×``."""
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    zero = np.zeros_like(x)
    return np.stack(
        [
            np.stack([zero, -z, y], axis=-1),
            np.stack([z, zero, -x], axis=-1),
            np.stack([-y, x, zero], axis=-1),
        ],
        axis=-2,
    )


def exp_so3(rotvec: np.ndarray) -> np.ndarray:
    """Rodrigues: ``[..., 3]`` rotation vectors (radians) → ``[..., 3, 3]`` rotation matrices."""
    angle = np.linalg.norm(rotvec, axis=-1)[..., None, None]
    k = skew(rotvec)
    small = angle < 1e-8
    safe = np.where(small, 1.0, angle)
    a = np.where(small, 1.0 - angle**2 / 6.0, np.sin(safe) / safe)
    b = np.where(small, 0.5 - angle**2 / 24.0, (1.0 - np.cos(safe)) / safe**2)
    return np.eye(3) + a * k + b * (k @ k)


def log_so3(rotation: np.ndarray) -> np.ndarray:
    """``[..., 3, 3]`` rotation matrices → ``[..., 3]`` rotation vectors (angles in [0, π))."""
    cos = np.clip((np.trace(rotation, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0)
    angle = np.arccos(cos)[..., None]
    axis = np.stack(
        [
            rotation[..., 2, 1] - rotation[..., 1, 2],
            rotation[..., 0, 2] - rotation[..., 2, 0],
            rotation[..., 1, 0] - rotation[..., 0, 1],
        ],
        axis=-1,
    )
    sin = np.sin(angle)
    # Head rotations stay far from π, where this formula loses precision.
    scale = np.where(angle < 1e-8, 0.5, angle / (2.0 * np.where(angle < 1e-8, 1.0, sin)))
    return axis * scale


def project_to_rotation(matrix: np.ndarray) -> np.ndarray:
    """The rotation nearest to ``[..., 3, 3]`` ``matrix`` (SVD), for averaging rotations."""
    u, _, vt = np.linalg.svd(matrix)
    d = np.sign(np.linalg.det(u @ vt))
    u = u.copy()
    u[..., :, 2] *= d[..., None]
    return u @ vt


def euler_from_rotation(rotation: np.ndarray) -> np.ndarray:
    """``[..., 3, 3]`` → ``[..., 3]`` (yaw, pitch, roll), degrees, of
    ``R = Rz(roll) Ry(yaw) Rx(pitch)``.

    Seen in the image: positive yaw turns the face towards the image's left, positive pitch tilts
    it down, positive roll turns it clockwise (as in the demo's truth.json).
    """
    yaw = np.arcsin(np.clip(-rotation[..., 2, 0], -1.0, 1.0))
    pitch = np.arctan2(rotation[..., 2, 1], rotation[..., 2, 2])
    roll = np.arctan2(rotation[..., 1, 0], rotation[..., 0, 0])
    return np.degrees(np.stack([yaw, pitch, roll], axis=-1))


def project(points_cam: np.ndarray, camera: Camera) -> np.ndarray:
    """``[..., 3]`` camera-frame points → ``[..., 2]`` pixels."""
    z = points_cam[..., 2:3]
    return camera.focal * points_cam[..., :2] / z + np.array([camera.cx, camera.cy])


def angular_jitter(rotations: np.ndarray) -> float:
    """Mean frame-to-frame angular acceleration of ``[T, 3, 3]`` rotations, degrees/frame².

    The angular velocity of frame t is the rotation vector of ``R[t+1] R[t]^T`` (degrees per
    frame, camera axes); the jitter is the mean norm of its change from one frame to the next.
    A smooth head motion has a small one; tracking noise raises it.
    """
    if len(rotations) < 3:
        return 0.0
    velocity = log_so3(rotations[1:] @ np.swapaxes(rotations[:-1], -1, -2))
    return float(np.degrees(np.linalg.norm(np.diff(velocity, axis=0), axis=-1)).mean())


def left_jacobian_inverse(rotvec: np.ndarray) -> np.ndarray:
    """``[..., 3, 3]``: d log(exp(δ) exp(φ)) / dδ at δ = 0, for rotation vectors ``[..., 3]``."""
    angle = np.linalg.norm(rotvec, axis=-1)[..., None, None]
    k = skew(rotvec)
    small = angle < 1e-4
    safe = np.where(small, 1.0, angle)
    coefficient = np.where(
        small,
        1.0 / 12.0,
        1.0 / safe**2 - (1.0 + np.cos(safe)) / (2.0 * safe * np.sin(safe)),
    )
    return np.eye(3) - 0.5 * k + coefficient * (k @ k)
