"""The audit, top to bottom: `run_audit(request) -> AuditResult`.

    accounts → buckets → read → judge → plan → apply → verify

accounts: the credentials' own (STS), or the organisation's (Organizations, a role assumed in each);
buckets: ListBuckets, or the ones named; read: each bucket's region and default encryption (S3,
`aws.py`); judge: the pack's own checks (`judge.py`); plan: the least change that passes (`fix.py`),
written to a plan file for review (`plan.py`); apply: PutBucketEncryption; verify: read back and
judged again. `--fix` runs plan → apply → verify at once for one account; `--apply FILE` runs
apply → verify for a reviewed plan, re-reading each bucket first. Each stage is a function of this
module or of the one it names; the result is printed by `bucketguard.reports.audit`.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bucketguard import rules
from bucketguard.audit.aggregate import run_aggregator_audit
from bucketguard.audit.aws import (
    Caller,
    KeyDescriber,
    RoleAccess,
    S3Buckets,
    aws_client,
    caller_identity,
    error_code,
    list_accounts,
    open_session,
    role_arn,
    s3_client,
)
from bucketguard.audit.fix import (
    KeyChecker,
    apply_change,
    fix_bucket,
    fix_setting,
    plan_changes,
)
from bucketguard.audit.journal import Journal, journal_path, recorded_writes
from bucketguard.audit.judge import AccountAuditor, audit_policy_config
from bucketguard.audit.models import (
    Account,
    AccountResult,
    AuditRequest,
    AuditResult,
    BucketReport,
    Identity,
    Interrupted,
    nothing_judged,
)
from bucketguard.audit.plan import Plan, read_plan
from bucketguard.audit.progress import AccountProgressBars
from bucketguard.audit.stack_import import StackDeclaration, import_candidates, import_file, read_stack_declaration
from bucketguard.aws_regions import region_flag_problem
from bucketguard.inputs import Broken, pack_config
from bucketguard.policy_config import PolicyConfigError, ResolvedConfig
from bucketguard.settings import EncryptionSettings

log = logging.getLogger(__name__)  # --verbose: the steps, on stderr
# (account, buckets done, buckets in all); total 0 while the account's buckets are being listed
AccountProgress = Callable[[str, int, int], None]


def run_audit(request: AuditRequest) -> AuditResult:
    """Audit (and, as asked, fix, plan or apply) the default encryption of existing buckets; raises
    Broken when the audit cannot run (bad flags, pack config or fix setting, STS or ListBuckets failing).
    An audit that judged no bucket says why in `nothing_judged` (it does not pass)."""
    result = audit_or_apply(request)
    result.nothing_judged = nothing_judged(result, allow_empty=request.allow_empty)
    return result


def audit_or_apply(request: AuditRequest) -> AuditResult:
    if request.config_aggregator is not None or request.max_record_age_hours is not None or request.expected_regions:
        return run_aggregator_audit(request)  # read-only, from AWS Config's records instead of S3
    check_request(request)
    if request.apply_file is not None:
        return apply_plan(request, request.apply_file)
    policies = policy_config(request.policy_pack_config)
    setting = fix_setting(request, policies.resolved) if request.needs_fix_setting else None
    # What the stack declares is read (and a broken stack file refused) before anything is written.
    stack = read_stack_declaration(request.project_dir, request.stack) if request.import_file is not None else None
    caller = connect(request)
    journal = Journal()
    key_checks: dict[str, KeyChecker] = {}  # DescribeKey from each account, where the audit still can
    if request.organization:  # accounts → buckets → read → judge, in every account
        accounts = audit_organization(request, caller, policies.resolved, key_checks)
    else:  # the same in the credentials' own account
        auditor = own_account(request, caller, policies.resolved)
        auditor.buckets.journal = journal
        accounts = [audit_buckets(request, auditor)]
        key_checks[auditor.identity.account] = auditor.check_key
        if request.fix and setting is not None:  # plan → apply → verify, now
            try:
                for report in accounts[0].reports:
                    fix_bucket(auditor, report, setting, request.force)
            except KeyboardInterrupt:
                raise Interrupted(journal.lines()) from None
    reports = [report for account in accounts for report in account.reports]
    plan = None
    if request.plan_file is not None and setting is not None:  # plan, for review; `--apply` does the rest
        plan = write_plan(request, request.plan_file, reports, setting, policies, caller.identity, key_checks.get)
    notes: list[str] = []
    errors: list[str] = []
    if request.import_file is not None and stack is not None:
        try:  # after a fix: a failure here must not hide what was written
            notes = write_import_file(request.import_file, reports, stack)
        except (OSError, Broken) as error:
            errors.append(f"--import-file {request.import_file}: not written: {error}")
    return AuditResult("audit", accounts, organization=request.organization, import_notes=notes, plan=plan,
                       output_errors=errors, journal=journal.entries)


def check_request(request: AuditRequest) -> None:
    """Refuse a request whose flags contradict each other or name what cannot be, before anything is read;
    every output file is tried, so that none fails after a bucket was written."""
    if request.concurrency < 1:
        raise Broken(f"--concurrency must be at least 1 (got {request.concurrency})")
    if request.account_concurrency < 1:
        raise Broken(f"--account-concurrency must be at least 1 (got {request.account_concurrency})")
    if request.organization and not request.role_name:
        raise Broken("--organization needs --role-name: the role the audit assumes in each account "
                     "(deploy it with bucketguard.components.AuditRole)")
    if not request.organization and (request.role_name or request.external_id or request.accounts):
        raise Broken("--role-name, --external-id and --account only apply with --organization")
    if request.organization and request.fix:
        raise Broken("--fix at organisation scale is two steps: --plan FILE, review it, then --apply FILE")
    if request.organization and (request.import_file or request.buckets):
        raise Broken("--import-file and --bucket apply to one account; run them without --organization")
    if request.fix and request.plan_file:
        raise Broken("--fix writes now and --plan writes a plan: choose one")
    if request.apply_file and (request.fix or request.plan_file or request.organization or request.buckets
                               or request.import_file or request.policy_pack_config or request.allow_empty):
        raise Broken("--apply takes only the plan (its accounts, buckets, changes and policy pack config are in "
                     "it), plus --force, --external-id, --max-plan-age and the connection flags")
    if request.force and not (request.fix or request.plan_file or request.apply_file):
        raise Broken("--force only applies with --fix, --plan or --apply (it allows lowering encryption or "
                     "replacing a customer managed key); drop it, or add --fix")
    age = request.max_plan_age_hours
    if not (math.isfinite(age) and 0 < age <= MAX_PLAN_AGE_HOURS):
        raise Broken(f"--max-plan-age {age!r}: a number of hours above 0 and at most {MAX_PLAN_AGE_HOURS:g} "
                     "(a year) is needed")
    if (problem := region_flag_problem("--region", request.region)) is not None:
        raise Broken(problem)
    for account in request.accounts:
        if not ACCOUNT_ID.fullmatch(account):
            raise Broken(f"--account {account!r}: an AWS account id is 12 digits")
    for name in request.buckets:
        problem = bucket_name_problem(name)
        if problem:
            raise Broken(f"--bucket {name!r}: {problem}")
    outputs = [("--plan", request.plan_file), ("--import-file", request.import_file), ("--sarif", request.sarif_file),
               ("--junit", request.junit_file)]
    if request.apply_file is not None:
        outputs.append(("--apply (its journal)", journal_path(request.apply_file)))
    for flag, path in outputs:
        if path is not None and not (flag == "--sarif" and str(path) == "-"):  # -: standard output
            check_output(flag, path)


MAX_PLAN_AGE_HOURS = 24.0 * 366
ACCOUNT_ID = re.compile(r"[0-9]{12}")


def bucket_name_problem(name: str) -> str | None:
    """Why `name` cannot be an S3 bucket (general purpose or directory: `rules`), or None."""
    problem = rules.any_bucket_name_problem(name)
    return None if problem is None else f"not an S3 bucket name: it {problem}"


def check_output(flag: str, path: Path) -> None:
    """Open `path` for writing (and remove it again if it was not there), or Broken naming the flag."""
    if path.is_dir():
        raise Broken(f"{flag} {path}: is a directory; name a file (nothing was read or written)")
    existed = path.exists()
    try:
        with path.open("a"):
            pass
    except OSError as error:
        raise Broken(f"{flag} {path}: cannot be written ({error.strerror or error}); fix the path (nothing was read "
                     "or written)") from None
    if not existed:
        path.unlink(missing_ok=True)


@dataclass(frozen=True)
class PolicyConfig:
    """The pack config as the user gave it (a plan carries it) and bucketguard's policies configured with it."""

    given: dict[str, Any] | None
    resolved: ResolvedConfig


def policy_config(config: Path | Mapping[str, Any] | None, source: str | None = None) -> PolicyConfig:
    """bucketguard's policies configured as the engine would configure the pack (Broken for a bad config)."""
    given, default_source = pack_config(config)
    try:
        return PolicyConfig(given, audit_policy_config(given, source or default_source))
    except PolicyConfigError as error:
        raise Broken(str(error)) from None


def connect(request: AuditRequest) -> Caller:
    """The caller's session and account: without an account to expect as owner, nothing is read."""
    try:
        session = open_session(request.profile, request.region)
    except Exception as error:  # unknown profile, bad region: botocore's message says which
        raise Broken(f"cannot create the S3 client: {error}") from None
    try:
        identity = caller_identity(session, request.endpoint_url)
    except Exception as error:  # no credentials, no endpoint: no owner to expect, so nothing is read
        raise Broken(f"STS GetCallerIdentity failed, so the audit cannot tell which account owns the buckets: "
                     f"{error}") from None
    return Caller(session, identity, request.endpoint_url)


# --- accounts -------------------------------------------------------------------------------------


def own_account(request: AuditRequest, caller: Caller, config: ResolvedConfig) -> AccountAuditor:
    """The accounts stage for one account: the credentials' own."""
    try:
        client = s3_client(caller.session, caller.endpoint_url, request.concurrency)
    except Exception as error:  # bad region or endpoint: botocore's message says which
        raise Broken(f"cannot create the S3 client: {error}") from None
    return AccountAuditor(S3Buckets(client, caller.identity,
                                            keys=KeyDescriber(caller.session, caller.endpoint_url)), config)


def role_access(request: AuditRequest, caller: Caller, role_name: str) -> RoleAccess:
    return RoleAccess(caller.session, role_name, request.external_id, caller.identity.partition, caller.endpoint_url,
                      request.concurrency)


def organization_accounts(request: AuditRequest, caller: Caller) -> tuple[list[Account], list[AccountResult]]:
    """The accounts stage for an organisation: its ACTIVE accounts (those asked for), and an error
    result for each other one."""
    try:
        organizations = aws_client(caller.session, "organizations", caller.endpoint_url)
        return list_accounts(organizations, request.accounts)
    except Exception as error:  # not the management or a delegated administrator account, or denied
        raise Broken(f"Organizations ListAccounts failed: {error}") from None


def audit_organization(request: AuditRequest, caller: Caller, config: ResolvedConfig,
                       key_checks: dict[str, KeyChecker] | None = None) -> list[AccountResult]:
    """Every account of the organisation, at most `account_concurrency` at once (each with
    `concurrency` bucket reads); an account that cannot be audited is that account's error.
    `key_checks` gets each reached account's DescribeKey (through its role), for the plan."""
    accounts, unreachable = organization_accounts(request, caller)
    access = role_access(request, caller, request.role_name or "")
    display = AccountProgressBars() if request.show_progress else None
    with display or nullcontext():
        results = audit_accounts(access, accounts, config, account_workers=request.account_concurrency, progress=display,
                                 key_checks=key_checks)
    order = {a: i for i, a in enumerate(request.accounts)}
    return sorted(results + unreachable, key=lambda r: (order.get(r.account, len(order)), r.account))


def audit_accounts(access: RoleAccess, accounts: Sequence[Account], config: ResolvedConfig, *,
                   account_workers: int, progress: AccountProgress | None = None,
                   key_checks: dict[str, KeyChecker] | None = None) -> list[AccountResult]:
    """Audit `accounts`, at most `account_workers` at once (each with `access.workers` bucket reads)."""
    with ThreadPoolExecutor(max_workers=max(1, account_workers)) as pool:
        return list(pool.map(lambda account: audit_member_account(access, account, config, progress, key_checks),
                             accounts))


def audit_member_account(access: RoleAccess, account: Account, config: ResolvedConfig,
                         progress: AccountProgress | None = None,
                         key_checks: dict[str, KeyChecker] | None = None) -> AccountResult:
    """Assume the role, then buckets → read → judge; any failure becomes the account's error."""
    result = AccountResult(account.id, account.name)
    try:
        auditor = AccountAuditor(access.buckets(account.id), config)
    except Exception as error:  # AssumeRole denied, no such role: this account's error
        result.error = (f"AssumeRole into {role_arn(access.partition, account.id, access.role_name)} failed: "
                        f"{error_code(error)}: {error}")
        return result
    if key_checks is not None:
        key_checks[account.id] = auditor.check_key
    try:
        names = auditor.buckets.list_names()
    except Exception as error:
        result.error = f"ListBuckets failed: {error_code(error)}: {error}"
        return result
    tick = (lambda done, total: progress(account.id, done, total)) if progress else None
    if progress:
        progress(account.id, 0, len(names))
    result.reports = read_and_judge(auditor, names, workers=access.workers, progress=tick)
    return result


# --- buckets → read → judge -----------------------------------------------------------------------


def audit_buckets(request: AuditRequest, auditor: AccountAuditor) -> AccountResult:
    """The buckets stage (the ones named, else ListBuckets), then read → judge each."""
    try:
        names = list(dict.fromkeys(request.buckets)) or auditor.buckets.list_names()
    except Exception as error:  # ListBuckets denied: nothing to audit
        raise Broken(f"ListBuckets failed: {error}") from None
    display = AccountProgressBars() if request.show_progress and len(names) > 20 else None
    with display or nullcontext():
        reports = read_and_judge(auditor, names, workers=request.concurrency, progress=None if display is None else (
            lambda done, total: display(auditor.identity.account, done, total)))
    return AccountResult(auditor.identity.account, reports=reports)


def read_and_judge(auditor: AccountAuditor, names: Iterable[str], *, workers: int = 16,
                   progress: Callable[[int, int], None] | None = None) -> list[BucketReport]:
    """Read and judge buckets concurrently with a bounded pool; reports in the order given."""
    names = list(names)
    log.info("reading and judging %d buckets of account %s, %d at once", len(names), auditor.identity.account, workers)
    done = 0
    lock = threading.Lock()

    def inspect(name: str) -> BucketReport:
        nonlocal done
        report = auditor.inspect(name)
        with lock:
            done += 1
            if progress:
                progress(done, len(names))
        return report

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(inspect, names))


# --- plan, and what the stack imports -------------------------------------------------------------


def write_plan(request: AuditRequest, path: Path, reports: list[BucketReport], setting: EncryptionSettings,
               policies: PolicyConfig, identity: Identity,
               keys: Callable[[str], KeyChecker | None] | None = None) -> Plan:
    """The plan stage for review (`--plan FILE`): every change the fix would make, written to `path`."""
    changes = plan_changes(reports, setting, policies.resolved, identity.partition, request.force, keys)
    plan = Plan(createdAt=datetime.now(UTC), toolVersion=version("bucketguard"),
                roleName=request.role_name if request.organization else None, policyPackConfig=policies.given,
                changes=changes)
    path.write_text(plan.to_json())
    log.info("plan %s: %d changes written (no bucket written)", path, len(changes))
    return plan


def write_import_file(path: Path, reports: list[BucketReport], stack: StackDeclaration) -> list[str]:
    """`--import-file FILE`: the buckets the stack would keep as they are (compared with what the stack's own
    config declares, not the fix flags); returns a line for each failing bucket left out, and why."""
    listed, notes = import_candidates(reports, stack)
    path.write_text(json.dumps(import_file(listed), indent=2) + "\n")
    return notes


# --- apply → verify, from a reviewed plan ---------------------------------------------------------


def apply_plan(request: AuditRequest, path: Path) -> AuditResult:
    """Apply a plan: each planned bucket is re-read and changed only if it still holds what was planned."""
    plan = read_plan(path, request.max_plan_age_hours)
    log.info("plan %s of %s: %d changes", path, plan.created_at.isoformat(), len(plan.changes))
    for change in plan.changes:  # a hand-edited plan must not forge report lines either
        problem = bucket_name_problem(change.bucket)
        if problem:
            raise Broken(f"{path}: bucket {change.bucket!r}: {problem}")
    policies = policy_config(plan.policy_pack_config, f"{path}: policyPackConfig")
    caller = connect(request)
    identity = caller.identity
    accounts = list(dict.fromkeys(change.account for change in plan.changes))
    if plan.role_name is None and any(a != identity.account for a in accounts):
        raise Broken(f"{path}: the plan is for account {', '.join(accounts)}, the credentials are of account "
                     f"{identity.account}; apply it with that account's credentials")
    access = role_access(request, caller, plan.role_name or "")
    plan_id = plan.created_at.isoformat()
    recorded = recorded_writes(journal_path(path), plan_id)
    journal = Journal(journal_path(path), plan_id)
    try:
        results = [apply_account(request, caller, access, plan, account, policies.resolved, journal, recorded)
                   for account in accounts]
    except KeyboardInterrupt:
        raise Interrupted(journal.lines()) from None
    finally:
        journal.close()
    return AuditResult("apply", results, plan=plan, journal=journal.entries)


def apply_account(request: AuditRequest, caller: Caller, access: RoleAccess, plan: Plan, account: str,
                  config: ResolvedConfig, journal: Journal | None = None,
                  recorded: Mapping[tuple[str, str], list[dict[str, Any]]] | None = None) -> AccountResult:
    """Apply → verify the plan's changes in one account; an account that cannot be reached is its error."""
    changes = [c for c in plan.changes if c.account == account]
    result = AccountResult(account)
    try:
        if plan.role_name is None:
            buckets = S3Buckets(s3_client(caller.session, caller.endpoint_url, request.concurrency), caller.identity,
                                keys=KeyDescriber(caller.session, caller.endpoint_url))
        else:
            buckets = access.buckets(account)
    except Exception as error:  # AssumeRole denied: nothing in this account is written
        result.error = f"cannot reach the account, nothing written there: {error}"
        return result
    buckets.journal = journal
    auditor = AccountAuditor(buckets, config)
    pool = ThreadPoolExecutor(max_workers=request.concurrency)
    try:
        journalled = recorded or {}
        result.reports = list(pool.map(lambda change: apply_change(
            auditor, change, request.force, journalled.get((change.account, change.bucket))), changes))
    except KeyboardInterrupt:  # no new write starts; those under way finish and are journalled
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return result
