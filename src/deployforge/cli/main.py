"""The ``deployforge`` command line: thin commands over ``deployforge.app`` and the one error layer.

Only this module prints errors and chooses exit codes (see ``deployforge.errors``).
Cloud SDKs are imported by the commands that need them, never at start-up.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from deployforge import __version__
from deployforge.errors import EXIT_INPUT, DeployForgeError, UsageError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# -- output helpers -----------------------------------------------------------


def _colour_enabled(no_color: bool) -> bool:
    return not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()


def _styler(enabled: bool) -> Callable[..., str]:
    if enabled:
        return click.style
    return lambda text, **_: text


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


# -- shared options -----------------------------------------------------------


def project_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--config/--pipeline, --environment, --sandbox, --format, --no-color on every project command."""
    decorators = [
        click.option(
            "-c",
            "--config",
            "--pipeline",
            "config",
            default="deployforge.yaml",
            show_default=True,
            envvar="DEPLOYFORGE_CONFIG",
            metavar="FILE",
            help="The project config (--pipeline is an alias).",
        ),
        click.option(
            "-e",
            "--environment",
            default=None,
            envvar="DEPLOYFORGE_ENVIRONMENT",
            metavar="NAME",
            help="Which environment of the config to use.",
        ),
        click.option(
            "--sandbox",
            is_flag=True,
            envvar="DEPLOYFORGE_SANDBOX",
            help="Point every AWS target at the embedded emulator (starts it if needed).",
        ),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(["text", "json"]),
            default="text",
            show_default=True,
            help="Output format.",
        ),
        click.option("--no-color", is_flag=True, help="No ANSI colours (also: NO_COLOR=1)."),
    ]
    for deco in reversed(decorators):
        fn = deco(fn)
    return fn


def _options(config: str, environment: str | None, sandbox: bool, parallelism: int = 10) -> Any:
    from deployforge.app import Options

    return Options(
        config=config,
        environment=environment,
        sandbox=sandbox,
        parallelism=parallelism,
        environ=dict(os.environ),
    )


def _crash_report(exc: BaseException) -> str:
    folder = Path(".deployforge") / "logs"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"crash-{time.strftime('%Y%m%dT%H%M%S')}.txt"
        path.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
        return str(path)
    except OSError:
        return "(could not be written)"


def run_project_command(name: str) -> Callable[[Callable[..., int]], Callable[..., None]]:
    """Wrap a command body ``fn(ws, **kwargs) -> exit code`` with the error layer and the audit record."""

    def decorate(fn: Callable[..., int]) -> Callable[..., None]:
        @functools.wraps(fn)
        def wrapper(
            config: str, environment: str | None, sandbox: bool, fmt: str, no_color: bool, **kwargs: Any
        ) -> None:
            from deployforge.app import Workspace, record_audit

            started = time.monotonic()
            parallelism = kwargs.get("parallelism") or 10
            ws = Workspace(_options(config, environment, sandbox, parallelism))
            style = _styler(_colour_enabled(no_color))
            holder: dict[str, Any] = {}
            error: DeployForgeError | None = None
            try:
                code = fn(ws, fmt=fmt, style=style, holder=holder, **kwargs)
            except DeployForgeError as exc:
                error, code = exc, exc.exit_code
                _report_error(exc, fmt, ws.run_id)
            except KeyboardInterrupt:
                code = 130
                click.echo("Interrupted.", err=True)
            except Exception as exc:  # a bug: say so plainly, keep the traceback in a file
                code = 1
                where = _crash_report(exc)
                click.echo(
                    f"internal error: {type(exc).__name__}: {exc}\n  this is a DeployForge bug; "
                    f"details were written to {where}",
                    err=True,
                )
            try:
                record_audit(
                    ws,
                    command=name,
                    argv=sys.argv[1:],
                    result=holder.get("result"),
                    error=error,
                    exit_code=code,
                    started=started,
                )
            except DeployForgeError as exc:
                click.echo(f"warning: the audit record could not be written: {exc.message}", err=True)
            except OSError as exc:
                click.echo(f"warning: the audit record could not be written: {exc}", err=True)
            sys.exit(code)

        return wrapper

    return decorate


def _report_error(exc: DeployForgeError, fmt: str, run_id: str) -> None:
    if fmt == "json":
        from deployforge.errors import ConfigError

        payload: dict[str, Any] = {
            "error": exc.message,
            "hint": exc.hint,
            "exit_code": exc.exit_code,
            "run_id": run_id,
        }
        if isinstance(exc, ConfigError):
            payload["issues"] = [
                {
                    "message": i.message,
                    "file": i.location.file if i.location else None,
                    "line": i.location.line if i.location else None,
                    "column": i.location.column if i.location else None,
                    "hint": i.hint,
                }
                for i in exc.issues
            ]
        _emit_json(payload)
    click.echo(exc.render(), err=True)


# -- the group ----------------------------------------------------------------


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="deployforge")
def cli() -> None:
    """DeployForge: validate, plan and apply infrastructure, from a laptop or any CI.

    \b
    Quick start on the embedded AWS emulator:
      deployforge validate --config examples/quickstart/deployforge.yaml
      deployforge plan  --sandbox -c examples/quickstart/deployforge.yaml
      deployforge apply --sandbox -c examples/quickstart/deployforge.yaml --auto-approve

    \b
    Exit codes: 0 success / no changes, 1 failure, 2 bad input (plan: 2 = changes found),
    130 interrupted.
    """


@cli.command(context_settings=CONTEXT)
@project_options
@run_project_command("validate")
def validate(ws: Any, fmt: str, style: Callable[..., str], holder: dict[str, Any]) -> int:
    """Check the config: schema, references, targets, dependency cycles. Touches no cloud."""
    from deployforge import app

    result = app.validate(ws)
    holder["result"] = result
    if fmt == "json":
        _emit_json(result.to_json())
    else:
        envs = result.extra["environments"]
        which = f"environment '{envs[0]}'" if len(envs) == 1 else f"environments {', '.join(envs)}"
        click.echo(
            style(f"{result.config_path}: valid", fg="green")
            + f" ({which}; {result.extra['resources']} resources, {len(result.extra['targets'])} targets)"
        )
    return result.exit_code


def _progress_header(ws: Any, command: str, style: Callable[..., str]) -> None:
    config = ws.config
    extra = " · sandbox" if ws.sandbox_endpoint else ""
    click.echo(
        style(f"deployforge {command} · environment {config.environment} · run {ws.run_id}{extra}", dim=True),
        err=True,
    )
    for warning in ws.sandbox_warnings:
        click.echo(style(f"warning: sandbox: {warning}", fg="yellow"), err=True)


@cli.command(context_settings=CONTEXT)
@project_options
@click.option("-o", "--out", metavar="FILE", help="Save the plan as JSON, for `deployforge apply FILE`.")
@click.option(
    "--parallelism",
    type=click.IntRange(1, 64),
    default=10,
    show_default=True,
    help="How many objects to read at once.",
)
@run_project_command("plan")
def plan(
    ws: Any, fmt: str, style: Callable[..., str], holder: dict[str, Any], out: str | None, parallelism: int
) -> int:
    """Compare the config with live cloud state and show what apply would change.

    Exit codes like `terraform plan -detailed-exitcode`: 0 no changes, 2 changes, 1 error.
    """
    from deployforge import app
    from deployforge.render.console import render_plan

    _progress_header(ws, "plan", style)
    result = app.plan(ws, out=out)
    holder["result"] = result
    if fmt == "json":
        _emit_json(result.to_json())
    else:
        assert result.plan is not None
        click.echo(render_plan(result.plan, style))
        if out:
            click.echo(f"\nPlan saved to {out}. Apply exactly this plan with: deployforge apply {out}")
    return result.exit_code


@cli.command(context_settings=CONTEXT)
@project_options
@click.argument("plan_file", required=False, metavar="[PLAN_FILE]")
@click.option("-y", "--auto-approve", is_flag=True, help="Do not ask for confirmation (needed in CI).")
@click.option(
    "--parallelism",
    type=click.IntRange(1, 64),
    default=10,
    show_default=True,
    help="How many resources to change at once.",
)
@run_project_command("apply")
def apply(
    ws: Any,
    fmt: str,
    style: Callable[..., str],
    holder: dict[str, Any],
    plan_file: str | None,
    auto_approve: bool,
    parallelism: int,
) -> int:
    """Make the cloud match the config, in dependency order, recording every step in state.

    With PLAN_FILE (from `plan --out`), apply exactly that plan, refusing it if the config,
    the state or the live objects changed since it was made.
    """
    import signal
    import threading

    from deployforge import app
    from deployforge.render.console import render_apply, render_event, render_plan

    _progress_header(ws, "apply", style)
    interactive = sys.stdin.isatty()
    if not auto_approve and not plan_file and not interactive:
        raise UsageError(
            "apply needs confirmation, and there is no terminal to ask",
            hint="review `deployforge plan`, then run apply with --auto-approve (or apply a saved plan)",
        )

    def confirm(the_plan: Any) -> bool:
        click.echo(render_plan(the_plan, style))
        if auto_approve:
            return True
        return click.confirm("\nApply these changes?", default=False)

    cancel = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        click.echo(
            style(
                "\nStopping: finishing the operations in flight and recording them "
                "(press Ctrl-C again to abort at once).",
                fg="yellow",
            ),
            err=True,
        )

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def on_event(kind: str, rp: Any, res: Any) -> None:
        line = render_event(kind, rp, res, style)
        if line:
            click.echo(line, err=True)

    try:
        result = app.apply(
            ws,
            plan_file=plan_file,
            confirm=confirm if fmt == "text" or not auto_approve else None,
            cancel=cancel,
            on_event=on_event,
            ci_run_url=_ci_run_url(),
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    holder["result"] = result
    if fmt == "json":
        _emit_json(result.to_json())
    else:
        for message in result.messages:
            click.echo(message)
        if result.apply is not None:
            click.echo("")
            click.echo(render_apply(result.apply, style))
    return result.exit_code


def _ci_run_url() -> str | None:
    env = os.environ
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return env.get("BUILD_URL")


@cli.command(context_settings=CONTEXT)
def schema() -> None:
    """Print the config's JSON Schema (for editors: yaml-language-server, VS Code, JetBrains)."""
    from deployforge.config.schema import config_schema

    _emit_json(config_schema())


# -- state --------------------------------------------------------------------


@cli.group(context_settings=CONTEXT)
def state() -> None:
    """Inspect state and locks; force-release a stale lock."""


@state.command("list", context_settings=CONTEXT)
@project_options
@run_project_command("state list")
def state_list(ws: Any, fmt: str, style: Callable[..., str], holder: dict[str, Any]) -> int:
    """List the environment's recorded resources and its lock."""
    doc = ws.read_state()
    lock = ws.backend.read_lock(ws.config.environment)
    if fmt == "json":
        _emit_json(
            {
                "environment": doc.environment,
                "serial": doc.serial,
                "backend": ws.backend.description,
                "resources": doc.resources,
                "pending": doc.pending,
                "lock": lock.to_json() if lock else None,
            }
        )
        return 0
    click.echo(f"environment '{doc.environment}' · {ws.backend.description} · serial {doc.serial}")
    if not doc.resources:
        click.echo("  (no resources recorded)")
    for name, entry in sorted(doc.resources.items()):
        click.echo(f"  {entry['type']}.{name}  id={entry['id']}  target={entry['target']}")
    for pending in doc.pending:
        click.echo(
            style(
                f"  interrupted: {pending['action']} of {pending['resource']} by run {pending['run_id']}",
                fg="yellow",
            )
        )
    if lock:
        stale = " (STALE: holder process is gone)" if lock.is_stale_here() else ""
        click.echo(style(f"  locked by {lock.describe()}{stale}; lock id {lock.lock_id}", fg="yellow"))
    return 0


@state.command("unlock", context_settings=CONTEXT)
@project_options
@click.argument("lock_id")
@run_project_command("state unlock")
def state_unlock(ws: Any, fmt: str, style: Callable[..., str], holder: dict[str, Any], lock_id: str) -> int:
    """Force-release the lock LOCK_ID (shown by the error that reported it, or `state list`)."""
    released = ws.backend.force_unlock(lock_id)
    click.echo(f"Released the lock on '{released.environment}' held by {released.describe()}.")
    return 0


# -- audit --------------------------------------------------------------------


@cli.group(context_settings=CONTEXT)
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


# -- sandbox ------------------------------------------------------------------


@cli.group(context_settings=CONTEXT)
def sandbox() -> None:
    """The embedded AWS emulator (moto's server on loopback) for trying DeployForge safely.

    \b
    Its state persists in .deployforge/ across `down` and `up`. To change something
    out of band (e.g. to see drift), point any AWS client at `deployforge sandbox endpoint`
    with fake credentials:
      AWS_ACCESS_KEY_ID=sandbox AWS_SECRET_ACCESS_KEY=sandbox \\
        aws --endpoint-url "$(deployforge sandbox endpoint)" s3api put-bucket-tagging ...
    """


def _sandbox_root(config: str) -> Path:
    from deployforge.app import Options, Workspace

    return Workspace(Options(config=config)).root


def _sandbox_call(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except DeployForgeError as exc:
        click.echo(exc.render(), err=True)
        sys.exit(exc.exit_code)


@sandbox.command("up", context_settings=CONTEXT)
@click.option(
    "-c",
    "--config",
    "--pipeline",
    "config",
    default="deployforge.yaml",
    show_default=True,
    metavar="FILE",
    help="The project whose .deployforge/ holds the sandbox.",
)
def sandbox_up(config: str) -> None:
    """Start the emulator in the background (or show the running one)."""
    from deployforge.providers import sandbox as sb

    info = _sandbox_call(lambda: sb.up(_sandbox_root(config)))
    for warning in info.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"sandbox running at {info.endpoint} (pid {info.pid})")


@sandbox.command("down", context_settings=CONTEXT)
@click.option("-c", "--config", "--pipeline", "config", default="deployforge.yaml", show_default=True, metavar="FILE")
def sandbox_down(config: str) -> None:
    """Stop the emulator, saving its state for the next `up`."""
    from deployforge.providers import sandbox as sb

    stopped = _sandbox_call(lambda: sb.down(_sandbox_root(config)))
    click.echo("sandbox stopped; its state is saved" if stopped else "sandbox was not running")


@sandbox.command("status", context_settings=CONTEXT)
@click.option("-c", "--config", "--pipeline", "config", default="deployforge.yaml", show_default=True, metavar="FILE")
def sandbox_status(config: str) -> None:
    """Say whether the emulator runs, and where."""
    from deployforge.providers import sandbox as sb

    info = _sandbox_call(lambda: sb.status(_sandbox_root(config)))
    click.echo(f"running at {info.endpoint} (pid {info.pid})" if info else "not running")
    sys.exit(0 if info else 1)


@sandbox.command("endpoint", context_settings=CONTEXT)
@click.option("-c", "--config", "--pipeline", "config", default="deployforge.yaml", show_default=True, metavar="FILE")
def sandbox_endpoint(config: str) -> None:
    """Print the running emulator's endpoint URL (for --endpoint-url)."""
    from deployforge.providers import sandbox as sb

    info = _sandbox_call(lambda: sb.status(_sandbox_root(config)))
    if not info:
        click.echo("error: the sandbox is not running\n  hint: deployforge sandbox up", err=True)
        sys.exit(EXIT_INPUT)
    click.echo(info.endpoint)


def main() -> None:
    cli(prog_name="deployforge")


if __name__ == "__main__":
    main()
