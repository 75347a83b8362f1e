"""The seam: how much edge a render shows where the learnt head meets the background layer.

A render composites the learnt head (face and mouth Gaussians) over each frame's background
layer (the static plate with that frame's neck and torso). Where the parsing draws the line
between the two in the wrong place — hair cut straight across at eye level, say — the render
shows an edge that the recording does not have. The measure compares the image-gradient energy
(Sobel, grey levels in [0, 1]) of the render's error in a 2-px band along the boundary between
head and neck/torso labels with the ground truth's own gradient energy in the same band:

    seam = mean |∇ render − ∇ truth|² / mean |∇ truth|²   over the band

0 is the recording's boundary exactly; an edge that is not in the frame (the head a shade off
the layer below it) or a boundary the render smears both raise it, in units of the edges the
recording has there. The head's outline against the static plate is left out: it is a real
edge of every frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from talkgs.face.labels import HEAD_LABELS, MOUTH_LABELS, TORSO_LABELS
from talkgs.metrics import NotComputed

MIN_BAND_PIXELS = 8  # fewer band pixels than this (head barely touching the torso): no measure


def seam_band(labels: np.ndarray, size: int) -> np.ndarray:
    """``[size, size]`` bool: pixels within one pixel of the boundary between head (and mouth)
    labels and neck/torso labels, from a full-size ``[H, W]`` label map."""
    small = cv2.resize(labels, (size, size), interpolation=cv2.INTER_NEAREST)
    head = np.isin(small, HEAD_LABELS + MOUTH_LABELS).astype(np.uint8)
    layer = np.isin(small, TORSO_LABELS).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    band = ((head & cv2.dilate(layer, kernel)) | (layer & cv2.dilate(head, kernel))) > 0
    band[[0, -1], :] = band[:, [0, -1]] = False  # Sobel at the border sees padding, not image
    return band


def gradient(rgb: np.ndarray) -> np.ndarray:
    """``[H, W, 2]`` Sobel gradient of a uint8 RGB frame's grey levels in [0, 1]."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    return np.stack([cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)], -1)


def seam(render: np.ndarray, truth: np.ndarray, labels: np.ndarray) -> float | NotComputed:
    """The seam measure of one ``render`` against its ``truth`` (both ``[S, S, 3]`` uint8), along
    the head/torso boundary of the frame's full-size label map ``labels``."""
    band = seam_band(labels, render.shape[0])
    if band.sum() < MIN_BAND_PIXELS:
        return NotComputed("the head does not meet the neck or torso in this frame")
    truth_gradient = gradient(truth)[band]
    truth_energy = float((truth_gradient**2).sum(-1).mean())
    if truth_energy < 1e-12:
        return NotComputed("the recording is flat along the head/torso boundary")
    error = gradient(render)[band] - truth_gradient
    return float((error**2).sum(-1).mean()) / truth_energy
