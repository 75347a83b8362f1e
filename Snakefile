# talkgs: talking-head videos → per-identity 3D Gaussian Splatting avatars → paper tables.
# Run `snakemake --cores N` (or `make demo`); on a cluster `snakemake --profile slurm`.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


# Identity names come from config.yaml and are checked there; the same pattern binds the
# wildcard, so no path can be matched as an identity that the config would refuse.
wildcard_constraints:
    identity=IDENTITY_PATTERN.strip("^$"),
    audio_identity=IDENTITY_PATTERN.strip("^$"),
    method=IDENTITY_PATTERN.strip("^$"),
    baseline=IDENTITY_PATTERN.strip("^$"),


include: "workflow/rules/ingest.smk"
include: "workflow/rules/face.smk"
include: "workflow/rules/pose.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/motion.smk"
include: "workflow/rules/baselines.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


# config.yaml check_declared_inputs: every job runs in a shadow directory holding only its
# declared inputs, so a stage that opens an undeclared file (another identity's, or one a rule
# forgot) fails instead of racing the job that writes it (tests/test_workflow.py).
if config["check_declared_inputs"]:
    for _rule in workflow.rules:
        _rule.shadow_depth = "minimal"


localrules:
    all,


rule all:
    input:
        final_outputs(),
    default_target: True
