"""The family registry (src/talkgs/train/families/) and the Talk2Me family."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import yaml

from talkgs.errors import TalkgsError
from talkgs.features.expression import EXPRESSION_NAMES
from talkgs.train.families import FAMILIES
from talkgs.train.families.talk2me import Talk2MeMotion
from talkgs.train.presets import PRESETS, resolve_method

REPO = Path(__file__).resolve().parents[1]


def test_the_config_schema_lists_the_registered_families_and_presets() -> None:
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    method = schema["properties"]["methods"]["additionalProperties"]["properties"]
    assert method["family"]["enum"] == list(FAMILIES)
    assert method["family"]["x-message"] == f"must be one of {', '.join(FAMILIES)}"
    assert sorted(method["preset"]["enum"]) == sorted(PRESETS)


def test_each_family_states_its_options_and_its_papers_counts() -> None:
    for name, family in FAMILIES.items():
        assert family.name == name and family.summary
        method = resolve_method("m", {"family": name}, "paper")
        for key, value in family.paper.items():
            assert getattr(method.preset, key) == value
        # every option is a known params key
        resolve_method("m", {"family": name, "params": dict(family.defaults)}, "cpu")
    # a method's own setting wins over the family's paper count
    custom = resolve_method("m", {"family": "talk2me", "params": {"fuse_iters": 7}}, "paper")
    assert custom.preset.fuse_iters == 7 and custom.preset.face_motion_iters == 17000
    with pytest.raises(TalkgsError, match="path_ratios"):  # HM-Talker's option, not Talk2Me's
        resolve_method("m", {"family": "talk2me", "params": {"path_ratios": [1, 1, 1]}}, "cpu")


def talk2me_motion() -> Talk2MeMotion:
    method = resolve_method("t", {"family": "talk2me"}, "tiny")
    bounds = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])
    motion = FAMILIES["talk2me"].face_motion(method, (16, 80), bounds)
    assert isinstance(motion, Talk2MeMotion)
    return motion


def test_talk2me_weights_expression_near_the_landmarks_and_pose_away_from_them() -> None:
    """Eq. 2: a Gaussian on a landmark follows the expression alone, one beyond d_far the pose
    alone; in between the weight falls linearly with the distance."""
    from talkgs.train.data import Conditions

    torch.manual_seed(0)
    motion = talk2me_motion()
    motion.landmarks.zero_()
    motion.landmarks[:, 0] = torch.linspace(-0.5, 0.5, len(motion.landmarks))  # a line on x
    motion.face_width.fill_(1.0)
    near, far = motion.near, motion.far
    x = float(motion.landmarks[34, 0])
    means = torch.tensor([[x, 0.0, 0.0], [x, 0.0, 0.9], [x, (near + far) / 2, 0.0]])
    weight = motion.expression_weight(means)[:, 0]
    assert weight.tolist() == pytest.approx([1.0, 0.0, 0.5], abs=1e-6)

    count = len(means)
    gaussians = torch.nn.ParameterDict(
        {
            "means": torch.nn.Parameter(means),
            "lpe_index": torch.nn.Parameter(torch.arange(count, dtype=torch.float)[:, None]),
            "lpe_table": torch.nn.Parameter(torch.zeros(count, 32)),
        }
    )
    audio = torch.zeros(1, 8, 16, 80)

    def delta(expression: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        c = Conditions(audio, {"expression": expression, "pose": pose})
        return motion(gaussians, c)[0].detach()

    expression = torch.rand(1, len(EXPRESSION_NAMES))
    pose = torch.rand(1, 6)
    base = delta(expression, pose)
    moved_expression = delta(expression + 0.5, pose)
    moved_pose = delta(expression, pose + 0.5)
    # on the landmark the pose changes nothing; beyond d_far the expression changes nothing
    assert torch.equal(moved_pose[0], base[0]) and not torch.equal(moved_expression[0], base[0])
    assert torch.equal(moved_expression[1], base[1]) and not torch.equal(moved_pose[1], base[1])
    assert base.shape == (count, 14)  # position, scale, rotation, colour and opacity offsets


def test_talk2me_trains_and_its_positional_codes_travel_with_densification(
    demo_trainable, tmp_path: Path
) -> None:
    """Clones and splits inherit their parent's index; the index never changes, the table does;
    the model file carries both, and the landmarks."""
    from talkgs.train.data import IdentityData
    from talkgs.train.initialise import build_model
    from talkgs.train.loop import Trainer
    from talkgs.train.model_file import load_model, save_model
    from talkgs.train.runtime import Runtime

    method = resolve_method("t", {"family": "talk2me"}, "tiny")
    p = method.preset
    cpu = torch.device("cpu")
    root = Path(demo_trainable.root)
    data = IdentityData(root, p.resolution, "mel", p.audio_window, cpu, family=method.spec)
    model = build_model(data, method)
    initial_index = set(model.face.params["lpe_index"].detach().flatten().tolist())
    initial_table = model.face.params["lpe_table"].detach().clone()
    assert float(model.face_motion.landmarks.abs().sum()) > 0  # set from the pose stage
    trainer = Trainer(data, method, "face", model, Runtime(cpu, "torch"))
    counts = [len(trainer.model.face)]
    while trainer.iteration < trainer.total:
        trainer.advance()
        counts.append(len(trainer.model.face))
    face = trainer.model.face.params
    assert len(set(counts)) > 1  # densification ran
    assert len(face["lpe_index"]) == len(face["means"]) == len(face["lpe_table"])
    assert set(face["lpe_index"].detach().flatten().tolist()) <= initial_index
    survivors = len(initial_table)  # gsplat appends clones and splits after the survivors
    assert not torch.equal(face["lpe_table"].detach()[: min(survivors, len(face["means"]))],
                           initial_table[: min(survivors, len(face["means"]))])  # fmt: skip

    path = tmp_path / "face.pt"
    save_model(path, trainer.model, method, "face", "demo", trainer.iteration)
    loaded = load_model(path, method, data.audio_shape)
    index = data.val_ids[0]
    with torch.no_grad():
        a, _ = trainer.model.face_gaussians(data.conditions(index))
        b, _ = loaded.face_gaussians(data.conditions(index))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_eyes_reach_only_the_family_that_reads_them(demo_trainable, tmp_path: Path) -> None:
    from talkgs.train.data import IdentityData

    root = tmp_path / "demo"
    shutil.copytree(demo_trainable.root, root, symlinks=True)
    (root / "features" / "eyes.csv").unlink()
    for name in ("talkinggaussian", "hmtalker", "m2dao"):
        IdentityData(root, 64, "mel", 8, family=FAMILIES[name])  # no eyes.csv needed
    with pytest.raises(TalkgsError, match=r"eyes\.csv") as error:
        IdentityData(root, 64, "mel", 8, family=FAMILIES["talk2me"])
    assert "\n" not in str(error.value)


@pytest.mark.slow
def test_talk2me_renders_with_generated_motion(demo_trainable, tmp_path: Path) -> None:
    """render.motion generated: the face follows the Expression Generator's output for the
    driving audio (the summary says so); a family without an expression vector refuses it; a
    cross-driven render takes its head poses from the pose generator's camera file."""
    from talkgs import render
    from talkgs.motion import expression, pose
    from talkgs.train import stage

    root = Path(demo_trainable.root)
    features = root / "features"
    generator = tmp_path / "expression_generator.pt"
    expression.run(
        expression.ExpressionInputs(
            features / "aud_mel.npy", features / "au.csv", features / "eyes.csv",
            features / "neutral.json",
        ),
        expression.ExpressionOutputs(generator, tmp_path / "expression_generator.json"),
        expression.ExpressionParams(iterations=30),
    )  # fmt: skip
    method = resolve_method("t2", {"family": "talk2me"}, "tiny")
    params = stage.TrainParams(device="cpu", backend="torch")
    model = {s: tmp_path / f"{s}.pt" for s in stage.STAGES}
    for name in ("face", "mouth"):
        outputs = stage.TrainOutputs(model[name], tmp_path / f"{name}.json")
        stage.run(name, method, stage.TrainInputs(root), outputs, params)
    inputs = stage.TrainInputs(root, model["face"], model["mouth"])
    fuse_outputs = stage.TrainOutputs(model["fuse"], tmp_path / "f.json")
    stage.run("fuse", method, inputs, fuse_outputs, params)

    frames = {}
    for motion in ("replay", "generated"):
        out = tmp_path / motion
        summary = render.run(
            method,
            root,
            model["fuse"],
            render.RenderOutputs(out / "val", out / "val.mp4", out / "val.json"),
            params,
            expression_generator=generator if motion == "generated" else None,
        )
        frames[motion] = [p.read_bytes() for p in sorted((out / "val").glob("*.png"))]
        driver = summary["face_driven_by"]
        assert ("Expression Generator (" in driver) == (motion == "generated"), driver
    assert frames["replay"] != frames["generated"]  # the generated expressions reach the face

    other = resolve_method("tg", {"family": "talkinggaussian"}, "tiny")
    with pytest.raises(TalkgsError, match="not driven by an expression vector"):
        render.run(other, root, model["fuse"], None, params, expression_generator=generator)

    # a cross-driven render (the demo driving itself) with the poses generated for the audio
    pose_generator = tmp_path / "pose_generator.pt"
    pose.run(
        pose.PoseInputs(
            features / "aud_mel.npy", features / "au.csv", features / "eyes.csv",
            root / "pose.npz", generator,
        ),
        pose.PoseOutputs(pose_generator, tmp_path / "pg.json", tmp_path / "poses_val.json"),
        pose.PoseParams(iterations=20),
    )  # fmt: skip
    camera = tmp_path / "driven_by_demo.json"
    pose.generate_for_audio(pose_generator, generator, features / "aud_mel.npy", camera)
    videos = {}
    for name, cameras in (("replayed", []), ("generated", [camera])):
        video = tmp_path / f"cross_{name}.mp4"
        render.run(method, root, model["fuse"], None, params, [(root, video)],
                   expression_generator=generator, poses=cameras)  # fmt: skip
        videos[name] = video.read_bytes()
    assert videos["replayed"] != videos["generated"]  # the generated poses reach the render
    with pytest.raises(TalkgsError, match="camera files for 0 cross-driven"):
        render.run(method, root, model["fuse"], None, params, poses=[camera])
