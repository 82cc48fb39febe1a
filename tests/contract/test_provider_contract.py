"""The provider contract (``deployforge.providers.base``), one suite run against every provider.

Each case is one resource type of one provider: the in-memory reference provider, the AWS
provider against a real moto server (one representative spec per AWS type), and the Google provider
against the local GCP fake (fake-gcs-server behind an OAuth bearer-token check, ``tests/fakes/gcp.py``).
Specs are written in the canonical shapes ``read`` reports (sorted sets), so ``spec_matches``
compares plain values.

Where a cloud differs from the contract as first written, the case says how, and every test still
runs: Google has labels (a property), not tags, so its case has ``tags=False``; its specs carry no
``tags:``, its label changes are ordinary property changes, and a spec that does carry ``tags:`` is
refused (never silently dropped, which would leave the planner a change it can never apply).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.fakes.gcp import GcpFake, gcp_fake_server  # noqa: F401

from deployforge.errors import ProviderError
from deployforge.providers.base import LiveResource, Provider, ResourceSpec
from deployforge.providers.memory import MemoryProvider

MOTO_REGION = "us-east-1"

# moto warns (from its server thread) when an error code it sends is missing from botocore's models
pytestmark = pytest.mark.filterwarnings("ignore:Exception.*does not match an error shape:UserWarning")


def same_value(declared: Any, live: Any) -> bool:
    """The planner's notion of "no change" (``deployforge.engine.diff``): nested mappings compare on
    the declared keys only, lists compare whole and in order, booleans are not numbers."""
    if isinstance(declared, Mapping):
        return isinstance(live, Mapping) and all(same_value(v, live.get(k)) for k, v in declared.items())
    if isinstance(declared, list):
        return (
            isinstance(live, list | tuple)
            and len(declared) == len(live)
            and all(same_value(a, b) for a, b in zip(declared, live, strict=True))
        )
    if isinstance(declared, bool) or isinstance(live, bool):
        return declared is live
    return bool(declared == live)


def spec_mismatches(spec: ResourceSpec, live: LiveResource) -> dict[str, tuple[Any, Any]]:
    """Spec properties whose live value differs, and ``tags`` (compared whole): key -> (declared, live)."""
    mismatches = {
        key: (value, live.attributes.get(key))
        for key, value in spec.properties.items()
        if not same_value(value, live.attributes.get(key))
    }
    if dict(live.attributes.get("tags") or {}) != dict(spec.tags):
        mismatches["tags"] = (dict(spec.tags), live.attributes.get("tags"))
    return mismatches


def spec_matches(spec: ResourceSpec, live: LiveResource) -> bool:
    """Whether ``live`` shows no difference from ``spec`` on the spec's properties and tags."""
    return not spec_mismatches(spec, live)


@dataclass(frozen=True)
class Case:
    """One resource type of one provider, and what the contract tests do with it."""

    id: str
    provider: str  # "memory", "aws" or "google"
    spec: ResourceSpec
    changed: Mapping[str, Any]  # properties an update asks for (named in ``changes``)
    unasked: Mapping[str, Any]  # properties the new spec also changes but ``changes`` does not name
    new_tags: Mapping[str, str]
    broken: ResourceSpec  # its create fails part-way (memory: ``fail_on``)
    missing_id: str  # an id that was never created
    prerequisites: tuple[ResourceSpec, ...] = field(default=())
    # False: the cloud has no tags (Google: labels, an ordinary property). Then ``spec.tags`` and
    # ``new_tags`` are empty, and a spec that declares ``tags:`` is refused with a ProviderError.
    tags: bool = True

    def natural_key(self, spec: ResourceSpec, provider: Provider) -> str:
        return str(spec.properties.get(provider.type_info(spec.type).natural_key, spec.name))


def _spec(name: str, rtype: str, properties: dict[str, Any], tags: dict[str, str] | None = None) -> ResourceSpec:
    target = "memory" if rtype.startswith("memory_") else "contract"
    return ResourceSpec(name=name, type=rtype, target=target, properties=properties, tags=tags or {})


_PAB_ON = dict.fromkeys(
    ("block_public_acls", "ignore_public_acls", "block_public_policy", "restrict_public_buckets"), True
)
_PAB_OFF = dict.fromkeys(_PAB_ON, False)

CASES = [
    Case(
        id="memory_object",
        provider="memory",
        spec=_spec("obj", "memory_object", {"name": "obj-a", "color": "red", "size": 1}, {"team": "core"}),
        changed={"color": "blue"},
        unasked={"size": 2},
        new_tags={"team": "core", "env": "test"},
        broken=_spec("broken", "memory_object", {"name": "obj-broken"}),
        missing_id="m-999999",
    ),
    Case(
        id="memory_volume",
        provider="memory",
        spec=_spec("vol", "memory_volume", {"name": "vol-a", "size": 10, "zone": "a", "encrypted": False}),
        changed={"size": 20},
        unasked={"encrypted": True},
        new_tags={"owner": "ops"},
        broken=_spec("broken", "memory_volume", {"name": "vol-broken", "size": 1, "zone": "a"}),
        missing_id="m-999999",
    ),
    Case(
        id="aws_s3_bucket",
        provider="aws",
        spec=_spec(
            "logs",
            "aws_s3_bucket",
            {
                "bucket": "contract-logs",
                "versioning": False,
                "encryption": {"sse_algorithm": "AES256"},
                "public_access_block": _PAB_ON,
            },
            {"team": "core"},
        ),
        changed={"versioning": True},
        unasked={"public_access_block": _PAB_OFF},
        new_tags={"team": "core", "env": "test"},
        # the bucket is created, then tagging fails (aws: tags are reserved): the bucket must go
        broken=_spec("broken", "aws_s3_bucket", {"bucket": "contract-broken"}, {"aws:reserved": "x"}),
        missing_id="contract-never-created",
    ),
    Case(
        id="aws_security_group",
        provider="aws",
        spec=_spec(
            "web",
            "aws_security_group",
            {
                "name": "contract-web",
                "description": "contract web tier",
                "ingress": [
                    {
                        "protocol": "tcp",
                        "from_port": 443,
                        "to_port": 443,
                        "cidr_blocks": ["0.0.0.0/0", "10.0.0.0/8"],
                        "description": "https",
                    }
                ],
            },
            {"team": "core"},
        ),
        changed={
            "ingress": [
                {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr_blocks": ["10.1.0.0/16"]},
                {
                    "protocol": "tcp",
                    "from_port": 443,
                    "to_port": 443,
                    "cidr_blocks": ["10.0.0.0/8"],
                    "description": "https",
                },
            ]
        },
        unasked={"egress": [{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.0.0.0/8"]}]},
        new_tags={"team": "edge"},
        # the group is created, then authorizing an invalid CIDR fails: the group must go
        broken=_spec(
            "broken",
            "aws_security_group",
            {
                "name": "contract-broken",
                "ingress": [{"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr_blocks": ["10.0.0.0/33"]}],
            },
        ),
        missing_id="sg-0123456789abcdef0",
    ),
    Case(
        id="aws_launch_template",
        provider="aws",
        spec=_spec(
            "lt",
            "aws_launch_template",
            {
                "name": "contract-lt",
                "image_id": "ami-12c6146b",
                "instance_type": "t3.micro",
                "key_name": "deploy",
                "security_group_ids": [],
                "user_data": "#!/bin/sh\necho contract\n",
            },
            {"team": "core"},
        ),
        changed={"instance_type": "t3.small"},
        unasked={"image_id": "ami-0abcdef1234567890"},
        new_tags={},
        broken=_spec("broken", "aws_launch_template", {"name": "contract-broken", "instance_type": 123}),
        missing_id="lt-0123456789abcdef0",
    ),
    Case(
        id="aws_autoscaling_group",
        provider="aws",
        prerequisites=(
            _spec("asg_lt", "aws_launch_template", {"name": "contract-asg-lt", "image_id": "ami-12c6146b"}),
        ),
        spec=_spec(
            "asg",
            "aws_autoscaling_group",
            {
                "name": "contract-asg",
                "min_size": 0,
                "max_size": 2,
                "desired_capacity": 1,
                "launch_template": {"name": "contract-asg-lt", "version": 1},
                "availability_zones": ["us-east-1a", "us-east-1b"],
                "health_check_type": "EC2",
                "health_check_grace_period": 30,
            },
            {"team": "core"},
        ),
        changed={"desired_capacity": 2},
        unasked={"max_size": 5},
        new_tags={"team": "core", "tier": "web"},
        broken=_spec(
            "broken",
            "aws_autoscaling_group",
            {
                "name": "contract-broken",
                "min_size": 0,
                "max_size": 1,
                "launch_template": {"name": "no-such-template", "version": 1},
                "availability_zones": ["us-east-1a"],
            },
        ),
        missing_id="contract-never-created",
    ),
    Case(
        id="aws_cloudwatch_metric_alarm",
        provider="aws",
        spec=_spec(
            "cpu",
            "aws_cloudwatch_metric_alarm",
            {
                "alarm_name": "contract-cpu-high",
                "metric_name": "CPUUtilization",
                "namespace": "AWS/EC2",
                "statistic": "Average",
                "period": 60,
                "evaluation_periods": 2,
                "threshold": 80,
                "comparison_operator": "GreaterThanThreshold",
                "dimensions": {"AutoScalingGroupName": "web"},
                "alarm_description": "CPU above 80% for 2 minutes",
                "alarm_actions": ["arn:aws:sns:us-east-1:123456789012:oncall"],
                "treat_missing_data": "breaching",
            },
            {"team": "core"},
        ),
        changed={"threshold": 90},
        unasked={"evaluation_periods": 5},
        new_tags={"team": "sre"},
        broken=_spec(
            "broken",
            "aws_cloudwatch_metric_alarm",
            {
                "alarm_name": "contract-broken",
                "metric_name": "CPUUtilization",
                "namespace": "AWS/EC2",
                "statistic": "Average",
                "period": 60,
                "evaluation_periods": 0,
                "threshold": 1,
                "comparison_operator": "GreaterThanThreshold",
            },
        ),
        missing_id="contract-never-created",
    ),
    Case(
        id="google_storage_bucket",
        provider="google",
        tags=False,
        spec=_spec(
            "logs",
            "google_storage_bucket",
            {
                "name": "contract-logs",
                "location": "EU",
                "storage_class": "STANDARD",
                "versioning": False,
                "labels": {"team": "core"},
                "uniform_bucket_level_access": True,
                "public_access_prevention": "enforced",
            },
        ),
        # labels are Google's tags: a changed label set (one added, none removed here; the
        # integration test removes one) is asked for like any property
        changed={"versioning": True, "labels": {"env": "test", "team": "core"}},
        unasked={"uniform_bucket_level_access": False, "public_access_prevention": "inherited"},
        new_tags={},
        # Cloud Storage refuses the name (uppercase, underscore): nothing may be left behind
        broken=_spec("broken", "google_storage_bucket", {"name": "Contract_Broken"}),
        missing_id="contract-never-created",
    ),
]


@pytest.fixture(params=CASES, ids=[case.id for case in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def provider(case: Case, request: pytest.FixtureRequest) -> Provider:
    made: Provider
    if case.provider == "memory":
        made = MemoryProvider(fail_on={"broken"})
    elif case.provider == "google":
        made = _google_provider(request.getfixturevalue("gcp_fake"))
    else:
        from deployforge.providers.aws import AwsProvider

        made = AwsProvider(target="contract", region=MOTO_REGION, endpoint_url=request.getfixturevalue("moto_endpoint"))
    for prerequisite in case.prerequisites:
        made.create(prerequisite)
    return made


_GOOGLE_KEYS: dict[str, dict[str, str]] = {}  # one service-account key per fake (an RSA key costs time)


def _google_provider(fake: GcpFake) -> Provider:
    """A GoogleProvider with a service-account key the fake's OAuth endpoint honours; the fake's
    buckets of earlier contract tests are removed first (the fake lives for the whole session)."""
    from deployforge.providers.google import google_provider_for_target

    key = _GOOGLE_KEYS.get(fake.url)
    if key is None:
        key = _GOOGLE_KEYS[fake.url] = fake.service_account(project="contract-1234")
    made = google_provider_for_target(
        "contract", {"project": "contract-1234", "endpoint_url": fake.url, "credentials": key}
    )
    for live in made.list("google_storage_bucket"):
        if live.id.startswith("contract-"):
            made.delete("google_storage_bucket", live.id)
    return made


def _with(spec: ResourceSpec, **changes: Any) -> ResourceSpec:
    return dataclasses.replace(spec, **changes)


def test_the_provider_satisfies_the_protocol(case: Case, provider: Provider) -> None:
    assert isinstance(provider, Provider)
    assert case.spec.type in provider.resource_types()
    info = provider.type_info(case.spec.type)
    assert info.type == case.spec.type
    assert "id" in info.outputs
    assert not (info.force_new & {"tags"})


def test_the_published_schema_accepts_the_spec_and_names_unknown_keys(case: Case, provider: Provider) -> None:
    from jsonschema import Draft202012Validator

    schema = dict(provider.type_info(case.spec.type).properties_schema)
    assert schema, f"{case.spec.type} publishes no properties schema: the config could not check it"
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    assert [e.message for e in validator.iter_errors(dict(case.spec.properties))] == []
    natural_key = provider.type_info(case.spec.type).natural_key
    interpolated = {
        **case.spec.properties,
        natural_key: "${var.app}-" + case.natural_key(case.spec, provider),
    }
    assert [e.message for e in validator.iter_errors(interpolated)] == []
    typo = {**case.spec.properties, "tagz": {"team": "core"}}
    assert any("tagz" in e.message for e in validator.iter_errors(typo))


def test_unknown_type_is_a_provider_error(provider: Provider) -> None:
    with pytest.raises(ProviderError):
        provider.type_info("no_such_type")


def test_create_then_read_round_trips(case: Case, provider: Provider) -> None:
    created = provider.create(case.spec)
    assert spec_mismatches(case.spec, created) == {}
    assert created.type == case.spec.type

    read = provider.read(case.spec.type, created.id)
    assert read is not None
    assert read.id == created.id
    assert spec_matches(case.spec, read), spec_mismatches(case.spec, read)
    assert read.outputs["id"] == created.id
    assert provider.type_info(case.spec.type).outputs <= set(read.outputs)


def test_lookup_finds_by_natural_key(case: Case, provider: Provider) -> None:
    created = provider.create(case.spec)
    found = provider.lookup(case.spec)
    assert found is not None and found.id == created.id
    assert spec_matches(case.spec, found)

    info = provider.type_info(case.spec.type)
    other = _with(case.spec, properties={**case.spec.properties, info.natural_key: "contract-other-name"})
    assert provider.lookup(other) is None


def test_update_changes_only_what_was_asked(case: Case, provider: Provider) -> None:
    before = provider.create(case.spec)
    wanted = _with(
        case.spec,
        properties={**case.spec.properties, **case.changed, **case.unasked},
        tags=case.new_tags,
    )
    changes = frozenset({*case.changed, *(["tags"] if case.tags else [])})

    updated = provider.update(wanted, before, changes)

    after = provider.read(case.spec.type, before.id)
    assert after is not None and after.id == before.id == updated.id
    for key, value in case.changed.items():
        assert same_value(value, after.attributes[key]), key
    if case.tags:
        assert after.attributes["tags"] == dict(case.new_tags)
    else:
        assert not after.attributes.get("tags")
    for key in case.unasked:
        assert after.attributes.get(key) == before.attributes.get(key), f"{key} changed without being asked"
    untouched = set(case.spec.properties) - set(case.changed) - set(case.unasked)
    for key in untouched:
        assert same_value(case.spec.properties[key], after.attributes.get(key)), key


def test_declared_tags_are_written_or_refused_never_dropped(case: Case, provider: Provider) -> None:
    """Tags the cloud cannot hold must not vanish silently: the planner would then show the same
    tags change on every plan, and every apply would report it done."""
    tagged = _with(case.spec, tags={"team": "core", "cost-center": "42"})
    if case.tags:
        created = provider.create(tagged)
        read = provider.read(tagged.type, created.id)
        assert read is not None and read.attributes["tags"] == dict(tagged.tags)
        return
    with pytest.raises(ProviderError) as failure:
        provider.create(tagged)
    assert tagged.address in str(failure.value) or failure.value.resource == tagged.address
    assert "labels" in (failure.value.hint or "")
    assert provider.lookup(tagged) is None

    created = provider.create(case.spec)
    with pytest.raises(ProviderError):
        provider.update(tagged, created, frozenset({"tags"}))
    read = provider.read(case.spec.type, created.id)
    assert read is not None and spec_matches(case.spec, read)


def test_delete_is_idempotent(case: Case, provider: Provider) -> None:
    created = provider.create(case.spec)
    provider.delete(case.spec.type, created.id)
    assert provider.read(case.spec.type, created.id) is None
    provider.delete(case.spec.type, created.id)  # already gone: still succeeds
    assert provider.read(case.spec.type, created.id) is None
    assert provider.lookup(case.spec) is None


def test_read_of_something_never_created_is_none(case: Case, provider: Provider) -> None:
    assert provider.read(case.spec.type, case.missing_id) is None
    provider.delete(case.spec.type, case.missing_id)


def test_list_sees_created_objects(case: Case, provider: Provider) -> None:
    first = provider.create(case.spec)
    info = provider.type_info(case.spec.type)
    second_spec = _with(
        case.spec,
        name=f"{case.spec.name}_2",
        properties={**case.spec.properties, info.natural_key: f"{case.natural_key(case.spec, provider)}-2"},
    )
    second = provider.create(second_spec)

    listed = {live.id: live for live in provider.list(case.spec.type)}
    assert {first.id, second.id} <= set(listed)
    assert spec_matches(case.spec, listed[first.id])
    assert spec_matches(second_spec, listed[second.id])


def test_failed_create_leaves_nothing_behind(case: Case, provider: Provider) -> None:
    with pytest.raises(ProviderError) as failure:
        provider.create(case.broken)
    assert case.broken.address in str(failure.value) or failure.value.resource == case.broken.address

    assert provider.lookup(case.broken) is None
    key = case.natural_key(case.broken, provider)
    natural_key = provider.type_info(case.broken.type).natural_key
    leftovers = [live.id for live in provider.list(case.broken.type) if live.attributes.get(natural_key) == key]
    assert leftovers == []


def test_the_planner_sees_no_change_right_after_create(case: Case, provider: Provider) -> None:
    """What the engine does: diff normalize(spec) against read(); a fresh object must diff clean."""
    from deployforge.engine.diff import diff_attributes

    created = provider.create(case.spec)
    read = provider.read(case.spec.type, created.id)
    assert read is not None
    declared = provider.normalize(case.spec.type, case.spec.properties)
    info = provider.type_info(case.spec.type)
    assert diff_attributes(declared, case.spec.tags, read.attributes, info) == ()
    assert provider.normalize(case.spec.type, declared) == declared  # idempotent


def test_preflight_succeeds_on_a_working_target(provider: Provider) -> None:
    provider.preflight()
