"""Signed checkpoints and witnesses through the real CLI (moto's server for the S3 witness)."""

from __future__ import annotations

import json
import shutil
import uuid

import boto3
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from deployforge.audit.chain import ChainPoint, seal
from tests.e2e.conftest import Project, stack
from tests.fakes.vault import openbao_server  # noqa: F401


def _keys(project: Project, name: str = "signing") -> ed25519.Ed25519PrivateKey:
    key = ed25519.Ed25519PrivateKey.generate()
    keys = project.dir / "keys"
    keys.mkdir(exist_ok=True)
    (keys / f"{name}.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (keys / f"{name}.pub").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return key


def _witness_bucket(project: Project) -> str:
    s3 = boto3.client("s3", endpoint_url=project.endpoint, region_name="us-east-1")
    bucket = f"witness-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
        },
    )
    return bucket


def _config(project: Project, bucket: str | None = None) -> None:
    audit = "audit:\n  signing:\n    key_file: keys/signing.pem\n    public_key: keys/signing.pub\n"
    if bucket:
        audit += f"  witness: s3://{bucket}/infra\n  endpoint_url: $AWS_ENDPOINT\n  region: us-east-1\n"
    project.write(stack(0) + audit)


def _log(project: Project):
    return project.dir / ".deployforge" / "audit" / "audit.jsonl"


def test_signed_log_with_a_witness_through_the_cli(project: Project):
    _keys(project)
    bucket = _witness_bucket(project)
    _config(project, bucket)
    for _ in range(3):
        done = project.run("validate")
        assert done.returncode == 0 and "warning" not in done.stderr, done.stderr
    records = [json.loads(line) for line in _log(project).read_text().splitlines()]
    assert [r["seq"] for r in records] == [1, 2, 3] and all("sig" in r for r in records)
    s3 = boto3.client("s3", endpoint_url=project.endpoint, region_name="us-east-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="infra/logs/")["Contents"]]
    assert [k.rsplit("/", 1)[1] for k in keys] == ["000000000001.json", "000000000002.json", "000000000003.json"]

    before = _log(project).read_bytes()
    verify = project.run("audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "3 records, chain intact, signed checkpoint verified, matches the witness" in verify.stdout
    assert "checked: witness s3://" in verify.stdout and "seq 3" in verify.stdout
    # reading is not writing: none of the reading commands appends
    trace_id = records[0]["trace_id"]
    for args in (["audit", "log"], ["audit", "trace", trace_id], ["audit", "export", trace_id], ["audit", "verify"]):
        assert project.run(*args).returncode == 0
    assert _log(project).read_bytes() == before

    # the forger appends a record (no key): verify names it, and the next command refuses to append
    last = records[-1]
    _, line = seal({"kind": "run", "command": "apply", "actor": "mallory"}, ChainPoint(3, last["hash"]), last["ts"])
    _log(project).write_bytes(before + line)
    forged = project.run("audit", "verify")
    assert forged.returncode == 1
    assert "audit.jsonl:4: record 4: not signed by key" in forged.stdout
    refused = project.run("validate")
    assert "warning: audit: refusing to append to the audit log" in refused.stderr
    assert "records were appended without the signing key" in refused.stderr
    assert "deployforge audit new-segment" in refused.stderr
    assert len(_log(project).read_bytes().splitlines()) == 4

    # recovery: a new segment records the damage; the witness follows it to the new log
    recovered = project.run("audit", "new-segment", "--reason", "forged record 4 found in review")
    assert recovered.returncode == 0, recovered.stderr
    assert "kept audit." in recovered.stdout
    evidence = [p for p in _log(project).parent.iterdir() if p.name.startswith("audit.2")]
    assert len(evidence) == 2  # the old log and its head file, kept
    segment = json.loads(_log(project).read_text().splitlines()[0])
    assert segment["kind"] == "segment" and segment["reason"] == "forged record 4 found in review"
    assert segment["previous"]["records_verified"] == 4 and segment["previous"]["bytes"] == len(before + line)
    after = project.run("audit", "verify")
    assert after.returncode == 0, after.stdout


def test_rollback_and_wipe_are_caught_by_the_witness_through_the_cli(project: Project):
    _keys(project)
    bucket = _witness_bucket(project)
    _config(project, bucket)
    assert project.run("validate").returncode == 0
    saved = project.dir / "saved"
    shutil.copytree(_log(project).parent, saved)
    assert project.run("validate").returncode == 0
    assert project.run("validate").returncode == 0
    # put the older copy back: every signature in it is genuine
    shutil.rmtree(_log(project).parent)
    shutil.copytree(saved, _log(project).parent)
    rolled = project.run("audit", "verify")
    assert rolled.returncode == 1
    assert "holds checkpoint seq 3, but the log ends at seq 1" in rolled.stdout
    no_witness = project.run("audit", "verify", "--format", "json")
    assert json.loads(no_witness.stdout)["ok"] is False  # the config names the witness: it is always asked
    # the wipe
    _log(project).write_bytes(b"")
    (_log(project).parent / "audit.head.json").unlink()
    wiped = project.run("audit", "verify", "--allow-empty")
    assert wiped.returncode == 1 and "the log was wiped" in wiped.stdout
    # recorded as a loss: the new segment names the log the witness knew, and verify follows it there
    recovered = project.run("audit", "new-segment", "--reason", "log wiped on the runner")
    assert recovered.returncode == 0, recovered.stderr
    segment = json.loads(_log(project).read_text().splitlines()[0])
    assert segment["previous"]["log"] and segment["previous"]["records_verified"] == 0
    after = project.run("audit", "verify")
    assert after.returncode == 0, after.stdout


def test_bad_keys_and_witnesses_are_clear_errors(project: Project):
    _keys(project)
    _keys(project, "other")
    _config(project)
    assert project.run("validate").returncode == 0
    missing = project.run("audit", "verify", "--public-key", "nope.pem")
    assert missing.returncode == 2 and "cannot read the audit public key nope.pem" in missing.stderr
    assert "hint:" in missing.stderr and "Traceback" not in missing.stderr
    wrong = project.run("audit", "verify", "--public-key", "keys/other.pub")
    assert wrong.returncode == 1 and "signed with another key" in wrong.stdout
    assert "if that is the right key, pass its public key" in wrong.stdout
    dead = project.run("audit", "verify", "--witness", "s3://nowhere/x", AWS_ENDPOINT="http://127.0.0.1:9")
    assert dead.returncode == 1 and "cannot be reached" in dead.stdout and "not checked: witness" in dead.stdout
    not_s3 = project.run("audit", "verify", "--witness", "gs://bucket/x")
    assert not_s3.returncode == 2 and "--witness s3://BUCKET/PREFIX" in not_s3.stderr
    bad_line = project.run("audit", "verify", "--checkpoint", "hello")
    assert bad_line.returncode == 2 and "not an audit checkpoint line" in bad_line.stderr
    # a signing key inside the log's folder is refused: whoever writes the log could sign with it
    inside = project.dir / ".deployforge" / "audit" / "k.pem"
    shutil.copy(project.dir / "keys" / "signing.pem", inside)
    project.write(stack(0) + "audit:\n  signing:\n    key_file: .deployforge/audit/k.pem\n")
    refused = project.run("validate")
    assert "is in the audit log's folder" in refused.stderr
    two = project.write(stack(0) + "audit:\n  signing:\n    key_file: a.pem\n    kms_key_id: alias/x\n")
    assert two.exists()
    config_error = project.run("validate")
    assert config_error.returncode == 2 and "takes exactly one of key_file, kms_key_id, key" in config_error.stderr


def test_in_toto_export_carries_the_signed_record_and_verifies_offline(project: Project):
    import base64

    _keys(project)
    _keys(project, "other")
    _config(project)
    plan = project.run("plan")
    assert plan.returncode in (0, 2), plan.stderr
    trace_id = json.loads(_log(project).read_text().splitlines()[-1])["trace_id"]
    exported = project.run("audit", "export", trace_id, "--format=in-toto", "-o", "provenance.json")
    assert exported.returncode == 0, exported.stderr
    statement = json.loads((project.dir / "provenance.json").read_text())
    (record,) = [b for b in statement["predicate"]["runDetails"]["byproducts"] if b["name"].startswith("audit record")]
    assert record["annotations"]["sig"] and record["annotations"]["checkpoint"]["sig"]
    # a third party, with only the file and the public key (run outside the project)
    outside = project.dir / "elsewhere"
    outside.mkdir()
    shutil.copy(project.dir / "provenance.json", outside / "provenance.json")
    shutil.copy(project.dir / "keys" / "signing.pub", outside / "log.pub")
    ok = project.run(
        "audit", "verify-export", str(outside / "provenance.json"), "--public-key", str(outside / "log.pub")
    )
    assert ok.returncode == 0 and "is signed by the log's key" in ok.stdout, ok.stderr
    wrong = project.run("audit", "verify-export", "provenance.json", "--public-key", "keys/other.pub")
    assert wrong.returncode == 2 and "pass the public key of the log's signing key" in wrong.stderr
    # change what the record says: its hash no longer matches; re-hash it: its signature no longer verifies
    content = json.loads(base64.b64decode(record["content"]))
    content["outcome"] = "ok" if content["outcome"] != "ok" else "error"
    record["content"] = base64.b64encode(json.dumps(content).encode()).decode()
    (project.dir / "tampered.json").write_text(json.dumps(statement))
    tampered = project.run("audit", "verify-export", "tampered.json", "--public-key", "keys/signing.pub")
    assert tampered.returncode == 2 and "does not match its hash" in tampered.stderr
    import hashlib

    from deployforge.audit.chain import canonical

    body = {k: v for k, v in content.items() if k != "hash"}
    content["hash"] = record["digest"]["sha256"] = hashlib.sha256(canonical(body)).hexdigest()
    record["content"] = base64.b64encode(json.dumps(content).encode()).decode()
    (project.dir / "rehashed.json").write_text(json.dumps(statement))
    rehashed = project.run("audit", "verify-export", "rehashed.json", "--public-key", "keys/signing.pub")
    assert rehashed.returncode == 2 and "signature does not verify" in rehashed.stderr


def test_kms_and_vault_keys_from_the_config(project: Project, openbao):
    kms = boto3.client("kms", endpoint_url=project.endpoint, region_name="us-east-1")
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    project.write(
        stack(0) + f"audit:\n  signing:\n    kms_key_id: {key_id}\n  endpoint_url: $AWS_ENDPOINT\n  region: us-east-1\n"
    )
    assert project.run("validate").returncode == 0
    assert project.run("validate").returncode == 0
    verify = project.run("audit", "verify")  # the public key comes from KMS GetPublicKey
    assert verify.returncode == 0 and "signed checkpoint verified" in verify.stdout, verify.stdout + verify.stderr
    assert f"kms:{key_id}" in verify.stdout
    # a key in Vault: the PEM never shows up in the log or the output
    key = _keys(project, "vaulted")
    pem = (project.dir / "keys" / "vaulted.pem").read_text()
    path = f"audit-{uuid.uuid4().hex[:8]}"
    openbao.put(path, private_key=pem)
    shutil.rmtree(project.dir / ".deployforge")
    project.write(stack(0) + f"audit:\n  signing:\n    key: vault://secret/{path}#private_key\n")
    done = project.run("validate", **openbao.env())
    assert done.returncode == 0 and "warning" not in done.stderr, done.stderr
    public = project.run("audit", "verify", "--public-key", "keys/vaulted.pub")
    assert public.returncode == 0, public.stdout
    assert pem.splitlines()[1] not in _log(project).read_text() + done.stderr + public.stdout
    assert key is not None


def test_a_witness_without_a_signing_key_is_a_config_error_on_its_line(project: Project):
    project.write(stack(0) + "audit:\n  witness: s3://bucket/infra\n")
    done = project.run("validate")
    assert done.returncode == 2 and "audit.signing names no key" in done.stderr, done.stderr
    line = len(project.config.read_text().splitlines())
    assert f"deployforge.yaml:{line}:" in done.stderr
