"""A run's trace built from audit records, and its renderings: Mermaid, JSON, text. Pure code.

``build_trace(records, trace_id)`` gathers the run record(s) of ``trace_id``,
its step records, and recursively every run whose ``parent_trace_id`` is in
the trace (the commands a ``run`` started), with their steps. Records written
before traces existed (no ``kind``/``trace_id``) are read as runs whose trace
is their ``run_id``.

Mermaid output is a ``flowchart TD`` inside a fenced ```` ```mermaid ```` block,
steps in the order they ran (each following the previous one; a step's own
steps hang from it), commands the run started on dotted edges from the run,
so a file made with ``deployforge audit trace ID --format=mermaid > trace.md``
renders on GitHub. Node ids are generated, never taken from names: ``n`` plus
an ASCII slug of the name plus the node's index (``n3_health_gate``), so a
name with spaces, punctuation, unicode or a Mermaid keyword (``end``,
``graph``, ``subgraph``...) cannot break the diagram; labels are quoted and
escaped with Mermaid's entity codes (``#quot;``, ``#lt;``...).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from deployforge.audit.trace import PREFIX, RANDOM_CHARS, short_id
from deployforge.errors import InputError


@dataclass(frozen=True)
class TraceNode:
    """A run or a step; ``parent`` is the id of the node it hangs from (None for the root)."""

    id: str
    kind: str  # "run" | "step"
    name: str
    outcome: str
    duration_ms: float | None
    parent: str | None
    started: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "outcome": self.outcome,
            "duration_ms": self.duration_ms,
            "parent": self.parent,
            "started": self.started,
            "details": self.details,
        }


@dataclass(frozen=True)
class Trace:
    trace_id: str
    nodes: tuple[TraceNode, ...]  # parents before children, siblings in start order

    @property
    def root(self) -> TraceNode:
        return self.nodes[0]

    def children(self, node_id: str) -> list[TraceNode]:
        return [n for n in self.nodes if n.parent == node_id]

    def to_json(self) -> dict[str, Any]:
        return {"trace_id": self.trace_id, "nodes": [n.to_json() for n in self.nodes]}


def record_trace_id(record: dict[str, Any]) -> str | None:
    value = record.get("trace_id") or record.get("run_id")
    return value if isinstance(value, str) else None


def record_kind(record: dict[str, Any]) -> str:
    """``step`` for a step record (the trace layer's ``step``, or a stage's own such as the canary's
    ``deploy.step``); ``run`` for a command's record."""
    kind = str(record.get("kind") or "")
    return "step" if kind == "step" or kind.endswith(".step") else "run"


def as_step(record: dict[str, Any]) -> dict[str, Any]:
    """A stage's own step record in the trace layer's step shape (``deploy.step``: one canary step)."""
    if record.get("kind") != "deploy.step" or not isinstance(record.get("step"), dict):
        return record
    step = record["step"]
    started, ended = _number(step.get("started_s")), _number(step.get("ended_s"))
    fields: dict[str, Any] = {"weight": step.get("weight")}
    gates = [g for g in step.get("gates") or [] if isinstance(g, dict)]
    if gates:
        failed = [str(g.get("gate")) for g in gates if not g.get("passed")]
        fields["gate checks"] = len(gates)
        if failed:
            fields["failed gates"] = ", ".join(dict.fromkeys(failed))
    outcome = {"done": "ok"}.get(str(step.get("outcome")), str(step.get("outcome") or "?"))
    duration = round((ended - started) * 1000, 1) if started is not None and ended is not None else None
    out = {
        "kind": "step",
        "trace_id": record_trace_id(record),
        "step_id": str(record.get("step_id") or f"canary-{step.get('index')}"),
        "name": f"canary step {step.get('index')}: {step.get('description', '')}",
        "outcome": outcome,
        "duration_ms": duration,
        # appended when it ended: it started ``duration`` earlier
        "started_at": _start_of({"ts": record.get("ts"), "duration_ms": duration}) or "",
        "seq": record.get("seq", 0),
        "fields": fields,
    }
    if isinstance(record.get("parent_id"), str):  # recorded inside a run (trace.stage_record): nested
        out["parent_id"] = record["parent_id"]
    return out


def resolve_trace_id(known: Iterable[str], given: str, where: str) -> str:
    """The full trace id ``given`` names: itself, or an unambiguous prefix or short form (``DF-TRC-9B12``)."""
    ids = set(known)
    wanted = given.strip().upper() if given.strip().upper().startswith(PREFIX) else given.strip()
    if wanted in ids:
        return wanted
    matches = sorted(i for i in ids if i.startswith(wanted))
    if not matches and wanted.startswith(PREFIX) and len(wanted) > len(PREFIX):
        tail = wanted[len(PREFIX) :]
        if len(tail) >= RANDOM_CHARS:
            matches = sorted(i for i in ids if i.startswith(PREFIX) and i.endswith(tail))
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        shown = ", ".join(matches[:5]) + (" ..." if len(matches) > 5 else "")
        raise InputError(
            f"trace id {given} is ambiguous in {where}: it matches {len(matches)} traces ({shown})",
            hint="give more characters of the id",
        )
    raise InputError(
        f"no trace {given} in {where} ({len(ids)} traces recorded)",
        hint="list recent runs and their trace ids with: deployforge audit log",
    )


def _run_node(record: dict[str, Any], parent: str | None) -> TraceNode:
    trace_id = record_trace_id(record) or "?"
    command = record.get("command")
    if isinstance(command, list):  # records of other writers may hold argv here
        command = " ".join(str(c) for c in command)
    details = {
        key: record[key]
        for key in (
            "environment",
            "exit_code",
            "cpu_ms",
            "peak_memory_mb",
            "api_calls",
            "config_hash",
            "plan_hash",
            "policy_bundle_hash",
            "error",
            "seq",
        )
        if record.get(key) not in (None, {}, "")
    }
    context = record.get("context") or {}
    if isinstance(context, dict) and context.get("actor"):
        details["actor"] = context["actor"]
    return TraceNode(
        id=trace_id,
        kind="run",
        name=f"deployforge {command or '?'}",
        outcome=str(record.get("outcome") or "?"),
        duration_ms=_number(record.get("duration_ms")),
        parent=parent,
        started=_start_of(record),
        details=details,
    )


def _start_of(record: dict[str, Any]) -> str | None:
    """When a command started: its record is written at the end (``ts``), after ``duration_ms``."""
    ts, duration = record.get("ts"), _number(record.get("duration_ms"))
    if not isinstance(ts, str):
        return None
    if duration is None:
        return ts
    from datetime import datetime, timedelta

    try:
        end = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return ts
    start = end - timedelta(milliseconds=duration)
    return start.strftime("%Y-%m-%dT%H:%M:%S.") + f"{start.microsecond // 1000:03d}Z"


def _number(value: Any) -> float | None:
    return float(value) if type(value) in (int, float) else None


def build_trace(records: Iterable[dict[str, Any]], trace_id: str) -> Trace:
    """The trace of run ``trace_id`` and of the runs it started (pure; records in log order)."""
    runs: dict[str, dict[str, Any]] = {}
    steps: dict[str, list[dict[str, Any]]] = {}
    children: dict[str, list[str]] = {}
    for record in records:
        tid = record_trace_id(record)
        if tid is None:
            continue
        if record_kind(record) == "step":
            steps.setdefault(tid, []).append(as_step(record))
        else:
            runs[tid] = record  # a re-recorded run: the last record wins
            parent = record.get("parent_trace_id")
            if isinstance(parent, str) and parent != tid and tid not in children.get(parent, []):
                children.setdefault(parent, []).append(tid)
    if trace_id not in runs and trace_id not in steps:
        raise InputError(f"no trace {trace_id} in the audit log")
    nodes: list[TraceNode] = []
    seen: set[str] = set()

    def add_run(tid: str, parent: str | None) -> None:
        if tid in seen:  # a loop of parent ids (a hand-edited log): draw each run once
            return
        seen.add(tid)
        record = runs.get(tid)
        if record is None:  # steps but no run record: the command did not finish
            nodes.append(TraceNode(tid, "run", "run (no final record: interrupted?)", "unknown", None, parent))
        else:
            nodes.append(_run_node(record, parent))
        step_records = sorted(steps.get(tid, []), key=lambda r: (str(r.get("started_at", "")), r.get("seq", 0)))
        known = {str(r.get("step_id")) for r in step_records}
        by_parent: dict[str, list[dict[str, Any]]] = {}
        for r in step_records:
            parent_id = str(r.get("parent_id") or tid)
            by_parent.setdefault(parent_id if parent_id in known else tid, []).append(r)

        def add_steps(parent_id: str) -> None:
            for r in by_parent.get(parent_id, []):
                sid = str(r.get("step_id"))
                fields = r.get("fields") if isinstance(r.get("fields"), dict) else {}
                details = dict(fields or {})
                if r.get("error"):
                    details["error"] = r["error"]
                nodes.append(
                    TraceNode(
                        sid,
                        "step",
                        str(r.get("name") or "?"),
                        str(r.get("outcome") or "?"),
                        _number(r.get("duration_ms")),
                        parent_id,
                        r.get("started_at") if isinstance(r.get("started_at"), str) else None,
                        details,
                    )
                )
                add_steps(sid)

        add_steps(tid)
        for child in sorted(children.get(tid, []), key=lambda c: str(runs[c].get("ts", ""))):
            add_run(child, tid)

    add_run(trace_id, None)
    return Trace(trace_id, tuple(nodes))


# -- renderings -----------------------------------------------------------------------------------


def format_duration(ms: float | None) -> str:
    if ms is None:
        return "?"
    if ms < 1000:
        return f"{ms:g} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(ms / 1000, 60)
    return f"{int(minutes)} min {seconds:.0f} s"


_SLUG = re.compile(r"[^A-Za-z0-9]+")


def mermaid_id(name: str, index: int) -> str:
    """A node id Mermaid accepts whatever ``name`` is: ``n<index>_<ascii slug>``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = _SLUG.sub("_", ascii_name).strip("_").lower()[:32].rstrip("_")
    return f"n{index}_{slug}" if slug else f"n{index}"


_ENTITIES = {'"': "#quot;", "<": "#lt;", ">": "#gt;", "#": "#35;", "`": "#96;", "&": "#amp;"}


def mermaid_label(text: str) -> str:
    """``text`` safe inside a quoted Mermaid label (entity codes; control characters become spaces)."""
    out = []
    for char in text:
        if char in _ENTITIES:
            out.append(_ENTITIES[char])
        elif unicodedata.category(char).startswith("C"):
            out.append(" ")
        else:
            out.append(char)
    return "".join(out)


_CLASSES = {
    "ok": "fill:#e6f4ea,stroke:#1e7e34,color:#1b1b1b",
    "error": "fill:#fdecea,stroke:#c62828,color:#1b1b1b",
    "other": "fill:#fff8e1,stroke:#b7791f,color:#1b1b1b",
}


def _class_of(outcome: str) -> str:
    if outcome in ("ok", "success", "passed"):
        return "ok"
    if outcome in ("error", "failed", "failure"):
        return "error"
    return "other"


def flow_edges(trace: Trace) -> list[tuple[str, str, bool]]:
    """The diagram's edges ``(from, to, started)``, in node order: the steps under a node run one after
    the other, so the first hangs from that node and each next one follows the previous one; a step's
    own steps hang from it the same way. A command the run started (``started`` True) hangs from the
    run that started it."""
    edges: list[tuple[str, str, bool]] = []
    last_step: dict[str, str] = {}  # parent id -> its latest step so far
    for node in trace.nodes:
        if node.parent is None:
            continue
        if node.kind == "run":
            edges.append((node.parent, node.id, True))
            continue
        edges.append((last_step.get(node.parent, node.parent), node.id, False))
        last_step[node.parent] = node.id
    return edges


def render_mermaid(trace: Trace, *, fence: bool = True) -> str:
    """A flowchart of the trace (fenced for Markdown unless ``fence`` is false): steps in the order
    they ran (``-->``), commands the run started as dotted edges (``-.->``)."""
    ids = {node.id: mermaid_id(node.name, i) for i, node in enumerate(trace.nodes)}
    lines = ["flowchart TD"]
    for node in trace.nodes:
        head = node.name
        if node.kind == "run":
            head = f"{node.name} · {node.id}"
        label = f"{mermaid_label(head)}<br/>{mermaid_label(node.outcome)} · {format_duration(node.duration_ms)}"
        lines.append(f'    {ids[node.id]}["{label}"]')
    for before, after, started in flow_edges(trace):
        if before in ids and after in ids:
            lines.append(f"    {ids[before]} {'-.->' if started else '-->'} {ids[after]}")
    for name, style in _CLASSES.items():
        members = [ids[n.id] for n in trace.nodes if _class_of(n.outcome) == name]
        if members:
            lines.append(f"    classDef {name} {style}")
            lines.append(f"    class {','.join(members)} {name}")
    body = "\n".join(lines) + "\n"
    return f"```mermaid\n{body}```\n" if fence else body


def render_text(trace: Trace) -> str:
    """An indented tree: one line a node, with outcome and duration."""
    out: list[str] = []

    def walk(node: TraceNode, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└─ " if last else "├─ ")
        what = f"{node.name} ({short_id(node.id)})" if node.kind == "run" and not top else node.name
        if top:
            what = f"trace {node.id} · {node.name}"
        extra = ""
        if node.kind == "run" and node.details.get("environment"):
            extra += f" · environment {node.details['environment']}"
        if node.details.get("error"):
            extra += f" · {node.details['error']}"
        out.append(f"{prefix}{branch}{what} · {node.outcome} · {format_duration(node.duration_ms)}{extra}")
        kids = trace.children(node.id)
        deeper = prefix + ("" if top else ("   " if last else "│  "))
        for i, kid in enumerate(kids):
            walk(kid, deeper, i == len(kids) - 1, False)

    walk(trace.root, "", True, True)
    return "\n".join(out) + "\n"
