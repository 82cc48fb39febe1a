"""JSON for the documents DeployForge stores (state, its journal, baselines, locks): compact, fast.

orjson parses and writes these documents 3-5x faster than the standard library (a 100,000-resource
baseline loads in a fraction of a second instead of 2.5 s) and writes compact UTF-8 directly.
Keys are sorted, so a state file kept in version control diffs cleanly.

A document that does not parse is re-read with the standard library on the error path only, for
its familiar message and its line and column (``JsonError``).
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


class JsonError(ValueError):
    """A document that is not JSON, with the position the standard library reports."""

    def __init__(self, msg: str, lineno: int, colno: int):
        super().__init__(f"{msg}: line {lineno} column {colno}")
        self.msg = msg
        self.lineno = lineno
        self.colno = colno


# Documents at least this large are frozen out of the cyclic collector once loaded (``gc_paused``).
FREEZE_BYTES = 8 << 20


@contextmanager
def gc_paused(size: int = 0) -> Iterator[None]:
    """No cyclic garbage collection while a document of ``size`` bytes is parsed and turned into objects.

    Parsing creates millions of containers and no garbage; CPython's collector would walk the whole
    growing heap again and again meanwhile (for 100,000 baseline resources that tripled the load
    time). Reference counting still frees what is dropped; collection resumes afterwards.

    A document of ``FREEZE_BYTES`` or more (a large environment: 100,000 resources are 40 MB) is then
    moved out of the collector's sight (``gc.freeze``): otherwise its millions of objects, all new,
    are walked again by the next collections of each generation while the command goes on (0.5 s of
    a 100,000-resource drift). Parsed JSON holds no reference cycles, so reference counting still
    frees it when it is dropped; the cost is that cyclic garbage existing at that moment waits for
    the process to end, which for a command that loads such a document is the right trade.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if size >= FREEZE_BYTES:
            gc.freeze()
        if was_enabled:
            gc.enable()


def dumps(data: Any) -> bytes:
    """Compact JSON, keys sorted. Raises TypeError for values JSON cannot hold."""
    return orjson.dumps(data, option=_OPTIONS)


def dumps_line(data: Any) -> bytes:
    """``dumps`` plus a newline (one journal record, one file)."""
    return orjson.dumps(data, option=_OPTIONS | orjson.OPT_APPEND_NEWLINE)


def loads(text: bytes | str) -> Any:
    """Parse JSON; ``JsonError`` (a ValueError carrying ``lineno``/``colno``) when it is not JSON."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(text)  # the standard library's message and position
    except json.JSONDecodeError as exc:
        raise JsonError(exc.msg, exc.lineno, exc.colno) from None
    except ValueError as exc:  # e.g. bytes that are not UTF-8
        raise JsonError(str(exc), 1, 1) from None
