"""AuditRole under Pulumi's mock runtime: the role and policies it registers are exactly the shipped
IAM documents, trusted by the audit account only."""

from __future__ import annotations

import json

import pytest
from helpers import capture, capture_failing

from bucketguard.audit import iam as audit_iam
from bucketguard.components import AuditRole
from bucketguard.settings import SettingsError

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
AUDIT_ACCOUNT = "111122223333"


def test_read_only_role_trusted_by_the_audit_account() -> None:
    cap = capture(lambda: AuditRole("audit", {"audit_account_id": AUDIT_ACCOUNT}))
    component = cap.by_name("audit", "bucketguard:index:AuditRole")
    role = cap.by_name("audit", ROLE)
    assert role.parent == component.urn
    assert role.inputs["name"] == "bucketguard-audit"
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"] == [{"Sid": "BucketguardAuditAccount", "Effect": "Allow",
                                   "Principal": {"AWS": f"arn:aws:iam::{AUDIT_ACCOUNT}:root"},
                                   "Action": "sts:AssumeRole"}]
    policies = cap.of_type(ROLE_POLICY)
    assert [p.name for p in policies] == ["audit-read"]
    assert json.loads(policies[0].inputs["policy"]) == audit_iam.read_policy()
    assert audit_iam.actions(json.loads(policies[0].inputs["policy"])) == {
        "s3:ListAllMyBuckets", "s3:GetBucketLocation", "s3:GetEncryptionConfiguration"}


def test_fix_policy_and_external_id_only_when_asked() -> None:
    cap = capture(lambda: AuditRole("audit", {"audit_account_id": AUDIT_ACCOUNT, "role_name": "org-audit",
                                              "external_id": "bucketguard-7f3a", "enable_fix": True}))
    role = cap.by_name("audit", ROLE)
    assert role.inputs["name"] == "org-audit"
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Condition"] == {"StringEquals": {"sts:ExternalId": "bucketguard-7f3a"}}
    policies = {p.name: json.loads(p.inputs["policy"]) for p in cap.of_type(ROLE_POLICY)}
    assert policies == {"audit-read": audit_iam.read_policy(), "audit-fix": audit_iam.fix_policy()}
    assert audit_iam.actions(policies["audit-fix"]) == {"s3:PutEncryptionConfiguration"}


@pytest.mark.parametrize(("args", "message"), [
    ({"audit_account_id": "1234"}, "audit_account_id must be a 12-digit AWS account id (got '1234')"),
    ({"audit_account_id": AUDIT_ACCOUNT, "role_name": "no spaces"}, "role_name 'no spaces' is not an IAM role name"),
    ({"audit_account_id": AUDIT_ACCOUNT, "external_id": "x"}, "external_id must be 2-1224"),
    ({"audit_account_id": AUDIT_ACCOUNT, "enable_fix": "yes"}, "enable_fix must be true or false"),
    ({"audit_account_id": AUDIT_ACCOUNT, "tags": {"aws:team": "x"}}, "aws:"),
    ({"audit_account_id": AUDIT_ACCOUNT, "rolename": "x"}, "unknown argument(s) rolename"),
])
def test_bad_arguments_register_nothing(args: dict[str, object], message: str) -> None:
    cap, error = capture_failing(lambda: AuditRole("audit", args), SettingsError)  # type: ignore[arg-type]
    assert message in error
    assert [r for r in cap.resources if r.type != "pulumi:pulumi:Stack"] == []
