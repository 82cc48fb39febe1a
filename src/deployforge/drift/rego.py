"""Users' own classification rules in Rego, evaluated in-process with regopy (an adapter).

The policy package's engine was not available when this was written, so this small adapter talks to
regopy directly. Contract: a module in ``package deployforge.drift`` defines ``classify`` as an object
``{"severity": ..., "reason": ...}`` for the drift it wants to (re)classify; ``input`` is
``{"drift": <record>, "builtin": {"severity", "reason"}, "production": bool}``. When ``classify`` is
undefined the built-in classification stands. The query is built once into a bundle and evaluated per
drift record (about 1 ms each); strict builtin errors are on, so an unsupported builtin is an error, not
a silent pass.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deployforge.drift.classify import rego_input
from deployforge.drift.model import Classification, DriftRecord, Severity
from deployforge.errors import ConfigError, ConfigIssue, Location

QUERY = "data.deployforge.drift.classify"


class RegoClassifier:
    def __init__(self, paths: Sequence[str | Path]):
        import regopy  # the adapter's import: never at start-up

        self._regopy = regopy
        self.paths = [Path(p) for p in paths]
        self._interp = regopy.Interpreter()
        try:
            self._interp.strict_built_in_errors = True
        except (AttributeError, TypeError):  # older regopy: still evaluated, without strict builtins
            pass
        for path in self.paths:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(
                    [ConfigIssue(f"cannot read the drift rules file: {exc.strerror}", Location(str(path)))]
                ) from None
            try:
                self._interp.add_module(str(path), text)
            except regopy.RegoError as exc:
                raise ConfigError([ConfigIssue(f"invalid Rego: {_first_line(exc)}", Location(str(path)))]) from None
        try:
            self._bundle = self._interp.build(QUERY, [])
        except regopy.RegoError as exc:
            where = Location(str(self.paths[0])) if self.paths else None
            raise ConfigError([ConfigIssue(f"invalid Rego rules: {_first_line(exc)}", where)]) from None

    def __call__(self, record: DriftRecord, builtin: Classification, production: bool) -> Classification | None:
        self._interp.set_input(rego_input(record, builtin, production))
        try:
            output = self._interp.query_bundle(self._bundle)
        except self._regopy.RegoError as exc:
            raise ConfigError([ConfigIssue(f"drift rule failed on {record.id}: {_first_line(exc)}")]) from None
        text = str(output).strip()
        if not output.ok():
            raise ConfigError([ConfigIssue(f"drift rule failed on {record.id}: {text}")])
        if text == "undefined" or not text:
            return None
        value = _value(json.loads(text))
        if value is None:
            return None
        where = ", ".join(str(p) for p in self.paths)
        if not isinstance(value, dict) or "severity" not in value:
            raise ConfigError(
                [
                    ConfigIssue(
                        f"{QUERY} must be an object with 'severity' and 'reason', not {json.dumps(value)[:80]}",
                        Location(where),
                    )
                ]
            )
        try:
            severity = Severity.parse(str(value["severity"]))
        except ValueError as exc:
            raise ConfigError([ConfigIssue(str(exc), Location(where))]) from None
        return Classification(severity, str(value.get("reason") or "custom rule"), source="rego")


def _value(document: Any) -> Any:
    expressions = document.get("expressions") if isinstance(document, dict) else None
    if not expressions:
        return None
    return expressions[0]


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
