# talkgs: talking-head videos → per-identity 3D Gaussian Splatting avatars → paper tables.
# Run `snakemake --cores N` (or `make demo`); on a cluster `snakemake --profile slurm`.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"


rule all:
    input:
        final_outputs(),
    default_target: True
