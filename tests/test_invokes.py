"""Invoke answers: plausible values of the shape the SDK declares, agreeing with the stack's config,
pinned by the user's file, and named in the report when made up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from helpers import ROOT, UNKNOWN, capture

from bucketguard.preview import invokes
from bucketguard.preview.invokes import InvokeContext, answer

PROGRAMS = ROOT / "tests" / "programs"
with warnings.catch_warnings():  # pulumi_aws warns about its own deprecated ec2 resources on load
    warnings.simplefilter("ignore", DeprecationWarning)
    _ = aws.ec2.GetVpcResult
EU = InvokeContext.from_config({"aws:region": "eu-west-1"})


@pytest.fixture
def shapes() -> Iterator[ModuleType]:
    """The shapes module installed in this process, as the program's interpreter has it."""
    module = invokes.load_shapes_module()
    module.install(module.InvokeContext(EU.region, EU.account_id, EU.partition))
    try:
        yield module
    finally:
        module.uninstall()


# ---------------------------------------------------------------- known answers agree with config


def test_region_partition_account_and_zones_follow_the_stack_config() -> None:
    china = InvokeContext.from_config({"aws:region": "cn-north-1", "aws:allowedAccountIds": ["210987654321"]})
    assert answer("aws:index/getRegion:getRegion", {}, china)["name"] == "cn-north-1"
    assert answer("aws:index/getPartition:getPartition", {}, china) == {
        "partition": "aws-cn", "id": "aws-cn", "dnsSuffix": "amazonaws.com.cn", "reverseDnsPrefix": "cn.com.amazonaws"}
    identity = answer("aws:index/getCallerIdentity:getCallerIdentity", {}, china)
    assert identity is not None
    assert identity["accountId"] == "210987654321"
    assert identity["arn"].startswith("arn:aws-cn:iam::210987654321:")
    zones = answer("aws:index/getAvailabilityZones:getAvailabilityZones", {"excludeNames": ["ap-southeast-2b"]},
                   InvokeContext.from_config({"aws:region": "ap-southeast-2"}))
    assert zones is not None
    assert zones["names"] == ["ap-southeast-2a", "ap-southeast-2c"]
    assert zones["zoneIds"] == ["apse2-az1", "apse2-az3"]
    # pulumi-aws 7 lookups take a per-call region
    assert answer("aws:index/getRegion:getRegion", {"region": "us-west-2"}, EU)["name"] == "us-west-2"
    assert answer("aws-native:index:getRegion", {}, EU) == {"region": "eu-west-1"}


def test_a_context_carrying_only_the_stack_config_is_read_as_such() -> None:
    @dataclass(frozen=True)
    class EngineContext:
        config: dict[str, str]

    region = answer("aws:index/getRegion:getRegion", {}, EngineContext({"aws:region": "eu-central-1"}))
    assert region is not None and region["region"] == "eu-central-1"


def test_kms_alias_and_policy_document_are_answered_from_their_arguments() -> None:
    alias = answer("aws:kms/getAlias:getAlias", {"name": "alias/data"}, EU)
    assert alias is not None
    assert alias["arn"] == "arn:aws:kms:eu-west-1:999999999999:alias/data"
    assert alias["targetKeyArn"] == f"arn:aws:kms:eu-west-1:999999999999:key/{alias['targetKeyId']}"
    document = answer("aws:iam/getPolicyDocument:getPolicyDocument", {"statements": [{
        "sid": "TLS", "effect": "Deny", "actions": ["s3:*"], "resources": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
        "principals": [{"type": "*", "identifiers": ["*"]}],
        "conditions": [{"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}]}]}, EU)
    assert document is not None
    assert json.loads(document["json"]) == {"Version": "2012-10-17", "Statement": [{
        "Sid": "TLS", "Effect": "Deny", "Action": "s3:*", "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
        "Principal": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}


def test_pins_win_and_unknown_tokens_need_placeholders(tmp_path: Path) -> None:
    pins = tmp_path / "answers.json"
    pins.write_text(json.dumps({"aws:index/getCallerIdentity:getCallerIdentity": {"accountId": "999988887777"},
                                "aws:route53/getZone:getZone": {"zoneId": "Z0123456789"}}))
    context = InvokeContext.from_config({"aws:region": "eu-west-1"}, invokes.load_pinned_answers(pins))
    assert answer("aws:route53/getZone:getZone", {"name": "example.com"}, context) == {"zoneId": "Z0123456789"}
    assert answer("aws:route53/getZone:getZone", {}, EU) is None
    # a pinned account is the account every other answer agrees with
    assert answer("aws:kms/getAlias:getAlias", {"name": "alias/x"}, context)["arn"].startswith(
        "arn:aws:kms:eu-west-1:999988887777:")


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not valid JSON"),
    ('["aws:route53/getZone:getZone"]', "expected {\"<invoke token>\""),
    ('{"aws:route53/getZone:getZone": "Z123"}', "aws:route53/getZone:getZone: Input should be a valid dictionary"),
])
def test_a_broken_answers_file_names_the_problem(tmp_path: Path, content: str, message: str) -> None:
    pins = tmp_path / "answers.json"
    pins.write_text(content)
    with pytest.raises(invokes.InvokeAnswersError, match=message.replace("{", r"\{").replace("[", r"\[")):
        invokes.load_pinned_answers(pins)


# ---------------------------------------------------------------- shapes from the SDK's result types


def _check_type(value: Any, hint: Any, where: str) -> None:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    assert value is not None, where
    if hint in (str, bool, float):
        assert isinstance(value, hint), where
    elif hint is int:
        assert isinstance(value, int) and not isinstance(value, bool), where
    elif origin is not None and issubclass(origin, typing.Sequence):  # type: ignore[arg-type]
        assert isinstance(value, list), where
        for item in value:
            _check_type(item, args[0], f"{where}[]")
    elif origin is not None and issubclass(origin, typing.Mapping):  # type: ignore[arg-type]
        assert isinstance(value, dict), where


@pytest.mark.parametrize("result_type", [
    aws.route53.GetZoneResult, aws.ec2.GetVpcResult, aws.iam.GetPolicyDocumentResult, aws.kms.GetKeyResult,
    aws.s3.GetBucketResult, aws.ec2.GetSubnetResult,
])
def test_every_declared_field_gets_a_value_of_its_type(shapes: ModuleType, result_type: type) -> None:
    token = f"aws:x/get:{result_type.__name__}"
    result = shapes.shape_result(token, {}, result_type, None, shapes.InvokeContext("eu-west-1"))
    fields = shapes.declared_fields(result_type)
    assert len(fields) >= 3
    for python_name, _, hint in fields:
        _check_type(pulumi.get(result, python_name), hint, f"{result_type.__name__}.{python_name}")
    assert shapes.placeholdered[token] == [pulumi_name for _, pulumi_name, _ in fields]


def test_arguments_are_echoed_and_unset_optional_arguments_stay_unset(shapes: ModuleType) -> None:
    zone = aws.route53.GetZoneResult(arn="arn:aws:route53:::hostedzone/Z1")  # what an engine might answer
    shapes.shape_result("aws:route53/getZone:getZone", {"name": "example.com", "privateZone": None, "vpcId": None},
                        aws.route53.GetZoneResult, zone, shapes.InvokeContext("eu-west-1"))
    assert zone.arn == "arn:aws:route53:::hostedzone/Z1"  # given fields are kept
    assert zone.name == "example.com"
    assert zone.private_zone is None and zone.vpc_id is None
    assert zone.zone_id.startswith("offline-placeholder")
    assert zone.name_servers and all(isinstance(n, str) for n in zone.name_servers)
    assert "arn" not in shapes.placeholdered["aws:route53/getZone:getZone"]


def test_a_program_using_lookup_fields_runs_to_the_end(shapes: ModuleType) -> None:
    def program() -> None:
        zone = aws.route53.get_zone(name="example.com")
        vpc = aws.ec2.get_vpc(default=True)
        policy = aws.iam.get_policy_document(statements=[{"actions": ["s3:GetObject"], "resources": ["*"]}])
        region = aws.get_region()
        later = aws.route53.get_zone_output(name="example.org")
        aws.route53.Record("www", zone_id=zone.zone_id, name=f"www.{zone.name}", type="A", ttl=300,
                           records=[vpc.cidr_block_associations[0].cidr_block.split("/")[0]])
        aws.route53.Record("api", zone_id=later.zone_id, name="api", type="A", ttl=60, records=["10.0.0.1"])
        aws.iam.Policy("read", policy=policy.json, description=f"reads in {region.region} ({vpc.owner_id})")

    captured = capture(program, invoke_context=EU)
    www = captured.by_name("www", "aws:route53/record:Record")
    assert www.inputs["name"] == "www.example.com"
    assert www.inputs["records"] == ["10.0.0.0"]
    assert www.inputs["zoneId"] == UNKNOWN  # made up: unknown to the policies
    assert captured.by_name("api", "aws:route53/record:Record").inputs["zoneId"] == UNKNOWN
    read = captured.by_name("read", "aws:iam/policy:Policy").inputs
    assert json.loads(read["policy"])["Statement"] == [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]
    assert read["description"] == "reads in eu-west-1 (999999999999)"
    assert set(shapes.placeholdered) == {"aws:route53/getZone:getZone", "aws:ec2/getVpc:getVpc"}


# ---------------------------------------------------------------- through the command line

KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def preview(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    return subprocess.run([sys.executable, "-m", "bucketguard", "preview", *map(str, args)],
                          capture_output=True, text=True, timeout=180, env=env)


@pytest.mark.protocol
def test_a_made_up_key_fails_closed_and_a_pinned_one_is_judged(tmp_path: Path) -> None:
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"s3-kms-key-allowed": {"allowedKmsKeys": [KEY_ARN]}}))
    made_up = preview(PROGRAMS / "kms-lookup", "--json", "--policy-pack-config", config)
    assert made_up.returncode == 1, made_up.stderr
    document = json.loads(made_up.stdout)
    assert [(d["policyName"], d["urn"].rsplit("::", 1)[1]) for d in document["diagnostics"]
            if d["enforcementLevel"] == "mandatory"] == [("s3-kms-key-allowed", "reports-encryption")]
    assert "arn" in document["summary"]["placeholderInvokes"]["aws:kms/getKey:getKey"]
    assert "zoneId" in document["summary"]["placeholderInvokes"]["aws:route53/getZone:getZone"]

    pins = tmp_path / "answers.json"
    pins.write_text(json.dumps({"aws:kms/getKey:getKey": {"arn": KEY_ARN}}))
    pinned = preview(PROGRAMS / "kms-lookup", "--json", "--policy-pack-config", config, "--invoke-answers", pins)
    assert pinned.returncode == 0, pinned.stderr
    summary = json.loads(pinned.stdout)["summary"]
    assert "arn" not in summary["placeholderInvokes"]["aws:kms/getKey:getKey"]

    pins.write_text("{}}")
    broken = preview(PROGRAMS / "kms-lookup", "--invoke-answers", pins)
    assert broken.returncode == 2
    assert f"{pins}: not valid JSON" in broken.stderr and "Traceback" not in broken.stderr


def test_placeholders_made_in_the_program_process_are_reported_back(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    report = tmp_path / "placeholders.jsonl"
    monkeypatch.setenv(invokes.REPORT_ENV, str(report))
    module = invokes.load_shapes_module()
    module.install(module.InvokeContext("eu-west-1"))
    try:
        capture(lambda: aws.route53.get_zone(name="example.com", private_zone=False), invoke_context=EU)
    finally:
        module.uninstall()
    placeholders = invokes.read_placeholder_report(report)
    assert list(placeholders) == ["aws:route53/getZone:getZone"]
    assert "zoneId" in placeholders["aws:route53/getZone:getZone"]
    assert "name" not in placeholders["aws:route53/getZone:getZone"]  # echoed from the arguments


OLD_SDK_PROGRAM = """
import pulumi_aws as aws

key = aws.kms.get_key(key_id="alias/reports")
zone = aws.route53.get_zone(name="example.com", private_zone=False)
reports = aws.s3.BucketV2("reports")
aws.s3.BucketServerSideEncryptionConfigurationV2("reports-encryption", bucket=reports.id, rules=[{
    "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key.arn}}])
aws.route53.Record("reports-cname", zone_id=zone.zone_id, name=f"reports.{zone.name}", type="CNAME", ttl=300,
                   records=[reports.bucket_regional_domain_name])
"""


@pytest.mark.protocol
@pytest.mark.slow
def test_lookup_fields_are_filled_by_an_old_sdk_in_its_own_virtualenv(tmp_path: Path) -> None:
    """pulumi 3.60 has only `invoke` (its `_output` functions lift the plain one): the shapes work there too."""
    from venvs import SDK_FLOOR, program_venv

    (tmp_path / "Pulumi.yaml").write_text(
        f"name: old-sdk\nruntime:\n  name: python\n  options:\n    virtualenv: {program_venv(*SDK_FLOOR)}\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  aws:region: eu-west-1\n")
    (tmp_path / "__main__.py").write_text(OLD_SDK_PROGRAM)
    result = preview(tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert "default_6_55_0" in {r["name"] for r in document["resources"]}
    assert {r["name"] for r in document["resources"] if r["type"] == "aws:route53/record:Record"} == {"reports-cname"}
    placeholders = document["summary"]["placeholderInvokes"]
    assert "zoneId" in placeholders["aws:route53/getZone:getZone"] and "arn" in placeholders["aws:kms/getKey:getKey"]
