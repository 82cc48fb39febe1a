"""Who ran a command and where: CI context, run ids, resource figures for audit records.

``ci_context`` reads a mapping (pass ``os.environ``, or a dict in tests) and
returns only the values that are present::

    system       "github-actions" | "jenkins" | "ci" (another CI: $CI set) | "local"
    actor        the GitHub actor, Jenkins BUILD_USER_ID, or the login user
    run_id       GITHUB_RUN_ID / Jenkins BUILD_TAG
    run_url      link to the CI run
    repository   "owner/name" on GitHub, the git remote URL on Jenkins
    commit       GITHUB_SHA / GIT_COMMIT
    ref, branch  the git ref / branch
    pr           pull request (change) number, an int when numeric
    pr_url       Jenkins CHANGE_URL, or built from the GitHub server and repository
    workflow, job, event, attempt   GitHub Actions details
    host         runner / node / machine name
"""

from __future__ import annotations

import os
import re
import resource
import secrets
import socket
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

_PR_REF = re.compile(r"^refs/pull/(\d+)/(?:merge|head)$")


def _number(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def _login_user(environ: Mapping[str, str]) -> str | None:
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if environ.get(name):
            return environ[name]
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, OSError):
        return None


def _hostname() -> str | None:
    try:
        return socket.gethostname() or None
    except OSError:
        return None


def _github(env: Mapping[str, str]) -> dict[str, Any]:
    server = (env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
    repository = env.get("GITHUB_REPOSITORY")
    run_id = env.get("GITHUB_RUN_ID")
    attempt = env.get("GITHUB_RUN_ATTEMPT")
    ref = env.get("GITHUB_REF")
    out: dict[str, Any] = {
        "system": "github-actions",
        "actor": env.get("GITHUB_ACTOR"),
        "repository": repository,
        "run_id": run_id,
        "commit": env.get("GITHUB_SHA"),
        "ref": ref,
        "branch": env.get("GITHUB_HEAD_REF") or env.get("GITHUB_REF_NAME"),
        "workflow": env.get("GITHUB_WORKFLOW"),
        "job": env.get("GITHUB_JOB"),
        "event": env.get("GITHUB_EVENT_NAME"),
        "host": env.get("RUNNER_NAME"),
    }
    if repository and run_id:
        out["run_url"] = f"{server}/{repository}/actions/runs/{run_id}"
        if attempt and attempt != "1":
            out["run_url"] += f"/attempts/{attempt}"
    if attempt and attempt.isdigit():
        out["attempt"] = int(attempt)
    match = _PR_REF.match(ref or "")
    if match:
        out["pr"] = int(match.group(1))
        if repository:
            out["pr_url"] = f"{server}/{repository}/pull/{match.group(1)}"
        out["branch"] = env.get("GITHUB_HEAD_REF") or None
    return out


def _jenkins(env: Mapping[str, str]) -> dict[str, Any]:
    change = env.get("CHANGE_ID")
    return {
        "system": "jenkins",
        "actor": env.get("BUILD_USER_ID") or env.get("CHANGE_AUTHOR"),
        "run_id": env.get("BUILD_TAG"),
        "run_url": env.get("BUILD_URL"),
        "repository": _without_credentials(env.get("GIT_URL")),
        "commit": env.get("GIT_COMMIT"),
        "branch": env.get("CHANGE_BRANCH") or env.get("BRANCH_NAME") or env.get("GIT_BRANCH"),
        "pr": _number(change) if change else None,
        "pr_url": env.get("CHANGE_URL"),
        "job": env.get("JOB_NAME"),
        "host": env.get("NODE_NAME"),
    }


def ci_context(environ: Mapping[str, str]) -> dict[str, Any]:
    """Detect the CI system from ``environ`` and describe the run; absent values are omitted.

    Pure apart from the fallbacks for a local run (login user, host name).
    GitHub Actions wins over Jenkins when both are set (a Jenkins agent
    running the Action's image).
    """
    if environ.get("GITHUB_ACTIONS") == "true":
        out = _github(environ)
    elif environ.get("JENKINS_URL"):
        out = _jenkins(environ)
    else:
        ci = environ.get("CI", "").lower()
        out = {"system": "ci" if ci and ci not in ("0", "false", "no") else "local"}
    if not out.get("actor"):
        out["actor"] = _login_user(environ)
    if not out.get("host"):
        out["host"] = _hostname()
    return {key: value for key, value in out.items() if value not in (None, "")}


def new_run_id(now: datetime | None = None) -> str:
    """A run id that sorts by start time: ``20261126T031500Z-1a2b3c`` (UTC, then 24 random bits)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def peak_memory_mb(include_children: bool = False) -> float:
    """Peak resident memory of this process (and, optionally, its waited-for children) in MiB.

    ``ru_maxrss`` is in KiB on Linux and in bytes on macOS.
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if include_children:
        peak = max(peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    divisor = 1024 * 1024 if sys.platform == "darwin" else 1024
    return round(peak / divisor, 1)


def _without_credentials(url: str | None) -> str | None:
    """A repository URL without the user and password Jenkins may embed (https://user:token@host/...)."""
    if not url or "@" not in url:
        return url
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if not parts.netloc or "@" not in parts.netloc:
        return url  # scp-like git@host:org/repo.git: a user name, no secret
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
