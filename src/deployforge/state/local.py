"""Local state backend: ``.deployforge/state/<env>.json`` and ``.deployforge/locks/<env>.lock``.

Writes go to a temporary file in the same folder, are fsynced, then renamed
over the old file (atomic on POSIX). The lock file is created with
``O_CREAT | O_EXCL`` so exactly one process can take it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from deployforge.errors import LockHeldError, StateError
from deployforge.state.base import LockInfo, StateDocument
from deployforge.state.baseline import Baseline


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

    exit_code = 2


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


def atomic_write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes 0600 files; a saved plan or state is read by later CI steps that may run as
        # another user (GitHub's runner: the Action as root, later steps as uid 1001)
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class LocalBackend:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.description = f"local {self.root}"

    def _state_path(self, environment: str) -> Path:
        return self.root / "state" / f"{environment}.json"

    def _lock_path(self, environment: str) -> Path:
        return self.root / "locks" / f"{environment}.lock"

    def read(self, environment: str) -> StateDocument | None:
        path = self._state_path(environment)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"cannot read state {path}: {exc.strerror}") from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            line, column = getattr(exc, "lineno", 0), getattr(exc, "colno", 0)
            raise StateError(
                f"state file {path}:{line}:{column} is not valid JSON: {getattr(exc, 'msg', exc)}",
                hint="restore it from version control or a backup; DeployForge never writes partial files",
            ) from None
        try:
            return StateDocument.from_json(data, environment)
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(
                f"state file {path} is not valid DeployForge state: {exc}",
                hint="restore it from version control or a backup; DeployForge never writes partial files",
            ) from None

    def write(self, document: StateDocument) -> None:
        path = self._state_path(document.environment)
        try:
            atomic_write_json(path, document.to_json())
        except OSError as exc:
            raise StateError(f"cannot write state {path}: {exc.strerror}") from None

    def read_lock(self, environment: str) -> LockInfo | None:
        path = self._lock_path(environment)
        try:
            return LockInfo.from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise StateError(f"lock file {path} is unreadable: {exc}", hint=f"remove {path} by hand") from None

    def acquire_lock(self, info: LockInfo) -> LockInfo:
        """Write the lock to a temp file, then hard-link it into place: the link is an atomic
        create-if-absent, and a reader never sees a half-written lock."""
        path = self._lock_path(info.environment)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(info.to_json(), fh, indent=2)
                fh.flush()
                os.fsync(fh.fileno())
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
        return self.root / "baselines" / environment

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
            latest = json.loads((folder / LATEST_BASELINE).read_text(encoding="utf-8")).get("id")
        except (OSError, ValueError, AttributeError):
            latest = None
        return latest_last(sorted(p.stem for p in folder.glob("*.json")), latest)

    def read_baseline(self, environment: str, baseline_id: str | None = None) -> Baseline | None:
        if baseline_id is None:
            ids = self.list_baselines(environment)
            if not ids:
                return None
            baseline_id = ids[-1]
        path = self._baseline_dir(environment) / f"{baseline_id}.json"
        try:
            return Baseline.from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(
                f"baseline {path} is unreadable: {exc}", hint="remove it; the previous one is used"
            ) from None

    # -- the drift register ---------------------------------------------------------------

    def _register_path(self, environment: str) -> Path:
        return self.root / "drift" / f"{environment}.json"

    def read_drift_register(self, environment: str) -> dict[str, Any] | None:
        path = self._register_path(environment)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
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
