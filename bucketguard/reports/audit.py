"""What `bucketguard audit` prints and writes: a table of buckets (one account), a summary line per
account then each account's failing buckets (an organisation), what applying a plan did; or one JSON
document; and SARIF 2.1.0 (each result carries the bucket's account and region)."""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bucketguard.audit.encryption import describe_rules, holding
from bucketguard.audit.models import AccountResult, AuditResult, BucketReport, apply_counts, fix_counts
from bucketguard.policies.catalog import PACK_NAME, POLICIES
from bucketguard.reports.sarif import SarifResult, SarifRuleMeta, sarif_log, sarif_run


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


def render_table(reports: list[BucketReport], notes: list[str] | None = None) -> str:
    header = ("bucket", "region", "algorithm", "key", "bucket key", "verdict")
    rows = [(r.name, r.region or "?", *encryption_columns(r.rules), r.verdict) for r in reports]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in [header, *rows]]
    for report in reports:
        for finding in report.findings:
            lines.append(f"- [{finding.level}] {finding.policy}  ({report.name})")
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
            "fix": report.fix}


def to_json(reports: list[BucketReport]) -> dict[str, Any]:
    counts = fix_counts(reports)
    return {
        "buckets": [bucket_json(r) for r in reports],
        "summary": {"buckets": len(reports), "failing": sum(r.mandatory for r in reports),
                    "errors": sum(r.error is not None for r in reports), **counts},
    }


def to_sarif(reports: list[BucketReport]) -> dict[str, Any]:
    policies = [SarifRuleMeta(s.name, s.description, s.level, s.severity, s.remediation,
                              {} if s.framework is None else {"name": s.framework.name, "version": s.framework.version,
                                                              "reference": s.framework.reference,
                                                              "specification": s.framework.specification})
                for s in POLICIES]
    located = [(r, f) for r in reports for f in r.findings]
    results = [SarifResult(f.policy, f.level, f.message, r.name, f"arn:aws:s3:::{r.name}") for r, f in located]
    run = sarif_run(f"{PACK_NAME}-audit", version("bucketguard"), policies, results)
    for entry, (report, _) in zip(run["results"], located, strict=True):
        entry["properties"] = {"accountId": report.account, "region": report.region}
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


def render_organization(results: list[AccountResult]) -> str:
    """One summary line per account, then each account's failing buckets with their findings."""
    lines = [account_summary(result) for result in results]
    for result in results:
        failing = [r for r in result.reports if r.mandatory or r.fix]
        if failing:
            lines.append("")
            lines.append(f"== account {result.account}" + (f" ({result.name})" if result.name else "") + " ==")
            lines.append(render_table(failing).rstrip("\n").rsplit("\n", 1)[0])
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


def apply_json(result: AuditResult) -> dict[str, Any]:
    return {"buckets": [bucket_json(r) for r in result.reports],
            "accounts": [{"id": r.account, "error": r.error} for r in result.accounts],
            "summary": {"planned": planned(result), **apply_counts(result.reports)}, "journal": result.journal}


def audit_json(result: AuditResult) -> dict[str, Any]:
    document = to_json(result.reports)
    document["accounts"] = [account_json(account) for account in result.accounts]
    document["importFileNotes"] = result.import_notes
    document["journal"] = result.journal
    return document


def write_result(result: AuditResult, *, as_json: bool, sarif: Path | None) -> list[str]:
    """Print the result as `--json` or text, then write `--sarif` if asked (not for an applied plan): what was
    written is printed first. Returns a line `error: ...` for each output that could not be written."""
    if result.mode == "apply":
        sys.stdout.write(json.dumps(apply_json(result), indent=2) + "\n" if as_json else render_apply(result))
        return [f"error: {e}" for e in result.output_errors]
    if as_json:
        sys.stdout.write(json.dumps(audit_json(result), indent=2) + "\n")
    elif result.organization:
        sys.stdout.write(render_organization(result.accounts))
    else:
        sys.stdout.write(render_table(result.reports, result.import_notes))
    errors = list(result.output_errors)
    if sarif is not None:
        try:
            sarif.write_text(json.dumps(to_sarif(result.reports), indent=2) + "\n")
        except OSError as error:
            errors.append(f"--sarif {sarif}: not written: {error}")
    return [f"error: {e}" for e in errors]
