"""The canary timeline in the result model (pure frozen dataclasses with ``to_json()``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deployforge.deploy.shifters.base import Weights


@dataclass(frozen=True)
class GateResult:
    """One evaluation of one gate. ``value`` is what was observed (alarm state, metric value,
    HTTP status/latency, or the error); ``expected`` says what passing means."""

    gate: str
    type: str
    passed: bool
    value: Any
    expected: str
    detail: str = ""
    step: int = 0
    weight: int = 0
    elapsed_s: float = 0.0  # since the canary started
    duration_ms: float = 0.0  # how long the evaluation took

    def to_json(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "type": self.type,
            "passed": self.passed,
            "value": self.value,
            "expected": self.expected,
            "detail": self.detail,
            "step": self.step,
            "weight": self.weight,
            "elapsed_s": round(self.elapsed_s, 3),
            "duration_ms": round(self.duration_ms, 1),
        }

    def describe(self) -> str:
        word = "pass" if self.passed else "FAIL"
        text = f"{self.gate}: {word} (value {self.value}; expected {self.expected})"
        return f"{text}: {self.detail}" if self.detail else text


@dataclass(frozen=True)
class StepRecord:
    index: int
    kind: str
    description: str
    weight: int | None  # canary weight after the step (read back)
    started_s: float
    ended_s: float
    outcome: str  # done | failed | interrupted | timeout | skipped
    gates: tuple[GateResult, ...] = ()
    weights: Weights | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.index,
            "kind": self.kind,
            "description": self.description,
            "weight": self.weight,
            "started_s": round(self.started_s, 3),
            "ended_s": round(self.ended_s, 3),
            "outcome": self.outcome,
        }
        if self.gates:
            out["gates"] = [g.to_json() for g in self.gates]
        if self.weights is not None:
            out["weights"] = self.weights.to_json()
        return out


@dataclass(frozen=True)
class CanaryReport:
    """What the canary did: its steps, the weights read back, every gate value and the verdict.

    ``verdict``: promoted | rolled_back | interrupted | timeout | error.
    ``failed_gate``: the evaluation that caused an abort (None otherwise).
    ``final_weights``: read back after promotion or rollback.
    """

    strategy: str
    shifter: str
    verdict: str
    reason: str
    steps: tuple[StepRecord, ...]
    failed_gate: GateResult | None = None
    final_weights: Weights | None = None
    duration_s: float = 0.0
    failures: int = 0
    rollback_latency_ms: float | None = None  # failing gate seen -> rollback weight change issued
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.verdict == "promoted"

    @property
    def evaluations(self) -> tuple[GateResult, ...]:
        return tuple(g for s in self.steps for g in s.gates)

    def to_json(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "shifter": self.shifter,
            "verdict": self.verdict,
            "reason": self.reason,
            "failed_gate": self.failed_gate.to_json() if self.failed_gate else None,
            "final_weights": self.final_weights.to_json() if self.final_weights else None,
            "duration_s": round(self.duration_s, 3),
            "failures": self.failures,
            "rollback_latency_ms": None if self.rollback_latency_ms is None else round(self.rollback_latency_ms, 1),
            "steps": [s.to_json() for s in self.steps],
            **self.extra,
        }
