"""The plan → apply → verify stages for one bucket, and the fix setting they work from.

Data safety: a fix never lowers encryption without `force`, never points a bucket at a key of another
region or account, and counts as done only once S3 is read back and judged passing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bucketguard import rules
from bucketguard.audit.aws import error_code
from bucketguard.audit.encryption import (
    blocked_of,
    bucket_key_of,
    customer_key_of,
    default_of,
    describe_rules,
    desired_rules,
    lowerings,
    make_rule,
    misplaced_key,
    same_key,
)
from bucketguard.audit.judge import AccountAuditor, judge, mandatory_findings, setting_problems
from bucketguard.audit.models import AuditRequest, BucketReport, Identity
from bucketguard.audit.plan import PlannedChange
from bucketguard.inputs import Broken
from bucketguard.policy_config import ResolvedConfig
from bucketguard.pulumi_files.project import ProjectError, load_project
from bucketguard.settings import EncryptionSettings, SettingsError, validate_encryption


def fix_setting(request: AuditRequest, config: ResolvedConfig) -> EncryptionSettings:
    """The project's `bucketguard:defaults` with the flags on top, validated by the components' model and
    judged by the same policies as the buckets: a setting that would still fail stops the audit (exit 2)."""
    values: dict[str, Any] = {}
    if (request.project_dir / "Pulumi.yaml").exists():
        try:
            project = load_project(request.project_dir, request.stack, need_program=False)
            defaults = project.config.get("bucketguard:defaults") or {}
        except ProjectError as error:
            raise Broken(str(error)) from None
        if not isinstance(defaults, dict):
            raise Broken(f"{request.project_dir}: bucketguard:defaults must be an object")
        values.update(defaults)
    flags = {"sseAlgorithm": request.sse_algorithm, "kmsKeyId": request.kms_key_id,
             "useAwsManagedKey": request.use_aws_managed_key, "blockSseC": False if request.allow_sse_c else None}
    if request.sse_algorithm is not None and request.sse_algorithm != values.get("sseAlgorithm"):
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
    old = default_of(report.rules)
    bucket_key = bucket_key_of(report.rules) or setting.effective_bucket_key
    blocked = blocked_of(report.rules)
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
        after = [make_rule(default, bucket_key, blocked)]
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
    old_key, new_key = customer_key_of(old), customer_key_of(default_of(chosen))
    if old_key and not force and not (new_key and same_key(new_key, old_key, **place)):
        return FixPlan(None, f"it uses customer managed key {old_key}, which the fix would replace "
                       "(readers may lose access); rerun with --force to change it")
    return FixPlan(chosen, f"fails {', '.join(failing)}", lowered)


def written_differences(written: Sequence[Mapping[str, Any]], held: Sequence[Mapping[str, Any]] | None) -> list[str]:
    """How what S3 holds differs from what was written, field by field (algorithm, key, Bucket Key,
    blocked types); empty when S3 holds exactly what was written. S3 may accept a write and keep less
    of it (a region without SSE-C blocking keeps no BlockedEncryptionTypes), so a passing verdict alone
    does not show that the write took."""
    if held is None:
        return ["S3 holds no default encryption"]
    if len(held) != len(written):
        return [f"{len(written)} rule(s) written, S3 holds {len(held)}"]
    found: list[str] = []
    for wrote, has in zip(written, held, strict=True):
        for field, label in _RULE_FIELDS:
            want, got = field(wrote), field(has)
            if want != got:
                found.append(f"{label}: written {_shown(want)}, S3 holds {_shown(got)}")
    return found


def _default_field(name: str) -> Any:
    def read(rule: Mapping[str, Any]) -> Any:
        default = rule.get("ApplyServerSideEncryptionByDefault")
        return default.get(name) if isinstance(default, Mapping) else None
    return read


def _blocked_field(rule: Mapping[str, Any]) -> tuple[str, ...]:
    # ["NONE"] blocks nothing (S3 API reference, BlockedEncryptionTypes), as does no list.
    return tuple(sorted(t for t in blocked_of([rule]) if t != "NONE"))


_RULE_FIELDS: tuple[tuple[Callable[[Mapping[str, Any]], Any], str], ...] = (
    (_default_field("SSEAlgorithm"), "algorithm"),
    (_default_field("KMSMasterKeyID"), "key"),
    (lambda rule: rule.get("BucketKeyEnabled") is True, "Bucket Key"),
    (_blocked_field, "blocked encryption types"),
)


def _shown(value: Any) -> str:
    if value is None or value == ():
        return "none"
    if isinstance(value, tuple):
        return ", ".join(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def apply_rules(auditor: AccountAuditor, report: BucketReport, after: list[dict[str, Any]]) -> bool:
    """The apply stage: PutBucketEncryption. A write whose answer is an error may still have been
    applied (a 500 after applying, a dropped connection), so the bucket is re-read before the report
    says what it holds: written as asked (True: verify judges it), unchanged, something else, or unknown."""
    before = report.rules
    try:
        auditor.buckets.put_encryption(report.name, after)
    except Exception as error:
        failure = f"PutBucketEncryption failed: {error_code(error)}: {error}"
    else:
        return True
    now = auditor.inspect(report.name)
    if now.error is not None:
        report.fix = {"status": "unknown", "before": before, "written": after,
                      "reason": f"{failure}; re-reading the bucket failed too ({now.error}), so whether S3 applied "
                                "the write is unknown: audit it again"}
        return False
    if not written_differences(after, now.rules):
        report.fix = {"note": f"{failure}, but the bucket, read again, holds what was written"}
        return True
    report.rules, report.findings = now.rules, now.findings
    if now.rules == before:
        report.fix = {"status": "failed", "before": before, "after": after,
                      "reason": f"{failure}; read again, it still holds {describe_rules(now.rules)}"}
    else:
        report.fix = {"status": "not-as-written", "before": before, "written": after, "after": now.rules,
                      "reason": f"{failure}; read again, it holds neither what it held nor what was written: "
                                f"{describe_rules(now.rules)}"}
    return False


def verify(auditor: AccountAuditor, report: BucketReport, after: list[dict[str, Any]],
           before: list[dict[str, Any]] | None = None) -> None:
    """The verify stage: read the bucket back; only a bucket that holds what was written, field by field,
    and now passes counts as fixed."""
    before = report.rules if before is None else before
    note = (report.fix or {}).get("note")
    now = auditor.inspect(report.name)
    report.rules, report.findings, report.error = now.rules, now.findings, now.error
    differences = written_differences(after, now.rules) if now.error is None else []
    if now.error is None and not now.mandatory and not differences:
        report.fix = {"status": "fixed", "before": before, "after": now.rules}
    elif now.error is None and not now.mandatory:
        report.fix = {"status": "not-as-written", "before": before, "written": after, "after": now.rules,
                      "reason": f"S3 accepted the write but holds something else ({'; '.join(differences)}); "
                                f"S3 now holds: {describe_rules(now.rules)}"}
    else:
        problems = "; ".join(f.policy for f in mandatory_findings(now.findings)) or now.error
        unlike = f"; unlike what was written: {'; '.join(differences)}" if differences else ""
        report.fix = {"status": "still-failing", "before": before, "written": after, "after": now.rules,
                      "reason": f"S3 accepted the write but the bucket still fails ({problems}){unlike}; S3 now "
                                f"holds: {describe_rules(now.rules)}"}
    if note:
        report.fix["note"] = note


def write(auditor: AccountAuditor, report: BucketReport, after: list[dict[str, Any]]) -> None:
    """Apply, then verify."""
    before = report.rules
    if apply_rules(auditor, report, after):
        verify(auditor, report, after, before)


def fix_bucket(auditor: AccountAuditor, report: BucketReport, setting: EncryptionSettings, force: bool) -> None:
    """Plan → apply → verify for a bucket failing a mandatory rule; refusals are recorded, not written."""
    if report.error or not report.mandatory:
        return
    plan = plan_fix(report, setting, auditor.config, auditor.identity, force)
    if plan.after is None:
        report.fix = {"status": "refused", "reason": plan.reason, "lowers": list(plan.lowers)}
        return
    write(auditor, report, plan.after)
    if plan.lowers and report.fix is not None:
        report.fix["lowers"] = list(plan.lowers)


def plan_changes(reports: list[BucketReport], setting: EncryptionSettings, config: ResolvedConfig, partition: str,
                 force: bool) -> list[PlannedChange]:
    """The plan stage, for review: the fix of every failing bucket; refusals are recorded on the reports,
    not planned."""
    changes = []
    for report in reports:
        if report.error or not report.mandatory or report.account is None:
            continue
        fix = plan_fix(report, setting, config, Identity(report.account, partition), force)
        if fix.after is None:
            report.fix = {"status": "refused", "reason": fix.reason, "lowers": list(fix.lowers)}
            continue
        report.fix = {"status": "planned", "before": report.rules, "after": fix.after, "reason": fix.reason,
                      "lowers": list(fix.lowers)}
        changes.append(PlannedChange(account=report.account, bucket=report.name, region=report.region or "us-east-1",
                                     before=report.rules, after=fix.after, reason=fix.reason, lowers=list(fix.lowers)))
    return changes


def apply_change(auditor: AccountAuditor, change: PlannedChange) -> BucketReport:
    """Re-read the bucket; write the planned change only if it still holds what the plan saw, then verify."""
    report = auditor.inspect(change.bucket)
    if report.error:
        report.fix = {"status": "skipped", "reason": f"cannot re-read it ({report.error}); nothing written"}
        return report
    if report.rules != change.before:
        report.fix = {"status": "skipped",
                      "reason": f"its encryption changed since the plan (planned from {describe_rules(change.before)}, "
                                f"now {describe_rules(report.rules)}); nothing written: plan again"}
        return report
    refusal = _unsafe(auditor, change, report)
    if refusal:
        report.fix = {"status": "skipped", "reason": f"{refusal}; nothing written"}
        return report
    write(auditor, report, change.after)
    if change.lowers and report.fix is not None:
        report.fix["lowers"] = list(change.lowers)
    return report


def _unsafe(auditor: AccountAuditor, change: PlannedChange, report: BucketReport) -> str | None:
    """Why a planned change must not be written after all: a plan is a file anyone may have edited, so
    its `after` gets the same checks as a fix (policies, key placement, lowering only as recorded)."""
    place = {"account": auditor.identity.account, "region": report.region or change.region,
             "partition": auditor.identity.partition}
    default = (change.after[0].get("ApplyServerSideEncryptionByDefault") or {}) if change.after else {}
    misplaced = misplaced_key(default.get("KMSMasterKeyID"), **place)
    if misplaced:
        return misplaced
    failing = mandatory_findings(judge(change.bucket, change.after, auditor.config, place["account"], place["region"]))
    if failing:
        return f"the planned encryption would fail {', '.join(sorted({f.policy for f in failing}))}"
    unrecorded = [x for x in lowerings(change.before, change.after, **place) if x not in change.lowers]
    if unrecorded:
        return f"the planned encryption lowers it ({'; '.join(unrecorded)}) but the plan does not say so"
    return None
