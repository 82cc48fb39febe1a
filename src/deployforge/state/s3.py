"""S3 state backend: ``s3://bucket/prefix`` holding ``<prefix>/<env>/state.json`` and ``.../lock.json``.

Guarantees and how they are obtained:

* **One lock holder.** The lock object is created with a conditional
  ``PutObject`` carrying ``If-None-Match: *``; S3 refuses the second writer with
  HTTP 412 ``PreconditionFailed`` and we report the holder read back from the
  lock object (``LockHeldError``). A concurrent conditional write may also be
  refused with HTTP 409 ``ConditionalRequestConflict``; that is retried.
* **Release only our own lock.** The lock is read, its ``lock_id`` compared with
  ours, and it is deleted with ``If-Match: <etag of what we read>``, so a lock
  that was force-unlocked and taken by another run in between is never removed.
  Against an S3-compatible store that does not implement conditional deletes
  (``NotImplemented``), the delete falls back to an unconditional one; the
  window between the read and the delete is then a single round trip.
* **No lost update.** A state document is written whole (compact JSON) with one ``PutObject``
  (atomic by S3 semantics: readers see the old or the new object). When this
  backend read the environment before, the write is conditional on the ETag it
  read (``If-Match``), or on the object still being absent (``If-None-Match``)
  when there was none; if another writer moved the state in between, the write
  is refused with ``StateError`` instead of silently overwriting it.
  A write of an environment this backend never read is unconditional.
* **Every failure is a ``StateError``.** botocore exceptions never escape:
  unreachable endpoints, missing buckets, denied access and bad credentials are
  translated here, each with a hint.

boto3 is imported on first use, never at module import (``deployforge --help``
stays fast and works without boto3 configured).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from deployforge.errors import StateError
from deployforge.state import jsonio
from deployforge.state.base import LockInfo, StateDocument, checked_environment, is_plain_id
from deployforge.state.baseline import Baseline
from deployforge.state.local import LATEST_BASELINE, UnknownLockError, latest_last, lock_held_error, refuse_live_unlock

STATE_OBJECT = "state.json"
LOCK_OBJECT = "lock.json"

# How often a conditional write refused with 409 ConditionalRequestConflict is retried.
CONFLICT_ATTEMPTS = 5

_ABSENT = "<absent>"  # remembered "ETag" of an environment that had no state when read


def _parse_url(url: str) -> tuple[str, str]:
    if not url.startswith("s3://"):
        raise StateError(
            f"'{url}' is not an S3 state url",
            hint="write it as s3://BUCKET/PREFIX, e.g. s3://my-team-state/deployforge",
        )
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise StateError(f"'{url}' names no bucket", hint="write it as s3://BUCKET/PREFIX")
    return bucket, prefix.strip("/")


def _error_code(exc: Any) -> str:
    """The S3 error code of a botocore ClientError, normalised for the conditions we act on."""
    response = getattr(exc, "response", {}) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if status == 412 or code == "412":
        return "PreconditionFailed"
    if code in ("ConditionalRequestConflict", "409") or (status == 409 and not code):
        return "ConditionalRequestConflict"
    if code == "404" and not response.get("Error", {}).get("Message"):
        return "NoSuchKey"
    return code


class S3Backend:
    """State and locks in an S3 bucket (or any S3-compatible endpoint, e.g. moto)."""

    # Keys requested per ListObjectsV2 page; tests lower it to exercise pagination.
    list_page_size: int = 1000

    def __init__(
        self,
        url: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        profile: str | None = None,
    ):
        self.bucket, self.prefix = _parse_url(url)
        self.region = region
        self.endpoint_url = endpoint_url
        self.profile = profile
        self.description = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        if endpoint_url:
            self.description += f" at {endpoint_url}"
        self._client: Any = None
        # environment -> ETag of the state object this backend last read or wrote (_ABSENT if none)
        self._etags: dict[str, str] = {}

    # -- client and error translation -------------------------------------------------

    @property
    def _s3(self) -> Any:
        if self._client is None:
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError

            from deployforge.providers.aws.session import new_session

            config = Config(
                retries={"mode": "adaptive", "max_attempts": 3},
                connect_timeout=5,
                read_timeout=30,
            )
            try:
                session = new_session(profile_name=self.profile, region_name=self.region)
                self._client = session.client("s3", endpoint_url=self.endpoint_url, config=config)
            except BotoCoreError as exc:
                raise self._botocore_error(exc, "connect to") from None
        return self._client

    def _endpoint(self) -> str:
        if self.endpoint_url:
            return self.endpoint_url
        if self._client is not None:
            return str(self._client.meta.endpoint_url)
        return "the S3 endpoint"

    def _key(self, environment: str, name: str) -> str:
        checked_environment(environment, self.description)
        return f"{self.prefix}/{environment}/{name}" if self.prefix else f"{environment}/{name}"

    def _where(self, key: str | None) -> str:
        return f"s3://{self.bucket}/{key}" if key else f"s3://{self.bucket}"

    def _client_error(self, exc: Any, action: str, key: str | None) -> StateError:
        code = _error_code(exc)
        error = exc.response.get("Error", {})
        message = error.get("Message") or str(exc)
        where = self._where(key)
        if code == "NoSuchBucket":
            return StateError(
                f"cannot {action} {where}: the state bucket '{self.bucket}' does not exist"
                + (f" at {self.endpoint_url}" if self.endpoint_url else ""),
                hint=f"create it first (aws s3 mb s3://{self.bucket}, and enable versioning so old "
                "state can be recovered), or fix the bucket in the backend url",
            )
        if code in ("AccessDenied", "AllAccessDisabled", "403"):
            return StateError(
                f"cannot {action} {where}: access denied",
                hint="the credentials in use need s3:GetObject, s3:PutObject, s3:DeleteObject and "
                f"s3:ListBucket on {self._where(self.prefix + '/*' if self.prefix else '*')}",
            )
        if code in (
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "ExpiredToken",
            "InvalidToken",
            "TokenRefreshRequired",
        ):
            return StateError(
                f"cannot {action} {where}: the AWS credentials were rejected ({code})",
                hint="refresh the credentials (aws sso login, new session token) or pick another profile",
            )
        if code in (
            "PermanentRedirect",
            "AuthorizationHeaderMalformed",
            "IllegalLocationConstraintException",
        ):
            headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
            region = headers.get("x-amz-bucket-region")
            return StateError(
                f"cannot {action} {where}: the bucket is in another region" + (f" ({region})" if region else ""),
                hint="set the backend's region to the bucket's region",
            )
        return StateError(f"cannot {action} {where}: {code or 'error'}: {message}")

    def _botocore_error(self, exc: Exception, action: str, key: str | None = None) -> StateError:
        from botocore import exceptions as bce
        from botocore.parsers import ResponseParserError

        where = self._where(key)
        if isinstance(
            exc,
            bce.EndpointConnectionError
            | bce.ConnectTimeoutError
            | bce.ConnectionClosedError
            | bce.ReadTimeoutError
            | bce.ProxyConnectionError,
        ):
            endpoint = getattr(exc, "kwargs", {}).get("endpoint_url") or self._endpoint()
            return StateError(
                f"cannot {action} {where}: the S3 endpoint {endpoint} could not be reached ({exc})",
                hint="check the network and the backend's endpoint_url / region; for the sandbox, "
                "start it first (deployforge --sandbox)",
            )
        if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError):
            return StateError(
                f"cannot {action} {where}: no AWS credentials were found",
                hint="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or use the CI's OIDC role",
            )
        if isinstance(exc, bce.ProfileNotFound):
            return StateError(
                f"cannot {action} {where}: {exc}",
                hint="use a profile listed by `aws configure list-profiles`",
            )
        if isinstance(exc, ResponseParserError):
            return StateError(
                f"cannot {action} {where}: the endpoint {self._endpoint()} sent a response that is not S3's ({exc})",
                hint="check that endpoint_url points at an S3 API",
            )
        return StateError(f"cannot {action} {where}: {exc}")

    def _call(
        self, method: str, action: str, key: str | None, *, allow: frozenset[str] = frozenset(), **kwargs: Any
    ) -> Any:
        """Call an S3 operation on our bucket; ClientErrors whose code is in ``allow`` are re-raised."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._s3
        try:
            return getattr(client, method)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            if _error_code(exc) in allow:
                raise
            raise self._client_error(exc, action, key) from None
        except BotoCoreError as exc:
            raise self._botocore_error(exc, action, key) from None

    def _get_json(self, key: str, action: str) -> tuple[Any, str] | None:
        """(parsed JSON, ETag) of an object, or None when it does not exist."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._call("get_object", action, key, allow=frozenset({"NoSuchKey"}), Key=key)
            body = response["Body"].read()
        except ClientError:
            return None
        except BotoCoreError as exc:  # the body stream broke off
            raise self._botocore_error(exc, action, key) from None
        try:
            with jsonio.gc_paused(len(body)):
                return jsonio.loads(body), str(response.get("ETag", ""))
        except ValueError as exc:
            raise StateError(
                f"{self._where(key)} is not valid JSON: {exc}",
                hint="restore a previous version of the object (enable bucket versioning) or remove it",
            ) from None

    def _retry_conflicts(self, attempt: int) -> None:
        if attempt + 1 >= CONFLICT_ATTEMPTS:
            return
        time.sleep(0.05 * 2**attempt)

    # -- state documents -----------------------------------------------------------------

    def read(self, environment: str) -> StateDocument | None:
        key = self._key(environment, STATE_OBJECT)
        found = self._get_json(key, "read state")
        if found is None:
            self._etags[environment] = _ABSENT
            return None
        data, etag = found
        try:
            document = StateDocument.from_json(data, environment)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StateError(
                f"state object {self._where(key)} is not valid DeployForge state: {exc}",
                hint="restore a previous version of the object (enable bucket versioning); "
                "DeployForge always writes whole documents",
            ) from None
        self._etags[environment] = etag
        return document

    def write(self, document: StateDocument) -> None:
        from botocore.exceptions import ClientError

        key = self._key(document.environment, STATE_OBJECT)
        body = jsonio.dumps_line(document.to_json())
        condition: dict[str, str] = {}
        known = self._etags.get(document.environment)
        if known == _ABSENT:
            condition = {"IfNoneMatch": "*"}
        elif known:
            condition = {"IfMatch": known}
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                response = self._call(
                    "put_object",
                    "write state",
                    key,
                    allow=frozenset({"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"}),
                    Key=key,
                    Body=body,
                    ContentType="application/json",
                    **condition,
                )
            except ClientError as exc:
                code = _error_code(exc)
                if code == "ConditionalRequestConflict":
                    self._retry_conflicts(attempt)
                    continue
                raise self._lost_update(document, key) from None
            self._etags[document.environment] = str(response.get("ETag", ""))
            return
        raise StateError(
            f"cannot write state {self._where(key)}: S3 kept reporting a conflicting concurrent write",
            hint="another run is writing this environment's state; check who holds its lock",
        )

    def _lost_update(self, document: StateDocument, key: str) -> StateError:
        found = self._get_json(key, "read state")
        if found is None:
            now = "was deleted"
        else:
            data = found[0] if isinstance(found[0], dict) else {}
            now = f"is now at serial {data.get('serial', '?')} written by run {data.get('run_id') or '?'}"
        self._etags.pop(document.environment, None)
        return StateError(
            f"state of environment '{document.environment}' in {self.description} changed since this run "
            f"read it (it {now}); refusing to overwrite it with serial {document.serial}",
            hint="another run wrote this environment without holding its lock (or after a force-unlock); "
            "run plan again against the current state",
        )

    # -- locks -------------------------------------------------------------------------

    def _read_lock_object(self, environment: str) -> tuple[LockInfo, str] | None:
        key = self._key(environment, LOCK_OBJECT)
        found = self._get_json(key, "read lock")
        if found is None:
            return None
        data, etag = found
        try:
            return LockInfo.from_json(data), etag
        except (TypeError, ValueError, AttributeError) as exc:
            raise StateError(
                f"lock object {self._where(key)} is unreadable: {exc}",
                hint=f"remove it by hand: aws s3 rm {self._where(key)}",
            ) from None

    def read_lock(self, environment: str) -> LockInfo | None:
        found = self._read_lock_object(environment)
        return found[0] if found else None

    def acquire_lock(self, info: LockInfo) -> LockInfo:
        from botocore.exceptions import ClientError

        key = self._key(info.environment, LOCK_OBJECT)
        body = jsonio.dumps(info.to_json())
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                self._call(
                    "put_object",
                    "take the lock",
                    key,
                    allow=frozenset({"PreconditionFailed", "ConditionalRequestConflict"}),
                    Key=key,
                    Body=body,
                    ContentType="application/json",
                    IfNoneMatch="*",
                )
                return info
            except ClientError as exc:
                if _error_code(exc) == "ConditionalRequestConflict":
                    self._retry_conflicts(attempt)
                    continue
            holder = self.read_lock(info.environment)
            if holder is None:  # released between our attempt and the read: try again
                continue
            if holder.lock_id == info.lock_id:  # our own put landed, its response was lost and retried
                return info
            raise lock_held_error(holder, holder.is_stale_here())
        raise StateError(
            f"could not take the lock of environment '{info.environment}' in {self.description}: "
            f"it kept changing hands ({CONFLICT_ATTEMPTS} attempts)",
            hint="other runs are taking and releasing this lock; try again",
        )

    def _delete_if_unchanged(self, key: str, etag: str, action: str) -> bool:
        """Delete ``key`` only if it still has ``etag``; False if it changed or is gone."""
        from botocore.exceptions import ClientError

        try:
            self._call(
                "delete_object",
                action,
                key,
                allow=frozenset({"PreconditionFailed", "NoSuchKey", "NotImplemented"}),
                Key=key,
                IfMatch=etag,
            )
            return True
        except ClientError as exc:
            if _error_code(exc) != "NotImplemented":
                return False
        # An S3-compatible store without conditional deletes: the read-compare just before
        # this call is the only check (a window of one round trip).
        self._call("delete_object", action, key, Key=key)
        return True

    def release_lock(self, info: LockInfo) -> None:
        found = self._read_lock_object(info.environment)
        if found is None or found[0].lock_id != info.lock_id:
            return
        self._delete_if_unchanged(self._key(info.environment, LOCK_OBJECT), found[1], "release the lock")

    def force_unlock(self, lock_id: str, *, force: bool = False) -> LockInfo:
        for environment in self._lock_environments():
            found = self._read_lock_object(environment)
            if found is not None and found[0].lock_id == lock_id:
                refuse_live_unlock(found[0], force)
                key = self._key(environment, LOCK_OBJECT)
                if self._delete_if_unchanged(key, found[1], "remove the lock"):
                    return found[0]
        raise UnknownLockError(
            f"no lock with id {lock_id} in {self.description}",
            hint="`deployforge state list` shows the environments and their locks",
        )

    # -- listing -----------------------------------------------------------------------

    def _names_with(self, object_name: str) -> list[str]:
        """Sorted environment names that have ``<prefix>/<env>/<object_name>``."""
        from botocore.exceptions import BotoCoreError, ClientError

        root = f"{self.prefix}/" if self.prefix else ""
        names: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=root, PaginationConfig={"PageSize": self.list_page_size})
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    rest = item["Key"][len(root) :]
                    environment, slash, name = rest.partition("/")
                    if slash and environment and name == object_name:
                        names.append(environment)
        except ClientError as exc:
            raise self._client_error(exc, "list", root or None) from None
        except BotoCoreError as exc:
            raise self._botocore_error(exc, "list", root or None) from None
        return sorted(names)

    # -- baselines ----------------------------------------------------------------------

    def write_baseline(self, baseline: Baseline) -> None:
        key = self._key(baseline.environment, f"baselines/{baseline.id}.json")
        body = jsonio.dumps(baseline.to_json())
        self._call("put_object", "write baseline", key, Key=key, Body=body, ContentType="application/json")
        pointer = self._key(baseline.environment, f"baselines/{LATEST_BASELINE}")
        self._call(
            "put_object",
            "write baseline",
            pointer,
            Key=pointer,
            Body=jsonio.dumps({"id": baseline.id}),
            ContentType="application/json",
        )

    def list_baselines(self, environment: str) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        root = self._key(environment, "baselines/")
        ids: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=root, PaginationConfig={"PageSize": self.list_page_size})
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    name = item["Key"][len(root) :]
                    if name.endswith(".json") and "/" not in name:
                        ids.append(name[: -len(".json")])
        except ClientError as exc:
            raise self._client_error(exc, "list baselines", root) from None
        except BotoCoreError as exc:
            raise self._botocore_error(exc, "list baselines", root) from None
        found = self._get_json(self._key(environment, f"baselines/{LATEST_BASELINE}"), "read baseline")
        latest = found[0].get("id") if found is not None and isinstance(found[0], dict) else None
        return latest_last(sorted(ids), latest)

    def read_baseline(self, environment: str, baseline_id: str | None = None) -> Baseline | None:
        if baseline_id is None:
            ids = self.list_baselines(environment)
            if not ids:
                return None
            baseline_id = ids[-1]
        if not is_plain_id(baseline_id):  # a path, not an id: never another environment's baseline
            self._key(environment, STATE_OBJECT)  # the environment name is still checked
            return None
        key = self._key(environment, f"baselines/{baseline_id}.json")
        found = self._get_json(key, "read baseline")
        if found is None:
            return None
        try:
            with jsonio.gc_paused():
                return Baseline.from_json(found[0])
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(f"{self._where(key)} is not a DeployForge baseline: {exc}") from None

    # -- the drift register ---------------------------------------------------------------

    def read_drift_register(self, environment: str) -> dict[str, Any] | None:
        found = self._get_json(self._key(environment, "drift.json"), "read the drift register")
        return found[0] if found is not None and isinstance(found[0], dict) else None

    def write_drift_register(self, environment: str, data: dict[str, Any]) -> None:
        key = self._key(environment, "drift.json")
        body = jsonio.dumps(data)
        self._call("put_object", "write the drift register", key, Key=key, Body=body, ContentType="application/json")

    def _lock_environments(self) -> Iterator[str]:
        yield from self._names_with(LOCK_OBJECT)

    def environments(self) -> Iterator[str]:
        yield from self._names_with(STATE_OBJECT)
