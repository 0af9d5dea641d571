"""`bucketguard audit`: the arguments, as an `AuditRequest`; `run_audit` does the work."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bucketguard.audit.models import AuditRequest, Interrupted
from bucketguard.cli.common import EXIT_INTERRUPTED, add_scope_arguments, finish, report_aws_retries, say

HELP = "judge (and with --fix, set) the default encryption of existing buckets through the S3 API"
EXAMPLE = "bucketguard audit --region eu-west-1 --sarif audit.sarif   # then --fix, or --plan FILE"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint-url", help="endpoint of every AWS API the audit calls (S3, STS; default: AWS)")
    parser.add_argument("--region", help="AWS region of the client (a region name botocore knows, or of its shape)")
    parser.add_argument("--profile", help="AWS profile")
    parser.add_argument("--policy-pack-config", type=Path, metavar="FILE",
                        help="the same JSON file as `pulumi preview --policy-pack-config`")
    parser.add_argument("--bucket", action="append", dest="buckets", metavar="NAME",
                        help="audit only this bucket; repeatable, each once (default: every bucket listed)")
    parser.add_argument("--fix", action="store_true",
                        help="PutBucketEncryption on each bucket failing a mandatory rule (nothing is written without it)")
    parser.add_argument("--force", action="store_true",
                        help="with --fix or --plan: also lower encryption or replace a customer managed key")
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
    add_scope_arguments(parser)
    parser.add_argument("--plan", type=Path, metavar="FILE",
                        help="write every change --fix would make to FILE (account, bucket, before, after, reason); "
                             "writes no bucket")
    parser.add_argument("--apply", type=Path, metavar="FILE",
                        help="make exactly the changes of a --plan FILE, skipping buckets changed since")
    parser.add_argument("--max-plan-age", type=float, default=24.0, metavar="HOURS",
                        help="with --apply: refuse a plan older than this (default 24)")


def run(args: argparse.Namespace) -> int:
    from bucketguard.audit.pipeline import run_audit
    from bucketguard.reports.audit import write_result

    request = AuditRequest(
        endpoint_url=args.endpoint_url, region=args.region, profile=args.profile,
        policy_pack_config=args.policy_pack_config, buckets=tuple(dict.fromkeys(args.buckets or ())),
        concurrency=args.concurrency,
        fix=args.fix, force=args.force, sse_algorithm=args.sse_algorithm, kms_key_id=args.kms_key_id,
        use_aws_managed_key=args.use_aws_managed_key, allow_sse_c=args.allow_sse_c, project_dir=args.project_dir,
        stack=args.stack, import_file=args.import_file, organization=args.organization, role_name=args.role_name,
        external_id=args.external_id, accounts=tuple(dict.fromkeys(args.accounts or ())),
        account_concurrency=args.account_concurrency,
        plan_file=args.plan, apply_file=args.apply, max_plan_age_hours=args.max_plan_age,
        show_progress=sys.stderr.isatty(), sarif_file=args.sarif, config_aggregator=args.config_aggregator,
        max_record_age_hours=args.max_record_age_hours, expected_regions=tuple(args.expected_regions or ()),
        allow_empty=args.allow_empty, junit_file=args.junit)
    report_aws_retries("bucketguard audit", args.endpoint_url)
    try:
        result = run_audit(request)
    except Interrupted as interrupted:  # Ctrl-C during the writes: say what was written, exit 130
        return say(interrupted.lines, EXIT_INTERRUPTED)
    errors = write_result(result, as_json=args.json, sarif=args.sarif, junit=args.junit, color=args.color,
                          quiet=args.quiet)
    return finish(errors, result.passed, result.nothing_judged)
