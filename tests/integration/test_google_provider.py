"""The Google provider over real HTTP: buckets through fake-gcs-server, Dataflow and Cloud Run
through the local fakes, bearer tokens from the local OAuth endpoint."""

from __future__ import annotations

import json
import uuid

import pytest
from tests.fakes.gcp import gcp_fake_server  # noqa: F401

from deployforge.deploy.shifters.base import ShifterContext, ShifterNotFoundError, make_shifter, validate_settings
from deployforge.engine.diff import diff_attributes
from deployforge.errors import EndpointUnreachableError, ProviderError
from deployforge.providers.base import ResourceSpec
from deployforge.providers.google.errors import CredentialsError
from deployforge.providers.registry import provider_for_target
from deployforge.workflow.parse import compile_workflow
from deployforge.workflow.runner import ActionContext


def provider(gcp_fake, sa=None, **extra):
    settings = {"project": "galaxy-1234", "region": "us-central1", "endpoint_url": gcp_fake.url}
    settings["credentials"] = sa if sa is not None else gcp_fake.service_account()
    settings.update(extra)
    return provider_for_target("google", "gcp_analytics", settings)


def bucket(**props):
    name = props.pop("name", f"df-{uuid.uuid4().hex[:10]}")
    return ResourceSpec(name, "google_storage_bucket", "gcp_analytics", {"name": name, **props})


def test_bucket_round_trip_with_every_property(gcp_fake):
    p = provider(gcp_fake)
    spec = bucket(
        location="eu",
        versioning=True,
        labels={"team": "data", "env": "prod"},
        uniform_bucket_level_access=True,
        public_access_prevention="enforced",
    )
    created = p.create(spec)
    assert created.outputs["url"] == f"gs://{spec.name}"
    live = p.read("google_storage_bucket", spec.name)
    assert live.attributes == {
        "name": spec.name,
        "location": "EU",
        "storage_class": "STANDARD",
        "versioning": True,
        "labels": {"env": "prod", "team": "data"},
        "uniform_bucket_level_access": True,
        "public_access_prevention": "enforced",
    }
    info = p.type_info("google_storage_bucket")
    assert diff_attributes(p.normalize(spec.type, spec.properties), {}, live.attributes, info) == ()
    changed = bucket(name=spec.name, location="EU", versioning=False, labels={"team": "ml"})
    changes = frozenset({"versioning", "labels"})
    updated = p.update(changed, live, changes)
    assert updated.attributes["versioning"] is False
    assert updated.attributes["labels"] == {"team": "ml"}  # the removed label is gone
    assert spec.name in {b.id for b in p.list("google_storage_bucket")}
    p.delete("google_storage_bucket", spec.name)
    assert p.read("google_storage_bucket", spec.name) is None
    p.delete("google_storage_bucket", spec.name)  # idempotent


def test_every_api_call_carries_a_bearer_token_and_an_expired_token_is_refreshed(gcp_fake):
    p = provider(gcp_fake)
    before = gcp_fake.token_requests
    p.preflight()
    assert gcp_fake.token_requests == before + 1
    spec = bucket()
    p.create(spec)
    gcp_fake.expire_tokens()  # the fake answers 401 to the old token; AuthorizedSession refreshes once
    assert p.read("google_storage_bucket", spec.name) is not None
    assert gcp_fake.token_requests == before + 2
    unauthenticated = provider_for_target(
        "google", "x", {"project": "galaxy-1234", "endpoint_url": gcp_fake.url}
    )  # no credentials: anonymous against an emulator, which this fake refuses
    with pytest.raises(ProviderError, match="HTTP 401 UNAUTHENTICATED"):
        unauthenticated.read("google_storage_bucket", spec.name)


def test_a_revoked_key_fails_preflight_with_a_clear_input_error(gcp_fake):
    sa = gcp_fake.service_account()
    gcp_fake.revoke(sa["client_email"])
    with pytest.raises(CredentialsError) as info:
        provider(gcp_fake, sa).preflight()
    assert "Google refused the credentials" in info.value.message and info.value.exit_code == 2
    assert sa["private_key"] not in info.value.message


def test_credentials_as_json_text_a_file_and_malformed(gcp_fake, tmp_path):
    sa = gcp_fake.service_account()
    provider(gcp_fake, json.dumps(sa)).preflight()
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(sa))
    provider(gcp_fake, str(key_file)).preflight()
    with pytest.raises(CredentialsError, match="cannot read the credentials file"):
        provider(gcp_fake, str(tmp_path / "missing.json")).preflight()
    with pytest.raises(CredentialsError, match="incomplete or malformed"):
        provider(gcp_fake, {"type": "service_account", "client_email": "x@y"}).preflight()


def test_an_unreachable_endpoint_is_reported(gcp_fake, dead_port):
    p = provider_for_target("google", "g", {"project": "p", "endpoint_url": f"http://127.0.0.1:{dead_port}"})
    with pytest.raises(EndpointUnreachableError, match="cannot reach the Google API endpoint"):
        p.read("google_storage_bucket", "b")


def _ctx(p, uses, params=None):
    from deployforge.model.config import Target

    wf = compile_workflow("etl", [{"uses": uses, "with": params or {}}], {"g": Target("g", "google")})
    return ActionContext(workflow="etl", step=wf.steps[0], run_id="run1", provider=p, outputs={})


def test_dataflow_start_launches_the_template_and_waits_for_done(gcp_fake):
    from deployforge.providers.google.actions import dataflow_start

    p = provider(gcp_fake)
    params = {
        "template": "gs://dataflow-templates/latest/Word_Count",
        "parameters": {"inputFile": "gs://in/x"},
        "poll_interval": 0.01,
    }
    out = dataflow_start(_ctx(p, "g.dataflow.start", params), params)
    assert out["state"] == "JOB_STATE_DONE" and out["location"] == "us-central1"
    job = gcp_fake.jobs[out["job_id"]]
    assert job["_parameters"] == {"inputFile": "gs://in/x"} and job["name"] == "etl-dataflow-start-run1"
    failing = {"template": "gs://templates/fail-me", "poll_interval": 0.01}
    with pytest.raises(ProviderError, match="ended in JOB_STATE_FAILED"):
        dataflow_start(_ctx(p, "g.dataflow.start", failing), failing)


def test_storage_copy_copies_every_object_under_a_prefix(gcp_fake):
    import requests

    from deployforge.providers.google.actions import storage_copy

    p = provider(gcp_fake)
    src, dst = bucket(), bucket()
    p.create(src)
    p.create(dst)
    for name in ("in/a.csv", "in/b.csv", "other/c.csv"):
        p.request(
            "storage",
            "POST",
            f"/upload/storage/v1/b/{src.name}/o",
            what="upload",
            params={"uploadType": "media", "name": name},
            data=b"x,y\n",
        )
    params = {"source": f"gs://{src.name}/in/", "destination": f"gs://{dst.name}/copied"}
    out = storage_copy(_ctx(p, "g.storage.copy", params), params)
    assert out["count"] == 2
    assert sorted(out["objects"]) == [f"gs://{dst.name}/copied/a.csv", f"gs://{dst.name}/copied/b.csv"]
    listed = requests.get(f"{gcp_fake.gcs_url}/storage/v1/b/{dst.name}/o").json()
    assert sorted(i["name"] for i in listed["items"]) == ["copied/a.csv", "copied/b.csv"]


def test_cloud_run_shifter_sets_reads_back_promotes_and_rolls_back(gcp_fake):
    name = f"api-{uuid.uuid4().hex[:6]}"
    gcp_fake.add_service("galaxy-1234", "us-central1", name, ["api-001", "api-002"], {"api-001": 100})
    p = provider(gcp_fake)
    ctx = ShifterContext("gcp_analytics", "google", p, {})
    assert validate_settings("cloud_run_service", {}) == [
        "cloud_run_service needs service: (the Cloud Run service name)"
    ]
    shifter = make_shifter("cloud_run_service", {"service": name, "poll_interval": 0.01}, ctx)
    shifter.preflight()
    assert shifter.current().to_json() == {"stable": 100, "canary": 0, "detail": {"api-001": 100.0}}
    got = shifter.set_canary_weight(10)
    assert (got.stable, got.canary) == (90, 10)
    live = gcp_fake.service("galaxy-1234", "us-central1", name)
    assert [(t["revision"], t["percent"]) for t in live["trafficStatuses"]] == [("api-001", 90), ("api-002", 10)]
    assert live["generation"] == live["observedGeneration"] == "2" and not live["reconciling"]
    assert (shifter.rollback().canary, shifter.promote().canary) == (0, 100)
    missing = make_shifter("cloud_run_service", {"service": "nope"}, ctx)
    with pytest.raises(ShifterNotFoundError, match="does not exist"):
        missing.preflight()
