"""The drift ignore file: drift the team accepts, each entry with a reason and an optional expiry.

It lives in the repository next to the config (``drift-ignore.yaml`` by default)::

    ignore:
      - resource: web_asg                 # a resource name, or a glob (web_*, aws_security_group:*)
        attributes: [tags.LastScaledBy]   # attribute path globs; omitted: the whole resource
        reason: the scheduler writes this tag
        expires: 2026-12-31               # optional; an expired entry stops applying (and says so)
      - id: DF-5XJ-88B                    # or one drift by its id
        environments: [staging]           # optional: only these environments
        reason: load test until Friday
        expires: 2026-11-28

Parsing reports every problem with file:line:col. ``append_entry`` adds one entry (what
``drift remediate --strategy ignore`` writes), keeping the file's other lines as they are.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from deployforge.drift.model import AttributeDrift, DriftRecord
from deployforge.errors import ConfigError, ConfigIssue, Location

DEFAULT_NAME = "drift-ignore.yaml"
_KEYS = {"id", "resource", "type", "attributes", "environments", "reason", "expires"}


@dataclass(frozen=True)
class IgnoreEntry:
    reason: str
    id: str | None = None
    resource: str | None = None
    type: str | None = None
    attributes: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    expires: dt.date | None = None
    location: Location | None = None

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and today > self.expires

    def covers_record(self, record: DriftRecord) -> bool:
        if self.environments and record.environment not in self.environments:
            return False
        if self.id is not None:
            return record.id == self.id
        if self.type is not None and self.type != record.type:
            return False
        return self.resource is not None and fnmatch.fnmatchcase(record.resource, self.resource)

    def covers_path(self, path: str) -> bool:
        return not self.attributes or any(
            fnmatch.fnmatchcase(path, pattern) or path.startswith(pattern + ".") for pattern in self.attributes
        )


@dataclass(frozen=True)
class IgnoreFile:
    path: str | None
    entries: tuple[IgnoreEntry, ...] = ()

    def apply(self, record: DriftRecord, today: dt.date) -> tuple[DriftRecord, list[str]]:
        """``record`` with what the file ignores marked; warnings for expired entries that matched."""
        warnings: list[str] = []
        for entry in self.entries:
            if not entry.covers_record(record):
                continue
            if entry.expired(today):
                warnings.append(
                    f"{entry.location or self.path}: ignore entry for {entry.id or entry.resource} expired on "
                    f"{entry.expires}: {record.id} counts again"
                )
                continue
            if not entry.attributes or not record.changes:
                return replace(record, ignored=_reason(entry)), warnings
            kept: list[AttributeDrift] = []
            dropped: list[AttributeDrift] = list(record.ignored_changes)
            for change in record.changes:
                (dropped if entry.covers_path(change.path) else kept).append(change)
            record = replace(record, changes=tuple(kept), ignored_changes=tuple(dropped))
            if not kept:
                return replace(record, ignored=_reason(entry)), warnings
        return record, warnings


def _reason(entry: IgnoreEntry) -> str:
    return entry.reason + (f" (until {entry.expires})" if entry.expires else "")


def default_path(config_path: str | Path) -> Path:
    return Path(config_path).resolve().parent / DEFAULT_NAME


def load_ignore_file(path: str | Path | None, *, required: bool = False) -> IgnoreFile:
    """Parse the ignore file; a missing file is an empty one unless ``required``."""
    from deployforge.config.yamlpos import load_yaml

    if path is None:
        return IgnoreFile(None)
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise ConfigError([ConfigIssue(f"drift ignore file {file} not found", Location(str(file)))]) from None
        return IgnoreFile(str(file))
    except OSError as exc:
        raise ConfigError(
            [ConfigIssue(f"cannot read the drift ignore file: {exc.strerror}", Location(str(file)))]
        ) from None
    data, pos = load_yaml(text, str(file))
    issues: list[ConfigIssue] = []
    if data in ({}, None):
        return IgnoreFile(str(file))
    if not isinstance(data, dict) or not isinstance(data.get("ignore", []), list):
        raise ConfigError(
            [
                ConfigIssue(
                    "the drift ignore file must be a mapping with a list under 'ignore:'",
                    pos.location(()),
                    hint="see examples/drift/drift-ignore.yaml",
                )
            ]
        )
    for key in data:
        if key != "ignore":
            issues.append(ConfigIssue(f"unknown key '{key}'", pos.location((key,), key=True), "only 'ignore:'"))
    entries: list[IgnoreEntry] = []
    for i, raw in enumerate(data.get("ignore") or []):
        at: tuple[Any, ...] = ("ignore", i)
        if not isinstance(raw, dict):
            issues.append(ConfigIssue("an ignore entry must be a mapping", pos.location(at)))
            continue
        for key in raw:
            if key not in _KEYS:
                import difflib

                close = difflib.get_close_matches(str(key), sorted(_KEYS), n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(sorted(_KEYS))}"
                issues.append(
                    ConfigIssue(f"unknown key '{key}' in an ignore entry", pos.location((*at, key), key=True), hint)
                )
        reason = raw.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            issues.append(
                ConfigIssue(
                    "an ignore entry needs a reason",
                    pos.location(at, key=True),
                    "say why this drift is accepted (reason: ...)",
                )
            )
        if "id" not in raw and "resource" not in raw:
            issues.append(ConfigIssue("an ignore entry needs 'id' or 'resource'", pos.location(at, key=True)))
        expires = raw.get("expires")
        expiry: dt.date | None = None
        if expires is not None:
            expiry = _date(expires)
            if expiry is None:
                issues.append(
                    ConfigIssue(
                        f"expires: '{expires}' is not a date",
                        pos.location((*at, "expires")),
                        "write it as YYYY-MM-DD",
                    )
                )
        attributes = raw.get("attributes") or ()
        if isinstance(attributes, str):
            attributes = (attributes,)
        environments = raw.get("environments") or ()
        if isinstance(environments, str):
            environments = (environments,)
        ident = raw.get("id")
        if ident is not None:
            from deployforge.drift.ids import is_drift_id

            if not is_drift_id(str(ident)):
                issues.append(
                    ConfigIssue(f"'{ident}' is not a drift id", pos.location((*at, "id")), "ids look like DF-5XJ-88B")
                )
        entries.append(
            IgnoreEntry(
                reason=str(reason or ""),
                id=str(ident).upper() if ident is not None else None,
                resource=str(raw["resource"]) if raw.get("resource") is not None else None,
                type=str(raw["type"]) if raw.get("type") is not None else None,
                attributes=tuple(str(a) for a in attributes),
                environments=tuple(str(e) for e in environments),
                expires=expiry,
                location=pos.location(at, key=True),
            )
        )
    if issues:
        raise ConfigError(issues)
    return IgnoreFile(str(file), tuple(entries))


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def render_entry(record: DriftRecord, reason: str, expires: dt.date | None) -> str:
    """The YAML lines of an ignore entry for one drift (appended under ``ignore:``)."""
    import json

    lines = [
        f"  - id: {record.id}",
        f"    # {record.resource} ({record.type}): {', '.join(record.paths) or record.status.value.lower()}",
        f"    environments: [{json.dumps(record.environment)}]",
        f"    reason: {json.dumps(reason)}",
    ]
    if expires is not None:
        lines.append(f"    expires: {expires.isoformat()}")
    return "\n".join(lines) + "\n"


def append_entry(path: str | Path, record: DriftRecord, reason: str, expires: dt.date | None) -> None:
    """Add an ignore entry for ``record`` (creating the file if needed), atomically."""
    import os
    import tempfile

    file = Path(path)
    text = file.read_text(encoding="utf-8") if file.exists() else ""
    if not text.strip():
        text = "# Drift that is accepted on purpose (deployforge drift). Each entry needs a reason.\nignore:\n"
    elif "ignore:" not in text:
        text = text.rstrip("\n") + "\nignore:\n"
    elif text.rstrip().endswith("ignore: []"):
        text = text.rstrip()[: -len("[]")].rstrip() + "\n"
    if not text.endswith("\n"):
        text += "\n"
    text += render_entry(record, reason, expires)
    fd, tmp = tempfile.mkstemp(dir=str(file.parent), prefix=f".{file.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        load_ignore_file(tmp, required=True)  # never leave a file the next run cannot read
        os.replace(tmp, file)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
