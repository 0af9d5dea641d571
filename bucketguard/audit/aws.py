"""The audit across an AWS Organization: list the accounts, assume a role in each, audit each one's
buckets with the same checks, concurrency bounded across and within accounts.

An account that cannot be audited (not active, AssumeRole denied, ListBuckets failing) is reported as
that account's error and the others go on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bucketguard.audit.fix import BucketReport, Identity, S3Auditor, audit, aws_client, error_code, s3_client
from bucketguard.policy_config import ResolvedConfig

SESSION_NAME = "bucketguard-audit"
ACTIVE = "ACTIVE"


@dataclass
class AccountResult:
    """One account: its buckets' reports, or why it could not be audited."""

    account: str
    name: str | None = None
    error: str | None = None
    reports: list[BucketReport] = field(default_factory=list)

    @property
    def failing(self) -> bool:
        return self.error is not None or any(r.mandatory for r in self.reports)


@dataclass(frozen=True)
class Account:
    id: str
    name: str | None
    status: str


# (account, buckets done, buckets in all); total 0 while the account's buckets are being listed
AccountProgress = Callable[[str, int, int], None]


def list_accounts(org_client: Any, wanted: Sequence[str] | None) -> tuple[list[Account], list[AccountResult]]:
    """The organisation's accounts to audit (ListAccounts, every page), and an error for each account
    that is not ACTIVE or that `wanted` names but the organisation does not have."""
    accounts: list[Account] = []
    for page in org_client.get_paginator("list_accounts").paginate():
        for item in page.get("Accounts", []):
            # `State` replaces `Status` (Organizations API reference, Account); either says ACTIVE.
            status = str(item.get("State") or item.get("Status") or "UNKNOWN")
            accounts.append(Account(str(item["Id"]), item.get("Name"), status))
    if wanted:
        known = {a.id for a in accounts}
        accounts = [a for a in accounts if a.id in set(wanted)]
        missing = [AccountResult(w, error="not an account of this organisation (ListAccounts does not list it)")
                   for w in dict.fromkeys(wanted) if w not in known]
    else:
        missing = []
    active = [a for a in accounts if a.status == ACTIVE]
    inactive = [AccountResult(a.id, a.name, error=f"account is {a.status}, not ACTIVE: not audited")
                for a in accounts if a.status != ACTIVE]
    return active, inactive + missing


def role_arn(partition: str, account: str, role_name: str) -> str:
    return f"arn:{partition}:iam::{account}:role/{role_name}"


@dataclass(frozen=True)
class RoleAccess:
    """How the audit reaches each account: its own credentials' session assumes `role_name` there."""

    session: Any  # boto3.Session of the caller
    role_name: str
    external_id: str | None
    partition: str
    endpoint_url: str | None
    workers: int

    def assume(self, account: str) -> Any:
        """A boto3 Session with the role's temporary credentials in `account`."""
        import boto3

        request: dict[str, Any] = {"RoleArn": role_arn(self.partition, account, self.role_name),
                                   "RoleSessionName": SESSION_NAME}
        if self.external_id:
            request["ExternalId"] = self.external_id
        with _CLIENT_LOCK:  # botocore's Session.client is not thread-safe
            sts = aws_client(self.session, "sts", self.endpoint_url)
        credentials = sts.assume_role(**request)["Credentials"]
        return boto3.Session(aws_access_key_id=credentials["AccessKeyId"],
                             aws_secret_access_key=credentials["SecretAccessKey"],
                             aws_session_token=credentials["SessionToken"],
                             region_name=self.session.region_name)

    def auditor(self, account: str, config: ResolvedConfig) -> S3Auditor:
        session = self.assume(account)
        return S3Auditor(s3_client(session, self.endpoint_url, self.workers), config,
                         Identity(account, self.partition))


_CLIENT_LOCK = threading.Lock()


def audit_account(access: RoleAccess, account: Account, config: ResolvedConfig,
                  progress: AccountProgress | None = None) -> AccountResult:
    """Assume the role, list and judge the account's buckets; any failure becomes the account's error."""
    result = AccountResult(account.id, account.name)
    try:
        auditor = access.auditor(account.id, config)
    except Exception as error:  # AssumeRole denied, no such role: this account's error
        result.error = (f"AssumeRole into {role_arn(access.partition, account.id, access.role_name)} failed: "
                        f"{error_code(error)}: {error}")
        return result
    try:
        names = auditor.list_buckets()
    except Exception as error:
        result.error = f"ListBuckets failed: {error_code(error)}: {error}"
        return result
    tick = (lambda done, total: progress(account.id, done, total)) if progress else None
    if progress:
        progress(account.id, 0, len(names))
    result.reports = audit(auditor, names, workers=access.workers, progress=tick)
    return result


def audit_organization(access: RoleAccess, accounts: Sequence[Account], config: ResolvedConfig, *,
                       account_workers: int, progress: AccountProgress | None = None) -> list[AccountResult]:
    """Audit `accounts`, at most `account_workers` at once (each with `access.workers` bucket reads)."""
    with ThreadPoolExecutor(max_workers=max(1, account_workers)) as pool:
        return list(pool.map(lambda account: audit_account(access, account, config, progress), accounts))
