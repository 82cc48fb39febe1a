"""``UNKNOWN``: a value only known after apply (a reference to a resource not created yet).

At the bottom floor, so the plan model and the config references share it without importing each
other."""

from __future__ import annotations

from typing import Any


class UnknownValue:
    """A value only known after apply (it refers to a resource not created yet)."""

    _instance: UnknownValue | None = None

    def __new__(cls) -> UnknownValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(known after apply)"

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN = UnknownValue()


def contains_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_unknown(v) for v in value)
    return False
