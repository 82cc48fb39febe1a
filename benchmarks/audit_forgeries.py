"""Which forgeries of the audit log `audit verify` detects, per mode (the figure of issue 13).

    python benchmarks/audit_forgeries.py [--records 10]

For each forgery (the seven of issue 13, the wipe, and a rollback to a saved copy) on a fresh log
of N records: the verdict without signing (main's behaviour), with signing (Ed25519, the public
key), and with signing plus a witness (the checkpoint line CI publishes after the last genuine
command, checked with the same code as `--witness s3://...`). Prints the record verify names.
The forgeries are the ones tests/unit/test_audit_signing.py runs.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from tests.unit.test_audit_signing import FORGERIES, _forge

from deployforge.audit.log import AuditLog
from deployforge.audit.signing import public_key_from_pem, signer_from_pem
from deployforge.audit.verify import verify_log
from deployforge.audit.witness import LineWitness


def _wipe(path: Path) -> None:
    path.write_bytes(b"")
    path.with_name("audit.head.json").unlink()


def _rollback(path: Path) -> None:
    saved = path.with_name("saved")
    shutil.copy(saved / "audit.jsonl", path)
    shutil.copy(saved / "audit.head.json", path.with_name("audit.head.json"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10)
    args = parser.parse_args()
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    verifier = public_key_from_pem(pem, "pub")
    cases: dict[str, Callable[[Path], None]] = {name: forgery for name, (forgery, _named) in FORGERIES.items()}
    cases["wipe: empty log, head file deleted"] = _wipe
    cases["rollback to a saved copy (log + head, genuinely signed)"] = _rollback
    print(f"{'forgery':<58} {'no signing':<22} {'signing':<22} {'signing + witness':<22}")
    root = Path(tempfile.mkdtemp(prefix="forgeries-"))
    try:
        for name, forgery in cases.items():
            row = []
            for mode in ("plain", "signed", "witness"):
                folder = root / f"{len(row)}-{abs(hash(name))}"
                signer = signer_from_pem(pem, "k") if mode != "plain" else None
                log = AuditLog(folder / "audit.jsonl", signer=signer)
                for i in range(args.records):
                    log.append({"kind": "run", "command": "plan", "i": i, "outcome": "error" if i == 4 else "ok"})
                    if i == args.records - 3:
                        (folder / "saved").mkdir()
                        shutil.copy(log.path, folder / "saved" / "audit.jsonl")
                        shutil.copy(log.head_path, folder / "saved" / "audit.head.json")
                witness = LineWitness(log.last_checkpoint) if mode == "witness" and log.last_checkpoint else None
                _forge(log, forgery)
                verdict = verify_log(
                    AuditLog(log.path), verifier=verifier if mode != "plain" else None, witness=witness
                )
                if verdict.ok:
                    row.append("verifies clean")
                else:
                    seq = verdict.first_bad.seq if verdict.first_bad else None
                    row.append(f"detected, record {seq}")
            print(f"{name:<58} {row[0]:<22} {row[1]:<22} {row[2]:<22}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
