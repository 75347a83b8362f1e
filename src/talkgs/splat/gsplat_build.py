"""gsplat's CUDA kernels: built once per environment, loaded (never built) by jobs.

gsplat 1.5.3 from PyPI is pure Python: the first ``import gsplat.cuda._backend`` JIT-compiles
its kernels with ``nvcc`` into ``TORCH_EXTENSIONS_DIR`` (default ``~/.cache/torch_extensions``).
On a cluster that is a trap: every job that starts on a fresh node compiles for minutes, needs
an ``nvcc`` matching torch's CUDA there, and jobs that start together race on the build folder
(gsplat deletes the lock file of a build it believes interrupted); a job on a GPU of another
architecture rewrites the build flags and rebuilds everything.

So talkgs splits it:

- :func:`build` (``talkgs gpu-setup``, once per environment, on a GPU node) compiles under an
  exclusive file lock into :func:`extensions_dir` (inside the environment, so every node that
  mounts it finds it), renders a test scene with gsplat and with the PyTorch rasterizer, and
  only if they agree writes ``talkgs-gsplat.json`` (versions, architectures, the module's path,
  the agreement).
- :func:`load` (every training or render job) checks that stamp against this environment and
  GPU and imports the compiled module directly, as gsplat's own prebuilt ``gsplat.csrc`` would
  be: no ``nvcc``, no ninja, no JIT, nothing written.
- :func:`talkgs.splat.agreement.gsplat_problem` is what a job asks: ``None`` when gsplat renders
  here, else why not; it renders a small scene with both backends, it does not just import.
  The renders that judge a build live there, beside the comparison, so that this module (which
  the renderer imports to load the kernels) imports no renderer.

A gsplat installed with prebuilt kernels (a wheel that ships ``gsplat.csrc``) needs no build.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.machinery
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import torch

from talkgs.errors import TalkgsError

ENV_VAR = "TALKGS_TORCH_EXTENSIONS"
STAMP_NAME = "talkgs-gsplat.json"
LOCK_NAME = ".talkgs-build.lock"


class Verdict(Protocol):
    """What :func:`build` needs of a verification (:class:`talkgs.splat.agreement.Agreement`)."""

    psnr_db: float
    gradient_error: float

    @property
    def passes(self) -> bool: ...

    def describe(self) -> str: ...


FIX = "run `talkgs gpu-setup` once in this environment on a GPU node (README: On a SLURM cluster)"


def extensions_dir() -> Path:
    """Where this environment's gsplat build lives: ``$TALKGS_TORCH_EXTENSIONS`` or
    ``<sys.prefix>/share/talkgs/torch_extensions``."""
    configured = os.environ.get(ENV_VAR)
    return Path(configured) if configured else Path(sys.prefix) / "share/talkgs/torch_extensions"


def gsplat_version() -> str:
    return importlib.metadata.version("gsplat")


def environment() -> dict[str, Any]:
    """What a build is only valid for."""
    return {
        "gsplat": gsplat_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
    }


def _prebuilt() -> bool:
    """gsplat was installed with compiled kernels (``gsplat.csrc``)."""
    try:
        return importlib.util.find_spec("gsplat.csrc") is not None
    except (ImportError, ValueError):
        return False


@contextlib.contextmanager
def _locked(directory: Path, exclusive: bool) -> Iterator[None]:
    """An advisory lock on ``directory``: one builder at a time, no loading during a build."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_NAME, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _capability(device: int = 0) -> str:
    major, minor = torch.cuda.get_device_capability(device)
    return f"{major}.{minor}"


def _nvcc_version() -> str | None:
    from torch.utils.cpp_extension import CUDA_HOME

    nvcc = Path(CUDA_HOME) / "bin" / "nvcc" if CUDA_HOME else None
    command = str(nvcc) if nvcc is not None and nvcc.is_file() else "nvcc"
    try:
        out = subprocess.run([command, "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    for token in out.stdout.replace(",", " ").split():
        if token.startswith("V") and token[1:2].isdigit():
            return token[1:]
    return None


def read_stamp(directory: Path) -> dict[str, Any] | None:
    path = directory / STAMP_NAME
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def stamp_problem(stamp: dict[str, Any] | None, directory: Path, capability: str) -> str | None:
    """Why the build recorded in ``stamp`` cannot be used here, or None."""
    if stamp is None:
        stamp_path = directory / STAMP_NAME
        return f"gsplat's CUDA kernels are not built for this environment (no {stamp_path})"
    current = environment()
    changed = [f"{k} {stamp.get(k)} → {v}" for k, v in current.items() if stamp.get(k) != v]
    if changed:
        return f"gsplat's build in {directory} is for another environment ({'; '.join(changed)})"
    if capability not in [a.removesuffix("+PTX") for a in stamp.get("arch_list", [])]:
        return (
            f"gsplat's build in {directory} is for GPU architectures "
            f"{', '.join(stamp.get('arch_list', []))}, this GPU is {capability}"
        )
    if not Path(stamp.get("module", "")).is_file():
        return f"gsplat's compiled module {stamp.get('module')} is missing"
    return None


def load(directory: Path | None = None) -> None:
    """Make gsplat use this environment's build; :class:`TalkgsError` (with the fix) if none
    fits. Never compiles."""
    if _prebuilt():
        return
    backend = sys.modules.get("gsplat.cuda._backend")
    if backend is not None:  # loaded earlier in this process (by this function or a build)
        if getattr(backend, "_C", None) is None:
            raise TalkgsError(f"gsplat's kernels did not load in this process: {FIX}")
        return
    directory = directory or extensions_dir()
    stamp = read_stamp(directory)
    problem = stamp_problem(stamp, directory, _capability())
    if problem is not None:
        raise TalkgsError(f"{problem}: {FIX}")
    assert stamp is not None
    # torch names a rebuilt extension gsplat_cuda_v1, …: the file's stem is its init symbol
    name = Path(stamp["module"]).stem
    with _locked(directory, exclusive=False):
        loader = importlib.machinery.ExtensionFileLoader(name, stamp["module"])
        spec = importlib.util.spec_from_file_location(name, stamp["module"], loader=loader)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
    import gsplat

    # gsplat's _backend imports `gsplat.csrc` (its prebuilt kernels) before it tries to JIT.
    sys.modules["gsplat.csrc"] = module
    gsplat.csrc = module  # type: ignore[attr-defined]
    from gsplat.cuda._backend import _C

    if _C is not module:
        raise TalkgsError(f"gsplat did not take the build in {directory}")


def build(
    verify: Callable[[], Verdict],
    directory: Path | None = None,
    arch_list: str | None = None,
    jobs: int | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Compile gsplat's kernels into ``directory`` (once; again with ``force``), prove the build
    with ``verify`` (renders it against the PyTorch rasterizer:
    :func:`talkgs.splat.agreement.verify_gsplat`), and write the stamp jobs check. Returns the
    stamp."""
    directory = directory or extensions_dir()
    if not torch.cuda.is_available():
        raise TalkgsError(
            f"gpu-setup needs a CUDA GPU (torch {torch.__version__}, CUDA "
            f"{torch.version.cuda or 'not built in'}): run it on a GPU node"
        )
    if _prebuilt():
        raise TalkgsError("this gsplat ships prebuilt kernels (gsplat.csrc): nothing to build")
    capability = _capability()
    arch_list = arch_list or capability
    archs = [a.strip() for a in arch_list.replace(",", ";").split(";") if a.strip()]
    with _locked(directory, exclusive=True):
        stamp = read_stamp(directory)
        if not force and stamp_problem(stamp, directory, capability) is None:
            assert stamp is not None
            return {**stamp, "built_now": False}
        nvcc = _nvcc_version()
        if nvcc is None:
            raise TalkgsError(
                "no nvcc found (CUDA_HOME or PATH): gsplat compiles with the CUDA "
                f"{torch.version.cuda} compiler; install it (envs/train.yaml pins it) or load "
                "your cluster's CUDA module"
            )
        if torch.version.cuda and nvcc.split(".")[0] != torch.version.cuda.split(".")[0]:
            raise TalkgsError(
                f"nvcc {nvcc} cannot build for torch's CUDA {torch.version.cuda}: use a CUDA "
                f"{torch.version.cuda.split('.')[0]}.x compiler"
            )
        os.environ["TORCH_EXTENSIONS_DIR"] = str(directory)
        os.environ["TORCH_CUDA_ARCH_LIST"] = ";".join(archs)
        if jobs:
            os.environ["MAX_JOBS"] = str(jobs)
        (directory / STAMP_NAME).unlink(missing_ok=True)
        started = time.perf_counter()
        try:
            from gsplat.cuda._backend import _C
        except Exception as error:  # torch raises the compiler's output as a RuntimeError
            print(error, file=sys.stderr)
            lines = [line for line in str(error).splitlines() if line.strip()]
            raise TalkgsError(
                f"gsplat's CUDA build failed (nvcc {nvcc}, architectures {arch_list}): "
                f"{lines[-1] if lines else type(error).__name__}; the compiler's messages are "
                "printed above"
            ) from error
        if _C is None:
            raise TalkgsError(f"gsplat found no CUDA toolkit to build with (nvcc {nvcc})")
        seconds = time.perf_counter() - started
        agreement = verify()
        if not agreement.passes:
            raise TalkgsError(
                f"gsplat's fresh build renders differently from the PyTorch rasterizer "
                f"({agreement.describe()}); not marking it usable"
            )
        stamp = {
            **environment(),
            "nvcc": nvcc,
            "arch_list": archs,
            "module": str(Path(_C.__file__).resolve()),
            "device": torch.cuda.get_device_name(0),
            "build_seconds": round(seconds, 1),
            "agreement": {
                "psnr_db": round(agreement.psnr_db, 2),
                "gradient_error": agreement.gradient_error,
            },
            "built": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        temp = directory / f".{STAMP_NAME}.tmp"
        temp.write_text(json.dumps(stamp, indent=2) + "\n")
        temp.replace(directory / STAMP_NAME)
        return {**stamp, "built_now": True}
