"""Where a project's audit log lives: local (default), S3 with Object Lock, or GCS with retention.

``open_log(scope)`` reads the config's ``audit:`` section and returns a log with
the same interface as the local ``AuditLog`` (``append``, ``check_writable``,
``verify``, ``records``, ``describe``). Every log gets the secrets layer's
masking hook as its ``redact`` function (``secret_redactor``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from deployforge.audit.settings import AuditScope, signer_factory


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


def audit_path(scope: AuditScope) -> Path:
    """The local audit log's file: ``audit.path`` of the config, else ``.deployforge/audit/audit.jsonl``."""
    custom = scope.settings.path
    return (scope.project_dir / custom) if custom else scope.root / "audit" / "audit.jsonl"


def open_log(scope: AuditScope) -> Any:
    """The audit log the project's config selects."""

    settings = scope.settings
    redact = secret_redactor()
    if settings.storage == "s3":
        from deployforge.audit.objectlog import ObjectLog
        from deployforge.audit.stores import S3Store

        endpoint = settings.endpoint_url or scope.sandbox_endpoint()
        store: Any = S3Store(
            settings.url or "",
            region=settings.region,
            endpoint_url=endpoint,
            profile=settings.profile,
            retention_days=settings.retention_days,
            lock_mode=settings.lock_mode,
        )
        return ObjectLog(store, redact, signer=signer_factory(scope, settings, None))
    if settings.storage == "gcs":
        from deployforge.audit.objectlog import ObjectLog
        from deployforge.audit.stores import GCSStore

        store = GCSStore(
            settings.url or "", endpoint_url=settings.endpoint_url, require_retention=settings.require_retention
        )
        return ObjectLog(store, redact, signer=signer_factory(scope, settings, None))
    from deployforge.audit.log import AuditLog

    path = audit_path(scope)
    return AuditLog(path, redact=redact, signer=signer_factory(scope, settings, path.parent))
