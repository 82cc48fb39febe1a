"""Issue 16, point 4: unmanaged resources (`drift list --unmanaged`) and `deployforge adopt`."""

from __future__ import annotations

import json

import boto3

from tests.e2e.conftest import Project, stack

BUCKET = {"type": "aws_s3_bucket", "properties": {"bucket": "team-artifacts"}}


def _clients(project: Project):
    kw = dict(endpoint_url=project.endpoint, region_name="us-east-1")
    return boto3.client("ec2", **kw), boto3.client("s3", **kw)


def test_unmanaged_objects_of_every_supported_type_are_found_classified_and_ignorable(project: Project):
    project.write(stack(1))  # the config declares security groups only
    assert project.run("apply", "--auto-approve").returncode == 0
    ec2, s3 = _clients(project)
    open_id = ec2.create_security_group(GroupName="by-hand-open", Description="x")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=open_id, IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="0.0.0.0/0")
    closed_id = ec2.create_security_group(GroupName="by-hand-closed", Description="x")["GroupId"]
    s3.create_bucket(Bucket="by-hand-bucket")  # a type the config does not use at all

    out = project.run("drift", "list", "--unmanaged", "--format", "json")
    assert out.returncode == 2, out.stderr
    records = {r["resource"]: r for r in json.loads(out.stdout)["drift"]["records"]}
    assert set(records) == {
        f"aws_security_group:{open_id}",
        f"aws_security_group:{closed_id}",
        "aws_s3_bucket:by-hand-bucket",
    }  # the managed group and AWS's default group are not unmanaged
    assert all(r["status"] == "UNMANAGED" for r in records.values())
    opened = records[f"aws_security_group:{open_id}"]
    assert opened["severity"] == "security-critical" and "tcp/22 from 0.0.0.0/0" in opened["reason"]
    assert records[f"aws_security_group:{closed_id}"]["severity"] == "informational"

    shown = project.run("drift", "show", opened["id"])
    assert "+ ingress tcp/22 from 0.0.0.0/0" in shown.stdout and "deployforge adopt" in shown.stdout

    (project.dir / "drift-ignore.yaml").write_text(
        "ignore:\n  - resource: 'aws_s3_bucket:*'\n    reason: the data team's buckets\n"
    )
    again = json.loads(project.run("drift", "list", "--unmanaged", "--format", "json").stdout)
    ignored = {r["resource"]: r.get("ignored") for r in again["drift"]["records"]}
    assert ignored["aws_s3_bucket:by-hand-bucket"] == "the data team's buckets"
    assert ignored[f"aws_security_group:{open_id}"] is None


def test_adopt_takes_an_existing_object_under_management(project: Project):
    _, s3 = _clients(project)
    s3.create_bucket(Bucket="team-artifacts")  # exists before the first apply (made by hand)
    project.write(stack(1, artifacts=BUCKET))
    failed = project.run("apply", "--auto-approve")
    assert failed.returncode != 0
    assert "deployforge adopt aws_s3_bucket.artifacts ID" in failed.stdout + failed.stderr

    unknown = project.run("adopt", "aws_s3_bucket.artifacts", "no-such-bucket")
    assert unknown.returncode == 1 and "no aws_s3_bucket with id no-such-bucket" in unknown.stderr
    assert "drift list --unmanaged" in unknown.stderr and "Traceback" not in unknown.stderr
    typo = project.run("adopt", "aws_s3_bucket.artifact", "team-artifacts")
    assert typo.returncode == 1 and "did you mean 'aws_s3_bucket.artifacts'" in typo.stderr

    adopted = project.run("adopt", "aws_s3_bucket.artifacts", "team-artifacts")
    assert adopted.returncode == 0, adopted.stderr
    assert "Adopted aws_s3_bucket.artifacts = team-artifacts" in adopted.stdout
    state = json.loads((project.dir / ".deployforge" / "state" / "default.json").read_text())
    assert state["resources"]["artifacts"]["id"] == "team-artifacts"
    listed = json.loads(project.run("drift", "list", "--format", "json").stdout)
    assert listed["drift"]["resources_checked"] == 2  # sg0 and the adopted bucket are in the baseline
    again = project.run("adopt", "artifacts", "team-artifacts")
    assert again.returncode == 0 and "nothing to do" in again.stdout

    # `drift adopt` is the same command; an object another resource manages is refused
    sg0 = state["resources"]["sg0"]["id"]
    project.write(
        stack(
            1, artifacts=BUCKET, extra={"type": "aws_security_group", "properties": {"name": "x", "description": "x"}}
        )
    )
    taken = project.run("drift", "adopt", "aws_security_group.extra", sg0)
    assert taken.returncode == 1 and "already managed by aws_security_group.sg0" in taken.stderr
    applied = project.run("apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
