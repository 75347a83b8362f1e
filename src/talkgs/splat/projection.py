"""EWA projection of 3D Gaussians into one pinhole camera, exactly as gsplat 1.5.3 does it.

Conventions, stated once for the whole ``talkgs.splat`` package (they are gsplat's):

- Camera: ``viewmat`` is world-to-camera, OpenCV axes (x right, y down, z forward); ``K`` is the
  3×3 pinhole matrix in pixels (skew ignored); pixel ``(x, y)`` has its centre at
  ``(x + 0.5, y + 0.5)``. (:mod:`talkgs.pose` puts pixel centres at integers: add 0.5 to its
  principal point to render through this convention.)
- Gaussians: ``quats`` wxyz (normalised here), ``scales`` linear, ``opacities`` in (0, 1).
- 2D covariance: ``J Σ_cam Jᵀ`` with the perspective Jacobian ``J`` evaluated at a mean whose
  ``x/z`` and ``y/z`` are clamped to 1.3 × the field of view (gsplat's guard against huge
  Jacobians at the image border), plus :data:`EPS2D` px² on the diagonal.
- Radii (for binning only): ``ceil(extend · σ_x)``, ``ceil(extend · σ_y)`` with
  ``extend = min(3.33, sqrt(2 ln(opacity / ALPHA_THRESHOLD)))``, gsplat's opacity-aware box:
  outside it a Gaussian's alpha is below the threshold, so the box is a tight bound and the
  image does not depend on how pixels are binned.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

EPS2D = 0.3  # px² added to the 2D covariance diagonal (gsplat's eps2d, "classic" mode)
ALPHA_THRESHOLD = 1.0 / 255.0  # alphas below this are skipped
MAX_EXTEND = 3.33  # the radius in standard deviations when opacity does not shrink it


@dataclass
class Projection:
    """One camera's view of N Gaussians; entries with ``radii == 0`` are culled and hold
    meaningless (finite) values."""

    means2d: Tensor  # [N, 2] pixels
    conics: Tensor  # [N, 3] inverse 2D covariance (xx, xy, yy)
    depths: Tensor  # [N] camera z
    radii: Tensor  # [N, 2] int32, 0 for culled Gaussians
    covars2d: Tensor  # [N, 2, 2] 2D covariance including EPS2D

    @property
    def visible(self) -> Tensor:
        """[N] bool: Gaussians that reach the image."""
        return (self.radii > 0).all(dim=-1)


def quat_to_rotmat(quats: Tensor) -> Tensor:
    """``[..., 4]`` wxyz quaternions (any norm) → ``[..., 3, 3]`` rotation matrices."""
    w, x, y, z = torch.unbind(F.normalize(quats, dim=-1), dim=-1)  # gsplat's normalisation
    rows = [
        1 - 2 * (y * y + z * z),
        2 * (x * y - w * z),
        2 * (x * z + w * y),
        2 * (x * y + w * z),
        1 - 2 * (x * x + z * z),
        2 * (y * z - w * x),
        2 * (x * z - w * y),
        2 * (y * z + w * x),
        1 - 2 * (x * x + y * y),
    ]
    return torch.stack(rows, dim=-1).reshape((*quats.shape[:-1], 3, 3))


def covariance3d(quats: Tensor, scales: Tensor) -> Tensor:
    """``R S Sᵀ Rᵀ``: ``[N, 4]`` quaternions and ``[N, 3]`` scales → ``[N, 3, 3]``."""
    rs = quat_to_rotmat(quats) * scales[..., None, :]
    return rs @ rs.transpose(-1, -2)


def project(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    viewmat: Tensor,
    K: Tensor,
    width: int,
    height: int,
    opacities: Tensor | None = None,
    near: float = 0.01,
    far: float = 1e10,
    eps2d: float = EPS2D,
) -> Projection:
    """Project ``[N, 3]`` world means with their covariances into the camera.

    With ``opacities`` the radii use gsplat's opacity-aware extend and cull Gaussians whose
    opacity is below :data:`ALPHA_THRESHOLD` (what ``gsplat.rasterization`` does); without,
    the extend is 3.33 (gsplat's ``_torch_impl._fully_fused_projection``).
    """
    rotation, translation = viewmat[:3, :3], viewmat[:3, 3]
    means_cam = means @ rotation.T + translation
    covars_cam = rotation @ covariance3d(quats, scales) @ rotation.T
    x, y, z = means_cam.unbind(-1)
    in_depth = (z >= near) & (z <= far)
    # Culled Gaussians never reach the compositor, but a zero or negative z would still put
    # inf/nan into the backward pass through the masked-out branch.
    z = torch.where(in_depth, z, torch.ones_like(z))

    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    lim_x_pos = (width - cx) / fx + 0.3 * (0.5 * width / fx)
    lim_x_neg = cx / fx + 0.3 * (0.5 * width / fx)
    lim_y_pos = (height - cy) / fy + 0.3 * (0.5 * height / fy)
    lim_y_neg = cy / fy + 0.3 * (0.5 * height / fy)
    tx = z * torch.minimum(torch.clamp(x / z, min=-lim_x_neg), lim_x_pos)
    ty = z * torch.minimum(torch.clamp(y / z, min=-lim_y_neg), lim_y_pos)
    zero = torch.zeros_like(z)
    jacobian = torch.stack(
        [fx / z, zero, -fx * tx / (z * z), zero, fy / z, -fy * ty / (z * z)], dim=-1
    ).reshape(-1, 2, 3)
    covars2d = jacobian @ covars_cam @ jacobian.transpose(-1, -2)
    covars2d = covars2d + eps2d * torch.eye(2, dtype=means.dtype, device=means.device)
    means2d = torch.stack([fx * x / z + cx, fy * y / z + cy], dim=-1)

    a, b, c = covars2d[:, 0, 0], covars2d[:, 0, 1], covars2d[:, 1, 1]
    det = a * c - b * covars2d[:, 1, 0]
    valid = in_depth & (det > 0)
    det = torch.where(valid, det, torch.ones_like(det))
    conics = torch.stack([c / det, -(b + covars2d[:, 1, 0]) / 2.0 / det, a / det], dim=-1)

    with torch.no_grad():
        extend = torch.full_like(z, MAX_EXTEND)
        if opacities is not None:
            opacity = opacities.detach()
            valid = valid & (opacity >= ALPHA_THRESHOLD)
            shrunk = torch.sqrt(2.0 * torch.log(opacity.clamp_min(ALPHA_THRESHOLD) * 255.0))
            extend = torch.minimum(extend, shrunk)
        # a det > 0 check alone lets a negative diagonal through; sqrt would then be nan
        radius = torch.ceil(extend[:, None] * torch.sqrt(torch.stack([a, c], -1).clamp_min(0)))
        centre = means2d.detach()
        inside = (
            (centre[:, 0] + radius[:, 0] > 0)
            & (centre[:, 0] - radius[:, 0] < width)
            & (centre[:, 1] + radius[:, 1] > 0)
            & (centre[:, 1] - radius[:, 1] < height)
        )
        keep = valid & inside & (radius > 0).any(dim=-1)
        radii = torch.where(keep[:, None], radius, torch.zeros_like(radius)).to(torch.int32)
    return Projection(means2d, conics, means_cam[:, 2], radii, covars2d)
