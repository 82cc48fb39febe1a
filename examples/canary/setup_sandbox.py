"""pre_deploy hook of the canary example: make the ALB, target groups and alarm in the sandbox.

Idempotent. Each run starts from "blue" serving 100% (a new version was just deployed to "green").
It reads only DEPLOYFORGE_* variables; outside the sandbox it does nothing.
"""

from __future__ import annotations

import os
import sys

import boto3

endpoint = os.environ.get("DEPLOYFORGE_SANDBOX_ENDPOINT")
if not endpoint:
    print("not in the sandbox: nothing to set up")
    sys.exit(0)
kw = {
    "endpoint_url": endpoint,
    "region_name": "us-east-1",
    "aws_access_key_id": "sandbox",
    "aws_secret_access_key": "sandbox",
}
ec2, elb, cw = (boto3.client(s, **kw) for s in ("ec2", "elbv2", "cloudwatch"))

try:
    lb = elb.describe_load_balancers(Names=["canary-web"])["LoadBalancers"][0]
    vpc = lb["VpcId"]
except elb.exceptions.LoadBalancerNotFoundException:
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"][
            "SubnetId"
        ]
        for i, z in ((1, "a"), (2, "b"))
    ]
    lb = elb.create_load_balancer(Name="canary-web", Subnets=subnets)["LoadBalancers"][0]
groups = {}
for name in ("web-blue", "web-green"):
    try:
        groups[name] = elb.describe_target_groups(Names=[name])["TargetGroups"][0]["TargetGroupArn"]
    except elb.exceptions.TargetGroupNotFoundException:
        groups[name] = elb.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0][
            "TargetGroupArn"
        ]
listeners = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
blue = [{"Type": "forward", "TargetGroupArn": groups["web-blue"]}]
if listeners:
    elb.modify_listener(ListenerArn=listeners[0]["ListenerArn"], DefaultActions=blue)
else:
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=blue)
cw.put_metric_alarm(
    AlarmName="canary-web-5xx",
    Namespace="AWS/ApplicationELB",
    MetricName="HTTPCode_Target_5XX_Count",
    Statistic="Sum",
    Period=60,
    EvaluationPeriods=1,
    Threshold=5,
    ComparisonOperator="GreaterThanThreshold",
)
cw.set_alarm_state(AlarmName="canary-web-5xx", StateValue="OK", StateReason="setup")
print(f"sandbox ready: canary-web:80 -> web-blue 100% (target {os.environ.get('DEPLOYFORGE_TARGET')})")
