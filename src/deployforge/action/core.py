"""Running the core for one Action step: the command, the policy check, applying only a reviewed
plan, and the outcome (result, outputs' figures, failure reason) decided once."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from deployforge.action.inputs import Settings

if TYPE_CHECKING:
    from deployforge.usecases.workspace import Workspace

# -- running the core ----------------------------------------------------------------------------


def core_environ(settings: Settings, env: Mapping[str, str]) -> dict[str, str]:
    """The environment the core sees: the runner's, without the action's inputs, and the step's
    workspace as the one a config's paths must stay inside (also when run off the runner)."""
    core = {k: v for k, v in env.items() if not k.startswith("INPUT_")}  # the token stays out of the core
    if settings.workspace:
        core["DEPLOYFORGE_WORKSPACE"] = settings.workspace
    return core


def _policy_check(settings: Settings, ws: Workspace) -> Any:
    """The ``policy`` input evaluated on the config (a PolicyReport), or None without the input."""
    if not settings.policy:
        return None
    from deployforge.policy.evaluate import PolicyOptions
    from deployforge.usecases import policy as service

    return service.validate(ws, (), PolicyOptions(policies=(settings.policy,))).policy


def run_core(settings: Settings, ws: Workspace, sink: Any = None) -> Any:
    """Call the use case for the command; return its RunResult (DeployForgeError propagates).

    Hooks show in the step's log group through the sink, which guards them (their names cannot
    break the line; their output is fenced from workflow-command processing and prefixed)."""
    from deployforge.ci.workflow_commands import one_line
    from deployforge.usecases.hooks import HookCallbacks
    from deployforge.usecases.validate import validate as validate_config

    if sink is None:
        from deployforge.ci.local import LocalSink

        sink = LocalSink({})

    def hook_started(spec: Any, target: str | None) -> None:
        sink.info(f"hook {spec.phase}: {one_line(spec.label)}" + (f" on {one_line(target)}" if target else ""))

    def hook_output(spec: Any, line: str) -> None:
        sink.hook_output(line)

    hooks = HookCallbacks(on_start=hook_started, on_output=hook_output)
    if settings.command == "validate":
        if settings.policy or ws.config.policies:  # the input, else the config's policies:
            from deployforge.policy.evaluate import PolicyOptions
            from deployforge.usecases import policy as service

            policies = (settings.policy,) if settings.policy else ()
            return service.validate(ws, (), PolicyOptions(policies=policies))
        return validate_config(ws)
    checked = _policy_check(settings, ws)
    if checked is not None and checked.failed:  # before planning: nothing is planned or changed
        return ws.result(
            settings.command,
            checked.exit_code,
            policy=checked,
            messages=(f"policy {settings.policy} failed: nothing was planned or changed",),
        )
    return _with_policy(_run_command(settings, ws, hooks), checked)


def _with_policy(result: Any, checked: Any) -> Any:
    """The command's result with the policy input's report merged into its policy section."""
    from dataclasses import replace

    if checked is None:
        return result
    return replace(result, policy=checked if result.policy is None else checked.merged(result.policy))


def _run_command(settings: Settings, ws: Workspace, hooks: Any) -> Any:
    import threading
    from dataclasses import replace

    from deployforge.errors import EXIT_CHANGES, UsageError
    from deployforge.usecases.plan import plan as plan_use_case
    from deployforge.usecases.plan import write_plan_file

    if settings.command == "plan":
        return plan_use_case(ws, out=settings.plan_path or None, hook_callbacks=hooks)
    if settings.command in ("run", "deploy"):
        if ws.config.require_confirmation and not settings.confirm:
            # as the CLI without --confirm: an environment that requires confirmation is only planned
            result = plan_use_case(ws, out=settings.plan_path or None, hook_callbacks=hooks)
            note = (
                f"environment '{ws.config.environment}' requires confirmation, so nothing was applied: review the "
                "plan, then rerun with confirm: true (e.g. in a job behind an environment protection rule)."
            )
            if result.exit_code != EXIT_CHANGES or result.error is not None:
                return replace(result, command=settings.command)  # no changes, or the plan failed: as it is
            return replace(
                result, command=settings.command, exit_code=0, messages=(*result.messages, note), extra={"confirm": 1}
            )
        from deployforge.usecases import deploy as deploy_service

        plan_file: str | None = None
        if settings.apply_reviewed_plan:
            checked_plan = _check_reviewed_plan(settings, ws, hooks)
            if not isinstance(checked_plan, str):
                return checked_plan  # no reviewed plan, or it changed: nothing applied
            plan_file = checked_plan
        cancel = threading.Event()
        # the canary stops itself at its timeout (verdict "timeout"); this backstop only covers what
        # runs outside the canary (apply, hooks), a minute later, as a clean stop (rollback), not a kill
        backstop = (settings.timeout or 3600.0) + 60.0
        timer = threading.Timer(backstop, cancel.set)
        timer.daemon = True
        timer.start()
        try:
            result = deploy_service.run(  # the CLI's `deployforge run/deploy` use case
                ws,
                strategy=settings.evolve_strategy or None,
                timeout=settings.timeout,
                cancel=cancel,
                confirm=lambda _plan: True,  # approved: confirm is true, or the environment needs no confirmation
                callbacks=deploy_service.Callbacks(on_hook_start=hooks.on_start, on_hook_output=hooks.on_output),
                command=settings.command,
                ci_run_url=settings.run_url,
                plan_file=plan_file,  # the reviewed plan: apply refuses it if the state moved since
            )
        finally:
            timer.cancel()
        if result.plan is not None and settings.plan_path:
            write_plan_file(settings.plan_path, result.plan)
        return result
    if settings.command == "drift":
        from deployforge.usecases import drift as drift_service

        return drift_service.detect_command(ws, "drift")  # the CLI's `deployforge drift` use case
    raise UsageError(f"unknown command '{settings.command}'")  # read_settings already refuses it


class NoReviewedPlan(Exception):
    """apply-reviewed-plan found no plan a reviewer saw; the message says why and what to do."""


def _reviewed_record(settings: Settings, environment: str) -> tuple[int, dict[str, Any]]:
    """(pull request, plan record) of the plan comment a reviewer saw for this label and
    environment: the pull request of this event (an issue comment or a pull request event), else
    the one the pushed commit came from. Raises NoReviewedPlan."""
    from deployforge.ci.github import CommentUnavailable, StickyComment
    from deployforge.render.markdown import MARKER_PREFIX, read_plan_record

    if not (settings.token and settings.repository):
        raise NoReviewedPlan(
            "input 'apply-reviewed-plan' needs github-token and GITHUB_REPOSITORY to read the pull request"
        )
    client = StickyComment(
        settings.api_url,
        settings.token,
        settings.repository,
        max_wait=float(os.environ.get("DEPLOYFORGE_GITHUB_MAX_WAIT", "60")),
        author=os.environ.get("DEPLOYFORGE_COMMENT_AUTHOR") or None,
    )
    try:
        number = settings.pr_number or (client.pull_for_commit(settings.sha) if settings.sha else None)
        if number is None:
            raise NoReviewedPlan(
                "input 'apply-reviewed-plan' is true, but no pull request was found for commit "
                f"{settings.sha[:12] or '?'} "
                f"(event {settings.event_name or '?'}): run it on the push of a merged pull request or on an "
                "'/deployforge apply' comment, or set apply-reviewed-plan: false"
            )
        needles = [f"environment={json.dumps(environment)}"]
        needles.append(f"label={json.dumps(settings.label)}" if settings.label else "")
        bodies = client.reviewed_bodies(number, MARKER_PREFIX, tuple(n for n in needles if n))
    except CommentUnavailable as exc:
        raise NoReviewedPlan(f"input 'apply-reviewed-plan': the pull request could not be read: {exc}") from None
    records = [
        r for r in (read_plan_record(b) for b in bodies if settings.label or " label=" not in b.split("\n", 1)[0]) if r
    ]
    if not records:
        raise NoReviewedPlan(
            f"input 'apply-reviewed-plan' is true, but pull request #{number} has no DeployForge plan comment for "
            f"environment '{environment}'"
            + (f" and label '{settings.label}'" if settings.label else "")
            + ": run the plan on the pull request first (command: plan, the same label and environment)"
        )
    return number, records[-1]


def _check_reviewed_plan(settings: Settings, ws: Workspace, hooks: Any) -> Any:
    """Re-plan and compare with what the pull request showed: the saved plan's path when the digests
    match, else the RunResult that says what differs (failure-reason plan-changed or no-reviewed-plan)."""
    import tempfile
    from dataclasses import replace

    from deployforge.model.digest import differences, plan_digest, resource_digests
    from deployforge.model.result import RunResult
    from deployforge.usecases.plan import plan as plan_use_case

    environment = str(ws.config.environment)
    try:
        number, record = _reviewed_record(settings, environment)
    except NoReviewedPlan as exc:
        return RunResult(
            settings.command,
            environment,
            ws.run_id,
            1,
            ws.config.path,
            ws.config.config_hash,
            messages=(str(exc), "Nothing was applied."),
            error="NoReviewedPlan",
            failure_reason="no-reviewed-plan",
        )
    out = settings.plan_path or os.path.join(tempfile.gettempdir(), f"deployforge-reviewed-{ws.run_id}.json")
    planned = plan_use_case(ws, out=out, hook_callbacks=hooks)
    if planned.plan is None or planned.error is not None:
        return replace(planned, command=settings.command)
    now = plan_digest(planned.plan)
    if now == record["digest"]:
        return out
    what = differences(record.get("resources") or {}, resource_digests(planned.plan)) if "resources" in record else []
    message = (
        f"the plan changed since it was reviewed in pull request #{number}: reviewed {record['digest'][:19]}, "
        f"now {now[:19]}" + (f" ({'; '.join(what)})" if what else "") + ". Nothing was applied: review the new plan"
    )
    return replace(
        planned,
        command=settings.command,
        exit_code=1,
        messages=(*planned.messages, message),
        error="PlanChanged",
        failure_reason="plan-changed",
    )


def failure_reason(settings: Settings, result: Any, outcome: Mapping[str, Any]) -> str:
    """The ``failure-reason`` output of a run that failed (or that fail-on fails); '' otherwise. The run's
    own reason is its outcome's (``model/outcome.py``); only fail-on's own failures are added here."""
    if outcome["result"] != "failed" and not outcome["fail_reasons"]:
        return ""
    decided = result.outcome
    if not decided.completed:
        return decided.failure_reason or "error"
    if outcome["drifted"] and "drift" in settings.fail_on:
        return "drift-detected"
    return "changes" if outcome["changes"] else "error"


def lock_info(error: Any) -> str:
    """The ``lock-info`` output: the held lock's id and holder as JSON ('' when no lock was held)."""
    from deployforge.errors import LockHeldError

    if not isinstance(error, LockHeldError):
        return ""
    return json.dumps({"lock_id": error.lock_id, **{str(k): v for k, v in error.holder.items()}}, default=str)


def outcome_of(settings: Settings, result: Any) -> dict[str, Any]:
    """What the run amounted to, as the step's outputs say it, and whether ``fail-on`` fails the step
    (pure). The outcome itself is the result's (``model/outcome.py``), decided once for every front door."""
    decided = result.outcome
    changed = decided.changes
    policy_failures = decided.policy_failures
    drifted = decided.drifted
    errored = decided.status in ("failed", "interrupted")
    word = "failed" if not decided.completed else decided.status
    reasons = []
    fail_on = settings.fail_on - {"never"} if "never" not in settings.fail_on else frozenset()
    if "error" in fail_on and errored:
        reasons.append(f"{result.command} failed (exit code {result.exit_code})")
    if "policy" in fail_on and policy_failures:
        reasons.append(f"{policy_failures} policy failure{'s' if policy_failures != 1 else ''}")
    if "drift" in fail_on and drifted:
        reasons.append("drift detected")
    if "changes" in fail_on and changed and result.apply is None:
        reasons.append(f"the plan has {changed} change{'s' if changed != 1 else ''}")
    return {
        "result": word,
        "changes": changed,
        "destructive": decided.destructive,
        "policy_failures": policy_failures,
        "drifted": drifted,
        "fail_reasons": reasons,
    }
