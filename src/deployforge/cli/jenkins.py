"""``deployforge jenkins report``: what the Jenkins shared library runs after each CLI command.

A thin front door over the use case ``deployforge.usecases.jenkins.jenkins_report``: it reads the
command's JSON result document, renders the same Markdown as the GitHub Action's PR comment,
writes ``<command>-report.md`` and the HTML page for ``publishHTML`` into ``--out-dir``, prints the
Markdown to the build log and, with ``--comment``, creates or updates the sticky PR comment. The
GitHub token is read from the environment variable named by ``--token-env``; it is never an
argument and never printed. Needs no config file and writes no audit record (the command it
reports on already did).
"""

from __future__ import annotations

import click

from deployforge.cli.common import CONTEXT, reported_errors


@click.group(context_settings=CONTEXT)
def jenkins() -> None:
    """Jenkins helpers used by the shared library (jenkins-shared-library/)."""


@jenkins.command("report", context_settings=CONTEXT)
@click.option(
    "--command", "command_name", required=True, metavar="NAME", help="The command reported on (plan, run...)."
)
@click.option("--result", required=True, metavar="FILE", help="Its --format json output (missing: said so).")
@click.option("--exit-code", type=int, required=True, help="Its exit status.")
@click.option("--out-dir", required=True, metavar="DIR", help="Where <command>-report.md and the HTML go.")
@click.option("--html", metavar="NAME", help="File name of the HTML report in --out-dir [<command>-report.html].")
@click.option("--comment", is_flag=True, help="Create or update the sticky comment on the GitHub pull request.")
@click.option(
    "--token-env",
    default="GITHUB_TOKEN",
    show_default=True,
    metavar="VAR",
    help="The environment variable holding the GitHub token (bound by withCredentials).",
)
def report(
    command_name: str,
    result: str,
    exit_code: int,
    out_dir: str,
    html: str | None,
    comment: bool,
    token_env: str,
) -> None:
    """Render a command's result for Jenkins: Markdown + HTML report, and the PR comment with --comment.

    \b
      deployforge plan --out plan.json --format json > reports/plan-result.json; status=$?
      deployforge jenkins report --command plan --result reports/plan-result.json \\
          --exit-code "$status" --out-dir reports --comment

    Exit codes: 0 rendered (GitHub trouble is a warning in the log), 1 the report could not be written.
    """
    import os

    from deployforge.usecases.jenkins import jenkins_report

    with reported_errors():
        jenkins_report(
            command=command_name,
            result_path=result,
            exit_code=exit_code,
            out_dir=out_dir,
            environ=os.environ,
            html=html,
            comment=comment,
            token_env=token_env,
            echo=click.echo,
        )
