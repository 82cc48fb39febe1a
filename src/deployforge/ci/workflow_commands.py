"""The one output guard for CI logs: text DeployForge did not write can never start a workflow command.

GitHub's runner reads a step's stdout and stderr line by line (it splits on LF, CR and CRLF) and
treats a line as a workflow command when, after leading whitespace, it starts with ``::name`` (e.g.
``::add-mask::``, ``::stop-commands::``, ``::error::``), or when it holds the legacy form ``##[name]``
*anywhere* in the line. A pull request controls much of what a run prints (hook output, resource and
hook names, policy messages, provider error text), so every writer of Action-mode output goes
through this module:

* ``split_lines``: every line terminator is a line break: LF, CR, CRLF, and the ones other readers
  honour (VT, FF, FS/GS/RS, NEL, U+2028, U+2029), whatever the runner itself does today.
* ``quote(text)``: hook output and other foreign blocks: every resulting line gets a prefix
  (``  | ``), which no command can start with, and legacy ``##[`` is broken up.
* ``one_line(text)``: a foreign value (a name, a message) embedded in a line DeployForge writes:
  line terminators and other control characters are shown escaped (``\\n``), ``##[`` broken up.
* ``safe(text)``: a message DeployForge wrote that may carry foreign fragments: lines are kept,
  but a line that could start a command is prefixed and ``##[`` is broken up.
* ``command(name, properties, message)``: a workflow command DeployForge means to issue, with
  its data and properties escaped the way the runner unescapes them.
* ``Log``: the writer. Hook output is fenced with ``::stop-commands::<random token>`` ...
  ``::<token>::`` (a fresh token each time): while fenced the runner ignores every command, so
  even a line that slipped past the prefix would be inert. A command DeployForge issues while
  fenced (``::add-mask::`` for a secret a hook registered, an annotation) first ends the fence.

``is_command_line`` mirrors the runner's two parsers; the tests use it to prove the guarantee.
"""

from __future__ import annotations

import re
import secrets
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

QUOTE_PREFIX = "  | "
COMMAND_PREFIX = "| "  # put before a DeployForge line that would otherwise start with "::"
_LEGACY = "##["
_LEGACY_BROKEN = "#\u200b#["  # a zero-width space: reads the same, parses as nothing

# every line terminator (str.splitlines' set: LF, CR, CRLF, VT, FF, FS, GS, RS, NEL, LS, PS)
_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
# what ``one_line`` shows escaped: C0 controls (but TAB), DEL, C1 controls, LS, PS
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\x1b": "\\e"}

# the commands the runner registers (both parsers accept only these names, case-sensitively)
RUNNER_COMMANDS = frozenset(
    {
        "set-env",
        "set-output",
        "save-state",
        "add-mask",
        "add-path",
        "add-matcher",
        "remove-matcher",
        "debug",
        "notice",
        "warning",
        "error",
        "group",
        "endgroup",
        "echo",
        "stop-commands",
    }
)


def split_lines(text: str) -> list[str]:
    """``text`` cut at every line terminator (a trailing one does not make an empty last line)."""
    parts = _BREAK.split(text)
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    return parts


def _unlegacy(line: str) -> str:
    return line.replace(_LEGACY, _LEGACY_BROKEN)


def quote(text: str, prefix: str = QUOTE_PREFIX) -> list[str]:
    """Foreign text as log lines, each one prefixed (an empty text is one prefixed empty line)."""
    if not prefix.strip():
        raise ValueError("the prefix must hold a character other than whitespace (the runner trims it)")
    return [prefix + _unlegacy(line) for line in split_lines(text) or [""]]


def one_line(text: Any) -> str:
    """A foreign value made safe inside one line: control characters escaped, ``##[`` broken up."""

    def show(m: re.Match[str]) -> str:
        ch = m.group(0)
        return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")

    return _unlegacy(_CONTROL.sub(show, str(text)))


def safe(text: str) -> str:
    """A message with foreign fragments: its lines kept (LF-joined), none able to start a command."""
    out = []
    for line in split_lines(text) or [""]:
        line = _unlegacy(line)
        out.append(COMMAND_PREFIX + line if line.lstrip().startswith("::") else line)
    return "\n".join(out)


def escape_data(text: Any) -> str:
    """A command's message, escaped as the runner unescapes it (every line terminator as %0A)."""
    value = str(text).replace("%", "%25").replace("\r\n", "\n")
    value = _BREAK.sub("\n", value)
    return value.replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: Any) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, properties: Mapping[str, Any] | None = None, message: Any = "") -> str:
    """``::name k=v,...::message``: one line, whatever the values hold."""
    if name not in RUNNER_COMMANDS and not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ValueError(f"not a command name: {name!r}")
    props = ",".join(f"{k}={escape_property(v)}" for k, v in (properties or {}).items() if v is not None and v != "")
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def is_command_line(line: str) -> bool:
    """Would GitHub's runner run this line (one line, already split) as a workflow command?

    Mirrors ``ActionCommand.TryParseV2`` (``::name ...::`` after leading whitespace) and the legacy
    ``ActionCommand.TryParse`` (``##[name ...]`` anywhere), for every registered command name.
    """
    trimmed = line.lstrip()
    if trimmed.startswith("::"):
        end = trimmed.find("::", 2)
        if end >= 0 and trimmed[2:end].split(" ", 1)[0] in RUNNER_COMMANDS:
            return True
    at = line.find(_LEGACY)
    if at >= 0:
        close = line.find("]", at)
        if close >= 0 and line[at + 3 : close].split(" ", 1)[0] in RUNNER_COMMANDS:
            return True
    return False


def runner_lines(output: str) -> list[str]:
    """A log as the runner reads it: split on LF, CR and CRLF only."""
    return re.split("\r\n|\r|\n", output)


class Writable(Protocol):
    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


class Log:
    """The Action-mode writer: plain lines, quoted foreign lines, fenced hook output, commands.

    Thread-safe (hook output arrives from a reader thread while secrets get masked).
    """

    def __init__(self, stream: Writable | None = None, token: Callable[[], str] | None = None):
        self._stream = stream
        self._token = token or (lambda: secrets.token_hex(16))
        self._fence: str | None = None
        self._lock = threading.RLock()

    @property
    def stream(self) -> Writable:
        return self._stream or sys.stdout

    def _write(self, lines: list[str]) -> None:
        self.stream.write("".join(line + "\n" for line in lines))
        self.stream.flush()

    def info(self, message: str) -> None:
        """A DeployForge message (which may embed foreign values): no line can start a command."""
        with self._lock:
            self._write([safe(message)])

    def quoted(self, text: str, prefix: str = QUOTE_PREFIX) -> None:
        """Foreign text, every line prefixed (not fenced)."""
        with self._lock:
            self._write(quote(text, prefix))

    def hook_output(self, line: str) -> None:
        """One line (or more) of a hook's output: fenced, and every line prefixed."""
        with self._lock:
            self._stop()
            self._write(quote(line))

    def command(self, name: str, properties: Mapping[str, Any] | None = None, message: Any = "") -> None:
        """A workflow command DeployForge issues (the fence, if any, is ended first)."""
        with self._lock:
            self.resume()
            self._write([command(name, properties, message)])

    def _stop(self) -> None:
        if self._fence is None:
            self._fence = self._token()
            self._write([command("stop-commands", None, self._fence)])

    def resume(self) -> None:
        """End the fence (if any): the runner processes commands again."""
        with self._lock:
            if self._fence is not None:
                token, self._fence = self._fence, None
                self._write([f"::{token}::"])

    @property
    def fenced(self) -> bool:
        return self._fence is not None

    @contextmanager
    def fence(self) -> Iterator[None]:
        """Everything written inside is fenced (and the fence ends on the way out)."""
        with self._lock:
            self._stop()
        try:
            yield
        finally:
            self.resume()


_default: Log | None = None


def default_log(stream: Writable | None = None) -> Log:
    """The process's one Action-mode log on stdout (or a new one on ``stream``)."""
    global _default
    if stream is not None:
        return Log(stream)
    if _default is None:
        _default = Log()
    return _default
