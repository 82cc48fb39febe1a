"""Where a project's audit log lives: local (default), S3 with Object Lock, or GCS with retention.

``open_log(ws)`` reads the config's ``audit:`` section and returns a log with
the same interface as the local ``AuditLog`` (``append``, ``check_writable``,
``verify``, ``records``, ``describe``). Every log gets the secrets layer's
masking hook as its ``redact`` function (``secret_redactor``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from deployforge.errors import DeployForgeError, StateError


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


@dataclass(frozen=True)
class StorageSettings:
    """The ``audit:`` section's storage keys (docs/audit.md)."""

    storage: str = "local"  # local | s3 | gcs
    url: str | None = None  # s3://bucket/prefix or gs://bucket/prefix
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    retention_days: int | None = None  # S3 Object Lock retention of every record
    lock_mode: str = "governance"  # governance | compliance
    require_retention: bool = True  # GCS: refuse a bucket without a retention policy


_KEYS = ("storage", "url", "region", "endpoint_url", "profile", "retention_days", "lock_mode", "require_retention")


def storage_settings(ws: Any) -> StorageSettings:
    """Read the storage keys of the config's ``audit:`` section, with ``$VAR`` references resolved.

    The loaded ``Config`` keeps only ``audit.enabled`` and ``audit.path``, so
    this reads the section itself from the (already schema-checked) file.
    """
    try:
        config = ws.config
    except DeployForgeError:
        return StorageSettings()
    from deployforge.config.load import read_config_text
    from deployforge.config.refs import RefProblem, interpolate
    from deployforge.config.yamlpos import load_yaml

    try:
        document, _ = load_yaml(read_config_text(config.path), config.path)
    except DeployForgeError:
        return StorageSettings()
    section = document.get("audit") if isinstance(document, dict) else None
    if not isinstance(section, dict):
        return StorageSettings()
    values: dict[str, Any] = {}
    for key in _KEYS:
        if key not in section:
            continue
        value = section[key]
        if isinstance(value, str):
            try:
                value = interpolate(value, ws.options.environ, config.variables)
            except RefProblem as exc:
                raise StateError(f"audit.{key}: {exc.message}", hint=exc.hint) from None
        values[key] = value
    settings = StorageSettings(**values)
    if settings.storage in ("s3", "gcs") and not settings.url:
        scheme = "s3" if settings.storage == "s3" else "gs"
        raise StateError(
            f"audit storage {settings.storage} needs url: {scheme}://BUCKET/PREFIX",
            hint="add it under audit: in the config (docs/audit.md)",
        )
    return settings


def open_log(ws: Any) -> Any:
    """The audit log the workspace's config selects."""
    from deployforge.app import audit_path

    settings = storage_settings(ws)
    redact = secret_redactor()
    if settings.storage == "s3":
        from deployforge.audit.objectlog import ObjectLog
        from deployforge.audit.stores import S3Store

        endpoint = settings.endpoint_url or getattr(ws, "sandbox_endpoint", None)
        store: Any = S3Store(
            settings.url or "",
            region=settings.region,
            endpoint_url=endpoint,
            profile=settings.profile,
            retention_days=settings.retention_days,
            lock_mode=settings.lock_mode,
        )
        return ObjectLog(store, redact)
    if settings.storage == "gcs":
        from deployforge.audit.objectlog import ObjectLog
        from deployforge.audit.stores import GCSStore

        store = GCSStore(
            settings.url or "", endpoint_url=settings.endpoint_url, require_retention=settings.require_retention
        )
        return ObjectLog(store, redact)
    from deployforge.audit.log import AuditLog

    return AuditLog(audit_path(ws), redact=redact)
