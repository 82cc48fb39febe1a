"""Baselines: the live attributes of every managed resource of an environment, snapshotted after a
successful apply (and, from the canary release, after every successful deploy). Drift detection
compares live state with the latest one.

Stored beside the state by the backend (``write_baseline`` / ``read_baseline``): local
``.deployforge/baselines/<env>/<id>.json``, S3 ``<prefix>/<env>/baselines/<id>.json``. Ids sort by
time (they are the run ids that took them), so the latest is the greatest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BASELINE_FORMAT = 1


def _attributes(value: Any) -> dict[str, Any]:
    # a freshly parsed object is used as it is (a copy of 100,000 of them costs time and memory)
    return value if type(value) is dict else dict(value)


@dataclass(frozen=True)
class BaselineResource:
    name: str
    type: str
    target: str
    id: str
    attributes: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "target": self.target, "id": self.id, "attributes": self.attributes}


@dataclass(frozen=True)
class Baseline:
    environment: str
    id: str  # the run id that took it
    taken_at: str
    config_hash: str
    commit: str | None = None
    state_serial: int = 0
    resources: dict[str, BaselineResource] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": BASELINE_FORMAT,
            "environment": self.environment,
            "id": self.id,
            "taken_at": self.taken_at,
            "config_hash": self.config_hash,
            "commit": self.commit,
            "state_serial": self.state_serial,
            "resources": {name: r.to_json() for name, r in sorted(self.resources.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Baseline:
        if data.get("format") != BASELINE_FORMAT:
            raise ValueError(f"unknown baseline format {data.get('format')!r}")
        return cls(
            environment=data["environment"],
            id=data["id"],
            taken_at=data["taken_at"],
            config_hash=data["config_hash"],
            commit=data.get("commit"),
            state_serial=int(data.get("state_serial", 0)),
            resources={
                name: BaselineResource(name, r["type"], r["target"], r["id"], _attributes(r["attributes"]))
                for name, r in data.get("resources", {}).items()
            },
        )
