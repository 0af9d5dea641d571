"""The stack program (`__main__.py`) on the dev stack's config and on bad config."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest
from helpers import (
    BUCKET,
    BUCKET_ENCRYPTION,
    CONFIGURATION,
    ENCRYPTED_BUCKET,
    KEY,
    ROOT,
    STACK,
    capture_stack_program,
    rule_of,
    types_registered,
)

from bucketguard.preview.capture import Capture, capture_program_dir


def default_of(cap: Capture, name: str) -> dict[str, Any]:
    rule = rule_of(cap.by_name(f"{name}-encryption", CONFIGURATION).inputs)
    default: dict[str, Any] = rule["applyServerSideEncryptionByDefault"]
    return default


def test_dev_stack_registers_what_it_promises() -> None:
    cap = capture_stack_program()

    assert sorted(r.name for r in cap.of_type(ENCRYPTED_BUCKET)) == ["access-logs", "data", "ledger"]
    assert [r.name for r in cap.of_type(BUCKET_ENCRYPTION)] == ["attach-acme-dev-legacy-reports"]
    assert len(cap.of_type(BUCKET)) == 3  # the attached bucket is not declared, let alone replaced

    (shared_key,) = cap.of_type(KEY)  # ONE customer managed key for the stack
    assert shared_key.parent == cap.of_type(STACK)[0].urn
    assert shared_key.retain_on_delete and shared_key.inputs["enableKeyRotation"] is True

    data = cap.by_name("data-encryption", CONFIGURATION)
    assert default_of(cap, "data")["sseAlgorithm"] == "aws:kms"
    assert data.property_dependencies["rules"] == [shared_key.urn]
    assert rule_of(data.inputs)["bucketKeyEnabled"] is True

    assert default_of(cap, "access-logs") == {"sseAlgorithm": "AES256"}
    ledger = cap.by_name("ledger-encryption", CONFIGURATION)
    assert default_of(cap, "ledger")["sseAlgorithm"] == "aws:kms:dsse"
    assert ledger.property_dependencies["rules"] == [shared_key.urn]
    assert rule_of(ledger.inputs)["bucketKeyEnabled"] is False

    attached = cap.by_name("attach-acme-dev-legacy-reports-encryption", CONFIGURATION)
    assert attached.inputs["bucket"] == "acme-dev-legacy-reports"
    assert attached.property_dependencies["rules"] == [shared_key.urn]

    tags = cap.by_name("data", BUCKET).inputs["tags"]
    assert tags == {"environment": "dev", "owner": "platform-team", "data-classification": "internal"}


def config(**keys: Any) -> dict[str, str]:
    return {f"bucketguard:{k}": json.dumps(v) for k, v in keys.items()}


def test_buckets_share_one_key_unless_they_name_their_own() -> None:
    own = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    cap = capture_stack_program(config(buckets=[
        {"name": "a"}, {"name": "b"}, {"name": "c", "kmsKeyId": own}, {"name": "d", "useAwsManagedKey": True},
    ]))
    (shared,) = cap.of_type(KEY)
    assert cap.by_name("a-encryption", CONFIGURATION).property_dependencies["rules"] == [shared.urn]
    assert cap.by_name("b-encryption", CONFIGURATION).property_dependencies["rules"] == [shared.urn]
    assert default_of(cap, "c") == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": own}
    assert default_of(cap, "d") == {"sseAlgorithm": "aws:kms"}


def test_no_key_is_created_when_no_bucket_needs_one() -> None:
    cap = capture_stack_program(config(defaults={"sseAlgorithm": "AES256"}, buckets=[{"name": "a"}]))
    assert cap.of_type(KEY) == []
    assert default_of(cap, "a") == {"sseAlgorithm": "AES256"}


def test_a_bucket_choosing_sse_s3_does_not_inherit_the_default_key() -> None:
    key = "alias/platform-s3"
    cap = capture_stack_program(config(defaults={"kmsKeyId": key}, buckets=[
        {"name": "a"}, {"name": "logs", "sseAlgorithm": "AES256"},
    ]))
    assert default_of(cap, "a") == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key}
    assert default_of(cap, "logs") == {"sseAlgorithm": "AES256"}


BAD_CONFIG = [
    (config(defaults={"sseAlgorithm": "AES-256"}),
     "bucketguard:defaults: sseAlgorithm: 'AES-256' is not an S3 algorithm"),
    (config(defaults={"sseAlgoritm": "AES256"}), "bucketguard:defaults.sseAlgoritm: is not a known field"),
    (config(buckets=[{"name": "a", "sseAlgorithm": "AES256", "kmsKeyId": "alias/x"}]),
     "bucketguard:buckets['a']: kmsKeyId: a KMS key is only valid with aws:kms or aws:kms:dsse, not AES256"),
    (config(buckets=[{"name": "a", "sseAlgorithm": "aws:kms:dsse", "bucketKeyEnabled": True}]),
     "bucketKeyEnabled: S3 does not support Bucket Keys with DSSE-KMS"),
    (config(buckets=[{"name": "a", "bucketName": "Bad_Name"}]), "bucketguard:buckets[0].bucketName"),
    (config(buckets=[{"name": "a"}, {"name": "a"}]), "bucket name 'a' is declared twice"),
    (config(buckets=[{"bucketName": "acme-x"}]), "bucketguard:buckets[0].name: Field required"),
    (config(buckets={"name": "a"}), "bucketguard:buckets: Input should be a valid list"),
    (config(attach=["no"]), "'no' is not an S3 bucket name"),
    ({"bucketguard:bucket": "[]"}, "bucketguard:bucket: not a bucketguard config key"),
    (config(buckets=[{"name": "xn--data"}]),
     "bucketguard:buckets[0]: the bucket name autonamed from 'xn--data' (xn--data-<7 random hex>) is not an S3 "
     "bucket name: it must not start with the reserved prefix 'xn--'; rename the bucket or set bucketName"),
    (config(tags={"aws:createdBy": "me"}), "bucketguard:tags: tag key 'aws:createdBy' starts with the reserved prefix 'aws:'"),
    (config(buckets=[{"name": "a", "tags": {"AWS:x": "y"}}]), "bucketguard:buckets[0].tags: tag key 'AWS:x' starts with"),
    ({"bucketguard:defaults": "aws:kms"}, "bucketguard:defaults: expected a YAML object or list"),
]


@pytest.mark.parametrize(("raw_config", "message"), BAD_CONFIG)
def test_bad_stack_config_stops_before_any_resource(raw_config: dict[str, str], message: str) -> None:
    into = Capture("bucketguard", "dev")
    with pytest.raises(pulumi.RunError) as error:
        capture_program_dir(ROOT / "__main__.py", project="bucketguard", stack="dev", config=raw_config, into=into)
    assert message in str(error.value)
    assert types_registered(into) == []


def test_attached_encryption_survives_removal_from_the_config() -> None:
    cap = capture_stack_program()
    assert cap.by_name("attach-acme-dev-legacy-reports-encryption", CONFIGURATION).retain_on_delete is True
    assert all(c.retain_on_delete for c in cap.of_type(CONFIGURATION))


def test_attaching_with_a_new_key_warns_and_a_given_key_does_not() -> None:
    cap = capture_stack_program(config(attach=["acme-legacy"]))
    (warning,) = [message for severity, message in cap.logs if severity == "warning"]
    assert "acme-legacy switch to the stack's new key shared-bucket-key" in warning
    assert "set bucketguard:defaults.kmsKeyId to it" in warning

    own = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    cap = capture_stack_program(config(attach=["acme-legacy"], defaults={"kmsKeyId": own}))
    assert [m for severity, m in cap.logs if severity == "warning"] == []
    assert default_of(cap, "attach-acme-legacy") == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": own}
