"""The loaded configuration, as frozen dataclasses (pure data, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from deployforge.errors import Location


class SourcePositions(Protocol):
    """Where each key and value of the parsed file is (``config/yamlpos.Positions``)."""

    def location(self, path: tuple[str | int, ...], *, key: bool = False) -> Location: ...


@dataclass(frozen=True)
class SecretRef:
    """``vault://path#key``: resolved by the secrets layer when the value is used."""

    path: str
    key: str | None
    raw: str

    def __str__(self) -> str:
        return self.raw


@dataclass(frozen=True)
class Target:
    name: str
    provider: str
    region: str | None = None
    project: str | None = None
    auth: str | None = None
    credentials: str | SecretRef | None = None
    endpoint_url: str | None = None

    def settings(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "profile": self.auth,
            "project": self.project,
            "credentials": self.credentials,
            "endpoint_url": self.endpoint_url,
        }


@dataclass(frozen=True)
class Resource:
    name: str
    type: str
    target: str
    properties: Mapping[str, Any]  # may hold "${resources.x.y}" references, resolved by the engine
    tags: Mapping[str, str] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()  # explicit + implied by references, sorted
    location: Location | None = None

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"


@dataclass(frozen=True)
class StateSettings:
    backend: str = "local"  # local | s3
    path: str = ".deployforge"  # local folder, relative to the config file
    url: str | None = None  # s3://bucket/prefix
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None


@dataclass(frozen=True)
class AuditSigning:
    """``audit.signing``: the key the writer signs checkpoints with (one of the three), and the public key."""

    key_file: str | None = None  # a PEM private key (Ed25519 / ECDSA) the log's folder does not hold
    kms_key_id: str | None = None  # an AWS KMS asymmetric SIGN_VERIFY key (id, ARN or alias)
    key: str | SecretRef | None = None  # vault://path#key holding a PEM private key
    public_key: str | None = None  # a PEM public key file for `audit verify`


@dataclass(frozen=True)
class AuditSettings:
    """The ``audit:`` section (docs/audit.md); ``$VAR`` references already resolved."""

    enabled: bool = True
    path: str | None = None  # default: <state path>/audit/audit.jsonl
    storage: str = "local"  # local | s3 | gcs
    url: str | None = None  # s3://bucket/prefix or gs://bucket/prefix
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    retention_days: int | None = None  # S3 Object Lock retention of every record
    lock_mode: str = "governance"  # governance | compliance
    require_retention: bool = True  # GCS: refuse a bucket without a retention policy
    signing: AuditSigning | None = None  # signed checkpoints (docs/audit.md)
    witness: str | None = None  # s3://BUCKET/PREFIX with Object Lock: where checkpoints are published


@dataclass(frozen=True)
class Config:
    path: str  # the config file as given
    base_dir: str  # folder relative paths in the config are resolved against
    environment: str
    config_hash: str  # sha256 of the canonical, environment-resolved document
    targets: Mapping[str, Target]
    resources: Mapping[str, Resource]  # in file order
    variables: Mapping[str, Any] = field(default_factory=dict)
    require_confirmation: bool = False
    environments: tuple[str, ...] = ()
    state: StateSettings = field(default_factory=StateSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    # Sections whose behaviour later releases add; kept as validated plain data.
    workflows: Mapping[str, Any] = field(default_factory=dict)
    deploy: Mapping[str, Any] = field(default_factory=dict)
    hooks: tuple[Mapping[str, Any], ...] = ()
    self_healing_rules: tuple[Mapping[str, Any], ...] = ()
    policies: tuple[Any, ...] = ()
    notifications: Mapping[str, Any] = field(default_factory=dict)
    # problems that only matter to commands that talk to the cloud (an unset variable in a target's
    # auth or credentials), when loaded for `validate`, which makes no cloud call
    warnings: tuple[str, ...] = ()
    # the source positions of the file this was loaded from (config/load.py parses with positions), so
    # an issue found later (the deploy section, hooks, self-healing rules) is located without parsing
    # the file again; not part of equality, the hash or any JSON
    positions: SourcePositions | None = field(default=None, compare=False, hash=False, repr=False)

    def locate(self, path: tuple[Any, ...], *, key: bool = False) -> Location:
        """Where ``path`` (keys and list indexes) is in the config file: its value (its key when ``key``),
        else the nearest enclosing path that has a position; the file alone for a Config built in code."""
        if self.positions is None:
            return Location(self.path)
        return self.positions.location(path, key=key)
