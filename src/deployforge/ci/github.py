"""GitHub Actions adapter: workflow commands and files (actions-toolkit), the sticky PR comment (PyGithub).

``GitHubSink`` writes what a step leaves behind: outputs (``GITHUB_OUTPUT``, heredoc-delimited so
multi-line values are safe), the job summary (``GITHUB_STEP_SUMMARY``), annotations
(``::error file=...,line=...::``) and ``::add-mask::`` for secrets.

``StickyComment`` finds this run's comment again through its hidden marker and updates it in
place, in as few API calls as possible:

* ``update`` (comment on the first page): list page 1 + PATCH = 2 calls; not found: list + POST.
* ``new``: list + minimize the previous one (GraphQL, classifier OUTDATED) + POST = 3 calls.

Failures never fail the job: a read-only token (fork PRs), a 401/404 or an exhausted rate limit
come back as ``CommentOutcome(status="degraded", warning=...)``; the caller warns and relies on
the job summary. Rate limits are retried a bounded number of times, waiting what GitHub asks
(``Retry-After``, else ``X-RateLimit-Reset``) when that is no longer than ``max_wait``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from deployforge.ci.github_api import GitHubRepoClient, GitHubUnavailable

T = TypeVar("T")


class GitHubSink:
    """The GitHub Actions runner's side of a step.

    Everything written to the log goes through the one output guard
    (``deployforge.ci.workflow_commands``): messages cannot start a workflow command, hook output
    is fenced with ``::stop-commands::`` and prefixed, and the commands DeployForge issues
    (annotations, ``::add-mask::``, groups) are escaped. Outputs go to ``GITHUB_OUTPUT`` through
    actions-toolkit (a random heredoc delimiter per value).
    """

    def __init__(self, log: Any = None) -> None:
        from actions_toolkit import core

        from deployforge.ci.workflow_commands import default_log

        self._core = core
        self.log = log or default_log()

    def info(self, message: str) -> None:
        self.log.info(message)

    def hook_output(self, line: str) -> None:
        self.log.hook_output(line)

    def set_output(self, name: str, value: str) -> None:
        self._core.set_output(name, value)  # GITHUB_OUTPUT with a random heredoc delimiter

    def annotate(
        self,
        level: str,
        message: str,
        *,
        title: str = "",
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        props = {"title": title, "file": file, "line": line, "col": column}
        self.log.command(level if level in ("error", "warning", "notice") else "error", props, message)

    def mask(self, value: str) -> None:
        """``::add-mask::`` the value; a multi-line one line by line, leaving out lines too short or
        without a letter or digit (masking a ``{`` would star every brace in the rest of the log)."""
        from deployforge.ci.workflow_commands import split_lines

        if value:
            for line in split_lines(value) or [value]:
                line = line.strip()
                if len(line) >= 4 and any(ch.isalnum() for ch in line):
                    self.log.command("add-mask", None, line)

    def write_summary(self, markdown: str) -> bool:
        import os

        path = os.environ.get("GITHUB_STEP_SUMMARY")
        if not path:
            return False
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(markdown)
        return True

    def start_group(self, name: str) -> None:
        self.log.command("group", None, name)

    def end_group(self) -> None:
        self.log.command("endgroup")


@dataclass(frozen=True)
class CommentOutcome:
    status: str  # created | updated | degraded
    url: str | None = None
    calls: int = 0
    warning: str | None = None
    retries: int = 0


class CommentUnavailable(GitHubUnavailable):
    """The comment could not be written; the message says why (becomes a warning)."""


class StickyComment(GitHubRepoClient):
    """The one PR comment per (workflow, environment), found again by its hidden marker."""

    unavailable = CommentUnavailable
    forbidden_hint = "pull requests from forks get a read-only token"
    user_agent = "deployforge-action"

    # -- the comment -----------------------------------------------------------------------------

    def _find(self, number: int, marker: str) -> list[Any]:
        """Our comments (oldest first), reading pages until one is short."""
        issue = self._repo.get_issue(number)
        comments = issue.get_comments()
        found: list[Any] = []
        page = 0
        while True:

            def read(p: int = page) -> list[Any]:
                return list(comments.get_page(p))

            batch = self._call("read the pull request's comments", read)
            found += [c for c in batch if (c.body or "").startswith(marker)]
            if len(batch) < self.per_page:
                return found
            page += 1

    def upsert(self, number: int, marker: str, body: str, mode: str = "update") -> CommentOutcome:
        """Create or update this run's comment. Never raises for GitHub trouble: returns 'degraded'."""
        try:
            return self._upsert(number, marker, body, mode)
        except CommentUnavailable as exc:
            return CommentOutcome("degraded", None, self.calls, str(exc), self.retries)

    def _upsert(self, number: int, marker: str, body: str, mode: str) -> CommentOutcome:
        if not body.startswith(marker):
            raise ValueError("the comment body must start with its marker")
        existing = self._find(number, marker)
        if mode == "update" and existing:
            comment = existing[-1]
            if comment.body == body:
                return CommentOutcome("unchanged", comment.html_url, self.calls, None, self.retries)
            self._call("update the comment", lambda: comment.edit(body))
            return CommentOutcome("updated", comment.html_url, self.calls, None, self.retries)
        if mode == "new" and existing:
            previous = existing[-1]
            self._call("hide the previous comment", lambda: previous.minimize("OUTDATED"))
        issue = self._repo.get_issue(number)
        created = self._call("comment on the pull request", lambda: issue.create_comment(body))
        return CommentOutcome("created", created.html_url, self.calls, None, self.retries)
