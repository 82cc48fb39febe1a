"""The digest of what a plan changes: what a reviewer approved, as a value to compare.

``sha256`` over a canonical JSON (keys sorted, no spaces, UTF-8) of the planned changes only: per
changed resource its address, target, action, and each attribute change (key, before, after, known
after apply or not, forces replacement or not), resources sorted by address. It leaves out what
changes without changing the effect (the plan's time, run id, state serial, live fingerprints,
notes), so the same changes planned twice have the same digest, and any other change a different
one. ``resource_digests`` gives one short digest per resource, to say *what* differs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

PREFIX = "sha256:"


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def _resource_doc(r: Any) -> dict[str, Any]:
    data = r.to_json()
    return {
        "address": r.address,
        "target": data["target"],
        "action": data["action"],
        "changes": [
            {k: c.get(k) for k in ("key", "before", "after", "after_unknown", "forces_replacement")}
            for c in data["changes"]
        ],
    }


def plan_digest(plan: Any) -> str:
    """``sha256:<hex>`` of the plan's changes (no changes: the digest of an empty list)."""
    docs = sorted((_resource_doc(r) for r in plan.changed()), key=lambda d: d["address"])
    return PREFIX + hashlib.sha256(_canonical(docs)).hexdigest()


def resource_digests(plan: Any) -> dict[str, str]:
    """``address -> "<action>:<12 hex>"`` for every changed resource."""
    return {
        r.address: f"{r.action.value}:{hashlib.sha256(_canonical(_resource_doc(r))).hexdigest()[:12]}"
        for r in sorted(plan.changed(), key=lambda r: r.address)
    }


def differences(reviewed: dict[str, str], now: dict[str, str], limit: int = 10) -> list[str]:
    """What differs between two ``resource_digests`` maps, most telling first, at most ``limit``."""
    out = [f"{a} is new in the plan ({now[a].split(':')[0]})" for a in sorted(set(now) - set(reviewed))]
    out += [f"{a} is no longer in the plan (was {reviewed[a].split(':')[0]})" for a in sorted(set(reviewed) - set(now))]
    for a in sorted(set(now) & set(reviewed)):
        if now[a] != reviewed[a]:
            was, is_ = reviewed[a].split(":")[0], now[a].split(":")[0]
            out.append(f"{a} changes differently ({was} -> {is_})" if was != is_ else f"{a}: its changes differ")
    return out[:limit] + ([f"and {len(out) - limit} more"] if len(out) > limit else [])
