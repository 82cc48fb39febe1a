"""Signed checkpoints: the seven forgeries and the wipe, which a recomputed hash chain used to hide.

The forger here can read and write every file of the log (``audit.jsonl``,
``audit.head.json``) and runs the chain code itself (``chain.seal``), but does
not hold the signing key. Each forgery first verifies clean when the log is
not signed (that is main's behaviour: exit 0, "chain intact"), and is caught
and named when it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from deployforge.audit.chain import GENESIS, ChainPoint, content_digest, seal
from deployforge.audit.log import AuditLog
from deployforge.audit.signing import (
    HEAD,
    RECORD,
    Checkpoint,
    checkpoint_message,
    public_key_from_pem,
    signer_from_pem,
)
from deployforge.audit.verify import verify_log
from deployforge.errors import StateError, UsageError


def _pem(key: object) -> bytes:
    return key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(params=["ed25519", "ecdsa-p256"])
def key_pem(request: pytest.FixtureRequest) -> bytes:
    if request.param == "ed25519":
        return _pem(ed25519.Ed25519PrivateKey.generate())
    return _pem(ec.generate_private_key(ec.SECP256R1()))


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _rechain(path: Path, records: list[dict], *, head: str = "recompute") -> None:
    """The forger: re-seal ``records`` (caller fields + the prev_sig each carried) into a fresh chain."""
    point = GENESIS
    out = []
    for record in records:
        sealed, line = seal(_fields(record), point, record["ts"], _keep_sig(record))
        point = ChainPoint(sealed["seq"], sealed["hash"])
        out.append(line)
    path.write_bytes(b"".join(out))
    _rewrite_head(path, point, head)


def _fields(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in ("format", "seq", "ts", "prev_hash", "hash", "sig")}


def _keep_sig(record: dict) -> Callable[[int, str], str] | None:
    """The forger keeps each record's old signature (it cannot make a new one)."""
    old = record.get("sig")
    return (lambda _seq, _digest: old) if isinstance(old, str) else None


def _rewrite_head(path: Path, point: ChainPoint, how: str) -> None:
    head_path = path.with_name("audit.head.json")
    old = json.loads(head_path.read_text()) if head_path.exists() else {}
    if how == "keep":
        return
    doc = {"format": 1, "seq": point.seq, "hash": point.hash}
    # the strongest try: keep the old signature fields, so the head still looks signed
    doc.update({k: old[k] for k in ("log", "keyid", "sig") if k in old})
    head_path.write_text(json.dumps(doc) + "\n")


def _append_forged(path: Path, head: str) -> None:
    records = _lines(path)
    last = records[-1]
    sealed, line = seal(
        {"kind": "run", "command": "apply", "actor": "mallory"},
        ChainPoint(last["seq"], last["hash"]),
        last["ts"],
        _keep_sig(last),  # the last genuine signature, for what it is worth
    )
    with open(path, "ab") as fh:
        fh.write(line)
    _rewrite_head(path, ChainPoint(sealed["seq"], sealed["hash"]), head)


def forge_append_keep_head(path: Path) -> None:
    _append_forged(path, "keep")


def forge_append_rewrite_head(path: Path) -> None:
    _append_forged(path, "recompute")


def forge_edit_middle(path: Path) -> None:
    records = _lines(path)
    records[4]["outcome"] = "ok (was: error)"
    _rechain(path, records)


def forge_delete_middle(path: Path) -> None:
    records = _lines(path)
    del records[4]
    _rechain(path, records)


def forge_insert_middle(path: Path) -> None:
    records = _lines(path)
    records.insert(4, {"kind": "run", "command": "apply", "actor": "mallory", "ts": records[4]["ts"]})
    _rechain(path, records)


def forge_rewrite_all(path: Path) -> None:
    records = [{"kind": "run", "command": "validate", "i": i, "ts": "2026-01-01T00:00:00.000000Z"} for i in range(8)]
    _rechain(path, records)


def forge_drop_last(path: Path) -> None:
    records = _lines(path)[:-1]
    path.write_bytes(b"".join(_stored(records)))
    last = records[-1]
    head = ChainPoint(last["seq"], last["hash"])
    _rewrite_head(path, head, "recompute")
    # and the cleverest head: the last remaining checkpoint's genuine signature, taken from the dropped record
    dropped_sig = forge_drop_last.dropped_sig  # type: ignore[attr-defined]
    if dropped_sig is None:
        return
    doc = json.loads(path.with_name("audit.head.json").read_text())
    doc["sig"] = dropped_sig
    path.with_name("audit.head.json").write_text(json.dumps(doc) + "\n")


def _stored(records: list[dict]) -> list[bytes]:
    point = GENESIS
    out = []
    for record in records:
        sealed, line = seal(_fields(record), point, record["ts"], _keep_sig(record))
        assert sealed["hash"] == record["hash"]  # dropping the last line leaves the rest exactly as it was
        point = ChainPoint(sealed["seq"], sealed["hash"])
        out.append(line)
    return out


FORGERIES: dict[str, tuple[Callable[[Path], None], int]] = {
    # name: (forgery, the record verify must name)
    "append a forged record, head file untouched": (forge_append_keep_head, 11),
    "append a forged record, head file rewritten": (forge_append_rewrite_head, 11),
    "edit a record in the middle, re-chain": (forge_edit_middle, 5),
    "delete a record in the middle, re-chain": (forge_delete_middle, 5),
    "insert a record in the middle, re-chain": (forge_insert_middle, 5),
    "rewrite the whole log": (forge_rewrite_all, 1),
    "remove the last line, rewrite the head file": (forge_drop_last, 10),
}


def _write_log(tmp_path: Path, key_pem: bytes | None, n: int = 10) -> AuditLog:
    signer = signer_from_pem(key_pem, "test key") if key_pem else None
    log = AuditLog(tmp_path / "audit" / "audit.jsonl", signer=signer)
    for i in range(n):
        log.append({"kind": "run", "command": "plan", "i": i, "outcome": "error" if i == 4 else "ok"})
    return log


def _forge(log: AuditLog, forgery: Callable[[Path], None]) -> None:
    records = _lines(log.path)
    forge_drop_last.dropped_sig = records[-1].get("sig")  # type: ignore[attr-defined]
    forgery(log.path)


@pytest.mark.parametrize("name", list(FORGERIES))
def test_each_forgery_verifies_clean_without_signing(tmp_path: Path, name: str):
    """Main's behaviour, kept honest: the chain holds, and verify says it did not check who wrote it."""
    log = _write_log(tmp_path, None)
    forgery, _ = FORGERIES[name]
    _forge(log, forgery)
    verdict = verify_log(AuditLog(log.path), verifier=None)
    assert verdict.ok, verdict.first_bad
    assert any("the log is not signed" in line for line in verdict.not_checked)


@pytest.mark.parametrize("name", list(FORGERIES))
def test_each_forgery_is_caught_and_named_with_signing(tmp_path: Path, key_pem: bytes, name: str):
    log = _write_log(tmp_path, key_pem)
    assert verify_log(AuditLog(log.path), verifier=public_key_from_pem(key_pem, "pub")).ok
    forgery, named = FORGERIES[name]
    _forge(log, forgery)
    verdict = verify_log(AuditLog(log.path), verifier=public_key_from_pem(key_pem, "pub"))
    assert not verdict.ok
    assert verdict.first_bad is not None and verdict.first_bad.seq == named, verdict.first_bad
    assert "not signed by key" in verdict.first_bad.reason or "removed from the end" in verdict.first_bad.reason
    # and the writer refuses to sign on top of it
    with pytest.raises(StateError) as refused:
        AuditLog(log.path, signer=signer_from_pem(key_pem, "test key")).append({"kind": "run"})
    assert "refusing to append" in refused.value.message
    assert "audit new-segment" in (refused.value.hint or "") or "signing key" in (refused.value.hint or "")


def test_the_wipe_is_caught_with_signing_and_a_new_project_can_say_so(tmp_path: Path, key_pem: bytes):
    log = _write_log(tmp_path, key_pem)
    log.path.write_bytes(b"")
    log.head_path.unlink()
    verifier = public_key_from_pem(key_pem, "pub")
    unsigned = verify_log(AuditLog(log.path), verifier=None)
    assert unsigned.ok and unsigned.records == 0  # main: "0 records, chain intact"
    assert any("wiped" in line for line in unsigned.not_checked)
    verdict = verify_log(AuditLog(log.path), verifier=verifier)
    assert not verdict.ok and verdict.first_bad is not None
    assert "wiped" in verdict.first_bad.reason and "--allow-empty" in verdict.first_bad.reason
    new = verify_log(AuditLog(log.path), verifier=verifier, allow_empty=True)
    assert new.ok and any("looks like a new one" in line for line in new.not_checked)


def test_a_wipe_that_keeps_the_head_file_is_caught(tmp_path: Path, key_pem: bytes):
    log = _write_log(tmp_path, key_pem)
    log.path.write_bytes(b"")
    verdict = verify_log(AuditLog(log.path), verifier=public_key_from_pem(key_pem, "pub"))
    assert not verdict.ok and "records removed from the end" in verdict.first_bad.reason  # type: ignore[union-attr]


def test_signatures_are_over_checkpoints_of_two_kinds(tmp_path: Path, key_pem: bytes):
    log = _write_log(tmp_path, key_pem, n=3)
    verifier = public_key_from_pem(key_pem, "pub")
    records = _lines(log.path)
    head = Checkpoint.from_json(json.loads(log.head_path.read_text()))
    log_id = content_digest(records[0])
    assert head is not None and head.seq == 3 and head.hash == records[-1]["hash"] and head.log == log_id
    assert verifier.check(HEAD, log_id, 3, head.hash, head.sig)
    assert not verifier.check(RECORD, log_id, 3, head.hash, head.sig)  # a head is not a record signature
    for record in records:
        digest = content_digest(record)
        assert verifier.verify(record["sig"], checkpoint_message(RECORD, log_id, record["seq"], digest))
        assert not verifier.verify(record["sig"], checkpoint_message(HEAD, log_id, record["seq"], digest))


def test_a_signed_log_verified_without_a_key_or_with_the_wrong_key(tmp_path: Path, key_pem: bytes):
    log = _write_log(tmp_path, key_pem, n=4)
    no_key = verify_log(AuditLog(log.path), verifier=None)
    assert not no_key.ok and "no public key was given" in no_key.first_bad.reason  # type: ignore[union-attr]
    other = public_key_from_pem(_pem(ed25519.Ed25519PrivateKey.generate()), "other.pem")
    wrong = verify_log(AuditLog(log.path), verifier=other)
    assert not wrong.ok and wrong.first_bad is not None and wrong.first_bad.seq == 1
    assert "signed with another key" in wrong.first_bad.reason and "pass its public key" in wrong.first_bad.reason


def test_writers_without_the_key_or_with_another_key_are_refused(tmp_path: Path, key_pem: bytes):
    log = _write_log(tmp_path, key_pem, n=2)
    with pytest.raises(StateError) as unsigned:
        AuditLog(log.path).append({"kind": "run"})
    assert "it is signed" in unsigned.value.message and "audit.signing" in (unsigned.value.hint or "")
    other = signer_from_pem(_pem(ed25519.Ed25519PrivateKey.generate()), "other.pem")
    with pytest.raises(StateError) as wrong:
        AuditLog(log.path, signer=other).append({"kind": "run"})
    assert "signed with key" in wrong.value.message and "new-segment" in (wrong.value.hint or "")
    assert len(_lines(log.path)) == 2  # nothing half-written


def test_turning_signing_on_adopts_a_sound_log_and_refuses_a_damaged_one(tmp_path: Path, key_pem: bytes):
    log = _write_log(tmp_path, None, n=5)
    signed = AuditLog(log.path, signer=signer_from_pem(key_pem, "k"))
    signed.append({"kind": "run", "i": 5})
    assert verify_log(AuditLog(log.path), verifier=public_key_from_pem(key_pem, "pub")).ok
    damaged = _write_log(tmp_path / "other", None, n=5)
    lines = damaged.path.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b'"plan"', b'"drop"')
    damaged.path.write_bytes(b"".join(lines))
    with pytest.raises(StateError) as refused:
        AuditLog(damaged.path, signer=signer_from_pem(key_pem, "k")).append({"kind": "run"})
    assert "line 3 (record 3)" in refused.value.message


def test_bad_keys_are_clear_errors(tmp_path: Path):
    with pytest.raises(UsageError) as not_pem:
        signer_from_pem(b"not a key", "audit.pem")
    assert "not a PEM private key" in not_pem.value.message and "openssl genpkey" in (not_pem.value.hint or "")
    rsa_like = _pem(ec.generate_private_key(ec.SECP521R1()))
    with pytest.raises(UsageError) as curve:
        signer_from_pem(rsa_like, "p521.pem")
    assert "secp521r1" in curve.value.message
    with pytest.raises(UsageError) as pub:
        public_key_from_pem(b"-----BEGIN NOTHING-----", "pub.pem")
    assert "pub.pem is not a PEM public key" in pub.value.message and "openssl pkey" in (pub.value.hint or "")


def test_verify_checks_one_signature_on_a_sound_log(tmp_path: Path, key_pem: bytes, monkeypatch):
    log = _write_log(tmp_path, key_pem, n=50)
    verifier = public_key_from_pem(key_pem, "pub")
    calls = []
    original = verifier.verify
    monkeypatch.setattr(verifier, "verify", lambda sig, msg: calls.append(msg) or original(sig, msg))
    assert verify_log(AuditLog(log.path), verifier=verifier).ok
    assert len(calls) == 1
    _forge(log, forge_edit_middle)
    calls.clear()
    verdict = verify_log(AuditLog(log.path), verifier=verifier)
    assert verdict.first_bad is not None and verdict.first_bad.seq == 5
    assert len(calls) <= 2 + 2 * 7  # head, then a gallop and a binary search: O(log n)


def test_damage_in_the_middle_stops_a_change_before_it_starts(tmp_path: Path, key_pem: bytes):
    log = _write_log(tmp_path, key_pem, n=6)
    lines = log.path.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b'"plan"', b'"PLAN"')  # not re-chained: the chain breaks at record 3
    log.path.write_bytes(b"".join(lines))
    writer = AuditLog(log.path, signer=signer_from_pem(key_pem, "k"))
    with pytest.raises(StateError) as refused:
        writer.check_writable()  # what apply/deploy call before changing anything: the whole chain
    assert "line 3 (record 3)" in refused.value.message and "new-segment" in (refused.value.hint or "")
    writer.check_writable(full=False)  # an append itself checks the tail and the signed head only
    record = writer.new_segment({"reason": "record 3 damaged"})
    assert record["seq"] == 1 and record["previous"]["first_bad"]["seq"] == 3
    assert record["previous"]["records_verified"] == 2
    kept = sorted(p.name for p in log.path.parent.iterdir() if p.name.startswith("audit.2"))
    assert len(kept) == 2 and kept[0].endswith(".head.json") and kept[1].endswith(".jsonl")
    assert verify_log(AuditLog(log.path), verifier=public_key_from_pem(key_pem, "pub")).ok
