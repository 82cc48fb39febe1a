"""Pure renderings of the deploy stage: live progress lines, the console summary and the JUnit suite
(one case per gate check). Golden files: tests/golden/canary/."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from deployforge.deploy.model import CanaryReport, StepRecord
from deployforge.text import plural

Style = Callable[..., str]


def _plain(text: str, **_: Any) -> str:
    return text


def render_event(kind: str, payload: dict[str, Any], style: Style = _plain) -> str | None:
    """One live progress line of the canary controller's ``on_event`` (None for events not shown)."""
    if kind == "step":
        return style(
            f"[step {payload['index']}/{payload['total']}] {payload['description']}  "
            f"(weight {payload['weight']}%, {payload['time_left']:.0f}s left)",
            dim=True,
        )
    if kind in ("weight", "rolled_back"):
        w = payload["weights"]
        return f"  weights read back: stable {w['stable']}% / canary {w['canary']}%"
    if kind == "gate":
        r = payload["result"]
        return "  " + style(r.describe(), fg="green" if r.passed else "red")
    if kind == "hold":
        return style(
            f"  holding at {payload['weight']}%: {payload['failures']}/{payload['threshold']} failed checks",
            fg="yellow",
        )
    if kind == "rollback":
        return style(f"Rolling back: {payload['reason']}", fg="red")
    if kind == "rollback_failed":
        return style(f"ROLLBACK FAILED: {payload['error']}", fg="red", bold=True)
    return None


# a run of at least this many uneventful steps (done, no failed check) is folded to its first and
# last two steps plus one line: a 39-step canary's summary shows what happened, not 39 lines
FOLD_AT = 6
_KEEP = 2


def _step_line(step: StepRecord) -> str:
    gates = ""
    if step.gates:
        failed = sum(1 for g in step.gates if not g.passed)
        gates = f"; {plural(len(step.gates), 'gate check')}" + (f", {failed} failed" if failed else "")
    return f"  {step.index:>3}. {step.description}: {step.outcome} (weight {step.weight}%{gates})"


def _uneventful(step: StepRecord) -> bool:
    return step.outcome == "done" and all(g.passed for g in step.gates)


def _fold_line(steps: Sequence[StepRecord]) -> str:
    weights = [s.weight for s in steps if s.weight is not None]
    checks = sum(len(s.gates) for s in steps)
    span = f"; weight {min(weights)}% to {max(weights)}%" if weights else ""
    gates = f"; {plural(checks, 'gate check')}, none failed" if checks else ""
    return f"       … {plural(len(steps), 'more step')} done (steps {steps[0].index}-{steps[-1].index}{span}{gates})"


def step_lines(steps: Sequence[StepRecord]) -> list[str]:
    """One line per step, with each long run of uneventful steps folded (pure)."""
    lines: list[str] = []
    i = 0
    while i < len(steps):
        j = i
        while j < len(steps) and _uneventful(steps[j]):
            j += 1
        run = steps[i:j]
        if len(run) >= FOLD_AT:
            lines += [_step_line(s) for s in run[:_KEEP]]
            lines.append(_fold_line(run[_KEEP:-_KEEP]))
            lines += [_step_line(s) for s in run[-_KEEP:]]
        else:
            lines += [_step_line(s) for s in run]
        if j < len(steps):
            lines.append(_step_line(steps[j]))
        i = j + 1
    return lines


def render_canary(report: CanaryReport, style: Style = _plain) -> str:
    colour = "green" if report.ok else "red"
    lines = [style(f"Canary {report.verdict}: {report.reason}", fg=colour, bold=True)]
    lines.append(f"  strategy {report.strategy} on {report.shifter}, {report.duration_s:.1f}s")
    lines += step_lines(report.steps)
    if report.failed_gate is not None:
        lines.append(style(f"  failed gate: {report.failed_gate.describe()}", fg="red"))
    if report.final_weights is not None:
        w = report.final_weights
        lines.append(f"  final weights (read back): stable {w.stable}% / canary {w.canary}%")
    return "\n".join(lines)


def render_run_summary(result: Any, style: Style = _plain) -> str:
    from deployforge.render.console import render_apply

    parts: list[str] = []
    if result.apply is not None:
        parts.append(render_apply(result.apply, style))
    if result.canary is not None:
        parts.append(render_canary(result.canary, style))
    if result.hooks is not None and result.hooks.runs:
        hook_lines = ["Hooks:"]
        for run in result.hooks.runs:
            colour = "green" if run.ok else "red"
            hook_lines.append("  " + style(run.describe(), fg=colour))
            if not run.ok:
                hook_lines += [f"    | {line}" for line in run.output_tail[-10:]]
        parts.append("\n".join(hook_lines))
    parts += list(result.messages)
    if result.extra.get("baseline"):
        parts.append(f"Baseline {result.extra['baseline']} saved: drift detection compares live state with it.")
    word = "succeeded" if result.exit_code == 0 else f"failed (exit {result.exit_code})"
    parts.append(style(f"deployforge {result.command} {word}", fg="green" if result.exit_code == 0 else "red"))
    return "\n".join(p for p in parts if p)


def to_junit_suite(report: CanaryReport, *, environment: str | None = None) -> Any:
    """One JUnit test case per gate evaluation (``render.junit``'s generic model)."""
    from deployforge.render.junit import JUnitCase, JUnitOutcome, JUnitSuite

    stage = environment or "deploy"
    cases = []
    counts: dict[tuple[str, int], int] = {}
    for g in report.evaluations:
        key = (g.gate, g.step)
        counts[key] = counts.get(key, 0) + 1
        name = f"{g.gate} :: step {g.step} at {g.weight}% #{counts[key]}"
        failure = None
        if not g.passed:
            failure = JUnitOutcome(
                message=f"{g.gate}: value {g.value}; expected {g.expected}",
                text=g.detail,
                type="gate_failed",
            )
        cases.append(
            JUnitCase(
                name=name,
                classname=f"canary.{stage}",
                time=g.duration_ms / 1000,
                failure=failure,
                properties=(("weight", str(g.weight)), ("value", str(g.value))),
            )
        )
    if report.verdict != "promoted" and report.failed_gate is None:
        # stopped by something other than a gate (timeout, interrupt, error): no gate case failed, so
        # one case carries the verdict, or a CI report would show a rolled-back deploy as green
        cases.append(
            JUnitCase(
                name=f"canary :: {report.verdict}",
                classname=f"canary.{stage}",
                time=report.duration_s,
                failure=JUnitOutcome(
                    message=f"canary {report.verdict}: {report.reason}", type=f"canary_{report.verdict}"
                ),
            )
        )
    return JUnitSuite(
        name=f"canary {report.strategy}",
        cases=tuple(cases),
        properties=(("verdict", report.verdict), ("shifter", report.shifter)),
    )
