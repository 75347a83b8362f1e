"""Which device and renderer a training or render job runs on, decided once, recorded always.

``train.device`` (auto | cuda | cpu) and ``train.backend`` (auto | gsplat | torch) are requests;
:func:`decide` turns them into what runs, or refuses in one line. Nothing falls back silently:

- ``auto`` means CUDA when a GPU is visible, and on CUDA the renderer is gsplat; a job that sees
  a GPU but cannot use gsplat stops (why, and the fix) unless ``train.backend: torch`` was
  chosen explicitly;
- the ``paper`` preset on the CPU is refused (it would take days) unless
  ``train.allow_paper_on_cpu`` is set;
- every training and render summary records :meth:`Runtime.describe`: device, its name,
  renderer, gsplat version, torch and CUDA versions, peak memory.
"""

from __future__ import annotations

import os
import platform
import resource
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from talkgs.errors import TalkgsError

DEVICES = ("auto", "cuda", "cpu")
BACKENDS = ("auto", "gsplat", "torch")


def decide(
    device: str,
    backend: str,
    preset: str | None,
    allow_paper_on_cpu: bool,
    cuda_visible: bool,
    gsplat_problem: Callable[[], str | None],
) -> tuple[str, str]:
    """``(device, renderer)`` for the requests, or :class:`TalkgsError` in one line.
    ``preset`` is the training preset (None for rendering); ``gsplat_problem`` is asked only
    when gsplat would run (it may load kernels)."""
    if device not in DEVICES:
        raise TalkgsError(f"train.device: {device!r} is not one of {', '.join(DEVICES)}")
    if backend not in BACKENDS:
        raise TalkgsError(f"train.backend: {backend!r} is not one of {', '.join(BACKENDS)}")
    if device == "cuda" and not cuda_visible:
        raise TalkgsError(
            "train.device is cuda but this job sees no CUDA GPU (CUDA_VISIBLE_DEVICES="
            f"{os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}, torch {torch.__version__}): run "
            "it on a GPU node (the slurm profile asks for gpu: 1) or set train.device: cpu"
        )
    on_cuda = device == "cuda" or (device == "auto" and cuda_visible)
    if not on_cuda:
        if backend == "gsplat":
            raise TalkgsError(
                "train.backend is gsplat, which needs a CUDA GPU, but this job runs on the CPU: "
                "set train.backend: auto (or torch) or run it on a GPU node"
            )
        if preset == "paper" and not allow_paper_on_cpu:
            raise TalkgsError(
                "preset paper on the CPU would take days (110k iterations at 512² with the "
                "PyTorch rasterizer): run it on a GPU node, use preset cpu, or set "
                "train.allow_paper_on_cpu: true"
            )
        return "cpu", "torch"
    if backend == "torch":
        return "cuda", "torch"
    problem = gsplat_problem()
    if problem is not None:
        raise TalkgsError(
            f"a CUDA GPU is visible but gsplat cannot render on it ({problem}); set "
            "train.backend: torch to train with the PyTorch rasterizer on the GPU instead (slower)"
        )
    return "cuda", "gsplat"


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    renderer: str  # "gsplat" | "torch"

    @classmethod
    def resolve(
        cls, device: str, backend: str, preset: str | None, allow_paper_on_cpu: bool = False
    ) -> Runtime:
        from talkgs.splat.agreement import gsplat_problem

        chosen, renderer = decide(
            device,
            backend,
            preset,
            allow_paper_on_cpu,
            torch.cuda.is_available(),
            gsplat_problem,
        )
        runtime = cls(torch.device(chosen), renderer)
        if runtime.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(runtime.device)
        return runtime

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def synchronize(self) -> None:
        """Wait for queued device work (before reading a clock)."""
        if self.is_cuda:
            torch.cuda.synchronize(self.device)

    def describe(self) -> dict[str, Any]:
        """What ran, for the summaries."""
        if self.is_cuda:
            name = torch.cuda.get_device_name(self.device)
            peak_device = round(torch.cuda.max_memory_allocated(self.device) / 2**20, 1)
        else:
            name = cpu_name()
            peak_device = None
        gsplat = None
        if self.renderer == "gsplat":
            from talkgs.splat.gsplat_build import gsplat_version

            gsplat = gsplat_version()
        # ru_maxrss is in KiB on Linux
        peak_host = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        return {
            "device": self.device.type,
            "device_name": name,
            "renderer": self.renderer,
            "gsplat_version": gsplat,
            "torch_version": torch.__version__,
            "cuda_version": torch.version.cuda if self.is_cuda else None,
            "threads": torch.get_num_threads(),
            "peak_device_memory_mb": peak_device,  # None on the CPU: see peak_host_memory_mb
            "peak_host_memory_mb": peak_host,
        }


def cpu_name() -> str:
    """The processor's model name (``/proc/cpuinfo``), else its architecture."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()
