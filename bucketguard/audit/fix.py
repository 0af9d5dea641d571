"""Audit, and fix, the default encryption of buckets that already exist, through the S3 API.

Each bucket's GetBucketEncryption answer is judged by the policy pack's own checks (the same
code, names, levels, messages and `--policy-pack-config` semantics): the answer becomes the
configuration a program would have declared, attached to a deployed bucket, and goes through
`bucketguard.policies.checks` exactly as the pack's Analyze and AnalyzeStack would.

Data safety: every call for a bucket names the account the audit expects to own it
(ExpectedBucketOwner), a fix never lowers encryption without `--force`, never points a bucket at a
key of another region or account, and counts as done only once S3 is read back and judged passing.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bucketguard import rules
from bucketguard.policies.catalog import PACK_NAME, POLICIES
from bucketguard.policies.model import BUCKET, CONFIGURATION, PlainResource, build_stack_view
from bucketguard.policy_config import PolicyDescription, ResolvedConfig, resolve_policy_config
from bucketguard.settings import EncryptionSettings

CONFIGURATION_NOT_FOUND = "ServerSideEncryptionConfigurationNotFoundError"
IMPORT_TYPE = CONFIGURATION
COMPONENT_TYPE = "bucketguard:index:BucketEncryption"
# ListBuckets page size: the API's maximum. Without MaxBuckets, ListBuckets fails for accounts with
# more than 10,000 buckets (S3 API reference, ListBuckets).
LIST_BUCKETS_PAGE = 10_000
_ALGORITHM_RANK = {rules.SSE_S3: 1, rules.SSE_KMS: 2, rules.DSSE_KMS: 3}
_ALGORITHM_NAME = {rules.SSE_S3: "SSE-S3 (AES256)", rules.SSE_KMS: "SSE-KMS (aws:kms)",
                   rules.DSSE_KMS: "DSSE-KMS (aws:kms:dsse)"}


@dataclass(frozen=True)
class Finding:
    """One policy violation of a live bucket."""

    policy: str
    level: str
    message: str


@dataclass
class BucketReport:
    """One bucket: what S3 says, the verdict, and what a fix did or would do."""

    name: str
    account: str | None = None
    region: str | None = None
    rules: list[dict[str, Any]] | None = None  # S3's Rules; None: no default encryption configured
    error: str | None = None
    findings: list[Finding] = field(default_factory=list)
    # {"status": "fixed" | "still-failing" | "refused" | "failed" | "planned", "reason", "before", "after", ...}
    fix: dict[str, Any] | None = None

    @property
    def mandatory(self) -> bool:
        return any(f.level in ("mandatory", "remediate") for f in self.findings)

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


def audit_policy_config(user_config: Mapping[str, Any] | None, source: str) -> ResolvedConfig:
    """bucketguard's policies configured as the engine would configure the pack."""
    described = [PolicyDescription(s.name, s.level, s.config_schema) for s in POLICIES]
    return resolve_policy_config(described, user_config, source, PACK_NAME)


def to_pack_rules(api_rules: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """S3's PascalCase rules in the shape the pack reads (camelCase, as Pulumi sends them)."""
    converted = []
    for rule in api_rules:
        default = rule.get("ApplyServerSideEncryptionByDefault")
        item: dict[str, Any] = {}
        if isinstance(default, Mapping):
            item["applyServerSideEncryptionByDefault"] = {
                k: v for k, v in (("sseAlgorithm", default.get("SSEAlgorithm")),
                                  ("kmsMasterKeyId", default.get("KMSMasterKeyID"))) if v is not None
            }
        if "BucketKeyEnabled" in rule:
            item["bucketKeyEnabled"] = rule["BucketKeyEnabled"]
        blocked = rule.get("BlockedEncryptionTypes")
        if isinstance(blocked, Mapping):
            item["blockedEncryptionTypes"] = list(blocked.get("EncryptionType") or [])
        converted.append(item)
    return converted


def judge(bucket: str, api_rules: Sequence[Mapping[str, Any]] | None, config: ResolvedConfig,
          account: str | None = None, region: str | None = None) -> list[Finding]:
    """The pack's verdict on a live bucket whose GetBucketEncryption returned `api_rules`.

    `account` and `region` are where the bucket lives, which the pack reads from a provider's
    `allowedAccountIds` and `region`: bare key ids and alias names resolve there.
    """
    provider = {"region": region, "allowedAccountIds": [account] if account else None}
    bucket_resource = PlainResource(f"arn:aws:s3:::{bucket}", BUCKET, bucket, {"bucket": bucket, "id": bucket},
                                    provider=provider)
    resources = [bucket_resource]
    if api_rules is not None:
        props = {"bucket": bucket, "rules": to_pack_rules(api_rules)}
        resources.append(PlainResource(f"arn:aws:s3:::{bucket}#encryption", CONFIGURATION, bucket, props,
                                       inputs=props, provider=provider))
    view = build_stack_view(resources)
    findings: list[Finding] = []
    for spec in POLICIES:
        level, props = config[spec.name]
        if level == "disabled":
            continue
        messages: list[str] = []
        if spec.resource_check is not None:
            for resource in resources:
                messages.extend(spec.resource_check(resource, props))
        if spec.stack_check is not None:
            messages.extend(f.message for f in spec.stack_check(view, props))
        findings.extend(Finding(spec.name, level, f"{spec.description}\n{m}") for m in messages)
    return findings


def mandatory_findings(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.level in ("mandatory", "remediate")]


def desired_rules(setting: EncryptionSettings) -> list[dict[str, Any]]:
    """The PutBucketEncryption rules for a setting (the components' setting, in S3's words)."""
    default: dict[str, Any] = {"SSEAlgorithm": setting.sse_algorithm}
    if setting.kms_key_id is not None and setting.is_kms:
        default["KMSMasterKeyID"] = setting.kms_key_id
    return [_rule(default, setting.effective_bucket_key, [rules.SSE_C] if setting.block_sse_c else [])]


def setting_problems(setting: EncryptionSettings, config: ResolvedConfig) -> list[Finding]:
    """The mandatory findings the fix setting itself would get, judged like any bucket of the account and
    region its key ARN names (buckets anywhere else never get that key); a bare key has no context."""
    ref = rules.parse_kms_key(setting.kms_key_id) if setting.is_kms else None
    account, region = (ref.account, ref.region) if ref is not None else (None, None)
    return mandatory_findings(judge("fix-setting", desired_rules(setting), config, account, region))


# --- What a rule holds, and whether a change lowers it ------------------------------------------------


def _rule(default: Mapping[str, Any], bucket_key: bool, blocked: Sequence[str]) -> dict[str, Any]:
    rule: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": dict(default),
                            "BucketKeyEnabled": bool(bucket_key) and rules.bucket_key_applies(default.get("SSEAlgorithm"))}
    if blocked:
        rule["BlockedEncryptionTypes"] = {"EncryptionType": list(blocked)}
    return rule


def _default_of(api_rules: Sequence[Mapping[str, Any]] | None) -> Mapping[str, Any] | None:
    for rule in api_rules or ():
        default = rule.get("ApplyServerSideEncryptionByDefault")
        if isinstance(default, Mapping) and isinstance(default.get("SSEAlgorithm"), str):
            return default
    return None


def _bucket_key_of(api_rules: Sequence[Mapping[str, Any]] | None) -> bool:
    return any(rule.get("BucketKeyEnabled") is True for rule in api_rules or ())


def _blocked_of(api_rules: Sequence[Mapping[str, Any]] | None) -> list[str]:
    blocked: list[str] = []
    for rule in api_rules or ():
        types = rule.get("BlockedEncryptionTypes")
        if isinstance(types, Mapping):
            blocked.extend(t for t in types.get("EncryptionType") or [] if isinstance(t, str) and t not in blocked)
    return blocked


def customer_key_of(default: Mapping[str, Any] | None) -> str | None:
    """The customer managed key a default uses; None for SSE-S3 and the AWS managed key (implicit or named)."""
    if default is None or default.get("SSEAlgorithm") not in rules.KMS_ALGORITHMS:
        return None
    key = default.get("KMSMasterKeyID")
    if not isinstance(key, str) or not key or rules.is_aws_managed_key(key):
        return None
    return key


def same_key(value: str, other: str, *, account: str, region: str, partition: str) -> bool:
    """Whether two key identifiers certainly name the same key for a bucket of `account` in `region`."""
    return rules.kms_key_matches(value, other, account=account, region=region, partition=partition)


def misplaced_key(key: str | None, *, account: str, region: str, partition: str) -> str | None:
    """Why S3 could not use `key` for a bucket of `account` in `region` (KMS keys are regional and S3
    does not check the key at PutBucketEncryption, so every upload relying on it would fail)."""
    ref = rules.parse_kms_key(key)
    if ref is None or not ref.is_arn:
        return None  # no key, or a bare id or alias name: S3 resolves it in the bucket's account and region
    key_partition, key_region, key_account = ref.partition, ref.region, ref.account
    if key_region != region or key_partition != partition:
        return (f"KMS key {key} is in region {key_region}, the bucket in {region}; KMS keys are regional and "
                "S3 does not check the key when it is set, so every upload using default encryption would fail. "
                f"Pass a key of {region} (--kms-key-id).")
    if key_account != account:
        return (f"KMS key {key} belongs to account {key_account}, the bucket to {account}; pass a key of the "
                "bucket's account (--kms-key-id).")
    return None


def lowerings(before: Sequence[Mapping[str, Any]] | None, after: Sequence[Mapping[str, Any]], *,
              account: str, region: str, partition: str) -> list[str]:
    """How `after` would be weaker than `before`: each a phrase; empty when nothing is lowered."""
    old, new = _default_of(before), _default_of(after)
    if old is None:
        return []
    if new is None:
        return ["removes default encryption"]
    found = []
    old_algorithm, new_algorithm = old["SSEAlgorithm"], new["SSEAlgorithm"]
    if _ALGORITHM_RANK.get(new_algorithm, 0) < _ALGORITHM_RANK.get(old_algorithm, 0):
        found.append(f"{_ALGORITHM_NAME[old_algorithm]} down to {_ALGORITHM_NAME.get(new_algorithm, new_algorithm)}")
    old_key, new_key = customer_key_of(old), customer_key_of(new)
    if old_key and new_key is None and new_algorithm in rules.KMS_ALGORITHMS:
        found.append(f"customer managed key {old_key} down to the AWS managed key aws/s3")
    if _bucket_key_of(before) and not _bucket_key_of(after) and new_algorithm == rules.SSE_KMS:
        found.append("drops the S3 Bucket Key")
    dropped = [t for t in _blocked_of(before) if t not in _blocked_of(after)]
    if dropped:
        found.append(f"stops blocking {', '.join(dropped)}")
    return found


def describe_rules(api_rules: Sequence[Mapping[str, Any]] | None) -> str:
    """One line for what a bucket's encryption is, as users read it."""
    default = _default_of(api_rules)
    if default is None:
        return "no default encryption"
    algorithm = default["SSEAlgorithm"]
    parts = [str(algorithm)]
    if algorithm in rules.KMS_ALGORITHMS:
        parts.append(f"key {default.get('KMSMasterKeyID') or 'aws/s3 (implicit)'}")
    if _bucket_key_of(api_rules):
        parts.append("Bucket Key")
    blocked = _blocked_of(api_rules)
    if blocked:
        parts.append(f"blocks {', '.join(blocked)}")
    return ", ".join(parts)


# --- Planning a fix --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FixPlan:
    """What a fix would write to one bucket, or why it must not."""

    after: list[dict[str, Any]] | None
    reason: str  # the failing policies it fixes, or why it is refused
    lowers: tuple[str, ...] = ()

    @property
    def refused(self) -> bool:
        return self.after is None


def plan_fix(report: BucketReport, setting: EncryptionSettings, config: ResolvedConfig, identity: Identity,
             force: bool) -> FixPlan:
    """The least change that makes a failing bucket pass: keep what passes, fix what fails.

    Candidates, in order: the bucket's own algorithm and key; its algorithm with the setting's key;
    the setting. Each keeps the bucket's Bucket Key and blocked types (and blocks SSE-C when the
    setting does), and is judged with the same checks; the first that passes is the plan.
    """
    account = report.account or identity.account
    region = report.region or "us-east-1"
    place = {"account": account, "region": region, "partition": identity.partition}
    failing = sorted({f.policy for f in mandatory_findings(report.findings)})
    old = _default_of(report.rules)
    bucket_key = _bucket_key_of(report.rules) or setting.effective_bucket_key
    blocked = _blocked_of(report.rules)
    if setting.block_sse_c and rules.SSE_C not in blocked:
        blocked.append(rules.SSE_C)
    wanted = desired_rules(setting)[0]["ApplyServerSideEncryptionByDefault"]
    candidates: list[Mapping[str, Any]] = []
    if old is not None:
        candidates.append(old)
        if old["SSEAlgorithm"] in rules.KMS_ALGORITHMS and setting.is_kms:
            candidates.append({k: v for k, v in {**wanted, "SSEAlgorithm": old["SSEAlgorithm"]}.items()})
    candidates.append(wanted)
    misplaced: str | None = None
    chosen: list[dict[str, Any]] | None = None
    for default in candidates:
        problem = misplaced_key(default.get("KMSMasterKeyID"), **place) if default is not old else None
        if problem:
            misplaced = misplaced or problem
            continue
        after = [_rule(default, bucket_key, blocked)]
        if not mandatory_findings(judge(report.name, after, config, account, region)):
            chosen = after
            break
    if chosen is None:
        return FixPlan(None, f"not fixable with this setting: {misplaced}" if misplaced else
                       "no change within the fix setting passes the mandatory policies")
    lowered = tuple(lowerings(report.rules, chosen, **place))
    if lowered and not force:
        return FixPlan(None, f"the fix would lower encryption ({'; '.join(lowered)}); rerun with --force to "
                       "accept that", lowered)
    old_key, new_key = customer_key_of(old), customer_key_of(_default_of(chosen))
    if old_key and not force and not (new_key and same_key(new_key, old_key, **place)):
        return FixPlan(None, f"it uses customer managed key {old_key}, which the fix would replace "
                       "(readers may lose access); rerun with --force to change it")
    return FixPlan(chosen, f"fails {', '.join(failing)}", lowered)


# --- Reading and writing through S3 -------------------------------------------------------------------


def error_code(error: Exception) -> str:
    """botocore's ClientError code, else the exception's class name."""
    response = getattr(error, "response", None)
    if isinstance(response, Mapping):
        return str(response.get("Error", {}).get("Code", type(error).__name__))
    return type(error).__name__


def aws_client(session: Any, service: str, endpoint_url: str | None, workers: int = 1) -> Any:
    """A client for `workers` threads at once that retries throttling (S3's SlowDown, STS's and
    Organizations' TooManyRequests) with backoff: botocore's adaptive retry mode."""
    from botocore.config import Config

    config = Config(retries={"max_attempts": 10, "mode": "adaptive"}, max_pool_connections=max(workers, 10))
    return session.client(service, endpoint_url=endpoint_url, config=config)


def s3_client(session: Any, endpoint_url: str | None, workers: int) -> Any:
    return aws_client(session, "s3", endpoint_url, workers)


class S3Auditor:
    """Reads, judges and fixes the buckets of one account through one boto3 S3 client.

    Every bucket call passes ExpectedBucketOwner: S3 answers 403 for a bucket of any other account,
    so a name that resolves elsewhere is reported, never read or written.
    """

    def __init__(self, client: Any, config: ResolvedConfig, identity: Identity) -> None:
        self.client = client
        self.config = config
        self.identity = identity

    def read(self, name: str) -> BucketReport:
        report = BucketReport(name, account=self.identity.account)
        owner = self.identity.account
        try:
            location = self.client.get_bucket_location(Bucket=name, ExpectedBucketOwner=owner).get("LocationConstraint")
            report.region = location or "us-east-1"
            try:
                answer = self.client.get_bucket_encryption(Bucket=name, ExpectedBucketOwner=owner)
                report.rules = list(answer.get("ServerSideEncryptionConfiguration", {}).get("Rules", []))
            except Exception as error:  # botocore's ClientError, classified by its code
                if error_code(error) != CONFIGURATION_NOT_FOUND:
                    raise
                report.rules = None
        except Exception as error:  # a bucket that fails is reported as such; the audit goes on
            code = error_code(error)
            report.error = f"{code}: {error}"
            hint = (f" (S3 also answers this for a bucket that account {owner} does not own: it is "
                    "neither read nor written)") if code == "AccessDenied" else ""
            report.findings = [Finding("s3-bucket-encryption-declared", "mandatory",
                                       f"S3 bucket {name!r}: its encryption could not be read ({report.error}), "
                                       f"so it cannot be verified{hint}.")]
            return report
        report.findings = judge(name, report.rules, self.config, owner, report.region)
        return report

    def write(self, report: BucketReport, after: list[dict[str, Any]]) -> None:
        """PutBucketEncryption, then read back and judge: only a bucket that now passes counts as fixed."""
        before = report.rules
        try:
            self.client.put_bucket_encryption(Bucket=report.name, ExpectedBucketOwner=self.identity.account,
                                              ServerSideEncryptionConfiguration={"Rules": after})
        except Exception as error:
            report.fix = {"status": "failed", "before": before, "after": after,
                          "reason": f"PutBucketEncryption failed: {error_code(error)}: {error}"}
            return
        now = self.read(report.name)
        report.rules, report.findings, report.error = now.rules, now.findings, now.error
        if now.error is None and not now.mandatory:
            report.fix = {"status": "fixed", "before": before, "after": now.rules}
            return
        problems = "; ".join(f.policy for f in mandatory_findings(now.findings)) or now.error
        report.fix = {"status": "still-failing", "before": before, "written": after, "after": now.rules,
                      "reason": f"S3 accepted the write but the bucket still fails ({problems}); S3 now holds: "
                                f"{describe_rules(now.rules)}"}

    def fix(self, report: BucketReport, setting: EncryptionSettings, force: bool) -> None:
        """Plan and write the fix of a bucket failing a mandatory rule; refusals are recorded, not written."""
        if report.error or not report.mandatory:
            return
        plan = plan_fix(report, setting, self.config, self.identity, force)
        if plan.after is None:
            report.fix = {"status": "refused", "reason": plan.reason, "lowers": list(plan.lowers)}
            return
        self.write(report, plan.after)
        if plan.lowers and report.fix is not None:
            report.fix["lowers"] = list(plan.lowers)

    def list_buckets(self) -> list[str]:
        names: list[str] = []
        pages = self.client.get_paginator("list_buckets").paginate(PaginationConfig={"PageSize": LIST_BUCKETS_PAGE})
        for page in pages:
            names.extend(b["Name"] for b in page.get("Buckets", []))
        return names


def audit(auditor: S3Auditor, names: Iterable[str], *, workers: int = 16,
          progress: Callable[[int, int], None] | None = None) -> list[BucketReport]:
    """Read and judge buckets concurrently with a bounded pool; reports in the order given."""
    names = list(names)
    done = 0
    lock = threading.Lock()

    def read(name: str) -> BucketReport:
        nonlocal done
        report = auditor.read(name)
        with lock:
            done += 1
            if progress:
                progress(done, len(names))
        return report

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(read, names))


def matches_stack(report: BucketReport, setting: EncryptionSettings, identity: Identity) -> str | None:
    """Why the stack's declaration (`setting`) would change what S3 holds now; None when it would not.

    Importing a bucket the stack would change hands it to `pulumi up` with none of the audit's guards.
    """
    if report.error or report.mandatory:
        return "it still fails a mandatory policy"
    declared = desired_rules(setting)
    place = {"account": report.account or identity.account, "region": report.region or "us-east-1",
             "partition": identity.partition}
    held, wanted = _default_of(report.rules), declared[0]["ApplyServerSideEncryptionByDefault"]
    if held is None or held["SSEAlgorithm"] != wanted["SSEAlgorithm"]:
        return f"it holds {describe_rules(report.rules)}, the stack declares {describe_rules(declared)}"
    held_key, wanted_key = customer_key_of(held), customer_key_of(wanted)
    if (held_key is None) != (wanted_key is None) or (
            held_key and wanted_key and not same_key(held_key, wanted_key, **place)):
        return f"it uses key {held.get('KMSMasterKeyID') or 'aws/s3'}, the stack declares {describe_rules(declared)}"
    lowered = lowerings(report.rules, declared, **place)
    if lowered:
        return f"the stack's declaration would lower it ({'; '.join(lowered)})"
    return None


def import_file(reports: Iterable[BucketReport]) -> dict[str, Any]:
    """A `pulumi import --file` document bringing each bucket's encryption under a BucketEncryption
    component named as the stack program names it (`attach-<bucket>`, child `attach-<bucket>-encryption`)."""
    resources: list[dict[str, Any]] = []
    for report in reports:
        component = f"attach-{report.name}"
        resources.append({"type": COMPONENT_TYPE, "name": component, "component": True})
        resources.append({"type": IMPORT_TYPE, "name": f"{component}-encryption", "id": report.name,
                          "parent": component})
    return {"resources": resources}


class ProgressLine:
    """A one-line progress bar on stderr, for terminals only."""

    def __init__(self, stream: Any = sys.stderr) -> None:
        self.stream = stream

    def __call__(self, done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        self.stream.write(f"\raudit [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done == total:
            self.stream.write("\n")
        self.stream.flush()
