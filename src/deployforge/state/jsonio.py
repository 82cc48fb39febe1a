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


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a large document is parsed and turned into objects.

    Parsing creates millions of containers and no garbage; CPython's collector would walk the whole
    growing heap again and again meanwhile (for 100,000 baseline resources that tripled the load
    time). Reference counting still frees what is dropped; collection resumes afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
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
