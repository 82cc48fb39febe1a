"""Baselines and the drift register damaged in either state backend are reported. Storing, listing
oldest first and the latest winning are the state backend contract (tests/contract)."""

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


def test_a_damaged_baseline_is_a_clear_error(backend, tmp_path):
    backend.write_baseline(make("prod", "20261126T010000Z-aaaaaa", 2))
    if isinstance(backend, LocalBackend):
        (tmp_path / "baselines" / "prod" / "20261126T010000Z-aaaaaa.json").write_text("{not json")
    else:
        backend._s3.put_object(Bucket="states", Key="team/prod/baselines/20261126T010000Z-aaaaaa.json", Body=b"{}")
    with pytest.raises(StateError):
        backend.read_baseline("prod")


def test_a_damaged_local_drift_register_is_a_state_error(tmp_path):
    backend = LocalBackend(tmp_path)
    (tmp_path / "drift").mkdir()
    (tmp_path / "drift" / "prod.json").write_text("{not json")
    with pytest.raises(StateError, match=r"drift register .*prod\.json is unreadable"):
        backend.read_drift_register("prod")
