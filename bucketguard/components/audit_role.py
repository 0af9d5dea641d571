"""`AuditRole`: the IAM role `bucketguard audit --organization` assumes in an account, with exactly the
shipped least-privilege documents (`bucketguard/audit/iam_documents/`). Deploy it to every account (a stack per
account, or a StackSet) and point `--role-name` at it.

No `from __future__ import annotations`: the component provider reads these annotations at runtime.
"""

import json
import re
from collections.abc import Mapping
from typing import NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from bucketguard.audit import iam as audit_iam
from bucketguard.components.encryption import check_arg_names, check_tags
from bucketguard.settings import SettingsError

DEFAULT_ROLE_NAME = "bucketguard-audit"
_ACCOUNT_ID = re.compile(r"^\d{12}$")
# IAM role names: 1-64 of letters, digits and +=,.@_- (IAM API reference, CreateRole, RoleName).
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
# External ids: 2-1224 of letters, digits and +=,.@:/- (STS API reference, AssumeRole, ExternalId).
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")


class AuditRoleArgs(TypedDict):
    """Arguments of `AuditRole`."""

    audit_account_id: str
    """The account `bucketguard audit --organization` runs in: the only one trusted to assume the role."""
    role_name: NotRequired[str]
    """The role's name, the same in every account (`--role-name`); default "bucketguard-audit"."""
    external_id: NotRequired[str]
    """If given, AssumeRole must pass it (`--external-id`)."""
    enable_fix: NotRequired[bool]
    """Also allow `--apply`/`--fix` to write default encryption (s3:PutEncryptionConfiguration); default False."""
    tags: NotRequired[Mapping[str, str]]
    """Tags for the role. Keys starting with "aws:" are rejected."""


class AuditRole(pulumi.ComponentResource):
    """An IAM role that the audit account may assume, allowed to read (and with `enable_fix`, to set) S3
    default encryption and nothing else."""

    role: aws.iam.Role
    """The role."""
    role_arn: pulumi.Output[str]
    """The role's ARN."""
    role_name: pulumi.Output[str]
    """The role's name (pass it as --role-name)."""

    def __init__(self, name: str, args: AuditRoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        where = f"AuditRole({name!r})"
        check_arg_names(where, args, AuditRoleArgs)
        account = args.get("audit_account_id")
        if not isinstance(account, str) or not _ACCOUNT_ID.match(account):
            raise SettingsError(f"{where}: audit_account_id must be a 12-digit AWS account id (got {account!r})")
        role_name = args.get("role_name", DEFAULT_ROLE_NAME)
        if not isinstance(role_name, str) or not _ROLE_NAME.match(role_name):
            raise SettingsError(f"{where}: role_name {role_name!r} is not an IAM role name "
                                "(1-64 letters, digits and +=,.@_-)")
        external_id = args.get("external_id")
        if external_id is not None and (not isinstance(external_id, str) or not _EXTERNAL_ID.match(external_id)):
            raise SettingsError(f"{where}: external_id must be 2-1224 letters, digits and +=,.@:/- (got {external_id!r})")
        enable_fix = args.get("enable_fix", False)
        if not isinstance(enable_fix, bool):
            raise SettingsError(f"{where}: enable_fix must be true or false (got {enable_fix!r})")
        check_tags(where, args.get("tags"))
        super().__init__("bucketguard:index:AuditRole", name, None, opts)

        self.role = aws.iam.Role(
            name,
            name=role_name,
            description="bucketguard audit: reads (and with enable_fix, sets) S3 default encryption",
            assume_role_policy=json.dumps(audit_iam.trust_policy(account, external_id)),
            max_session_duration=3600,
            tags=args.get("tags"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicy(f"{name}-read", role=self.role.name, name="bucketguard-audit-read",
                           policy=json.dumps(audit_iam.read_policy()), opts=pulumi.ResourceOptions(parent=self))
        if enable_fix:
            aws.iam.RolePolicy(f"{name}-fix", role=self.role.name, name="bucketguard-audit-fix",
                               policy=json.dumps(audit_iam.fix_policy()), opts=pulumi.ResourceOptions(parent=self))
        self.role_arn = self.role.arn
        self.role_name = self.role.name
        self.register_outputs({"role_arn": self.role_arn, "role_name": self.role_name})
