# Paths, config validation and input functions shared by every phase's rules.
from pathlib import Path

import yaml
from snakemake.utils import validate

from talkgs.config import explain_config_errors

CONFIG_SCHEMA = Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"

# Readable messages first (which key, what is wrong); then Snakemake's validation fills defaults.
explain_config_errors(config, CONFIG_SCHEMA)
validate(config, CONFIG_SCHEMA)

IDENTITIES = sorted(config["identities"])
IDENTITY_PATTERN = yaml.safe_load(CONFIG_SCHEMA.read_text())["properties"]["identities"][
    "propertyNames"
]["pattern"]


def source_video(wildcards):
    """The source video of an identity, as written in config.yaml."""
    return config["identities"][wildcards.identity]


def final_outputs():
    """The targets of the default run (today: each identity's ingested audio, preview and meta)."""
    return expand(
        [
            "results/{identity}/meta.json",
            "results/{identity}/audio.wav",
            "results/{identity}/ingest_preview.jpg",
        ],
        identity=IDENTITIES,
    )
