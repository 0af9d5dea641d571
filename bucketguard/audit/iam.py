"""The IAM policy documents the audit needs, shipped as JSON in `bucketguard/audit/iam_documents/` (see the README):
read (`audit-read-policy.json`), fix (`audit-fix-policy.json`), the optional key check
(`audit-key-check-policy.json`), the role's trust policy (`audit-trust-policy.json`) and the caller's
own policy for `--organization` (`audit-caller-policy.json`). Placeholders in capitals (`PARTITION`,
`AUDIT_ACCOUNT_ID`, `EXTERNAL_ID`, `ORGANIZATION_ID`, `ROLE_NAME`) are filled in here; a condition
whose value is not given is dropped."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from importlib.resources import files
from typing import Any

from bucketguard.partitions import partition_ids

DOCUMENTS = ("audit-read-policy.json", "audit-fix-policy.json", "audit-key-check-policy.json",
             "audit-trust-policy.json", "audit-caller-policy.json")
ORGANIZATION_ID = re.compile(r"^o-[a-z0-9]{10,32}$")  # Organizations API reference, Organization.Id
_BUCKET_PATTERN = re.compile(r"^[a-z0-9.*?-]{1,63}$")


def document(name: str) -> dict[str, Any]:
    """One shipped document, as written (placeholders included)."""
    loaded: dict[str, Any] = json.loads(files("bucketguard.audit").joinpath("iam_documents", name).read_text())
    return loaded


def _check_partition(partition: str) -> str:
    """A partition the documents' ARNs may name: any of botocore's partition data (`bucketguard.partitions`;
    IAM, S3 and KMS ARNs take the same form in each)."""
    known = partition_ids()
    if partition not in known:
        raise ValueError(f"partition {partition!r} is not one of {', '.join(known)}")
    return partition


def _fill(policy: dict[str, Any], placeholder: str, replacement: str) -> dict[str, Any]:
    """`policy` with `placeholder` replaced inside every string it holds."""
    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(placeholder, replacement)
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value
    filled: dict[str, Any] = fill(policy)
    return filled


def _set_condition(statement: dict[str, Any], key: str, value: str | None) -> None:
    """Fill the StringEquals condition `key`, or drop it (and an emptied Condition) when `value` is None."""
    equals = statement.get("Condition", {}).get("StringEquals", {})
    if value is None:
        equals.pop(key, None)
    else:
        equals[key] = value
    if "Condition" in statement and not equals:
        del statement["Condition"]


def read_policy() -> dict[str, Any]:
    """ListAllMyBuckets, GetBucketLocation and GetEncryptionConfiguration (ListAllMyBuckets has no resource form)."""
    return document("audit-read-policy.json")


def fix_policy(partition: str = "aws", buckets: Sequence[str] | None = None) -> dict[str, Any]:
    """PutEncryptionConfiguration on buckets of the role's own account only (`aws:ResourceAccount`
    equal to the caller's account), on every such bucket or on the `buckets` named (IAM wildcards
    `*` and `?` allowed)."""
    policy = _fill(document("audit-fix-policy.json"), "PARTITION", _check_partition(partition))
    if buckets is not None:
        bad = [b for b in buckets if not _BUCKET_PATTERN.fullmatch(b)]
        if bad or not buckets:
            raise ValueError(f"bucket names or patterns must be 1-63 of a-z 0-9 . - * ? (got {bad or list(buckets)!r})")
        for statement in policy["Statement"]:
            statement["Resource"] = [f"arn:{partition}:s3:::{b}" for b in buckets]
    return policy


def key_check_policy(partition: str = "aws") -> dict[str, Any]:
    """kms:DescribeKey on any key: optional; with it the audit tells whether a fix's key is usable
    (exists, enabled, symmetric) before writing it. A key of another account also needs its key policy
    to allow DescribeKey to this account."""
    return _fill(document("audit-key-check-policy.json"), "PARTITION", _check_partition(partition))


def trust_policy(
    audit_account_id: str,
    external_id: str | None = None,
    *,
    partition: str = "aws",
    principals: Sequence[str] | None = None,
    organization_id: str | None = None,
) -> dict[str, Any]:
    """Who may assume the role: the audit account's root (any of its principals its own IAM allows), or
    only the `principals` named (role or user ARNs of the audit account, e.g. the audit runner's
    role); with `sts:ExternalId` when `external_id` is given and `aws:PrincipalOrgID` when
    `organization_id` is."""
    policy = _fill(document("audit-trust-policy.json"), "PARTITION", _check_partition(partition))
    policy = _fill(policy, "AUDIT_ACCOUNT_ID", audit_account_id)
    for statement in policy["Statement"]:
        if principals:
            statement["Principal"]["AWS"] = list(principals) if len(principals) > 1 else principals[0]
        _set_condition(statement, "sts:ExternalId", external_id)
        _set_condition(statement, "aws:PrincipalOrgID", organization_id)
    return policy


def caller_policy(role_name: str, *, partition: str = "aws", organization_id: str | None = None) -> dict[str, Any]:
    """What the identity running `audit --organization` needs in the audit account: ListAccounts, and
    AssumeRole on the role of that name, only in accounts of `organization_id` when it is given
    (`aws:ResourceOrgID`)."""
    policy = _fill(document("audit-caller-policy.json"), "PARTITION", _check_partition(partition))
    policy = _fill(policy, "ROLE_NAME", role_name)
    for statement in policy["Statement"]:
        if "Condition" in statement:
            _set_condition(statement, "aws:ResourceOrgID", organization_id)
    return policy


def actions(policy: dict[str, Any]) -> set[str]:
    """Every action a policy document allows."""
    found: set[str] = set()
    for statement in policy["Statement"]:
        listed = statement["Action"]
        found.update([listed] if isinstance(listed, str) else listed)
    return found
