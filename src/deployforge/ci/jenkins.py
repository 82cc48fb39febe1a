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

``post_comment`` creates or updates that comment through the Action's own upsert. The report step
that renders a result for Jenkins (``deployforge jenkins report``) is the use case
``deployforge.usecases.jenkins.jenkins_report``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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


# -- Jenkins as a CI platform (ci/platform.py) -----------------------------------------------------


class JenkinsPlatform:
    """Jenkins as a CI platform: detection, the build's audit context and workspace."""

    name = "jenkins"
    workflow_commands = False

    def detect(self, environ: Mapping[str, str]) -> bool:
        return detect(environ) is not None

    def context(self, env: Mapping[str, str]) -> dict[str, Any]:
        change = env.get("CHANGE_ID")
        out = {
            "system": self.name,
            "actor": env.get("BUILD_USER_ID") or env.get("CHANGE_AUTHOR"),
            "run_id": env.get("BUILD_TAG"),
            "run_url": env.get("BUILD_URL"),
            "repository": _without_credentials(env.get("GIT_URL")),
            "commit": env.get("GIT_COMMIT"),
            "branch": env.get("CHANGE_BRANCH") or env.get("BRANCH_NAME") or env.get("GIT_BRANCH"),
            "pr": (int(change) if change.isascii() and change.isdigit() else change) if change else None,
            "pr_url": env.get("CHANGE_URL"),
            "job": env.get("JOB_NAME"),
            "host": env.get("NODE_NAME"),
        }
        return {key: value for key, value in out.items() if value not in (None, "")}

    def workspace(self, environ: Mapping[str, str]) -> str | None:
        return environ.get("WORKSPACE") or None

    def sink(self, environ: Mapping[str, str]) -> Any:
        from deployforge.ci.local import LocalSink

        return LocalSink(environ)


JENKINS = JenkinsPlatform()


def _without_credentials(url: str | None) -> str | None:
    """A repository URL without the user and password Jenkins may embed (https://user:token@host/...)."""
    if not url or "@" not in url:
        return url
    parts = urlsplit(url)
    if not parts.netloc or "@" not in parts.netloc:
        return url  # scp-like git@host:org/repo.git: a user name, no secret
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


# -- the report step the shared library runs after the CLI ------------------------------------------

WORKFLOW = "jenkins"  # the sticky comment's marker: one comment per (Jenkins, environment)


def post_comment(markdown: str, marker: str, environ: Mapping[str, str], token_env: str) -> str:
    """Create or update the sticky comment (found by ``marker``); returns the line to log. Never raises
    for GitHub trouble."""
    from deployforge.ci.github import StickyComment

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
    outcome = StickyComment(pr.api_url, token, pr.repository).upsert(pr.number, marker, markdown)
    if outcome.status == "degraded":
        return f"warning: PR comment not written: {outcome.warning}"
    return f"PR comment {outcome.status}: {outcome.url} ({outcome.calls} GitHub API calls)"
