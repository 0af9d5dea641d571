"""`bucketguard audit` speaks the conventions CI tools speak (issue 23): `--junit FILE`, `--quiet`,
`--color auto|always|never` with `NO_COLOR`; through the command line, against moto's server."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from audit_server import DEFAULT_ACCOUNT, audit_environment, create_key, encrypt, reset, state
from audit_server import run_audit as audit
from helpers import ROOT, on_a_terminal

pytestmark = pytest.mark.slow
SUMMARY = "2 buckets: 1 failing a mandatory rule, 1 with advisories, 0 unreadable, 0 fixed\n"
RED_FAIL = "\033[31mFAIL\033[0m"


@pytest.fixture
def two_buckets(endpoint: str, s3: Any) -> None:
    """One bucket failing a mandatory rule, one passing with an advisory (moto keeps no SSE-C block)."""
    encrypt(s3, "unencrypted-logs", None)
    encrypt(s3, "kms-data", "aws:kms", create_key(endpoint), bucket_key=True)


def test_junit_has_a_suite_per_account_a_case_per_bucket_and_a_failure_per_mandatory_finding(
        endpoint: str, two_buckets: None, tmp_path: Path) -> None:
    junit = tmp_path / "audit.xml"
    code, _, stderr = audit(endpoint, "--junit", junit)
    assert code == 1, stderr
    (suite,) = ET.parse(junit).getroot()
    assert suite.get("name") == f"account {DEFAULT_ACCOUNT}"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    cases = {case.get("name"): case for case in suite}
    assert set(cases) == {"unencrypted-logs", "kms-data"}
    (failure,) = cases["unencrypted-logs"].findall("failure")
    assert failure.get("message") == "s3-bucket-encryption-declared" and failure.get("type") == "mandatory"
    assert "S3 bucket 'unencrypted-logs'" in (failure.text or "")
    assert cases["kms-data"].find("failure") is None
    assert "s3-sse-c-blocked" in (cases["kms-data"].findtext("system-out") or "")


def test_junit_records_an_audit_that_could_not_run(endpoint: str, two_buckets: None, tmp_path: Path) -> None:
    junit = tmp_path / "audit.xml"
    audit(endpoint, "--junit", junit)  # a report with a verdict, which the failed run must not leave in place
    broken = tmp_path / "policy.json"
    broken.write_text("{not json")
    code, _, stderr = audit(endpoint, "--junit", junit, "--policy-pack-config", broken)
    assert code == 2, stderr
    (suite,) = ET.parse(junit).getroot()
    error = suite.find("testcase/error")
    assert error is not None and "policy.json" in (error.get("message") or "")
    assert suite.find("testcase/failure") is None


def test_junit_into_a_missing_folder_is_refused_before_anything_is_read(endpoint: str, two_buckets: None,
                                                                        tmp_path: Path) -> None:
    code, stdout, stderr = audit(endpoint, "--fix", "--sse-algorithm", "AES256", "--junit", tmp_path / "no" / "a.xml")
    assert code == 2 and stdout == "" and "--junit" in stderr and "does not exist" in stderr


def test_quiet_prints_only_the_verdict_line(endpoint: str, two_buckets: None) -> None:
    code, full, _ = audit(endpoint, "--color", "never")
    quiet_code, quiet, _ = audit(endpoint, "--quiet")
    assert full.endswith(SUMMARY) and full != SUMMARY
    assert (quiet_code, quiet) == (code, SUMMARY) == (1, SUMMARY)


def audit_on_a_terminal(endpoint: str, *args: str, env: dict[str, str]) -> str:
    """`bucketguard audit ARGS` with its stdout on a pseudo-terminal: what it printed there."""
    environment = audit_environment(env, drop=("NO_COLOR",))
    _, _, shown = on_a_terminal(["audit", "--endpoint-url", endpoint, *args], env=environment, terminal="stdout",
                                cwd=ROOT / "tests" / "programs" / "bare-bucket", timeout=120)
    return shown


def test_colour_on_a_terminal_unless_no_color_or_never(endpoint: str, two_buckets: None) -> None:
    coloured = audit_on_a_terminal(endpoint, env={})
    assert RED_FAIL in coloured and "\033[33madvisory\033[0m" in coloured
    assert f"\033[31m{SUMMARY.rstrip()}\033[0m" in coloured  # the verdict line: red, the audit fails
    # rich decides: NO_COLOR, and a terminal that shows no colour (TERM=dumb)
    for args, env in (((), {"NO_COLOR": "1"}), (("--color", "never"), {}), ((), {"TERM": "dumb"})):
        plain = audit_on_a_terminal(endpoint, *args, env=env)
        assert "\033[" not in plain and "FAIL" in plain and plain.endswith(SUMMARY)
    _, piped, _ = audit(endpoint)  # auto, not a terminal: no colour
    assert "\033[" not in piped
    _, forced, _ = audit(endpoint, "--color", "always", env={"NO_COLOR": "1"})
    assert RED_FAIL in forced


def test_verbose_says_each_call_on_stderr_and_leaves_stdout_as_it_is(endpoint: str, s3: Any) -> None:
    def fix(*args: str) -> tuple[int, Any, str]:
        reset(endpoint)
        encrypt(s3, "unencrypted-logs", None)
        encrypt(s3, "sse-s3-data", "AES256")
        return audit(endpoint, "--fix", "--sse-algorithm", "AES256", "--allow-sse-c", *args)

    plain_code, plain, plain_err = fix()
    code, stdout, stderr = fix("--verbose")
    assert (code, stdout) == (plain_code, plain) and "~ unencrypted-logs: fixed" in stdout
    assert state(s3, "unencrypted-logs")["Rules"][0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert "bucketguard audit: " not in plain_err
    said = [line.removeprefix("bucketguard audit: ") for line in stderr.splitlines()]
    first = {step: next((i for i, line in enumerate(said) if line.startswith(step)), -1) for step in (
        f"STS GetCallerIdentity: account {DEFAULT_ACCOUNT}, partition aws (arn:aws:",
        f"S3 ListBuckets (account {DEFAULT_ACCOUNT}): 2 buckets",
        f"reading and judging 2 buckets of account {DEFAULT_ACCOUNT}, 16 at once",
        f"S3 GetBucketLocation, GetBucketEncryption unencrypted-logs (account {DEFAULT_ACCOUNT}): us-east-1, "
        "no default encryption",
        f"S3 PutBucketEncryption unencrypted-logs (account {DEFAULT_ACCOUNT}): AES256",
        "S3 PutBucketEncryption unencrypted-logs: written")}
    assert -1 not in first.values() and list(first.values()) == sorted(first.values()), said
    assert f"S3 GetBucketLocation, GetBucketEncryption sse-s3-data (account {DEFAULT_ACCOUNT}): us-east-1, 1 rule(s)" in said
    assert not any("PutBucketEncryption sse-s3-data" in line for line in said)  # a passing bucket is not written
