"""The judge stage: a live bucket's encryption, as S3 returned it, judged by the policy pack's own checks.

The answer becomes the configuration a program would have declared, attached to a deployed bucket,
and goes through `bucketguard.policies.checks` exactly as the pack's Analyze and AnalyzeStack would:
same code, names, levels, messages and `--policy-pack-config` semantics.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bucketguard import rules
from bucketguard.audit.aws import BucketRead, KeyDescriber, S3Buckets, error_code
from bucketguard.audit.encryption import describe_rules, desired_rules
from bucketguard.audit.models import MANDATORY_LEVELS, BucketReport, Finding, Identity
from bucketguard.policies.catalog import PACK_NAME, POLICIES
from bucketguard.policies.model import BUCKET, CONFIGURATION, PlainResource
from bucketguard.policies.stack_view import build_stack_view
from bucketguard.policy_config import PolicyDescription, ResolvedConfig, resolve_policy_config
from bucketguard.settings import EncryptionSettings


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
    return [f for f in findings if f.level in MANDATORY_LEVELS]


# The pack's messages name a resource by its Pulumi type and end with the code that fixes it
# ("aws.s3.Bucket 'b': ...; declare it with bucketguard.EncryptedBucket ..."): a live bucket's finding
# names the bucket and the audit's fix instead.
_PACK_LABEL = re.compile(r"aws\.s3\.[A-Za-z]+ '[^']*': ")
_CODE_FIX = re.compile(r"; [^;]*(?:bucketguard\.|kms_key_id|sse_algorithm|bucket_key_enabled|"
                       r"bucketKeyEnabled: true|blockedEncryptionTypes: \[)[^;]*$")
_NOT_DECLARED = re.compile(r"declares no default encryption \([^)]*\)")


def bucket_place(name: str, account: str | None, region: str | None) -> str:
    """How a live bucket's findings name it: the bucket, its account and its region."""
    return f"S3 bucket {name!r} (account {account or 'unknown'}, region {region or 'unknown'})"


def live_findings(findings: Iterable[Finding], name: str, account: str | None, region: str | None,
                  api_rules: Sequence[Mapping[str, Any]] | None) -> list[Finding]:
    """The pack's findings worded for a live bucket: the bucket, its account and region, what it holds,
    and the audit's fix (the pack's verdict, policy and level are unchanged)."""
    place = bucket_place(name, account, region)
    holds = describe_rules(api_rules)
    fix = (f"Fix: `bucketguard audit --fix --bucket {name}` writes the fix setting (bucketguard:defaults, or "
           "--sse-algorithm / --kms-key-id / --use-aws-managed-key) after the same checks (in an organisation: "
           "`--plan`, review, `--apply`); or adopt it into a stack with bucketguard:attach and `--import-file`.")
    worded = []
    for finding in findings:
        description, _, text = finding.message.partition("\n")
        text = _CODE_FIX.sub("", _PACK_LABEL.sub("", text, count=1)).rstrip(".")
        text = _NOT_DECLARED.sub("has no default encryption (GetBucketEncryption: "
                                 "ServerSideEncryptionConfigurationNotFoundError)", text)
        worded.append(Finding(finding.policy, finding.level,
                              f"{description}\n{place}: {text}. It holds: {holds}. {fix}"))
    return worded


def judge_read(read: BucketRead, config: ResolvedConfig) -> BucketReport:
    """A bucket's report from what S3 answered: the pack's findings, or, for a bucket that could not be
    read, a mandatory finding saying its encryption is unverifiable."""
    report = BucketReport(read.name, account=read.account, region=read.region, rules=read.rules, error=read.error)
    if read.error is not None:
        hint = (f" (S3 also answers this for a bucket that account {read.account} does not own: it is "
                "neither read nor written)") if read.error_code == "AccessDenied" else ""
        report.findings = [Finding("s3-bucket-encryption-declared", "mandatory",
                                   f"{bucket_place(read.name, read.account, read.region)}: its encryption could "
                                   f"not be read ({report.error}), "
                                   f"so it cannot be verified{hint}.")]
        return report
    report.findings = live_findings(judge(read.name, read.rules, config, read.account, read.region), read.name,
                                    read.account, read.region, read.rules)
    return report


# KMS's answer when the caller's own IAM policies grant no kms:DescribeKey, as against a key policy or an
# explicit deny (IAM User Guide, "Troubleshoot access denied error messages": "... because no
# identity-based policy allows the <action> action").
_NO_IDENTITY_PERMISSION = "no identity-based policy allows"
KeyStatus = Literal["reachable", "not checked", "denied", "unusable"]


@dataclass(frozen=True)
class KeyCheck:
    """Whether a bucket's account can use a KMS key, as DescribeKey from that account tells: `reachable`
    (exists, Enabled, symmetric encryption key), `not checked` (no kms:DescribeKey, or DescribeKey failed),
    `denied` (the key's policy or a deny refuses the account) or `unusable` (no such key, not Enabled,
    not SYMMETRIC_DEFAULT). The last two are refused before any write: S3 does not check the key at
    PutBucketEncryption and only supports symmetric keys (S3 User Guide, "Using SSE-KMS")."""

    key: str
    status: KeyStatus
    detail: str = ""

    @property
    def refuses(self) -> bool:
        return self.status in ("denied", "unusable")

    def text(self) -> str:
        label = {"reachable": "key reachable", "not checked": "key not checked", "denied": "key denied",
                 "unusable": "key unusable"}[self.status]
        return f"{label} ({self.key}{': ' + self.detail if self.detail else ''})"


def key_check(keys: KeyDescriber | None, key: str, *, account: str, region: str) -> KeyCheck | None:
    """DescribeKey `key` from `account` in `region` and judge the answer; None for the AWS managed keys
    (AWS creates aws/s3 on its first use, so DescribeKey may not find it yet)."""
    if rules.is_aws_managed_key(key):
        return None
    if keys is None:
        return KeyCheck(key, "not checked", "no kms:DescribeKey")
    try:
        metadata = keys.describe(key, region)
    except Exception as error:  # botocore's ClientError, classified by its code
        code, message = error_code(error), str(error)
        if code == "NotFoundException":
            return KeyCheck(key, "unusable", f"no such key in account {account}, region {region} (DescribeKey: "
                            "NotFoundException); a key of another account must be given as its full key ARN")
        if code == "AccessDeniedException" and _NO_IDENTITY_PERMISSION in message:
            return KeyCheck(key, "not checked", "no kms:DescribeKey")
        if code in ("AccessDeniedException", "KMSInvalidStateException", "DisabledException"):
            return KeyCheck(key, "denied", f"DescribeKey from account {account} was refused ({code}); the key "
                            "policy must allow that account's principals to use the key (see the README's central "
                            "key section)")
        return KeyCheck(key, "not checked", f"DescribeKey failed: {code}")
    state, spec = metadata.get("KeyState"), metadata.get("KeySpec") or metadata.get("CustomerMasterKeySpec")
    if state != "Enabled":
        return KeyCheck(key, "unusable", f"the key is {state}, not Enabled (every upload would fail)")
    if spec != "SYMMETRIC_DEFAULT" or metadata.get("KeyUsage", "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT":
        return KeyCheck(key, "unusable", f"the key is {spec} for {metadata.get('KeyUsage')}; S3 only supports "
                        "symmetric encryption keys (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT)")
    return KeyCheck(key, "reachable")


@dataclass(frozen=True)
class AccountAuditor:
    """One account's buckets and the policies that judge them."""

    buckets: S3Buckets
    config: ResolvedConfig
    _key_checks: dict[tuple[str, str], KeyCheck | None] = field(default_factory=dict, compare=False, repr=False)

    @property
    def identity(self) -> Identity:
        return self.buckets.identity

    def inspect(self, name: str) -> BucketReport:
        """Read → judge, for one bucket."""
        return judge_read(self.buckets.read(name), self.config)

    def check_key(self, key: str, region: str) -> KeyCheck | None:
        """`key_check` from this account, once per key and region."""
        if (key, region) not in self._key_checks:
            self._key_checks[(key, region)] = key_check(self.buckets.keys, key, account=self.identity.account,
                                                        region=region)
        return self._key_checks[(key, region)]


def setting_problems(setting: EncryptionSettings, config: ResolvedConfig) -> list[Finding]:
    """The mandatory findings the fix setting itself would get, judged like any bucket of the account and
    region its key ARN names (buckets anywhere else never get that key); a bare key has no context."""
    ref = rules.parse_kms_key(setting.kms_key_id) if setting.is_kms else None
    account, region = (ref.account, ref.region) if ref is not None else (None, None)
    return mandatory_findings(judge("fix-setting", desired_rules(setting), config, account, region))
