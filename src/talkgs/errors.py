"""The one exception type that reaches a user as a single line."""

from __future__ import annotations

from pathlib import Path


class TalkgsError(Exception):
    """A problem with the user's input or configuration (not a bug in talkgs).

    The CLI prints it as one line, ``talkgs <stage>: error: <message>``, and exits non-zero;
    anything else that escapes a stage is a bug and keeps its traceback.
    """


def input_error(path: str | Path, problem: str) -> TalkgsError:
    """An error about one file, worded ``<file>: <problem>``."""
    return TalkgsError(f"{path}: {problem}")


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none), for a
    one-line error that wraps it."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
