"""The local audit log: an append-only, hash-chained JSON lines file.

Files (the log's folder is the caller's choice, e.g. ``.deployforge/audit/``)::

    audit.jsonl       one record per line, chained (see ``audit/chain.py``)
    audit.head.json   {"format": 1, "seq": N, "hash": H}: the last record, written
                      atomically after each append, so that removing records
                      from the end (which a chain alone cannot show) is detected
    audit.lock        an empty file that appenders ``flock`` exclusively

Appending is safe with many processes on one host (and on a filesystem whose
``flock`` is shared between hosts): under the lock it reads only the log's last
line (seeking from the end, so an append costs the same on a log of any size),
cross-checks it with the head file, writes the new line with one ``os.write``
on an ``O_APPEND`` descriptor, fsyncs, and replaces the head file. A crash
between the line and the head leaves the head one record behind, which the
next append and ``verify`` accept (the head is a lower bound); a head *ahead*
of the log means records were removed.

The log refuses to append after a damaged or truncated tail: chaining onto it
would hide the damage. ``deployforge audit verify`` says what is wrong; to go
on, move ``audit.jsonl`` and ``audit.head.json`` aside (keep them as evidence)
and a new log starts.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deployforge.audit.chain import (
    FORMAT,
    GENESIS,
    ZERO_HASH,
    BadLine,
    BadRecord,
    ChainPoint,
    VerifyReport,
    content_digest,
    loads_line,
    parse_line,
    prepare,
    seal,
    structure_problem,
    verify_lines,
    verify_slice,
)
from deployforge.audit.signing import RECORD, Checkpoint, Signer
from deployforge.audit.verify_worker import finish_worker, range_lines, slice_bounds, start_worker
from deployforge.errors import Location, StateError

# Logs at least this big are verified by several processes (one slice each).
PARALLEL_MIN_BYTES = 64 * 1024 * 1024
# How far back an append looks for the record the head file names (a head left
# behind by a crash is normally one record behind).
_HEAD_LAG_LIMIT = 10_000
_BLOCK = 1 << 16


def format_ts(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds, e.g. ``2026-11-26T03:15:00.123456Z`` (sorts as text)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _HeadProblem(Exception):
    pass


class AuditLog:
    """An append-only, hash-chained audit log in a local JSON lines file.

    ``redact`` is applied to every string in the appended fields (keys and
    values, nested ones too) before anything is hashed or written; the secrets
    layer passes a function that masks the values it knows, so a secret never
    reaches the log. ``clock`` returns the append time (tests pass a fixed one).
    """

    def __init__(
        self,
        path: Path | str,
        redact: Callable[[str], str] | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        lock_timeout: float = 30.0,
        signer: Signer | Callable[[], Signer | None] | None = None,
    ):
        self.path = Path(path)
        self._signer = signer  # a Signer, or a function that makes one on first append (KMS, Vault)
        self.last_checkpoint: Checkpoint | None = None  # the signed head after this process's last append
        self._offsets: Any = None
        stem = self.path.stem or self.path.name
        self.head_path = self.path.with_name(f"{stem}.head.json")
        self.lock_path = self.path.with_name(f"{stem}.lock")
        self.redact = redact
        self.clock = clock or _utcnow
        self.lock_timeout = lock_timeout

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r})"

    @property
    def signer(self) -> Signer | None:
        if self._signer is not None and not isinstance(self._signer, Signer):
            self._signer = self._signer()
        return self._signer

    def describe(self) -> str:
        """Where the log is, for messages (the same method on every storage)."""
        return str(self.path)

    # -- appending -------------------------------------------------------------------------------

    def append(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Append one record made of ``fields`` (redacted) and return it with its chain fields.

        Raises ``InputError`` for fields that are not JSON values or that set a
        reserved key, ``StateError`` when the log cannot be written or its tail
        is damaged.
        """
        prepared = prepare(fields, self.redact)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create the audit folder {self.path.parent}: {exc.strerror}") from None
        lock_fd = self._lock()
        try:
            return self._append_locked(prepared)
        finally:
            os.close(lock_fd)  # releases the flock

    def new_segment(self, fields: dict[str, Any], *, lost_log: str | None = None) -> dict[str, Any]:
        """Keep the current log as evidence and start a new one whose first record describes it.

        Under the append lock: ``audit.jsonl`` and ``audit.head.json`` are renamed
        to ``audit.<time>.jsonl`` / ``audit.<time>.head.json`` (never deleted),
        and the new log's record 1 (kind ``segment``, plus ``fields``) holds
        ``previous``: the old file's name, size and sha256, how far its chain
        verified, its first bad record, its head file and its log id. Signed
        with the configured key, like any record. Returns that record.
        """
        import hashlib

        prepared = prepare(fields, self.redact)
        lock_fd = self._lock()
        try:
            stamp = self.clock().astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            evidence = self.path.with_name(f"{self.path.stem}.{stamp}{self.path.suffix}")
            evidence_head = self.path.with_name(f"{self.path.stem}.{stamp}.head.json")
            previous: dict[str, Any] = {"file": None, "bytes": 0, "sha256": None, "records_verified": 0}
            try:
                data = self.path.read_bytes()
            except FileNotFoundError:
                data = None
            except OSError as exc:
                raise StateError(f"cannot read the audit log {self.path}: {exc.strerror}") from None
            if data is not None:
                report = verify_lines(data.splitlines(keepends=True))
                previous.update(
                    file=evidence.name,
                    bytes=len(data),
                    sha256=hashlib.sha256(data).hexdigest(),
                    records_verified=report.records,
                    last_good={"seq": report.last.seq, "hash": report.last.hash},
                )
                if report.first_bad is not None:
                    bad = report.first_bad
                    previous["first_bad"] = {"line": bad.line, "seq": bad.seq, "reason": bad.reason}
                try:
                    previous["log"] = content_digest(parse_line(data.split(b"\n", 1)[0] + b"\n"))
                except BadLine:
                    previous["log"] = None
            try:
                head_text = self.head_path.read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:
                head_text = None
            except OSError as exc:
                raise StateError(f"cannot read the audit head file {self.head_path}: {exc.strerror}") from None
            if head_text is not None:
                try:
                    previous["head"] = json.loads(head_text)
                except ValueError:
                    previous["head"] = head_text[:1000]
            try:
                if data is not None:
                    os.rename(self.path, evidence)
                if head_text is not None:
                    os.rename(self.head_path, evidence_head)
            except OSError as exc:
                raise StateError(f"cannot keep the old audit log as {evidence}: {exc.strerror}") from None
            previous["head_file"] = evidence_head.name if head_text is not None else None
            if not previous.get("log") and lost_log:  # a wiped log: its id as the witness knows it
                previous["log"] = lost_log
            segment = prepare({"kind": "segment", "previous": previous}, self.redact)
            segment.update(prepared)
            return self._append_locked(segment)
        finally:
            os.close(lock_fd)

    def check_writable(self, *, full: bool = True) -> None:
        """Raise ``StateError`` now if an append would be refused (damaged log, head mismatch, no access).

        A command that is about to change something calls it before doing any
        work. With ``full`` (the default) it also walks the whole chain, so a
        record damaged in the middle of the log stops the change (one hash walk:
        about 2 s for 1,000,000 records); an append itself checks only the tail
        and the signed head, which costs the same on a log of any size.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create the audit folder {self.path.parent}: {exc.strerror}") from None
        lock_fd = self._lock()
        try:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise StateError(f"cannot open the audit log {self.path}: {exc.strerror}") from None
            try:
                size = os.fstat(fd).st_size
                last, checkpoint = self._tail(fd, size)
                self._signing_check(fd, size, last, checkpoint)
                if full:
                    self._whole_chain_check(fd, size)
            finally:
                os.close(fd)
        finally:
            os.close(lock_fd)

    def _whole_chain_check(self, fd: int, size: int) -> None:
        """Walk the whole chain (hashes only) and refuse when any record is damaged."""
        with open(fd, "rb", buffering=_BLOCK * 16, closefd=False) as fh:
            fh.seek(0)
            report = verify_lines(range_lines(fh, size))
        if not report.ok:
            bad = report.first_bad
            assert bad is not None
            raise self._damaged(f"line {bad.line} (record {bad.seq if bad.seq is not None else '?'}): {bad.reason}")

    def _lock(self) -> int:
        """Take the exclusive append lock; returns the fd to close (which releases it)."""
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StateError(f"cannot open the audit lock {self.lock_path}: {exc.strerror}") from None
        try:
            if _flock(fd, fcntl.LOCK_EX, self.lock_timeout):
                return fd
        except OSError as exc:
            os.close(fd)
            raise StateError(f"cannot lock the audit log {self.lock_path}: {exc.strerror}") from None
        os.close(fd)
        raise StateError(
            f"waited {self.lock_timeout:g} s for the audit lock {self.lock_path} in vain",
            hint="another DeployForge process is stuck while appending; find it and end it",
        )

    def _snapshot(self) -> tuple[ChainPoint | None, str | None, int]:
        """(head, head problem, log size) read together between appends.

        A shared lock held only for the two reads, so the size ends at a line
        boundary and the head names the last record; readers never hold
        appenders up for longer. Without a lock file (no append yet, or a
        read-only copy of a log) it reads without one, and reads again with
        the lock if a first appender created it meanwhile.
        """
        for _attempt in range(2):
            lock_fd: int | None
            try:
                lock_fd = os.open(self.lock_path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                lock_fd = None
            try:
                if lock_fd is not None:
                    try:
                        _flock(lock_fd, fcntl.LOCK_SH, self.lock_timeout)  # a stuck writer: read anyway
                    except OSError:
                        pass
                head: ChainPoint | None = None
                problem: str | None = None
                try:
                    head = self._read_head()
                except _HeadProblem as exc:
                    problem = str(exc)
                try:
                    size = self.path.stat().st_size
                except FileNotFoundError:
                    size = 0
                except OSError as exc:
                    raise StateError(f"cannot read the audit log {self.path}: {exc.strerror}") from None
            finally:
                if lock_fd is not None:
                    os.close(lock_fd)
            if lock_fd is not None or not self.lock_path.exists():
                break
        return head, problem, size

    def _append_locked(self, prepared: dict[str, Any]) -> dict[str, Any]:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StateError(f"cannot open the audit log {self.path}: {exc.strerror}") from None
        try:
            size = os.fstat(fd).st_size
            last, checkpoint = self._tail(fd, size)
            log_id = self._signing_check(fd, size, last, checkpoint)
            sign = None
            if self.signer is not None:
                signer = self.signer

                def sign(seq: int, digest: str) -> str:
                    return signer.sign(RECORD, log_id or digest, seq, digest)

            ts = format_ts(self.clock())
            record, line = seal(prepared, last, ts, sign)
            try:
                written = os.write(fd, line)
            except OSError as exc:
                self._undo(fd, size)
                raise StateError(f"cannot append to the audit log {self.path}: {exc.strerror}") from None
            if written != len(line):
                self._undo(fd, size)
                raise StateError(f"cannot append to the audit log {self.path}: short write (disk full?)")
            try:
                os.fsync(fd)
                if size == 0:
                    _fsync_dir(self.path.parent)
            except OSError as exc:
                raise StateError(f"cannot sync the audit log {self.path}: {exc.strerror}") from None
        finally:
            os.close(fd)
        new_head = ChainPoint(record["seq"], record["hash"])
        signed = None
        if self.signer is not None:
            signed = self.signer.checkpoint(log_id or content_digest(record), new_head.seq, new_head.hash)
        self._write_head(new_head, signed)
        self.last_checkpoint = signed
        return record

    def _signing_check(self, fd: int, size: int, last: ChainPoint, checkpoint: Checkpoint | None) -> str | None:
        """Refuse to sign onto a log whose tail no valid signature of our key covers; returns the log id.

        Without a signer: refuse a signed log (a writer without the key would
        leave records nobody can vouch for). With one: the head file must hold
        our key's valid signature over exactly the last record. A log that was
        never signed is adopted once: its whole chain is checked first, then the
        first signature vouches for the records already there.
        """
        if self.signer is None:
            if checkpoint is not None:
                raise self._damaged(
                    f"it is signed (key {checkpoint.keyid[:16]}), and this command has no signing key",
                    hint="configure audit.signing (key_file, kms_key_id or key) with the log's key",
                )
            return None
        if size == 0:
            return None
        if checkpoint is None:
            self._whole_chain_check(fd, size)
            return content_digest(parse_line(_first_line(fd, size)))
        signer = self.signer
        if checkpoint.keyid != signer.keyid:
            raise self._damaged(
                f"its last checkpoint was signed with key {checkpoint.keyid[:16]}, not with this command's key "
                f"{signer.keyid[:16]} ({signer.describe})",
                hint="configure the log's signing key; to change keys, start a new segment "
                "(`deployforge audit new-segment`) signed with the new key",
            )
        if checkpoint.seq != last.seq or checkpoint.hash != last.hash:
            raise self._damaged(
                f"the log ends at seq {last.seq}, but its last signed checkpoint is seq {checkpoint.seq}: "
                "records were appended without the signing key (or a write was cut short between a record "
                "and its checkpoint)"
            )
        if not signer.verifier.check_checkpoint(checkpoint):
            raise self._damaged(
                f"the signature on its head file {self.head_path.name} does not verify with key "
                f"{signer.keyid[:16]} (the head was rewritten without the key)"
            )
        return checkpoint.log

    def _undo(self, fd: int, size: int) -> None:
        """Remove a partial line this process wrote (never bytes another writer wrote: we hold the lock)."""
        try:
            os.ftruncate(fd, size)
        except OSError:
            pass

    def _tail(self, fd: int, size: int) -> tuple[ChainPoint, Checkpoint | None]:
        """The chain point to append after and the head's signed checkpoint; raises ``StateError``."""
        try:
            head, checkpoint = self._read_head_doc()
        except _HeadProblem as problem:
            raise self._damaged(f"its head file {self.head_path.name} {problem}") from None
        return self._tail_point(fd, size, head), checkpoint

    def _tail_point(self, fd: int, size: int, head: ChainPoint | None) -> ChainPoint:
        """The chain point to append after, cross-checked with the head file; raises ``StateError``."""
        if size == 0:
            if head is not None:
                raise self._damaged(
                    f"the log is empty but its head file says it ends at seq {head.seq} (records removed)"
                )
            return GENESIS
        lines = _lines_backwards(fd, size)
        last_line = next(lines)
        if not last_line.endswith(b"\n"):
            raise self._damaged("its last line is incomplete (a write was interrupted)")
        try:
            record = parse_line(last_line)
        except BadLine as bad:
            raise self._damaged(f"its last line is not a sound record: {bad.reason}") from None
        last = ChainPoint(record["seq"], record["hash"])
        if head is None:
            if last.seq == 1 and record["prev_hash"] == ZERO_HASH:
                return last  # a crash before the first head write
            raise self._damaged(f"its head file {self.head_path.name} is missing (the log ends at seq {last.seq})")
        if head == last:
            return last
        if head.seq < last.seq and last.seq - head.seq <= _HEAD_LAG_LIMIT:
            # the head fell behind (a crash between writing the line and the head); that is
            # fine if the record it names is still in the log, unchanged
            if head.seq == last.seq - 1 and record["prev_hash"] == head.hash:
                return last
            for older in lines:
                try:
                    older_record = parse_line(older)
                except BadLine:
                    break
                if older_record["seq"] <= head.seq:
                    if older_record["seq"] == head.seq and older_record["hash"] == head.hash:
                        return last
                    break
        raise self._damaged(
            f"its head file says the log ends at seq {head.seq}, but the log ends at seq {last.seq} "
            "(records were removed from the end, or the log was replaced)"
        )

    def _damaged(self, what: str, hint: str | None = None) -> StateError:
        return StateError(
            f"refusing to append to the audit log {self.path}: {what}",
            hint=hint
            or (
                "run `deployforge audit verify` to see the damage; to go on, run `deployforge audit new-segment "
                "--reason TEXT`: it keeps the damaged log as evidence and starts a new segment whose first "
                "record names it (docs/audit.md, Recovery)"
            ),
        )

    def _write_head(self, point: ChainPoint, checkpoint: Checkpoint | None = None) -> None:
        doc: dict[str, Any] = {"format": FORMAT, "seq": point.seq, "hash": point.hash}
        if checkpoint is not None:
            doc.update(log=checkpoint.log, keyid=checkpoint.keyid, sig=checkpoint.sig)
        data = json.dumps(doc).encode("ascii") + b"\n"
        tmp = self.head_path.with_name(self.head_path.name + ".tmp")  # one writer at a time: we hold the lock
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.head_path)
        except OSError as exc:
            raise StateError(
                f"appended to the audit log but cannot update its head file {self.head_path}: {exc.strerror}"
            ) from None

    def _read_head(self) -> ChainPoint | None:
        return self._read_head_doc()[0]

    def _read_head_doc(self) -> tuple[ChainPoint | None, Checkpoint | None]:
        """The head file's point and, in a signed log, its signed checkpoint."""
        try:
            data = self.head_path.read_bytes()
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            raise _HeadProblem(f"cannot be read ({exc.strerror})") from None
        try:
            head = json.loads(data.decode("utf-8"))
        except ValueError:
            raise _HeadProblem("is not valid JSON") from None
        if type(head) is not dict:
            raise _HeadProblem("is not a JSON object")
        fmt = head.get("format")
        if type(fmt) is int and fmt > FORMAT:
            raise _HeadProblem(f"was written by a newer DeployForge (format {fmt})")
        seq, digest = head.get("seq"), head.get("hash")
        if fmt != FORMAT or type(seq) is not int or seq < 1 or type(digest) is not str or len(digest) != 64:
            raise _HeadProblem("is not a head record (format, seq, hash)")
        checkpoint = None
        if "sig" in head:
            checkpoint = Checkpoint.from_json(head)
            if checkpoint is None:
                raise _HeadProblem("holds a malformed signed checkpoint (log, keyid, sig)")
        return ChainPoint(seq, digest), checkpoint

    def head_checkpoint(self) -> Checkpoint | None:
        """The signed checkpoint in the head file (None when the log is not signed)."""
        try:
            return self._read_head_doc()[1]
        except _HeadProblem as problem:
            raise StateError(f"the audit head file {self.head_path} {problem}") from None

    def head(self) -> ChainPoint | None:
        """The last record's position as the head file records it (None for a new log)."""
        try:
            return self._read_head()
        except _HeadProblem as problem:
            raise StateError(f"the audit head file {self.head_path} {problem}") from None

    # -- verifying -------------------------------------------------------------------------------

    def verify(self, *, workers: int | None = None, head_check: bool = True) -> VerifyReport:
        """Walk the whole chain and the head file; report the first bad record.

        Streams the file (memory stays flat on any size). Logs of at least
        ``PARALLEL_MIN_BYTES`` are verified in slices by ``workers`` processes
        (default: the CPUs this process may use); the report is the same as a
        sequential walk's. Never raises on a damaged log; ``StateError`` only
        when the log exists but cannot be read.
        """
        head, head_problem, size = self._snapshot()
        if not head_check:
            head, head_problem = None, None
        self._verified_size = size
        if size == 0:
            report = VerifyReport(True, 0)
        else:
            if workers is None:
                workers = _available_cpus()
            try:
                if workers > 1 and size >= PARALLEL_MIN_BYTES:
                    report = self._verify_parallel(size, head, workers)
                else:
                    with open(self.path, "rb", buffering=_BLOCK * 16) as fh:
                        report = verify_lines(range_lines(fh, size), witness=head)
            except OSError as exc:
                raise StateError(f"cannot read the audit log {self.path}: {exc.strerror}") from None
        if not report.ok:
            return report
        end = report.last
        if head_problem is not None:
            return bad_end(report, f"its head file {self.head_path.name} {head_problem}")
        if not head_check:
            return report
        if head is None:
            if end.seq > 1:  # one record and no head: a crash before the first head write
                return bad_end(
                    report,
                    f"its head file {self.head_path.name} is missing, so records removed from the end "
                    "would go unnoticed",
                )
            return report
        if head.seq > end.seq:
            removed = head.seq - end.seq
            return bad_end(
                report,
                f"records removed from the end: the head file says the log ends at seq {head.seq}, "
                f"it ends at seq {end.seq} ({removed} record{'s' if removed != 1 else ''} missing)",
            )
        return report

    def _verify_parallel(self, size: int, head: ChainPoint | None, workers: int) -> VerifyReport:
        """Verify slices at once: this process takes the first, child interpreters the others.

        The children are plain ``python -c`` processes (not multiprocessing, which
        re-imports ``__main__`` and breaks under a REPL or an unguarded script);
        if any of them fails the walk simply goes on sequentially.
        """
        bounds = slice_bounds(self.path, size, workers)
        children = [start_worker(self.path, slice_, head) for slice_ in bounds[1:]]
        try:
            with open(self.path, "rb", buffering=_BLOCK * 16) as fh:
                results = [verify_slice(range_lines(fh, bounds[0][1]), witness=head)]
            results += [finish_worker(child) for child in children]
        finally:
            for child in children:
                if child is not None and child.poll() is None:
                    child.kill()
                    child.wait()
        point = GENESIS
        count = 0
        for (offset, _end), (start, report) in zip(bounds, results, strict=True):
            if report.ok and report.records == 0 and start is None:
                continue
            if start != point or not report.ok:
                # an anomaly in or at this slice (or a worker that failed): walk on from here
                # sequentially, so the report is exactly the one a single walk gives
                with open(self.path, "rb", buffering=_BLOCK * 16) as fh:
                    fh.seek(offset)
                    rest = verify_lines(range_lines(fh, size), start=point, witness=head, first_line=count + 1)
                return VerifyReport(rest.ok, count + rest.records, rest.first_bad, rest.last)
            point = report.last
            count += report.records
        return VerifyReport(True, count, None, point)

    def first_record(self) -> dict[str, Any] | None:
        """Record 1 (None for an empty log or an unsound first line); reads only the first line."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"cannot read the audit log {self.path}: {exc.strerror}") from None
        try:
            line = _first_line(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)
        try:
            return parse_line(line) if line.endswith(b"\n") else None
        except BadLine:
            return None

    def record_at(self, seq: int) -> dict[str, Any] | None:
        """The record with ``seq`` among the lines the last ``verify`` walked (None past the end).

        For a verifier looking up a few records of a verified chain (signatures,
        witnesses): the first call indexes the line offsets in one pass.
        """
        if self._offsets is None:
            from array import array

            offsets = array("q")
            size = getattr(self, "_verified_size", None)
            if size is None:
                size = self._snapshot()[2]
            pos = 0
            try:
                with open(self.path, "rb", buffering=_BLOCK * 16) as fh:
                    for line in range_lines(fh, size):
                        offsets.append(pos)
                        pos += len(line)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise StateError(f"cannot read the audit log {self.path}: {exc.strerror}") from None
            self._offsets = offsets
        if seq < 1 or seq > len(self._offsets):
            return None
        with open(self.path, "rb") as fh:
            fh.seek(self._offsets[seq - 1])
            line = fh.readline()
        try:
            return parse_line(line)
        except BadLine:
            return None

    # -- reading ---------------------------------------------------------------------------------

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
        """Yield the records (dicts) matching every given filter, oldest first (newest with ``reverse``).

        ``environment``, ``run_id`` and ``trace_id`` match the fields of those
        names; ``since`` (inclusive) and ``until`` (exclusive) bound ``ts``
        (aware datetimes or RFC 3339 UTC text; naive datetimes are taken as
        UTC). This reads, it does not verify: a line that is not a record
        raises ``StateError`` with its location, or is skipped when ``strict``
        is false. ``reverse`` reads from the end, so the newest records of a
        big log come at once.
        """
        wanted = [
            (key, value)
            for key, value in (("environment", environment), ("run_id", run_id), ("trace_id", trace_id))
            if value is not None
        ]
        return self._records(wanted, time_bound(since), time_bound(until), reverse, strict)

    def _records(
        self, wanted: list[tuple[str, str]], low: str | None, high: str | None, reverse: bool, strict: bool
    ) -> Iterator[dict[str, Any]]:
        _, _, size = self._snapshot()  # lines appended from now on are not read
        if size == 0:
            return
        try:
            fh = open(self.path, "rb", buffering=_BLOCK * 16)  # noqa: SIM115 - closed below, generator
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StateError(f"cannot read the audit log {self.path}: {exc.strerror}") from None
        with fh:
            lines: Iterable[bytes] = _lines_backwards(fh.fileno(), size) if reverse else range_lines(fh, size)
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    record = loads_line(line)
                    problem = structure_problem(record)
                    if problem:
                        raise BadLine(problem)
                except BadLine as bad:
                    if not strict:
                        continue
                    if reverse:  # an error is rare: counting the lines once gives the real line number
                        number = _line_count(self.path, size) - number + 1
                    raise StateError(
                        f"{self.path}:{number}: this line of the audit log is not a record: {bad.reason}",
                        location=Location(str(self.path), number),
                        hint="run `deployforge audit verify` to check the whole log",
                    ) from None
                if any(record.get(key) != value for key, value in wanted):
                    continue
                if low is not None or high is not None:
                    ts = record["ts"]
                    if (low is not None and ts < low) or (high is not None and ts >= high):
                        continue
                yield record


def _first_line(fd: int, size: int) -> bytes:
    """The first line of ``fd`` (with its newline), read with ``pread``."""
    data = b""
    while len(data) < size:
        block = os.pread(fd, min(_BLOCK, size - len(data)), len(data))
        if not block:
            break
        cut = block.find(b"\n")
        if cut != -1:
            return data + block[: cut + 1]
        data += block
    return data


def _line_count(path: Path, size: int) -> int:
    """How many lines the first ``size`` bytes of the log hold (a last line without newline counts)."""
    count, last = 0, b"\n"
    with open(path, "rb") as fh:
        left = size
        while left > 0:
            block = fh.read(min(_BLOCK * 16, left))
            if not block:
                break
            count += block.count(b"\n")
            last = block[-1:]
            left -= len(block)
    return count + (0 if last == b"\n" else 1)


def time_bound(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return format_ts(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise StateError(f"{value!r} is not an RFC 3339 time", hint="write e.g. 2026-11-26T03:15:00Z") from None
    return format_ts(moment)


def bad_end(report: VerifyReport, reason: str) -> VerifyReport:
    """A report whose first bad 'record' is the one after the last line (what is missing)."""
    end = report.last
    return VerifyReport(False, report.records, BadRecord(report.records + 1, end.seq + 1, reason), end)


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _flock(fd: int, operation: int, timeout: float) -> bool:
    """``flock`` with a timeout (polling, as ``flock`` itself has none); False when it ran out."""
    deadline = time.monotonic() + timeout
    pause = 0.0005
    while True:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.02)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lines_backwards(fd: int, end: int, block: int = _BLOCK) -> Iterator[bytes]:
    """The lines of ``fd``'s first ``end`` bytes, last first, with their newlines (the last may lack one)."""
    pos = end
    pending = b""  # the end of a line that starts before ``pos``
    while pos > 0:
        size = min(block, pos)
        pos -= size
        buf = os.pread(fd, size, pos) + pending
        if pos > 0:
            cut = buf.find(b"\n")
            if cut == -1:
                pending = buf
                continue
            pending, buf = buf[: cut + 1], buf[cut + 1 :]
        else:
            pending = b""
        pieces = buf.split(b"\n")
        tail = pieces.pop()
        if tail:
            yield tail
        for piece in reversed(pieces):
            yield piece + b"\n"
