# Paths, config validation and input functions shared by every phase's rules.
import json
import re
from pathlib import Path

import yaml
from snakemake.utils import validate

from talkgs.config import baseline_entries, explain_config_errors
from talkgs.layout import AUDIO_FEATURE_FILES, IdentityLayout
from talkgs.train.presets import JOB_SIZES, resolve_method

CONFIG_SCHEMA = Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"

# Readable messages first (which key, what is wrong); then Snakemake's validation fills defaults.
explain_config_errors(config, CONFIG_SCHEMA)
validate(config, CONFIG_SCHEMA)

IDENTITIES = sorted(config["identities"])
IDENTITY_PATTERN = yaml.safe_load(CONFIG_SCHEMA.read_text())["properties"]["identities"][
    "propertyNames"
]["pattern"]
# Every artifact path of one identity, with the {identity} wildcard left in (talkgs.layout).
ID = IdentityLayout("results/{identity}")
# The identity whose audio drives a cross-driven render.
AUDIO_ID = IdentityLayout("results/{audio_identity}")
METHODS = sorted(config["methods"])
# Every method entry resolved once, while the DAG is built: a wrong family, preset or params key
# stops the run here, in one line, instead of inside its first training job.
METHOD_FAMILY = {
    m: resolve_method(m, config["methods"][m], config["train"]["preset"]).spec for m in METHODS
}
CROSS_AUDIO = config["render"]["cross_audio"]
for _name in CROSS_AUDIO:
    if _name not in config["identities"]:
        raise ValueError(f"config.yaml: render.cross_audio: {_name!r} is not an identity")
# External code bases' renders, evaluated like the methods (talkgs.baselines).
BASELINES = baseline_entries(config["baselines"], IDENTITIES, METHODS)
if config["tables"]["reference"] not in (None, *METHODS, *BASELINES):
    raise ValueError(
        f"config.yaml: tables.reference: {config['tables']['reference']!r} is neither a method "
        "nor a baseline"
    )


def one_of(names):
    """A wildcard constraint matching exactly these names (none: matching nothing)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


def source_video(wildcards):
    """The source video of an identity, as written in config.yaml."""
    return config["identities"][wildcards.identity]


AUDIO_EXTRACTOR_OF_FILE = {name: extractor for extractor, name in AUDIO_FEATURE_FILES.items()}


def au_inputs(wildcards):
    """The au rule reads the landmarks and neutral frame, or the user's OpenFace CSV."""
    layout = IdentityLayout(f"results/{wildcards.identity}")
    if config["au"]["backend"] == "openface":
        csv = config["au"]["openface_csv"].get(wildcards.identity)
        if csv is None:
            raise ValueError(
                f"config.yaml: au.backend is openface but au.openface_csv has no entry for "
                f"identity {wildcards.identity!r}"
            )
        return {"meta": layout.meta, "openface_csv": csv}
    return {"meta": layout.meta, "landmarks": layout.landmarks, "neutral": layout.neutral}


def au_source_arguments(wildcards, input):
    return " ".join(
        f"--{name.replace('_', '-')} {input[name]}"
        for name in ("landmarks", "neutral", "openface_csv")
        if name in input.keys()
    )


def identity_root(wildcards, input):
    """--identity-root: the folder of the identity's declared audio.wav, so that it is wherever
    the inputs are (a storage plugin may put them elsewhere than results/)."""
    return str(Path(input.audio).parent)


def audio_identity_root(wildcards, input):
    """--cross-audio: the folder of the driving identity's declared audio.wav."""
    return str(Path(input.cross_audio).parent)


def method_entry(method):
    """A method's config entry, with the default preset and audio features filled in."""
    return config["methods"][method]


def method_audio_features(method):
    """The audio features a method trains on: its params', else its family's default."""
    params = method_entry(method).get("params") or {}
    return params.get("audio_features", METHOD_FAMILY[method].defaults["audio_features"])


# Per method, computed once: its entry as compact JSON (a Snakemake param, so editing the entry
# reruns that method's jobs and no other), the audio features it trains on, and its job sizes by
# preset (talkgs.train.presets.JOB_SIZES).
METHOD_JSON = {
    m: json.dumps(method_entry(m), sort_keys=True, separators=(",", ":")) for m in METHODS
}
METHOD_AUDIO_FEATURES = {m: method_audio_features(m) for m in METHODS}
METHOD_JOB_SIZE = {
    m: JOB_SIZES[method_entry(m).get("preset", config["train"]["preset"])] for m in METHODS
}


def method_json(wildcards):
    return METHOD_JSON[wildcards.method]


def method_job_size(field):
    """A training or render job's resource by its method's preset (memory MB or minutes)."""
    return lambda wildcards: getattr(METHOD_JOB_SIZE[wildcards.method], field)


# Job sizes live in each rule's `resources:` (the one place; the slurm profile adds only the GPU
# and partitions): memory in MB and runtime in minutes for a ~7 000-frame (280 s) identity, a wide
# margin over the stage speeds in the README's performance table.
def per_attempt(amount):
    """A resource that grows with each retry: a job killed for memory or time gets more."""
    return lambda wildcards, attempt: amount * attempt


# The sam2 parser on a CPU is far slower than the others.
PARSING_MINUTES = 180 if config["parsing"]["backend"] == "sam2" else 30


# Device, frame placement and the paper-on-CPU opt-in of training and render jobs.
RUNTIME_OPTIONS = (
    f"--device {config['train']['device']} --frames-in {config['train']['frames']}"
    + (" --allow-paper-on-cpu" if config["train"]["allow_paper_on_cpu"] else "")
)

TRAINING_STAGES = ("face", "mouth", "fuse")
# What every training and render job reads of its identity (with the {identity} wildcard),
# besides the audio features of its method (training_audio_features).
TRAINING_INPUTS = {
    "frames": ID.frames,
    "audio": ID.audio,
    "parsing": ID.parsing,
    "background": ID.background,
    "gt_imgs": ID.gt_imgs,
    "pose": ID.pose,
    "au": ID.au,
}


# What the three training rules (train_face, train_mouth, train_fuse) share: their params and
# their command line, which differ only in the stage and the fuse stage's two input models.
TRAINING_PARAMS = {
    "manifest": config["weights"]["manifest"],
    "weights": config["weights"]["dir"],
    "root": identity_root,
    "method": method_json,
    "preset": config["train"]["preset"],
    "backend": config["train"]["backend"],
    "runtime": RUNTIME_OPTIONS,
    "seed": config["train"]["seed"],
}


def train_command(stage, models=""):
    return (
        f"talkgs train --stage {stage} --identity-root {{params.root}} --method {{wildcards.method}}"
        " --method-config {params.method:q} --preset {params.preset} --backend {params.backend}"
        " {params.runtime} --seed {params.seed} --threads {threads}"
        " --weights-manifest {params.manifest} --weights-dir {params.weights}"
        f"{models} --output {{output.model}} --summary {{output.summary}} --log {{log}}"
    )


def family_inputs(wildcards):
    """The feature files only the method's family reads (talkgs.train.families: its
    ``inputs``, e.g. Talk2Me's eyes.csv), so that they rerun only that family's jobs."""
    layout = IdentityLayout(f"results/{wildcards.identity}")
    return [getattr(layout, name) for name in METHOD_FAMILY[wildcards.method].inputs]


def generates_motion(method):
    """render.motion: generated, for a family driven by an expression vector (talk2me)."""
    return (
        config["render"]["motion"] == "generated"
        and METHOD_FAMILY[method].expression_feature is not None
    )


def motion_inputs(wildcards):
    """When a render generates motion: the identity's Expression Generator and the mel windows
    it reads (its own identity's and, for a cross-driven render, the driving identity's), and
    for a cross-driven render the camera file of the poses generated for the driving audio."""
    if not generates_motion(wildcards.method):
        return {}
    layout = IdentityLayout(f"results/{wildcards.identity}")
    inputs = {
        "expression_generator": layout.expression_generator,
        "expression_audio": layout.audio_features("mel"),
    }
    if "audio_identity" in wildcards.keys():
        driver = IdentityLayout(f"results/{wildcards.audio_identity}")
        inputs["cross_expression_audio"] = driver.audio_features("mel")
        inputs["generated_poses"] = layout.generated_poses(wildcards.audio_identity)
    return inputs


def motion_options(wildcards, input):
    options = []
    if "expression_generator" in input.keys():
        options.append(f"--expression-generator {input.expression_generator}")
    if "generated_poses" in input.keys():
        options.append(f"--poses {input.generated_poses}")
    return " ".join(options)


# What the two render rules (render: validation frames, render_cross: driven by another
# identity's audio) share.
RENDER_PARAMS = {
    "root": identity_root,
    "method": method_json,
    "preset": config["train"]["preset"],
    "backend": config["train"]["backend"],
    "runtime": RUNTIME_OPTIONS,
    "motion": motion_options,
}


def render_command(outputs):
    return (
        "talkgs render --identity-root {params.root} --method {wildcards.method}"
        " --method-config {params.method:q} --preset {params.preset} --backend {params.backend}"
        " {params.runtime} --threads {threads} --model {input.model}"
        f"{outputs} {{params.motion}} --log {{log}}"
    )


def head_motion_summaries():
    """The pose generators' summaries (head-motion metrics) of every identity, when some
    method generates motion (render.motion: generated, a talk2me method)."""
    if not any(generates_motion(method) for method in METHODS):
        return []
    return [IdentityLayout(f"results/{identity}").pose_generator_summary for identity in IDENTITIES]


def training_audio_features(wildcards):
    layout = IdentityLayout(f"results/{wildcards.identity}")
    return layout.audio_features(METHOD_AUDIO_FEATURES[wildcards.method])


def cross_audio_features(wildcards):
    layout = IdentityLayout(f"results/{wildcards.audio_identity}")
    return layout.audio_features(METHOD_AUDIO_FEATURES[wildcards.method])


def cross_pairs(identity):
    """The identities whose audio drives ``identity`` (render.cross_audio, itself excluded)."""
    return [name for name in CROSS_AUDIO if name != identity]


def cross_video_map(wildcards):
    """Driving identity → the cross-driven mp4 of this identity and method (or baseline)."""
    layout = IdentityLayout(f"results/{wildcards.identity}")
    name = wildcards.method
    if name in BASELINES:
        return {
            a: layout.baseline_cross_video(name, a)
            for a in BASELINES[name].cross_audios(wildcards.identity)
        }
    return {a: layout.cross_video(name, a) for a in cross_pairs(wildcards.identity)}


def cross_videos_of(wildcards):
    return list(cross_video_map(wildcards).values())


def cross_truths_of(wildcards):
    """The driving identities' frames: the recorded mouths the cross renders' lips follow."""
    return [IdentityLayout(f"results/{a}").gt_imgs for a in cross_video_map(wildcards)]


def cross_evaluate_arguments(wildcards):
    return " ".join(
        f"--cross-audio {a} --cross-video {video}"
        f" --cross-truth {IdentityLayout(f'results/{a}').gt_imgs}"
        for a, video in cross_video_map(wildcards).items()
    )


def baseline_renders(wildcards):
    """The baseline's renders of this identity's validation frames, as config.yaml names them."""
    return BASELINES[wildcards.baseline].renders_of(wildcards.identity)


def baseline_cross_renders(wildcards):
    return BASELINES[wildcards.baseline].cross_of(wildcards.identity, wildcards.audio_identity)


def baseline_offset(wildcards):
    return BASELINES[wildcards.baseline].offset


def all_metrics():
    """metrics/<name>.json of every identity × method, and of every baseline where it has renders."""
    files = expand(ID.metrics("{method}"), identity=IDENTITIES, method=METHODS)
    return files + [
        IdentityLayout(f"results/{identity}").metrics(name)
        for name, entry in BASELINES.items()
        for identity in IDENTITIES
        if entry.renders_of(identity) is not None
    ]


def tables_options():
    tables = config["tables"]
    options = [f"--per-identity {' '.join(tables['per_identity'])}"]
    if tables["published"]:
        options.append(f"--published {tables['published']}")
    if tables["std"]:
        options.append("--std")
    if tables["reference"]:
        options.append(f"--reference {tables['reference']}")
    return " ".join(options)


def audio_extractors():
    """The audio features every identity gets: audio.extractors and those a method trains on."""
    return sorted({*config["audio"]["extractors"], *(method_audio_features(m) for m in METHODS)})


PER_IDENTITY_JOBS = ("ingest", "landmarks", "parsing", "matting", "pose", "neutral", "eyes", "au")
PER_METHOD_JOBS = ("train_face", "train_mouth", "train_fuse", "render", "evaluate")


def all_benchmarks(wildcards):
    """Every job's benchmark file, for the runtimes figure of the report."""
    files = [f"benchmarks/{i}/{job}.tsv" for i in IDENTITIES for job in PER_IDENTITY_JOBS]
    files += [
        f"benchmarks/{i}/audio_{AUDIO_FEATURE_FILES[e]}.tsv"
        for i in IDENTITIES
        for e in audio_extractors()
    ]
    files += [
        f"benchmarks/{i}/{m}/{job}.tsv" for i in IDENTITIES for m in METHODS
        for job in PER_METHOD_JOBS
    ]
    return files


def final_outputs():
    """The targets of the default run: every identity's preprocessing artifacts, every method's
    renders, the tables and the runtimes figure. An output of a job already listed through
    another of its outputs (meta.json and audio.wav beside the ingest preview, au.csv beside its
    plot, a render's summary beside its video) or read by a listed job (neutral.json) is left
    out: each target is one more edge for Snakemake to resolve while it builds the DAG."""
    return expand(
        [
            ID.ingest_preview,
            ID.parsing_preview,
            ID.background,
            ID.transforms_train,
            ID.transforms_val,
            ID.pose_quality,
            ID.pose_plot,
            ID.au_plot,
            ID.eyes,
        ],
        identity=IDENTITIES,
    ) + [
        IdentityLayout(f"results/{identity}").audio_features(extractor)
        for identity in IDENTITIES
        for extractor in audio_extractors()
    ] + expand(ID.render_video("{method}"), identity=IDENTITIES, method=METHODS) + [
        "results/tables/tables.html",
        "results/report/runtimes.png",
    ]
