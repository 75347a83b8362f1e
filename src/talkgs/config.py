"""Validation of ``config.yaml`` with messages a person understands.

jsonschema's own messages ("'a b' does not match '^[A-Za-z0-9]...'") name neither the key nor
the rule in words; here each error says where it is and, when the schema gives one, the
``x-message`` or ``description`` of the rule that failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class BaselineEntry:
    """One entry of ``baselines:`` in config.yaml: where the renders of each identity are.

    ``renders`` (and each value of ``cross``) is a path pattern with ``{identity}`` or a map
    identity → path; an identity the map leaves out is not evaluated for that baseline (its
    table cells say over how many identities they were taken).
    """

    name: str
    renders: str | dict[str, str]
    offset: int = 0
    cross: dict[str, str | dict[str, str]] = field(default_factory=dict)  # audio identity → …

    def renders_of(self, identity: str) -> str | None:
        return _path_for(self.renders, identity)

    def cross_of(self, identity: str, audio_identity: str) -> str | None:
        where = self.cross.get(audio_identity)
        if where is None or audio_identity == identity:
            return None
        return _path_for(where, identity)

    def cross_audios(self, identity: str) -> list[str]:
        return [a for a in sorted(self.cross) if self.cross_of(identity, a) is not None]


def _path_for(where: str | dict[str, str], identity: str) -> str | None:
    if isinstance(where, dict):
        return where.get(identity)
    return where.replace("{identity}", identity)


def baseline_entries(
    config: dict[str, Any], identities: list[str], methods: list[str]
) -> dict[str, BaselineEntry]:
    """``baselines:`` of config.yaml (already schema-checked) as entries, with the checks a
    schema cannot make; a problem is one line naming the key."""
    entries = {}
    for name, value in sorted(config.items()):
        key = f"config.yaml: baselines.{name}"
        if name in methods:
            raise TalkgsError(f"{key}: also the name of a method; give the baseline another name")
        if isinstance(value, str):
            value = {"renders": value}
        wheres = {"renders": value["renders"]}
        wheres |= {f"cross.{a}": w for a, w in (value.get("cross") or {}).items()}
        for audio in value.get("cross") or {}:
            if audio not in identities:
                raise TalkgsError(f"{key}.cross: {audio!r} is not an identity")
        for part, where in wheres.items():
            if isinstance(where, dict):
                unknown = sorted(set(where) - set(identities))
                if unknown:
                    raise TalkgsError(f"{key}.{part}: {unknown[0]!r} is not an identity")
            elif "{identity}" not in where and len(identities) > 1:
                raise TalkgsError(
                    f"{key}.{part}: {where!r} has no {{identity}}, so every identity would read "
                    "the same renders; use a pattern with {identity} or a map identity → path"
                )
        entries[name] = BaselineEntry(
            name, value["renders"], int(value.get("offset", 0)), dict(value.get("cross") or {})
        )
    return entries
