"""The IAM policy documents the audit needs, shipped as JSON in `bucketguard/audit/iam_documents/` (see the README):
read (`audit-read-policy.json`), fix (`audit-fix-policy.json`), the role's trust policy
(`audit-trust-policy.json`) and the caller's own policy for `--organization`
(`audit-caller-policy.json`). Placeholders in capitals are filled in here."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

DOCUMENTS = ("audit-read-policy.json", "audit-fix-policy.json", "audit-trust-policy.json", "audit-caller-policy.json")


def document(name: str) -> dict[str, Any]:
    """One shipped document, as written (placeholders included)."""
    loaded: dict[str, Any] = json.loads(files("bucketguard.audit").joinpath("iam_documents", name).read_text())
    return loaded


def read_policy() -> dict[str, Any]:
    return document("audit-read-policy.json")


def fix_policy() -> dict[str, Any]:
    return document("audit-fix-policy.json")


def trust_policy(audit_account_id: str, external_id: str | None = None) -> dict[str, Any]:
    """Lets the audit account (any of its principals its own IAM allows) assume the role; with an
    external id only when the caller passes it."""
    policy = document("audit-trust-policy.json")
    for statement in policy["Statement"]:
        statement["Principal"]["AWS"] = statement["Principal"]["AWS"].replace("AUDIT_ACCOUNT_ID", audit_account_id)
        if external_id is None:
            statement.pop("Condition", None)
        else:
            statement["Condition"]["StringEquals"]["sts:ExternalId"] = external_id
    return policy


def caller_policy(role_name: str) -> dict[str, Any]:
    """What the identity running `audit --organization` needs in the audit account."""
    policy = document("audit-caller-policy.json")
    for statement in policy["Statement"]:
        if isinstance(statement["Resource"], str):
            statement["Resource"] = statement["Resource"].replace("ROLE_NAME", role_name)
    return policy


def actions(policy: dict[str, Any]) -> set[str]:
    """Every action a policy document allows."""
    found: set[str] = set()
    for statement in policy["Statement"]:
        listed = statement["Action"]
        found.update([listed] if isinstance(listed, str) else listed)
    return found
