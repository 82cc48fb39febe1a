"""Use case: render a command's result for a CI system that runs the CLI (Jenkins).

``deployforge jenkins report`` is what the shared library runs after each command: it reads the
command's ``--format json`` document, renders the same Markdown as the GitHub Action's PR comment,
writes ``<command>-report.md`` and an HTML page of it (for ``publishHTML``) into the reports
folder, prints the Markdown to the build log and, when asked, creates or updates the sticky pull
request comment through the Action's own upsert (``ci/jenkins.post_comment``). The token comes
from the environment variable named by ``token_env``; it is never an argument and never printed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from deployforge.ci.jenkins import WORKFLOW, detect, github_pull_request, post_comment
from deployforge.errors import StateError
from deployforge.model.result import RunResult


def render_report(result: RunResult, environ: Mapping[str, str], artifact: str | None = None) -> tuple[str, str]:
    """(Markdown, HTML) of a result: the Action's PR comment, and the same text as an HTML page,
    from the one publish pipeline (``render/publish.py``)."""
    from deployforge.render.markdown import RenderContext
    from deployforge.render.publish import publish

    ctx = detect(environ)
    pr = github_pull_request(ctx, environ) if ctx else None
    pub = publish(
        result,
        RenderContext(
            workflow=WORKFLOW,
            run_url=ctx.build_url if ctx else None,
            commit=ctx.commit if ctx else None,
            summary_url=f"{ctx.build_url.rstrip('/')}/DeployForge/" if ctx and ctx.build_url else None,
            artifact=artifact,
            repository=pr.repository if pr else None,
            server_url=pr.server_url if pr else "https://github.com",
        ),
    )
    return pub.comment, pub.html


def jenkins_report(
    *,
    command: str,
    result_path: str,
    exit_code: int,
    out_dir: str,
    environ: Mapping[str, str],
    html: str | None = None,
    comment: bool = False,
    token_env: str = "GITHUB_TOKEN",
    echo: Callable[[str], None] = print,
) -> Path:
    """Write the reports of one command's result; returns the HTML page's path.

    A missing or unreadable result document is itself reported (the command crashed or was killed);
    GitHub trouble is a warning line. Raises ``StateError`` (exit 1) when the reports cannot be written.
    """
    from deployforge.render.markdown import marker

    try:
        doc = json.loads(Path(result_path).read_text(encoding="utf-8"))
        doc = doc if isinstance(doc, dict) else None
    except (OSError, ValueError):
        doc = None
    out = Path(out_dir)
    page_path = out / (html or f"{command}-report.html")
    result = RunResult.from_document(doc, command, exit_code)
    try:
        markdown, page = render_report(result, environ, artifact=str(page_path))
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{command}-report.md").write_text(markdown, encoding="utf-8")
        page_path.write_text(page, encoding="utf-8")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StateError(
            f"could not write the report: {type(exc).__name__}: {exc}",
            hint=f"check that {out} is a writable folder in the workspace",
        ) from None
    echo(markdown)
    echo(f"Report: {page_path}")
    if comment:
        echo(post_comment(markdown, marker(WORKFLOW, result.environment), environ, token_env))
    return page_path
