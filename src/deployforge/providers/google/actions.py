"""Google workflow actions: ``dataflow.start`` (classic template launch + wait) and ``storage.copy``.

Each is ``handler(ctx, params) -> outputs`` over the step's ``GoogleProvider`` (``ctx.provider``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from deployforge.errors import ProviderError, UsageError

TERMINAL_FAILED = {"JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_DRAINED", "JOB_STATE_UPDATED"}
DEFAULT_TEMPLATE = "gs://dataflow-templates/latest/Word_Count"
STATE_ORDER = ["JOB_STATE_PENDING", "JOB_STATE_QUEUED", "JOB_STATE_RUNNING", "JOB_STATE_DONE"]


def _job_name(text: str) -> str:
    # Dataflow job names: [a-z]([-a-z0-9]{0,1022}[a-z0-9])?
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = "df-" + name
    return name[:60].rstrip("-")


def dataflow_start(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    provider = ctx.provider
    project = provider.project
    if not project:
        raise UsageError(f"step '{ctx.step.id}': target '{provider.target}' has no project", hint="set project:")
    location = params.get("location") or provider.region
    template = str(params.get("template") or DEFAULT_TEMPLATE)
    if not template.startswith("gs://"):
        raise UsageError(f"step '{ctx.step.id}': template must be a gs:// path, not '{template}'")
    job_name = _job_name(str(params.get("job_name") or f"{ctx.workflow}-{ctx.step.id}-{ctx.run_id}"))
    wait_for = str(params.get("wait_for") or "JOB_STATE_DONE").upper()
    if not wait_for.startswith("JOB_STATE_"):
        wait_for = f"JOB_STATE_{wait_for}"
    body: dict[str, Any] = {
        "jobName": job_name,
        "parameters": {str(k): str(v) for k, v in dict(params.get("parameters") or {}).items()},
    }
    if params.get("environment"):
        body["environment"] = dict(params["environment"])
    base = f"/v1b3/projects/{quote(project)}/locations/{quote(location)}"
    launched = provider.request(
        "dataflow",
        "POST",
        f"{base}/templates:launch",
        what=f"step '{ctx.step.id}': launching Dataflow template {template}",
        json_body=body,
        params={"gcsPath": template},
    )
    job = launched.get("job") or {}
    job_id = job.get("id")
    if not job_id:
        raise ProviderError(f"step '{ctx.step.id}': Dataflow returned no job id")
    ctx.log(f"Dataflow job {job_id} launched")
    interval = float(params.get("poll_interval") or 0.5)
    state = job.get("currentState") or "JOB_STATE_PENDING"
    try:
        state = _wait(ctx, provider, base, job_id, job_name, location, state, wait_for, interval)
    except ProviderError as exc:
        if exc.code not in TERMINAL_FAILED:  # the job ended by itself: nothing to cancel
            _cancel(ctx, provider, base, job_id)
        raise
    except BaseException:
        # cancelled (SIGTERM, Ctrl-C), timed out or failed while waiting: a job we started must not
        # outlive the step, nor block a retry (Dataflow allows one active job per name)
        _cancel(ctx, provider, base, job_id)
        raise
    return {"job_id": job_id, "job_name": job_name, "state": state, "location": location}


def _cancel(ctx: Any, provider: Any, base: str, job_id: str) -> None:
    """projects.locations.jobs.update with requestedState JOB_STATE_CANCELLED; never raises."""
    try:
        got = provider.request(
            "dataflow",
            "PUT",
            f"{base}/jobs/{quote(job_id)}",
            what=f"step '{ctx.step.id}': cancelling Dataflow job {job_id}",
            json_body={"requestedState": "JOB_STATE_CANCELLED"},
        )
        ctx.log(f"Dataflow job {job_id} cancelled ({got.get('currentState', 'cancel requested')})")
    except Exception as exc:  # the original error matters more; say what is left behind
        ctx.log(f"warning: Dataflow job {job_id} could not be cancelled ({exc}); cancel it by hand")


def _wait(
    ctx: Any,
    provider: Any,
    base: str,
    job_id: str,
    job_name: str,
    location: str,
    state: str,
    wait_for: str,
    interval: float,
) -> str:
    while True:
        if state == wait_for or (
            wait_for in STATE_ORDER and state in STATE_ORDER and STATE_ORDER.index(state) >= STATE_ORDER.index(wait_for)
        ):
            break
        if state in TERMINAL_FAILED:
            raise ProviderError(
                f"Dataflow job {job_id} ({job_name}) ended in {state}",
                hint=f"see the job's logs: gcloud dataflow jobs describe {job_id} --region {location}",
                code=state,
            )
        ctx.sleep(interval)
        got = provider.request(
            "dataflow", "GET", f"{base}/jobs/{quote(job_id)}", what=f"step '{ctx.step.id}': reading job {job_id}"
        )
        state = got.get("currentState") or state
    return state


def _split_gs(url: str, what: str) -> tuple[str, str]:
    if not url.startswith("gs://"):
        raise UsageError(f"{what} must be gs://bucket/prefix, not '{url}'")
    bucket, _, prefix = url[len("gs://") :].partition("/")
    if not bucket:
        raise UsageError(f"{what} names no bucket: '{url}'")
    return bucket, prefix


def storage_copy(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    provider = ctx.provider
    src_bucket, src_prefix = _split_gs(str(params["source"]), f"step '{ctx.step.id}': source")
    dst_bucket, dst_prefix = _split_gs(str(params["destination"]), f"step '{ctx.step.id}': destination")
    names: list[str] = []
    token = None
    while True:
        query: dict[str, Any] = {"prefix": src_prefix}
        if token:
            query["pageToken"] = token
        page = provider.request(
            "storage", "GET", f"/storage/v1/b/{quote(src_bucket, safe='')}/o", what="listing objects", params=query
        )
        names.extend(str(item["name"]) for item in page.get("items") or ())
        token = page.get("nextPageToken")
        if not token:
            break
    copied = []
    for name in names:
        ctx.check()
        rest = name[len(src_prefix) :].lstrip("/") if src_prefix else name
        target = f"{dst_prefix.rstrip('/')}/{rest}" if dst_prefix else rest
        rewrite_token = None
        while True:  # large objects take several rewrite calls
            provider_params = {"rewriteToken": rewrite_token} if rewrite_token else None
            got = provider.request(
                "storage",
                "POST",
                f"/storage/v1/b/{quote(src_bucket, safe='')}/o/{quote(name, safe='')}/rewriteTo/b/"
                f"{quote(dst_bucket, safe='')}/o/{quote(target, safe='')}",
                what=f"step '{ctx.step.id}': copying gs://{src_bucket}/{name}",
                json_body={},
                params=provider_params,
            )
            if got.get("done", True):
                break
            rewrite_token = got.get("rewriteToken")
        copied.append(f"gs://{dst_bucket}/{target}")
    return {"count": len(copied), "objects": copied, "destination": f"gs://{dst_bucket}/{dst_prefix}"}
