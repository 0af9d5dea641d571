"""`bucketguard audit`: the command line around `bucketguard.audit`."""

from __future__ import annotations

import argparse
import json
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bucketguard.audit.aws import AccountResult, RoleAccess, audit_organization, list_accounts
from bucketguard.audit.fix import (
    BucketReport,
    Identity,
    ProgressLine,
    S3Auditor,
    audit,
    audit_policy_config,
    aws_client,
    describe_rules,
    import_file,
    matches_stack,
    s3_client,
    setting_problems,
)
from bucketguard.cli.common import EXIT_OK, EXIT_VIOLATION
from bucketguard.inputs import Broken, read_pack_config
from bucketguard.policies.catalog import PACK_NAME, POLICIES
from bucketguard.policy_config import PolicyConfigError, ResolvedConfig
from bucketguard.preview.analyzer import PolicyMeta
from bucketguard.reports.sarif import SarifResult, sarif_log, sarif_run
from bucketguard.settings import EncryptionSettings, SettingsError, validate_encryption

HELP = "judge (and with --fix, set) the default encryption of existing buckets through the S3 API"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint-url", help="endpoint of every AWS API the audit calls (S3, STS; default: AWS)")
    parser.add_argument("--region", help="AWS region of the client")
    parser.add_argument("--profile", help="AWS profile")
    parser.add_argument("--policy-pack-config", type=Path, metavar="FILE",
                        help="the same JSON file as `pulumi preview --policy-pack-config`")
    parser.add_argument("--bucket", action="append", dest="buckets", metavar="NAME",
                        help="audit only this bucket; repeatable (default: every bucket ListBuckets returns)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    parser.add_argument("--sarif", type=Path, metavar="FILE", help="also write SARIF 2.1.0 to FILE")
    parser.add_argument("--fix", action="store_true",
                        help="PutBucketEncryption on each bucket failing a mandatory rule (nothing is written without it)")
    parser.add_argument("--force", action="store_true", help="with --fix: also replace a customer managed key")
    parser.add_argument("--sse-algorithm", help="fix setting: overrides bucketguard:defaults")
    parser.add_argument("--kms-key-id", help="fix setting: overrides bucketguard:defaults")
    parser.add_argument("--use-aws-managed-key", action="store_true", default=None, help="fix setting: the aws/s3 key")
    parser.add_argument("--allow-sse-c", action="store_true",
                        help="fix setting: do not block SSE-C uploads (default: --fix blocks them, like blockSseC: true)")
    parser.add_argument("--project-dir", type=Path, default=Path("."),
                        help="Pulumi project whose bucketguard:defaults is the fix setting (default .)")
    parser.add_argument("--stack", default="dev", help="stack whose config holds bucketguard:defaults (default dev)")
    parser.add_argument("--import-file", type=Path, metavar="FILE",
                        help="write a `pulumi import --file` document for the non-compliant buckets")
    parser.add_argument("--concurrency", type=int, default=16, help="buckets read at once, per account (default 16)")
    parser.add_argument("--organization", action="store_true",
                        help="audit every active account of the AWS Organization (ListAccounts), through --role-name")
    parser.add_argument("--role-name", help="with --organization: the role assumed in each account")
    parser.add_argument("--external-id", help="with --organization: the external id the role's trust policy requires")
    parser.add_argument("--account", action="append", dest="accounts", metavar="ID",
                        help="with --organization: audit only this account; repeatable")
    parser.add_argument("--account-concurrency", type=int, default=4, help="accounts audited at once (default 4)")
    parser.add_argument("--plan", type=Path, metavar="FILE",
                        help="write every change --fix would make to FILE (account, bucket, before, after, reason); "
                             "writes no bucket")
    parser.add_argument("--apply", type=Path, metavar="FILE",
                        help="make exactly the changes of a --plan FILE, skipping buckets changed since")
    parser.add_argument("--max-plan-age", type=float, default=24.0, metavar="HOURS",
                        help="with --apply: refuse a plan older than this (default 24)")


def fix_setting(args: argparse.Namespace, config: ResolvedConfig) -> EncryptionSettings:
    """The project's `bucketguard:defaults` with the flags on top, validated by the components' model and
    judged by the same policies as the buckets: a setting that would still fail stops the audit (exit 2)."""
    values: dict[str, Any] = {}
    if (args.project_dir / "Pulumi.yaml").exists():
        from bucketguard.pulumi_files.project import ProjectError, load_project

        try:
            defaults = load_project(args.project_dir, args.stack, need_program=False).config.get("bucketguard:defaults") or {}
        except ProjectError as error:
            raise Broken(str(error)) from None
        if not isinstance(defaults, dict):
            raise Broken(f"{args.project_dir}: bucketguard:defaults must be an object")
        values.update(defaults)
    flags = {"sseAlgorithm": args.sse_algorithm, "kmsKeyId": args.kms_key_id,
             "useAwsManagedKey": args.use_aws_managed_key, "blockSseC": False if args.allow_sse_c else None}
    if args.sse_algorithm is not None and args.sse_algorithm != values.get("sseAlgorithm"):
        values = {k: v for k, v in values.items() if k not in ("kmsKeyId", "useAwsManagedKey", "bucketKeyEnabled")}
    values.update({k: v for k, v in flags.items() if v is not None})
    try:
        setting = validate_encryption("audit --fix setting", values)
    except SettingsError as error:
        raise Broken(str(error)) from None
    if setting.needs_customer_key:
        raise Broken("audit --fix setting: aws:kms with no key would need a new customer managed key, which the "
                     "audit does not create; pass --kms-key-id ARN or --use-aws-managed-key")
    problems = setting_problems(setting, config)
    if problems:
        reasons = "\n".join(f"  [{f.level}] {f.policy}: {f.message.splitlines()[-1]}" for f in problems)
        raise Broken("audit --fix setting would itself fail the policies (with this --policy-pack-config), so "
                     f"nothing was written:\n{reasons}\nChoose a setting the policies allow.")
    return setting


def _session(args: argparse.Namespace) -> Any:
    import boto3

    return boto3.Session(profile_name=args.profile, region_name=args.region)


def caller_identity(session: Any, endpoint_url: str | None) -> Identity:
    """The account the credentials belong to (STS GetCallerIdentity needs no permission)."""
    answer = aws_client(session, "sts", endpoint_url).get_caller_identity()
    return Identity(answer["Account"], answer["Arn"].split(":")[1])


def _describe_rules(rules: list[dict[str, Any]] | None) -> tuple[str, str, str]:
    if not rules:
        return "none", "-", "-"
    default = rules[0].get("ApplyServerSideEncryptionByDefault") or {}
    key = default.get("KMSMasterKeyID") or ("aws/s3" if default.get("SSEAlgorithm", "").startswith("aws:kms") else "-")
    bucket_key = rules[0].get("BucketKeyEnabled")
    return str(default.get("SSEAlgorithm", "?")), str(key), "-" if bucket_key is None else str(bucket_key).lower()


def fix_line(report: BucketReport) -> str | None:
    """What the fix did to a bucket, in one line (None when it did nothing)."""
    fix = report.fix
    if not fix:
        return None
    status = fix["status"]
    if status == "fixed":
        lowered = f" (lowers, forced: {'; '.join(fix['lowers'])})" if fix.get("lowers") else ""
        return (f"~ {report.name}: fixed{lowered}: {describe_rules(fix['before'])} -> {describe_rules(fix['after'])}"
                " (read back and judged passing)")
    if status == "planned":
        lowered = f" LOWERS ENCRYPTION (--force): {'; '.join(fix['lowers'])};" if fix.get("lowers") else ""
        return f"~ {report.name}: planned:{lowered} {describe_rules(fix['before'])} -> {describe_rules(fix['after'])}"
    labels = {"refused": "not changed", "failed": "not changed", "still-failing": "written but STILL FAILING"}
    return f"~ {report.name}: {labels.get(status, status)}: {fix['reason']}"


def render_table(reports: list[BucketReport], notes: list[str] | None = None) -> str:
    header = ("bucket", "region", "algorithm", "key", "bucket key", "verdict")
    rows = [(r.name, r.region or "?", *_describe_rules(r.rules), r.verdict) for r in reports]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in [header, *rows]]
    for report in reports:
        for finding in report.findings:
            lines.append(f"- [{finding.level}] {finding.policy}  ({report.name})")
            lines.extend(f"    {text}" for text in finding.message.splitlines())
        line = fix_line(report)
        if line:
            lines.append(line)
    lines.extend(notes or [])
    lines.append(summary_line(reports))
    return "\n".join(lines) + "\n"


def fix_counts(reports: list[BucketReport]) -> dict[str, int]:
    counts = {"fixed": 0, "still-failing": 0, "refused": 0, "failed": 0, "planned": 0}
    for report in reports:
        if report.fix:
            counts[report.fix["status"]] += 1
    return counts


def summary_line(reports: list[BucketReport]) -> str:
    counts = fix_counts(reports)
    line = (f"{len(reports)} buckets: {sum(r.mandatory for r in reports)} failing a mandatory rule, "
            f"{sum(r.verdict == 'advisory' for r in reports)} with advisories, "
            f"{sum(r.error is not None for r in reports)} unreadable, {counts['fixed']} fixed")
    extra = [f"{n} {label}" for label, n in counts.items() if n and label != "fixed"]
    return line + (f", {', '.join(extra)}" if extra else "")


def bucket_json(report: BucketReport) -> dict[str, Any]:
    return {"account": report.account, "name": report.name, "region": report.region, "rules": report.rules,
            "error": report.error, "verdict": report.verdict,
            "findings": [{"policyName": f.policy, "enforcementLevel": f.level, "message": f.message}
                         for f in report.findings],
            "fix": report.fix}


def to_json(reports: list[BucketReport]) -> dict[str, Any]:
    counts = fix_counts(reports)
    return {
        "buckets": [bucket_json(r) for r in reports],
        "summary": {"buckets": len(reports), "failing": sum(r.mandatory for r in reports),
                    "errors": sum(r.error is not None for r in reports), **counts},
    }


def to_sarif(reports: list[BucketReport]) -> dict[str, Any]:
    policies = [PolicyMeta(s.name, s.description, s.level, s.severity, s.remediation, dict(s.config_schema), (),
                           {} if s.framework is None else {"name": s.framework.name, "version": s.framework.version,
                                                           "reference": s.framework.reference,
                                                           "specification": s.framework.specification})
                for s in POLICIES]
    located = [(r, f) for r in reports for f in r.findings]
    results = [SarifResult(f.policy, f.level, f.message, r.name, f"arn:aws:s3:::{r.name}") for r, f in located]
    run = sarif_run(f"{PACK_NAME}-audit", version("bucketguard"), policies, results)
    for entry, (report, _) in zip(run["results"], located, strict=True):
        entry["properties"] = {"accountId": report.account, "region": report.region}
    return sarif_log([run])


def import_candidates(reports: list[BucketReport], setting: EncryptionSettings,
                      identity: Identity) -> tuple[list[BucketReport], list[str]]:
    """The buckets the import file may list (those that failed and now hold what the stack will declare),
    and one line for each failing bucket it leaves out."""
    listed, notes = [], []
    for report in reports:
        if not report.fix and not report.mandatory:
            continue  # it passed before the audit: nothing to bring under the stack
        why = matches_stack(report, setting, identity)
        if why is None:
            listed.append(report)
        else:
            notes.append(f"! {report.name}: left out of the import file: {why} (pulumi up would change it "
                         "with none of the audit's guards)")
    return listed, notes


class AccountProgressBars:
    """One progress bar per account on a terminal (rich), updated from the audit's threads."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 console=console or Console(stderr=True), transient=False)
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> AccountProgressBars:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, account: str, done: int, total: int) -> None:
        if account not in self.tasks:
            self.tasks[account] = self.progress.add_task(f"account {account}", total=total or None)
        self.progress.update(self.tasks[account], completed=done, total=total or None)


def _check_flags(args: argparse.Namespace) -> None:
    if args.concurrency < 1:
        raise Broken(f"--concurrency must be at least 1 (got {args.concurrency})")
    if args.account_concurrency < 1:
        raise Broken(f"--account-concurrency must be at least 1 (got {args.account_concurrency})")
    if args.organization and not args.role_name:
        raise Broken("--organization needs --role-name: the role the audit assumes in each account "
                     "(deploy it with bucketguard.components.AuditRole)")
    if not args.organization and (args.role_name or args.external_id or args.accounts):
        raise Broken("--role-name, --external-id and --account only apply with --organization")
    if args.organization and args.fix:
        raise Broken("--fix at organisation scale is two steps: --plan FILE, review it, then --apply FILE")
    if args.organization and (args.import_file or args.buckets):
        raise Broken("--import-file and --bucket apply to one account; run them without --organization")
    if args.fix and args.plan:
        raise Broken("--fix writes now and --plan writes a plan: choose one")
    if args.apply and (args.fix or args.plan or args.organization or args.buckets or args.import_file
                       or args.policy_pack_config):
        raise Broken("--apply takes only the plan (its accounts, buckets, changes and policy pack config are in "
                     "it), plus --external-id, --max-plan-age and the connection flags")


def _caller(args: argparse.Namespace) -> tuple[Any, Identity]:
    try:
        session = _session(args)
    except Exception as error:  # unknown profile, bad region: botocore's message says which
        raise Broken(f"cannot create the S3 client: {error}") from None
    try:
        identity = caller_identity(session, args.endpoint_url)
    except Exception as error:  # no credentials, no endpoint: no owner to expect, so nothing is read
        raise Broken(f"STS GetCallerIdentity failed, so the audit cannot tell which account owns the buckets: "
                     f"{error}") from None
    return session, identity


def _config(args: argparse.Namespace) -> tuple[dict[str, Any] | None, ResolvedConfig]:
    source = str(args.policy_pack_config) if args.policy_pack_config else "policy pack config"
    user_config = read_pack_config(args.policy_pack_config) if args.policy_pack_config else None
    try:
        return user_config, audit_policy_config(user_config, source)
    except PolicyConfigError as error:
        raise Broken(str(error)) from None


def run(args: argparse.Namespace) -> int:
    _check_flags(args)
    if args.apply:
        return run_apply(args)
    user_config, config = _config(args)
    setting = fix_setting(args, config) if args.fix or args.import_file or args.plan else None
    session, identity = _caller(args)
    auditors: dict[str, S3Auditor] = {}
    if args.organization:
        results = _audit_organization(args, session, identity, config, auditors)
    else:
        results = [_audit_single(args, session, identity, config, auditors)]
    reports = [r for result in results for r in result.reports]
    if args.fix and setting is not None:
        for report in reports:
            auditors[identity.account].fix(report, setting, args.force)
    if args.plan and setting is not None:
        from datetime import UTC, datetime

        from bucketguard.audit.plan import Plan, plan_changes

        changes = plan_changes(reports, setting, auditors, args.force)
        plan = Plan(createdAt=datetime.now(UTC), toolVersion=version("bucketguard"),
                    roleName=args.role_name if args.organization else None, policyPackConfig=user_config,
                    changes=changes)
        args.plan.write_text(plan.to_json())
    notes: list[str] = []
    if args.import_file and setting is not None:
        listed, notes = import_candidates(reports, setting, identity)
        args.import_file.write_text(json.dumps(import_file(listed), indent=2) + "\n")
    if args.sarif:
        args.sarif.write_text(json.dumps(to_sarif(reports), indent=2) + "\n")
    if args.json:
        document = to_json(reports)
        document["accounts"] = [account_json(result) for result in results]
        document["importFileNotes"] = notes
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    elif args.organization:
        sys.stdout.write(render_organization(results))
    else:
        sys.stdout.write(render_table(reports, notes))
    failing = any(result.failing for result in results)
    return EXIT_VIOLATION if failing else EXIT_OK


def _audit_single(args: argparse.Namespace, session: Any, identity: Identity, config: ResolvedConfig,
                  auditors: dict[str, S3Auditor]) -> AccountResult:
    try:
        client = s3_client(session, args.endpoint_url, args.concurrency)
    except Exception as error:  # bad region or endpoint: botocore's message says which
        raise Broken(f"cannot create the S3 client: {error}") from None
    auditor = auditors[identity.account] = S3Auditor(client, config, identity)
    try:
        names = args.buckets or auditor.list_buckets()
    except Exception as error:  # ListBuckets denied: nothing to audit
        raise Broken(f"ListBuckets failed: {error}") from None
    progress = ProgressLine() if sys.stderr.isatty() and len(names) > 20 else None
    return AccountResult(identity.account, reports=audit(auditor, names, workers=args.concurrency, progress=progress))


def _audit_organization(args: argparse.Namespace, session: Any, identity: Identity, config: ResolvedConfig,
                        auditors: dict[str, S3Auditor]) -> list[AccountResult]:
    from contextlib import nullcontext

    try:
        organizations = aws_client(session, "organizations", args.endpoint_url)
        accounts, unreachable = list_accounts(organizations, args.accounts)
    except Exception as error:  # not the management or a delegated administrator account, or denied
        raise Broken(f"Organizations ListAccounts failed: {error}") from None
    access = RoleAccess(session, args.role_name, args.external_id, identity.partition, args.endpoint_url,
                        args.concurrency)
    display = AccountProgressBars() if sys.stderr.isatty() else None
    with display or nullcontext():
        results = audit_organization(access, accounts, config, account_workers=args.account_concurrency,
                                     progress=display)
    for result in results:
        if result.error is None:
            auditors[result.account] = S3Auditor(None, config, Identity(result.account, identity.partition))
    order = {a: i for i, a in enumerate(args.accounts or ())}
    return sorted(results + unreachable, key=lambda r: (order.get(r.account, len(order)), r.account))


def account_summary(result: AccountResult) -> str:
    where = f"account {result.account}" + (f" ({result.name})" if result.name else "")
    if result.error:
        return f"{where}: ERROR: {result.error}"
    return f"{where}: {summary_line(result.reports)}"


def account_json(result: AccountResult) -> dict[str, Any]:
    return {"id": result.account, "name": result.name, "error": result.error,
            "summary": {"buckets": len(result.reports), "failing": sum(r.mandatory for r in result.reports),
                        "errors": sum(r.error is not None for r in result.reports), **fix_counts(result.reports)}}


def render_organization(results: list[AccountResult]) -> str:
    """One summary line per account, then each account's failing buckets with their findings."""
    lines = [account_summary(result) for result in results]
    for result in results:
        failing = [r for r in result.reports if r.mandatory or r.fix]
        if failing:
            lines.append("")
            lines.append(f"== account {result.account}" + (f" ({result.name})" if result.name else "") + " ==")
            lines.append(render_table(failing).rstrip("\n").rsplit("\n", 1)[0])
    reports = [r for result in results for r in result.reports]
    lines.append("")
    lines.append(f"{len(results)} accounts ({sum(r.error is not None for r in results)} not audited): "
                 f"{summary_line(reports)}")
    return "\n".join(lines) + "\n"


def run_apply(args: argparse.Namespace) -> int:
    """Apply a plan: each planned bucket is re-read and changed only if it still holds what was planned."""
    from concurrent.futures import ThreadPoolExecutor

    from bucketguard.audit.plan import apply_change, read_plan

    plan = read_plan(args.apply, args.max_plan_age)
    try:
        config = audit_policy_config(plan.policy_pack_config, f"{args.apply}: policyPackConfig")
    except PolicyConfigError as error:
        raise Broken(str(error)) from None
    session, identity = _caller(args)
    accounts = list(dict.fromkeys(change.account for change in plan.changes))
    if plan.role_name is None and any(a != identity.account for a in accounts):
        raise Broken(f"{args.apply}: the plan is for account {', '.join(accounts)}, the credentials are of account "
                     f"{identity.account}; apply it with that account's credentials")
    access = RoleAccess(session, plan.role_name or "", args.external_id, identity.partition, args.endpoint_url,
                        args.concurrency)
    results: list[AccountResult] = []
    for account in accounts:
        changes = [c for c in plan.changes if c.account == account]
        result = AccountResult(account)
        try:
            if plan.role_name is None:
                auditor = S3Auditor(s3_client(session, args.endpoint_url, args.concurrency), config, identity)
            else:
                auditor = access.auditor(account, config)
        except Exception as error:  # AssumeRole denied: nothing in this account is written
            result.error = f"cannot reach the account, nothing written there: {error}"
            results.append(result)
            continue
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            result.reports = list(pool.map(lambda change, a=auditor: apply_change(a, change), changes))
        results.append(result)
    lines = []
    for result in results:
        if result.error:
            lines.append(f"account {result.account}: ERROR: {result.error}")
        for report in result.reports:
            fix = report.fix or {}
            status = fix.get("status", "?")
            if status == "skipped":
                lines.append(f"SKIPPED {result.account} {report.name}: {fix['reason']}")
            else:
                lines.append(f"{result.account} {fix_line(report)}")
    reports = [r for result in results for r in result.reports]
    counts = {"fixed": 0, "skipped": 0, "still-failing": 0, "failed": 0}
    for report in reports:
        if report.fix:
            counts[report.fix["status"]] = counts.get(report.fix["status"], 0) + 1
    if args.json:
        document = {"buckets": [bucket_json(r) for r in reports],
                    "accounts": [{"id": r.account, "error": r.error} for r in results],
                    "summary": {"planned": len(plan.changes), **counts}}
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        lines.append(f"{len(plan.changes)} planned changes: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
        sys.stdout.write("\n".join(lines) + "\n")
    complete = counts["fixed"] == len(plan.changes) and not any(r.error for r in results)
    return EXIT_OK if complete else EXIT_VIOLATION
