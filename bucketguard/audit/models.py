"""The audit's request and result (`run_audit(AuditRequest) -> AuditResult`) and what flows between its
stages: an account, a bucket's report, a finding. Light to import: no boto3, no jsonschema."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from bucketguard.audit.plan import Plan

MANDATORY_LEVELS = ("mandatory", "remediate")


@dataclass(frozen=True)
class AuditRequest:
    """What `bucketguard audit` is asked (each field is the flag of the same name).

    Three modes: audit (the default; with `fix`, `plan_file` or `import_file` it also fixes, plans or
    writes an import file), `organization` (every account through `role_name`), and `apply_file`
    (make exactly the changes of a plan)."""

    endpoint_url: str | None = None  # of every AWS API the audit calls (default: AWS)
    region: str | None = None
    profile: str | None = None
    policy_pack_config: Path | Mapping[str, Any] | None = None  # the `--policy-pack-config` file, or its content
    buckets: Sequence[str] = ()  # default: every bucket ListBuckets returns
    concurrency: int = 16  # bucket reads at once, per account
    fix: bool = False  # PutBucketEncryption on each bucket failing a mandatory rule
    force: bool = False  # with fix or plan: also lower encryption or replace a customer managed key
    # The fix setting: the project's bucketguard:defaults with these on top.
    sse_algorithm: str | None = None
    kms_key_id: str | None = None
    use_aws_managed_key: bool | None = None
    allow_sse_c: bool = False
    project_dir: Path = Path(".")
    stack: str = "dev"
    import_file: Path | None = None  # write a `pulumi import --file` document here
    organization: bool = False
    role_name: str | None = None
    external_id: str | None = None
    accounts: Sequence[str] = ()  # with organization: only these
    account_concurrency: int = 4
    plan_file: Path | None = None  # write every change the fix would make here; writes no bucket
    apply_file: Path | None = None  # make exactly the changes of this plan
    max_plan_age_hours: float = 24.0
    show_progress: bool = False  # progress bars on stderr
    sarif_file: Path | None = None  # `--sarif FILE`, written by the command line: checked before any write
    junit_file: Path | None = None  # `--junit FILE`, the same
    # `--config-aggregator NAME`: read-only, from AWS Config's records (`bucketguard.audit.aggregate`)
    config_aggregator: str | None = None
    max_record_age_hours: float | None = None  # default 24
    expected_regions: Sequence[str] = ()  # besides every region the aggregator collects from
    allow_empty: bool = False  # an audited account (or aggregator) without any bucket passes instead of exit 2

    @property
    def needs_fix_setting(self) -> bool:
        return self.fix or self.import_file is not None or self.plan_file is not None


@dataclass(frozen=True)
class Finding:
    """One policy violation of a live bucket."""

    policy: str
    level: str
    message: str


@dataclass(frozen=True)
class ConfigRecord:
    """`--config-aggregator`: the AWS Config record a bucket's report was judged from."""

    captured: datetime | None  # configurationItemCaptureTime: when Config last recorded a change
    age: timedelta | None  # how old that was when the audit read it
    stale: str | None = None  # why the aggregator's copy may not be what the bucket holds now


@dataclass
class BucketReport:
    """One bucket: what S3 says, the verdict, and what a fix did or would do."""

    name: str
    account: str | None = None
    region: str | None = None
    rules: list[dict[str, Any]] | None = None  # S3's Rules; None: no default encryption configured
    error: str | None = None
    findings: list[Finding] = field(default_factory=list)
    # {"status": "fixed" | "still-failing" | "not-as-written" | "unknown" | "refused" | "failed" | "planned"
    #  | "skipped" | "already-applied", "reason", "before", "after", "written", "note", ...}; "failed": S3
    #  refused the write and, read again, holds what it held; "unknown": neither the write's answer nor a
    #  re-read says what it holds; "not-as-written": S3 holds something else than what was written;
    #  "lowers", "replaces": what the write would weaken or swap; "keyChecks": the key's DescribeKey answer
    fix: dict[str, Any] | None = None
    record: ConfigRecord | None = None  # `--config-aggregator`: the record judged, not S3's answer

    @property
    def mandatory(self) -> bool:
        return any(f.level in MANDATORY_LEVELS for f in self.findings)

    @property
    def verdict(self) -> str:
        if self.error:
            return "error"
        if self.mandatory:
            return "FAIL"
        return "advisory" if self.findings else "ok"


@dataclass(frozen=True)
class Identity:
    """Whose buckets the audit reads: the account of its credentials, and where keys must live."""

    account: str
    partition: str = "aws"


@dataclass(frozen=True)
class Account:
    """An account of the organisation, as ListAccounts lists it."""

    id: str
    name: str | None
    status: str


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


def fix_counts(reports: Sequence[BucketReport]) -> dict[str, int]:
    """Buckets by what the fix did to them (audit mode)."""
    counts = {"fixed": 0, "still-failing": 0, "refused": 0, "failed": 0, "planned": 0}
    for report in reports:
        if report.fix:
            counts[report.fix["status"]] = counts.get(report.fix["status"], 0) + 1
    return counts


# What a write may leave behind that the user must look at, even when the bucket passes.
UNSETTLED = ("not-as-written", "unknown")


def apply_counts(reports: Sequence[BucketReport]) -> dict[str, int]:
    """Planned changes by what applying them did (apply mode)."""
    counts = {"fixed": 0, "skipped": 0, "still-failing": 0, "failed": 0}
    for report in reports:
        if report.fix:
            counts[report.fix["status"]] = counts.get(report.fix["status"], 0) + 1
    return counts


@dataclass(frozen=True)
class NotCovered:
    """A bucket, or an account and region, whose encryption an AWS Config aggregator cannot vouch for."""

    account: str | None
    region: str | None
    bucket: str | None
    reason: str


@dataclass
class AggregatorCoverage:
    """`--config-aggregator`: which aggregator was read, and what it does not cover (each fails the run)."""

    name: str
    max_record_age_hours: float
    sources: int = 0
    pages: int = 0
    not_covered: list[NotCovered] = field(default_factory=list)


@dataclass
class AuditResult:
    """Everything one audit found and did, account by account. `passed`: audit mode, no account
    failing a mandatory rule or unreadable; apply mode, every planned change made and verified."""

    mode: Literal["audit", "apply"]
    accounts: list[AccountResult]
    organization: bool = False  # audit mode: the organisation's accounts, not the credentials' own
    import_notes: list[str] = field(default_factory=list)  # failing buckets left out of the import file, and why
    plan: Plan | None = None  # the plan written to `plan_file` (audit mode) or applied (apply mode)
    output_errors: list[str] = field(default_factory=list)  # outputs that failed after buckets were written
    journal: list[dict[str, Any]] = field(default_factory=list)  # every write, as it happened
    aggregator: AggregatorCoverage | None = None  # `--config-aggregator`
    # Why the run judged no bucket at all (no account audited, no bucket, none readable): exit 2, not a pass.
    nothing_judged: str | None = None

    @property
    def reports(self) -> list[BucketReport]:
        return [report for account in self.accounts for report in account.reports]

    @property
    def passed(self) -> bool:
        if self.mode == "apply":
            planned = len(self.plan.changes) if self.plan is not None else 0
            counts = apply_counts(self.reports)
            done = counts["fixed"] + counts.get("already-applied", 0)
            return done == planned and not any(a.error for a in self.accounts)
        unsettled = any(r.fix and r.fix["status"] in UNSETTLED for r in self.reports)
        uncovered = self.aggregator is not None and bool(self.aggregator.not_covered)  # not verified: fails closed
        return (self.nothing_judged is None and not unsettled and not uncovered
                and not any(account.failing for account in self.accounts))


def nothing_judged(result: AuditResult, *, allow_empty: bool = False) -> str | None:
    """Why an audit judged no bucket (so that it can neither pass nor fail), or None. An empty account
    beside others with buckets is reported, not this; `allow_empty`: an audit whose audited accounts hold
    no bucket at all passes (an account that could not be audited, or buckets that could not be read,
    still judge nothing)."""
    if result.mode != "audit":
        return None
    if result.aggregator is not None:
        if result.reports or result.aggregator.not_covered or allow_empty:  # gaps fail the run (exit 1) themselves
            return None
        return (f"the configuration aggregator {result.aggregator.name} holds no AWS::S3::Bucket record (of the "
                "accounts and buckets asked for); pass --allow-empty if none is expected")
    if not result.accounts:
        return "ListAccounts listed no account to audit"
    audited = [account for account in result.accounts if account.error is None]
    if not audited:
        return (f"none of the {len(result.accounts)} accounts could be audited (each account's line says why)"
                if len(result.accounts) > 1 else f"account {result.accounts[0].account} could not be audited: "
                                                  f"{result.accounts[0].error}")
    reports = [report for account in audited for report in account.reports]
    if not reports:
        if allow_empty:
            return None
        where = (f"account {audited[0].account} has no bucket" if len(audited) == 1 else
                 f"none of the {len(audited)} accounts audited has a bucket")
        return f"{where} (ListBuckets listed none); pass --allow-empty if that is expected"
    if all(report.error is not None for report in reports):
        return (f"none of the {len(reports)} buckets could be read (each bucket's error says why)"
                if len(reports) > 1 else f"bucket {reports[0].name} could not be read: {reports[0].error}")
    return None


class Interrupted(Exception):
    """Ctrl-C during the writes: the lines saying what was written (the command line prints them, exit 130)."""

    def __init__(self, lines: Sequence[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = list(lines)
