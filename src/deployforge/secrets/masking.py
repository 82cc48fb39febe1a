"""The masking registry: every secret value DeployForge resolves is registered here, and every
output path (console, JSON, errors, crash reports, the audit log, reports, PR comments) passes its
text through :func:`mask` before it leaves the process.

The API (small on purpose; other front doors use it):

* ``register(value)``: remember a secret value (a string; a mapping or list registers each of its
  string leaves). Values shorter than ``MIN_LENGTH`` characters are ignored: masking every ``"1"``
  or ``"on"`` would mangle output without protecting anything.
* ``mask(text)``: ``text`` with every registered value (and its JSON-escaped and URL-encoded forms,
  and each line of a multi-line value) replaced by ``***``.
* ``values()``: the registered values, longest first (the GitHub Action front door emits
  ``::add-mask::`` for each one).
* ``mask_data(obj)``: ``mask`` applied to every string in a JSON-like structure (keys too).
* ``on_register(callback)``: call ``callback(value)`` for every value registered from now on.

The registry is process-wide and thread-safe: secrets are resolved in worker threads, outputs are
written from others.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

MASK = "***"
MIN_LENGTH = 4

_lock = threading.Lock()
_values: set[str] = set()  # what register() was given (for values())
_forms: set[str] = set()  # every form that is replaced in text
_pattern: re.Pattern[str] | None = None
_listeners: list[Callable[[str], None]] = []


def _forms_of(value: str) -> set[str]:
    forms = {value}
    escaped = json.dumps(value)[1:-1]  # how the value appears inside JSON output
    forms.add(escaped)
    forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
    forms.add(quote(value, safe=""))
    if "\n" in value:  # a PEM key printed line by line, or with its newlines turned into spaces
        forms.update(line.strip() for line in value.splitlines() if len(line.strip()) >= MIN_LENGTH)
    return {f for f in forms if len(f) >= MIN_LENGTH}


def register(value: Any) -> None:
    """Register a secret value (strings; mappings and lists register their string leaves)."""
    global _pattern
    if isinstance(value, Mapping):
        for item in value.values():
            register(item)
        return
    if isinstance(value, list | tuple | set):
        for item in value:
            register(item)
        return
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str) or len(value) < MIN_LENGTH:
        return
    with _lock:
        if value in _values:
            return
        _values.add(value)
        _forms.update(_forms_of(value))
        _pattern = None
        listeners = list(_listeners)
    _tell_parent(value)
    for listener in listeners:
        listener(value)


def _tell_parent(value: str) -> None:
    """Inside a DeployForge hook: append the value to the parent's mask file (hooks.MASK_FILE_VARIABLE),
    so the deployforge process running the hook masks it in the hook's output too."""
    import os

    path = os.environ.get("DEPLOYFORGE_MASK_FILE")
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(value) + "\n")
    except OSError:
        pass  # the parent is gone or the file was removed: nothing left to tell


def values() -> list[str]:
    """Every registered value, longest first."""
    with _lock:
        return sorted(_values, key=lambda v: (-len(v), v))


def _compiled() -> re.Pattern[str] | None:
    global _pattern
    with _lock:
        if _pattern is None and _forms:
            ordered = sorted(_forms, key=len, reverse=True)  # longest first: no partial masks
            _pattern = re.compile("|".join(re.escape(f) for f in ordered))
        return _pattern


def mask(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    if not text:
        return text
    pattern = _compiled()
    if pattern is None:
        return text
    return pattern.sub(MASK, text)


def mask_data(obj: Any) -> Any:
    """``mask`` applied to every string of a JSON-like value (mapping keys included)."""
    if isinstance(obj, str):
        return mask(obj)
    if isinstance(obj, Mapping):
        return {mask_data(k): mask_data(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [mask_data(v) for v in obj]
    return obj


def contains_secret(text: str) -> bool:
    pattern = _compiled()
    return bool(pattern and pattern.search(text))


def on_register(callback: Callable[[str], None], *, replay: bool = True) -> None:
    """Call ``callback(value)`` for each value registered from now on (and, with ``replay``, so far)."""
    with _lock:
        _listeners.append(callback)
        known = list(_values)
    if replay:
        for value in known:
            callback(value)


# Credentials DeployForge or its CI reads from the environment. Their values are masked like resolved
# secrets: a hook inherits the environment (a migration may need the Vault token), and whatever it
# prints must not show them.
CREDENTIAL_VARIABLES = (
    "VAULT_TOKEN",
    "VAULT_SECRET_ID",
    "VAULT_JWT",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "DEPLOYFORGE_GITHUB_TOKEN",
    "INPUT_GITHUB-TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
    "SLACK_WEBHOOK_URL",
)
# shorter values are placeholders (an emulator's "testing"), not credentials worth mangling output for
CREDENTIAL_MIN_LENGTH = 12


def register_environment(environ: Mapping[str, str]) -> None:
    """Register the values of ``CREDENTIAL_VARIABLES`` set in ``environ`` (12 characters or more)."""
    for name in CREDENTIAL_VARIABLES:
        value = environ.get(name) or ""
        if len(value) >= CREDENTIAL_MIN_LENGTH:
            register(value)


def register_all(items: Iterable[Any]) -> None:
    for item in items:
        register(item)


def clear() -> None:
    """Forget every value and listener (tests; a long-lived process between unrelated runs)."""
    global _pattern
    with _lock:
        _values.clear()
        _forms.clear()
        _listeners.clear()
        _pattern = None


class MaskingStream:
    """A text stream that masks registered secrets in everything written through it.

    ``install_output_masking()`` puts one in front of ``sys.stdout`` and ``sys.stderr`` for the rest
    of the process (the CLI runs one command per process), so whatever a command prints (click
    echoes, errors, warnings, tracebacks) is masked. It has no ``buffer``, so click writes text
    through it rather than going around it to the binary stream.
    """

    def __init__(self, stream: Any):
        self._stream = stream
        self.encoding = getattr(stream, "encoding", "utf-8") or "utf-8"
        self.errors = getattr(stream, "errors", "strict") or "strict"

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError("MaskingStream.write() takes str")
        self._stream.write(mask(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return bool(getattr(self._stream, "isatty", lambda: False)())

    def fileno(self) -> int:
        return int(self._stream.fileno())

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return bool(getattr(self._stream, "closed", False))

    @property
    def wrapped(self) -> Any:
        return self._stream


def install_output_masking() -> None:
    """Mask registered secrets in everything this process writes to stdout and stderr (idempotent)."""
    import sys

    if not isinstance(sys.stdout, MaskingStream):
        sys.stdout = MaskingStream(sys.stdout)
    if not isinstance(sys.stderr, MaskingStream):
        sys.stderr = MaskingStream(sys.stderr)
