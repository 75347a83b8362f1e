"""The ``talkgs`` command: one subcommand per workflow stage, mirroring the Snakemake rules.

Each subcommand parses its arguments, then imports its stage module (so ``--help`` stays fast)
and calls the stage's plain Python API. A :class:`TalkgsError` becomes one line on stderr
(and in ``--log``) and exit status 2; a bug keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from talkgs import __version__
from talkgs import log as talkgs_log
from talkgs.errors import TalkgsError

Handler = Callable[[argparse.Namespace], None]
EXIT_USER_ERROR = 2


def _demo(args: argparse.Namespace) -> None:
    from talkgs.demo import make_demo

    make_demo(args.video, args.truth, seed=args.seed, duration_s=args.duration)


def _ingest(args: argparse.Namespace) -> None:
    from talkgs import ingest

    params = ingest.IngestParams(size=args.size, fps=args.fps, crop_scale=args.crop_scale)
    ingest.run(
        ingest.IngestInputs(video=args.video),
        ingest.IngestOutputs(
            frames=args.frames, audio=args.audio, preview=args.preview, meta=args.meta
        ),
        params,
    )


def _landmarks(args: argparse.Namespace) -> None:
    from talkgs.face import landmarks

    landmarks.run(args.frames, args.output, landmarks.LandmarksParams(max_missing=args.max_missing))


def _parsing(args: argparse.Namespace) -> None:
    from talkgs.face import parsing

    params = parsing.ParsingParams(
        backend=args.backend,
        weights_manifest=args.weights_manifest,
        weights_dir=args.weights_dir,
        sam2_model=args.sam2_model,
    )
    parsing.run(args.frames, args.landmarks, args.output, args.preview, params)


def _matting(args: argparse.Namespace) -> None:
    from talkgs.face import matting

    outputs = matting.MattingOutputs(args.background, args.gt_imgs, args.torso_imgs)
    matting.run(args.frames, args.parsing, outputs, matting.MattingParams())


def _pose(args: argparse.Namespace) -> None:
    from talkgs import pose

    pose.run(
        pose.PoseInputs(
            frames=args.frames, landmarks=args.landmarks, meta=args.meta, parsing=args.parsing
        ),
        pose.PoseOutputs(
            pose=args.pose,
            train=args.transforms_train,
            val=args.transforms_val,
            quality=args.quality,
            plot=args.plot,
        ),
        pose.PoseParams(fov_deg=args.fov, smoothing=not args.no_smoothing),
    )


def _weights(args: argparse.Namespace) -> None:
    from talkgs.weights import WeightStore, format_status, status_table

    store = WeightStore(args.weights_manifest, args.weights_dir)
    print(format_status(status_table(store), store.directory))


def _export(args: argparse.Namespace) -> None:
    from talkgs import export

    export.run(args.identity, args.results / args.identity, args.output)


def _neutral(args: argparse.Namespace) -> None:
    from talkgs.features import neutral

    neutral.run(args.landmarks, args.pose, args.output, neutral.NeutralParams())


def _eyes(args: argparse.Namespace) -> None:
    from talkgs.features import eyes

    eyes.run(args.landmarks, args.output, args.blinks, eyes.EyesParams())


def _au(args: argparse.Namespace) -> None:
    from talkgs.features import au

    au.run(
        au.AuInputs(args.meta, args.landmarks, args.neutral, args.openface_csv),
        au.AuOutputs(args.output, args.plot),
        au.AuParams(backend=args.backend, leading_space=not args.no_leading_space),
    )


def _audio(args: argparse.Namespace) -> None:
    from talkgs.features import audio

    params = audio.AudioParams(
        extractor=args.extractor,
        weights_manifest=args.weights_manifest,
        weights_dir=args.weights_dir,
    )
    audio.run(args.audio, args.meta, args.output, params)


def _expressions(args: argparse.Namespace) -> None:
    from talkgs.motion import expression

    defaults = expression.ExpressionParams()
    expression.run(
        expression.ExpressionInputs(args.audio_features, args.au, args.eyes, args.neutral),
        expression.ExpressionOutputs(args.output, args.summary, args.plot),
        expression.ExpressionParams(
            iterations=defaults.iterations if args.iterations is None else args.iterations,
            seed=args.seed,
            threads=args.threads,
        ),
    )


def _poses(args: argparse.Namespace) -> None:
    from talkgs.motion import pose

    defaults = pose.PoseParams()
    pose.run(
        pose.PoseInputs(
            args.audio_features, args.au, args.eyes, args.pose, args.expression_generator
        ),
        pose.PoseOutputs(args.output, args.summary, args.poses, args.plot),
        pose.PoseParams(
            iterations=defaults.iterations if args.iterations is None else args.iterations,
            seed=args.seed,
            threads=args.threads,
        ),
    )


def _generate_poses(args: argparse.Namespace) -> None:
    from talkgs.motion import pose

    pose.generate_for_audio(
        args.pose_generator,
        args.expression_generator,
        args.audio_features,
        args.output,
        args.threads,
    )


def _evaluate(args: argparse.Namespace) -> None:
    from talkgs import evaluate

    if len(args.cross_audio) != len(args.cross_video):
        raise TalkgsError("give one --cross-video per --cross-audio")
    if args.cross_truth and len(args.cross_truth) != len(args.cross_audio):
        raise TalkgsError("give one --cross-truth per --cross-audio, or none")
    evaluate.run(
        evaluate.EvaluateInputs(
            identity_root=args.identity_root,
            method=args.method,
            render_frames=args.frames,
            render_summary=args.render_summary,
            training_summaries=args.training_summary,
            cross_videos=dict(zip(args.cross_audio, args.cross_video, strict=True)),
            cross_truths=dict(zip(args.cross_audio, args.cross_truth, strict=False)),
        ),
        evaluate.EvaluateOutputs(
            args.output, args.frames_csv, args.samples, args.training_plot, args.lips_plot
        ),
        evaluate.EvaluateParams(
            weights_manifest=args.weights_manifest,
            weights_dir=args.weights_dir,
            **{name: name not in args.skip for name in ("lpips", "syncnet", "fid", "csim", "cpbd")},
        ),
    )


def _tables(args: argparse.Namespace) -> None:
    from talkgs import tables

    tables.run(
        args.metrics,
        tables.TableOutputs(args.output),
        args.published,
        tables.TableOptions(
            std=args.std, per_identity=tuple(args.per_identity), reference=args.reference
        ),
        head_motion=args.head_motion,
    )


def _baseline(args: argparse.Namespace) -> None:
    from talkgs import baselines

    cross = (args.driver_meta, args.driver_audio, args.cross_video)
    if any(cross) and not all(cross):
        raise TalkgsError(
            "a cross-driven baseline needs --driver-meta, --driver-audio and --cross-video"
        )
    if all(cross):
        baselines.ingest_cross(args.name, args.renders, args.meta, *cross, offset=args.offset)
    elif args.frames and args.summary:
        baselines.ingest(
            args.name, args.renders, args.meta, args.frames, args.summary, offset=args.offset
        )
    else:
        raise TalkgsError("give --frames and --summary (validation renders) or the cross options")


def _runtimes(args: argparse.Namespace) -> None:
    from talkgs.report import plot_runtimes

    plot_runtimes(args.benchmarks, args.output)


def _method(args: argparse.Namespace) -> Any:
    import json

    from talkgs.errors import TalkgsError as Error
    from talkgs.train.presets import resolve_method

    try:
        entry = json.loads(args.method_config)
    except json.JSONDecodeError as error:
        raise Error(f"--method-config: not JSON ({error})") from error
    return resolve_method(args.method, entry, args.preset)


def _train_params(args: argparse.Namespace, method_dir: Path | None) -> Any:
    from talkgs.train.stage import TrainParams

    return TrainParams(
        backend=args.backend,
        device=args.device,
        frames=args.frames_in,
        allow_paper_on_cpu=args.allow_paper_on_cpu,
        threads=args.threads,
        seed=args.seed,
        checkpoint_dir=method_dir / "checkpoints" if method_dir else None,
        snapshot_dir=method_dir / "snapshots" if method_dir else None,
        tensorboard_dir=method_dir / "tensorboard" if method_dir else None,
    )


def _train(args: argparse.Namespace) -> None:
    import dataclasses

    from talkgs.metrics import NotComputed
    from talkgs.metrics.lpips import lpips_or_reason
    from talkgs.train import stage
    from talkgs.weights import WeightStore

    method = _method(args)
    params = _train_params(args, args.output.parent)
    lpips = lpips_or_reason(WeightStore(args.weights_manifest, args.weights_dir))
    if isinstance(lpips, NotComputed):
        logging.getLogger("talkgs.train").info("LPIPS loss not used: %s", lpips.reason)
    else:
        params = dataclasses.replace(params, lpips=lpips.loss)
    stage.run(
        args.stage,
        method,
        stage.TrainInputs(args.identity_root, args.face_model, args.mouth_model),
        stage.TrainOutputs(args.output, args.summary),
        params,
    )


def _render(args: argparse.Namespace) -> None:
    from talkgs import render

    if len(args.cross_audio) != len(args.cross_video):
        raise TalkgsError("give one --cross-video per --cross-audio")
    validation = (args.frames, args.video, args.summary)
    if any(validation) and not all(validation):
        raise TalkgsError("give all of --frames, --video and --summary, or none")
    render.run(
        _method(args),
        args.identity_root,
        args.model,
        render.RenderOutputs(*validation) if all(validation) else None,
        _train_params(args, None),
        cross=list(zip(args.cross_audio, args.cross_video, strict=True)),
        expression_generator=args.expression_generator,
        poses=args.poses,
    )


def _gpu_setup(args: argparse.Namespace) -> None:
    from talkgs.splat import gsplat_build
    from talkgs.splat.agreement import verify_gsplat

    stamp = gsplat_build.build(
        verify_gsplat, args.extensions_dir, args.arch_list, args.jobs, args.force
    )
    agreement = stamp["agreement"]
    action = f"built in {stamp['build_seconds']} s" if stamp["built_now"] else "already built"
    logging.getLogger("talkgs.gpu").info(
        "gpu-setup: gsplat %s %s for %s (architectures %s, nvcc %s) in %s; against the PyTorch "
        "rasterizer: PSNR %.1f dB, gradient error %.1e",
        stamp["gsplat"], action, stamp["device"], ", ".join(stamp["arch_list"]), stamp["nvcc"],
        args.extensions_dir or gsplat_build.extensions_dir(), agreement["psnr_db"],
        agreement["gradient_error"],
    )  # fmt: skip


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = _subparser(
        sub,
        "demo",
        _demo,
        "make the embedded demo identity (video + ground truth)",
        "Animate scikit-image's astronaut portrait with espeak-ng speech: mouth "
        "driven by the speech envelope, blinks and a smooth head motion. Writes a "
        "25 fps mp4 with audio, truth.json (per-frame head transform, mouth "
        "opening, blink) and truth_landmarks.npz beside it. Same seed, same bytes.",
    )
    p.add_argument("--video", type=Path, required=True, help="output mp4")
    p.add_argument("--truth", type=Path, required=True, help="output truth.json")
    p.add_argument("--seed", type=int, default=0, help="motion and blink seed (default 0)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds, 2–12 (default 10)")


def _add_ingest(sub: argparse._SubParsersAction) -> None:
    p = _subparser(
        sub,
        "ingest",
        _ingest,
        "source video → 25 fps face-cropped frames + 16 kHz audio",
        "Probe the source, refuse unusable input with a one-line reason, convert to "
        "constant frame rate, crop one stable square around the face for the whole "
        "clip, resize, and write frames/NNNNNN.jpg, audio.wav (16 kHz mono, exactly "
        "frame_count/fps s) and meta.json. Nothing is left behind on failure.",
    )
    p.add_argument("video", type=Path, help="source video with an audio stream")
    p.add_argument("--frames", type=Path, required=True, help="output folder of JPEG frames")
    p.add_argument("--audio", type=Path, required=True, help="output wav")
    p.add_argument(
        "--preview",
        type=Path,
        required=True,
        help="output JPEG: first | middle | last frame, to check the crop",
    )
    p.add_argument("--meta", type=Path, required=True, help="output meta.json")
    p.add_argument("--size", type=int, default=512, help="output side in pixels (default 512)")
    p.add_argument("--fps", type=int, default=25, help="output frame rate (default 25)")
    p.add_argument(
        "--crop-scale",
        type=float,
        default=2.4,
        help="crop side as a multiple of the face size (default 2.4)",
    )


def _add_landmarks(sub: argparse._SubParsersAction) -> None:
    p = _subparser(
        sub,
        "landmarks",
        _landmarks,
        "MediaPipe Face Mesh (478 points) on every frame",
        "Track Face Mesh landmarks through the frames (refined eyes and lips). Writes "
        "landmarks.npz: landmarks [T,478,3] in pixels, a per-frame detected flag "
        "(missing faces are interpolated and flagged) and the iBUG-68 index map.",
    )
    p.add_argument("--frames", type=Path, required=True, help="folder of ingested frames")
    p.add_argument("--output", type=Path, required=True, help="output landmarks.npz")
    p.add_argument(
        "--max-missing",
        type=float,
        default=0.05,
        help="largest fraction of frames without a face (default 0.05)",
    )


def _add_parsing(sub: argparse._SubParsersAction) -> None:
    p = _subparser(
        sub,
        "parsing",
        _parsing,
        "a label map per frame (face, lips, mouth, hair, …)",
        "Semantic parsing into background, face, lips, inner mouth, teeth, eyes, "
        "brows, hair, neck and torso. Writes NNNNNN.png label maps (values: "
        "talkgs.face.labels.Label) and a preview of three frames.",
    )
    p.add_argument("--frames", type=Path, required=True, help="folder of ingested frames")
    p.add_argument("--landmarks", type=Path, required=True, help="landmarks.npz")
    p.add_argument("--output", type=Path, required=True, help="output folder of label maps")
    p.add_argument("--preview", type=Path, required=True, help="output preview JPEG")
    p.add_argument(
        "--backend",
        choices=("mediapipe", "bisenet", "sam2"),
        default="mediapipe",
        help="mediapipe (default, no weights), bisenet or sam2 (user weights)",
    )
    p.add_argument(
        "--sam2-model",
        choices=("tiny", "small", "base_plus", "large"),
        default="tiny",
        help="which SAM 2.1 checkpoint the sam2 backend loads (default tiny)",
    )
    _add_weights_options(p)


def _add_matting(sub: argparse._SubParsersAction) -> None:
    p = _subparser(
        sub,
        "matting",
        _matting,
        "background plate, gt_imgs and torso_imgs",
        "Build the static background plate bc.jpg (inpainted where never seen), "
        "each frame on that plate (gt_imgs) and the RGBA neck and torso layer "
        "(torso_imgs), as in a TalkingGaussian data folder.",
    )
    p.add_argument("--frames", type=Path, required=True, help="folder of ingested frames")
    p.add_argument("--parsing", type=Path, required=True, help="folder of label maps")
    p.add_argument("--background", type=Path, required=True, help="output bc.jpg")
    p.add_argument("--gt-imgs", type=Path, required=True, help="output folder gt_imgs")
    p.add_argument("--torso-imgs", type=Path, required=True, help="output folder torso_imgs")


def _add_pose(sub: argparse._SubParsersAction) -> None:
    p = _subparser(
        sub,
        "pose",
        _pose,
        "head pose from optical flow, and TalkingGaussian camera files",
        "Track rigid keypoints of the face (forehead, temples, nose, upper cheeks) with "
        "dense optical flow, tie them to the identity's own 3D face (from its Face Mesh "
        "landmarks) and fit every frame's rotation and translation and one focal length "
        "jointly, robustly and smoothly in time (M2DAO-Talker's head pose estimation). "
        "Writes pose.npz, transforms_train.json / transforms_val.json (TalkingGaussian's "
        "camera-to-world, OpenGL axes, last 1/11 of frames for validation), "
        "pose_quality.json (reprojection error, jitter, against per-frame PnP) and a plot.",
    )
    p.add_argument("--frames", type=Path, required=True, help="folder of ingested frames")
    p.add_argument("--landmarks", type=Path, required=True, help="landmarks.npz")
    p.add_argument("--meta", type=Path, required=True, help="meta.json of the ingest stage")
    p.add_argument(
        "--parsing", type=Path, help="folder of label maps (keypoints stay on face and hair)"
    )
    p.add_argument("--pose", type=Path, required=True, help="output pose.npz")
    p.add_argument("--transforms-train", type=Path, required=True, help="output json")
    p.add_argument("--transforms-val", type=Path, required=True, help="output json")
    p.add_argument("--quality", type=Path, required=True, help="output pose_quality.json")
    p.add_argument("--plot", type=Path, required=True, help="output PNG for the report")
    p.add_argument(
        "--fov",
        type=float,
        default=40.0,
        help="horizontal field of view of the source video in degrees, the focal length's "
        "starting point and prior (default 40)",
    )
    p.add_argument(
        "--no-smoothing",
        action="store_true",
        help="leave out the acceleration prior (temporal smoothing)",
    )


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = _subparser(
        sub,
        "export",
        _export,
        "lay an identity out as a TalkingGaussian data folder",
        "Copy one identity's artifacts into the file names and formats of a "
        "TalkingGaussian data folder (ori_imgs with .lms, colour-coded parsing, "
        "bc.jpg, gt_imgs, torso_imgs, teeth_mask, aud.wav and, when present, audio "
        "features, au.csv and transforms), so the upstream code trains on it.",
    )
    p.add_argument("identity", help="identity name from config.yaml")
    p.add_argument("output", type=Path, help="the data folder to create")
    p.add_argument(
        "--results",
        type=Path,
        default=Path("results"),
        help="the workflow's results folder (default results)",
    )


def _add_neutral(sub: argparse._SubParsersAction) -> None:
    p = _subparser(
        sub,
        "neutral",
        _neutral,
        "the identity's neutral frame (frontal, mouth closed, eyes open)",
        "Choose the frame with the most frontal head pose and a closed mouth (IMGTalk's "
        "silent-state reference) and a small neutral set that the AU estimates are relative "
        "to. Writes neutral.json with the criteria and scores.",
    )
    p.add_argument("--landmarks", type=Path, required=True, help="landmarks.npz")
    p.add_argument("--pose", type=Path, required=True, help="pose.npz")
    p.add_argument("--output", type=Path, required=True, help="output neutral.json")


def _add_eyes(sub: argparse._SubParsersAction) -> None:
    p = _subparser(
        sub,
        "eyes",
        _eyes,
        "eye aspect ratio per frame and blink events",
        "Eye aspect ratio (Soukupová & Čech) of both eyes from the Face Mesh landmarks, and "
        "blinks found relative to the identity's open-eye EAR (Talk2Me's eye feature).",
    )
    p.add_argument("--landmarks", type=Path, required=True, help="landmarks.npz")
    p.add_argument("--output", type=Path, required=True, help="output eyes.csv")
    p.add_argument("--blinks", type=Path, required=True, help="output blinks.json")


def _add_au(sub: argparse._SubParsersAction) -> None:
    p = _subparser(
        sub,
        "au",
        _au,
        "17 facial action units per frame, as OpenFace's au.csv",
        "Action-unit intensities (0–5) and presence for HM-Talker's 17 AUs in OpenFace "
        "FeatureExtraction's CSV format, one row per frame: estimated from the landmarks "
        "relative to the neutral frames (default), or imported from a CSV made with OpenFace.",
    )
    p.add_argument("--meta", type=Path, required=True, help="meta.json of the ingest stage")
    p.add_argument("--landmarks", type=Path, help="landmarks.npz (landmarks backend)")
    p.add_argument("--neutral", type=Path, help="neutral.json (landmarks backend)")
    p.add_argument("--openface-csv", type=Path, help="the OpenFace CSV (openface backend)")
    p.add_argument("--backend", choices=("landmarks", "openface", "pyfeat"), default="landmarks")
    p.add_argument("--output", type=Path, required=True, help="output au.csv")
    p.add_argument("--plot", type=Path, help="output PNG of the AU time series")
    p.add_argument(
        "--no-leading-space",
        action="store_true",
        help="plain column names (default: ' AU45_r' as TalkingGaussian reads)",
    )


def _add_audio(sub: argparse._SubParsersAction) -> None:
    p = _subparser(
        sub,
        "audio",
        _audio,
        "audio features, exactly one row per video frame",
        "Resample to 16 kHz mono and compute one feature row per 25 fps video frame: log-mel "
        "windows [T,16,80] (mel, default), HuBERT [T,2,1024] from a local model folder "
        "(hubert), SyncTalk's audio-visual encoder [T,512] (ave), or one-hot phone classes "
        "from pocketsphinx (phones).",
    )
    p.add_argument("--audio", type=Path, required=True, help="audio.wav of the ingest stage")
    p.add_argument("--meta", type=Path, required=True, help="meta.json (the frame count)")
    p.add_argument("--extractor", choices=("mel", "hubert", "ave", "phones"), default="mel")
    p.add_argument("--output", type=Path, required=True, help="output .npy")
    _add_weights_options(p)


def _add_expression_features(p: argparse.ArgumentParser) -> None:
    """The per-frame inputs Talk2Me's generators train on: mel windows, AUs, eye openness."""
    p.add_argument("--audio-features", type=Path, required=True, help="aud_mel.npy [T,16,80]")
    p.add_argument("--au", type=Path, required=True, help="au.csv")
    p.add_argument("--eyes", type=Path, required=True, help="eyes.csv")


def _add_generator_training(p: argparse.ArgumentParser, steps: int) -> None:
    p.add_argument("--iterations", type=int, help=f"optimizer steps (default {steps})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")


def _add_expressions(sub: argparse._SubParsersAction) -> None:
    p = _subparser(
        sub,
        "expressions",
        _expressions,
        "train the identity's expression generator (Talk2Me): audio → expression per frame",
        "Train Talk2Me's Expression Generator (audio and emotion encoders, K-product fusion, "
        "Transformer, region-aware decoding, direct audio path, temporal smoothing) on the "
        "identity's training frames: mel windows → the 17 AU intensities and the eye aspect "
        "ratio of each frame, relative to its neutral frame. Writes the model (.pt, loadable "
        "with torch.load(weights_only=True)), a JSON summary (validation L1, correlation of "
        "the predicted and recorded mouth opening) and a plot of the validation frames.",
    )
    _add_expression_features(p)
    p.add_argument("--neutral", type=Path, required=True, help="neutral.json (the reference)")
    p.add_argument("--output", type=Path, required=True, help="output model file (.pt)")
    p.add_argument("--summary", type=Path, required=True, help="output JSON summary")
    p.add_argument("--plot", type=Path, help="output PNG of the validation frames")
    _add_generator_training(p, 600)


def _add_poses(sub: argparse._SubParsersAction) -> None:
    p = _subparser(
        sub,
        "poses",
        _poses,
        "train the identity's pose generator (Talk2Me): audio and expressions → head pose",
        "Train Talk2Me's Retrieval-Based Pose Generator on the identity's training frames: a "
        "database of its audio/pose units, retrieval by cosine similarity of the audio, and a "
        "Pose Refiner (Kronecker fusion of pose and expression, cross-attention to the audio, "
        "Transformer decoder) trained with reconstruction, velocity and adversarial losses. "
        "Generates the validation frames' poses from their audio (and the Expression "
        "Generator's expressions), writes them as a camera file, compares them with the "
        "recorded ones (angular velocity, jerk, yaw/pitch/roll spread, Fréchet distance of "
        "velocity windows; the replay of training poses as baseline) and plots them.",
    )
    _add_expression_features(p)
    p.add_argument("--pose", type=Path, required=True, help="pose.npz of the pose stage")
    p.add_argument(
        "--expression-generator", type=Path, required=True, help="expression_generator.pt"
    )
    p.add_argument("--output", type=Path, required=True, help="output model file (.pt)")
    p.add_argument("--summary", type=Path, required=True, help="output JSON summary")
    p.add_argument("--poses", type=Path, required=True, help="output camera file (validation)")
    p.add_argument("--plot", type=Path, help="output PNG of yaw/pitch/roll over time")
    _add_generator_training(p, 500)


def _add_generate_poses(sub: argparse._SubParsersAction) -> None:
    p = _subparser(
        sub,
        "generate-poses",
        _generate_poses,
        "head poses generated for another identity's validation audio (a camera file)",
        "With an identity's pose and expression generators, generate the head poses for the "
        "validation frames of an audio (another identity's aud_mel.npy for a cross-driven "
        "render) and write them as a transforms_val.json-style camera file: img_id is the "
        "recorded frame whose background and torso go behind the head, aud_id the audio frame.",
    )
    p.add_argument("--pose-generator", type=Path, required=True, help="pose_generator.pt")
    p.add_argument(
        "--expression-generator", type=Path, required=True, help="expression_generator.pt"
    )
    p.add_argument("--audio-features", type=Path, required=True, help="the driving aud_mel.npy")
    p.add_argument("--output", type=Path, required=True, help="output camera file (.json)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")


def _add_method_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--identity-root",
        type=Path,
        required=True,
        help="the identity's results folder, e.g. results/alice",
    )
    parser.add_argument("--method", required=True, help="method name from config.yaml")
    parser.add_argument(
        "--method-config",
        default="{}",
        help='the method\'s entry as JSON, e.g. \'{"family": "hmtalker", "params": {}}\'',
    )
    parser.add_argument("--preset", default="cpu", help="cpu | paper | tiny (default cpu)")
    parser.add_argument(
        "--backend",
        choices=("auto", "torch", "gsplat"),
        default="auto",
        help="renderer: auto (default: gsplat on a GPU, torch on the CPU), gsplat, torch",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cuda", "cpu"),
        default="auto",
        help="auto (default: CUDA when a GPU is visible), cuda, cpu",
    )
    parser.add_argument(
        "--frames-in",
        choices=("auto", "device", "host", "stream"),
        default="auto",
        help="where the decoded frames are kept: auto (default: the device when they fit, "
        "else pinned host memory, else streamed from disk), device, host, stream",
    )
    parser.add_argument(
        "--allow-paper-on-cpu",
        action="store_true",
        help="train the paper preset even without a GPU (days)",
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = _subparser(
        sub,
        "train",
        _train,
        "train one stage (face, mouth, fuse) of one identity and method",
        "Train the face branch (static, then deformed by audio and AU conditions), the "
        "inside-mouth branch, or the fuse stage that composites both over the background. "
        "Checkpoints every few iterations and on SIGTERM/SIGUSR1 (what SLURM sends before a "
        "time limit); running the same command again resumes from the checkpoint. Writes the "
        "model (.pt, loadable with torch.load(weights_only=True)) and a JSON summary; "
        "snapshots and TensorBoard scalars go beside them.",
    )
    p.add_argument("--stage", choices=("face", "mouth", "fuse"), required=True)
    _add_method_options(p)
    p.add_argument("--face-model", type=Path, help="fuse: the face stage's model")
    p.add_argument("--mouth-model", type=Path, help="fuse: the mouth stage's model")
    p.add_argument("--output", type=Path, required=True, help="output model file (.pt)")
    p.add_argument("--summary", type=Path, required=True, help="output JSON summary")
    _add_weights_options(p)


def _add_render(sub: argparse._SubParsersAction) -> None:
    p = _subparser(
        sub,
        "render",
        _render,
        "render the validation frames (and cross-driven videos) of a trained model",
        "Render every validation frame with its own pose, AUs and audio features to PNG, "
        "encode them as an mp4 with the matching audio, and optionally drive the identity "
        "with other identities' validation audio (--cross-audio/--cross-video pairs).",
    )
    _add_method_options(p)
    p.add_argument("--model", type=Path, required=True, help="the fuse stage's model")
    p.add_argument("--frames", type=Path, help="output folder of PNG validation frames")
    p.add_argument("--video", type=Path, help="output mp4 of the validation frames, with audio")
    p.add_argument("--summary", type=Path, help="output JSON (frames, FPS)")
    p.add_argument(
        "--cross-audio",
        type=Path,
        action="append",
        default=[],
        help="results folder of an identity whose audio drives this one",
    )
    p.add_argument(
        "--cross-video",
        type=Path,
        action="append",
        default=[],
        help="output mp4 for the matching --cross-audio",
    )
    p.add_argument(
        "--expression-generator",
        type=Path,
        help="talk2me: generate the expressions from the driving audio with this Expression "
        "Generator (motion/expression_generator.pt) instead of replaying the recorded ones",
    )
    p.add_argument(
        "--poses",
        type=Path,
        action="append",
        default=[],
        help="talk2me: a camera file of generated poses (talkgs generate-poses) for the "
        "matching --cross-audio, instead of replaying the validation poses",
    )


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = _subparser(
        sub,
        "evaluate",
        _evaluate,
        "metrics of one identity and method on its validation frames",
        "PSNR, SSIM, MS-SSIM, LPIPS, CPBD, LMD, AUE-L/U per frame; Sync-D/C (own and "
        "cross-driven audio), FID, CSIM, training time and rendering FPS per clip. A metric "
        "whose weights are absent is null with the reason. Writes metrics/<method>.json, a "
        "per-frame CSV and a sample strip (ground truth | render | error).",
    )
    p.add_argument("--identity-root", type=Path, required=True, help="results/<identity>")
    p.add_argument("--method", required=True, help="method name")
    p.add_argument("--frames", type=Path, required=True, help="the render stage's PNG frames")
    p.add_argument("--render-summary", type=Path, required=True, help="render/val.json")
    p.add_argument(
        "--training-summary",
        type=Path,
        action="append",
        default=[],
        help="face/mouth/fuse .json (training time)",
    )
    p.add_argument("--cross-audio", action="append", default=[], help="driving identity name")
    p.add_argument(
        "--cross-video", type=Path, action="append", default=[], help="its cross-driven mp4"
    )
    p.add_argument(
        "--cross-truth",
        type=Path,
        action="append",
        default=[],
        help="the driving identity's gt_imgs (its recorded mouth, for the cross lip motion)",
    )
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=("lpips", "syncnet", "fid", "csim", "cpbd"),
        help="leave out a weighted metric (reported as not computed)",
    )
    p.add_argument("--output", type=Path, required=True, help="output metrics JSON")
    p.add_argument("--frames-csv", type=Path, required=True, help="output per-frame CSV")
    p.add_argument("--samples", type=Path, required=True, help="output JPEG strip")
    p.add_argument("--training-plot", type=Path, help="output PNG of the training curves")
    p.add_argument(
        "--lips-plot", type=Path, help="output PNG of the rendered vs recorded mouth opening"
    )
    _add_weights_options(p)


def _add_tables(sub: argparse._SubParsersAction) -> None:
    from talkgs.tables import METRIC_COLUMNS, PER_IDENTITY_DEFAULT  # stdlib only: fast

    p = _subparser(
        sub,
        "tables",
        _tables,
        "paper tables across identities and methods (CSV, Markdown, LaTeX, HTML)",
        "Self-reconstruction (PSNR, LPIPS, SSIM, LMD, AUE-L/U, Sync-C, time, FPS) and "
        "lip-sync (Sync-D/C per driving audio) tables: means over identities, best in bold, "
        "second underlined, optional published rows merged in with their citation; with "
        "--head-motion, the head-motion table (angular velocity, jerk, yaw/pitch/roll spread, "
        "velocity Fréchet distance of recorded, replayed and generated poses).",
    )
    p.add_argument("metrics", type=Path, nargs="+", help="metrics/<method>.json files")
    p.add_argument("--output", type=Path, required=True, help="output folder (results/tables)")
    p.add_argument("--published", type=Path, help="CSV of published numbers (method, citation, …)")
    p.add_argument(
        "--std", action="store_true", help="print mean ± std across identities (sample std)"
    )
    p.add_argument(
        "--per-identity",
        nargs="+",
        default=list(PER_IDENTITY_DEFAULT),
        choices=list(METRIC_COLUMNS),
        metavar="METRIC",
        help=f"metrics of the per-identity table, of {', '.join(METRIC_COLUMNS)} "
        f"(default: {' '.join(PER_IDENTITY_DEFAULT)})",
    )
    p.add_argument(
        "--reference",
        help="a method or baseline the others are compared with identity by identity "
        "(wins and a Wilcoxon signed-rank test per metric)",
    )
    p.add_argument(
        "--head-motion",
        type=Path,
        action="append",
        default=[],
        metavar="SUMMARY",
        help="an identity's pose generator summary (motion/pose_generator.json), once per "
        "identity: the head-motion table (recorded, replayed and generated poses)",
    )


def _add_baseline(sub: argparse._SubParsersAction) -> None:
    p = _subparser(
        sub,
        "baseline",
        _baseline,
        "check and align an external code base's renders for the evaluate stage",
        "Read another code base's renders of an identity's validation frames (an mp4 or a "
        "folder of numbered images), check the frame count against the validation split, "
        "resize square frames to the identity's frame size and write them as the render stage "
        "does (NNNNNN.png named by validation frame, and a summary JSON). With --driver-meta, "
        "--driver-audio and --cross-video: a cross-driven render, written as an mp4 with the "
        "driving identity's validation audio (the renders' own audio is never used).",
    )
    p.add_argument("--name", required=True, help="the baseline's name (config.yaml baselines)")
    p.add_argument("--renders", type=Path, required=True, help="mp4 or folder of numbered images")
    p.add_argument(
        "--meta", type=Path, required=True, help="the identity's meta.json (frame count, size)"
    )
    p.add_argument(
        "--offset",
        type=int,
        default=0,
        help="the baseline's frame j shows validation frame j + offset (default 0)",
    )
    p.add_argument("--frames", type=Path, help="output folder of aligned PNG frames")
    p.add_argument("--summary", type=Path, help="output summary JSON")
    p.add_argument("--driver-meta", type=Path, help="cross: the driving identity's meta.json")
    p.add_argument("--driver-audio", type=Path, help="cross: the driving identity's audio.wav")
    p.add_argument("--cross-video", type=Path, help="cross: output mp4")


def _add_runtimes(sub: argparse._SubParsersAction) -> None:
    p = _subparser(
        sub,
        "runtimes",
        _runtimes,
        "bar chart of every job's runtime, for the report",
        "Read Snakemake benchmark files (benchmarks/**.tsv) and plot each job's wall-clock time.",
    )
    p.add_argument("benchmarks", type=Path, nargs="+", help="benchmark .tsv files")
    p.add_argument("--output", type=Path, required=True, help="output PNG")


def _add_weights(sub: argparse._SubParsersAction) -> None:
    p = _subparser(
        sub,
        "weights",
        _weights,
        "which optional backends have their weight files",
        "List every weight file in the manifest with the backend that uses it and whether it "
        "is present, absent or has the wrong sha256. Nothing is downloaded, ever: put the "
        "files into the weights folder yourself (sources are in resources/weights.yaml).",
    )
    _add_weights_options(p)


def _add_gpu_setup(sub: argparse._SubParsersAction) -> None:
    p = _subparser(
        sub,
        "gpu-setup",
        _gpu_setup,
        "build gsplat's CUDA kernels once for this environment, and prove them",
        "Compile gsplat's CUDA kernels (minutes, once per environment, on a GPU node with an "
        "nvcc matching torch's CUDA) under a lock into the environment's extensions folder, "
        "render a test scene with gsplat and with the PyTorch rasterizer, and mark the build "
        "usable only if they agree. Training and render jobs load this build and never compile.",
    )
    p.add_argument(
        "--extensions-dir",
        type=Path,
        help="where to build (default $TALKGS_TORCH_EXTENSIONS, else "
        "<environment>/share/talkgs/torch_extensions); jobs must see the same folder",
    )
    p.add_argument(
        "--arch-list",
        help="CUDA architectures to build for, e.g. '8.0;9.0' for a cluster with A100 and "
        "H100 nodes (default: this node's GPU)",
    )
    p.add_argument("--jobs", type=int, help="parallel compiler jobs (gsplat's default 10)")
    p.add_argument("--force", action="store_true", help="rebuild even if a valid build exists")


def _add_weights_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights-manifest",
        type=Path,
        default=Path("resources/weights.yaml"),
        help="weights manifest (default resources/weights.yaml)",
    )
    parser.add_argument(
        "--weights-dir",
        type=Path,
        default=Path("resources/weights"),
        help="folder holding the weight files (default resources/weights)",
    )


def _subparser(
    sub: argparse._SubParsersAction, name: str, handler: Handler, summary: str, description: str
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=summary, description=description)
    parser.add_argument("--log", type=Path, help="write progress and messages to this file")
    parser.set_defaults(handler=handler)
    return parser


SUBCOMMANDS = (
    _add_demo,
    _add_ingest,
    _add_landmarks,
    _add_parsing,
    _add_matting,
    _add_pose,
    _add_neutral,
    _add_eyes,
    _add_au,
    _add_audio,
    _add_expressions,
    _add_poses,
    _add_generate_poses,
    _add_train,
    _add_render,
    _add_baseline,
    _add_evaluate,
    _add_tables,
    _add_runtimes,
    _add_export,
    _add_weights,
    _add_gpu_setup,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="talkgs",
        description="Talking-head videos to per-identity 3D Gaussian Splatting avatars. Each "
        "subcommand is one stage of the Snakemake workflow and can be run by hand.",
    )
    parser.add_argument("--version", action="version", version=f"talkgs {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="<stage>")
    for add in SUBCOMMANDS:
        add(sub)
    return parser


@contextlib.contextmanager
def _stage_output(log_path: Path | None) -> Iterator[tuple[IO[str] | None, IO[str]]]:
    """Yield (log stream, terminal stream).

    With a log file, file descriptor 2 itself points at the log while the stage runs, so that
    warnings printed by C++ libraries (MediaPipe, TFLite, ffmpeg) land in the rule's log too and
    the terminal shows only the one-line error, if any.
    """
    if log_path is None:
        yield None, sys.stderr
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", buffering=1) as log_file:
        sys.stderr.flush()
        saved_fd = os.dup(2)
        saved_stderr = sys.stderr
        os.dup2(log_file.fileno(), 2)
        sys.stderr = log_file
        try:
            with os.fdopen(os.dup(saved_fd), "w") as terminal:
                yield log_file, terminal
        finally:
            sys.stderr = saved_stderr
            os.dup2(saved_fd, 2)
            os.close(saved_fd)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with _stage_output(args.log) as (log_file, terminal):
            talkgs_log.configure(log_file)
            try:
                args.handler(args)
            except TalkgsError as error:
                message = f"talkgs {args.command}: error: {error}"
                if log_file is not None:
                    logging.getLogger("talkgs").error(message)
                print(message, file=terminal, flush=True)
                return EXIT_USER_ERROR
    finally:
        talkgs_log.configure(None)  # back to stderr: the log file has closed
    return 0


if __name__ == "__main__":
    sys.exit(main())
