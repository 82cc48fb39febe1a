"""Provenance export: in-toto Statement v1 + SLSA provenance v1, DSSE signing with a key file."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from deployforge.audit.provenance import PAYLOAD_TYPE, build_statement, envelope, key_signer, pae
from deployforge.audit.trace_report import build_trace
from deployforge.errors import UsageError

RUN = "DF-TRC-2QBB3T9B12"
RECORD = {
    "kind": "run",
    "trace_id": RUN,
    "run_id": RUN,
    "parent_trace_id": "DF-TRC-2QBB3T0000",
    "command": "apply",
    "argv": ["apply", "--pipeline", "canary.yaml", "--auto-approve"],
    "environment": "prod",
    "config_path": "canary.yaml",
    "config_file_sha256": "a" * 64,
    "config_hash": "b" * 64,
    "plan_hash": "c" * 64,
    "policy_bundle_hash": "d" * 64,
    "outcome": "ok",
    "duration_ms": 1500.0,
    "ts": "2026-11-26T03:15:01.500000Z",
    "seq": 7,
    "hash": "e" * 64,
    "prev_hash": "f" * 64,
    "context": {"run_url": "https://github.com/acme/infra/actions/runs/77", "actor": "octocat"},
}
STEP = {
    "kind": "step",
    "trace_id": RUN,
    "step_id": f"{RUN}.1",
    "parent_id": RUN,
    "name": "deploy",
    "outcome": "ok",
    "started_at": "2026-11-26T03:15:00.100000Z",
    "duration_ms": 900.0,
}


def statement():
    return build_statement(RECORD, build_trace([STEP, RECORD], RUN), "9.9.9")


def test_statement_is_in_toto_v1_with_slsa_provenance_v1():
    doc = statement()
    assert doc["_type"] == "https://in-toto.io/Statement/v1"
    assert doc["predicateType"] == "https://slsa.dev/provenance/v1"
    assert doc["subject"] == [
        {"name": "canary.yaml", "digest": {"sha256": "a" * 64}},
        {"name": "plan", "digest": {"sha256": "c" * 64}},
    ]
    build = doc["predicate"]["buildDefinition"]
    assert build["externalParameters"] == {
        "pipeline": "canary.yaml",
        "command": "apply",
        "flags": ["apply", "--pipeline", "canary.yaml", "--auto-approve"],
        "environment": "prod",
        "parent_trace_id": "DF-TRC-2QBB3T0000",
    }
    digests = [d["digest"]["sha256"] for d in build["resolvedDependencies"]]
    assert digests == ["a" * 64, "b" * 64, "c" * 64, "d" * 64]
    details = doc["predicate"]["runDetails"]
    assert details["builder"]["id"] == "https://github.com/acme/infra/actions/runs/77"
    assert details["metadata"] == {
        "invocationId": RUN,
        "finishedOn": "2026-11-26T03:15:01.500000Z",
        "startedOn": "2026-11-26T03:15:00.000000Z",
    }
    trace_bp, record_bp = details["byproducts"]
    content = base64.b64decode(trace_bp["content"])
    assert hashlib.sha256(content).hexdigest() == trace_bp["digest"]["sha256"]
    assert [n["name"] for n in json.loads(content)["nodes"]] == ["deployforge apply", "deploy"]
    assert record_bp["digest"] == {"sha256": "e" * 64} and record_bp["annotations"]["seq"] == 7


def test_signed_envelope_verifies_with_the_public_key(tmp_path):
    key = ed25519.Ed25519PrivateKey.generate()
    path = tmp_path / "key.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    sign, keyid = key_signer(str(path))
    env = envelope(statement(), sign, keyid)
    assert env["payloadType"] == PAYLOAD_TYPE
    payload = base64.b64decode(env["payload"])
    assert json.loads(payload) == statement()
    public = key.public_key()
    public.verify(base64.b64decode(env["signatures"][0]["sig"]), pae(PAYLOAD_TYPE, payload))  # raises if bad
    spki = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert env["signatures"][0]["keyid"] == hashlib.sha256(spki).hexdigest()
    tampered = payload.replace(b"prod", b"dev!")
    with pytest.raises(InvalidSignature):
        public.verify(base64.b64decode(env["signatures"][0]["sig"]), pae(PAYLOAD_TYPE, tampered))


def test_pae_matches_the_dsse_spec():
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_bad_key_files_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="cannot read the signing key"):
        key_signer(str(tmp_path / "missing.pem"))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    with pytest.raises(UsageError, match="not a PEM private key"):
        key_signer(str(junk))


@pytest.mark.parametrize(
    ("curve", "digest"), [("SECP256R1", "SHA256"), ("SECP384R1", "SHA384"), ("SECP521R1", "SHA512")]
)
def test_ecdsa_signatures_use_the_hash_of_the_curves_strength(tmp_path, curve, digest):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(getattr(ec, curve)())
    path = tmp_path / "key.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    sign, _ = key_signer(str(path))
    signature = sign(b"message")
    key.public_key().verify(signature, b"message", ec.ECDSA(getattr(hashes, digest)()))  # raises if another hash
