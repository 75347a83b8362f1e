"""The densifier: gsplat's DefaultStrategy with TalkingGaussian's pruning rules, an opacity reset
that happens, and statistics gathered without host synchronisation."""

from __future__ import annotations

import math

import torch
from gsplat.strategy import DefaultStrategy

from talkgs.splat import rasterize
from talkgs.splat.agreement import GAUSSIAN_KEYS, random_scene
from talkgs.train.densify import NEVER, Densifier

SIZE = 48


def scene_params(count: int = 200, seed: int = 0) -> torch.nn.ParameterDict:
    """Gaussians in gsplat's parameter form (log scales, logit opacities)."""
    scene = random_scene(count, SIZE, seed, "cpu")
    return torch.nn.ParameterDict(
        {
            "means": scene["means"],
            "quats": scene["quats"],
            "scales": torch.log(scene["scales"]),
            "opacities": torch.logit(scene["opacities"]),
            "colors": scene["colors"],
        }
    )


def render_and_backward(params: torch.nn.ParameterDict) -> dict:
    scene = random_scene(1, SIZE, 0, "cpu")
    result = rasterize(
        params["means"],
        params["quats"],
        torch.exp(params["scales"]),
        torch.sigmoid(params["opacities"]),
        params["colors"],
        scene["viewmat"],
        scene["K"],
        SIZE,
        SIZE,
        backend="torch",
    )
    (result.image.sum() + result.alpha.sum()).backward()
    return result.info


def adams(params: torch.nn.ParameterDict) -> dict[str, torch.optim.Optimizer]:
    return {k: torch.optim.Adam([params[k]], lr=1e-3) for k in GAUSSIAN_KEYS}


def test_statistics_without_synchronisation_equal_gsplats() -> None:
    params = scene_params()
    with torch.no_grad():
        params["means"][:20, 2] = -3.0  # behind the camera: culled, no statistics
    info = render_and_backward(params)
    ours = Densifier(prune_scale2d=0.05)
    theirs = DefaultStrategy(refine_scale2d_stop_iter=1)  # makes gsplat track radii too
    our_state, their_state = ours.initialize_state(), theirs.initialize_state()
    for _ in range(2):  # accumulate twice
        ours._update_state(params, our_state, info)
        theirs._update_state(params, their_state, info)
    assert float(our_state["count"].max()) == 2.0 and float(our_state["count"].min()) == 0.0
    for key in ("grad2d", "count", "radii"):
        assert torch.allclose(our_state[key], their_state[key], rtol=1e-5, atol=1e-9), key


def test_opacity_reset_happens_at_its_period() -> None:
    params = scene_params()
    with torch.no_grad():
        params["opacities"][:] = torch.logit(torch.tensor(0.9))
    optimizers = adams(params)
    densifier = Densifier(
        refine_start_iter=NEVER, refine_stop_iter=100, reset_every=NEVER,
        opacity_reset_every=4, prune_opa=0.05,
    )  # fmt: skip
    state = densifier.initialize_state()
    for step in (1, 2, 3):
        info = render_and_backward(params)
        densifier.step_post_backward(params, optimizers, state, step, info)
        assert torch.allclose(torch.sigmoid(params["opacities"]), torch.tensor(0.9))
    info = render_and_backward(params)
    densifier.step_post_backward(params, optimizers, state, 4, info)
    assert float(torch.sigmoid(params["opacities"].detach()).max()) <= 0.1 + 1e-6  # 2 × prune_opa

    # why talkgs resets itself: the pinned gsplat never does (`% … == 0 & step > 0`)
    params = scene_params()
    with torch.no_grad():
        params["opacities"][:] = torch.logit(torch.tensor(0.9))
    gsplat_own = DefaultStrategy(refine_start_iter=NEVER, refine_stop_iter=100, reset_every=4)
    gsplat_state = gsplat_own.initialize_state()
    info = render_and_backward(params)
    gsplat_own.step_post_backward(params, adams(params), gsplat_state, 4, info)
    assert torch.allclose(torch.sigmoid(params["opacities"]), torch.tensor(0.9))


def test_prune_opacity_rises_and_size_limits_start_late() -> None:
    densifier = Densifier(prune_opa=0.05, prune_opa_final=0.30, refine_stop_iter=200)
    assert math.isclose(densifier.prune_threshold(0), 0.05)
    assert math.isclose(densifier.prune_threshold(100), 0.175)
    assert math.isclose(densifier.prune_threshold(400), 0.30)

    def pruned(step: int, prune_big_from: int) -> int:
        params = scene_params(count=50, seed=3)
        with torch.no_grad():
            params["opacities"][:] = torch.logit(torch.tensor(0.5))
            params["opacities"][0] = torch.logit(torch.tensor(0.1))  # faint
            params["scales"][1] = math.log(2.0)  # huge: covers the image
        info = render_and_backward(params)
        densifier = Densifier(
            prune_opa=0.05, prune_opa_final=0.30, refine_stop_iter=200, refine_every=1,
            refine_start_iter=0, grow_grad2d=1e9, reset_every=NEVER,
            prune_big_from=prune_big_from, prune_scale3d=100.0, prune_scale2d=0.5,
        )  # fmt: skip
        state = densifier.initialize_state()
        densifier.step_post_backward(params, adams(params), state, step, info)
        return 50 - len(params["means"])

    assert pruned(step=10, prune_big_from=1000) == 0  # 0.1 is above 0.05 + 0.25 · 10/200
    assert pruned(step=100, prune_big_from=1000) == 1  # … and below 0.175: the faint one goes
    assert pruned(step=100, prune_big_from=50) == 2  # after prune_big_from the huge one too
