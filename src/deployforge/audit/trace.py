"""Traces: one id per run (``DF-TRC-…``), and the steps a run records into the audit log.

Every command run gets a trace id (``new_trace_id``) that is printed at its
start, stored in its audit record and shown in PR comments, job summaries and
JUnit properties. A command started by another one (a ``run`` that calls
``plan``, ``policy``, ``deploy`` and hooks; a drift auto-resolve started by a
scheduled detect) names its parent through the environment variable
``DEPLOYFORGE_PARENT_TRACE`` (``PARENT_ENV``), which ``child_environ`` sets.

Recording steps (the public API for stages such as deploy, policy and hooks)::

    from deployforge.audit import trace

    with trace.step("deploy", target="aws_prod", strategy="canary") as s:
        ...                                   # the work
        s.set(weight=5, health="green")      # more fields, any time before the end

    with trace.step("canary 5%"):             # nested: its parent is the enclosing step
        with trace.step("health gate"):
            ...

When the ``with`` block ends, ONE child record is appended to the run's audit
log::

    {"kind": "step", "trace_id": "DF-TRC-…", "step_id": "DF-TRC-….3",
     "parent_id": "<trace id or enclosing step id>", "name": "deploy",
     "outcome": "ok" | "error" | <what s.outcome was set to>,
     "started_at": "<RFC 3339>", "duration_ms": 12.3, "fields": {...},
     "error": "<type: message>" (only when the block raised)}

An exception leaving the block marks the step ``error`` and propagates
unchanged. Set ``s.outcome = "skipped"`` (or ``"rolled_back"``, ``"failed"``…)
to record another outcome without raising. Field values must be JSON values;
strings pass through the log's ``redact`` hook, so registered secrets are
masked before anything is hashed or written.

A step timed elsewhere (each hook of a phase that ``hooks.run_phase`` ran in
one call) is recorded afterwards with ``finished(name, outcome=..., duration_ms=...,
started_at=...)``; a stage's own record (the canary's ``{"kind": "deploy.step"}``)
joins the run with ``stage_record(record, parent=step)``, which gives it the
same ``trace_id`` / ``step_id`` / ``parent_id`` fields. Both count in the run
record's ``steps``, like every ``step``.

Outside a run (a library call, a unit test without ``recording``) ``step``
still times the block and fills the ``Step`` it yields (outcome, duration,
fields); nothing is written anywhere.
``recording(log, trace_id)`` starts a recorder explicitly (the CLI does this
in ``cli/common.run_project_command``; tests can do it too). Steps from
worker threads are recorded too; their parent is the run (context variables
do not follow a thread pool), unless the thread runs inside ``copy_context``.
"""

from __future__ import annotations

import contextvars
import re
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

PARENT_ENV = "DEPLOYFORGE_PARENT_TRACE"
TRACE_ENV = "DEPLOYFORGE_TRACE_ID"  # set for the children a run starts (hooks see their run's id)
PREFIX = "DF-TRC-"
# Crockford's base32 (no I, L, O, U): easy to read aloud, and in ASCII order, so ids sort as text.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_EPOCH = 1_704_067_200  # 2024-01-01T00:00:00Z; 6 base32 digits of seconds last until 2058
TIME_CHARS = 6
RANDOM_CHARS = 4
TRACE_ID_RE = re.compile(r"^DF-TRC-[0-9A-HJKMNP-TV-Z]{4,26}$")


def new_trace_id(now: float | None = None) -> str:
    """A fresh trace id, e.g. ``DF-TRC-0KZ3T19B12``: 6 characters of start time, then 4 random ones.

    Ids sort by start time as text (baselines rely on that: they are named by
    the run that took them). The short form is ``DF-TRC-`` plus the last 4
    (random) characters, e.g. ``DF-TRC-9B12`` as on the product page;
    ``audit trace`` accepts it when it is unambiguous.
    """
    seconds = max(0, int(now if now is not None else time.time()) - _EPOCH)
    digits = []
    for _ in range(TIME_CHARS):
        seconds, digit = divmod(seconds, 32)
        digits.append(_ALPHABET[digit])
    stamp = "".join(reversed(digits))
    return PREFIX + stamp + "".join(secrets.choice(_ALPHABET) for _ in range(RANDOM_CHARS))


def short_id(trace_id: str) -> str:
    """The short form shown in tables: ``DF-TRC-`` and the last 4 characters."""
    return PREFIX + trace_id[-RANDOM_CHARS:] if trace_id.startswith(PREFIX) else trace_id


def is_trace_id(text: str) -> bool:
    """True for a whole or abbreviated trace id (at least 4 characters after ``DF-TRC-``)."""
    return bool(TRACE_ID_RE.match(text))


def parent_from(environ: Mapping[str, str]) -> str | None:
    """The parent trace id a parent run passed down, or None (a malformed value is ignored)."""
    value = (environ.get(PARENT_ENV) or "").strip().upper()
    return value if value and is_trace_id(value) else None


def child_environ(environ: Mapping[str, str], trace_id: str) -> dict[str, str]:
    """A copy of ``environ`` for a process started by the run ``trace_id`` (its lineage)."""
    out = dict(environ)
    out[PARENT_ENV] = trace_id
    out[TRACE_ENV] = trace_id
    return out


class _Appender(Protocol):
    def append(self, fields: dict[str, Any]) -> Any: ...


@dataclass
class Step:
    """A step in progress; ``set`` adds fields, ``outcome`` may be changed before the end."""

    name: str
    step_id: str
    parent_id: str
    started_at: str
    fields: dict[str, Any] = field(default_factory=dict)
    outcome: str = "ok"
    error: str | None = None
    duration_ms: float = 0.0

    def set(self, **fields: Any) -> None:
        self.fields.update(fields)

    def record(self, trace_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "step",
            "trace_id": trace_id,
            "step_id": self.step_id,
            "parent_id": self.parent_id,
            "name": self.name,
            "outcome": self.outcome,
            "started_at": self.started_at,
            "duration_ms": self.duration_ms,
            "fields": self.fields,
        }
        if self.error is not None:
            out["error"] = self.error
        return out


class Recorder:
    """Collects a run's steps and appends each to ``log`` (when given) as it ends."""

    def __init__(self, trace_id: str, log: _Appender | None = None):
        self.trace_id = trace_id
        self.log = log
        self.steps: list[dict[str, Any]] = []
        self.write_errors: list[str] = []
        self._lock = threading.Lock()
        self._counter = 0

    def next_id(self) -> str:
        with self._lock:
            self._counter += 1
            return f"{self.trace_id}.{self._counter}"

    def finish(self, step: Step) -> None:
        self.add(step.record(self.trace_id), step.name)

    def add(self, record: dict[str, Any], label: str) -> None:
        """Append one step record (counted in ``steps``: the run record's ``steps`` is their number)."""
        with self._lock:
            self.steps.append(record)
        if self.log is not None:
            try:
                self.log.append(record)
            except Exception as exc:
                message = getattr(exc, "message", None) or str(exc)
                with self._lock:
                    self.write_errors.append(f"step {label!r}: {message}")


_active: Recorder | None = None  # the process's current run (one command per process)
_current_step: contextvars.ContextVar[Step | None] = contextvars.ContextVar("deployforge_step", default=None)


def active() -> Recorder | None:
    """The recorder of the run in progress, if any."""
    return _active


def in_step() -> bool:
    """A step is open here: a use case called by another's step records no steps of its own."""
    return _current_step.get() is not None


@contextmanager
def recording(log: _Appender | None, trace_id: str) -> Iterator[Recorder]:
    """Record the steps of run ``trace_id`` into ``log`` while the block runs."""
    global _active
    previous = _active
    recorder = Recorder(trace_id, log)
    _active = recorder
    token = _current_step.set(None)
    try:
        yield recorder
    finally:
        _current_step.reset(token)
        _active = previous


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now() -> str:
    """The time as steps record it (RFC 3339 UTC, microseconds): a ``started_at`` for ``finished``."""
    return _now()


@contextmanager
def step(name: str, **fields: Any) -> Iterator[Step]:
    """Record the block as a step of the current run (see the module docstring)."""
    recorder = _active
    if recorder is None:
        recorder = Recorder(PREFIX + "LOCAL")
    parent = _current_step.get()
    current = Step(
        name=str(name),
        step_id=recorder.next_id(),
        parent_id=parent.step_id if parent is not None else recorder.trace_id,
        started_at=_now(),
        fields=dict(fields),
    )
    token = _current_step.set(current)
    began = time.perf_counter()
    try:
        yield current
    except BaseException as exc:
        current.outcome = "interrupted" if isinstance(exc, KeyboardInterrupt) else "error"
        message = str(getattr(exc, "message", None) or exc)
        current.error = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
        raise
    finally:
        current.duration_ms = round((time.perf_counter() - began) * 1000, 1)
        _current_step.reset(token)
        recorder.finish(current)


def finished(
    name: str,
    *,
    outcome: str,
    duration_ms: float,
    started_at: str | None = None,
    error: str | None = None,
    parent: Step | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Record a step that already ran, timed by someone else (one hook of a phase that ran them all).

    Its parent is ``parent``, else the enclosing ``step``, else the run; ``started_at`` (RFC 3339)
    defaults to now. Returns the step record (written only inside a ``recording``).
    """
    recorder = _active if _active is not None else Recorder(PREFIX + "LOCAL")
    enclosing = parent if parent is not None else _current_step.get()
    done = Step(
        name=str(name),
        step_id=recorder.next_id(),
        parent_id=enclosing.step_id if enclosing is not None else recorder.trace_id,
        started_at=started_at or _now(),
        fields=dict(fields),
        outcome=outcome,
        error=error,
        duration_ms=round(duration_ms, 1),
    )
    recorder.finish(done)
    return done.record(recorder.trace_id)


def stage_record(record: dict[str, Any], *, parent: Step | None = None, log: _Appender | None = None) -> dict[str, Any]:
    """Append a stage's own step record (``{"kind": "deploy.step", ...}``: one canary step) as a step of
    the current run: it gains ``trace_id``, ``step_id`` and ``parent_id`` (``parent``, else the enclosing
    ``step``, else the run), and counts in the run record's ``steps``.

    Outside a ``recording`` (a library call), the record is appended to ``log`` as it is, when given.
    """
    recorder = _active
    if recorder is None:
        if log is not None:
            log.append(record)
        return record
    enclosing = parent if parent is not None else _current_step.get()
    linked = {
        **record,
        "trace_id": recorder.trace_id,
        "step_id": recorder.next_id(),
        "parent_id": enclosing.step_id if enclosing is not None else recorder.trace_id,
    }
    recorder.add(linked, str(record.get("kind") or "step"))
    return linked
