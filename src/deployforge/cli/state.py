"""`deployforge state`: inspect state and locks; force-release a stale lock."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from deployforge.cli.common import (
    CONTEXT,
    emit_json,
    project_options,
    run_project_command,
)

if TYPE_CHECKING:
    from deployforge.usecases.workspace import Workspace

# -- state --------------------------------------------------------------------


@click.group(context_settings=CONTEXT)
def state() -> None:
    """Inspect state and locks; force-release a stale lock."""


@state.command("list", context_settings=CONTEXT)
@project_options
@run_project_command("state list")
def state_list(ws: Workspace, fmt: str, style: Callable[..., str], holder: dict[str, Any]) -> int:
    """List the environment's recorded resources and its lock."""
    doc = ws.read_state()
    lock = ws.backend.read_lock(ws.config.environment)
    if fmt == "json":
        emit_json(
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
    else:
        from deployforge.text import columns

        rows = [(f"{e['type']}.{name}", str(e["id"]), str(e["target"])) for name, e in sorted(doc.resources.items())]
        for line in columns(("ADDRESS", "ID", "TARGET"), rows):
            click.echo(line)
    running = lock.run_id if lock is not None and not lock.is_stale_here() else None
    for pending in doc.pending:
        # the run holding the lock is still working on it: in progress, not interrupted
        word = "in progress" if pending.get("run_id") == running else "interrupted"
        click.echo(
            style(
                f"  {word}: {pending.get('action')} of {pending.get('resource')} by run {pending.get('run_id')}",
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
@click.option(
    "--force",
    is_flag=True,
    help="Release it even though the run holding it is still running on this machine (two runs may then "
    "change the same objects at once).",
)
@run_project_command("state unlock")
def state_unlock(
    ws: Workspace, fmt: str, style: Callable[..., str], holder: dict[str, Any], lock_id: str, force: bool
) -> int:
    """Release the stale lock LOCK_ID (shown by the error that reported it, or `state list`).

    A lock whose run is still running on this machine is refused unless --force. A lock taken on
    another machine cannot be checked: make sure its run has ended.
    """
    released = ws.backend.force_unlock(lock_id, force=force)
    click.echo(f"Released the lock on '{released.environment}' held by {released.describe()}.")
    return 0
