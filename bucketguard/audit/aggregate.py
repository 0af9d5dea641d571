"""`bucketguard audit --config-aggregator NAME`: the audit read from AWS Config instead of S3, for every
account and region an aggregator collects from (`bucketguard.awsconfig.aggregator`: one paged
SelectAggregateResourceConfig query, each record judged by the audit's judge). Read-only: nothing is
written, STS and S3 are not called. A bucket whose record may be out of date (stale) fails; a bucket,
account or region the aggregator does not cover is listed and fails the run, since it is not verified.
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta

from bucketguard import rules
from bucketguard.audit.aws import aws_client, error_code, open_session
from bucketguard.audit.judge import audit_policy_config
from bucketguard.audit.models import AccountResult, AggregatorCoverage, AuditRequest, AuditResult, NotCovered
from bucketguard.aws_regions import region_flag_problem
from bucketguard.awsconfig.aggregator import AggregatorAudit, audit_aggregator
from bucketguard.inputs import Broken, pack_config
from bucketguard.policy_config import PolicyConfigError

log = logging.getLogger(__name__)  # --verbose: the steps, on stderr

DEFAULT_MAX_RECORD_AGE_HOURS = 24.0
MAX_RECORD_AGE_HOURS = 24.0 * 366
# What the caller needs (Service Authorization Reference, AWS Config): the two calls of `audit_aggregator`.
PERMISSIONS = ("config:SelectAggregateResourceConfig", "config:DescribeConfigurationAggregatorSourcesStatus")
# Config's JSON protocol names it AccessDeniedException; a policy evaluated elsewhere may say AccessDenied.
_DENIED = {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"}


def check_aggregator_request(request: AuditRequest) -> str:
    """The aggregator's name, or Broken for a flag that cannot go with it (nothing is read before)."""
    name = request.config_aggregator
    if name is None:
        raise Broken("--max-record-age and --expected-region only apply with --config-aggregator NAME")
    if not name.strip():
        raise Broken("--config-aggregator: give the name of an AWS Config configuration aggregator")
    given = [flag for flag, on in (("--fix", request.fix), ("--plan", request.plan_file is not None),
                                   ("--apply", request.apply_file is not None),
                                   ("--import-file", request.import_file is not None),
                                   ("--organization", request.organization), ("--force", request.force),
                                   ("--role-name", request.role_name is not None),
                                   ("--external-id", request.external_id is not None)) if on]
    if given:
        raise Broken(f"--config-aggregator is read-only (it judges AWS Config's records) and cannot go with "
                     f"{', '.join(given)}; to fix buckets, use --organization --role-name NAME --plan FILE, then "
                     "--apply FILE")
    age = request.max_record_age_hours
    if age is not None and not (math.isfinite(age) and 0 < age <= MAX_RECORD_AGE_HOURS):
        raise Broken(f"--max-record-age {age!r}: a number of hours above 0 and at most {MAX_RECORD_AGE_HOURS:g} "
                     "is needed")
    for flag, region in (("--region", request.region), *(("--expected-region", r) for r in request.expected_regions)):
        if (problem := region_flag_problem(flag, region)) is not None:
            raise Broken(problem)
    for account in request.accounts:
        if not (len(account) == 12 and account.isdigit()):
            raise Broken(f"--account {account!r}: an AWS account id is 12 digits")
    for bucket in request.buckets:
        problem = rules.any_bucket_name_problem(bucket)
        if problem:
            raise Broken(f"--bucket {bucket!r}: not an S3 bucket name: it {problem}")
    for region in request.expected_regions:
        if not region or not all(part.isalnum() for part in region.split("-")):
            raise Broken(f"--expected-region {region!r}: not a region name (e.g. eu-west-1)")
    return name


def run_aggregator_audit(request: AuditRequest) -> AuditResult:
    """Judge the buckets an aggregator recorded, grouped by account; raises Broken when it cannot run
    (bad flags or pack config, no such aggregator, permissions missing)."""
    from botocore.exceptions import BotoCoreError, ClientError

    name = check_aggregator_request(request)
    given, source = pack_config(request.policy_pack_config)
    try:
        config = audit_policy_config(given, source)
    except PolicyConfigError as error:
        raise Broken(str(error)) from None
    hours = request.max_record_age_hours or DEFAULT_MAX_RECORD_AGE_HOURS
    try:
        client = aws_client(open_session(request.profile, request.region), "config", request.endpoint_url)
    except Exception as error:  # unknown profile, no region: botocore's message says which
        raise Broken(f"cannot create the AWS Config client: {error}") from None
    log.info("AWS Config aggregator %s (region %s): SelectAggregateResourceConfig, "
             "DescribeConfigurationAggregatorSourcesStatus", name, client_region(client))
    try:
        found = audit_aggregator(client, name, config, max_source_age=timedelta(hours=hours),
                                 expected_regions=request.expected_regions, expect_every_source_region=True)
    except ClientError as error:
        code = error_code(error)
        if code == "NoSuchConfigurationAggregatorException":
            raise Broken(f"--config-aggregator {name}: AWS Config has no such configuration aggregator in region "
                         f"{client_region(client)} (aggregators live in one region: check --region, or list them "
                         "with `aws configservice describe-configuration-aggregators`)") from None
        if code in _DENIED:
            raise Broken(f"--config-aggregator {name}: access denied ({code}); the caller needs "
                         f"{' and '.join(PERMISSIONS)} on the aggregator") from None
        raise Broken(f"--config-aggregator {name}: AWS Config refused the query: {code}: {error}") from None
    except BotoCoreError as error:  # no credentials, no endpoint
        raise Broken(f"--config-aggregator {name}: AWS Config could not be called: {error}") from None
    log.info("AWS Config aggregator %s: %d records in %d pages, %d sources", name, len(found.reports), found.pages,
             len(found.sources))
    return aggregator_result(request, name, hours, found)


def client_region(client: object) -> str:
    meta = getattr(client, "meta", None)
    return str(getattr(meta, "region_name", None) or "?")


def aggregator_result(request: AuditRequest, name: str, hours: float, found: AggregatorAudit) -> AuditResult:
    """The audit's result from what the aggregator holds, restricted to `--account` and `--bucket`."""
    accounts, buckets = set(request.accounts), set(request.buckets)
    reports = [r for r in found.reports if (not accounts or r.account in accounts)
               and (not buckets or r.name in buckets)]
    not_covered = [n for n in found.not_covered if (not accounts or n.account in accounts)
                   and (not buckets or n.bucket is None or n.bucket in buckets)]
    source_accounts = {s.account for s in found.sources}
    for account in request.accounts:
        if account not in source_accounts:
            not_covered.append(NotCovered(account, None, None, (
                f"the aggregator collects nothing from account {account}: add it (or its organisation) to the "
                "aggregator's sources")))
    if buckets:
        seen = {r.name for r in reports} | {n.bucket for n in not_covered if n.bucket}
        missing = [b for b in request.buckets if b not in seen]
        if not missing:  # every bucket asked for is accounted for: the other places do not matter here
            not_covered = [n for n in not_covered if n.bucket is not None]
        for bucket in missing:
            not_covered.append(NotCovered(None, None, bucket, (
                "AWS Config holds no record of it in the aggregator (no such bucket, or its account or region "
                "is not recorded, or the recorder excludes AWS::S3::Bucket)")))
    by_account: dict[str, AccountResult] = {}
    for report in reports:
        account = report.account or "?"
        by_account.setdefault(account, AccountResult(account)).reports.append(report)
    coverage = AggregatorCoverage(name, hours, sources=len(found.sources), pages=found.pages,
                                  not_covered=not_covered)
    return AuditResult("audit", [by_account[a] for a in sorted(by_account)], organization=True, aggregator=coverage)
