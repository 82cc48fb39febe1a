"""Attribute-level differences between a baseline and live attributes (pure, and fast).

Mappings are compared key by key (``tags.owner``); lists and scalars whole (providers report sets such
as security group rules in one canonical order, so order never shows as drift). A list and a tuple
holding the same items are equal (baselines come back from JSON); ``True`` and ``1`` are not, except
inside a resource that ``==`` already finds equal as a whole (the fast path that keeps 100,000
resources under two seconds; a provider reports one key with one type).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deployforge.drift.model import AttributeDrift


def same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same(v, b[k]) for k, v in a.items())
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping | list | tuple) or isinstance(b, Mapping | list | tuple):
        return False
    return bool(a == b)


def _walk(expected: Any, actual: Any, path: str, out: list[AttributeDrift]) -> None:
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        for key in sorted(set(expected) | set(actual), key=str):
            if key not in actual:
                out.append(AttributeDrift(f"{path}.{key}" if path else str(key), expected[key], None))
            elif key not in expected:
                out.append(AttributeDrift(f"{path}.{key}" if path else str(key), None, actual[key]))
            elif not same(expected[key], actual[key]):
                _walk(expected[key], actual[key], f"{path}.{key}" if path else str(key), out)
        return
    out.append(AttributeDrift(path, _plain(expected), _plain(actual)))


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def diff_attributes(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> tuple[AttributeDrift, ...]:
    """Every attribute path whose live value differs from the baseline's, sorted by path."""
    if expected == actual:  # the fast path (C-level): almost every resource is in sync
        return ()
    out: list[AttributeDrift] = []
    _walk(expected, actual, "", out)
    return tuple(out)


def top_level_keys(changes: tuple[AttributeDrift, ...]) -> frozenset[str]:
    return frozenset(c.path.split(".", 1)[0] for c in changes)
