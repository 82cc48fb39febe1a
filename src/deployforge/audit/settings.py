"""The config's ``audit:`` settings as the audit modules need them: storage, signing keys, AWS reach.

The audit modules take an ``AuditScope``: the plain values they need of a command's project (the use
case ``usecases/audit.audit_scope`` makes it from the command's workspace).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from deployforge.errors import UsageError
from deployforge.model.config import AuditSettings


def _no_sandbox() -> str | None:
    return None


@dataclass(frozen=True)
class AuditScope:
    """What the audit modules need of a command's project.

    ``settings``: the config's ``audit:`` section (the local default when the config cannot load:
    commands such as ``audit verify`` still reach the local log then); ``project_dir``: the folder
    relative paths are resolved against; ``root``: the project's ``.deployforge`` folder;
    ``environ``: the command's environment (signing keys, AWS credentials); ``sandbox_endpoint``: the
    running sandbox's endpoint, asked for only when the audit section names no endpoint of its own
    (asking may start the sandbox).
    """

    settings: AuditSettings
    project_dir: Path
    root: Path
    environ: Mapping[str, str]
    sandbox_endpoint: Callable[[], str | None] = _no_sandbox


def aws_settings(settings: AuditSettings, scope: AuditScope) -> dict[str, Any]:
    """Where KMS and the S3 witness are reached: the audit section's region, endpoint and profile."""
    return {
        "region": settings.region,
        "endpoint_url": settings.endpoint_url or scope.sandbox_endpoint(),
        "profile": settings.profile,
    }


def _project_path(scope: AuditScope, path: str) -> str:
    return str(scope.project_dir / path) if not Path(path).is_absolute() else path


def signer_factory(scope: AuditScope, settings: AuditSettings, log_folder: Path | None) -> Callable[[], Any] | None:
    """A function making the configured signer on the first append (None when signing is off)."""
    signing = settings.signing
    if signing is None or not (signing.key_file or signing.kms_key_id or signing.key):
        return None
    if signing.key_file:
        key_file = Path(_project_path(scope, signing.key_file))
        if log_folder is not None and key_file.resolve().parent == log_folder.resolve():
            raise UsageError(
                f"audit.signing.key_file {signing.key_file} is in the audit log's folder: whoever can write "
                "the log could sign forged records with it",
                hint="keep the signing key outside the log's folder (a CI secret file, a KMS key or vault://)",
            )
        signing = replace(signing, key_file=str(key_file))

    def make() -> Any:
        from deployforge.audit.signing import configured_signer

        return configured_signer(signing, environ=scope.environ, aws=aws_settings(settings, scope))

    return make


def verifier_for(scope: AuditScope, public_key: str | None) -> Any:
    """The public key `audit verify` checks with: --public-key, audit.signing.public_key, else the signing key's."""
    from deployforge.audit.signing import configured_verifier

    settings = scope.settings
    signing = settings.signing
    if signing is not None:
        names = ("key_file", "public_key")
        changes = {name: _project_path(scope, value) for name in names if (value := getattr(signing, name))}
        signing = replace(signing, **changes)
    return configured_verifier(signing, public_key=public_key, environ=scope.environ, aws=aws_settings(settings, scope))
