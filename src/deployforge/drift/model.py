"""The drift section of the result: frozen dataclasses with ``to_json()`` (pure data)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from deployforge.drift.structural import DiffLine, change_lines


class Severity(StrEnum):
    INFORMATIONAL = "informational"
    PERFORMANCE = "performance-impacting"
    SECURITY = "security-critical"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def raised(self) -> Severity:
        return _BY_RANK[min(self.rank + 1, 3)]

    @classmethod
    def parse(cls, text: str) -> Severity:
        value = text.strip().lower()
        for member in cls:
            if value in (member.value, member.name.lower()) or member.value.startswith(value):
                return member
        raise ValueError(f"unknown severity '{text}' (use: {', '.join(m.value for m in cls)})")


_RANK = {Severity.INFORMATIONAL: 1, Severity.PERFORMANCE: 2, Severity.SECURITY: 3}
_BY_RANK = {rank: sev for sev, rank in _RANK.items()}


class Status(StrEnum):
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    UNMANAGED = "UNMANAGED"  # an object in scope that nobody declared
    NOT_CHECKED = "NOT_CHECKED"  # could not be read (access denied, throttled past retries): never in sync


@dataclass(frozen=True)
class AttributeDrift:
    path: str  # dotted: "desired_capacity", "tags.owner", "ingress"
    expected: Any  # the baseline's value (None when the key was absent)
    actual: Any  # the live value (None when the key is absent)

    @property
    def lines(self) -> tuple[DiffLine, ...]:
        """The exact edits from the baseline to live (``+ ingress tcp/22 from 0.0.0.0/0``)."""
        return change_lines(self.path, self.expected, self.actual)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "expected": self.expected,
            "actual": self.actual,
            "diff": [line.text for line in self.lines],
        }


@dataclass(frozen=True)
class DriftRecord:
    id: str
    environment: str
    resource: str  # the resource's name in the config (for UNMANAGED: "<type>:<cloud id>")
    type: str
    target: str
    resource_id: str | None
    status: Status
    changes: tuple[AttributeDrift, ...] = ()
    severity: Severity | None = None  # None for NOT_CHECKED
    reason: str = ""
    first_seen: str = ""
    last_seen: str = ""
    ignored: str | None = None  # the ignore file's reason when the whole record is ignored
    ignored_changes: tuple[AttributeDrift, ...] = ()  # attribute changes an ignore entry covers
    error: str | None = None  # why a NOT_CHECKED resource could not be read
    live: Mapping[str, Any] | None = None  # UNMANAGED: the object's attributes as read (for classification)

    @property
    def live_lines(self) -> tuple[str, ...]:
        """An UNMANAGED object's attributes as diff lines (everything is "added": nobody declared it)."""
        live = self.live or {}
        return tuple(line.text for key in sorted(live) for line in change_lines(key, None, live[key]))

    @property
    def active(self) -> bool:
        """Drift that counts: not ignored and actually checked."""
        return self.ignored is None and self.status is not Status.NOT_CHECKED

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(c.path for c in self.changes)

    @property
    def diff(self) -> tuple[str, ...]:
        """Every edit from the baseline to live, one line each, in full."""
        return tuple(line.text for c in self.changes for line in c.lines)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "environment": self.environment,
            "resource": self.resource,
            "type": self.type,
            "target": self.target,
            "resource_id": self.resource_id,
            "status": self.status.value,
            "severity": self.severity.value if self.severity else None,
            "reason": self.reason,
            "changes": [c.to_json() for c in self.changes],
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
        }
        if self.ignored is not None:
            out["ignored"] = self.ignored
        if self.ignored_changes:
            out["ignored_changes"] = [c.to_json() for c in self.ignored_changes]
        if self.error:
            out["error"] = self.error
        if self.live is not None:
            out["live"] = dict(self.live)
        return out


@dataclass(frozen=True)
class RemediationStep:
    """One thing a remediation does (or, in a dry run, would do)."""

    action: str  # revert | adopt | ignore | rolling_restart | rollback | reapply | notify_slack | refuse
    description: str
    attributes: tuple[str, ...] = ()
    done: bool = False
    error: str | None = None
    lines: tuple[str, ...] = ()  # the edits it makes, in the diff language (``- ingress tcp/22 from ...``)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action, "description": self.description, "done": self.done}
        if self.attributes:
            out["attributes"] = list(self.attributes)
        if self.lines:
            out["diff"] = list(self.lines)
        if self.error:
            out["error"] = self.error
        return out


@dataclass(frozen=True)
class Remediation:
    drift_id: str
    resource: str
    strategy: str  # revert | adopt | ignore | self-healing
    dry_run: bool
    steps: tuple[RemediationStep, ...]
    outcome: str  # planned | applied | failed | refused | within-tolerance | blocked | no-rule
    notes: tuple[str, ...] = ()
    deviation: float | None = None  # percent, for self-healing's impact analysis
    max_deviation: float | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in ("planned", "applied", "within-tolerance")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "drift_id": self.drift_id,
            "resource": self.resource,
            "strategy": self.strategy,
            "dry_run": self.dry_run,
            "outcome": self.outcome,
            "steps": [s.to_json() for s in self.steps],
        }
        if self.notes:
            out["notes"] = list(self.notes)
        if self.deviation is not None:
            out["deviation_percent"] = round(self.deviation, 2)
        if self.max_deviation is not None:
            out["max_deviation_percent"] = self.max_deviation
        return out


@dataclass(frozen=True)
class Notification:
    channel: str | None
    ok: bool
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "ok": self.ok, "error": self.error}


@dataclass(frozen=True)
class DriftReport:
    """One detection (and whatever remediation followed): the ``drift`` section of ``RunResult``."""

    environment: str
    baseline_id: str | None
    baseline_taken_at: str | None
    checked_at: str
    records: tuple[DriftRecord, ...]
    resources_checked: int = 0  # baseline resources compared with live state
    checked_names: tuple[str, ...] = ()  # their names (JUnit has a case per resource)
    remediations: tuple[Remediation, ...] = ()
    notifications: tuple[Notification, ...] = ()
    warnings: tuple[str, ...] = ()
    fail_on: Severity = Severity.INFORMATIONAL
    hidden: int = 0  # records a --severity/--status filter left out
    unfiltered_in_sync: int | None = None  # in_sync before the filter (the filter hides drift, not sync)

    @property
    def active(self) -> tuple[DriftRecord, ...]:
        return tuple(r for r in self.records if r.active)

    @property
    def not_checked(self) -> tuple[DriftRecord, ...]:
        return tuple(r for r in self.records if r.status is Status.NOT_CHECKED)

    @property
    def in_sync(self) -> int:
        if self.unfiltered_in_sync is not None:
            return self.unfiltered_in_sync
        drifted = {r.resource for r in self.records if r.status in (Status.MODIFIED, Status.DELETED)}
        return max(0, self.resources_checked - len(drifted))

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in Severity}
        for record in self.active:
            if record.severity is not None:
                out[record.severity.value] += 1
        out["not_checked"] = len(self.not_checked)
        out["ignored"] = sum(1 for r in self.records if r.ignored is not None)
        out["in_sync"] = self.in_sync
        return out

    @property
    def exit_code(self) -> int:
        """0 no drift, 2 drift found, 1 errors (a resource not checked is never in sync)."""
        if self.not_checked or any(not r.ok for r in self.remediations):
            return 1
        return 2 if self.active else 0

    def find(self, drift_id: str) -> DriftRecord | None:
        wanted = drift_id.strip().upper()
        return next((r for r in self.records if r.id == wanted), None)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "environment": self.environment,
            "baseline_id": self.baseline_id,
            "baseline_taken_at": self.baseline_taken_at,
            "checked_at": self.checked_at,
            "resources_checked": self.resources_checked,
            "counts": self.counts(),
            "records": [r.to_json() for r in self.records],
        }
        if self.remediations:
            out["remediations"] = [r.to_json() for r in self.remediations]
        if self.notifications:
            out["notifications"] = [n.to_json() for n in self.notifications]
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


@dataclass(frozen=True)
class Classification:
    severity: Severity
    reason: str
    source: str = "built-in"  # built-in | rego


@dataclass(frozen=True)
class Scope:
    """Which unmanaged objects count as UNMANAGED drift."""

    unmanaged: bool = True
    skip_names: tuple[str, ...] = field(default=("default",))  # AWS's default security groups
