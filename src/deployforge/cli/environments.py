"""`deployforge environments`: the config's environments, or a GitHub Actions matrix of them.

Teams with many environments fan out over the CI's own `strategy.matrix` (the runners are the
distributed engine; the S3/GCS state backend and its locks keep parallel jobs safe)::

    echo "matrix=$(deployforge environments --matrix)" >> "$GITHUB_OUTPUT"
    ...
    strategy:
      matrix: ${{ fromJSON(needs.environments.outputs.matrix) }}
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from deployforge.cli.common import CONTEXT, emit_json, project_options, run_project_command

if TYPE_CHECKING:
    from deployforge.usecases.workspace import Workspace


def environment_matrix(configs: list[Any]) -> dict[str, Any]:
    """``{"include": [{"environment", "config", "require_confirmation"}, ...]}`` (pure)."""
    return {
        "include": [
            {"environment": c.environment, "config": c.path, "require_confirmation": c.require_confirmation}
            for c in configs
        ]
    }


@click.command(context_settings=CONTEXT)
@project_options
@click.option("--matrix", is_flag=True, help="Print a GitHub Actions strategy.matrix as one line of JSON.")
@run_project_command("environments")
def environments(ws: Workspace, fmt: str, style: Callable[..., str], holder: dict[str, Any], matrix: bool) -> int:
    """List the config's environments (every one is loaded and checked)."""
    from deployforge.config.load import load_every_environment

    configs = load_every_environment(ws.options.config, environ=ws.options.environ)
    data = environment_matrix(configs)
    if matrix:
        click.echo(json.dumps(data, separators=(",", ":")))
    elif fmt == "json":
        emit_json(data)
    else:
        for entry in data["include"]:
            note = " (deploys need confirmation)" if entry["require_confirmation"] else ""
            click.echo(f"{entry['environment']}{note}")
    return 0
