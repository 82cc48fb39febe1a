"""The provider contract every cloud adapter implements.

A provider turns a declared resource (``ResourceSpec``: type, name, properties,
tags) into a real object in a cloud, reads it back, changes it and removes it.
The planner and the apply engine (``deployforge.engine``) only ever talk to
this contract; one contract test suite (``tests/contract``) runs against every
provider.

Semantics every provider guarantees:

* ``read`` returns ``None`` when the object does not exist (never raises for
  "not found"), and a ``LiveResource`` whose ``attributes`` use the same keys
  and value shapes as the spec's ``properties`` (plus ``tags``), so the pure
  diff can compare them key by key.
* ``lookup`` finds an object by its natural key (bucket name, group name...)
  so an apply that was killed after a create but before the state write can
  adopt what it made instead of creating a duplicate.
* ``create`` either returns the created object or raises ``ProviderError``
  having removed anything it partly created: a failed create leaves nothing
  behind.
* ``update`` changes only the attributes named in ``changes`` in place; the
  planner never asks for an in-place update of an attribute listed in
  ``TypeInfo.force_new`` (that is a replace).
* ``delete`` is idempotent: deleting something already gone succeeds.
* ``list`` yields every object of a type the provider can see, following every
  page, for drift detection and adoption.
* ``read_many`` (optional, see ``read_batch``) reads several objects of one type
  by id in as few calls as the API allows, at its largest page size; it returns
  None for a type the API can only read one at a time.
* ``normalize`` returns a spec's properties in the canonical shapes ``read``
  reports (sorted where the cloud treats a list as a set), so the planner
  compares like with like and declared order never shows as a change.
* ``preflight`` checks cheaply that the target is reachable and its
  credentials work (AWS: ``sts:GetCallerIdentity``), so a wrong endpoint or
  profile is reported before planning, not halfway through an apply.
* Every foreign exception (botocore, HTTP) is translated into a
  ``deployforge.errors.ProviderError`` (or ``EndpointUnreachableError``) at
  this boundary.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class TypeInfo:
    """What the planner needs to know about a resource type.

    ``force_new``: property keys whose change requires replacing the object.
    ``computed``: attribute keys the cloud sets (never diffed).
    ``outputs``: attribute names other resources may reference as
    ``${resources.NAME.<output>}`` (``id`` is always available).
    ``defaults``: values the cloud assumes when a property is omitted, so an
    omitted property and its default do not show as a change.
    ``natural_key``: the property that names the object in the cloud.
    """

    type: str
    force_new: frozenset[str] = frozenset()
    computed: frozenset[str] = frozenset()
    outputs: frozenset[str] = frozenset({"id"})
    defaults: Mapping[str, Any] = field(default_factory=dict)
    natural_key: str = "name"
    description: str = ""
    # JSON-Schema fragment for the ``properties`` of this type (editor completion, validation)
    properties_schema: Mapping[str, Any] = field(default_factory=dict)
    # False: the cloud has no tags for this type (Google: labels), so `validate` refuses `tags:`
    takes_tags: bool = True


@dataclass(frozen=True)
class ResourceSpec:
    """A declared resource with every reference already resolved."""

    name: str  # the key under ``resources:``
    type: str
    target: str
    properties: Mapping[str, Any]
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"


@dataclass(frozen=True)
class LiveResource:
    """An object as it exists in the cloud right now."""

    type: str
    id: str
    attributes: Mapping[str, Any]  # same keys/shapes as ResourceSpec.properties (+ "tags")
    outputs: Mapping[str, Any] = field(default_factory=dict)  # id, arn, ... for references


def read_batch(
    provider: Provider, resource_type: str, resource_ids: list[str]
) -> dict[str, LiveResource | None] | None:
    """``provider.read_many`` when the provider has it for this type, else None (read one by one)."""
    method = getattr(provider, "read_many", None)
    if method is None:
        return None
    found: dict[str, LiveResource | None] | None = method(resource_type, resource_ids)
    return found


@runtime_checkable
class Provider(Protocol):
    """One configured target (an account+region, a project...)."""

    name: str  # the provider kind, e.g. "aws"

    def type_info(self, resource_type: str) -> TypeInfo: ...

    def resource_types(self) -> frozenset[str]: ...

    def read(self, resource_type: str, resource_id: str) -> LiveResource | None: ...

    def lookup(self, spec: ResourceSpec) -> LiveResource | None: ...

    def create(self, spec: ResourceSpec) -> LiveResource: ...

    def update(self, spec: ResourceSpec, live: LiveResource, changes: frozenset[str]) -> LiveResource: ...

    def delete(self, resource_type: str, resource_id: str) -> None: ...

    def list(self, resource_type: str) -> Iterator[LiveResource]: ...

    def normalize(self, resource_type: str, properties: Mapping[str, Any]) -> Mapping[str, Any]: ...

    def preflight(self) -> None: ...
