"""Where each artifact of an identity lives, for the Snakemake rules and for ``talkgs export``.

``IdentityLayout("results/alice")`` gives concrete paths; ``IdentityLayout("results/{identity}")``
gives Snakemake patterns with the wildcard left in. One place names every file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Audio feature files under the names TalkingGaussian's loaders read (ANCHORS.md).
AUDIO_FEATURE_FILES = {
    "mel": "aud_mel.npy",
    "hubert": "aud_hu.npy",
    "ave": "aud_ave.npy",
    "phones": "aud_phones.npy",
}


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

    # features
    @property
    def features(self) -> str:
        return self._at("features")

    @property
    def au(self) -> str:
        return self._at("features/au.csv")

    @property
    def au_plot(self) -> str:
        return self._at("features/au.png")

    @property
    def eyes(self) -> str:
        return self._at("features/eyes.csv")

    @property
    def blinks(self) -> str:
        return self._at("features/blinks.json")

    @property
    def neutral(self) -> str:
        return self._at("features/neutral.json")

    def audio_features(self, extractor: str) -> str:
        """``features/aud_<x>.npy``; HuBERT and AVE keep TalkingGaussian's names."""
        return self._at(f"features/{AUDIO_FEATURE_FILES.get(extractor, f'aud_{extractor}.npy')}")

    # motion generators (audio → expression, head pose), trained per identity
    @property
    def expression_generator(self) -> str:
        return self._at("motion/expression_generator.pt")

    @property
    def expression_generator_summary(self) -> str:
        return self._at("motion/expression_generator.json")

    @property
    def expressions_plot(self) -> str:
        return self._at("motion/expressions.png")

    @property
    def pose_generator(self) -> str:
        return self._at("motion/pose_generator.pt")

    @property
    def pose_generator_summary(self) -> str:
        """The pose generator's summary, with the head-motion metrics of the validation frames."""
        return self._at("motion/pose_generator.json")

    @property
    def poses_plot(self) -> str:
        return self._at("motion/poses.png")

    @property
    def generated_poses_val(self) -> str:
        """Camera file: poses generated for the identity's own validation audio."""
        return self._at("motion/poses_val.json")

    def generated_poses(self, driver: str) -> str:
        """Camera file: poses generated for ``driver``'s validation audio (cross-driven)."""
        return self._at(f"motion/driven_by_{driver}.json")

    # training and rendering, one folder per method
    def method(self, method: str) -> str:
        return self._at(f"methods/{method}")

    def model(self, method: str, stage: str) -> str:
        """The trained model of one stage (face, mouth, fuse)."""
        return self._at(f"methods/{method}/{stage}.pt")

    def training_summary(self, method: str, stage: str) -> str:
        return self._at(f"methods/{method}/{stage}.json")

    def checkpoints(self, method: str) -> str:
        """Resumable training state; not a declared output, so a failed job keeps it."""
        return self._at(f"methods/{method}/checkpoints")

    def render_frames(self, method: str) -> str:
        return self._at(f"methods/{method}/render/val")

    def render_video(self, method: str) -> str:
        return self._at(f"methods/{method}/render/val.mp4")

    def render_summary(self, method: str) -> str:
        return self._at(f"methods/{method}/render/val.json")

    def cross_video(self, method: str, audio_identity: str) -> str:
        return self._at(f"methods/{method}/render/cross_{audio_identity}.mp4")

    # external baselines: another code base's renders, aligned to the validation frames
    def baseline_frames(self, baseline: str) -> str:
        return self._at(f"baselines/{baseline}/val")

    def baseline_summary(self, baseline: str) -> str:
        return self._at(f"baselines/{baseline}/val.json")

    def baseline_cross_video(self, baseline: str, audio_identity: str) -> str:
        return self._at(f"baselines/{baseline}/cross_{audio_identity}.mp4")

    # evaluation (of a method or a baseline: one namespace)
    def metrics(self, method: str) -> str:
        return self._at(f"metrics/{method}.json")

    def metrics_frames(self, method: str) -> str:
        return self._at(f"metrics/{method}.csv")

    def metrics_samples(self, method: str) -> str:
        return self._at(f"metrics/{method}_samples.jpg")

    def lips_plot(self, method: str) -> str:
        return self._at(f"metrics/{method}_lips.png")

    def training_plot(self, method: str) -> str:
        return self._at(f"metrics/{method}_training.png")

    def path(self, name: str) -> Path:
        return Path(getattr(self, name))
