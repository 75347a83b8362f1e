"""Validation of ``config.yaml`` with messages a person understands.

jsonschema's own messages ("'a b' does not match '^[A-Za-z0-9]...'") name neither the key nor
the rule in words; here each error says where it is and, when the schema gives one, the
``x-message`` or ``description`` of the rule that failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from talkgs.errors import TalkgsError


def explain_config_errors(config: Mapping[str, Any], schema_path: str | Path) -> None:
    """Raise TalkgsError listing every problem in ``config``, one line each; silent if valid."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    problems = sorted(_describe(e) for e in validator.iter_errors(dict(config)))
    if problems:
        raise TalkgsError("config.yaml is not valid:\n" + "\n".join(f"  - {p}" for p in problems))


def _describe(error: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "propertyNames":
        # the failing *name* is the instance here; point at it under its parent
        return f"{where}: {error.instance!r} {_rule_text(error) or error.message}"
    if error.validator == "additionalProperties" and error.validator_value is False:
        return f"{where}: unknown key(s): {error.message.split('(')[-1].rstrip(')')}"
    if error.validator == "required":
        return f"{where}: missing {error.message.split(' is a required')[0]}"
    rule = _rule_text(error)
    value = f"{error.instance!r}"
    return f"{where}: {value} {rule}" if rule else f"{where}: {error.message}"


def _rule_text(error: jsonschema.ValidationError) -> str | None:
    schema = error.schema if isinstance(error.schema, dict) else {}
    if "x-message" in schema:
        return str(schema["x-message"])
    if error.validator in ("minimum", "maximum", "type", "enum", "minLength"):
        description = schema.get("description")
        rule = error.message.split(" is ", 1)[-1] if " is " in error.message else error.message
        return f"is {rule}" + (f" ({description})" if description else "")
    return None
