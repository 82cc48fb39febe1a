"""The audit hash chain: sealing records and verifying a stream of lines.

Pure code over bytes and dicts, no files: the local log (``audit/log.py``) and
any other storage (S3 with Object Lock, GCS with a retention policy) share it.

A record is a JSON object. Sealing adds five reserved fields to the caller's
fields::

    format     int, the record format (``FORMAT``; a verifier refuses newer ones)
    seq        int, 1-based and consecutive
    ts         RFC 3339 UTC time of the append, e.g. "2026-11-26T03:15:00.123456Z"
    prev_hash  the previous record's ``hash``; 64 zeros for seq 1
    hash       sha256 hex of the *canonical JSON of the record without hash*

Canonical JSON is ``json.dumps(record, sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`` encoded as UTF-8. Because it includes ``prev_hash`` the
chain covers the order of records, not only their contents.

On disk one record is one line: the canonical bytes with the ``hash`` member
spliced in as the last member, then ``\\n``::

    {"actor":"octocat",...,"ts":"...","hash":"<64 hex>"}\\n
    '-------- canonical body minus its final "}" ------' '-- 76-byte tail --'

so a verifier can check the hash on the exact stored bytes (the line minus its
76-byte tail, plus ``}``) without re-serialising every record. A line in any
other layout (reformatted by a tool, say) is still accepted when its content
re-canonicalises to its hash.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from deployforge.errors import InputError

FORMAT = 1
ZERO_HASH = "0" * 64
RESERVED = ("format", "seq", "ts", "prev_hash", "hash")
# Optional chain fields: ``sig`` is the writer's signature over the record's own checkpoint
# (``audit/signing.py``), present in logs written with a signing key.
OPTIONAL_RESERVED = ("sig",)

_HASH_KEY = b',"hash":"'
_TAIL_LEN = len(_HASH_KEY) + 64 + len(b'"}\n')  # 76
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@dataclass(frozen=True)
class ChainPoint:
    """A position in a chain: the last record's ``seq`` and ``hash`` (``GENESIS`` before any)."""

    seq: int
    hash: str


GENESIS = ChainPoint(0, ZERO_HASH)


@dataclass(frozen=True)
class BadRecord:
    """The first record that failed verification; ``line`` is 1-based, ``seq`` None when unreadable."""

    line: int
    seq: int | None
    reason: str


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of verifying a chain.

    ``records`` counts the records that verified (all of them when ``ok``);
    ``last`` is the last good record's position, which a team can note down or
    publish as an external anchor for the log.
    """

    ok: bool
    records: int
    first_bad: BadRecord | None = None
    last: ChainPoint = GENESIS


class BadLine(Exception):
    """Raised by ``parse_line`` for a line that is not a sound record; ``str()`` is the reason."""

    def __init__(self, reason: str, seq: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.seq = seq


def canonical(record: dict[str, Any]) -> bytes:
    """The canonical JSON bytes of ``record`` (which must not contain ``hash``)."""
    return _ENCODER.encode(record).encode("utf-8")


def _clean(value: Any, redact: Callable[[str], str] | None, where: str) -> Any:
    if isinstance(value, str):
        if redact is not None:
            value = redact(value)
            if not isinstance(value, str):
                raise InputError(f"audit redaction hook returned {type(value).__name__} for {where}, not str")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                # e.g. undecodable bytes in sys.argv arrive as lone surrogates
                value = value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(f"audit field {where} is {value!r}; JSON has no NaN or infinity")
        return value
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InputError(f"audit field {where} has a non-string key {key!r}")
            clean_key = _clean(key, redact, f"{where} key")
            if clean_key in out:
                raise InputError(f"audit field {where}: two keys are equal after redaction")
            out[clean_key] = _clean(item, redact, f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [_clean(item, redact, f"{where}[{i}]") for i, item in enumerate(value)]
    raise InputError(
        f"audit field {where} is a {type(value).__name__}; records hold only JSON values",
        hint="convert it to str, int, float, bool, None, list or dict before appending",
    )


def prepare(fields: dict[str, Any], redact: Callable[[str], str] | None = None) -> dict[str, Any]:
    """Validate the caller's fields and apply ``redact`` to every string (keys included)."""
    if not isinstance(fields, dict):
        raise InputError(f"audit fields must be a dict, not {type(fields).__name__}")
    taken = [key for key in RESERVED + OPTIONAL_RESERVED if key in fields]
    if taken:
        raise InputError(f"audit fields may not set the reserved key(s) {', '.join(taken)}")
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if not isinstance(key, str):
            raise InputError(f"audit field name {key!r} is not a string")
        clean_key = _clean(key, redact, "name")
        if clean_key in RESERVED or clean_key in OPTIONAL_RESERVED or clean_key in out:
            raise InputError(f"audit field {key!r} collides with another field after redaction")
        out[clean_key] = _clean(value, redact, key)
    return out


def content_digest(record: dict[str, Any]) -> str:
    """sha256 hex of the canonical JSON of ``record`` without ``hash`` and ``sig``: what a record's
    signature covers (with its seq and the log id, ``audit/signing.py``)."""
    return hashlib.sha256(canonical({k: v for k, v in record.items() if k not in ("hash", "sig")})).hexdigest()


def seal(
    fields: dict[str, Any], prev: ChainPoint, ts: str, sign: Callable[[int, str], str] | None = None
) -> tuple[dict[str, Any], bytes]:
    """Chain prepared ``fields`` after ``prev``; returns the full record and its line (with ``\\n``).

    ``sign(seq, content_digest)``: the signature the record carries in ``sig``
    (logs with a signing key); the record's ``hash`` then covers it too.
    """
    record = dict(fields)
    record["format"] = FORMAT
    record["seq"] = prev.seq + 1
    record["ts"] = ts
    record["prev_hash"] = prev.hash
    if sign is not None:
        record["sig"] = sign(record["seq"], hashlib.sha256(canonical(record)).hexdigest())
    body = canonical(record)
    digest = hashlib.sha256(body).hexdigest()
    record["hash"] = digest
    return record, body[:-1] + _HASH_KEY + digest.encode("ascii") + b'"}\n'


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


_JSON_TYPES = {
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def structure_problem(record: Any) -> str | None:
    """Why a parsed line is not a record of a known format, or None when it is one."""
    if type(record) is not dict:
        return f"not a JSON object (a JSON {_JSON_TYPES.get(type(record), 'value')})"
    fmt = record.get("format")
    if "format" not in record:
        return "not an audit record (no 'format' field)"
    if type(fmt) is int and fmt > FORMAT:
        return f"written by a newer DeployForge (format {fmt}); upgrade DeployForge to verify this log"
    if fmt != FORMAT or type(fmt) is not int:
        return f"unknown record format {fmt!r}"
    missing = [key for key in RESERVED if key not in record]
    if missing:
        return f"missing field(s) {', '.join(missing)}"
    if type(record["seq"]) is not int or record["seq"] < 1:
        return f"'seq' is {record['seq']!r}, not a positive integer"
    for key in ("prev_hash", "hash"):
        value = record[key]
        if type(value) is not str or len(value) != 64:
            return f"'{key}' is not a 64-character hex digest"
    if type(record["ts"]) is not str:
        return "'ts' is not a string"
    if "sig" in record and type(record["sig"]) is not str:
        return "'sig' is not a string"
    return None


def _content_hash(record: dict[str, Any]) -> str | None:
    """The hash of a record's content re-canonicalised (for lines not in the stored layout)."""
    body = {key: value for key, value in record.items() if key != "hash"}
    try:
        return hashlib.sha256(canonical(body)).hexdigest()
    except ValueError:  # NaN / Infinity tokens, which the writer never produces
        return None


def loads_line(line: bytes) -> Any:
    """``json.loads`` that turns every failure into ``BadLine``."""
    try:
        return json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadLine("not valid UTF-8 (binary data)") from None
    except json.JSONDecodeError as exc:
        raise BadLine(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise BadLine("not valid JSON (nested too deeply)") from None
    except ValueError as exc:  # e.g. an integer too long to convert
        raise BadLine(f"not valid JSON ({exc})") from None


def parse_line(line: bytes) -> dict[str, Any]:
    """Parse and self-check one stored line (with or without its ``\\n``); raise ``BadLine``.

    Checks structure, format and that the hash recomputes; not the chain link,
    which needs the previous record.
    """
    if not line.endswith(b"\n"):
        line += b"\n"
    if not line.strip():
        raise BadLine("empty line")
    record = loads_line(line)
    problem = structure_problem(record)
    if problem:
        raise BadLine(problem, _int(record.get("seq")) if type(record) is dict else None)
    digest = hashlib.sha256(line[:-_TAIL_LEN] + b"}").hexdigest()
    stored_layout = line[-_TAIL_LEN:] == _HASH_KEY + digest.encode("ascii") + b'"}\n'
    if not (stored_layout and record["hash"] == digest) and _content_hash(record) != record["hash"]:
        raise BadLine("modified: its hash does not match its content", record["seq"])
    return record


def verify_lines(
    lines: Iterable[bytes],
    *,
    start: ChainPoint = GENESIS,
    witness: ChainPoint | None = None,
    first_line: int = 1,
) -> VerifyReport:
    """Verify a stream of stored lines (each ending in ``\\n`` except perhaps the last).

    ``start`` is the point the first record must follow (``GENESIS`` for a whole
    log). ``witness`` is a point the chain must pass through, e.g. the head
    sidecar: the record with ``witness.seq`` must have ``witness.hash``;
    whether the stream got that far is the caller's check (compare it with
    ``report.last``). ``first_line`` numbers the first line. Stops at the first
    bad record and never raises on bad input.
    """
    loads = json.loads
    sha256 = hashlib.sha256
    hash_key = _HASH_KEY
    tail_len = _TAIL_LEN
    known_format = FORMAT
    witness_seq = witness.seq if witness is not None else -1
    it: Iterator[bytes] = iter(lines)
    lineno = first_line - 1
    prev_seq, prev_hash = start.seq, start.hash
    count = 0

    def report(reason: str, seq: int | None) -> VerifyReport:
        return VerifyReport(False, count, BadRecord(lineno, seq, reason), ChainPoint(prev_seq, prev_hash))

    for line in it:
        lineno += 1
        # -- hot path: a sound line in the stored layout, linking to the previous one -------------
        try:
            record = loads(line.decode("utf-8"))
        except (ValueError, RecursionError):
            record = None
        if type(record) is dict and type(fmt := record.get("format")) is int and fmt == known_format:
            digest = sha256(line[:-tail_len] + b"}").hexdigest()
            seq = record.get("seq")
            if (
                line[-tail_len:] == hash_key + digest.encode("ascii") + b'"}\n'
                and record.get("hash") == digest
                and record.get("prev_hash") == prev_hash
                and type(seq) is int
                and seq == prev_seq + 1
                and type(record.get("ts")) is str
            ):
                prev_seq = seq
                prev_hash = digest
                count += 1
                if seq == witness_seq and digest != witness.hash:  # type: ignore[union-attr]
                    return report(_WITNESS_MISMATCH, seq)
                continue
        # -- slow path: find out exactly what is wrong (or accept another layout) -----------------
        if not line.endswith(b"\n"):
            return report(_INCOMPLETE, None)
        try:
            record = parse_line(line)
        except BadLine as bad:
            return report(bad.reason, bad.seq)
        seq = record["seq"]
        if seq > prev_seq + 1:
            following = next(it, None)
            if following is not None and _seq_of(following) == prev_seq + 1:
                return report(f"reordered: seq {seq} comes before seq {prev_seq + 1}", seq)
            if prev_seq == 0:
                return report(f"record(s) removed before seq {seq} (the log should start at seq 1)", seq)
            return report(f"record(s) removed before seq {seq} (after seq {prev_seq})", seq)
        if seq <= prev_seq:
            return report(f"reordered: seq {seq} comes after seq {prev_seq}", seq)
        if record["prev_hash"] != prev_hash:
            return report(
                "its prev_hash does not match the previous record's hash (the previous record was "
                "replaced, or records were reordered)",
                seq,
            )
        prev_seq = seq
        prev_hash = record["hash"]
        count += 1
        if seq == witness_seq and prev_hash != witness.hash:  # type: ignore[union-attr]
            return report(_WITNESS_MISMATCH, seq)
    return VerifyReport(True, count, None, ChainPoint(prev_seq, prev_hash))


_INCOMPLETE = "incomplete last line (no newline at the end of the file): a write was interrupted"
_WITNESS_MISMATCH = "modified or replaced: it does not match the head file (the log was rewritten from this record on)"


def verify_slice(
    lines: Iterable[bytes], *, witness: ChainPoint | None = None
) -> tuple[ChainPoint | None, VerifyReport]:
    """Verify a slice of a log whose predecessor is unknown (for verifying slices in parallel).

    Returns the point the slice's first record links to (None when that line
    is unsound) and the report for the slice, lines numbered from 1. The
    caller stitches: each slice's start must equal the previous slice's
    ``report.last``; on any mismatch or bad slice it re-verifies sequentially
    from that slice with ``verify_lines`` so the report is exactly the
    sequential one.
    """
    it = iter(lines)
    first = next(it, None)
    if first is None:
        return None, VerifyReport(True, 0)
    if not first.endswith(b"\n"):
        return None, VerifyReport(False, 0, BadRecord(1, None, "incomplete line"))
    try:
        record = parse_line(first)
    except BadLine as bad:
        return None, VerifyReport(False, 0, BadRecord(1, bad.seq, bad.reason))
    start = ChainPoint(record["seq"] - 1, record["prev_hash"])
    return start, verify_lines(itertools.chain((first,), it), start=start, witness=witness)


def _seq_of(line: bytes) -> int | None:
    try:
        record = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    return _int(record.get("seq")) if type(record) is dict else None
