"""The plan file: what `audit --plan FILE` writes (every change the fix would make) and `audit --apply
FILE` reads back, refused when malformed or too old. Planning and applying are in `fix.py`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bucketguard.inputs import Broken, read_json_file
from bucketguard.settings import describe_validation_error

PLAN_FORMAT = 1
# A plan describes buckets as they were; the older it is, the likelier they changed. Re-reading each
# bucket catches changes to its encryption, but not a review that no longer matches the estate.
DEFAULT_MAX_PLAN_AGE_HOURS = 24.0


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class PlannedChange(_Model):
    """One bucket's change: where, what it holds (as read when planning), what it will hold, and why."""

    account: str = Field(pattern=r"^\d{12}$")
    bucket: str = Field(min_length=3, max_length=63)
    region: str
    before: list[dict[str, Any]] | None
    after: list[dict[str, Any]] = Field(min_length=1)
    reason: str
    # What planning found, for the reviewer; apply derives all of it again from the bucket (a plan's text
    # grants nothing: lowering or replacing a customer managed key needs --force given to the apply).
    lowers: list[str] = Field(default_factory=list)
    replaces: list[str] = Field(default_factory=list)
    key_checks: list[str] = Field(default_factory=list, alias="keyChecks")


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
