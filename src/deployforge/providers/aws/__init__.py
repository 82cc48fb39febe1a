"""The AWS provider (boto3). Importing this package loads neither boto3 nor botocore.

``AwsProvider`` and ``aws_provider_for_target`` are loaded on first use; type metadata lives in
``deployforge.providers.aws.types`` and is importable without any SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deployforge.providers.aws.provider import AwsProvider

__all__ = ["AwsProvider", "aws_provider_for_target"]


def aws_provider_for_target(target_name: str, settings: Mapping[str, Any]) -> AwsProvider:
    """The provider of one target; ``settings``: region, profile (``auth``), endpoint_url."""
    from deployforge.providers.aws.provider import aws_provider_for_target as build

    return build(target_name, settings)


def __getattr__(name: str) -> Any:
    if name == "AwsProvider":
        from deployforge.providers.aws.provider import AwsProvider

        return AwsProvider
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
