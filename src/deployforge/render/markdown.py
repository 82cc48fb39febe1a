"""The PR comment: one Markdown document rendered from a ``RunResult`` (pure; no GitHub code).

Layout, top to bottom::

    <!-- deployforge:comment ... -->          hidden marker (the comment is found again by it)
    ### <icon> DeployForge <command> · `env`: <verdict>
    | Stage | Result |                         one row per present section
    **Destructive changes** / **Policy failures** / canary abort / security drift   (first, short)
    <details> per stage                      the long part
    footer: run link · commit · run id

Each result section is rendered by a small per-section renderer (``SECTIONS``) that reads only the
section's ``to_json()`` shape, so the policy, canary, drift and hooks sections slot in as their
engineers fill ``RunResult``. A section renderer returns a ``Section``: its table row, its
"attention" lines (shown before all details) and its details body.

The comment always fits GitHub's 65,536-character limit: the status line, the table, the
attention lists (capped) and the footer are always kept; details are cut, section by section,
and the comment says where the rest is (the job summary and the report artifact).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from deployforge.audit.ci import footer_part as audit_footer_part
from deployforge.render import safe_md

GITHUB_COMMENT_LIMIT = 65536
ATTENTION_CAP = 15  # attention lines per section; the rest is counted ("and 4 more")
MARKER_PREFIX = "<!-- deployforge:comment"

OK, WARN, FAIL, INFO = "✅", "⚠️", "❌", "ℹ️"  # noqa: RUF001


@dataclass(frozen=True)
class RenderContext:
    """Where the run happened: everything the result itself does not know."""

    workflow: str = ""
    run_url: str | None = None
    commit: str | None = None
    summary_url: str | None = None  # the job summary of this run (details that were cut live there)
    artifact: str | None = None  # the report file / artifact name holding the full report
    repository: str | None = None
    server_url: str = "https://github.com"


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    status: str  # OK / WARN / FAIL / INFO
    headline: str  # the table cell
    attention_title: str = ""
    attention: tuple[str, ...] = ()  # markdown list items, most important first
    details: str = ""  # markdown body (may be long)
    details_summary: str = ""


# -- helpers ---------------------------------------------------------------------------------------


def marker(workflow: str, environment: str | None) -> str:
    """The hidden marker naming one (workflow, environment) comment."""

    def clean(text: str) -> str:
        return " ".join(text.replace("--", "- -").replace(">", "").replace("<", "").split()) or "-"

    return (
        f"{MARKER_PREFIX} workflow={json.dumps(clean(workflow))} environment={json.dumps(clean(environment or ''))} -->"
    )


def _masked(text: Any) -> str:
    """``str(text)`` with every secret the run resolved replaced by ``***``: done first, before a
    helper below shortens or escapes the text (a cut or escaped secret no longer matches)."""
    from deployforge.secrets.masking import mask

    return mask(str(text))


def code(text: Any) -> str:
    """Inline code that survives any value (``render.safe_md.code``)."""
    return safe_md.code(text)


def cell(text: Any) -> str:
    """A Markdown fragment (code spans, escaped text) made safe inside a table cell."""
    return safe_md.cell(str(text))


def plain(text: Any, limit: int = 300) -> str:
    """Free text from results (messages, reasons), on one line, inert (``render.safe_md.text``), bounded."""
    return safe_md.text(text, limit)


def short_value(value: Any, limit: int = 80) -> str:
    text = _masked(json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def capped(items: Sequence[str], cap: int = ATTENTION_CAP) -> tuple[str, ...]:
    if len(items) <= cap:
        return tuple(items)
    return (*items[:cap], f"…and {len(items) - cap} more (see the details)")


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


# -- per-section renderers -------------------------------------------------------------------------

_ACTION_ORDER = {"delete": 0, "replace": 1, "update": 2, "create": 3, "no-op": 4}
_ACTION_SYMBOL = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "no-op": " "}


def plan_section(result: Any) -> Section | None:
    if result.plan is None:
        return None
    data = result.plan.to_json()
    changed = [r for r in data["resources"] if r["action"] != "no-op"]
    changed.sort(key=lambda r: (_ACTION_ORDER[r["action"]], f"{r['type']}.{r['name']}"))
    counts = {k: v for k, v in data["summary"].items() if v and k != "no-op"}
    destructive = [r for r in changed if r["action"] in ("delete", "replace")]
    if not changed:
        return Section("plan", "Plan", OK, "no changes")
    headline = ", ".join(f"{n} to {k}" for k, n in sorted(counts.items(), key=lambda kv: _ACTION_ORDER[kv[0]]))
    status = WARN if destructive else INFO
    attention = [
        f"{code(_ACTION_SYMBOL[r['action']])} **{r['action']}** {code(r['type'] + '.' + r['name'])}"
        + (f" ({code(r['resource_id'])})" if r.get("resource_id") else "")
        + (f": {plain(r['note'], 120)}" if r.get("note") else "")
        for r in destructive
    ]
    lines = ["| | resource | action | attributes |", "|---|---|---|---|"]
    for r in changed:
        keys = [
            c["key"] + (" (forces replacement)" if c.get("forces_replacement") else "") for c in r.get("changes", [])
        ]
        attrs = ", ".join(keys[:8]) + (f", +{len(keys) - 8}" if len(keys) > 8 else "")
        lines.append(
            f"| {code(_ACTION_SYMBOL[r['action']])} | {cell(code(r['type'] + '.' + r['name']))} | {r['action']} "
            f"| {cell(plain(attrs)) or '-'} |"
        )
    attr_lines: list[str] = []
    for r in changed:
        if not r.get("changes"):
            continue
        attr_lines.append(f"\n**{code(r['type'] + '.' + r['name'])}** ({r['action']})\n")
        diff: list[str] = []
        for c in r["changes"]:
            after = "(known after apply)" if c.get("after_unknown") else short_value(c.get("after"), 200)
            key = safe_md.one_line(c["key"])
            if r["action"] != "create":
                diff.append(f"- {key}: {safe_md.one_line(short_value(c.get('before'), 200))}")
            if r["action"] != "delete":
                diff.append(f"+ {key}: {safe_md.one_line(after)}")
        attr_lines += safe_md.fence(diff, "diff")
    details = "\n".join(lines + attr_lines)
    return Section(
        "plan",
        "Plan",
        status,
        headline + (f" ({plural(len(destructive), 'destructive change')})" if destructive else ""),
        "Destructive changes",
        capped(attention),
        details,
        f"Plan: {plural(len(changed), 'change')}",
    )


def policy_section(result: Any) -> Section | None:
    if result.policy is None:
        return None
    data = result.policy.to_json()
    counts = data.get("counts", {})
    findings = data.get("findings", [])
    failures = [f for f in findings if f.get("outcome") in ("failure", "error")]
    warnings = [f for f in findings if f.get("outcome") == "warning"]
    sev_rank = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
    failures.sort(key=lambda f: (sev_rank.get(f.get("severity", ""), 9), f.get("rule_id", "")))

    def where(f: dict[str, Any]) -> str:
        if f.get("resource"):
            return code(f["resource"])
        if f.get("file"):
            return code(f"{f['file']}:{f['line']}" if f.get("line") else f["file"])
        return ""

    status = FAIL if not data.get("passed", True) else (WARN if warnings else OK)
    parts = [f"{counts.get('passed', 0)} passed"]
    if failures:
        parts.append(plural(len(failures), "failure"))
    if warnings:
        parts.append(plural(len(warnings), "warning"))
    attention = [
        f"**{plain(f.get('severity', '?'), 40)}** {code(f.get('rule_id', '?'))} {where(f)}: "
        f"{plain(f.get('message', ''), 200)}"
        for f in failures
    ]
    lines = ["| outcome | severity | rule | where | message |", "|---|---|---|---|---|"]
    for f in [*failures, *warnings, *[f for f in findings if f.get("outcome") == "exception"]]:
        lines.append(
            f"| {plain(f.get('outcome'), 40)} | {plain(f.get('severity'), 40)} | {cell(code(f.get('rule_id')))} "
            f"| {cell(where(f)) or '-'} | {cell(plain(f.get('message', ''), 300))} |"
        )
        if f.get("remediation"):
            lines[-1] = lines[-1][:-1] + f"fix: {cell(plain(f['remediation'], 200))} |"
    details = "\n".join(lines) if len(lines) > 2 else "Every check passed."
    return Section(
        "policy",
        "Policy",
        status,
        ", ".join(parts),
        "Policy failures",
        capped(attention),
        details,
        f"Policy: {plural(counts.get('checks', 0), 'check')}",
    )


def canary_section(result: Any) -> Section | None:
    if result.canary is None:
        return None
    data = result.canary.to_json()
    verdict = str(data.get("verdict", "?"))
    status = OK if verdict == "promoted" else FAIL
    headline = f"{verdict.replace('_', ' ')}" + (f": {plain(data['reason'], 120)}" if data.get("reason") else "")
    attention: list[str] = []
    gate = data.get("failed_gate")
    if gate:
        attention.append(
            f"gate {code(gate.get('gate'))} failed at {plain(gate.get('weight'), 20)}%: value "
            f"{code(short_value(gate.get('value')))}, expected {code(short_value(gate.get('expected')))}"
        )
    lines = ["| step | what | weight | outcome | gates |", "|---|---|---|---|---|"]
    for step in data.get("steps", []):
        gates = ", ".join(
            f"{plain(g.get('gate'), 60)} {'pass' if g.get('passed') else 'FAIL'}" for g in step.get("gates", [])
        )
        lines.append(
            f"| {plain(step.get('index'), 20)} | {cell(plain(step.get('description', ''), 120))} "
            f"| {plain(step.get('weight'), 20)} | {plain(step.get('outcome'), 40)} | {cell(gates) or '-'} |"
        )
    return Section(
        "canary",
        "Canary",
        status,
        cell(headline),
        "Canary",
        tuple(attention),
        "\n".join(lines),
        f"Canary ({safe_md.html(data.get('strategy', ''))})",
    )


def _diff_lines(change: dict[str, Any]) -> list[str]:
    from deployforge.drift.structural import change_lines

    return [line.text for line in change_lines(str(change.get("path")), change.get("expected"), change.get("actual"))]


def drift_section(result: Any) -> Section | None:
    if result.drift is None:
        return None
    data = result.drift.to_json()
    records = [r for r in data.get("records", []) if "ignored" not in r]
    active = [r for r in records if r.get("status") != "NOT_CHECKED"]
    not_checked = [r for r in records if r.get("status") == "NOT_CHECKED"]
    rank = {"security-critical": 0, "performance-impacting": 1, "informational": 2}
    active.sort(key=lambda r: (rank.get(r.get("severity") or "", 9), r.get("resource", "")))
    if not active and not not_checked:
        return Section("drift", "Drift", OK, f"in sync ({plural(data.get('resources_checked', 0), 'resource')})")
    status = FAIL if any(r.get("severity") == "security-critical" for r in active) or not_checked else WARN
    parts = [plural(len(active), "drifted resource")]
    if not_checked:
        parts.append(f"{len(not_checked)} not checked")
    attention = [
        f"{code(r.get('id'))} **{plain(r.get('severity'), 40)}** {code(r.get('resource'))}: "
        f"{', '.join(code(c.get('path')) for c in r.get('changes', [])[:5]) or plain(r.get('reason', ''), 120)}"
        for r in active
        if r.get("severity") == "security-critical"
    ]
    attention += [f"{code(r.get('resource'))} not checked: {plain(r.get('error') or '', 160)}" for r in not_checked]
    lines = ["| id | severity | resource | change (baseline → live) |", "|---|---|---|---|"]
    for r in active:
        # the drift's own diff lines (``+ ingress tcp/22 from 0.0.0.0/0``), each whole
        diff = [d for c in r.get("changes") or [] for d in c.get("diff") or _diff_lines(c)]
        for d in diff or [str(r.get("status", "")).lower()]:
            lines.append(
                f"| {cell(code(r.get('id')))} | {plain(r.get('severity'), 40)} | {cell(code(r.get('resource')))} "
                f"| {cell(code(d))} |"
            )
    return Section(
        "drift",
        "Drift",
        status,
        ", ".join(parts),
        "Security-critical drift",
        capped(attention),
        "\n".join(lines),
        f"Drift in <code>{safe_md.html(data.get('environment', ''))}</code>",
    )


def hooks_section(result: Any) -> Section | None:
    if result.hooks is None:
        return None
    data = result.hooks.to_json()
    raw: Any = (data.get("runs") or data.get("hooks") or []) if isinstance(data, dict) else data
    runs: list[dict[str, Any]] = [r for r in (raw or []) if isinstance(r, dict)]
    if not runs:
        return None

    def outcome(h: dict[str, Any]) -> str:
        status = str(h.get("status") or ("ok" if h.get("exit_code", 0) == 0 else "failed"))
        detail = h.get("message") or (f"exit code {h['exit_code']}" if h.get("exit_code") not in (None, 0) else "")
        text = status + (f" ({detail})" if detail and status != "ok" else "")
        return text + (", allowed (continue_on_error)" if status != "ok" and h.get("continue_on_error") else "")

    def blocking(h: dict[str, Any]) -> bool:
        return str(h.get("status", "ok")) != "ok" and not h.get("continue_on_error")

    def tolerated(h: dict[str, Any]) -> bool:
        return str(h.get("status", "ok")) != "ok" and bool(h.get("continue_on_error"))

    def label(h: dict[str, Any]) -> str:
        where = f" on {plain(h['target'], 80)}" if h.get("target") else ""
        return f"{code(h.get('name') or h.get('command') or '?')}{where}"

    failed, allowed = [h for h in runs if blocking(h)], [h for h in runs if tolerated(h)]
    lines = ["| phase | hook | result |", "|---|---|---|"]
    lines += [f"| {plain(h.get('phase', ''), 40)} | {cell(label(h))} | {cell(plain(outcome(h), 160))} |" for h in runs]
    summary = plural(len(runs), "hook") + (f", {len(failed)} failed" if failed else "")
    summary += f", {len(allowed)} failed but allowed" if allowed else ""
    return Section(
        "hooks",
        "Hooks",
        FAIL if failed else (WARN if allowed else OK),
        summary,
        "Failed hooks",
        tuple(f"{plain(h.get('phase', ''), 40)} {label(h)}: {plain(outcome(h), 160)}" for h in failed),
        "\n".join(lines),
        "Hooks",
    )


def issues_section(result: Any) -> Section | None:
    if not result.issues:
        return None
    items = [
        (f"{code(str(i.location))}: " if i.location else "")
        + plain(i.message, 300)
        + (f" ({plain(i.hint)})" if i.hint else "")
        for i in result.issues
    ]
    return Section(
        "config",
        "Config",
        FAIL,
        plural(len(items), "problem"),
        "Config problems",
        capped(items),
        "\n".join(f"- {x}" for x in items),
        "Config problems",
    )


def apply_section(result: Any) -> Section | None:
    if result.apply is None:
        return None
    data = result.apply.to_json()
    touched = [r for r in data.get("resources", []) if r.get("outcome") != "unchanged"]
    failed = [r for r in touched if r.get("outcome") == "failed"]
    counts = {k: v for k, v in data.get("summary", {}).items() if v and k != "unchanged"}

    def addr(r: dict[str, Any]) -> str:
        return code(f"{r.get('type')}.{r.get('name')}")

    lines = ["| resource | action | outcome | detail |", "|---|---|---|---|"]
    for r in touched:
        detail = r.get("error") or r.get("reason") or ""
        lines.append(
            f"| {cell(addr(r))} | {plain(r.get('action', ''), 40)} | {plain(r.get('outcome', ''), 40)} "
            f"| {cell(plain(detail, 200)) or '-'} |"
        )
    status = FAIL if failed or data.get("interrupted") else OK
    return Section(
        "apply",
        "Apply",
        status,
        (", ".join(f"{n} {k}" for k, n in counts.items()) or "nothing to do")
        + (" (interrupted)" if data.get("interrupted") else ""),
        "Apply failures",
        capped([f"{addr(r)}: {plain(r.get('error') or '', 200)}" for r in failed]),
        "\n".join(lines) if touched else "",
        "Apply",
    )


# Order of the table and of the attention lists: what needs a reviewer's eyes first.
SECTIONS: tuple[Callable[[Any], Section | None], ...] = (
    issues_section,
    policy_section,
    plan_section,
    apply_section,
    canary_section,
    hooks_section,
    drift_section,
)


def sections(result: Any) -> list[Section]:
    return [s for s in (render(result) for render in SECTIONS) if s is not None]


# -- the document ----------------------------------------------------------------------------------


def completed(result: Any) -> bool:
    """The command did its work: exit 0, or 2 where 2 is a finding (plan: changes; drift: drift found)."""
    if getattr(result, "error", None) is not None:
        return False
    return bool(result.ok) or (result.command == "drift" and result.exit_code == 2 and not result.issues)


def verdict(result: Any, secs: Sequence[Section]) -> tuple[str, str]:
    """(icon, words) for the status line."""
    if any(s.status == FAIL for s in secs) or not completed(result):
        failing = [s.title.lower() for s in secs if s.status == FAIL]
        return FAIL, "failed" + (f" ({', '.join(failing)})" if failing else "")
    if any(s.status == WARN for s in secs):
        return WARN, "needs attention"
    if result.plan is not None and result.plan.has_changes and result.apply is None:
        return INFO, "changes to apply"
    return OK, "passed"


def header(result: Any, secs: Sequence[Section]) -> list[str]:
    icon, words = verdict(result, secs)
    env = f" · {code(result.environment)}" if result.environment else ""
    out = [f"### {icon} DeployForge {result.command}{env}: {words}", ""]
    if secs:
        out += ["| Stage | | Result |", "|---|---|---|"]
        out += [f"| {s.title} | {s.status} | {cell(s.headline)} |" for s in secs]
        out.append("")
    for message in result.messages:
        line = plain(message)
        out += [f"> {line}", ""] if line else []
    return out


def attention(secs: Sequence[Section]) -> list[str]:
    out: list[str] = []
    for s in secs:
        if s.attention:
            out += [f"**{s.attention_title}**", ""] + [f"- {line}" for line in s.attention] + [""]
    return out


def footer(result: Any, ctx: RenderContext) -> list[str]:
    parts = []
    if ctx.run_url:
        parts.append(f"[workflow run]({ctx.run_url})")
    if ctx.commit:
        parts.append(f"commit {code(ctx.commit[:12])}")
    # the run's trace id: `deployforge audit trace <id> --format=mermaid` draws the run
    parts.append(f"trace {code(result.trace_id or result.run_id)}")
    if checkpoint := audit_footer_part(result):  # the signed audit checkpoint: a witness (docs/audit.md)
        parts.append(checkpoint)
    return ["<sub>" + " · ".join(parts) + "</sub>"]


def details_block(s: Section, body: str, *, open_: bool = False) -> list[str]:
    return [
        f"<details{' open' if open_ else ''}><summary>{s.details_summary or s.title}</summary>",
        "",
        body,
        "",
        "</details>",
        "",
    ]


def where_the_rest_is(ctx: RenderContext) -> str:
    places = []
    if ctx.summary_url:
        places.append(f"the [job summary]({ctx.summary_url})")
    else:
        places.append("the job summary of this run")
    if ctx.artifact:
        places.append(f"the report file {code(ctx.artifact)}")
    return " and ".join(places)


def _closing_fence(text: str) -> str:
    """What closes a fenced code block left open at the end of ``text`` ('' when none is)."""
    import re

    open_fence: str | None = None
    for line in text.split("\n"):
        m = re.fullmatch(r"(`{3,})(.*)", line)
        if m is None:
            continue
        if open_fence is None:
            open_fence = m.group(1)
        elif m.group(2).strip() == "" and len(m.group(1)) >= len(open_fence):
            open_fence = None
    return "" if open_fence is None else "\n" + open_fence


def render_comment(result: Any, ctx: RenderContext, *, limit: int = GITHUB_COMMENT_LIMIT) -> str:
    """The PR comment; never longer than ``limit`` characters (details are cut first)."""
    secs = sections(result)
    head = [marker(ctx.workflow, result.environment), *header(result, secs), *attention(secs)]
    foot = footer(result, ctx)
    cut_note = (
        f"> {WARN} Some details were cut to fit GitHub's comment size limit; "
        f"the full report is in {where_the_rest_is(ctx)}."
    )
    fixed = len("\n".join(head + foot)) + len(cut_note) + 4
    if fixed > limit:  # even the summary does not fit (only with an absurdly small limit)
        raise ValueError(f"the comment's summary alone is {fixed} characters, over the limit of {limit}")
    body: list[str] = []
    used = fixed
    cut = False
    for s in secs:
        if not s.details:
            continue
        block = "\n".join(details_block(s, s.details)) + "\n"
        if used + len(block) <= limit:
            body.append(block)
            used += len(block)
            continue
        cut = True
        room = limit - used - len("\n".join(details_block(s, ""))) - 200
        if room > 500:
            kept = s.details[:room].rsplit("\n", 1)[0]
            kept += _closing_fence(kept)  # never leave a code fence open
            note = f"\n\n…cut here; the rest is in {where_the_rest_is(ctx)}."
            block = "\n".join(details_block(s, kept + note)) + "\n"
            body.append(block)
            used += len(block)
    parts = head + ([cut_note, ""] if cut else []) + ["".join(body).rstrip("\n"), ""] + foot
    text = _masked("\n".join(p for p in parts if p is not None).replace("\n\n\n", "\n\n"))  # masks can only shorten
    assert len(text) <= limit, len(text)
    return text + "\n" if len(text) < limit else text


@dataclass(frozen=True)
class Annotation:
    level: str  # error | warning | notice
    message: str
    title: str = ""
    file: str | None = None
    line: int | None = None
    column: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def annotations_for(result: Any) -> list[Annotation]:
    """Annotations on the right lines: config issues, policy findings, drift (pure)."""
    out: list[Annotation] = []
    for i in result.issues:
        loc = i.location
        out.append(
            Annotation(
                "error",
                i.message + (f" (hint: {i.hint})" if i.hint else ""),
                "DeployForge config",
                loc.file if loc else None,
                (loc.line or None) if loc else None,
                (loc.column or None) if loc else None,
            )
        )
    if result.policy is not None:
        level = {"failure": "error", "error": "error", "warning": "warning", "exception": "notice"}
        for f in result.policy.to_json().get("findings", []):
            out.append(
                Annotation(
                    level.get(f.get("outcome", ""), "warning"),
                    f"{f.get('message', '')}" + (f" (fix: {f['remediation']})" if f.get("remediation") else ""),
                    f"policy {f.get('rule_id', '')} ({f.get('severity', '')})",
                    f.get("file"),
                    f.get("line") or None,
                )
            )
    if result.drift is not None:
        for r in result.drift.to_json().get("records", []):
            if "ignored" in r or r.get("status") == "NOT_CHECKED":
                continue
            paths = ", ".join(c.get("path", "") for c in r.get("changes", []))
            out.append(
                Annotation(
                    "error" if r.get("severity") == "security-critical" else "warning",
                    f"{r.get('resource')} drifted ({paths or r.get('status')})",
                    f"drift {r.get('id')} ({r.get('severity')})",
                )
            )
    return out
