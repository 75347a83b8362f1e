"""The Gaussian renderer: the PyTorch backend against a dense reference, gsplat's reference
projection, float64 gradcheck, densification with gsplat's strategy, a fit to a real photo, and
(on a CUDA machine) agreement with gsplat's kernels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor

from talkgs.errors import TalkgsError
from talkgs.splat import RenderResult, rasterize
from talkgs.splat.composite import composite
from talkgs.splat.projection import ALPHA_THRESHOLD, Projection, project
from talkgs.splat.tiles import bin_tiles

WIDTH, HEIGHT = 48, 40  # not multiples of the tile size, so partial tiles are exercised


@pytest.fixture(autouse=True)
def one_thread():
    """The renderer's many small operations gain nothing from intra-op threads and lose a lot
    to their synchronisation on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def intrinsics(width: int, height: int, focal: float, dtype: torch.dtype = torch.float32) -> Tensor:
    return torch.tensor(
        [[focal, 0.0, width / 2.0], [0.0, focal * 1.05, height / 2.0 - 1.5], [0.0, 0.0, 1.0]],
        dtype=dtype,
    )


def look_at_viewmat(dtype: torch.dtype = torch.float32) -> Tensor:
    """A world-to-camera matrix with a real rotation and translation."""
    angle = 0.3
    rotation = torch.tensor(
        [
            [math.cos(angle), 0.0, math.sin(angle)],
            [0.0, 1.0, 0.0],
            [-math.sin(angle), 0.0, math.cos(angle)],
        ],
        dtype=dtype,
    )
    viewmat = torch.eye(4, dtype=dtype)
    viewmat[:3, :3] = rotation
    viewmat[:3, 3] = torch.tensor([0.1, -0.05, 0.4], dtype=dtype)
    return viewmat


def random_scene(n: int, seed: int, dtype: torch.dtype = torch.float32) -> dict[str, Tensor]:
    """Gaussians in front of the camera of :func:`look_at_viewmat` with mixed sizes, a few very
    opaque (to reach the early stop), a few nearly transparent, some behind the camera and some
    beside the image."""
    g = torch.Generator().manual_seed(seed)
    viewmat = look_at_viewmat(torch.float64)
    cam = torch.stack(
        [
            (torch.rand(n, generator=g, dtype=torch.float64) - 0.5) * 1.6,
            (torch.rand(n, generator=g, dtype=torch.float64) - 0.5) * 1.4,
            1.5 + 2.5 * torch.rand(n, generator=g, dtype=torch.float64),
        ],
        dim=-1,
    )
    cam[: n // 20, 2] = -cam[: n // 20, 2]  # behind the camera
    cam[n // 20 : n // 10, 0] += 4.0  # beside the image
    rotation, translation = viewmat[:3, :3], viewmat[:3, 3]
    means = (cam - translation) @ rotation  # world = Rᵀ (cam − t)
    opacities = 0.05 + 0.9 * torch.rand(n, generator=g, dtype=torch.float64)
    opaque = slice(n // 10, n // 10 + n // 8)
    opacities[opaque] = 0.9995
    opacities[-3:] = torch.tensor([0.002, 0.0035, 0.0045], dtype=torch.float64)
    scales = torch.exp(torch.randn(n, 3, generator=g, dtype=torch.float64) * 0.7 - 3.4)
    scales[opaque] *= 3.0  # large enough to stack up in front of each other
    scene = {
        "means": means,
        "quats": torch.randn(n, 4, generator=g, dtype=torch.float64) * 2.0,
        "scales": scales,
        "opacities": opacities,
        "colors": torch.rand(n, 3, generator=g, dtype=torch.float64),
        "viewmat": viewmat,
        "K": intrinsics(WIDTH, HEIGHT, 40.0, torch.float64),
    }
    return {k: v.to(dtype) for k, v in scene.items()}


def dense_reference(
    proj: Projection, opacities: Tensor, colors: Tensor, width: int, height: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Every visible Gaussian at every pixel, front to back, one Gaussian at a time: gsplat's
    per-pixel loop written out. Returns image [H,W,D], alpha [H,W,1], depth [H,W,1] and which
    pixels stopped early [H,W]."""
    order = torch.nonzero(proj.visible).squeeze(1)
    order = order[torch.sort(proj.depths[order], stable=True).indices]
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=colors.dtype) + 0.5,
        torch.arange(width, dtype=colors.dtype) + 0.5,
        indexing="ij",
    )
    transmittance = torch.ones(height, width, dtype=colors.dtype)
    done = torch.zeros(height, width, dtype=torch.bool)
    features = torch.cat([colors, proj.depths[:, None]], dim=-1)
    out = torch.zeros(height, width, features.shape[1], dtype=colors.dtype)
    for i in order.tolist():
        dx, dy = proj.means2d[i, 0] - xs, proj.means2d[i, 1] - ys
        a, b, c = proj.conics[i]
        sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
        alpha = torch.clamp_max(opacities[i] * torch.exp(-sigma), 0.999)
        use = (sigma >= 0) & (alpha >= 1.0 / 255.0) & ~done
        after = transmittance * (1.0 - alpha)
        stop = use & (after <= 1e-4)
        done |= stop
        use &= ~stop
        out += torch.where(use, alpha * transmittance, 0.0)[..., None] * features[i]
        transmittance = torch.where(use, after, transmittance)
    alpha = (1.0 - transmittance)[..., None]
    return out[..., :-1], alpha, out[..., -1:] / alpha.clamp_min(1e-10), done


def render(
    scene: dict[str, Tensor], width: int = WIDTH, height: int = HEIGHT, **kw
) -> RenderResult:
    return rasterize(
        scene["means"],
        scene["quats"],
        scene["scales"],
        scene["opacities"],
        scene["colors"],
        scene["viewmat"],
        scene["K"],
        width,
        height,
        **kw,
    )


def project_scene(scene: dict[str, Tensor], width: int = WIDTH, height: int = HEIGHT):
    return project(
        scene["means"],
        scene["quats"],
        scene["scales"],
        scene["viewmat"],
        scene["K"],
        width,
        height,
        scene["opacities"],
    )


def test_torch_backend_equals_dense_reference() -> None:
    scene = random_scene(300, seed=1)
    proj = project_scene(scene)
    image, alpha, depth, stopped = dense_reference(
        proj, scene["opacities"], scene["colors"], WIDTH, HEIGHT
    )
    # the scene exercises what it should: culling, early stop and partly covered pixels
    assert 0 < int(proj.visible.sum()) < 300
    assert 0 < int(stopped.sum()) < WIDTH * HEIGHT and float(alpha.min()) < 0.5
    for tile_size in (4, 8, 16):
        result = render(scene, backend="torch", tile_size=tile_size)
        assert result.image.shape == (HEIGHT, WIDTH, 3)
        assert result.alpha.shape == result.depth.shape == (HEIGHT, WIDTH, 1)
        assert torch.max(torch.abs(result.image - image)) < 1e-5
        assert torch.max(torch.abs(result.alpha - alpha)) < 1e-5
        assert torch.max(torch.abs(result.depth - depth)) < 1e-5 * float(depth.max())


def test_binning_does_not_change_the_image() -> None:
    """Groups of any size, and tiles dropped where a Gaussian's ellipse stays below the alpha
    threshold, give the image of plain bounding-box binning in one group."""
    scene = random_scene(300, seed=2)
    proj = project_scene(scene)
    features = torch.cat([scene["colors"], proj.depths[:, None]], dim=-1)

    def composited(budget: int, cull: bool) -> tuple[int, int, Tensor]:
        ellipse = (proj.conics, scene["opacities"]) if cull else (None, None)
        bins = bin_tiles(
            proj.means2d, proj.radii, proj.depths, WIDTH, HEIGHT, 8, *ellipse, budget=budget
        )
        image, _ = composite(proj.means2d, proj.conics, scene["opacities"], features, bins)
        pairs = sum(int((group.gaussians < bins.pad).sum()) for group in bins.groups)
        return len(bins.groups), pairs, image

    groups, pairs, reference = composited(1 << 24, cull=False)
    assert groups == 1
    for budget in (1, 2000, 1 << 24):
        for cull in (False, True):
            n_groups, n_pairs, image = composited(budget, cull)
            assert torch.max(torch.abs(image - reference)) < 1e-6
            assert (n_pairs < 0.9 * pairs) if cull else (n_pairs == pairs)
            assert n_groups > 5 if budget == 1 else True


def test_projection_matches_gsplat_reference() -> None:
    from gsplat.cuda._torch_impl import _fully_fused_projection, _quat_scale_to_covar_preci

    scene = random_scene(400, seed=3, dtype=torch.float64)
    # big Gaussians beside the field of view, where gsplat clamps the Jacobian
    scene["scales"][-20:] *= 30.0
    scene["means"][-20:] = (
        torch.tensor([[3.0, 0.5, 2.0]], dtype=torch.float64) - scene["viewmat"][:3, 3]
    ) @ scene["viewmat"][:3, :3]
    covars, _ = _quat_scale_to_covar_preci(scene["quats"], scene["scales"], compute_preci=False)
    radii, means2d, depths, conics, _ = _fully_fused_projection(
        scene["means"], covars, scene["viewmat"][None], scene["K"][None], WIDTH, HEIGHT, eps2d=0.3
    )
    ours = project(
        scene["means"], scene["quats"], scene["scales"], scene["viewmat"], scene["K"], WIDTH, HEIGHT
    )
    visible = (radii[0] > 0).all(-1)
    assert torch.equal(ours.radii, radii[0])
    assert 50 < int(visible.sum()) < 400
    assert torch.allclose(ours.means2d[visible], means2d[0][visible], rtol=1e-10, atol=1e-9)
    assert torch.allclose(ours.conics[visible], conics[0][visible], rtol=1e-9, atol=1e-12)
    assert torch.allclose(ours.depths, depths[0], rtol=1e-12, atol=1e-12)
    # the clamped Gaussians are in view, so the clamp was exercised and agreed
    assert bool(visible[-20:].any())


def test_opacity_aware_radius_bounds_every_counted_pixel() -> None:
    scene = random_scene(200, seed=4, dtype=torch.float64)
    proj = project_scene(scene, 64, 64)
    plain = project(
        scene["means"], scene["quats"], scene["scales"], scene["viewmat"], scene["K"], 64, 64
    )
    assert bool((proj.radii <= plain.radii).all()) and bool((proj.radii < plain.radii).any())
    # Gaussians below the alpha threshold are culled, and only they in addition
    faint = scene["opacities"] < ALPHA_THRESHOLD
    assert not bool(proj.visible[faint].any())
    coords = torch.arange(64, dtype=torch.float64) + 0.5
    for i in torch.nonzero(proj.visible).squeeze(1).tolist():
        dx = proj.means2d[i, 0] - coords[None, :]
        dy = proj.means2d[i, 1] - coords[:, None]
        a, b, c = proj.conics[i]
        alpha = scene["opacities"][i] * torch.exp(
            -(0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy)
        )
        inside = (dx.abs() <= proj.radii[i, 0]) & (dy.abs() <= proj.radii[i, 1])
        assert bool((alpha[~inside] < ALPHA_THRESHOLD).all())


GRADCHECK_SCENES = {
    # four overlapping Gaussians of moderate opacity: every path is smooth
    "translucent": {
        "means": [[0.02, -0.03, 2.0], [-0.1, 0.06, 2.5], [0.08, 0.05, 3.0], [0.0, 0.0, 3.5]],
        "quats": [
            [1.0, 0.2, -0.1, 0.3],
            [0.9, -0.3, 0.2, 0.1],
            [1.1, 0.1, 0.4, -0.2],
            [1, 0, 0, 0],
        ],
        "scales": [[0.05, 0.03, 0.04], [0.06, 0.08, 0.05], [0.1, 0.07, 0.06], [0.2, 0.2, 0.1]],
        "opacities": [0.6, 0.7, 0.5, 0.8],
    },
    # a near Gaussian with opacity 0.9995 clamped to 0.999 at the pixel on its centre, and
    # opaque ones behind it, so that central pixels stop early (T ≤ 1e-4)
    "opaque": {
        "means": [[0.0151, -0.0192, 2.0], [0.03, -0.02, 2.6], [-0.02, 0.03, 3.0], [0.0, 0.0, 3.5]],
        "quats": [[1.0, 0.1, 0.0, 0.2], [0.9, 0.0, 0.2, 0.1], [1.0, 0.3, 0.1, -0.2], [1, 0, 0, 0]],
        "scales": [[0.2, 0.15, 0.1], [0.3, 0.25, 0.2], [0.3, 0.35, 0.2], [0.5, 0.5, 0.3]],
        "opacities": [0.9995, 0.97, 0.97, 0.9],
    },
}


def pixel_alphas(proj: Projection, opacities: Tensor, width: int, height: int) -> Tensor:
    """[N, H, W] opacity · e^(−σ) of every Gaussian at every pixel, before any cutoff."""
    centres_x = torch.arange(width, dtype=opacities.dtype) + 0.5
    centres_y = torch.arange(height, dtype=opacities.dtype) + 0.5
    dx = proj.means2d[:, 0, None, None] - centres_x[None, None, :]
    dy = proj.means2d[:, 1, None, None] - centres_y[None, :, None]
    a, b, c = (proj.conics[:, i, None, None] for i in range(3))
    sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
    return opacities[:, None, None] * torch.exp(-sigma)


@pytest.mark.parametrize("name", GRADCHECK_SCENES)
def test_gradcheck_float64(name: str) -> None:
    dtype = torch.float64
    scene = {k: torch.tensor(v, dtype=dtype) for k, v in GRADCHECK_SCENES[name].items()}
    colors = torch.tensor(
        [[0.9, 0.1, 0.2], [0.2, 0.8, 0.3], [0.1, 0.3, 0.9], [0.5, 0.5, 0.5]], dtype=dtype
    )
    viewmat = torch.eye(4, dtype=dtype)
    K = torch.tensor([[40.0, 0.0, 4.2], [0.0, 42.0, 3.9], [0.0, 0.0, 1.0]], dtype=dtype)
    inputs = [scene["means"], scene["quats"], scene["scales"], scene["opacities"], colors]

    def outputs(*params: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        r = rasterize(*params, viewmat, K, 8, 8, backend="torch", tile_size=4)
        return r.image, r.alpha, r.depth

    # no pixel near a cutoff (alpha 1/255 or 0.999, T 1e-4), where the image is not smooth
    with torch.no_grad():
        proj = project(*inputs[:3], viewmat, K, 8, 8, scene["opacities"])
        assert bool(proj.visible.all())
        order = torch.argsort(proj.depths)
        raw = pixel_alphas(proj, scene["opacities"], 8, 8)[order]
        alpha = torch.where(raw >= ALPHA_THRESHOLD, raw.clamp_max(0.999), 0.0)
        after = torch.cumprod(1 - alpha, dim=0)
        assert float(((raw - ALPHA_THRESHOLD).abs() / ALPHA_THRESHOLD).min()) > 1e-3
        assert float((raw - 0.999).abs().min()) > 1e-5
        assert float(((after - 1e-4).abs() / 1e-4).min()) > 1e-3
        assert int((raw > ALPHA_THRESHOLD).sum()) > 150  # most pixels see several Gaussians
        clamped, stopped = int((raw > 0.999).sum()), int((after[-1] <= 1e-4).sum())
        assert (clamped > 0 and stopped > 0) if name == "opaque" else (clamped == stopped == 0)
    params = [p.clone().requires_grad_(True) for p in inputs]
    assert torch.autograd.gradcheck(outputs, params, eps=1e-6, atol=1e-7, rtol=1e-5)


def test_behind_outside_and_occlusion() -> None:
    K = intrinsics(32, 32, 30.0)
    viewmat = torch.eye(4)

    def one(mean: list[float], color: list[float], opacity: float = 0.9, scale: float = 0.1):
        return {
            "means": torch.tensor([mean]),
            "quats": torch.tensor([[1.0, 0.0, 0.0, 0.0]]),
            "scales": torch.full((1, 3), scale),
            "opacities": torch.tensor([opacity]),
            "colors": torch.tensor([color]),
            "viewmat": viewmat,
            "K": K,
        }

    def join(*scenes: dict[str, Tensor]) -> dict[str, Tensor]:
        return {
            k: torch.cat([s[k] for s in scenes]) if k not in ("viewmat", "K") else scenes[0][k]
            for k in scenes[0]
        }

    for hidden in ([0.0, 0.0, -2.0], [0.0, 0.0, 0.005], [3.0, 0.0, 1.0], [0.0, -5.0, 2.0]):
        result = render(one(hidden, [1.0, 1.0, 1.0]), 32, 32, backend="torch")
        assert float(result.alpha.abs().max()) == 0.0 and float(result.image.abs().max()) == 0.0

    red_near = one([0.0, 0.0, 2.0], [1.0, 0.0, 0.0], opacity=0.9995, scale=0.25)
    green_far = one([0.05, 0.05, 4.0], [0.0, 1.0, 0.0], opacity=0.9995, scale=2.0)
    red_alone = render(red_near, 32, 32, backend="torch")
    green_alone = render(green_far, 32, 32, backend="torch")
    covered, clear = red_alone.alpha[..., 0] > 0.9, red_alone.alpha[..., 0] == 0
    assert int(covered.sum()) >= 5 and int(clear.sum()) > 100
    for scene in (join(red_near, green_far), join(green_far, red_near)):  # input order irrelevant
        result = render(scene, 32, 32, backend="torch")
        assert float(result.alpha.min()) >= 0.0 and float(result.alpha.max()) <= 1.0
        # the near red one is composited first, untouched by the green one behind it
        assert torch.allclose(result.image[..., 0], red_alone.image[..., 0], atol=1e-6)
        assert bool((result.image[..., 1] <= 1.0 - red_alone.alpha[..., 0] + 1e-6).all())
        rgb = result.image[covered]
        assert bool((rgb[:, 0] > 0.9).all()) and float(rgb[:, 1].max()) < 0.1
        # around the red one, the green one shows
        assert torch.allclose(result.image[clear], green_alone.image[clear], atol=1e-6)
        assert float(result.image[clear][:, 1].max()) > 0.5
        assert float(result.depth[covered].max()) < 2.5


def test_backend_errors() -> None:
    scene = random_scene(10, seed=5)
    with pytest.raises(TalkgsError, match="not one of"):
        render(scene, backend="cuda")
    if not torch.cuda.is_available():
        with pytest.raises(TalkgsError, match="needs CUDA"):
            render(scene, backend="gsplat")
        assert torch.equal(render(scene).image, render(scene, backend="torch").image)
    with pytest.raises(ValueError, match="opacities"):
        rasterize(
            scene["means"],
            scene["quats"],
            scene["scales"],
            scene["opacities"][:, None],
            scene["colors"],
            scene["viewmat"],
            scene["K"],
            WIDTH,
            HEIGHT,
        )


def astronaut_crop(size: int) -> Tensor:
    from skimage import data

    # the face: a textured, real target
    face = data.astronaut()[30 : 30 + 4 * size, 170 : 170 + 4 * size].astype(np.float32) / 255.0
    face = torch.from_numpy(face).permute(2, 0, 1)[None]
    return torch.nn.functional.avg_pool2d(face, 4)[0].permute(1, 2, 0).contiguous()


def plane_of_gaussians(n_side: int, size: int, seed: int) -> dict[str, torch.nn.Parameter]:
    """n_side² Gaussians on a grid across the image plane z = 1 (focal = size, so 1 unit of x
    is ``size`` pixels); parameters as a trainer stores them (log scales, logit opacities)."""
    g = torch.Generator().manual_seed(seed)
    grid = (torch.arange(n_side) + 0.5) / n_side - 0.5
    ys, xs = torch.meshgrid(grid, grid, indexing="ij")
    means = torch.stack([xs.flatten(), ys.flatten(), torch.ones(n_side * n_side)], -1)
    means = means + torch.randn(means.shape, generator=g) * 0.01
    n = len(means)
    return {
        "means": torch.nn.Parameter(means),
        "scales": torch.nn.Parameter(torch.full((n, 3), math.log(1.0 / n_side))),
        "quats": torch.nn.Parameter(torch.tensor([[1.0, 0.0, 0.0, 0.0]]).repeat(n, 1)),
        "opacities": torch.nn.Parameter(torch.full((n,), 0.5)),
        "colors": torch.nn.Parameter(torch.randn(n, 3, generator=g) * 0.1),
    }


def render_params(params: dict[str, Tensor], size: int) -> RenderResult:
    K = torch.tensor([[float(size), 0.0, size / 2.0], [0.0, float(size), size / 2.0], [0, 0, 1.0]])
    return rasterize(
        params["means"],
        params["quats"],
        torch.exp(params["scales"]),
        torch.sigmoid(params["opacities"]),
        torch.sigmoid(params["colors"]),
        torch.eye(4),
        K,
        size,
        size,
        backend="torch",
    )


def psnr(image: Tensor, target: Tensor) -> float:
    return float(-10.0 * torch.log10(torch.mean((image - target) ** 2)))


def test_fit_real_photo() -> None:
    torch.manual_seed(0)
    size = 32
    target = astronaut_crop(size)
    params = plane_of_gaussians(22, size, seed=0)  # 484 Gaussians
    lrs = {"means": 2e-3, "scales": 2e-2, "quats": 1e-2, "opacities": 5e-2, "colors": 5e-2}
    optimizer = torch.optim.Adam([{"params": [params[k]], "lr": lr} for k, lr in lrs.items()])
    start = psnr(render_params(params, size).image.detach(), target)
    for _ in range(150):
        result = render_params(params, size)
        loss = torch.nn.functional.l1_loss(result.image, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    final = psnr(render_params(params, size).image.detach(), target)
    assert start < 15.0 and final > 25.0, (start, final)


def test_default_strategy_densifies_and_prunes() -> None:
    from gsplat.strategy import DefaultStrategy

    torch.manual_seed(0)
    size = 32
    target = astronaut_crop(size)
    params = plane_of_gaussians(8, size, seed=1)  # 64 large Gaussians: too coarse for the face
    with torch.no_grad():
        params["opacities"][:6] = -7.0  # sigmoid ≈ 0.0009 < prune_opa
    params = torch.nn.ParameterDict(params)
    optimizers = {k: torch.optim.Adam([p], lr=1e-2) for k, p in params.items()}
    strategy = DefaultStrategy(
        refine_start_iter=2,
        refine_every=5,
        refine_stop_iter=100,
        grow_grad2d=1e-5,
        grow_scale3d=0.1,
        prune_opa=0.005,
        absgrad=False,
    )
    strategy.check_sanity(params, optimizers)
    state = strategy.initialize_state(scene_scale=1.0)
    counts = [len(params["means"])]
    for step in range(16):
        result = render_params(params, size)
        info = result.info
        assert info["means2d"].shape == (1, counts[-1], 2)
        assert info["radii"].shape == (1, counts[-1], 2)
        strategy.step_pre_backward(params, optimizers, state, step, info)
        loss = torch.nn.functional.l1_loss(result.image, target)
        loss.backward()
        grad = info["means2d"].grad
        assert grad is not None and float(grad.abs().sum()) > 0
        # culled Gaussians get no gradient, as with gsplat
        assert float(grad[~(info["radii"] > 0).all(-1)].abs().sum()) == 0.0
        strategy.step_post_backward(params, optimizers, state, step, info)
        for optimizer in optimizers.values():
            optimizer.step()
            optimizer.zero_grad()
        counts.append(len(params["means"]))
    assert counts[-1] > counts[0] + 10, counts
    assert float(torch.sigmoid(params["opacities"].detach()).min()) > 0.005  # faint ones gone


@pytest.mark.skipif(not torch.cuda.is_available(), reason="gsplat's rasterizer needs CUDA")
def test_torch_backend_agrees_with_gsplat_on_cuda() -> None:
    from talkgs.splat import gsplat_available

    assert gsplat_available(), "CUDA is present but gsplat's CUDA kernels do not load"
    width, height = 128, 96
    scene = random_scene(2000, seed=6)
    scene["K"] = intrinsics(width, height, 100.0)
    scene = {k: v.cuda() for k, v in scene.items()}
    trainable = ("means", "quats", "scales", "opacities", "colors")
    params = {k: scene[k].clone().requires_grad_(True) for k in trainable}
    results = {}
    for backend in ("torch", "gsplat"):
        result = render({**scene, **params}, width, height, backend=backend)
        weights = torch.linspace(0.5, 1.5, 4, device="cuda")  # a loss mixing the outputs
        loss = (result.image * weights[:3]).sum() + (result.alpha * weights[3]).sum()
        loss.backward()
        results[backend] = (result, {k: p.grad.clone() for k, p in params.items()})
        for p in params.values():
            p.grad = None
    (ours, our_grads), (theirs, their_grads) = results["torch"], results["gsplat"]
    alpha = ours.alpha.detach()
    assert float(alpha.max()) > 0.99 and float(alpha.min()) < 0.5

    # gsplat's kernels use fast-math exp/log: a pixel where some Gaussian's alpha lies within
    # 0.01 % of the 1/255 cutoff may be counted by one backend and skipped by the other
    with torch.no_grad():
        proj = project(
            *(scene[k] for k in ("means", "quats", "scales", "viewmat", "K")),
            width,
            height,
            scene["opacities"],
        )
        raw = pixel_alphas(proj, scene["opacities"], width, height)[proj.visible]
        at_cutoff = ((raw - ALPHA_THRESHOLD).abs() < 1e-4 * ALPHA_THRESHOLD).any(0)
    assert float(at_cutoff.float().mean()) < 0.01
    clear = ~at_cutoff
    assert torch.max(torch.abs(ours.image - theirs.image)[clear]) < 1e-3
    assert torch.max(torch.abs(ours.alpha - theirs.alpha)[clear]) < 1e-3
    covered = clear & (ours.alpha[..., 0] > 0.5)
    depth_error = torch.abs(ours.depth - theirs.depth)[covered]
    assert torch.max(depth_error) < 1e-3 * float(ours.depth.max())
    radius_error = torch.abs(ours.info["radii"] - theirs.info["radii"])
    assert int(radius_error.max()) <= 1 and float((radius_error > 0).float().mean()) < 0.005
    for k in trainable:
        scale = float(their_grads[k].abs().max())
        assert torch.max(torch.abs(our_grads[k] - their_grads[k])) < 1e-2 * scale, k
