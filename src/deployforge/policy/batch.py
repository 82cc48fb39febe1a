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
"""

from __future__ import annotations

from collections.abc import Iterable

from deployforge.policy.rewrite import Token, tokenize

INDEX = "__dfb_i"
DOC = "__dfb_d"
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


def batch_module(text: str, batched: set[str], referenced: set[str] | None = None) -> str:
    """``text`` rewritten so that the rules named in ``batched`` (of this module's package) yield
    (index, value) pairs over an input array; raises ``NotBatchable`` when that would not be exact
    (see the module's doc). ``referenced``: the rewritten rules of every package (none may be
    named outside its head; by default ``batched``)."""
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
    for item in _items(tokens):
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
        edits.extend(_batch_rule(item))
    out = text
    for start, end, replacement in sorted(edits, reverse=True):
        out = out[:start] + replacement + out[end:]
    return out


def _batch_rule(item: list[Token]) -> list[tuple[int, int, str]]:
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
    for k in range(2, len(item)):
        tok = item[k]
        if tok.kind == "ident" and tok.text == "input" and item[k - 1].text != ".":
            edits.append((tok.start, tok.start + len(tok.text), DOC))
    term_first, term_last = item[2], item[term_end - 1]
    edits.append((term_first.start, term_first.start, f"[{INDEX}, "))
    last = item[-1]
    if not ifs:  # `deny contains "x"`: true for every document
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
    if braced:
        if last.text != "}":
            raise NotBatchable(f"line {name.line}: text after the body")
        edits.append((_end(opener), _end(opener), f" {some};"))
    else:  # `deny contains msg if EXPR`
        edits.append((opener.start, opener.start, f"{{ {some}; "))
        edits.append((_end(last), _end(last), " }"))
    return edits


def _end(tok: Token) -> int:
    return tok.start + len(tok.text)
