"""EncryptionConfigRules under Pulumi's mock runtime and through the provider: what it registers from the pack
config, that bad config registers nothing, and its conformance pack template validated by cfn-lint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pulumi
import pytest
from guard_engine import evaluate
from helpers import capture, capture_failing, types_registered
from pulumi.provider.server import ComponentInitError

from bucketguard.audit import iam as audit_iam
from bucketguard.audit.judge import audit_policy_config
from bucketguard.awsconfig.document import role_document, shipped_document
from bucketguard.awsconfig.guard import Place, rule_set
from bucketguard.awsconfig.template import template_body
from bucketguard.components import EncryptionConfigRules
from bucketguard.components.provider import new_provider
from bucketguard.preview import invokes
from bucketguard.settings import SettingsError

TOKEN = "bucketguard:index:EncryptionConfigRules"
RULE = "aws:cfg/rule:Rule"
REMEDIATION = "aws:cfg/remediationConfiguration:RemediationConfiguration"
PACK = "aws:cfg/organizationConformancePack:OrganizationConformancePack"
DOCUMENT = "aws:ssm/document:Document"
ROLE, ROLE_POLICY = "aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
POLICY_JSON = {"s3-kms-key-allowed": {"allowedKmsKeys": ["1234abcd-12ab-34cd-56ef-1234567890ab"],
                                      "requireCustomerManagedKey": True}, "s3-sse-c-blocked": "mandatory"}


def test_account_scope_registers_one_rule_per_policy_with_the_generated_guard_text(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(POLICY_JSON))
    cap = capture(lambda: EncryptionConfigRules("enforce", {"pack_config_file": str(path)}))
    rules = {r.inputs["name"]: r for r in cap.of_type(RULE)}
    assert set(rules) == {"bucketguard-s3-bucket-encryption-declared", "bucketguard-s3-encryption-algorithm-allowed",
                          "bucketguard-s3-kms-key-allowed", "bucketguard-s3-bucket-key-enabled", "bucketguard-s3-sse-c-blocked"}
    component = cap.by_name("enforce", TOKEN)
    # The lookups answer the account and region the rule's bare keys are bound to.
    place = Place(invokes.DEFAULT_ACCOUNT_ID, invokes.DEFAULT_REGION)
    expected = {r.policy: r.policy_text for r in rule_set(audit_policy_config(POLICY_JSON, "x"), place).rules}
    for made in rules.values():
        assert made.parent == component.urn
        assert made.inputs["scope"] == {"complianceResourceTypes": ["AWS::S3::Bucket"]}
        details = made.inputs["source"]["customPolicyDetails"]
        assert made.inputs["source"]["owner"] == "CUSTOM_POLICY" and details["policyRuntime"] == "guard-2.x.x"
        assert details["policyText"] == expected[made.inputs["name"].removeprefix("bucketguard-")]
    assert "bucketguard mandatory" in rules["bucketguard-s3-sse-c-blocked"].inputs["description"]
    assert "bucketguard advisory" in rules["bucketguard-s3-bucket-key-enabled"].inputs["description"]
    assert cap.of_type(REMEDIATION) == [] and cap.of_type(DOCUMENT) == [] and cap.of_type(ROLE) == []


def test_remediation_on_adds_the_document_the_least_privilege_role_and_one_remediation_per_mandatory_rule() -> None:
    cap = capture(lambda: EncryptionConfigRules("enforce", {
        "pack_config": POLICY_JSON, "enable_remediation": True, "remediation_kms_key_id": KEY}))
    document = cap.by_name("enforce-remediation", DOCUMENT)
    assert json.loads(document.inputs["content"]) == shipped_document()
    assert document.inputs["documentType"] == "Automation"
    role = cap.by_name("enforce-remediation", ROLE)
    assert json.loads(role.inputs["assumeRolePolicy"]) == role_document("remediation-trust-policy.json")
    policy = json.loads(cap.by_name("enforce-remediation", ROLE_POLICY).inputs["policy"])
    assert audit_iam.actions(policy) == {"s3:GetBucketLocation", "s3:GetEncryptionConfiguration", "s3:PutEncryptionConfiguration"}
    remediations = {r.inputs["configRuleName"]: r.inputs for r in cap.of_type(REMEDIATION)}
    # Advisory rules (Bucket Key) never trigger a write, as with audit --fix.
    assert set(remediations) == {"bucketguard-s3-bucket-encryption-declared", "bucketguard-s3-encryption-algorithm-allowed",
                                 "bucketguard-s3-kms-key-allowed", "bucketguard-s3-sse-c-blocked"}
    parameters = {p["name"]: p for p in remediations["bucketguard-s3-kms-key-allowed"]["parameters"]}
    assert parameters["BucketName"] == {"name": "BucketName", "resourceValue": "RESOURCE_ID"}
    assert parameters["KmsKeyId"]["staticValue"] == KEY
    assert set(json.loads(parameters["Policies"]["staticValue"])) == {
        "s3-bucket-encryption-declared", "s3-encryption-algorithm-allowed", "s3-kms-key-allowed",
        "s3-encryption-single-configuration", "s3-sse-c-blocked"}
    assert remediations["bucketguard-s3-kms-key-allowed"]["automatic"] is True


def test_organization_scope_registers_a_conformance_pack_whose_template_cfn_lint_accepts(tmp_path: Path) -> None:
    cap = capture(lambda: EncryptionConfigRules("enforce", {
        "pack_config": POLICY_JSON, "scope": "organization", "excluded_accounts": ["210987654321"]}))
    assert types_registered(cap) == sorted([TOKEN, PACK])
    pack = cap.by_name("enforce-pack", PACK)
    assert pack.inputs["excludedAccounts"] == ["210987654321"] and pack.inputs["name"] == "bucketguard-s3-encryption"
    template = json.loads(pack.inputs["templateBody"])
    assert len([r for r in template["Resources"].values() if r["Type"] == "AWS::Config::ConfigRule"]) == 5
    lint(tmp_path, pack.inputs["templateBody"])


def lint(tmp_path: Path, body: str) -> None:
    path = tmp_path / "pack.json"
    path.write_text(body)
    done = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), "--regions", "us-east-1", "eu-west-1", "--", str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_template_with_remediation_passes_cfn_lint_and_its_rules_evaluate_once_filled_in(tmp_path: Path) -> None:
    from bucketguard.awsconfig.guard import CLOUDFORMATION_PLACE
    from bucketguard.awsconfig.template import Remediation

    made = rule_set(audit_policy_config(POLICY_JSON, "x"), CLOUDFORMATION_PLACE)
    body = template_body(made, "bucketguard", Remediation(
        "arn:aws:ssm:us-east-1:111122223333:document/bucketguard", "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/r",
        {"SseAlgorithm": "aws:kms", "KmsKeyId": KEY, "BucketKeyEnabled": "true", "BlockSseC": "true", "Policies": "{}"}))
    lint(tmp_path, body)
    template = json.loads(body)
    assert sum(r["Type"] == "AWS::Config::RemediationConfiguration" for r in template["Resources"].values()) == 4
    text = template["Resources"]["S3KmsKeyAllowed"]["Properties"]["Source"]["CustomPolicyDetails"]["PolicyText"]["Fn::Sub"]
    filled = text.replace("${AWS::AccountId}", "123456789012").replace("${AWS::Region}", "us-east-1").replace(
        "${AWS::Partition}", "aws")
    from config_items import bucket_item
    item = bucket_item("b", "123456789012", "us-east-1", [{"ApplyServerSideEncryptionByDefault": {
        "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY}, "BucketKeyEnabled": True}])
    assert evaluate(filled, [item]) == ["COMPLIANT"]


@pytest.mark.parametrize(("args", "message"), [
    ({"pack_config": {"s3-kms-key-alowed": {}}}, "'s3-kms-key-alowed' is not a policy of pack 'bucketguard'"),
    ({"pack_config": {"s3-kms-key-allowed": {"allowedKmsKeys": ["nope"]}}}, "s3-kms-key-allowed.allowedKmsKeys.0"),
    ({"pack_config_file": "/nonexistent/policy.json"}, "pack_config_file /nonexistent/policy.json"),
    ({"pack_config": {}, "pack_config_file": "x"}, "exclude each other"),
    ({"scope": "org"}, "scope 'org' is not one of account, organization"),
    ({"enable_remediation": True}, "remediation creates no KMS key"),
    ({"enable_remediation": True, "remediation_sse_algorithm": "AES256", "pack_config": {
        "s3-encryption-algorithm-allowed": {"allowedAlgorithms": ["aws:kms"]}}},
     "the remediation setting itself fails s3-encryption-algorithm-allowed"),
    ({"enable_remediation": True, "remediation_use_aws_managed_key": True, "scope": "organization"},
     "needs remediation_role_name"),
    ({"pack_config": {"s3-kms-key-allowed": {"allowedKmsKeys": [
        f"arn:aws:kms:us-east-1:{i:012d}:key/1234abcd-12ab-34cd-56ef-1234567890ab" for i in range(140)]}}},
     "over Config's 10000"),
    ({"rule_name_prefix": "bad prefix"}, "rule_name_prefix 'bad prefix'"),
    ({"packconfig": {}}, "unknown argument(s) packconfig"),
])
def test_bad_config_registers_nothing(args: dict[str, Any], message: str) -> None:
    cap, error = capture_failing(lambda: EncryptionConfigRules("enforce", args), SettingsError)  # type: ignore[arg-type]
    assert message in error
    assert types_registered(cap) == []


def test_served_by_the_provider_with_the_same_children_and_errors() -> None:
    provider = new_provider()
    schema = json.loads(provider.schema or "{}")["resources"][TOKEN]
    assert schema["isComponent"] is True and schema["requiredInputs"] == []
    assert {"packConfig", "packConfigFile", "scope", "enableRemediation", "remediationKmsKeyId"} <= set(schema["inputProperties"])
    assert set(schema["properties"]) == {"ruleNames", "conformancePackArn", "remediationDocumentName", "remediationRoleArn"}
    via = capture(lambda: provider.construct("enforce", TOKEN, {"packConfig": POLICY_JSON, "scope": "organization"},
                                             pulumi.ResourceOptions()))
    direct = capture(lambda: EncryptionConfigRules("enforce", {"pack_config": POLICY_JSON, "scope": "organization"}))
    assert [(r.type, r.name, r.inputs) for r in via.of_type(PACK)] == [(r.type, r.name, r.inputs) for r in direct.of_type(PACK)]
    cap, error = capture_failing(lambda: provider.construct("enforce", TOKEN, {"scope": "org"}, pulumi.ResourceOptions()),
                                 ComponentInitError)
    assert "EncryptionConfigRules('enforce'): scope 'org'" in error and types_registered(cap) == []
