"""Plans and apply outcomes: pure data, serialisable to JSON (``--out plan.json``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from deployforge.model.unknown import UNKNOWN, contains_unknown

PLAN_FORMAT = 1


def _known_parts(value: Any) -> Any:
    if value is UNKNOWN:
        return None
    if isinstance(value, dict):
        return {k: _known_parts(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_known_parts(v) for v in value]
    return value


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    NOOP = "no-op"

    @property
    def symbol(self) -> str:
        return {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "no-op": " "}[self.value]

    @property
    def destructive(self) -> bool:
        return self in (Action.DELETE, Action.REPLACE)


@dataclass(frozen=True)
class AttributeChange:
    key: str
    before: Any
    after: Any  # UNKNOWN when only known after apply
    forces_replacement: bool = False

    def to_json(self) -> dict[str, Any]:
        # a value only partly known (a list holding a reference to a resource not created yet)
        # is saved as its known parts with the unknown ones null, and flagged
        return {
            "key": self.key,
            "before": self.before,
            "after": _known_parts(self.after),
            "after_unknown": contains_unknown(self.after),
            "forces_replacement": self.forces_replacement,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AttributeChange:
        after = UNKNOWN if data.get("after_unknown") else data.get("after")
        return cls(data["key"], data.get("before"), after, bool(data.get("forces_replacement")))


@dataclass(frozen=True)
class ResourcePlan:
    name: str
    type: str
    target: str
    action: Action
    changes: tuple[AttributeChange, ...] = ()
    resource_id: str | None = None  # the existing object's id (update/replace/delete/no-op)
    depends_on: tuple[str, ...] = ()
    live_fingerprint: str | None = None  # hash of the live attributes the plan was made against
    note: str | None = None  # e.g. "was deleted outside DeployForge"

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "target": self.target,
            "action": self.action.value,
            "changes": [c.to_json() for c in self.changes],
            "resource_id": self.resource_id,
            "depends_on": list(self.depends_on),
            "live_fingerprint": self.live_fingerprint,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResourcePlan:
        return cls(
            name=data["name"],
            type=data["type"],
            target=data["target"],
            action=Action(data["action"]),
            changes=tuple(AttributeChange.from_json(c) for c in data.get("changes", ())),
            resource_id=data.get("resource_id"),
            depends_on=tuple(data.get("depends_on", ())),
            live_fingerprint=data.get("live_fingerprint"),
            note=data.get("note"),
        )


@dataclass(frozen=True)
class Plan:
    environment: str
    config_hash: str
    state_serial: int
    state_lineage: str | None
    resources: tuple[ResourcePlan, ...]  # creates/updates in dependency order, then deletes
    created_at: str = ""
    run_id: str = ""

    def counts(self) -> dict[str, int]:
        out = {a.value: 0 for a in Action}
        for r in self.resources:
            out[r.action.value] += 1
        return out

    @property
    def has_changes(self) -> bool:
        return any(r.action is not Action.NOOP for r in self.resources)

    def changed(self) -> tuple[ResourcePlan, ...]:
        return tuple(r for r in self.resources if r.action is not Action.NOOP)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "environment": self.environment,
            "config_hash": self.config_hash,
            "state_serial": self.state_serial,
            "state_lineage": self.state_lineage,
            "created_at": self.created_at,
            "run_id": self.run_id,
            "summary": self.counts(),
            "resources": [r.to_json() for r in self.resources],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        return cls(
            environment=data["environment"],
            config_hash=data["config_hash"],
            state_serial=int(data["state_serial"]),
            state_lineage=data.get("state_lineage"),
            resources=tuple(ResourcePlan.from_json(r) for r in data["resources"]),
            created_at=data.get("created_at", ""),
            run_id=data.get("run_id", ""),
        )


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # a dependency failed, or the run was interrupted before it started
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class ResourceResult:
    name: str
    type: str
    action: Action
    outcome: Outcome
    resource_id: str | None = None
    error: str | None = None
    hint: str | None = None
    duration_s: float = 0.0
    reason: str | None = None  # why skipped

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "action": self.action.value,
            "outcome": self.outcome.value,
            "resource_id": self.resource_id,
            "error": self.error,
            "hint": self.hint,
            "duration_s": round(self.duration_s, 3),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ApplyResult:
    environment: str
    results: tuple[ResourceResult, ...] = field(default_factory=tuple)
    interrupted: bool = False
    duration_s: float = 0.0

    @property
    def failed(self) -> tuple[ResourceResult, ...]:
        return tuple(r for r in self.results if r.outcome is Outcome.FAILED)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted

    def counts(self) -> dict[str, int]:
        out = {o.value: 0 for o in Outcome}
        for r in self.results:
            out[r.outcome.value] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "ok": self.ok,
            "interrupted": self.interrupted,
            "duration_s": round(self.duration_s, 3),
            "summary": self.counts(),
            "resources": [r.to_json() for r in self.results],
        }
