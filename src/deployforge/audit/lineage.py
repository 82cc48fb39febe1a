"""What a record says about where a run came from and what it cost: hashes and resource figures.

Pure helpers over files and plain objects (no cloud SDK). Hashes are sha256
hex of canonical content:

- ``file_sha256``: the bytes of a file as stored (the config file holds
  secrets only as references such as ``vault://...`` or ``$VAR``, never values,
  so hashing it leaks nothing);
- ``policy_bundle_hash``: the policy section's ``bundle_hash`` (sha256 over the
  policy and data files a run was judged by: ``policy.evaluate.bundle_hash``);
- ``cpu_seconds``: user + system CPU time of this process and its waited-for
  children.
"""

from __future__ import annotations

import hashlib
import resource
from pathlib import Path
from typing import Any


def file_sha256(path: str | Path | None) -> str | None:
    """sha256 hex of a file's bytes, or None when there is no such readable file."""
    if not path:
        return None
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 16), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def cpu_seconds() -> float:
    """CPU seconds (user + system) used so far by this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def policy_bundle_hash(section: Any) -> str | None:
    """The policy bundle's hash from a result's ``policy`` section (``PolicyReport.bundle_hash``)."""
    value = getattr(section, "bundle_hash", None)
    return value if isinstance(value, str) else None
