"""Object store adapters for the audit log: S3 (boto3, Object Lock) and GCS (JSON API, retention policy).

Adapters only: every SDK or HTTP failure becomes a ``StateError`` with a hint,
and the SDKs are imported on first use. The log logic is in ``objectlog.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from deployforge.errors import StateError


def _split_url(url: str, scheme: str) -> tuple[str, str]:
    if not url.startswith(f"{scheme}://"):
        raise StateError(f"'{url}' is not a {scheme}:// audit url", hint=f"write it as {scheme}://BUCKET/PREFIX")
    bucket, _, prefix = url[len(scheme) + 3 :].partition("/")
    if not bucket:
        raise StateError(f"'{url}' names no bucket", hint=f"write it as {scheme}://BUCKET/PREFIX")
    prefix = prefix.strip("/")
    return bucket, (prefix + "/") if prefix else ""


# -- S3 ---------------------------------------------------------------------------------------------


class S3Store:
    """``s3://bucket/prefix`` with create-only puts (``If-None-Match: *``) and Object Lock retention."""

    def __init__(
        self,
        url: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        profile: str | None = None,
        retention_days: int | None = None,
        lock_mode: str = "GOVERNANCE",
    ):
        self.url = url
        self.bucket, self.prefix = _split_url(url, "s3")
        self.region = region
        self.endpoint_url = endpoint_url
        self.profile = profile
        self.retention_days = retention_days
        self.lock_mode = lock_mode.upper()
        self._client: Any = None

    def describe(self) -> str:
        return self.url

    @property
    def client(self) -> Any:
        if self._client is None:
            from botocore.config import Config

            from deployforge.providers.aws.session import new_session

            session = new_session(profile_name=self.profile, region_name=self.region or "us-east-1")
            self._client = session.client(
                "s3",
                endpoint_url=self.endpoint_url,
                config=Config(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=32),
            )
        return self._client

    def _fail(self, exc: Exception, what: str) -> StateError:
        code = _s3_code(exc)
        hint = {
            "NoSuchBucket": f"create the bucket {self.bucket} (with Object Lock enabled) first",
            "AccessDenied": "the credentials in use may not read and write this bucket",
        }.get(code, "check the audit storage settings (url, region, endpoint_url) and the credentials")
        return StateError(f"audit log {self.url}: cannot {what}: {code or type(exc).__name__}", hint=hint)

    def get(self, key: str) -> bytes | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body: bytes = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
            return body
        except ClientError as exc:
            if _s3_code(exc) in ("NoSuchKey", "404"):
                return None
            raise self._fail(exc, f"read {key}") from None
        except BotoCoreError as exc:
            raise self._fail(exc, f"read {key}") from None

    def _lock_args(self) -> dict[str, Any]:
        if not self.retention_days:
            return {}
        until = datetime.now(UTC) + timedelta(days=self.retention_days)
        return {"ObjectLockMode": self.lock_mode, "ObjectLockRetainUntilDate": until}

    def create(self, key: str, body: bytes) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        for _attempt in range(5):
            try:
                self.client.put_object(
                    Bucket=self.bucket, Key=self.prefix + key, Body=body, IfNoneMatch="*", **self._lock_args()
                )
                return True
            except ClientError as exc:
                code = _s3_code(exc)
                if code == "PreconditionFailed":
                    return False
                if code == "ConditionalRequestConflict":  # a concurrent conditional write in flight
                    continue
                raise self._fail(exc, f"write {key}") from None
            except BotoCoreError as exc:
                raise self._fail(exc, f"write {key}") from None
        return False

    def put(self, key: str, body: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=body)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, f"write {key}") from None

    def list(self, prefix: str, start_after: str = "") -> Iterator[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket,
                Prefix=self.prefix + prefix,
                **({"StartAfter": self.prefix + start_after} if start_after else {}),
            )
            keys = [obj["Key"][len(self.prefix) :] for page in pages for obj in page.get("Contents", [])]
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, "list the records") from None
        return iter(sorted(keys))

    def check(self) -> None:
        """With ``retention_days`` set, the bucket must have Object Lock enabled."""
        from botocore.exceptions import BotoCoreError, ClientError

        if not self.retention_days:
            return
        try:
            conf = self.client.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError as exc:
            if _s3_code(exc) == "ObjectLockConfigurationNotFoundError":
                conf = {}
            else:
                raise self._fail(exc, "read the bucket's Object Lock configuration") from None
        except BotoCoreError as exc:
            raise self._fail(exc, "read the bucket's Object Lock configuration") from None
        if conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") != "Enabled":
            raise StateError(
                f"audit log {self.url}: the bucket {self.bucket} does not have Object Lock enabled, "
                "so records could be deleted or overwritten",
                hint="create the audit bucket with Object Lock enabled (it cannot be added to a plain bucket "
                "in every region), or drop retention_days to store without write-once retention",
            )


def _s3_code(exc: Any) -> str:
    response = getattr(exc, "response", {}) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if status == 412 or code == "412":
        return "PreconditionFailed"
    if status == 409 and code in ("", "409", "ConditionalRequestConflict"):
        return "ConditionalRequestConflict"
    return code


# -- GCS --------------------------------------------------------------------------------------------


class GCSStore:
    """``gs://bucket/prefix`` through the JSON API: create-only uploads (``ifGenerationMatch=0``).

    Credentials: application default credentials through google-auth; with
    ``endpoint_url`` (an emulator such as fake-gcs-server) requests go
    unauthenticated. ``require_retention`` makes ``check`` insist on a bucket
    retention policy.
    """

    def __init__(self, url: str, *, endpoint_url: str | None = None, require_retention: bool = True):
        self.url = url
        self.bucket, self.prefix = _split_url(url, "gs")
        self.endpoint = (endpoint_url or "https://storage.googleapis.com").rstrip("/")
        self.require_retention = require_retention
        self._session: Any = None

    def describe(self) -> str:
        return self.url

    @property
    def session(self) -> Any:
        if self._session is None:
            import requests

            if self.endpoint != "https://storage.googleapis.com":
                self._session = requests.Session()
            else:
                import google.auth
                from google.auth.transport.requests import AuthorizedSession

                try:
                    credentials, _ = google.auth.default(
                        scopes=["https://www.googleapis.com/auth/devstorage.read_write"]
                    )
                except Exception as exc:  # google.auth.exceptions.DefaultCredentialsError
                    raise StateError(
                        f"audit log {self.url}: no Google credentials: {exc}",
                        hint="set GOOGLE_APPLICATION_CREDENTIALS or run in an environment with a service account",
                    ) from None
                self._session = AuthorizedSession(credentials)
        return self._session

    def _request(self, method: str, url: str, what: str, **kwargs: Any) -> Any:
        import requests

        try:
            return self.session.request(method, url, timeout=30, **kwargs)
        except requests.RequestException as exc:
            raise StateError(
                f"audit log {self.url}: cannot {what}: {type(exc).__name__}",
                hint=f"is {self.endpoint} reachable?",
            ) from None

    def _object_url(self, key: str) -> str:
        return f"{self.endpoint}/storage/v1/b/{self.bucket}/o/{quote(self.prefix + key, safe='')}"

    def _error(self, response: Any, what: str) -> StateError:
        return StateError(
            f"audit log {self.url}: cannot {what}: HTTP {response.status_code}",
            hint="check the bucket name and the credentials' storage permissions",
        )

    def get(self, key: str) -> bytes | None:
        response = self._request("GET", self._object_url(key), f"read {key}", params={"alt": "media"})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._error(response, f"read {key}")
        data: bytes = response.content
        return data

    def _upload(self, key: str, body: bytes, conditional: bool) -> Any:
        boundary = "deployforge-audit-boundary"
        metadata = json.dumps({"name": self.prefix + key, "contentType": "application/json"}).encode()
        payload = (
            f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode()
            + metadata
            + f"\r\n--{boundary}\r\nContent-Type: application/json\r\n\r\n".encode()
            + body
            + f"\r\n--{boundary}--\r\n".encode()
        )
        params = {"uploadType": "multipart"}
        if conditional:
            params["ifGenerationMatch"] = "0"
        return self._request(
            "POST",
            f"{self.endpoint}/upload/storage/v1/b/{self.bucket}/o",
            f"write {key}",
            params=params,
            data=payload,
            headers={"Content-Type": f"multipart/related; boundary={boundary}"},
        )

    def create(self, key: str, body: bytes) -> bool:
        response = self._upload(key, body, conditional=True)
        if response.status_code == 412:
            return False
        if response.status_code not in (200, 201):
            raise self._error(response, f"write {key}")
        return True

    def put(self, key: str, body: bytes) -> None:
        response = self._upload(key, body, conditional=False)
        if response.status_code not in (200, 201):
            raise self._error(response, f"write {key}")

    def list(self, prefix: str, start_after: str = "") -> Iterator[str]:
        keys: list[str] = []
        token: str | None = None
        while True:
            params = {"prefix": self.prefix + prefix, "fields": "items(name),nextPageToken"}
            if start_after:
                params["startOffset"] = self.prefix + start_after
            if token:
                params["pageToken"] = token
            response = self._request(
                "GET", f"{self.endpoint}/storage/v1/b/{self.bucket}/o", "list the records", params=params
            )
            if response.status_code != 200:
                raise self._error(response, "list the records")
            data = response.json()
            keys += [item["name"][len(self.prefix) :] for item in data.get("items", [])]
            token = data.get("nextPageToken")
            if not token:
                return iter(sorted(k for k in keys if k > start_after))

    def check(self) -> None:
        """The bucket must exist and, with ``require_retention``, have a retention policy."""
        response = self._request("GET", f"{self.endpoint}/storage/v1/b/{self.bucket}", "read the bucket")
        if response.status_code != 200:
            raise self._error(response, f"read the bucket {self.bucket}")
        policy = response.json().get("retentionPolicy") or {}
        if self.require_retention and not policy.get("retentionPeriod"):
            raise StateError(
                f"audit log {self.url}: the bucket {self.bucket} has no retention policy, "
                "so records could be deleted or replaced",
                hint="set one (gsutil retention set 365d gs://BUCKET, then lock it), "
                "or set audit.require_retention: false",
            )
