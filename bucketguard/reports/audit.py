"""What `bucketguard audit` prints and writes: a table of buckets (one account), a summary line per
account then each account's failing buckets (an organisation), what applying a plan did; or one JSON
document; and SARIF 2.1.0 (each result carries the bucket's account and region) and JUnit XML."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bucketguard.audit.encryption import describe_rules, holding
from bucketguard.audit.models import AccountResult, AuditResult, BucketReport, NotCovered, apply_counts, fix_counts
from bucketguard.inputs import Broken, nothing_judged_lines
from bucketguard.policies.catalog import PACK_NAME, POLICIES
from bucketguard.reports.sarif import SarifResult, SarifRuleMeta, sarif_log, sarif_run, write_sarif
from bucketguard.reports.style import PLAIN, Style, wants_color

# The verdict column's and the finding levels' colours (red: fails the run, yellow: advisory).
VERDICT_COLORS = {"ok": "green", "advisory": "yellow", "FAIL": "red", "error": "red", "mandatory": "red", "remediate": "red"}


def encryption_columns(api_rules: list[dict[str, Any]] | None) -> tuple[str, str, str]:
    """The table's algorithm, key and Bucket Key columns: every rule's (joined with `+`)."""
    held = holding(api_rules)
    if not held.rules:
        return "none", "-", "-"
    algorithms = "+".join(r.algorithm or "none" for r in held.rules)
    keys = "+".join((r.key or "aws/s3") if r.is_kms else "-" for r in held.rules)
    bucket_keys = [r.bucket_key for r in held.rules]
    return algorithms, keys, "+".join(str(b).lower() for b in bucket_keys)


def key_note(fix: dict[str, Any]) -> str:
    """What DescribeKey said of the keys a fix writes: `key reachable`, `key not checked (...)`, `key denied`."""
    checks = fix.get("keyChecks") or []
    words = {"reachable": "key reachable", "not checked": "key not checked", "denied": "key denied",
             "unusable": "key unusable"}
    return "".join(f" [{words.get(c['status'], c['status'])}: {c['key']}{' (' + c['detail'] + ')' if c['detail'] else ''}]"
                   for c in checks)


def fix_line(report: BucketReport) -> str | None:
    """What the fix did to a bucket, in one line (None when it did nothing)."""
    fix = report.fix
    if not fix:
        return None
    status = fix["status"]
    forced = "; ".join([*(fix.get("lowers") or []), *(f"replaces {r}" for r in fix.get("replaces") or [])])
    if status == "fixed":
        lowered = f" (lowers, forced: {forced})" if forced else ""
        return (f"~ {report.name}: fixed{lowered}: {describe_rules(fix['before'])} -> {describe_rules(fix['after'])}"
                f" (read back and judged passing){key_note(fix)}")
    if status == "planned":
        lowered = f" LOWERS ENCRYPTION (--force): {forced};" if forced else ""
        return (f"~ {report.name}: planned:{lowered} {describe_rules(fix['before'])} -> {describe_rules(fix['after'])}"
                f"{key_note(fix)}")
    labels = {"refused": "not changed", "failed": "not changed", "still-failing": "written but STILL FAILING",
              "not-as-written": "written but S3 HOLDS SOMETHING ELSE", "unknown": "OUTCOME UNKNOWN",
              "already-applied": "already applied"}
    return f"~ {report.name}: {labels.get(status, status)}: {fix['reason']}{key_note(fix)}"


def render_table(reports: list[BucketReport], notes: list[str] | None = None, style: Style = PLAIN) -> str:
    header: tuple[str, ...] = ("bucket", "region", "algorithm", "key", "bucket key", "verdict")
    rows: list[tuple[str, ...]] = [(r.name, r.region or "?", *encryption_columns(r.rules), r.verdict) for r in reports]
    if any(r.record is not None for r in reports):  # --config-aggregator: how old each Config record is
        header = (*header[:5], "record age", header[5])
        rows = [(*row[:5], record_age(r), row[5]) for row, r in zip(rows, reports, strict=True)]
    # Aligned by hand: rich's Table takes 0.5 ms a row (4.9 s for 10,000 buckets), more than the aggregator
    # takes to judge them.
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row[:-1])) + "  " for row in [header, *rows]]
    lines = [lines[0] + header[-1], *(line + style(row[-1], VERDICT_COLORS.get(row[-1], "none"))
                                     for line, row in zip(lines[1:], rows, strict=True))]
    for report in reports:
        for finding in report.findings:
            level = style(f"[{finding.level}]", VERDICT_COLORS.get(finding.level, "yellow"))
            lines.append(f"- {level} {finding.policy}  ({report.name})")
            lines.extend(f"    {text}" for text in finding.message.splitlines())
        line = fix_line(report)
        if line:
            lines.append(line)
    lines.extend(notes or [])
    lines.append(summary_line(reports))
    return "\n".join(lines) + "\n"


def summary_line(reports: list[BucketReport]) -> str:
    counts = fix_counts(reports)
    line = (f"{len(reports)} buckets: {sum(r.mandatory for r in reports)} failing a mandatory rule, "
            f"{sum(r.verdict == 'advisory' for r in reports)} with advisories, "
            f"{sum(r.error is not None for r in reports)} unreadable, {counts['fixed']} fixed")
    extra = [f"{n} {label}" for label, n in counts.items() if n and label != "fixed"]
    return line + (f", {', '.join(extra)}" if extra else "")


def bucket_json(report: BucketReport) -> dict[str, Any]:
    return {"account": report.account, "name": report.name, "region": report.region, "rules": report.rules,
            "error": report.error, "verdict": report.verdict,
            "findings": [{"policyName": f.policy, "enforcementLevel": f.level, "message": f.message}
                         for f in report.findings],
            "fix": report.fix, **({"record": record_json(report)} if report.record is not None else {})}


def to_json(reports: list[BucketReport]) -> dict[str, Any]:
    counts = fix_counts(reports)
    return {
        "buckets": [bucket_json(r) for r in reports],
        "summary": {"buckets": len(reports), "failing": sum(r.mandatory for r in reports),
                    "errors": sum(r.error is not None for r in reports), **counts},
    }


def live_identity(account: str | None, region: str | None, bucket: str | None) -> str:
    """What a live finding is about, for SARIF's `partialFingerprints`: account/region/bucket."""
    return "/".join(part or "" for part in (account, region, bucket))


def to_sarif(reports: list[BucketReport], not_covered: list[NotCovered] | None = None,
             errors: Sequence[str] = ()) -> dict[str, Any]:
    """SARIF 2.1.0: one result per finding (fingerprinted by policy, account, region and bucket), and
    `errors` as the invocation's notifications (the run gave no full verdict: exit 2)."""
    policies = [SarifRuleMeta(s.name, s.description, s.level, s.severity, s.remediation,
                              {} if s.framework is None else {"name": s.framework.name, "version": s.framework.version,
                                                              "reference": s.framework.reference,
                                                              "specification": s.framework.specification})
                for s in POLICIES]
    located = [(r, f) for r in reports for f in r.findings]
    results = [SarifResult(f.policy, f.level, f.message, r.name, f"arn:aws:s3:::{r.name}",
                           identity=live_identity(r.account, r.region, r.name)) for r, f in located]
    places = {(r.policy, r.fully_qualified_name, r.message): (rep.account, rep.region)
              for r, (rep, _) in zip(results, located, strict=True)}
    if not_covered:
        policies.append(NOT_COVERED_RULE)
        for gap in not_covered:
            result = not_covered_sarif(gap)
            results.append(result)
            places[(result.policy, result.fully_qualified_name, result.message)] = (gap.account, gap.region)
    run = sarif_run(f"{PACK_NAME}-audit", version("bucketguard"), policies, results, errors=errors)
    for entry in run["results"]:  # sarif_run sorts the results
        where = entry["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
        account, region = places[(entry["ruleId"], where, entry["message"]["text"])]
        entry["properties"] = {"accountId": account, "region": region}
    return sarif_log([run])


def account_summary(result: AccountResult) -> str:
    where = f"account {result.account}" + (f" ({result.name})" if result.name else "")
    if result.error:
        return f"{where}: ERROR: {result.error}"
    return f"{where}: {summary_line(result.reports)}"


def account_json(result: AccountResult) -> dict[str, Any]:
    return {"id": result.account, "name": result.name, "error": result.error,
            "summary": {"buckets": len(result.reports), "failing": sum(r.mandatory for r in result.reports),
                        "errors": sum(r.error is not None for r in result.reports), **fix_counts(result.reports)}}


def render_organization(results: list[AccountResult], style: Style = PLAIN) -> str:
    """One summary line per account, then each account's failing buckets with their findings."""
    lines = [account_summary(result) for result in results]
    for result in results:
        failing = [r for r in result.reports if r.mandatory or r.fix]
        if failing:
            lines.append("")
            lines.append(f"== account {result.account}" + (f" ({result.name})" if result.name else "") + " ==")
            lines.append(render_table(failing, style=style).rstrip("\n").rsplit("\n", 1)[0])
    reports = [r for result in results for r in result.reports]
    lines.append("")
    lines.append(f"{len(results)} accounts ({sum(r.error is not None for r in results)} not audited): "
                 f"{summary_line(reports)}")
    return "\n".join(lines) + "\n"


def render_apply(result: AuditResult) -> str:
    """Applying a plan: a line per planned change (what was done, or why it was skipped), then the counts."""
    lines = []
    for account in result.accounts:
        if account.error:
            lines.append(f"account {account.account}: ERROR: {account.error}")
        for report in account.reports:
            fix = report.fix or {}
            status = fix.get("status", "?")
            if status == "skipped":
                lines.append(f"SKIPPED {account.account} {report.name}: {fix['reason']}")
            else:
                lines.append(f"{account.account} {fix_line(report)}")
    counts = apply_counts(result.reports)
    lines.append(f"{planned(result)} planned changes: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    return "\n".join(lines) + "\n"


def planned(result: AuditResult) -> int:
    return len(result.plan.changes) if result.plan is not None else 0


# `--json`'s version, as the preview's: raised when a key is removed or changes its meaning (new keys do not).
AUDIT_JSON_SCHEMA_VERSION = 1


def apply_json(result: AuditResult) -> dict[str, Any]:
    return {"schemaVersion": AUDIT_JSON_SCHEMA_VERSION, "buckets": [bucket_json(r) for r in result.reports],
            "accounts": [{"id": r.account, "error": r.error} for r in result.accounts],
            "summary": {"planned": planned(result), **apply_counts(result.reports)}, "journal": result.journal}


def audit_json(result: AuditResult) -> dict[str, Any]:
    document = {"schemaVersion": AUDIT_JSON_SCHEMA_VERSION, **to_json(result.reports)}
    document["accounts"] = [account_json(account) for account in result.accounts]
    document["importFileNotes"] = result.import_notes
    document["journal"] = result.journal
    document["nothingJudged"] = result.nothing_judged  # why no bucket was judged (exit 2), else null
    if result.aggregator is not None:
        document["aggregator"] = aggregator_json(result)
    return document


def render_text(result: AuditResult, style: Style = PLAIN) -> str:
    """The text report; its last line is the verdict (in red when the audit fails, green when it passes)."""
    if result.mode == "apply":
        text = render_apply(result)
    elif result.aggregator is not None:
        text = render_aggregator(result, style)
    elif result.organization:
        text = render_organization(result.accounts, style)
    else:
        text = render_table(result.reports, result.import_notes, style)
    *body, verdict = text.rstrip("\n").split("\n")
    return "\n".join([*body, style(verdict, "green" if result.passed else "red")]) + "\n"


def write_result(result: AuditResult, *, as_json: bool, sarif: Path | None, junit: Path | None = None,
                 color: str = "never", quiet: bool = False) -> list[str]:
    """Print the result as `--json` or text (`--color auto|always|never`; `quiet`: only the verdict line),
    then write `--sarif` (not for an applied plan) and `--junit` if asked: what was written is printed
    first. Returns a line `error: ...` for each output that could not be written."""
    out = sys.stderr if sarif is not None and str(sarif) == "-" else sys.stdout  # `--sarif -` takes stdout
    if as_json:
        document = apply_json(result) if result.mode == "apply" else audit_json(result)
        out.write(json.dumps(document, indent=2) + "\n")
    else:
        text = render_text(result, Style(wants_color(color, out)))
        out.write(text.rstrip("\n").rsplit("\n", 1)[-1] + "\n" if quiet else text)
    errors = list(result.output_errors)
    judged = nothing_judged_lines(result.nothing_judged)  # exit 2 too
    if sarif is not None and result.mode != "apply":
        try:
            gaps = result.aggregator.not_covered if result.aggregator is not None else None
            write_sarif(sarif, to_sarif(result.reports, gaps, [*judged, *errors]))
        except Broken as error:
            errors.append(str(error))
    if junit is not None:
        from bucketguard.reports.junit import write_audit_junit

        try:
            write_audit_junit(junit, result, [*judged, *errors])
        except Broken as error:
            errors.append(str(error))
    return [f"error: {e}" for e in errors]


# --- `--config-aggregator`: the buckets as AWS Config recorded them -----------------------------------


NOT_COVERED_POLICY = "aws-config-not-covered"
NOT_COVERED_RULE = SarifRuleMeta(
    NOT_COVERED_POLICY, "AWS Config's aggregator holds no current record of a bucket, account or region, so its "
    "encryption is not verified", "mandatory", "high",
    "Enable AWS Config's recorder for AWS::S3::Bucket there and add the account and region to the aggregator, "
    "or audit them with `bucketguard audit` through S3.", {})


def record_age(report: BucketReport) -> str:
    """How old the bucket's Config record was when read (`2d 3h`), and whether it is stale."""
    record = report.record
    if record is None or record.age is None:
        age = "?"
    else:
        minutes = max(0, int(record.age.total_seconds() // 60))
        days, hours, mins = minutes // 1440, minutes % 1440 // 60, minutes % 60
        age = f"{days}d {hours}h" if days else f"{hours}h {mins}m" if hours else f"{mins}m"
    return f"{age} (stale)" if record is not None and record.stale else age


def record_json(report: BucketReport) -> dict[str, Any]:
    record = report.record
    assert record is not None
    return {"capturedAt": record.captured.isoformat() if record.captured else None,
            "ageHours": round(record.age.total_seconds() / 3600, 2) if record.age is not None else None,
            "stale": record.stale is not None, "staleReason": record.stale}


def not_covered_place(gap: NotCovered) -> str:
    where = [f"account {gap.account}" if gap.account else "", f"region {gap.region}" if gap.region else ""]
    place = ", ".join(w for w in where if w)
    if gap.bucket:
        return f"bucket {gap.bucket}" + (f" ({place})" if place else "")
    return place or "?"


def not_covered_sarif(gap: NotCovered) -> SarifResult:
    name = gap.bucket or "/".join(p for p in (gap.account, gap.region) if p)
    fqn = f"arn:aws:s3:::{gap.bucket}" if gap.bucket else f"aws-config:{gap.account or '?'}:{gap.region or '*'}"
    return SarifResult(NOT_COVERED_POLICY, "mandatory", f"{not_covered_place(gap)}: not covered: {gap.reason}",
                       name, fqn, identity=live_identity(gap.account, gap.region, gap.bucket))


def render_aggregator(result: AuditResult, style: Style = PLAIN) -> str:
    """`--config-aggregator`: each account's buckets (with the age of their records), then what the
    aggregator does not cover, then the counts."""
    coverage = result.aggregator
    assert coverage is not None
    lines = [f"AWS Config aggregator {coverage.name}: {coverage.sources} sources, {coverage.pages} pages of records; "
             f"a record is stale when the aggregator last collected its account and region more than "
             f"{coverage.max_record_age_hours:g} h ago"]
    for account in result.accounts:
        lines.append("")
        lines.append(f"== account {account.account} ==")
        lines.append(render_table(account.reports, style=style).rstrip("\n").rsplit("\n", 1)[0])
        lines.append(account_summary(account))
    if coverage.not_covered:
        lines.append("")
        lines.append(f"NOT COVERED ({len(coverage.not_covered)}; not verified, so the audit fails):")
        lines.extend(f"- {not_covered_place(gap)}: {gap.reason}" for gap in coverage.not_covered)
    reports = result.reports
    stale = sum(r.record is not None and r.record.stale is not None for r in reports)
    lines.append("")
    lines.append(f"{len(result.accounts)} accounts: {summary_line(reports)}, {stale} stale, "
                 f"{len(coverage.not_covered)} not covered")
    return "\n".join(lines) + "\n"


def aggregator_json(result: AuditResult) -> dict[str, Any]:
    coverage = result.aggregator
    assert coverage is not None
    return {"name": coverage.name, "maxRecordAgeHours": coverage.max_record_age_hours, "sources": coverage.sources,
            "pages": coverage.pages,
            "notCovered": [{"account": g.account, "region": g.region, "bucket": g.bucket, "reason": g.reason}
                           for g in coverage.not_covered]}
