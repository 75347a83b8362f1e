"""How closely two renderer backends agree on one scene: images and gradients.

Used by ``talkgs gpu-setup`` (gsplat's fresh build against the PyTorch rasterizer), by the
check each GPU job makes before it trusts gsplat, and by ``tests/gpu/check.py`` on a trained
avatar. The PyTorch backend is the reference (it is checked against a dense renderer and by
gradcheck in ``tests/test_splat.py``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from talkgs.errors import TalkgsError
from talkgs.splat import gsplat_build
from talkgs.splat.render import rasterize

# A gsplat build is accepted when its renders are this close to the PyTorch rasterizer's.
# Not bit-exact: gsplat's kernels use fast-math exp/log, so a Gaussian whose alpha lies within
# 0.01 % of the 1/255 cutoff may count in one backend and not the other.
MIN_PSNR_DB = 45.0
MAX_GRADIENT_ERROR = 1e-2
GAUSSIAN_KEYS = ("means", "quats", "scales", "opacities", "colors")


@dataclass(frozen=True)
class Agreement:
    psnr_db: float  # of one backend's image + alpha against the other's (capped at 100)
    gradient_error: float  # max over parameters of ‖g_test − g_reference‖ / ‖g_reference‖

    @property
    def passes(self) -> bool:
        return self.psnr_db > MIN_PSNR_DB and self.gradient_error < MAX_GRADIENT_ERROR

    def describe(self) -> str:
        return f"PSNR {self.psnr_db:.1f} dB, gradient error {self.gradient_error:.2e}"


def random_scene(count: int, size: int, seed: int, device: torch.device | str) -> dict[str, Tensor]:
    """``count`` Gaussians in front of a ``size``² camera looking down +z: a small test scene
    that covers most pixels, with overlaps, varied shapes and opacities."""
    g = torch.Generator().manual_seed(seed)
    host = torch.device("cpu")  # drawn on the host: the same scene on every device
    means = (torch.rand(count, 3, generator=g, device=host) - 0.5) * 1.6
    means[:, 2] = means[:, 2] / 1.6 + 3.0
    focal = size * 1.2
    scene = {
        "means": means,
        "quats": torch.randn(count, 4, generator=g, device=host),
        "scales": torch.rand(count, 3, generator=g, device=host) * 0.08 + 0.01,
        "opacities": torch.rand(count, generator=g, device=host) * 0.9 + 0.05,
        "colors": torch.rand(count, 3, generator=g, device=host),
        "viewmat": torch.eye(4, device=host),
        "K": torch.tensor([[focal, 0, size / 2], [0, focal, size / 2], [0, 0, 1.0]], device=host),
    }
    return {k: v.to(device) for k, v in scene.items()}


def backend_agreement(
    scene: dict[str, Tensor],
    width: int,
    height: int,
    test: str = "gsplat",
    reference: str = "torch",
) -> Agreement:
    """Render ``scene`` (the :func:`random_scene` keys) with both backends and compare the
    image, the alpha and the gradients of a loss that mixes them."""
    outputs: dict[str, tuple[Tensor, dict[str, Tensor]]] = {}
    for backend in (reference, test):
        params = {k: scene[k].detach().clone().requires_grad_(True) for k in GAUSSIAN_KEYS}
        result = rasterize(
            *(params[k] for k in GAUSSIAN_KEYS),
            scene["viewmat"],
            scene["K"],
            width,
            height,
            backend=backend,
            tile_size=16,
        )
        channels = result.image.shape[-1] + 1
        weights = torch.linspace(0.5, 1.5, channels, device=result.image.device)
        loss = (result.image * weights[:-1]).sum() + (result.alpha * weights[-1]).sum()
        loss.backward()
        rendered = torch.cat([result.image, result.alpha], -1).detach()
        outputs[backend] = (rendered, {k: p.grad for k, p in params.items() if p.grad is not None})
    (ours, our_grads), (theirs, their_grads) = outputs[test], outputs[reference]
    mse = float(((ours - theirs) ** 2).mean())
    psnr = 100.0 if mse <= 1e-10 else min(100.0, -10 * math.log10(mse))
    error = 0.0
    for key, reference_grad in their_grads.items():
        norm = float(reference_grad.norm())
        if norm > 0:
            error = max(error, float((our_grads[key] - reference_grad).norm()) / norm)
    return Agreement(psnr, error)


@functools.cache
def gsplat_problem() -> str | None:
    """None when gsplat's kernels load here and render what the PyTorch rasterizer renders;
    otherwise the reason, in words."""
    if not torch.cuda.is_available():
        return "no CUDA device is visible"
    try:
        gsplat_build.load()
    except TalkgsError as error:
        return str(error)
    except Exception as error:  # a broken .so raises anything from OSError to RuntimeError
        return f"gsplat's kernels do not load ({type(error).__name__}: {error})"
    try:
        agreement = backend_agreement(random_scene(300, 64, 0, "cuda"), 64, 64)
    except Exception as error:
        return f"gsplat fails to render ({type(error).__name__}: {str(error).splitlines()[0]})"
    if not agreement.passes:
        return f"gsplat renders differently from the PyTorch rasterizer ({agreement.describe()})"
    return None


def gsplat_available() -> bool:
    """Whether gsplat's CUDA kernels load here (from this environment's ``talkgs gpu-setup``
    build, never compiling) and render what the PyTorch backend renders."""
    return gsplat_problem() is None


def verify_gsplat() -> Agreement:
    """A fresh build's test: a 2 000-Gaussian scene at 128² rendered by both backends."""
    return backend_agreement(random_scene(2000, 128, 0, "cuda"), 128, 128)
