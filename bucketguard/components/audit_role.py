"""`AuditRole`: the IAM role `bucketguard audit --organization` assumes in an account, with exactly the
shipped least-privilege documents (`bucketguard/audit/iam_documents/`). Deploy it to every account (a stack per
account, or a StackSet) and point `--role-name` at it.

No `from __future__ import annotations`: the component provider reads these annotations at runtime.
"""

import json
import re
from collections.abc import Mapping, Sequence
from typing import NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from bucketguard.audit import iam as audit_iam
from bucketguard.components.encryption import check_arg_names, check_tags
from bucketguard.partitions import partition_ids
from bucketguard.settings import SettingsError

DEFAULT_ROLE_NAME = "bucketguard-audit"
_ACCOUNT_ID = re.compile(r"^\d{12}$")
# IAM role names: 1-64 of letters, digits and +=,.@_- (IAM API reference, CreateRole, RoleName).
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
# External ids: 2-1224 of letters, digits and +=,.@:/- (STS API reference, AssumeRole, ExternalId).
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
# A role or user of the audit account (IAM identifiers, "IAM ARNs"); paths allowed.
_PRINCIPAL_ARN = r"^arn:({partitions}):iam::(\d{{12}}):(role|user)/[\w+=,.@/-]{{1,512}}$"  # any partition botocore knows


class AuditRoleArgs(TypedDict):
    """Arguments of `AuditRole`."""

    audit_account_id: str
    """The account `bucketguard audit --organization` runs in: the only one trusted to assume the role."""
    role_name: NotRequired[str]
    """The role's name, the same in every account (`--role-name`); default "bucketguard-audit"."""
    external_id: NotRequired[str]
    """The value AssumeRole must pass (`--external-id`); required unless require_external_id is False."""
    require_external_id: NotRequired[bool]
    """Refuse AssumeRole without the external id (default True); False trusts the audit account without one."""
    trusted_principal_arns: NotRequired[Sequence[str]]
    """Only these roles or users of the audit account may assume the role (e.g. the audit runner's); default: its root."""
    organization_id: NotRequired[str]
    """Also require the caller to belong to this AWS Organization (aws:PrincipalOrgID), e.g. "o-a1b2c3d4e5"."""
    enable_fix: NotRequired[bool]
    """Also allow `--apply`/`--fix` to write default encryption (s3:PutEncryptionConfiguration); default False."""
    fix_buckets: NotRequired[Sequence[str]]
    """With enable_fix: only these bucket names or patterns (wildcards * and ?) may be written; default: all of the account."""
    enable_key_checks: NotRequired[bool]
    """Allow kms:DescribeKey, so the audit can tell whether a key is usable before a fix writes it; default True."""
    tags: NotRequired[Mapping[str, str]]
    """Tags for the role. Keys starting with "aws:" are rejected."""


def _check_bool(where: str, args: Mapping[str, object], field: str, default: bool) -> bool:
    value = args.get(field, default)
    if not isinstance(value, bool):
        raise SettingsError(f"{where}: {field} must be true or false (got {value!r})")
    return value


def _check_strings(where: str, args: Mapping[str, object], field: str) -> list[str] | None:
    value = args.get(field)
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence) or not value \
            or not all(isinstance(v, str) for v in value):
        raise SettingsError(f"{where}: {field} must be a non-empty list of strings (got {value!r})")
    return list(value)


class AuditRole(pulumi.ComponentResource):
    """An IAM role that the audit account may assume, allowed to read (and with `enable_fix`, to set) S3
    default encryption and nothing else. Its documents follow the partition of the caller's provider."""

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
        if not isinstance(account, str) or not _ACCOUNT_ID.fullmatch(account):
            raise SettingsError(f"{where}: audit_account_id must be a 12-digit AWS account id (got {account!r})")
        role_name = args.get("role_name", DEFAULT_ROLE_NAME)
        if not isinstance(role_name, str) or not _ROLE_NAME.fullmatch(role_name):
            raise SettingsError(f"{where}: role_name {role_name!r} is not an IAM role name "
                                "(1-64 letters, digits and +=,.@_-)")
        external_id = args.get("external_id")
        if external_id is not None and (not isinstance(external_id, str) or not _EXTERNAL_ID.fullmatch(external_id)):
            raise SettingsError(f"{where}: external_id must be 2-1224 letters, digits and +=,.@:/- (got {external_id!r})")
        if external_id is None and _check_bool(where, args, "require_external_id", True):
            raise SettingsError(
                f"{where}: external_id is required: another account assumes this role, and an external id "
                "keeps it from being assumed on anyone else's behalf; pass external_id (and the same value "
                "to --external-id), or require_external_id=False to trust the audit account without one")
        principals = _check_strings(where, args, "trusted_principal_arns")
        for arn in principals or ():
            match = re.fullmatch(_PRINCIPAL_ARN.format(partitions="|".join(map(re.escape, partition_ids()))), arn)
            if not match:
                raise SettingsError(f"{where}: trusted_principal_arns: {arn!r} is not a role or user ARN "
                                    "(arn:aws:iam::ACCOUNT:role/NAME)")
            if match.group(2) != account:
                raise SettingsError(f"{where}: trusted_principal_arns: {arn!r} is in account {match.group(2)}, "
                                    f"not the audit account {account}; name principals of the audit account")
        organization_id = args.get("organization_id")
        if organization_id is not None and (not isinstance(organization_id, str)
                                            or not audit_iam.ORGANIZATION_ID.fullmatch(organization_id)):
            raise SettingsError(f"{where}: organization_id must be an AWS Organizations id like "
                                f"'o-a1b2c3d4e5' (got {organization_id!r})")
        enable_fix = _check_bool(where, args, "enable_fix", False)
        fix_buckets = _check_strings(where, args, "fix_buckets")
        if fix_buckets is not None:
            if not enable_fix:
                raise SettingsError(f"{where}: fix_buckets only applies with enable_fix=True")
            try:
                audit_iam.fix_policy(buckets=fix_buckets)
            except ValueError as error:
                raise SettingsError(f"{where}: fix_buckets: {error}") from None
        enable_key_checks = _check_bool(where, args, "enable_key_checks", True)
        check_tags(where, args.get("tags"))
        super().__init__("bucketguard:index:AuditRole", name, None, opts)

        # The documents' ARNs name the partition of the account the role is created in (aws-cn, aws-eusc, ...).
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        child = pulumi.ResourceOptions(parent=self)
        self.role = aws.iam.Role(
            name,
            name=role_name,
            description="bucketguard audit: reads (and with enable_fix, sets) S3 default encryption",
            assume_role_policy=partition.apply(lambda p: json.dumps(audit_iam.trust_policy(
                account, external_id, partition=p, principals=principals, organization_id=organization_id))),
            max_session_duration=3600,
            tags=args.get("tags"),
            opts=child,
        )
        aws.iam.RolePolicy(f"{name}-read", role=self.role.name, name="bucketguard-audit-read",
                           policy=json.dumps(audit_iam.read_policy()), opts=child)
        if enable_key_checks:
            aws.iam.RolePolicy(f"{name}-key-check", role=self.role.name, name="bucketguard-audit-key-check",
                               policy=partition.apply(lambda p: json.dumps(audit_iam.key_check_policy(p))), opts=child)
        if enable_fix:
            aws.iam.RolePolicy(f"{name}-fix", role=self.role.name, name="bucketguard-audit-fix",
                               policy=partition.apply(lambda p: json.dumps(audit_iam.fix_policy(p, fix_buckets))),
                               opts=child)
        self.role_arn = self.role.arn
        self.role_name = self.role.name
        self.register_outputs({"role_arn": self.role_arn, "role_name": self.role_name})
