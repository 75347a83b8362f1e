"""Benchmark: ingest of the real clip (decode, face detection, crop, JPEG, audio).

Usage: python tests/benchmarks/ingest.py [VIDEO] [--repeat N]
Prints wall time and frames/s of the whole stage (best of N runs in a fresh temporary folder),
for the README's performance table.
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

REAL_CLIP = Path(__file__).resolve().parents[3] / "shared" / "data" / "real_german_20s.mp4"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path, nargs="?", default=REAL_CLIP)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    timings = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            outputs = ingest.IngestOutputs(
                out / "frames", out / "audio.wav", out / "preview.jpg", out / "meta.json"
            )
            start = time.perf_counter()
            meta = ingest.run(ingest.IngestInputs(args.video), outputs, ingest.IngestParams())
            timings.append(time.perf_counter() - start)
    best = min(timings)
    frames = meta["frame_count"]
    print(
        json.dumps(
            {
                "what": f"ingest {args.video.name} ({frames} frames, {meta['source']['width']}x"
                f"{meta['source']['height']} → {meta['size']}²)",
                "wall_s": round(best, 2),
                "frames_per_s": round(frames / best, 1),
                "runs_s": [round(t, 2) for t in timings],
                "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
            }
        )
    )


if __name__ == "__main__":
    main()
