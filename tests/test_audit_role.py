"""AuditRole under Pulumi's mock runtime: the role and policies it registers are exactly the shipped
IAM documents, in the partition of the caller's provider, trusted by the audit account only, with the
narrow forms (named principals, organisation conditions, scoped fix) when asked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers import capture, capture_failing

from bucketguard.audit import iam as audit_iam
from bucketguard.components import AuditRole
from bucketguard.preview import invokes
from bucketguard.settings import SettingsError

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
AUDIT_ACCOUNT = "111122223333"
REQUIRED = {"audit_account_id": AUDIT_ACCOUNT, "external_id": "bucketguard-7f3a"}


def policies_of(cap: Any) -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.inputs["policy"]) for p in cap.of_type(ROLE_POLICY)}


def test_default_role_reads_checks_keys_and_requires_the_external_id() -> None:
    cap = capture(lambda: AuditRole("audit", REQUIRED))  # type: ignore[arg-type]
    component = cap.by_name("audit", "bucketguard:index:AuditRole")
    role = cap.by_name("audit", ROLE)
    assert role.parent == component.urn
    assert role.inputs["name"] == "bucketguard-audit"
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"] == [{"Sid": "BucketguardAuditAccount", "Effect": "Allow",
                                   "Principal": {"AWS": f"arn:aws:iam::{AUDIT_ACCOUNT}:root"},
                                   "Action": "sts:AssumeRole",
                                   "Condition": {"StringEquals": {"sts:ExternalId": "bucketguard-7f3a"}}}]
    policies = policies_of(cap)
    assert policies == {"audit-read": audit_iam.read_policy(), "audit-key-check": audit_iam.key_check_policy()}
    assert audit_iam.actions(policies["audit-read"]) == {
        "s3:ListAllMyBuckets", "s3:GetBucketLocation", "s3:GetEncryptionConfiguration"}
    assert audit_iam.actions(policies["audit-key-check"]) == {"kms:DescribeKey"}


def test_without_an_external_id_the_role_is_refused_unless_the_caller_opts_out() -> None:
    cap, error = capture_failing(lambda: AuditRole("audit", {"audit_account_id": AUDIT_ACCOUNT}), SettingsError)
    assert "external_id is required" in error and "require_external_id=False" in error
    assert [r for r in cap.resources if r.type != "pulumi:pulumi:Stack"] == []
    cap = capture(lambda: AuditRole("audit", {"audit_account_id": AUDIT_ACCOUNT, "require_external_id": False}))
    assert "Condition" not in json.loads(cap.by_name("audit", ROLE).inputs["assumeRolePolicy"])["Statement"][0]


def test_fix_policy_writes_only_buckets_of_the_roles_own_account() -> None:
    cap = capture(lambda: AuditRole("audit", {**REQUIRED, "role_name": "org-audit", "enable_fix": True}))  # type: ignore[typeddict-item]
    assert cap.by_name("audit", ROLE).inputs["name"] == "org-audit"
    fix = policies_of(cap)["audit-fix"]
    assert fix == audit_iam.fix_policy()
    assert audit_iam.actions(fix) == {"s3:PutEncryptionConfiguration"}
    assert fix["Statement"][0]["Resource"] == "arn:aws:s3:::*"
    assert fix["Statement"][0]["Condition"] == {"StringEquals": {"aws:ResourceAccount": "${aws:PrincipalAccount}"}}


def test_narrow_forms_named_principals_organisation_and_scoped_fix() -> None:
    runner = f"arn:aws:iam::{AUDIT_ACCOUNT}:role/ci/bucketguard-runner"
    cap = capture(lambda: AuditRole("audit", {
        **REQUIRED, "trusted_principal_arns": [runner], "organization_id": "o-a1b2c3d4e5",  # type: ignore[typeddict-item]
        "enable_fix": True, "fix_buckets": ["acme-data-*", "acme-logs"], "enable_key_checks": False}))
    trust = json.loads(cap.by_name("audit", ROLE).inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"AWS": runner}
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": "bucketguard-7f3a",
                                                   "aws:PrincipalOrgID": "o-a1b2c3d4e5"}}
    policies = policies_of(cap)
    assert set(policies) == {"audit-read", "audit-fix"}
    assert policies["audit-fix"]["Statement"][0]["Resource"] == ["arn:aws:s3:::acme-data-*", "arn:aws:s3:::acme-logs"]


@pytest.mark.parametrize(("region", "partition"), [("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov"),
                                                  ("eusc-de-east-1", "aws-eusc"), ("us-isob-east-1", "aws-iso-b")])
def test_documents_follow_the_partition_of_the_callers_provider(region: str, partition: str) -> None:
    config = {"aws:region": region}
    cap = capture(lambda: AuditRole("audit", {**REQUIRED, "enable_fix": True}),  # type: ignore[typeddict-item]
                  config=config, invoke_context=invokes.InvokeContext.from_config(config))
    trust = json.loads(cap.by_name("audit", ROLE).inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"]["AWS"] == f"arn:{partition}:iam::{AUDIT_ACCOUNT}:root"
    policies = policies_of(cap)
    assert policies["audit-fix"]["Statement"][0]["Resource"] == f"arn:{partition}:s3:::*"
    assert policies["audit-key-check"]["Statement"][0]["Resource"] == f"arn:{partition}:kms:*:*:key/*"
    assert "arn:aws:" not in json.dumps([trust, *policies.values()])


def test_caller_policy_follows_the_partition_and_the_organisation() -> None:
    caller = audit_iam.caller_policy("bucketguard-audit", partition="aws-cn", organization_id="o-a1b2c3d4e5")
    assume = next(s for s in caller["Statement"] if s["Action"] == ["sts:AssumeRole"])
    assert assume["Resource"] == "arn:aws-cn:iam::*:role/bucketguard-audit"
    assert assume["Condition"] == {"StringEquals": {"aws:ResourceOrgID": "o-a1b2c3d4e5"}}
    assert "Condition" not in next(s for s in audit_iam.caller_policy("r")["Statement"] if s["Action"] == ["sts:AssumeRole"])
    assert audit_iam.fix_policy("aws-eusc")["Statement"][0]["Resource"] == "arn:aws-eusc:s3:::*"  # botocore's data
    with pytest.raises(ValueError, match="partition 'aws-mars' is not one of aws, aws-cn, aws-eusc, aws-iso, "):
        audit_iam.fix_policy("aws-mars")


@pytest.mark.parametrize(("args", "message"), [
    ({"audit_account_id": "1234"}, "audit_account_id must be a 12-digit AWS account id (got '1234')"),
    ({**REQUIRED, "role_name": "no spaces"}, "role_name 'no spaces' is not an IAM role name"),
    ({**REQUIRED, "external_id": "x"}, "external_id must be 2-1224"),
    ({**REQUIRED, "enable_fix": "yes"}, "enable_fix must be true or false"),
    ({**REQUIRED, "tags": {"aws:team": "x"}}, "aws:"),
    ({**REQUIRED, "rolename": "x"}, "unknown argument(s) rolename"),
    ({**REQUIRED, "trusted_principal_arns": "arn:aws:iam::111122223333:role/r"}, "must be a non-empty list of strings"),
    ({**REQUIRED, "trusted_principal_arns": ["arn:aws:iam::111122223333:group/g"]}, "is not a role or user ARN"),
    ({**REQUIRED, "trusted_principal_arns": ["arn:aws:iam::999999999999:role/r"]},
     "is in account 999999999999, not the audit account 111122223333"),
    ({**REQUIRED, "organization_id": "r-abcd"}, "organization_id must be an AWS Organizations id"),
    ({**REQUIRED, "fix_buckets": ["acme-*"]}, "fix_buckets only applies with enable_fix=True"),
    ({**REQUIRED, "enable_fix": True, "fix_buckets": ["Acme/Data"]}, "fix_buckets: bucket names or patterns"),
    ({**REQUIRED, "enable_key_checks": 1}, "enable_key_checks must be true or false"),
])
def test_bad_arguments_register_nothing(args: dict[str, object], message: str) -> None:
    cap, error = capture_failing(lambda: AuditRole("audit", args), SettingsError)  # type: ignore[arg-type]
    assert message in error
    assert [r for r in cap.resources if r.type != "pulumi:pulumi:Stack"] == []
