"""Local state backend: ``.deployforge/state/<env>.json`` and ``.deployforge/locks/<env>.lock``.

The state of an environment is a *document* (``<env>.json``, compact JSON) plus an append-only
*journal* of the records written since (``<env>.journal``, one JSON record a line):

* Whole documents are written to a temporary file in the same folder, fsynced, then renamed over
  the old file (atomic on POSIX): a reader sees the old or the new document, never a torn one.
* An apply appends its records to the journal (``append_records``: one ``write`` and one fsync per
  batch), so what it writes grows with what it changes. When the journal outgrows the document,
  the whole document is written again (compaction) and the journal starts afresh.
* The document names its journal by a random token, which the journal's first line repeats: a
  journal left from before the latest whole write (a kill between the rename and the unlink) has
  another token and is ignored. A torn last line (a kill in the middle of an append) was never
  acknowledged, so nothing was done on its strength: readers ignore it and the next writer cuts it.
* The lock file is written to a temporary file, then hard-linked into place: ``link`` refuses an
  existing target, so exactly one process takes the lock, and a reader never sees it half-written.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from deployforge.errors import EXIT_INPUT, LockHeldError, StateError
from deployforge.state import jsonio
from deployforge.state.base import LockInfo, StateDocument, checked_environment, is_plain_id
from deployforge.state.baseline import Baseline

# The journal is compacted when it grows past the document's size (and at least this much): the
# bytes written over a whole apply stay within a small multiple of the bytes the changes take.
JOURNAL_MIN_BYTES = 1 << 20


def lock_held_error(holder: LockInfo, stale: bool) -> LockHeldError:
    message = f"environment '{holder.environment}' is locked by {holder.describe()}"
    if stale:
        message += " - that process is no longer running, so the lock is stale"
        hint = f"check the state, then run: deployforge state unlock {holder.lock_id}"
    else:
        hint = f"wait for that run to finish; if it is dead, run: deployforge state unlock {holder.lock_id}"
    return LockHeldError(message, lock_id=holder.lock_id, holder=holder.to_json(), hint=hint)


# The id of the newest baseline, written after it: ids sort by their run's start *second*, so two
# baselines taken within one second (an apply, then an adopt) would otherwise come in random order.
LATEST_BASELINE = "LATEST"


def latest_last(ids: list[str], latest: str | None) -> list[str]:
    """Baseline ids oldest first, with the recorded latest one last (when it still exists)."""
    if latest in ids:
        ids = [i for i in ids if i != latest] + [str(latest)]
    return ids


class UnknownLockError(StateError):
    """`state unlock` of an id no lock has: bad input (exit 2), not a failure while working."""

    exit_code = EXIT_INPUT


def refuse_live_unlock(holder: LockInfo, force: bool) -> None:
    """Releasing the lock of a run that is still working lets a second run change the same objects
    at the same time (both fail half-way, and state loses track of what they created)."""
    if holder.is_alive_here() and not force:
        raise LockHeldError(
            f"the lock on '{holder.environment}' is in use: {holder.describe()}, and that process is running",
            hint="wait for it to finish, or stop it (it sends traffic back and releases the lock itself); "
            "`state unlock --force` releases it anyway",
            lock_id=holder.lock_id,
            holder=holder.to_json(),
        )


def _umask() -> int:
    """The process's umask, read without changing it (Linux); 0o022 where it cannot be read."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


# what open() would give a new file: 0666 less the umask (0644 with the usual 022)
_FILE_MODE = 0o666 & ~_umask()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            # mkstemp makes 0600 files; a saved plan or state is read by later CI steps that may run
            # as another user (GitHub's runner: the Action as root, later steps as uid 1001)
            os.fchmod(fd, _FILE_MODE)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_json(path: Path, data: object) -> int:
    """Compact JSON (keys sorted), written atomically; returns the bytes written. TypeError (nothing
    written) for a value JSON cannot hold."""
    blob = jsonio.dumps_line(data)
    atomic_write_bytes(path, blob)
    return len(blob)


class _Journal:
    """The open journal of one environment (only the lock holder appends)."""

    def __init__(self, fd: int, token: str, size: int):
        self.fd = fd
        self.token = token
        self.size = size


class LocalBackend:
    # the journal is compacted once it is larger than the document and than this (tests lower it)
    journal_min_bytes = JOURNAL_MIN_BYTES
    # after a run, a document up to this size is written whole again (``finish_records``)
    rewrite_after_run_bytes = JOURNAL_MIN_BYTES

    def __init__(self, root: Path):
        self.root = Path(root)
        self.description = f"local {self.root}"
        # environment -> (journal token, bytes) of the document this backend last read or wrote
        self._documents: dict[str, tuple[str, int]] = {}
        self._journals: dict[str, _Journal] = {}
        # what this backend wrote to state (documents and journal records): the scaling test and
        # the apply benchmark count it; it is deterministic where time is not
        self.bytes_written = 0
        self.fsyncs = 0

    def _name(self, environment: str) -> str:
        return checked_environment(environment, self.description)

    def _state_path(self, environment: str) -> Path:
        return self.root / "state" / f"{self._name(environment)}.json"

    def _journal_path(self, environment: str) -> Path:
        return self.root / "state" / f"{self._name(environment)}.journal"

    def _lock_path(self, environment: str) -> Path:
        return self.root / "locks" / f"{self._name(environment)}.lock"

    def read(self, environment: str) -> StateDocument | None:
        path = self._state_path(environment)
        for _attempt in range(10):
            try:
                with path.open("rb") as fh:
                    inode = os.fstat(fh.fileno()).st_ino
                    blob = fh.read()
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise StateError(f"cannot read state {path}: {exc.strerror}") from None
            try:
                with jsonio.gc_paused(len(blob)):
                    data = jsonio.loads(blob)
            except jsonio.JsonError as exc:
                raise StateError(
                    f"state file {path}:{exc.lineno}:{exc.colno} is not valid JSON: {exc.msg}",
                    hint="restore it from version control or a backup; DeployForge never writes partial files",
                ) from None
            token = data.pop("journal", None) if isinstance(data, dict) else None
            try:
                document = StateDocument.from_json(data, environment)
            except (ValueError, KeyError, TypeError) as exc:
                raise StateError(
                    f"state file {path} is not valid DeployForge state: {exc}",
                    hint="restore it from version control or a backup; DeployForge never writes partial files",
                ) from None
            if not isinstance(token, str):
                return document
            if not self._replay(environment, document, token) and self._replaced(path, inode):
                continue  # compacted while we read: read the new document
            self._documents[environment] = (token, len(blob))
            return document
        raise StateError(f"cannot read state {path}: it keeps being rewritten", hint="try again")

    @staticmethod
    def _replaced(path: Path, inode: int) -> bool:
        try:
            return os.stat(path).st_ino != inode
        except FileNotFoundError:
            return True

    def _replay(self, environment: str, document: StateDocument, token: str) -> bool:
        """Apply the records of the document's journal to ``document``; False when the journal file
        is not this document's (none yet, or one of an older or newer document)."""
        path = self._journal_path(environment)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StateError(f"cannot read the state journal {path}: {exc.strerror}") from None
        lines = blob.split(b"\n")
        lines.pop()  # what follows the last newline: empty, or a torn record that was never acknowledged
        if not lines:
            return False
        for number, line in enumerate(lines, start=1):
            try:
                record = jsonio.loads(line)
                if number == 1:
                    if not isinstance(record, dict) or record.get("journal") != token:
                        return False  # the journal of another document (an older one's is in this one)
                    continue
                if not isinstance(record, dict):
                    raise ValueError("a journal record must be an object")
                document.replay(record)
            except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
                raise StateError(
                    f"state journal {path}:{number} is damaged: {exc}",
                    hint=f"the document {self._state_path(environment).name} holds the state before this "
                    "run; restore the journal from a backup, or remove it to fall back to the document",
                ) from None
        return True

    def write(self, document: StateDocument) -> None:
        path = self._state_path(document.environment)
        token = uuid.uuid4().hex
        data = document.to_json()
        data["journal"] = token
        try:
            size = atomic_write_json(path, data)
            self.bytes_written += size
            self.fsyncs += 1
            self._close_journal(document.environment)
            self._journal_path(document.environment).unlink(missing_ok=True)
        except OSError as exc:
            raise StateError(f"cannot write state {path}: {exc.strerror}") from None
        self._documents[document.environment] = (token, size)

    def append_records(self, environment: str, records: Sequence[dict[str, Any]], sync: bool = True) -> bool:
        """Append ``records`` to the journal with one write, and one fsync if ``sync`` (see
        ``JournalingBackend``)."""
        known = self._documents.get(environment)
        if known is None:
            return False  # no document of ours to append to: write it whole
        token, document_size = known
        blob = b"".join(jsonio.dumps_line(r) for r in records)
        path = self._journal_path(environment)
        try:
            journal = self._journals.get(environment) or self._open_journal(environment, token)
            if journal.size + len(blob) > max(self.journal_min_bytes, document_size):
                return False  # compaction: the caller writes the whole document
            _write_all(journal.fd, blob)
            if sync:
                os.fsync(journal.fd)
        except OSError as exc:
            raise StateError(f"cannot write the state journal {path}: {exc.strerror}") from None
        journal.size += len(blob)
        self.bytes_written += len(blob)
        self.fsyncs += sync
        return True

    def sync_records(self, environment: str) -> None:
        """fsync the records appended without it (a no-op when there are none)."""
        journal = self._journals.get(environment)
        if journal is None:
            return
        try:
            os.fsync(journal.fd)
        except OSError as exc:
            raise StateError(
                f"cannot write the state journal {self._journal_path(environment)}: {exc.strerror}"
            ) from None
        self.fsyncs += 1

    def finish_records(self, document: StateDocument) -> None:
        """The end of a run's records: a small document (up to ``rewrite_after_run_bytes``) is written whole
        again, so that after a run the file alone says everything (for people and tools reading it);
        a large one keeps its journal until it outgrows the document."""
        journal = self._journals.get(document.environment)
        known = self._documents.get(document.environment)
        if journal is not None and known is not None and known[1] <= self.rewrite_after_run_bytes:
            self.write(document)

    def _open_journal(self, environment: str, token: str) -> _Journal:
        """Open the document's journal for appending: cut a torn last record, or start a new journal."""
        path = self._journal_path(environment)
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            fd = -1
        if fd >= 0:
            blob = b""
            try:
                blob = os.pread(fd, os.fstat(fd).st_size, 0)
                header = jsonio.loads(blob.split(b"\n", 1)[0]) if b"\n" in blob else None
            except ValueError:
                header = None
            if isinstance(header, dict) and header.get("journal") == token:
                end = blob.rfind(b"\n") + 1
                if end < len(blob):
                    os.ftruncate(fd, end)  # a torn record of a killed run: never acknowledged
                journal = _Journal(fd, token, end)
                self._journals[environment] = journal
                return journal
            os.close(fd)
        header_line = jsonio.dumps_line({"journal": token})
        fd_tmp, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            _write_all(fd_tmp, header_line)
            os.fsync(fd_tmp)
            os.replace(tmp, path)
        except BaseException:
            os.close(fd_tmp)
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        os.close(fd_tmp)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        journal = _Journal(fd, token, len(header_line))
        self.bytes_written += len(header_line)
        self._journals[environment] = journal
        return journal

    def _close_journal(self, environment: str) -> None:
        journal = self._journals.pop(environment, None)
        if journal is not None:
            os.close(journal.fd)

    def close(self) -> None:
        """Close the open journals (also done when the backend is collected)."""
        for environment in list(self._journals):
            self._close_journal(environment)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def read_lock(self, environment: str) -> LockInfo | None:
        path = self._lock_path(environment)
        try:
            return LockInfo.from_json(jsonio.loads(path.read_bytes()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, AttributeError) as exc:
            raise StateError(f"lock file {path} is unreadable: {exc}", hint=f"remove {path} by hand") from None

    def acquire_lock(self, info: LockInfo) -> LockInfo:
        """Write the lock to a temp file, then hard-link it into place: the link is an atomic
        create-if-absent, and a reader never sees a half-written lock."""
        path = self._lock_path(info.environment)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            try:
                _write_all(fd, jsonio.dumps_line(info.to_json()))
                os.fsync(fd)
            finally:
                os.close(fd)
            for _attempt in range(3):
                try:
                    os.link(tmp, path)
                    return info
                except FileExistsError:
                    holder = self.read_lock(info.environment)
                    if holder is not None:
                        raise lock_held_error(holder, holder.is_stale_here()) from None
                    # released between our attempt and the read: try again
            raise StateError(f"could not take the lock {path}: it keeps changing", hint="try again")
        finally:
            os.unlink(tmp)

    def release_lock(self, info: LockInfo) -> None:
        current = self.read_lock(info.environment)
        if current is not None and current.lock_id == info.lock_id:
            self._lock_path(info.environment).unlink(missing_ok=True)

    def force_unlock(self, lock_id: str, *, force: bool = False) -> LockInfo:
        for env in self._lock_environments():
            current = self.read_lock(env)
            if current is not None and current.lock_id == lock_id:
                refuse_live_unlock(current, force)
                self._lock_path(env).unlink(missing_ok=True)
                return current
        raise UnknownLockError(
            f"no lock with id {lock_id} in {self.description}",
            hint="`deployforge state list` shows the environments and their locks",
        )

    def _lock_environments(self) -> Iterator[str]:
        folder = self.root / "locks"
        if folder.is_dir():
            for path in sorted(folder.glob("*.lock")):
                yield path.stem

    # -- baselines ----------------------------------------------------------------------

    def _baseline_dir(self, environment: str) -> Path:
        return self.root / "baselines" / self._name(environment)

    def write_baseline(self, baseline: Baseline) -> None:
        folder = self._baseline_dir(baseline.environment)
        path = folder / f"{baseline.id}.json"
        try:
            atomic_write_json(path, baseline.to_json())
            atomic_write_json(folder / LATEST_BASELINE, {"id": baseline.id})
        except OSError as exc:
            raise StateError(f"cannot write baseline {path}: {exc.strerror}") from None

    def list_baselines(self, environment: str) -> list[str]:
        folder = self._baseline_dir(environment)
        if not folder.is_dir():
            return []
        try:
            latest = jsonio.loads((folder / LATEST_BASELINE).read_bytes()).get("id")
        except (OSError, ValueError, AttributeError):
            latest = None
        return latest_last(sorted(p.stem for p in folder.glob("*.json")), latest)

    def read_baseline(self, environment: str, baseline_id: str | None = None) -> Baseline | None:
        if baseline_id is None:
            ids = self.list_baselines(environment)
            if not ids:
                return None
            baseline_id = ids[-1]
        folder = self._baseline_dir(environment)
        if not is_plain_id(baseline_id):  # a path, not an id: never another environment's baseline
            return None
        path = folder / f"{baseline_id}.json"
        try:
            blob = path.read_bytes()
            with jsonio.gc_paused(len(blob)):
                return Baseline.from_json(jsonio.loads(blob))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(
                f"baseline {path} is unreadable: {exc}", hint="remove it; the previous one is used"
            ) from None

    # -- the drift register ---------------------------------------------------------------

    def _register_path(self, environment: str) -> Path:
        return self.root / "drift" / f"{self._name(environment)}.json"

    def read_drift_register(self, environment: str) -> dict[str, Any] | None:
        path = self._register_path(environment)
        try:
            data = jsonio.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StateError(f"drift register {path} is unreadable: {exc}", hint="remove it") from None
        return data if isinstance(data, dict) else None

    def write_drift_register(self, environment: str, data: dict[str, Any]) -> None:
        path = self._register_path(environment)
        try:
            atomic_write_json(path, data)
        except OSError as exc:
            raise StateError(f"cannot write drift register {path}: {exc.strerror}") from None

    def environments(self) -> Iterator[str]:
        folder = self.root / "state"
        if folder.is_dir():
            for path in sorted(folder.glob("*.json")):
                yield path.stem
