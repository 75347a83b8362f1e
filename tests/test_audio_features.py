"""The audio stage: row counts, alignment, the demo's speech onset, HuBERT and AVE loading."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from conftest import REPO
from talkgs import ingest
from talkgs.checksum import sha256_of
from talkgs.errors import TalkgsError
from talkgs.features import audio
from talkgs.features.ave import AVE_WEIGHT, AveAudioEncoder, ave_features, load_ave
from talkgs.features.hubert import Hubert, hubert_features, load_hubert
from talkgs.features.phones import PHONE_CLASSES, SILENCE, frame_phones
from talkgs.media import write_wav
from talkgs.weights import WeightStore

FRAMES = 30  # 1.2 s clips for the shape tests
TINY_HIDDEN = 32


def write_meta(folder: Path, frame_count: int, fps: int = 25) -> Path:
    meta = folder / "meta.json"
    meta.write_text(json.dumps({"frame_count": frame_count, "fps": fps}))
    return meta


def write_manifest(folder: Path, entries: dict[str, Path], weights: Path) -> Path:
    """A manifest declaring each file (path under ``weights``) with its real sha256."""
    manifest = folder / "weights.yaml"
    declared = {
        name: {
            "file": file.relative_to(weights).as_posix(),
            "sha256": sha256_of(file),
            "bytes": file.stat().st_size,
            "source": "test",
            "licence": "test",
            "used_by": f"audio.extractors: [{name}]",
        }
        for name, file in entries.items()
    }
    manifest.write_text(yaml.safe_dump({"weights": declared}))
    return manifest


def tiny_hubert_config(layers: int = 2, positions: int = 16, groups: int = 2):  # -> HubertConfig
    """HuBERT-large's layout (layer-norm conv encoder, stable layer norm, standard 320-sample
    stride) at toy width."""
    from transformers import HubertConfig

    return HubertConfig(
        hidden_size=TINY_HIDDEN,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=positions,
        num_conv_pos_embedding_groups=groups,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        conv_bias=True,
        vocab_size=32,
    )


def randomised_ave() -> AveAudioEncoder:
    """Random weights and batch-norm statistics, so a load that kept defaults would show."""
    torch.manual_seed(0)
    encoder = AveAudioEncoder()
    for module in encoder.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
    return encoder.eval()


@pytest.fixture(scope="module")
def user_weights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, AveAudioEncoder]:
    """A weights folder like a user's: a HubertForCTC checkpoint directory (the real model's
    class, so keys carry the ``hubert.`` prefix and a CTC head) and an AVE state dict saved as
    SyncTalk's file is; returns (manifest, weights folder, the AVE model)."""
    from transformers import HubertForCTC

    weights = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    HubertForCTC(tiny_hubert_config()).save_pretrained(weights / "hubert-tiny")
    encoder = randomised_ave()
    torch.save(encoder.audio_encoder.state_dict(), weights / "audio_visual_encoder.pth")
    entries = {
        "hubert_tiny": weights / "hubert-tiny" / "model.safetensors",
        AVE_WEIGHT: weights / "audio_visual_encoder.pth",
    }
    manifest = write_manifest(tmp_path_factory.mktemp("manifest"), entries, weights)
    return manifest, weights, encoder


@pytest.fixture(scope="module")
def ingested_demo(demo_clip: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory):
    """The 3 s demo through the ingest stage only: (audio.wav, meta.json, truth)."""
    video, truth = demo_clip
    out = tmp_path_factory.mktemp("demo-ingest")
    ingest.run(
        ingest.IngestInputs(video),
        ingest.IngestOutputs(
            out / "frames", out / "audio.wav", out / "preview.jpg", out / "meta.json"
        ),
        ingest.IngestParams(),
    )
    return out / "audio.wav", out / "meta.json", json.loads(truth.read_text())


def params_for(extractor: str, manifest: Path, weights: Path) -> audio.AudioParams:
    return audio.AudioParams(
        extractor=extractor,
        hubert_model="hubert_tiny",
        weights_manifest=manifest,
        weights_dir=weights,
        hubert_chunk_s=0.5,  # several chunks even for a 1.2 s clip
        hubert_context_s=0.1,
    )


# ---------------------------------------------------------------------------------------------
# One row per frame, whatever the input


INPUTS = {  # name: (sample rate, channels, seconds relative to the frames)
    "16k mono": (16000, 1, 0.0),
    "44.1k stereo": (44100, 2, 0.0),
    "48k stereo": (48000, 2, 0.0),
    "longer": (16000, 1, +0.037),
    "shorter": (48000, 2, -0.061),
}


@pytest.mark.parametrize("extractor", audio.EXTRACTORS)
def test_one_row_per_frame(
    extractor: str, user_weights: tuple[Path, Path, AveAudioEncoder], tmp_path: Path
) -> None:
    manifest, weights, _ = user_weights
    meta = write_meta(tmp_path, FRAMES)
    rng = np.random.default_rng(1)
    expected_tail = {
        "mel": (16, 80),
        "hubert": (2, TINY_HIDDEN),
        "ave": (512,),
        "phones": (len(PHONE_CLASSES),),
    }[extractor]
    for name, (rate, channels, extra_s) in INPUTS.items():
        samples = 0.1 * rng.standard_normal((round((FRAMES / 25 + extra_s) * rate), channels))
        wav = tmp_path / f"{name}.wav"
        write_wav(wav, samples.astype(np.float32), rate)
        out = tmp_path / name / audio.EXTRACTOR_FILES[extractor]
        summary = audio.run(wav, meta, out, params_for(extractor, manifest, weights))
        features = np.load(out)
        assert features.shape == (FRAMES, *expected_tail), name
        assert features.dtype == np.float32 and np.isfinite(features).all(), name
        assert summary["shape"] == list(features.shape)
        assert not list(out.parent.glob(".*tmp*")), "no temporary file is left behind"


def test_extractor_file_names() -> None:
    # the TalkingGaussian loader reads aud_hu.npy for HuBERT (ANCHORS.md)
    assert audio.EXTRACTOR_FILES["hubert"] == "aud_hu.npy"
    assert set(audio.EXTRACTOR_FILES) == {"mel", "hubert", "ave", "phones"}


def test_mel_is_byte_reproducible_and_resampling_keeps_content(tmp_path: Path) -> None:
    meta = write_meta(tmp_path, FRAMES)
    t = np.arange(round(FRAMES / 25 * 48000)) / 48000
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    write_wav(tmp_path / "48k.wav", np.stack([tone, tone], axis=1), 48000)
    write_wav(tmp_path / "16k.wav", tone[::3], 16000)
    params = audio.AudioParams()
    for name in ("a", "b"):
        audio.run(tmp_path / "48k.wav", meta, tmp_path / name / "aud_mel.npy", params)
    first, second = (tmp_path / name / "aud_mel.npy" for name in ("a", "b"))
    assert first.read_bytes() == second.read_bytes()
    audio.run(tmp_path / "16k.wav", meta, tmp_path / "aud_mel.npy", params)
    # 440 Hz at 48 kHz stereo and at 16 kHz mono give the same spectrum (in the interior)
    difference = np.abs(np.load(first) - np.load(tmp_path / "aud_mel.npy"))[3:-3]
    assert difference.max() < 0.05


# ---------------------------------------------------------------------------------------------
# Mel: the same numbers as Wav2Lip/SyncTalk's librosa pipeline, windows centred on the frame


def test_mel_matches_the_upstream_librosa_pipeline() -> None:
    import librosa

    basis = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    np.testing.assert_allclose(audio.mel_filterbank(), basis, rtol=1e-5, atol=1e-7)

    rng = np.random.default_rng(2)
    frame_count = 20
    samples = (0.2 * rng.standard_normal(frame_count * 640)).astype(np.float32)
    ours = audio.log_mel_windows(samples, frame_count)

    # Upstream: pre-emphasis, centred STFT (hop 200), magnitude, mel, dB - 20, [-4, 4]. Its
    # windows are centred on multiples of 200 samples; prepending 1700 zeros puts window
    # k + 1 where ours has window k of frame 0 (and of every 5th frame: 5 · 640 = 16 · 200).
    emphasised = np.append(samples[0], samples[1:] - 0.97 * samples[:-1])
    shifted = torch.from_numpy(np.concatenate([np.zeros(1700, np.float32), emphasised]))
    spectrum = torch.stft(
        shifted.double(), 800, 200, window=torch.hann_window(800, dtype=torch.float64),
        center=True, pad_mode="constant", return_complex=True,
    ).abs().numpy()  # fmt: skip
    db = 20 * np.log10(np.maximum(1e-5, basis.astype(np.float64) @ spectrum)) - 20
    upstream = np.clip(8 * (db + 100) / 100 - 4, -4, 4).T  # [windows, 80]
    for frame in range(0, frame_count, 5):
        first = 16 * (frame // 5) + 1
        np.testing.assert_allclose(ours[frame], upstream[first : first + 16], atol=2e-4)


@pytest.mark.parametrize("offset_ms", [0.0, 6.0, -9.0, 15.0, -19.0])
def test_mel_click_lands_in_its_frame(offset_ms: float) -> None:
    frame_count, clicked = 25, 11
    time_s = clicked / 25 + offset_ms / 1000
    samples = np.zeros(frame_count * 640, np.float32)
    samples[round(time_s * 16000)] = 1.0
    energy = audio.log_mel_windows(samples, frame_count).mean(axis=2)  # [T, 16]
    heard = np.flatnonzero((energy > -4 + 1e-6).any(axis=1))
    distance_s = np.abs(time_s - np.arange(frame_count) / 25)
    # frames are heard exactly as far as their 16 windows reach: 7.5 hops + half a window
    assert set(np.flatnonzero(distance_s < 0.1)) <= set(heard)
    assert set(heard) <= set(np.flatnonzero(distance_s < 0.11875))
    for frame in heard:
        # window m is centred on t_frame + (m - 7.5) · 12.5 ms: the loudest is the nearest one,
        # so in the clicked frame the click sits around windows 7-8 (a frame off: 7.5 ± 3.2)
        expected = np.clip((time_s - frame / 25) / 0.0125 + 7.5, 0, 15)
        assert abs(int(np.argmax(energy[frame])) - expected) <= 0.5 + 1e-9, frame
    assert clicked in heard


# ---------------------------------------------------------------------------------------------
# The demo: speech onset from the features against the truth


def truth_onset(truth: dict) -> int:
    """First frame whose speech RMS rises above 2% of the loudest frame's (−34 dB)."""
    rms = np.array([frame["speech_rms"] for frame in truth["frames"]])
    return int(np.flatnonzero(rms > 0.02 * rms.max())[0])


def test_demo_speech_onset(ingested_demo: tuple[Path, Path, dict], tmp_path: Path) -> None:
    wav, meta, truth = ingested_demo
    onset = truth_onset(truth)
    assert onset > 3, "the demo starts with silence"

    audio.run(wav, meta, tmp_path / "aud_mel.npy", audio.AudioParams())
    mel = np.load(tmp_path / "aud_mel.npy")
    assert len(mel) == truth["frame_count"]
    centre = mel[:, 7:9].mean(axis=(1, 2))  # the two windows around each frame's time
    quiet, loud = np.percentile(centre, [5, 95])
    mel_onset = int(np.flatnonzero(centre > quiet + 0.25 * (loud - quiet))[0])
    assert abs(mel_onset - onset) <= 1, (mel_onset, onset)

    audio.run(wav, meta, tmp_path / "aud_phones.npy", audio.AudioParams(extractor="phones"))
    phones = np.load(tmp_path / "aud_phones.npy")
    assert phones.shape == (truth["frame_count"], len(PHONE_CLASSES))
    assert (phones.sum(axis=1) == 1).all()
    classes = phones.argmax(axis=1)
    phone_onset = int(np.flatnonzero(classes != SILENCE)[0])
    assert abs(phone_onset - onset) <= 1, (phone_onset, onset)
    assert len(set(classes[onset:].tolist())) > 8, "speech decodes into many different phones"


def test_phone_of_a_frame_is_the_majority_of_its_centred_40_ms() -> None:
    a, b = PHONE_CLASSES.index("AA"), PHONE_CLASSES.index("B")
    steps = np.full(40, SILENCE)  # 10 ms steps; frame i spans steps 4i-2 .. 4i+1
    steps[4 * 3 - 2 : 4 * 3 + 1] = a  # 30 ms of AA up to and including t_3's step
    steps[4 * 3 + 1 :] = b
    steps[4 * 6 - 2 : 4 * 6] = a  # 20 ms of AA before t_6, then B: a tie, B is at t_6
    classes = frame_phones(steps, 10)
    assert classes[3] == a, "3 of frame 3's four steps are AA"
    assert classes[2] == SILENCE and classes[4] == b
    assert classes[6] == b
    assert classes[0] == SILENCE  # steps before the audio count as silence
    assert len(frame_phones(steps, 13)) == 13  # frames past the audio: silence, still a row
    assert frame_phones(steps, 13)[-1] == SILENCE


# ---------------------------------------------------------------------------------------------
# HuBERT


def test_hubert_loads_from_a_local_directory(
    user_weights: tuple[Path, Path, AveAudioEncoder], tmp_path: Path
) -> None:
    manifest, weights, _ = user_weights
    meta = write_meta(tmp_path, FRAMES)
    speech = np.random.default_rng(3).standard_normal(FRAMES * 640).astype(np.float32) * 0.1
    write_wav(tmp_path / "audio.wav", speech, 16000)
    params = params_for("hubert", manifest, weights)
    audio.run(tmp_path / "audio.wav", meta, tmp_path / "aud_hu.npy", params)
    features = np.load(tmp_path / "aud_hu.npy")
    assert features.shape == (FRAMES, 2, TINY_HIDDEN)
    # the CTC checkpoint's encoder weights were loaded, not left at their random init
    from transformers import HubertForCTC

    reference = HubertForCTC.from_pretrained(weights / "hubert-tiny", local_files_only=True)
    loaded = load_hubert(WeightStore(manifest, weights), "hubert_tiny")
    assert loaded.normalize_input, "a layer-norm model without preprocessor_config normalises"
    for key, value in loaded.model.state_dict().items():
        assert torch.equal(value, reference.hubert.state_dict()[key]), key
    as_read = audio.load_audio(tmp_path / "audio.wav")  # 16-bit, as the stage read it
    direct = hubert_features(Hubert(reference.hubert.eval(), True), as_read, FRAMES, 0.5, 0.1)
    np.testing.assert_allclose(features, direct, atol=1e-5)


def test_hubert_rows_are_centred_on_the_frame() -> None:
    from transformers import HubertModel

    # No transformer layers and a 2-tap position convolution: each row sees only its own
    # 400-sample window and the row before it, so a click shows which rows hear it.
    torch.manual_seed(0)
    model = HubertModel(tiny_hubert_config(layers=0, positions=2, groups=1)).eval()
    hubert = Hubert(model, normalize_input=False)
    frame_count = 20
    quiet = np.zeros(frame_count * 640, np.float32)
    silent = hubert_features(hubert, quiet, frame_count)
    for clicked in (0, 7, 19):
        samples = quiet.copy()
        samples[clicked * 640] = 1.0  # at the frame's timestamp
        features = hubert_features(hubert, samples, frame_count)
        rows_heard = (np.abs(features - silent).max(axis=2) > 0).sum(axis=1)  # [T]
        assert rows_heard[clicked] == 2, "both 20 ms rows of the frame contain its timestamp"
        assert set(np.flatnonzero(rows_heard)) <= {clicked, clicked + 1}
        # chunked with enough context, the same numbers (the chunk bookkeeping is exact)
        chunked = hubert_features(hubert, samples, frame_count, chunk_s=0.1, context_s=0.04)
        np.testing.assert_allclose(chunked, features, atol=1e-5)


def test_hubert_missing_config_is_one_line(
    user_weights: tuple[Path, Path, AveAudioEncoder], tmp_path: Path
) -> None:
    _, weights, _ = user_weights
    folder = tmp_path / "weights" / "hubert-tiny"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(
        (weights / "hubert-tiny" / "model.safetensors").read_bytes()
    )
    manifest = write_manifest(
        tmp_path, {"hubert_tiny": folder / "model.safetensors"}, tmp_path / "weights"
    )
    meta = write_meta(tmp_path, FRAMES)
    write_wav(tmp_path / "audio.wav", np.zeros(FRAMES * 640, np.float32), 16000)
    with pytest.raises(TalkgsError, match=r"config\.json: absent") as caught:
        audio.run(
            tmp_path / "audio.wav",
            meta,
            tmp_path / "aud_hu.npy",
            params_for("hubert", manifest, tmp_path / "weights"),
        )
    assert "\n" not in str(caught.value)


# ---------------------------------------------------------------------------------------------
# AVE


def test_ave_state_dict_matches_synctalk() -> None:
    # SyncTalk's AudioEncoder: 13 conv+bn blocks, stored without the "audio_encoder." prefix
    state = AveAudioEncoder().audio_encoder.state_dict()
    assert len(state) == 13 * 7
    assert state["0.conv_block.0.weight"].shape == (32, 1, 3, 3)
    assert state["3.conv_block.0.weight"].shape == (64, 32, 3, 3)
    assert state["11.conv_block.0.weight"].shape == (512, 256, 3, 3)
    assert state["12.conv_block.0.weight"].shape == (512, 512, 1, 1)
    assert state["12.conv_block.1.num_batches_tracked"].dtype == torch.int64
    floats = sum(v.numel() for v in state.values() if v.dtype == torch.float32)
    # the published checkpoint is 11 300 706 bytes: these tensors plus ~30 kB of zip and pickle
    # records for 91 tensors (one block more or less would be >= 147 kB)
    assert 11_300_706 - 40_000 < floats * 4 < 11_300_706


def test_ave_loads_the_checkpoint_format(
    user_weights: tuple[Path, Path, AveAudioEncoder], tmp_path: Path
) -> None:
    manifest, weights, encoder = user_weights
    meta = write_meta(tmp_path, FRAMES)
    speech = np.random.default_rng(4).standard_normal(FRAMES * 640).astype(np.float32) * 0.1
    write_wav(tmp_path / "audio.wav", speech, 16000)
    audio.run(
        tmp_path / "audio.wav", meta, tmp_path / "aud_ave.npy", params_for("ave", manifest, weights)
    )
    features = np.load(tmp_path / "aud_ave.npy")
    assert features.shape == (FRAMES, 512)
    # the same as the saved model on the same mel windows: its weights and statistics loaded
    mel = audio.log_mel_windows(audio.load_audio(tmp_path / "audio.wav"), FRAMES)
    np.testing.assert_allclose(features, ave_features(encoder, mel), atol=1e-5)
    assert features.std() > 0


def test_ave_wrong_key_is_one_line(tmp_path: Path) -> None:
    state = randomised_ave().audio_encoder.state_dict()
    state["13.conv_block.0.weight"] = state.pop("12.conv_block.0.weight")
    torch.save(state, tmp_path / "audio_visual_encoder.pth")
    manifest = write_manifest(
        tmp_path, {AVE_WEIGHT: tmp_path / "audio_visual_encoder.pth"}, tmp_path
    )
    with pytest.raises(TalkgsError) as caught:
        load_ave(WeightStore(manifest, tmp_path))
    message = str(caught.value)
    assert "\n" not in message
    assert "audio_visual_encoder.pth: not a SyncTalk audio-visual encoder" in message
    assert "missing keys 12.conv_block.0.weight" in message
    assert "unknown keys 13.conv_block.0.weight" in message


def test_ave_missing_file_is_one_line(tmp_path: Path) -> None:
    meta = write_meta(tmp_path, FRAMES)
    write_wav(tmp_path / "audio.wav", np.zeros(FRAMES * 640, np.float32), 16000)
    manifest = REPO / "resources" / "weights.yaml"  # the real entry, an empty weights folder
    spec = WeightStore(manifest).spec(AVE_WEIGHT)
    params = audio.AudioParams(extractor="ave", weights_manifest=manifest, weights_dir=tmp_path)
    with pytest.raises(TalkgsError) as caught:
        audio.run(tmp_path / "audio.wav", meta, tmp_path / "aud_ave.npy", params)
    message = str(caught.value)
    assert "\n" not in message
    assert "audio_visual_encoder.pth: weight file absent" in message
    assert spec.sha256 in message and "audio.extractors: [ave]" in message
    assert not (tmp_path / "aud_ave.npy").exists()


# ---------------------------------------------------------------------------------------------
# Input errors


def test_bad_inputs_are_one_line(tmp_path: Path) -> None:
    wav = tmp_path / "audio.wav"
    write_wav(wav, np.zeros(640, np.float32), 16000)
    cases = [
        (30, audio.AudioParams(), r"meta\.json: audio features need 25 fps frames"),
        (25, audio.AudioParams(extractor="wav2vec"), r"unknown audio extractor 'wav2vec'"),
    ]
    for fps, params, pattern in cases:
        meta = write_meta(tmp_path, 1, fps=fps)
        with pytest.raises(TalkgsError, match=pattern) as caught:
            audio.run(wav, meta, tmp_path / "aud.npy", params)
        assert "\n" not in str(caught.value)
    meta = write_meta(tmp_path, 1)
    with pytest.raises(TalkgsError, match=r"missing\.wav: no such file"):
        audio.run(tmp_path / "missing.wav", meta, tmp_path / "aud.npy", audio.AudioParams())
    assert not (tmp_path / "aud.npy").exists()
