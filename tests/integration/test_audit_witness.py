"""Witnesses and remote keys for the audit log: S3 Object Lock (compliance) and KMS on moto's server,
a PEM key in Vault on the OpenBao dev server.

The forger can write every file of the log, keep old copies of it, and knows the chain code; it
cannot sign (no key) and cannot delete or replace what the witness bucket holds (Object Lock).
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import boto3
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from tests.fakes.vault import openbao_server  # noqa: F401

from deployforge.audit.ci import checkpoint_line
from deployforge.audit.log import AuditLog
from deployforge.audit.signing import KMSKey, public_key_from_pem, signer_from_pem, signer_from_vault
from deployforge.audit.verify import verify_log
from deployforge.audit.witness import LineWitness, S3Witness, parse_checkpoint_line
from deployforge.errors import StateError

pytestmark = pytest.mark.integration


def _key_pem() -> bytes:
    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _witness_bucket(endpoint: str, mode: str | None = "COMPLIANCE") -> str:
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    bucket = f"witness-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    if mode:
        s3.put_object_lock_configuration(
            Bucket=bucket,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": mode, "Days": 1}},
            },
        )
    return bucket


def _witness(endpoint: str, bucket: str) -> S3Witness:
    return S3Witness(f"s3://{bucket}/audit", region="us-east-1", endpoint_url=endpoint, profile=None)


def _signed_log(folder: Path, pem: bytes, witness: S3Witness, n: int) -> AuditLog:
    log = AuditLog(folder / "audit.jsonl", signer=signer_from_pem(pem, "k"))
    for i in range(n):
        log.append({"kind": "run", "i": i})
        assert log.last_checkpoint is not None
        witness.publish(log.last_checkpoint)
    return log


def test_truncation_rollback_and_wipe_verify_clean_with_a_signature_alone_but_not_against_the_witness(
    tmp_path: Path, moto_endpoint: str
):
    pem = _key_pem()
    verifier = public_key_from_pem(pem, "pub")
    witness = _witness(moto_endpoint, _witness_bucket(moto_endpoint))
    log = _signed_log(tmp_path, pem, witness, 6)
    assert verify_log(AuditLog(log.path), verifier=verifier, witness=witness).ok
    # the forger kept a copy of the log at 4 records (both files, genuinely signed)
    saved = tmp_path / "saved"
    saved.mkdir()
    lines = log.path.read_bytes().splitlines(keepends=True)
    old = AuditLog(saved / "audit.jsonl", signer=signer_from_pem(pem, "k"))
    shutil.copy(log.path, saved / "audit.jsonl")
    (saved / "audit.jsonl").write_bytes(b"".join(lines[:4]))
    # rebuild the head the writer had at seq 4 (what a saved copy of audit.head.json holds)
    record4 = json.loads(lines[3])
    first = json.loads(lines[0])
    from deployforge.audit.chain import content_digest

    checkpoint = old.signer.checkpoint(content_digest(first), 4, record4["hash"])  # type: ignore[union-attr]
    (saved / "audit.head.json").write_text(
        json.dumps(
            {
                "format": 1,
                "seq": 4,
                "hash": record4["hash"],
                **{k: v for k, v in checkpoint.to_json().items() if k in ("log", "keyid", "sig")},
            }
        )
    )
    shutil.copy(saved / "audit.jsonl", log.path)
    shutil.copy(saved / "audit.head.json", log.head_path)
    # rollback / truncation: every signature is genuine, so the key alone cannot tell
    alone = verify_log(AuditLog(log.path), verifier=verifier)
    assert alone.ok and any("no witness given" in line for line in alone.not_checked)
    rolled = verify_log(AuditLog(log.path), verifier=verifier, witness=witness)
    assert not rolled.ok and rolled.first_bad is not None and rolled.first_bad.seq == 5
    assert "holds checkpoint seq 6, but the log ends at seq 4" in rolled.first_bad.reason
    assert "rolled back" in rolled.first_bad.reason
    # the writer refuses to go on from the rolled-back copy when told about the witness
    with pytest.raises(StateError) as refused:
        _check_before(log, witness)
    assert "the witness" in refused.value.message and "new-segment" in (refused.value.hint or "")
    # the wipe: empty log, no head file
    log.path.write_bytes(b"")
    log.head_path.unlink()
    wiped = verify_log(AuditLog(log.path), verifier=verifier, witness=witness, allow_empty=True)
    assert not wiped.ok and "the log was wiped" in wiped.first_bad.reason  # type: ignore[union-attr]
    with pytest.raises(StateError) as after_wipe:
        _check_before(log, witness)
    assert "wiped or replaced" in after_wipe.value.message


def _check_before(log: AuditLog, witness: S3Witness) -> None:
    """``check_witness_before_change`` with the witness given directly (it normally comes from the config)."""
    from deployforge.audit import witness as module

    original = module.witness_for
    module.witness_for = lambda ws: witness  # type: ignore[assignment]
    try:
        module.check_witness_before_change(object(), log)
    finally:
        module.witness_for = original


def test_a_rewritten_log_does_not_match_the_witness_and_a_replaced_one_is_named(tmp_path: Path, moto_endpoint: str):
    pem = _key_pem()
    verifier = public_key_from_pem(pem, "pub")
    witness = _witness(moto_endpoint, _witness_bucket(moto_endpoint))
    log = _signed_log(tmp_path, pem, witness, 3)
    # a whole new log signed with the same key (another project's, say) put in its place
    other = _signed_log(tmp_path / "other", pem, _witness(moto_endpoint, _witness_bucket(moto_endpoint)), 5)
    shutil.copy(other.path, log.path)
    shutil.copy(other.head_path, log.head_path)
    assert verify_log(AuditLog(log.path), verifier=verifier).ok  # genuinely signed, by the same key
    replaced = verify_log(AuditLog(log.path), verifier=verifier, witness=witness)
    assert not replaced.ok and "which this log" in replaced.first_bad.reason  # type: ignore[union-attr]
    assert "was replaced" in replaced.first_bad.reason  # type: ignore[union-attr]


def test_witness_objects_cannot_be_deleted_and_a_bucket_without_compliance_lock_is_refused(
    tmp_path: Path, moto_endpoint: str
):
    bucket = _witness_bucket(moto_endpoint)
    witness = _witness(moto_endpoint, bucket)
    log = _signed_log(tmp_path, _key_pem(), witness, 1)
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    key = s3.list_objects_v2(Bucket=bucket, Prefix="audit/logs/")["Contents"][0]["Key"]
    assert key.endswith("/000000000001.json")
    version = s3.head_object(Bucket=bucket, Key=key)["VersionId"]
    with pytest.raises(s3.exceptions.ClientError):
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version)
    assert log.last_checkpoint is not None
    governance = _witness(moto_endpoint, _witness_bucket(moto_endpoint, mode="GOVERNANCE"))
    with pytest.raises(StateError) as refused:
        governance.publish(log.last_checkpoint)
    assert "compliance mode (found: GOVERNANCE)" in refused.value.message
    unreachable = S3Witness("s3://nowhere/audit", region="us-east-1", endpoint_url="http://127.0.0.1:9", profile=None)
    verdict = verify_log(AuditLog(log.path), verifier=log.signer.verifier, witness=unreachable)  # type: ignore[union-attr]
    assert not verdict.ok and "cannot be reached" in verdict.first_bad.reason  # type: ignore[union-attr]
    assert any("unreachable" in line for line in verdict.not_checked)


def test_a_checkpoint_line_from_ci_is_a_witness_too(tmp_path: Path):
    pem = _key_pem()
    log = AuditLog(tmp_path / "audit.jsonl", signer=signer_from_pem(pem, "k"))
    for i in range(3):
        log.append({"i": i})
    line = checkpoint_line(log.last_checkpoint)
    assert line is not None and "seq=3" in line
    witness = LineWitness(parse_checkpoint_line(line))
    verifier = public_key_from_pem(pem, "pub")
    assert verify_log(AuditLog(log.path), verifier=verifier, witness=witness).ok
    lines = log.path.read_bytes().splitlines(keepends=True)
    log.path.write_bytes(b"".join(lines[:2]))
    head = json.loads(log.head_path.read_text())
    verdict = verify_log(AuditLog(log.path), verifier=verifier, witness=witness)
    assert not verdict.ok and head["seq"] == 3


def test_kms_signs_checkpoints_and_verify_reads_its_public_key(tmp_path: Path, moto_endpoint: str):
    kms = boto3.client("kms", endpoint_url=moto_endpoint, region_name="us-east-1")
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    key = KMSKey(key_id, region="us-east-1", endpoint_url=moto_endpoint, profile=None)
    log = AuditLog(tmp_path / "audit.jsonl", signer=key.signer())
    for i in range(4):
        log.append({"i": i})
    verifier = KMSKey(key_id, region="us-east-1", endpoint_url=moto_endpoint, profile=None).verifier()
    verdict = verify_log(AuditLog(log.path), verifier=verifier)
    assert verdict.ok and verdict.signed_through == 4 and verdict.keyid == log.signer.keyid  # type: ignore[union-attr]
    symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(StateError) as wrong:
        KMSKey(symmetric, region="us-east-1", endpoint_url=moto_endpoint, profile=None).signer()
    assert "SIGN_VERIFY" in (wrong.value.hint or "")
    with pytest.raises(StateError) as missing:
        KMSKey("alias/nope", region="us-east-1", endpoint_url=moto_endpoint, profile=None).signer()
    assert "kms:alias/nope" in missing.value.message


def test_a_vault_key_signs(tmp_path: Path, openbao):
    pem = _key_pem()
    path = f"audit-{uuid.uuid4().hex[:8]}"
    openbao.put(path, private_key=pem.decode("ascii"))
    signer = signer_from_vault(f"vault://secret/{path}#private_key", openbao.env())
    log = AuditLog(tmp_path / "audit.jsonl", signer=signer)
    log.append({"i": 1})
    log.append({"i": 2})
    assert verify_log(AuditLog(log.path), verifier=public_key_from_pem(pem, "pub")).ok
    from deployforge.secrets import masking

    assert masking.mask(pem.decode("ascii").splitlines()[1]) == "***"  # the key is a secret: masked in output


def test_a_signed_s3_log_names_a_record_forged_with_put_object(tmp_path: Path, moto_endpoint: str):
    from deployforge.audit.chain import ChainPoint, seal
    from deployforge.audit.objectlog import ObjectLog, record_key
    from deployforge.audit.stores import S3Store

    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    bucket = f"log-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    store = S3Store(f"s3://{bucket}/infra", endpoint_url=moto_endpoint, retention_days=1, lock_mode="compliance")
    pem = _key_pem()
    log = ObjectLog(store, signer=signer_from_pem(pem, "k"))
    for i in range(3):
        log.append({"kind": "run", "i": i})
    verifier = public_key_from_pem(pem, "pub")
    assert verify_log(ObjectLog(store), verifier=verifier).ok
    # anyone with s3:PutObject creates record 4, chained correctly, without the key
    last = json.loads(s3.get_object(Bucket=bucket, Key="infra/" + record_key(3))["Body"].read())
    _, line = seal({"kind": "run", "actor": "mallory"}, ChainPoint(3, last["hash"]), last["ts"])
    s3.put_object(Bucket=bucket, Key="infra/" + record_key(4), Body=line)
    unsigned = verify_log(ObjectLog(store), verifier=None)
    assert not unsigned.ok  # the log is signed: without a key verify does not say it is fine
    verdict = verify_log(ObjectLog(store), verifier=verifier)
    assert not verdict.ok and verdict.first_bad is not None and verdict.first_bad.seq == 4
    assert "not signed by key" in verdict.first_bad.reason
    with pytest.raises(StateError) as refused:
        ObjectLog(store, signer=signer_from_pem(pem, "k")).append({"kind": "run"})
    assert "record 4 is not signed by key" in refused.value.message
    with pytest.raises(StateError):
        ObjectLog(store).append({"kind": "run"})  # and a writer without the key refuses a signed log too
