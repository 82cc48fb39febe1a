"""Workflows as pure data: a compiled DAG of steps, and the result of running one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from deployforge.errors import Location

SUCCEEDED = "succeeded"
FAILED = "failed"
SKIPPED = "skipped"
FAILED_ALLOWED = "failed (continued)"  # failed with continue_on_failure: dependents still run


@dataclass(frozen=True)
class Step:
    """One step: ``<target>.<service>.<action>`` with its parameters and run settings."""

    id: str
    uses: str  # as written, e.g. "aws.rds.create" or "aws_prod.rds.create"
    target: str  # the resolved target name
    provider: str  # the target's provider kind: aws | google
    service: str
    action: str
    params: Mapping[str, Any] = field(default_factory=dict)  # the step's `with:`, unresolved
    needs: tuple[str, ...] = ()  # explicit `needs` plus steps referenced through ${steps.X...}
    retries: int = 0
    timeout: float | None = None  # seconds per attempt
    continue_on_failure: bool = False
    location: Location | None = None

    @property
    def action_name(self) -> str:
        return f"{self.service}.{self.action}"


@dataclass(frozen=True)
class Workflow:
    name: str
    steps: tuple[Step, ...]  # in a dependency order (every step after the steps it needs)
    description: str = ""
    location: Location | None = None

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    @property
    def deps(self) -> dict[str, tuple[str, ...]]:
        return {s.id: s.needs for s in self.steps}

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "steps": [
                {
                    "id": s.id,
                    "uses": s.uses,
                    "target": s.target,
                    "action": s.action_name,
                    "needs": list(s.needs),
                    "retries": s.retries,
                    "timeout": s.timeout,
                    "continue_on_failure": s.continue_on_failure,
                }
                for s in self.steps
            ],
        }


@dataclass(frozen=True)
class StepResult:
    id: str
    uses: str
    target: str
    status: str  # succeeded | failed | failed (continued) | skipped
    attempts: int = 0
    duration_s: float = 0.0
    outputs: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    skipped_because: tuple[str, ...] = ()  # the failed steps that stopped this one

    def to_json(self) -> dict[str, Any]:
        from deployforge.secrets import masking

        out: dict[str, Any] = {
            "id": self.id,
            "uses": self.uses,
            "target": self.target,
            "status": self.status,
            "attempts": self.attempts,
            "duration_s": round(self.duration_s, 3),
            "outputs": masking.mask_data(dict(self.outputs)),
        }
        if self.error:
            out["error"] = masking.mask(self.error)
        if self.skipped_because:
            out["skipped_because"] = list(self.skipped_because)
        return out


@dataclass(frozen=True)
class WorkflowResult:
    """The ``workflow`` section of a RunResult."""

    name: str
    status: str  # succeeded | failed
    steps: tuple[StepResult, ...]
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == SUCCEEDED

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for s in self.steps:
            counts[s.status] = counts.get(s.status, 0) + 1
        return counts

    def step(self, step_id: str) -> StepResult:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "duration_s": round(self.duration_s, 3),
            "counts": self.counts(),
            "steps": [s.to_json() for s in self.steps],
        }
