"""Check a document against the config's JSON Schema, collecting every problem with its location.

A deliberately small validator for the subset of JSON Schema that
``deployforge.config.schema`` uses (type, enum, const, properties, required,
additionalProperties, propertyNames, items, minItems, pattern, minimum,
maximum, anyOf, allOf, if/then). Writing it here, rather than using the
``jsonschema`` package, keeps ``deployforge validate`` fast and lets every
error carry a line, a column and a did-you-mean. The test suite checks the
schema with ``jsonschema`` too, so the two never disagree on valid documents.

A string that is a reference (``$VAR``, ``${...}``, ``vault://...``) is
accepted wherever a value of another type is expected: it is resolved later.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from deployforge.config.yamlpos import Path_, Positions
from deployforge.errors import ConfigIssue
from deployforge.text import did_you_mean

_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "empty",
}
_pattern_cache: dict[str, re.Pattern[str]] = {}


# C0 controls (TAB too), DEL, C1 controls, and the Unicode line and paragraph separators
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAME_KEYS = frozenset({"name"})


def _pattern(p: str) -> re.Pattern[str]:
    compiled = _pattern_cache.get(p)
    if compiled is None:
        compiled = _pattern_cache[p] = re.compile(p)
    return compiled


def _is_type(value: Any, name: str) -> bool:
    if name == "string":
        return isinstance(value, str)
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "null":
        return value is None
    return False


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string '{value}'" if len(value) < 40 else "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def is_reference(value: Any) -> bool:
    return isinstance(value, str) and bool(
        _pattern(r"^(\$\{[^}]+\}|\$[A-Za-z_][A-Za-z0-9_]*|vault://.+)$").match(value)
    )


def _is_reference_branch(option: dict[str, Any]) -> bool:
    """The ``{"type": "string", "pattern": <reference>}`` branch types add so any field takes a reference."""
    return option.get("type") == "string" and "vault://" in str(option.get("pattern", ""))


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the document"


def _late_reference(value: Any) -> bool:
    """Still a reference after load-time interpolation: resolved by the engine or the secrets layer."""
    from deployforge.model.config import SecretRef

    return isinstance(value, SecretRef) or (isinstance(value, str) and ("${resources." in value or "${steps." in value))


def _is_secret(value: Any) -> bool:
    from deployforge.model.config import SecretRef

    return isinstance(value, SecretRef) or (isinstance(value, str) and value.startswith("vault://"))


def _non_text_types(schema: dict[str, Any]) -> list[str]:
    """The JSON types a field admits when it admits no text at all (reference branches aside); [] when
    it takes text, or its type is not stated."""
    options = [o for o in schema.get("anyOf", schema.get("oneOf", [schema])) if not _is_reference_branch(o)]
    types: list[str] = []
    for option in options:
        kind = option.get("type")
        if kind is None:
            return []
        for one in kind if isinstance(kind, list) else [kind]:
            if one == "string":
                return []
            words = {"integer": "a whole number", "number": "a number", "boolean": "true or false"}
            types.append(words.get(str(one), str(one)))
    return list(dict.fromkeys(types))


def _any_reference(value: Any) -> bool:
    """Before interpolation: any string that holds a reference may become something else."""
    return _late_reference(value) or (isinstance(value, str) and ("$" in value or value.startswith("vault://")))


class SchemaValidator:
    """``resolved=False``: the raw document (strings with references are checked after interpolation);
    ``resolved=True``: the interpolated document (only engine-time references are skipped)."""

    def __init__(self, schema: dict[str, Any], positions: Positions, *, resolved: bool = False):
        self.schema = schema
        self.pos = positions
        self._deferred = _late_reference if resolved else _any_reference
        self.resolved = resolved

    def validate(self, document: Any) -> list[ConfigIssue]:
        issues = list(self._check(document, self.schema, ()))
        if self._deferred is _any_reference and "self_healing_rules" in self.schema.get("properties", {}):
            issues += notify_slack_issues(document, self.pos)
        if not self.resolved:
            issues += self._control_characters(document, ())
        return issues

    def _control_characters(self, value: Any, path: Path_) -> list[ConfigIssue]:
        """Names (every mapping key, and ``name:`` values) with a control character: a line break in
        a name would start a new line in CI logs and PR comments (where a pull request could issue a
        workflow command or change the comment's structure)."""
        from deployforge.ci.workflow_commands import one_line

        out: list[ConfigIssue] = []
        stack: list[tuple[Any, Path_]] = [(value, path)]
        while stack:
            node, where = stack.pop()
            if isinstance(node, dict):
                for key, item in node.items():
                    child = (*where, key)
                    if isinstance(key, str) and _CONTROL.search(key):
                        out.append(self._control_issue(child, "name", one_line(key), key=True))
                    elif key in _NAME_KEYS and isinstance(item, str) and _CONTROL.search(item):
                        out.append(self._control_issue(child, f"{_dotted(child)}", one_line(item)))
                    stack.append((item, child))
            elif isinstance(node, list):
                stack.extend((item, (*where, i)) for i, item in enumerate(node))
        return sorted(out, key=lambda i: [str(p) for p in i.path])

    def _control_issue(self, path: Path_, what: str, shown: str, *, key: bool = False) -> ConfigIssue:
        return self._issue(
            path,
            f"{what} '{shown}' holds a control character (a line break, tab or escape)",
            "names appear in CI logs and PR comments: use letters, digits, spaces and punctuation only",
            key=key,
        )

    # -- internals -------------------------------------------------------
    def _issue(self, path: Path_, message: str, hint: str | None = None, *, key: bool = False) -> ConfigIssue:
        return ConfigIssue(message, self.pos.location(path, key=key), hint, path)

    def _check(self, value: Any, schema: dict[str, Any], path: Path_) -> Iterator[ConfigIssue]:
        if self._deferred(value) and not ("enum" in schema and value in schema["enum"]):
            needs = _non_text_types(schema)
            if needs and all(n in ("object", "array") for n in needs):  # no reference becomes a mapping or list
                words = {"object": "a mapping", "array": "a list"}
                yield self._issue(
                    path,
                    f"{_dotted(path) or 'the config'} must be {' or '.join(words[n] for n in needs)}, not text",
                    "a $VAR or vault:// reference stands for one value, never for a whole section",
                )
                return
            if needs and _is_secret(value):  # a secret is always text: it can never become a number
                yield self._issue(
                    path,
                    f"{_dotted(path)}: a vault:// value is text, and this field needs {' or '.join(needs)}",
                    "write the value in the config (or through $VAR), or keep the secret in a text field",
                )
            return  # resolved later, and checked again once it is
        if "anyOf" in schema:
            yield from self._any_of(value, schema["anyOf"], path, schema)
            rest = {k: v for k, v in schema.items() if k not in ("anyOf", "description")}
            if not rest:
                return
            schema = rest  # e.g. an object schema that also needs one of several keys
        if "const" in schema and value != schema["const"]:
            yield self._issue(path, f"{_dotted(path)} must be {schema['const']!r}")
            return
        if "enum" in schema:
            if value not in schema["enum"]:
                shown = (str(e) for e in schema["enum"] if not isinstance(e, int) or len(schema["enum"]) < 4)
                options = ", ".join(dict.fromkeys(shown))  # [1, "1"] reads "1", not "1, 1"
                hint = did_you_mean(str(value), schema["enum"]) if isinstance(value, str) else None
                yield self._issue(
                    path,
                    f"{_dotted(path)}: {_describe(value)} is not one of: {options}",
                    hint or f"use one of: {options}",
                )
            return
        types = schema.get("type")
        if types is not None:
            names = [types] if isinstance(types, str) else list(types)
            if not any(_is_type(value, t) for t in names):
                expected = " or ".join(_TYPE_NAMES.get(t, t) for t in names)
                yield self._issue(path, f"{_dotted(path)} must be {expected}, not {_describe(value)}")
                return
        if isinstance(value, dict):
            yield from self._object(value, schema, path)
        elif isinstance(value, list):
            if "minItems" in schema and len(value) < schema["minItems"]:
                yield self._issue(path, f"{_dotted(path)} needs at least {schema['minItems']} item(s)")
            items = schema.get("items")
            if items:
                for i, item in enumerate(value):
                    yield from self._check(item, items, (*path, i))
        elif isinstance(value, str):
            if "pattern" in schema and not _pattern(schema["pattern"]).search(value):
                hint = schema.get("description") or f"it must match the pattern {schema['pattern']}"
                form = f" ({schema['x-form']})" if schema.get("x-form") else ""  # the pattern, in words
                yield self._issue(path, f"{_dotted(path)}: '{value}' is not in the expected form{form}", hint)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                yield self._issue(path, f"{_dotted(path)} must be at least {schema['minimum']}, not {value}")
            if "maximum" in schema and value > schema["maximum"]:
                yield self._issue(path, f"{_dotted(path)} must be at most {schema['maximum']}, not {value}")
        for sub in schema.get("allOf", ()):
            yield from self._conditional(value, sub, path)

    def _conditional(self, value: Any, sub: dict[str, Any], path: Path_) -> Iterator[ConfigIssue]:
        if "if" in sub:
            if not list(self._check(value, sub["if"], path)) and "then" in sub:
                yield from self._check(value, sub["then"], path)
        else:
            yield from self._check(value, sub, path)

    def _object(self, value: dict[str, Any], schema: dict[str, Any], path: Path_) -> Iterator[ConfigIssue]:
        props: dict[str, Any] = schema.get("properties", {})
        for req in schema.get("required", ()):
            if req not in value:
                yield self._issue(path, f"{_dotted(path)} is missing required key '{req}'", key=True)
        names = schema.get("propertyNames")
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            child = (*path, key)
            if names and "pattern" in names and not _pattern(names["pattern"]).search(key):
                yield self._issue(
                    child, f"'{key}' is not a valid name here", "use letters, digits, '_' and '-'", key=True
                )
            if key in props:
                yield from self._check(item, props[key], child)
            elif extra is False:
                hint = did_you_mean(key, props) or (f"allowed keys: {', '.join(sorted(props))}" if props else None)
                where = f"in {_dotted(path)}" if path else "at the top level"
                yield self._issue(child, f"unknown key '{key}' {where}", hint, key=True)
            elif isinstance(extra, dict):
                yield from self._check(item, extra, child)

    def _any_of(
        self, value: Any, options: list[dict[str, Any]], path: Path_, parent: dict[str, Any]
    ) -> Iterator[ConfigIssue]:
        best: list[ConfigIssue] | None = None
        for option in options:
            issues = list(self._check(value, option, path))
            if not issues:
                return
            if _is_reference_branch(option):
                continue  # "or a reference": never the helpful explanation
            # prefer the branch whose type matched: its errors are the helpful ones
            if (
                "type" in option
                and any(
                    _is_type(value, t)
                    for t in ([option["type"]] if isinstance(option["type"], str) else option["type"])
                )
                and (best is None or len(issues) < len(best))
            ):
                best = issues
        if best is not None:
            for issue in best:
                if parent.get("description") and (issue.hint is None or issue.hint.startswith("it must match")):
                    issue = ConfigIssue(issue.message, issue.location, parent["description"], issue.path)
                yield issue
            return
        if all(set(option) == {"required"} for option in options):
            names = [k for option in options for k in option["required"]]
            keys = " or ".join(f"'{k}'" for k in names)
            # the hint says what each alternative is (the object's own description says nothing new)
            props = parent.get("properties") or {}
            described = [f"{k}: {props[k]['description']}" for k in names if (props.get(k) or {}).get("description")]
            hint = "add one of them. " + " ".join(described) if described else parent.get("description")
            yield self._issue(path, f"{_dotted(path)} needs {keys}", hint, key=True)
            return
        kinds = []
        for option in options:
            if _is_reference_branch(option):
                continue
            t = option.get("type")
            if isinstance(t, str):
                kinds.append(_TYPE_NAMES.get(t, t))
        expected = " or ".join(dict.fromkeys(kinds)) or "a different value"
        yield self._issue(
            path, f"{_dotted(path)} must be {expected}, not {_describe(value)}", parent.get("description")
        )


def notify_slack_issues(document: Any, pos: Positions) -> list[ConfigIssue]:
    """A ``notify_slack`` action with no webhook anywhere (neither its own ``webhook_url`` nor
    ``notifications.slack.webhook_url``) would fail on every run: report it when the config is read."""
    if not isinstance(document, dict):
        return []
    notifications = document.get("notifications")
    slack = notifications.get("slack") if isinstance(notifications, dict) else None
    if isinstance(slack, dict) and "webhook_url" in slack:
        return []
    rules = document.get("self_healing_rules")
    issues = []
    for i, rule in enumerate(rules if isinstance(rules, list) else ()):
        actions = rule.get("actions") if isinstance(rule, dict) else None
        for j, action in enumerate(actions if isinstance(actions, list) else ()):
            if isinstance(action, dict) and action.get("type") == "notify_slack" and "webhook_url" not in action:
                path: Path_ = ("self_healing_rules", i, "actions", j)
                issues.append(
                    ConfigIssue(
                        f"self_healing_rules[{i}].actions[{j}]: notify_slack has no Slack webhook to post to",
                        pos.location(path),
                        "add notifications.slack.webhook_url (for every notify_slack action) or webhook_url on "
                        "the action: $SLACK_WEBHOOK_URL (an environment variable), vault://path#key (Vault), "
                        "or the URL itself (see docs/drift.md, 'Slack')",
                        path,
                    )
                )
    return issues
