"""Users' own classification rules in Rego, evaluated in-process with regopy (an adapter).

This small adapter talks to regopy directly (one query, evaluated per drift record), and reuses the
policy engine's capture of rego-cpp's printed parse errors to report them located. Contract: a
module in ``package deployforge.drift`` defines ``classify`` as an object
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
from deployforge.policy.engine import _LOC_RE, captured_fd1, native_error

QUERY = "data.deployforge.drift.classify"


def _located(default_file: str, printed: str, exc: Exception) -> ConfigError:
    """A drift rules file that does not compile: file:line and the message rego-cpp printed."""
    problem = native_error(default_file, printed, exc)
    where = _LOC_RE.search(printed)
    file = where.group("file").strip() if where else default_file
    location = Location(file, problem.line or 0, int(where.group("col")) if where else 0)
    return ConfigError([ConfigIssue(f"drift rules: {problem.message}", location, problem.hint)])


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
            # rego-cpp prints its parse errors on file descriptor 1: captured, so a --format json
            # document stays parseable, and turned into a located error like the policy engine's
            with captured_fd1() as printed:
                try:
                    self._interp.add_module(str(path), text)
                    failure = None
                except regopy.RegoError as exc:
                    failure = exc
            if failure is not None:
                raise _located(str(path), "".join(printed), failure) from None
        with captured_fd1() as printed:
            try:
                self._bundle = self._interp.build(QUERY, [])
                failure = None
            except regopy.RegoError as exc:
                failure = exc
        if failure is not None:
            raise _located(str(self.paths[0]) if self.paths else "", "".join(printed), failure) from None

    def __call__(self, record: DriftRecord, builtin: Classification, production: bool) -> Classification | None:
        from deployforge.policy.engine import UnreadableInput, set_input  # as rego-cpp must be given it

        try:
            set_input(self._interp, rego_input(record, builtin, production))
        except UnreadableInput as exc:
            raise ConfigError([ConfigIssue(f"drift rule input for {record.id}: {exc}")]) from None
        try:
            output = self._interp.query_bundle(self._bundle)
        except self._regopy.RegoError as exc:
            raise ConfigError([ConfigIssue(f"drift rule failed on {record.id}: {_first_line(exc)}")]) from None
        text = str(output).strip()
        if not output.ok():  # regopy does not hand the runtime error's text to Python
            where = ", ".join(str(p) for p in self.paths)
            raise ConfigError(
                [
                    ConfigIssue(
                        f"the drift rules could not be evaluated for {record.id} ({record.resource}): "
                        "a runtime error in the Rego",
                        Location(where),
                        "common causes: two definitions of classify that give different values for the same "
                        "drift (make the conditions exclusive), or a builtin regopy lacks (e.g. net.cidr_contains); "
                        "run the rules with `opa eval` on the drift's input (`drift show --format json`) to see it",
                    )
                ]
            )
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
