"""Secrets: ``vault://path#key`` resolution and the masking registry.

* :mod:`deployforge.secrets.masking`: every resolved value is registered there; every output path
  masks its text through it (``register``, ``mask``, ``values``).
* :class:`SecretResolver`: resolves ``SecretRef`` values (and ``vault://`` strings) through
  :mod:`deployforge.secrets.vault_client` (hvac), with one read per secret path per run.

A reference without ``#key`` yields the secret's only field, or, when it has several, the whole
mapping (a service-account key stored field by field). What gets registered for masking: the
picked value when it is a string (and, when that string is a JSON object, its fields); for a
mapping, every field's value except a Google service-account key's identifiers (``PUBLIC_FIELDS``:
``client_email``, ``project_id``, ``token_uri``...). Every other field of a secret is masked,
whatever its name (``dsn``, ``pwd``...).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from deployforge.errors import ReferenceResolutionError
from deployforge.model.config import SecretRef
from deployforge.secrets import masking

__all__ = ["SecretResolver", "masking", "parse_reference", "register_secret_value"]

# Fields of a Google service-account key that identify rather than authenticate (they show up in
# IAM listings and audit logs): left readable. Every other field of a secret is masked.
PUBLIC_FIELDS = frozenset(
    {
        "type",
        "project_id",
        "client_email",
        "client_id",
        "auth_uri",
        "token_uri",
        "auth_provider_x509_cert_url",
        "client_x509_cert_url",
        "universe_domain",
    }
)


def parse_reference(text: str) -> SecretRef:
    from deployforge.config.refs import RefProblem, parse_secret

    try:
        return parse_secret(text)
    except RefProblem as exc:
        raise ReferenceResolutionError(exc.message, hint=exc.hint) from None


def register_secret_value(value: Any) -> None:
    """Register what a secret resolved to (see the module docstring for which parts)."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(v, Mapping | list):
                register_secret_value(v)
            elif str(k) not in PUBLIC_FIELDS:
                masking.register(str(v) if not isinstance(v, str) else v)
        return
    if isinstance(value, list):
        for item in value:
            register_secret_value(item)
        return
    if isinstance(value, str):
        masking.register(value)
        stripped = value.strip()
        if stripped.startswith("{"):
            try:
                parsed = json.loads(stripped)
            except ValueError:
                return
            if isinstance(parsed, Mapping):
                register_secret_value(parsed)
        return
    if value is not None and not isinstance(value, bool):
        masking.register(str(value))


class SecretResolver:
    """Resolves secret references for one run. Thread-safe; reads each path once."""

    def __init__(self, environ: Mapping[str, str], client: Any = None):
        self.environ = environ
        self._client = client
        self._lock = threading.Lock()
        self._cache: dict[str, Any] = {}
        self.resolved: list[str] = []  # references resolved so far (raw text; never values)

    @property
    def client(self) -> Any:
        if self._client is None:
            from deployforge.secrets.vault_client import VaultClient, VaultSettings

            self._client = VaultClient(VaultSettings.from_environ(self.environ))
        return self._client

    def read(self, path: str, where: str) -> Any:
        with self._lock:
            if path in self._cache:
                return self._cache[path]
        secret = self.client.read(path, where)
        token = getattr(self.client, "login_token", None)
        if token:
            masking.register(token)
        with self._lock:
            self._cache[path] = secret
        return secret

    def resolve(self, ref: SecretRef, where: str | None = None) -> Any:
        """The value ``ref`` names (registered for masking). ``where`` names the place, for errors."""
        what = f"{where}: {ref.raw}" if where else ref.raw
        secret = self.read(ref.path, what)
        data = secret.data
        if ref.key is not None:
            if ref.key not in data:
                keys = ", ".join(sorted(data)) or "none"
                raise ReferenceResolutionError(
                    f"{what}: the secret at '{ref.path}' has no key '{ref.key}'",
                    hint=f"keys of that secret: {keys}",
                )
            value = data[ref.key]
        elif len(data) == 1:
            value = next(iter(data.values()))
        else:
            value = dict(data)
        register_secret_value(value)
        with self._lock:
            self.resolved.append(ref.raw)
        return value

    def resolve_refs(self, value: Any, where: str | None = None) -> Any:
        """``value`` with every ``SecretRef`` (or ``vault://`` string) replaced by the secret."""
        if isinstance(value, SecretRef):
            return self.resolve(value, where)
        if isinstance(value, str):
            if value.startswith("vault://"):
                return self.resolve(parse_reference(value), where)
            return value
        if isinstance(value, Mapping):
            return {k: self.resolve_refs(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.resolve_refs(v, f"{where}[{i}]" if where else f"[{i}]") for i, v in enumerate(value)]
        return value


def has_refs(value: Any) -> bool:
    if isinstance(value, SecretRef):
        return True
    if isinstance(value, str):
        return value.startswith("vault://")
    if isinstance(value, Mapping):
        return any(has_refs(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_refs(v) for v in value)
    return False
