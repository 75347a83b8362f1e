"""The one label set of every parsing backend, and its TalkingGaussian colour coding.

A label map is an ``[H, W]`` uint8 array (saved as a single-channel PNG) whose values are the
:class:`Label` members below. ``TALKINGGAUSSIAN_BGR`` gives the colour of each label in a
TalkingGaussian ``parsing/<i>.png`` (written by OpenCV, so BGR): background white, face
(255, 0, 0), neck green, torso (0, 0, 255), inner mouth (100, 100, 100), hair black.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Label(IntEnum):
    BACKGROUND = 0
    FACE = 1  # face skin, ears and nose included
    LIPS = 2
    INNER_MOUTH = 3  # the opening between the inner lips, teeth excluded
    TEETH = 4
    EYES = 5
    BROWS = 6
    HAIR = 7  # a hat falls here too
    NECK = 8
    TORSO = 9  # clothes and shoulders


# What the learnt Gaussians stand for (face branch, mouth branch), and the person's parts that
# go into each frame's background layer with the static plate.
HEAD_LABELS = (Label.FACE, Label.LIPS, Label.EYES, Label.BROWS, Label.HAIR)
MOUTH_LABELS = (Label.INNER_MOUTH, Label.TEETH)
TORSO_LABELS = (Label.NECK, Label.TORSO)


# TalkingGaussian reads face-like regions by the face colour, and the mouth interior (teeth
# included) by (100, 100, 100); it has no separate lips, eyes or brows colour.
TALKINGGAUSSIAN_BGR: dict[Label, tuple[int, int, int]] = {
    Label.BACKGROUND: (255, 255, 255),
    Label.FACE: (255, 0, 0),
    Label.LIPS: (255, 0, 0),
    Label.INNER_MOUTH: (100, 100, 100),
    Label.TEETH: (100, 100, 100),
    Label.EYES: (255, 0, 0),
    Label.BROWS: (255, 0, 0),
    Label.HAIR: (0, 0, 0),
    Label.NECK: (0, 255, 0),
    Label.TORSO: (0, 0, 255),
}


def talkinggaussian_colours(labels: np.ndarray) -> np.ndarray:
    """``[H, W]`` label map → ``[H, W, 3]`` uint8 BGR image in TalkingGaussian's colour code."""
    palette = np.zeros((256, 3), np.uint8)
    for label, bgr in TALKINGGAUSSIAN_BGR.items():
        palette[label] = bgr
    return palette[labels]
