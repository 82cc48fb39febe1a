"""The audit log in an object store: one immutable object per record, created only if absent.

Layout under the log's prefix (S3 ``s3://bucket/prefix`` or GCS ``gs://bucket/prefix``)::

    records/000000000001.json   the stored line of record seq 1 (same bytes as a local log line)
    records/000000000002.json   ...
    head.json                   {"format": 1, "seq": N, "hash": H}: a hint of the newest record

Why it is safe with many CI runs appending at once: the record with seq N+1
is created with a *create-only* conditional write (S3 ``If-None-Match: *``,
GCS ``ifGenerationMatch=0``). Two writers that both read seq N as the last
record race for the object ``N+1``; the store lets exactly one create it and
refuses the other (HTTP 412). The loser reads the winner's record, chains onto
it and tries ``N+2``. So no record is lost or overwritten, and seq order is
the order in which the store accepted the records; each record names the
hash of the one before it, exactly as in the local log, so ``verify`` runs the
same chain code (``audit/chain.py``) over the objects in key order.

``head.json`` is only a hint for where to start looking (an append probes
forward from it, so a stale head costs a few reads, never correctness). A
head *ahead* of the last record means records were removed from the end.

Write-once retention: on S3 each record object is written with Object Lock
(``GOVERNANCE`` or ``COMPLIANCE`` mode, retained ``retention_days``); the
bucket must have Object Lock enabled, which ``check_writable`` checks. On GCS
the bucket's retention policy (``retentionPolicy``) keeps objects from being
deleted or replaced; ``check_writable`` checks that the bucket has one.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Protocol

from deployforge.audit.chain import (
    FORMAT,
    GENESIS,
    BadLine,
    ChainPoint,
    VerifyReport,
    content_digest,
    loads_line,
    parse_line,
    prepare,
    seal,
    structure_problem,
    verify_lines,
)
from deployforge.audit.log import bad_end, format_ts, time_bound
from deployforge.audit.signing import RECORD, Checkpoint, Signer
from deployforge.errors import StateError

SEQ_DIGITS = 12
MAX_ATTEMPTS = 200  # conditional-create races lost in a row before giving up


class ObjectStore(Protocol):
    """What the log needs from a bucket; adapters translate every SDK error to ``StateError``."""

    def describe(self) -> str: ...

    def get(self, key: str) -> bytes | None: ...  # None when absent

    def create(self, key: str, body: bytes) -> bool: ...  # False when the key already exists

    def put(self, key: str, body: bytes) -> None: ...  # unconditional (the head hint)

    def list(self, prefix: str, start_after: str = "") -> Iterator[str]: ...  # keys in text order

    def check(self) -> None: ...  # raise StateError when the bucket lacks retention / access


def record_key(seq: int) -> str:
    return f"records/{seq:0{SEQ_DIGITS}d}.json"


def _seq_of_key(key: str) -> int | None:
    name = key.rsplit("/", 1)[-1]
    stem = name[: -len(".json")] if name.endswith(".json") else ""
    return int(stem) if stem.isascii() and stem.isdigit() else None


class ObjectLog:
    """An audit log over an ``ObjectStore``; the same methods as the local ``AuditLog``."""

    def __init__(
        self,
        store: ObjectStore,
        redact: Callable[[str], str] | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        read_workers: int = 16,
        signer: Signer | Callable[[], Signer | None] | None = None,
    ):
        self._signer = signer
        self.last_checkpoint: Checkpoint | None = None
        self._log_id: str | None = None
        self.store = store
        self.redact = redact
        self.clock = clock or (lambda: datetime.now(UTC))
        self.read_workers = read_workers
        self.conflicts = 0  # lost races, for tests and figures

    def describe(self) -> str:
        return self.store.describe()

    @property
    def signer(self) -> Signer | None:
        if self._signer is not None and not isinstance(self._signer, Signer):
            self._signer = self._signer()
        return self._signer

    def _id_of_log(self) -> str | None:
        if self._log_id is None:
            first = self._record_at(1)
            self._log_id = content_digest(first) if first else None
        return self._log_id

    def _check_signed(self, point: ChainPoint) -> None:
        """Refuse to chain onto a record our key did not sign (a forged ``PutObject``, say)."""
        signer = self.signer
        if point.seq == 0:
            return
        record = self._record_at(point.seq)
        assert record is not None
        if signer is None:
            if "sig" in record or "sig" in (self._record_at(1) or {}):
                raise self._damaged(
                    "it is signed (its records carry signatures), and this command has no signing key",
                    hint="configure audit.signing (key_file, kms_key_id or key) with the log's key",
                )
            return
        if "sig" not in record and next(iter(self.store.list("checkpoints/")), None) is None:
            return  # a log never signed (no checkpoint object at all): the first signed record vouches for it
        log_id = self._id_of_log() or ""
        signed = isinstance(record.get("sig"), str) and signer.verifier.check(
            RECORD, log_id, point.seq, content_digest(record), record["sig"]
        )
        if not signed:
            raise self._damaged(
                f"record {point.seq} is not signed by key {signer.keyid[:16]} ({signer.describe}): it was "
                "written without the signing key",
                hint="run `deployforge audit verify`; to go on, point audit.url at a new prefix (the old one "
                "stays as evidence)",
            )

    def head_checkpoint(self) -> Checkpoint | None:
        """The signed checkpoint of the newest record (``checkpoints/<seq>.json``), or None."""
        point = self._last_point()
        if point.seq == 0:
            return None
        data = self.store.get(_checkpoint_key(point.seq))
        if data is None:
            return None
        try:
            return Checkpoint.from_json(json.loads(data))
        except ValueError:
            return None

    def __repr__(self) -> str:
        return f"ObjectLog({self.describe()!r})"

    # -- appending -------------------------------------------------------------------------------

    def _head(self) -> ChainPoint | None:
        data = self.store.get("head.json")
        if data is None:
            return None
        try:
            head = json.loads(data)
            return ChainPoint(int(head["seq"]), str(head["hash"]))
        except (ValueError, KeyError, TypeError):
            return None  # a damaged hint: find the end by listing

    def _record_at(self, seq: int) -> dict[str, Any] | None:
        data = self.store.get(record_key(seq))
        if data is None:
            return None
        try:
            record = parse_line(data)
        except BadLine as bad:
            raise self._damaged(f"record {seq} is not a sound record: {bad.reason}") from None
        if record["seq"] != seq:
            raise self._damaged(f"object {record_key(seq)} holds seq {record['seq']}")
        return record

    def _last_point(self) -> ChainPoint:
        """The newest record: from the head hint, probing forward; listing when there is no hint."""
        head = self._head()
        if head is None:
            keys = [k for k in self.store.list("records/") if _seq_of_key(k) is not None]
            if not keys:
                return GENESIS
            start = _seq_of_key(keys[-1]) or 0
        else:
            start = head.seq
        record = self._record_at(start) if start else None
        if start and record is None:
            raise self._damaged(f"the head says the log ends at seq {start}, but that record is missing")
        point = ChainPoint(record["seq"], record["hash"]) if record else GENESIS
        while True:
            following = self._record_at(point.seq + 1)
            if following is None:
                return point
            point = ChainPoint(following["seq"], following["hash"])

    def _damaged(self, what: str, hint: str | None = None) -> StateError:
        return StateError(
            f"refusing to append to the audit log {self.describe()}: {what}",
            hint=hint or "run `deployforge audit verify` to see the damage",
        )

    def append(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Append one record; safe with any number of concurrent writers (see the module docstring)."""
        prepared = prepare(fields, self.redact)
        point = self._last_point()
        signer = self.signer
        for attempt in range(MAX_ATTEMPTS):
            self._check_signed(point)
            sign = None
            if signer is not None:
                log_id = self._id_of_log() if point.seq else None

                def sign(seq: int, digest: str, log_id: str | None = log_id) -> str:
                    assert signer is not None
                    return signer.sign(RECORD, log_id or digest, seq, digest)

            record, line = seal(prepared, point, format_ts(self.clock()), sign)
            if self.store.create(record_key(record["seq"]), line):
                if signer is not None:
                    log_id = self._id_of_log() if record["seq"] > 1 else content_digest(record)
                    checkpoint = signer.checkpoint(log_id or "", record["seq"], record["hash"])
                    self.store.create(_checkpoint_key(record["seq"]), _checkpoint_bytes(checkpoint))
                    self.last_checkpoint = checkpoint
                try:
                    self.store.put("head.json", _head_bytes(ChainPoint(record["seq"], record["hash"])))
                except StateError:
                    pass  # only a hint: the next append probes forward
                return record
            self.conflicts += 1
            # another writer took this seq: chain onto its record (and any after it)
            winner = self._record_at(record["seq"])
            if winner is None:  # refused, yet absent: an eventually consistent listing; look again
                time.sleep(0.01 * (attempt + 1))
                continue
            point = ChainPoint(winner["seq"], winner["hash"])
            while (following := self._record_at(point.seq + 1)) is not None:
                point = ChainPoint(following["seq"], following["hash"])
            time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
        raise StateError(
            f"could not append to the audit log {self.describe()}: lost {MAX_ATTEMPTS} races in a row",
            hint="too many runs are appending at once; retry the command",
        )

    def check_writable(self) -> None:
        self.store.check()
        self._last_point()

    # -- reading and verifying -------------------------------------------------------------------

    def _lines(self) -> Iterator[bytes]:
        """Every record object's bytes in seq order (fetched in parallel, yielded in order)."""
        keys = [k for k in self.store.list("records/") if _seq_of_key(k) is not None]
        with ThreadPoolExecutor(max_workers=self.read_workers) as pool:
            for start in range(0, len(keys), 256):
                batch = keys[start : start + 256]
                for key, data in zip(batch, pool.map(self.store.get, batch), strict=True):
                    if data is not None:
                        yield data if data.endswith(b"\n") else data + b"\n"
                    else:
                        yield f'{{"missing object": "{key}"}}\n'.encode()

    def verify(self, *, workers: int | None = None, head_check: bool = True) -> VerifyReport:
        """Walk the chain over the record objects and compare its end with the head hint."""
        head = self._head() if head_check else None
        report = verify_lines(self._lines())
        if not report.ok:
            return report
        if head is not None and head.seq > report.last.seq:
            removed = head.seq - report.last.seq
            return bad_end(
                report,
                f"records removed from the end: the head says the log ends at seq {head.seq}, "
                f"it ends at seq {report.last.seq} ({removed} record{'s' if removed != 1 else ''} missing)",
            )
        return report

    def first_record(self) -> dict[str, Any] | None:
        return self.record_at(1)

    def record_at(self, seq: int) -> dict[str, Any] | None:
        """The record with ``seq`` (None when absent or unsound)."""
        try:
            return self._record_at(seq)
        except StateError:
            return None

    def records(
        self,
        *,
        environment: str | None = None,
        run_id: str | None = None,
        trace_id: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        reverse: bool = False,
        strict: bool = True,
    ) -> Iterator[dict[str, Any]]:
        wanted = [
            (key, value)
            for key, value in (("environment", environment), ("run_id", run_id), ("trace_id", trace_id))
            if value is not None
        ]
        low, high = time_bound(since), time_bound(until)
        found = []
        for number, line in enumerate(self._lines(), 1):
            try:
                record = loads_line(line)
                problem = structure_problem(record)
                if problem:
                    raise BadLine(problem)
            except BadLine as bad:
                if not strict:
                    continue
                raise StateError(
                    f"the audit log {self.describe()}: record {number} is not a record: {bad.reason}",
                    hint="run `deployforge audit verify` to check the whole log",
                ) from None
            if any(record.get(key) != value for key, value in wanted):
                continue
            ts = record["ts"]
            if (low is not None and ts < low) or (high is not None and ts >= high):
                continue
            found.append(record)
        return iter(found[::-1] if reverse else found)


def _checkpoint_key(seq: int) -> str:
    return f"checkpoints/{seq:0{SEQ_DIGITS}d}.json"


def _checkpoint_bytes(checkpoint: Checkpoint) -> bytes:
    return (json.dumps(checkpoint.to_json(), sort_keys=True) + "\n").encode("ascii")


def _head_bytes(point: ChainPoint) -> bytes:
    return json.dumps({"format": FORMAT, "seq": point.seq, "hash": point.hash}).encode("ascii") + b"\n"
