"""The installed `talkgs` command: every subcommand answers --help."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from talkgs.cli import build_parser

SUBCOMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


def test_console_script_is_installed() -> None:
    assert shutil.which("talkgs"), "the talkgs console script is not on PATH"
    result = subprocess.run(["talkgs", "--help"], capture_output=True, text=True, check=True)
    for name in SUBCOMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_help(name: str) -> None:
    result = subprocess.run(["talkgs", name, "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: talkgs {name}")
    assert "--log" in result.stdout
