"""The pack's model of a bucket and its key (issue 18) and buckets behind a provider whose config is
unknown (issue 28, item 1), driven over the analyzer protocol as the engine drives it: a fresh pack
process per module, Analyze per resource with its inputs after Check and its provider, AnalyzeStack
with outputs, property dependencies (reads included: the engine lists their URNs, which are not among
AnalyzeStack's resources) and providers; config sent to Configure as the engine reconciles it.

Where a test reproduces the engine from its source rather than from an observed run, its docstring
names the file and function (pulumi/pulumi, pulumi-aws-native, pulumi-policy at the commits read for
this change)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from audit_server import run_audit
from helpers import ROOT, UNKNOWN
from pack_helpers import BUCKET, CONF, KEY, KEY_ARN, NATIVE, Stack, configured, engine_configure, rule, run, verdicts
from state_exports import export, write

from bucketguard.preview.analyzer import PackError, PolicyPackProcess

pytestmark = pytest.mark.protocol

ALIAS = "aws:kms/alias:Alias"
HOME = "123456789012"
OTHER = "999999999999"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
AES = rule("AES256", bucket_key=False)
DIRECTORY = "aws:s3/directoryBucket:DirectoryBucket"
NATIVE_DIRECTORY = "aws-native:s3express:DirectoryBucket"
TABLE = "aws:s3tables/tableBucket:TableBucket"
NATIVE_TABLE = "aws-native:s3tables:TableBucket"
VECTOR = "aws:s3/vectorsVectorBucket:VectorsVectorBucket"
NATIVE_VECTOR = "aws-native:s3vectors:VectorBucket"
CFN_STACK = "aws:cloudformation/stack:Stack"
def analyze(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    return subprocess.run([sys.executable, "-m", "bucketguard", "analyze", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=180, env=env)


ALLOWED = {"s3-kms-key-allowed": {"allowedKmsKeys": [KEY_ARN], "requireCustomerManagedKey": True}}


@pytest.fixture(scope="module")
def strict() -> Iterator[PolicyPackProcess]:
    yield from configured(ALLOWED)


@pytest.fixture(scope="module")
def kms_only() -> Iterator[PolicyPackProcess]:
    yield from configured({"s3-encryption-algorithm-allowed": {"allowedAlgorithms": ["aws:kms"]}})


@pytest.fixture(scope="module")
def bare_entries() -> Iterator[PolicyPackProcess]:
    yield from configured({"s3-kms-key-allowed": {"allowedKmsKeys": [KEY_ID]}})


def key_findings(pack: PolicyPackProcess, stack: Stack) -> list[Any]:
    return [d for d in run(pack, stack) if d.policy == "s3-kms-key-allowed"]


def bucket_on(stack: Stack, provider: str, name: str = "data", **inputs: Any) -> str:
    physical = f"{name}-abc1234"
    return stack.add(BUCKET, name, {"bucket": physical, **inputs}, {"bucket": physical, "id": UNKNOWN},
                     provider=provider)


def configuration_on(stack: Stack, provider: str, bucket: str, key: Any, rule_deps: list[str] | None = None,
                     **inputs: Any) -> str:
    deps = {"bucket": [bucket], **({"rules": rule_deps} if rule_deps else {})}
    return stack.add(CONF, "data-enc", {"bucket": UNKNOWN, "rules": [rule(key=key)], **inputs}, deps=deps,
                     provider=provider)


def stack_alias(stack: Stack, provider: str, **inputs: Any) -> str:
    key = stack.add(KEY, "key", {"description": "x", **inputs}, {"id": UNKNOWN, "arn": UNKNOWN}, provider=provider)
    return stack.add(ALIAS, "alias", {"name": "alias/app-data", "targetKeyId": UNKNOWN, **inputs},
                     deps={"targetKeyId": [key]}, provider=provider)


# --- 1. a key reference means a key in a partition, account and region ------------------------------

@pytest.mark.parametrize(
    ("key_place", "bucket_place", "bucket_region"),
    [
        (("us-east-1", HOME), ("eu-west-1", HOME), None),  # another region
        (("eu-west-1", OTHER), ("eu-west-1", HOME), None),  # another account
        (("eu-west-1", HOME), None, "us-east-1"),  # the same provider, a resource-level region elsewhere
        ((None, None), ("eu-west-1", HOME), None),  # the alias's place is not known
    ],
)
def test_a_stack_alias_vouches_only_for_buckets_where_its_name_resolves_to_it(
        strict: PolicyPackProcess, key_place: tuple[str | None, str | None], bucket_place: tuple[str, str] | None,
        bucket_region: str | None) -> None:
    """S3 resolves an alias name in the account and region of the bucket (S3 API reference,
    ServerSideEncryptionByDefault.KMSMasterKeyID), and aliases are per account and region
    (AWS::KMS::Alias): `alias/app-data` created in one place names some other key, or none, elsewhere."""
    stack = Stack()
    region, account = key_place
    key_provider = stack.aws_provider("keys", region, f'["{account}"]' if account else None)
    bucket_provider = key_provider if bucket_place is None else stack.aws_provider(
        "buckets", bucket_place[0], f'["{bucket_place[1]}"]')
    stack_alias(stack, key_provider)
    region_input = {"region": bucket_region} if bucket_region else {}
    bucket = bucket_on(stack, bucket_provider, **region_input)
    configuration = configuration_on(stack, bucket_provider, bucket, "alias/app-data", **region_input)
    (finding,) = key_findings(strict, stack)
    assert finding.urn == configuration
    assert "KMS key alias/app-data is not one of the allowed keys" in finding.message


@pytest.mark.parametrize("same_provider", [True, False])
def test_a_stack_alias_vouches_for_buckets_in_its_own_place(strict: PolicyPackProcess, same_provider: bool) -> None:
    # One provider: the same credentials and region, known or not. Two providers: equal known places.
    stack = Stack()
    key_provider = stack.aws_provider("keys", None if same_provider else "eu-west-1",
                                      None if same_provider else f'["{HOME}"]')
    bucket_provider = key_provider if same_provider else stack.aws_provider("buckets", "eu-west-1", f'["{HOME}"]')
    stack_alias(stack, key_provider)
    bucket = bucket_on(stack, bucket_provider)
    configuration_on(stack, bucket_provider, bucket, "alias/app-data")
    assert run(strict, stack) == []


def test_a_computed_key_of_a_stack_key_elsewhere_is_not_a_stack_key(strict: PolicyPackProcess) -> None:
    # kms_key_id=east_key.key_id: a bare id resolved in eu-west-1 names no key of this stack.
    stack = Stack()
    east, west = stack.aws_provider("east", "us-east-1", f'["{HOME}"]'), stack.aws_provider("west", "eu-west-1",
                                                                                            f'["{HOME}"]')
    key = stack.add(KEY, "key", {"description": "x"}, {"id": UNKNOWN, "arn": UNKNOWN}, provider=east)
    bucket = bucket_on(stack, west)
    configuration = configuration_on(stack, west, bucket, UNKNOWN, rule_deps=[key])
    (finding,) = key_findings(strict, stack)
    assert finding.urn == configuration
    assert "not certainly in the account and region of aws.s3.BucketServerSideEncryptionConfiguration" in finding.message


def test_an_assumed_roles_account_is_where_bare_names_resolve(bare_entries: PolicyPackProcess) -> None:
    """The provider's credentials are the last assumed role's (pulumi_aws/provider.py sends
    assumeRoles as JSON text): bare entries match ARNs of that account only."""
    stack = Stack()
    role = stack.aws_provider("role", "eu-west-1")
    stack.resources[-1].inputs["assumeRoles"] = json.dumps([{"roleArn": f"arn:aws:iam::{HOME}:role/deploy"}])
    bucket = bucket_on(stack, role)
    configuration_on(stack, role, bucket, KEY_ARN)
    assert run(bare_entries, stack) == []
    other = Stack()
    role = other.aws_provider("role", "eu-west-1")
    other.resources[-1].inputs["assumeRoles"] = json.dumps([{"roleArn": f"arn:aws:iam::{OTHER}:role/deploy"}])
    bucket = bucket_on(other, role)
    configuration = configuration_on(other, role, bucket, KEY_ARN)
    assert [d.urn for d in key_findings(bare_entries, other)] == [configuration]


# --- 2. dependencies through reads ---------------------------------------------------------------------

def read_urn(stack: Stack) -> str:
    """A StackReference: a read, absent from AnalyzeStack's resources but listed in dependencies
    (step_generator.go AnalyzeResources sends `news`; reads are ReadSteps, pkg/resource/deploy/step.go)."""
    return stack.urn("pulumi:pulumi:StackReference", "org/network/prod")


def test_a_key_computed_from_a_stack_key_and_a_read_is_not_a_stack_key(strict: PolicyPackProcess) -> None:
    """pulumi_policy (policy.py, AnalyzeStack) drops from property_dependencies every URN that is not
    among the resources, so the pack reads the request's own URNs."""
    stack = Stack()
    key = stack.key()
    bucket = stack.bucket("data")
    configuration = stack.configuration("data-enc", bucket, [rule(key=UNKNOWN)], rule_deps=[key, read_urn(stack)])
    (finding,) = key_findings(strict, stack)
    assert finding.urn == configuration
    assert "depends on resources the pack cannot see" in finding.message


def test_an_alias_whose_target_depends_on_a_read_is_not_a_stack_key(strict: PolicyPackProcess) -> None:
    stack = Stack()
    key = stack.key()
    alias = stack.add(ALIAS, "alias", {"name": "alias/app-data", "targetKeyId": UNKNOWN},
                      deps={"targetKeyId": [key, read_urn(stack)]})
    bucket = stack.bucket("data")
    configuration = stack.configuration("data-enc", bucket, [rule(key=UNKNOWN)], rule_deps=[alias])
    assert [d.urn for d in key_findings(strict, stack)] == [configuration]


def test_a_configuration_whose_bucket_depends_on_a_read_encrypts_no_bucket(pack: PolicyPackProcess) -> None:
    # bucket=Output.all(b.id, ref.get_output("name")).apply(...): it may name the other stack's bucket.
    stack = Stack()
    bucket = stack.bucket("data")
    stack.configuration("data-enc", None, [AES])
    stack.resources[-1].property_dependencies = {"bucket": [bucket, read_urn(stack)]}
    (finding,) = run(pack, stack)
    assert (finding.policy, finding.urn) == ("s3-bucket-encryption-declared", bucket)
    assert "configuration 'data-enc' has a bucket computed from resources the pack cannot see" in finding.message


# --- 3. policy config that cannot be mistyped ----------------------------------------------------------

@pytest.mark.parametrize(
    ("config", "text"),
    [
        ({"s3-kms-key-allowed": {"allowedKMSKeys": [KEY_ARN]}},
         "s3-kms-key-allowed: unknown property 'allowedKMSKeys' (known: allowedKmsKeys, allowStackKeys, "
         "requireCustomerManagedKey, enforcementLevel); did you mean 'allowedKmsKeys'?"),
        ({"s3-sse-c-blocked": {"enforcement": "mandatory"}},
         "s3-sse-c-blocked: unknown property 'enforcement' (known: enforcementLevel); did you mean 'enforcementLevel'?"),
        ({"s3-sse-c-block": "mandatory"},
         "'s3-sse-c-block' is not a policy of pack 'bucketguard'"),
    ],
)
def test_the_pack_refuses_mistyped_config_at_configure(config: dict[str, Any], text: str) -> None:
    """The engine validates each policy's config against its schema without forbidding extra
    properties, and sends a key naming no policy when it carries a level (config.go convertSchema,
    applyConfig); the pack's Configure refuses them, which fails the preview (update.go,
    "configuring policy pack")."""
    with PolicyPackProcess(ROOT / "policies", project="proj", stack="dev") as process:
        with pytest.raises(grpc.RpcError) as error:
            engine_configure(process, config)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert text in error.value.details()
        if "not a policy" in text:
            assert "did you mean 's3-sse-c-blocked'?" in error.value.details()


def test_the_pack_accepts_config_the_engine_reconciles_from_a_valid_file() -> None:
    with PolicyPackProcess(ROOT / "policies", project="proj", stack="dev") as process:
        engine_configure(process, {"all": "advisory", "s3-kms-key-allowed": {"enforcementLevel": "mandatory",
                                                                             "allowedKmsKeys": [KEY_ARN]}})
        stack = Stack()
        stack.bucket("bare")
        assert verdicts(run(process, stack)) == {("s3-bucket-encryption-declared", "advisory", "bare")}


MISTYPED = [
    ({"s3-kms-key-allowed": {"allowedKMSKeys": [KEY_ARN]}}, "did you mean 'allowedKmsKeys'?"),
    ({"s3-sse-c-blocked": {"enforcement": "mandatory"}}, "did you mean 'enforcementLevel'?"),
    ({"s3-sse-c-block": "mandatory"}, "did you mean 's3-sse-c-blocked'?"),
]


@pytest.mark.parametrize(("config", "text"), MISTYPED)
def test_the_offline_preview_refuses_the_same_config(config: dict[str, Any], text: str) -> None:
    with PolicyPackProcess(ROOT / "policies", project="proj", stack="dev") as process, \
            pytest.raises(PackError) as error:
        process.configure(config, source="policy.json")
    assert str(error.value).startswith("policy.json: ") and text in str(error.value)


@pytest.mark.parametrize(("config", "text"), MISTYPED)
def test_analyze_and_the_audit_refuse_it_on_the_command_line(tmp_path: Path, config: dict[str, Any],
                                                            text: str) -> None:
    path = write(tmp_path / "policy.json", config)
    state = write(tmp_path / "state.json", export([]))
    result = analyze("--state", state, "--policy-pack-config", path)
    assert result.returncode == 2 and text in result.stderr and str(path) in result.stderr
    code, _, stderr = run_audit("http://127.0.0.1:9", "--policy-pack-config", path)
    assert code == 2 and text in stderr
    assert "Traceback" not in result.stderr + stderr


# --- 4 and issue 28.1. new, deployed or untargeted from what the engine sends --------------------------

def unknown_config_provider(stack: Stack, name: str = "assumed") -> str:
    """An explicit provider assuming a role created in the same stack: its config is unknown."""
    provider = stack.aws_provider(name, "eu-west-1")
    stack.resources[-1].inputs["assumeRoles"] = UNKNOWN
    stack.resources[-1].outputs["assumeRoles"] = UNKNOWN
    return provider


def test_a_bucket_whose_provider_config_is_unknown_is_judged(pack: PolicyPackProcess) -> None:
    """provider_plugin.go: with unknown config, Check returns the program's inputs (no autoname) and a
    preview Create returns no properties, so `aws.s3.Bucket("b", opts=provider)` reaches Analyze with
    no inputs and AnalyzeStack with no outputs, as an untargeted create does with a known config."""
    stack = Stack()
    provider = unknown_config_provider(stack)
    bucket = stack.add(BUCKET, "data", {}, {}, provider=provider)
    (finding,) = run(pack, stack)
    assert (finding.policy, finding.level, finding.urn) == ("s3-bucket-encryption-declared", "mandatory", bucket)
    assert "its provider's configuration is not known during preview" in finding.message


def test_a_bucket_whose_provider_config_is_unknown_passes_with_its_configuration(pack: PolicyPackProcess) -> None:
    stack = Stack()
    provider = unknown_config_provider(stack)
    bucket = stack.add(BUCKET, "data", {}, {}, provider=provider)
    stack.add(CONF, "data-enc", {"bucket": UNKNOWN, "rules": [AES]}, {}, deps={"bucket": [bucket]}, provider=provider)
    assert run(pack, stack) == []


def test_a_deployed_bucket_whose_provider_config_is_unknown_is_judged_by_its_inputs(pack: PolicyPackProcess) -> None:
    """An existing resource: Diff is unavailable (an update is assumed) and a preview Update returns no
    properties either (provider_plugin.go Diff, Update)."""
    stack = Stack()
    provider = unknown_config_provider(stack)
    inline = {"serverSideEncryptionConfiguration": {"rule": rule("aes256", bucket_key=False)}}
    stack.add(BUCKET, "data", {"bucket": "data-abc1234", **inline}, {}, provider=provider)
    assert verdicts(run(pack, stack)) == {("s3-encryption-algorithm-allowed", "mandatory", "data")}


def test_untargeted_resources_of_a_known_provider_are_still_not_judged(pack: PolicyPackProcess) -> None:
    stack = Stack()
    stack.not_created(BUCKET, "elsewhere")
    stack.not_created(NATIVE, "native")
    assert run(pack, stack) == []


def native_outputs(inputs: dict[str, Any], arn: str = UNKNOWN) -> dict[str, Any]:
    """aws-native's preview Create: the inputs, and each read-only output unknown
    (pulumi-aws-native provider/pkg/outputs/previewOutputs.go previewResourceOutputs)."""
    return {**inputs, "arn": arn, "domainName": UNKNOWN if arn == UNKNOWN else "x.s3.amazonaws.com",
            "regionalDomainName": UNKNOWN if arn == UNKNOWN else "x.s3.eu-west-1.amazonaws.com"}


def test_an_aws_native_bucket_without_a_name_is_a_bucket(pack: PolicyPackProcess) -> None:
    # pulumi:autonaming {mode: disabled}: aws-native's Check gives no bucketName; the plan has no id.
    stack = Stack()
    provider = stack.default_provider("aws-native")
    bucket = stack.add(NATIVE, "data", {}, native_outputs({}), provider=provider)
    (finding,) = run(pack, stack)
    assert (finding.policy, finding.urn) == ("s3-bucket-encryption-declared", bucket)


def test_a_deployed_aws_native_bucket_is_deployed(pack: PolicyPackProcess) -> None:
    # No `id` output: aws-native outputs hold the read-only `arn`, known once the bucket exists.
    stack = Stack()
    provider = stack.default_provider("aws-native")
    reported = {"bucketEncryption": {"serverSideEncryptionConfiguration": [
        {"serverSideEncryptionByDefault": {"sseAlgorithm": "AES256"}, "bucketKeyEnabled": False}]}}
    outputs = native_outputs({"bucketName": "data-x1", **reported}, arn="arn:aws:s3:::data-x1")
    bucket = stack.add(NATIVE, "data", {}, outputs, provider=provider)
    (finding,) = run(pack, stack)
    assert finding.urn == bucket
    assert "its state reports SSE-S3 (AES256), which this program does not declare" in finding.message


# --- 5. every S3 bucket kind ------------------------------------------------------------------------------

def directory_bucket(stack: Stack, name: str = "fast", native: bool = False, **inputs: Any) -> str:
    physical = f"{name}--use1-az4--x-s3"
    if native:
        return stack.add(NATIVE_DIRECTORY, name, {"bucketName": physical, "dataRedundancy": "SingleAvailabilityZone",
                                                  "locationName": "use1-az4", **inputs},
                         native_outputs({"bucketName": physical, **inputs}))
    return stack.add(DIRECTORY, name, {"bucket": physical, "location": {"name": "use1-az4"}, **inputs},
                     {"bucket": physical, "id": UNKNOWN, "arn": UNKNOWN})


def test_a_directory_bucket_declares_its_encryption_like_any_bucket(pack: PolicyPackProcess) -> None:
    # SSE-S3 by default; SSE-KMS through PutBucketEncryption (BucketServerSideEncryptionConfiguration).
    stack = Stack()
    bucket = directory_bucket(stack)
    (finding,) = run(pack, stack)
    assert (finding.policy, finding.urn) == ("s3-bucket-encryption-declared", bucket)
    assert "aws.s3.DirectoryBucket 'fast': declares no default encryption" in finding.message
    encrypted = Stack()
    directory_bucket(encrypted)
    encrypted.configuration("fast-enc", None, [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms",
                                                                                       "kmsMasterKeyId": KEY_ARN}}],
                            bucket="fast--use1-az4--x-s3")
    # The Bucket Key is always on in directory buckets and SSE-C does not apply: no advisory either.
    assert run(pack, encrypted) == []


def test_a_kms_only_organisation_rejects_an_aes256_directory_bucket(kms_only: PolicyPackProcess) -> None:
    stack = Stack()
    encryption = {"bucketEncryption": {"serverSideEncryptionConfiguration": [
        {"serverSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}}
    directory_bucket(stack, native=True, **encryption)
    assert verdicts(run(kms_only, stack)) == {("s3-encryption-algorithm-allowed", "mandatory", "fast")}


def test_directory_buckets_do_not_support_dsse(pack: PolicyPackProcess) -> None:
    stack = Stack()
    directory_bucket(stack)
    configuration = stack.configuration("fast-enc", None, [rule("aws:kms:dsse", bucket_key=False, sse_c=None)],
                                        bucket="fast--use1-az4--x-s3")
    (finding,) = run(pack, stack)
    assert (finding.policy, finding.urn) == ("s3-encryption-algorithm-allowed", configuration)
    assert "not supported by directory buckets" in finding.message


@pytest.mark.parametrize(
    ("type_token", "name_key", "encryption"),
    [
        (TABLE, "name", {"encryptionConfiguration": {"sseAlgorithm": "aws:kms", "kmsKeyArn": KEY_ARN}}),
        (NATIVE_TABLE, "tableBucketName", {"encryptionConfiguration": {"sseAlgorithm": "aws:kms", "kmsKeyArn": KEY_ARN}}),
        (VECTOR, "vectorBucketName", {"encryptionConfigurations": [{"sseType": "aws:kms", "kmsKeyArn": KEY_ARN}]}),
        (NATIVE_VECTOR, "vectorBucketName", {"encryptionConfiguration": {"sseType": "aws:kms", "kmsKeyArn": KEY_ARN}}),
    ],
)
def test_table_and_vector_buckets_are_judged_under_the_same_rules(
        pack: PolicyPackProcess, strict: PolicyPackProcess, kms_only: PolicyPackProcess, type_token: str,
        name_key: str, encryption: dict[str, Any]) -> None:
    def bucket(stack: Stack, inputs: dict[str, Any]) -> str:
        inputs = {name_key: "analytics", **inputs}
        marker = {"id": UNKNOWN} if type_token.startswith("aws:") else {
            "tableBucketArn" if "Table" in type_token else "vectorBucketArn": UNKNOWN}
        return stack.add(type_token, "analytics", inputs, {**inputs, **marker})

    bare = Stack()
    urn = bucket(bare, {})
    assert [(d.policy, d.urn) for d in run(pack, bare)] == [("s3-bucket-encryption-declared", urn)]
    allowed = Stack()
    bucket(allowed, encryption)
    assert run(strict, allowed) == []
    foreign = Stack()
    other_key = KEY_ARN.replace(HOME, OTHER)
    urn = bucket(foreign, json.loads(json.dumps(encryption).replace(HOME, OTHER)))
    (finding,) = run(strict, foreign)
    assert (finding.policy, finding.urn) == ("s3-kms-key-allowed", urn)
    assert f"KMS key {other_key} is not one of the allowed keys" in finding.message
    sse_s3 = Stack()
    bucket(sse_s3, json.loads(json.dumps(encryption).replace('"aws:kms"', '"AES256"').replace(
        f', "kmsKeyArn": "{KEY_ARN}"', "")))
    assert verdicts(run(kms_only, sse_s3)) == {("s3-encryption-algorithm-allowed", "mandatory", "analytics")}


TEMPLATE_YAML = """
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Key:
    Type: AWS::KMS::Key
    Properties: {EnableKeyRotation: true}
  Data:
    Type: AWS::S3::Bucket
    Properties:
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault:
              SSEAlgorithm: aws:kms
              KMSMasterKeyID: !GetAtt Key.Arn
            BucketKeyEnabled: true
            BlockedEncryptionTypes: {EncryptionType: [SSE-C]}
"""


def cfn_stack(stack: Stack, inputs: dict[str, Any]) -> str:
    return stack.add(CFN_STACK, "legacy", {"name": "legacy", **inputs},
                     {"name": "legacy", **{k: UNKNOWN if v == UNKNOWN else v for k, v in inputs.items()}, "id": UNKNOWN})


def test_buckets_in_a_cloudformation_template_are_judged(pack: PolicyPackProcess, strict: PolicyPackProcess,
                                                         kms_only: PolicyPackProcess) -> None:
    stack = Stack()
    cfn = cfn_stack(stack, {"templateBody": json.dumps({"Resources": {
        "Logs": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "acme-logs"}},
        "Fast": {"Type": "AWS::S3Express::DirectoryBucket", "Properties": {
            "DataRedundancy": "SingleAvailabilityZone", "LocationName": "use1-az4",
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}}}}})})
    findings = run(pack, stack)
    assert [(d.policy, d.urn) for d in findings] == [("s3-bucket-encryption-declared", cfn)]
    assert "AWS::S3::Bucket 'Logs' in aws.cloudformation.Stack 'legacy': declares no default encryption" in findings[0].message
    assert verdicts(run(kms_only, stack)) == {("s3-bucket-encryption-declared", "mandatory", "legacy"),
                                              ("s3-encryption-algorithm-allowed", "mandatory", "legacy")}
    with_key = Stack()
    cfn_stack(with_key, {"templateBody": TEMPLATE_YAML})
    assert run(strict, with_key) == []  # a key the template creates is a key of this stack


@pytest.mark.parametrize(
    ("inputs", "text"),
    [
        ({"templateBody": UNKNOWN}, "its template is not known during preview"),
        ({"templateUrl": "https://s3.amazonaws.com/acme/template.yaml"}, "its template is fetched from a URL"),
        ({"templateBody": "Resources: [unbalanced"}, "its template cannot be read"),
        ({"templateBody": json.dumps({"Transform": "AWS::Serverless-2016-10-31", "Resources": {}})},
         "its template uses a Transform"),
        ({"templateBody": json.dumps({"Resources": {"Nested": {"Type": "AWS::CloudFormation::Stack", "Properties": {
            "TemplateURL": "https://example.com/t.json"}}}})}, "nested stack 'Nested'"),
    ],
)
def test_a_template_the_pack_cannot_read_fails_closed(pack: PolicyPackProcess, inputs: dict[str, Any], text: str) -> None:
    stack = Stack()
    cfn = cfn_stack(stack, inputs)
    (finding,) = run(pack, stack)
    assert (finding.policy, finding.level, finding.urn) == ("s3-bucket-encryption-declared", "mandatory", cfn)
    assert text in finding.message


# --- 6. stack policies stand alone ------------------------------------------------------------------------

@pytest.mark.parametrize(
    "config",
    [
        {"all": "disabled", "s3-bucket-encryption-declared": "mandatory"},
        {"all": "disabled", "s3-kms-key-allowed": {"enforcementLevel": "mandatory", **ALLOWED["s3-kms-key-allowed"]}},
    ],
)
def test_stack_policies_conclude_the_same_with_the_resource_policies_disabled(config: dict[str, Any]) -> None:
    """The SDK calls a policy's validate only when it is enabled (pulumi_policy policy.py, Analyze), so
    what the stack policies need from Analyze is recorded for every call, whichever policies run."""
    for process in configured(config):
        name = "data-abc1234"
        deployed = Stack()  # inline encryption of a deployed bucket: its outputs report it too
        inline = {"serverSideEncryptionConfiguration": {"rule": rule(key=KEY_ARN)}}
        deployed.add(BUCKET, "data", {"bucket": name, **inline}, {"bucket": name, "id": name, **inline})
        assert run(process, deployed) == []
        new = Stack()  # a new inline block with a stack key: wholly unknown in the plan
        key = new.key()
        inline = {"serverSideEncryptionConfiguration": {"rule": rule(key=UNKNOWN)}}
        new.add(BUCKET, "data", {"bucket": name, **inline},
                {"bucket": name, "id": UNKNOWN, "serverSideEncryptionConfiguration": UNKNOWN},
                deps={"serverSideEncryptionConfiguration": [key]})
        assert run(process, new) == []
        separate = Stack()  # a configuration with a stack key: `rules` wholly unknown in the plan
        key = separate.key()
        bucket = separate.bucket("data")
        separate.configuration("data-enc", bucket, [rule(key=UNKNOWN)], rule_deps=[key])
        assert run(process, separate) == []


# --- 7. and 8. aws-native's blockedEncryptionTypes, and AWS's defaults ---------------------------------------

@pytest.mark.parametrize("blocked", [{"encryptionType": ["SSE-C"]}, ["SSE-C"]])
def test_aws_native_blocked_encryption_types_in_both_shapes(blocked: Any) -> None:
    for process in configured({"s3-sse-c-blocked": "mandatory"}):
        stack = Stack()
        stack.bucket("native", NATIVE, {"bucketEncryption": {"serverSideEncryptionConfiguration": [
            {"serverSideEncryptionByDefault": {"sseAlgorithm": "AES256"}, "blockedEncryptionTypes": blocked}]}})
        assert run(process, stack) == []
        unblocked = Stack()
        unblocked.bucket("native", NATIVE, {"bucketEncryption": {"serverSideEncryptionConfiguration": [
            {"serverSideEncryptionByDefault": {"sseAlgorithm": "AES256"}, "blockedEncryptionTypes": {"encryptionType": []}}]}})
        assert verdicts(run(process, unblocked)) == {("s3-sse-c-blocked", "mandatory", "native")}


def test_inline_and_separate_encryption_agree_once_aws_defaults_apply(pack: PolicyPackProcess) -> None:
    stack = Stack()
    inline_rule = rule("AES256", bucket_key=None)
    inline_rule.pop("bucketKeyEnabled")
    bucket = stack.bucket("data", BUCKET, {"serverSideEncryptionConfiguration": {"rule": inline_rule}})
    stack.configuration("data-enc", bucket, [rule("AES256", bucket_key=False)])
    assert run(pack, stack) == []
    differing = Stack()
    bucket = differing.bucket("data", BUCKET, {"serverSideEncryptionConfiguration": {"rule": inline_rule}})
    differing.configuration("data-enc", bucket, [rule("aws:kms", key=KEY_ARN, bucket_key=True)])
    assert verdicts(run(pack, differing)) == {("s3-encryption-single-configuration", "mandatory", "data")}
