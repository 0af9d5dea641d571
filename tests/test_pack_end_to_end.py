"""Programs run under the mock runtime (preview mode), captured and replayed to the pack."""

from __future__ import annotations

from collections.abc import Iterator

import pulumi
import pulumi_aws as aws
import pytest
from helpers import ROOT, capture, capture_stack_program

from bucketguard.components import BucketEncryption, EncryptedBucket
from bucketguard.preview.analyzer import PolicyPackProcess, run_preview_analysis

pytestmark = pytest.mark.protocol


@pytest.fixture(scope="module")
def pack() -> Iterator[PolicyPackProcess]:
    with PolicyPackProcess(ROOT / "policies", project="bucketguard", stack="dev") as process:
        process.configure()
        yield process


def test_dev_stack_passes_with_no_diagnostic_at_all(pack: PolicyPackProcess) -> None:
    assert run_preview_analysis(pack, capture_stack_program().resources) == []


def test_one_bare_bucket_fails_on_exactly_that_bucket(pack: PolicyPackProcess) -> None:
    def program() -> None:
        EncryptedBucket("good")
        aws.s3.Bucket("bare")

    cap = capture(program, config=None)
    diagnostics = run_preview_analysis(pack, cap.resources)
    assert [(d.policy, d.level, d.urn) for d in diagnostics] == [
        ("s3-bucket-encryption-declared", "mandatory", cap.by_name("bare").urn)]


def test_encryption_attached_from_another_component_counts(pack: PolicyPackProcess) -> None:
    def program() -> None:
        bucket = aws.s3.Bucket("shared", bucket=None)
        BucketEncryption("shared", {"bucket": bucket, "sse_algorithm": "AES256"})
        other = aws.s3.Bucket("by-id")
        aws.s3.BucketServerSideEncryptionConfiguration(
            "by-id-encryption", bucket=other.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"},
                    "blocked_encryption_types": ["SSE-C"]}])

    assert run_preview_analysis(pack, capture(program).resources) == []


KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="module")
def bare_allow_list_pack() -> Iterator[PolicyPackProcess]:
    with PolicyPackProcess(ROOT / "policies", project="bucketguard", stack="dev") as process:
        process.configure({"s3-kms-key-allowed": {"allowedKmsKeys": [KEY_ID]}})
        yield process


@pytest.mark.parametrize(("key_region", "passes"), [("us-east-1", True), ("eu-west-1", False)])
def test_an_explicit_providers_account_and_region_place_a_bare_allowed_key(
        bare_allow_list_pack: PolicyPackProcess, key_region: str, passes: bool) -> None:
    # The provider's inputs travel with each resource that uses it, as the engine sends them.
    def program() -> None:
        east = aws.Provider("east", region="us-east-1", allowed_account_ids=["123456789012"])
        bucket = aws.s3.Bucket("data", opts=pulumi.ResourceOptions(provider=east))
        BucketEncryption("data", {"bucket": bucket, "sse_algorithm": "aws:kms",
                                  "kms_key_id": f"arn:aws:kms:{key_region}:123456789012:key/{KEY_ID}"},
                         opts=pulumi.ResourceOptions(providers=[east]))

    cap = capture(program)
    diagnostics = run_preview_analysis(bare_allow_list_pack, cap.resources)
    if passes:
        assert diagnostics == []
    else:
        (diagnostic,) = diagnostics
        assert diagnostic.policy == "s3-kms-key-allowed"
        assert f"KMS key arn:aws:kms:{key_region}:123456789012:key/{KEY_ID} is not one of the allowed keys" in (
            diagnostic.message)
