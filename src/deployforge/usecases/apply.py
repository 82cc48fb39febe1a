"""Use case: ``deployforge apply`` (plan or a saved plan, applied under the environment's lock, its
hooks around it) and the baseline snapshot taken after every successful apply or deploy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from deployforge.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, DeployForgeError
from deployforge.model.plan import Plan
from deployforge.model.result import RunResult
from deployforge.state.base import LockInfo, StateDocument
from deployforge.usecases.audit import ensure_audit_writable
from deployforge.usecases.hooks import ApplyHooks, HookCallbacks
from deployforge.usecases.plan import check_saved_plan, compute_plan, read_plan_file
from deployforge.usecases.workspace import Workspace


def apply(
    ws: Workspace,
    *,
    plan_file: str | None = None,
    confirm: Callable[[Plan], bool] | None = None,
    cancel: threading.Event | None = None,
    on_event: Callable[..., None] | None = None,
    ci_run_url: str | None = None,
    hooks: HookCallbacks | None = None,
) -> RunResult:
    """Plan (or take a saved plan) and apply it under the environment's lock.

    With ``hooks`` (the ``apply`` command, unless ``--no-hooks``), the config's lifecycle hooks run
    around it (``ApplyHooks``); ``run``/``deploy`` call this without them, as they run their own.
    """
    from deployforge.engine.apply import Applier

    config = ws.config
    saved = read_plan_file(plan_file) if plan_file else None
    ensure_audit_writable(ws)  # a change that cannot be recorded is not made
    lifecycle = ApplyHooks(ws, hooks) if hooks is not None and config.hooks else None

    def result(code: int, **kw: Any) -> RunResult:
        return ws.result("apply", code, **kw)

    def stopped(reason: str, the_plan: Plan | None = None) -> RunResult:
        assert lifecycle is not None
        lifecycle.failure(reason)
        return result(EXIT_FAILURE, plan=the_plan, hooks=lifecycle.report, messages=(reason, "Nothing was changed."))

    if lifecycle is not None and saved is None:
        reason = lifecycle.run("pre_plan")
        if reason:
            return stopped(reason)
    from contextlib import nullcontext

    from deployforge.audit import trace

    top = not trace.in_step()  # `run` and `deploy` call this inside their own "apply" step
    backend = ws.backend
    lock = backend.acquire_lock(LockInfo.new(config.environment, ws.run_id, "apply", ci_run_url))
    try:
        state = ws.read_state()
        with trace.step("plan") if top else nullcontext():
            fresh = compute_plan(ws, state)
        if saved is not None:
            check_saved_plan(saved, config, state, fresh)
            the_plan = replace(saved, run_id=ws.run_id)
        else:
            the_plan = fresh
        cleanup = any(r.name not in config.resources for r in the_plan.resources)
        adopted = any(r.name not in state.resources and r.resource_id for r in the_plan.resources)
        if not the_plan.has_changes and not cleanup and not adopted:
            return result(
                EXIT_OK, plan=the_plan, messages=("No changes. The infrastructure matches the configuration.",)
            )
        if saved is None and confirm is not None and not confirm(the_plan):
            return result(EXIT_FAILURE, plan=the_plan, messages=("Apply cancelled; nothing was changed.",))
        # the secrets the changes need, read before the first change (a bad reference: exit 2)
        ws.resolve_plan_secrets(the_plan, state)
        if lifecycle is not None:
            reason = lifecycle.run("pre_deploy")
            if reason:
                return stopped(reason, the_plan)
        applier = Applier(
            plan=the_plan,
            resources=config.resources,
            providers=ws.providers_for(state),
            backend=backend,
            state=state,
            run_id=ws.run_id,
            parallelism=ws.options.parallelism,
            cancel=cancel,
            on_event=on_event,
            resolve_secrets=ws.resolve_spec_secrets,
        )
        with trace.step("apply") if top else nullcontext() as step:
            outcome = applier.run()
            if step is not None:
                step.set(results={k: v for k, v in outcome.counts().items() if v})
                if not outcome.ok:
                    step.outcome = "interrupted" if outcome.interrupted else "failed"
    finally:
        backend.release_lock(lock)
    code = EXIT_OK if outcome.ok else (EXIT_INTERRUPTED if outcome.interrupted else EXIT_FAILURE)
    extra: dict[str, Any] = {}
    messages: tuple[str, ...] = ()
    if outcome.ok:
        try:
            extra["baseline"] = take_baseline(ws, applier.state, seen=_seen_by_apply(ws, applier.state)).id
        except DeployForgeError as exc:  # the apply itself succeeded: say so, and what was not saved
            messages = (f"warning: the baseline snapshot was not saved: {exc.message}",)
    if lifecycle is not None and not outcome.interrupted:
        reason = lifecycle.run("post_deploy") if outcome.ok else "apply failed"
        if reason is None:
            post = lifecycle.run("post_success")
            if post:
                messages = (*messages, post)
        else:
            if outcome.ok:
                code = EXIT_FAILURE
                messages = (*messages, f"{reason} (the changes were applied)")
            lifecycle.failure(reason)
    return result(
        code,
        plan=the_plan,
        apply=outcome,
        extra=extra,
        messages=messages,
        hooks=lifecycle.report if lifecycle is not None else None,
    )


def _seen_by_apply(ws: Workspace, state: StateDocument) -> dict[str, Any]:
    """The live objects an apply already knows, so its baseline reads nothing again: each resource it
    wrote is recorded in state as read back after the change (secret values as markers), and the others
    were read by the plan's refresh moments ago and left alone."""
    from deployforge.providers.base import LiveResource

    seen: dict[str, Any] = {}
    for name, entry in state.resources.items():
        if entry.get("run_id") == ws.run_id:
            seen[name] = LiveResource(
                entry["type"], entry["id"], entry.get("attributes") or {}, entry.get("outputs") or {}
            )
        else:
            observed = ws.refreshed.get(name)
            if observed is not None and observed.live is not None and observed.live.id == entry["id"]:
                seen[name] = observed.live
    return seen


def take_baseline(ws: Workspace, state: StateDocument, seen: Mapping[str, Any] | None = None) -> Any:
    """Snapshot the live attributes of every managed resource as the new baseline.

    ``seen``: live objects already read by this run (name -> LiveResource); the others are read now,
    in batches."""
    from deployforge.audit import ci_context
    from deployforge.engine.planner import refresh
    from deployforge.state.baseline import Baseline, BaselineResource

    seen = seen or {}
    unread = StateDocument(
        environment=state.environment,
        resources={n: e for n, e in state.resources.items() if n not in seen},
    )
    observed = refresh({}, unread, ws.providers_for(unread), parallelism=ws.options.parallelism)
    resources = {}
    for name, entry in state.resources.items():
        live = seen[name] if name in seen else observed[name].live
        if live is not None:
            resources[name] = BaselineResource(name, entry["type"], entry["target"], live.id, dict(live.attributes))
    baseline = Baseline(
        environment=ws.config.environment,
        id=ws.run_id,
        taken_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        config_hash=ws.config.config_hash,
        commit=ci_context(ws.options.environ).get("commit"),
        state_serial=state.serial,
        resources=resources,
    )
    ws.backend.write_baseline(baseline)
    return baseline
