"""`bucketguard audit`: the command line around `bucketguard.audit`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bucketguard.audit import BucketReport, ProgressLine, S3Auditor, audit, audit_policy_config, import_file
from bucketguard.cli import EXIT_OK, EXIT_VIOLATION, Broken, read_pack_config
from bucketguard.policies.catalog import PACK_NAME, POLICIES
from bucketguard.policy_config import PolicyConfigError
from bucketguard.preview.analyzer import PolicyMeta
from bucketguard.preview.report import SarifResult, sarif_log, sarif_run
from bucketguard.settings import EncryptionSettings, SettingsError, validate_encryption


def fix_setting(args: argparse.Namespace) -> EncryptionSettings:
    """The project's `bucketguard:defaults` with the flags on top, validated by the components' model."""
    values: dict[str, Any] = {}
    if (args.project_dir / "Pulumi.yaml").exists():
        from bucketguard.preview.project import ProjectError, load_project

        try:
            defaults = load_project(args.project_dir, args.stack, need_program=False).config.get("bucketguard:defaults") or {}
        except ProjectError as error:
            raise Broken(str(error)) from None
        if not isinstance(defaults, dict):
            raise Broken(f"{args.project_dir}: bucketguard:defaults must be an object")
        values.update(defaults)
    flags = {"sseAlgorithm": args.sse_algorithm, "kmsKeyId": args.kms_key_id,
             "useAwsManagedKey": args.use_aws_managed_key}
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
    return setting


def _client(args: argparse.Namespace, workers: int) -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    # Throttling (SlowDown, 503) is retried with backoff by botocore's adaptive retry mode.
    config = Config(retries={"max_attempts": 10, "mode": "adaptive"}, max_pool_connections=max(workers, 10))
    return session.client("s3", endpoint_url=args.endpoint_url, config=config)


def _describe_rules(rules: list[dict[str, Any]] | None) -> tuple[str, str, str]:
    if not rules:
        return "none", "-", "-"
    default = rules[0].get("ApplyServerSideEncryptionByDefault") or {}
    key = default.get("KMSMasterKeyID") or ("aws/s3" if default.get("SSEAlgorithm", "").startswith("aws:kms") else "-")
    bucket_key = rules[0].get("BucketKeyEnabled")
    return str(default.get("SSEAlgorithm", "?")), str(key), "-" if bucket_key is None else str(bucket_key).lower()


def render_table(reports: list[BucketReport]) -> str:
    header = ("bucket", "region", "algorithm", "key", "bucket key", "verdict")
    rows = [(r.name, r.region or "?", *_describe_rules(r.rules), r.verdict) for r in reports]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in [header, *rows]]
    for report in reports:
        for finding in report.findings:
            lines.append(f"- [{finding.level}] {finding.policy}  ({report.name})")
            lines.extend(f"    {text}" for text in finding.message.splitlines())
        if report.fix:
            if "skipped" in report.fix:
                lines.append(f"~ {report.name}: not changed: {report.fix['skipped']}")
            else:
                lines.append(f"~ {report.name}: fixed: {json.dumps(report.fix['before'])} -> "
                             f"{json.dumps(report.fix['after'])}")
    failing = sum(r.mandatory for r in reports)
    lines.append(f"{len(reports)} buckets: {failing} failing a mandatory rule, "
                 f"{sum(r.verdict == 'advisory' for r in reports)} with advisories, "
                 f"{sum(r.error is not None for r in reports)} unreadable, "
                 f"{sum(1 for r in reports if r.fix and 'after' in r.fix)} fixed")
    return "\n".join(lines) + "\n"


def to_json(reports: list[BucketReport]) -> dict[str, Any]:
    return {
        "buckets": [
            {"name": r.name, "region": r.region, "rules": r.rules, "error": r.error, "verdict": r.verdict,
             "findings": [{"policyName": f.policy, "enforcementLevel": f.level, "message": f.message}
                          for f in r.findings],
             "fix": r.fix}
            for r in reports
        ],
        "summary": {"buckets": len(reports), "failing": sum(r.mandatory for r in reports),
                    "errors": sum(r.error is not None for r in reports),
                    "fixed": sum(1 for r in reports if r.fix and "after" in r.fix)},
    }


def to_sarif(reports: list[BucketReport]) -> dict[str, Any]:
    policies = [PolicyMeta(s.name, s.description, s.level, s.severity, s.remediation, dict(s.config_schema), (),
                           {} if s.framework is None else {"name": s.framework.name, "version": s.framework.version,
                                                           "reference": s.framework.reference,
                                                           "specification": s.framework.specification})
                for s in POLICIES]
    results = [SarifResult(f.policy, f.level, f.message, r.name, f"arn:aws:s3:::{r.name}")
               for r in reports for f in r.findings]
    return sarif_log([sarif_run(f"{PACK_NAME}-audit", "0.1.0", policies, results)])


def run_audit(args: argparse.Namespace) -> int:
    source = str(args.policy_pack_config) if args.policy_pack_config else "policy pack config"
    user_config = read_pack_config(args.policy_pack_config) if args.policy_pack_config else None
    try:
        config = audit_policy_config(user_config, source)
    except PolicyConfigError as error:
        raise Broken(str(error)) from None
    setting = fix_setting(args) if args.fix else None
    if args.concurrency < 1:
        raise Broken(f"--concurrency must be at least 1 (got {args.concurrency})")
    try:
        client = _client(args, args.concurrency)
    except Exception as error:  # unknown profile, bad region or endpoint: botocore's message says which
        raise Broken(f"cannot create the S3 client: {error}") from None
    auditor = S3Auditor(client, config)
    try:
        names = args.buckets or auditor.list_buckets()
    except Exception as error:  # no credentials, no endpoint, ListBuckets denied: nothing to audit
        raise Broken(f"ListBuckets failed: {error}") from None
    progress = ProgressLine() if sys.stderr.isatty() and len(names) > 20 else None
    reports = audit(auditor, names, workers=args.concurrency, progress=progress)
    failing_before = [r for r in reports if r.mandatory and r.error is None]
    if setting is not None:
        for report in failing_before:
            auditor.fix(report, setting, args.force)
    if args.import_file:
        args.import_file.write_text(json.dumps(import_file(failing_before), indent=2) + "\n")
    if args.sarif:
        args.sarif.write_text(json.dumps(to_sarif(reports), indent=2) + "\n")
    sys.stdout.write(json.dumps(to_json(reports), indent=2) + "\n" if args.json else render_table(reports))
    return EXIT_VIOLATION if any(r.mandatory for r in reports) else EXIT_OK


