"""What every benchmark here shares: run a measurement in a fresh child process and report what a
user waits for.

``measure(fn, *args)`` forks a child that runs ``fn(*args)`` (which returns a dict of its own
figures); the parent waits for it with ``os.wait4``, which gives the child's CPU time (user +
system, every thread, and every process it waited for: RUSAGE of the child, not of the parent) and
its peak resident memory. Each repeat is a new process, so one run's garbage, caches or warm pages
do not flatter the next; results are reported as min and median over the repeats.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def measure(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run ``fn(*args)`` in a forked child: its figures plus process_cpu_s and peak_rss_mb.

    ``fn`` reports the measured section itself: ``wall_s`` and ``cpu_s`` (``time.process_time()``:
    every thread of the process) around what a user waits for, leaving out the setup."""
    read_fd, write_fd = os.pipe()
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_fd)
        code = 0
        try:
            out = fn(*args) or {}
        except BaseException as exc:  # reported to the parent
            out = {"error": f"{type(exc).__name__}: {exc}"}
            code = 1
        with os.fdopen(write_fd, "w") as fh:
            json.dump(out, fh, default=str)
        os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd) as fh:
        payload = fh.read()
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    result: dict[str, Any] = json.loads(payload or "{}")
    if status != 0 or "error" in result:
        raise RuntimeError(f"benchmark child failed: {result.get('error', status)}")
    result.setdefault("wall_s", wall)
    result["process_wall_s"] = wall
    result["process_cpu_s"] = usage.ru_utime + usage.ru_stime  # the whole child, setup included
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return result


def repeat(times: int, fn: Callable[..., dict[str, Any]], *args: Any) -> list[dict[str, Any]]:
    return [measure(fn, *args) for _ in range(times)]


def summary(runs: list[dict[str, Any]], key: str) -> tuple[float, float]:
    values = [float(r[key]) for r in runs]
    return min(values), statistics.median(values)


def fmt(runs: list[dict[str, Any]], key: str, unit: str = "s", scale: float = 1.0) -> str:
    best, median = summary(runs, key)
    return f"min {best * scale:.3f} {unit}, median {median * scale:.3f} {unit}"


def write_json(path: str | None, data: dict[str, Any]) -> None:
    """Machine-readable figures for scripts/perf_chart.py (merged into the file, one key per benchmark)."""
    if not path:
        return
    target = Path(path)
    current: dict[str, Any] = json.loads(target.read_text()) if target.exists() else {}
    current.update(data)
    target.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
