"""Witnesses: signed checkpoints published where the log's writer cannot rewrite them.

A signature shows who wrote the records; it cannot show that records are
*missing*: someone who can write the log can put back an older copy (log and
head file, both genuinely signed), or wipe both. A witness holds the newest
checkpoints outside the log, so ``audit verify --witness`` can tell.

**S3 with Object Lock** (``audit.witness: s3://BUCKET/PREFIX``). Every command
that appends publishes its head checkpoint as one object::

    PREFIX/logs/<log id>/<seq, 12 digits>.json
        {"log", "seq", "hash", "keyid", "sig", "previous": <log id of the segment before> | null,
         "published": <time>}

created only if absent (``If-None-Match: *``) in a bucket whose default
retention is Object Lock **compliance** mode, so nobody, the bucket owner
included, can delete or replace it until it expires. Publication refuses a
bucket without that. ``verify`` reads the newest checkpoint of each log id.

**CI** (``checkpoint_line``): the same checkpoint as one line in the GitHub
job summary and PR comment footer, or the Jenkins build description; a
reviewer can paste it into ``audit verify --checkpoint 'LINE'``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from deployforge.audit.chain import VerifyReport, content_digest
from deployforge.audit.settings import AuditScope
from deployforge.audit.signing import Checkpoint, Verifier
from deployforge.errors import StateError, UsageError

_SEQ_DIGITS = 12


def parse_checkpoint_line(text: str) -> Checkpoint:
    """A checkpoint from ``checkpoint_line``'s text; ``UsageError`` when it is not one."""
    fields: dict[str, Any] = {}
    for part in text.strip().split():
        name, eq, value = part.partition("=")
        if eq:
            fields[name] = value
    try:
        fields["seq"] = int(fields.get("seq", ""))
    except ValueError:
        fields["seq"] = None
    from deployforge.audit.ci import LINE

    if not LINE.fullmatch(" ".join(text.split())):
        fields = {"seq": None}  # not exactly a checkpoint line (e.g. markup pasted with it)
    checkpoint = Checkpoint.from_json(
        {
            "log": fields.get("log"),
            "seq": fields["seq"],
            "hash": fields.get("hash"),
            "keyid": fields.get("key"),
            "sig": fields.get("sig"),
        }
    )
    if checkpoint is None:
        raise UsageError(
            "--checkpoint is not an audit checkpoint line",
            hint="paste the whole line from the job summary or build description: "
            "'deployforge audit checkpoint log=... seq=... hash=... key=... sig=...'",
        )
    return checkpoint


class S3Witness:
    """``s3://BUCKET/PREFIX`` with Object Lock in compliance mode, through the audit S3 adapter."""

    def __init__(self, url: str, *, region: str | None, endpoint_url: str | None, profile: str | None):
        from deployforge.audit.stores import S3Store

        self.url = url
        self.store = S3Store(url, region=region, endpoint_url=endpoint_url, profile=profile)
        self._checked = False

    def describe(self) -> str:
        return self.url

    def check(self) -> None:
        """Refuse a bucket whose objects could be deleted or replaced (no compliance-mode default retention)."""
        if self._checked:
            return
        from botocore.exceptions import BotoCoreError, ClientError

        store = self.store
        try:
            conf = store.client.get_object_lock_configuration(Bucket=store.bucket)
        except ClientError as exc:
            code = str((getattr(exc, "response", {}) or {}).get("Error", {}).get("Code", ""))
            if code != "ObjectLockConfigurationNotFoundError":
                raise self._unreachable(code or type(exc).__name__) from None
            conf = {}
        except BotoCoreError as exc:
            raise self._unreachable(type(exc).__name__) from None
        lock = conf.get("ObjectLockConfiguration", {})
        mode = lock.get("Rule", {}).get("DefaultRetention", {}).get("Mode")
        if lock.get("ObjectLockEnabled") != "Enabled" or mode != "COMPLIANCE":
            raise StateError(
                f"audit witness {self.url}: the bucket {store.bucket} has no Object Lock default retention in "
                f"compliance mode (found: {mode or 'none'}), so a published checkpoint could be deleted",
                hint="create the witness bucket with Object Lock enabled and a COMPLIANCE default retention "
                "(docs/audit.md, Witnesses)",
            )
        self._checked = True

    def _unreachable(self, code: str) -> StateError:
        return StateError(
            f"audit witness {self.url}: cannot be reached: {code}",
            hint="check the bucket name, audit.region / endpoint_url and the credentials "
            "(s3:GetObject, s3:PutObject, s3:ListBucket, s3:GetBucketObjectLockConfiguration)",
        )

    def publish(self, checkpoint: Checkpoint, previous: str | None = None) -> None:
        """Create the checkpoint's object (a second publish of the same checkpoint is a no-op)."""
        self.check()
        doc = dict(checkpoint.to_json())
        doc["previous"] = previous
        doc["published"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = (json.dumps(doc, sort_keys=True) + "\n").encode("ascii")
        self.store.create(f"logs/{checkpoint.log}/{checkpoint.seq:0{_SEQ_DIGITS}d}.json", body)

    def latest(self) -> dict[str, tuple[Checkpoint, str | None]]:
        """The newest checkpoint of every log id the witness holds, with its ``previous`` log id."""
        try:
            return self._latest()
        except StateError as exc:
            if exc.message.startswith(f"audit witness {self.url}"):
                raise
            detail = exc.message.rsplit(": ", 1)[-1]
            raise self._unreachable(detail) from None

    def _latest(self) -> dict[str, tuple[Checkpoint, str | None]]:
        newest: dict[str, str] = {}
        for key in self.store.list("logs/"):
            parts = key.split("/")
            if len(parts) != 3 or not parts[2].endswith(".json"):
                continue
            if parts[2] > newest.get(parts[1], ""):
                newest[parts[1]] = parts[2]
        found: dict[str, tuple[Checkpoint, str | None]] = {}
        for log_id, name in newest.items():
            data = self.store.get(f"logs/{log_id}/{name}")
            try:
                doc = json.loads(data or b"")
            except ValueError:
                doc = None
            checkpoint = Checkpoint.from_json(doc)
            if checkpoint is None or checkpoint.log != log_id:
                raise StateError(
                    f"audit witness {self.url}: logs/{log_id}/{name} is not a checkpoint",
                    hint="the witness bucket holds something DeployForge did not write; look at that object",
                )
            previous = doc.get("previous") if isinstance(doc.get("previous"), str) else None
            found[log_id] = (checkpoint, previous)
        return found


class LineWitness:
    """A checkpoint given on the command line (pasted from a CI summary or build description)."""

    def __init__(self, checkpoint: Checkpoint):
        self.checkpoint = checkpoint

    def describe(self) -> str:
        return "(--checkpoint)"

    def latest(self) -> dict[str, tuple[Checkpoint, str | None]]:
        return {self.checkpoint.log: (self.checkpoint, None)}


def open_witness(scope: AuditScope, url: str) -> S3Witness:
    """The witness at ``url`` (only ``s3://`` for now), reached like the audit section says."""
    from deployforge.audit.settings import aws_settings

    if not url.startswith("s3://") or len(url) <= len("s3://"):
        raise UsageError(
            f"'{url}' is not a witness this version can read",
            hint="give an S3 bucket with Object Lock: --witness s3://BUCKET/PREFIX",
        )
    return S3Witness(url, **aws_settings(scope.settings, scope))


def compare(log: Any, verdict: Any, report: VerifyReport, verifier: Verifier | None, witness: Any) -> None:
    """Check the log against the newest witnessed checkpoints; fills ``verdict`` (audit/verify.py)."""
    where = witness.describe()
    end = report.last
    try:
        witnessed = witness.latest()
    except StateError as exc:
        verdict.fail(
            report.records + 1,
            None,
            f"{exc.message} (hint: {exc.hint or 'check the witness url'}; without --witness, verify checks "
            "the chain and the signatures only)",
        )
        verdict.not_checked.append(f"witness {where}: unreachable, so truncation and rollback were not checked")
        return
    first = log.first_record() if end.seq else None
    log_id = content_digest(first) if first else None
    if not witnessed:
        verdict.not_checked.append(f"witness {where}: it holds no checkpoint yet (nothing has been published)")
        return
    ancestors: set[str] = set()
    current = log_id
    while current is not None and current in witnessed and current not in ancestors:
        ancestors.add(current)
        current = witnessed[current][1]
    if current is not None:
        ancestors.add(current)
    # a checkpoint signed with the key counts; an unsigned or forged one in the bucket is reported
    for other, (checkpoint, _previous) in sorted(witnessed.items()):
        if other in ancestors:
            continue
        if verifier is not None and not verifier.check_checkpoint(checkpoint):
            verdict.not_checked.append(
                f"witness {where}: ignored a checkpoint of log {other[:16]} whose signature does not verify"
            )
            continue
        if log_id is None:
            verdict.fail(
                1,
                1,
                f"the log is empty, but the witness {where} holds checkpoint seq {checkpoint.seq} of log "
                f"{other[:16]}: the log was wiped (restore it from a backup, or start a new segment that "
                "records the loss: `deployforge audit new-segment`)",
            )
        else:
            verdict.fail(
                1,
                1,
                f"the witness {where} holds checkpoint seq {checkpoint.seq} of log {other[:16]}, which this log "
                f"(log {log_id[:16]}) does not continue: the log was replaced",
            )
        return
    if log_id is None or log_id not in witnessed:
        verdict.not_checked.append(f"witness {where}: it holds no checkpoint of this log yet")
        return
    checkpoint, _previous = witnessed[log_id]
    if verifier is not None and not verifier.check_checkpoint(checkpoint):
        verdict.fail(
            report.records + 1,
            checkpoint.seq,
            f"the newest checkpoint at the witness {where} (seq {checkpoint.seq}) is not validly signed by key "
            f"{verifier.keyid[:16]}: someone wrote to the witness without the key, or the key is wrong",
        )
        return
    if checkpoint.seq > end.seq:
        missing = checkpoint.seq - end.seq
        verdict.fail(
            report.records + 1,
            end.seq + 1,
            f"the witness {where} holds checkpoint seq {checkpoint.seq}, but the log ends at seq {end.seq}: "
            f"{missing} record{'s' if missing != 1 else ''} removed from the end, or the log was rolled back "
            "to an older copy (restore the log from a backup; or record the loss with "
            "`deployforge audit new-segment`)",
        )
        return
    at = end.hash if checkpoint.seq == end.seq else (log.record_at(checkpoint.seq) or {}).get("hash")
    if at != checkpoint.hash:
        verdict.fail(
            checkpoint.seq,
            checkpoint.seq,
            f"does not match the checkpoint the witness {where} holds for it: the log was rewritten",
        )
        return
    verdict.witness_seq = checkpoint.seq
    verdict.checked.append(
        f"witness {where}: its newest checkpoint (seq {checkpoint.seq}) is in the log, unchanged"
        + ("" if verifier is None else ", validly signed")
    )
    if checkpoint.seq < end.seq:
        verdict.not_checked.append(
            f"records {checkpoint.seq + 1}-{end.seq} are newer than the witness's newest checkpoint"
        )


# -- the writer's side --------------------------------------------------------------------------


def witness_for(scope: AuditScope) -> S3Witness | None:
    """The configured witness (``audit.witness``), or None."""
    url = scope.settings.witness
    return open_witness(scope, url) if url else None


def publish_checkpoint(scope: AuditScope, log: Any) -> Checkpoint | None:
    """Publish the checkpoint of ``log``'s last append to the configured witness; returns it.

    Raises ``StateError`` (the caller warns: the next command's checkpoint
    covers this record too) when the witness cannot take it.
    """
    checkpoint: Checkpoint | None = getattr(log, "last_checkpoint", None)
    witness = witness_for(scope)
    if checkpoint is None or witness is None:
        return checkpoint
    first = log.first_record() if hasattr(log, "first_record") else None
    previous = None
    if first is not None and first.get("kind") == "segment" and isinstance(first.get("previous"), dict):
        log_value = first["previous"].get("log")
        previous = log_value if isinstance(log_value, str) else None
    try:
        witness.publish(checkpoint, previous)
    except StateError as exc:
        raise StateError(
            f"the record was written, but its checkpoint (seq {checkpoint.seq}) was not published to the "
            f"witness: {exc.message}",
            hint=(exc.hint or "") + " (the next command's checkpoint covers this record too)",
        ) from None
    return checkpoint


def check_witness_before_change(scope: AuditScope, log: Any) -> None:
    """Refuse a change when the witness is unreachable or ahead of the log (rolled back, truncated, wiped)."""
    witness = witness_for(scope)
    if witness is None:
        return
    witness.check()
    head = log.head_checkpoint() if hasattr(log, "head_checkpoint") else None
    witnessed = witness.latest()
    if head is None:
        if witnessed:
            newest = max(witnessed.values(), key=lambda item: item[0].seq)[0]
            raise StateError(
                f"refusing to append to the audit log {log.describe()}: it has no signed head, but the witness "
                f"{witness.describe()} holds checkpoint seq {newest.seq} of log {newest.log[:16]} (the log was "
                "wiped or replaced)",
                hint="restore the log from a backup, or record the loss with `deployforge audit new-segment "
                "--reason TEXT`",
            )
        return
    if head.log in witnessed:
        seen = witnessed[head.log][0]
        if seen.seq > head.seq:
            raise StateError(
                f"refusing to append to the audit log {log.describe()}: the witness {witness.describe()} holds "
                f"checkpoint seq {seen.seq}, but the log ends at seq {head.seq} (records removed from the end, "
                "or an older copy of the log put back)",
                hint="run `deployforge audit verify`; restore the log from a backup, or record the loss with "
                "`deployforge audit new-segment --reason TEXT`",
            )
