"""`deployforge sandbox`: the embedded AWS emulator."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from deployforge.cli.common import (
    CONTEXT,
    config_option,
    reported_errors,
)
from deployforge.errors import EXIT_FAILURE, EXIT_INPUT, EXIT_OK

# -- sandbox ------------------------------------------------------------------


@click.group(context_settings=CONTEXT)
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
    from deployforge.usecases.workspace import Options, Workspace

    return Workspace(Options(config=config)).root


def _sandbox_call(fn: Callable[[], Any]) -> Any:
    with reported_errors():
        return fn()


@sandbox.command("up", context_settings=CONTEXT)
@config_option
def sandbox_up(config: str) -> None:
    """Start the emulator in the background (or show the running one)."""
    from deployforge.providers import sandbox as sb

    info = _sandbox_call(lambda: sb.up(_sandbox_root(config)))
    for warning in info.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"sandbox running at {info.endpoint} (pid {info.pid})")
    for line in _stand_ins(info):
        click.echo(line)


def _stand_ins(info: Any) -> list[str]:
    lines = []
    if info.google_endpoint:
        lines.append(f"  Google stand-ins (Cloud Storage, Dataflow, Cloud Run) at {info.google_endpoint}")
    if info.vault_addr:
        lines.append(f"  Vault (OpenBao dev server) at {info.vault_addr}: vault:// references get generated values")
    return lines


@sandbox.command("down", context_settings=CONTEXT)
@config_option
def sandbox_down(config: str) -> None:
    """Stop the emulator, saving its state for the next `up`."""
    from deployforge.providers import sandbox as sb

    stopped = _sandbox_call(lambda: sb.down(_sandbox_root(config)))
    click.echo("sandbox stopped; its state is saved" if stopped else "sandbox was not running")


@sandbox.command("status", context_settings=CONTEXT)
@config_option
def sandbox_status(config: str) -> None:
    """Say whether the emulator runs, and where."""
    from deployforge.providers import sandbox as sb

    info = _sandbox_call(lambda: sb.status(_sandbox_root(config)))
    click.echo(f"running at {info.endpoint} (pid {info.pid})" if info else "not running")
    for line in _stand_ins(info) if info else ():
        click.echo(line)
    sys.exit(EXIT_OK if info else EXIT_FAILURE)


@sandbox.command("endpoint", context_settings=CONTEXT)
@config_option
def sandbox_endpoint(config: str) -> None:
    """Print the running emulator's endpoint URL (for --endpoint-url)."""
    from deployforge.providers import sandbox as sb

    info = _sandbox_call(lambda: sb.status(_sandbox_root(config)))
    if not info:
        click.echo("error: the sandbox is not running\n  hint: deployforge sandbox up", err=True)
        sys.exit(EXIT_INPUT)
    click.echo(info.endpoint)
