"""The audit trail: an append-only, hash-chained record of every command.

- ``chain``: the record format, sealing and verification over plain bytes (no
  storage), shared by every place a log can live;
- ``log``: ``AuditLog``, the local JSON lines file with a head sidecar and
  ``flock``-serialised appends;
- ``context``: CI context, run ids and peak memory for the records.
"""

from deployforge.audit.chain import (
    FORMAT,
    GENESIS,
    RESERVED,
    ZERO_HASH,
    BadRecord,
    ChainPoint,
    VerifyReport,
    canonical,
)
from deployforge.audit.context import ci_context, new_run_id, peak_memory_mb
from deployforge.audit.log import AuditLog, format_ts

__all__ = [
    "FORMAT",
    "GENESIS",
    "RESERVED",
    "ZERO_HASH",
    "AuditLog",
    "BadRecord",
    "ChainPoint",
    "VerifyReport",
    "canonical",
    "ci_context",
    "format_ts",
    "new_run_id",
    "peak_memory_mb",
]
