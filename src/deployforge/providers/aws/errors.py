"""Translate botocore's exceptions into DeployForge's error tree, at the provider boundary.

``boundary()`` wraps every provider call: a ``DeployForgeError`` raised inside passes through, any
botocore exception becomes a ``ProviderError`` (or ``EndpointUnreachableError``) naming the
resource, the AWS operation and error code, with a hint where one helps.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    CredentialRetrievalError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    SSLError,
    TokenRetrievalError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.parsers import ResponseParserError

from deployforge.errors import DeployForgeError, EndpointUnreachableError, ProviderError

_ACCESS_DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "Forbidden",
        "403",
    }
)
_BAD_CREDENTIALS = frozenset(
    {
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "AuthFailure",
        "UnrecognizedClientException",
        "InvalidToken",
    }
)
_THROTTLED = frozenset(
    {"Throttling", "ThrottlingException", "RequestLimitExceeded", "SlowDown", "TooManyRequestsException"}
)
_INVALID_INPUT = frozenset(
    {
        "InvalidParameterValue",
        "InvalidParameterCombination",
        "InvalidParameter",
        "ValidationError",
        "InvalidRequest",
        "MalformedXML",
        "InvalidArgument",
        "InvalidTag",
        "InvalidBucketName",
        "InvalidPermission.Malformed",
        "InvalidParameterInput",
    }
)
_IN_USE = frozenset({"DependencyViolation", "ResourceInUse", "ResourceInUseFault", "ScalingActivityInProgress"})
_ALREADY_EXISTS = frozenset(
    {
        "InvalidGroup.Duplicate",
        "InvalidLaunchTemplateName.AlreadyExistsException",
        "AlreadyExists",
        "AlreadyExistsFault",
        "ResourceAlreadyExists",
    }
)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ``ClientError`` ('' for anything else)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def _client_error_hint(code: str, target: str, operation: str) -> str | None:
    if code in _ACCESS_DENIED:
        return (
            f"the credentials of target '{target}' are not allowed to call {operation}: check the target's "
            "auth: (AWS profile) or the environment's credentials, and the role's IAM policy"
        )
    if code in _BAD_CREDENTIALS:
        return (
            f"AWS rejected the credentials of target '{target}': refresh them (aws sso login, a new session "
            "token) or point the target's auth: at a working profile"
        )
    if code == "BucketAlreadyExists":
        return "bucket names are global across all AWS accounts and another account owns this one: choose another name"
    if code == "BucketAlreadyOwnedByYou":
        return (
            "this account already has the bucket (perhaps from an interrupted apply): adopt it, delete it, "
            "or choose another name"
        )
    if code == "BucketNotEmpty":
        return "DeployForge never deletes objects: empty the bucket (every version) first, then apply again"
    if code in _ALREADY_EXISTS:
        return "an object with this name already exists: adopt it, delete it, or choose another name"
    if code in _IN_USE:
        return "the object is still used by something else (instances, network interfaces, other groups...)"
    if code in _THROTTLED:
        return "AWS kept throttling after 8 adaptive retries: lower the apply parallelism or retry later"
    if code == "VPCIdNotSpecified":
        return "this region has no default VPC: set vpc_id"
    if code in _INVALID_INPUT or code.startswith("Invalid"):
        return "AWS rejected a value: check the resource's properties"
    return None


def translate(exc: Exception, *, resource: str, action: str, target: str, endpoint: str | None) -> ProviderError:
    """The ``ProviderError`` that reports ``exc`` (a botocore exception) to a user."""
    notes = "".join(f"; {note}" for note in getattr(exc, "__notes__", ()))
    where = endpoint or "the AWS endpoint"
    if isinstance(exc, ClientError):
        error: dict[str, Any] = dict(exc.response.get("Error", {}))
        code = str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "Unknown"))
        detail = error.get("Message") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
        operation = exc.operation_name
        return ProviderError(
            f"{resource}: {operation} failed: {code}: {detail}{notes}",
            hint=_client_error_hint(code, target, operation),
            resource=resource,
            code=code,
        )
    if isinstance(exc, SSLError):
        return EndpointUnreachableError(
            f"{resource}: TLS to {where} failed during {action}: {exc}{notes}",
            hint="a proxy that re-signs TLS needs its CA in AWS_CA_BUNDLE (or the system trust store)",
            resource=resource,
            code="SSLError",
        )
    if isinstance(exc, (BotoConnectionError, ConnectionClosedError)):
        return EndpointUnreachableError(
            f"{resource}: cannot reach {where} during {action}: {exc}{notes}",
            hint=(
                f"check the network, proxy and the region of target '{target}'"
                if endpoint is None
                else f"is the emulator running? check endpoint_url of target '{target}'"
            ),
            resource=resource,
            code="EndpointUnreachable",
        )
    if isinstance(exc, ReadTimeoutError):
        return ProviderError(
            f"{resource}: {where} did not answer in time during {action}: {exc}{notes}",
            hint="AWS was slow to answer; retry the run",
            resource=resource,
            code="ReadTimeout",
        )
    if isinstance(exc, ProfileNotFound):
        return ProviderError(
            f"target '{target}': {exc}",
            hint="set the target's auth: to a profile defined in ~/.aws/config (or AWS_CONFIG_FILE), "
            "or remove auth: to use the environment's credentials",
            resource=resource,
            code="ProfileNotFound",
        )
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError, TokenRetrievalError)):
        return ProviderError(
            f"target '{target}': no usable AWS credentials ({exc})",
            hint="set the target's auth: to an AWS profile, export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "or run where a role is available (OIDC in GitHub Actions, an instance profile)",
            resource=resource,
            code=type(exc).__name__,
        )
    if isinstance(exc, NoRegionError):
        return ProviderError(
            f"target '{target}': no AWS region is configured",
            hint="set region: on the target (or AWS_REGION)",
            resource=resource,
            code="NoRegion",
        )
    if isinstance(exc, ParamValidationError):
        return ProviderError(
            f"{resource}: invalid request for {action}: {exc}{notes}",
            hint="check the resource's properties against `deployforge schema`",
            resource=resource,
            code="ParamValidation",
        )
    if isinstance(exc, ResponseParserError):
        return ProviderError(
            f"{resource}: {where} sent a response that is not an AWS API answer during {action}{notes}",
            hint="moto (the sandbox) answers HTTP 500 for API actions it does not implement; "
            "against AWS, retry the run",
            resource=resource,
            code="UnparsableResponse",
        )
    return ProviderError(f"{resource}: {action} failed: {exc}{notes}", resource=resource, code=type(exc).__name__)


@contextmanager
def boundary(*, resource: str, action: str, target: str, endpoint: str | None) -> Iterator[None]:
    """Translate botocore exceptions raised inside the block; let DeployForge errors through."""
    try:
        yield
    except DeployForgeError as exc:
        _name_adopt(exc, resource, action)
        raise
    except (BotoCoreError, ClientError, ResponseParserError) as exc:
        error = translate(exc, resource=resource, action=action, target=target, endpoint=endpoint)
        if error.code in SETUP_CODES:  # how the target is set up, not a failure of the work: bad input
            error.exit_code = 2
        _name_adopt(error, resource, action)
        raise error from exc


def _name_adopt(error: DeployForgeError, resource: str, action: str) -> None:
    """An object that already exists when apply creates it: the hint names the command that adopts it."""
    code = getattr(error, "code", None)
    if action != "create" or not (code in _ALREADY_EXISTS or code == "BucketAlreadyOwnedByYou"):
        return
    error.hint = (
        f"it already exists (perhaps from an interrupted apply, or made by hand): take it under management with "
        f"`deployforge adopt {resource} ID` (`deployforge drift list --unmanaged` lists ids; a bucket's or an "
        "alarm's id is its name), delete it, or choose another name"
    )


# a missing profile, credentials or region: fixed in the config or the environment (exit 2)
SETUP_CODES = frozenset(
    {
        "ProfileNotFound",
        "NoRegion",
        "NoCredentialsError",
        "PartialCredentialsError",
        "CredentialRetrievalError",
        "TokenRetrievalError",
    }
)
