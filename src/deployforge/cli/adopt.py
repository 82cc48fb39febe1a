"""``deployforge adopt ADDRESS ID`` (also ``deployforge drift adopt``): take an existing object under
management. Exit codes: 0 adopted (or already managed), 1 refused or failed."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from deployforge.cli.common import (
    CONTEXT,
    emit_json,
    errors_exit_1,
    progress_header,
    project_options,
    run_project_command,
)

if TYPE_CHECKING:
    from deployforge.usecases.workspace import Workspace

HELP = """Take an object that already exists (created by hand, by another tool, or by an interrupted
apply) under management: read it back, record it in state and the baseline. Nothing in the cloud
changes; the next plan shows what the config would still change on it.

\b
ADDRESS: the resource in the config, NAME or TYPE.NAME (aws_s3_bucket.artifacts)
ID:      the object's id (a bucket's name, sg-..., lt-...); `drift list --unmanaged` lists them

\b
  deployforge adopt aws_s3_bucket.artifacts quickstart-web-prod-artifacts -e prod
"""


def _make(name: str) -> click.Command:
    @click.command(name, context_settings=CONTEXT, help=HELP)
    @project_options
    @click.argument("address")
    @click.argument("resource_id", metavar="ID")
    @run_project_command(name)
    def command(
        ws: Workspace, fmt: str, style: Callable[..., str], holder: dict[str, Any], address: str, resource_id: str
    ) -> int:
        from deployforge.usecases.adopt import adopt
        from deployforge.usecases.workspace import command_line

        with errors_exit_1():
            progress_header(ws, name, style)
            result = adopt(ws, address, resource_id, command=name)
            holder["result"] = result
        if fmt == "json":
            emit_json(result.to_json())
            return 0
        from deployforge.usecases.adopt import Adopted

        data = dict(result.extra["adopted"])
        done = Adopted(
            data["address"], data["name"], data["type"], data["target"], data["id"], data["baseline_id"],
            data["state_serial"], data["already_managed"],
        )  # fmt: skip
        click.echo(done.render(ws.config.environment, command_line(ws, "plan")))
        return 0

    return command


adopt = _make("adopt")
drift_adopt = _make("drift adopt")
