"""A fix planned, reviewed, then applied: `audit --plan FILE` writes every change it would make,
`audit --apply FILE` makes exactly those changes, each only if the bucket still holds what the plan saw.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bucketguard.audit.encryption import describe_rules, lowerings, misplaced_key
from bucketguard.audit.fix import plan_fix, write
from bucketguard.audit.judge import AccountAuditor, judge, mandatory_findings
from bucketguard.audit.models import BucketReport, Identity
from bucketguard.inputs import Broken, read_json_file
from bucketguard.policy_config import ResolvedConfig
from bucketguard.settings import EncryptionSettings, describe_validation_error

PLAN_FORMAT = 1
# A plan describes buckets as they were; the older it is, the likelier they changed. Re-reading each
# bucket catches changes to its encryption, but not a review that no longer matches the estate.
DEFAULT_MAX_PLAN_AGE_HOURS = 24.0


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlannedChange(_Model):
    """One bucket's change: where, what it holds (as read when planning), what it will hold, and why."""

    account: str = Field(pattern=r"^\d{12}$")
    bucket: str = Field(min_length=3, max_length=63)
    region: str
    before: list[dict[str, Any]] | None
    after: list[dict[str, Any]] = Field(min_length=1)
    reason: str
    lowers: list[str] = Field(default_factory=list)


class Plan(_Model):
    """What `--plan` writes and `--apply` reads."""

    format: int = PLAN_FORMAT
    created_at: datetime = Field(alias="createdAt")
    tool_version: str = Field(alias="toolVersion")
    role_name: str | None = Field(alias="roleName")  # None: the single account of the credentials
    policy_pack_config: dict[str, Any] | None = Field(alias="policyPackConfig")
    changes: list[PlannedChange]

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), indent=2) + "\n"


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


def read_plan(path: Path, max_age_hours: float, now: datetime | None = None) -> Plan:
    """The plan in `path`, or Broken naming what is wrong with it (unreadable, malformed, too old)."""
    data = read_json_file(path, "plan file")
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
        raise Broken(f"{path}: not a bucketguard audit plan (format {PLAN_FORMAT}); write one with --plan")
    try:
        plan = Plan.model_validate(data)
    except ValidationError as error:
        raise Broken(str(describe_validation_error(f"{path}:", error))) from None
    now = now or datetime.now(UTC)
    created = plan.created_at if plan.created_at.tzinfo else plan.created_at.replace(tzinfo=UTC)
    age = now - created
    if age > timedelta(hours=max_age_hours):
        raise Broken(f"{path}: the plan is {age.total_seconds() / 3600:.1f} hours old, older than the "
                     f"{max_age_hours:g} hours allowed (--max-plan-age); the buckets may have changed since it "
                     "was reviewed: plan again")
    if age < -timedelta(minutes=5):
        raise Broken(f"{path}: the plan was created in the future ({created.isoformat()}); check the clocks")
    return plan


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
