"""`audit --import-file` against moto's server through the command line: the file lists only buckets that
the stack, from its own `Pulumi.<stack>.yaml`, would keep as they are after `pulumi import`; every other
failing bucket is left out with the reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from audit_server import DEFAULT_ACCOUNT, create_key, encrypt, run_audit, state

pytestmark = pytest.mark.slow
KEY_A = f"arn:aws:kms:us-east-1:{DEFAULT_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_B = f"arn:aws:kms:us-east-1:{DEFAULT_ACCOUNT}:key/00000000-1111-2222-3333-444444444444"


def project(tmp_path: Path, stack_config: str) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "Pulumi.yaml").write_text("name: bucketguard\nruntime: python\n")
    (folder / "Pulumi.dev.yaml").write_text("config:\n" + stack_config)
    return folder



@pytest.fixture(autouse=True)
def real_keys(endpoint: str, s3: Any) -> None:
    """KEY_A and KEY_B as keys moto's KMS has: the fix refuses a key DescribeKey does not find."""
    global KEY_A, KEY_B
    KEY_A, KEY_B = create_key(endpoint), create_key(endpoint)

def imported(path: Path) -> list[str]:
    return [r["id"] for r in json.loads(path.read_text())["resources"] if "id" in r]


def notes(table: str) -> dict[str, str]:
    prefix = "! "
    return {line[2:].split(":", 1)[0]: line for line in table.splitlines() if line.startswith(prefix)}


def test_a_bucket_fixed_otherwise_than_the_stack_declares_is_left_out(endpoint: str, s3: Any, tmp_path: Path) -> None:
    """The issue's case: the stack attaches bucket-b with SSE-KMS and key A; the fix flags say AES256."""
    encrypt(s3, "bucket-b", None)
    folder = project(tmp_path, f"  bucketguard:defaults:\n    sseAlgorithm: aws:kms\n    kmsKeyId: {KEY_A}\n"
                               "  bucketguard:attach: [bucket-b]\n")
    target = tmp_path / "import.json"
    code, table, stderr = run_audit(endpoint, "--fix", "--sse-algorithm", "AES256", "--import-file", target,
                                    cwd=folder)
    assert code == 0, stderr
    assert state(s3, "bucket-b")["Rules"][0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert imported(target) == []
    line = notes(table)["bucket-b"]
    assert "algorithm AES256, the stack declares aws:kms" in line and f"the stack declares {KEY_A}" in line
    assert "the next pulumi up would rewrite it" in line


def test_only_attached_buckets_holding_exactly_the_declaration_are_listed(endpoint: str, s3: Any,
                                                                           tmp_path: Path) -> None:
    for name in ("kept", "elsewhere", "not-attached"):
        encrypt(s3, name, None)
    encrypt(s3, "old-key", "aws:kms", KEY_B, bucket_key=True)
    folder = project(tmp_path, f"  bucketguard:defaults:\n    kmsKeyId: {KEY_A}\n    bucketKeyEnabled: false\n"
                               "    blockSseC: false\n"
                               "  bucketguard:attach: [kept, old-key]\n"
                               "  bucketguard:buckets:\n    - name: data\n      bucketName: elsewhere\n")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"s3-kms-key-allowed": {"allowedKmsKeys": [KEY_A]}}))
    target = tmp_path / "import.json"
    code, table, stderr = run_audit(endpoint, "--fix", "--force", "--policy-pack-config", policy,
                                    "--import-file", target, cwd=folder)
    assert code == 0, stderr
    assert imported(target) == ["kept"]
    why = notes(table)
    assert set(why) == {"elsewhere", "not-attached", "old-key"}
    assert "bucketguard:buckets declares it as 'data'" in why["elsewhere"]
    assert "not in bucketguard:attach" in why["not-attached"] and "Pulumi.dev.yaml" in why["not-attached"]
    # --force kept the bucket's Bucket Key; the stack declares it off, so pulumi up would switch it off.
    assert "Bucket Key on, the stack declares off" in why["old-key"]


def test_what_the_stack_declares_cannot_be_told(endpoint: str, s3: Any, tmp_path: Path) -> None:
    encrypt(s3, "new-key", None)
    folder = project(tmp_path, "  bucketguard:defaults:\n    sseAlgorithm: aws:kms\n  bucketguard:attach: [new-key]\n")
    target = tmp_path / "import.json"
    code, table, _ = run_audit(endpoint, "--fix", "--kms-key-id", KEY_A, "--import-file", target, cwd=folder)
    assert code == 0 and imported(target) == []
    assert "a new customer managed key (shared-bucket-key)" in notes(table)["new-key"]
    empty = tmp_path / "empty"
    empty.mkdir()
    encrypt(s3, "no-project", None)
    code, table, _ = run_audit(endpoint, "--fix", "--sse-algorithm", "AES256", "--bucket", "no-project",
                               "--import-file", target, cwd=empty)
    assert imported(target) == [] and "no Pulumi project in ." in notes(table)["no-project"]


def test_a_broken_stack_config_stops_before_anything_is_written(endpoint: str, s3: Any, tmp_path: Path) -> None:
    encrypt(s3, "untouched", None)
    folder = project(tmp_path, "  bucketguard:defaults:\n    sseAlgorithm: AES256\n  bucketguard:attach: [Not_A_Bucket]\n")
    code, out, stderr = run_audit(endpoint, "--fix", "--import-file", tmp_path / "import.json", cwd=folder)
    assert code == 2 and "Not_A_Bucket" in stderr and out == ""
    assert state(s3, "untouched") == "ServerSideEncryptionConfigurationNotFoundError"
