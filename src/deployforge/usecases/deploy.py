"""The deploy use cases: ``run`` (validate -> plan -> policy gate -> deploy) and ``deploy`` (from a saved
plan, or ``--rollback`` of an interrupted canary).

Order of a run::

    validate + compile the strategy (exit 2 on bad input, nothing touched)
    refuse if a previous canary on this environment was interrupted (its journal is in state)
    pre_plan hooks (not with a saved plan; a failure aborts: nothing changed)
    plan -> policy gate (deployforge.policy.gate.check_plan) -> confirmation (protected envs)
    pre_deploy hooks (a failure aborts: nothing changed)
    shifter + gate preflight (missing listener / alias / alarm: exit 2, no traffic moved)
    apply the plan (usecases/apply.apply: its own lock, state journal)
    canary under the environment's lock; the canary journal is written into the state document
    post_deploy hooks
    success: baseline snapshot, post_success hooks / failure: on_failure hooks

Each stage that ran is a step of the run's audit trace (``deployforge.audit.trace``), in this order:
a hook phase (its hooks nested in it), ``plan``, ``policy gate``, ``preflight``, ``apply``, ``canary``
(each canary step, the ``deploy.step`` records, nested in it).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from deployforge.deploy.gates import Gate
from deployforge.deploy.model import CanaryReport, StepRecord
from deployforge.deploy.prepare import DeployPlan, prepare
from deployforge.deploy.shifters.base import ShifterContext, TrafficShifter, make_shifter
from deployforge.errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    DeployForgeError,
    LockHeldError,
    StateError,
    UsageError,
)
from deployforge.hooks import HookRun, HookSpec, HooksReport, run_phase_traced
from deployforge.model.result import RunResult
from deployforge.state.base import LockInfo
from deployforge.usecases.apply import apply, take_baseline
from deployforge.usecases.audit import audit_log
from deployforge.usecases.hooks import hook_context, resolve_hook_env
from deployforge.usecases.plan import compute_plan, read_plan_file
from deployforge.usecases.workspace import Workspace, command_line


class InterruptedCanaryError(StateError):
    """A previous canary on this environment was killed before it finished (its journal is in state)."""


@dataclass
class Callbacks:
    on_event: Callable[[str, dict[str, Any]], None] = lambda kind, payload: None
    on_hook_start: Callable[[HookSpec, str | None], None] | None = None
    on_hook_output: Callable[[HookSpec, str], None] | None = None
    on_message: Callable[[str], None] = lambda text: None


def build_shifter(ws: Workspace, kind: str, target: str, settings: Mapping[str, Any]) -> TrafficShifter:
    provider = ws.provider(target)
    t = ws.config.targets[target]
    return make_shifter(kind, settings, ShifterContext(target, t.provider, provider, t.settings()))


def build_gates(ws: Workspace, prepared: DeployPlan) -> dict[str, Gate]:
    gates: dict[str, Gate] = {}
    for g in prepared.gates:
        client = boundary = None
        if g["type"] in ("cloudwatch_alarm", "cloudwatch_metric"):
            provider: Any = ws.provider(g["target"])  # an AWS provider: its boto3 clients
            client = provider.client("cloudwatch")
            boundary = getattr(provider, "_boundary", None)
        gates[str(g["name"])] = Gate(str(g["name"]), str(g["type"]), g, client, boundary)
    return gates


# -- the journal (in the state document, under the environment's lock) --------------------------------


class Journal:
    """Writes the canary journal into the environment's state document (the caller holds the lock)."""

    def __init__(self, ws: Workspace, base: dict[str, Any]):
        self.ws = ws
        self.base = base

    def write(self, entry: dict[str, Any] | None) -> None:
        backend = self.ws.backend
        state = self.ws.read_state()
        state.canary = None if entry is None else {**self.base, **entry}
        backend.write(state)


def interrupted_journal(ws: Workspace) -> dict[str, Any] | None:
    state = ws.read_state()
    return getattr(state, "canary", None)


def _refuse_if_interrupted(ws: Workspace) -> None:
    entry = interrupted_journal(ws)
    if entry:
        env = ws.config.environment
        raise InterruptedCanaryError(
            f"a canary deploy on environment '{env}' (run {entry.get('run_id')}, pid {entry.get('pid')} on "
            f"{entry.get('host')}) was interrupted at canary weight {entry.get('weight')}% "
            f"({entry.get('status')}) and never finished; traffic may still be split",
            hint=f"send traffic back to stable with: {command_line(ws, 'deploy', '--rollback')}",
        )


# -- audit ----------------------------------------------------------------------------------------------


def _audit_step(ws: Workspace, parent: Any = None) -> Callable[[StepRecord], None]:
    """Each canary step as a ``deploy.step`` record: a step of the run's trace, under ``parent``."""
    from deployforge.audit import trace

    if not ws.config.audit.enabled:
        return lambda record: None
    log = audit_log(ws)

    def record(step: StepRecord) -> None:
        fields = {"kind": "deploy.step", "run_id": ws.run_id, "environment": ws.config.environment}
        trace.stage_record({**fields, "step": step.to_json()}, parent=parent, log=log)

    return record


# -- use cases ----------------------------------------------------------------------------------------


def _context(ws: Workspace, prepared: DeployPlan, **extra: str) -> dict[str, str]:
    return hook_context(ws, DEPLOYFORGE_STRATEGY=prepared.compiled.name, **extra)


def _phase(
    ws: Workspace, prepared: DeployPlan, phase: str, cb: Callbacks, hooks: HooksReport
) -> tuple[HooksReport, str | None]:
    """Run ``phase``'s hooks; when one failed (and may not be ignored) the ``on_failure`` hooks run
    too: (the report with their runs, the reason to stop, or None)."""
    hooks = hooks.plus(_hooks(ws, prepared, phase, cb))
    failed = hooks.failed(phase)
    if not failed:
        return hooks, None
    reason = f"{phase} hook failed: {failed[0].describe()}"
    return hooks.plus(_hooks(ws, prepared, "on_failure", cb, DEPLOYFORGE_FAILURE_REASON=reason)), reason


def _hooks(ws: Workspace, prepared: DeployPlan, phase: str, cb: Callbacks, **extra: str) -> list[HookRun]:
    """Run a hook phase: a step of the run's trace (``<phase> hooks``), each hook a step in it."""
    if not any(h.phase == phase for h in prepared.hooks):
        return []
    return run_phase_traced(
        prepared.hooks,
        phase,
        context=_context(ws, prepared, **extra),
        base_dir=str(ws.project_dir),
        on_output=cb.on_hook_output,
        on_start=cb.on_hook_start,
    )


def dry_run(ws: Workspace, *, strategy: str | None, timeout: float | None, command: str = "run") -> RunResult:
    prepared = prepare(ws.config, strategy=strategy, timeout=timeout)
    return ws.result(
        command,
        EXIT_OK,
        extra={"dry_run": True, "deploy": prepared.compiled.to_json()},
    )


def run(
    ws: Workspace,
    *,
    strategy: str | None = None,
    timeout: float | None = None,
    plan_file: str | None = None,
    confirm: Callable[[Any], bool] | None = None,
    cancel: threading.Event | None = None,
    callbacks: Callbacks | None = None,
    command: str = "run",
    ci_run_url: str | None = None,
) -> RunResult:
    """validate -> pre_plan -> plan -> policy gate -> pre_deploy -> preflight -> apply -> canary -> baseline."""
    from deployforge.audit import trace

    cb = callbacks or Callbacks()
    cancel = cancel or threading.Event()
    config = ws.config
    prepared = prepare(ws.config, strategy=strategy, timeout=timeout)
    too_long = prepared.compiled.too_long()
    if too_long:
        cb.on_message(f"warning: {too_long}")
    _refuse_if_interrupted(ws)
    # the hooks' vault:// env values, read before anything runs (a bad reference: exit 2, nothing ran)
    prepared = replace(prepared, hooks=tuple(resolve_hook_env(ws, prepared.hooks)))
    started = time.monotonic()

    def result(code: int, **kw: Any) -> RunResult:
        return ws.result(command, code, **kw)

    hooks = HooksReport()
    if not plan_file:  # pre_plan hooks run before planning (a saved plan was planned elsewhere)
        hooks, reason = _phase(ws, prepared, "pre_plan", cb, hooks)
        if reason:
            return result(EXIT_FAILURE, hooks=hooks, messages=(reason, "Nothing was changed."))

    # plan and the policy gate
    state = ws.read_state()
    with trace.step("plan", **({"saved_plan": plan_file} if plan_file else {})) as step:
        the_plan = read_plan_file(plan_file) if plan_file else compute_plan(ws, state)
        step.set(changes={k: v for k, v in the_plan.counts().items() if v})
    policy = None
    if config.policies:
        try:
            from deployforge.policy.gate import check_plan
        except ImportError:
            raise UsageError(
                "the config has policies:, but this build has no policy engine (deployforge.policy.gate)",
                hint="remove policies: or install a DeployForge release with the policy engine",
            ) from None
        with trace.step("policy gate", policies=len(config.policies)) as step:
            policy = check_plan(config, the_plan)
            step.outcome = "failed" if policy.failed else "ok"
        if policy.failed:
            cb.on_message("Policy gate failed: nothing was changed.")
            return result(EXIT_FAILURE, plan=the_plan, policy=policy, messages=("policy gate failed",))

    if confirm is not None and config.require_confirmation and not confirm(the_plan):
        return result(EXIT_FAILURE, plan=the_plan, policy=policy, messages=("Deploy cancelled; nothing was changed.",))

    # every vault:// value the changes need, read before the pre_deploy hooks: a bad reference stops
    # the run (exit 2) before a migration runs, and the values are masked in the hooks' output
    ws.resolve_plan_secrets(the_plan, state)
    hooks, reason = _phase(ws, prepared, "pre_deploy", cb, hooks)
    if reason:
        return result(
            EXIT_FAILURE, plan=the_plan, policy=policy, hooks=hooks, messages=(reason, "Nothing was changed.")
        )

    # preflight before anything changes: shifter and alarm gates (exit 2 when missing)
    shifter = None
    with trace.step("preflight", shifter=prepared.shifter_kind, gates=len(prepared.gates)):
        if prepared.shifter_kind:
            assert prepared.shifter_target
            shifter = build_shifter(ws, prepared.shifter_kind, prepared.shifter_target, prepared.shifter_settings)
            shifter.preflight()
        gates = build_gates(ws, prepared)
        for gate in gates.values():
            gate.preflight()

    # the infrastructure change (its own lock and state journal)
    with trace.step("apply") as step:
        apply_result = apply(ws, plan_file=plan_file, confirm=lambda p: True, cancel=cancel, ci_run_url=ci_run_url)
        if apply_result.apply is not None:
            step.set(results={k: v for k, v in apply_result.apply.counts().items() if v})
        if not apply_result.ok:
            step.outcome = "interrupted" if apply_result.exit_code == EXIT_INTERRUPTED else "failed"
    if not apply_result.ok:
        code = apply_result.exit_code
        reason = "apply failed" if code != EXIT_INTERRUPTED else "interrupted during apply"
        hooks = hooks.plus(_hooks(ws, prepared, "on_failure", cb, DEPLOYFORGE_FAILURE_REASON=reason))
        return result(
            code, plan=apply_result.plan, apply=apply_result.apply, policy=policy, hooks=hooks, messages=(reason,)
        )

    # the canary, under the environment's lock; the journal lives in the state document
    report: CanaryReport | None = None
    if shifter is not None:
        backend = ws.backend
        lock = backend.acquire_lock(LockInfo.new(config.environment, ws.run_id, "deploy", ci_run_url))
        try:
            journal = Journal(
                ws,
                {
                    "run_id": ws.run_id,
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "strategy": prepared.compiled.name,
                    "shifter": {
                        "type": prepared.shifter_kind,
                        "target": prepared.shifter_target,
                        "settings": dict(prepared.shifter_settings),
                    },
                },
            )
            from deployforge.deploy.controller import Controller

            with trace.step("canary", strategy=prepared.compiled.name, shifter=prepared.shifter_kind) as step:
                controller = Controller(
                    prepared.compiled,
                    shifter,
                    gates,
                    cancel=cancel,
                    on_event=cb.on_event,
                    record=_audit_step(ws, step),
                    journal=journal.write,
                )
                report = controller.run()
                step.outcome = "ok" if report.ok else report.verdict
        finally:
            backend.release_lock(lock)

    ok = report is None or report.ok
    verdict = report.verdict if report else "applied"
    reason_text = report.reason if report else "applied"
    hooks = hooks.plus(
        _hooks(
            ws,
            prepared,
            "post_deploy",
            cb,
            DEPLOYFORGE_VERDICT=verdict,
            DEPLOYFORGE_FAILURE_REASON="" if ok else reason_text,
        )
    )
    messages: list[str] = []
    extra: dict[str, Any] = {"deploy": prepared.compiled.to_json(), "duration_s": round(time.monotonic() - started, 3)}
    post_failed = hooks.failed("post_deploy")
    if ok and not post_failed:
        try:
            extra["baseline"] = take_baseline(ws, ws.read_state()).id
        except DeployForgeError as exc:
            messages.append(f"warning: the baseline snapshot was not saved: {exc.message}")
        hooks = hooks.plus(_hooks(ws, prepared, "post_success", cb, DEPLOYFORGE_VERDICT=verdict))
        if hooks.failed("post_success"):
            messages.append(f"post_success hook failed: {hooks.failed('post_success')[0].describe()}")
            code = EXIT_FAILURE
        else:
            code = EXIT_OK
    else:
        reason = reason_text if not ok else f"post_deploy hook failed: {post_failed[0].describe()}"
        messages.append(reason)
        hooks = hooks.plus(
            _hooks(ws, prepared, "on_failure", cb, DEPLOYFORGE_VERDICT=verdict, DEPLOYFORGE_FAILURE_REASON=reason)
        )
        for run_ in hooks.failed("on_failure"):
            messages.append(f"also: {run_.describe()} (the deploy had already failed: {reason})")
        code = EXIT_INTERRUPTED if report is not None and report.verdict == "interrupted" else EXIT_FAILURE
    return result(
        code,
        plan=apply_result.plan,
        apply=apply_result.apply,
        policy=policy,
        canary=report,
        hooks=hooks,
        messages=tuple(messages),
        extra=extra,
    )


def rollback(ws: Workspace, *, command: str = "deploy") -> RunResult:
    """Send an interrupted canary's traffic back to stable, using its journal; then clear the journal."""

    config = ws.config
    backend = ws.backend
    info = LockInfo.new(config.environment, ws.run_id, "rollback")
    try:
        lock = backend.acquire_lock(info)
    except LockHeldError:
        # the killed canary's own lock: take it over when its process is gone (same host)
        held, entry = backend.read_lock(config.environment), interrupted_journal(ws)
        if held is None or not entry or held.run_id != entry.get("run_id") or not held.is_stale_here():
            raise
        backend.force_unlock(held.lock_id)
        lock = backend.acquire_lock(info)
    try:
        entry = interrupted_journal(ws)
        if not entry:
            return ws.result(
                command,
                EXIT_OK,
                messages=(f"No interrupted canary on environment '{config.environment}': nothing to roll back.",),
            )
        spec = entry["shifter"]
        if spec["target"] not in config.targets:
            raise UsageError(
                f"the interrupted canary used target '{spec['target']}', which the config no longer defines",
                hint="restore the target in the config, roll back, then remove it",
            )
        shifter = build_shifter(ws, spec["type"], spec["target"], spec["settings"])
        shifter.preflight()
        weights = shifter.rollback()
        state = ws.read_state()
        state.canary = None
        backend.write(state)
    finally:
        backend.release_lock(lock)
    return ws.result(
        command,
        EXIT_OK,
        messages=(
            f"Rolled back the canary of run {entry.get('run_id')} on {shifter.description}: "
            f"stable {weights.stable}% / canary {weights.canary}%.",
        ),
        extra={"rollback": {"run_id": entry.get("run_id"), "weights": weights.to_json()}},
    )
