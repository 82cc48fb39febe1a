"""Use case: ``deployforge drift auto-resolve``, the config's self-healing rules applied to drift:
detection -> impact analysis -> repair -> notification, an audit step each (the rules and the
analysis are ``deployforge.drift.healing``; detection is ``usecases/drift.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from deployforge.drift.healing import REPAIRS, Decision, HealingRule, analyze, rules_from_config, summary_lines
from deployforge.drift.model import DriftRecord, Notification, Remediation, RemediationStep
from deployforge.drift.remediate import plan_revert, run_revert
from deployforge.errors import DeployForgeError
from deployforge.model.config import SecretRef
from deployforge.model.result import RunResult
from deployforge.state.base import LockInfo
from deployforge.state.baseline import Baseline
from deployforge.usecases.audit import ensure_audit_writable
from deployforge.usecases.drift import (
    DEFAULT_SETTINGS,
    DriftSettings,
    detect,
    drift_result,
    find_record,
    trace_step,
    type_info,
)
from deployforge.usecases.workspace import Workspace


def auto_resolve(
    ws: Workspace,
    drift_id: str | None = None,
    *,
    dry_run: bool = False,
    confirmed: bool = False,
    settings: DriftSettings = DEFAULT_SETTINGS,
) -> RunResult:
    """Apply the self-healing rules to one drift (or every active drift): detection -> impact analysis
    -> repair -> notification, an audit step each."""
    from deployforge.drift.classify import is_production

    report, baseline = detect(ws, settings)
    config = ws.config
    records = [find_record(report, drift_id)] if drift_id else list(report.active)
    rules = rules_from_config(config.self_healing_rules)
    production = is_production(config.environment, config.require_confirmation)
    remediations: list[Remediation] = []
    notifications: list[Notification] = []
    for record in records:
        with trace_step("drift impact analysis", drift_id=record.id, resource=record.resource) as step:
            decision = analyze(record, rules, production=production, confirmed=confirmed)
            step.set(decision=decision.outcome, reason=decision.reason, deviation=decision.deviation)
            step.outcome = decision.outcome
        remediation = _heal(ws, record, baseline, decision, dry_run)
        remediations.append(remediation)
        if decision.rule is not None and decision.outcome in ("heal", "blocked") and not dry_run:
            notifications.extend(_notify(ws, record, decision.rule, remediation))
    outcome_report = replace(
        report,
        records=tuple(records),
        remediations=tuple(remediations),
        notifications=tuple(notifications),
    )
    if any(r.outcome == "failed" for r in remediations):
        code = 1
    elif any(r.outcome in ("blocked", "no-rule", "planned") for r in remediations):
        code = 2
    else:
        code = 0
    return drift_result(ws, "drift auto-resolve", outcome_report, code)


def _heal(ws: Workspace, record: DriftRecord, baseline: Baseline, decision: Decision, dry_run: bool) -> Remediation:
    rule = decision.rule
    base: dict[str, Any] = dict(
        drift_id=record.id,
        resource=record.resource,
        strategy="self-healing",
        dry_run=dry_run,
        deviation=decision.deviation,
        max_deviation=rule.max_deviation if rule else None,
    )
    if decision.outcome != "heal" or rule is None:
        return Remediation(steps=(), outcome=decision.outcome, notes=(decision.reason,), **base)
    repairs = [a.type for a in rule.actions if a.type in REPAIRS]
    if not repairs:
        return Remediation(steps=(), outcome="within-tolerance", notes=("the rule only notifies",), **base)
    if dry_run:
        steps = tuple(RemediationStep(a, _describe_action(a, record), lines=_repair_lines(a, record)) for a in repairs)
        return Remediation(steps=steps, outcome="planned", notes=(decision.reason,), **base)
    done = _run_repairs(ws, record, baseline, rule, repairs)
    outcome = "applied" if all(s.done for s in done) else "failed"
    return Remediation(steps=tuple(done), outcome=outcome, notes=(decision.reason,), **base)


def _repair_lines(action: str, record: DriftRecord) -> tuple[str, ...]:
    from deployforge.drift.remediate import revert_lines

    return revert_lines(record.changes + (record.ignored_changes if action == "rollback" else ()))


def _describe_action(action: str, record: DriftRecord) -> str:
    if action == "rolling_restart":
        what = ", ".join(record.paths) or "capacity"
        return f"restore {what} of {record.resource}, then replace its instances one at a time"
    if action == "rollback":
        return f"restore {record.resource} to the baseline snapshot (every drifted attribute, ignored ones too)"
    return f"revert {', '.join(record.paths)} of {record.resource} to the baseline"


def _run_repairs(
    ws: Workspace, record: DriftRecord, baseline: Baseline, rule: HealingRule, repairs: list[str]
) -> list[RemediationStep]:

    ensure_audit_writable(ws)
    backend = ws.backend
    provider = ws.provider(record.target)
    resource = baseline.resources.get(record.resource)
    info = type_info(record.type)
    steps: list[RemediationStep] = []
    lock = backend.acquire_lock(LockInfo.new(record.environment, ws.run_id, "drift auto-resolve"))
    try:
        reverted = False
        for action in repairs:
            with trace_step(f"drift remediation: {action}", drift_id=record.id, resource=record.resource) as audit:
                step = _one_repair(action, record, resource, info, provider, already_reverted=reverted)
                reverted = reverted or (step.done and action in ("reapply", "rollback", "rolling_restart"))
                audit.set(done=step.done, error=step.error, description=step.description)
                audit.outcome = "ok" if step.done else "failed"
            steps.append(step)
            if not step.done:
                break  # a failed repair stops the rest; the report (and notification) says so
    finally:
        backend.release_lock(lock)
    return steps


def _one_repair(
    action: str, record: DriftRecord, resource: Any, info: Any, provider: Any, *, already_reverted: bool
) -> RemediationStep:
    if resource is None:
        return RemediationStep(action, f"{record.resource} is not in the baseline", error="nothing to restore")
    plan = plan_revert(record, info, include_ignored=(action == "rollback"))
    description = _describe_action(action, record)
    if plan.outcome != "planned" and not (action == "rolling_restart" and not record.changes):
        return RemediationStep(action, description, error=plan.steps[0].description)
    if plan.outcome == "planned" and not already_reverted:
        done = run_revert(plan, provider, resource)
        if done.outcome != "applied":
            return RemediationStep(action, description, plan.steps[0].attributes, error=done.steps[0].error)
    lines = _repair_lines(action, record)
    if action != "rolling_restart":
        attributes = plan.steps[0].attributes if plan.steps else ()
        return RemediationStep(action, description, attributes, done=True, lines=lines)
    restart: Callable[..., Any] | None = getattr(provider, "rolling_restart", None)
    if restart is None:
        return RemediationStep(action, description, error=f"the {provider.name} provider cannot restart {record.type}")
    try:
        replaced = restart(record.type, str(record.resource_id))
    except DeployForgeError as exc:
        return RemediationStep(action, description, error=exc.message)
    return RemediationStep(action, f"{description}: replaced {len(replaced)} instance(s)", done=True, lines=lines)


def _notify(ws: Workspace, record: DriftRecord, rule: HealingRule, remediation: Remediation) -> list[Notification]:
    from deployforge.notify import slack

    out = []
    settings = dict((ws.config.notifications or {}).get("slack") or {})
    for action in rule.actions:
        if action.type != "notify_slack":
            continue
        channel = action.channel or settings.get("channel")
        with trace_step("drift notification", drift_id=record.id, channel=channel) as step:
            try:
                url = _webhook(ws, action.webhook_url or settings.get("webhook_url"))
                detail = "; ".join(remediation.notes) or remediation.outcome
                done = [s.description for s in remediation.steps if s.done]
                failed = [f"{s.action}: {s.error}" for s in remediation.steps if s.error]
                lines = summary_lines(record, remediation.outcome, detail)
                lines += [f"Done: {d}" for d in done] + [f"Failed: {f}" for f in failed]
                title = action.message or f"DeployForge drift in {record.environment}: {record.resource}"
                payload = slack.message(
                    title,
                    lines,
                    channel=channel,
                    fields={"Environment": record.environment, "Severity": str(record.severity or "unknown")},
                )
                slack.post(url, payload)
                out.append(Notification(channel, True))
                step.outcome = "ok"
            except DeployForgeError as exc:
                out.append(Notification(channel, False, exc.message))
                step.set(error=exc.message)
                step.outcome = "failed"
    return out


def _webhook(ws: Workspace, value: Any) -> str:
    """The Slack webhook URL: a plain value ($SLACK_WEBHOOK_URL already interpolated) or a vault://
    reference read through the run's secret resolver. Registered for masking either way."""
    from deployforge.notify.slack import SlackError
    from deployforge.secrets import masking, parse_reference

    if value is None or value == "":
        raise SlackError(
            "no Slack webhook: notifications.slack.webhook_url (or the action's webhook_url) is empty or "
            "missing; if it reads an environment variable such as $SLACK_WEBHOOK_URL, set that variable",
            hint="set notifications.slack.webhook_url (e.g. $SLACK_WEBHOOK_URL) or webhook_url on the action",
        )
    if isinstance(value, str) and value.startswith("vault://"):
        value = parse_reference(value)
    if isinstance(value, SecretRef):
        value = ws.secrets.resolve(value, "notifications.slack.webhook_url")
    value = str(value)
    masking.register(value)
    return value
