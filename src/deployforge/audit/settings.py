"""The config's ``audit:`` settings as the audit modules need them: storage, signing keys, AWS reach.

No import of ``deployforge.app`` here, so the signing and witness modules stay out of its cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from deployforge.errors import DeployForgeError, UsageError
from deployforge.model.config import AuditSettings


def storage_settings(ws: Any) -> AuditSettings:
    """The config's ``audit:`` storage settings (the local default when the config cannot load:
    commands such as ``audit verify`` still reach the local log then)."""
    try:
        return ws.config.audit
    except DeployForgeError:
        return AuditSettings()


def aws_settings(settings: AuditSettings, ws: Any) -> dict[str, Any]:
    """Where KMS and the S3 witness are reached: the audit section's region, endpoint and profile."""
    return {
        "region": settings.region,
        "endpoint_url": settings.endpoint_url or getattr(ws, "sandbox_endpoint", None),
        "profile": settings.profile,
    }


def _project_path(ws: Any, path: str) -> str:
    base = getattr(ws, "project_dir", None)
    return str(Path(base) / path) if base is not None and not Path(path).is_absolute() else path


def signer_factory(ws: Any, settings: AuditSettings, log_folder: Path | None) -> Callable[[], Any] | None:
    """A function making the configured signer on the first append (None when signing is off)."""
    signing = settings.signing
    if signing is None or not (signing.key_file or signing.kms_key_id or signing.key):
        return None
    if signing.key_file:
        key_file = Path(_project_path(ws, signing.key_file))
        if log_folder is not None and key_file.resolve().parent == log_folder.resolve():
            raise UsageError(
                f"audit.signing.key_file {signing.key_file} is in the audit log's folder: whoever can write "
                "the log could sign forged records with it",
                hint="keep the signing key outside the log's folder (a CI secret file, a KMS key or vault://)",
            )
        signing = replace(signing, key_file=str(key_file))

    def make() -> Any:
        from deployforge.audit.signing import configured_signer

        return configured_signer(signing, environ=ws.options.environ, aws=aws_settings(settings, ws))

    return make


def verifier_for(ws: Any, public_key: str | None) -> Any:
    """The public key `audit verify` checks with: --public-key, audit.signing.public_key, else the signing key's."""
    from deployforge.audit.signing import configured_verifier

    settings = storage_settings(ws)
    signing = settings.signing
    if signing is not None:
        changes = {
            name: _project_path(ws, value) for name in ("key_file", "public_key") if (value := getattr(signing, name))
        }
        signing = replace(signing, **changes)
    return configured_verifier(
        signing, public_key=public_key, environ=ws.options.environ, aws=aws_settings(settings, ws)
    )
