"""`deployforge audit`: the hash-chained audit log."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from deployforge.cli.common import (
    CONTEXT,
    POINT_IN_TIME,
    REPORT_FILE,
    config_option,
    emit_json,
    project_options,
    reported_errors,
    run_project_command,
)

if TYPE_CHECKING:
    from deployforge.usecases.workspace import Workspace

# -- audit --------------------------------------------------------------------


@click.group(context_settings=CONTEXT)
def audit() -> None:
    """The append-only, hash-chained audit log of every command."""


@audit.command("verify", context_settings=CONTEXT)
@project_options
@click.option(
    "--public-key",
    metavar="FILE",
    help="Check the signed checkpoints with this PEM public key (default: audit.signing in the config).",
)
@click.option(
    "--witness",
    metavar="s3://BUCKET/PREFIX",
    help="Check the log against the newest checkpoint published there (default: audit.witness).",
)
@click.option(
    "--checkpoint",
    "checkpoint_text",
    metavar="LINE",
    help="Check the log against a checkpoint line copied from a job summary, PR comment or build description.",
)
@click.option("--allow-empty", is_flag=True, help="An empty, unsigned log is a new one, not a wiped one.")
@run_project_command("audit verify", record=False)
def audit_verify(
    ws: Workspace,
    fmt: str,
    style: Callable[..., str],
    holder: dict[str, Any],
    public_key: str | None,
    witness: str | None,
    checkpoint_text: str | None,
    allow_empty: bool,
) -> int:
    """Check the log: its hash chain, its signed checkpoints, and a witness; say what was not checked.

    \b
    Exit 0 when everything checked held, 1 when a record is damaged, forged,
    missing or not covered by a valid signature (the first one is named).
    Reading the log does not append to it.
    """
    from deployforge.audit.settings import verifier_for
    from deployforge.audit.verify import verify_log
    from deployforge.usecases.audit import audit_log, audit_scope

    log = audit_log(ws)
    scope = audit_scope(ws)
    verifier = verifier_for(scope, public_key)
    witness_url = witness or scope.settings.witness
    witness_store: Any = None
    if checkpoint_text:
        from deployforge.audit.witness import LineWitness, parse_checkpoint_line

        witness_store = LineWitness(parse_checkpoint_line(checkpoint_text))
    elif witness_url:
        from deployforge.audit.witness import open_witness

        witness_store = open_witness(scope, witness_url)
    verdict = verify_log(log, verifier=verifier, witness=witness_store, allow_empty=allow_empty)
    path = verdict.location
    if fmt == "json":
        emit_json(verdict.to_json())
        return 0 if verdict.ok else 1
    if verdict.ok:
        signed = ", signed checkpoint verified" if verdict.signed_through is not None else ""
        witnessed = ", matches the witness" if verdict.witness_seq is not None else ""
        click.echo(style(f"{path}: {verdict.records} records, chain intact{signed}{witnessed}", fg="green"))
    else:
        bad = verdict.first_bad
        assert bad is not None
        click.echo(
            style(
                f"{path}:{bad.line}: record {bad.seq if bad.seq is not None else '?'}: {bad.reason}",
                fg="red",
                bold=True,
            )
        )
        click.echo(f"  {verdict.records} records read; the log cannot be trusted from there on.")
    for line in verdict.checked:
        click.echo(f"  checked: {line}")
    for line in verdict.not_checked:
        click.echo(f"  not checked: {line}")
    return 0 if verdict.ok else 1


@audit.command("checkpoint", context_settings=CONTEXT)
@project_options
@run_project_command("audit checkpoint", record=False)
def audit_checkpoint(ws: Workspace, fmt: str, style: Callable[..., str], holder: dict[str, Any]) -> int:
    """Print the log's signed checkpoint as one line, for a CI summary or build description.

    \b
    Anyone can later check the log against it:
      deployforge audit verify --checkpoint 'deployforge audit checkpoint log=... seq=...'
    Exits 1 when the log has no signed checkpoint (audit.signing is not set).
    """
    from deployforge.audit.ci import checkpoint_line
    from deployforge.errors import StateError
    from deployforge.usecases.audit import audit_log

    log = audit_log(ws)
    checkpoint = log.head_checkpoint()
    if checkpoint is None:
        raise StateError(
            f"the audit log {log.describe()} has no signed checkpoint",
            hint="set audit.signing (key_file, kms_key_id or key) so every command signs one (docs/audit.md)",
        )
    if fmt == "json":
        emit_json(checkpoint.to_json())
    else:
        click.echo(checkpoint_line(checkpoint))
    return 0


@audit.command("new-segment", context_settings=CONTEXT)
@project_options
@click.option("--reason", required=True, metavar="TEXT", help="Why: what happened to the log (kept in the record).")
@run_project_command("audit new-segment")
def audit_new_segment(ws: Workspace, fmt: str, style: Callable[..., str], holder: dict[str, Any], reason: str) -> int:
    """Recover from a damaged log: keep it as evidence, start a new segment that records the damage.

    \b
    The old audit.jsonl and audit.head.json are renamed (audit.<time>.jsonl,
    never deleted); record 1 of the new log (kind "segment") names the old
    file, its sha256, how far its chain verified and its first bad record.
    """
    from deployforge.errors import UsageError
    from deployforge.usecases.audit import audit_log

    log = audit_log(ws)
    if not hasattr(log, "new_segment"):
        raise UsageError(
            f"the audit log {log.describe()} is in an object store, whose records cannot be moved aside",
            hint="point audit.url at a new prefix to start a new log; the old prefix stays as evidence",
        )
    lost = None
    from deployforge.audit.witness import witness_for
    from deployforge.usecases.audit import audit_scope

    witness = witness_for(audit_scope(ws))
    if witness is not None and log.first_record() is None:
        # the log is gone: name the log the witness knows, so verify --witness follows the new segment to it
        witnessed = witness.latest()
        superseded = {previous for _checkpoint, previous in witnessed.values() if previous}
        newest = [log_id for log_id in witnessed if log_id not in superseded]
        lost = newest[0] if len(newest) == 1 else None
    record = log.new_segment({"reason": reason, "run_id": ws.run_id}, lost_log=lost)
    previous = record["previous"]
    if fmt == "json":
        emit_json(record)
        return 0
    kept = previous.get("file") or "(no log file)"
    bad = previous.get("first_bad")
    damage = f"; first bad record: {bad['seq']} ({bad['reason']})" if bad else "; its chain was sound"
    click.echo(f"kept {kept} ({previous['records_verified']} records verified{damage})")
    click.echo(f"{log.describe()}: new segment started, record 1 names the old log")
    return 0


@audit.command("log", context_settings=CONTEXT)
@project_options
@click.option("--run", "--trace", "trace", metavar="TRACE_ID", help="Only this run (its trace id).")
@click.option("--all-environments", is_flag=True, help="Every environment, not only the selected one.")
@click.option(
    "--since", type=POINT_IN_TIME, help="Only records at or after this time (RFC 3339, or ago: 30m, 24h, 7d)."
)
@click.option("--until", type=POINT_IN_TIME, help="Only records before this time (RFC 3339, or ago: 30m, 24h, 7d).")
@click.option("--steps", is_flag=True, help="Show step records too, not only one record per command.")
@click.option(
    "-n", "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Show the last N records."
)
@run_project_command("audit log", record=False)
def audit_log(
    ws: Workspace,
    fmt: str,
    style: Callable[..., str],
    holder: dict[str, Any],
    trace: str | None,
    all_environments: bool,
    since: str | None,
    until: str | None,
    steps: bool,
    limit: int,
) -> int:
    """Show audit records, newest last (filter by environment, time, trace)."""
    from deployforge.audit.trace_report import record_kind, record_trace_id
    from deployforge.usecases.audit import audit_log as open_audit_log

    env = None if all_environments else ws.options.environment
    log = open_audit_log(ws)
    records: list[dict[str, Any]] = []
    for rec in log.records(since=since, until=until, reverse=True):  # from the end: fast on a long log
        if len(records) >= limit:
            break
        if not steps and record_kind(rec) == "step":
            continue
        if env is not None and rec.get("environment") != env and record_kind(rec) == "run":
            continue
        if trace is not None and trace.upper() not in (record_trace_id(rec), rec.get("parent_trace_id")):
            continue
        if env is not None and record_kind(rec) == "step":
            continue  # steps carry no environment; show them with --all-environments or --trace
        records.append(rec)
    records.reverse()
    if fmt == "json":
        emit_json(records)
        return 0
    if records:  # one row a record; a step (--steps, --trace): `  step NAME (duration)` under its run
        from deployforge.audit.trace_report import as_step, format_duration
        from deployforge.ci.workflow_commands import one_line
        from deployforge.text import clip, columns

        rows: list[list[str]] = []
        for rec in records:
            if record_kind(rec) == "step":
                step = as_step(rec)
                duration = step.get("duration_ms")
                name = clip(one_line(step.get("name") or "?"), 48)
                rows.append(
                    [
                        str(rec.get("seq")),
                        str(rec.get("ts") or ""),
                        f"  step {name} ({format_duration(duration if type(duration) in (int, float) else None)})",
                        "",
                        one_line(step.get("outcome") or ""),
                        str(record_trace_id(rec) or ""),
                    ]
                )
                continue
            command = rec.get("command", "")
            if isinstance(command, list):
                command = " ".join(map(str, command))
            parent = f" (parent {rec['parent_trace_id']})" if rec.get("parent_trace_id") else ""
            rows.append(
                [
                    str(rec.get("seq")),
                    str(rec.get("ts") or ""),
                    one_line(command),
                    one_line(rec.get("environment") or "-"),
                    one_line(rec.get("outcome", "")),
                    f"{record_trace_id(rec)}{parent}",
                ]
            )
        seq_width = max(len(r[0]) for r in rows)
        rows = [[r[0].rjust(seq_width), *r[1:]] for r in rows]
        for line in columns(["SEQ".rjust(seq_width), "TIME", "COMMAND", "ENV", "RESULT", "TRACE"], rows, indent=""):
            click.echo(line)
    if not records:
        click.echo("(no audit records)")
    return 0


def _load_trace(ws: Workspace, trace_id: str) -> Any:
    from deployforge.audit.trace_report import build_trace, record_trace_id, resolve_trace_id
    from deployforge.usecases.audit import audit_log as open_audit_log

    log = open_audit_log(ws)
    records = list(log.records())
    known = {tid for tid in (record_trace_id(r) for r in records) if tid}
    full = resolve_trace_id(known, trace_id, f"the audit log {log.describe()}")
    return build_trace(records, full), records


@audit.command("trace", context_settings=CONTEXT)
@click.argument("trace_id", metavar="TRACE_ID")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "mermaid"]),
    default="text",
    show_default=True,
    help="text: an indented tree; json: the nodes; mermaid: a flowchart in a ```mermaid block (GitHub renders it).",
)
@click.option("--bare", is_flag=True, help="With --format=mermaid: the diagram alone, without the Markdown fence.")
@config_option
@click.option(
    "-e",
    "--environment",
    default=None,
    envvar="DEPLOYFORGE_ENVIRONMENT",
    metavar="NAME",
    help="Which environment of the config to use.",
)
@click.option("--no-color", is_flag=True, help="No ANSI colours (also: NO_COLOR=1).")
def audit_trace(trace_id: str, fmt: str, bare: bool, config: str, environment: str | None, no_color: bool) -> None:
    """Draw what happened in run TRACE_ID: its steps and the commands it started, with outcomes and durations.

    \b
    deployforge audit trace DF-TRC-9B12 --format=mermaid > trace.md
    """
    _trace_command(
        config=config, environment=environment, sandbox=False, fmt=fmt, no_color=no_color, trace_id=trace_id, bare=bare
    )


@run_project_command("audit trace", record=False)
def _trace_command(
    ws: Workspace, fmt: str, style: Callable[..., str], holder: dict[str, Any], trace_id: str, bare: bool
) -> int:
    from deployforge.audit.trace_report import render_mermaid, render_text

    trace, _ = _load_trace(ws, trace_id)
    if fmt == "json":
        emit_json(trace.to_json())
    elif fmt == "mermaid":
        click.echo(render_mermaid(trace, fence=not bare), nl=False)
    else:
        click.echo(render_text(trace), nl=False)
    return 0


@audit.command("export", context_settings=CONTEXT)
@click.argument("trace_id", metavar="TRACE_ID")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["in-toto"]),
    default="in-toto",
    show_default=True,
    help="in-toto: an in-toto Statement v1 with a SLSA provenance v1 predicate (docs/audit.md).",
)
@click.option("--key", "key_file", metavar="FILE", help="Sign with this PEM private key: a DSSE envelope.")
@click.option("-o", "--out", type=REPORT_FILE, help="Write here instead of standard output.")
@config_option
@click.option("-e", "--environment", default=None, envvar="DEPLOYFORGE_ENVIRONMENT", metavar="NAME")
@click.option("--no-color", is_flag=True, help="No ANSI colours (also: NO_COLOR=1).")
def audit_export(
    trace_id: str,
    fmt: str,
    key_file: str | None,
    out: str | None,
    config: str,
    environment: str | None,
    no_color: bool,
) -> None:
    """Write the provenance of run TRACE_ID for supply-chain tooling (optionally signed)."""
    _export_command(
        config=config,
        environment=environment,
        sandbox=False,
        fmt=fmt,
        no_color=no_color,
        trace_id=trace_id,
        key_file=key_file,
        out=out,
    )


@run_project_command("audit export", record=False)
def _export_command(
    ws: Workspace,
    fmt: str,
    style: Callable[..., str],
    holder: dict[str, Any],
    trace_id: str,
    key_file: str | None,
    out: str | None,
) -> int:
    import json
    from pathlib import Path

    from deployforge import __version__
    from deployforge.audit.provenance import build_statement, envelope, key_signer
    from deployforge.audit.trace_report import record_kind, record_trace_id
    from deployforge.errors import UsageError

    trace, records = _load_trace(ws, trace_id)
    runs = [r for r in records if record_kind(r) == "run" and record_trace_id(r) == trace.trace_id]
    if not runs:
        raise UsageError(
            f"run {trace.trace_id} has steps but no final record (it did not finish), so it has no provenance"
        )
    audit = None
    if isinstance(runs[-1].get("sig"), str):
        from deployforge.audit.chain import content_digest
        from deployforge.usecases.audit import audit_log

        log = audit_log(ws)
        checkpoint = log.head_checkpoint()
        first = log.record_at(1)
        audit = {
            "log": content_digest(first) if first else None,
            "keyid": checkpoint.keyid if checkpoint else None,
            "checkpoint": checkpoint.to_json() if checkpoint else None,
        }
    document = build_statement(runs[-1], trace, __version__, audit)
    if key_file:
        sign, keyid = key_signer(key_file)
        document = envelope(document, sign, keyid)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if out:
        try:
            Path(out).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {out}: {exc.strerror}") from None
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text, nl=False)
    return 0


@audit.command("verify-export", context_settings=CONTEXT)
@click.argument("statement_file", metavar="FILE", type=click.Path(dir_okay=False))
@click.option("--public-key", required=True, metavar="FILE", help="The PEM public key of the log's signing key.")
def audit_verify_export(statement_file: str, public_key: str) -> None:
    """Check offline the signed audit record in an exported statement (audit export --format=in-toto).

    Needs no project, no log and no network: the record, its signature and
    the log's checkpoint travel in the statement (or its DSSE envelope).
    """
    import base64
    import json
    from pathlib import Path

    from deployforge.audit.provenance import verify_record_byproduct
    from deployforge.audit.signing import public_key_file
    from deployforge.errors import UsageError

    with reported_errors():
        try:
            document = json.loads(Path(statement_file).read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"cannot read {statement_file}: {exc.strerror}") from None
        except ValueError:
            raise UsageError(f"{statement_file} is not JSON", hint="give the file audit export wrote") from None
        if isinstance(document, dict) and "payload" in document:  # a DSSE envelope
            try:
                document = json.loads(base64.b64decode(document["payload"]))
            except (ValueError, TypeError):
                raise UsageError(f"{statement_file}: the envelope's payload is not base64 JSON") from None
        if not isinstance(document, dict):
            raise UsageError(f"{statement_file} is not an in-toto statement")
        record = verify_record_byproduct(document, public_key_file(public_key))
    click.echo(
        f"{statement_file}: audit record {record.get('seq')} ({record.get('command')}, {record.get('trace_id')}) "
        "is signed by the log's key; its content matches its hash"
    )
