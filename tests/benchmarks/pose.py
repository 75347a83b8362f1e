"""Benchmark: the pose stage on the real clip.

Usage: python tests/benchmarks/pose.py [VIDEO]
Ingests the clip and runs the face stages once (not timed), then times the pose stage (flow
keypoints, joint fit, per-frame PnP baseline, outputs) and prints frames/s, the median and
95th-percentile reprojection error, and the jitter of the flow method and of the per-frame PnP
baseline, for the README's performance table (issue targets: ≥ 25 frames/s, median error
≤ 1.5 px, less jitter than PnP).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from talkgs import pose
from talkgs.layout import IdentityLayout

REPO = Path(__file__).resolve().parents[2]
REAL_CLIP = REPO.parent / "shared" / "data" / "real_german_20s.mp4"
sys.path.insert(0, str(REPO / "tests"))

from conftest import preprocess_identity  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path, nargs="?", default=REAL_CLIP)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        layout: IdentityLayout = preprocess_identity(args.video, Path(tmp) / "id")
        p = layout.path
        start = time.perf_counter()
        report = pose.run(
            pose.PoseInputs(p("frames"), p("landmarks"), p("meta"), p("parsing")),
            pose.PoseOutputs(
                p("pose"),
                p("transforms_train"),
                p("transforms_val"),
                p("pose_quality"),
                p("pose_plot"),
            ),
            pose.PoseParams(),
        )
        seconds = time.perf_counter() - start
    frames = report["frames"]
    jitter = report["jitter_deg_per_frame2"]
    print(
        json.dumps(
            {
                "what": f"pose stage, {args.video.name}, {frames} frames, 512²",
                "seconds": round(seconds, 2),
                "frames_per_s": round(frames / seconds, 1),
                "reprojection_px": report["reprojection_px"],
                "baseline_reprojection_px": report["baseline_reprojection_px"],
                "jitter_deg_per_frame2": jitter,
                "flagged_high_residual": report["flagged_frames"]["high_residual"],
                "focal_px": report["camera"]["focal_px"],
                "depth_scale": report["depth_scale"],
                "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
            }
        )
    )


if __name__ == "__main__":
    main()
