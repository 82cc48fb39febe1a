"""A fast reader for Terraform's HCL2 with line numbers, giving python-hcl2's document shape.

python-hcl2 (lark) needs about 11 s for a 5,000-block ``.tf``; this reader needs a fraction of a
second for the common case and hands python-hcl2 only what it does not read itself:

- one regex tokenizer over the file (comments, strings with ``${...}`` templates, heredocs,
  numbers, identifiers, punctuation), then a recursive reader of bodies, blocks and values;
- literal values (strings, numbers, booleans, null, lists, objects) and plain references
  (``var.region``, ``aws_s3_bucket.x[0].id``, ``local.tags[*].a``) are read here, exactly as python-hcl2
  gives them (references and templates as ``"${...}"`` strings, escapes decoded, nested blocks as
  lists of bodies);
- any top-level block holding something else (a function call, an operator, a conditional, a
  ``for`` expression, a heredoc, a template with more than a reference inside) is re-read by
  python-hcl2 on its own, so the result never differs from python-hcl2's;
- each top-level block's first line is recorded as it is read (``Parsed.lines``), one pass.

``parse`` raises ``HclError(message, line)`` on text python-hcl2 refuses too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(
    r"""
    (?P<nl>\n)
  | (?P<ws>[ \t\r]+)
  | (?P<comment>\#[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<heredoc><<-?[A-Za-z_][A-Za-z0-9_]*\n)
  | (?P<string>"(?:[^"\\$\n]|\\.|\$(?!\{))*")
  | (?P<tstring>")
  | (?P<number>[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
  | (?P<op>==|!=|<=|>=|&&|\|\||=>|\.\.\.|[-+*/%<>!?:=.,\[\]{}()])
  | (?P<other>.)
    """,
    re.X | re.S,
)
_SIMPLE_REF = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*|\[[0-9]+\]|\[\*\]|\.\*)*$")
_ESCAPES = re.compile(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)")


class HclError(Exception):
    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.message = message
        self.line = line


class _Fallback(Exception):
    """This block holds something the fast reader leaves to python-hcl2."""


@dataclass
class Parsed:
    data: dict[str, Any]
    lines: dict[str, int] = field(default_factory=dict)  # "type.name" / "data.type.name" / "kind.name" -> line
    fallback_blocks: int = 0


@dataclass
class _Tok:
    kind: str
    text: str
    line: int
    start: int
    end: int


def _tokens(text: str, pos: int = 0, line: int = 1, one_item: bool = False) -> list[_Tok]:
    """Tokens from ``pos``; with ``one_item``, only up to the end of the top-level item starting there."""
    out: list[_Tok] = []
    n = len(text)
    match = _TOKEN.match
    depth = 0
    opened = False
    while pos < n:
        m = match(text, pos)
        if m is None:  # pragma: no cover - the pattern has a catch-all
            raise HclError("unreadable text", line)
        kind = m.lastgroup or "other"
        end = m.end()
        if kind == "tstring":  # a string holding ${...}: scan it with nesting
            end = _scan_template(text, pos, line)
            kind = "string"
        elif kind == "heredoc":
            marker = m.group(0).lstrip("<-").strip()
            close = re.compile(r"^[ \t]*" + re.escape(marker) + r"[ \t]*$", re.M)
            cm = close.search(text, end)
            if cm is None:
                raise HclError(f"heredoc {marker} is not closed", line)
            end = cm.end()
        chunk = text[pos:end]
        if kind not in ("ws", "comment"):
            out.append(_Tok(kind, chunk, line, pos, end))
        elif kind == "comment" and "\n" in chunk:
            out.append(_Tok("nl", "\n", line, pos, end))
            kind = "nl"
        line += chunk.count("\n")
        pos = end
        if one_item:
            if chunk in ("{", "[", "("):
                depth += 1
                opened = True
            elif chunk in ("}", "]", ")"):
                depth -= 1
            closed = opened and chunk == "}"
            if depth == 0 and ((kind == "nl" and len(out) > 1) or closed) and (closed or not _only_labels(out)):
                break
    out.append(_Tok("eof", "", line, pos, pos))
    return out


def _only_labels(out: list[_Tok]) -> bool:
    """The item so far is a block head still waiting for its brace (labels on their own line)."""
    return all(t.kind in ("ident", "string", "nl") for t in out)


def _scan_template(text: str, pos: int, line: int) -> int:
    i = pos + 1
    n = len(text)
    depth = 0
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if depth == 0:
            if ch == '"':
                return i + 1
            if ch == "\n":
                break
            if text.startswith("${", i) or text.startswith("%{", i):
                depth = 1
                i += 2
                continue
        else:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == '"':  # a string inside the interpolation
                j = i + 1
                while j < n and text[j] != '"':
                    j += 2 if text[j] == "\\" else 1
                i = j
        i += 1
    raise HclError("string is not closed", line)


def _decode_string(tok: _Tok) -> str:
    body = tok.text[1:-1]
    if "%{" in body or "$${" in body or "%%{" in body:
        raise _Fallback
    if "${" in body:
        # only templates whose interpolations are plain references are read here
        for m in re.finditer(r"\$\{([^}]*)\}", body):
            if not _SIMPLE_REF.match(m.group(1)):
                raise _Fallback
    if "\\" not in body:
        return body

    def one(m: re.Match[str]) -> str:
        esc = m.group(1)
        simple = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
        if esc in simple:
            return simple[esc]
        if esc[0] in "uU" and len(esc) > 1:
            return chr(int(esc[1:], 16))
        raise _Fallback

    return _ESCAPES.sub(one, body)


class _Reader:
    def __init__(self, tokens: list[_Tok]):
        self.t = tokens
        self.i = 0

    def peek(self) -> _Tok:
        return self.t[self.i]

    def next(self) -> _Tok:
        tok = self.t[self.i]
        self.i += 1
        return tok

    def skip_nl(self) -> None:
        while self.t[self.i].kind == "nl":
            self.i += 1

    def expect(self, text: str) -> _Tok:
        tok = self.next()
        if tok.text != text:
            raise HclError(f"expected '{text}', found '{tok.text or 'end of file'}'", tok.line)
        return tok

    # -- bodies --------------------------------------------------------------------------------

    def body(self, out: dict[str, Any], closing: str | None) -> None:
        while True:
            self.skip_nl()
            tok = self.peek()
            if closing is not None and tok.text == closing:
                self.next()
                return
            if tok.kind == "eof":
                if closing is not None:
                    raise HclError("a block is not closed", tok.line)
                return
            if tok.kind != "ident":
                raise HclError(f"unexpected '{tok.text}'", tok.line)
            self.item(out)

    def item(self, out: dict[str, Any]) -> None:
        name = self.next()
        nxt = self.peek()
        if nxt.text == "=":
            self.next()
            out[name.text] = self.value(("nl", "}", "eof"))
            self.end_of_line()
            return
        labels: list[str] = []
        while self.peek().kind in ("string", "ident"):
            tok = self.next()
            labels.append(_decode_string(tok) if tok.kind == "string" else tok.text)
        self.expect("{")
        inner: dict[str, Any] = {}
        self.body(inner, "}")
        node: Any = inner
        for label in reversed(labels):
            node = {label: node}
        out.setdefault(name.text, []).append(node)

    def end_of_line(self) -> None:
        tok = self.peek()
        if tok.kind == "nl":
            self.next()
        elif tok.text == "}" or tok.kind == "eof":
            return
        else:
            raise _Fallback  # something follows the value on its line (an operator, ...)

    # -- values --------------------------------------------------------------------------------

    def value(self, stops: tuple[str, ...]) -> Any:
        tok = self.next()
        if tok.kind == "string":
            result: Any = _decode_string(tok)
        elif tok.kind == "number":
            result = _number(tok.text)
        elif tok.text == "-" and self.peek().kind == "number":
            result = -_number(self.next().text)
        elif tok.kind == "ident" and tok.text in ("true", "false", "null"):
            result = {"true": True, "false": False, "null": None}[tok.text]
            if self.peek().text in (".", "["):
                raise _Fallback
        elif tok.kind == "ident":
            result = self.reference(tok)
        elif tok.text == "[":
            result = self.list_value()
        elif tok.text == "{":
            result = self.object_value()
        elif tok.kind == "heredoc":
            raise _Fallback
        else:
            raise HclError(f"unexpected '{tok.text or 'end of file'}'", tok.line)
        nxt = self.peek()
        if nxt.kind in stops or nxt.text in stops or nxt.text in (",", "]", "}"):
            return result
        raise _Fallback  # an operator, a conditional, a call...

    def reference(self, first: _Tok) -> str:
        if first.text == "for" or self.peek().text == "(":
            raise _Fallback
        start = first.start
        end = first.end
        while True:
            tok = self.peek()
            if (tok.text == "." and self.t[self.i + 1].kind in ("ident", "number")) or (
                tok.text == "." and self.t[self.i + 1].text == "*"
            ):
                self.next()
                end = self.next().end
                continue
            if tok.text == "[":
                a, b = self.t[self.i + 1], self.t[self.i + 2]
                if (a.kind == "number" and b.text == "]") or (a.text == "*" and b.text == "]"):
                    self.i += 3
                    end = b.end
                    continue
                raise _Fallback
            break
        text = self.text[start:end]
        if not _SIMPLE_REF.match(text):
            raise _Fallback
        return "${" + text + "}"

    text: str = ""

    def list_value(self) -> list[Any]:
        out: list[Any] = []
        while True:
            self.skip_nl()
            if self.peek().text == "]":
                self.next()
                return out
            if self.peek().kind == "ident" and self.peek().text == "for":
                raise _Fallback
            out.append(self.value(("nl",)))
            self.skip_nl()
            tok = self.next()
            if tok.text == "]":
                return out
            if tok.text != ",":
                raise _Fallback

    def object_value(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while True:
            self.skip_nl()
            tok = self.next()
            if tok.text == "}":
                return out
            if tok.kind == "ident" and tok.text == "for":
                raise _Fallback
            if tok.kind == "string":
                key = _decode_string(tok)
            elif tok.kind in ("ident", "number"):
                key = tok.text
            else:
                raise _Fallback
            sep = self.next()
            if sep.text not in ("=", ":"):
                raise _Fallback
            out[key] = self.value(("nl",))
            if self.peek().text == ",":
                self.next()


def _number(text: str) -> int | float:
    if any(c in text for c in ".eE"):
        return float(text)
    return int(text)


def _label_key(kind: str, labels: list[str]) -> str | None:
    if kind in ("resource", "data") and len(labels) >= 2:
        return f"{labels[0]}.{labels[1]}" if kind == "resource" else f"data.{labels[0]}.{labels[1]}"
    if labels:
        return f"{kind}.{labels[0]}"
    return None


_BLOCK_OPEN = re.compile(r'^([A-Za-z_][A-Za-z0-9_-]*)((?:\s+(?:"[^"\\$]*"|[A-Za-z_][A-Za-z0-9_-]*))*)\s*\{$')
_LABEL = re.compile(r'"([^"\\$]*)"|([A-Za-z_][A-Za-z0-9_-]*)')
_ATTR = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(.+)$")
_OBJ_ATTR = re.compile(r'^([A-Za-z_][A-Za-z0-9_-]*|"[^"\\$]*")\s*[=:]\s*(.+?),?$')
_JSONISH = re.compile(r'^(?:"|-?[0-9]|true$|false$|null$|\[|\{\}$)')


_CONSTANTS = {"true": True, "false": False, "null": None}


def _fast_value(raw: str) -> Any:
    first = raw[0]
    if first == '"' and raw[-1] == '"' and len(raw) > 1:
        inner = raw[1:-1]
        if '"' not in inner and "\\" not in inner and "$" not in inner and "%{" not in inner:
            return inner
    elif raw.isascii() and raw.isdigit():  # HCL's digits are ASCII (str.isdigit takes '²', '٣')
        return int(raw)
    elif raw in _CONSTANTS:
        return _CONSTANTS[raw]
    if _JSONISH.match(raw):
        try:
            value = json.loads(raw)
        except ValueError:
            raise _Fallback from None
        _check_strings(value)
        return value
    if _SIMPLE_REF.match(raw) and raw not in ("true", "false", "null"):
        return "${" + raw + "}"
    raise _Fallback


def _check_strings(value: Any) -> None:
    if isinstance(value, str):
        if "${" in value or "%{" in value or "\\" in value or "$${" in value:
            if "%{" in value or "$${" in value:
                raise _Fallback
            for m in re.finditer(r"\$\{([^}]*)\}", value):
                if not _SIMPLE_REF.match(m.group(1)):
                    raise _Fallback
    elif isinstance(value, list):
        for v in value:
            if isinstance(v, (list, dict)):
                raise _Fallback
            _check_strings(v)
    elif isinstance(value, dict) and value:
        raise _Fallback


def _labels(rest: str) -> list[str]:
    return [m.group(1) if m.group(1) is not None else m.group(2) for m in _LABEL.finditer(rest)]


def _wrap(labels: list[str], body: dict[str, Any]) -> Any:
    node: Any = body
    for label in reversed(labels):
        node = {label: node}
    return node


def _fast_block(lines: list[str], i: int) -> tuple[str, Any, int]:
    """The top-level block opening on line ``i`` read line by line: (type, node, next line index)."""
    m = _BLOCK_OPEN.match(lines[i].strip())
    if m is None:
        raise _Fallback
    root: dict[str, Any] = {}
    stack: list[tuple[bool, dict[str, Any]]] = [(True, root)]  # (is a block body, container)
    j = i + 1
    n = len(lines)
    while stack:
        if j >= n:
            raise _Fallback
        s = lines[j].strip()
        j += 1
        if not s or s[0] == "#" or s.startswith("//"):
            continue
        is_block, container = stack[-1]
        if s == "}" or (not is_block and s == "},"):
            stack.pop()
            continue
        if is_block:
            bm = _BLOCK_OPEN.match(s) if s[-1] == "{" else None
            if bm is not None and bm.group(1) not in ("true", "false", "null"):
                inner: dict[str, Any] = {}
                container.setdefault(bm.group(1), []).append(_wrap(_labels(bm.group(2)), inner))
                stack.append((True, inner))
                continue
            am = _ATTR.match(s)
        else:
            am = _OBJ_ATTR.match(s)
        if am is None:
            raise _Fallback
        key, raw = am.group(1), am.group(2).strip()
        if key.startswith('"'):
            key = key[1:-1]
        if raw == "{":
            obj: dict[str, Any] = {}
            container[key] = obj
            stack.append((False, obj))
            continue
        container[key] = _fast_value(raw)
    return m.group(1), _wrap(_labels(m.group(2)), root), j


def parse(text: str) -> Parsed:
    """The document python-hcl2 gives for ``text`` (serialized with strip_string_quotes), plus lines.

    Line by line for plain blocks; the token reader (and, under it, python-hcl2) for the rest."""
    lines = text.split("\n")
    offsets = [0] * (len(lines) + 1)
    total = 0
    for k, ln in enumerate(lines):
        offsets[k] = total
        total += len(ln) + 1
    offsets[len(lines)] = len(text)
    result = Parsed({})
    data = result.data
    i = 0
    n = len(lines)
    while i < n:
        s = lines[i].strip()
        if not s or s[0] == "#" or s.startswith("//"):
            i += 1
            continue
        m = _BLOCK_OPEN.match(s)
        if m is not None:
            key = _label_key(m.group(1), _labels(m.group(2)))
            if key is not None:
                result.lines.setdefault(key, i + 1)
            try:
                kind, node, i = _fast_block(lines, i)
                data.setdefault(kind, []).append(node) if isinstance(data.get(kind, []), list) else None
                continue
            except _Fallback:
                pass
        # the token reader for this one item (a block with expressions, an attribute, a comment...)
        tokens = _tokens(text, offsets[i], i + 1, one_item=True)
        end_pos = tokens[-1].start
        scratch = _read_item(tokens, text, i + 1, result)
        for name, value in scratch.items():
            if isinstance(value, list) and name in data and isinstance(data[name], list):
                data[name].extend(value)
            else:
                data[name] = value
        while i < n and offsets[i + 1] <= end_pos:
            i += 1
        if i < n and offsets[i] < end_pos:
            i += 1
    return result


def _read_item(tokens: list[_Tok], text: str, line: int, result: Parsed) -> dict[str, Any]:
    reader = _Reader(tokens)
    reader.text = text
    reader.skip_nl()
    scratch: dict[str, Any] = {}
    if reader.peek().kind == "eof":
        return scratch
    if reader.peek().kind != "ident":
        tok = reader.peek()
        raise HclError(f"unexpected '{tok.text}'", tok.line)
    try:
        reader.item(scratch)
    except _Fallback:
        first = next(t for t in tokens if t.kind != "nl")
        last = tokens[-2] if len(tokens) > 1 else first
        scratch = _slow(text[first.start : last.end], first.line)
        result.fallback_blocks += 1
    return scratch


def _block_end(tokens: list[_Tok], i: int) -> int:
    """Index after the top-level item starting at ``i`` (a block to its closing brace, or an attribute line)."""
    depth = 0
    j = i
    seen_brace = False
    while tokens[j].kind != "eof":
        t = tokens[j]
        if t.text in ("{", "[", "("):
            depth += 1
            seen_brace = seen_brace or t.text == "{"
        elif t.text in ("}", "]", ")"):
            depth -= 1
            if depth == 0 and seen_brace and t.text == "}":
                return j + 1
        elif t.kind == "nl" and depth == 0 and j > i and not _opens_block(tokens, i, j):
            return j
        j += 1
    return j


def _opens_block(tokens: list[_Tok], i: int, j: int) -> bool:
    return all(tokens[k].kind in ("ident", "string") for k in range(i, j))


def _slow(snippet: str, line: int) -> dict[str, Any]:
    import hcl2

    options = hcl2.SerializationOptions(
        with_comments=False, explicit_blocks=False, strip_string_quotes=True, preserve_heredocs=True
    )
    try:
        data = dict(hcl2.loads(snippet + "\n", serialization_options=options))
        return _heredocs_read(data, snippet) if "<<" in snippet else data
    except Exception as exc:  # lark's UnexpectedInput family and hcl2's own errors
        inner = int(getattr(exc, "line", 0) or 0)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        first = re.sub(r"\s*at line \d+, column \d+\.?$", "", first)
        raise HclError(first, line + max(0, inner - 1)) from None


_HEREDOC_VALUE = re.compile(r"<<(-?)([A-Za-z_][A-Za-z0-9_]*)\n(.*?)[ \t]*\2\Z", re.S)


def _heredocs_read(value: Any, source: str) -> Any:
    """python-hcl2's heredocs (kept as written) as HCL reads them, as conftest's hcl2json gives
    them: the lines between the markers, each ending with its newline (python-hcl2's own reading
    drops the last one), and for ``<<-`` without the indentation all lines share. Only a value that
    stands in the source as written is one (a quoted string holding the same text would show its
    escapes there)."""
    if isinstance(value, dict):
        return {k: _heredocs_read(v, source) for k, v in value.items()}
    if isinstance(value, list):
        return [_heredocs_read(v, source) for v in value]
    if not isinstance(value, str) or not value.startswith("<<") or value not in source:
        return value
    m = _HEREDOC_VALUE.match(value)
    if m is None:
        return value
    flush, _marker, body = m.groups()
    if flush:
        lines = body.split("\n")
        indents = [len(ln) - len(ln.lstrip(" \t")) for ln in lines if ln.strip()]
        cut = min(indents) if indents else 0
        body = "\n".join(ln[cut:] for ln in lines)
    return body


def to_json(parsed: Parsed) -> str:
    return json.dumps(parsed.data, sort_keys=True)
