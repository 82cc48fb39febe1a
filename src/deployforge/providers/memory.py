"""An in-memory provider: the reference implementation of the provider contract.

It backs the engine's unit tests, the contract suite's baseline and the
planning benchmark. It is not selectable from a config file. Its resource
types are ``memory_object`` (anything goes) and ``memory_volume`` (``size``
may be changed in place, ``zone`` forces replacement).
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from deployforge.errors import ProviderError
from deployforge.providers.base import LiveResource, ResourceSpec, TypeInfo

_PROPERTIES = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "The object's name (natural key)."},
        "size": {"type": "integer", "minimum": 0},
        "zone": {"type": "string"},
        "color": {"type": "string"},
        "encrypted": {"type": "boolean"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "parent": {"type": "string", "description": "Usually a ${resources.x.id} reference."},
    },
    "additionalProperties": False,
}
_TYPES = {
    "memory_object": TypeInfo(type="memory_object", outputs=frozenset({"id", "name"}), properties_schema=_PROPERTIES),
    "memory_volume": TypeInfo(
        type="memory_volume",
        force_new=frozenset({"zone"}),
        outputs=frozenset({"id", "name", "arn"}),
        defaults={"encrypted": False},
        properties_schema=_PROPERTIES,
    ),
}


class MemoryProvider:
    name = "memory"

    def __init__(self, fail_on: set[str] | None = None):
        self._objects: dict[tuple[str, str], dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.fail_on = set(fail_on or ())  # resource names whose create/update fails (tests)
        self.calls: list[tuple[str, str]] = []

    def type_info(self, resource_type: str) -> TypeInfo:
        try:
            return _TYPES[resource_type]
        except KeyError:
            raise ProviderError(f"memory provider has no resource type {resource_type}") from None

    def resource_types(self) -> frozenset[str]:
        return frozenset(_TYPES)

    def _live(self, resource_type: str, resource_id: str, obj: dict[str, Any]) -> LiveResource:
        attrs = copy.deepcopy(obj)
        outputs = {
            "id": resource_id,
            "name": attrs.get("name"),
            "arn": f"arn:memory:{resource_type}:{resource_id}",
        }
        return LiveResource(type=resource_type, id=resource_id, attributes=attrs, outputs=outputs)

    def read(self, resource_type: str, resource_id: str) -> LiveResource | None:
        with self._lock:
            self.calls.append(("read", resource_id))
            obj = self._objects.get((resource_type, resource_id))
            return None if obj is None else self._live(resource_type, resource_id, obj)

    def read_many(self, resource_type: str, resource_ids: list[str]) -> dict[str, LiveResource | None]:
        with self._lock:
            self.calls.append(("read_many", f"{resource_type} x{len(resource_ids)}"))
            found = {rid: self._objects.get((resource_type, rid)) for rid in resource_ids}
            return {rid: None if obj is None else self._live(resource_type, rid, obj) for rid, obj in found.items()}

    def lookup(self, spec: ResourceSpec) -> LiveResource | None:
        key = spec.properties.get("name", spec.name)
        with self._lock:
            for (rtype, rid), obj in self._objects.items():
                if rtype == spec.type and obj.get("name") == key:
                    return self._live(rtype, rid, obj)
        return None

    def create(self, spec: ResourceSpec) -> LiveResource:
        self.type_info(spec.type)
        if spec.name in self.fail_on:
            raise ProviderError(f"simulated failure creating {spec.address}", resource=spec.address)
        with self._lock:
            self.calls.append(("create", spec.name))
            rid = f"m-{next(self._ids):06d}"
            obj = copy.deepcopy(dict(spec.properties))
            obj.setdefault("name", spec.name)
            obj["tags"] = dict(spec.tags)
            self._objects[(spec.type, rid)] = obj
            return self._live(spec.type, rid, obj)

    def update(self, spec: ResourceSpec, live: LiveResource, changes: frozenset[str]) -> LiveResource:
        if spec.name in self.fail_on:
            raise ProviderError(f"simulated failure updating {spec.address}", resource=spec.address)
        info = self.type_info(spec.type)
        if changes & info.force_new:
            raise ProviderError(f"{sorted(changes & info.force_new)} cannot change in place")
        with self._lock:
            self.calls.append(("update", spec.name))
            obj = self._objects.get((spec.type, live.id))
            if obj is None:
                raise ProviderError(f"{spec.address} ({live.id}) no longer exists", resource=spec.address)
            for key in changes:
                if key == "tags":
                    obj["tags"] = dict(spec.tags)
                elif key in spec.properties:
                    obj[key] = copy.deepcopy(spec.properties[key])
                else:
                    obj.pop(key, None)
            return self._live(spec.type, live.id, obj)

    def delete(self, resource_type: str, resource_id: str) -> None:
        with self._lock:
            self.calls.append(("delete", resource_id))
            self._objects.pop((resource_type, resource_id), None)

    def list(self, resource_type: str) -> Iterator[LiveResource]:
        with self._lock:
            items = [(rid, obj) for (rtype, rid), obj in self._objects.items() if rtype == resource_type]
        for rid, obj in items:
            yield self._live(resource_type, rid, obj)

    def normalize(self, resource_type: str, properties: Mapping[str, Any]) -> Mapping[str, Any]:
        return properties

    def preflight(self) -> None:
        self.calls.append(("preflight", ""))

    # out-of-band change, for tests of drift and stale plans
    def tamper(self, resource_type: str, resource_id: str, **attrs: Any) -> None:
        with self._lock:
            self._objects[(resource_type, resource_id)].update(attrs)
