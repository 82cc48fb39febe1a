"""Signed checkpoints: what the audit writer signs, and the keys it signs with.

A *checkpoint* names a point of one log: the log's id (the hash of its first
record), a record count (the last ``seq``) and that record's ``hash``. Because
every record's hash covers the one before it, a valid signature over a
checkpoint vouches for every record up to it: verifying a whole log is one
hash walk plus ONE signature check, however long the log is. That is why
``audit verify`` of 1,000,000 records stays as fast as the unsigned walk.

The message signed is text, one item a line (like a Certificate Transparency
or Rekor checkpoint note)::

    deployforge-audit-checkpoint/v1
    head                    "head" or "record"
    <log id>                64 hex: the content digest of record 1
    <seq>
    <digest>                64 hex: head: the ``hash`` of record <seq>;
                                    record: its content digest (without hash and sig)

Two kinds, so one cannot stand for the other:

- ``record``: every record carries, in its ``sig`` field, the writer's
  signature over its own content (which includes ``prev_hash``, so it vouches
  for every record before it too). These let a verifier name the first record
  that nobody with the key wrote.
- ``head``: the signature over the newest record's ``hash``, kept in the head
  file (``audit.head.json``) and published to witnesses: it says where the log
  ended. A record's signature copied out of a dropped last record cannot pass
  for the head of a log cut short.

The log id is the content digest of record 1 (``chain.content_digest``; for a
log written before signing was turned on, that is record 1's ``hash``).

Keys (``Signer``): a local PEM file (Ed25519 or ECDSA P-256/P-384), a PEM key
read from Vault (``vault://path#key``), or an AWS KMS asymmetric key
(``ECC_NIST_P256``/``P384``, ``SIGN_VERIFY``; ``kms.sign`` with
``ECDSA_SHA_256``/``384``). A ``Verifier`` checks signatures with a public key
offline; for KMS it is built from ``get_public_key``, so verification never
needs KMS to be trusted at verify time. Key ids are the sha256 of the public
key's DER SubjectPublicKeyInfo (as in ``audit export --key``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployforge.errors import InputError, StateError, UsageError

HEAD = "head"
RECORD = "record"
_MAGIC = "deployforge-audit-checkpoint/v1"


def checkpoint_message(kind: str, log_id: str, seq: int, digest: str) -> bytes:
    """The exact bytes a checkpoint signature covers."""
    return f"{_MAGIC}\n{kind}\n{log_id}\n{seq}\n{digest}\n".encode("ascii")


@dataclass(frozen=True)
class Checkpoint:
    """A signed point of a log: what the head file and witnesses hold."""

    log: str
    seq: int
    hash: str
    keyid: str
    sig: str  # base64

    def to_json(self) -> dict[str, Any]:
        return {"log": self.log, "seq": self.seq, "hash": self.hash, "keyid": self.keyid, "sig": self.sig}

    @staticmethod
    def from_json(data: Any) -> Checkpoint | None:
        """A checkpoint from its JSON form, or None when the shape is wrong."""
        if type(data) is not dict:
            return None
        log, seq, digest, keyid, sig = (data.get(k) for k in ("log", "seq", "hash", "keyid", "sig"))
        if not (type(seq) is int and seq >= 1 and _hex64(log) and _hex64(digest)):
            return None
        if type(keyid) is not str or type(sig) is not str:
            return None
        return Checkpoint(str(log), seq, str(digest), keyid, sig)

    def line(self) -> str:
        """The one-line form for a CI summary / build description: ``seq · hash · key · sig``."""
        return f"audit checkpoint {self.seq} {self.hash} log {self.log[:16]} key {self.keyid[:16]} sig {self.sig}"


def _hex64(value: Any) -> bool:
    return type(value) is str and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def short_keyid(keyid: str) -> str:
    return keyid[:16]


# -- verifying ----------------------------------------------------------------------------------


class Verifier:
    """Checks checkpoint signatures with one public key (cryptography, offline)."""

    def __init__(self, public_key: Any, source: str):
        from cryptography.hazmat.primitives import serialization

        self._key = public_key
        self.source = source  # for messages: "--public-key pub.pem", "kms key alias/audit", ...
        der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.keyid = hashlib.sha256(der).hexdigest()
        self.public_pem = public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def verify(self, signature_b64: str, message: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519

        try:
            signature = base64.b64decode(signature_b64, validate=True)
        except (binascii.Error, ValueError, TypeError):
            return False
        try:
            if isinstance(self._key, ed25519.Ed25519PublicKey):
                self._key.verify(signature, message)
            elif isinstance(self._key, ec.EllipticCurvePublicKey):
                self._key.verify(signature, message, ec.ECDSA(_ec_hash(self._key.curve.name)()))
            else:  # pragma: no cover - refused when loading
                return False
        except InvalidSignature:
            return False
        except ValueError:  # malformed DER signature
            return False
        return True

    def check(self, kind: str, log_id: str, seq: int, digest: str, signature_b64: str) -> bool:
        return self.verify(signature_b64, checkpoint_message(kind, log_id, seq, digest))

    def check_checkpoint(self, cp: Checkpoint) -> bool:
        return self.check(HEAD, cp.log, cp.seq, cp.hash, cp.sig)


def _ec_hash(curve: str) -> Any:
    from cryptography.hazmat.primitives import hashes

    digests: dict[str, Any] = {"secp256r1": hashes.SHA256, "secp384r1": hashes.SHA384}
    digest = digests.get(curve)
    if digest is None:
        raise UsageError(f"an audit signing key on curve {curve} is not supported", hint="use Ed25519, P-256 or P-384")
    return digest


def _check_key_type(key: Any, what: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        _ec_hash(key.curve.name)
        return
    if not isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        raise UsageError(f"{what} is a {type(key).__name__.lstrip('_')}", hint="use an Ed25519 or ECDSA P-256 key")


def public_key_from_pem(data: bytes, source: str) -> Verifier:
    """A verifier from PEM bytes holding a public key (or a private key, whose public half is used)."""
    from cryptography.hazmat.primitives import serialization

    try:
        key: Any = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        try:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError):
            raise UsageError(
                f"{source} is not a PEM public key",
                hint="give the PEM public key of the audit signing key "
                "(e.g. openssl pkey -in signing.pem -pubout -out audit-public.pem)",
            ) from None
    _check_key_type(key, source)
    return Verifier(key, source)


def public_key_file(path: str) -> Verifier:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(
            f"cannot read the audit public key {path}: {exc.strerror}",
            hint="give the PEM public key of the audit signing key (--public-key FILE or audit.signing.public_key)",
        ) from None
    return public_key_from_pem(data, path)


# -- signing ------------------------------------------------------------------------------------


class Signer:
    """Signs checkpoints; ``describe`` says which key, for messages (never key material)."""

    def __init__(self, sign: Callable[[bytes], bytes], verifier: Verifier, describe: str):
        self._sign = sign
        self.verifier = verifier
        self.keyid = verifier.keyid
        self.describe = describe

    def sign(self, kind: str, log_id: str, seq: int, digest: str) -> str:
        return base64.b64encode(self._sign(checkpoint_message(kind, log_id, seq, digest))).decode("ascii")

    def checkpoint(self, log_id: str, seq: int, digest: str) -> Checkpoint:
        return Checkpoint(log_id, seq, digest, self.keyid, self.sign(HEAD, log_id, seq, digest))


def signer_from_pem(data: bytes, describe: str) -> Signer:
    """A signer for an unencrypted PEM private key (Ed25519 or ECDSA P-256/P-384)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        reason = "it is encrypted" if "password" in str(exc).lower() else "it is not a PEM private key"
        raise UsageError(
            f"cannot use the audit signing key {describe}: {reason}",
            hint="give an unencrypted PEM private key (openssl genpkey -algorithm ed25519 -out audit-signing.pem)",
        ) from None
    _check_key_type(key, f"the audit signing key {describe}")
    verifier = Verifier(key.public_key(), describe)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return Signer(key.sign, verifier, describe)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    ec_key = key
    digest = _ec_hash(key.curve.name)
    return Signer(lambda message: ec_key.sign(message, ec.ECDSA(digest())), verifier, describe)


def signer_from_file(path: str) -> Signer:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(
            f"cannot read the audit signing key {path}: {exc.strerror}",
            hint="set audit.signing.key_file to a PEM private key the log's folder does not hold",
        ) from None
    return signer_from_pem(data, path)


def signer_from_vault(reference: Any, environ: Mapping[str, str]) -> Signer:
    """A signer for a PEM private key stored in Vault (``vault://path#key``)."""
    from deployforge.secrets import SecretResolver, parse_reference

    ref = parse_reference(reference) if isinstance(reference, str) else reference
    value = SecretResolver(environ).resolve(ref, "audit.signing.key")
    if not isinstance(value, str):
        raise InputError(
            f"audit.signing.key: {ref.raw} holds several fields",
            hint="name the field holding the PEM key, e.g. vault://secret/audit#private_key",
        )
    return signer_from_pem(value.encode("utf-8"), ref.raw)


class KMSKey:
    """An AWS KMS asymmetric key (``SIGN_VERIFY``, ECC_NIST_P256 or P384) through boto3."""

    _ALGORITHMS = {"ECC_NIST_P256": "ECDSA_SHA_256", "ECC_NIST_P384": "ECDSA_SHA_384"}

    def __init__(self, key_id: str, *, region: str | None, endpoint_url: str | None, profile: str | None):
        self.key_id = key_id
        self.region = region
        self.endpoint_url = endpoint_url
        self.profile = profile
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from botocore.config import Config

            from deployforge.providers.aws.session import new_session

            session = new_session(profile_name=self.profile, region_name=self.region or "us-east-1")
            self._client = session.client(
                "kms", endpoint_url=self.endpoint_url, config=Config(retries={"max_attempts": 3, "mode": "standard"})
            )
        return self._client

    def _fail(self, exc: Exception, what: str) -> StateError:
        response = getattr(exc, "response", {}) or {}
        code = str(response.get("Error", {}).get("Code", "")) or type(exc).__name__
        hint = {
            "NotFoundException": f"no KMS key {self.key_id} in this account and region: check audit.signing.kms_key_id",
            "AccessDeniedException": "the credentials in use may not use this key (kms:Sign, kms:GetPublicKey)",
            "InvalidKeyUsageException": "the key must be an asymmetric SIGN_VERIFY key (ECC_NIST_P256)",
            "DisabledException": "the KMS key is disabled: enable it, or configure another key",
        }.get(code, "check audit.signing.kms_key_id, the region and the credentials")
        return StateError(f"audit signing key kms:{self.key_id}: cannot {what}: {code}", hint=hint)

    def verifier(self) -> Verifier:
        from botocore.exceptions import BotoCoreError, ClientError
        from cryptography.hazmat.primitives import serialization

        try:
            answer = self.client.get_public_key(KeyId=self.key_id)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, "read its public key") from None
        spec = answer.get("KeySpec") or answer.get("CustomerMasterKeySpec")
        if answer.get("KeyUsage") != "SIGN_VERIFY" or spec not in self._ALGORITHMS:
            raise StateError(
                f"audit signing key kms:{self.key_id} is a {spec} {answer.get('KeyUsage')} key",
                hint="create it with KeySpec ECC_NIST_P256 and KeyUsage SIGN_VERIFY",
            )
        key = serialization.load_der_public_key(answer["PublicKey"])
        self.algorithm = self._ALGORITHMS[spec]
        return Verifier(key, f"kms:{self.key_id}")

    def signer(self) -> Signer:
        from botocore.exceptions import BotoCoreError, ClientError

        verifier = self.verifier()
        algorithm = self.algorithm

        def sign(message: bytes) -> bytes:
            try:
                answer = self.client.sign(
                    KeyId=self.key_id, Message=message, MessageType="RAW", SigningAlgorithm=algorithm
                )
            except (ClientError, BotoCoreError) as exc:
                raise self._fail(exc, "sign") from None
            signature: bytes = answer["Signature"]
            return signature

        return Signer(sign, verifier, f"kms:{self.key_id}")


def _setting(settings: Any, name: str) -> Any:
    return getattr(settings, name, None)


def configured_signer(signing: Any, *, environ: Mapping[str, str], aws: Mapping[str, Any]) -> Signer | None:
    """The signer ``audit.signing`` selects (None when signing is off)."""
    if signing is None:
        return None
    if _setting(signing, "key_file"):
        return signer_from_file(str(signing.key_file))
    if _setting(signing, "kms_key_id"):
        return KMSKey(str(signing.kms_key_id), **aws).signer()
    if _setting(signing, "key"):
        return signer_from_vault(signing.key, environ)
    return None


def configured_verifier(
    signing: Any, *, public_key: str | None, environ: Mapping[str, str], aws: Mapping[str, Any]
) -> Verifier | None:
    """The public key to verify with: ``--public-key``, ``audit.signing.public_key``, else the signing key's."""
    if public_key:
        return public_key_file(public_key)
    if signing is None:
        return None
    if _setting(signing, "public_key"):
        return public_key_file(str(signing.public_key))
    if _setting(signing, "kms_key_id"):
        return KMSKey(str(signing.kms_key_id), **aws).verifier()
    signer = configured_signer(signing, environ=environ, aws=aws)
    return signer.verifier if signer is not None else None
