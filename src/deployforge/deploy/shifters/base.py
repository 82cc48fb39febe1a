"""The traffic-shifter contract (cloud-neutral) and the registry shifters plug into.

A *traffic shifter* moves a share of real traffic between two versions of one service: the
*stable* version (what serves today) and the *canary* (the new version). The deploy controller
only ever talks to this contract, so a strategy runs the same way over an ALB listener, a Lambda
alias or a Cloud Run service.

Semantics every shifter guarantees:

* ``validate(settings)`` (a static/class method, pure, no I/O) returns located-free messages for
  settings that cannot work (a missing ``listener_arn``...). The controller turns them into
  ``ConfigIssue``s before anything runs.
* ``preflight()`` checks that the thing it shifts exists (listener, target groups, alias and both
  versions, service and both revisions) and raises ``ShifterNotFoundError`` (exit 2) when it does
  not, before any traffic moves.
* ``current()`` reads the live weights.
* ``set_canary_weight(percent)`` sets the canary to ``percent`` (0..100) and the stable version
  to ``100 - percent``, then *reads the weights back* and raises ``ShiftVerificationError`` if
  they are not what was set. It returns the weights read back.
* ``promote()`` makes the canary the stable version at 100% (what that means per shifter is
  documented on each implementation and in docs/deploy.md); the next deploy starts from there.
* ``rollback()`` sends all traffic back to stable (canary weight 0), reads back and verifies.
* Every foreign exception is translated into a ``DeployForgeError`` at this boundary.

Registering a shifter (each lives in this package: aws_alb, aws_lambda, google_cloudrun): add one line to
``SHIFTERS`` below (``"kind": "module.path:factory"``, imported only when used), or call
``register_shifter("kind", factory)`` at import time of a module that is already loaded. A factory
is ``factory(settings: Mapping[str, Any], context: ShifterContext) -> TrafficShifter``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from deployforge.errors import InputError, ProviderError


class ShifterNotFoundError(InputError):
    """The listener / alias / service a shifter names does not exist (found before traffic moves)."""


class ShiftVerificationError(ProviderError):
    """The weights read back after a change are not the weights that were set."""


@dataclass(frozen=True)
class Weights:
    """Live traffic split between the stable version and the canary, in whole percent.

    ``detail`` maps the cloud's own names (target group ARNs, version numbers, revision names)
    to their raw weights, for reports; ``revision`` is an optimistic-concurrency token where the
    cloud has one (a Lambda alias's RevisionId, a Cloud Run etag).
    """

    stable: int
    canary: int
    detail: Mapping[str, float] = field(default_factory=dict)
    revision: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"stable": self.stable, "canary": self.canary, "detail": dict(self.detail)}


@dataclass(frozen=True)
class ShifterContext:
    """What a shifter factory gets besides its settings.

    ``provider`` is the already-configured provider of ``target`` (an ``AwsProvider`` for AWS,
    whose ``client(service)`` a shifter should reuse so calls are counted and share a session);
    ``target_settings`` are the target's resolved settings (region, endpoint_url, ...).
    """

    target: str
    provider_kind: str
    provider: Any = None
    target_settings: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class TrafficShifter(Protocol):
    kind: str  # the registry key, e.g. "aws_alb_listener"
    description: str  # human readable: what is being shifted

    def preflight(self) -> None: ...

    def current(self) -> Weights: ...

    def set_canary_weight(self, percent: int) -> Weights: ...

    def promote(self) -> Weights: ...

    def rollback(self) -> Weights: ...


ShifterFactory = Callable[[Mapping[str, Any], ShifterContext], TrafficShifter]
SettingsValidator = Callable[[Mapping[str, Any]], list[str]]


@dataclass(frozen=True)
class ShifterEntry:
    kind: str
    provider: str  # which target provider it needs: "aws", "google", "memory"
    factory: str | ShifterFactory  # "module:attr" (lazy) or a callable
    validate: str | SettingsValidator | None = None  # "module:attr" or callable; None: no checks
    description: str = ""


# The built-in shifters, imported only when a deploy uses them (no cloud SDK at import time).
SHIFTERS: dict[str, ShifterEntry] = {
    "aws_alb_listener": ShifterEntry(
        "aws_alb_listener",
        "aws",
        "deployforge.deploy.shifters.aws_alb:AlbListenerShifter",
        "deployforge.deploy.shifters.aws_alb:validate_settings",
        "an ALB listener (or rule) forwarding to two weighted target groups",
    ),
    "aws_lambda_alias": ShifterEntry(
        "aws_lambda_alias",
        "aws",
        "deployforge.deploy.shifters.aws_lambda:LambdaAliasShifter",
        "deployforge.deploy.shifters.aws_lambda:validate_settings",
        "a Lambda alias routing between two function versions",
    ),
    "cloud_run_service": ShifterEntry(
        "cloud_run_service",
        "google",
        "deployforge.deploy.shifters.google_cloudrun:cloud_run_shifter",
        "deployforge.deploy.shifters.google_cloudrun:validate_settings",
        "a Cloud Run service splitting traffic between two revisions (Admin API v2)",
    ),
}

KIND_ALIASES = {"alb": "aws_alb_listener", "elbv2": "aws_alb_listener", "lambda": "aws_lambda_alias"}


def register_shifter(
    kind: str,
    factory: str | ShifterFactory,
    *,
    provider: str,
    validate: str | SettingsValidator | None = None,
    description: str = "",
) -> None:
    """Add (or replace) a shifter kind. ``factory``/``validate`` may be ``"module:attr"`` strings."""
    SHIFTERS[kind] = ShifterEntry(kind, provider, factory, validate, description)


def _resolve(ref: Any) -> Any:
    if isinstance(ref, str):
        module, _, attr = ref.partition(":")
        return getattr(importlib.import_module(module), attr)
    return ref


def shifter_kinds() -> list[str]:
    return sorted(SHIFTERS)


def lookup(kind: str) -> ShifterEntry | None:
    return SHIFTERS.get(KIND_ALIASES.get(kind, kind))


def validate_settings(kind: str, settings: Mapping[str, Any]) -> list[str]:
    """Pure checks of a shifter's settings; an unknown kind is reported with the valid ones."""
    entry = lookup(kind)
    if entry is None:
        return [f"unknown shifter type '{kind}' (valid: {', '.join(shifter_kinds())})"]
    if entry.validate is None:
        return []
    validator: SettingsValidator = _resolve(entry.validate)
    return validator(settings)


def make_shifter(kind: str, settings: Mapping[str, Any], context: ShifterContext) -> TrafficShifter:
    entry = lookup(kind)
    if entry is None:
        raise InputError(
            f"unknown shifter type '{kind}'",
            hint=f"valid shifter types: {', '.join(shifter_kinds())}",
        )
    if entry.provider != context.provider_kind:
        raise InputError(
            f"shifter '{entry.kind}' needs a target with provider '{entry.provider}', "
            f"but target '{context.target}' is '{context.provider_kind}'",
            hint="set deploy.shifter.target to a target of the right cloud",
        )
    factory: ShifterFactory = _resolve(entry.factory)
    return factory(settings, context)


def check_readback(shifter: TrafficShifter, wanted_canary: int, got: Weights) -> Weights:
    """Raise ShiftVerificationError unless the weights read back are the ones set."""
    if got.canary != wanted_canary or got.stable != 100 - wanted_canary:
        raise ShiftVerificationError(
            f"{shifter.description}: set canary {wanted_canary}% / stable {100 - wanted_canary}%, "
            f"but read back canary {got.canary}% / stable {got.stable}%",
            hint="something else changed the weights at the same time, or the cloud did not apply them",
            code="WeightMismatch",
        )
    return got
