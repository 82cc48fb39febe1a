"""Baselines in both state backends: stored, listed oldest first, latest wins, damage reported."""

from __future__ import annotations

import pytest

from deployforge.errors import StateError
from deployforge.state.baseline import Baseline, BaselineResource
from deployforge.state.local import LocalBackend
from deployforge.state.s3 import S3Backend


def make(env: str, run_id: str, size: int) -> Baseline:
    return Baseline(
        environment=env,
        id=run_id,
        taken_at="2026-11-26T03:00:00Z",
        config_hash="c" * 64,
        commit="abc123",
        state_serial=4,
        resources={"web": BaselineResource("web", "aws_autoscaling_group", "main", "web", {"desired_capacity": size})},
    )


@pytest.fixture(params=["local", "s3"])
def backend(request, tmp_path):
    if request.param == "local":
        return LocalBackend(tmp_path)
    import boto3

    endpoint = request.getfixturevalue("moto_endpoint")
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="states")
    return S3Backend("s3://states/team", region="us-east-1", endpoint_url=endpoint)


def test_latest_baseline_wins_and_older_ones_stay_readable(backend):
    assert backend.read_baseline("prod") is None and backend.list_baselines("prod") == []
    backend.write_baseline(make("prod", "20261126T010000Z-aaaaaa", 2))
    backend.write_baseline(make("prod", "20261126T020000Z-bbbbbb", 3))
    backend.write_baseline(make("dev", "20261126T030000Z-cccccc", 9))
    assert backend.list_baselines("prod") == ["20261126T010000Z-aaaaaa", "20261126T020000Z-bbbbbb"]
    latest = backend.read_baseline("prod")
    assert latest == make("prod", "20261126T020000Z-bbbbbb", 3)
    older = backend.read_baseline("prod", "20261126T010000Z-aaaaaa")
    assert older.resources["web"].attributes == {"desired_capacity": 2}
    assert backend.read_baseline("prod", "nope") is None
    # baselines are not environments with state
    assert list(backend.environments()) == []


def test_a_damaged_baseline_is_a_clear_error(backend, tmp_path):
    backend.write_baseline(make("prod", "20261126T010000Z-aaaaaa", 2))
    if isinstance(backend, LocalBackend):
        (tmp_path / "baselines" / "prod" / "20261126T010000Z-aaaaaa.json").write_text("{not json")
    else:
        backend._s3.put_object(Bucket="states", Key="team/prod/baselines/20261126T010000Z-aaaaaa.json", Body=b"{}")
    with pytest.raises(StateError):
        backend.read_baseline("prod")


def test_the_drift_register_round_trips_per_environment(backend):
    assert backend.read_drift_register("prod") is None
    doc = {"environment": "prod", "records": {"DF-5XJ-88B": {"resource": "web", "first_seen": "2026-11-20T03:00:00Z"}}}
    backend.write_drift_register("prod", doc)
    backend.write_drift_register("dev", {"environment": "dev", "records": {}})
    assert backend.read_drift_register("prod") == doc
    assert backend.read_drift_register("dev") == {"environment": "dev", "records": {}}
    backend.write_drift_register("prod", {"environment": "prod", "records": {}})  # replaced, not merged
    assert backend.read_drift_register("prod") == {"environment": "prod", "records": {}}


def test_a_damaged_local_drift_register_is_a_state_error(tmp_path):
    backend = LocalBackend(tmp_path)
    (tmp_path / "drift").mkdir()
    (tmp_path / "drift" / "prod.json").write_text("{not json")
    with pytest.raises(StateError, match=r"drift register .*prod\.json is unreadable"):
        backend.read_drift_register("prod")


def test_the_newest_baseline_wins_even_within_the_same_second(backend):
    """Ids sort by their run's start second; within one second (apply, then adopt) the write order decides."""
    backend.write_baseline(make("prod", "DF-TRC-2QBN00ZZZZ", 2))  # sorts last as text
    backend.write_baseline(make("prod", "DF-TRC-2QBN00AAAA", 3))  # same second, written after
    assert backend.read_baseline("prod").id == "DF-TRC-2QBN00AAAA"
    assert backend.list_baselines("prod") == ["DF-TRC-2QBN00ZZZZ", "DF-TRC-2QBN00AAAA"]
