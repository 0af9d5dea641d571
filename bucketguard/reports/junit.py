"""JUnit XML (`--junit FILE`), for CI systems that show test reports. `preview`/`analyze`: one test suite
per policy pack, one test case per policy, failed by each mandatory violation. `audit`: one test suite per
account, one test case per bucket, failed by each mandatory finding (and by a fix that did not take). A
run without a verdict is an error."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from bucketguard.audit.models import MANDATORY_LEVELS, UNSETTLED, AccountResult, AuditResult, BucketReport
from bucketguard.inputs import Broken, nothing_judged_lines
from bucketguard.preview.models import PreviewResult


def _write(path: Path, root: ET.Element) -> None:
    ET.indent(root)
    try:
        path.write_text(ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n")
    except OSError as error:
        raise Broken(f"--junit {path}: cannot write the report: {error.strerror or error}") from None


def preview_junit(result: PreviewResult) -> ET.Element:
    root = ET.Element("testsuites", name="bucketguard")
    for pack_name, version, policies in result.packs:
        suite = ET.SubElement(root, "testsuite", name=f"{pack_name}@v{version}")
        failures = 0
        for policy in sorted(policies, key=lambda p: p.name):
            case = ET.SubElement(suite, "testcase", classname=pack_name, name=policy.name)
            found = sorted((d for d in result.diagnostics if d.pack == pack_name and d.policy == policy.name),
                           key=lambda d: d.urn)
            for diagnostic in found:
                if diagnostic.level in ("mandatory", "remediate"):
                    failures += 1
                    failure = ET.SubElement(case, "failure", type=diagnostic.level, message=diagnostic.urn)
                    failure.text = diagnostic.message
            advisory = [f"{d.urn}: {d.message}" for d in found if d.level == "advisory"]
            if advisory:
                ET.SubElement(case, "system-out").text = "\n".join(advisory)
        suite.set("tests", str(len(policies)))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
    errors = [*result.unverifiable, *nothing_judged_lines(result.nothing_judged)]
    if errors:
        root.append(_error_suite(errors))
    return root


def _error_suite(errors: Sequence[str]) -> ET.Element:
    suite = ET.Element("testsuite", name="bucketguard", tests="1", failures="0", errors="1")
    case = ET.SubElement(suite, "testcase", classname="bucketguard", name="verdict")
    ET.SubElement(case, "error", message=errors[0]).text = "\n".join(errors)
    return suite


def write_junit(path: Path, result: PreviewResult) -> None:
    _write(path, preview_junit(result))


def _bucket_case(suite: ET.Element, account: str, report: BucketReport, mode: str) -> int:
    """The bucket's test case; returns its failures: each mandatory finding, and a fix that did not take."""
    case = ET.SubElement(suite, "testcase", classname=account, name=report.name)
    failures = 0
    for finding in report.findings:
        if finding.level in MANDATORY_LEVELS:
            failures += 1
            ET.SubElement(case, "failure", type=finding.level, message=finding.policy).text = finding.message
    fix = report.fix or {}
    status = fix.get("status")
    if status in UNSETTLED or (mode == "apply" and status not in ("fixed", "already-applied")):
        failures += 1
        ET.SubElement(case, "failure", type=f"fix {status}", message=f"fix: {status}").text = str(fix.get("reason", ""))
    advisory = [f"[{f.level}] {f.policy}: {f.message}" for f in report.findings if f.level not in MANDATORY_LEVELS]
    if advisory:
        ET.SubElement(case, "system-out").text = "\n".join(advisory)
    return failures


def _account_suite(root: ET.Element, account: AccountResult, mode: str) -> None:
    name = f"account {account.account}" + (f" ({account.name})" if account.name else "")
    suite = ET.SubElement(root, "testsuite", name=name)
    failures = sum(_bucket_case(suite, account.account, report, mode) for report in account.reports)
    if account.error is not None:  # not audited: the account itself is the error
        case = ET.SubElement(suite, "testcase", classname=account.account, name="account")
        ET.SubElement(case, "error", message=account.error).text = account.error
    suite.set("tests", str(len(suite)))
    suite.set("failures", str(failures))
    suite.set("errors", "0" if account.error is None else "1")


def audit_junit(result: AuditResult, errors: Sequence[str] = ()) -> ET.Element:
    """`bucketguard audit`: a suite per account, a case per bucket; what an aggregator does not cover is a
    failed case of its own suite; `errors` (an output that failed after the writes, exit 2) an error."""
    root = ET.Element("testsuites", name="bucketguard-audit")
    for account in result.accounts:
        _account_suite(root, account, result.mode)
    gaps = result.aggregator.not_covered if result.aggregator is not None else []
    if gaps:
        suite = ET.SubElement(root, "testsuite", name="aws-config-not-covered", tests=str(len(gaps)),
                              failures=str(len(gaps)), errors="0")
        for gap in gaps:
            where = gap.bucket or "/".join(part for part in (gap.account, gap.region) if part) or "?"
            case = ET.SubElement(suite, "testcase", classname=gap.account or "aws-config", name=where)
            ET.SubElement(case, "failure", type="mandatory", message="aws-config-not-covered").text = gap.reason
    if errors:
        root.append(_error_suite(errors))
    return root


def write_audit_junit(path: Path, result: AuditResult, errors: Sequence[str] = ()) -> None:
    _write(path, audit_junit(result, errors))


def write_failed_junit(path: Path, message: str) -> None:
    """The report of a run that stopped before any verdict: one error."""
    root = ET.Element("testsuites", name="bucketguard")
    root.append(_error_suite([message]))
    _write(path, root)
