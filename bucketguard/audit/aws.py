"""Every AWS call the audit makes, in one place: STS (GetCallerIdentity, AssumeRole), Organizations
(ListAccounts), S3 (ListBuckets, GetBucketLocation, GetBucketEncryption, PutBucketEncryption) and KMS
(DescribeKey, optional: whether a key the fix would write is usable).
`bucketguard/audit/iam.py` ships the IAM documents that allow exactly these.

Every client retries throttling with botocore's adaptive mode, and every call for a bucket passes
ExpectedBucketOwner: S3 answers 403 for a bucket of any other account, so a name that resolves
elsewhere is reported, never read or written.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bucketguard.audit.models import Account, AccountResult, Identity
from bucketguard.rules import region_of_location

if TYPE_CHECKING:
    from bucketguard.audit.journal import Journal

CONFIGURATION_NOT_FOUND = "ServerSideEncryptionConfigurationNotFoundError"
# ListBuckets page size: the API's maximum. Without MaxBuckets, ListBuckets fails for accounts with
# more than 10,000 buckets (S3 API reference, ListBuckets).
LIST_BUCKETS_PAGE = 10_000
SESSION_NAME = "bucketguard-audit"
ACTIVE = "ACTIVE"
log = logging.getLogger(__name__)  # --verbose: each call, on stderr


def error_code(error: Exception) -> str:
    """botocore's ClientError code, else the exception's class name."""
    response = getattr(error, "response", None)
    if isinstance(response, Mapping):
        return str(response.get("Error", {}).get("Code", type(error).__name__))
    return type(error).__name__


def aws_client(session: Any, service: str, endpoint_url: str | None, workers: int = 1) -> Any:
    """A client for `workers` threads at once that retries throttling (S3's SlowDown, STS's and
    Organizations' TooManyRequests) with backoff: botocore's adaptive retry mode, 10 retries, unless
    AWS_RETRY_MODE / AWS_MAX_ATTEMPTS say otherwise (botocore reads them when the client's config
    leaves them out: botocore/args.py, _compute_retry_config)."""
    from botocore.config import Config

    retries: dict[str, Any] = {}
    if not os.environ.get("AWS_RETRY_MODE"):
        retries["mode"] = "adaptive"
    if not os.environ.get("AWS_MAX_ATTEMPTS"):
        retries["max_attempts"] = 10
    config = Config(retries=retries, max_pool_connections=max(workers, 10))
    return session.client(service, endpoint_url=endpoint_url, config=config)


def s3_client(session: Any, endpoint_url: str | None, workers: int) -> Any:
    return aws_client(session, "s3", endpoint_url, workers)


def open_session(profile: str | None, region: str | None) -> Any:
    """The caller's boto3 Session; ValueError when the region botocore found without `--region` (the
    environment's AWS_DEFAULT_REGION, the profile's `region`) names no AWS region."""
    import boto3

    from bucketguard.aws_regions import closest_region, region_problem

    session = boto3.Session(profile_name=profile, region_name=region)
    found = session.region_name
    if region is None and found is not None and (problem := region_problem(found)) is not None:
        raise ValueError(f"the region of the environment (AWS_DEFAULT_REGION) or of the profile: "
                         f"{problem}; set it to {closest_region(found)}, or pass --region")
    return session


def caller_identity(session: Any, endpoint_url: str | None) -> Identity:
    """The account the credentials belong to (STS GetCallerIdentity needs no permission)."""
    from botocore.utils import ArnParser

    answer = aws_client(session, "sts", endpoint_url).get_caller_identity()
    identity = Identity(answer["Account"], ArnParser().parse_arn(answer["Arn"])["partition"])
    log.info("STS GetCallerIdentity: account %s, partition %s (%s)", identity.account, identity.partition, answer["Arn"])
    return identity


@dataclass(frozen=True)
class Caller:
    """Who runs the audit: the credentials' session, their account, and the endpoint every API is called at."""

    session: Any  # boto3.Session
    identity: Identity
    endpoint_url: str | None


def list_accounts(org_client: Any, wanted: Sequence[str] | None) -> tuple[list[Account], list[AccountResult]]:
    """The organisation's accounts to audit (ListAccounts, every page), and an error for each account
    that is not ACTIVE or that `wanted` names but the organisation does not have."""
    accounts: list[Account] = []
    for page in org_client.get_paginator("list_accounts").paginate():
        for item in page.get("Accounts", []):
            # `State` replaces `Status` (Organizations API reference, Account); either says ACTIVE.
            status = str(item.get("State") or item.get("Status") or "UNKNOWN")
            accounts.append(Account(str(item["Id"]), item.get("Name"), status))
    log.info("Organizations ListAccounts: %d accounts", len(accounts))
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
class BucketRead:
    """What S3 answered for one bucket: its region and default encryption, or the error that stopped the read."""

    name: str
    account: str
    region: str | None = None
    rules: list[dict[str, Any]] | None = None  # S3's Rules; None: no default encryption configured
    error: str | None = None  # "<code>: <message>"
    error_code: str | None = None


class KeyDescriber:
    """KMS DescribeKey in one account (the session's), in any region: one client per region."""

    def __init__(self, session: Any, endpoint_url: str | None) -> None:
        self.session = session
        self.endpoint_url = endpoint_url
        self._clients: dict[str, Any] = {}

    def describe(self, key: str, region: str) -> dict[str, Any]:
        """DescribeKey's KeyMetadata (raises botocore's error)."""
        with _CLIENT_LOCK:  # botocore's Session.client is not thread-safe
            client = self._clients.get(region)
            if client is None:
                from botocore.config import Config

                config = Config(region_name=region, retries={"max_attempts": 5, "mode": "adaptive"})
                client = self._clients[region] = self.session.client("kms", endpoint_url=self.endpoint_url,
                                                                     config=config)
        log.info("KMS DescribeKey %s (region %s)", key, region)
        metadata: dict[str, Any] = client.describe_key(KeyId=key)["KeyMetadata"]
        return metadata


class S3Buckets:
    """The buckets of one account, through one boto3 S3 client (safe to share between threads), and the
    account's view of KMS keys (`keys`: None when not asked)."""

    def __init__(self, client: Any, identity: Identity, journal: Journal | None = None,
                 keys: KeyDescriber | None = None) -> None:
        self.client = client
        self.identity = identity
        self.journal = journal  # every write is recorded there as it starts and as S3 answers
        self.keys = keys

    def list_names(self) -> list[str]:
        names: list[str] = []
        pages = self.client.get_paginator("list_buckets").paginate(PaginationConfig={"PageSize": LIST_BUCKETS_PAGE})
        for page in pages:
            names.extend(b["Name"] for b in page.get("Buckets", []))
        log.info("S3 ListBuckets (account %s): %d buckets", self.identity.account, len(names))
        return names

    def read(self, name: str) -> BucketRead:
        """GetBucketLocation then GetBucketEncryption; a bucket that fails is reported as such."""
        owner = self.identity.account
        region: str | None = None
        try:
            location = self.client.get_bucket_location(Bucket=name, ExpectedBucketOwner=owner).get("LocationConstraint")
            region = region_of_location(location)
            try:
                answer = self.client.get_bucket_encryption(Bucket=name, ExpectedBucketOwner=owner)
                rules: list[dict[str, Any]] | None = list(answer.get("ServerSideEncryptionConfiguration", {})
                                                          .get("Rules", []))
            except Exception as error:  # botocore's ClientError, classified by its code
                if error_code(error) != CONFIGURATION_NOT_FOUND:
                    raise
                rules = None
        except Exception as error:  # the audit goes on
            code = error_code(error)
            log.info("S3 read %s (account %s): %s", name, owner, code)
            return BucketRead(name, owner, region, None, f"{code}: {error}", code)
        log.info("S3 GetBucketLocation, GetBucketEncryption %s (account %s): %s, %s", name, owner, region,
                 "no default encryption" if rules is None else f"{len(rules)} rule(s)")
        return BucketRead(name, owner, region, rules)

    def put_encryption(self, name: str, rules: list[dict[str, Any]]) -> None:
        """PutBucketEncryption (raises botocore's error), recorded in the journal."""
        entry = self.journal.started(self.identity.account, name, rules) if self.journal is not None else None
        log.info("S3 PutBucketEncryption %s (account %s): %s", name, self.identity.account,
                 ", ".join(str(r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm")) for r in rules))
        try:
            self.client.put_bucket_encryption(Bucket=name, ExpectedBucketOwner=self.identity.account,
                                              ServerSideEncryptionConfiguration={"Rules": rules})
        except KeyboardInterrupt:
            if self.journal is not None and entry is not None:
                self.journal.answered(entry, "interrupted")
            raise
        except Exception as error:
            if self.journal is not None and entry is not None:
                self.journal.answered(entry, f"{error_code(error)}: {error}")
            raise
        if self.journal is not None and entry is not None:
            self.journal.answered(entry, "ok")
        log.info("S3 PutBucketEncryption %s: written", name)


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
        log.info("STS AssumeRole %s", request["RoleArn"])
        credentials = sts.assume_role(**request)["Credentials"]
        return boto3.Session(aws_access_key_id=credentials["AccessKeyId"],
                             aws_secret_access_key=credentials["SecretAccessKey"],
                             aws_session_token=credentials["SessionToken"],
                             region_name=self.session.region_name)

    def buckets(self, account: str) -> S3Buckets:
        """The account's buckets, through the assumed role."""
        session = self.assume(account)
        return S3Buckets(s3_client(session, self.endpoint_url, self.workers), Identity(account, self.partition),
                         keys=KeyDescriber(session, self.endpoint_url))


_CLIENT_LOCK = threading.Lock()
