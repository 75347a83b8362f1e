"""The weights manifest and store: presence, checksums, the status table."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from conftest import REPO
from talkgs.checksum import sha256_of
from talkgs.errors import TalkgsError
from talkgs.weights import WeightStore, format_status, status_table


def make_store(tmp_path: Path, files: dict[str, bytes | None]) -> WeightStore:
    """A manifest naming ``files``; a value is the file's content (None: declared, absent)."""
    directory = tmp_path / "weights"
    directory.mkdir()
    entries = {}
    for name, content in files.items():
        digest = "0" * 64
        if content is not None:
            (directory / f"{name}.pt").write_bytes(content)
            digest = sha256_of(directory / f"{name}.pt")
        entries[name] = {
            "file": f"{name}.pt",
            "sha256": digest,
            "bytes": None,
            "source": "test",
            "licence": "MIT",
            "used_by": f"test.backend: {name}",
        }
    manifest = tmp_path / "weights.yaml"
    manifest.write_text(yaml.safe_dump({"weights": entries}))
    return WeightStore(manifest, directory)


def test_status_of_present_absent_and_mismatching_files(tmp_path: Path) -> None:
    store = make_store(tmp_path, {"good": b"abc", "gone": None, "bad": b"xyz"})
    (store.directory / "bad.pt").write_bytes(b"changed after the manifest was written")
    rows = {row["name"]: row["status"] for row in status_table(store)}
    assert rows == {"good": "present", "gone": "absent", "bad": "checksum mismatch"}
    text = format_status(status_table(store), store.directory)
    assert "checksum mismatch" in text and "1 of 3 weight files present" in text


def test_loader_verifies_before_loading(tmp_path: Path) -> None:
    store = make_store(tmp_path, {"net": None})
    torch.save({"w": torch.ones(2)}, store.directory / "net.pt")
    with pytest.raises(
        TalkgsError,
        match=r"net\.pt: checksum mismatch \(sha256 [0-9a-f]{64}, "
        r"expected 0{64}, needed by test.backend: net\)",
    ):
        store.load_torch("net")


def test_loader_refuses_pickled_code(tmp_path: Path) -> None:
    store = make_store(tmp_path, {"evil": None})
    path = store.directory / "evil.pt"
    torch.save({"w": torch.ones(1), "obj": Path("/")}, path)  # a non-tensor object: pickled
    spec = yaml.safe_load(store.manifest_path.read_text())
    spec["weights"]["evil"]["sha256"] = sha256_of(path)
    store.manifest_path.write_text(yaml.safe_dump(spec))
    with pytest.raises(TalkgsError, match=r"evil\.pt: cannot load as plain tensors"):
        WeightStore(store.manifest_path, store.directory).load_torch("evil")


def test_every_manifest_entry_is_complete() -> None:
    entries = yaml.safe_load((REPO / "resources" / "weights.yaml").read_text())["weights"]
    assert entries, "the manifest lists the optional backends' weights"
    for name, entry in entries.items():
        assert set(entry) == {"file", "sha256", "bytes", "source", "licence", "used_by"}, name
        assert len(entry["sha256"]) == 64 and int(entry["sha256"], 16) >= 0, name
        assert entry["used_by"].count(":") == 1, name  # "config.key: value"


def test_talkgs_weights_lists_every_backend(capsys: pytest.CaptureFixture[str]) -> None:
    from talkgs.cli import main

    empty = REPO / "resources" / "no-such-folder"
    assert (
        main(
            [
                "weights",
                "--weights-manifest",
                str(REPO / "resources" / "weights.yaml"),
                "--weights-dir",
                str(empty),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    manifest = yaml.safe_load((REPO / "resources" / "weights.yaml").read_text())["weights"]
    for name, spec in manifest.items():
        row = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert spec["file"] in row and spec["used_by"] in row and "absent" in row
    assert f"0 of {len(manifest)} weight files present" in out
    # every backend that takes weights is in the manifest
    used_by = " ".join(spec["used_by"] for spec in manifest.values())
    for backend in (
        "parsing.backend: bisenet",
        "parsing.backend: sam2",
        "hubert",
        "ave",
        "evaluate: lpips",
        "evaluate: syncnet",
        "evaluate: fid",
        "evaluate: csim",
    ):
        assert backend in used_by
