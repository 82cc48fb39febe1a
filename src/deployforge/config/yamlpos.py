"""YAML loading that remembers where every key and value came from.

``load_yaml(text, filename)`` returns the plain data (dicts, lists, scalars as
PyYAML's safe loader builds them) and a ``Positions`` table mapping each path
(a tuple of keys / list indexes) to the 1-based line and column of its key and
of its value. Config errors use it to say ``file:line:col``.

Parsing uses libyaml (``CSafeLoader``) when it is available.

Bounded, because a pull request writes the config: libyaml composes aliases as shared nodes, and
building the data walks every use of an alias, so a few hundred bytes of nested aliases (a "billion
laughs" bomb) would expand to gigabytes. The build counts every node it makes and refuses past
``MAX_NODES``; it refuses a recursive alias (``&a [*a]``), nesting deeper than ``MAX_DEPTH``, a file
over ``MAX_BYTES``, and integers outside 64 bits; a scalar that cannot be built (``!!float abc``,
``!!int 3.5``) is a located error too. Each is a ``ConfigError`` (exit 2) with the place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from deployforge.errors import ConfigError, ConfigIssue, Location

Path_ = tuple[str | int, ...]

MAX_BYTES = 2 * 1024 * 1024  # a config file larger than this is refused before parsing
MAX_NODES = 100_000  # values built, counting every use of an alias
MAX_DEPTH = 100  # nesting of mappings and lists
MAX_INT = 2**63  # integers must fit 64 bits (and Python refuses to parse more than 4300 digits)

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


class _Budget:
    def __init__(self) -> None:
        self.nodes = 0
        self.stack: set[int] = set()  # ids of the collections being built (a recursive alias returns to one)


class _TooBig(Exception):
    def __init__(self, issue: ConfigIssue):
        self.issue = issue


def _build(
    node: yaml.Node, path: Path_, pos: Positions, issues: list[ConfigIssue], budget: _Budget | None = None
) -> Any:
    budget = budget or _Budget()
    budget.nodes += 1
    if budget.nodes > MAX_NODES:
        raise _TooBig(
            ConfigIssue(
                f"the config expands to more than {MAX_NODES:,} values (aliases included)",
                _loc(pos, node),
                hint="a YAML alias (*name) repeats its whole anchor; nested aliases multiply: write the values out",
            )
        )
    if len(path) > MAX_DEPTH:
        raise _TooBig(ConfigIssue(f"the config nests deeper than {MAX_DEPTH} levels", _loc(pos, node)))
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        if id(node) in budget.stack:
            raise _TooBig(
                ConfigIssue(
                    "a recursive alias: this value contains itself",
                    _loc(pos, node),
                    hint="an alias (*name) may not be used inside its own anchor (&name)",
                )
            )
        budget.stack.add(id(node))
        try:
            return _build_collection(node, path, pos, issues, budget)
        finally:
            budget.stack.discard(id(node))
    pos.values[path] = _mark(node)
    return _scalar(node, pos, issues)


def _scalar(node: yaml.Node, pos: Positions, issues: list[ConfigIssue]) -> Any:
    try:
        value = _constructor.construct_object(node)
    except yaml.constructor.ConstructorError as exc:
        issues.append(ConfigIssue(str(exc.problem or exc), _loc(pos, node)))
        return None
    except Exception as exc:  # !!float abc, !!int 3.5, 5,000 digits, !!timestamp nope: not a valid value
        shown = node.value if isinstance(node.value, str) else ""
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        tag = node.tag.rsplit(":", 1)[-1]
        issues.append(
            ConfigIssue(
                f"'{shown}' is not a valid {tag} ({str(exc).split(':')[0]})",
                _loc(pos, node),
                hint="quote the value to keep it as text, or write a valid number",
            )
        )
        return None
    if isinstance(value, int) and not isinstance(value, bool) and not -MAX_INT <= value < MAX_INT:
        issues.append(
            ConfigIssue(
                f"the integer {str(value)[:20]}... ({len(str(abs(value)))} digits) does not fit 64 bits",
                _loc(pos, node),
                hint="use a smaller number",
            )
        )
        return None
    return value


def _build_collection(
    node: yaml.MappingNode | yaml.SequenceNode, path: Path_, pos: Positions, issues: list[ConfigIssue], budget: _Budget
) -> Any:
    pos.values[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        _constructor.flatten_mapping(node)  # YAML merge keys (<<)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                issues.append(ConfigIssue("a mapping key must be a plain value", _loc(pos, key_node)))
                continue
            budget.nodes += 1
            key = _scalar(key_node, pos, issues)
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
            result[key] = _build(value_node, child, pos, issues, budget)
        return result
    return [_build(item, (*path, i), pos, issues, budget) for i, item in enumerate(node.value)]


def _loc(pos: Positions, node: yaml.Node) -> Location:
    line, col = _mark(node)
    return Location(pos.filename, line, col)


def load_yaml(text: str, filename: str) -> tuple[Any, Positions]:
    """Parse one YAML document; raise ConfigError (with positions) on malformed input."""
    pos = Positions(filename)
    if len(text) > MAX_BYTES:
        raise ConfigError(
            [ConfigIssue(f"the config file is larger than {MAX_BYTES // (1024 * 1024)} MiB", Location(filename, 1, 1))]
        )
    try:
        _prescan(text, filename)  # cheap (libyaml's events): refuse a huge or deep file before composing it
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
    try:
        data = _build(nodes[0], (), pos, issues)
    except _TooBig as exc:
        raise ConfigError([exc.issue]) from None
    except RecursionError:  # nesting past what Python can walk (MAX_DEPTH stops it long before)
        raise ConfigError([ConfigIssue("the config nests too deeply", Location(filename, 1, 1))]) from None
    if issues:
        raise ConfigError(issues)
    return data, pos


def _prescan(text: str, filename: str) -> None:
    """Count values and nesting from the event stream (about 10x faster than composing nodes)."""
    values = depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError(
                    [
                        ConfigIssue(
                            f"the config nests deeper than {MAX_DEPTH} levels",
                            _event_location(filename, event),
                        )
                    ]
                )
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            depth -= 1
        if isinstance(event, yaml.NodeEvent):
            values += 1
            if values > MAX_NODES:
                raise ConfigError(
                    [
                        ConfigIssue(
                            f"the config holds more than {MAX_NODES:,} values",
                            _event_location(filename, event),
                            hint="split it, or move bulk data out of the config",
                        )
                    ]
                )


def _event_location(filename: str, event: yaml.Event) -> Location:
    mark = event.start_mark
    return Location(filename, mark.line + 1, mark.column + 1) if mark is not None else Location(filename, 1, 1)


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
