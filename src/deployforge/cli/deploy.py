"""`deployforge run` (validate -> plan -> policy gate -> deploy) and `deployforge deploy` (from a saved plan)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from deployforge.cli.common import (
    CONTEXT,
    REPORT_FILE,
    ci_run_url,
    emit_json,
    hook_callbacks,
    progress_header,
    project_options,
    run_project_command,
)
from deployforge.errors import UsageError

if TYPE_CHECKING:
    from deployforge.usecases.workspace import Workspace


def _timeout(value: str | None) -> float | None:
    if value is None:
        return None
    from deployforge.durations import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise UsageError(f"--timeout: {exc}", hint="e.g. --timeout 1800 or --timeout 30m") from None
    if seconds <= 0:
        raise UsageError("--timeout must be more than 0")
    return seconds


def _deploy_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    decorators = [
        click.option(
            "--evolve-strategy",
            "--strategy",
            "strategy",
            metavar="NAME",
            help="all-at-once, 5percent-step, canary-10pct-5m, linear-10pct-every-1m, Canary10Percent5Minutes, "
            "Linear10PercentEvery1Minute, AllAtOnce, steps (default: deploy.strategy).",
        ),
        click.option(
            "--timeout",
            metavar="DURATION",
            help="Overall deploy timeout: seconds or 30m; overrides deploy.timeout in the config (default 1h).",
        ),
        click.option(
            "--confirm/--no-confirm",
            default=False,
            help="Approve a deploy to an environment that requires confirmation (in CI: --confirm).",
        ),
        click.option("--dry-run", is_flag=True, help="Print the compiled steps; change nothing."),
        click.option(
            "--parallelism",
            type=click.IntRange(1, 64),
            default=10,
            show_default=True,
            help="How many resources the apply stage changes at once.",
        ),
        click.option(
            "--junit",
            type=REPORT_FILE,
            help="Also write JUnit XML: a test case per canary gate evaluation (and the policy gate's "
            "results); written when the canary rolls back too.",
        ),
    ]
    for deco in reversed(decorators):
        fn = deco(fn)
    return fn


def _render_event(style: Callable[..., str]) -> Callable[[str, dict[str, Any]], None]:
    from deployforge.deploy.render import render_event

    def on_event(kind: str, payload: dict[str, Any]) -> None:
        line = render_event(kind, payload, style)
        if line is not None:
            click.echo(line, err=True)

    return on_event


def _callbacks(style: Callable[..., str]) -> Any:
    from deployforge.usecases.deploy import Callbacks

    hooks = hook_callbacks(style)
    return Callbacks(
        on_event=_render_event(style),
        on_hook_start=hooks.on_start,
        on_hook_output=hooks.on_output,
        on_message=lambda text: click.echo(text, err=True),
    )


def _write_junit(result: Any, junit: str | None, style: Callable[..., str]) -> None:
    """The run's JUnit report (policy gate, canary gate evaluations, hooks); ``<testsuites/>`` when none ran."""
    if junit is None:
        return
    from deployforge.render.publish import publish, write_report

    try:
        write_report(publish(result), "junit", junit, empty=True)
    except OSError as exc:  # the deploy already happened: say so, keep its result and exit code
        click.echo(
            style(f"warning: could not write the JUnit report {junit}: {exc.strerror or exc}", fg="yellow"), err=True
        )


def _print_result(result: Any, fmt: str, style: Callable[..., str]) -> None:
    if fmt == "json":
        emit_json(result.to_json())
        return
    from deployforge.deploy.render import render_run_summary

    click.echo(render_run_summary(result, style))


def _execute(
    ws: Workspace,
    *,
    fmt: str,
    style: Callable[..., str],
    holder: dict[str, Any],
    command: str,
    plan_file: str | None,
    strategy: str | None,
    timeout: str | None,
    confirm: bool,
    dry_run: bool,
    junit: str | None = None,
) -> int:
    import signal
    import threading

    from deployforge.deploy.prepare import prepare
    from deployforge.deploy.strategy import render_steps
    from deployforge.usecases import deploy as use_cases

    seconds = _timeout(timeout)
    if dry_run:
        result = use_cases.dry_run(ws, strategy=strategy, timeout=seconds, command=command)
        holder["result"] = result
        _write_junit(result, junit, style)  # nothing was checked: an empty report, so CI's reader finds one
        if fmt == "json":
            emit_json(result.to_json())
        else:
            prepared = prepare(ws.config, strategy=strategy, timeout=seconds)
            click.echo(render_steps(prepared.compiled))
        return result.exit_code
    progress_header(ws, command, style)

    def ask(the_plan: Any) -> bool:
        if confirm:
            return True
        if not sys.stdin.isatty():
            raise UsageError(
                f"environment '{ws.config.environment}' requires confirmation, and there is no terminal to ask",
                hint="review the plan, then pass --confirm (in CI: a manual approval step, then --confirm)",
                reason="needs-confirmation",
            )
        from deployforge.render.console import render_plan

        click.echo(render_plan(the_plan, style), err=True)
        return click.confirm(f"\nDeploy to {ws.config.environment}?", default=False, err=True)

    cancel = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        click.echo(style("\nStopping: sending traffic back to stable first.", fg="yellow"), err=True)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = use_cases.run(
            ws,
            strategy=strategy,
            timeout=seconds,
            plan_file=plan_file,
            confirm=ask,
            cancel=cancel,
            callbacks=_callbacks(style),
            command=command,
            ci_run_url=ci_run_url(),
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    holder["result"] = result
    _write_junit(result, junit, style)  # before printing: the report matters most when the canary aborts
    _print_result(result, fmt, style)
    return result.exit_code


@click.command(context_settings=CONTEXT)
@project_options
@_deploy_options
@run_project_command("run")
def run(
    ws: Workspace,
    fmt: str,
    style: Callable[..., str],
    holder: dict[str, Any],
    strategy: str | None,
    timeout: str | None,
    confirm: bool,
    dry_run: bool,
    parallelism: int,
    junit: str | None,
) -> int:
    """The whole pipeline: validate, plan, policy gate, then deploy with the canary strategy.

    Traffic moves step by step through deploy.shifter while deploy.gates are checked; a failing
    gate (at the failure threshold), the timeout or SIGINT/SIGTERM sends traffic back to stable.
    """
    return _execute(
        ws,
        fmt=fmt,
        style=style,
        holder=holder,
        command="run",
        plan_file=None,
        strategy=strategy,
        timeout=timeout,
        confirm=confirm,
        dry_run=dry_run,
        junit=junit,
    )


@click.command(context_settings=CONTEXT)
@project_options
@click.argument("plan_file", required=False, metavar="[PLAN_FILE]")
@click.option("--rollback", is_flag=True, help="Send an interrupted canary's traffic back to stable.")
@_deploy_options
@run_project_command("deploy")
def deploy(
    ws: Workspace,
    fmt: str,
    style: Callable[..., str],
    holder: dict[str, Any],
    plan_file: str | None,
    rollback: bool,
    strategy: str | None,
    timeout: str | None,
    confirm: bool,
    dry_run: bool,
    parallelism: int,
    junit: str | None,
) -> int:
    """The deploy stage alone: apply PLAN_FILE (from `plan --out`) and run the canary.

    With --rollback: send the traffic of an interrupted canary (killed hard) back to stable.
    """
    if rollback:
        from deployforge.usecases import deploy as use_cases

        result = use_cases.rollback(ws)
        holder["result"] = result
        _write_junit(result, junit, style)
        if fmt == "json":
            emit_json(result.to_json())
        else:
            for message in result.messages:
                click.echo(message)
        return result.exit_code
    return _execute(
        ws,
        fmt=fmt,
        style=style,
        holder=holder,
        command="deploy",
        plan_file=plan_file,
        strategy=strategy,
        timeout=timeout,
        confirm=confirm,
        dry_run=dry_run,
        junit=junit,
    )
