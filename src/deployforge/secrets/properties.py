"""``vault://`` references inside resource ``properties``: what the engine shows, compares and stores.

Pure (no hvac, no I/O), so the planner and the apply engine use it freely.

* After loading, a property whose value is ``vault://PATH#KEY`` holds a ``SecretRef`` (anywhere
  inside the property: ``labels: {db: vault://...}`` works too). The property is *secret-valued*.
* Plans show such a value as ``(secret: vault://PATH#KEY)`` (:func:`display`); the value itself is
  resolved only when a provider needs it (create/update), by :func:`resolve_properties`.
* The diff never looks at the secret: the state entry of a resource records, per secret-valued
  property, its *signature* (the reference text, :func:`signature`). The property is unchanged while
  the declared signature equals the recorded one, whatever the cloud reports; it changes when the
  reference changes (or nothing was recorded yet). See docs/secrets.md ("Secrets in resource
  properties") for why.
* Whatever the cloud reports for a secret-valued property is replaced by a marker
  (:func:`redact_attributes`) before it reaches a plan fingerprint, the state document, a baseline
  or a drift report. :class:`RedactingProvider` does this for every read of a workspace's provider.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from deployforge.model.config import SecretRef

SENSITIVE = "(sensitive)"  # what a plan shows as the old value of a secret-valued property
SECRET_PREFIX = "(secret: "


def contains_secret(value: Any) -> bool:
    if isinstance(value, SecretRef):
        return True
    if isinstance(value, Mapping):
        return any(contains_secret(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(contains_secret(v) for v in value)
    return False


def display(value: Any) -> Any:
    """``value`` with each ``SecretRef`` replaced by ``(secret: vault://PATH#KEY)`` (never the value)."""
    if isinstance(value, SecretRef):
        return f"{SECRET_PREFIX}{value.raw})"
    if isinstance(value, Mapping):
        return {k: display(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [display(v) for v in value]
    return value


def display_properties(properties: Mapping[str, Any]) -> dict[str, Any]:
    return {k: display(v) for k, v in properties.items()}


def signature(value: Any) -> str:
    """What is recorded in state for a secret-valued property: its reference(s), never the value."""
    if isinstance(value, SecretRef):
        return value.raw
    return json.dumps(display(value), sort_keys=True, separators=(",", ":"), default=str)


def secret_keys(properties: Mapping[str, Any]) -> dict[str, str]:
    """``{property: signature}`` for every secret-valued (top-level) property."""
    return {k: signature(v) for k, v in properties.items() if contains_secret(v)}


def without_secrets(properties: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in properties.items() if not contains_secret(v)}


def marker(sig: str | None) -> str:
    return f"{SECRET_PREFIX}{sig})" if sig else SENSITIVE


def redact_attributes(attributes: Mapping[str, Any], recorded: Mapping[str, str | None]) -> dict[str, Any]:
    """``attributes`` with every key of ``recorded`` that the cloud reports replaced by its marker."""
    out = dict(attributes)
    for key, sig in recorded.items():
        if out.get(key) is not None:
            out[key] = marker(sig)
    return out


def redact_live(live: Any, recorded: Mapping[str, str | None]) -> Any:
    """A ``LiveResource`` (or None) with its secret-valued attributes redacted."""
    if live is None or not recorded:
        return live
    return replace(live, attributes=redact_attributes(live.attributes, recorded))


def iter_refs(value: Any, where: str) -> Iterator[tuple[str, SecretRef]]:
    """Every ``(place, SecretRef)`` inside ``value``; ``where`` names ``value`` (``resources.x.properties.k``)."""
    if isinstance(value, SecretRef):
        yield where, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from iter_refs(v, f"{where}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from iter_refs(v, f"{where}[{i}]")


def property_refs(resource_name: str, properties: Mapping[str, Any]) -> list[tuple[str, SecretRef]]:
    return [
        ref
        for key, value in properties.items()
        for ref in iter_refs(value, f"resources.{resource_name}.properties.{key}")
    ]


def resolve_properties(
    properties: Mapping[str, Any], resolve: Callable[[SecretRef, str], Any], where: str
) -> dict[str, Any]:
    """``properties`` with each ``SecretRef`` replaced by ``resolve(ref, place)``."""

    def one(value: Any, at: str) -> Any:
        if isinstance(value, SecretRef):
            return resolve(value, at)
        if isinstance(value, Mapping):
            return {k: one(v, f"{at}.{k}") for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [one(v, f"{at}[{i}]") for i, v in enumerate(value)]
        return value

    return {k: one(v, f"{where}.{k}") if contains_secret(v) else v for k, v in properties.items()}


class SecretIndex:
    """Which live objects have secret-valued attributes: ``(type, id) -> {property: signature}``.

    Filled from the state document (``load``) each time a workspace reads it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[tuple[str, str], dict[str, str]] = {}

    def load(self, state: Any) -> None:
        found = {
            (str(e.get("type")), str(e.get("id"))): dict(e["secrets"])
            for e in state.resources.values()
            if e.get("secrets")
        }
        with self._lock:
            self._by_id.update(found)

    def get(self, resource_type: str, resource_id: str) -> dict[str, str]:
        with self._lock:
            return dict(self._by_id.get((resource_type, resource_id), {}))

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._by_id)


class RedactingProvider:
    """A provider whose reads (``read``, ``lookup``, ``list``) report secret-valued attributes as markers.

    Every other attribute and method is the wrapped provider's (``__getattr__``).
    """

    def __init__(self, provider: Any, index: SecretIndex):
        self._provider = provider
        self._index = index

    @property
    def wrapped(self) -> Any:
        return self._provider

    def _redact(self, live: Any) -> Any:
        if live is None:
            return None
        return redact_live(live, self._index.get(live.type, live.id))

    def read(self, resource_type: str, resource_id: str) -> Any:
        return self._redact(self._provider.read(resource_type, resource_id))

    def lookup(self, spec: Any) -> Any:
        return self._redact(self._provider.lookup(spec))

    def list(self, resource_type: str) -> Iterator[Any]:
        for live in self._provider.list(resource_type):
            yield self._redact(live)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._provider, name)
