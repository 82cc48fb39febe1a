"""Structural diff lines: one attribute change as the exact edits that turn one value into the other
(pure, no imports from the rest of DeployForge).

The one diff model every drift output uses (console, ``drift show``, ``--format json``, the PR comment,
the drift issue, Slack, remediation plans)::

    + ingress tcp/22 from 0.0.0.0/0
    - ingress tcp/443 from 0.0.0.0/0 (description: HTTPS)
    ~ ingress tcp/80 from 10.0.0.0/8: description: web -> (none)
    ~ desired_capacity: 4 -> 6
    + tags.team: payments

Lists are diffed by identity, never by position: a security group rule is one permission per source
(protocol, ports, CIDR or group), as AWS's API counts them; items that carry a ``name``/``id``/``key``/
``sid`` are known by it; anything else by its whole value. Values are printed whole (compact JSON for
structures, bare text for simple strings): nothing is ever cut, so the one thing a reviewer needs (the
new SSH rule) can never fall off the end of a line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_BARE = re.compile(r"^[A-Za-z0-9_./:@#*+=,$-]+$")
_IDENTITY_KEYS = ("name", "Name", "id", "Id", "key", "Key", "sid", "Sid", "arn", "Arn")
_SOURCE_KEYS = (
    "cidr_blocks",
    "ipv6_cidr_blocks",
    "security_groups",
    "source_security_group_ids",
    "prefix_list_ids",
)


@dataclass(frozen=True)
class DiffLine:
    """One edit: ``+`` added, ``-`` removed, ``~`` changed (a scalar, or one field of a list item)."""

    op: str  # "+" | "-" | "~"
    path: str  # the attribute: "ingress", "tags.owner", "desired_capacity"
    item: str | None = None  # a list item's identity, e.g. "tcp/22 from 0.0.0.0/0"
    field: str | None = None  # for "~" on a list item: the field that changed
    before: Any = None
    after: Any = None

    @property
    def text(self) -> str:
        if self.item is None:
            if self.op == "~":
                return f"~ {self.path}: {value_text(self.before)} -> {value_text(self.after)}"
            value = self.after if self.op == "+" else self.before
            return f"{self.op} {self.path}: {value_text(value)}"
        head = f"{self.op} {self.path} {self.item}"
        if self.op == "~":
            if self.field is None:
                return f"{head}: {value_text(self.before)} -> {value_text(self.after)}"
            return f"{head}: {self.field}: {value_text(self.before)} -> {value_text(self.after)}"
        extra = self.after if self.op == "+" else self.before
        if isinstance(extra, Mapping) and extra:
            return f"{head} ({', '.join(f'{k}: {value_text(v)}' for k, v in sorted(extra.items()))})"
        return head

    def inverted(self) -> DiffLine:
        """The edit that undoes this one (a revert plan reads the drift backwards)."""
        op = {"+": "-", "-": "+"}.get(self.op, "~")
        return DiffLine(op, self.path, self.item, self.field, self.after, self.before)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op, "path": self.path, "text": self.text}
        if self.item is not None:
            out["item"] = self.item
        if self.field is not None:
            out["field"] = self.field
        if self.op != "+":
            out["before"] = self.before
        if self.op != "-":
            out["after"] = self.after
        return out


def value_text(value: Any) -> str:
    """A value in full: ``(none)``, ``true``, ``42``, ``text`` (or ``"quoted text"``), compact JSON."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return value if _BARE.match(value) else json.dumps(value, ensure_ascii=False)
    return json.dumps(_plain(value), sort_keys=True, ensure_ascii=False, separators=(", ", ": "), default=str)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _canonical(value: Any) -> str:
    return json.dumps(_plain(value), sort_keys=True, default=str)


def _is_rule(item: Any) -> bool:
    return isinstance(item, Mapping) and "protocol" in item and ("from_port" in item or "to_port" in item)


def _rule_atoms(rule: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """A security group rule as AWS counts permissions: one per source."""
    protocol = str(rule.get("protocol"))
    low, high = rule.get("from_port"), rule.get("to_port")
    if protocol in ("-1", "all"):
        what = "all"
    elif low == high or high is None:
        what = f"{protocol}/{low}"
    else:
        what = f"{protocol}/{low}-{high}"
    sources: list[str] = []
    for key in _SOURCE_KEYS:
        sources += [str(s) for s in rule.get(key) or ()]
    rest = {str(k): v for k, v in rule.items() if k not in ("protocol", "from_port", "to_port", *_SOURCE_KEYS)}
    rest = {k: v for k, v in rest.items() if v not in (None, "", [], {})}
    if rule.get("self"):
        sources.append("self")
        rest.pop("self", None)
    out = []
    for source in sources or ["(no source)"]:
        label = f"{what} from {source}"
        out.append((label, label, rest))
    return out


def _atoms(items: Sequence[Any]) -> list[tuple[str, str, Any]]:
    """(identity, label, the rest) for each item of a list."""
    out: list[tuple[str, str, Any]] = []
    for item in items:
        if _is_rule(item):
            out += _rule_atoms(item)
            continue
        if isinstance(item, Mapping):
            key = next((k for k in _IDENTITY_KEYS if isinstance(item.get(k), str | int)), None)
            if key is not None:
                label = f"{item[key]}"
                rest = {str(k): v for k, v in item.items() if k != key}
                out.append((f"{key}={_canonical(item[key])}", label, rest))
                continue
        out.append((_canonical(item), value_text(item), None))
    return out


def _list_lines(path: str, before: Sequence[Any], after: Sequence[Any]) -> list[DiffLine]:
    old, new = _atoms(before), _atoms(after)
    pending: dict[str, list[tuple[str, Any]]] = {}
    for ident, label, rest in old:
        pending.setdefault(ident, []).append((label, rest))
    added: list[DiffLine] = []
    changed: list[DiffLine] = []
    for ident, label, rest in new:
        matches = pending.get(ident)
        if not matches:
            added.append(DiffLine("+", path, label, after=rest if rest else None))
            continue
        _, old_rest = matches.pop(0)
        if isinstance(old_rest, Mapping) and isinstance(rest, Mapping):
            for key in sorted(set(old_rest) | set(rest)):
                a, b = old_rest.get(key), rest.get(key)
                if _canonical(a) != _canonical(b):
                    changed.append(DiffLine("~", path, label, key, a, b))
        elif _canonical(old_rest) != _canonical(rest):
            changed.append(DiffLine("~", path, label, None, old_rest, rest))
    removed = [
        DiffLine("-", path, label, before=rest if rest else None)
        for entries in pending.values()
        for label, rest in entries
    ]
    lines = removed + changed + added
    if not lines and _canonical(before) != _canonical(after):
        lines.append(DiffLine("~", path, "(order)", None, [a[1] for a in old], [a[1] for a in new]))
    return lines


def change_lines(path: str, expected: Any, actual: Any) -> tuple[DiffLine, ...]:
    """The edits that turn ``expected`` (the baseline) into ``actual`` (live) at ``path``."""
    if expected is None and isinstance(actual, list | tuple) and actual:
        return tuple(_list_lines(path, [], actual))  # one line per item: + ingress tcp/22 from 0.0.0.0/0
    if actual is None and isinstance(expected, list | tuple) and expected:
        return tuple(_list_lines(path, expected, []))
    if expected is None and actual is not None:
        return (DiffLine("+", path, after=actual),)
    if actual is None and expected is not None:
        return (DiffLine("-", path, before=expected),)
    if isinstance(expected, list | tuple) and isinstance(actual, list | tuple):
        return tuple(_list_lines(path, expected, actual))
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        out: list[DiffLine] = []
        for key in sorted(set(expected) | set(actual), key=str):
            if _canonical(expected.get(key)) != _canonical(actual.get(key)):
                out += change_lines(f"{path}.{key}", expected.get(key), actual.get(key))
        return tuple(out)
    return (DiffLine("~", path, before=expected, after=actual),)
