"""Benchmark: the Gaussian renderer (talkgs.splat).

Usage: python tests/benchmarks/splat.py [--threads 1] [--repeats 10]
Times forward and forward+backward of the PyTorch backend on one CPU thread for 2 000 and
10 000 Gaussians at 128² and 2 000 at 256² (8-px and 4-px tiles), and, where CUDA and gsplat
work, the gsplat backend's frames/s at 512² with 100 000 Gaussians. Prints one JSON object per
case. The scene: Gaussians spread over the view at depth 2–3 with footprints of 1–3 px (σ),
random orientations, opacities 0.2–0.9; the loss is the mean of the image and the alpha.
Milliseconds are CPU time of this process (robust on a shared machine) and wall time; the
load average is printed so that a busy machine shows.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time

import torch

from talkgs.splat import gsplat_available, rasterize


def scene(n: int, size: int, device: str = "cpu", seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    focal = float(size)
    depth = 2.0 + torch.rand(n, generator=g)
    xy = (torch.rand(n, 2, generator=g) - 0.5) * depth[:, None] * 1.05
    sigma_px = torch.exp(math.log(1.0) + torch.rand(n, 3, generator=g) * math.log(3.0))
    tensors = {
        "means": torch.cat([xy, depth[:, None]], dim=-1),
        "quats": torch.randn(n, 4, generator=g),
        "scales": sigma_px * depth[:, None] / focal,
        "opacities": 0.2 + 0.7 * torch.rand(n, generator=g),
        "colors": torch.rand(n, 3, generator=g),
        "viewmat": torch.eye(4),
        "K": torch.tensor([[focal, 0.0, size / 2], [0.0, focal, size / 2], [0.0, 0.0, 1.0]]),
    }
    return {k: v.to(device) for k, v in tensors.items()}


def time_torch(n: int, size: int, tile_size: int, repeats: int) -> dict:
    tensors = scene(n, size)
    trainable = ("means", "quats", "scales", "opacities", "colors")
    for k in trainable:
        tensors[k].requires_grad_(True)

    def forward() -> torch.Tensor:
        r = rasterize(**tensors, width=size, height=size, backend="torch", tile_size=tile_size)
        return r.image.mean() + r.alpha.mean()

    def forward_backward() -> None:
        forward().backward()
        for k in trainable:
            tensors[k].grad = None

    forward_backward()  # warm-up
    timings = {}
    for name, fn in (("forward", forward), ("forward_backward", forward_backward)):
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(repeats):
            fn()
        timings[f"{name}_cpu_ms"] = round((time.process_time() - cpu) * 1000 / repeats, 1)
        timings[f"{name}_wall_ms"] = round((time.perf_counter() - wall) * 1000 / repeats, 1)
    return {"backend": "torch", "gaussians": n, "size": size, "tile_size": tile_size, **timings}


def time_gsplat(n: int, size: int, repeats: int) -> dict:
    tensors = scene(n, size, device="cuda")
    with torch.no_grad():
        for _ in range(3):
            rasterize(**tensors, width=size, height=size, backend="gsplat")
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(repeats):
            rasterize(**tensors, width=size, height=size, backend="gsplat")
        torch.cuda.synchronize()
        seconds = (time.perf_counter() - start) / repeats
    return {"backend": "gsplat", "gaussians": n, "size": size, "fps": round(1.0 / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    machine = {
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
        "threads": args.threads,
    }
    for n, size in ((2000, 128), (10000, 128), (2000, 256)):
        for tile_size in (8, 4):
            result = time_torch(n, size, tile_size, args.repeats)
            print(json.dumps({**result, **machine, "load_avg": os.getloadavg()[0]}))
    if gsplat_available():
        print(
            json.dumps({**time_gsplat(100_000, 512, 100), "device": torch.cuda.get_device_name()})
        )


if __name__ == "__main__":
    main()
