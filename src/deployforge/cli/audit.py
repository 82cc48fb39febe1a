"""`deployforge audit`: the hash-chained audit log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from deployforge.cli.common import (
    CONTEXT,
    _emit_json,
    project_options,
    run_project_command,
)

# -- audit --------------------------------------------------------------------


@click.group(context_settings=CONTEXT)
def audit() -> None:
    """The append-only, hash-chained audit log of every command."""


@audit.command("verify", context_settings=CONTEXT)
@project_options
@run_project_command("audit verify")
def audit_verify(ws: Any, fmt: str, style: Callable[..., str], holder: dict[str, Any]) -> int:
    """Walk the hash chain; report the first record that was modified, removed or reordered."""
    from deployforge.app import audit_path
    from deployforge.audit import AuditLog

    path = audit_path(ws)
    report = AuditLog(path).verify()
    if fmt == "json":
        _emit_json(
            {
                "ok": report.ok,
                "records": report.records,
                "path": str(path),
                "first_bad": None
                if report.first_bad is None
                else {
                    "line": report.first_bad.line,
                    "seq": report.first_bad.seq,
                    "reason": report.first_bad.reason,
                },
            }
        )
    elif report.ok:
        click.echo(style(f"{path}: {report.records} records, chain intact", fg="green"))
    else:
        bad = report.first_bad
        assert bad is not None
        click.echo(
            style(
                f"{path}:{bad.line}: record {bad.seq if bad.seq is not None else '?'}: {bad.reason}",
                fg="red",
                bold=True,
            )
        )
        click.echo(f"  {report.records} records checked before it; the log cannot be trusted from there on.")
    return 0 if report.ok else 1


@audit.command("log", context_settings=CONTEXT)
@project_options
@click.option("--run", "run_id", metavar="RUN_ID", help="Only this run.")
@click.option("--all-environments", is_flag=True, help="Every environment, not only the selected one.")
@click.option("--since", metavar="TIME", help="Only records at or after this RFC 3339 time.")
@click.option("-n", "--limit", type=int, default=50, show_default=True, help="Show the last N records.")
@run_project_command("audit log")
def audit_log(
    ws: Any,
    fmt: str,
    style: Callable[..., str],
    holder: dict[str, Any],
    run_id: str | None,
    all_environments: bool,
    since: str | None,
    limit: int,
) -> int:
    """Show audit records, newest last."""
    from itertools import islice

    from deployforge.app import audit_path
    from deployforge.audit import AuditLog

    env = None if all_environments else ws.options.environment
    newest = AuditLog(audit_path(ws)).records(environment=env, run_id=run_id, since=since, reverse=True)
    records = list(islice(newest, limit))[::-1]  # read from the end: fast on a long log
    if fmt == "json":
        _emit_json(list(records))
        return 0
    for rec in records:
        click.echo(
            f"{rec.get('seq'):>6}  {rec.get('ts')}  {rec.get('command', ''):<14} "
            f"{rec.get('environment') or '-':<10} {rec.get('outcome', ''):<6} run {rec.get('run_id')}"
        )
    if not records:
        click.echo("(no audit records)")
    return 0
