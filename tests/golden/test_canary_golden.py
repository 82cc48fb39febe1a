"""Golden files for what people read from a canary deploy (``deployforge run`` / ``deploy``).

Each input case in ``canary/cases/<case>.json`` holds a canary timeline (the shape of
``CanaryReport.to_json()``), the run's result around it (exit code, messages, hooks) and the live
events the controller emitted. It renders to, beside it in ``canary/``:

- ``<case>.progress.txt``: the live progress lines (``deploy.render.render_event``, stderr);
- ``<case>.console.txt``: the canary timeline (``deploy.render.render_canary``);
- ``<case>.summary.txt``: the whole console summary (``deploy.render.render_run_summary``, stdout);
- ``<case>.junit.xml``: the ``--junit`` report (``render.suites.junit_suites``: a case per gate check, then the hooks).

Durations and latencies are normalised (``#``) so the goldens hold none; a test below checks that
the normalisation removes every one of them and nothing else.

Regenerate after an intended change:  DEPLOYFORGE_REGEN_GOLDEN=1 pytest tests/golden
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from deployforge.deploy.model import CanaryReport, GateResult, StepRecord
from deployforge.deploy.render import render_canary, render_event, render_run_summary
from deployforge.deploy.shifters.base import Weights
from deployforge.hooks import HookRun, HooksReport
from deployforge.model.result import RunResult
from deployforge.render.junit import check_junit, parse_junit, render_junit
from deployforge.render.suites import junit_suites

HERE = Path(__file__).parent / "canary"
CASES = sorted(p.stem for p in (HERE / "cases").glob("*.json"))

_DURATIONS = [
    (re.compile(r'\btime="[0-9.]+"'), 'time="#"'),  # JUnit case/suite times
    (re.compile(r"\b[0-9]+\.[0-9]+s\b"), "#s"),  # the canary's duration
    (re.compile(r"\b[0-9]+s left\b"), "#s left"),  # time left in the progress lines
    (re.compile(r"(latency_ms\W{1,3})[0-9.]+"), r"\1#"),  # an HTTP gate's measured latency
]


def normalise(text: str) -> str:
    for pattern, repl in _DURATIONS:
        text = pattern.sub(repl, text)
    return text


def check(name: str, text: str) -> None:
    path = HERE / name
    text = normalise(text)
    if os.environ.get("DEPLOYFORGE_REGEN_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with DEPLOYFORGE_REGEN_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; if intended: DEPLOYFORGE_REGEN_GOLDEN=1"


# -- loading a case -------------------------------------------------------------------------------


def _gate(doc: dict[str, Any]) -> GateResult:
    return GateResult(**doc)


def _weights(doc: dict[str, Any] | None) -> Weights | None:
    return None if doc is None else Weights(doc["stable"], doc["canary"], dict(doc.get("detail") or {}))


def _report(doc: dict[str, Any]) -> CanaryReport:
    steps = tuple(
        StepRecord(
            index=s["index"],
            kind=s["kind"],
            description=s["description"],
            weight=s["weight"],
            started_s=s["started_s"],
            ended_s=s["ended_s"],
            outcome=s["outcome"],
            gates=tuple(_gate(g) for g in s.get("gates", ())),
            weights=_weights(s.get("weights")),
        )
        for s in doc["steps"]
    )
    return CanaryReport(
        strategy=doc["strategy"],
        shifter=doc["shifter"],
        verdict=doc["verdict"],
        reason=doc["reason"],
        steps=steps,
        failed_gate=_gate(doc["failed_gate"]) if doc.get("failed_gate") else None,
        final_weights=_weights(doc.get("final_weights")),
        duration_s=doc["duration_s"],
        failures=doc["failures"],
        rollback_latency_ms=doc.get("rollback_latency_ms"),
    )


def load_case(name: str) -> tuple[RunResult, list[tuple[str, dict[str, Any]]]]:
    doc = json.loads((HERE / "cases" / f"{name}.json").read_text(encoding="utf-8"))
    r = doc["result"]
    hooks = HooksReport(
        tuple(
            HookRun(
                h["name"],
                h["phase"],
                h["target"],
                h["status"],
                h["exit_code"],
                h["duration_s"],
                tuple(h["output_tail"]),
                h["message"],
            )
            for h in r.get("hooks", ())
        )
    )
    result = RunResult(
        r["command"],
        r["environment"],
        "DF-TRC-GOLDEN",
        r["exit_code"],
        messages=tuple(r.get("messages", ())),
        canary=_report(doc["canary"]),
        hooks=hooks,
        extra=dict(r.get("extra", {})),
    )
    events = []
    for kind, payload in doc["events"]:
        if kind == "gate":
            payload = {**payload, "result": _gate(payload["result"])}
        events.append((kind, payload))
    return result, events


def progress(events: list[tuple[str, dict[str, Any]]]) -> str:
    lines = [render_event(kind, payload) for kind, payload in events]
    return "\n".join(line for line in lines if line is not None) + "\n"


# -- the goldens ----------------------------------------------------------------------------------


def test_cases_exist() -> None:
    assert {"promoted", "rolled_back"} <= set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_progress_lines(case: str) -> None:
    _, events = load_case(case)
    check(f"{case}.progress.txt", progress(events))


@pytest.mark.parametrize("case", CASES)
def test_canary_timeline(case: str) -> None:
    result, _ = load_case(case)
    check(f"{case}.console.txt", render_canary(result.canary) + "\n")


@pytest.mark.parametrize("case", CASES)
def test_console_summary(case: str) -> None:
    result, _ = load_case(case)
    check(f"{case}.summary.txt", render_run_summary(result) + "\n")


@pytest.mark.parametrize("case", CASES)
def test_junit(case: str) -> None:
    result, _ = load_case(case)
    text = render_junit(junit_suites(result))
    assert check_junit(text) == []
    suites = {s.name.split()[0]: s for s in parse_junit(text)}
    assert list(suites) == ["canary", "hooks"]  # the canary's suite, then the hooks'
    suite = suites["canary"]
    evaluations = result.canary.evaluations
    assert len(suite.cases) == len(evaluations)  # one test case per gate evaluation
    assert [c.status == "failure" for c in suite.cases] == [not g.passed for g in evaluations]
    assert {c.classname for c in suite.cases} == {f"canary.{result.environment}"}
    hooks = suites["hooks"].cases  # one case per hook execution, failing where the hook failed
    assert [c.name for c in hooks] == [f"{r.phase} :: {r.name}" for r in result.hooks.runs]
    assert [c.status for c in hooks] == ["passed" if r.ok else "failure" for r in result.hooks.runs]
    assert all(("deployforge.trace_id", result.run_id) in s.properties for s in suites.values())
    check(f"{case}.junit.xml", text)


def test_the_aborted_canary_says_which_gate_failed_with_what_value() -> None:
    result, events = load_case("rolled_back")
    timeline = render_canary(result.canary)
    assert "Canary rolled_back: gate 'errors' failed (value ALARM" in timeline
    assert "failed gate: errors: FAIL (value ALARM; expected not ALARM)" in timeline
    assert "final weights (read back): stable 100% / canary 0%" in timeline
    lines = progress(events)
    assert "holding at 40%: 1/2 failed checks" in lines and lines.index("holding") < lines.index("Rolling back")
    summary = render_run_summary(result)
    assert "hook on_failure 'page on-call': failed (exit code 22)" in summary
    assert summary.rstrip().endswith("deployforge run failed (exit 1)")


def _scaled(result: RunResult, events: list[tuple[str, dict[str, Any]]], k: float) -> tuple[RunResult, list[Any]]:
    """The same case with every duration and latency multiplied by ``k``."""

    def gate(g: GateResult) -> GateResult:
        value = g.value
        if isinstance(value, dict) and "latency_ms" in value:
            value = {**value, "latency_ms": round(value["latency_ms"] * k + 1, 1)}
        return replace(g, value=value, elapsed_s=g.elapsed_s * k, duration_ms=g.duration_ms * k + 1)

    report = result.canary
    steps = tuple(replace(s, gates=tuple(gate(g) for g in s.gates)) for s in report.steps)
    scaled = replace(result, canary=replace(report, steps=steps, duration_s=report.duration_s * k + 1))
    new_events = [
        (kind, {**p, "result": gate(p["result"])} if kind == "gate" else {**p, "time_left": p["time_left"] * k + 7})
        if kind in ("gate", "step")
        else (kind, p)
        for kind, p in events
    ]
    return scaled, new_events


@pytest.mark.parametrize("case", CASES)
def test_goldens_hold_no_durations(case: str) -> None:
    """Other durations render differently, and normalise to the very same text."""
    result, events = load_case(case)
    other, other_events = _scaled(result, events, 3.7)
    for render in (
        lambda r, e: progress(e),
        lambda r, e: render_canary(r.canary),
        lambda r, e: render_junit(junit_suites(r)),
    ):
        raw, raw_other = render(result, events), render(other, other_events)
        assert raw != raw_other
        assert normalise(raw) == normalise(raw_other)


@pytest.mark.parametrize("verdict", ["timeout", "interrupted"])
def test_a_canary_stopped_without_a_failing_gate_is_a_failed_junit_case(verdict: str) -> None:
    """Every gate check passed, but the canary timed out or was interrupted: CI must not see green."""
    from deployforge.deploy.render import to_junit_suite

    result, _ = load_case("promoted")
    stopped = replace(result.canary, verdict=verdict, reason=f"{verdict} at 40%", failed_gate=None)
    suite = to_junit_suite(stopped, environment="prod")
    assert all(c.status == "passed" for c in suite.cases[:-1])
    last = suite.cases[-1]
    assert last.name == f"canary :: {verdict}" and last.status == "failure"
    assert last.failure is not None and last.failure.message == f"canary {verdict}: {verdict} at 40%"
    assert " :: step " in to_junit_suite(result.canary, environment="prod").cases[-1].name  # promoted: no verdict case
