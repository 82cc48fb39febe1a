"""``deployforge workflow run NAME | list | graph NAME --format=mermaid``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from deployforge.cli.common import (
    CONTEXT,
    config_option,
    emit_json,
    progress_header,
    project_options,
    run_project_command,
)

if TYPE_CHECKING:
    from deployforge.usecases.workspace import Workspace


@click.group(context_settings=CONTEXT)
def workflow() -> None:
    """Cross-cloud workflows: named DAGs of steps such as aws.rds.create -> gcp.dataflow.start."""


@workflow.command("run", context_settings=CONTEXT)
@project_options
@click.argument("name")
@click.option(
    "--parallelism",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="How many independent steps run at once.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Run nothing: list the steps, the credentials each step's target needs and whether they work.",
)
@run_project_command("workflow run")
def run_cmd(
    ws: Workspace,
    fmt: str,
    style: Callable[..., str],
    holder: dict[str, Any],
    name: str,
    parallelism: int,
    dry_run: bool,
) -> int:
    """Run workflow NAME: steps in dependency order, independent ones in parallel.

    Exit codes: 0 every step succeeded, 1 a step failed (its dependents are skipped),
    2 bad input found before any step ran (unknown target or action, a cycle, a secret that
    cannot be resolved, credentials that do not work). With --dry-run: 0 when every step's
    parameters and credentials resolve, 2 when one does not; nothing is created.
    """
    from deployforge.usecases import workflow as use_cases
    from deployforge.workflow.model import FAILED, FAILED_ALLOWED, SKIPPED, SUCCEEDED

    if dry_run:
        return _dry_run(ws, fmt, style, name)

    progress_header(ws, f"workflow run {name}", style)
    colours = {SUCCEEDED: "green", FAILED: "red", FAILED_ALLOWED: "yellow", SKIPPED: "bright_black"}

    def on_event(kind: str, step: Any, result: Any) -> None:
        if fmt != "text":
            return
        if kind == "start":
            click.echo(f"  ... {step.id} ({step.target}.{step.action_name})", err=True)
        elif kind == "retry":
            click.echo(style(f"  ... {step.id}: retrying", fg="yellow"), err=True)
        elif result is not None:
            line = f"  {result.status:<9} {step.id} ({step.target}.{step.action_name})"
            if result.status not in (SKIPPED,):
                line += f" in {result.duration_s:.1f}s"
            if result.error:
                line += f": {result.error}"
            if result.skipped_because:
                line += f": needs {', '.join(result.skipped_because)}, which failed"
            click.echo(style(line, fg=colours.get(result.status)), err=True)

    result = use_cases.run(ws, name, parallelism=parallelism, on_event=on_event)
    holder["result"] = result
    wf = result.workflow
    from deployforge.workflow.model import WorkflowResult

    assert isinstance(wf, WorkflowResult)  # the workflow use case's section
    if fmt == "json":
        emit_json(result.to_json())
    else:
        counts = ", ".join(f"{n} {status}" for status, n in wf.counts().items())
        verdict = style(f"workflow {wf.name} {wf.status}", fg="green" if wf.ok else "red", bold=True)
        click.echo(f"{verdict} in {wf.duration_s:.1f}s ({counts})")
        for step in wf.steps:
            if step.outputs:
                shown = ", ".join(f"{k}={v}" for k, v in step.outputs.items() if not isinstance(v, dict | list))
                if shown:
                    click.echo(f"  {step.id}: {shown}")
    return result.exit_code


def _dry_run(ws: Workspace, fmt: str, style: Callable[..., str], name: str) -> int:
    from deployforge.errors import EXIT_INPUT, EXIT_OK
    from deployforge.text import columns
    from deployforge.usecases import workflow as use_cases

    wf, rows, ok = use_cases.dry_run(ws, name)
    if fmt == "json":
        emit_json({"workflow": wf.name, "dry_run": True, "ok": ok, "steps": rows})
        return EXIT_OK if ok else EXIT_INPUT
    click.echo(f"workflow {wf.name}: {len(wf.steps)} steps, nothing will run (--dry-run)")
    table = [
        (
            r["step"],
            r.get("uses", ""),
            ", ".join(r.get("needs") or ()) or "-",
            r.get("credentials", ""),
            r["credentials_check"],
        )
        for r in rows
    ]
    for i, line in enumerate(columns(("STEP", "USES", "NEEDS", "CREDENTIALS", "CHECK"), table)):
        failed = i > 0 and table[i - 1][4] != "ok"
        click.echo(style(line, fg="red") if failed else line)
    for r in rows:
        if r.get("hint"):
            click.echo(f"  hint ({r['target']}): {r['hint']}")
    click.echo(
        style("every step's parameters and credentials resolve", fg="green")
        if ok
        else style("fix the failed checks before running", fg="red")
    )
    return EXIT_OK if ok else EXIT_INPUT


@workflow.command("list", context_settings=CONTEXT)
@project_options
@run_project_command("workflow list")
def list_cmd(ws: Workspace, fmt: str, style: Callable[..., str], holder: dict[str, Any]) -> int:
    """List the workflows of the config and their steps."""
    from deployforge.usecases import workflow as use_cases

    workflows = use_cases.list_workflows(ws)
    if fmt == "json":
        emit_json({"workflows": [w.to_json() for w in workflows]})
    elif not workflows:
        click.echo("No workflows defined (add them under workflows:).")
    else:
        for w in workflows:
            chain = ", ".join(f"{s.id} ({s.target}.{s.action_name})" for s in w.steps)
            click.echo(style(w.name, bold=True) + (f": {w.description}" if w.description else ""))
            click.echo(f"  {len(w.steps)} steps: {chain}")
    return 0


def _graph_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """project_options, with --format choosing the graph's format."""
    for deco in reversed(
        [
            config_option,
            click.option("-e", "--environment", default=None, envvar="DEPLOYFORGE_ENVIRONMENT", metavar="NAME"),
            click.option("--sandbox", is_flag=True, envvar="DEPLOYFORGE_SANDBOX", help="Unused by graph."),
            click.option(
                "--format",
                "fmt",
                type=click.Choice(["mermaid", "text", "json"]),
                default="mermaid",
                show_default=True,
                help="Output format.",
            ),
            click.option("--no-color", is_flag=True, help="No ANSI colours."),
        ]
    ):
        fn = deco(fn)
    return fn


@workflow.command("graph", context_settings=CONTEXT)
@_graph_options
@click.argument("name")
@run_project_command("workflow graph")
def graph_cmd(ws: Workspace, fmt: str, style: Callable[..., str], holder: dict[str, Any], name: str) -> int:
    """Print workflow NAME's DAG (Mermaid flowchart by default). Touches no cloud."""
    from deployforge.usecases import workflow as use_cases
    from deployforge.workflow.graph import to_mermaid, to_text

    wf = use_cases.load_workflow(ws, name)
    if fmt == "json":
        emit_json(wf.to_json())
    elif fmt == "text":
        click.echo(to_text(wf), nl=False)
    else:
        click.echo(to_mermaid(wf), nl=False)
    return 0


__all__ = ["workflow"]
