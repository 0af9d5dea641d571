"""The plan → apply → verify stages for one bucket, and the fix setting they work from.

Data safety: a fix never lowers encryption without `force`, never points a bucket at a key of another
region or account, and counts as done only once S3 is read back and judged passing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bucketguard import rules
from bucketguard.audit.aws import error_code
from bucketguard.audit.encryption import describe_rules, desired_rules
from bucketguard.audit.judge import AccountAuditor, KeyCheck, judge, mandatory_findings, setting_problems
from bucketguard.audit.models import AuditRequest, BucketReport, Identity
from bucketguard.audit.plan import PlannedChange
from bucketguard.audit.stack_import import load_stack
from bucketguard.inputs import Broken
from bucketguard.policy_config import ResolvedConfig
from bucketguard.settings import EncryptionSettings, SettingsError, validate_encryption


def stack_defaults(project_dir: Path, stack: str) -> dict[str, Any]:
    """The stack's `bucketguard:defaults`, of the shape the stack program takes (its model), or Broken in
    one line naming the stack file, the field, the bad value and the fix."""
    project = load_stack(project_dir, stack)
    where = project.stack_file or project.folder / "Pulumi.yaml"
    defaults = project.config.get("bucketguard:defaults")
    if defaults is None:
        return {}
    if not isinstance(defaults, dict):
        raise Broken(f"{where}: bucketguard:defaults: {defaults!r} must be an object of encryption settings, "
                     "e.g. `bucketguard:defaults: {sseAlgorithm: aws:kms, useAwsManagedKey: true}`")
    try:
        validate_encryption(f"{where}: bucketguard:defaults", defaults)
    except SettingsError as error:
        problems = [line.strip() for line in str(error).splitlines()[1:]]
        raise Broken("; ".join(problems) + "; fix it in the stack file (nothing was read or written)") from None
    return defaults


def fix_setting(request: AuditRequest, config: ResolvedConfig) -> EncryptionSettings:
    """The project's `bucketguard:defaults` with the flags on top, validated by the components' model and
    judged by the same policies as the buckets: a setting that would still fail stops the audit (exit 2)."""
    values: dict[str, Any] = {}
    if (request.project_dir / "Pulumi.yaml").exists():
        values.update(stack_defaults(request.project_dir, request.stack))
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
    replaces: tuple[str, ...] = ()
    key_checks: tuple[KeyCheck, ...] = ()

    @property
    def refused(self) -> bool:
        return self.after is None

    def record(self, status: str, before: list[dict[str, Any]] | None) -> dict[str, Any]:
        """The report's `fix` entry for this plan."""
        entry: dict[str, Any] = {"status": status, "reason": self.reason, "lowers": list(self.lowers)}
        if self.replaces:
            entry["replaces"] = list(self.replaces)
        if self.after is not None:
            entry.update(before=before, after=self.after)
        if self.key_checks:
            entry["keyChecks"] = [{"key": c.key, "status": c.status, "detail": c.detail} for c in self.key_checks]
        return entry


KeyChecker = Callable[[str, str], "KeyCheck | None"]  # (key, region) -> the check, None: not checked at all


def _checked(keys: KeyChecker | None, region: str, found: dict[str, KeyCheck]) -> Callable[[str], str | None]:
    """A `key_problem` for `rules.choose_fix`: why DescribeKey refuses a key (recording every check)."""
    def problem(key: str) -> str | None:
        check = keys(key, region) if keys is not None else None
        if check is None:
            return None
        found[key] = check
        return f"KMS key {key}: {check.detail}" if check.refuses else None
    return problem


def plan_fix(report: BucketReport, setting: EncryptionSettings, config: ResolvedConfig, identity: Identity,
             force: bool, keys: KeyChecker | None = None) -> FixPlan:
    """The least change that makes a failing bucket pass: keep what passes, fix what fails.

    Candidates (`rules.fix_candidates`), in order: each of the bucket's rules' own algorithm and key,
    strongest first; each KMS rule's algorithm with the setting's key; the setting. A candidate whose key
    S3 cannot use where the bucket is (another region, another account's alias) or that DescribeKey
    (`keys`) refuses is skipped; the first that passes the mandatory policies is the plan. What it does
    is judged over every rule the bucket holds: lowering the strongest, replacing any customer managed
    key, or replacing an algorithm bucketguard does not know needs `force`.
    """
    account = report.account or identity.account
    region = report.region or "us-east-1"
    failing = sorted({f.policy for f in mandatory_findings(report.findings)})
    wanted = desired_rules(setting)[0]["ApplyServerSideEncryptionByDefault"]
    found: dict[str, KeyCheck] = {}
    choice = rules.choose_fix(
        report.rules, wanted["SSEAlgorithm"], wanted.get("KMSMasterKeyID"), bucket_key=setting.effective_bucket_key,
        block_sse_c=setting.block_sse_c,
        passes=lambda after: not mandatory_findings(judge(report.name, after, config, account, region)),
        account=account, region=region, partition=identity.partition, key_problem=_checked(keys, region, found))
    if choice.after is None:
        return FixPlan(None, choice.refusal or "no change passes")
    effects = choice.effects
    if effects.needs_force and not force:
        return FixPlan(None, f"{effects.force_reason()}; rerun with --force to accept that", effects.lowers,
                       effects.replaces)
    checks = tuple(found[k] for k in rules.holding_of(choice.after).keys if k in found)
    return FixPlan(choice.after, f"fails {', '.join(failing)}", effects.lowers, effects.replaces, checks)


def written_differences(written: Sequence[Mapping[str, Any]], held: Sequence[Mapping[str, Any]] | None, *,
                        identity: Identity, region: str | None) -> list[str]:
    """How what S3 holds differs from what was written (`rules.holding_differences`), for a bucket of
    `identity`'s account in `region`."""
    return rules.holding_differences(rules.holding_of(written), rules.holding_of(held), account=identity.account,
                                     region=region, partition=identity.partition)


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
    if not written_differences(after, now.rules, identity=auditor.identity, region=now.region):
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
    differences = (written_differences(after, now.rules, identity=auditor.identity, region=now.region)
                   if now.error is None else [])
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
    plan = plan_fix(report, setting, auditor.config, auditor.identity, force, auditor.check_key)
    if plan.after is None:
        report.fix = plan.record("refused", report.rules)
        return
    write(auditor, report, plan.after)
    if report.fix is not None:
        report.fix.update({k: v for k, v in plan.record("", None).items() if k in ("lowers", "replaces", "keyChecks")
                           and v})


def plan_changes(reports: list[BucketReport], setting: EncryptionSettings, config: ResolvedConfig, partition: str,
                 force: bool, keys: Callable[[str], KeyChecker | None] | None = None) -> list[PlannedChange]:
    """The plan stage, for review: the fix of every failing bucket; refusals are recorded on the reports,
    not planned. `keys(account)`: DescribeKey from that account, where the audit can."""
    changes = []
    for report in reports:
        if report.error or not report.mandatory or report.account is None:
            continue
        fix = plan_fix(report, setting, config, Identity(report.account, partition), force,
                       keys(report.account) if keys is not None else None)
        if fix.after is None:
            report.fix = fix.record("refused", report.rules)
            continue
        report.fix = fix.record("planned", report.rules)
        changes.append(PlannedChange(account=report.account, bucket=report.name, region=report.region or "us-east-1",
                                     before=report.rules, after=fix.after, reason=fix.reason, lowers=list(fix.lowers),
                                     replaces=list(fix.replaces),
                                     keyChecks=[c.text() for c in fix.key_checks]))
    return changes


def apply_change(auditor: AccountAuditor, change: PlannedChange, force: bool = False,
                 journalled: Sequence[Mapping[str, Any]] | None = None) -> BucketReport:
    """Re-read the bucket; write the planned change only if it still holds what the plan saw and the change
    passes every check a fix gets (`_unsafe`), then verify. A bucket already holding exactly the planned
    encryption, and passing, is left alone and said to be so: a plan applied twice, or applied by other
    means; `journalled` is what an earlier run of this plan wrote to it (its journal), for the wording."""
    report = auditor.inspect(change.bucket)
    if report.error:
        report.fix = {"status": "skipped", "reason": f"cannot re-read it ({report.error}); nothing written"}
        return report
    region = report.region or change.region
    place = {"account": auditor.identity.account, "region": region, "partition": auditor.identity.partition}
    planned, held = rules.holding_of(change.after), rules.holding_of(report.rules)
    if not report.mandatory and not rules.holding_differences(planned, held, **place):
        ours = journalled is not None and not written_differences(change.after, journalled,
                                                                  identity=auditor.identity, region=region)
        how = ("an earlier run of this plan wrote it (see its journal)" if ours else
               "it already holds the planned encryption (the plan was applied before, or by other means)")
        report.fix = {"status": "already-applied", "before": change.before, "after": report.rules,
                      "reason": f"{how}: {describe_rules(report.rules)}; nothing written"}
        return report
    if report.rules != change.before:
        report.fix = {"status": "skipped",
                      "reason": f"its encryption changed since the plan (planned from {describe_rules(change.before)}, "
                                f"now {describe_rules(report.rules)}); nothing written: plan again"}
        return report
    refusal, checks = _unsafe(auditor, change, report, force)
    if refusal:
        report.fix = {"status": "skipped", "reason": f"{refusal}; nothing written"}
        return report
    write(auditor, report, change.after)
    if report.fix is not None:
        effects = rules.write_effects(held, planned, **place)
        if effects.lowers:
            report.fix["lowers"] = list(effects.lowers)
        if effects.replaces:
            report.fix["replaces"] = list(effects.replaces)
        if checks:
            report.fix["keyChecks"] = [{"key": c.key, "status": c.status, "detail": c.detail} for c in checks]
    return report


def _unsafe(auditor: AccountAuditor, change: PlannedChange, report: BucketReport,
            force: bool) -> tuple[str | None, list[KeyCheck]]:
    """Why a planned change must not be written after all, and the key checks made: a plan is a file anyone
    may have edited, so what its `after` does is derived again from what the bucket holds now, with every
    check a fix gets: the bucket must fail a mandatory policy, the change must pass them, its keys must be
    usable where the bucket is, and lowering or replacing a customer managed key needs --force given to
    this apply (nothing in the plan grants it)."""
    region = report.region or change.region
    place = {"account": auditor.identity.account, "region": region, "partition": auditor.identity.partition}
    if not report.mandatory:
        return ("it passes the mandatory policies (a plan only changes failing buckets; this one was edited or "
                "planned with another policy pack config)"), []
    planned = rules.holding_of(change.after)
    if planned.unknown_algorithms or any(r.algorithm is None for r in planned.rules):
        return f"the planned encryption ({planned.describe()}) is not one bucketguard writes", []
    effects = rules.write_effects(rules.holding_of(report.rules), planned, **place)
    if effects.misplaced:
        return effects.misplaced[0], []
    failing = mandatory_findings(judge(change.bucket, change.after, auditor.config, place["account"], region))
    if failing:
        return f"the planned encryption would fail {', '.join(sorted({f.policy for f in failing}))}", []
    checks = [c for k in planned.keys if (c := auditor.check_key(k, region)) is not None]
    refused = next((c for c in checks if c.refuses), None)
    if refused is not None:
        return f"KMS key {refused.key}: {refused.detail}", checks
    if effects.needs_force and not force:
        return (f"{effects.force_reason()}; text in the plan grants nothing: apply with --force to accept that "
                "(what a change lowers is derived from the bucket, not read from the plan)"), checks
    return None, checks
