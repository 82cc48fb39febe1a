"""One large ``.tf`` file read by the engine's workers, a slice each (issue 18, point 6).

Reading a 5,000-block ``.tf`` takes about 0.2 s; done in the parent it is a serial step before the
workers start. Here the parent only looks at the file's block headers (one regular expression over
the text) and plans where to cut it; each worker reads its own slice and evaluates its resources,
so no parsed document travels between processes.

The plan is a prediction each worker checks against what it read (nothing in the report may differ
from reading the file whole, ``inputs.read_inputs``):

- the file is cut at the header of a ``resource`` block at the start of a line, so that worker k
  holds exactly the resources ``evaluate._part`` gives part k (resources are evaluated in file
  order; each address once, its first block);
- the *head* (everything before the first resource) is read by every worker: the variables and
  providers there give each resource its region, as ``inputs.terraform_doc`` does for the whole
  file; a ``variable`` or ``provider`` block after it means no slicing;
- each worker checks that its slice reads on its own (a cut inside a heredoc or a comment does not)
  and that the blocks it read, with their lines, are exactly those the headers predicted for it,
  and that no variable, provider or resource sits where it was not foreseen. Otherwise it answers
  None and the parent reads the file whole, which reports any error as it always has.

Each worker's document lists every resource of the file, its own as read and the others by address
and line only, so that the engine's cut of its items (``evaluate._part``) gives it exactly its own;
its block lines are the whole file's.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from deployforge.policy.hcl import _label_key
from deployforge.policy.inputs import (
    InputDoc,
    MixedBlocks,
    ResourceDoc,
    _tf_variables,
    terraform_doc,
    unreadable_checks,
)

PARALLEL_TF_CHARS = 256 * 1024  # below this, reading the file is too short a step to split

# a top-level block's header alone on its line, at the line's start (hcl._BLOCK_OPEN, unindented),
# searched from the newline before it (a literal start: twice as fast as a multi-line ^)
_HEADER = re.compile(
    r'\n([A-Za-z_][A-Za-z0-9_-]*)((?:[ \t]+(?:"[^"\\$\n]*"|[A-Za-z_][A-Za-z0-9_-]*))*)[ \t]*\{[ \t\r]*(?=\n|\Z)'
)
_LABEL = re.compile(r'"([^"\\$\n]*)"|([A-Za-z_][A-Za-z0-9_-]*)')
_CONTEXT = ("variable", "provider")  # what a resource's document is built from, besides its block


@dataclass(frozen=True)
class TfPlan:
    """Where to cut a ``.tf`` text, and what each slice must hold."""

    head_end: int  # offset of the first resource header: the head is text[:head_end]
    bounds: tuple[tuple[int, int], ...]  # (start, end) of each slice; the first starts at head_end
    lines: dict[str, int]  # every block's key -> line of its first block (hcl.Parsed.lines)
    resources: tuple[tuple[str, int], ...]  # (address, line) of each resource, file order


def plan(text: str, parts: int, minimum: int) -> TfPlan | None:
    """The cut of ``text`` into ``parts`` slices of resources, or None (too few resources, a variable
    or provider after the first resource, an address whose blocks would fall in two slices)."""
    if parts < 2:
        return None
    lines: dict[str, int] = {}
    order: list[tuple[str, int, int]] = []  # (address, line, offset) of each resource's first block
    blocks_of: dict[str, list[int]] = {}  # address -> offsets of its blocks
    head_end = -1
    line = 1
    last = 0
    for m in _HEADER.finditer("\n" + text):
        start = m.start()  # in text: the header's first character (after the newline)
        line += text.count("\n", last, start)
        last = start
        kind = m.group(1)
        labels = [a if a is not None else b for a, b in _LABEL.findall(m.group(2))]
        key = _label_key(kind, labels)
        if kind == "resource" and len(labels) >= 2:
            if head_end < 0:
                head_end = start
            address = f"{labels[0]}.{labels[1]}"
            if address not in blocks_of:
                order.append((address, line, start))
            blocks_of.setdefault(address, []).append(start)
        elif kind in _CONTEXT and head_end >= 0:
            return None  # a resource before it would be read without it
        if key is not None:
            lines.setdefault(key, line)
    if head_end < 0 or len(order) < max(minimum, parts):
        return None
    size = -(-len(order) // parts)  # evaluate._part's chunk size
    cuts = [order[k * size][2] for k in range(parts) if k * size < len(order)]
    bounds = tuple(zip(cuts, [*cuts[1:], len(text)], strict=True))
    if -(-len(order) // len(bounds)) != size:  # the engine cuts its items by the slices' count
        return None
    for offsets in blocks_of.values():
        if len(offsets) > 1 and len({_slice_of(o, bounds) for o in offsets}) > 1:
            return None
    return TfPlan(head_end, bounds, lines, tuple((a, ln) for a, ln, _o in order))


def _slice_of(offset: int, bounds: tuple[tuple[int, int], ...]) -> int:
    return next(k for k, (a, b) in enumerate(bounds) if a <= offset < b)


def read_slice(path: str, text: str, tf_plan: TfPlan, k: int) -> InputDoc | None:
    """Worker k's document: its resources read from its slice (every other resource present by
    address and line only), or None when the slice does not read as planned."""
    import gc

    from deployforge.policy.hcl import HclError, parse

    paused = gc.isenabled()
    gc.disable()  # as inputs.read_inputs: many small objects, none in a cycle
    try:
        start, end = tf_plan.bounds[k]
        if any(unreadable_checks(text[: tf_plan.head_end])) or any(unreadable_checks(text[start:end])):
            return None  # such values are looked for in the file read whole (inputs._without_unreadable)
        try:
            head = parse(text[: tf_plan.head_end])
            body = parse(text[start:end])
        except (HclError, RecursionError):
            return None
        offset = text.count("\n", 0, start)
        found = dict(head.lines)
        for key, line in body.lines.items():
            if key in found:
                return None  # the slice repeats a key its head holds: read whole
            found[key] = line + offset
        first_line, end_line = offset + 1, text.count("\n", 0, end) + 1
        head_lines = text.count("\n", 0, tf_plan.head_end) + 1
        expected = {
            key: line
            for key, line in tf_plan.lines.items()
            if line < head_lines or first_line <= line < end_line or (end == len(text) and line >= first_line)
        }
        if found != expected or "resource" in head.data or any(c in body.data for c in _CONTEXT):
            return None
        data = dict(head.data)
        for kind, value in body.data.items():
            if isinstance(value, list) and isinstance(data.get(kind), list):
                data[kind] = data[kind] + value
            else:
                data[kind] = value
        try:
            own = terraform_doc(path, {path: data}, _tf_variables({path: head.data}), tf_plan.lines)
        except MixedBlocks:
            return None  # read whole, it is reported
        mine = {r.address: r for r in own.resources}
        size = -(-len(tf_plan.resources) // len(tf_plan.bounds))
        wanted = [a for a, _ln in tf_plan.resources[k * size : (k + 1) * size]]
        if sorted(mine) != sorted(wanted):
            return None
        resources = tuple(mine.get(a) or ResourceDoc(a, path, ln, {}) for a, ln in tf_plan.resources)
        return InputDoc(path, "terraform", own.document, 1, None, resources, anchors=dict(tf_plan.lines))
    finally:
        if paused:
            gc.enable()


def slices_for(text: str) -> TfPlan | None:
    """The plan for this machine: one slice per CPU (at most 8), when it can fork."""
    from deployforge.policy.engine import PARALLEL_THRESHOLD
    from deployforge.policy.isolate import usable_cpus

    if not hasattr(os, "fork") or len(text) < PARALLEL_TF_CHARS:
        return None
    return plan(text, min(usable_cpus(), 8), PARALLEL_THRESHOLD)
