"""The audit's data safety, against moto's server through the command line: buckets of other accounts
are never touched, a fix never lowers or misplaces encryption, the fix setting obeys the pack config,
"fixed" is read back, and the import file lists only what the stack will keep."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from audit_server import DEFAULT_ACCOUNT, FaultyS3, create_key, drop_blocked_types, encrypt, run_audit, s3_client, state

pytestmark = pytest.mark.slow
OTHER_ACCOUNT = "222222222222"
KEY_A = f"arn:aws:kms:us-east-1:{DEFAULT_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_B = f"arn:aws:kms:us-east-1:{DEFAULT_ACCOUNT}:key/00000000-1111-2222-3333-444444444444"
KEY_WEST = f"arn:aws:kms:eu-west-1:{DEFAULT_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_OTHER_ACCOUNT = f"arn:aws:kms:us-east-1:{OTHER_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
NOT_FOUND = "ServerSideEncryptionConfigurationNotFoundError"
FAKE_A = KEY_A  # a key id no KMS has: only judged here, never written


@pytest.fixture(autouse=True)
def real_keys(endpoint: str, s3: Any) -> None:
    """KEY_A and KEY_B as keys moto's KMS has (the fix checks with DescribeKey that a key it writes exists)."""
    global KEY_A, KEY_B
    KEY_A, KEY_B = create_key(endpoint), create_key(endpoint)


def pack_config(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(config))
    return path


def by_name(document: Any) -> dict[str, Any]:
    return {b["name"]: b for b in document["buckets"]}


def default_of(state_or_rule: Any) -> Any:
    rule = state_or_rule["Rules"][0] if "Rules" in state_or_rule else state_or_rule
    return rule["ApplyServerSideEncryptionByDefault"]


def test_a_bucket_of_another_account_is_reported_never_read_or_written(endpoint: str, s3: Any) -> None:
    encrypt(s3, "ours", None)
    encrypt(s3_client(endpoint, OTHER_ACCOUNT), "theirs", None)
    with FaultyS3(endpoint, owners={"theirs": OTHER_ACCOUNT}) as front:
        code, document, _ = run_audit(front.url, "--json", "--fix", "--sse-algorithm", "AES256",
                                      "--bucket", "ours", "--bucket", "theirs")
    got = by_name(document)
    assert got["theirs"]["verdict"] == "error" and got["theirs"]["error"].startswith("AccessDenied")
    assert "does not own" in got["theirs"]["findings"][0]["message"]
    assert got["theirs"]["fix"] is None
    assert state(s3_client(endpoint, OTHER_ACCOUNT), "theirs") == NOT_FOUND
    assert got["ours"]["fix"]["status"] == "fixed"
    bucket_calls = [c for c in front.calls if c.bucket is not None]
    assert {c.action for c in bucket_calls} == {"GetBucketLocation", "GetBucketEncryption", "PutBucketEncryption"}
    assert {c.expected_owner for c in bucket_calls} == {DEFAULT_ACCOUNT}
    assert not any(c.bucket == "theirs" and c.action == "PutBucketEncryption" for c in front.calls)
    assert code == 1


def test_a_key_of_another_region_or_account_is_never_written(endpoint: str, s3: Any) -> None:
    west = create_key(endpoint, "eu-west-1")
    encrypt(s3, "west", None, region="eu-west-1")
    encrypt(s3, "east", None)
    code, document, _ = run_audit(endpoint, "--json", "--fix", "--kms-key-id", west)
    got = by_name(document)
    assert got["east"]["fix"]["status"] == "refused"
    assert "is in region eu-west-1, the bucket in us-east-1" in got["east"]["fix"]["reason"]
    assert state(s3, "east") == NOT_FOUND
    assert got["west"]["fix"]["status"] == "fixed"
    assert default_of(state(s3, "west")) == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": west}
    assert code == 1

    alias = f"arn:aws:kms:us-east-1:{OTHER_ACCOUNT}:alias/theirs"
    code, document, _ = run_audit(endpoint, "--json", "--fix", "--kms-key-id", alias, "--bucket", "east")
    assert f"KMS alias {alias} belongs to account {OTHER_ACCOUNT}" in by_name(document)["east"]["fix"]["reason"]
    assert state(s3, "east") == NOT_FOUND
    assert code == 1


def test_a_dsse_bucket_failing_only_sse_c_keeps_dsse_and_its_key(endpoint: str, s3: Any, tmp_path: Path) -> None:
    encrypt(s3, "dsse", "aws:kms:dsse", KEY_B)
    config = pack_config(tmp_path, {"s3-sse-c-blocked": "mandatory"})
    with FaultyS3(endpoint, rewrite_put=drop_blocked_types) as front:
        code, document, _ = run_audit(front.url, "--json", "--policy-pack-config", config, "--fix",
                                      "--kms-key-id", KEY_A)
        written = front.written_rule("dsse")
    assert written["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms:dsse", "KMSMasterKeyID": KEY_B}
    assert written["BlockedEncryptionTypes"] == {"EncryptionType": ["SSE-C"]}
    assert default_of(state(s3, "dsse")) == {"SSEAlgorithm": "aws:kms:dsse", "KMSMasterKeyID": KEY_B}
    # A service that accepts BlockedEncryptionTypes but does not keep it: a write S3 accepts that still fails.
    fix = by_name(document)["dsse"]["fix"]
    assert fix["status"] == "still-failing"
    assert "s3-sse-c-blocked" in fix["reason"] and f"S3 now holds: aws:kms:dsse, key {KEY_B}" in fix["reason"]
    assert document["summary"]["fixed"] == 0 and document["summary"]["still-failing"] == 1
    assert code == 1


@pytest.mark.parametrize(("before", "config", "flags", "lowered"), [
    (("aws:kms:dsse", "KEY_A"), {"s3-encryption-algorithm-allowed": {"allowedAlgorithms": ["aws:kms"]}},
     ("--kms-key-id", "KEY_A"), "DSSE-KMS (aws:kms:dsse) down to SSE-KMS (aws:kms)"),
    (("aws:kms", "KEY_B"), {"s3-kms-key-allowed": {"allowedKmsKeys": ["alias/aws/s3"]}},
     ("--use-aws-managed-key",), "customer managed key KEY_B down to the AWS managed key aws/s3"),
    (("aws:kms", None), {"s3-encryption-algorithm-allowed": {"allowedAlgorithms": ["AES256"]}},
     ("--sse-algorithm", "AES256"), "SSE-KMS (aws:kms) down to SSE-S3 (AES256)"),
], ids=["dsse-to-kms", "customer-key-to-aws-managed", "kms-to-sse-s3"])
def test_lowering_encryption_needs_force_and_is_shown(endpoint: str, s3: Any, tmp_path: Path, before: tuple[str, str | None],
                                                      config: dict[str, Any], flags: tuple[str, ...], lowered: str) -> None:
    named = {"KEY_A": KEY_A, "KEY_B": KEY_B}
    before = (before[0], named.get(before[1] or "", before[1]))
    flags = tuple(named.get(f, f) for f in flags)
    lowered = lowered.replace("KEY_B", KEY_B)
    encrypt(s3, "bucket", before[0], before[1], bucket_key=before[0] == "aws:kms")
    original = state(s3, "bucket")
    path = pack_config(tmp_path, config)
    code, document, _ = run_audit(endpoint, "--json", "--policy-pack-config", path, "--fix", *flags)
    fix = by_name(document)["bucket"]["fix"]
    assert fix["status"] == "refused" and lowered in fix["reason"] and "--force" in fix["reason"]
    assert state(s3, "bucket") == original
    assert code == 1
    code, table, _ = run_audit(endpoint, "--policy-pack-config", path, "--fix", *flags, "--force")
    assert f"fixed (lowers, forced: {lowered})" in table
    assert state(s3, "bucket") != original
    assert code == 0


def test_the_fix_keeps_the_bucket_key_the_bucket_had(endpoint: str, s3: Any, tmp_path: Path) -> None:
    encrypt(s3, "keyed", "aws:kms", KEY_B, bucket_key=True)
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: bucketguard\nruntime: python\n")
    (project / "Pulumi.dev.yaml").write_text(
        f"config:\n  bucketguard:defaults:\n    kmsKeyId: {KEY_A}\n    bucketKeyEnabled: false\n")
    config = pack_config(tmp_path, {"s3-kms-key-allowed": {"allowedKmsKeys": [KEY_A]}})
    code, _, _ = run_audit(endpoint, "--json", "--policy-pack-config", config, "--fix", "--force", cwd=project)
    rule = state(s3, "keyed")["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY_A}
    assert rule["BucketKeyEnabled"] is True
    assert code == 0


def test_a_fix_setting_the_pack_config_forbids_stops_before_any_write(endpoint: str, s3: Any, tmp_path: Path) -> None:
    encrypt(s3, "none", None)
    config = pack_config(tmp_path, {"s3-encryption-algorithm-allowed": {"allowedAlgorithms": ["aws:kms"]}})
    code, out, stderr = run_audit(endpoint, "--policy-pack-config", config, "--fix", "--sse-algorithm", "AES256")
    assert code == 2
    assert "fix setting would itself fail the policies" in stderr
    assert "s3-encryption-algorithm-allowed" in stderr and "'AES256' is not allowed here" in stderr
    assert out == ""
    assert state(s3, "none") == NOT_FOUND


def test_sse_c_blocking_by_default_and_allow_sse_c(endpoint: str, s3: Any) -> None:
    encrypt(s3, "blocked", None)
    encrypt(s3, "open", None)
    with FaultyS3(endpoint) as front:
        run_audit(front.url, "--fix", "--sse-algorithm", "AES256", "--bucket", "blocked")
        run_audit(front.url, "--fix", "--sse-algorithm", "AES256", "--allow-sse-c", "--bucket", "open")
        assert front.written_rule("blocked")["BlockedEncryptionTypes"] == {"EncryptionType": ["SSE-C"]}
        assert "BlockedEncryptionTypes" not in front.written_rule("open")


def test_import_file_leaves_out_refused_and_unverified_buckets(endpoint: str, s3: Any, tmp_path: Path) -> None:
    encrypt(s3, "fixable", None)
    encrypt(s3, "locked", "aws:kms", KEY_B, bucket_key=True)  # customer key: refused without --force
    encrypt(s3, "west", None, region="eu-west-1")  # the fix key is not in its region: refused
    encrypt(s3, "already-fine", "aws:kms", KEY_A, bucket_key=True)
    config = pack_config(tmp_path, {"s3-kms-key-allowed": {"allowedKmsKeys": [KEY_A]}})
    target = tmp_path / "import.json"
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: bucketguard\nruntime: python\n")
    (project / "Pulumi.dev.yaml").write_text(f"config:\n  bucketguard:defaults:\n    kmsKeyId: {KEY_A}\n"
                                             "    blockSseC: false\n  bucketguard:attach: [fixable, locked, west]\n")
    code, table, _ = run_audit(endpoint, "--policy-pack-config", config, "--fix", "--import-file", target, cwd=project)
    imported = [r["id"] for r in json.loads(target.read_text())["resources"] if "id" in r]
    assert imported == ["fixable"]
    assert "! locked: left out of the import file" in table and "! west: left out of the import file" in table
    assert code == 1


def test_list_buckets_is_paginated_with_max_buckets(endpoint: str, s3: Any) -> None:
    for i in range(5):
        encrypt(s3, f"paged-{i}", "AES256")
    with FaultyS3(endpoint, list_page=2) as front:
        code, document, stderr = run_audit(front.url, "--json")
        requests = front.list_requests
    assert sorted(by_name(document)) == [f"paged-{i}" for i in range(5)], stderr
    assert [r.get("max-buckets") for r in requests] == [["10000"]] * 3
    assert code == 0


def test_a_key_of_another_account_with_the_same_id_is_not_the_fix_key(endpoint: str, s3: Any, tmp_path: Path) -> None:
    other = f"arn:aws:kms:us-east-1:{OTHER_ACCOUNT}:key/{KEY_A.rsplit('/', 1)[1]}"  # same key id as KEY_A
    encrypt(s3, "foreign-key", "aws:kms", other, bucket_key=True)
    config = pack_config(tmp_path, {"s3-kms-key-allowed": {"allowedKmsKeys": [KEY_A]}})
    code, document, _ = run_audit(endpoint, "--json", "--policy-pack-config", config, "--fix", "--kms-key-id", KEY_A)
    bucket = by_name(document)["foreign-key"]
    assert bucket["verdict"] == "FAIL"
    assert bucket["fix"]["status"] == "refused"
    assert f"customer managed key {other}" in bucket["fix"]["reason"] and "--force" in bucket["fix"]["reason"]
    assert default_of(state(s3, "foreign-key"))["KMSMasterKeyID"] == other
    assert code == 1


def test_bare_allowed_keys_resolve_in_the_buckets_own_account_and_region(endpoint: str, s3: Any, tmp_path: Path) -> None:
    encrypt(s3, "own-key", "aws:kms", FAKE_A, bucket_key=True)
    encrypt(s3, "same-id-other-account", "aws:kms", KEY_OTHER_ACCOUNT, bucket_key=True)
    encrypt(s3, "west-same-id", "aws:kms", KEY_WEST, bucket_key=True, region="eu-west-1")
    encrypt(s3, "same-id-other-region", "aws:kms", KEY_WEST, bucket_key=True)
    config = pack_config(tmp_path, {"s3-kms-key-allowed": {"allowedKmsKeys": [FAKE_A.rsplit("/", 1)[1]]},
                                    "s3-sse-c-blocked": "disabled"})
    code, document, _ = run_audit(endpoint, "--json", "--policy-pack-config", config)
    assert {name: b["verdict"] for name, b in by_name(document).items()} == {
        "own-key": "ok", "same-id-other-account": "FAIL", "west-same-id": "ok", "same-id-other-region": "FAIL"}
    assert code == 1
