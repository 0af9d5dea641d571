"""`bucketguard audit` against a real HTTP S3 API on loopback: moto's standalone server, started and
stopped here (no in-process patching), driven through the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from audit_server import FaultyS3, audit_environment, create_key, encrypt, state
from audit_server import run_audit as audit
from helpers import ROOT, on_a_terminal

pytestmark = pytest.mark.slow
KEY_A = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_B = "arn:aws:kms:us-east-1:123456789012:key/00000000-1111-2222-3333-444444444444"


@pytest.fixture(autouse=True)
def real_keys(endpoint: str, s3: Any) -> None:
    """KEY_A and KEY_B as keys moto's KMS has (the fix checks with DescribeKey that a key it writes exists)."""
    global KEY_A, KEY_B
    KEY_A, KEY_B = create_key(endpoint), create_key(endpoint)


def verdicts(document: Any) -> dict[str, tuple[str, set[tuple[str, str]]]]:
    return {b["name"]: (b["verdict"], {(f["policyName"], f["enforcementLevel"]) for f in b["findings"]})
            for b in document["buckets"]}


def test_each_kind_of_encryption_is_judged_like_the_pack(endpoint: str, s3: Any) -> None:
    encrypt(s3, "none", None)
    encrypt(s3, "sse-s3", "AES256")
    encrypt(s3, "kms-bucket-key", "aws:kms", KEY_A, bucket_key=True)
    encrypt(s3, "kms-no-bucket-key", "aws:kms", KEY_A)
    encrypt(s3, "dsse", "aws:kms:dsse", KEY_A)
    code, document, _ = audit(endpoint, "--json")
    got = verdicts(document)
    sse_c = ("s3-sse-c-blocked", "advisory")  # moto does not keep BlockedEncryptionTypes
    assert got == {
        "none": ("FAIL", {("s3-bucket-encryption-declared", "mandatory")}),
        "sse-s3": ("advisory", {sse_c}),
        "kms-bucket-key": ("advisory", {sse_c}),
        "kms-no-bucket-key": ("advisory", {sse_c, ("s3-bucket-key-enabled", "advisory")}),
        "dsse": ("advisory", {sse_c}),
    }
    assert code == 1
    message = next(f["message"] for b in document["buckets"] if b["name"] == "none" for f in b["findings"])
    assert "S3 bucket 'none' (account 123456789012, region us-east-1): has no default encryption" in message
    assert "It holds: no default encryption" in message and "`bucketguard audit --fix --bucket none`" in message


def test_a_live_finding_speaks_of_the_bucket_what_it_holds_and_the_audit_fix(endpoint: str, s3: Any,
                                                                             tmp_path: Path) -> None:
    """Issue 27.4: not of the Pulumi type and the code that would fix a declaration."""
    encrypt(s3, "other-key", "aws:kms", KEY_B, bucket_key=True)
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"s3-kms-key-allowed": {"allowedKmsKeys": [KEY_A]}}))
    code, document, _ = audit(endpoint, "--json", "--policy-pack-config", config)
    (finding,) = [f for f in document["buckets"][0]["findings"] if f["policyName"] == "s3-kms-key-allowed"]
    message = finding["message"]
    assert code == 1 and finding["enforcementLevel"] == "mandatory"
    assert "S3 bucket 'other-key' (account 123456789012, region us-east-1)" in message
    assert f"It holds: aws:kms, key {KEY_B}, Bucket Key." in message
    assert "bucketguard audit --fix --bucket other-key" in message and "bucketguard:attach" in message
    for code_words in ("aws.s3.", "bucketguard.EncryptedBucket", "kms_key_id="):
        assert code_words not in message
    code, text, _ = audit(endpoint, "--policy-pack-config", config)
    assert code == 1 and "S3 bucket 'other-key' (account 123456789012, region us-east-1)" in text


def test_allowed_keys_and_algorithms_come_from_the_same_pack_config(endpoint: str, s3: Any, tmp_path: Path) -> None:
    encrypt(s3, "good-key", "aws:kms", KEY_A, bucket_key=True)
    encrypt(s3, "other-key", "aws:kms", KEY_B, bucket_key=True)
    encrypt(s3, "sse-s3", "AES256")
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({
        "s3-kms-key-allowed": {"allowedKmsKeys": [KEY_A]},
        "s3-encryption-algorithm-allowed": {"allowedAlgorithms": ["aws:kms"]},
        "s3-sse-c-blocked": "disabled",
    }))
    code, document, _ = audit(endpoint, "--json", "--policy-pack-config", config)
    assert verdicts(document) == {
        "good-key": ("ok", set()),
        "other-key": ("FAIL", {("s3-kms-key-allowed", "mandatory")}),
        "sse-s3": ("FAIL", {("s3-encryption-algorithm-allowed", "mandatory")}),
    }
    assert code == 1


def test_every_json_document_of_the_audit_carries_its_schema_version(endpoint: str, s3: Any, tmp_path: Path) -> None:
    """Issue 23: scripts that read `--json` check `schemaVersion` (the audit's, the plan's apply)."""
    encrypt(s3, "none", None)
    plan = tmp_path / "plan.json"
    code, document, _ = audit(endpoint, "--json", "--plan", plan, "--kms-key-id", KEY_A)
    assert code == 1 and document["schemaVersion"] == 1 and next(iter(document)) == "schemaVersion"
    code, applied, _ = audit(endpoint, "--json", "--apply", plan)
    assert code == 0 and applied["schemaVersion"] == 1
    assert applied["summary"]["planned"] == 1 and state(s3, "none")["Rules"][0]["ApplyServerSideEncryptionByDefault"][
        "KMSMasterKeyID"] == KEY_A


def test_sarif_to_standard_output_moves_the_report_to_stderr(endpoint: str, s3: Any) -> None:
    """`--sarif -` (issue 23): SARIF on stdout for a pipe to an uploader, the table or --json on stderr."""
    encrypt(s3, "none", None)
    code, out, err = audit(endpoint, "--sarif", "-")
    (result,) = json.loads(out)["runs"][0]["results"]
    assert code == 1 and result["ruleId"] == "s3-bucket-encryption-declared"
    assert "FAIL" in err and "1 buckets: 1 failing a mandatory rule" in err
    code, out, err = audit(endpoint, "--sarif", "-", "--json")
    assert code == 1 and out["version"] == "2.1.0"  # the helper parses stdout when --json is given
    assert json.loads(err[err.index("{"):])["buckets"][0]["verdict"] == "FAIL"


def test_nothing_is_written_without_fix(endpoint: str, s3: Any) -> None:
    encrypt(s3, "none", None)
    audit(endpoint, "--json")
    assert state(s3, "none") == "ServerSideEncryptionConfigurationNotFoundError"


def test_fix_changes_exactly_the_non_compliant_buckets(endpoint: str, s3: Any, tmp_path: Path) -> None:
    encrypt(s3, "none-1", None)
    encrypt(s3, "none-2", None)
    encrypt(s3, "sse-s3", "AES256")
    encrypt(s3, "kms", "aws:kms", KEY_A, bucket_key=True)
    before = {b: state(s3, b) for b in ("sse-s3", "kms")}
    code, document, _ = audit(endpoint, "--json", "--fix", "--sse-algorithm", "AES256")
    assert code == 0
    for bucket in ("none-1", "none-2"):
        rule = state(s3, bucket)["Rules"][0]
        assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert {b: state(s3, b) for b in ("sse-s3", "kms")} == before
    fixes = {b["name"]: b["fix"] for b in document["buckets"]}
    assert fixes["sse-s3"] is None and fixes["kms"] is None
    assert fixes["none-1"]["before"] is None
    assert fixes["none-1"]["after"][0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert document["summary"]["fixed"] == 2


def test_fix_uses_the_projects_defaults_and_refuses_to_invent_a_key(endpoint: str, s3: Any, tmp_path: Path) -> None:
    encrypt(s3, "none", None)
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: bucketguard\nruntime: python\n")
    (project / "Pulumi.dev.yaml").write_text(f"config:\n  bucketguard:defaults:\n    kmsKeyId: {KEY_A}\n")
    code, _, _ = audit(endpoint, "--json", "--fix", cwd=project)
    assert code == 0
    rule = state(s3, "none")["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY_A}
    assert rule["BucketKeyEnabled"] is True

    encrypt(s3, "none-2", None)
    (project / "Pulumi.dev.yaml").write_text("config:\n  bucketguard:defaults:\n    sseAlgorithm: aws:kms\n")
    code, _, stderr = audit(endpoint, "--fix", cwd=project)
    assert code == 2
    assert "pass --kms-key-id ARN or --use-aws-managed-key" in stderr
    assert state(s3, "none-2") == "ServerSideEncryptionConfigurationNotFoundError"


def test_a_customer_key_is_only_replaced_when_forced(endpoint: str, s3: Any, tmp_path: Path) -> None:
    encrypt(s3, "locked", "aws:kms", KEY_B, bucket_key=True)
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"s3-kms-key-allowed": {"allowedKmsKeys": [KEY_A]}}))
    before = state(s3, "locked")
    code, document, _ = audit(endpoint, "--json", "--policy-pack-config", config, "--fix", "--kms-key-id", KEY_A)
    assert code == 1
    assert state(s3, "locked") == before
    assert document["buckets"][0]["fix"]["status"] == "refused"
    assert "--force" in document["buckets"][0]["fix"]["reason"]
    code, document, _ = audit(endpoint, "--json", "--policy-pack-config", config, "--fix", "--kms-key-id", KEY_A,
                              "--force")
    assert code == 0
    assert state(s3, "locked")["Rules"][0]["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == KEY_A


def test_a_failing_bucket_is_reported_and_the_audit_goes_on(endpoint: str, s3: Any) -> None:
    encrypt(s3, "fine", "AES256")
    code, document, _ = audit(endpoint, "--json", "--bucket", "fine", "--bucket", "gone-bucket")
    got = {b["name"]: b for b in document["buckets"]}
    assert got["fine"]["verdict"] == "advisory"
    assert got["gone-bucket"]["verdict"] == "error"
    assert got["gone-bucket"]["error"].startswith("NoSuchBucket")
    assert code == 1


def test_a_few_hundred_buckets(endpoint: str, s3: Any) -> None:
    for i in range(300):
        encrypt(s3, f"bulk-{i:03d}", None if i % 3 == 0 else "AES256")
    code, document, _ = audit(endpoint, "--json", "--concurrency", "24")
    assert document["summary"]["buckets"] == 300
    assert document["summary"]["failing"] == 100
    failing = sorted(b["name"] for b in document["buckets"] if b["verdict"] == "FAIL")
    assert failing == [f"bulk-{i:03d}" for i in range(0, 300, 3)]
    assert code == 1


def test_import_file_brings_the_fixed_buckets_under_bucket_encryption(
        endpoint: str, s3: Any, tmp_path: Path) -> None:
    encrypt(s3, "legacy-a", None)
    encrypt(s3, "fine", "AES256")
    target = tmp_path / "import.json"
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: bucketguard\nruntime: python\n")
    (project / "Pulumi.dev.yaml").write_text("config:\n  bucketguard:defaults:\n    sseAlgorithm: AES256\n"
                                             "    blockSseC: false\n  bucketguard:attach: [legacy-a]\n")
    audit(endpoint, "--json", "--fix", "--import-file", target, cwd=project)
    assert json.loads(target.read_text()) == {"resources": [
        {"type": "bucketguard:index:BucketEncryption", "name": "attach-legacy-a", "component": True},
        {"type": "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
         "name": "attach-legacy-a-encryption", "id": "legacy-a", "parent": "attach-legacy-a"},
    ]}


def test_table_and_sarif(endpoint: str, s3: Any, tmp_path: Path) -> None:
    encrypt(s3, "none", None)
    sarif = tmp_path / "audit.sarif"
    code, table, _ = audit(endpoint, "--sarif", sarif)
    assert code == 1
    assert table.splitlines()[0].split() == ["bucket", "region", "algorithm", "key", "bucket", "key", "verdict"]
    assert table.splitlines()[1].split() == ["none", "us-east-1", "none", "-", "-", "FAIL"]
    import jsonschema

    schema = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
    document = json.loads(sarif.read_text())
    assert list(jsonschema.Draft7Validator(schema).iter_errors(document)) == []
    assert [r["ruleId"] for r in document["runs"][0]["results"]] == ["s3-bucket-encryption-declared"]


def test_sarif_fingerprints_follow_policy_account_region_and_bucket_not_the_message(
        endpoint: str, s3: Any, tmp_path: Path) -> None:
    """Issue 27.3: code scanning tracks a live finding across runs although its message (the key the
    bucket holds) changes; the run says it gave a verdict."""
    import hashlib

    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"s3-kms-key-allowed": {"allowedKmsKeys": [KEY_A]}}))
    encrypt(s3, "other-key", "aws:kms", KEY_B, bucket_key=True)
    encrypt(s3, "third-key", "aws:kms", KEY_B, bucket_key=True)

    def results(sarif: Path) -> dict[str, dict[str, Any]]:
        code, _, stderr = audit(endpoint, "--policy-pack-config", config, "--sarif", sarif)
        assert code == 1, stderr
        (run,) = json.loads(sarif.read_text())["runs"]
        assert run["invocations"] == [{"executionSuccessful": True, "toolExecutionNotifications": []}]
        return {r["locations"][0]["logicalLocations"][0]["name"]: r for r in run["results"]
                if r["ruleId"] == "s3-kms-key-allowed"}

    first = results(tmp_path / "first.sarif")
    encrypt(s3, "other-key", "aws:kms", create_key(endpoint), bucket_key=True)
    second = results(tmp_path / "second.sarif")
    assert first["other-key"]["message"] != second["other-key"]["message"]
    assert first["other-key"]["partialFingerprints"] == second["other-key"]["partialFingerprints"]
    expected = hashlib.sha256(b"s3-kms-key-allowed\x00123456789012/us-east-1/other-key").hexdigest()
    assert first["other-key"]["partialFingerprints"] == {"bucketguardResource/v1": expected}
    assert first["third-key"]["partialFingerprints"] != first["other-key"]["partialFingerprints"]


def test_an_output_that_fails_after_the_fix_is_the_sarif_runs_error(endpoint: str, s3: Any, tmp_path: Path) -> None:
    """Exit 2 after writing (the import file hits a full disk): the SARIF says the run did not succeed, and why."""
    encrypt(s3, "plain", None)
    sarif = tmp_path / "audit.sarif"
    junit = tmp_path / "audit.xml"
    code, _, stderr = audit(endpoint, "--fix", "--sse-algorithm", "AES256", "--import-file", "/dev/full",
                            "--sarif", sarif, "--junit", junit)
    assert code == 2, stderr
    import jsonschema

    document = json.loads(sarif.read_text())
    schema = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
    assert list(jsonschema.Draft7Validator(schema).iter_errors(document)) == []
    (invocation,) = document["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    (notification,) = invocation["toolExecutionNotifications"]
    assert notification["message"]["text"].startswith("--import-file /dev/full: not written")
    assert notification["message"]["text"] in stderr
    # The JUnit report too: the bucket's case, and the error that makes it exit 2.
    import xml.etree.ElementTree as ET

    suites = {suite.get("name"): suite for suite in ET.parse(junit).getroot()}
    assert [case.get("name") for case in suites["account 123456789012"]] == ["plain"]
    error = suites["bucketguard"].find("testcase/error")
    assert error is not None and error.get("message") == notification["message"]["text"]


def test_errors_that_stop_the_audit_exit_2(endpoint: str, s3: Any, tmp_path: Path) -> None:
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"s3-kms-key-allowed": {"allowStackKeys": "maybe"}}))
    code, _, stderr = audit(endpoint, "--policy-pack-config", config)
    assert code == 2 and "allowStackKeys: 'maybe' is not of type 'boolean'" in stderr
    faulty = FaultyS3(endpoint, deny_list_buckets=True)
    try:
        code, _, stderr = audit(faulty.url)
    finally:
        faulty.close()
    assert code == 2 and "ListBuckets failed" in stderr and "AccessDenied" in stderr
    code, _, stderr = audit(endpoint, "--profile", "no-such-profile")
    assert code == 2 and "cannot create the S3 client" in stderr and "no-such-profile" in stderr
    assert "Traceback" not in stderr


def test_an_audit_of_many_buckets_on_a_terminal_shows_its_progress_bar(endpoint: str, s3: Any) -> None:
    """More than 20 buckets: the account's bar (rich, as an organisation's) on stderr; stdout is unchanged."""
    for i in range(25):
        s3.create_bucket(Bucket=f"many-{i:02d}")
    environment = audit_environment()
    code, stdout, shown = on_a_terminal(["audit", "--endpoint-url", endpoint, "--json"], env=environment,
                                        cwd=ROOT / "tests" / "programs" / "bare-bucket")
    assert code == 1 and len(json.loads(stdout)["buckets"]) == 25
    assert "account 123456789012" in shown and "25/25" in shown


def test_throttling_is_retried_and_access_denied_is_reported(endpoint: str, s3: Any) -> None:
    encrypt(s3, "throttled-a", "AES256")
    encrypt(s3, "denied-b", "AES256")
    encrypt(s3, "plain-c", None)
    faulty = FaultyS3(endpoint)
    try:
        code, document, _ = audit(faulty.url, "--json", "--bucket", "throttled-a", "--bucket", "denied-b",
                                  "--bucket", "plain-c")
    finally:
        faulty.close()
    got = {b["name"]: b for b in document["buckets"]}
    assert faulty.seen["throttled-a"] == 3  # two SlowDown answers, then the real one
    assert got["throttled-a"]["verdict"] == "advisory" and got["throttled-a"]["error"] is None
    assert got["denied-b"]["verdict"] == "error" and got["denied-b"]["error"].startswith("AccessDenied")
    assert got["plain-c"]["verdict"] == "FAIL"
    assert code == 1
