"""The shared fake-gcs-server fixture answers the documented JSON API."""

from __future__ import annotations

import json
import urllib.request


def test_fake_gcs_server_creates_and_lists_buckets(gcs_server):
    body = json.dumps({"name": "fixture-check"}).encode()
    req = urllib.request.Request(
        f"{gcs_server}/storage/v1/b?project=test",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    assert json.loads(urllib.request.urlopen(req, timeout=10).read())["name"] == "fixture-check"
    listed = json.loads(urllib.request.urlopen(f"{gcs_server}/storage/v1/b?project=test", timeout=10).read())
    assert "fixture-check" in [b["name"] for b in listed.get("items", [])]


def test_fake_gcs_server_keeps_answering_after_many_requests(gcs_server):
    """Its log pipe is drained: hundreds of requests (well past 64 KiB of logs) still get answers."""
    for _ in range(600):
        urllib.request.urlopen(f"{gcs_server}/storage/v1/b?project=test", timeout=10).read()
