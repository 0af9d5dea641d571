"""Audit, and fix, the default encryption of buckets that already exist, through the S3 API.

Each bucket's GetBucketEncryption answer is judged by the policy pack's own checks (the same
code, names, levels, messages and `--policy-pack-config` semantics): the answer becomes the
configuration a program would have declared, attached to a deployed bucket, and goes through
`policies.checks` exactly as the pack's Analyze and AnalyzeStack would.
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


@dataclass(frozen=True)
class Finding:
    """One policy violation of a live bucket."""

    policy: str
    level: str
    message: str


@dataclass
class BucketReport:
    """One bucket: what S3 says, the verdict, and what --fix did."""

    name: str
    region: str | None = None
    rules: list[dict[str, Any]] | None = None  # S3's Rules; None: no default encryption configured
    error: str | None = None
    findings: list[Finding] = field(default_factory=list)
    fix: dict[str, Any] | None = None  # {"before", "after"} or {"skipped": reason}

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


def judge(bucket: str, api_rules: Sequence[Mapping[str, Any]] | None, config: ResolvedConfig) -> list[Finding]:
    """The pack's verdict on a live bucket whose GetBucketEncryption returned `api_rules`."""
    bucket_resource = PlainResource(f"arn:aws:s3:::{bucket}", BUCKET, bucket, {"bucket": bucket, "id": bucket})
    resources = [bucket_resource]
    if api_rules is not None:
        props = {"bucket": bucket, "rules": to_pack_rules(api_rules)}
        resources.append(PlainResource(f"arn:aws:s3:::{bucket}#encryption", CONFIGURATION, bucket, props,
                                       inputs=props))
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


def desired_rules(setting: EncryptionSettings) -> list[dict[str, Any]]:
    """The PutBucketEncryption rules for a setting (the components' setting, in S3's words)."""
    default: dict[str, Any] = {"SSEAlgorithm": setting.sse_algorithm}
    if setting.kms_key_id is not None and setting.is_kms:
        default["KMSMasterKeyID"] = setting.kms_key_id
    rule: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": default,
                            "BucketKeyEnabled": setting.effective_bucket_key}
    if setting.block_sse_c:
        rule["BlockedEncryptionTypes"] = {"EncryptionType": [rules.SSE_C]}
    return [rule]


def customer_key_replaced(api_rules: Sequence[Mapping[str, Any]] | None, setting: EncryptionSettings) -> str | None:
    """The customer managed key the fix would stop using, if any (readers may lose access)."""
    for rule in api_rules or ():
        default = rule.get("ApplyServerSideEncryptionByDefault") or {}
        key = default.get("KMSMasterKeyID") if isinstance(default, Mapping) else None
        keeps_key = setting.kms_key_id is not None and isinstance(key, str) and rules.kms_key_matches(
            key, setting.kms_key_id)
        if isinstance(key, str) and key and not rules.is_aws_managed_key(key) and not keeps_key:
            return key
    return None


class S3Auditor:
    """Reads, judges and (with a setting) fixes buckets through one boto3 S3 client."""

    def __init__(self, client: Any, config: ResolvedConfig) -> None:
        self.client = client
        self.config = config

    def _error_code(self, error: Exception) -> str:
        response = getattr(error, "response", None)
        if isinstance(response, Mapping):
            return str(response.get("Error", {}).get("Code", type(error).__name__))
        return type(error).__name__

    def read(self, name: str) -> BucketReport:
        report = BucketReport(name)
        try:
            location = self.client.get_bucket_location(Bucket=name).get("LocationConstraint")
            report.region = location or "us-east-1"
            try:
                answer = self.client.get_bucket_encryption(Bucket=name)
                report.rules = list(answer.get("ServerSideEncryptionConfiguration", {}).get("Rules", []))
            except Exception as error:  # botocore's ClientError, classified by its code
                if self._error_code(error) != CONFIGURATION_NOT_FOUND:
                    raise
                report.rules = None
        except Exception as error:  # a bucket that fails is reported as such; the audit goes on
            report.error = f"{self._error_code(error)}: {error}"
            report.findings = [Finding("s3-bucket-encryption-declared", "mandatory",
                                       f"S3 bucket {name!r}: its encryption could not be read ({report.error}), "
                                       "so it cannot be verified.")]
            return report
        report.findings = judge(name, report.rules, self.config)
        return report

    def fix(self, report: BucketReport, setting: EncryptionSettings, force: bool) -> None:
        """PutBucketEncryption with `setting` on a bucket that fails a mandatory rule."""
        if report.error or not report.mandatory:
            return
        replaced = customer_key_replaced(report.rules, setting)
        if replaced and not force:
            report.fix = {"skipped": f"it uses customer managed key {replaced}, which the fix would replace "
                                     "(readers may lose access); rerun with --force to change it"}
            return
        before = report.rules
        try:
            self.client.put_bucket_encryption(
                Bucket=report.name, ServerSideEncryptionConfiguration={"Rules": desired_rules(setting)})
        except Exception as error:
            report.fix = {"skipped": f"PutBucketEncryption failed: {self._error_code(error)}: {error}"}
            return
        after = self.read(report.name)
        report.fix = {"before": before, "after": after.rules}
        report.rules, report.findings, report.error = after.rules, after.findings, after.error

    def list_buckets(self) -> list[str]:
        names: list[str] = []
        if self.client.can_paginate("list_buckets"):
            for page in self.client.get_paginator("list_buckets").paginate():
                names.extend(b["Name"] for b in page.get("Buckets", []))
        else:
            names.extend(b["Name"] for b in self.client.list_buckets().get("Buckets", []))
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
