"""Who ran a command and where: CI context, run ids, resource figures for audit records.

``ci_context`` reads a mapping (pass ``os.environ``, or a dict in tests) and
returns only the values that are present::

    system       "github-actions" | "jenkins" | "gitlab-ci" | "ci" (another CI: $CI set) | "local"
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
import resource
import secrets
import socket
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from deployforge.ci.platform import detect


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


def ci_context(environ: Mapping[str, str]) -> dict[str, Any]:
    """Detect the CI system from ``environ`` and describe the run; absent values are omitted.

    The CI system's own reads are its platform's (``ci/platform.py``); this adds only the
    fallbacks for a local run (login user, host name).
    """
    out = detect(environ).context(environ)
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
