"""The public secrets API for Python code around a pipeline (hooks, scripts, plugins).

::

    from deployforge.vault import dynamic_secret

    database_password = dynamic_secret("vault.prod.db_pass", renew_interval=3600)
    connect(password=database_password.value)   # fetched from Vault on first use

``dynamic_secret(name, renew_interval=3600)`` returns a :class:`DynamicSecret` at once, without
talking to Vault. On first use of ``.value`` (or ``.get()``) it reads the secret, registers the
value for masking (so it never shows up in DeployForge's output, logs or reports), and, when the
secret comes with a renewable lease (database, RabbitMQ ... credentials), starts a background
thread that renews the lease every ``renew_interval`` seconds (sooner when the lease would expire
first). The lease is revoked by ``close()``, by leaving a ``with`` block, or when the process
ends (``atexit``): when the run ends, the credentials stop working.

Names: ``vault.prod.db_pass`` is the path ``prod/db_pass`` (the dots after ``vault.`` are path
separators); ``vault://prod/db_pass`` and ``prod/db_pass`` mean the same; ``...#key`` (or
``key=``) picks one field. Without a key, a secret with one field yields that field's value, and a
secret with several yields a dict (e.g. ``{"username": ..., "password": ...}``).

Vault is found through the environment (``VAULT_ADDR`` plus ``VAULT_TOKEN``, AppRole or JWT; see
``docs/secrets.md``). Errors are ``deployforge.errors`` exceptions naming the secret.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from collections.abc import Mapping
from typing import Any

from deployforge.errors import DeployForgeError, UsageError
from deployforge.model.config import SecretRef

__all__ = ["DynamicSecret", "dynamic_secret", "revoke_all"]

_active: weakref.WeakSet[DynamicSecret] = weakref.WeakSet()
_active_lock = threading.Lock()


def secret_ref(name: str, key: str | None = None) -> SecretRef:
    """``vault.prod.db_pass`` / ``vault://prod/db_pass#k`` / ``prod/db_pass`` -> a SecretRef."""
    text = name.strip()
    if text.startswith("vault://"):
        rest = text[len("vault://") :]
    elif text.startswith("vault."):
        path_part, hash_, k = text[len("vault.") :].partition("#")
        rest = path_part.replace(".", "/") + hash_ + k
    else:
        rest = text
    path, _, k = rest.partition("#")
    path = path.strip("/")
    if not path:
        raise UsageError(f"'{name}' names no secret", hint="e.g. dynamic_secret('vault.prod.db_pass')")
    chosen = key if key is not None else (k or None)
    raw = f"vault://{path}" + (f"#{chosen}" if chosen else "")
    return SecretRef(path=path, key=chosen, raw=raw)


class DynamicSecret:
    """A secret read on first use, its lease renewed in the background and revoked at the end."""

    def __init__(
        self,
        name: str,
        *,
        renew_interval: float = 3600,
        key: str | None = None,
        environ: Mapping[str, str] | None = None,
        client: Any = None,
    ):
        import os

        if renew_interval <= 0:
            raise UsageError(f"dynamic_secret('{name}'): renew_interval must be positive, not {renew_interval}")
        self.name = name
        self.ref = secret_ref(name, key)
        self.renew_interval = float(renew_interval)
        self._environ = dict(os.environ if environ is None else environ)
        self._client = client
        self._lock = threading.RLock()
        self._value: Any = None
        self._fetched = False
        self.lease_id: str | None = None
        self.lease_duration = 0
        self.renewable = False
        self.renewals = 0
        self.revoked = False
        self.last_error: DeployForgeError | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        with _active_lock:
            _active.add(self)

    def __repr__(self) -> str:  # never the value
        state = "revoked" if self.revoked else ("fetched" if self._fetched else "not fetched")
        return f"DynamicSecret({self.ref.raw!r}, {state})"

    __str__ = __repr__

    def _vault(self) -> Any:
        if self._client is None:
            from deployforge.secrets.vault_client import VaultClient, VaultSettings

            self._client = VaultClient(VaultSettings.from_environ(self._environ))
        return self._client

    @property
    def value(self) -> Any:
        """The secret (fetched from Vault on first use; again after a lease could not be renewed)."""
        with self._lock:
            if self.revoked:
                raise UsageError(f"{self.ref.raw}: the secret's lease was revoked; make a new dynamic_secret")
            if not self._fetched:
                self._fetch()
            return self._value

    def get(self) -> Any:
        return self.value

    def _fetch(self) -> None:
        from deployforge.secrets import SecretResolver

        resolver = SecretResolver(self._environ, client=self._vault())
        secret = resolver.read(self.ref.path, f"dynamic_secret('{self.name}')")
        self._value = resolver.resolve(self.ref, f"dynamic_secret('{self.name}')")
        self.lease_id = secret.lease_id
        self.lease_duration = secret.lease_duration
        self.renewable = secret.renewable
        self._fetched = True
        if self.lease_id and self.renewable and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._renew_loop, name=f"renew {self.ref.raw}", daemon=True)
            self._thread.start()

    def _next_wait(self) -> float:
        wait = self.renew_interval
        if self.lease_duration:
            wait = min(wait, max(0.2, self.lease_duration * 2 / 3))  # renew before the lease runs out
        return wait

    def _renew_loop(self) -> None:
        while not self._stop.wait(self._next_wait()):
            try:
                self.renew()
            except DeployForgeError as exc:
                with self._lock:
                    self.last_error = exc
                    self._fetched = False  # the next use reads a fresh secret
                    self._thread = None
                return

    def renew(self) -> int:
        """Renew the lease now (the background thread calls this); returns the new lease duration."""
        with self._lock:
            if not self.lease_id:
                raise UsageError(f"{self.ref.raw}: this secret has no lease to renew")
            lease_id, increment = self.lease_id, max(int(self.renew_interval * 2), self.lease_duration or 0)
        duration = self._vault().renew(lease_id, increment)
        with self._lock:
            self.lease_duration = duration or self.lease_duration
            self.renewals += 1
        return self.lease_duration

    def revoke(self) -> None:
        """Stop renewing and revoke the lease (idempotent)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        with self._lock:
            if self.revoked:
                return
            self.revoked = True
            lease_id = self.lease_id if self._fetched else None
            self._value = None
        if lease_id:
            self._vault().revoke(lease_id)

    close = revoke

    def __enter__(self) -> DynamicSecret:
        return self

    def __exit__(self, *exc: object) -> None:
        self.revoke()


def dynamic_secret(
    name: str,
    renew_interval: float = 3600,
    *,
    key: str | None = None,
    environ: Mapping[str, str] | None = None,
    client: Any = None,
) -> DynamicSecret:
    """A secret from Vault, fetched on first use, its lease renewed every ``renew_interval`` s."""
    return DynamicSecret(name, renew_interval=renew_interval, key=key, environ=environ, client=client)


def revoke_all() -> list[str]:
    """Revoke every lease still held (called at exit). Returns the problems, as text (never raises)."""
    problems: list[str] = []
    with _active_lock:
        secrets = list(_active)
    for secret in secrets:
        try:
            secret.revoke()
        except DeployForgeError as exc:
            problems.append(exc.message)
    return problems


atexit.register(revoke_all)
