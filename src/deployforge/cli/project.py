"""validate, plan, apply and schema: the core project commands."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from deployforge.cli.common import (
    CONTEXT,
    REPORT_FILE,
    FindingCommand,
    ci_run_url,
    emit_json,
    hook_callbacks,
    progress_header,
    project_options,
    run_project_command,
)
from deployforge.cli.policy import engine_options
from deployforge.errors import UsageError

if TYPE_CHECKING:
    from deployforge.usecases.workspace import Workspace


@click.command(context_settings=CONTEXT)
@project_options
@click.argument("paths", nargs=-1, metavar="[PATHS]...")
@click.option(
    "--policy", "policies", multiple=True, metavar="FILE|DIR", help="Rego policy file or folder (repeatable)."
)
@click.option(
    "--namespace",
    "namespaces",
    multiple=True,
    metavar="GLOB",
    help="Policy packages to run (default: main, deployforge.*).",
)
@click.option("--all-namespaces", is_flag=True, help="Run every policy package.")
@click.option("--data", "data", multiple=True, metavar="FILE|DIR", help="JSON/YAML files merged into Rego's data.")
@click.option("--junit", type=REPORT_FILE, help="Write the policy results as JUnit XML.")
@click.option("--sarif", type=REPORT_FILE, help="Write the policy results as SARIF 2.1.0 (GitHub code scanning).")
@click.option("--fail-on-warn", is_flag=True, help="Policy warnings fail too (exit 1).")
@engine_options
@run_project_command("validate")
def validate(
    ws: Workspace,
    fmt: str,
    style: Callable[..., str],
    holder: dict[str, Any],
    paths: tuple[str, ...] = (),
    policies: tuple[str, ...] = (),
    namespaces: tuple[str, ...] = (),
    all_namespaces: bool = False,
    data: tuple[str, ...] = (),
    junit: str | None = None,
    sarif: str | None = None,
    fail_on_warn: bool = False,
    rego_version: str | None = None,
    policy_timeout: float | None = None,
    policy_memory: int | None = None,
) -> int:
    """Check the config (schema, references, targets, cycles; no cloud), and with --policy or PATHS,
    evaluate Rego policies on Terraform/YAML/JSON files or the config. Exit 1 on policy failures."""
    from deployforge.usecases.validate import validate as validate_config

    ws.deferred_credentials = True  # no cloud call here: an unset $VAR in auth is only a warning
    ws.__dict__.pop("config", None)

    if paths or policies or _config_policies(ws):  # with no --policy, the config's policies: are used
        from deployforge.cli.policy import run_validate_policy

        return run_validate_policy(
            ws,
            fmt,
            style,
            holder,
            paths,
            policies,
            namespaces,
            all_namespaces,
            data,
            junit,
            sarif,
            fail_on_warn,
            engine={"rego_version": rego_version, "timeout_s": policy_timeout, "memory_mb": policy_memory},
        )
    result = validate_config(ws)
    holder["result"] = result
    if fmt == "json":
        emit_json(result.to_json())
    else:
        for message in result.messages:
            click.echo(style(message, fg="yellow"), err=True)
        envs = result.extra["environments"]
        which = f"environment '{envs[0]}'" if len(envs) == 1 else f"environments {', '.join(envs)}"
        click.echo(
            style(f"{result.config_path}: valid", fg="green")
            + f" ({which}; {result.extra['resources']} resources, {len(result.extra['targets'])} targets)"
        )
    return result.exit_code


@click.command(cls=FindingCommand, context_settings=CONTEXT)  # bad input exits 1: 2 means changes
@project_options
@click.option("-o", "--out", type=REPORT_FILE, help="Save the plan as JSON, for `deployforge apply FILE`.")
@click.option(
    "--parallelism",
    type=click.IntRange(1, 64),
    default=10,
    show_default=True,
    help="How many objects to read at once.",
)
@run_project_command("plan", finding_exit=True)
def plan(
    ws: Workspace, fmt: str, style: Callable[..., str], holder: dict[str, Any], out: str | None, parallelism: int
) -> int:
    """Compare the config with live cloud state and show what apply would change.

    Exit codes like `terraform plan -detailed-exitcode`: 0 no changes, 2 changes, 1 error (bad
    input included: 2 always means changes).
    """
    from deployforge.render.console import render_plan
    from deployforge.usecases.plan import plan as plan_use_case
    from deployforge.usecases.workspace import command_line

    progress_header(ws, "plan", style)
    result = plan_use_case(ws, out=out, hook_callbacks=hook_callbacks(style))
    holder["result"] = result
    if fmt == "json":
        emit_json(result.to_json())
    elif result.plan is None:  # a pre_plan hook failed: nothing was planned
        for message in result.messages:
            click.echo(style(message, fg="red"), err=True)
    else:
        click.echo(render_plan(result.plan, style))
        if result.policy is not None:
            from deployforge.cli.policy import echo_policy

            echo_policy(result.policy, style)
        if out and result.extra.get("plan_file"):
            apply_line = command_line(ws, "apply", out, environment=False)
            click.echo(f"\nPlan saved to {out}. Apply exactly this plan with: {apply_line}")
        elif result.plan.has_changes and result.exit_code == 2:
            # the next step, as terraform prints one: both commands paste as they are
            save = command_line(ws, "plan", "--out", "plan.json", environment=False)
            now = command_line(ws, "apply", environment=False)
            click.echo(f"\nNext: {now} (shows this plan and asks), or save it for review: {save}")
    return result.exit_code


@click.command(context_settings=CONTEXT)
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
@click.option(
    "--no-hooks",
    is_flag=True,
    help="Do not run the config's lifecycle hooks (pre_plan, pre_deploy, post_deploy, post_success, on_failure).",
)
@run_project_command("apply")
def apply(
    ws: Workspace,
    fmt: str,
    style: Callable[..., str],
    holder: dict[str, Any],
    plan_file: str | None,
    auto_approve: bool,
    parallelism: int,
    no_hooks: bool,
) -> int:
    """Make the cloud match the config, in dependency order, recording every step in state.

    With PLAN_FILE (from `plan --out`), apply exactly that plan, refusing it if the config,
    the state or the live objects changed since it was made.

    The config's lifecycle hooks run around the changes as in `deploy`: pre_plan (not with a saved
    plan), pre_deploy before the first change, post_deploy and post_success after, on_failure when
    something failed. A failing pre_plan or pre_deploy hook stops the apply before any change.
    --no-hooks skips them (and says so).
    """
    import signal
    import threading

    from deployforge.render.console import render_apply, render_event, render_plan
    from deployforge.usecases.apply import apply as apply_use_case

    progress_header(ws, "apply", style)
    interactive = sys.stdin.isatty()
    if not auto_approve and not plan_file and not interactive:
        raise UsageError(
            "apply needs confirmation, and there is no terminal to ask",
            hint="review `deployforge plan`, then run apply with --auto-approve (or apply a saved plan)",
        )

    # before the first change an interrupt simply stops the command ("Interrupted.", exit 130):
    # there is nothing in flight to finish and record
    changing = threading.Event()

    def confirm(the_plan: Any) -> bool:
        click.echo(render_plan(the_plan, style), err=fmt == "json")  # stdout stays pure JSON
        if auto_approve:
            return True
        return click.confirm("\nApply these changes?", default=False)

    cancel = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if cancel.is_set() or not changing.is_set():
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
        changing.set()
        line = render_event(kind, rp, res, style)
        if line:
            click.echo(line, err=True)

    if no_hooks and ws.config.hooks:
        click.echo(
            style(f"note: --no-hooks: the config's {len(ws.config.hooks)} lifecycle hook(s) will not run", fg="yellow"),
            err=True,
        )
    try:
        result = apply_use_case(
            ws,
            plan_file=plan_file,
            confirm=confirm,
            cancel=cancel,
            on_event=on_event,
            ci_run_url=ci_run_url(),
            hooks=None if no_hooks else hook_callbacks(style),
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    holder["result"] = result
    if fmt == "json":
        emit_json(result.to_json())
    else:
        for message in result.messages:
            click.echo(message)
        if result.apply is not None:
            click.echo("")
            click.echo(render_apply(result.apply, style))
        if result.extra.get("baseline"):
            click.echo(f"Baseline {result.extra['baseline']} saved: drift detection compares live state with it.")
    return result.exit_code


@click.command(context_settings=CONTEXT)
def schema() -> None:
    """Print the config's JSON Schema (for editors: yaml-language-server, VS Code, JetBrains)."""
    from deployforge.config.schema import config_schema

    emit_json(config_schema())


def _config_policies(ws: Workspace) -> bool:
    """The config (of the chosen environment) lists policies: (False when it cannot load: the plain
    validation then reports why)."""
    from deployforge.errors import DeployForgeError

    try:
        return bool(ws.config.policies)
    except DeployForgeError:
        return False
