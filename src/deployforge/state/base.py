"""State backends: where each environment's state document and lock live.

A backend stores, per environment, one JSON *state document* and at most one
*lock*. Writes of the document are atomic (a reader sees the old or the new
document, never a torn one). The lock is taken with an atomic create-if-absent
(``O_EXCL`` locally, a conditional ``PutObject`` with ``If-None-Match: *`` on
S3) so two runs can never both hold it.

State document (``StateDocument.to_json``)::

    {"version": 1, "environment": "dev", "serial": 7, "lineage": "<uuid>",
     "updated_at": "...", "run_id": "...",
     "resources": {NAME: {"type", "target", "id", "attributes", "outputs",
                          "depends_on", "run_id"}},
     "pending": [{"resource", "action", "run_id", "started_at"}]}

``pending`` is the journal of operations that were started but not finished:
a run records the intent before calling the cloud and clears it after, so a
run killed in between leaves a visible record that the next plan reconciles
(by looking the object up by its natural key).

Changes during an apply are *records* (``StateDocument.record``): the next serial, when, which
run, and a few small operations (``apply_ops``). A backend that can append (local) stores the
records in an append-only journal beside the document and rewrites the whole document only now
and then (compaction), so what an apply writes grows with what it changes, not with the size of
the state times the number of changes. Others (S3) write the whole document per batch of records.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from deployforge.errors import StateError

if TYPE_CHECKING:
    from deployforge.state.baseline import Baseline

STATE_VERSION = 1


def checked_environment(environment: str, where: str) -> str:
    """``environment`` when it can name stored objects (a file name, one S3 key segment); StateError
    otherwise. The config refuses such names first; a backend does not rely on every caller to, since
    a name holding a path (``../x``) would read or write outside the environment's place."""
    if not environment or environment in (".", "..") or any(c in environment for c in "/\\\0"):
        raise StateError(
            f"'{environment}' cannot be used as an environment name in {where}",
            hint="environment names must be non-empty, not '.' or '..', and contain no '/', '\\' or NUL",
        )
    return environment


def is_plain_id(baseline_id: str) -> bool:
    """Whether a baseline id can name a stored object of its environment (no path in it)."""
    return bool(baseline_id) and baseline_id not in (".", "..") and not any(c in baseline_id for c in "/\\\0")


@dataclass(frozen=True)
class LockInfo:
    """Who holds an environment's lock, as stored in the lock object."""

    lock_id: str
    environment: str
    run_id: str
    actor: str
    host: str
    pid: int
    created_at: float
    ci_run_url: str | None = None
    operation: str = "apply"

    @classmethod
    def new(cls, environment: str, run_id: str, operation: str, ci_run_url: str | None = None) -> LockInfo:
        try:
            from deployforge.ci.platform import actor as ci_actor

            actor = ci_actor(os.environ) or getpass.getuser()
        except (KeyError, OSError):
            actor = "unknown"
        return cls(
            lock_id=str(uuid.uuid4()),
            environment=environment,
            run_id=run_id,
            actor=actor,
            host=socket.gethostname(),
            pid=os.getpid(),
            created_at=time.time(),
            ci_run_url=ci_run_url,
            operation=operation,
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LockInfo:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def is_stale_here(self) -> bool:
        """True when the holder ran on this host and its process is gone."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def is_alive_here(self) -> bool:
        """True when the holder ran on this host and its process still exists (the lock is in use)."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.created_at))
        text = f"run {self.run_id} ({self.operation}) by {self.actor} on {self.host} pid {self.pid} since {when}"
        if self.ci_run_url:
            text += f", {self.ci_run_url}"
        return text


@dataclass
class StateDocument:
    environment: str
    serial: int = 0
    lineage: str = field(default_factory=lambda: str(uuid.uuid4()))
    updated_at: str = ""
    run_id: str = ""
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending: list[dict[str, Any]] = field(default_factory=list)
    # the journal of a canary in progress (deploy/service.py); None when no canary is running
    canary: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": STATE_VERSION,
            "environment": self.environment,
            "serial": self.serial,
            "lineage": self.lineage,
            "updated_at": self.updated_at,
            "run_id": self.run_id,
            "resources": self.resources,
            "pending": self.pending,
        }
        if self.canary is not None:
            out["canary"] = self.canary
        return out

    @classmethod
    def from_json(cls, data: Any, environment: str | None = None) -> StateDocument:
        """The document, its shape checked (ValueError says what is wrong, in the file's terms).

        ``environment``: the environment it was read for; a document of another one is refused.
        """
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, found {type(data).__name__}")
        if not isinstance(data.get("environment"), str) or not data["environment"]:
            raise ValueError("'environment' is missing or not a string")
        if environment is not None and data["environment"] != environment:
            raise ValueError(f"it is the state of environment '{data['environment']}', not of '{environment}'")
        resources = data.get("resources", {})
        if not isinstance(resources, dict):
            raise ValueError("'resources' must be an object of resource name -> entry")
        for name, entry in resources.items():
            if not isinstance(entry, dict):
                raise ValueError(f"resources.{name} must be an object, found {type(entry).__name__}")
            for key in ("type", "target"):
                if not isinstance(entry.get(key), str):
                    raise ValueError(f"resources.{name}.{key} is missing or not a string")
            if not isinstance(entry.get("attributes", {}), dict):
                raise ValueError(f"resources.{name}.attributes must be an object")
        pending = data.get("pending", [])
        if not isinstance(pending, list) or not all(isinstance(p, dict) and "resource" in p for p in pending):
            raise ValueError("'pending' must be a list of operations, each naming its 'resource'")
        if not isinstance(data.get("serial", 0), int):
            raise ValueError("'serial' must be an integer")
        return cls(
            environment=data["environment"],
            serial=int(data.get("serial", 0)),
            lineage=data.get("lineage") or str(uuid.uuid4()),
            updated_at=data.get("updated_at", ""),
            run_id=data.get("run_id", ""),
            resources=dict(data.get("resources", {})),
            pending=list(data.get("pending", [])),
            canary=data.get("canary") or None,
        )

    # -- records: the changes of a run, as small operations (see the module docstring) ----------

    def apply_ops(self, ops: Sequence[Sequence[Any]]) -> None:
        """Apply operations in order. Each is a list:

        ``["set", NAME, ENTRY]`` record a resource; ``["del", NAME]`` forget it;
        ``["begin", PENDING]`` journal an operation about to start; ``["end", NAME]`` drop the
        pending operations of NAME; ``["clear"]`` drop every pending operation.
        """
        for op in ops:
            kind = op[0]
            if kind == "set":
                self.resources[op[1]] = op[2]
            elif kind == "del":
                self.resources.pop(op[1], None)
            elif kind == "begin":
                self.pending.append(op[1])
            elif kind == "end":
                self.pending = [p for p in self.pending if p.get("resource") != op[1]]
            elif kind == "clear":
                self.pending = []
            else:
                raise ValueError(f"unknown state operation {kind!r}")

    def record(self, ops: Sequence[Sequence[Any]], run_id: str, updated_at: str) -> dict[str, Any]:
        """Apply ``ops`` as the next serial and return the record that replays them."""
        self.apply_ops(ops)
        self.serial += 1
        self.updated_at = updated_at
        self.run_id = run_id
        return {"serial": self.serial, "updated_at": updated_at, "run_id": run_id, "ops": [list(o) for o in ops]}

    def replay(self, record: dict[str, Any]) -> None:
        """Apply a stored record (``record``'s result) to this document."""
        ops = record.get("ops")
        if not isinstance(ops, list) or not isinstance(record.get("serial"), int):
            raise ValueError("a journal record needs an integer 'serial' and a list of 'ops'")
        self.apply_ops(ops)
        self.serial = record["serial"]
        self.updated_at = str(record.get("updated_at", self.updated_at))
        self.run_id = str(record.get("run_id", self.run_id))

    def snapshot(self) -> StateDocument:
        """A copy that later ``apply_ops`` on this document do not change (entries are replaced, never
        edited in place, so copying the containers is enough)."""
        return StateDocument(
            environment=self.environment,
            serial=self.serial,
            lineage=self.lineage,
            updated_at=self.updated_at,
            run_id=self.run_id,
            resources=dict(self.resources),
            pending=list(self.pending),
            canary=self.canary,
        )


class StateBackend(Protocol):
    """Storage for state documents and locks. Implementations: local, s3."""

    description: str  # human readable, e.g. "local .deployforge/state" or "s3://bucket/prefix"

    def read(self, environment: str) -> StateDocument | None:
        """The environment's state, or None when it has none yet. Raises StateError if unreadable."""
        ...

    def write(self, document: StateDocument) -> None:
        """Atomically replace the environment's state document."""
        ...

    # Optional: ``append_records(environment, records) -> bool`` (see ``JournalingBackend``).

    def acquire_lock(self, info: LockInfo) -> LockInfo:
        """Take the environment's lock or raise LockHeldError naming the holder."""
        ...

    def release_lock(self, info: LockInfo) -> None:
        """Release a lock this run holds (no error if it is already gone)."""
        ...

    def read_lock(self, environment: str) -> LockInfo | None: ...

    def force_unlock(self, lock_id: str, *, force: bool = False) -> LockInfo:
        """Remove the lock with this id, whichever environment it is on. StateError if none, and
        (without ``force``) LockHeldError when its holder is still running on this host."""
        ...

    def environments(self) -> Iterator[str]: ...

    def write_baseline(self, baseline: Baseline) -> None:
        """Store a baseline (atomically); it becomes the environment's latest."""
        ...

    def read_baseline(self, environment: str, baseline_id: str | None = None) -> Baseline | None:
        """The given baseline, or the latest when ``baseline_id`` is None; None when there is none."""
        ...

    def list_baselines(self, environment: str) -> list[str]:
        """Baseline ids of the environment, oldest first."""
        ...

    def read_drift_register(self, environment: str) -> dict[str, Any] | None:
        """The environment's drift register (when each drift id was first seen; ``drift/detect.py``).

        None when there is none yet. Kept in the backend, not on the runner, so a scheduled CI job on
        a fresh machine each time still knows how long a drift has been there.
        """
        ...

    def write_drift_register(self, environment: str, data: dict[str, Any]) -> None:
        """Replace the environment's drift register (atomically)."""
        ...


class JournalingBackend(StateBackend, Protocol):
    """A backend that can append records to a journal beside the state document."""

    def append_records(self, environment: str, records: Sequence[dict[str, Any]], sync: bool = True) -> bool:
        """Append ``records`` (``StateDocument.record`` results, in serial order) with one write, and
        with one fsync when ``sync``. False when it did not append (no document yet, or the journal
        has outgrown the document): the caller then ``write``s the whole document instead (written
        and fsynced), which holds these records' changes."""
        ...

    def sync_records(self, environment: str) -> None:
        """fsync records appended with ``sync=False``."""
        ...

    def finish_records(self, document: StateDocument) -> None:
        """The run that appended records is done with them (``document`` is its final state): the
        backend may compact now."""
        ...
