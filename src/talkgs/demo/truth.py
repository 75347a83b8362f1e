"""The demo's ground truth: ``truth.json`` (per-frame controls and head pose) and
``truth_landmarks.npz`` (per-frame landmark positions), both byte-for-byte deterministic.

Floats in the JSON are rounded to six significant digits. The npz is written by hand rather than
by ``np.savez``, whose zip entries carry the time of writing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from talkgs.demo import animate, deform

FORMAT = "talkgs-demo-truth/1"
LANDMARKS_FILE_NAME = "truth_landmarks.npz"
SIGNIFICANT_DIGITS = 6

CONVENTIONS = {
    "pixels": "x right, y down, pixel centres at integer coordinates; source = the astronaut "
    "photo, frame = the video frame; both 512x512",
    "camera": "pinhole, OpenCV axes (x right, y down, z forward); K = [[focal, 0, cx], "
    "[0, focal, cy], [0, 0, 1]], principal point at (W/2, H/2)",
    "head": "the person is a plane facing the camera: head origin at face_center_px, axes "
    "parallel to the camera's at rest, units of source pixels; source pixel (u, v) is "
    "the head point (u - xc, v - yc, 0)",
    "rotation": "camera-from-head, X_cam = rotation @ X_head + translation; "
    "rotation = Rz(roll) @ Ry(yaw) @ Rx(pitch)",
    "translation": "camera-from-head, source pixels at the rest depth; rest = (xc - cx, yc - cy, "
    "focal), which reproduces the photo",
    "euler_deg": "seen in the image, positive roll turns the face clockwise, positive yaw turns "
    "it to the image's left (the person's right), positive pitch tilts it down",
    "homography": "source pixels -> frame pixels, K [r1 r2 t] (K [e1 e2 t0])^-1, H[2][2] = 1; "
    "exact for the head, down to "
    f"{animate.NECK_START_BELOW_CHIN_PX:g} px below the rest chin; the body "
    "below follows a damped copy of the head motion, blended over the neck "
    f"({animate.TORSO_SHARE:.0%} at the shoulders, {animate.BOTTOM_SHARE:.0%} at "
    "the bottom edge); the background does not move",
    "deformation": "mouth and blinks deform the landmarks in source pixels before the "
    "homography: frame landmarks = H(source + deformation)",
    "mouth_open": "0 closed .. 1 fully open, from the smoothed speech loudness; mouth_open_px "
    f"= mouth_open * {deform.MOUTH_OPEN_MAX_SHARE:g} * mouth_width_px (outer "
    "corners 61-291) is the growth of the gap between the inner lips (13, 14) "
    f"in source pixels, {deform.JAW_SHARE:.0%} of it from the jaw going down; at "
    "0 the mouth is the photo's (a smile showing the upper teeth)",
    "blink": "0 open .. 1 shut; the upper lid margin travels "
    f"{1 - deform.LID_MEETING_SHARE:.0%} of the lid gap down, the lower one "
    f"{deform.LID_MEETING_SHARE:.0%} up",
    "speech_rms": "RMS of the frame's 40 ms (640 samples) of the 16 kHz audio, samples in [-1, 1]",
    "face_box": "[x0, y0, x1, y1], the bounding box of the frame's 478 landmarks in "
    "truth_landmarks.npz",
    "truth_landmarks.npz": "landmarks float32 [T, 478, 2]: MediaPipe Face Mesh indices, "
    "deformed then moved, frame pixels (the irises 468-477 do not "
    "deform and are hidden during a blink); source_landmarks float32 "
    "[478, 2]: MediaPipe on the photo, normalised output x 512",
}


def rounded(value: Any) -> Any:
    """`value` (numbers, arrays, nested lists/dicts) with floats at SIGNIFICANT_DIGITS digits."""
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return rounded(value.tolist())
    if isinstance(value, list | tuple):
        return [rounded(item) for item in value]
    if isinstance(value, float | np.floating):
        number = float(f"{float(value):.{SIGNIFICANT_DIGITS}g}")
        return 0.0 if number == 0.0 else number  # no "-0.0"
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_truth_json(path: Path, header: dict[str, Any], frames: list[dict[str, Any]]) -> None:
    """The header's keys, indented, then ``frames`` with one frame per line (about 1 kB each)."""
    conventions = json.dumps(CONVENTIONS, indent=4).replace("\n}", "\n  }")
    lines = ["{", f'  "format": "{FORMAT}",', f'  "conventions": {conventions},']
    lines += [f"  {json.dumps(k)}: {json.dumps(rounded(v))}," for k, v in header.items()]
    lines.append('  "frames": [')
    lines += [f"    {json.dumps(rounded(frame))}," for frame in frames]
    lines[-1] = lines[-1].rstrip(",")
    lines += ["  ]", "}"]
    path.write_text("\n".join(lines) + "\n")
