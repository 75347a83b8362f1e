"""User-provided model weights: the manifest, checksum verification and the one loader.

``resources/weights.yaml`` lists every weight file a backend can use (file name, sha256, size,
where to get it, licence, and the config key that asks for it). Files live in
``resources/weights/``. Nothing is ever downloaded: a file that is absent or whose sha256 does
not match is a one-line :class:`TalkgsError` naming the file, the expected sha256 and the config
key. Every backend loads its weights through :meth:`WeightStore.load_torch`, which verifies
first and loads with ``torch.load(..., weights_only=True)`` (no pickled code runs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from talkgs.checksum import sha256_of
from talkgs.errors import TalkgsError, input_error

DEFAULT_MANIFEST = Path("resources/weights.yaml")
DEFAULT_DIR = Path("resources/weights")


@dataclass(frozen=True)
class WeightSpec:
    name: str  # manifest key, e.g. "bisenet_face_parsing"
    file: str  # file name inside the weights directory
    sha256: str
    bytes: int | None
    source: str  # where a user gets the file
    licence: str
    used_by: str  # the config key and value that need it, e.g. "parsing.backend: bisenet"


class WeightStore:
    """The weights a manifest declares, looked up in one directory."""

    def __init__(
        self, manifest: str | Path = DEFAULT_MANIFEST, directory: str | Path = DEFAULT_DIR
    ) -> None:
        self.manifest_path = Path(manifest)
        self.directory = Path(directory)
        try:
            entries = yaml.safe_load(self.manifest_path.read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise TalkgsError(
                f"{self.manifest_path}: cannot read the weights manifest ({error})"
            ) from error
        self.specs = {
            name: WeightSpec(name=name, **fields)
            for name, fields in (entries.get("weights") or {}).items()
        }
        self._verified: set[str] = set()

    def spec(self, name: str) -> WeightSpec:
        if name not in self.specs:
            raise TalkgsError(f"{self.manifest_path}: no weight named {name!r} in the manifest")
        return self.specs[name]

    def status(self, name: str) -> str:
        """``present``, ``absent`` or ``checksum mismatch``."""
        spec = self.spec(name)
        path = self.directory / spec.file
        if not path.is_file():
            return "absent"
        return "present" if sha256_of(path) == spec.sha256 else "checksum mismatch"

    def path(self, name: str) -> Path:
        """The verified file of weight ``name``; a one-line error if absent or mismatching."""
        spec = self.spec(name)
        path = self.directory / spec.file
        if name in self._verified:
            return path
        if not path.is_file():
            raise TalkgsError(
                f"{path}: weight file absent (sha256 {spec.sha256}, needed by {spec.used_by}); "
                f"get it from {spec.source}"
            )
        actual = sha256_of(path)
        if actual != spec.sha256:
            raise TalkgsError(
                f"{path}: checksum mismatch (sha256 {actual}, expected {spec.sha256}, "
                f"needed by {spec.used_by})"
            )
        self._verified.add(name)
        return path

    def load_torch(self, name: str) -> Any:
        """Verify, then ``torch.load(weights_only=True)`` onto the CPU."""
        import torch

        path = self.path(name)
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # a corrupt or pickled-code file: say which, in one line
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
            raise TalkgsError(f"{path}: cannot load as plain tensors ({message})") from error


def status_table(store: WeightStore) -> list[dict[str, str]]:
    """One row per manifest entry: name, file, used_by and its status in the weights folder."""
    return [
        {"name": spec.name, "file": spec.file, "used_by": spec.used_by,
         "status": store.status(spec.name)}
        for spec in store.specs.values()
    ]  # fmt: skip


def format_status(rows: list[dict[str, str]], directory: Path) -> str:
    """The table ``talkgs weights`` prints, and a closing line saying what is usable."""
    if not rows:
        return "no weights declared"
    widths = {key: max(len(key), *(len(row[key]) for row in rows)) for key in rows[0]}
    header = "  ".join(key.ljust(widths[key]) for key in widths)
    lines = [header, "  ".join("-" * widths[key] for key in widths)]
    lines += ["  ".join(row[key].ljust(widths[key]) for key in widths) for row in rows]
    present = sum(row["status"] == "present" for row in rows)
    lines.append(
        f"{present} of {len(rows)} weight files present in {directory}; the default backends "
        "need none"
    )
    return "\n".join(lines)


def load_state(
    module: Any,
    state: object,
    path: Path,
    what: str,
    ignored_prefixes: Iterable[str] = (),
) -> None:
    """Load ``state`` into ``module`` with its keys unchanged, or raise one line saying why not.

    Keys under ``ignored_prefixes`` (parts of the checkpoint the metric does not use, e.g.
    AlexNet's classifier) are dropped; BatchNorm ``num_batches_tracked`` counters may be absent
    (checkpoints saved before PyTorch 0.4.1 have none). Every other key must match exactly, in
    name and shape: a missing or unknown key is refused.
    """
    import torch

    if not isinstance(state, Mapping) or not all(isinstance(key, str) for key in state):
        raise input_error(path, f"not a state dict (expected {what})")
    prefixes = tuple(ignored_prefixes)
    used = {key: value for key, value in state.items() if not key.startswith(prefixes)}
    expected = module.state_dict()
    optional = {key for key in expected if key.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(used) - optional)
    unknown = sorted(set(used) - set(expected))
    misshapen = sorted(
        key
        for key in set(used) & set(expected)
        if not isinstance(used[key], torch.Tensor) or used[key].shape != expected[key].shape
    )
    if missing or unknown or misshapen:
        problems = [
            f"{label} {_few(keys)}"
            for label, keys in (
                ("missing keys", missing),
                ("unknown keys", unknown),
                ("wrong shapes", misshapen),
            )
            if keys
        ]
        raise input_error(path, f"not {what} ({'; '.join(problems)})")
    module.load_state_dict(used, strict=False)


def _few(keys: list[str], shown: int = 3) -> str:
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more
