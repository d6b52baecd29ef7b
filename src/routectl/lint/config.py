"""The ``lint:`` section of a project's ``.routectl.yaml``.

.. code-block:: yaml

    lint:
      failSeverity: warning        # exit 1 on warnings too (default: error)
      rules:
        RT009: {severity: error}   # promote
        RT017: off                 # disable (also: disable, false)
        RT016: {options: {allowHosts: [gpu-box.internal]}}

The file is found by walking up from the linted path, then from the current
directory; ``--config FILE`` names it explicitly. A bad file is a located
error (``file:line:col``), never a silent default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from routectl.lint.findings import Severity
from routectl.lint.registry import Rule, all_rules
from routectl.loader.yaml_source import Location, parse_yaml, position

CONFIG_NAMES = (".routectl.yaml", ".routectl.yml")
OFF_WORDS = ("off", "disable", "disabled")


class ConfigError(Exception):
    def __init__(self, location: Location, message: str, hint: str) -> None:
        super().__init__(f"{location}: {message} (fix: {hint})")
        self.location = location
        self.message = message
        self.hint = hint


class _RuleSetting(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    severity: Severity | None = None
    enabled: bool = True
    options: dict[str, Any] = Field(default_factory=dict)


class _LintSection(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    fail_severity: Severity | None = Field(default=None, alias="failSeverity")
    rules: dict[str, Any] = Field(default_factory=dict)  # validated per rule, see _resolve


class _ConfigFile(BaseModel):
    model_config = ConfigDict(extra="allow")  # other commands keep their settings here too

    lint: _LintSection = Field(default_factory=_LintSection)


@dataclass
class LintConfig:
    severities: dict[str, Severity] = field(default_factory=dict)
    disabled: set[str] = field(default_factory=set)
    options: dict[str, BaseModel] = field(default_factory=dict)
    fail_severity: Severity | None = None
    source: str | None = None  # the file it was read from

    def severity_of(self, rule: Rule) -> Severity:
        return self.severities.get(rule.code, rule.severity)

    def options_of(self, rule: Rule) -> BaseModel | None:
        if rule.options is None:
            return None
        return self.options.get(rule.code) or rule.options()


def find_config(start_points: Sequence[Path]) -> Path | None:
    """The nearest config file above any of ``start_points`` (in that order)."""
    for start in start_points:
        directory = start.resolve()
        if not directory.is_dir():
            directory = directory.parent
        for candidate_dir in (directory, *directory.parents):
            for name in CONFIG_NAMES:
                candidate = candidate_dir / name
                if candidate.is_file():
                    return candidate
    return None


def load_config(path: Path) -> LintConfig:
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            Location(name, 1, 1), f"cannot read config: {exc}", "check the path"
        ) from None
    documents, errors = parse_yaml(name, text)
    if errors:
        first = errors[0]
        raise ConfigError(first.location, first.message, first.hint or "fix the YAML syntax")
    raw = documents[0] if documents else None
    if raw is None:
        return LintConfig(source=name)
    if not isinstance(raw, dict):
        raise ConfigError(Location(name, 1, 1), "expected a mapping", "start with 'lint:'")
    try:
        parsed = _ConfigFile.model_validate(raw)
    except ValidationError as exc:
        raise _located(exc, [], raw, name) from None
    return _resolve(parsed.lint, raw, name)


def _located(exc: ValidationError, base: list[Any], raw: Any, name: str) -> ConfigError:
    err = exc.errors()[0]
    loc = [*base, *err["loc"]]
    return ConfigError(
        Location(name, *position(raw, loc)),
        f"{'.'.join(str(p) for p in loc)}: {err['msg']}",
        "lint: {failSeverity: error|warning|info, rules: {CODE: {severity: error|warning|info, "
        "enabled: true|false, options: {...}} or CODE: off}}",
    )


def _resolve(section: _LintSection, raw: Any, name: str) -> LintConfig:
    rules = all_rules()
    config = LintConfig(fail_severity=section.fail_severity, source=name)
    for code, setting in section.rules.items():
        where = Location(name, *position(raw, ["lint", "rules", code]))
        rule = rules.get(code.upper())
        if rule is None:
            raise ConfigError(
                where, f"unknown rule {code!r}", "'routectl rules' lists the rule codes"
            )
        setting = _setting(setting, ["lint", "rules", code], raw, name)
        if not setting.enabled:
            if rule.from_loader:
                raise ConfigError(
                    where,
                    f"{rule.code} is a load error and cannot be disabled",
                    "fix the manifest instead, or lower its severity",
                )
            config.disabled.add(rule.code)
        if setting.severity is not None:
            config.severities[rule.code] = setting.severity
        if setting.options:
            config.options[rule.code] = _options(rule, setting.options, raw, name)
    return config


def _setting(value: Any, base: list[Any], raw: Any, name: str) -> _RuleSetting:
    if value is False or (isinstance(value, str) and value.lower() in OFF_WORDS):
        return _RuleSetting(enabled=False)
    if value is True or value is None:
        return _RuleSetting()
    if not isinstance(value, dict):
        raise ConfigError(
            Location(name, *position(raw, base)),
            f"{'.'.join(base)}: expected 'off' or a mapping, got {value!r}",
            "write 'CODE: off' or 'CODE: {severity: warning}'",
        )
    try:
        return _RuleSetting.model_validate(dict(value))
    except ValidationError as exc:
        raise _located(exc, base, raw, name) from None


def _options(rule: Rule, values: dict[str, Any], raw: Any, name: str) -> BaseModel:
    base = ["lint", "rules", rule.code, "options"]
    if rule.options is None:
        raise ConfigError(
            Location(name, *position(raw, base)),
            f"{rule.code} takes no options",
            f"remove 'options' (see 'routectl rules {rule.code}')",
        )
    try:
        return rule.options.model_validate(values)
    except ValidationError as exc:
        error = _located(exc, base, raw, name)
        error.hint = f"see the options of 'routectl rules {rule.code}'"
        raise error from None
