"""`audit verify` in full: the hash chain, the signed checkpoints, the witness; and what was NOT checked.

``verify_log(log, verifier=..., witness=...)`` returns a ``Verdict`` that lists,
one line each, what it checked and what it could not check, so the command
never says "intact" about something it did not look at.

Cost: one hash walk over the log (``chain.verify_lines``), then ONE signature
check: the head's signature over the last record's checkpoint covers every
earlier record through the chain. Only when that fails does it look at the
per-record ``sig`` signatures, a few dozen of them (a galloping then
binary search from the end), to name the first record no valid signature
covers. The reasoning is in docs/audit.md (Signed checkpoints).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deployforge.audit.chain import BadRecord, VerifyReport, content_digest
from deployforge.audit.signing import RECORD, Checkpoint, Verifier


@dataclass
class Verdict:
    """What ``audit verify`` found: ``ok`` only when everything it checked held."""

    location: str
    records: int
    ok: bool = True
    first_bad: BadRecord | None = None
    checked: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
    signed_through: int | None = None  # records 1..N covered by a valid signature
    keyid: str | None = None
    witness_seq: int | None = None

    def fail(self, line: int, seq: int | None, reason: str) -> None:
        if self.ok:
            self.ok = False
            self.first_bad = BadRecord(line, seq, reason)

    def to_json(self) -> dict[str, Any]:
        bad = self.first_bad
        return {
            "ok": self.ok,
            "records": self.records,
            "path": self.location,
            "first_bad": None if bad is None else {"line": bad.line, "seq": bad.seq, "reason": bad.reason},
            "checked": self.checked,
            "not_checked": self.not_checked,
            "signed_through": self.signed_through,
            "keyid": self.keyid,
            "witness_seq": self.witness_seq,
        }


def verify_log(log: Any, *, verifier: Verifier | None, witness: Any = None, allow_empty: bool = False) -> Verdict:
    """Verify ``log`` (an ``AuditLog`` or ``ObjectLog``) against a public key and a witness, as given."""
    from deployforge.errors import StateError

    try:
        signed_head: Checkpoint | None = log.head_checkpoint()
    except StateError as exc:  # a head file that is not one: say so, like any other damage
        verdict = Verdict(log.describe(), 0)
        verdict.fail(0, None, exc.message)
        verdict.not_checked.append("the chain, signatures and witness: the head file cannot be read")
        return verdict
    strict = verifier is not None or signed_head is not None
    if not strict:  # no signed head: is the log signed all the same (its last checkpoint lost or forged)?
        first = log.first_record()
        strict = first is not None and "sig" in first
    # a signed log: walk the chain alone, and let the signatures say where a rewrite starts
    report: VerifyReport = log.verify(head_check=not strict)
    verdict = Verdict(log.describe(), report.records)
    if not report.ok:
        bad = report.first_bad
        assert bad is not None
        verdict.fail(bad.line, bad.seq, bad.reason)
        verdict.checked.append(f"hash chain: broken at record {bad.seq if bad.seq is not None else '?'}")
        verdict.not_checked.append("signatures and witness: not checked past a broken chain")
        return verdict
    verdict.checked.append(
        f"hash chain: {report.records} record{'s' if report.records != 1 else ''}, each one's hash and its "
        "link to the one before recomputed"
    )
    if strict:
        _check_head_position(log, verdict, report, signed_head)
        if verdict.ok:
            _check_signatures(log, verdict, report, verifier, signed_head, allow_empty=allow_empty)
    else:
        verdict.not_checked.append(
            "who wrote it: the log is not signed, so anyone who can write the file could have rewritten "
            "the chain (set audit.signing, docs/audit.md)"
        )
    if witness is not None:
        _check_witness(log, verdict, report, verifier, witness)
    elif verdict.ok:
        verdict.not_checked.append(
            "truncation or rollback to an older copy: no witness given (--witness s3://...)"
            if report.records
            else "whether records were wiped: no witness given (--witness s3://...)"
        )
    return verdict


def _check_head_position(log: Any, verdict: Verdict, report: VerifyReport, head: Checkpoint | None) -> None:
    """The head file's checkpoint against the chain: ahead of the log means records were removed."""
    if head is None:
        return
    end = report.last
    if head.seq > end.seq:
        removed = head.seq - end.seq
        verdict.fail(
            report.records + 1,
            end.seq + 1,
            f"records removed from the end: the signed head says the log ends at seq {head.seq}, it ends at "
            f"seq {end.seq} ({removed} record{'s' if removed != 1 else ''} missing)",
        )


def _check_signatures(
    log: Any,
    verdict: Verdict,
    report: VerifyReport,
    verifier: Verifier | None,
    head: Checkpoint | None,
    *,
    allow_empty: bool,
) -> None:
    end = report.last
    if verifier is None:
        which = f" (key {head.keyid[:16]})" if head is not None else ""
        verdict.fail(
            report.records + 1,
            None,
            f"the log is signed{which} and no public key was given to check it",
        )
        verdict.not_checked.append("signatures: no public key (pass --public-key FILE or set audit.signing)")
        return
    verdict.keyid = verifier.keyid
    key = f"key {verifier.keyid[:16]} ({verifier.source})"
    if end.seq == 0:
        if head is not None:  # (an empty log with a head is caught by the position check)
            return
        if allow_empty:
            verdict.checked.append("signatures: the log is empty and has no signed checkpoint (--allow-empty)")
            verdict.not_checked.append("whether records were wiped: an empty log without a head looks like a new one")
            return
        verdict.fail(
            1,
            1,
            "the log is empty and has no signed checkpoint: nothing was ever recorded, or the log and its "
            "head file were wiped (check against a witness with --witness; for a new project pass --allow-empty)",
        )
        return
    log_id = _log_id(log)
    head_ok = (
        head is not None
        and head.keyid == verifier.keyid
        and head.log == log_id
        and verifier.check_checkpoint(head)
        and _hash_at(log, report, head.seq) == head.hash
    )
    if head_ok and head is not None and head.seq == end.seq:
        verdict.signed_through = end.seq
        verdict.checked.append(
            f"signature: the checkpoint of record {end.seq} is signed by {key}; through the chain it covers "
            f"records 1-{end.seq}"
        )
        return
    # find the last record whose own signature is valid (search from the end: a forgery is usually recent)
    covered = _last_signed(log, verifier, log_id, end.seq, head.seq if head_ok and head is not None else 0)
    verdict.signed_through = covered
    if head is not None and head.keyid != verifier.keyid:
        why = f"the head is signed with another key ({head.keyid[:16]}): if that is the right key, pass its public key"
    elif head is None:
        why = "the head file holds no signature"
    elif not head_ok:
        why = "the head file's signature does not verify"
    else:
        why = f"the signed head ends at record {head.seq}"
    if covered == end.seq:
        # every record is signed, but no valid head says the log ends here
        verdict.fail(
            report.records + 1,
            end.seq + 1,
            f"the log ends at seq {end.seq}, but {why}: records were removed from the end and the head file "
            "rewritten (or the last write was cut short before its head)",
        )
    else:
        verdict.fail(
            covered + 1,
            covered + 1,
            f"not signed by {key} ({why}): this record and the ones after it were appended, edited or "
            "re-chained without the signing key",
        )
    verdict.checked.append(
        f"signatures: records 1-{covered} are covered by a valid signature of {key}"
        if covered
        else f"signatures: no record is covered by a valid signature of {key}"
    )


def _log_id(log: Any) -> str:
    first = log.first_record()  # one line read, not an index of the whole log
    return content_digest(first) if first else ""


def _hash_at(log: Any, report: VerifyReport, seq: int) -> str | None:
    if seq == report.last.seq:
        return report.last.hash
    record = log.record_at(seq)
    return str(record["hash"]) if record else None


def _signed(log: Any, verifier: Verifier, log_id: str, seq: int) -> bool:
    """Whether record ``seq`` carries a valid signature over its own content."""
    record = log.record_at(seq)
    if record is None or type(record.get("sig")) is not str:
        return False
    return verifier.check(RECORD, log_id, seq, content_digest(record), record["sig"])


def _last_signed(log: Any, verifier: Verifier, log_id: str, last: int, floor: int) -> int:
    """The highest seq (> ``floor``, <= ``last``) whose record signature is valid, or ``floor``.

    Gallops back from the end (1, 2, 4, ... records) to a validly signed
    record, then binary-searches between it and the invalid one above it:
    O(log n) signature checks. A valid signature on record j vouches for
    records 1..j (its content holds ``prev_hash``), so the answer is sound;
    records above it are reported as not covered.
    """
    high = last + 1  # known invalid (or past the end)
    low = floor
    step = 0
    while True:
        probe = last - step
        if probe <= floor:
            break
        if _signed(log, verifier, log_id, probe):
            low = probe
            break
        high = probe
        step = step * 2 if step else 1
    while high - low > 1:
        middle = (low + high) // 2
        if _signed(log, verifier, log_id, middle):
            low = middle
        else:
            high = middle
    return low


def _check_witness(log: Any, verdict: Verdict, report: VerifyReport, verifier: Verifier | None, witness: Any) -> None:
    """The log against the newest checkpoint the witness holds (see ``audit/witness.py``)."""
    from deployforge.audit.witness import compare

    compare(log, verdict, report, verifier, witness)
