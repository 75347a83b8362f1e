# Paths, config validation and input functions shared by every phase's rules.
from pathlib import Path

import yaml
from snakemake.utils import validate

from talkgs.config import explain_config_errors
from talkgs.layout import IdentityLayout

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


def source_video(wildcards):
    """The source video of an identity, as written in config.yaml."""
    return config["identities"][wildcards.identity]


def final_outputs():
    """The targets of the default run: each identity's preprocessing artifacts."""
    return expand(
        [
            ID.meta,
            ID.audio,
            ID.ingest_preview,
            ID.parsing_preview,
            ID.background,
            ID.transforms_train,
            ID.transforms_val,
            ID.pose_quality,
            ID.pose_plot,
        ],
        identity=IDENTITIES,
    )
