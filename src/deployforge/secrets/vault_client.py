"""The Vault adapter (hvac): log in, read secrets, renew and revoke leases.

Only this module imports hvac. Every hvac/requests exception is translated here into
``ReferenceResolutionError`` (exit 2: the user must fix an address, a token, a policy, a path) or
``ProviderError`` (a lease operation failed while working), naming the reference.

Authentication, from the environment (the same names the ``vault`` CLI uses where one exists):

* ``VAULT_ADDR`` (required), ``VAULT_NAMESPACE``, ``VAULT_CACERT``, ``VAULT_SKIP_VERIFY``;
* ``VAULT_TOKEN`` (or ``~/.vault-token``): used as is;
* AppRole: ``VAULT_ROLE_ID`` + ``VAULT_SECRET_ID`` (mount ``VAULT_APPROLE_PATH``, default ``approle``);
* JWT / OIDC: ``VAULT_JWT_ROLE`` with the token from ``VAULT_JWT``, the file ``VAULT_JWT_FILE``
  (Jenkins, Kubernetes), or GitHub Actions' OIDC endpoint (``ACTIONS_ID_TOKEN_REQUEST_URL`` +
  ``ACTIONS_ID_TOKEN_REQUEST_TOKEN``, audience ``VAULT_JWT_AUDIENCE``, default ``vault``);
  mount ``VAULT_JWT_PATH`` (default ``jwt``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployforge.errors import DeployForgeError, ProviderError, ReferenceResolutionError
from deployforge.text import clip

TIMEOUT = 10

NO_VAULT_HINT = (
    "set VAULT_ADDR and VAULT_TOKEN (or VAULT_ROLE_ID + VAULT_SECRET_ID for AppRole, "
    "or VAULT_JWT_ROLE for a JWT/OIDC login); see docs/secrets.md"
)


@dataclass(frozen=True)
class VaultSettings:
    addr: str | None
    token: str | None = None
    namespace: str | None = None
    role_id: str | None = None
    secret_id: str | None = None
    approle_path: str = "approle"
    jwt_role: str | None = None
    jwt: str | None = None
    jwt_file: str | None = None
    jwt_path: str = "jwt"
    jwt_audience: str = "vault"
    oidc_request_url: str | None = None
    oidc_request_token: str | None = None
    verify: bool | str = True

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> VaultSettings:
        verify: bool | str = True
        if environ.get("VAULT_SKIP_VERIFY", "").lower() in ("1", "true", "yes"):
            verify = False
        elif environ.get("VAULT_CACERT"):
            verify = environ["VAULT_CACERT"]
        token = environ.get("VAULT_TOKEN") or None
        return cls(
            addr=(environ.get("VAULT_ADDR") or "").rstrip("/") or None,
            token=token,
            namespace=environ.get("VAULT_NAMESPACE") or None,
            role_id=environ.get("VAULT_ROLE_ID") or None,
            secret_id=environ.get("VAULT_SECRET_ID") or None,
            approle_path=environ.get("VAULT_APPROLE_PATH") or "approle",
            jwt_role=environ.get("VAULT_JWT_ROLE") or None,
            jwt=environ.get("VAULT_JWT") or None,
            jwt_file=environ.get("VAULT_JWT_FILE") or None,
            jwt_path=environ.get("VAULT_JWT_PATH") or "jwt",
            jwt_audience=environ.get("VAULT_JWT_AUDIENCE") or "vault",
            oidc_request_url=environ.get("ACTIONS_ID_TOKEN_REQUEST_URL") or None,
            oidc_request_token=environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN") or None,
            verify=verify,
        )

    @property
    def method(self) -> str:
        if self.role_id:
            return "approle"
        if self.jwt_role:
            return "jwt"
        return "token"


@dataclass(frozen=True)
class VaultSecret:
    """One read: the secret's fields and, for dynamic secrets, its lease."""

    path: str
    data: Mapping[str, Any]
    lease_id: str | None = None
    lease_duration: int = 0
    renewable: bool = False
    version: int | None = None
    warnings: tuple[str, ...] = field(default=())


class VaultClient:
    """A logged-in hvac client (made on first use, shared by threads)."""

    def __init__(self, settings: VaultSettings):
        self.settings = settings
        self._client: Any = None
        self._lock = threading.Lock()
        self._mounts: dict[str, tuple[str, str, str]] = {}
        self.login_token: str | None = None  # what a login produced (registered for masking)

    # -- connection ----------------------------------------------------------------------------

    @contextmanager
    def boundary(self, what: str, *, working: bool = False) -> Iterator[None]:
        """Translate hvac/requests exceptions; ``what`` names the reference or operation."""
        import hvac.exceptions as hx
        import requests

        addr = self.settings.addr
        fail = ProviderError if working else ReferenceResolutionError
        try:
            yield
        except DeployForgeError:
            raise
        except requests.exceptions.SSLError as exc:
            raise ReferenceResolutionError(
                f"{what}: TLS to Vault at {addr} failed: {exc.__class__.__name__}",
                hint="set VAULT_CACERT to the CA bundle that signed Vault's certificate",
            ) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout):
            raise ReferenceResolutionError(
                f"{what}: cannot reach Vault at {addr}",
                hint="check VAULT_ADDR and that Vault is running and reachable from here",
            ) from None
        except hx.Forbidden as exc:
            raise fail(
                f"{what}: Vault refused the request (permission denied): the token is invalid or expired, "
                "or its policy does not allow this path",
                hint=f"log in again or grant the policy; Vault said: {_first_error(exc)}",
            ) from None
        except hx.Unauthorized as exc:
            raise fail(
                f"{what}: Vault rejected the credentials (expired or invalid)",
                hint=f"renew VAULT_TOKEN / the AppRole secret id / the JWT; Vault said: {_first_error(exc)}",
            ) from None
        except hx.VaultDown:
            raise fail(f"{what}: Vault at {addr} is sealed or in standby", hint="unseal Vault, then retry") from None
        except hx.VaultError as exc:
            raise fail(f"{what}: Vault error: {_first_error(exc)}") from None
        except requests.exceptions.RequestException as exc:
            raise fail(f"{what}: request to Vault failed: {exc.__class__.__name__}") from None

    def client(self, what: str) -> Any:
        if self._client is not None:
            return self._client
        with self._lock:
            if self._client is None:
                self._client = self._login(what)
        return self._client

    def _login(self, what: str) -> Any:
        import hvac

        s = self.settings
        if not s.addr:
            raise ReferenceResolutionError(f"{what} needs Vault, and no Vault is configured", hint=NO_VAULT_HINT)
        token = s.token
        if token is None and s.method == "token":
            token_file = Path.home() / ".vault-token"
            if token_file.is_file():
                token = token_file.read_text(encoding="utf-8").strip() or None
        client = hvac.Client(url=s.addr, token=token, namespace=s.namespace, verify=s.verify, timeout=TIMEOUT)
        with self.boundary(f"{what}: Vault login ({s.method})"):
            if s.method == "approle":
                result = client.auth.approle.login(
                    role_id=s.role_id, secret_id=s.secret_id, mount_point=s.approle_path, use_token=True
                )
                self.login_token = result["auth"]["client_token"]
            elif s.method == "jwt":
                result = client.auth.jwt.jwt_login(role=s.jwt_role, jwt=self._jwt(what), path=s.jwt_path)
                self.login_token = result["auth"]["client_token"]
                client.token = self.login_token
            elif not token:
                raise ReferenceResolutionError(f"{what} needs Vault, and no Vault token is set", hint=NO_VAULT_HINT)
        return client

    def _jwt(self, what: str) -> str:
        s = self.settings
        if s.jwt:
            return s.jwt
        if s.jwt_file:
            try:
                return Path(s.jwt_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ReferenceResolutionError(
                    f"{what}: cannot read the JWT file {s.jwt_file}: {exc.strerror}",
                    hint="set VAULT_JWT_FILE to the CI's identity token file",
                ) from None
        if s.oidc_request_url and s.oidc_request_token:
            import requests

            with self.boundary(f"{what}: fetching the GitHub OIDC token"):
                response = requests.get(
                    s.oidc_request_url,
                    params={"audience": s.jwt_audience},
                    headers={"Authorization": f"bearer {s.oidc_request_token}"},
                    timeout=TIMEOUT,
                )
                response.raise_for_status()
                return str(response.json()["value"])
        raise ReferenceResolutionError(
            f"{what}: VAULT_JWT_ROLE is set but there is no JWT to log in with",
            hint="set VAULT_JWT or VAULT_JWT_FILE, or give the GitHub job `permissions: id-token: write`",
        )

    # -- reading -------------------------------------------------------------------------------

    def _mount(self, client: Any, path: str) -> tuple[str, str, str]:
        """(mount path with trailing slash, engine type, kv version) of ``path``."""
        first = path.split("/", 1)[0] + "/"
        if first in self._mounts:
            return self._mounts[first]
        import hvac.exceptions as hx

        try:
            info = client.adapter.get(f"/v1/sys/internal/ui/mounts/{path}")["data"]
            mount = (
                str(info.get("path") or first),
                str(info.get("type") or ""),
                str((info.get("options") or {}).get("version") or "1"),
            )
        except (hx.Forbidden, hx.InvalidPath, hx.InvalidRequest):
            mount = (first, "unknown", "")
        self._mounts[first] = mount
        return mount

    def read(self, path: str, what: str) -> VaultSecret:
        """Read the secret at ``path`` (KV v1/v2 or any engine). Raises ReferenceResolutionError when absent."""
        import hvac.exceptions as hx

        client = self.client(what)
        with self.boundary(what):
            mount, kind, version = self._mount(client, path)
            rest = path[len(mount) :] if path.startswith(mount) else path.split("/", 1)[-1]
            if kind == "kv" and version == "2":
                try:
                    response = client.secrets.kv.v2.read_secret_version(
                        path=rest, mount_point=mount.rstrip("/"), raise_on_deleted_version=True
                    )
                except hx.InvalidPath:
                    response = None
                if not response:
                    raise ReferenceResolutionError(
                        f"{what}: no secret at '{path}' (KV v2 mount '{mount}')",
                        hint=f"write it with: bao kv put -mount={mount.rstrip('/')} {rest} KEY=VALUE",
                    )
                body = response["data"]
                return VaultSecret(
                    path, dict(body.get("data") or {}), version=(body.get("metadata") or {}).get("version")
                )
            try:
                response = client.read(path)
            except hx.InvalidPath:
                response = None
            if not response or response.get("data") is None:
                raise ReferenceResolutionError(
                    f"{what}: no secret at '{path}'",
                    hint="check the path (the first segment is the secrets engine's mount)",
                )
            return VaultSecret(
                path,
                dict(response["data"]),
                lease_id=response.get("lease_id") or None,
                lease_duration=int(response.get("lease_duration") or 0),
                renewable=bool(response.get("renewable")),
                warnings=tuple(response.get("warnings") or ()),
            )

    def renew(self, lease_id: str, increment: int | None) -> int:
        client = self.client(f"lease {lease_id}")
        with self.boundary(f"renewing lease {lease_id}", working=True):
            response = client.sys.renew_lease(lease_id=lease_id, increment=increment)
        return int(response.get("lease_duration") or 0)

    def revoke(self, lease_id: str) -> None:
        client = self.client(f"lease {lease_id}")
        with self.boundary(f"revoking lease {lease_id}", working=True):
            client.sys.revoke_lease(lease_id=lease_id)


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if errors:
        return clip("; ".join(str(e).strip() for e in errors))
    return clip(str(exc).split(", on ", 1)[0])
