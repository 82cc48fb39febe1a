"""``deployforge drift detect|list|show|remediate|auto-resolve``.

Exit codes: 0 no drift (or the remediation worked), 2 drift found, 1 errors (including bad input and a
resource that could not be read: NOT_CHECKED is never in sync).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import click

from deployforge.cli.common import (
    CONTEXT,
    REPORT_FILE,
    FindingGroup,
    emit_json,
    errors_exit_1,
    progress_header,
    project_options,
    run_project_command,
)
from deployforge.errors import UsageError

if TYPE_CHECKING:
    from deployforge.usecases.workspace import Workspace

SEVERITIES = ["security-critical", "performance-impacting", "informational"]
STATUSES = ["MODIFIED", "DELETED", "UNMANAGED", "NOT_CHECKED"]


def drift_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    decorators = [
        click.option(
            "--ignore-file",
            metavar="FILE",
            help="Drift the team accepts (default: drift-ignore.yaml next to the config).",
        ),
        click.option(
            "--rules",
            "rules",
            multiple=True,
            metavar="FILE.rego",
            help="Rego rules that extend or override the classification (default: drift-rules.rego, if present).",
        ),
        click.option(
            "--fail-on",
            type=click.Choice(SEVERITIES),
            default="informational",
            show_default=True,
            help="JUnit: drift at or above this severity is a failure; below it is skipped.",
        ),
        click.option(
            "--junit", "junit", type=REPORT_FILE, help="Also write a JUnit report (a test case per resource)."
        ),
        click.option(
            "--markdown",
            "markdown",
            type=REPORT_FILE,
            help="Also write the Markdown summary (PR comment, job summary).",
        ),
    ]
    for deco in reversed(decorators):
        fn = deco(fn)
    return fn


def _settings(ignore_file: str | None, rules: tuple[str, ...], fail_on: str) -> Any:
    from deployforge.drift.model import Severity
    from deployforge.usecases.drift import DriftSettings

    return DriftSettings(ignore_file=ignore_file, rules=tuple(rules), fail_on=Severity(fail_on))


def _write_reports(result: Any, junit: str | None, markdown: str | None) -> None:
    from pathlib import Path

    if junit:  # the drift section's suite, as every front door writes it (render/publish.py)
        from deployforge.render.publish import publish, write_report

        write_report(publish(result), "junit", junit, empty=True)
    if markdown:
        from deployforge.drift.report import render_markdown

        Path(markdown).write_text(render_markdown(result.drift), encoding="utf-8")


def _environment_from_id(ws: Workspace, drift_id: str | None) -> None:
    """A drift id names its environment: with several environments and no --environment, use the one
    whose last detection saw the id (an ambiguous or unknown id is an error listing what exists)."""
    if not drift_id:
        return
    from deployforge.usecases.drift import resolve_environment

    env = resolve_environment(ws.options, drift_id)
    if env is not None:
        ws.options = replace(ws.options, environment=env)


def _emit(result: Any, fmt: str, style: Callable[..., str], *, record: bool = False) -> None:
    from deployforge.drift.report import render_record, render_remediation, render_table

    if fmt == "json":
        emit_json(result.to_json())
        return
    report = result.drift
    if record:
        for r in report.records:
            click.echo(render_record(r))
    elif not report.remediations:
        click.echo(render_table(report, style))
    for rem in report.remediations:
        click.echo(render_remediation(rem))
    for note in report.notifications:
        status = "sent" if note.ok else f"FAILED: {note.error}"
        click.echo(f"Slack {note.channel or '(webhook default channel)'}: {status}")


@click.group(cls=FindingGroup, context_settings=CONTEXT)  # usage errors exit 1: 2 is drift found
def drift() -> None:
    """Find what changed outside the pipeline, classify it, and repair what the team allows.

    \b
      deployforge drift list --environment=prod
      deployforge drift remediate --drift-id=DF-5XJ-88B --dry-run
      deployforge drift auto-resolve --drift-id=DF-5XJ-88B
      deployforge drift list --unmanaged -e prod
      deployforge drift watch setup -e prod; deployforge drift watch -e prod --once

    A drift id names its environment: no --environment is needed with one.

    Exit codes: 0 no drift, 2 drift found, 1 errors (a resource that could not be read is NOT_CHECKED
    and never counts as in sync).
    """


def _detect_like(name: str, help_text: str) -> click.Command:
    @click.command(name, context_settings=CONTEXT, help=help_text)
    @project_options
    @drift_options
    @click.option("--severity", "severities", multiple=True, type=click.Choice(SEVERITIES), help="Only these.")
    @click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES), help="Only these.")
    @click.option(
        "--unmanaged",
        is_flag=True,
        help="Find objects of every supported type in the environment's targets that no state manages "
        "(classified; the ignore file applies); only those are listed.",
    )
    @click.option(
        "--github-issue",
        is_flag=True,
        help="Open, update or close the environment's GitHub issue (GITHUB_TOKEN, GITHUB_REPOSITORY).",
    )
    @run_project_command(f"drift {name}")
    def command(
        ws: Workspace,
        fmt: str,
        style: Callable[..., str],
        holder: dict[str, Any],
        ignore_file: str | None,
        rules: tuple[str, ...],
        fail_on: str,
        junit: str | None,
        markdown: str | None,
        severities: tuple[str, ...],
        statuses: tuple[str, ...],
        unmanaged: bool,
        github_issue: bool,
    ) -> int:
        from deployforge.drift.model import Severity, Status
        from deployforge.usecases import drift as use_cases

        with errors_exit_1():
            progress_header(ws, f"drift {name}", style)
            issue_settings = None
            if github_issue:  # checked first: a missing token or repository fails before detection
                from deployforge.drift.issues import issue_settings_from_env

                issue_settings = issue_settings_from_env(ws.options.environ)
            settings = replace(_settings(ignore_file, rules, fail_on), unmanaged=unmanaged)
            wanted = [Status(s) for s in statuses] or ([Status.UNMANAGED] if unmanaged else [])
            result = use_cases.detect_command(
                ws,
                f"drift {name}",
                settings,
                severities=[Severity(s) for s in severities],
                statuses=wanted,
            )
            holder["result"] = result
            issue = None
            if issue_settings is not None:
                from deployforge.drift.issues import sync_issue
                from deployforge.drift.model import DriftReport

                assert isinstance(result.drift, DriftReport)  # the drift use case's section
                issue = sync_issue(result.drift, issue_settings)
                if issue.warning:  # GitHub trouble is a warning in the report, never a failed check
                    warnings = (*result.drift.warnings, f"GitHub issue not updated: {issue.warning}")
                    result = replace(result, drift=replace(result.drift, warnings=warnings))
                    holder["result"] = result
                result.extra["github_issue"] = issue.to_json()
            _write_reports(result, junit, markdown)
        _emit(result, fmt, style)
        if issue is not None and issue.warning is None and fmt != "json":
            click.echo(issue.render())
        return int(result.exit_code)

    return command


detect = _detect_like("detect", "Compare live state with the latest baseline and classify every drift.")
list_ = _detect_like("list", "List active drift (detects now): a table, or --format json.")
drift.add_command(detect)
drift.add_command(list_)


@drift.command("show", context_settings=CONTEXT)
@project_options
@drift_options
@click.argument("drift_id_arg", required=False, metavar="ID")
@click.option("--drift-id", metavar="ID", help="The drift to show (or give it as the argument).")
@run_project_command("drift show")
def show(
    ws: Workspace,
    fmt: str,
    style: Callable[..., str],
    holder: dict[str, Any],
    ignore_file: str | None,
    rules: tuple[str, ...],
    fail_on: str,
    junit: str | None,
    markdown: str | None,
    drift_id_arg: str | None,
    drift_id: str | None,
) -> int:
    """Everything about one drift: its exact diff (+ added, - removed, ~ changed), classification, first/last seen."""
    from deployforge.usecases import drift as use_cases

    with errors_exit_1():
        wanted = drift_id or drift_id_arg
        if not wanted:
            raise UsageError("which drift?", hint="deployforge drift show DF-5XJ-88B")
        _environment_from_id(ws, wanted)
        result = use_cases.show(ws, wanted, _settings(ignore_file, rules, fail_on))
        holder["result"] = result
        _write_reports(result, junit, markdown)
    _emit(result, fmt, style, record=True)
    return int(result.exit_code)


def _expiry(value: str | None) -> dt.date | None:
    if value is None:
        return None
    text = value.strip()
    if text.endswith("d") and text[:-1].isascii() and text[:-1].isdigit():
        return dt.date.today() + dt.timedelta(days=int(text[:-1]))
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--expires {value}: not a date", hint="YYYY-MM-DD, or a number of days such as 30d") from None
    if day <= dt.date.today():  # an entry that never applies, then warns on every run
        raise UsageError(f"--expires {value}: that day has come already", hint="give a later date, or e.g. 30d")
    return day


@drift.command("remediate", context_settings=CONTEXT)
@project_options
@drift_options
@click.option("--drift-id", required=True, metavar="ID", help="The drift to remediate (see drift list).")
@click.option("--dry-run", is_flag=True, help="Show the remediation plan; change nothing.")
@click.option(
    "--strategy",
    type=click.Choice(["revert", "adopt", "ignore"]),
    default="revert",
    show_default=True,
    help="revert live to the baseline, adopt live into the baseline, or ignore (needs --reason).",
)
@click.option("--reason", metavar="TEXT", help="Why the drift is accepted (--strategy ignore).")
@click.option("--expires", metavar="DATE", help="When an ignore entry stops applying: YYYY-MM-DD or 30d.")
@run_project_command("drift remediate")
def remediate(
    ws: Workspace,
    fmt: str,
    style: Callable[..., str],
    holder: dict[str, Any],
    ignore_file: str | None,
    rules: tuple[str, ...],
    fail_on: str,
    junit: str | None,
    markdown: str | None,
    drift_id: str,
    dry_run: bool,
    strategy: str,
    reason: str | None,
    expires: str | None,
) -> int:
    """Plan (--dry-run) or carry out a remediation: revert, adopt or ignore with a reason and expiry."""
    from deployforge.usecases import drift as use_cases

    with errors_exit_1():
        _environment_from_id(ws, drift_id)
        progress_header(ws, "drift remediate", style)
        result = use_cases.remediate(
            ws,
            drift_id,
            strategy=strategy,
            dry_run=dry_run,
            reason=reason,
            expires=_expiry(expires),
            settings=_settings(ignore_file, rules, fail_on),
        )
        holder["result"] = result
        _write_reports(result, junit, markdown)
    _emit(result, fmt, style)
    return int(result.exit_code)


@drift.command("auto-resolve", context_settings=CONTEXT)
@project_options
@drift_options
@click.option("--drift-id", metavar="ID", help="The drift to resolve (default: every active drift).")
@click.option("--dry-run", is_flag=True, help="Show the impact analysis and what would run; change nothing.")
@click.option("-y", "--yes", "confirmed", is_flag=True, help="Confirm repairs in a production environment.")
@run_project_command("drift auto-resolve")
def auto_resolve(
    ws: Workspace,
    fmt: str,
    style: Callable[..., str],
    holder: dict[str, Any],
    ignore_file: str | None,
    rules: tuple[str, ...],
    fail_on: str,
    junit: str | None,
    markdown: str | None,
    drift_id: str | None,
    dry_run: bool,
    confirmed: bool,
) -> int:
    """Apply the self_healing_rules: impact analysis, then rolling_restart / reapply / rollback, notify_slack."""
    from deployforge.usecases import drift_heal as use_cases

    with errors_exit_1():
        _environment_from_id(ws, drift_id)
        progress_header(ws, "drift auto-resolve", style)
        result = use_cases.auto_resolve(
            ws,
            drift_id,
            dry_run=dry_run,
            confirmed=confirmed,
            settings=_settings(ignore_file, rules, fail_on),
        )
        holder["result"] = result
        _write_reports(result, junit, markdown)
    _emit(result, fmt, style)
    return int(result.exit_code)


def _register_adopt() -> None:
    from deployforge.cli.adopt import drift_adopt

    drift.add_command(drift_adopt, "adopt")


_register_adopt()


# -- drift watch ------------------------------------------------------------------------------------

WATCH_HELP = """Event-driven drift: consume the cloud's change events and re-read only what they touch.

\b
  deployforge drift watch setup -e prod                # the EventBridge rule, the SQS queue, its policy
  deployforge drift watch -e prod --queue URL --once   # drain what arrived (a scheduled CI job)
  deployforge drift watch -e prod --follow             # keep running (a service)

A message is deleted only after its drift is recorded; malformed or foreign messages are logged,
skipped and deleted; a full reconcile runs when the last one is older than --reconcile-every.
Exit codes: 0 no drift in what was checked, 2 drift found, 1 errors.
"""


def _watch_body(
    ws: Workspace,
    fmt: str,
    style: Callable[..., str],
    holder: dict[str, Any],
    queue: str | None,
    once: bool,
    follow: bool,
    wait: float,
    reconcile_every: float,
    ignore_file: str | None,
    rules: tuple[str, ...],
    fail_on: str,
) -> int:
    import json as _json

    from deployforge.usecases import drift_watch as watcher

    settings = _settings(ignore_file, rules, fail_on)
    with errors_exit_1():
        if once == follow:
            raise UsageError(
                "choose --once (drain and stop) or --follow (keep running)",
                hint="deployforge drift watch -e ENV --once (a scheduled job), or --follow (a service)",
            )
        progress_header(ws, "drift watch", style)
        url = watcher.queue_url(ws, queue)
        code = 0
        while True:
            report = watcher.drain(ws, settings, url, wait=wait if follow else 0.0, reconcile_every=reconcile_every)
            if report.drift is not None:
                holder["result"] = _watch_result(ws, report)
                code = max(code, int(report.drift.exit_code))
            if fmt == "json":
                click.echo(_json.dumps(report.to_json(), sort_keys=True))
            elif report.messages or report.reconciled or not follow:
                click.echo(report.render())
            if not follow:
                return code


def _watch_result(ws: Workspace, report: Any) -> Any:
    from deployforge.usecases.drift import drift_result

    return drift_result(ws, "drift watch", report.drift, report.drift.exit_code)


_watch_run = run_project_command("drift watch")(_watch_body)


@drift.group("watch", cls=FindingGroup, invoke_without_command=True, context_settings=CONTEXT, help=WATCH_HELP)
@project_options
@click.option("--queue", metavar="URL", help="The SQS queue (default: the one `drift watch setup` made).")
@click.option("--once", is_flag=True, help="Drain what arrived since the last run, then stop.")
@click.option("--follow", is_flag=True, help="Keep polling (long polls of up to --wait seconds).")
@click.option(
    "--wait", type=click.FloatRange(0, 20), default=20, show_default=True, help="--follow: long-poll seconds."
)
@click.option(
    "--reconcile-every",
    type=click.FloatRange(min=-1),
    default=3600,
    show_default=True,
    metavar="SECONDS",
    help="Run a full detection when the last one is older than this (-1: never).",
)
@click.option("--ignore-file", metavar="FILE", help="Drift the team accepts (default: drift-ignore.yaml).")
@click.option("--rules", "rules", multiple=True, metavar="FILE.rego", help="Rego classification rules.")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default="informational", hidden=True)
@click.pass_context
def watch(ctx: click.Context, **kwargs: Any) -> None:
    if ctx.invoked_subcommand is None:
        _watch_run(**kwargs)


@watch.command("setup", context_settings=CONTEXT)
@project_options
@run_project_command("drift watch setup")
def watch_setup(ws: Workspace, fmt: str, style: Callable[..., str], holder: dict[str, Any]) -> int:
    """Create (idempotently) the EventBridge rule, the SQS queue, its dead-letter queue and its policy."""
    from deployforge.usecases import drift_watch as watcher

    with errors_exit_1():
        progress_header(ws, "drift watch setup", style)
        done = watcher.setup(ws)
    if fmt == "json":
        emit_json(done)
        return 0
    for item in done["watch"]:
        click.echo(f"target {item['target']}: rule {item['rule_arn']} -> queue {item['queue_url']}")
    env = done["environment"]
    click.echo(f"next: deployforge drift watch -e {env} --queue {done['watch'][0]['queue_url']} --once")
    return 0
