"""Many documents in one Rego query: a text rewrite of the policies, used only where it is exact.

rego-cpp spends most of a small query on fixed costs (setting up the query and every rule it
evaluates), not on the document: one query per document of 25 rules costs about 1.2 ms, the same
rules over 10-25 documents at once about 0.45 ms a document. OPA's ``with input as`` would express
"each document of a batch" directly, but rego-cpp 1.5.2 crashes on it (a segfault or
"shape `rego-localref` has no field `rego-refhead`" as soon as a rule body calls ``sprintf``).

So the policies are rewritten for a batch: the input becomes an array of documents, and each
policy rule that collects a set (``deny``/``warn``/``violation``[_x], ``exception``)::

    deny contains msg if { input.acl == "public-read"; msg := input.name }

becomes a set of (document index, value) pairs::

    deny contains [__dfb_i, msg] if { some __dfb_i, __dfb_d in input; __dfb_d.acl == "public-read"; ... }

A set rule's value for document *i* is then exactly the values paired with *i*; a document that
yields nothing has the empty set, as alone. The rewrite is refused (``NotBatchable``, and every
document is evaluated alone as before) whenever that equivalence is not obvious from the text:

- any other rule, function, default or import that reads ``input`` (a helper such as
  ``is_public if input.acl == ...`` would have to become per-document too);
- a reference to a rewritten rule anywhere but its own head (its value now has another shape);
- a rewritten rule that is not a partial set (``deny := ...``, ``allow``, ``else``), or a head
  that is not a plain name (``deny.x contains``, ``deny[k] := ...``);
- ``with`` anywhere (it replaces ``input``), ``print`` (the order of printed lines would change),
  or a name of ours (``__dfb_``) already in the source.

Line numbers never move (every edit stays on its line). Errors never depend on this module: the
caller evaluates a batch that fails or whose answer is in any doubt again one document at a time.

**Rule indexing** (as OPA indexes rules; asked for with ``guards=[]``): a rewritten rule whose body
STARTS with tests of a constant input path against a constant, each alone on its line or ended by
``;``::

    deny contains msg if { input.kind == "Deployment"; not input.spec.replicas; ... }

is given, per batch, only the documents those tests may let through (``Guard.may_match``, computed
here in Python). The input becomes ``{"d": [documents], "s": {guard id: [indexes]}}`` and the rule
iterates its own indexes::

    deny contains [__dfb_i, msg] if { __dfb_s := input.s.g0; __dfb_ds := input.d; some __dfb_i in __dfb_s;
                                      __dfb_d := __dfb_ds[__dfb_i]; __dfb_d.kind == "Deployment"; ... }

(every other rule iterates ``input.d``; when every rule has tests, a document no rule lets
through is sent as ``null``: none of them looks at it). The tests stay in the body, so a document let through is
judged by the engine exactly as before; a document is left out only when a test certainly fails
for it (the path is missing or not an object on the way, or the value certainly differs: another
type, another string, another integer; floats within a relative 1e-9, NaN and infinities, and
string ordering are never used to leave a document out). Rego evaluates a body's statements in
order and a failed leading test ends it, so the statements after it (an erroring builtin
included) are not evaluated for that document either way. Only these forms are tests::

    input.a.b == LITERAL   LITERAL == input.a.b   (also !=, <, <=, >, >=)   not input.a.b

where LITERAL is a string without escapes, a number, ``true``, ``false`` or ``null``. Measured on
25 rules over 5,000 resources, a rule whose test fails costs about a fifth of one iterating every
document (rego-cpp spends about 8 microseconds per rule and document merely to try one).
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from deployforge.policy.rewrite import COMPARISONS, NUMBER_COMPARISONS, NUMBER_FIRST, Token, tokenize

INDEX = "__dfb_i"
DOC = "__dfb_d"
DOCS = "__dfb_ds"
SELECTED = "__dfb_s"
_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {")", "]", "}"}


class NotBatchable(Exception):
    """The policies cannot be evaluated over a batch exactly (the reason is the message)."""


def _items(tokens: list[Token]) -> list[list[Token]]:
    """Top-level statements: a new one starts at column 1 outside any bracket (comments dropped)."""
    items: list[list[Token]] = []
    depth = 0
    for tok in tokens:
        if tok.kind in ("nl", "comment"):
            continue
        if depth == 0 and tok.col == 1:
            items.append([])
        if not items:
            raise NotBatchable("text before the first statement")
        items[-1].append(tok)
        if tok.text in _OPEN and tok.kind == "op":
            depth += 1
        elif tok.text in _CLOSE and tok.kind == "op":
            depth -= 1
    if depth != 0:
        raise NotBatchable("unbalanced brackets")
    return items


def _reads_input(item: Iterable[Token]) -> bool:
    prev = ""
    for tok in item:
        if tok.kind == "ident" and tok.text == "input" and prev != ".":
            return True
        prev = tok.text
    return False


def _depth0(item: list[Token], start: int) -> list[int]:
    """Indexes of the tokens of ``item[start:]`` outside any bracket."""
    out = []
    depth = 0
    for i in range(start, len(item)):
        tok = item[i]
        if depth == 0:
            out.append(i)
        if tok.kind == "op" and tok.text in _OPEN:
            depth += 1
        elif tok.kind == "op" and tok.text in _CLOSE:
            depth -= 1
    return out


def batch_module(
    text: str,
    batched: set[str],
    referenced: set[str] | None = None,
    guards: list[Guard] | None = None,
    defined: AbstractSet[str] = frozenset(),
) -> str:
    """``text`` rewritten so that the rules named in ``batched`` (of this module's package) yield
    (index, value) pairs over an input array; raises ``NotBatchable`` when that would not be exact
    (see the module's doc). ``referenced``: the rewritten rules of every package (none may be
    named outside its head; by default ``batched``). With ``guards`` (a list, shared by the modules
    of one bundle): rule indexing, the input is ``{"d": documents, "s": {id: indexes}}`` and the
    guards found are appended to the list. ``defined``: the names of the rules and functions of
    every module (a builtin one of them shadows is never read as a test)."""
    referenced = batched if referenced is None else referenced | batched
    if "__dfb_" in text:
        raise NotBatchable("the policy uses a name of ours (__dfb_)")
    tokens = tokenize(text)
    for tok in tokens:
        if tok.kind == "ident" and tok.text in ("with", "print"):
            raise NotBatchable(f"the policy uses '{tok.text}'")
        if tok.kind in ("other", "badstring"):
            raise NotBatchable("a token the reader does not know")
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement) in text offsets
    items = _items(tokens)
    shadowed = set(defined) | {item[0].text for item in items if item and item[0].kind == "ident"}
    for item in items:
        first = item[0]
        if first.kind != "ident":
            raise NotBatchable(f"line {first.line}: a statement that does not start with a name")
        name = first.text
        # a rewritten rule named anywhere but in its own head changes meaning
        for tok in item[1:]:
            if tok.kind == "ident" and tok.text in referenced:
                raise NotBatchable(f"line {tok.line}: '{tok.text}' is referred to")
        if name in ("package", "import"):
            if _reads_input(item):
                raise NotBatchable(f"line {first.line}: an import of input")
            continue
        if name == "default":
            if len(item) > 1 and item[1].text in batched:
                raise NotBatchable(f"line {first.line}: a default for '{item[1].text}'")
            continue
        if name not in batched:
            if _reads_input(item):
                raise NotBatchable(f"line {first.line}: '{name}' reads input and is not a set of findings")
            continue
        edits.extend(_batch_rule(item, guards, shadowed))
    out = text
    for start, end, replacement in sorted(edits, reverse=True):
        out = out[:start] + replacement + out[end:]
    return out


def _batch_rule(
    item: list[Token],
    guards: list[Guard] | None = None,
    shadowed: AbstractSet[str] = frozenset(),
) -> list[tuple[int, int, str]]:
    name = item[0]
    if len(item) < 3 or item[1].text != "contains":
        raise NotBatchable(f"line {name.line}: '{name.text}' is not written 'NAME contains VALUE if ...'")
    top = _depth0(item, 2)
    if any(item[i].kind == "ident" and item[i].text == "else" for i in top):
        raise NotBatchable(f"line {name.line}: else")
    ifs = [i for i in top if item[i].kind == "ident" and item[i].text == "if"]
    if len(ifs) > 1:
        raise NotBatchable(f"line {name.line}: two bodies")
    term_end = ifs[0] if ifs else len(item)
    if term_end <= 2:
        raise NotBatchable(f"line {name.line}: no value")
    edits: list[tuple[int, int, str]] = []
    some = f"some {INDEX}, {DOC} in input"
    if guards is not None:
        some = f"{DOCS} := input.d; some {INDEX}, {DOC} in {DOCS}"
    for k in range(2, len(item)):
        tok = item[k]
        if tok.kind == "ident" and tok.text == "input" and item[k - 1].text != ".":
            edits.append((tok.start, tok.start + len(tok.text), DOC))
    term_first, term_last = item[2], item[term_end - 1]
    edits.append((term_first.start, term_first.start, f"[{INDEX}, "))
    last = item[-1]
    if not ifs:  # `deny contains "x"`: true for every document
        _reads_every_document(guards)
        edits.append((_end(term_last), _end(term_last), f"] if {{ {some} }}"))
        return edits
    edits.append((_end(term_last), _end(term_last), "]"))
    after = ifs[0] + 1
    if after >= len(item):
        raise NotBatchable(f"line {name.line}: 'if' without a body")
    opener = item[after]
    braced = opener.text == "{" and _depth0(item, after) == [after]
    if opener.text == "{" and not braced:  # `{ ... } { ... }` or `{...} == x`: not read here
        raise NotBatchable(f"line {name.line}: a body this reader does not take apart")
    if guards is not None:
        body = item[after + 1 : len(item) - 1] if braced else item[after:]
        tests = _leading_tests(body, shadowed)
        if tests:
            guard = Guard(f"g{len(guards)}", tuple(tests))
            guards.append(guard)
            some = (
                f"{SELECTED} := input.s.{guard.id}; {DOCS} := input.d; some {INDEX} in {SELECTED}; "
                f"{DOC} := {DOCS}[{INDEX}]"
            )
        else:
            _reads_every_document(guards)
    if braced:
        if last.text != "}":
            raise NotBatchable(f"line {name.line}: text after the body")
        edits.append((_end(opener), _end(opener), f" {some};"))
    else:  # `deny contains msg if EXPR`
        edits.append((opener.start, opener.start, f"{{ {some}; "))
        edits.append((_end(last), _end(last), " }"))
    return edits


def _reads_every_document(guards: list[Guard] | None) -> None:
    """Note, in the guards, that a rule of the bundle iterates every document (``EVERY``, no tests):
    without one, a document that no guard lets through is not sent to the engine at all."""
    if guards is not None and EVERY not in guards:
        guards.append(EVERY)


def _end(tok: Token) -> int:
    return tok.start + len(tok.text)


# -- rule indexing -------------------------------------------------------------------------------------

_UNDEFINED = object()
_LITERALS = {"true": True, "false": False, "null": None}
_FLIP = {"==": "==", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}
# a token that may start the next statement (anything else might continue the test's expression)
_CONTINUING = {"in", "with", "as", "else", "if", "contains"}
# ordering comparisons as policy/rewrite.py writes them
_COMPARING = {name: op for names in (COMPARISONS, NUMBER_COMPARISONS) for op, name in names.items()}
_NUMBER_FIRST = {name: op for op, name in NUMBER_FIRST.items()}  # `5 < x`: __df_nlt(5, x)
_COMPARING.update(_NUMBER_FIRST)
_STRING_CALLS: dict[str, Callable[[str, str], bool]] = {
    "startswith": str.startswith,
    "endswith": str.endswith,
    "contains": str.__contains__,
}


@dataclass(frozen=True)
class Test:
    """``input.<path> <op> <literal>`` (``op`` "not": ``not input.<path>``; "startswith", "endswith",
    "contains": that builtin called on the path and a string; "in": ``<literal> in input.<path>``);
    with ``count``, the comparison is of ``count(input.<path>)``."""

    path: tuple[str, ...]
    op: str
    literal: Any = None
    count: bool = False


@dataclass(frozen=True)
class Guard:
    """The leading tests of one rewritten rule: a document may match only if it passes all."""

    id: str
    tests: tuple[Test, ...]

    def selector(self) -> Callable[[list[Any], list[bool]], list[int]]:
        """A function: (documents, whether each is ``clean``) -> the indexes of those that may match
        (see ``may_match``; a document that is not clean always may)."""
        tests = [_compiled(t) for t in self.tests]
        if len(tests) == 1:
            (test,) = tests
            return lambda docs, clean: [i for i, doc in enumerate(docs) if not clean[i] or test(doc)]
        return lambda docs, clean: [i for i, doc in enumerate(docs) if not clean[i] or all(test(doc) for test in tests)]


EVERY = Guard("", ())  # in a bundle's guards: some rule iterates every document (no index)


def clean(value: Any) -> bool:
    """Whether no string in ``value`` (keys included) holds a quote, a backslash or a character that
    is not printable. rego-cpp reads such strings its own way (an input key ``"spec"`` WITH its quotes
    is found by ``input.spec``; a value ``'"x"'`` or ``'x\\0'`` equals ``"x"``), so a document that is
    not clean is never left out by a guard: the engine judges it, as without indexing.

    (Read from the document's JSON text, which the C encoder writes quickly: a quote, a backslash
    or a control character in a string is written escaped, with a backslash; any other character
    as it is.)"""
    try:
        text = json.dumps(value, ensure_ascii=False, check_circular=False)
    except (TypeError, ValueError, RecursionError):
        return False
    return "\\" not in text and text.isprintable()


def _compiled(test: Test) -> Callable[[Any], bool]:
    """``may_match`` for one test, with quick paths for the common ones (the same answers)."""
    path = test.path
    literal = test.literal

    lookup = _lookup_of(path)

    if test.op == "not":
        return lambda doc: (v := lookup(doc)) is _UNDEFINED or v is False
    if test.op == "==" and not test.count and type(literal) is str:

        def equal_string(doc: Any) -> bool:
            v = lookup(doc)
            if v is _UNDEFINED:
                return False
            t = type(v)
            if t is str:
                return bool(v == literal)
            return not (v is None or t is bool or t is int or t is float)  # another type: never equal

        return equal_string
    if test.count or test.op not in ("==", "!=", "<", "<=", ">", ">=", *_STRING_CALLS):
        return lambda doc: may_match(test, doc)
    if test.op in _STRING_CALLS:
        call = _STRING_CALLS[test.op]

        def string_call(doc: Any) -> bool:
            v = lookup(doc)
            if v is _UNDEFINED:
                return False
            if type(v) is not str or not v.isascii():
                return True
            return bool(call(v, literal))

        return string_call
    literal_kind = _kind(literal)
    small = type(literal) is int and -_SMALL < literal < _SMALL
    if test.op in ("==", "!="):
        equal = test.op == "=="

        def compare(doc: Any) -> bool:
            v = lookup(doc)
            if v is _UNDEFINED:
                return False
            if type(v) is int and small and -_SMALL < v < _SMALL:  # _close: only when equal
                return v == literal or not equal
            kind = _kind(v)
            if kind == "composite":
                return True
            if kind != literal_kind:
                return not equal
            if kind == "number" and _close(v, literal):
                return True
            return (v == literal) == equal

        return compare
    if literal_kind != "number":  # ordering: numbers only (see may_match)
        return lambda doc: lookup(doc) is not _UNDEFINED
    holds = _ORDER[test.op]

    def order(doc: Any) -> bool:
        v = lookup(doc)
        if v is _UNDEFINED:
            return False
        t = type(v)
        if t is int and small and -_SMALL < v < _SMALL:  # _close: only when equal
            return v == literal or bool(holds(v, literal))
        if (t is not int and t is not float) or _close(v, literal):
            return True
        return bool(holds(v, literal))

    return order


# integers within this bound are "close" (``_close``) only when equal: 1e-9 of them is below 1
_SMALL = 1_000_000_000


def _lookup_of(path: tuple[str, ...]) -> Callable[[Any], Any]:
    """``_lookup`` for one path, unrolled for the short paths policies mostly test."""
    if len(path) == 1:
        (k1,) = path
        return lambda doc: doc.get(k1, _UNDEFINED) if type(doc) is dict else _UNDEFINED
    if len(path) == 2:
        k1, k2 = path

        def lookup2(doc: Any) -> Any:
            if type(doc) is not dict:
                return _UNDEFINED
            doc = doc.get(k1, _UNDEFINED)
            return doc.get(k2, _UNDEFINED) if type(doc) is dict else _UNDEFINED

        return lookup2

    def lookup(doc: Any) -> Any:
        for key in path:
            if type(doc) is not dict:
                return _UNDEFINED
            doc = doc.get(key, _UNDEFINED)
            if doc is _UNDEFINED:
                return _UNDEFINED
        return doc

    return lookup


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _lookup(doc: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if type(doc) is not dict or key not in doc:
            return _UNDEFINED
        doc = doc[key]
    return doc


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is bool:
        return "boolean"
    if type(value) in (int, float):
        return "number"
    if type(value) is str:
        return "string"
    return "composite"  # arrays, objects (and anything else: never compared here)


def _close(a: Any, b: Any) -> bool:
    """Numbers the engine might take as equal: within a relative 1e-9 (rego-cpp compares an integer
    and a float by value, ``1.0 == 1``; a huge integer may be compared as a double), or not finite."""
    try:
        if not (math.isfinite(a) and math.isfinite(b)):
            return True
        return bool(abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b)))
    except OverflowError:  # an integer beyond a double (10**400): not judged here
        return True


def may_match(test: Test, doc: Any) -> bool:
    """False only when ``test`` certainly fails for ``doc`` (a ``clean`` document) under Rego's
    semantics, as rego-cpp evaluates them; True otherwise. A builtin given a value of a type it does
    not take raises an error (strict mode): such a document always may match, so the engine raises it."""
    value = _lookup(doc, test.path)
    if test.op == "not":  # `not input.a`: true when undefined or false
        return value is _UNDEFINED or value is False
    if value is _UNDEFINED:
        return False  # an undefined operand: the comparison (or the call) is undefined, the body fails
    literal = test.literal
    op = test.op
    if op in _STRING_CALLS:  # ASCII only: no question of bytes against characters
        if type(value) is not str or not value.isascii():
            return True
        return bool(_STRING_CALLS[op](value, literal))
    if op == "in":  # "x" in input.a: an element of an array, a value of an object
        if type(value) is list:
            return literal in [v for v in value if type(v) is str]
        if type(value) is dict:  # values (OPA); keys too, in case the engine looked there
            return literal in value or literal in [v for v in value.values() if type(v) is str]
        return True
    if test.count:
        if type(value) not in (str, list, dict) or (type(value) is str and not value.isascii()):
            return True
        value = len(value)
    kind, literal_kind = _kind(value), _kind(literal)
    if kind == "composite":
        return True  # not judged here
    if test.op in ("==", "!="):
        if kind != literal_kind:
            return test.op == "!="  # values of different types are never equal
        if kind == "number" and _close(value, literal):
            return True
        return (value == literal) == (test.op == "==")
    # ordering: numbers only (Rego orders values of different types, and strings by bytes)
    if kind != "number" or literal_kind != "number" or _close(value, literal):
        return True
    holds = {"<": value < literal, "<=": value <= literal, ">": value > literal, ">=": value >= literal}
    return holds[test.op]


def _literal(tok: Token) -> tuple[bool, Any]:
    if tok.kind == "string" and "\\" not in tok.text:
        return True, json.loads(tok.text)
    if tok.kind == "number":
        try:
            return True, json.loads(tok.text)  # as JSON reads it: 007 is no number (no test)
        except ValueError:
            return False, None
    if tok.kind == "ident" and tok.text in _LITERALS:
        return True, _LITERALS[tok.text]
    return False, None


def _path(tokens: list[Token]) -> tuple[str, ...] | None:
    """``input.a.b`` (at least one key) as ("a", "b"), else None."""
    if len(tokens) < 3 or len(tokens) % 2 == 0 or tokens[0].kind != "ident" or tokens[0].text != "input":
        return None
    keys = []
    for k in range(1, len(tokens), 2):
        if tokens[k].text != "." or tokens[k].kind != "op" or tokens[k + 1].kind != "ident":
            return None
        keys.append(tokens[k + 1].text)
    return tuple(keys)


def _ascii_string(tok: Token) -> str | None:
    ok, literal = _literal(tok)
    return literal if ok and type(literal) is str and literal.isascii() else None


def _operand(tokens: list[Token], shadowed: AbstractSet[str]) -> tuple[tuple[str, ...] | None, bool]:
    """(path, counted): ``input.a.b`` or ``count(input.a.b)``."""
    if len(tokens) > 3 and tokens[0].text == "count" and tokens[1].text == "(" and tokens[-1].text == ")":
        if "count" in shadowed or tokens[0].kind != "ident":
            return None, False
        return _path(tokens[2:-1]), True
    return _path(tokens), False


def _test(tokens: list[Token], shadowed: AbstractSet[str] = frozenset()) -> Test | None:
    if not tokens:
        return None
    first = tokens[0]
    if first.kind == "ident" and first.text == "not":
        path = _path(tokens[1:])
        return Test(path, "not") if path else None
    if first.kind == "ident" and first.text in _STRING_CALLS and first.text not in shadowed:
        # startswith(input.a, "x"): NAME ( REF , STRING )
        if len(tokens) >= 6 and tokens[1].text == "(" and tokens[-1].text == ")" and tokens[-3].text == ",":
            path, literal = _path(tokens[2:-3]), _ascii_string(tokens[-2])
            if path and literal is not None:
                return Test(path, first.text, literal)
        return None
    if first.kind == "ident" and first.text in _COMPARING:
        # __df_gtn(input.a, 5), __df_nlt(5, input.a): an ordering comparison as policy/rewrite.py
        # writes it (its functions are appended to the module, so they are among the names it defines)
        if len(tokens) >= 6 and tokens[1].text == "(" and tokens[-1].text == ")":
            if tokens[-3].text == ",":
                ok, literal = _literal(tokens[-2])
                path = _path(tokens[2:-3])
                if ok and path:
                    return Test(path, _COMPARING[first.text], literal)
            if tokens[3].text == "," and first.text in _NUMBER_FIRST:
                ok, literal = _literal(tokens[2])
                path = _path(tokens[4:-1])
                if ok and path:
                    return Test(path, _FLIP[_NUMBER_FIRST[first.text]], literal)
        return None
    if len(tokens) >= 4 and tokens[1].kind == "ident" and tokens[1].text == "in":  # "x" in input.a
        literal, path = _ascii_string(first), _path(tokens[2:])
        return Test(path, "in", literal) if path and literal is not None else None
    ops = [k for k, t in enumerate(tokens) if t.kind == "op" and t.text in _FLIP]
    if len(ops) != 1:
        return None
    k = ops[0]
    op = tokens[k].text
    left, right = tokens[:k], tokens[k + 1 :]
    if len(right) == 1:
        ok, literal = _literal(right[0])
        path, counted = _operand(left, shadowed)
        if ok and path and (not counted or _kind(literal) == "number"):
            return Test(path, op, literal, counted)
    if len(left) == 1:
        ok, literal = _literal(left[0])
        path, counted = _operand(right, shadowed)
        if ok and path and (not counted or _kind(literal) == "number"):
            return Test(path, _FLIP[op], literal, counted)
    return None


def _leading_tests(body: list[Token], shadowed: AbstractSet[str]) -> list[Test]:
    """The tests a rule body starts with (see the module's doc), each alone on its line or ended by ``;``."""
    tests: list[Test] = []
    k = 0
    while k < len(body):
        line = body[k].line
        end = k
        while end < len(body) and body[end].line == line and body[end].text != ";":
            end += 1
        test = _test(body[k:end], shadowed)
        if test is None:
            break
        if end < len(body):  # what follows must start a new statement, not continue this one
            nxt = body[end]
            if nxt.text == ";" and nxt.kind == "op":
                end += 1
            elif not (
                (nxt.kind == "ident" and nxt.text not in _CONTINUING)
                or nxt.kind in ("string", "raw")
                or (nxt.kind == "number" and not nxt.text.startswith("-"))
            ):
                break
        tests.append(test)
        k = end
    return tests
