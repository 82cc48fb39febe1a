"""Compare a declared resource with what exists (pure).

Only what the user declared is managed: a property absent from the config is
never reported as a change (the cloud's default stands), except ``tags``,
which are managed as a whole. Nested mappings compare on the declared keys;
lists compare whole (providers normalise list order where order carries no
meaning, e.g. security group rules).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from deployforge.config.refs import UNKNOWN, contains_unknown
from deployforge.model.plan import AttributeChange
from deployforge.providers.base import TypeInfo


def _equal(desired: Any, live: Any) -> bool:
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return not desired and live is None
        return all(_equal(v, live.get(k)) for k, v in desired.items())
    if isinstance(desired, list) and isinstance(live, list | tuple):
        return len(desired) == len(live) and all(_equal(a, b) for a, b in zip(desired, live, strict=True))
    if isinstance(desired, bool) or isinstance(live, bool):
        return desired is live or (desired == live and type(desired) is type(live))
    if isinstance(desired, int | float) and isinstance(live, int | float):
        return float(desired) == float(live)
    if (isinstance(desired, int | float) and isinstance(live, str)) or (
        isinstance(desired, str) and isinstance(live, int | float)
    ):
        return str(desired) == str(live)
    return bool(desired == live)


def diff_attributes(
    properties: Mapping[str, Any],
    tags: Mapping[str, str],
    live: Mapping[str, Any],
    info: TypeInfo,
) -> tuple[AttributeChange, ...]:
    changes: list[AttributeChange] = []
    for key, desired in properties.items():
        if key in info.computed:
            continue
        current = live.get(key, info.defaults.get(key))
        if desired is UNKNOWN or contains_unknown(desired):
            changes.append(AttributeChange(key, current, UNKNOWN, key in info.force_new))
        elif not _equal(desired, current):
            changes.append(AttributeChange(key, current, desired, key in info.force_new))
    live_tags = dict(live.get("tags") or {})
    if dict(tags) != live_tags:
        changes.append(AttributeChange("tags", live_tags, dict(tags), "tags" in info.force_new))
    return tuple(changes)


def creation_changes(properties: Mapping[str, Any], tags: Mapping[str, str]) -> tuple[AttributeChange, ...]:
    out = [AttributeChange(k, None, v) for k, v in properties.items()]
    if tags:
        out.append(AttributeChange("tags", None, dict(tags)))
    return tuple(out)


def fingerprint(attributes: Mapping[str, Any] | None) -> str:
    """A stable hash of live attributes, to notice that live state moved after a plan was saved."""
    if attributes is None:
        return "absent"
    blob = json.dumps(attributes, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]
