"""Sessions share one botocore loader: an API model is parsed once per process, not per session."""

from __future__ import annotations

from deployforge.providers.aws.session import new_session


def _client(profile_region: str, key: str) -> object:
    session = new_session(aws_access_key_id=key, aws_secret_access_key="x", region_name=profile_region)
    return session.client("ec2", endpoint_url="http://127.0.0.1:9")


def test_two_sessions_share_the_parsed_model_and_keep_their_own_settings() -> None:
    a, b = _client("us-east-1", "AKIAONE"), _client("eu-west-1", "AKIATWO")
    # the same parsed description (ec2's model is 5 MB of JSON): not read twice
    assert a.meta.service_model._service_description is b.meta.service_model._service_description  # type: ignore[attr-defined]
    assert (a.meta.region_name, b.meta.region_name) == ("us-east-1", "eu-west-1")  # type: ignore[attr-defined]
    assert a._request_signer._credentials.access_key == "AKIAONE"  # type: ignore[attr-defined]
    assert b._request_signer._credentials.access_key == "AKIATWO"  # type: ignore[attr-defined]
