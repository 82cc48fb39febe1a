"""Why a boolean rule is false: the first condition of each of its bodies that does not hold.

A policy such as the product page's ``production.rego``::

    default allow = false
    allow {
      input.resource.region == allowed_regions[_]
      input.resource.tags.owner != ""
    }

evaluates to ``allow = false`` for a resource, which alone does not tell the author whether the
region or the owner tag failed. ``why_false`` finds out the way a person would: it evaluates the
body one expression more at a time (``expr1``, then ``expr1; expr2``, ...) as extra rules of the
same package, through regopy, and reports the first prefix that does not hold, with its
``file:line`` and the source text as written (through the one-line guard: policy text comes
from the pull request).

How:

- ``rule_bodies`` (pure) reads the bodies of a rule from the policy text the engine evaluates
  (the rewritten text: its lines are the author's lines): ``NAME {``, ``NAME if {``,
  ``NAME = true {``, ``NAME := true if {`` (the body on the following lines or on the same one)
  and ``NAME if EXPR``. A rule with ``else``, a
  value other than ``true`` or no such body is not explained.
- ``Explainer`` builds, once per evaluation and rule, an interpreter holding the engine's data and
  modules plus one module with a rule per prefix (``default __deployforge_why_B_K := false``,
  ``__deployforge_why_B_K if { expr1 ... exprK }``). A prefix that does not compile alone (Rego
  reorders a body for safety, so a prefix may use a variable bound later) is left out; its
  expression is then never named, and the next prefix that compiles decides.
- ``why_false(engine, package, rule, document)`` sets the document as input, runs one query for all
  prefixes and names, for each body, the expression whose prefix first fails. At most
  ``MAX_EXPLAINED`` documents are explained per rule and evaluation (each costs one query); beyond
  that, and whenever anything about the explanation goes wrong, it returns None and the caller keeps
  its plain message. Nothing here raises.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_EXPLAINED = 1000  # documents explained per rule and evaluation (one engine query each, ~1 ms)
_PREFIX = "__deployforge_why"
_SHOWN = 160  # characters of a condition shown

_TOKEN = re.compile(
    r"""(?P<nl>\n)|(?P<comment>\#[^\n]*)|(?P<string>"(?:[^"\\\n]|\\.)*")|(?P<raw>`[^`]*`)"""
    r"""|(?P<open>[(\[{])|(?P<close>[)\]}])|(?P<semi>;)|(?P<other>[^\n#"`(\[{)\]};]+)"""
)


@dataclass(frozen=True)
class Expression:
    text: str  # as the engine evaluates it
    line: int  # first line (1-based)
    end_line: int


@dataclass(frozen=True)
class Body:
    file: str
    line: int  # the rule head's line
    expressions: tuple[Expression, ...]


def _head(rule: str) -> re.Pattern[str]:
    name = re.escape(rule)
    return re.compile(rf"^{name}(?:\s*(?::=|=)\s*true)?\s*(?:(?P<brace>(?:if\s*)?\{{)|if\s+(?P<inline>[^{{\s].*)$)")


def _split(text: str, start: int, line: int) -> tuple[list[Expression], int, bool]:
    """The expressions of the body whose ``{`` is just before ``start``: (expressions, end offset, closed)."""
    depth = 0
    exprs: list[Expression] = []
    current: list[str] = []
    first_line = line

    def flush() -> None:
        body = "".join(current).strip()
        if body:
            exprs.append(Expression(body, first_line, line))
        current.clear()

    pos = start
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:  # an unterminated string: not a body we can read
            return exprs, pos, False
        kind, value = m.lastgroup, m.group(0)
        pos = m.end()
        if kind == "comment":
            continue
        if kind == "close" and depth == 0:
            flush()
            return exprs, pos, value == "}"
        if kind in ("nl", "semi") and depth == 0:
            flush()
            if kind == "nl":
                line += 1
            first_line = line
            continue
        if not current and kind != "nl":
            first_line = line
        if kind == "open":
            depth += 1
        elif kind == "close":
            depth -= 1
        current.append(value)
        line += value.count("\n")
    return exprs, pos, False


def rule_bodies(file: str, text: str, rule: str) -> list[Body] | None:
    """The bodies of ``rule`` in ``text`` (pure): [] when the text has none (only its ``default``, say),
    None when the rule cannot be explained this way (``else`` chains, a value other than true, a body
    that does not parse)."""
    head = _head(rule)
    lines = text.split("\n")
    offsets = [0]
    for ln in lines:
        offsets.append(offsets[-1] + len(ln) + 1)
    bodies: list[Body] = []
    for number, raw in enumerate(lines, 1):
        if not raw.startswith(rule):
            continue
        stripped = raw.split("#", 1)[0].rstrip() if '"' not in raw and "`" not in raw else raw.rstrip()
        m = head.match(stripped)
        if m is None:
            if re.match(rf"^{re.escape(rule)}\b", raw) and not re.match(rf"^{re.escape(rule)}\w", raw):
                return None  # another form of the rule (a value, else, a function): not explained
            continue
        if m.group("inline") is not None:
            bodies.append(Body(file, number, (Expression(m.group("inline").strip(), number, number),)))
            continue
        start = offsets[number - 1] + m.end("brace")
        exprs, end, closed = _split(text, start, number)
        if not closed or not exprs:
            return None
        rest = text[end:].split("\n", 1)[0].strip()
        if rest.startswith("else") or (rest and not rest.startswith("#")):
            return None
        bodies.append(Body(file, number, tuple(exprs)))
    return bodies


def _module(package: str, imports: list[str], prefixes: list[tuple[str, Body, int]]) -> str:
    lines = [f"package {package}", "import rego.v1", *imports]
    for name, body, k in prefixes:
        lines.append(f"default {name} := false")
        lines.append(f"{name} if {{")
        lines.extend(e.text for e in body.expressions[:k])
        lines.append("}")
    return "\n".join(lines) + "\n"


def _imports(text: str) -> list[str]:
    """The module's imports other than the keyword ones (``import rego.v1`` is in every prefix module)."""
    out = []
    for ln in text.split("\n"):
        s = ln.strip()
        if s.startswith("import ") and not re.match(r"import\s+(rego\.v1|future\.keywords)\b", s):
            out.append(s)
    return out


def _query(interp: Any, query: str | None, bundle: Any = None) -> Any:
    """The binding ``x`` of ``query`` (or of the prebuilt ``bundle``), or None when it failed or is
    undefined (native output captured)."""
    from deployforge.policy.engine import captured_fd1

    try:
        with captured_fd1():
            out = interp.query_bundle(bundle) if bundle is not None else interp.query(query)
            text = str(out)
            ok = out.ok()
    except Exception:
        return None
    if not ok or text.strip() == "undefined":
        return None
    try:
        first = json.loads(text)
        first = first[0] if isinstance(first, list) and first else first
        return first.get("bindings", {}).get("x") if isinstance(first, dict) else None
    except ValueError:
        return None


class Explainer:
    """The prefixes of one rule's bodies, compiled once; ``explain(document)`` names what failed."""

    def __init__(self, engine: Any, package: str, rule: str):
        self.package, self.rule = package, rule
        self.bodies: list[Body] = []
        self.kept: list[tuple[str, Body, int]] = []  # (rule name, body, prefix length) that compile
        self.sources: dict[str, list[str]] = {}  # file -> the author's lines
        self.used = 0
        self.interp: Any = None
        self.bundle: Any = None
        files = [pf for pf in engine.packages().get(package, [])]
        imports: list[str] = []
        for pf in files:
            text = engine._texts.get(pf.path, pf.text)
            found = rule_bodies(pf.path, text, rule)
            if found is None:
                return  # a form not explained here: every body or none
            if found:
                self.bodies.extend(found)
                self.sources[pf.path] = pf.text.split("\n")
                imports.extend(i for i in _imports(text) if i not in imports)
        if not self.bodies:
            return
        candidates = [
            (f"{_PREFIX}_{b}_{k}", body, k)
            for b, body in enumerate(self.bodies)
            for k in range(1, len(body.expressions) + 1)
        ]
        ref = "data." + package
        every = _fresh(engine, _module(package, imports, candidates))
        if every is not None and _query(every, f"x := [{', '.join(f'{ref}.{n}' for n, _b, _k in candidates)}]"):
            self.kept, self.interp = candidates, every
        else:
            for candidate in candidates:  # one at a time: leave out the prefixes that do not compile alone
                alone = _fresh(engine, _module(package, imports, [candidate]))
                if alone is not None and _query(alone, f"x := {ref}.{candidate[0]}") is not None:
                    self.kept.append(candidate)
            if self.kept:
                self.interp = _fresh(engine, _module(package, imports, self.kept))
        if self.interp is not None:  # built once: a query per document then costs ~1 ms, not ~10
            from deployforge.policy.engine import captured_fd1

            try:
                with captured_fd1():
                    self.bundle = self.interp.build(f"x := [{', '.join(f'{ref}.{n}' for n, _b, _k in self.kept)}]", [])
            except Exception:
                self.interp = None

    def explain(self, document: Any) -> str | None:
        if self.interp is None or self.used >= MAX_EXPLAINED:
            return None
        self.used += 1
        try:
            from deployforge.policy.engine import set_input

            set_input(self.interp, document)
        except Exception:
            return None
        values = _query(self.interp, None, self.bundle)
        if not isinstance(values, list) or len(values) != len(self.kept):
            return None
        failed: list[tuple[Body, tuple[Expression, ...]]] = []
        for body in self.bodies:
            # the longest prefix that holds, then the shortest longer one that does not (a prefix that
            # is not self-contained, using a variable bound later, may fail before one that holds)
            mine = [(k, v) for (_n, b, k), v in zip(self.kept, values, strict=True) if b is body]
            held = max((k for k, v in mine if v is True), default=0)
            first = next((k for k, v in mine if k > held and v is not True), None)
            if first is None:
                return None  # this body holds: the rule is false for another reason (not explained)
            # the culprit is between the two (one expression, unless a prefix could not compile alone)
            failed.append((body, body.expressions[held:first]))
        parts = [self._part(body, exprs) for body, exprs in failed]
        if len(parts) == 1:
            return parts[0]
        return f"none of its {len(parts)} definitions holds: " + "; ".join(parts)

    def _part(self, body: Body, exprs: tuple[Expression, ...]) -> str:
        first, last = exprs[0].line, exprs[-1].end_line
        lines = f"{first}" if len(exprs) == 1 else f"{first}-{last}"
        what = "the condition" if len(exprs) == 1 else "the conditions"
        verb = "does" if len(exprs) == 1 else "do"
        shown = "; ".join(dict.fromkeys(self._shown(body, e) for e in exprs))
        return f"{what} at {_display(body.file)}:{lines} {verb} not hold: {shown}"

    def _shown(self, body: Body, e: Expression) -> str:
        from deployforge.ci.workflow_commands import one_line
        from deployforge.text import clip

        source = self.sources.get(body.file, [])
        written = " ".join(ln.strip() for ln in source[e.line - 1 : e.end_line]) if source else e.text
        if e.line == body.line:  # on the rule's head line: the expression alone
            m = _head(self.rule).match(written)
            written = m.group("inline") if m is not None and m.group("inline") else e.text
        written = _uncommented(written).strip() or e.text
        return one_line(clip(written, _SHOWN))


def _display(path: str) -> str:
    """``path`` as the user gave it, relative to the working folder when it is inside it."""
    import os

    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if os.path.isabs(path) and not rel.startswith("..") else path


def _uncommented(text: str) -> str:
    """``text`` without its ``#`` comments (a ``#`` inside a string stays)."""
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            out.append(text[pos:])
            break
        if m.lastgroup != "comment":
            out.append(m.group(0))
        pos = m.end()
    return "".join(out)


def _fresh(engine: Any, module: str) -> Any:
    """An interpreter with the engine's data and modules plus ``module``; None when it is refused."""
    from deployforge.policy.engine import captured_fd1

    try:
        interp = engine._fresh_interpreter()
        with captured_fd1():
            interp.add_module(f"{_PREFIX}__.rego", module)
    except Exception:
        return None
    return interp


_cache: dict[tuple[str, str], Explainer] = {}
_cache_engine: list[Any] = [None]


def why_false(engine: Any, package: str, rule: str, document: Any) -> str | None:
    """Which condition of ``package.rule`` does not hold for ``document`` (one line, for a finding's
    message), or None when that cannot be told. Never raises."""
    try:
        if _cache_engine[0] is not engine:
            _cache.clear()
            _cache_engine[0] = engine
        explainer = _cache.get((package, rule))
        if explainer is None:
            explainer = _cache[(package, rule)] = Explainer(engine, package, rule)
        return explainer.explain(document)
    except Exception:  # an explanation must never cost the finding itself
        return None
