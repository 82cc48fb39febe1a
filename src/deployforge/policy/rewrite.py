"""Rewrite Rego source before regopy (rego-cpp) sees it, so that it means what OPA means.

Pure text-to-text: no regopy here. Each construct rego-cpp 1.5.2 mis-evaluates is either rewritten
into an equivalent form it evaluates correctly, or refused with a located ``Refusal`` naming the
construct and the form to write instead (docs/policies.md#engine-differences lists them):

- **string escapes** (``"a\\"b"``, ``"\\\\"``, ``"\\n"``, ``"\\u00e9"``, and a ``"`` or ``\\`` inside a raw
  string): rego-cpp keeps the escape, so ``count("a\\"b")`` is 4 (OPA: 3). The literal is decoded the
  way OPA's parser does (JSON escapes) and replaced by ``base64.decode("...")`` of its value, which
  rego-cpp stores decoded. An escape OPA rejects (``"\\d"``) is refused, as OPA refuses it.
- **a ref with a variable index inside a call argument** (``endswith(input.s[name].image, ":x")``,
  ``contains(r.cidr[_], "/0")``, ``upper(b[j])``): rego-cpp returns nothing when the variable is bound
  only there, and refuses ``_`` ("Invalid bracket argument"). The ref is hoisted into an assignment
  in front of the statement (``__df0 := input.s[name].image; endswith(__df0, ":x")``), which OPA
  evaluates identically. Under ``not`` hoisting would change the meaning: refused with the form to
  write. ``a[p].f == b[_]`` (refs with variables on both sides) is hoisted the same way.
- **Rego v0 partial sets** (``deny[msg] { ... }``, ``exception[rules] { ... }``): rego-cpp reads them
  as objects ``{msg: true}``. With ``rego_version="v0"`` (conftest's ``--rego-version v0``) they are
  rewritten to ``deny contains msg if { ... }``; in v1 (the default, as OPA 1.x and conftest) they are
  a located error, as OPA reports them.

Line numbers never move (every rewrite stays on its line); ``RewriteResult.column`` maps a column of
the rewritten text back to the source so rego-cpp's ``file:line:col`` point at what the author wrote.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

_TOKEN_RE = re.compile(
    r"""
    (?P<nl>\n)
  | (?P<ws>[ \t\r\f]+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<badstring>"[^\n]*)
  | (?P<raw>`[^`]*`)
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>:=|==|!=|<=|>=|[-+*/%&|<>=!.,;:()\[\]{}])
  | (?P<other>.)
    """,
    re.X,
)

KEYWORDS = {
    "package",
    "import",
    "default",
    "if",
    "else",
    "not",
    "some",
    "every",
    "in",
    "contains",
    "with",
    "as",
    "true",
    "false",
    "null",
}
_COMPARE = {"==", "!=", "<", ">", "<=", ">="}
_VALID_ESCAPE = re.compile(r'\\(?:["\\/bfnrt]|u[0-9A-Fa-f]{4})')


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    start: int
    line: int
    col: int


@dataclass(frozen=True)
class Refusal:
    line: int
    col: int
    message: str
    hint: str


@dataclass
class RewriteResult:
    text: str
    refusals: list[Refusal] = field(default_factory=list)
    rewrites: list[str] = field(default_factory=list)  # what was rewritten (for --explain / tests)
    # builtins rego-cpp lacks that this text now supplies as Rego functions (``net.cidr_is_valid``):
    # the engine's static check must not refuse their calls
    supplied: set[str] = field(default_factory=set)
    # per line: (column in the rewritten text where an edit starts, characters it added)
    _shifts: dict[int, list[tuple[int, int]]] = field(default_factory=dict)

    # the pass that ran first (comparisons), whose text this one rewrote: columns go through both
    _earlier: RewriteResult | None = None

    def column(self, line: int, col: int) -> int:
        """A 1-based column of the rewritten text, as a column of the source."""
        out = col
        for at, delta in self._shifts.get(line, []):
            if col > at:
                out -= delta
        out = max(1, out)
        return self._earlier.column(line, out) if self._earlier is not None else out


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    line = 1
    line_start = 0
    for m in _TOKEN_RE.finditer(text):
        kind = m.lastgroup or "other"
        value = m.group(0)
        if kind not in ("ws",):
            tokens.append(Token(kind, value, m.start(), line, m.start() - line_start + 1))
        if kind == "nl":
            line += 1
            line_start = m.end()
        elif kind == "raw" and "\n" in value:
            line += value.count("\n")
            line_start = m.start() + value.rfind("\n") + 1
    return tokens


def decode_string(literal: str) -> str:
    """A double-quoted Rego string literal decoded as OPA's parser does (JSON string rules)."""
    return str(json.loads(literal))


def _b64_call(value: str) -> str:
    """``value`` as a Rego expression: ``base64.decode("...")``. rego-cpp's base64.decode (like
    several of its string builtins) drops a pair of quotes around a result that starts and ends with
    ``"`` (``"\\"private\\""`` would be read as ``private``), so such a value is built as the quote,
    the rest and the quote, joined by concat (which keeps them)."""
    if len(value) > 1 and value[0] == '"' and value[-1] == '"':
        quote = _b64_call('"')
        return f'concat("", [{quote}, {_b64_call(value[1:-1])}, {quote}])'
    return 'base64.decode("' + base64.b64encode(value.encode("utf-8")).decode("ascii") + '")'


@dataclass
class _Frame:
    kind: str  # body | ifexpr | paren | bracket | brace | comp
    open_index: int
    callee: bool = False
    stmt_start: int = -1  # token index where the current statement starts (bodies)


def rewrite(text: str, rego_version: str = "v1", defined: AbstractSet[str] = frozenset()) -> RewriteResult:
    """The source rewritten for rego-cpp, with the refusals (empty when all is well).

    Ordering comparisons are rewritten first (``_rewrite_comparisons``): they become calls, whose
    arguments the other passes then treat as any call's (refs with a variable index hoisted).
    ``defined``: names the other modules loaded with this one define (a function of the package
    named ``lt`` or ``max`` is theirs, not the builtin)."""
    tokens = tokenize(text)
    if _too_deep(tokens) is not None:
        return _rewrite(text, rego_version, set())
    earlier = _rewrite_comparisons(text, tokens, defined)
    if earlier is None:
        return _rewrite(text, rego_version, set())
    result = _rewrite(earlier.text, rego_version, {"compare"})
    result._earlier = earlier
    result.rewrites[:0] = earlier.rewrites
    result.refusals = earlier.refusals + [
        Refusal(r.line, earlier.column(r.line, r.col), r.message, r.hint) for r in result.refusals
    ]
    return result


def _rewrite(text: str, rego_version: str, helpers_needed: set[str]) -> RewriteResult:
    tokens = tokenize(text)
    result = RewriteResult(text)
    deep = _too_deep(tokens)
    if deep is not None:
        result.refusals.append(
            Refusal(
                deep.line,
                deep.col,
                f"brackets nest deeper than {MAX_DEPTH} levels here: rego-cpp crashes on such literals",
                "build deep values from data (--data) or flatten them",
            )
        )
        return result
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement) in source offsets
    v1 = rego_version != "v0" or _imports_v1(tokens)

    _rewrite_strings(tokens, edits, result)
    _rewrite_concat(tokens, edits, result)
    _rewrite_partial_sets(tokens, edits, result, v1)
    _hoist_refs(tokens, edits, result)
    _bind_parameters(tokens, edits, result)
    _refuse_not_in_every(tokens, result)
    helpers = (
        _rewrite_sprintf(tokens, edits, result)
        | _supply_builtins(tokens, edits, result)
        | _rewrite_ordering(tokens, edits, result)
        | _rewrite_unquoting(tokens, edits, result)
        | helpers_needed
    )

    if not edits and not helpers:
        return result
    body, shifts = _apply(text, edits)
    out = [body]
    if helpers:
        # after the last line: no line of the source moves
        out.append("\n" if not text.endswith("\n") else "")
        out.append(helper_functions(helpers))
    result.text = "".join(out)
    result._shifts = shifts
    return result


def _apply(text: str, edits: list[tuple[int, int, str]]) -> tuple[str, dict[int, list[tuple[int, int]]]]:
    """``text`` with the edits (start, end, replacement) made, and per line where each edit starts in
    the new text and how many characters it added (``RewriteResult.column``). Lines never move.
    Overlapping edits: the first wins (a string inside a hoisted ref)."""
    out: list[str] = []
    pos = 0
    line, counted = 1, 0  # the line at offset ``counted``: lines are counted once, in order
    shifts: dict[int, list[tuple[int, int]]] = {}
    new_col_base: dict[int, int] = {}
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1])):
        if start < pos:
            continue
        out.append(text[pos:start])
        line += text.count("\n", counted, start)
        counted = start
        line_begin = text.rfind("\n", 0, start) + 1
        added = len(replacement) - (end - start)
        shifts.setdefault(line, []).append((start - line_begin + 1 + new_col_base.get(line, 0), added))
        new_col_base[line] = new_col_base.get(line, 0) + added
        out.append(replacement)
        pos = end
    out.append(text[pos:])
    return "".join(out), shifts


MAX_DEPTH = 256  # OPA takes deeper literals; rego-cpp segfaults on a 20,000-deep one


def _too_deep(tokens: list[Token]) -> Token | None:
    depth = 0
    for t in tokens:
        if t.text in ("[", "{", "("):
            depth += 1
            if depth > MAX_DEPTH:
                return t
        elif t.text in ("]", "}", ")"):
            depth -= 1
    return None


def _imports_v1(tokens: list[Token]) -> bool:
    for i, t in enumerate(tokens[:-2]):
        if t.text == "import" and tokens[i + 1].text == "rego" and tokens[i + 2].text == ".":
            return i + 3 < len(tokens) and tokens[i + 3].text == "v1"
    return False


def _rewrite_strings(tokens: list[Token], edits: list[tuple[int, int, str]], result: RewriteResult) -> None:
    for i, t in enumerate(tokens):
        if t.kind == "badstring":
            result.refusals.append(
                Refusal(t.line, t.col, "unterminated string", 'close the string with " on the same line')
            )
            continue
        if t.kind == "string" and "\\" in t.text:
            body = t.text[1:-1]
            bad = re.sub(_VALID_ESCAPE, "", body)
            if "\\" in bad:
                esc = bad[bad.index("\\") : bad.index("\\") + 2]
                result.refusals.append(
                    Refusal(
                        t.line,
                        t.col,
                        f"invalid escape '{esc}' in the string {t.text} (OPA refuses it too)",
                        'Rego strings take JSON escapes only (\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX); for a regex '
                        "write the backslash doubled ('\\\\d') or use a raw string (`\\d`)",
                    )
                )
                continue
            value = decode_string(t.text)
        elif t.kind == "raw" and ('"' in t.text or "\\" in t.text):
            value = t.text[1:-1]
        else:
            continue
        if _regex_pattern_argument(tokens, i):
            # rego-cpp reads a regex pattern from its escaped form: the literal as written is right there
            # (a decoded value holding a backslash is "Invalid escape sequence" to its regex builtins)
            continue
        if _in_default(tokens, i):
            result.refusals.append(
                Refusal(
                    t.line,
                    t.col,
                    f"a string with escapes ({t.text}) in a default value: the embedded engine (rego-cpp) keeps "
                    "its escapes, and a default value cannot be rewritten into a call",
                    "give the default a helper rule: 'quote := \"...\"' and 'default x := \"\"' "
                    "plus 'x := quote if ...'",
                )
            )
            continue
        replacement = _b64_call(value)
        if t.kind == "raw" and "\n" in t.text:
            # the call stays on the first line; the line breaks it spanned follow it (lines never move)
            edits.append((t.start, t.start + len(t.text), replacement + "\n" * t.text.count("\n")))
        else:
            edits.append((t.start, t.start + len(t.text), replacement))
        result.rewrites.append(f"{t.line}:{t.col} string {t.text} -> {replacement}")


# (builtin, index of a pattern argument)
_REGEX_PATTERNS = {
    ("regex.match", 0), ("regex.is_valid", 0), ("regex.split", 0), ("regex.find_n", 0),
    ("regex.find_all_string_submatch_n", 0), ("regex.replace", 1), ("regex.template_match", 0),
    ("regex.globs_match", 0), ("regex.globs_match", 1),
}  # fmt: skip


def _regex_pattern_argument(tokens: list[Token], i: int) -> bool:
    """Whether tokens[i] is, alone, the pattern argument of a regex builtin's call."""
    nxt = tokens[i + 1].text if i + 1 < len(tokens) else ""
    if nxt not in (",", ")"):
        return False
    depth = 0
    index = 0
    j = i - 1
    while j >= 0:
        t = tokens[j]
        if t.text in (")", "]", "}"):
            depth += 1
        elif t.text in ("(", "[", "{"):
            if depth == 0:
                break
            depth -= 1
        elif t.text == "," and depth == 0:
            index += 1
        j -= 1
    if j < 3 or tokens[j].text != "(" or tokens[j - 2].text != ".":
        return False
    name = f"{tokens[j - 3].text}.{tokens[j - 1].text}"
    if j >= 4 and tokens[j - 4].text == ".":
        return False
    if tokens[i - 1].text not in ("(", ","):
        return False
    return (name, index) in _REGEX_PATTERNS


SORTED_CONCAT = "data.deployforge_enc__.sorted_concat"


def _rewrite_concat(tokens: list[Token], edits: list[tuple[int, int, str]], result: RewriteResult) -> None:
    """``concat(sep, a_set)``: rego-cpp joins a set in insertion order (OPA: sorted order)."""
    heads = _heads(tokens)
    for i, t in enumerate(tokens[:-1]):
        if t.kind != "ident" or t.text != "concat" or tokens[i + 1].text != "(":
            continue
        if (i > 0 and tokens[i - 1].text == ".") or heads[i]:
            continue  # array.concat, or a rule head
        edits.append((t.start, t.start + len(t.text), SORTED_CONCAT))
        result.rewrites.append(f"{t.line}:{t.col} concat -> {SORTED_CONCAT}")


def _in_default(tokens: list[Token], i: int) -> bool:
    j = i - 1
    while j >= 0 and tokens[j].kind != "nl":
        j -= 1
    first = tokens[j + 1] if j + 1 < len(tokens) else None
    return first is not None and first.text == "default" and first.col == 1


_HEAD_SET_RE = re.compile(r"^([A-Za-z_]\w*)\s*\[\s*([^\[\]=]+?)\s*\]\s*(\{|if\b)")


def _rewrite_partial_sets(
    tokens: list[Token], edits: list[tuple[int, int, str]], result: RewriteResult, v1: bool
) -> None:
    """``name[x] { ... }`` (Rego v0 partial set) at the start of a line."""
    for i, t in enumerate(tokens):
        if t.kind != "ident" or t.col != 1 or t.text in KEYWORDS:
            continue
        if i + 1 >= len(tokens) or tokens[i + 1].text != "[":
            continue
        # find the closing ] and what follows it
        depth = 0
        j = i + 1
        while j < len(tokens):
            if tokens[j].text in "[({":
                depth += 1
            elif tokens[j].text in "])}":
                depth -= 1
                if depth == 0:
                    break
            elif tokens[j].kind == "nl" and depth == 0:
                break
            j += 1
        if j >= len(tokens) - 1 or tokens[j].text != "]":
            continue
        nxt = tokens[j + 1]
        if nxt.text not in ("{", "if"):
            continue  # p[k] = v { } / p[k] := v are partial objects: read correctly
        key = "".join(tk.text if tk.kind != "ws" else " " for tk in tokens[i + 2 : j])
        name = t.text
        if v1:
            result.refusals.append(
                Refusal(
                    t.line,
                    t.col,
                    f"rule '{name}[{key}] {{ ... }}' is Rego v0 partial-set syntax: OPA 1.x refuses it, "
                    "and the embedded "
                    f"engine would read it as an object {{{key}: true}}, losing every {name}",
                    f"write '{name} contains {key} if {{ ... }}' (Rego v1), or pass --rego-version v0 for v0 policies",
                )
            )
            continue
        # v0: rewrite to v1 form on the same line
        tail = " if {" if nxt.text == "{" else " if"
        edits.append((t.start, nxt.start + len(nxt.text), f"{name} contains {key}{tail}"))
        result.rewrites.append(f"{t.line}:{t.col} {name}[{key}] -> {name} contains {key} if")


def _hoist_refs(tokens: list[Token], edits: list[tuple[int, int, str]], result: RewriteResult) -> None:
    """Hoist refs with a variable index out of call arguments (and out of ref == ref comparisons)."""
    frames: list[_Frame] = []
    stmts: dict[int, list[int]] = {}  # id(frame) -> the current statement's token indexes
    counter = [0]
    every_header: dict[int, bool] = {}

    def ctx() -> _Frame | None:
        for f in reversed(frames):
            if f.kind in ("body", "comp", "ifexpr"):
                return f
        return None

    def add(i: int) -> None:
        c = ctx()
        if c is not None:
            stmts.setdefault(id(c), []).append(i)

    def flush(frame: _Frame) -> None:
        idx = stmts.pop(id(frame), [])
        if idx:
            _process_statement(tokens, idx, frame, edits, result, counter)

    n = len(tokens)
    i = 0
    while i < n:
        t = tokens[i]
        top = frames[-1] if frames else None
        if t.kind == "comment":
            i += 1
            continue
        if (
            top is not None
            and top.kind in ("body", "comp", "ifexpr")
            and (t.kind == "nl" or (t.text == ";" and top.kind != "ifexpr"))
        ):
            flush(top)
            every_header.pop(id(top), None)
            if top.kind == "ifexpr" and t.kind == "nl":
                frames.pop()
            i += 1
            continue
        if t.kind == "nl":
            i += 1
            continue
        prev = tokens[i - 1] if i > 0 else None
        if t.text == "if" and not frames:
            nxt = tokens[i + 1] if i + 1 < n else None
            if nxt is not None and nxt.text != "{" and nxt.kind != "nl":
                frames.append(_Frame("ifexpr", i))
            i += 1
            continue
        if t.text in ("{", "[", "("):
            if t.text == "{":
                if not frames:
                    is_body = prev is not None and (
                        prev.text in ("if", "else", ")", "]", "}")
                        or (prev.kind in ("ident", "string", "number", "raw") and prev.text not in ("contains", "in"))
                    )
                elif top is not None and top.kind in ("body", "comp") and every_header.get(id(top)):
                    is_body = True
                    every_header[id(top)] = False
                else:
                    is_body = prev is not None and prev.text in ("if", "else")
                add(i)
                frames.append(_Frame("body" if is_body else "brace", i))
            elif t.text == "[":
                add(i)
                frames.append(_Frame("bracket", i))
            else:
                add(i)
                callee = (
                    prev is not None and prev.kind == "ident" and (prev.text not in KEYWORDS or prev.text == "contains")
                )
                frames.append(_Frame("paren", i, callee=callee))
            i += 1
            continue
        if t.text in ("}", "]", ")"):
            if top is not None and top.kind in ("body", "comp"):
                flush(top)
            if frames:
                frames.pop()
            add(i)
            i += 1
            continue
        if t.text == "|" and top is not None and top.kind in ("bracket", "brace"):
            # a comprehension: its term belongs to it, not to the enclosing statement
            outer = ctx()
            if outer is not None and id(outer) in stmts:
                stmts[id(outer)] = [k for k in stmts[id(outer)] if k <= top.open_index]
            top.kind = "comp"
            i += 1
            continue
        c = ctx()
        if c is not None and t.text == "every" and top is c and not stmts.get(id(c)):
            every_header[id(c)] = True
        add(i)
        i += 1
    for f in reversed(frames):
        if f.kind in ("body", "comp", "ifexpr"):
            flush(f)


def _ref_end(tokens: list[Token], i: int, limit: int) -> tuple[int, bool]:
    """From an identifier at i: (index after the ref, whether a bracket holds a lone variable)."""
    j = i + 1
    var_index = False
    while j < limit:
        t = tokens[j]
        if t.text == "." and j + 1 < limit and tokens[j + 1].kind == "ident":
            j += 2
            continue
        if t.text == "[":
            depth = 1
            k = j + 1
            while k < limit and depth:
                if tokens[k].text in "[({":
                    depth += 1
                elif tokens[k].text in "])}":
                    depth -= 1
                k += 1
            inner = tokens[j + 1 : k - 1]
            if len(inner) == 1 and inner[0].kind == "ident" and inner[0].text not in KEYWORDS:
                var_index = True
            j = k
            continue
        break
    return j, var_index


def _process_statement(
    tokens: list[Token],
    idx: list[int],
    frame: _Frame,
    edits: list[tuple[int, int, str]],
    result: RewriteResult,
    counter: list[int],
) -> None:
    if not idx:
        return
    first = tokens[idx[0]]
    if first.text in ("some", "every", "default", "import", "package"):
        return
    if any(tokens[k].text == "with" for k in idx):
        return
    # walk the statement's tokens keeping a paren stack to know whether a ref sits in a call argument
    lo, hi = idx[0], idx[-1] + 1
    members = set(idx)
    stack: list[bool] = []  # True for a call's parens
    candidates: list[tuple[int, int]] = []  # (start token, end token) of refs to hoist
    compare_refs: list[tuple[int, int, int]] = []  # var-index refs at statement depth
    compare_at: int | None = None
    pos = 0
    while pos < len(idx):
        k = idx[pos]
        t = tokens[k]
        pos += 1
        if t.text in ("(", "[", "{"):
            if t.text == "(":
                p = tokens[k - 1] if k > 0 else None
                stack.append(p is not None and p.kind == "ident" and (p.text not in KEYWORDS or p.text == "contains"))
            else:
                stack.append(False)
            continue
        if t.text in (")", "]", "}"):
            if stack:
                stack.pop()
            continue
        if t.kind == "op" and t.text in _COMPARE and not stack:
            compare_at = k
        if t.kind == "ident" and t.text not in KEYWORDS and not (k > lo and tokens[k - 1].text == "."):
            end, var_index = _ref_end(tokens, k, hi)
            if any(j not in members for j in range(k, end)):
                continue
            is_call = end < hi and tokens[end].text == "("
            if var_index and not is_call and end > k + 1:
                if any(stack):
                    candidates.append((k, end))
                elif not stack:
                    compare_refs.append((k, end, 0))
            while pos < len(idx) and idx[pos] < end:
                pos += 1
            continue
    if compare_at is not None and len(compare_refs) >= 2:
        left = [r for r in compare_refs if r[0] < compare_at]
        right = [r for r in compare_refs if r[0] > compare_at]
        if left and right:
            candidates.extend((s, e) for s, e, _d in left + right)
    if not candidates:
        return
    if first.text == "not":
        c = tokens[candidates[0][0]]
        ref = _text(tokens, *candidates[0])
        result.refusals.append(
            Refusal(
                c.line,
                c.col,
                f"'not' over a call whose argument is a ref with a variable index ({ref}): the embedded engine "
                "(rego-cpp) cannot evaluate it, and hoisting it out of 'not' would change its meaning",
                f"negate a helper rule instead: 'bad if {{ x := {ref}; ... }}' then 'not bad', or "
                f"count([1 | x := {ref}; ...]) == 0",
            )
        )
        return
    assigns = []
    for s, e in candidates:
        name = f"__df{counter[0]}"
        counter[0] += 1
        ref_text = _text(tokens, s, e)
        assigns.append(f"{name} := {ref_text}; ")
        edits.append((tokens[s].start, tokens[e - 1].start + len(tokens[e - 1].text), name))
        result.rewrites.append(f"{tokens[s].line}:{tokens[s].col} hoisted {ref_text} -> {name}")
    prefix = "".join(assigns)
    start = tokens[lo].start
    if frame.kind == "ifexpr":
        last = tokens[hi - 1]
        edits.append((start, start, "{ " + prefix))
        edits.append((last.start + len(last.text), last.start + len(last.text), " }"))
    else:
        edits.append((start, start, prefix))


def _text(tokens: list[Token], s: int, e: int) -> str:
    out = []
    for t in tokens[s:e]:
        out.append(t.text)
    return "".join(out)


_PLAIN_WORDS = {"some", "in", "not", "true", "false", "null", "count", "every", "if"}


def _binds(tokens: list[Token], st: list[int]) -> set[str]:
    """The variables a test statement binds: ``some x``, ``some x, y in``, ``x :=``."""
    out: set[str] = set()
    texts = [tokens[i] for i in st]
    for k, t in enumerate(texts):
        if t.kind != "ident":
            continue
        before = texts[k - 1].text if k else ""
        after = texts[k + 1].text if k + 1 < len(texts) else ""
        if (before in ("some", ",") and (k < 2 or texts[k - 2].text != ".")) or (after == ":=" and k == 0):
            out.add(t.text)
    return out


def _reads_only(tokens: list[Token], st: list[int], bound: set[str]) -> bool:
    """Whether a test statement reads nothing but variables bound before it (their fields, literals
    and ``count``): then neither the input nor a rule (which may read it) can change its answer."""
    texts = [tokens[i] for i in st]
    for k, t in enumerate(texts):
        if t.kind != "ident" or t.text in _PLAIN_WORDS:
            continue
        if k and texts[k - 1].text == ".":
            continue  # a field of a bound variable
        if t.text not in bound:
            return False
    return True


def lift_test_input(text: str, rule: str) -> tuple[str, list[tuple[str, str]]] | None:
    """For ``policy test``: the source with the ``with`` clauses of test ``rule`` removed, and one helper
    rule per target (``input``, ``data.a.b``) giving the value the test gives it; None when the test
    cannot be evaluated that way.

    rego-cpp crashes on some ``with`` expressions; the test is then evaluated again with each value
    set as the input (or the data) of the whole test (docs/policies.md#policy-tests). A value may use
    variables bound in the test's earlier statements (``d := {...}`` then ``... with input as d``):
    the helper rule repeats those statements, which must not read ``input`` themselves. Every clause
    of one target must give it the same value (as written), and every statement from the first
    ``with`` on must carry the same targets' clauses.
    """
    tokens = tokenize(text)
    start = next((i for i, t in enumerate(tokens) if t.kind == "ident" and t.text == rule and t.col == 1), None)
    if start is None:
        return None
    end = next(
        (i for i in range(start + 1, len(tokens)) if tokens[i].col == 1 and tokens[i].kind in ("ident",)),
        len(tokens),
    )
    # the body: after the first "{" of the head, or the expression after "if"
    k = start + 1
    while k < end and tokens[k].text not in ("{", "if"):
        k += 1
    if k >= end:
        return None
    if tokens[k].text == "if" and k + 1 < end and tokens[k + 1].text == "{":
        k += 1
    body_start = k + 1
    # statements at depth 0 of the body
    statements: list[list[int]] = [[]]
    depth = 0
    for i in range(body_start, end):
        t = tokens[i]
        if t.kind == "comment":
            continue
        if t.text in ("(", "[", "{"):
            depth += 1
        elif t.text in (")", "]", "}"):
            if depth == 0:
                break  # the body's closing brace
            depth -= 1
        elif depth == 0 and (t.kind == "nl" or t.text == ";"):
            statements.append([])
            continue
        statements[-1].append(i)
    statements = [st for st in statements if st]
    values: dict[str, str] = {}
    cuts: list[tuple[int, int]] = []
    first_with: int | None = None
    targets_of: dict[int, set[str]] = {}  # statement -> the targets its with clauses replace
    for n, st in enumerate(statements):
        j = 0
        while j < len(st):
            t = tokens[st[j]]
            if t.text != "with":
                j += 1
                continue
            first_with = n if first_with is None else first_with
            # with TARGET as VALUE: TARGET is input or data.a.b; VALUE runs to the next "with"
            m = j + 1
            target_parts = []
            while m < len(st) and tokens[st[m]].text != "as":
                target_parts.append(tokens[st[m]].text)
                m += 1
            target = "".join(target_parts)
            if m >= len(st) or not re.fullmatch(r"input|data(\.[A-Za-z_]\w*)+", target):
                return None
            v_start = m + 1
            v_end = v_start
            d = 0
            while v_end < len(st):
                tt = tokens[st[v_end]]
                if tt.text in ("(", "[", "{"):
                    d += 1
                elif tt.text in (")", "]", "}"):
                    d -= 1
                elif d == 0 and tt.text == "with":
                    break
                v_end += 1
            if v_end == v_start:
                return None
            first, last = tokens[st[v_start]], tokens[st[v_end - 1]]
            value = text[first.start : last.start + len(last.text)]
            if values.setdefault(target, value) != value:
                return None
            targets_of.setdefault(n, set()).add(target)
            cuts.append((t.start, last.start + len(last.text)))
            j = v_end
    if not values or first_with is None:
        return None
    # lifted, a value is the input (or data) of every statement after it: only when each of them
    # carries the same with clauses is that what OPA evaluates (a statement without them would be
    # judged against the lifted value, where OPA judges it against the real input: a pass OPA fails)
    bound: set[str] = set()
    for n, st in enumerate(statements):
        if n >= first_with and targets_of.get(n) != set(values) and not _reads_only(tokens, st, bound):
            return None
        bound |= _binds(tokens, st)
    before = statements[:first_with]
    if any(tokens[i].kind == "ident" and tokens[i].text == "input" for st in before for i in st):
        return None
    pre = "; ".join(text[tokens[st[0]].start : tokens[st[-1]].start + len(tokens[st[-1]].text)] for st in before)
    out = []
    pos = 0
    for a, b in cuts:
        out.append(text[pos:a])
        out.append("\n" * text.count("\n", a, b))
        pos = b
    out.append(text[pos:])
    helpers: list[tuple[str, str]] = []
    extra = []
    for n, (target, value) in enumerate(sorted(values.items())):
        name = f"__df_test_with{n}"
        helpers.append((target, name))
        extra.append(f"{name} := __df_v if {{ {pre + '; ' if pre else ''}__df_v := {value} }}")
    return "".join(out) + "\n" + "\n".join(extra) + "\n", helpers


# -- sprintf, formatted as OPA formats it ----------------------------------------------------------
#
# rego-cpp 1.5.2's sprintf differs from OPA's (Go's fmt over OPA's values) in ways that change what a
# message says: strings inside a composite %v keep their JSON escapes ([\"a\"]), a string made by a
# builtin or bound in a body keeps its JSON quotes under %s when the format has other text, a string
# holding a quote loses them, %s of a composite or of null is empty, %q is not formatted, and %d of a
# float is an error. A call whose format is a literal is rewritten into ``__df_sprintf(PIECES, FMT,
# ARGS)``: the format is split here (Go's verb syntax), and each argument is formatted by Rego
# functions appended to the module, building the text with concat as OPA's builtin does (strings as
# they are, composites as OPA's term text, bool and null by name, Go's %!v(T=...) for a verb of the
# wrong type). Numbers under a numeric verb are still formatted by rego-cpp's sprintf (one number,
# one verb: it gives Go's answer for integers and floats). A format this does not cover (flags,
# width or precision on %s/%v/%q, explicit argument indexes, %t, a count of arguments that does
# not match) keeps rego-cpp's sprintf: the finding is the same, only its text may differ.

_VERB_RE = re.compile(r"%([-+# 0]*)(\d*)(?:\.(\d*))?([A-Za-z%])")
_NUMERIC_VERBS = set("dxXobeEfFgG")
MAX_TEXT_DEPTH = 6  # composites nested deeper are formatted by rego-cpp (a cosmetic difference)


def parse_format(fmt: str) -> list[tuple[str, str | int]] | None:
    """Go's format string as pieces: ("", literal) and (spec, argument index); None when not covered."""
    pieces: list[tuple[str, str | int]] = []
    literal: list[str] = []
    pos = 0
    index = 0
    while pos < len(fmt):
        at = fmt.find("%", pos)
        if at < 0:
            literal.append(fmt[pos:])
            break
        literal.append(fmt[pos:at])
        m = _VERB_RE.match(fmt, at)
        if m is None:
            return None  # a trailing %, %[1]s, %*d
        flags, width, prec, verb = m.groups()
        if verb == "%" and not (flags or width or prec is not None):
            literal.append("%")
            pos = m.end()
            continue
        plain = not (flags or width or prec is not None)
        if verb in "svq" and plain:
            spec = verb
        elif verb in _NUMERIC_VERBS:
            spec = m.group(0)[1:]
        else:
            return None
        if literal:
            pieces.append(("", "".join(literal)))
            literal = []
        pieces.append((spec, index))
        index += 1
        pos = m.end()
    if any(literal):
        pieces.append(("", "".join(literal)))
    return pieces


def _rego_string(value: str) -> str:
    if '"' in value or "\\" in value or not value.isprintable():
        return _b64_call(value)
    return '"' + value + '"'


def _pieces_term(pieces: list[tuple[str, str | int]]) -> str:
    items = []
    for spec, what in pieces:
        if spec == "":
            items.append(f'["", {_rego_string(str(what))}]')
        else:
            items.append(f'["{spec}", {what}]')
    return "[" + ", ".join(items) + "]"


def _literal_array_len(tokens: list[Token], i: int) -> int | None:
    """The number of elements of an array literal starting at tokens[i] ("["), if it ends the call."""
    depth = 0
    count = 0
    seen = False
    for j in range(i, len(tokens)):
        t = tokens[j]
        if t.text in ("[", "(", "{"):
            depth += 1
            if depth == 1:
                continue
        elif t.text in ("]", ")", "}"):
            depth -= 1
            if depth == 0:
                if j + 1 < len(tokens) and tokens[j + 1].text == ")":
                    return count + (1 if seen else 0)
                return None
        elif t.kind == "nl" or t.kind == "comment":
            continue
        if depth == 1 and t.text == ",":
            count += 1
            seen = False
        elif depth >= 1:
            seen = True
    return None


def _array_commas(tokens: list[Token], k: int) -> tuple[int, list[int]] | None:
    """For an array literal at tokens[k] that is the call's last argument: (index of its "]", indexes
    of its top-level commas); None when it is not one (a comprehension, or more follows)."""
    depth = 0
    commas: list[int] = []
    for j in range(k, len(tokens)):
        t = tokens[j]
        if t.text in ("[", "(", "{"):
            depth += 1
        elif t.text in ("]", ")", "}"):
            depth -= 1
            if depth == 0:
                after = j + 1
                while after < len(tokens) and tokens[after].kind in ("nl", "comment"):
                    after += 1
                if after < len(tokens) and tokens[after].text == ")":
                    return j, commas
                return None
        elif depth == 1 and t.text == ",":
            commas.append(j)
        elif depth == 1 and t.text == "|":
            return None
    return None


def _input_refs_only(
    tokens: list[Token], open_: int, close: int, commas: list[int], pieces: list[tuple[str, str | int]]
) -> bool:
    """Whether every verb is a plain %s or %v and every argument a reference into the input
    (``input.metadata.name``, ``input.spec.containers[i].image``): the common message, which
    rego-cpp's own sprintf formats as OPA does for strings and numbers. The inlined formatting costs
    a Rego function call per argument (measured: +30% of the evaluation's CPU for 25 rules over
    5,000 documents), so these calls are left alone. What rego-cpp still formats otherwise there is
    an input value that is a composite, null or a string wrapped in quotes (docs/policies.md): the
    message's text only, never whether the rule holds."""
    if any(spec not in ("", "s", "v") for spec, _what in pieces):
        return False
    bounds = [open_, *commas, close]
    for a, b in itertools.pairwise(bounds):
        element = [t for t in tokens[a + 1 : b] if t.kind not in ("nl", "comment")]
        if len(element) < 3 or element[0].text != "input" or element[0].kind != "ident":
            return False
        j = 1
        while j < len(element):
            if element[j].text == "." and j + 1 < len(element) and element[j + 1].kind == "ident":
                j += 2
            elif (
                element[j].text == "["
                and j + 2 < len(element)
                and element[j + 1].kind in ("ident", "string", "number")
                and element[j + 2].text == "]"
            ):
                j += 3
            else:
                return False
    return True


def _has_element(tokens: list[Token], open_: int, close: int) -> bool:
    return any(t.kind not in ("nl", "comment") for t in tokens[open_ + 1 : close])


_FMT_FUNCTIONS = {
    "s": "__df_fmt_s",
    "v": "__df_fmt_v",
    "d": "__df_fmt_d",
    "q": "__df_fmt_q",
    "x": "__df_fmt_x",
    "X": "__df_fmt_X",
    "o": "__df_fmt_o",
}


def _inline_sprintf(
    tokens: list[Token],
    i: int,
    k: int,
    close: int,
    commas: list[int],
    pieces: list[tuple[str, str | int]],
    edits: list[tuple[int, int, str]],
) -> None:
    """``sprintf("a %s b %v", [E0, E1])`` -> ``concat("", ["a ", __df_fmt_s(E0), " b ", __df_fmt_v(E1)])``:
    only the call's frame and the separators are replaced, so edits inside the elements (hoisted refs,
    strings) still apply; lines never move."""
    verbs = [(n, spec) for n, (spec, _what) in enumerate(pieces) if spec]

    def literal_before(v: int) -> str:
        start = verbs[v - 1][0] + 1 if v > 0 else 0
        lits = [_rego_string(str(pieces[p][1])) for p in range(start, verbs[v][0])]
        return "".join(x + ", " for x in lits)

    def opener(spec: str) -> str:
        name = _FMT_FUNCTIONS.get(spec)
        return f"{name}(" if name else f'sprintf("%{spec}", ['

    def closer(spec: str) -> str:
        return ")" if spec in _FMT_FUNCTIONS else "])"

    tail_lits = [_rego_string(str(pieces[p][1])) for p in range(verbs[-1][0] + 1 if verbs else 0, len(pieces))]
    first = tokens[i]
    bracket = tokens[k]
    newlines = "\n" * sum(1 for t in tokens[i:k] if t.kind == "nl")
    if not verbs:
        edits.append((first.start, bracket.start + 1, 'concat("", [' + ", ".join(tail_lits) + newlines))
        last = tokens[close]
        paren = close + 1
        while tokens[paren].text != ")":
            paren += 1
        edits.append((last.start, tokens[paren].start + 1, "])"))
        return
    edits.append((first.start, bracket.start + 1, 'concat("", [' + literal_before(0) + opener(verbs[0][1]) + newlines))
    for v, comma in enumerate(commas):
        spec_before, spec_after = verbs[v][1], verbs[v + 1][1]
        c = tokens[comma]
        edits.append((c.start, c.start + 1, closer(spec_before) + ", " + literal_before(v + 1) + opener(spec_after)))
    paren = close + 1
    while tokens[paren].text != ")":
        paren += 1
    tail = "".join(", " + x for x in tail_lits)
    nl = "\n" * sum(1 for t in tokens[close:paren] if t.kind == "nl")
    edits.append((tokens[close].start, tokens[paren].start + 1, closer(verbs[-1][1]) + tail + "])" + nl))


def _rewrite_sprintf(tokens: list[Token], edits: list[tuple[int, int, str]], result: RewriteResult) -> set[str]:
    used: set[str] = set()
    if "sprintf" in _defined_here(tokens):
        return used
    heads = _heads(tokens)
    for i, t in enumerate(tokens[:-3]):
        if t.kind != "ident" or t.text != "sprintf" or tokens[i + 1].text != "(" or heads[i]:
            continue
        if i > 0 and tokens[i - 1].text == ".":
            continue
        fmt_tok, comma = tokens[i + 2], tokens[i + 3]
        if fmt_tok.kind not in ("string", "raw") or comma.text != ",":
            continue
        if fmt_tok.kind == "string":
            try:
                fmt = decode_string(fmt_tok.text)
            except ValueError:
                continue  # an invalid escape: refused by _rewrite_strings
        else:
            fmt = fmt_tok.text[1:-1]
        pieces = parse_format(fmt)
        if pieces is None:
            continue
        verbs = sum(1 for spec, _ in pieces if spec)
        k = i + 4
        while k < len(tokens) and tokens[k].kind in ("nl", "comment"):
            k += 1
        if k < len(tokens) and tokens[k].text == "[":
            commas = _array_commas(tokens, k)
            if commas is not None:
                close, separators = commas
                if len(separators) + (1 if close > k + 1 and _has_element(tokens, k, close) else 0) != verbs:
                    continue  # Go writes %!(EXTRA ...) / %!s(MISSING): rego-cpp's sprintf is kept
                if _input_refs_only(tokens, k, close, separators, pieces):
                    continue  # rego-cpp formats these as OPA does (strings and numbers): kept, at no cost
                _inline_sprintf(tokens, i, k, close, separators, pieces, edits)
                result.rewrites.append(f"{t.line}:{t.col} sprintf formatted as OPA does")
                used.add("sprintf")
                continue
        paren = tokens[i + 1]
        edits.append((t.start, t.start + len(t.text), "__df_sprintf"))
        edits.append((paren.start + 1, paren.start + 1, _pieces_term(pieces) + ", "))
        result.rewrites.append(f"{t.line}:{t.col} sprintf formatted as OPA does")
        used.add("sprintf")
    return used


# -- builtins rego-cpp lacks, supplied as Rego ---------------------------------------------------


def _cidr_regex() -> str:
    """Go's net.ParseCIDR (OPA's net.cidr_is_valid) as one RE2 expression, without a backslash.

    Go (1.22+, net/netip): the address and the prefix are cut at the first "/"; an IPv4 address is
    four decimal octets of 0-255 without leading zeros; an IPv6 address is at most eight groups of
    1-4 hex digits, "::" at most once and standing for at least one group, optionally ending in an
    IPv4 address in place of the last two groups, and no zone (ParseCIDR refuses "%eth0"); the
    prefix is one or more ASCII digits (leading zeros allowed) at most 32 for IPv4 and 128 for IPv6
    (IPv4-mapped IPv6 addresses are IPv6: up to 128).
    """
    octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
    v4 = f"{octet}(?:[.]{octet}){{3}}"
    h = "[0-9A-Fa-f]{1,4}"

    def groups(n: int) -> str:
        return "" if n == 0 else (h if n == 1 else f"{h}(?::{h}){{{n - 1}}}")

    forms = [f"{groups(8)}", f"{groups(6)}:{v4}"]
    for left in range(8):
        for right in range(8 - left):
            if left + right <= 7:
                forms.append(f"{groups(left)}::{groups(right)}")
            if left + right <= 5:
                forms.append(f"{groups(left)}::{groups(right)}{':' if right else ''}{v4}")
    v6 = "(?:" + "|".join(forms) + ")"
    p4 = "0*(?:3[0-2]|[12][0-9]|[0-9])"
    p6 = "0*(?:12[0-8]|1[01][0-9]|[1-9][0-9]|[0-9])"
    return f"^(?:{v4}/{p4}|{v6}/{p6})$"


_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_V4 = f"{_OCTET}(?:[.]{_OCTET}){{3}}"

# net.cidr_contains for IPv4 (regopy has none): a network (a.b.c.d/p) contains an address or a network
# (q >= p) when their first p bits agree. IPv6 arguments, or anything that is not IPv4, stop the rule
# with an error (as a missing builtin would), never an answer.
_CIDR_CONTAINS = f"""\
__df_net_cidr_contains(net, x) := r if {{
	regex.match("^{_V4}/0*(?:3[0-2]|[12][0-9]|[0-9])$", net)
	a := __df_v4_net(net)
	b := __df_v4_any(x)
	r := __df_v4_in(a, b)
}}
__df_net_cidr_contains(net, x) := to_number("net.cidr_contains: IPv4 only here") if not __df_v4_pair(net, x)
__df_v4_pair(net, x) if {{
	regex.match("^{_V4}/0*(?:3[0-2]|[12][0-9]|[0-9])$", net)
	__df_v4_any(x)
}}
__df_v4_num(s) := ((to_number(p[0]) * 256 + to_number(p[1])) * 256 + to_number(p[2])) * 256 + to_number(p[3]) if {{
	p := split(s, ".")
}}
__df_v4_net(s) := [__df_v4_num(split(s, "/")[0]), to_number(split(s, "/")[1])]
__df_v4_any(s) := __df_v4_net(s) if regex.match("^{_V4}/0*(?:3[0-2]|[12][0-9]|[0-9])$", s)
__df_v4_any(s) := [__df_v4_num(s), 32] if regex.match("^{_V4}$", s)
__df_v4_in(a, b) := true if __df_v4_within(a, b)
__df_v4_in(a, b) := false if not __df_v4_within(a, b)
__df_v4_within(a, b) if {{ a[1] <= b[1]; bits.rsh(a[0], 32 - a[1]) == bits.rsh(b[0], 32 - a[1]) }}
"""

SUPPLIED_BUILTINS = {
    "net.cidr_is_valid": "__df_net_cidr_is_valid",
    "net.cidr_contains": "__df_net_cidr_contains",
    "json.marshal": "__df_json_marshal",
    "semver.compare": "__df_semver_compare",
    "time.format": "__df_time_format",
    "time.parse_rfc3339_ns": "__df_parse_rfc3339_ns",
}

# time.format(ns) in rego-cpp 1.5.2 always writes nine fraction digits (OPA, Go's RFC3339Nano, drops the
# trailing zeros and an empty fraction); time.parse_rfc3339_ns refuses a "Z" offset (it takes +00:00);
# format_int gets base 2 and negative numbers wrong (format_int(10, 2) is "10", format_int(-7, 16)
# "fffffffffffffff9"; OPA: "1010", "-7").
_TIME_FUNCTIONS = """\
__df_time_format(x) := regex.replace(regex.replace(time.format(x), "0+Z$", "Z"), "[.]Z$", "Z") if is_number(x)
__df_time_format(x) := time.format(x) if not is_number(x)
__df_parse_rfc3339_ns(s) := time.parse_rfc3339_ns(concat("", [trim_suffix(s, "Z"), "+00:00"])) if {
	is_string(s)
	endswith(s, "Z")
}
__df_parse_rfc3339_ns(s) := time.parse_rfc3339_ns(s) if not __df_zulu(s)
__df_zulu(s) if { is_string(s); endswith(s, "Z") }
"""

_FORMAT_INT_FUNCTIONS = """\
__df_format_int(n, b) := format_int(n, b) if not __df_base_ok(n, b)
__df_format_int(n, b) := concat("", [__df_minus(n), __df_digits(floor(abs(n)), b)]) if __df_base_ok(n, b)
__df_base_ok(n, b) if { is_number(n); b in {2, 8, 10, 16} }
__df_minus(n) := "-" if n <= -1
__df_minus(n) := "" if n > -1
__df_digits(t, 10) := sprintf("%v", [t])
__df_digits(t, 16) := format_int(t, 16)
__df_digits(t, 8) := format_int(t, 8)
__df_digits(t, 2) := __df_nonempty(trim_left(concat("", [__df_bits(0)[c] | some c in __df_hex(t)]), "0"))
__df_hex(t) := split(format_int(t, 16), "")
__df_nonempty(s) := s if s != ""
__df_nonempty(s) := "0" if s == ""
__df_bits(_) := {"0": "0000", "1": "0001", "2": "0010", "3": "0011", "4": "0100", "5": "0101", "6": "0110", "7": "0111",
	"8": "1000", "9": "1001", "a": "1010", "b": "1011", "c": "1100", "d": "1101", "e": "1110", "f": "1111"}
"""

# semver.compare in rego-cpp 1.5.2 compares the numbers as text: semver.compare("1.10.0", "1.9.0") is -1
# (OPA: 1), so `semver.compare(v, "1.10.0") < 0` fails to hold for 1.8.0 (a silent pass). SemVer 2.0's
# order: major, minor, patch as numbers; a version with a pre-release is lower than without; pre-release
# identifiers compared one by one (numbers as numbers, below text; text as text; more is higher);
# build metadata ignored. Versions rego-cpp's semver.is_valid refuses go to the builtin (its error).
_SEMVER_FUNCTIONS = """\
__df_semver_compare(a, b) := semver.compare(a, b) if not __df_semver_ok(a, b)
__df_semver_compare(a, b) := r if {
	__df_semver_ok(a, b)
	x := __df_semver_parts(a)
	y := __df_semver_parts(b)
	core := [c | some i in numbers.range(0, 2); c := __df_cmp(x[0][i], y[0][i]); c != 0]
	r := array.concat(core, [__df_pre_cmp(x[1], y[1])])[0]
}
__df_semver_ok(a, b) if { semver.is_valid(a); semver.is_valid(b) }
__df_semver_parts(v) := [[to_number(n) | some n in split(core, ".")], pre] if {
	main := split(v, "+")[0]
	i := indexof(main, "-")
	core := __df_before_dash(main, i)
	pre := __df_after_dash(main, i)
}
__df_before_dash(m, i) := m if i < 0
__df_before_dash(m, i) := substring(m, 0, i) if i >= 0
__df_after_dash(m, i) := "" if i < 0
__df_after_dash(m, i) := substring(m, i + 1, -1) if i >= 0
__df_cmp(p, q) := -1 if p < q
__df_cmp(p, q) := 1 if p > q
__df_cmp(p, q) := 0 if p == q
__df_pre_cmp(p, q) := 0 if { p == ""; q == "" }
__df_pre_cmp(p, q) := 1 if { p == ""; q != "" }
__df_pre_cmp(p, q) := -1 if { p != ""; q == "" }
__df_pre_cmp(p, q) := r if {
	p != ""
	q != ""
	xs := split(p, ".")
	ys := split(q, ".")
	n := __df_smaller(count(xs), count(ys))
	ids := [c | some i in numbers.range(0, n - 1); c := __df_id_cmp(xs[i], ys[i]); c != 0]
	r := array.concat(ids, [__df_cmp(count(xs), count(ys))])[0]
}
__df_smaller(a, b) := a if a <= b
__df_smaller(a, b) := b if a > b
__df_numeric(x) if regex.match("^[0-9]+$", x)
__df_id_cmp(x, y) := __df_cmp(to_number(x), to_number(y)) if { __df_numeric(x); __df_numeric(y) }
__df_id_cmp(x, y) := -1 if { __df_numeric(x); not __df_numeric(y) }
__df_id_cmp(x, y) := 1 if { not __df_numeric(x); __df_numeric(y) }
__df_id_cmp(x, y) := __df_cmp(x, y) if { not __df_numeric(x); not __df_numeric(y) }
"""


def _imported_names(tokens: list[Token]) -> set[str]:
    """Names an import binds (``import data.net`` binds net, ``import data.x as y`` binds y)."""
    names: set[str] = set()
    for i, t in enumerate(tokens):
        if t.text != "import" or t.col != 1:
            continue
        last = None
        j = i + 1
        while j < len(tokens) and tokens[j].kind != "nl":
            if tokens[j].kind == "ident":
                last = tokens[j].text
            j += 1
        if last is not None:
            names.add(last)
    return names


def _supply_builtins(tokens: list[Token], edits: list[tuple[int, int, str]], result: RewriteResult) -> set[str]:
    used: set[str] = set()
    imported = _imported_names(tokens)
    for i, t in enumerate(tokens[:-2]):
        # `set()` is Rego's empty set, not a call: rego-cpp reads it, but the engine's check of
        # builtin names would refuse it as a builtin regopy lacks
        after_dot = i > 0 and tokens[i - 1].text == "."
        if t.text == "set" and tokens[i + 1].text == "(" and tokens[i + 2].text == ")" and not after_dot:
            result.supplied.add("set")
    for i, t in enumerate(tokens[:-3]):
        if t.kind != "ident" or (i > 0 and tokens[i - 1].text == ".") or t.text in imported:
            continue
        if tokens[i + 1].text != "." or tokens[i + 2].kind != "ident" or tokens[i + 3].text != "(":
            continue
        name = f"{t.text}.{tokens[i + 2].text}"
        if name not in SUPPLIED_BUILTINS:
            continue
        end = tokens[i + 2]
        edits.append((t.start, end.start + len(end.text), SUPPLIED_BUILTINS[name]))
        result.rewrites.append(f"{t.line}:{t.col} {name} supplied as Rego ({SUPPLIED_BUILTINS[name]})")
        if name in ("net.cidr_is_valid", "net.cidr_contains"):
            result.supplied.add(name)  # the others are builtins regopy has (with a wrong answer)
        used.add(name)
    return used


def _escape_pairs() -> str:
    """Go's strconv.Quote escapes, as a Rego object (NUL left out: rego-cpp cuts strings at a NUL)."""
    named = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
             "\t": "\\t", "\v": "\\v"}  # fmt: skip
    pairs = []
    for code in [*range(1, 32), 127, ord('"'), ord("\\"), 0x2028, 0x2029]:
        c = chr(code)
        esc = named.get(c, f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}")
        pairs.append(f"[{_b64_call(c)}, {_rego_string(esc)}]")
    return "{p[0]: p[1] | some p in [" + ", ".join(pairs) + "]}"


def _text_functions() -> str:
    lines = [
        "__df_comp(x) if is_array(x)",
        "__df_comp(x) if is_object(x)",
        "__df_comp(x) if is_set(x)",
        f"__df_escapes(_) := {_escape_pairs()}",
        # a string needing no escape (the usual case) is quoted without looking at each character
        f"__df_plain(s) if {{ not contains(s, {_b64_call(chr(34))}); not contains(s, {_b64_call(chr(92))}); "
        'not regex.match("[\\u0001-\\u001f\\u007f\\u2028\\u2029]", s) }',
        f'__df_quote(s) := concat("", [{_b64_call(chr(34))}, s, {_b64_call(chr(34))}]) if __df_plain(s)',
        f'__df_quote(s) := concat("", [{_b64_call(chr(34))}, concat("", [object.get(__df_escapes(0), c, c) '
        f'| some c in split(s, "")]), {_b64_call(chr(34))}]) if not __df_plain(s)',
        "__df_t0(x) := __df_quote(x) if is_string(x)",
        '__df_t0(x) := sprintf("%v", [x]) if is_number(x)',
        '__df_t0(x) := "null" if is_null(x)',
        '__df_t0(x) := "true" if x == true',
        '__df_t0(x) := "false" if x == false',
        '__df_t0(x) := sprintf("%v", [x]) if __df_comp(x)',
    ]
    for d in range(1, MAX_TEXT_DEPTH + 1):
        p = f"__df_t{d - 1}"
        c = f"__df_c{d}"
        # two bodies where the value is a string (the usual element): rego-cpp evaluates every body
        lines += [
            f"__df_t{d}(x) := __df_quote(x) if is_string(x)",
            f"__df_t{d}(x) := {c}(x) if not is_string(x)",
            f"{c}(x) := __df_t0(x) if {{ not is_array(x); not is_object(x); not is_set(x) }}",
            f'{c}(x) := concat("", ["[", concat(", ", [{p}(e) | some e in x]), "]"]) if is_array(x)',
            f'{c}(x) := "set()" if {{ is_set(x); count(x) == 0 }}',
            f'{c}(x) := concat("", ["{{", concat(", ", [{p}(e) | some e in __df_sorted(x)]), "}}"]) '
            "if { is_set(x); count(x) > 0 }",
            f'{c}(x) := concat("", ["{{", concat(", ", [concat(": ", [{p}(k), {p}(x[k])]) '
            f'| some k in __df_sorted(object.keys(x))]), "}}"]) if is_object(x)',
        ]
    lines.append(f"__df_text(x) := __df_t{MAX_TEXT_DEPTH}(x)")
    return "\n".join(lines)


MAX_JSON_DEPTH = 16


def _json_escape_pairs() -> str:
    """Go's encoding/json string escapes (OPA's json.marshal), HTML-safe, as a Rego object."""
    named = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    pairs = []
    for code in [*range(1, 32), ord('"'), ord("\\"), ord("<"), ord(">"), ord("&"), 0x2028, 0x2029]:
        c = chr(code)
        esc = named.get(c, f"\\u{code:04x}")
        pairs.append(f"[{_b64_call(c)}, {_rego_string(esc)}]")
    return "{p[0]: p[1] | some p in [" + ", ".join(pairs) + "]}"


def _json_functions() -> str:
    """json.marshal as OPA gives it (rego-cpp 1.5.2 keeps its strings' escapes: json.marshal("x") is
    the 5 characters \\"x\\", so contains(json.marshal(doc), "\\"Action\\"") never holds)."""
    q = _b64_call(chr(34))
    lines = [
        "__df_comp(x) if is_array(x)",
        "__df_comp(x) if is_object(x)",
        "__df_comp(x) if is_set(x)",
        f"__df_jescapes(_) := {_json_escape_pairs()}",
        "__df_jescape(c) := object.get(__df_jescapes(0), c, c)",
        f'__df_jquote(s) := concat("", [{q}, concat("", [__df_jescape(c) | some c in split(s, "")]), {q}])',
        "__df_j0(x) := __df_jquote(x) if is_string(x)",
        '__df_j0(x) := sprintf("%v", [x]) if is_number(x)',
        '__df_j0(x) := "null" if is_null(x)',
        '__df_j0(x) := "true" if x == true',
        '__df_j0(x) := "false" if x == false',
        # deeper than MAX_JSON_DEPTH: an error (rego-cpp's own json.marshal would say something else)
        f'__df_j0(x) := to_number("json.marshal: a value nested deeper than {MAX_JSON_DEPTH} levels") if __df_comp(x)',
    ]
    for d in range(1, MAX_JSON_DEPTH + 1):
        p = f"__df_j{d - 1}"
        lines += [
            f"__df_j{d}(x) := __df_j0(x) if not __df_comp(x)",
            f'__df_j{d}(x) := concat("", ["[", concat(",", [{p}(e) | some e in x]), "]"]) if is_array(x)',
            f'__df_j{d}(x) := concat("", ["[", concat(",", [{p}(e) | some e in __df_sorted(x)]), "]"]) if is_set(x)',
            f'__df_j{d}(x) := concat("", ["{{", concat(",", [concat(":", [__df_jquote(k), {p}(x[k])]) '
            f'| some k in sort(object.keys(x))]), "}}"]) if is_object(x)',
        ]
    lines.append(f"__df_json_marshal(x) := __df_j{MAX_JSON_DEPTH}(x)")
    return "\n".join(lines)


# ``sort`` in rego-cpp 1.5.2 orders numbers as text ([10, 9]); OPA orders by type (null, booleans,
# numbers, strings, arrays, objects, sets), then value. Numbers are sorted by a text key built from
# their digits (one rego-cpp ``sort``, each key ending in its element's index so no object is built:
# rego-cpp builds an object comprehension in quadratic time); the result is then checked with
# rego-cpp's numeric ``<``, which is exact. Numbers the key misorders (less than a millionth apart,
# 16+ digits beside a float, exponents) are sorted again by rank, in quadratic time, up to
# SORT_RANK_LIMIT of them; more is an error of the rule, never a misordered list.
SORT_RANK_LIMIT = 500
_SORTED = """\
__df_int(x) if { is_number(x); x == round(x); x < 9223372036854775808; x >= -9223372036854775808 }
__df_pad(d) := concat("", [substring("00000000000000000000", 0, 20 - count(d)), d])
__df_key(n, sc) := __df_pad(sprintf("%v", [abs(n)])) if sc == 1
__df_key(n, sc) := concat("|", [__df_pad(sprintf("%v", [round(abs(n) * sc)])), sprintf("%v", [n])]) if sc != 1
__df_scale(xs) := 1 if count([1 | some e in xs; not __df_int(e)]) == 0
__df_scale(xs) := 1000000 if count([1 | some e in xs; not __df_int(e)]) > 0
__df_pad10(i) := concat("", [substring("0000000000", 0, 10 - count(d)), d]) if d := sprintf("%v", [i])
__df_at(k) := to_number(concat("", ["1", substring(k, count(k) - 10, 10)])) - 10000000000
__df_ikey(key, i) := concat(" ", [key, __df_pad10(i)])
__df_byindex(xs, keys) := [x | some k in sort(keys); n := __df_at(k); x := xs[n]]
__df_bykey(xs, sc) := __df_byindex(xs, [__df_ikey(__df_key(e, s), i) | some i; e := xs[i]; is_number(e); s := sc])
__df_keysort(ns) := array.concat(array.reverse(__df_bykey(neg, sc)), __df_bykey(pos, sc)) if {
	sc := __df_scale(ns)
	neg := [e | some e in ns; e < 0]
	pos := [e | some e in ns; e >= 0]
}
__df_numsort(ns) := __df_checked(__df_keysort(ns), ns)
__df_descent(s) if { some i; s[i] < s[i - 1] }
__df_checked(s, ns) := s if not __df_descent(s)
__df_checked(s, ns) := __df_ranksort(ns) if { __df_descent(s); count(ns) <= %(cap)d }
__df_checked(s, ns) := to_number("sort: more than %(cap)d numbers their digits do not order") if {
	__df_descent(s)
	count(ns) > %(cap)d
}
__df_rank(ns, x, i) := count([1 | some y in ns; y < x]) + count([1 | some j; ns[j] == x; j < i])
__df_ranksort(ns) := __df_byindex(ns, [__df_ikey(__df_pad10(__df_rank(ns, e, i)), i) | some i; e := ns[i]])
__df_numbers(x) if count([1 | some e in x; not is_number(e)]) == 0
__df_nmax(ns) := m if { some m in ns; not __df_above(ns, m) }
__df_above(ns, m) if { some x in ns; x > m }
__df_nmin(ns) := m if { some m in ns; not __df_below(ns, m) }
__df_below(ns, m) if { some x in ns; x < m }
__df_jsort(xs) := __df_byindex(xs, [__df_ikey(json.marshal(e), i) | some i; e := xs[i]; e != null])
__df_sorted(x) := array.concat(array.concat(scalars, strings), composites) if {
	nulls := [e | some e in x; is_null(e)]
	bools := array.concat([e | some e in x; e == false], [e | some e in x; e == true])
	scalars := array.concat(array.concat(nulls, bools), __df_numsort([e | some e in x; is_number(e)]))
	strings := sort([e | some e in x; is_string(e)])
	arrays := __df_jsort([e | some e in x; is_array(e)])
	objects := __df_jsort([e | some e in x; is_object(e)])
	composites := array.concat(array.concat(arrays, objects), __df_jsort([e | some e in x; is_set(e)]))
}
""".replace("%(cap)d", str(SORT_RANK_LIMIT))


def _sprintf_functions() -> str:
    return """\
__df_fmt_v(x) := x if is_string(x)
__df_fmt_v(x) := __df_other_v(x) if not is_string(x)
__df_other_v(x) := sprintf("%v", [x]) if { not is_array(x); not is_object(x); not is_set(x) }
__df_other_v(x) := __df_text(x) if is_array(x)
__df_other_v(x) := __df_text(x) if is_object(x)
__df_other_v(x) := __df_text(x) if is_set(x)
__df_fmt_s(x) := x if is_string(x)
__df_fmt_s(x) := __df_other_s(x) if not is_string(x)
__df_other_s(x) := __df_bad("s", x) if is_number(x)
__df_other_s(x) := __df_other_v(x) if not is_number(x)
__df_fmt_d(x) := sprintf("%v", [x]) if __df_int(x)
__df_fmt_d(x) := __df_bad("d", x) if not __df_int(x)
__df_fmt_q(x) := __df_arg("q", x)
__df_fmt_x(x) := __df_arg("x", x)
__df_fmt_X(x) := __df_arg("X", x)
__df_fmt_o(x) := __df_arg("o", x)
__df_verbs(pieces) := count([1 | some p in pieces; p[0] != ""])
__df_fits(pieces, args) if { is_array(args); count(args) == __df_verbs(pieces) }
__df_sprintf(pieces, f, args) := concat("", [__df_piece(p, a) | some p in pieces; a := args]) if __df_fits(pieces, args)
__df_sprintf(pieces, f, args) := sprintf(f, args) if not __df_fits(pieces, args)
__df_piece(p, args) := p[1] if p[0] == ""
__df_piece(p, args) := __df_arg(p[0], args[p[1]]) if p[0] != ""
__df_gotype(x) := "int64" if __df_int(x)
__df_gotype(x) := "float64" if { is_number(x); not __df_int(x) }
__df_bad(verb, x) := concat("", ["%!", verb, "(", __df_gotype(x), "=", sprintf("%v", [x]), ")"]) if is_number(x)
__df_bad(verb, x) := concat("", ["%!", verb, "(string=", x, ")"]) if is_string(x)
__df_bad(verb, x) := concat("", ["%!", verb, "(string=", __df_text(x), ")"]) if { not is_string(x); not is_number(x) }
__df_arg(spec, x) := x if { spec in {"s", "v"}; is_string(x) }
__df_arg(spec, x) := __df_text(x) if { spec in {"s", "v"}; not is_string(x); not is_number(x) }
__df_arg(spec, x) := sprintf("%v", [x]) if { spec == "v"; is_number(x) }
__df_arg(spec, x) := __df_bad("s", x) if { spec == "s"; is_number(x) }
__df_arg(spec, x) := __df_quote(x) if { spec == "q"; is_string(x) }
__df_arg(spec, x) := __df_quote(__df_text(x)) if { spec == "q"; not is_string(x); not is_number(x) }
__df_arg(spec, x) := sprintf("%q", [x]) if { spec == "q"; is_number(x) }
__df_arg(spec, x) := sprintf("%v", [x]) if { spec == "d"; __df_int(x) }
__df_arg(spec, x) := concat("", [__df_sign(x), format_int(abs(x), 16)]) if { spec == "x"; __df_int(x) }
__df_arg(spec, x) := concat("", [__df_sign(x), upper(format_int(abs(x), 16))]) if { spec == "X"; __df_int(x) }
__df_arg(spec, x) := concat("", [__df_sign(x), format_int(abs(x), 8)]) if { spec == "o"; __df_int(x) }
__df_sign(x) := "-" if x < 0
__df_sign(x) := "" if x >= 0
__df_arg(spec, x) := __df_bad("d", x) if { spec == "d"; not __df_int(x) }
__df_arg(spec, x) := sprintf(concat("", ["%", spec]), [x]) if {
	not __df_own(spec)
	is_number(x)
	not __df_base(spec, x)
}
__df_base(spec, x) if { spec in {"x", "X", "o"}; __df_int(x) }
__df_arg(spec, x) := __df_bad(substring(spec, count(spec) - 1, 1), x) if { not __df_own(spec); not is_number(x) }
__df_own(spec) if spec in {"s", "v", "q", "d"}
"""


# -- sort, max and min, ordered as OPA orders -----------------------------------------------------
#
# rego-cpp 1.5.2 orders numbers as text in sort, max and min: sort([10, 9, 100]) is [10, 100, 9],
# max([1, 2, 10]) is 2 (OPA: 10), so `max(ports) >= 1024` can fail to hold where OPA's holds (a
# silent pass). Mixed types are ordered by their JSON text too (OPA: null < booleans < numbers <
# strings < arrays < objects < sets). The calls are rewritten to functions that order with
# comparisons, which rego-cpp gets right; a collection of strings only keeps the builtin (its
# order is right for strings) and costs no more than before.

ORDERING = {"sort": "__df_sort", "max": "__df_max", "min": "__df_min", "format_int": "__df_format_int"}

_ORDERING_FUNCTIONS = """\
__df_strings(x) if count([1 | some e in x; not is_string(e)]) == 0
__df_sort(x) := sort(x) if __df_strings(x)
__df_sort(x) := __df_sorted(x) if { not __df_strings(x); __df_coll(x) }
__df_sort(x) := sort(x) if { not __df_strings(x); not __df_coll(x) }
__df_coll(x) if is_array(x)
__df_coll(x) if is_set(x)
__df_max(x) := max(x) if __df_strings(x)
__df_max(x) := __df_nmax(x) if { not __df_strings(x); __df_coll(x); __df_numbers(x) }
__df_max(x) := s[count(s) - 1] if {
	not __df_strings(x)
	__df_coll(x)
	not __df_numbers(x)
	s := __df_sorted(x)
	count(s) > 0
}
__df_max(x) := max(x) if { not __df_strings(x); not __df_coll(x) }
__df_min(x) := min(x) if __df_strings(x)
__df_min(x) := __df_nmin(x) if { not __df_strings(x); __df_coll(x); __df_numbers(x) }
__df_min(x) := s[0] if { not __df_strings(x); __df_coll(x); not __df_numbers(x); s := __df_sorted(x); count(s) > 0 }
__df_min(x) := min(x) if { not __df_strings(x); not __df_coll(x) }
"""


# Several rego-cpp 1.5.2 string builtins drop a pair of quotes around a result that starts and ends
# with `"`: trim_space("\\"private\\"") is "private" (OPA: "\\"private\\""), so a PR's value written
# with quotes around it passes `trim_space(input.acl) != "private"` where OPA fails (a silent pass).
# Their calls go through guards that stop the rule (an error, never a pass) when the string holds a
# quote; other strings are given to the builtin as before.
UNQUOTING = {
    "trim": "__df_trim",
    "trim_left": "__df_trim_left",
    "trim_right": "__df_trim_right",
    "trim_prefix": "__df_trim_prefix",
    "trim_suffix": "__df_trim_suffix",
    "trim_space": "__df_trim_space",
    "substring": "__df_substring",
    "strings.reverse": "__df_strings_reverse",
    "strings.replace_n": "__df_strings_replace_n",
    "base64.decode": "__df_base64_decode",
    "base64url.decode": "__df_base64url_decode",
    "hex.decode": "__df_hex_decode",
    "urlquery.decode": "__df_urlquery_decode",
    "urlquery.encode": "__df_urlquery_encode",
    "json.unmarshal": "__df_json_unmarshal",
}

_QUOTE = 'base64.decode("Ig==")'  # '"', without an escape in the appended text

_UNQUOTING_FUNCTIONS = f"""\
__df_q_ok(s) if {{ is_string(s); not contains(s, {_QUOTE}) }}
__df_q_all_ok(p) if {{ is_object(p); count([k | some k; v := p[k]; not __df_q_pair_ok(k, v)]) == 0 }}
__df_q_pair_ok(k, v) if {{ __df_q_ok(k); __df_q_ok(v) }}
__df_q_err(name) := to_number(concat("", ["rego-cpp's ", name, " drops the quotes around a result that starts \
and ends with a quote (OPA keeps them): DeployForge stops the rule on a string holding a quote here"]))
__df_trim(s, c) := trim(s, c) if __df_q_ok(s)
__df_trim(s, c) := __df_q_err("trim") if not __df_q_ok(s)
__df_trim_left(s, c) := trim_left(s, c) if __df_q_ok(s)
__df_trim_left(s, c) := __df_q_err("trim_left") if not __df_q_ok(s)
__df_trim_right(s, c) := trim_right(s, c) if __df_q_ok(s)
__df_trim_right(s, c) := __df_q_err("trim_right") if not __df_q_ok(s)
__df_trim_prefix(s, c) := trim_prefix(s, c) if __df_q_ok(s)
__df_trim_prefix(s, c) := __df_q_err("trim_prefix") if not __df_q_ok(s)
__df_trim_suffix(s, c) := trim_suffix(s, c) if __df_q_ok(s)
__df_trim_suffix(s, c) := __df_q_err("trim_suffix") if not __df_q_ok(s)
__df_trim_space(s) := trim_space(s) if __df_q_ok(s)
__df_trim_space(s) := __df_q_err("trim_space") if not __df_q_ok(s)
__df_substring(s, a, n) := substring(s, a, n) if __df_q_ok(s)
__df_substring(s, a, n) := __df_q_err("substring") if not __df_q_ok(s)
__df_strings_reverse(s) := strings.reverse(s) if __df_q_ok(s)
__df_strings_reverse(s) := __df_q_err("strings.reverse") if not __df_q_ok(s)
__df_strings_replace_n(p, s) := strings.replace_n(p, s) if {{ __df_q_ok(s); __df_q_all_ok(p) }}
__df_strings_replace_n(p, s) := __df_q_err("strings.replace_n") if not __df_q_ok(s)
__df_strings_replace_n(p, s) := __df_q_err("strings.replace_n") if {{ __df_q_ok(s); not __df_q_all_ok(p) }}
__df_base64_decode(x) := r if {{ r := base64.decode(x); base64.encode(r) == x }}
__df_base64_decode(x) := __df_q_err("base64.decode") if {{ r := base64.decode(x); base64.encode(r) != x }}
__df_base64url_decode(x) := r if {{ r := base64url.decode(x); __df_b64url_same(r, x) }}
__df_base64url_decode(x) := __df_q_err("base64url.decode") if {{ r := base64url.decode(x); not __df_b64url_same(r, x) }}
__df_b64url_same(r, x) if base64url.encode(r) == x
__df_b64url_same(r, x) if base64url.encode_no_pad(r) == x
__df_hex_decode(x) := r if {{ r := hex.decode(x); hex.encode(r) == lower(x) }}
__df_hex_decode(x) := __df_q_err("hex.decode") if {{ r := hex.decode(x); hex.encode(r) != lower(x) }}
__df_urlquery_decode(x) := urlquery.decode(x) if __df_url_ok(x)
__df_urlquery_decode(x) := __df_q_err("urlquery.decode") if not __df_url_ok(x)
__df_url_ok(x) if {{ __df_q_ok(x); not contains(lower(x), "%22") }}
__df_json_unmarshal(x) := json.unmarshal(x) if __df_json_ok(x)
__df_json_unmarshal(x) := __df_q_err("json.unmarshal") if not __df_json_ok(x)
__df_urlquery_encode(x) := urlquery.encode(x) if __df_q_ok(x)
__df_urlquery_encode(x) := __df_q_err("urlquery.encode") if not __df_q_ok(x)
__df_json_ok(x) if {{
	is_string(x)
	not contains(x, concat("", [base64.decode("XA=="), {_QUOTE}]))
	not contains(lower(x), "u0022")
}}
"""


def _rewrite_unquoting(tokens: list[Token], edits: list[tuple[int, int, str]], result: RewriteResult) -> set[str]:
    used: set[str] = set()
    own = _defined_here(tokens)
    imported = _imported_names(tokens)
    heads = _heads(tokens)
    for i, t in enumerate(tokens[:-3]):
        if t.kind != "ident" or heads[i] or (i > 0 and tokens[i - 1].text == "."):
            continue
        if tokens[i + 1].text == "(" and t.text in UNQUOTING and t.text not in own:
            name, end = t.text, t
        elif (
            t.text not in imported
            and tokens[i + 1].text == "."
            and tokens[i + 2].kind == "ident"
            and tokens[i + 3].text == "("
            and f"{t.text}.{tokens[i + 2].text}" in UNQUOTING
        ):
            name, end = f"{t.text}.{tokens[i + 2].text}", tokens[i + 2]
        else:
            continue
        edits.append((t.start, end.start + len(end.text), UNQUOTING[name]))
        result.rewrites.append(
            f"{t.line}:{t.col} {name} -> {UNQUOTING[name]} (a string holding a quote stops the rule)"
        )
        used.add("unquoting")
    return used


# -- ordering comparisons, ordered as OPA orders -------------------------------------------------
#
# rego-cpp 1.5.2's <, <=, > and >= are undefined between values of two types (OPA orders them by
# type: null < booleans < numbers < strings < arrays < objects < sets), so `input.size > 100`
# does not hold for size: "200" where OPA's holds (a silent pass), and they compare two arrays or
# objects by their text ([10, 0] >= [2, 0] does not hold). Each comparison whose operands are not
# both certainly numbers or both literals becomes a call of a function that compares values of
# one scalar type with rego-cpp's operator (right for them), values of two types by their type, and
# stops the rule (an error, never an answer) for two arrays, two objects or two sets. A literal is
# put on the right (`5 < x` is `__df_gt(x, 5)`), where rule indexing (batch.py) still reads it.

COMPARISONS = {"<": "__df_lt", "<=": "__df_le", ">": "__df_gt", ">=": "__df_ge"}
# against a number literal (the common case: `input.size > 100`): two bodies instead of three, as
# each body of a function costs rego-cpp about 3 microseconds per call
NUMBER_COMPARISONS = {"<": "__df_ltn", "<=": "__df_len", ">": "__df_gtn", ">=": "__df_gen"}
# a number literal on the left (`5 < x`): the same functions, the arguments read the other way
NUMBER_FIRST = {"<": "__df_nlt", "<=": "__df_nle", ">": "__df_ngt", ">=": "__df_nge"}
# OPA's builtin names for the operators: gt(a, b) is a > b
COMPARE_BUILTINS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
# where an operand ends: after these (at its own depth) another expression begins
_OPERAND_STOPS = {",", ";", ":=", "=", ":", "|"}
_OPERAND_WORDS = {"not", "if", "else", "some", "in", "every", "with", "as", "contains", "default", "package", "import"}
# an operator ending (or starting) a line: the expression goes on across it
_CONTINUES = {"==", "!=", "<", ">", "<=", ">=", "+", "-", "*", "/", "%", "&", "|", ":=", "="}
_NUMERIC_CALLS = {"count", "sum", "product", "abs", "round", "ceil", "floor", "to_number", "max", "min"}

_COMPARE_FUNCTIONS = """\
__df_trank(x) := 0 if is_null(x)
__df_trank(x) := 1 if is_boolean(x)
__df_trank(x) := 2 if is_number(x)
__df_trank(x) := 3 if is_string(x)
__df_trank(x) := 4 if is_array(x)
__df_trank(x) := 5 if is_object(x)
__df_trank(x) := 6 if is_set(x)
__df_scalars(a, b) if { is_number(a); is_number(b) }
__df_scalars(a, b) if { is_string(a); is_string(b) }
__df_scalars(a, b) if { is_boolean(a); is_boolean(b) }
__df_scalars(a, b) if { is_null(a); is_null(b) }
__df_kinds(a, b) := "scalars" if __df_scalars(a, b)
__df_kinds(a, b) := "types" if __df_trank(a) != __df_trank(b)
__df_kinds(a, b) := "composites" if { __df_trank(a) == __df_trank(b); __df_trank(a) > 3 }
__df_unordered(a, b) := to_number("comparing two arrays, objects or sets: not ordered as OPA orders them")
__df_any_lt(a, b) := __df_lt_k(__df_kinds(a, b), a, b)
__df_lt_k(k, a, b) := a < b if k == "scalars"
__df_lt_k(k, a, b) := __df_trank(a) < __df_trank(b) if k == "types"
__df_lt_k(k, a, b) := __df_unordered(a, b) if k == "composites"
__df_any_le(a, b) := __df_le_k(__df_kinds(a, b), a, b)
__df_le_k(k, a, b) := a <= b if k == "scalars"
__df_le_k(k, a, b) := __df_trank(a) < __df_trank(b) if k == "types"
__df_le_k(k, a, b) := __df_unordered(a, b) if k == "composites"
__df_lt(a, b) := a < b if { is_number(a); is_number(b) }
__df_lt(a, b) := __df_any_lt(a, b) if not is_number(a)
__df_lt(a, b) := __df_any_lt(a, b) if not is_number(b)
__df_le(a, b) := a <= b if { is_number(a); is_number(b) }
__df_le(a, b) := __df_any_le(a, b) if not is_number(a)
__df_le(a, b) := __df_any_le(a, b) if not is_number(b)
__df_gt(a, b) := a > b if { is_number(a); is_number(b) }
__df_gt(a, b) := __df_any_lt(b, a) if not is_number(a)
__df_gt(a, b) := __df_any_lt(b, a) if not is_number(b)
__df_ge(a, b) := a >= b if { is_number(a); is_number(b) }
__df_ge(a, b) := __df_any_le(b, a) if not is_number(a)
__df_ge(a, b) := __df_any_le(b, a) if not is_number(b)
__df_ltn(a, n) := a < n if is_number(a)
__df_ltn(a, n) := __df_trank(a) < 2 if not is_number(a)
__df_len(a, n) := a <= n if is_number(a)
__df_len(a, n) := __df_trank(a) < 2 if not is_number(a)
__df_gtn(a, n) := a > n if is_number(a)
__df_gtn(a, n) := __df_trank(a) > 2 if not is_number(a)
__df_gen(a, n) := a >= n if is_number(a)
__df_gen(a, n) := __df_trank(a) > 2 if not is_number(a)
__df_nlt(n, a) := __df_gtn(a, n)
__df_nle(n, a) := __df_gen(a, n)
__df_ngt(n, a) := __df_ltn(a, n)
__df_nge(n, a) := __df_len(a, n)
"""


def _rewrite_comparisons(text: str, tokens: list[Token], elsewhere: AbstractSet[str]) -> RewriteResult | None:
    """``text`` with its ordering comparisons rewritten (see above), or None when none is. Each
    becomes a call in place (its operands keep their columns), so comparisons inside another's
    operand are rewritten too. One whose operands this reader cannot delimit (an operand across
    lines, `a > b == c`) is refused with its position: left as it is, it could pass silently."""
    defined = _defined_here(tokens) | _imported_names(tokens) | set(elsewhere)
    parenthesized = _parenthesized(tokens)
    edits: list[tuple[int, int, str]] = []
    result = RewriteResult(text)
    for i, t in enumerate(tokens):
        if t.kind == "ident" and t.text in COMPARE_BUILTINS and t.text not in defined:
            if i + 1 < len(tokens) and tokens[i + 1].text == "(" and (i == 0 or tokens[i - 1].text != "."):
                edits.append((t.start, t.start + len(t.text), COMPARISONS[COMPARE_BUILTINS[t.text]]))
                result.rewrites.append(f"{t.line}:{t.col} {t.text} -> {COMPARISONS[COMPARE_BUILTINS[t.text]]}")
            continue
        if t.kind != "op" or t.text not in COMPARISONS:
            continue
        left = _operand(tokens, i, -1, parenthesized)
        right = _operand(tokens, i, 1, parenthesized)
        if left is None or right is None:
            result.refusals.append(
                Refusal(
                    t.line,
                    t.col,
                    f"a '{t.text}' whose operands DeployForge cannot delimit (one across lines, or "
                    "compared again): rego-cpp orders values of two types unlike OPA",
                    "write the comparison on one line, alone, or bind its operands to variables first",
                )
            )
            continue
        lt, rt = tokens[left[0] : left[1]], tokens[right[0] : right[1]]
        if (_is_literal(lt) and _is_literal(rt) and _literal_kind(lt[0]) == _literal_kind(rt[0])) or (
            _certainly_number(lt) and _certainly_number(rt)
        ):
            continue
        negated = left[0] > 0 and tokens[left[0] - 1].kind == "ident" and tokens[left[0] - 1].text == "not"
        if negated and _variable_index(lt + rt):
            continue  # hoisting a ref out of `not` changes its meaning (the rewrite refuses it)
        start, end = tokens[left[0]].start, _end_of(tokens[right[1] - 1])
        if _number_literal(rt) and not _is_literal(lt):
            name = NUMBER_COMPARISONS[t.text]  # literal on the right: rule indexing reads it
        elif _number_literal(lt) and not _is_literal(rt):
            name = NUMBER_FIRST[t.text]
        else:
            name = COMPARISONS[t.text]
        edits += [(start, start, name + "("), (t.start, t.start + len(t.text), ","), (end, end, ")")]
        result.rewrites.append(f"{t.line}:{t.col} {t.text} -> {name} (values of two types ordered as OPA orders them)")
    if not edits and not result.refusals:
        return None
    result.text, result._shifts = _apply(text, edits)
    return result


def _variable_index(tokens: list[Token]) -> bool:
    """Whether a ref among ``tokens`` has a variable (or ``_``) in brackets: hoisted out of a call."""
    return any(
        tokens[k].text == "[" and tokens[k + 1].kind == "ident" and tokens[k + 1].text not in ("true", "false", "null")
        for k in range(len(tokens) - 1)
    )


def _end_of(tok: Token) -> int:
    return tok.start + len(tok.text)


def _operand(tokens: list[Token], i: int, step: int, parenthesized: list[bool]) -> tuple[int, int] | None:
    """The tokens [start, end) of the operand of the comparison at ``i``, on its left (step -1) or
    right (+1); None when where it ends is not clear: another comparison or an equality at its
    level, a line's end inside it (at its level, inside brackets around the comparison, where Rego
    lets an expression go on), nothing at all."""
    opens, closes = ("(", "[", "{"), (")", "]", "}")
    if step < 0:
        opens, closes = closes, opens
    depth = 0
    j = i + step
    while 0 <= j < len(tokens):
        t = tokens[j]
        field = j > 0 and tokens[j - 1].text == "."  # `input.default`: a key, not the keyword
        if t.kind == "comment":
            if depth == 0:
                break
        elif t.kind == "op" and t.text in opens:
            depth += 1
        elif t.kind == "op" and t.text in closes:
            if depth == 0:
                break
            depth -= 1
        elif depth == 0:
            if t.kind == "nl" or (t.kind == "op" and t.text in _OPERAND_STOPS):
                break
            if t.kind == "ident" and t.text in _OPERAND_WORDS and not field:
                break
            if t.kind == "op" and t.text in ("==", "!=", *COMPARISONS):
                return None
        j += step
    if j == i + step:
        return None
    if 0 <= j < len(tokens) and tokens[j].kind in ("nl", "comment"):
        k = j
        while 0 <= k < len(tokens) and tokens[k].kind in ("nl", "comment"):
            k += step
        across = tokens[k] if 0 <= k < len(tokens) else None
        if parenthesized[i]:
            # inside parentheses a line's end does not end an expression: it goes on unless the
            # line across it ends (or starts) at the parentheses or a comma
            if across is None or across.text not in (("(", ",") if step < 0 else (")", ",")):
                return None
        elif across is not None and across.kind == "op" and across.text in _CONTINUES:
            return None  # `a ==\n b > 1`: the expression goes on across the line
    return (j + 1, i) if step < 0 else (i + 1, j)


def _parenthesized(tokens: list[Token]) -> list[bool]:
    """For each token, whether the innermost bracket around it is a parenthesis (a line's end inside
    one does not end an expression; in a body or a comprehension's body it ends a statement)."""
    out: list[bool] = []
    stack: list[str] = []
    for t in tokens:
        out.append(bool(stack) and stack[-1] == "(")
        if t.kind == "op" and t.text in ("(", "[", "{"):
            stack.append(t.text)
        elif t.kind == "op" and t.text in (")", "]", "}") and stack:
            stack.pop()
    return out


def _number_literal(tokens: list[Token]) -> bool:
    """A number literal (the functions for those take it as a number; any size)."""
    return len(tokens) == 1 and tokens[0].kind == "number"


def _literal_kind(t: Token) -> str:
    if t.kind == "ident":
        return {"true": "boolean", "false": "boolean"}.get(t.text, t.text)
    return "string" if t.kind == "raw" else t.kind


def _is_literal(tokens: list[Token]) -> bool:
    if len(tokens) != 1:
        return False
    t = tokens[0]
    return t.kind in ("number", "string", "raw") or (t.kind == "ident" and t.text in ("true", "false", "null"))


def _certainly_number(tokens: list[Token]) -> bool:
    """A number literal, a call of a builtin that gives a number, or arithmetic (which gives a number
    or an error); ``-`` is also a set's difference, so it says nothing."""
    if len(tokens) == 1:
        return tokens[0].kind == "number"
    if len(tokens) >= 3 and tokens[0].kind == "ident" and tokens[0].text in _NUMERIC_CALLS and tokens[1].text == "(":
        depth = 0
        for k, t in enumerate(tokens[1:], start=1):
            depth += t.text in ("(", "[", "{")
            depth -= t.text in (")", "]", "}")
            if depth == 0:
                return k == len(tokens) - 1 and tokens[0].text not in ("max", "min")
    depth = 0
    for t in tokens:
        depth += t.text in ("(", "[", "{")
        depth -= t.text in (")", "]", "}")
        if depth == 0 and t.kind == "op" and t.text in ("+", "*", "/", "%"):
            return True
    return False


_HEADS_OF: list[tuple[list[Token], list[bool]]] = []  # the last token list's answer (the passes share it)


def _heads(tokens: list[Token]) -> list[bool]:
    """For each token, whether it starts a rule or function head: at the start of a line and
    outside every brace (a body's statement may start a line too: Rego needs no indentation, and a
    pull request's policy need not be formatted, so column 1 alone decides nothing)."""
    if _HEADS_OF and _HEADS_OF[0][0] is tokens:
        return _HEADS_OF[0][1]
    out = _compute_heads(tokens)
    _HEADS_OF[:] = [(tokens, out)]
    return out


def _compute_heads(tokens: list[Token]) -> list[bool]:
    out: list[bool] = []
    depth = 0
    for t in tokens:
        out.append(t.col == 1 and depth == 0)
        if t.text in ("{", "[", "("):
            depth += 1
        elif t.text in ("}", "]", ")") and depth > 0:
            depth -= 1
    return out


def _refuse_not_in_every(tokens: list[Token], result: RewriteResult) -> None:
    """rego-cpp 1.5.2 holds ``not X`` inside an ``every`` body for every element (``every v in
    ["a"] { not v == "a" }`` holds; OPA's does not), in the body's comprehensions too: such a
    ``not`` is refused where it is. A helper it calls is evaluated right, hence the hint."""
    for i, t in enumerate(tokens):
        if not (t.kind == "ident" and t.text == "every" and (i == 0 or tokens[i - 1].text != ".")):
            continue
        depth = 0
        k = i + 1  # the body's brace: the first at the domain's level that opens no value
        while k < len(tokens) and depth >= 0:
            if tokens[k].text == "{" and depth == 0 and not _value_bracket(tokens, k):
                break
            depth += tokens[k].text in ("(", "[", "{")
            depth -= tokens[k].text in (")", "]", "}")
            k += 1
        end = _matching(tokens, k) if k < len(tokens) and tokens[k].text == "{" else None
        if end is None:
            continue
        for n in range(k + 1, end):
            tok = tokens[n]
            if tok.kind == "ident" and tok.text == "not" and tokens[n - 1].text != ".":
                result.refusals.append(
                    Refusal(
                        tok.line,
                        tok.col,
                        "'not' inside an 'every' body: rego-cpp 1.5.2 holds it for every element, so the "
                        "'every' could hold where OPA's does not",
                        "move the negation into a helper the body calls: every v in xs { allowed(v) } "
                        "with allowed(v) if not ...",
                    )
                )


# rego-cpp 1.5.2 loses a function's parameter that a comprehension's term reads when the
# comprehension's body does not: f(xs, p) := [concat("", [p, x]) | some x in xs] is [] (OPA:
# ["<p>a", "<p>b"]), so a rule testing such a list, or a boolean function built on one, silently
# never holds. Reading the parameter in the body (`p == p`, which always holds) is enough; the
# statement is added at the start of each such comprehension's body, on its line.
_NOT_VARIABLES = KEYWORDS | {"_"}


def _bind_parameters(tokens: list[Token], edits: list[tuple[int, int, str]], result: RewriteResult) -> None:
    heads = _heads(tokens)
    n = len(tokens)
    i = 0
    while i < n:
        if not (heads[i] and tokens[i].kind == "ident"):
            i += 1
            continue
        j = i + 1
        while j + 1 < n and tokens[j].text == "." and tokens[j + 1].kind == "ident":
            j += 2
        if j >= n or tokens[j].text != "(":
            i += 1
            continue
        close = _matching(tokens, j)
        if close is None:
            return
        params = {
            t.text
            for k, t in enumerate(tokens[j + 1 : close], start=j + 1)
            if t.kind == "ident" and t.text not in _NOT_VARIABLES and tokens[k - 1].text != "."
        }
        end = close + 1
        while end < n and not heads[end]:
            end += 1
        if params:
            _bind_in_comprehensions(tokens, close + 1, end, params, edits, result)
        i = end


def _matching(tokens: list[Token], open_: int) -> int | None:
    depth = 0
    for k in range(open_, len(tokens)):
        if tokens[k].text in ("(", "[", "{"):
            depth += 1
        elif tokens[k].text in (")", "]", "}"):
            depth -= 1
            if depth == 0:
                return k
    return None


def _bind_in_comprehensions(
    tokens: list[Token],
    start: int,
    end: int,
    params: set[str],
    edits: list[tuple[int, int, str]],
    result: RewriteResult,
) -> None:
    stack: list[list[int]] = []  # [open index, bar index or -1]
    for k in range(start, end):
        t = tokens[k]
        if t.text in ("(", "[", "{"):
            stack.append([k, -1])
        elif t.text == "|" and stack and stack[-1][1] < 0 and _value_bracket(tokens, stack[-1][0]):
            stack[-1][1] = k
        elif t.text in (")", "]", "}") and stack:
            open_, bar = stack.pop()
            if bar < 0:
                continue
            term = _variables(tokens, open_ + 1, bar) & params
            missing = sorted(term - _variables(tokens, bar + 1, k))
            if missing:
                added = "".join(f" {p} == {p};" for p in missing)
                edits.append((tokens[bar].start + 1, tokens[bar].start + 1, added))
                result.rewrites.append(
                    f"{tokens[bar].line}:{tokens[bar].col} comprehension reads parameter(s) {', '.join(missing)}"
                    " in its body too (rego-cpp loses a parameter only its term reads)"
                )


def _value_bracket(tokens: list[Token], k: int) -> bool:
    """Whether the bracket at ``k`` opens a value (an array, set or object: `|` in it is a
    comprehension's bar) and not a body (a rule's, a function's, `every`'s: `|` there is a set
    union, `u := a | b`)."""
    if tokens[k].text == "[":
        return True
    prev = tokens[k - 1] if k > 0 else None
    if prev is None or prev.text in ("if", "else") or prev.text in (")", "]", "}"):
        return False
    return not (prev.kind in ("ident", "string", "number", "raw") and prev.text not in ("in", "not", "contains", "as"))


def _variables(tokens: list[Token], start: int, end: int) -> set[str]:
    return {
        tokens[k].text
        for k in range(start, end)
        if tokens[k].kind == "ident" and (k == 0 or tokens[k - 1].text != ".") and tokens[k].text not in _NOT_VARIABLES
    }


def defined_names(text: str) -> set[str]:
    """The rule and function names a module's heads define."""
    return _defined_here(tokenize(text))


def _defined_here(tokens: list[Token]) -> set[str]:
    """Names the module defines (a rule or function head): a call of one of them is the module's
    own, not the builtin of that name."""
    heads = _heads(tokens)
    return {t.text for t, head in zip(tokens, heads, strict=True) if t.kind == "ident" and head}


def _rewrite_ordering(tokens: list[Token], edits: list[tuple[int, int, str]], result: RewriteResult) -> set[str]:
    used: set[str] = set()
    own = _defined_here(tokens)
    heads = _heads(tokens)
    for i, t in enumerate(tokens[:-1]):
        if t.kind != "ident" or t.text not in ORDERING or tokens[i + 1].text != "(" or heads[i]:
            continue
        if t.text in own:
            continue
        if i > 0 and tokens[i - 1].text == ".":
            continue
        edits.append((t.start, t.start + len(t.text), ORDERING[t.text]))
        result.rewrites.append(f"{t.line}:{t.col} {t.text} -> {ORDERING[t.text]} (OPA's answer)")
        used.add("format_int" if t.text == "format_int" else "ordering")
    return used


def helper_functions(used: set[str]) -> str:
    """The Rego functions a rewritten module calls (appended after its last line)."""
    parts = ["# appended by DeployForge (policy/rewrite.py): OPA's sprintf and builtins rego-cpp lacks"]
    if "sprintf" in used:
        parts += [_sprintf_functions(), _text_functions()]
    if "ordering" in used:
        parts.append(_ORDERING_FUNCTIONS)
    if "json.marshal" in used:
        parts.append(_json_functions())
    if "semver.compare" in used:
        parts.append(_SEMVER_FUNCTIONS)
    if used & {"time.format", "time.parse_rfc3339_ns"}:
        parts.append(_TIME_FUNCTIONS)
    if "format_int" in used:
        parts.append(_FORMAT_INT_FUNCTIONS)
    if "unquoting" in used:
        parts.append(_UNQUOTING_FUNCTIONS)
    if "compare" in used:
        parts.append(_COMPARE_FUNCTIONS)
    if used & {"sprintf", "ordering", "json.marshal"}:
        parts.append(_SORTED)
    if "net.cidr_is_valid" in used:
        parts.append(f"__df_net_cidr_is_valid(x) := regex.match({_rego_string(_cidr_regex())}, x) if is_string(x)")
        parts.append("__df_net_cidr_is_valid(x) := false if not is_string(x)")
    if "net.cidr_contains" in used:
        parts.append(_CIDR_CONTAINS)
    return "\n".join(parts) + "\n"
