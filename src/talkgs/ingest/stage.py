"""The ingest stage: a source video → constant-rate face-cropped frames, aligned 16 kHz audio.

Outputs (DESIGN.md, step 1):
- ``frames/000000.jpg …``: ``size`` × ``size`` RGB JPEGs at exactly ``fps`` frames per second;
- ``audio.wav``: 16 kHz mono 16-bit PCM of exactly ``frame_count / fps`` seconds, sample
  ``i`` belonging to time ``i / 16000`` s of frame 0's clock;
- ``meta.json``: source properties, the crop box (source pixels), frame count, sha256.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from talkgs import __version__
from talkgs.atomic import StagedOutputs, write_json
from talkgs.checksum import sha256_of
from talkgs.errors import input_error
from talkgs.ingest.crop import CropBox, FaceBox, FaceDetector, choose_crop, consistent_faces
from talkgs.log import progress
from talkgs.media import (
    MediaInfo,
    VideoReader,
    ffmpeg_message,
    probe,
    read_audio,
    write_wav,
)
from talkgs.preview import first_middle_last, save_strip

log = logging.getLogger("talkgs.ingest")

SAMPLE_RATE = 16000
# Decoded frames fewer than this fraction of what the container promises mean a cut-off file.
TRUNCATION_TOLERANCE = 0.9
DETECTION_LONG_SIDE = 640  # detection runs on downscaled frames; the model works at 192 px


@dataclass(frozen=True)
class IngestParams:
    size: int = 512
    fps: int = 25
    crop_scale: float = 2.4
    min_duration_s: float = 2.0
    face_search_s: float = 3.0  # a face must be found within the first seconds
    detections_per_s: float = 4.0
    max_detections: int = 300
    jpeg_quality: int = 95


@dataclass(frozen=True)
class IngestInputs:
    video: Path


@dataclass(frozen=True)
class IngestOutputs:
    frames: Path
    audio: Path
    preview: Path  # first | middle | last frame side by side, for a person to check the crop
    meta: Path


def run(inputs: IngestInputs, outputs: IngestOutputs, params: IngestParams) -> dict[str, Any]:
    """Ingest one source video; returns the meta dictionary it wrote."""
    source = Path(inputs.video)
    info = check_source(source, params)
    faces = detect_faces(info, params)
    crop = choose_crop(faces, (info.video.width, info.video.height), params.crop_scale)
    log.info("crop %s from %d face detections", crop.as_dict(), len(faces))

    with StagedOutputs(outputs.frames, outputs.audio, outputs.preview, outputs.meta) as staged:
        frame_count = write_frames(info, crop, staged[outputs.frames], params)
        audio_offset = write_audio(info, frame_count, staged[outputs.audio], params.fps)
        write_preview(staged[outputs.frames], frame_count, staged[outputs.preview])
        meta = build_meta(info, params, crop, faces, frame_count, audio_offset)
        write_json(staged[outputs.meta], meta)
    log.info(
        "ingest: %s → %d frames (%.2f s at %d fps), crop %d px at (%d, %d) → %d², audio 16 kHz",
        source.name,
        frame_count,
        frame_count / params.fps,
        params.fps,
        crop.size,
        crop.x,
        crop.y,
        params.size,
    )
    return meta


def check_source(source: Path, params: IngestParams) -> MediaInfo:
    """Probe the source and refuse what cannot become an identity, with a one-line reason."""
    info = probe(source)
    if info.video is None:
        raise input_error(source, "no video stream")
    if info.audio is None:
        raise input_error(source, "no audio stream (talking-head training needs the speech)")
    if info.video.width < 2 or info.video.height < 2:
        raise input_error(source, "video stream has no frame size")
    duration = info.video.duration or info.duration
    if duration < params.min_duration_s:
        raise input_error(
            source, f"too short: {duration:.2f} s (at least {params.min_duration_s:g} s needed)"
        )
    return info


def expected_frames(info: MediaInfo, fps: int) -> int:
    assert info.video is not None
    return round((info.video.duration or info.duration) * fps)


def detect_faces(info: MediaInfo, params: IngestParams) -> list[FaceBox]:
    """Face boxes on frames sampled evenly over the clip (at ``params.fps`` frame indices)."""
    assert info.video is not None
    total = expected_frames(info, params.fps)
    wanted = min(params.max_detections, max(1, int(total / params.fps * params.detections_per_s)))
    every = max(1, total // wanted)
    scale = max(info.video.width, info.video.height) / DETECTION_LONG_SIDE
    scale = max(scale, 1.0)
    width = round(info.video.width / scale) // 2 * 2
    height = round(info.video.height / scale) // 2 * 2
    reader = VideoReader(
        info.path, (width, height), params.fps, [f"scale={width}:{height}"], every=every
    )
    detector = FaceDetector()
    faces: list[FaceBox] = []
    sampled = 0
    try:
        for i, rgb in enumerate(progress(reader, "detect faces", total=total // every + 1)):
            sampled += 1
            face = detector.detect(rgb, i * every, scale=info.video.width / width)
            if face is not None:
                faces.append(face)
    finally:
        detector.close()
    check_decoded(info, reader, sampled * every, params.fps, slack=every)
    search_end = params.face_search_s * params.fps
    if not any(f.frame < search_end for f in faces):
        raise input_error(info.path, f"no face detected in the first {params.face_search_s:g} s")
    kept = consistent_faces(faces)
    log.info(
        "faces in %d of %d sampled frames (%d kept as the clip's face)",
        len(faces),
        sampled,
        len(kept),
    )
    return kept


def check_decoded(
    info: MediaInfo, reader: VideoReader, decoded: int, fps: int, slack: int = 1
) -> None:
    """Refuse a file cut off before its stated duration, or one ffmpeg could not decode."""
    detail = (
        f" (ffmpeg: {ffmpeg_message(reader.errors, info.path)})" if reader.errors.strip() else ""
    )
    expected = expected_frames(info, fps)
    if decoded + slack < TRUNCATION_TOLERANCE * expected:
        raise input_error(
            info.path,
            f"truncated or corrupt: decoded {decoded} of {expected} frames "
            f"({info.duration:.2f} s stated){detail}",
        )
    if reader.returncode not in (0, None):
        raise input_error(info.path, f"cannot decode the video{detail}")
    if detail:
        log.warning("ffmpeg reported decoding problems%s", detail)


def write_frames(info: MediaInfo, crop: CropBox, frames_dir: Path, params: IngestParams) -> int:
    """Decode at constant ``fps``, crop, resize and write ``frames_dir/NNNNNN.jpg``."""
    frames_dir.mkdir()
    size = params.size
    reader = VideoReader(
        info.path,
        (size, size),
        params.fps,
        [crop.ffmpeg_filter(), f"scale={size}:{size}:flags=lanczos"],
    )
    quality = [cv2.IMWRITE_JPEG_QUALITY, params.jpeg_quality]
    count = 0
    for rgb in progress(reader, "write frames", total=expected_frames(info, params.fps)):
        path = frames_dir / f"{count:06d}.jpg"
        if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), quality):
            raise OSError(f"could not write {path}")
        count += 1
    if count == 0:
        raise input_error(info.path, "no frame could be decoded")
    check_decoded(info, reader, count, params.fps)
    return count


def write_preview(frames_dir: Path, frame_count: int, preview_path: Path) -> None:
    """First, middle and last frame side by side, each labelled with its index."""
    tiles = [
        (
            f"frame {i}",
            cv2.cvtColor(cv2.imread(str(frames_dir / f"{i:06d}.jpg")), cv2.COLOR_BGR2RGB),
        )
        for i in first_middle_last(frame_count)
    ]
    save_strip(preview_path, tiles)


def write_audio(info: MediaInfo, frame_count: int, wav_path: Path, fps: int) -> float:
    """Write audio aligned to frame 0 and exactly ``frame_count / fps`` s long; returns offset.

    The offset is the audio stream's start minus the video stream's start: positive means the
    audio starts later, so silence is put in front; negative means it is cut. The tail is
    trimmed or padded with silence (AAC decodes a little long, and recordings may stop early).
    """
    assert info.video is not None and info.audio is not None
    samples = read_audio(info.path, SAMPLE_RATE, channels=info.audio.channels)
    offset_s = info.audio.start_time - info.video.start_time
    shift = round(offset_s * SAMPLE_RATE)
    if shift > 0:
        samples = np.concatenate([np.zeros(shift, np.float32), samples])
    elif shift < 0:
        samples = samples[-shift:]
    wanted = frame_count * SAMPLE_RATE // fps
    if SAMPLE_RATE % fps:
        raise ValueError(f"fps {fps} does not divide {SAMPLE_RATE} Hz into whole samples")
    if len(samples) < wanted:
        log.info("audio %.3f s short: padded with silence", (wanted - len(samples)) / SAMPLE_RATE)
        samples = np.concatenate([samples, np.zeros(wanted - len(samples), np.float32)])
    write_wav(wav_path, samples[:wanted], SAMPLE_RATE)
    return offset_s


def build_meta(
    info: MediaInfo,
    params: IngestParams,
    crop: CropBox,
    faces: list[FaceBox],
    frame_count: int,
    audio_offset_s: float,
) -> dict[str, Any]:
    assert info.video is not None and info.audio is not None
    video, audio = info.video, info.audio
    return {
        "talkgs_version": __version__,
        "source": {
            "path": str(info.path),
            "sha256": sha256_of(info.path),
            "bytes": info.path.stat().st_size,
            "duration_s": round(info.duration, 6),
            "width": video.width,
            "height": video.height,
            "fps": round(video.avg_fps, 6),
            "nominal_fps": round(video.nominal_fps, 6),
            "variable_fps": video.variable_fps,
            "video_codec": video.codec,
            "audio_codec": audio.codec,
            "audio_sample_rate": audio.sample_rate,
            "audio_channels": audio.channels,
        },
        "fps": params.fps,
        "frame_count": frame_count,
        "duration_s": frame_count / params.fps,
        "size": params.size,
        "crop": crop.as_dict(),
        "audio": {
            "file": "audio.wav",
            "sample_rate": SAMPLE_RATE,
            "samples": frame_count * SAMPLE_RATE // params.fps,
            "offset_s": round(audio_offset_s, 6),
        },
        "face_detection": {
            "model": "mediapipe face_detection (full range)",
            "detections_used": len(faces),
            "median_face_px": round(float(np.median([f.extent for f in faces])), 2),
        },
        "params": asdict(params),
    }
