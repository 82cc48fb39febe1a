"""Slack incoming webhooks: the message (pure) and the one HTTP POST (the adapter).

The webhook URL is a secret (anyone holding it can post): it is never printed or logged; errors
name only its scheme and host. A failing post raises ``SlackError``; callers that must not stop
(drift remediation) catch it and record the failure in their report.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from deployforge.errors import DeployForgeError

TIMEOUT_SECONDS = 5.0
SECTION_LIMIT = 2900  # Slack refuses a section text over 3,000 characters
TEXT_LIMIT = 3000


def fit_lines(lines: Sequence[str], limit: int) -> str:
    """``lines`` joined, folded to at most ``limit`` characters at whole lines (never mid-line, never
    leaving a code block open): what does not fit is counted, so nothing is cut silently."""
    whole = "\n".join(lines)
    if len(whole) <= limit:
        return whole
    note_room = 60
    out: list[str] = []
    used = 0
    in_code = False
    for n, line in enumerate(lines):
        extra = len(line) + 1
        if used + extra + note_room > limit:
            if in_code:
                out.append("```")
            out.append(f"… {len(lines) - n} more line(s): deployforge drift show")
            return "\n".join(out)
        out.append(line)
        used += extra
        if line.startswith("```"):
            in_code = not in_code
    return "\n".join(out)


class SlackError(DeployForgeError):
    """The Slack webhook could not be reached or refused the message."""


def slack(value: Any) -> str:
    """Text for Slack mrkdwn, masked, with its three control characters escaped (no mention, link or
    command): Slack's own escaping (api.slack.com, "Escaping text")."""
    from deployforge.secrets.masking import mask

    return mask(str(value)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def redacted(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…" if parts.scheme and parts.netloc else "(the webhook)"


def message(
    title: str,
    lines: Sequence[str],
    *,
    channel: str | None = None,
    fields: Mapping[str, str] | None = None,
    link: str | None = None,
) -> dict[str, Any]:
    """A webhook payload: plain ``text`` (notifications, old clients) plus Block Kit ``blocks``."""
    safe = [slack(line) for line in lines]  # untrusted text: no <!channel>, <@U..> or <url|link>
    body = fit_lines(safe, SECTION_LIMIT)
    text = f"{title}\n{fit_lines(safe, TEXT_LIMIT - len(title) - 1)}".strip()
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
    ]
    if fields:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{slack(k)}*\n{slack(v)}"} for k, v in list(fields.items())[:10]
                ],
            }
        )
    if body:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body}})
    if link:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{link}|CI run>"}]})
    payload: dict[str, Any] = {"text": text, "blocks": blocks}
    if channel:
        payload["channel"] = channel
    return payload


def post(webhook_url: str, payload: Mapping[str, Any], *, timeout: float = TIMEOUT_SECONDS) -> None:
    """POST ``payload`` to the webhook. Raises ``SlackError`` (never with the URL in it)."""
    where = redacted(webhook_url)
    if urlsplit(webhook_url).scheme not in ("http", "https"):
        raise SlackError(
            f"the Slack webhook {where} is not an http(s) URL",
            hint="set notifications.slack.webhook_url (or the action's webhook_url) to the incoming webhook URL",
        )
    request = urllib.request.Request(
        webhook_url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "deployforge"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            reply = response.read(512).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        detail = exc.read(200).decode("utf-8", "replace").strip()
        raise SlackError(
            f"Slack refused the message ({exc.code}{': ' + detail if detail else ''}) at {where}",
            hint="check the webhook (revoked? wrong workspace?) and the channel",
        ) from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SlackError(
            f"cannot reach Slack at {where}: {reason}",
            hint="check the network and the webhook URL; the remediation itself was not affected",
        ) from None
    if reply.strip() not in ("ok", ""):
        raise SlackError(f"Slack answered '{reply.strip()[:80]}' at {where}")
