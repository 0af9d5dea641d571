"""What the audit's fix decides (issue 24 items 1-5, 8, 9; issue 19 items 1-2; issue 23 item 6), through the
command line against moto and the fault-injecting front: every rule is judged, an algorithm bucketguard does
not know is never replaced without --force, an applied plan gets every check a fix gets, a key S3 cannot use
is never written, legacy locations are regions, `NONE` blocks nothing, a central key by full ARN."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from audit_server import DEFAULT_ACCOUNT, FaultyS3, create_key, encrypt, run_audit, state

pytestmark = pytest.mark.slow
NOT_FOUND = "ServerSideEncryptionConfigurationNotFoundError"


def config_file(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(config))
    return path


def bucket(document: Any, name: str) -> Any:
    return next(b for b in document["buckets"] if b["name"] == name)


def puts(front: FaultyS3, name: str) -> int:
    return sum(c.action == "PutBucketEncryption" and c.bucket == name for c in front.calls)


def test_every_rule_counts_for_lowering_and_replacing(endpoint: str, s3: Any, tmp_path: Path) -> None:
    k1, k2 = create_key(endpoint), create_key(endpoint)
    encrypt(s3, "multi", None)
    held = [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False},
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms:dsse", "KMSMasterKeyID": k1},
             "BucketKeyEnabled": False}]
    config = config_file(tmp_path, {"s3-encryption-algorithm-allowed": {"allowedAlgorithms": ["aws:kms"]}})
    with FaultyS3(endpoint, encryption={"multi": held}) as front:
        code, document, _ = run_audit(front.url, "--json", "--policy-pack-config", config, "--fix", "--kms-key-id", k2)
        assert puts(front, "multi") == 0
        fix = bucket(document, "multi")["fix"]
        assert fix["status"] == "refused" and "--force" in fix["reason"]
        assert "DSSE-KMS (aws:kms:dsse) down to SSE-KMS (aws:kms)" in fix["reason"]
        assert f"customer managed key {k1}" in fix["reason"]
        code, table, _ = run_audit(front.url, "--policy-pack-config", config)
        row = next(line for line in table.splitlines() if line.startswith("multi "))
        assert row.split()[2:4] == ["AES256+aws:kms:dsse", f"-+{k1}"] and code == 1  # every rule, every key


@pytest.mark.parametrize("algorithm", ["aws:kms:pq", "aws:fsx", "rot13"])
def test_an_unknown_algorithm_is_never_replaced_without_force(endpoint: str, s3: Any, algorithm: str) -> None:
    encrypt(s3, "odd", None)
    held = [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": algorithm}, "BucketKeyEnabled": False}]
    with FaultyS3(endpoint, encryption={"odd": held}) as front:
        code, document, _ = run_audit(front.url, "--json", "--fix", "--sse-algorithm", "AES256")
        fix = bucket(document, "odd")["fix"]
        assert fix["status"] == "refused" and puts(front, "odd") == 0
        assert f"{algorithm}, an algorithm bucketguard does not know" in fix["reason"] and "--force" in fix["reason"]
        code, document, _ = run_audit(front.url, "--json", "--fix", "--sse-algorithm", "AES256", "--force")
        assert bucket(document, "odd")["fix"]["status"] == "fixed" and code == 0


def test_an_applied_plan_gets_every_check_a_fix_gets(endpoint: str, s3: Any, tmp_path: Path) -> None:
    key_a, key_b = create_key(endpoint), create_key(endpoint)
    encrypt(s3, "plain", None)
    encrypt(s3, "fine", "AES256")
    encrypt(s3, "kms", "aws:kms", key_b, bucket_key=True)
    encrypt(s3, "dsse", "aws:kms:dsse", key_b)
    config = config_file(tmp_path, {"s3-kms-key-allowed": {"allowedKmsKeys": [key_a]},
                                    "s3-encryption-algorithm-allowed": {"allowedAlgorithms": ["AES256", "aws:kms"]}})
    plan = tmp_path / "plan.json"
    run_audit(endpoint, "--policy-pack-config", config, "--plan", plan, "--kms-key-id", key_a)
    document = json.loads(plan.read_text())
    assert [c["bucket"] for c in document["changes"]] == ["plain"]  # kms and dsse are refused without --force
    template = document["changes"][0]
    kms_after = [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_a},
                  "BucketKeyEnabled": True, "BlockedEncryptionTypes": {"EncryptionType": ["SSE-C"]}}]
    for name, after, lowers in [
            ("fine", kms_after, []), ("kms", kms_after, []),
            ("dsse", [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}],
             ["DSSE-KMS (aws:kms:dsse) down to SSE-S3 (AES256)", f"drops customer managed key {key_b}"])]:
        document["changes"].append({**template, "bucket": name, "before": state(s3, name)["Rules"], "after": after,
                                    "lowers": lowers})
    plan.write_text(json.dumps(document))
    held = {name: state(s3, name) for name in ("fine", "kms", "dsse")}
    code, out, _ = run_audit(endpoint, "--apply", plan)
    assert f"SKIPPED {DEFAULT_ACCOUNT} fine: it passes the mandatory policies" in out
    assert f"SKIPPED {DEFAULT_ACCOUNT} kms: it uses customer managed key {key_b}, which the fix would replace" in out
    assert f"SKIPPED {DEFAULT_ACCOUNT} dsse: the fix would lower encryption" in out and "text in the plan grants nothing" in out
    assert {name: state(s3, name) for name in held} == held
    assert code == 1
    code, out, _ = run_audit(endpoint, "--apply", plan, "--force")
    assert state(s3, "kms")["Rules"][0]["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == key_a
    assert state(s3, "fine") == held["fine"]


def test_a_current_key_of_another_region_is_misplaced_not_kept(endpoint: str, s3: Any, tmp_path: Path) -> None:
    west, east = create_key(endpoint, "eu-west-1"), create_key(endpoint)
    encrypt(s3, "misplaced", "aws:kms", west)  # no Bucket Key: fails when the Bucket Key is mandatory
    config = config_file(tmp_path, {"s3-bucket-key-enabled": "mandatory"})
    code, document, _ = run_audit(endpoint, "--json", "--policy-pack-config", config, "--fix", "--kms-key-id", east)
    assert bucket(document, "misplaced")["fix"]["status"] == "fixed"
    assert state(s3, "misplaced")["Rules"][0]["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == east
    encrypt(s3, "misplaced-2", "aws:kms", west)
    code, document, _ = run_audit(endpoint, "--json", "--policy-pack-config", config, "--fix", "--kms-key-id", west,
                                  "--bucket", "misplaced-2")
    fix = bucket(document, "misplaced-2")["fix"]
    assert fix["status"] == "refused" and "is in region eu-west-1, the bucket in us-east-1" in fix["reason"]
    assert code == 1


def kms(endpoint: str, region: str = "us-east-1") -> Any:
    return boto3.client("kms", endpoint_url=endpoint, region_name=region, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


@pytest.mark.parametrize("kind", ["missing", "disabled", "pending-deletion", "asymmetric"])
def test_a_key_the_bucket_cannot_use_is_never_written(endpoint: str, s3: Any, kind: str) -> None:
    if kind == "missing":
        key = f"arn:aws:kms:us-east-1:{DEFAULT_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    elif kind == "asymmetric":
        key = create_key(endpoint, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    else:
        key = create_key(endpoint)
        key_id = key.rsplit("/", 1)[1]  # moto's DisableKey and ScheduleKeyDeletion take only the bare id
        if kind == "disabled":
            kms(endpoint).disable_key(KeyId=key_id)
        else:
            kms(endpoint).schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    encrypt(s3, "plain", None)
    code, document, _ = run_audit(endpoint, "--json", "--fix", "--kms-key-id", key)
    fix = bucket(document, "plain")["fix"]
    assert fix["status"] == "refused" and f"KMS key {key}" in fix["reason"]
    assert state(s3, "plain") == NOT_FOUND and code == 1


def test_describe_key_reachable_not_checked_and_denied(endpoint: str, s3: Any) -> None:
    key = create_key(endpoint)
    encrypt(s3, "plain", None)
    code, table, _ = run_audit(endpoint, "--fix", "--kms-key-id", key, "--allow-sse-c")
    assert f"[key reachable: {key}]" in table and code == 0
    encrypt(s3, "plain-2", None)
    with FaultyS3(endpoint, no_describe_key=True) as front:
        code, table, _ = run_audit(front.url, "--fix", "--kms-key-id", key, "--bucket", "plain-2", "--allow-sse-c")
    assert f"[key not checked: {key} (no kms:DescribeKey)]" in table and code == 0
    encrypt(s3, "plain-3", None)
    with FaultyS3(endpoint, kms_denied=(key.rsplit("/", 1)[1],)) as front:
        code, document, _ = run_audit(front.url, "--json", "--fix", "--kms-key-id", key, "--bucket", "plain-3")
        assert puts(front, "plain-3") == 0
    fix = bucket(document, "plain-3")["fix"]
    assert fix["status"] == "refused" and "was refused (AccessDeniedException)" in fix["reason"]


def test_legacy_eu_location_is_eu_west_1(endpoint: str, s3: Any) -> None:
    west = create_key(endpoint, "eu-west-1")
    encrypt(s3, "old-eu", None, region="eu-west-1")
    with FaultyS3(endpoint, locations={"old-eu": "EU"}) as front:
        code, document, _ = run_audit(front.url, "--json", "--fix", "--kms-key-id", west)
    got = bucket(document, "old-eu")
    assert got["region"] == "eu-west-1" and got["fix"]["status"] == "fixed" and code == 0


def test_blocked_none_blocks_nothing(endpoint: str, s3: Any, tmp_path: Path) -> None:
    encrypt(s3, "none-blocked", None)
    held = [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False,
             "BlockedEncryptionTypes": {"EncryptionType": ["NONE"]}}]
    config = config_file(tmp_path, {"s3-sse-c-blocked": "mandatory"})
    with FaultyS3(endpoint, encryption={"none-blocked": held}) as front:
        code, table, _ = run_audit(front.url, "--policy-pack-config", config)
        assert "none-blocked" in table and "NONE" not in table and code == 1  # SSE-C is not blocked
        code, document, _ = run_audit(front.url, "--json", "--policy-pack-config", config, "--fix",
                                      "--sse-algorithm", "AES256")
        assert front.written_rule("none-blocked")["BlockedEncryptionTypes"] == {"EncryptionType": ["SSE-C"]}
    assert bucket(document, "none-blocked")["fix"]["status"] == "fixed"


def test_a_central_key_by_full_arn_plan_then_apply(endpoint: str, s3: Any, tmp_path: Path) -> None:
    central = create_key(endpoint, account="999999999999")
    encrypt(s3, "plain", None)
    plan = tmp_path / "plan.json"
    with FaultyS3(endpoint) as front:
        code, _, stderr = run_audit(front.url, "--plan", plan, "--kms-key-id", central, "--allow-sse-c")
        changes = json.loads(plan.read_text())["changes"]
        assert changes[0]["after"][0]["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == central, stderr
        code, out, _ = run_audit(front.url, "--apply", plan)
        assert f"{DEFAULT_ACCOUNT} ~ plain: fixed" in out and f"[key reachable: {central}]" in out
        # applied twice: a no-op that says so
        code, out, _ = run_audit(front.url, "--apply", plan)
        assert "~ plain: already applied: an earlier run of this plan wrote it (see its journal)" in out
        assert code == 0 and puts(front, "plain") == 1
    alias = "arn:aws:kms:us-east-1:999999999999:alias/central"
    encrypt(s3, "plain-2", None)
    code, document, _ = run_audit(endpoint, "--json", "--fix", "--kms-key-id", alias, "--bucket", "plain-2")
    assert "belongs to account 999999999999" in bucket(document, "plain-2")["fix"]["reason"]


def test_a_plan_applied_by_other_means_is_a_no_op_that_says_so(endpoint: str, s3: Any, tmp_path: Path) -> None:
    encrypt(s3, "plain", None)
    plan = tmp_path / "plan.json"
    run_audit(endpoint, "--plan", plan, "--sse-algorithm", "AES256")
    code, _, _ = run_audit(endpoint, "--fix", "--sse-algorithm", "AES256")  # the same change, by --fix
    assert code == 0
    with FaultyS3(endpoint) as front:
        code, out, _ = run_audit(front.url, "--apply", plan)
        assert puts(front, "plain") == 0
    assert "~ plain: already applied: it already holds the planned encryption (the plan was applied before, " \
           "or by other means)" in out and code == 0
