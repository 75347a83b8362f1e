"""Where each artifact of an identity lives, for the Snakemake rules and for ``talkgs export``.

``IdentityLayout("results/alice")`` gives concrete paths; ``IdentityLayout("results/{identity}")``
gives Snakemake patterns with the wildcard left in. One place names every file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class IdentityLayout:
    root: str

    def _at(self, name: str) -> str:
        return f"{self.root}/{name}"

    # ingest
    @property
    def frames(self) -> str:
        return self._at("frames")

    @property
    def audio(self) -> str:
        return self._at("audio.wav")

    @property
    def ingest_preview(self) -> str:
        return self._at("ingest_preview.jpg")

    @property
    def meta(self) -> str:
        return self._at("meta.json")

    # face
    @property
    def landmarks(self) -> str:
        return self._at("landmarks.npz")

    @property
    def parsing(self) -> str:
        return self._at("parsing")

    @property
    def parsing_preview(self) -> str:
        return self._at("parsing_preview.jpg")

    @property
    def background(self) -> str:
        return self._at("bc.jpg")

    @property
    def gt_imgs(self) -> str:
        return self._at("gt_imgs")

    @property
    def torso_imgs(self) -> str:
        return self._at("torso_imgs")

    # pose
    @property
    def pose(self) -> str:
        return self._at("pose.npz")

    @property
    def transforms_train(self) -> str:
        return self._at("transforms_train.json")

    @property
    def transforms_val(self) -> str:
        return self._at("transforms_val.json")

    @property
    def pose_quality(self) -> str:
        return self._at("pose_quality.json")

    @property
    def pose_plot(self) -> str:
        return self._at("pose.png")

    def path(self, name: str) -> Path:
        return Path(getattr(self, name))
