"""The Google Cloud provider (google-auth + ``AuthorizedSession`` over the documented REST APIs).

Importing this package loads no Google library: ``types`` holds the SDK-free type metadata,
``provider`` (loaded on first use) the live provider; ``actions`` the workflow actions
``dataflow.start`` and ``storage.copy``. The Cloud Run traffic shifter lives with the other
shifters, in ``deploy/shifters/google_cloudrun.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deployforge.providers.google.provider import GoogleProvider

__all__ = ["GoogleProvider", "google_provider_for_target"]


def google_provider_for_target(target_name: str, settings: Mapping[str, Any]) -> GoogleProvider:
    from deployforge.providers.google.provider import GoogleProvider

    return GoogleProvider.from_settings(target_name, settings)
