"""One GitHub REST adapter for everything DeployForge writes to GitHub (the sticky PR comment, the
drift issue): PyGithub with its own retry turned off, and one bounded retry policy.

The policy: a rate limit (403/429 with ``Retry-After``, or ``X-RateLimit-Remaining: 0`` with
``X-RateLimit-Reset``, or GitHub's secondary-limit message) is waited out when GitHub asks for at
most ``max_wait`` seconds, up to ``max_attempts`` attempts; 5xx answers and connection errors are
retried with exponential backoff. Everything else, and a limit that outlasts the bound, raises the
subclass's ``unavailable`` exception with a message saying why, which callers turn into a warning:
GitHub trouble never fails a pipeline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class GitHubUnavailable(Exception):
    """GitHub could not be used; the message says why (becomes a warning)."""


class ServerTrouble(GitHubUnavailable):
    """A write that is not safe to repeat blindly met a 5xx or a broken connection: it may have landed."""


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def rate_limit_wait(status: int, headers: Mapping[str, Any] | None, message: str, now: float) -> float | None:
    """Seconds GitHub asks us to wait when a response is a rate limit; None when it is not one."""
    if status not in (403, 429):
        return None
    retry_after = _header(headers, "retry-after")
    if retry_after is not None:
        try:
            return max(float(retry_after), 0.0)
        except ValueError:
            return 60.0
    reset = _header(headers, "x-ratelimit-reset")
    if _header(headers, "x-ratelimit-remaining") == "0" and reset is not None:
        try:
            return max(float(reset) - now, 0.0) + 1.0
        except ValueError:
            return 60.0
    if status == 429 or "rate limit" in message.lower():
        return 60.0  # GitHub's documented fallback for a secondary limit without headers
    return None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class GitHubRepoClient:
    """A repository on a GitHub (or GitHub Enterprise) API, with the bounded retry policy above.

    Subclasses set ``unavailable`` (the exception they raise) and ``forbidden_hint`` (what a 403
    means for them), and call ``self._call(what, fn)`` around every PyGithub call.
    """

    unavailable: type[Exception] = GitHubUnavailable
    forbidden_hint = "the token lacks a permission"
    user_agent = "deployforge"

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

        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self.sleep = sleep
        self.per_page = per_page
        self.calls = 0
        self.retries = 0
        self._gh = Github(
            auth=Auth.Token(token),
            base_url=api_url.rstrip("/"),
            retry=None,  # our own bounded retry (_call)
            lazy=True,  # no GET of the repository: it is addressed directly
            per_page=per_page,
            timeout=timeout,
            user_agent=self.user_agent,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )
        self._repo = self._gh.get_repo(repository)

    def _backoff(self, attempt: int) -> bool:
        if attempt >= self.max_attempts:
            return False
        self.retries += 1
        self.sleep(min(2.0 ** (attempt - 1), self.max_wait))
        return True

    def _call(self, what: str, fn: Callable[[], T], *, idempotent: bool = True) -> T:
        """``fn()`` with the retry policy. ``idempotent=False`` (a POST that creates something): a 5xx
        or a broken connection is not retried here, it raises ``ServerTrouble``: the write may have
        landed, and the caller looks before it tries again."""
        from github import GithubException

        error = self.unavailable
        attempt = 0
        while True:
            attempt += 1
            self.calls += 1
            try:
                return fn()
            except GithubException as exc:
                data = exc.data if isinstance(exc.data, dict) else {}
                message = str(data.get("message") or "")
                wait = rate_limit_wait(exc.status, exc.headers, message, time.time())
                if wait is not None:
                    if attempt < self.max_attempts and wait <= self.max_wait:
                        self.retries += 1
                        self.sleep(wait)
                        continue
                    raise error(
                        f"GitHub's rate limit was still hit after {_plural(attempt, 'attempt')} to {what} "
                        f"(GitHub asked to wait {wait:.0f}s)"
                    ) from None
                if exc.status >= 500 and not idempotent:
                    raise ServerTrouble(f"could not {what}: HTTP {exc.status} {message}".rstrip()) from None
                if exc.status >= 500 and self._backoff(attempt):
                    continue
                if exc.status == 403:
                    raise error(
                        f"the token may not {what} (403: {message or 'forbidden'}); {self.forbidden_hint}"
                    ) from None
                if exc.status == 401:
                    raise error(f"GitHub refused the token (401: {message or 'bad credentials'})") from None
                if exc.status == 404:
                    raise error(f"could not {what}: 404 (no such repository, or the token cannot see it)") from None
                raise error(f"could not {what}: HTTP {exc.status} {message}".rstrip()) from None
            except OSError as exc:  # connection refused, DNS, timeouts (requests' errors are OSErrors)
                if not idempotent:
                    raise ServerTrouble(f"could not reach the GitHub API to {what}: {exc}") from None
                if self._backoff(attempt):
                    continue
                raise error(f"could not reach the GitHub API to {what}: {exc}") from None
