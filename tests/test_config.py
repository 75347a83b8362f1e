"""config.yaml validation speaks to a person."""

from __future__ import annotations

import pytest
import yaml

from conftest import REPO
from talkgs.config import explain_config_errors
from talkgs.errors import TalkgsError

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def test_default_config_is_valid() -> None:
    explain_config_errors(yaml.safe_load((REPO / "config.yaml").read_text()), SCHEMA)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"identities": {"../etc": "a.mp4"}}, "identities: '../etc' is not a valid identity name"),
        ({"identities": {"a b": "a.mp4"}}, "'a b' is not a valid identity name"),
        ({"identities": {"x;rm -rf": "a.mp4"}}, "is not a valid identity name"),
        ({"identities": {"_demo": "a.mp4"}}, "starting with a letter or digit"),
        ({"identities": {}}, "identities: {} should be non-empty"),
        ({"identities": {"alice": ""}}, "identities.alice: '' must be the path of a source video"),
        (
            {"identities": {"alice": "a.mp4"}, "ingest": {"size": 8}},
            "ingest.size: 8 is less than the minimum of 64 (side of the output frames in pixels)",
        ),
        ({"identities": {"alice": "a.mp4"}, "ingset": {}}, "unknown key(s): 'ingset'"),
        ({}, "(top level): missing 'identities'"),
    ],
)
def test_invalid_config_is_explained(config: dict, message: str) -> None:
    with pytest.raises(TalkgsError) as error:
        explain_config_errors(config, SCHEMA)
    assert message in str(error.value)


def test_identity_names_that_are_fine() -> None:
    explain_config_errors({"identities": {"May": "m.mp4", "obama-2": "o.mp4", "a_b": "x"}}, SCHEMA)
