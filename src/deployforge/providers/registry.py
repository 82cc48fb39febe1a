"""Which provider kinds exist, which resource types each offers, and how to build one for a target.

Type metadata (``TypeInfo``) is importable without any cloud SDK, so
``deployforge validate`` and ``deployforge schema`` stay fast; the SDK is
imported only when ``provider_for_target`` builds a live provider.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from deployforge.errors import UsageError
from deployforge.providers.base import Provider, TypeInfo

PROVIDER_KINDS = ("aws", "google")

# Other spellings users write (the product page says aws_auto_scaling_group) -> the canonical type.
TYPE_ALIASES = {"aws_auto_scaling_group": "aws_autoscaling_group"}


def canonical_type(name: str) -> str:
    return TYPE_ALIASES.get(name, name)


@cache
def resource_type_infos() -> dict[str, tuple[str, TypeInfo]]:
    """resource type -> (provider kind, TypeInfo) for every type any provider offers."""
    from deployforge.providers.aws.types import TYPE_INFOS as AWS_TYPES
    from deployforge.providers.google.types import TYPE_INFOS as GOOGLE_TYPES

    result: dict[str, tuple[str, TypeInfo]] = {}
    for name, info in AWS_TYPES.items():
        result[name] = ("aws", info)
    for name, info in GOOGLE_TYPES.items():
        result[name] = ("google", info)
    return result


def provider_for_target(kind: str, target: str, settings: dict[str, Any]) -> Provider:
    """Build the live provider for one target. ``settings``: region, profile, endpoint_url, ..."""
    if kind == "aws":
        from deployforge.providers.aws import aws_provider_for_target

        return aws_provider_for_target(target, settings)
    if kind == "google":
        from deployforge.providers.google import google_provider_for_target

        return google_provider_for_target(target, settings)
    raise UsageError(
        f"target '{target}': the {kind} provider has no resource types in this release",
        hint="resources go on an aws or google target",
    )
