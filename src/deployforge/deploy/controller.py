"""The canary control loop: runs compiled steps over a shifter, evaluates gates, rolls back on its own.

The loop is deterministic given its inputs: the clock, the wait function (``cancel.wait``, so a
signal wakes it at once), the shifter and the gates are all passed in. Callbacks:

* ``on_event(kind, payload)``: live progress (``step``, ``weight``, ``gate``, ``hold``,
  ``rollback``, ``promoted``) for the console;
* ``record(step_record)``: after each step (the audit log);
* ``journal(entry | None)``: before every weight change (the intended weight) and after the end
  (``None``), so a run killed hard leaves the last intended weight in state.

Abort rules: a failed check holds the weight and counts; when the count reaches
``failure_threshold`` the canary aborts. Abort, timeout, cancel (SIGINT/SIGTERM) and an error while
shifting all end the same way: canary weight 0, read back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from deployforge.deploy.gates import Gate, evaluate
from deployforge.deploy.model import CanaryReport, GateResult, StepRecord
from deployforge.deploy.shifters.base import TrafficShifter, Weights
from deployforge.deploy.strategy import CompiledStrategy, Step
from deployforge.errors import DeployForgeError


class _Stop(Exception):
    def __init__(self, verdict: str, reason: str, failed: GateResult | None = None):
        super().__init__(reason)
        self.verdict = verdict
        self.reason = reason
        self.failed = failed


def _noop(*_: Any) -> None:
    return None


@dataclass
class Controller:
    compiled: CompiledStrategy
    shifter: TrafficShifter
    gates: Mapping[str, Gate]
    cancel: threading.Event = field(default_factory=threading.Event)
    clock: Callable[[], float] = time.monotonic
    on_event: Callable[[str, dict[str, Any]], None] = _noop
    record: Callable[[StepRecord], None] = _noop
    journal: Callable[[dict[str, Any] | None], None] = _noop
    overhead_ms: list[float] = field(default_factory=list)  # loop time per step beyond waits and API calls

    def run(self) -> CanaryReport:
        self._start = self.clock()
        self._deadline = self._start + self.compiled.timeout
        self._failures = 0
        self._weight = 0
        self._records: list[StepRecord] = []
        self._io_s = 0.0
        verdict, reason, failed = "promoted", "every step passed", None
        final: Weights | None = None
        latency: float | None = None
        try:
            for step in self.compiled.steps:
                self._run_step(step)
            final = self._last_weights
        except _Stop as stop:
            verdict, reason, failed = stop.verdict, stop.reason, stop.failed
        except DeployForgeError as exc:
            verdict, reason = "error", exc.message
        if verdict != "promoted":
            seen = self.clock()
            self.on_event("rollback", {"reason": reason, "weight": self._weight})
            self.journal(self._journal_entry(0, "rolling_back"))
            try:
                final = self.shifter.rollback()
                latency = (self.clock() - seen) * 1000
                self._weight = 0
                self.on_event("rolled_back", {"weights": final.to_json()})
            except DeployForgeError as exc:  # the rollback itself failed: say so; keep the journal
                reason = f"{reason}; ROLLBACK FAILED: {exc.message}"
                self.on_event("rollback_failed", {"error": exc.message})
                return self._report("error" if verdict == "error" else verdict, reason, failed, None, latency)
            if verdict == "abort":
                verdict = "rolled_back"
        self.journal(None)
        return self._report(verdict, reason, failed, final, latency)

    _last_weights: Weights | None = None

    def _report(
        self, verdict: str, reason: str, failed: GateResult | None, final: Weights | None, latency: float | None
    ) -> CanaryReport:
        return CanaryReport(
            strategy=self.compiled.name,
            shifter=self.shifter.description,
            verdict=verdict,
            reason=reason,
            steps=tuple(self._records),
            failed_gate=failed,
            final_weights=final,
            duration_s=self.clock() - self._start,
            failures=self._failures,
            rollback_latency_ms=latency,
        )

    def _journal_entry(self, weight: int, status: str) -> dict[str, Any]:
        return {"weight": weight, "status": status, "at": time.time()}

    def _elapsed(self) -> float:
        return self.clock() - self._start

    def _check_stop(self) -> None:
        if self.cancel.is_set():
            raise _Stop("interrupted", "interrupted (SIGINT/SIGTERM): traffic sent back to stable")
        if self.clock() >= self._deadline:
            raise _Stop("timeout", f"the overall timeout of {self.compiled.timeout:g}s was reached")

    def _wait(self, seconds: float) -> None:
        """Sleep up to ``seconds`` (never past the deadline); wakes at once on cancel."""
        remaining = self._deadline - self.clock()
        if seconds > 0:
            self.cancel.wait(min(seconds, max(remaining, 0)))
        self._check_stop()

    def _io(self, fn: Callable[[], Any]) -> Any:
        t = time.perf_counter()
        try:
            return fn()
        finally:
            self._io_s += time.perf_counter() - t

    def _run_step(self, step: Step) -> None:
        self._check_stop()
        t0, io0, wait_s = time.perf_counter(), self._io_s, 0.0
        started = self._elapsed()
        self.on_event(
            "step",
            {
                "index": step.index,
                "total": len(self.compiled.steps),
                "description": step.describe(),
                "weight": self._weight,
                "time_left": self._deadline - self.clock(),
            },
        )
        results: list[GateResult] = []
        weights: Weights | None = None
        outcome = "done"
        try:
            if step.kind in ("set_weight", "promote"):
                target = 100 if step.kind == "promote" else int(step.weight or 0)
                self.journal(self._journal_entry(target, "promoting" if step.kind == "promote" else "shifting"))
                if step.kind == "promote":
                    weights = self._io(self.shifter.promote)
                else:
                    weights = self._io(lambda: self.shifter.set_canary_weight(target))
                self._weight = target
                self._last_weights = weights
                self.on_event("weight", {"weight": target, "weights": weights.to_json()})
            elif step.kind == "pause":
                w = time.perf_counter()
                self._wait(step.duration)
                wait_s += time.perf_counter() - w
            elif step.kind == "bake":
                wait_s += self._bake(step, results)
        except _Stop as stop:
            outcome = "failed" if stop.verdict == "abort" else stop.verdict
            raise
        finally:
            record = StepRecord(
                index=step.index,
                kind=step.kind,
                description=step.describe(),
                weight=self._weight,
                started_s=started,
                ended_s=self._elapsed(),
                outcome=outcome,
                gates=tuple(results),
                weights=weights,
            )
            self._records.append(record)
            self.record(record)
            total = time.perf_counter() - t0
            self.overhead_ms.append(max(0.0, (total - wait_s - (self._io_s - io0)) * 1000))

    def _bake(self, step: Step, results: list[GateResult]) -> float:
        """Check the gates every ``check_interval`` until the bake is over and the last check passed.

        The first check comes one interval in (the canary needs traffic before it can be judged).
        After a failed check (below the threshold) the weight holds and the next check comes one
        full interval later, even past the bake's end.
        """
        names = step.gates or tuple(self.gates)
        bake_end = self.clock() + step.duration
        interval = step.check_interval or step.duration or 0.001
        waited, checks, held = 0.0, 0, False
        while True:
            remaining = max(0.0, bake_end - self.clock())
            pause = interval if (step.count or held) else min(interval, remaining)
            if not names:
                pause = remaining
            w = time.perf_counter()
            self._wait(pause)
            waited += time.perf_counter() - w
            if not names:
                return waited
            checks += 1
            failed_now: GateResult | None = None
            for name in names:
                gate = self.gates[name]
                t = time.perf_counter()
                result = evaluate(gate, step=step.index, weight=self._weight, elapsed=self._elapsed())
                self._io_s += time.perf_counter() - t
                results.append(result)
                self.on_event("gate", {"result": result, "failures": self._failures})
                if not result.passed and failed_now is None:
                    failed_now = result
            held = failed_now is not None
            if failed_now is not None:
                self._failures += 1
                if self._failures >= self.compiled.failure_threshold:
                    raise _Stop(
                        "abort",
                        f"gate '{failed_now.gate}' failed (value {failed_now.value}; expected {failed_now.expected}"
                        + (f"; {failed_now.detail}" if failed_now.detail else "")
                        + f"): {self._failures} failed check(s), threshold {self.compiled.failure_threshold}",
                        failed_now,
                    )
                self.on_event(
                    "hold",
                    {"weight": self._weight, "failures": self._failures, "threshold": self.compiled.failure_threshold},
                )
                continue
            if (checks >= step.count) if step.count else (self.clock() >= bake_end):
                return waited
