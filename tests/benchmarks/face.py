"""Benchmark: landmarks + parsing + matting (default backends) on the real clip.

Usage: python tests/benchmarks/face.py [VIDEO]
Ingests the clip once (not timed), then times each face stage and prints frames/s per stage and
for the three together, for the README's performance table (issue target: ≥ 25 frames/s).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from talkgs import ingest
from talkgs.face import landmarks, matting, parsing
from talkgs.layout import IdentityLayout

REAL_CLIP = Path(__file__).resolve().parents[3] / "shared" / "data" / "real_german_20s.mp4"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path, nargs="?", default=REAL_CLIP)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        p = IdentityLayout(str(Path(tmp) / "id")).path
        meta = ingest.run(
            ingest.IngestInputs(args.video),
            ingest.IngestOutputs(p("frames"), p("audio"), p("ingest_preview"), p("meta")),
            ingest.IngestParams(),
        )
        stages = {
            "landmarks": lambda: landmarks.run(
                p("frames"), p("landmarks"), landmarks.LandmarksParams()
            ),
            "parsing": lambda: parsing.run(
                p("frames"),
                p("landmarks"),
                p("parsing"),
                p("parsing_preview"),
                parsing.ParsingParams(),
            ),
            "matting": lambda: matting.run(
                p("frames"),
                p("parsing"),
                matting.MattingOutputs(p("background"), p("gt_imgs"), p("torso_imgs")),
                matting.MattingParams(),
            ),
        }
        seconds = {}
        for name, stage in stages.items():
            start = time.perf_counter()
            stage()
            seconds[name] = time.perf_counter() - start
    frames = meta["frame_count"]
    total = sum(seconds.values())
    print(
        json.dumps(
            {
                "what": f"landmarks+parsing+matting, {args.video.name}, {frames} frames, 512²",
                "seconds": {k: round(v, 2) for k, v in seconds.items()},
                "frames_per_s": {k: round(frames / v, 1) for k, v in seconds.items()},
                "total_frames_per_s": round(frames / total, 1),
                "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
            }
        )
    )


if __name__ == "__main__":
    main()
