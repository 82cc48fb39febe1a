"""Provenance for a run: an in-toto Statement v1 with a SLSA provenance v1 predicate, optionally signed.

``build_statement`` is pure: it maps a run's audit record and its trace to::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [the config file (sha256 of its bytes), the plan (sha256 of its canonical JSON)],
     "predicateType": "https://slsa.dev/provenance/v1",
     "predicate": {
       "buildDefinition": {
         "buildType": "https://deployforge.dev/provenance/run/v1",
         "externalParameters": {"pipeline": <config file as given>, "command": ..., "flags": [argv],
                                "environment": ...},
         "internalParameters": {"config_hash": ..., "policy_bundle_hash": ...},
         "resolvedDependencies": [config file, resolved config, plan, policy bundle (ResourceDescriptors)]},
       "runDetails": {
         "builder": {"id": <CI run URL, or "deployforge-cli">, "version": {"deployforge": ...}},
         "metadata": {"invocationId": <trace id>, "startedOn": ..., "finishedOn": ...},
         "byproducts": [the trace (JSON, inline base64 + sha256), the audit record (its chain hash)]}}}

Hashes are sha256 of canonical content; secrets appear only as references
(the config file holds ``vault://`` and ``$VAR`` references, never values).

Signing wraps the statement in a DSSE envelope (``payloadType``
``application/vnd.in-toto+json``; the signature is over DSSE's PAE encoding),
with an Ed25519 (or ECDSA P-256 / RSA-PSS) private key in a PEM file.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deployforge.audit.chain import canonical
from deployforge.audit.trace_report import Trace
from deployforge.errors import UsageError

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://deployforge.dev/provenance/run/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"


def _digest(value: Any) -> dict[str, str] | None:
    return {"sha256": value} if isinstance(value, str) and len(value) == 64 else None


def build_statement(
    record: dict[str, Any], trace: Trace, version: str, audit: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The in-toto Statement for the run whose audit ``record`` (kind ``run``) and ``trace`` are given.

    ``audit``: for a signed log, ``{"log": <log id>, "checkpoint": <the head's signed checkpoint>}``;
    the record byproduct then carries the whole record (with its ``sig``) and that checkpoint, so a
    third party can check offline that the key holder wrote it (``verify_record_byproduct``).
    """
    config_path = str(record.get("config_path") or "deployforge.yaml")
    subject = []
    dependencies = []
    if digest := _digest(record.get("config_file_sha256")):
        subject.append({"name": config_path, "digest": digest})
        dependencies.append({"name": config_path, "uri": f"file:{config_path}", "digest": digest})
    if digest := _digest(record.get("config_hash")):
        dependencies.append({"name": "config (resolved for the environment, canonical JSON)", "digest": digest})
    if digest := _digest(record.get("plan_hash")):
        subject.append({"name": "plan", "digest": digest})
        dependencies.append({"name": "plan (canonical JSON)", "digest": digest})
    if digest := _digest(record.get("policy_bundle_hash")):
        dependencies.append({"name": "policy bundle", "digest": digest})
    if not subject:
        subject.append({"name": f"trace:{trace.trace_id}", "digest": {"sha256": record.get("hash", "")}})
    context: dict[str, Any] = record["context"] if isinstance(record.get("context"), dict) else {}
    trace_json = canonical(trace.to_json())
    byproducts = [
        {
            "name": f"trace {trace.trace_id}",
            "mediaType": "application/json",
            "digest": {"sha256": hashlib.sha256(trace_json).hexdigest()},
            "content": base64.b64encode(trace_json).decode("ascii"),
        },
        _record_byproduct(record, audit),
    ]
    external: dict[str, Any] = {
        "pipeline": config_path,
        "command": record.get("command"),
        "flags": record.get("argv") or [],
        "environment": record.get("environment"),
    }
    if record.get("parent_trace_id"):
        external["parent_trace_id"] = record["parent_trace_id"]
    internal = {key: record[key] for key in ("config_hash", "plan_hash", "policy_bundle_hash") if record.get(key)}
    builder: dict[str, Any] = {
        "id": context.get("run_url") or "https://deployforge.dev/builders/cli",
        "version": {"deployforge": version},
    }
    metadata: dict[str, Any] = {"invocationId": trace.trace_id, "finishedOn": _rfc3339(record.get("ts"))}
    started = trace.root.started
    duration = record.get("duration_ms")
    if isinstance(record.get("ts"), str) and isinstance(duration, int | float) and not isinstance(duration, bool):
        from datetime import datetime, timedelta

        finished = datetime.fromisoformat(str(record["ts"]).replace("Z", "+00:00"))
        started = (finished - timedelta(milliseconds=float(duration))).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if started:
        metadata["startedOn"] = _rfc3339(started)
    run_details: dict[str, Any] = {"builder": builder, "metadata": metadata, "byproducts": byproducts}
    return {
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external,
                "internalParameters": internal,
                "resolvedDependencies": dependencies,
            },
            "runDetails": run_details,
        },
    }


def _record_byproduct(record: dict[str, Any], audit: dict[str, Any] | None) -> dict[str, Any]:
    annotations: dict[str, Any] = {"seq": record.get("seq"), "prev_hash": record.get("prev_hash")}
    byproduct: dict[str, Any] = {
        "name": f"audit record {record.get('seq')}",
        "mediaType": "application/json",
        "digest": {"sha256": str(record.get("hash", ""))},
        "annotations": annotations,
    }
    if audit is not None and isinstance(record.get("sig"), str):
        # the record as stored (its canonical JSON with hash and sig), the log id its signature names,
        # and the log's signed checkpoint when it was exported
        byproduct["content"] = base64.b64encode(canonical(record)).decode("ascii")
        annotations["log"] = audit.get("log")
        annotations["sig"] = record["sig"]
        annotations["keyid"] = audit.get("keyid")
        if audit.get("checkpoint") is not None:
            annotations["checkpoint"] = audit["checkpoint"]
        annotations["verify"] = (
            "sig: signature over 'deployforge-audit-checkpoint/v1\\nrecord\\n<log>\\n<seq>\\n<sha256 of the "
            "record's canonical JSON without hash and sig>\\n'; checkpoint.sig: the same with 'head' and the "
            "record hash (docs/audit.md)"
        )
    return byproduct


def verify_record_byproduct(statement: dict[str, Any], verifier: Any) -> dict[str, Any]:
    """Check offline the signed audit record a statement carries; returns it. ``UsageError`` when it fails.

    Checks: the record's content hashes to the byproduct's digest (``hash``),
    its ``sig`` is the key's signature over its content (kind ``record``), and
    the checkpoint, when present, is the key's signature (kind ``head``).
    """
    import hashlib

    from deployforge.audit.chain import content_digest
    from deployforge.audit.signing import RECORD, Checkpoint

    byproducts = statement.get("predicate", {}).get("runDetails", {}).get("byproducts", [])
    found = [b for b in byproducts if isinstance(b, dict) and str(b.get("name", "")).startswith("audit record ")]
    if not found or "content" not in found[0]:
        raise UsageError(
            "the statement carries no signed audit record",
            hint="export it from a log written with audit.signing set (deployforge audit export)",
        )
    byproduct = found[0]
    annotations = byproduct.get("annotations") or {}
    try:
        record = json.loads(base64.b64decode(byproduct["content"]))
    except (ValueError, TypeError):
        raise UsageError("the audit record in the statement is not base64 JSON") from None
    if not isinstance(record, dict):
        raise UsageError("the audit record in the statement is not a JSON object")
    body = {k: v for k, v in record.items() if k != "hash"}
    if hashlib.sha256(canonical(body)).hexdigest() != record.get("hash") or record.get("hash") != byproduct.get(
        "digest", {}
    ).get("sha256"):
        raise UsageError("the audit record in the statement does not match its hash (it was changed)")
    if annotations.get("keyid") != verifier.keyid:
        raise UsageError(
            f"the audit record was signed with key {str(annotations.get('keyid'))[:16]}, "
            f"not {verifier.keyid[:16]} ({verifier.source})",
            hint="pass the public key of the log's signing key",
        )
    log_id = str(annotations.get("log"))
    if not verifier.check(RECORD, log_id, int(record.get("seq", 0)), content_digest(record), str(record.get("sig"))):
        raise UsageError("the audit record's signature does not verify: it was not written with this key")
    checkpoint = Checkpoint.from_json(annotations.get("checkpoint"))
    if checkpoint is not None and (checkpoint.log != log_id or not verifier.check_checkpoint(checkpoint)):
        raise UsageError("the log checkpoint in the statement does not verify with this key")
    return record


def _rfc3339(value: Any) -> str | None:
    """Our timestamps have microseconds; SLSA wants RFC 3339, which they are (kept as is)."""
    return value if isinstance(value, str) else None


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what is signed."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def envelope(statement: dict[str, Any], sign: Callable[[bytes], bytes], keyid: str) -> dict[str, Any]:
    """A DSSE envelope around ``statement`` signed by ``sign`` (bytes -> signature bytes)."""
    payload = json.dumps(statement, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    signature = sign(pae(PAYLOAD_TYPE, payload))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [{"keyid": keyid, "sig": base64.b64encode(signature).decode("ascii")}],
    }


def key_signer(path: str) -> tuple[Callable[[bytes], bytes], str]:
    """A signing function for a PEM private key file (Ed25519, ECDSA or RSA) and its key id.

    The key id is the sha256 of the public key's DER SubjectPublicKeyInfo.
    Raises ``UsageError`` for a missing or unreadable key (the message never
    contains key material).
    """
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the signing key {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        reason = "it is encrypted" if "password" in str(exc).lower() else "it is not a PEM private key"
        raise UsageError(
            f"cannot use the signing key {path}: {reason}",
            hint="give an unencrypted PEM private key (e.g. openssl genpkey -algorithm ed25519 -out key.pem)",
        ) from None
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    keyid = hashlib.sha256(public).hexdigest()
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign, keyid
    if isinstance(key, ec.EllipticCurvePrivateKey):
        ec_key = key
        # the hash that matches the curve's strength, as verifiers (cosign, in-toto) expect
        digests: dict[str, Any] = {"secp256r1": hashes.SHA256, "secp384r1": hashes.SHA384, "secp521r1": hashes.SHA512}
        digest = digests.get(key.curve.name)
        if digest is None:
            raise UsageError(
                f"the signing key {path} is on curve {key.curve.name}",
                hint="use ECDSA P-256, P-384 or P-521 (or Ed25519)",
            )
        return (lambda message: ec_key.sign(message, ec.ECDSA(digest()))), keyid
    if isinstance(key, rsa.RSAPrivateKey):
        rsa_key = key
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)
        return (lambda message: rsa_key.sign(message, pss, hashes.SHA256())), keyid
    raise UsageError(f"the signing key {path} is of an unsupported type", hint="use Ed25519, ECDSA or RSA")
