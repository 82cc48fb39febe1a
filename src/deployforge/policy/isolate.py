"""Run the Rego engine in a child process with a time limit and a memory limit.

rego-cpp (behind regopy) can take the whole process down or never return on hostile policies:
a 20,000-deep array literal or ``json.unmarshal`` of a deeply nested string segfaults it,
``numbers.range(1, 2e8)`` or a huge comprehension runs without bound. A pull request controls the
policies, so every call into the engine runs in a forked child (``run_isolated``):

- the child's result comes back through a pipe; a signal (SIGSEGV, SIGABRT...), a run past
  ``Limits.timeout_s`` or memory past ``Limits.memory_mb`` (private memory, read from
  ``/proc/PID/smaps_rollup``; the child is killed) comes back as a ``Crash`` the caller turns into a
  located error: never a silent pass, never a hang;
- the child resets SIGTERM/SIGINT to their defaults first, so it never runs the CLI's handlers
  (the handler of the parent ends the whole command; a worker that inherited it could hang the run);
  a parent interrupted while waiting kills the child before it re-raises;
- ``ulimit -v`` (RLIMIT_AS): rego-cpp's allocator, snmalloc, reserves a large address range when
  it starts and aborts ("Failed to initialise snmalloc", exit 134) under any address-space limit.
  The child raises its soft limit to the hard limit when it can; when it cannot, the abort is
  reported as such, with what to do (``Crash.kind == "address-space"``).
"""

from __future__ import annotations

import faulthandler
import os
import pickle
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 120.0
DEFAULT_MEMORY_MB = 2048


@dataclass(frozen=True)
class Limits:
    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_mb: int = DEFAULT_MEMORY_MB


@dataclass(frozen=True)
class Crash:
    kind: str  # signal | timeout | memory | address-space | error
    detail: str

    def describe(self, limits: Limits) -> str:
        if self.kind == "timeout":
            return f"the Rego engine ran past the time limit ({limits.timeout_s:g} s) and was stopped"
        if self.kind == "memory":
            return f"the Rego engine went past the memory limit ({limits.memory_mb} MB) and was stopped"
        if self.kind == "address-space":
            return (
                "the Rego engine could not start: the process has an address-space limit (ulimit -v), and "
                "rego-cpp's allocator (snmalloc) reserves its address range up front ('Failed to initialise "
                "snmalloc', abort)"
            )
        if self.kind == "signal":
            return f"the Rego engine crashed ({self.detail})"
        return f"the Rego engine failed: {self.detail}"

    def hint(self, limits: Limits) -> str:
        if self.kind == "timeout":
            return (
                "a rule runs away (a huge numbers.range, comprehension or recursion); "
                "raise --policy-timeout if it is legitimate"
            )
        if self.kind == "memory":
            return "a rule builds a huge value; raise --policy-memory (MB) if it is legitimate"
        if self.kind == "address-space":
            return (
                "remove the 'ulimit -v' (or raise its hard limit to unlimited); to bound the engine's memory "
                "use --policy-memory / policies[].memory_mb, which DeployForge enforces itself"
            )
        if self.kind == "signal":
            return (
                "rego-cpp crashes on some inputs (very deep literals, json.unmarshal of deeply nested text, "
                "'with' in some tests): simplify the construct (see docs/policies.md#limits)"
            )
        return "see docs/policies.md#limits"


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _resident_mb(pid: int) -> float | None:
    """The child's resident memory (shared pages included), in MB: cheap to read (``statm``)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE / 1024 / 1024
    except (OSError, ValueError, IndexError):
        return None


def _over_limit(pid: int, limit_mb: int) -> bool:
    """Whether the child's own memory is past the limit. Its private memory is never more than its
    resident memory, so ``smaps_rollup`` (costly: about 7 ms a read for an engine process, ten reads
    a second) is only read when the resident memory alone is past the limit."""
    resident = _resident_mb(pid)
    if resident is not None and resident <= limit_mb:
        return False
    return _private_mb(pid) > limit_mb


def _private_mb(pid: int) -> float:
    """The child's own memory (pages it does not share with the parent after fork), in MB."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            total_kb = 0
            for line in fh:
                if line.startswith((b"Private_Clean:", b"Private_Dirty:")):
                    total_kb += int(line.split()[1])
            return total_kb / 1024
    except (OSError, ValueError, IndexError):
        try:
            with open(f"/proc/{pid}/statm", "rb") as fh:
                return int(fh.read().split()[1]) * _PAGE / 1024 / 1024
        except (OSError, ValueError, IndexError):
            return 0.0


def _child_setup() -> None:
    try:  # die with the parent: a killed engine process must not leave its workers running
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    # a crash here is expected and reported by the parent as a Crash; a faulthandler inherited from
    # the host (pytest, python -X faulthandler) would also dump the engine's stack onto the user's stderr
    faulthandler.disable()
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if soft != hard:
            resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
    except (ImportError, OSError, ValueError):
        pass


def address_space_limited() -> bool:
    try:
        import resource

        return resource.getrlimit(resource.RLIMIT_AS)[1] != resource.RLIM_INFINITY
    except (ImportError, OSError, ValueError):
        return False


def preload_engine() -> None:
    """rego-cpp (a 14 MB library), loaded once here before the workers are forked, so that they
    share it instead of each loading its own (measured: 0.05-0.08 s of CPU per worker, a fifth of
    a 500-document run's engine phase). Not under ``ulimit -v``: rego-cpp's allocator aborts as
    the library loads there, which must happen in a worker (reported as an ``address-space`` crash
    with its hint), never in this process."""
    if address_space_limited():
        return
    import regopy  # noqa: F401


def run_isolated(fn: Callable[[], T], limits: Limits | None = None) -> T | Crash:
    """``fn()`` in a forked child: its (picklable) result, or a ``Crash``."""
    result: T | Crash = run_parallel([fn], limits or Limits())[0]
    return result


def _spawn(fn: Callable[[], Any]) -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 0
        try:
            os.close(read_fd)
            _child_setup()
            try:
                payload = pickle.dumps(("ok", fn()), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as exc:  # reported to the parent as an error, not raised here
                payload = pickle.dumps(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"))
                code = 3
            view = memoryview(payload)
            while view:
                written = os.write(write_fd, view[: 1 << 20])
                view = view[written:]
        finally:
            os._exit(code)
    os.close(write_fd)
    return pid, read_fd


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, as a container's cpuset limits it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def run_parallel(fns: list[Callable[[], Any]], limits: Limits) -> list[Any]:
    """Each ``fn()`` in its own forked child, all at once; results (or ``Crash``) in order.

    The time limit counts from the start for every child; the memory limit applies to each.
    """
    if not hasattr(os, "fork"):  # pragma: no cover - Windows: no isolation
        return [fn() for fn in fns]
    procs: list[tuple[int, int]] = []
    try:
        for fn in fns:
            procs.append(_spawn(fn))
    except BaseException:
        for pid, fd in procs:
            _kill(pid)
            os.close(fd)
        raise
    chunks: dict[int, list[bytes]] = {fd: [] for _pid, fd in procs}
    open_fds = {fd: pid for pid, fd in procs}
    killed: dict[int, str] = {}
    deadline = time.monotonic() + limits.timeout_s
    next_mem_check = 0.0
    try:
        while open_fds:
            now = time.monotonic()
            if now >= deadline:
                for fd, pid in open_fds.items():
                    killed[pid] = "timeout"
                    _kill(pid)
                    os.close(fd)
                open_fds.clear()
                break
            ready, _, _ = select.select(list(open_fds), [], [], min(0.1, max(0.0, deadline - now)))
            for fd in ready:
                chunk = os.read(fd, 1 << 20)
                if chunk:
                    chunks[fd].append(chunk)
                else:
                    os.close(fd)
                    del open_fds[fd]
            if now >= next_mem_check:
                next_mem_check = now + 0.1
                for fd, pid in list(open_fds.items()):
                    if _over_limit(pid, limits.memory_mb):
                        killed[pid] = "memory"
                        _kill(pid)
                        os.close(fd)
                        del open_fds[fd]
    except BaseException:
        for fd, pid in open_fds.items():
            _kill(pid)
            os.close(fd)
        raise
    results: list[Any] = []
    for pid, fd in procs:
        if pid in killed:
            results.append(Crash(killed[pid], killed[pid]))
            continue
        _, status = os.waitpid(pid, 0)
        results.append(_result(status, b"".join(chunks[fd])))
    return results


def _result(status: int, data: bytes) -> Any:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGABRT and address_space_limited():
            return Crash("address-space", "SIGABRT under ulimit -v")
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return Crash("signal", name)
    try:
        tag, value = pickle.loads(data)
    except Exception:
        return Crash("error", f"the engine process exited with status {os.WEXITSTATUS(status)} and no result")
    if tag != "ok":
        return Crash("error", str(value).strip().splitlines()[0] if value else "error")
    return value


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
