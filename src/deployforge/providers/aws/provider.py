"""``AwsProvider``: the provider contract over boto3, for one target (an account and region).

Clients are made lazily, one per service, under a lock (boto3 sessions are not thread-safe; its
clients are, and the apply engine calls the provider from up to 10 threads). Every API call is
counted per service in ``api_calls`` (and per operation in ``api_calls_by_operation``) through
botocore's ``before-call`` event, for the audit log's metrics. Every method translates botocore
exceptions into ``ProviderError`` at this boundary (``deployforge.providers.aws.errors``).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from botocore.config import Config

from deployforge.errors import EXIT_INPUT, EndpointUnreachableError, ProviderError
from deployforge.providers.aws.errors import boundary
from deployforge.providers.aws.resources import HANDLERS, ResourceHandler
from deployforge.providers.aws.types import TYPE_INFOS
from deployforge.providers.base import LiveResource, ResourceSpec, TypeInfo

CONNECT_TIMEOUT = 5
READ_TIMEOUT = 30
MAX_ATTEMPTS = 8


class AwsProvider:
    """One AWS target. See ``deployforge.providers.base`` for the semantics of each method."""

    name = "aws"

    def __init__(
        self,
        *,
        target: str,
        region: str | None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
    ):
        self.target = target
        self.profile = profile
        self.endpoint_url = endpoint_url
        self._region = region
        self._credentials = (access_key_id, secret_access_key, session_token)
        self._lock = threading.Lock()
        self._session: Any = None
        self._partition: str | None = None
        self._clients: dict[str, Any] = {}
        self._endpoint_checked = endpoint_url is None
        self._counter_lock = threading.Lock()
        self.api_calls: dict[str, int] = {}
        self.api_calls_by_operation: dict[str, int] = {}
        # Caps every page size (tests; accounts that time out on large pages). None = the API maximum.
        self.page_size_limit: int | None = None
        self._handlers: dict[str, ResourceHandler] = {rtype: handler(self) for rtype, handler in HANDLERS.items()}

    def __repr__(self) -> str:
        where = f", endpoint_url={self.endpoint_url!r}" if self.endpoint_url else ""
        return f"AwsProvider(target={self.target!r}, region={self._region!r}, profile={self.profile!r}{where})"

    # sessions and clients ---------------------------------------------------------------------

    def _ensure_session(self) -> Any:
        """The boto3 session (callers hold ``self._lock``)."""
        if self._session is None:
            from deployforge.providers.aws.session import new_session  # loads boto3: not at import time

            access_key_id, secret_access_key, session_token = self._credentials
            session = new_session(
                aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key,
                aws_session_token=session_token,
                region_name=self._region,
                profile_name=self.profile,
            )
            region = session.region_name
            if not region:
                error = ProviderError(
                    f"target '{self.target}': no AWS region is configured",
                    hint="set region: on the target (or AWS_REGION)",
                    resource=self.target,
                    code="NoRegion",
                )
                error.exit_code = EXIT_INPUT  # bad input: the target's setup
                raise error
            self._region = region
            try:
                self._partition = session.get_partition_for_region(region)
            except Exception:  # an unknown region: botocore will say so on the first call
                self._partition = "aws"
            self._session = session
        return self._session

    @property
    def region(self) -> str:
        with self._lock, self._boundary(self.target, "configure"):
            self._ensure_session()
        return str(self._region)

    @property
    def partition(self) -> str:
        with self._lock, self._boundary(self.target, "configure"):
            self._ensure_session()
        return str(self._partition)

    def client(self, service: str) -> Any:
        """The boto3 client for ``service`` (made once, shared by every thread)."""
        client = self._clients.get(service)
        if client is not None:
            return client
        with self._lock, self._boundary(self.target, "configure"):
            client = self._clients.get(service)
            if client is None:
                session = self._ensure_session()
                self._check_endpoint()
                client = session.client(service, endpoint_url=self.endpoint_url, config=self._config())
                client.meta.events.register("before-call", partial(self._count_call, service))
                self._clients[service] = client
        return client

    def _config(self) -> Config:
        options: dict[str, Any] = {
            "retries": {"mode": "adaptive", "max_attempts": MAX_ATTEMPTS},
            "connect_timeout": CONNECT_TIMEOUT,
            "read_timeout": READ_TIMEOUT,
            "user_agent_extra": "deployforge",
        }
        if self.endpoint_url:  # emulators serve every bucket under one host
            options["s3"] = {"addressing_style": "path"}
        return Config(**options)

    def _check_endpoint(self) -> None:
        """Fail fast when an explicit endpoint (an emulator) refuses connections.

        Without this, botocore's 8 adaptive retries of a refused connection take about 40 s.
        Real AWS endpoints (no ``endpoint_url``) are left to the retry policy.
        """
        if self._endpoint_checked or not self.endpoint_url:
            return
        parts = urlsplit(self.endpoint_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            with socket.create_connection((parts.hostname or "localhost", port), timeout=CONNECT_TIMEOUT):
                pass
        except OSError as exc:
            raise EndpointUnreachableError(
                f"target '{self.target}': cannot reach the AWS endpoint {self.endpoint_url}: {exc}",
                hint=f"is the emulator running? check endpoint_url of target '{self.target}'",
                resource=self.target,
                code="EndpointUnreachable",
            ) from exc
        self._endpoint_checked = True

    def _count_call(self, service: str, model: Any = None, **_: Any) -> None:
        operation = f"{service}.{getattr(model, 'name', '?')}"
        with self._counter_lock:
            self.api_calls[service] = self.api_calls.get(service, 0) + 1
            self.api_calls_by_operation[operation] = self.api_calls_by_operation.get(operation, 0) + 1

    def page_size(self, maximum: int) -> int:
        return maximum if self.page_size_limit is None else max(1, min(maximum, self.page_size_limit))

    def _boundary(self, resource: str, action: str) -> Any:
        return boundary(resource=resource, action=action, target=self.target, endpoint=self.endpoint_url)

    # the provider contract --------------------------------------------------------------------

    def _handler(self, resource_type: str) -> ResourceHandler:
        try:
            return self._handlers[resource_type]
        except KeyError:
            raise ProviderError(
                f"the aws provider has no resource type {resource_type}",
                hint=f"aws resource types: {', '.join(sorted(self._handlers))}",
                resource=resource_type,
                code="UnknownType",
            ) from None

    def type_info(self, resource_type: str) -> TypeInfo:
        self._handler(resource_type)
        return TYPE_INFOS[resource_type]

    def resource_types(self) -> frozenset[str]:
        return frozenset(self._handlers)

    def read(self, resource_type: str, resource_id: str) -> LiveResource | None:
        handler = self._handler(resource_type)
        with self._boundary(f"{resource_type} {resource_id}", "read"):
            return handler.read(resource_id)

    def read_many(self, resource_type: str, resource_ids: list[str]) -> dict[str, LiveResource | None] | None:
        """Objects of one type by id, in as few calls as the API allows; None when the type has no batch
        read (S3 buckets: the caller reads those one by one, in parallel)."""
        handler = self._handler(resource_type)
        if not handler.batch_size:
            return None
        with self._boundary(f"{resource_type} ({len(resource_ids)} objects)", "read"):
            return handler.read_many(list(resource_ids))

    def lookup(self, spec: ResourceSpec) -> LiveResource | None:
        handler = self._handler(spec.type)
        with self._boundary(spec.address, "lookup"):
            return handler.lookup(spec)

    def create(self, spec: ResourceSpec) -> LiveResource:
        handler = self._handler(spec.type)
        with self._boundary(spec.address, "create"):
            return handler.create(spec)

    def update(self, spec: ResourceSpec, live: LiveResource, changes: frozenset[str]) -> LiveResource:
        handler = self._handler(spec.type)
        with self._boundary(spec.address, "update"):
            return handler.update(spec, live, changes)

    def delete(self, resource_type: str, resource_id: str) -> None:
        handler = self._handler(resource_type)
        with self._boundary(f"{resource_type} {resource_id}", "delete"):
            handler.delete(resource_id)

    def list(self, resource_type: str) -> Iterator[LiveResource]:
        handler = self._handler(resource_type)
        with self._boundary(resource_type, "list"):
            yield from handler.list()

    def normalize(self, resource_type: str, properties: Mapping[str, Any]) -> dict[str, Any]:
        """``properties`` in the canonical shapes ``read`` reports its attributes in.

        The diff compares ``normalize(spec.properties)`` with ``live.attributes``:
        it sorts what AWS treats as a set (security group rules and CIDR ranges, subnet and zone
        lists, security group ids, alarm actions) and names an Auto Scaling group's launch
        template the way AWS reports it (by name, which may cost one API call for a spec that
        uses the id).
        """
        handler = self._handler(resource_type)
        with self._boundary(resource_type, "normalize"):
            return handler.normalize(properties)

    def rolling_restart(self, resource_type: str, resource_id: str) -> tuple[str, ...]:
        """Replace the instances of an Auto Scaling group one at a time, keeping its capacity.

        Optional (not part of the provider contract): drift self-healing's ``rolling_restart`` action
        calls it when the provider has it. Returns the ids of the instances replaced.
        """
        handler = self._handler(resource_type)
        restart = getattr(handler, "rolling_restart", None)
        if restart is None:
            raise ProviderError(
                f"{resource_type} {resource_id}: a rolling restart only applies to Auto Scaling groups",
                resource=resource_id,
                code="Unsupported",
            )
        with self._boundary(f"{resource_type} {resource_id}", "rolling restart"):
            return tuple(restart(resource_id))

    def preflight(self) -> None:
        """Check that the endpoint answers and the credentials work (one sts:GetCallerIdentity call)."""
        sts = self.client("sts")
        with self._boundary(self.target, "check credentials"):
            sts.get_caller_identity()


def aws_provider_for_target(target_name: str, settings: Mapping[str, Any]) -> AwsProvider:
    """Build the provider of one configured target.

    ``settings``: ``region``, ``profile`` (the target's ``auth:``; ``auth`` is accepted too),
    ``endpoint_url``, and optionally ``access_key_id`` / ``secret_access_key`` / ``session_token``
    (the sandbox's static credentials).
    """
    keys = _static_keys(target_name, settings.get("credentials"))
    return AwsProvider(
        target=target_name,
        region=settings.get("region") or None,
        profile=settings.get("profile") or settings.get("auth") or None,
        endpoint_url=settings.get("endpoint_url") or None,
        access_key_id=keys.get("access_key_id") or settings.get("access_key_id") or None,
        secret_access_key=keys.get("secret_access_key") or settings.get("secret_access_key") or None,
        session_token=keys.get("session_token") or settings.get("session_token") or None,
    )


# the names a stored AWS key pair goes by: ours, the credentials file's, and STS's
_KEY_NAMES = {
    "access_key_id": ("access_key_id", "aws_access_key_id", "AccessKeyId"),
    "secret_access_key": ("secret_access_key", "aws_secret_access_key", "SecretAccessKey"),
    "session_token": ("session_token", "aws_session_token", "SessionToken"),
}


def _static_keys(target_name: str, credentials: Any) -> dict[str, str]:
    """An AWS target's ``credentials:`` (a vault:// secret holding a key pair) as boto3 keys.

    Absent: {} (the profile or boto3's chain decides). Anything but a secret with an access key id
    and a secret key is refused: silently falling back to whatever identity the machine has could
    act in another account.
    """
    if credentials is None or credentials == "":
        return {}
    found: dict[str, str] = {}
    if isinstance(credentials, Mapping):
        for ours, names in _KEY_NAMES.items():
            for name in names:
                if credentials.get(name):
                    found[ours] = str(credentials[name])
                    break
    if "access_key_id" not in found or "secret_access_key" not in found:
        from deployforge.errors import InputError

        raise InputError(
            f"target '{target_name}': credentials must be a secret holding an AWS key pair",
            hint="store access_key_id and secret_access_key (and session_token for temporary keys) in Vault "
            "and point credentials: at it (vault://PATH, no #key); or use auth: PROFILE, or the environment",
        )
    return found
