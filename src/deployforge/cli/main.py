"""The ``deployforge`` command line: a lazy group over the command modules.

Each command lives in a module of ``deployforge.cli`` and is imported only when
it runs (or when ``--help`` lists it); cloud SDKs are imported by the commands
that need them, never at start-up. ``deployforge.cli.common`` holds the one
error layer.

To add a command: write it in its own module and add one line to ``COMMANDS``.
"""

from __future__ import annotations

import importlib

import click

from deployforge import __version__
from deployforge.cli.common import CONTEXT

# command name -> "module:attribute", in the order --help lists them
COMMANDS: dict[str, str] = {
    "validate": "deployforge.cli.project:validate",
    "plan": "deployforge.cli.project:plan",
    "apply": "deployforge.cli.project:apply",
    "run": "deployforge.cli.deploy:run",
    "deploy": "deployforge.cli.deploy:deploy",
    "drift": "deployforge.cli.drift:drift",
    "adopt": "deployforge.cli.adopt:adopt",
    "state": "deployforge.cli.state:state",
    "audit": "deployforge.cli.audit:audit",
    "sandbox": "deployforge.cli.sandbox:sandbox",
    "policy": "deployforge.cli.policy:policy",
    "workflow": "deployforge.cli.workflow:workflow",
    "environments": "deployforge.cli.environments:environments",
    "jenkins": "deployforge.cli.jenkins:jenkins",
    "schema": "deployforge.cli.project:schema",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            import difflib

            close = difflib.get_close_matches(name, list(COMMANDS), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            ctx.fail(f"No such command '{name}'.{hint} Commands: {', '.join(COMMANDS)}.")
        return super().resolve_command(ctx, args)


# -- the group ----------------------------------------------------------------


@click.group(cls=LazyGroup, context_settings=CONTEXT)
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


def main() -> None:
    cli(prog_name="deployforge")


if __name__ == "__main__":
    main()
