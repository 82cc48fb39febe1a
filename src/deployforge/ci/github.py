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

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


class GitHubSink:
    """The GitHub Actions runner's side of a step, through actions-toolkit's core."""

    def __init__(self) -> None:
        from actions_toolkit import core

        self._core = core

    def info(self, message: str) -> None:
        self._core.info(message)

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
        from actions_toolkit.command import issue_command

        props = {"title": title, "file": file, "line": line, "col": column}
        issue_command(level, {k: v for k, v in props.items() if v not in (None, "")}, message)

    def mask(self, value: str) -> None:
        if value:
            for line in value.splitlines() or [value]:  # a multi-line secret is masked line by line
                if line.strip():
                    self._core.set_secret(line)

    def write_summary(self, markdown: str) -> bool:
        import os

        path = os.environ.get("GITHUB_STEP_SUMMARY")
        if not path:
            return False
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(markdown)
        return True

    def start_group(self, name: str) -> None:
        self._core.start_group(name)

    def end_group(self) -> None:
        self._core.end_group()


@dataclass(frozen=True)
class CommentOutcome:
    status: str  # created | updated | degraded
    url: str | None = None
    calls: int = 0
    warning: str | None = None
    retries: int = 0


class CommentUnavailable(Exception):
    """The comment could not be written; the message says why (becomes a warning)."""


def _header(headers: dict[str, Any] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return None


class StickyComment:
    def __init__(
        self,
        api_url: str,
        token: str,
        repository: str,
        *,
        max_attempts: int = 3,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        per_page: int = 100,
        timeout: int = 20,
    ):
        from github import Auth, Github

        self.per_page = per_page
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self.sleep = sleep
        self.calls = 0
        self.retries = 0
        self._gh = Github(
            auth=Auth.Token(token),
            base_url=api_url.rstrip("/"),
            retry=None,  # our own bounded retry below
            lazy=True,  # no GET for the repository or the issue: they are addressed directly
            per_page=per_page,
            timeout=timeout,
            user_agent="deployforge-action",
            seconds_between_requests=None,
            seconds_between_writes=None,
        )
        self._repo = self._gh.get_repo(repository)

    # -- bounded retry ---------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        from github import GithubException

        attempt = 0
        while True:
            attempt += 1
            self.calls += 1
            try:
                return fn()
            except GithubException as exc:
                wait = self._rate_limit_wait(exc)
                if wait is not None:
                    if attempt < self.max_attempts and wait <= self.max_wait:
                        self.retries += 1
                        self.sleep(wait)
                        continue
                    raise CommentUnavailable(
                        f"GitHub's rate limit was hit while trying to {what} "
                        f"({attempt} attempt{'s' if attempt > 1 else ''}; GitHub asked to wait {wait:.0f}s)"
                    ) from None
                if exc.status >= 500 and attempt < self.max_attempts:
                    self.retries += 1
                    self.sleep(min(2.0 ** (attempt - 1), self.max_wait))
                    continue
                message = (exc.data or {}).get("message") if isinstance(exc.data, dict) else None
                if exc.status == 403:
                    raise CommentUnavailable(
                        f"the token may not {what} (403: {message or 'forbidden'}); pull requests from forks "
                        "get a read-only token"
                    ) from None
                if exc.status == 401:
                    reason = message or "bad credentials"
                    raise CommentUnavailable(f"GitHub refused the token (401: {reason})") from None
                raise CommentUnavailable(f"could not {what}: HTTP {exc.status} {message or ''}".rstrip()) from None
            except OSError as exc:  # connection refused, DNS, timeouts
                if attempt < self.max_attempts:
                    self.retries += 1
                    self.sleep(min(2.0 ** (attempt - 1), self.max_wait))
                    continue
                raise CommentUnavailable(f"could not reach the GitHub API to {what}: {exc}") from None

    @staticmethod
    def _rate_limit_wait(exc: Any) -> float | None:
        """Seconds GitHub asks us to wait, when ``exc`` is a rate limit; None otherwise."""
        if exc.status not in (403, 429):
            return None
        headers = exc.headers or {}
        retry_after = _header(headers, "retry-after")
        remaining = _header(headers, "x-ratelimit-remaining")
        reset = _header(headers, "x-ratelimit-reset")
        message = str((exc.data or {}).get("message", "")) if isinstance(exc.data, dict) else ""
        if retry_after is not None:
            try:
                return max(float(retry_after), 0.0)
            except ValueError:
                return 60.0
        if remaining == "0" and reset is not None:
            try:
                return max(float(reset) - time.time(), 0.0) + 1.0
            except ValueError:
                return 60.0
        if exc.status == 429 or "rate limit" in message.lower():
            return 60.0  # documented fallback for secondary limits without headers
        return None

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
