"""The parallel verify of a large local audit log: the log is cut into byte ranges at line starts
(``slice_bounds``); each range but the first is checked by a worker process (``start_worker`` runs
``worker_main`` in a fresh interpreter: hashing is CPU-bound, so threads would not help) that
prints its slice's chain points as JSON; ``finish_worker`` reads them back (``None`` results tell
the caller to verify that slice itself)."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from deployforge.audit.chain import ChainPoint, VerifyReport, verify_slice

_BLOCK = 1 << 16


def slice_bounds(path: Path, size: int, count: int) -> list[tuple[int, int]]:
    """Split ``path`` into about ``count`` byte ranges that start at line starts."""
    cuts = [0]
    with open(path, "rb") as fh:
        for i in range(1, count):
            fh.seek(max(size * i // count - 1, cuts[-1]))
            fh.readline()
            cut = fh.tell()
            if cut >= size:
                break
            if cut > cuts[-1]:
                cuts.append(cut)
    cuts.append(size)
    return list(itertools.pairwise(cuts))


def range_lines(fh: Any, end: int) -> Iterator[bytes]:
    pos = fh.tell()
    for line in fh:
        yield line
        pos += len(line)
        if pos >= end:
            return


_WORKER_CODE = "from deployforge.audit.verify_worker import worker_main; worker_main()"
_WORKER_FAILED: tuple[ChainPoint | None, VerifyReport] = (None, VerifyReport(False, 0))


def start_worker(path: Path, bounds: tuple[int, int], witness: ChainPoint | None) -> Any:
    import subprocess
    import sys

    import deployforge

    package_root = str(Path(deployforge.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    args = [str(path), str(bounds[0]), str(bounds[1])]
    if witness is not None:
        args += [str(witness.seq), witness.hash]
    try:
        return subprocess.Popen(
            [sys.executable, "-c", _WORKER_CODE, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    except OSError:
        return None


def finish_worker(child: Any) -> tuple[ChainPoint | None, VerifyReport]:
    """A worker's answer, or ``_WORKER_FAILED`` (the caller then verifies that slice itself)."""
    if child is None:
        return _WORKER_FAILED
    out, _ = child.communicate()
    if child.returncode != 0:
        return _WORKER_FAILED
    try:
        data = json.loads(out)
        start = ChainPoint(*data["start"]) if data["start"] else None
        report = VerifyReport(bool(data["ok"]), int(data["records"]), None, ChainPoint(*data["last"]))
    except (ValueError, TypeError, KeyError):
        return _WORKER_FAILED
    return start, report


def worker_main() -> None:
    """Entry point of a verify worker: ``PATH START END [WITNESS_SEQ WITNESS_HASH]``; prints JSON."""
    import sys

    path, offset, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    witness = ChainPoint(int(sys.argv[4]), sys.argv[5]) if len(sys.argv) > 5 else None
    with open(path, "rb", buffering=_BLOCK * 16) as fh:
        fh.seek(offset)
        start, report = verify_slice(range_lines(fh, end), witness=witness)
    result = {
        "start": [start.seq, start.hash] if start else None,
        "ok": report.ok,
        "records": report.records,
        "last": [report.last.seq, report.last.hash],
    }
    sys.stdout.write(json.dumps(result))
