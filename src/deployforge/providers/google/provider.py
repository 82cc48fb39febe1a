"""``GoogleProvider``: the provider contract for one Google Cloud project, over REST.

Credentials (the target's ``credentials:``): a service-account (or workload-identity-federation)
JSON mapping (what a ``vault://`` reference resolved to), JSON text, or a path to a key file;
without one, Application Default Credentials. When a target sets ``endpoint_url`` (an emulator)
and gives no credentials, requests go unauthenticated. The service account's ``token_uri`` is
honoured, so tests point it at a local OAuth token endpoint.

Endpoints: ``endpoint_url`` replaces every API's host (``storage.googleapis.com``,
``run.googleapis.com``, ``dataflow.googleapis.com``); otherwise ``STORAGE_EMULATOR_HOST`` (the
usual emulator convention, passed as ``storage_endpoint``) replaces Cloud Storage's alone.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from deployforge.errors import ProviderError
from deployforge.providers.base import LiveResource, ResourceSpec, TypeInfo
from deployforge.providers.google.errors import CredentialsError, GoogleApiError, api_error, boundary
from deployforge.providers.google.types import TYPE_INFOS

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
DEFAULT_HOSTS = {
    "storage": "https://storage.googleapis.com",
    "run": "https://run.googleapis.com",
    "dataflow": "https://dataflow.googleapis.com",
}
TIMEOUT = (5, 60)


class GoogleProvider:
    name = "google"

    def __init__(
        self,
        *,
        target: str,
        project: str | None,
        region: str | None = None,
        credentials: Any = None,
        endpoint_url: str | None = None,
        storage_endpoint: str | None = None,
    ):
        self.target = target
        self.project = project
        self.region = region or "us-central1"
        self.endpoint_url = endpoint_url.rstrip("/") if endpoint_url else None
        self._storage_endpoint = storage_endpoint.rstrip("/") if storage_endpoint else None
        self._credential_source = credentials
        self._session: Any = None
        self._lock = threading.Lock()
        self._counter_lock = threading.Lock()
        self.api_calls: dict[str, int] = {}

    @classmethod
    def from_settings(cls, target: str, settings: Mapping[str, Any]) -> GoogleProvider:
        storage = settings.get("storage_endpoint") or None
        if storage and not str(storage).startswith("http"):
            storage = f"http://{storage}"
        return cls(
            target=target,
            project=settings.get("project") or None,
            region=settings.get("region") or None,
            credentials=settings.get("credentials") or None,
            endpoint_url=settings.get("endpoint_url") or None,
            storage_endpoint=storage,
        )

    def __repr__(self) -> str:  # never the credentials
        return f"GoogleProvider(target={self.target!r}, project={self.project!r})"

    # -- credentials and the HTTP session -------------------------------------------------------

    def _credentials(self) -> Any:
        import google.auth
        from google.auth.credentials import AnonymousCredentials

        source = self._credential_source
        with boundary(self.target, "loading credentials"):
            if source is None:
                if self.endpoint_url:
                    return AnonymousCredentials()
                creds, project = google.auth.default(scopes=SCOPES)
                self.project = self.project or project
                return creds
            info: Any = source
            if isinstance(source, str):
                text = source.strip()
                if text.startswith("{"):
                    try:
                        info = json.loads(text)
                    except ValueError:
                        raise CredentialsError(
                            f"target '{self.target}': credentials: is not valid service-account JSON",
                            hint="store the key file's JSON as it was downloaded",
                        ) from None
                else:
                    path = Path(text).expanduser()
                    try:
                        info = json.loads(path.read_text(encoding="utf-8"))
                    except OSError as exc:
                        raise CredentialsError(
                            f"target '{self.target}': cannot read the credentials file {text}: {exc.strerror}",
                            hint="give a service-account key file path or a vault:// reference",
                        ) from None
                    except ValueError:
                        raise CredentialsError(f"target '{self.target}': {text} is not JSON") from None
            if not isinstance(info, Mapping):
                raise CredentialsError(f"target '{self.target}': credentials must be a service-account JSON object")
            try:
                creds, project = _from_info(dict(info))
            except (ValueError, KeyError) as exc:
                raise CredentialsError(
                    f"target '{self.target}': the service-account JSON is incomplete or malformed "
                    f"({exc.__class__.__name__})",
                    hint="it needs type, client_email, private_key and token_uri",
                ) from None
            self.project = self.project or project or info.get("project_id")
            return creds

    @property
    def session(self) -> Any:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    from google.auth.credentials import AnonymousCredentials
                    from google.auth.transport.requests import AuthorizedSession

                    creds = self._credentials()
                    if isinstance(creds, AnonymousCredentials):  # an emulator: plain HTTP, no token
                        import requests

                        session = requests.Session()
                        session.credentials = creds  # type: ignore[attr-defined]
                        self._session = session
                    else:
                        self._session = AuthorizedSession(creds)
        return self._session

    def base_url(self, api: str) -> str:
        if self.endpoint_url:
            return self.endpoint_url
        if api == "storage" and self._storage_endpoint:
            return self._storage_endpoint
        return DEFAULT_HOSTS[api]

    def request(
        self,
        api: str,
        method: str,
        path: str,
        *,
        what: str,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        not_found_ok: bool = False,
        raw: bool = False,
    ) -> Any:
        """One API call; JSON in and out. Raises GoogleApiError for HTTP errors (None for a 404 when allowed)."""
        url = self.base_url(api) + path
        with self._counter_lock:
            self.api_calls[api] = self.api_calls.get(api, 0) + 1
        with boundary(self.target, what, self.base_url(api)):
            response = self.session.request(
                method, url, json=json_body, params=params, data=data, headers=headers, timeout=TIMEOUT
            )
        if response.status_code == 404 and not_found_ok:
            return None
        if response.status_code >= 400:
            raise api_error(response, what)
        if raw:
            return response.content
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            return {"_raw": response.text}

    # -- the provider contract ------------------------------------------------------------------

    def type_info(self, resource_type: str) -> TypeInfo:
        try:
            return TYPE_INFOS[resource_type]
        except KeyError:
            raise ProviderError(
                f"the google provider has no resource type {resource_type}",
                hint=f"google resource types: {', '.join(sorted(TYPE_INFOS))}",
                resource=resource_type,
                code="UnknownType",
            ) from None

    def resource_types(self) -> frozenset[str]:
        return frozenset(TYPE_INFOS)

    def _bucket_path(self, name: str) -> str:
        return f"/storage/v1/b/{quote(name, safe='')}"

    def read(self, resource_type: str, resource_id: str) -> LiveResource | None:
        self.type_info(resource_type)
        got = self.request(
            "storage", "GET", self._bucket_path(resource_id), what=f"bucket {resource_id}", not_found_ok=True
        )
        return None if got is None else _bucket_live(got)

    def lookup(self, spec: ResourceSpec) -> LiveResource | None:
        return self.read(spec.type, str(spec.properties.get("name") or spec.name))

    def create(self, spec: ResourceSpec) -> LiveResource:
        self.type_info(spec.type)
        _refuse_tags(spec)
        props = {**TYPE_INFOS[spec.type].defaults, **dict(spec.properties)}
        body = _bucket_body(props)
        body["name"] = props.get("name") or spec.name
        body["location"] = props.get("location") or "US"
        if not self.project:
            raise ProviderError(
                f"target '{self.target}': creating {spec.address} needs a project",
                hint="set project: on the target",
                resource=spec.address,
            )
        got = self.request(
            "storage",
            "POST",
            "/storage/v1/b",
            what=f"creating {spec.address}",
            json_body=body,
            params={"project": self.project},
        )
        return _bucket_live(got)

    def update(self, spec: ResourceSpec, live: LiveResource, changes: frozenset[str]) -> LiveResource:
        self.type_info(spec.type)
        _refuse_tags(spec)
        props = {**TYPE_INFOS[spec.type].defaults, **dict(spec.properties)}
        body = _bucket_body({k: v for k, v in props.items() if k in changes})
        if "labels" in body:  # PATCH merges labels: name the removed ones with null
            old = dict(live.attributes.get("labels") or {})
            body["labels"] = {**{k: None for k in old if k not in body["labels"]}, **body["labels"]}
        got = self.request(
            "storage", "PATCH", self._bucket_path(live.id), what=f"updating {spec.address}", json_body=body
        )
        return _bucket_live(got)

    def delete(self, resource_type: str, resource_id: str) -> None:
        self.type_info(resource_type)
        path = self._bucket_path(resource_id)
        try:
            self.request("storage", "DELETE", path, what=f"deleting bucket {resource_id}", not_found_ok=True)
        except GoogleApiError as exc:
            if exc.status != 409 and "empty" not in exc.message:
                raise
            raise ProviderError(
                f"bucket {resource_id} is not empty", hint="empty it first (or set force_destroy: true)"
            ) from None

    def list(self, resource_type: str) -> Iterator[LiveResource]:
        self.type_info(resource_type)
        token = None
        while True:
            params = {"project": self.project or "", "maxResults": 1000}
            if token:
                params["pageToken"] = token
            page = self.request("storage", "GET", "/storage/v1/b", what="listing buckets", params=params)
            for item in page.get("items") or ():
                yield _bucket_live(item)
            token = page.get("nextPageToken")
            if not token:
                return

    def normalize(self, resource_type: str, properties: Mapping[str, Any]) -> dict[str, Any]:
        self.type_info(resource_type)
        out = {k: v for k, v in properties.items() if k != "force_destroy"}
        if "location" in out and isinstance(out["location"], str):
            out["location"] = out["location"].upper()
        if "labels" in out and isinstance(out["labels"], Mapping):
            out["labels"] = {str(k): str(v) for k, v in sorted(out["labels"].items())}
        return out

    def preflight(self) -> None:
        """Load the credentials and get an access token (a revoked or expired key fails here)."""
        creds = self.session.credentials
        from google.auth.credentials import AnonymousCredentials

        if isinstance(creds, AnonymousCredentials):
            return
        from google.auth.transport.requests import Request

        with boundary(self.target, "getting an access token"):
            creds.refresh(Request())


def _from_info(info: dict[str, Any]) -> tuple[Any, str | None]:
    """Credentials from a key JSON, by its declared type (never any type the JSON asks for)."""
    kind = info.get("type")
    if kind == "service_account":
        from google.oauth2 import service_account

        return service_account.Credentials.from_service_account_info(info, scopes=list(SCOPES)), info.get("project_id")
    if kind == "external_account":  # workload identity federation (GitHub OIDC, AWS, a token file)
        from google.auth import identity_pool

        return identity_pool.Credentials.from_info(info, scopes=list(SCOPES)), None
    if kind == "authorized_user":
        from google.oauth2 import credentials

        return credentials.Credentials.from_authorized_user_info(info, scopes=list(SCOPES)), info.get(
            "quota_project_id"
        )
    raise ValueError(f"unsupported credentials type {kind!r}")


def _refuse_tags(spec: ResourceSpec) -> None:
    """Google has labels, not tags. Tags written nowhere would read back as absent, so every plan
    would show them as a change and every apply would report it made: refuse them instead."""
    if spec.tags:
        raise ProviderError(
            f"{spec.address}: Google Cloud resources have labels, not tags ({', '.join(sorted(spec.tags))})",
            hint="move them under properties: as labels: {...}",
            resource=spec.address,
            code="TagsUnsupported",
        )


def _bucket_body(props: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if "storage_class" in props:
        body["storageClass"] = props["storage_class"]
    if "versioning" in props:
        body["versioning"] = {"enabled": bool(props["versioning"])}
    if "labels" in props:  # Google has labels, not tags (``tags:`` are refused: _refuse_tags)
        body["labels"] = {str(k): str(v) for k, v in dict(props.get("labels") or {}).items()}
    iam: dict[str, Any] = {}
    if "uniform_bucket_level_access" in props:
        iam["uniformBucketLevelAccess"] = {"enabled": bool(props["uniform_bucket_level_access"])}
    if "public_access_prevention" in props:
        iam["publicAccessPrevention"] = props["public_access_prevention"]
    if iam:
        body["iamConfiguration"] = iam
    return body


def _bucket_live(item: Mapping[str, Any]) -> LiveResource:
    iam = item.get("iamConfiguration") or {}
    labels = dict(item.get("labels") or {})
    name = str(item["name"])
    attributes = {
        "name": name,
        "location": str(item.get("location") or "US").upper(),
        "storage_class": item.get("storageClass") or "STANDARD",
        "versioning": bool((item.get("versioning") or {}).get("enabled", False)),
        "labels": dict(sorted(labels.items())),
        "uniform_bucket_level_access": bool((iam.get("uniformBucketLevelAccess") or {}).get("enabled", False)),
        "public_access_prevention": iam.get("publicAccessPrevention") or "inherited",
    }
    outputs = {"id": name, "name": name, "url": f"gs://{name}", "self_link": item.get("selfLink") or ""}
    return LiveResource("google_storage_bucket", name, attributes, outputs)
