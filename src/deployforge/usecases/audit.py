"""The audit record of a command: where the project's log is (``audit_path``, ``audit_log``), the
record every command appends (``record_audit``), the log its trace steps go to (``step_log``), the
check before a change that the change can be recorded (``ensure_audit_writable``), and the signed
checkpoint line CI reports carry (``current_checkpoint_line``).

The audit modules below take an ``audit.settings.AuditScope``, the plain values they need of the
project; ``audit_scope`` makes it from the command's workspace.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deployforge.audit.settings import AuditScope
from deployforge.errors import DeployForgeError
from deployforge.model.config import AuditSettings
from deployforge.model.plan import Plan
from deployforge.model.result import RunResult
from deployforge.usecases.workspace import Workspace


def _outcome(command: str, exit_code: int, error: DeployForgeError | None, result: RunResult | None) -> str:
    """The audit record's one word (ok, changes, drift, interrupted, error) of the run's outcome
    (``model/outcome.py``): its result's, when the record is of it, else its exit status's."""
    from deployforge.model.outcome import of_exit

    if result is not None and error is None and result.exit_code == exit_code:
        return result.outcome.audit_word
    return of_exit(command, exit_code, error).audit_word


def plan_hash(the_plan: Plan | None) -> str | None:
    if the_plan is None:
        return None
    from deployforge.config.load import canonical_hash

    return canonical_hash({k: v for k, v in the_plan.to_json().items() if k not in ("created_at", "run_id")})


def audit_scope(ws: Workspace) -> AuditScope:
    """What the audit modules need of this command's project: the config's ``audit:`` section (the
    local default when the config cannot load: ``audit verify`` still reaches the local log then),
    where the project is, the environment, and the sandbox's endpoint (asked for when needed)."""
    try:
        settings = ws.config.audit
    except DeployForgeError:
        settings = AuditSettings()
    return AuditScope(settings, ws.project_dir, ws.root, ws.options.environ, lambda: ws.sandbox_endpoint)


def audit_path(ws: Workspace) -> Path:
    """The local audit log's file (``audit/storage.py`` decides)."""
    from deployforge.audit.storage import audit_path as path_of

    return path_of(audit_scope(ws))


def audit_log(ws: Workspace) -> Any:
    """The audit log this project writes to: local (default), S3 with Object Lock, or GCS with retention.

    The storage comes from the config's ``audit:`` section (``storage: local | s3 | gcs``, see
    docs/audit.md); every string appended passes the secrets layer's masking hook.
    """
    from deployforge.audit.storage import open_log

    return open_log(audit_scope(ws))


class _StepLog:
    """Opens the audit log on the first step (a command without steps never opens it)."""

    def __init__(self, ws: Workspace):
        self._ws = ws
        self._log: Any = None

    def append(self, fields: dict[str, Any]) -> dict[str, Any] | None:
        if self._log is None:
            try:
                enabled = self._ws.config.audit.enabled
            except DeployForgeError:
                enabled = True
            self._log = audit_log(self._ws) if enabled else False
        if self._log is False:  # audit disabled in the config
            return None
        result: dict[str, Any] = self._log.append(fields)
        return result


def step_log(ws: Workspace) -> _StepLog:
    """Where a command's trace steps go (``audit.trace.recording``): the audit log, opened lazily."""
    return _StepLog(ws)


def ensure_audit_writable(ws: Workspace) -> None:
    """Raise StateError (before anything changes) when this command's audit record could not be appended."""
    if ws.config.audit.enabled:
        log = audit_log(ws)
        log.check_writable()
        from deployforge.audit.witness import check_witness_before_change

        check_witness_before_change(audit_scope(ws), log)


def record_audit(
    ws: Workspace,
    *,
    command: str,
    argv: list[str],
    result: RunResult | None,
    error: DeployForgeError | None,
    exit_code: int,
    started: float,
    cpu_started: float | None = None,
    steps: int | None = None,
) -> dict[str, Any] | None:
    """Append this command's record to the audit log. Never raises for a config that failed to load."""
    from deployforge.audit import ci_context, peak_memory_mb
    from deployforge.audit.lineage import cpu_seconds, file_sha256, policy_bundle_hash

    try:
        enabled = ws.config.audit.enabled
        config_hash: str | None = ws.config.config_hash
        environment: str | None = ws.config.environment
    except DeployForgeError:
        enabled, config_hash, environment = True, None, ws.options.environment
    if not enabled:
        return None
    fields: dict[str, Any] = {
        "kind": "run",
        "run_id": ws.run_id,
        "trace_id": ws.run_id,
        "parent_trace_id": ws.parent_trace_id,
        "command": command,
        "argv": argv,
        "environment": environment,
        "context": ci_context(ws.options.environ),
        "config_path": ws.options.config,
        "config_hash": config_hash,
        "config_file_sha256": file_sha256(ws.options.config),
        "plan_hash": plan_hash(result.plan) if result else None,
        "policy_bundle_hash": policy_bundle_hash(result.policy) if result else None,
        "outcome": _outcome(command, exit_code, error, result),
        "exit_code": exit_code,
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
        "cpu_ms": round((cpu_seconds() - cpu_started) * 1000, 1) if cpu_started is not None else None,
        "peak_memory_mb": peak_memory_mb(include_children=True),
        "api_calls": ws.api_calls_by_provider(),
    }
    if steps is not None:
        fields["steps"] = steps
    if result is not None and result.plan is not None:
        fields["changes"] = {k: v for k, v in result.plan.counts().items() if v}
    if result is not None and result.apply is not None:
        fields["apply"] = {k: v for k, v in result.apply.counts().items() if v}
    if error is not None:
        fields["error"] = error.message
    log = audit_log(ws)
    record: dict[str, Any] = log.append(fields)
    from deployforge.audit.witness import publish_checkpoint

    publish_checkpoint(audit_scope(ws), log)  # signed checkpoint -> audit.witness (docs/audit.md, Witnesses)
    return record


def current_checkpoint_line(ws: Workspace, open_log: Callable[[Workspace], Any] = audit_log) -> str | None:
    """The project's signed checkpoint as one line, or None (unsigned, disabled, unreadable).

    ``open_log(ws)`` opens the configured log (``audit_log``)."""
    from deployforge.audit.ci import checkpoint_line

    try:
        if not ws.config.audit.enabled:
            return None
        return checkpoint_line(open_log(ws).head_checkpoint())
    except (DeployForgeError, OSError):
        return None
