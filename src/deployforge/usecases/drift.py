"""The drift use cases every front door calls: detect/list/show and remediate (self-healing is
``usecases/drift_heal.py``, adoption ``usecases/adopt.py``, the event-driven watch
``usecases/drift_watch.py``).

Like every use case, nothing here prints or exits; each returns a ``RunResult`` whose ``drift``
section is a ``DriftReport``. Every step (detection, impact analysis, remediation, notification) is
recorded as an audit step through ``deployforge.audit.trace.step``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from deployforge.drift.model import DriftRecord, DriftReport, Remediation, Severity
from deployforge.drift.model import Status as Status
from deployforge.drift.remediate import plan_adopt, plan_ignore, plan_revert, run_ignore, run_revert
from deployforge.errors import ProviderError, StateError, UsageError
from deployforge.model.result import RunResult
from deployforge.state.base import LockInfo
from deployforge.state.baseline import Baseline
from deployforge.usecases.audit import ensure_audit_writable
from deployforge.usecases.workspace import Options, Workspace

RULES_FILE = "drift-rules.rego"


@dataclass(frozen=True)
class DriftSettings:
    ignore_file: str | None = None  # default: drift-ignore.yaml next to the config
    rules: tuple[str, ...] = ()  # Rego files; default: drift-rules.rego next to the config, if present
    fail_on: Severity = Severity.INFORMATIONAL
    now: dt.datetime | None = None
    unmanaged: bool = False  # look for unmanaged objects of every supported type, not only the config's


DEFAULT_SETTINGS = DriftSettings()


def trace_step(name: str, **fields: Any) -> Any:
    from deployforge.audit import trace

    return trace.step(name, **fields)


def ignore_path(ws: Workspace, settings: DriftSettings) -> Path:
    from deployforge.drift.ignore import default_path

    return Path(settings.ignore_file) if settings.ignore_file else default_path(ws.options.config)


def detect(ws: Workspace, settings: DriftSettings = DriftSettings()) -> tuple[DriftReport, Baseline]:
    """Compare live state with the environment's latest baseline (reads through the providers)."""
    from deployforge.drift.classify import is_production
    from deployforge.drift.detect import build_report, read_live, register_document, register_history
    from deployforge.drift.ignore import load_ignore_file
    from deployforge.providers.registry import canonical_type

    config = ws.config
    env = config.environment
    with trace_step("drift detection", environment=env) as step:
        baseline = ws.backend.read_baseline(env)
        if baseline is None and settings.unmanaged:  # discovery needs no baseline: nothing is managed yet
            baseline = Baseline(environment=env, id="(none)", taken_at="", config_hash=config.config_hash)
        if baseline is None:
            raise UsageError(
                f"environment '{env}' has no baseline to compare with",
                hint=f"deployforge apply -e {env} takes one after every successful apply (and deploy after each "
                "successful deploy)",
            )
        ignore = load_ignore_file(ignore_path(ws, settings), required=bool(settings.ignore_file))
        rule_files = list(settings.rules)
        default_rules = Path(config.path).resolve().parent / RULES_FILE
        if not rule_files and default_rules.exists():
            rule_files = [str(default_rules)]
        override = None
        if rule_files:
            from deployforge.drift.rego import RegoClassifier

            override = RegoClassifier(rule_files)
        state = ws.read_state()
        managed: dict[tuple[str, str], set[str]] = {}
        for entry in state.resources.values():
            managed.setdefault((entry["target"], entry["type"]), set()).add(str(entry.get("id")))
        add_other_environments(ws.backend, env, managed)  # dev's bucket is not unmanaged in prod
        scope = {(r.target, canonical_type(r.type)) for r in config.resources.values()}
        targets = {r.target for r in baseline.resources.values()} | {t for t, _ in scope}
        if settings.unmanaged:
            targets |= set(config.targets)
        providers = {name: ws.provider(name) for name in sorted(targets)}
        if settings.unmanaged:  # every supported type, in every target (account and region) of the environment
            scope |= discovery_scope(providers)
        view = read_live(
            baseline, providers, managed_ids=managed, extra_scope=scope, parallelism=ws.options.parallelism
        )
        history: dict[str, str] = {}
        register_warnings: list[str] = []
        try:
            history = register_history(ws.backend.read_drift_register(env))
        except StateError as exc:  # first-seen times are a convenience: never fail a detection over them
            register_warnings.append(f"first-seen times not read ({exc.message}); they restart now")
        report = build_report(
            environment=env,
            baseline=baseline,
            view=view,
            production=is_production(env, config.require_confirmation),
            ignore=ignore,
            override=override,
            history=history,
            now=settings.now,
            fail_on=settings.fail_on,
        )
        try:
            ws.backend.write_drift_register(env, register_document(report))
        except StateError as exc:
            register_warnings.append(f"first-seen times not saved ({exc.message})")
        if register_warnings:
            report = replace(report, warnings=(*report.warnings, *register_warnings))
        step.set(baseline=baseline.id, counts=report.counts(), drift_ids=[r.id for r in report.active][:200])
        step.outcome = "drift" if report.active else ("incomplete" if report.not_checked else "in-sync")
    return report, baseline


def discovery_scope(providers: dict[str, Any]) -> set[tuple[str, str]]:
    """(target, resource type) for every type each target's provider can list."""
    out: set[tuple[str, str]] = set()
    for name, provider in providers.items():
        types = getattr(provider, "resource_types", None)
        for rtype in sorted(types() if callable(types) else ()):
            out.add((name, rtype))
    return out


def add_other_environments(backend: Any, env: str, managed: dict[tuple[str, str], set[str]]) -> None:
    """Objects that another environment's state manages (same backend) are managed, not UNMANAGED."""
    try:
        others = [e for e in backend.environments() if e != env]
    except StateError:
        return
    for other in others:
        try:
            document = backend.read(other)
        except StateError:
            continue
        for entry in (document.resources if document else {}).values():
            managed.setdefault((entry["target"], entry["type"]), set()).add(str(entry.get("id")))


def drift_result(ws: Workspace, command: str, report: DriftReport, exit_code: int, **extra: Any) -> RunResult:
    return ws.result(
        command,
        exit_code,
        drift=report,
        extra=extra,
    )


def filtered(report: DriftReport, severities: Sequence[Severity] = (), statuses: Sequence[Status] = ()) -> DriftReport:
    records = tuple(
        r
        for r in report.records
        if (not severities or r.severity in severities) and (not statuses or r.status in statuses)
    )
    if len(records) == len(report.records):
        return report
    return replace(
        report, records=records, hidden=len(report.records) - len(records), unfiltered_in_sync=report.in_sync
    )


def detect_command(
    ws: Workspace,
    command: str,
    settings: DriftSettings = DriftSettings(),
    *,
    severities: Sequence[Severity] = (),
    statuses: Sequence[Status] = (),
) -> RunResult:
    report, _ = detect(ws, settings)
    shown = filtered(report, severities, statuses)
    return drift_result(ws, command, shown, shown.exit_code)


def find_record(report: DriftReport, drift_id: str) -> DriftRecord:
    from deployforge.drift.ids import is_drift_id

    if not is_drift_id(drift_id):
        raise UsageError(f"'{drift_id}' is not a drift id", hint="drift ids look like DF-5XJ-88B (see: drift list)")
    record = report.find(drift_id)
    if record is None:
        ids = [r.id for r in report.records]
        known = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "") if ids else "none"
        raise UsageError(
            f"no drift {drift_id.upper()} in environment '{report.environment}' (current drift ids: {known})",
            hint=f"it may have cleared; see: deployforge drift list --environment={report.environment}",
        )
    return record


def show(ws: Workspace, drift_id: str, settings: DriftSettings = DriftSettings()) -> RunResult:
    report, _ = detect(ws, settings)
    record = find_record(report, drift_id)
    return drift_result(ws, "drift show", replace(report, records=(record,)), 2 if record.active else 0)


def type_info(rtype: str) -> Any:
    from deployforge.providers.registry import resource_type_infos

    found = resource_type_infos().get(rtype)
    return found[1] if found else None


def remediate(
    ws: Workspace,
    drift_id: str,
    *,
    strategy: str = "revert",
    dry_run: bool = False,
    reason: str | None = None,
    expires: dt.date | None = None,
    settings: DriftSettings = DriftSettings(),
) -> RunResult:
    """Plan (``dry_run``) or carry out one remediation: revert, adopt or ignore."""
    report, baseline = detect(ws, settings)
    record = find_record(report, drift_id)
    config = ws.config
    path = ignore_path(ws, settings)
    if strategy == "revert":
        plan = plan_revert(record, type_info(record.type))
    elif strategy == "adopt":
        declared = config.resources.get(record.resource)
        plan = plan_adopt(record, dict(declared.properties) if declared else None)
    elif strategy == "ignore":
        plan = plan_ignore(record, reason, expires, str(path))
    else:
        raise UsageError(f"unknown strategy '{strategy}'", hint="use revert, adopt or ignore")
    if not dry_run and plan.outcome == "planned":
        plan = _carry_out(ws, plan, record, baseline, path, reason, expires)
    with trace_step("drift remediation", drift_id=record.id, strategy=strategy, dry_run=dry_run) as step:
        step.set(outcome_detail=plan.outcome, steps=[s.to_json() for s in plan.steps])
        step.outcome = plan.outcome
    code = 0 if plan.ok else 1
    return drift_result(ws, "drift remediate", replace(report, records=(record,), remediations=(plan,)), code)


def _carry_out(
    ws: Workspace,
    plan: Remediation,
    record: DriftRecord,
    baseline: Baseline,
    path: Path,
    reason: str | None,
    expires: dt.date | None,
) -> Remediation:
    from deployforge.drift.remediate import adopted_baseline

    if plan.strategy == "ignore":
        return run_ignore(plan, record, path, reason or "", expires)
    ensure_audit_writable(ws)
    backend = ws.backend
    lock = backend.acquire_lock(LockInfo.new(record.environment, ws.run_id, f"drift {plan.strategy}"))
    try:
        if plan.strategy == "revert":
            return run_revert(plan, ws.provider(record.target), baseline.resources[record.resource])
        live = ws.provider(record.target).read(record.type, str(record.resource_id))
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        backend.write_baseline(adopted_baseline(baseline, record, live, ws.run_id, stamp))
        step = replace(plan.steps[0], done=True, description=plan.steps[0].description + f" (baseline {ws.run_id})")
        return replace(plan, dry_run=False, steps=(step,), outcome="applied")
    finally:
        backend.release_lock(lock)


_ = ProviderError  # translated errors reach the CLI through DeployForgeError


# -- which environment a drift id belongs to ------------------------------------------------------


def resolve_environment(options: Options, drift_id: str) -> str | None:
    """The environment whose drift register holds ``drift_id``, when the command names no environment
    and the config defines several (a drift id belongs to one environment: it hashes the environment's
    name). ``None`` when there is nothing to resolve (an environment was chosen, or there is only one).

    Reads each environment's register (written by every detection): no cloud reads. An id found in
    several registers is an error listing the candidates; an id found in none lists what exists.
    """
    from deployforge.config.load import load_every_environment, parse_config
    from deployforge.drift.ids import is_drift_id

    if options.environment or options.environ.get("DEPLOYFORGE_ENVIRONMENT"):
        return None
    if not is_drift_id(drift_id):
        raise UsageError(f"'{drift_id}' is not a drift id", hint="drift ids look like DF-5XJ-88B (see: drift list)")
    parsed = parse_config(options.config, options.environ)  # once, for every environment's workspace
    configs = load_every_environment(options.config, environ=options.environ, parsed=parsed)
    if len(configs) <= 1:
        return None
    wanted = drift_id.strip().upper()
    found: list[str] = []
    known: dict[str, list[str]] = {}
    for config in configs:
        env = config.environment
        ws = Workspace(replace(options, environment=env), parsed=parsed)
        try:
            register = ws.backend.read_drift_register(env)
        except StateError:
            register = None
        ids = sorted((register or {}).get("records") or {}) if isinstance(register, dict) else []
        known[env] = [str(i) for i in ids]
        if wanted in known[env]:
            found.append(env)
    if len(found) == 1:
        return found[0]
    if found:
        raise UsageError(
            f"drift {wanted} is known in several environments ({', '.join(found)}); choose one",
            hint=" or ".join(f"--environment={env}" for env in found),
        )
    listing = "; ".join(
        f"{env}: {', '.join(ids[:10]) + (' …' if len(ids) > 10 else '') or 'none'}" for env, ids in known.items()
    )
    raise UsageError(
        f"no drift {wanted} in any environment of this config (known drift ids: {listing})",
        hint="ids come from the last detection: deployforge drift list --environment=NAME, then use one of its ids",
    )
