"""Alert rules as data: the shipped `rules.toml`, and a facility's overrides per group.

`COMPANION_ALERT_RULES_DIR` may hold `default.toml` (replaces the shipped rules for every
group) and `<group_id>.toml` (rules for that group's devices: a rule with an id of the
defaults replaces it, a new id adds one; `variants` are added). Files are decoded strictly:
an unknown field or a bad value stops start-up with an error naming the file and the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from server.alerts.matcher import CompiledRule, compile_rule

Severity = Literal["info", "warning", "critical"]
SHIPPED = Path(__file__).with_name("rules.toml")
_GROUP_FILE = re.compile(r"^[^\x00-\x1f/]{1,64}$")

Phrase = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Rule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_]{1,64}$")]
    severity: Severity
    phrases: Annotated[list[Phrase], msgspec.Meta(min_length=1)]
    exclude: list[Phrase] = []
    negated_only: list[Phrase] = []
    """Phrases (also in `phrases`) that count only when negated ("I don't want to live")."""


class RulesFile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    rules: list[Rule] = []
    variants: dict[str, str] = {}
    help_line: str | None = None


class RulesError(Exception):
    """A rules file the server cannot use (names the file and the field)."""


class RuleSet(msgspec.Struct, frozen=True):
    rules: tuple[CompiledRule, ...]
    variants: dict[str, str]
    help_line: str


class AlertRules:
    """The rules each group's devices are checked against (`for_group`), loaded once at start-up."""

    def __init__(self, default: RuleSet, groups: dict[str, RuleSet]) -> None:
        self.default = default
        self._groups = groups

    def for_group(self, group_id: str | None) -> RuleSet:
        return self._groups.get(group_id, self.default) if group_id is not None else self.default

    @classmethod
    def load(cls, directory: Path | None) -> AlertRules:
        shipped = _read(SHIPPED)
        base = shipped
        groups: dict[str, RulesFile] = {}
        if directory is not None:
            if not directory.is_dir():
                raise RulesError(f"{directory}: COMPANION_ALERT_RULES_DIR is not a directory")
            for path in sorted(directory.glob("*.toml")):
                if not _GROUP_FILE.match(path.stem):
                    raise RulesError(
                        f"{path}: the file name must be a group id (1-64 characters, no control characters)"
                    )
                if path.stem == "default":
                    base = _read(path)
                else:
                    groups[path.stem] = _read(path)
        default = _compile(base, fallback_line=shipped.help_line or "")
        return cls(
            default,
            {g: _compile(_merge(base, f), fallback_line=default.help_line) for g, f in groups.items()},
        )


def _read(path: Path) -> RulesFile:
    try:
        return msgspec.toml.decode(path.read_bytes(), type=RulesFile)
    except msgspec.ValidationError as exc:
        raise RulesError(f"{path}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise RulesError(f"{path}: not valid TOML: {exc}") from None


def _merge(base: RulesFile, override: RulesFile) -> RulesFile:
    rules = {r.id: r for r in base.rules}
    rules.update({r.id: r for r in override.rules})
    return RulesFile(
        rules=list(rules.values()),
        variants={**base.variants, **override.variants},
        help_line=override.help_line or base.help_line,
    )


def _compile(data: RulesFile, *, fallback_line: str) -> RuleSet:
    ids = [r.id for r in data.rules]
    if len(ids) != len(set(ids)):
        raise RulesError(f"rule ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
    variants = {k.lower(): v.lower() for k, v in data.variants.items()}
    compiled = tuple(
        compile_rule(
            r.id, r.severity, r.phrases, exclude=r.exclude, negated_only=r.negated_only, variants=variants
        )
        for r in data.rules
    )
    return RuleSet(rules=compiled, variants=variants, help_line=data.help_line or fallback_line)
