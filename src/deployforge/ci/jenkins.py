"""Jenkins: detect the build, find the GitHub pull request it builds, and turn a result into reports.

Detection is pure (a mapping in, a frozen dataclass out)::

    JENKINS_URL      the controller; its presence means "this is Jenkins"
    BUILD_URL        the link to this build (the comment's and the report's run link)
    CHANGE_ID        the pull request number (multibranch / GitHub Branch Source); absent on branch builds
    CHANGE_URL       https://github.com/OWNER/REPO/pull/N (or a GitHub Enterprise host)
    CHANGE_TARGET    the branch the pull request targets
    GIT_COMMIT       the commit built
    GITHUB_API_URL   overrides the API URL derived from CHANGE_URL (api.github.com, or HOST/api/v3)

``comment_target`` says where the sticky PR comment goes, or why it does not go anywhere (a branch
build, a change that is not a GitHub pull request, no token).

``deployforge jenkins report ...`` is what the shared library runs after the CLI: it
reads the CLI's JSON result document, renders the same Markdown as the GitHub Action's PR comment,
writes it and an HTML rendering of it (for ``publishHTML``), prints the Markdown to the build log,
and, with ``--comment``, creates or updates the sticky comment through the Action's own upsert.
The token comes from the environment variable named by ``--token-env`` (bound by
``withCredentials``); it is never an argument and never printed.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from deployforge.model.result import RunResult

_PULL = re.compile(r"^/(?P<owner>[^/]+)/(?P<repo>[^/]+)/pull/(?P<number>\d+)/?$")


@dataclass(frozen=True)
class JenkinsContext:
    """A Jenkins build as its environment describes it."""

    jenkins_url: str
    build_url: str | None = None
    change_id: str | None = None
    change_url: str | None = None
    change_target: str | None = None
    commit: str | None = None
    job: str | None = None

    @property
    def is_change(self) -> bool:
        """A change request build (pull request, merge request...), not a branch build."""
        return bool(self.change_id)


@dataclass(frozen=True)
class PullRequest:
    """A GitHub pull request that a Jenkins build is building."""

    repository: str  # owner/name
    number: int
    server_url: str  # https://github.com or https://ghe.example.com
    api_url: str  # https://api.github.com or https://ghe.example.com/api/v3
    target_branch: str | None = None

    @property
    def url(self) -> str:
        return f"{self.server_url}/{self.repository}/pull/{self.number}"


@dataclass(frozen=True)
class CommentTarget:
    """Where the sticky comment goes (``pull_request``), or why it does not (``skipped``)."""

    pull_request: PullRequest | None
    skipped: str | None = None


def detect(environ: Mapping[str, str]) -> JenkinsContext | None:
    """The Jenkins build described by ``environ``, or None when this is not Jenkins."""
    url = (environ.get("JENKINS_URL") or "").strip()
    if not url:
        return None

    def get(name: str) -> str | None:
        value = (environ.get(name) or "").strip()
        return value or None

    return JenkinsContext(
        jenkins_url=url,
        build_url=get("BUILD_URL"),
        change_id=get("CHANGE_ID"),
        change_url=get("CHANGE_URL"),
        change_target=get("CHANGE_TARGET"),
        commit=get("GIT_COMMIT"),
        job=get("JOB_NAME"),
    )


def github_pull_request(ctx: JenkinsContext, environ: Mapping[str, str] | None = None) -> PullRequest | None:
    """The GitHub pull request of a change build, from CHANGE_URL; None for anything else.

    github.com's API is api.github.com; a GitHub Enterprise server's is ``https://HOST/api/v3``.
    ``GITHUB_API_URL`` in ``environ`` overrides the derived API URL.
    """
    if not ctx.change_id or not ctx.change_url:
        return None
    parts = urlsplit(ctx.change_url)
    match = _PULL.match(parts.path)
    if parts.scheme not in ("http", "https") or not parts.netloc or not match:
        return None
    if match.group("number") != ctx.change_id.strip():
        return None  # CHANGE_URL and CHANGE_ID disagree: do not guess which one is right
    server = f"{parts.scheme}://{parts.netloc}"
    if parts.netloc.lower() in ("github.com", "www.github.com"):
        server, api = "https://github.com", "https://api.github.com"
    else:
        api = f"{server}/api/v3"
    override = ((environ or {}).get("GITHUB_API_URL") or "").strip()
    return PullRequest(
        repository=f"{match.group('owner')}/{match.group('repo')}",
        number=int(match.group("number")),
        server_url=server,
        api_url=(override or api).rstrip("/"),
        target_branch=ctx.change_target,
    )


def comment_target(environ: Mapping[str, str]) -> CommentTarget:
    """Where this build's PR comment goes, or the reason it is skipped (said in the log, never an error)."""
    ctx = detect(environ)
    if ctx is None:
        return CommentTarget(None, "not running under Jenkins (JENKINS_URL is not set)")
    if not ctx.is_change:
        return CommentTarget(None, "a branch build, not a pull request (CHANGE_ID is not set)")
    pr = github_pull_request(ctx, environ)
    if pr is None:
        return CommentTarget(
            None,
            f"change {ctx.change_id} is not a GitHub pull request (CHANGE_URL: {ctx.change_url or 'not set'})",
        )
    return CommentTarget(pr)


# -- the report step the shared library runs after the CLI ------------------------------------------

WORKFLOW = "jenkins"  # the sticky comment's marker: one comment per (Jenkins, environment)


@dataclass(frozen=True)
class _Section:
    """A result section read back from the JSON document; renderers only call ``to_json()``."""

    data: Any

    def to_json(self) -> Any:
        return self.data


def result_from_document(doc: Mapping[str, Any] | None, command: str, exit_code: int) -> RunResult:
    """The ``RunResult`` a CLI JSON document describes (a result, or an error payload, or nothing)."""
    from deployforge.errors import ConfigIssue, Location
    from deployforge.model.plan import Plan
    from deployforge.model.result import RunResult

    if not doc:
        return RunResult(
            command,
            None,
            "-",
            exit_code,
            messages=(f"deployforge {command} wrote no result document (exit status {exit_code}); see the build log",),
        )
    issues = tuple(
        ConfigIssue(
            str(i.get("message", "")),
            Location(str(i["file"]), int(i.get("line") or 0), int(i.get("column") or 0)) if i.get("file") else None,
            i.get("hint"),
        )
        for i in doc.get("issues") or ()
    )
    messages = [str(m) for m in doc.get("messages") or ()]
    if doc.get("error") and not issues:
        hint = f" (hint: {doc['hint']})" if doc.get("hint") else ""
        messages.append(f"error: {doc['error']}{hint}")
    sections = {
        name: _Section(doc[name])
        for name in ("policy", "canary", "hooks", "drift", "workflow")
        if doc.get(name) is not None
    }
    return RunResult(
        str(doc.get("command") or command),
        doc.get("environment"),
        str(doc.get("run_id") or "-"),
        int(doc.get("exit_code", exit_code)),
        doc.get("config"),
        doc.get("config_hash"),
        issues=issues,
        plan=Plan.from_json(doc["plan"]) if doc.get("plan") else None,
        apply=_Section(doc["apply"]) if doc.get("apply") else None,  # type: ignore[arg-type]
        messages=tuple(messages),
        trace_id=doc.get("trace_id"),
        policy=sections.get("policy"),
        canary=sections.get("canary"),
        hooks=sections.get("hooks"),
        drift=sections.get("drift"),
        workflow=sections.get("workflow"),
    )


def render_report(result: RunResult, environ: Mapping[str, str], artifact: str | None = None) -> tuple[str, str]:
    """(Markdown, HTML) of a result: the Action's PR comment, and the same text as an HTML page."""
    from deployforge.render.html import render_html
    from deployforge.render.markdown import RenderContext, render_comment

    ctx = detect(environ)
    pr = github_pull_request(ctx, environ) if ctx else None
    render_ctx = RenderContext(
        workflow=WORKFLOW,
        run_url=ctx.build_url if ctx else None,
        commit=ctx.commit if ctx else None,
        summary_url=f"{ctx.build_url.rstrip('/')}/DeployForge/" if ctx and ctx.build_url else None,
        artifact=artifact,
        repository=pr.repository if pr else None,
        server_url=pr.server_url if pr else "https://github.com",
    )
    markdown = render_comment(result, render_ctx)
    env = f" · {result.environment}" if result.environment else ""
    return markdown, render_html(markdown, title=f"DeployForge {result.command}{env}")


def post_comment(result: RunResult, markdown: str, environ: Mapping[str, str], token_env: str) -> str:
    """Create or update the sticky comment; returns the line to log. Never raises for GitHub trouble."""
    from deployforge.ci.github import StickyComment
    from deployforge.render.markdown import marker

    target = comment_target(environ)
    if target.pull_request is None:
        return f"PR comment skipped: {target.skipped}"
    pr = target.pull_request
    token = (environ.get(token_env) or "").strip()
    if not token:
        return (
            f"warning: PR comment skipped: no GitHub token in ${token_env} "
            "(pass githubCredentialsId to the step, a Secret text credential)"
        )
    outcome = StickyComment(pr.api_url, token, pr.repository).upsert(
        pr.number, marker(WORKFLOW, result.environment), markdown
    )
    if outcome.status == "degraded":
        return f"warning: PR comment not written: {outcome.warning}"
    return f"PR comment {outcome.status}: {outcome.url} ({outcome.calls} GitHub API calls)"


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """``deployforge jenkins report ...``: see the module docstring."""
    import argparse
    import json
    import os
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="deployforge jenkins")
    sub = parser.add_subparsers(dest="action", required=True)
    rep = sub.add_parser("report", help="render a CLI result document for Jenkins (Markdown, HTML, PR comment)")
    rep.add_argument("--command", required=True)
    rep.add_argument("--result", required=True, help="the CLI's --format json output")
    rep.add_argument("--exit-code", type=int, required=True)
    rep.add_argument("--out-dir", required=True)
    rep.add_argument("--html", default=None, help="file name of the HTML report inside --out-dir")
    rep.add_argument("--comment", action="store_true", help="create or update the sticky PR comment")
    rep.add_argument("--token-env", default="GITHUB_TOKEN", help="the environment variable holding the token")
    args = parser.parse_args(argv)
    env = os.environ if environ is None else environ

    try:
        doc = json.loads(Path(args.result).read_text(encoding="utf-8"))
        doc = doc if isinstance(doc, dict) else None
    except (OSError, ValueError):
        doc = None
    out = Path(args.out_dir)
    html_name = args.html or f"{args.command}-report.html"
    try:
        result = result_from_document(doc, args.command, args.exit_code)
        markdown, page = render_report(result, env, artifact=str(out / html_name))
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{args.command}-report.md").write_text(markdown, encoding="utf-8")
        (out / html_name).write_text(page, encoding="utf-8")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"deployforge report: could not render the report: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(markdown)
    print(f"Report: {out / html_name}")
    if args.comment:
        print(post_comment(result, markdown, env, args.token_env))
    return 0


if __name__ == "__main__":
    sys.exit(main())
