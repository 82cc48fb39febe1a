"""YAML loading that remembers where every key and value came from.

``load_yaml(text, filename)`` returns the plain data (dicts, lists, scalars as
PyYAML's safe loader builds them) and a ``Positions`` table mapping each path
(a tuple of keys / list indexes) to the 1-based line and column of its key and
of its value. Config errors use it to say ``file:line:col``.

Parsing uses libyaml (``CSafeLoader``) when it is available.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from deployforge.errors import ConfigError, ConfigIssue, Location

Path_ = tuple[str | int, ...]

try:  # libyaml's parser is several times faster than the pure Python one
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader


@dataclass
class Positions:
    filename: str
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def location(self, path: Path_, *, key: bool = False) -> Location:
        """Where ``path`` is: its key when ``key`` (or when the value is unknown), else its value.

        Falls back to the nearest enclosing path that has a position.
        """
        probe = tuple(path)
        while True:
            table = (self.keys, self.values) if key else (self.values, self.keys)
            for tab in table:
                if probe in tab:
                    line, col = tab[probe]
                    return Location(self.filename, line, col)
            if not probe:
                return Location(self.filename, 1, 1)
            probe = probe[:-1]


_constructor = yaml.constructor.SafeConstructor()


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _build(node: yaml.Node, path: Path_, pos: Positions, issues: list[ConfigIssue]) -> Any:
    pos.values[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        _constructor.flatten_mapping(node)  # YAML merge keys (<<)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                issues.append(ConfigIssue("a mapping key must be a plain value", _loc(pos, key_node)))
                continue
            key = _constructor.construct_object(key_node)
            if not isinstance(key, str):
                key = str(key)  # 80: or true: as keys: keep them as text
            if key in result:
                first = pos.keys.get((*path, key), (0, 0))
                issues.append(
                    ConfigIssue(
                        f"duplicate key '{key}' (first defined on line {first[0]})",
                        _loc(pos, key_node),
                        hint="YAML keeps only the last one; remove or rename one of them",
                    )
                )
            child = (*path, key)
            pos.keys[child] = _mark(key_node)
            result[key] = _build(value_node, child, pos, issues)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), pos, issues) for i, item in enumerate(node.value)]
    try:
        return _constructor.construct_object(node)
    except yaml.constructor.ConstructorError as exc:
        issues.append(ConfigIssue(str(exc.problem or exc), _loc(pos, node)))
        return None


def _loc(pos: Positions, node: yaml.Node) -> Location:
    line, col = _mark(node)
    return Location(pos.filename, line, col)


def load_yaml(text: str, filename: str) -> tuple[Any, Positions]:
    """Parse one YAML document; raise ConfigError (with positions) on malformed input."""
    pos = Positions(filename)
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(filename, mark.line + 1, mark.column + 1) if mark else Location(filename)
        problem = exc.problem or "malformed YAML"
        if mark and _char_at(text, mark.line, mark.column) == "\t":  # libyaml does not name the character
            problem += " (a tab)"
        context = f" ({exc.context})" if exc.context else ""
        raise ConfigError([ConfigIssue(f"invalid YAML: {problem}{context}", loc, hint=_yaml_hint(problem))]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigIssue(f"invalid YAML: {exc}", Location(filename))]) from None
    nodes = [n for n in nodes if n is not None]
    if not nodes:
        return {}, pos
    if len(nodes) > 1:
        raise ConfigError(
            [
                ConfigIssue(
                    "the config file holds more than one YAML document",
                    _loc(pos, nodes[1]),
                    hint="keep one document per config file (remove the extra '---')",
                )
            ]
        )
    issues: list[ConfigIssue] = []
    data = _build(nodes[0], (), pos, issues)
    if issues:
        raise ConfigError(issues)
    return data, pos


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.splitlines()
    return lines[line][column] if line < len(lines) and column < len(lines[line]) else ""


def _yaml_hint(problem: str) -> str | None:
    if "tab" in problem:
        return "YAML does not allow tabs for indentation; use spaces"
    if "mapping values are not allowed" in problem:
        return "a value containing ': ' must be quoted"
    if "could not find expected ':'" in problem:
        return "check the indentation of this line and the one above"
    if "found character '%' that cannot start" in problem or "'@'" in problem or "'`'" in problem:
        return "quote the value"
    return None
