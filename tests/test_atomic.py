"""Stage outputs appear all at once or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from talkgs.atomic import StagedOutputs, write_json


def test_outputs_are_renamed_into_place(tmp_path: Path) -> None:
    folder, meta = tmp_path / "out" / "frames", tmp_path / "out" / "meta.json"
    with StagedOutputs(folder, meta) as staged:
        staged[folder].mkdir()
        (staged[folder] / "0.jpg").write_bytes(b"x")
        staged[meta].write_text("{}")
        assert not folder.exists() and not meta.exists(), "visible before the stage finished"
    assert (folder / "0.jpg").read_bytes() == b"x" and meta.read_text() == "{}"
    assert sorted(p.name for p in folder.parent.iterdir()) == ["frames", "meta.json"]


def test_failure_leaves_nothing(tmp_path: Path) -> None:
    folder, meta = tmp_path / "results" / "alice" / "frames", tmp_path / "results" / "alice" / "m"
    with pytest.raises(ValueError), StagedOutputs(folder, meta) as staged:
        staged[folder].mkdir()
        (staged[folder] / "0.jpg").write_bytes(b"x")
        raise ValueError("decoder failed")
    assert not (tmp_path / "results").exists()


def test_rerun_replaces_previous_output(tmp_path: Path) -> None:
    meta = tmp_path / "meta.json"
    write_json(meta, {"run": 1})
    write_json(meta, {"run": 2})
    assert meta.read_text().strip() == '{\n  "run": 2\n}'
    assert [p.name for p in tmp_path.iterdir()] == ["meta.json"]


def test_missing_output_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="did not write"), StagedOutputs(tmp_path / "a"):
        pass
