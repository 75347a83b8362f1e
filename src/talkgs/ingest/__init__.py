"""Ingest: probe a source video, crop the face, resample to 25 fps frames and 16 kHz audio."""

from talkgs.ingest.stage import IngestInputs, IngestOutputs, IngestParams, run

__all__ = ["IngestInputs", "IngestOutputs", "IngestParams", "run"]
