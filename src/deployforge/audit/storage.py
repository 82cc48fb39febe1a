"""Where a project's audit log lives: local (default), S3 with Object Lock, or GCS with retention.

``open_log(ws)`` reads the config's ``audit:`` section and returns a log with
the same interface as the local ``AuditLog`` (``append``, ``check_writable``,
``verify``, ``records``, ``describe``). Every log gets the secrets layer's
masking hook as its ``redact`` function (``secret_redactor``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def secret_redactor() -> Callable[[str], str] | None:
    """The secrets layer's masking function (``deployforge.secrets.masking.mask``), if installed.

    ``mask`` reads the process-wide registry at call time, so values
    registered while a command runs (a secret fetched by a hook, say) are
    masked in its records too.
    """
    try:
        from deployforge.secrets import masking
    except ImportError:
        return None
    mask = getattr(masking, "mask", None)
    return mask if callable(mask) else None


def open_log(ws: Any) -> Any:
    """The audit log the workspace's config selects."""
    from deployforge.app import audit_path
    from deployforge.audit.log import AuditLog

    return AuditLog(audit_path(ws), redact=secret_redactor())
