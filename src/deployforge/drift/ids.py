"""Stable drift ids in the product page's form ``DF-XXX-XXX`` (pure).

The id is a hash of the environment, the resource and the sorted attribute paths that drifted, so the
same drift keeps its id across runs (and a new kind of drift on the same resource gets a new one).
Letters are Crockford's base32 (no I, L, O, U: nothing to misread). 30 bits: two drifts of one
environment collide with a probability of about n^2 / 2^31; ``assign_ids`` resolves the rare collision
deterministically (the later record, in resource order, is salted).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_PATTERN = re.compile(r"^DF-[0-9A-HJKMNP-TV-Z]{3}-[0-9A-HJKMNP-TV-Z]{3}$")


def drift_id(environment: str, resource: str, paths: Iterable[str], salt: int = 0) -> str:
    text = "\x00".join([environment, resource, *sorted(set(paths))])
    if salt:
        text += f"\x00#{salt}"
    number = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") >> 2  # 30 bits
    chars = []
    for _ in range(6):
        chars.append(ALPHABET[number & 31])
        number >>= 5
    code = "".join(reversed(chars))
    return f"DF-{code[:3]}-{code[3:]}"


def assign_ids(environment: str, keys: Sequence[tuple[str, tuple[str, ...]]]) -> list[str]:
    """Ids for (resource, paths) pairs, unique within the list; ``keys`` must be in a stable order."""
    seen: set[str] = set()
    out = []
    for resource, paths in keys:
        salt = 0
        ident = drift_id(environment, resource, paths)
        while ident in seen:
            salt += 1
            ident = drift_id(environment, resource, paths, salt)
        seen.add(ident)
        out.append(ident)
    return out


def is_drift_id(text: str) -> bool:
    return bool(ID_PATTERN.match(text.strip().upper()))
