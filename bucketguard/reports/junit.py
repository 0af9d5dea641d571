"""JUnit XML (`--junit FILE`), for CI systems that show test reports: one test suite per policy pack,
one test case per policy, failed by each mandatory violation; a run without a verdict is an error."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from bucketguard.inputs import Broken
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
    errors = [*result.unverifiable, *([f"nothing judged: {result.nothing_judged}"] if result.nothing_judged else [])]
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


def write_failed_junit(path: Path, message: str) -> None:
    """The report of a run that stopped before any verdict: one error."""
    root = ET.Element("testsuites", name="bucketguard")
    root.append(_error_suite([message]))
    _write(path, root)
