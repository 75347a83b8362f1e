"""The ``talkgs`` command: one subcommand per workflow stage, mirroring the Snakemake rules.

Each subcommand parses its arguments, then imports its stage module (so ``--help`` stays fast)
and calls the stage's plain Python API. A :class:`TalkgsError` becomes one line on stderr
(and in ``--log``) and exit status 2; a bug keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from talkgs import __version__
from talkgs import log as talkgs_log
from talkgs.errors import TalkgsError

Handler = Callable[[argparse.Namespace], None]
EXIT_USER_ERROR = 2


def _demo(args: argparse.Namespace) -> None:
    from talkgs.demo import make_demo

    make_demo(args.video, args.truth, seed=args.seed, duration_s=args.duration)


def _ingest(args: argparse.Namespace) -> None:
    from talkgs import ingest

    params = ingest.IngestParams(size=args.size, fps=args.fps, crop_scale=args.crop_scale)
    ingest.run(
        ingest.IngestInputs(video=args.video),
        ingest.IngestOutputs(
            frames=args.frames, audio=args.audio, preview=args.preview, meta=args.meta
        ),
        params,
    )


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = _subparser(
        sub,
        "demo",
        _demo,
        "make the embedded demo identity (video + ground truth)",
        "Animate scikit-image's astronaut portrait with espeak-ng speech: mouth "
        "driven by the speech envelope, blinks and a smooth head motion. Writes a "
        "25 fps mp4 with audio, truth.json (per-frame head transform, mouth "
        "opening, blink) and truth_landmarks.npz beside it. Same seed, same bytes.",
    )
    p.add_argument("--video", type=Path, required=True, help="output mp4")
    p.add_argument("--truth", type=Path, required=True, help="output truth.json")
    p.add_argument("--seed", type=int, default=0, help="motion and blink seed (default 0)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds, 2–12 (default 10)")


def _add_ingest(sub: argparse._SubParsersAction) -> None:
    p = _subparser(
        sub,
        "ingest",
        _ingest,
        "source video → 25 fps face-cropped frames + 16 kHz audio",
        "Probe the source, refuse unusable input with a one-line reason, convert to "
        "constant frame rate, crop one stable square around the face for the whole "
        "clip, resize, and write frames/NNNNNN.jpg, audio.wav (16 kHz mono, exactly "
        "frame_count/fps s) and meta.json. Nothing is left behind on failure.",
    )
    p.add_argument("video", type=Path, help="source video with an audio stream")
    p.add_argument("--frames", type=Path, required=True, help="output folder of JPEG frames")
    p.add_argument("--audio", type=Path, required=True, help="output wav")
    p.add_argument(
        "--preview",
        type=Path,
        required=True,
        help="output JPEG: first | middle | last frame, to check the crop",
    )
    p.add_argument("--meta", type=Path, required=True, help="output meta.json")
    p.add_argument("--size", type=int, default=512, help="output side in pixels (default 512)")
    p.add_argument("--fps", type=int, default=25, help="output frame rate (default 25)")
    p.add_argument(
        "--crop-scale",
        type=float,
        default=2.4,
        help="crop side as a multiple of the face size (default 2.4)",
    )


def _subparser(
    sub: argparse._SubParsersAction, name: str, handler: Handler, summary: str, description: str
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=summary, description=description)
    parser.add_argument("--log", type=Path, help="write progress and messages to this file")
    parser.set_defaults(handler=handler)
    return parser


SUBCOMMANDS = (_add_demo, _add_ingest)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="talkgs",
        description="Talking-head videos to per-identity 3D Gaussian Splatting avatars. Each "
        "subcommand is one stage of the Snakemake workflow and can be run by hand.",
    )
    parser.add_argument("--version", action="version", version=f"talkgs {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="<stage>")
    for add in SUBCOMMANDS:
        add(sub)
    return parser


@contextlib.contextmanager
def _stage_output(log_path: Path | None) -> Iterator[tuple[IO[str] | None, IO[str]]]:
    """Yield (log stream, terminal stream).

    With a log file, file descriptor 2 itself points at the log while the stage runs, so that
    warnings printed by C++ libraries (MediaPipe, TFLite, ffmpeg) land in the rule's log too and
    the terminal shows only the one-line error, if any.
    """
    if log_path is None:
        yield None, sys.stderr
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", buffering=1) as log_file:
        sys.stderr.flush()
        saved_fd = os.dup(2)
        saved_stderr = sys.stderr
        os.dup2(log_file.fileno(), 2)
        sys.stderr = log_file
        try:
            with os.fdopen(os.dup(saved_fd), "w") as terminal:
                yield log_file, terminal
        finally:
            sys.stderr = saved_stderr
            os.dup2(saved_fd, 2)
            os.close(saved_fd)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with _stage_output(args.log) as (log_file, terminal):
        talkgs_log.configure(log_file)
        try:
            args.handler(args)
        except TalkgsError as error:
            message = f"talkgs {args.command}: error: {error}"
            if log_file is not None:
                logging.getLogger("talkgs").error(message)
            print(message, file=terminal, flush=True)
            return EXIT_USER_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
