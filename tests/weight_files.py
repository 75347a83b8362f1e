"""Weight files for tests and the GPU check: random networks saved in a real checkpoint's format,
listed in a manifest of their own, so that they load through the same verifying loader a user's
real file goes through."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from talkgs.checksum import sha256_of
from talkgs.weights import WeightStore


def make_store(tmp_path: Path, files: dict[str, tuple[str, object]]) -> WeightStore:
    """A manifest + weights folder holding ``name: (file, state)`` saved with torch.save.

    ``state`` is saved in the legacy (pre-1.6) format when wrapped as ``("legacy", state)``,
    as the 2017–2019 checkpoints of torchvision, lpips and syncnet_python are.
    """
    directory = tmp_path / "weights"
    entries = {}
    for name, (file, state) in files.items():
        path = directory / file
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(state, tuple) and state[0] == "legacy":
            torch.save(state[1], path, _use_new_zipfile_serialization=False)
        else:
            torch.save(state, path)
        entries[name] = {
            "file": file,
            "sha256": sha256_of(path),
            "bytes": path.stat().st_size,
            "source": "tests",
            "licence": "none",
            "used_by": f"evaluate.{name}: true",
        }
    manifest = tmp_path / "weights.yaml"
    manifest.write_text(yaml.safe_dump({"weights": entries}))
    return WeightStore(manifest, directory)
