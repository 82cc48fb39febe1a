"""Translate google-auth / requests / HTTP errors into DeployForge's error tree, at the boundary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from deployforge.errors import DeployForgeError, EndpointUnreachableError, InputError, ProviderError
from deployforge.text import clip


class CredentialsError(InputError):
    """The target's Google credentials cannot be loaded or were refused (expired, revoked, malformed)."""


class GoogleApiError(ProviderError):
    def __init__(self, message: str, *, status: int, hint: str | None = None, resource: str | None = None):
        super().__init__(message, hint=hint, resource=resource, code=str(status))
        self.status = status


def api_error(response: Any, what: str) -> GoogleApiError:
    try:
        body = response.json().get("error") or {}
        detail = body.get("message") or response.reason
        status_text = body.get("status") or ""
    except ValueError:
        detail, status_text = clip(response.text or response.reason or ""), ""
    code = int(response.status_code)
    hint = None
    if code in (401, 403):
        hint = "check the service account's roles on this project (and that its key is not revoked)"
    elif code == 404:
        hint = "check the project, the region and the name"
    elif code == 409:
        hint = "something else changed it at the same time; retry"
    label = f" {status_text}" if status_text else ""
    return GoogleApiError(f"{what}: HTTP {code}{label}: {detail}", status=code, hint=hint, resource=what)


@contextmanager
def boundary(target: str, what: str, endpoint: str | None = None) -> Iterator[None]:
    import google.auth.exceptions as gax
    import requests

    try:
        yield
    except DeployForgeError:
        raise
    except gax.RefreshError as exc:
        raise CredentialsError(
            f"target '{target}': Google refused the credentials ({_short(exc)})",
            hint="the service-account key may be expired, revoked or deleted: issue a new key (or fix "
            "the credentials: reference), then retry",
        ) from None
    except gax.DefaultCredentialsError as exc:
        raise CredentialsError(
            f"target '{target}': no usable Google credentials ({_short(exc)})",
            hint="set credentials: on the target (a key file or vault://...), or configure "
            "Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS / workload identity)",
        ) from None
    except gax.TransportError as exc:
        raise EndpointUnreachableError(
            f"target '{target}': {what}: cannot reach Google's token endpoint ({_short(exc)})",
            hint="check the network, or the token_uri of the service account",
            resource=target,
            code="EndpointUnreachable",
        ) from None
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        where = f" {endpoint}" if endpoint else ""
        raise EndpointUnreachableError(
            f"target '{target}': {what}: cannot reach the Google API endpoint{where} ({exc.__class__.__name__})",
            hint=f"is the emulator running? check endpoint_url of target '{target}'",
            resource=target,
            code="EndpointUnreachable",
        ) from None
    except requests.exceptions.RequestException as exc:
        raise ProviderError(f"target '{target}': {what}: {_short(exc)}", resource=target) from None


def _short(exc: Exception) -> str:
    return clip(str(exc.args[0] if exc.args else exc))
