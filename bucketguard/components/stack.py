"""The stack program's logic: read `bucketguard:*` config and build the declared buckets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.runtime.config as runtime_config
import pulumi_aws as aws

from bucketguard.components.encrypted_bucket import EncryptedBucket, EncryptedBucketArgs
from bucketguard.components.encryption import BucketEncryption, BucketEncryptionArgs
from bucketguard.components.kms import new_bucket_key
from bucketguard.settings import SettingsError, StackConfig, load_stack_config

NAMESPACE = "bucketguard"
CONFIG_KEYS = ("defaults", "buckets", "attach", "tags")
SHARED_KEY_NAME = "shared-bucket-key"


def read_stack_config() -> StackConfig:
    """Read and validate the project's config keys; raise SettingsError naming the key."""
    present = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    raw: dict[str, Any] = {}
    for full_key, value in present.items():
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE:
            continue
        if key not in CONFIG_KEYS:
            raise SettingsError(
                f"{full_key}: not a bucketguard config key; use one of "
                + ", ".join(f"{NAMESPACE}:{k}" for k in CONFIG_KEYS)
            )
        try:
            raw[key] = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError:
            raise SettingsError(
                f"{full_key}: expected a YAML object or list, got the plain string {value!r}"
            ) from None
    return load_stack_config(raw)


@dataclass
class StackBuckets:
    """What the stack program built."""

    shared_key: aws.kms.Key | None
    buckets: dict[str, EncryptedBucket]
    attached: dict[str, BucketEncryption]


def build_stack(config: StackConfig) -> StackBuckets:
    """Build one `EncryptedBucket` per declared bucket and one `BucketEncryption` per attached
    bucket. Buckets that need a customer managed key share ONE key created here."""
    settings = {bucket.name: config.settings_for(bucket) for bucket in config.buckets}
    attach_settings = config.defaults
    needs_key = any(s.needs_customer_key for s in settings.values()) or (
        config.attach and attach_settings.needs_customer_key
    )
    shared_key = (
        new_bucket_key(
            SHARED_KEY_NAME,
            description=f"S3 default encryption for the buckets of stack {pulumi.get_stack()} (bucketguard)",
            tags=config.tags or None,
        )
        if needs_key
        else None
    )

    def with_key(encryption: dict[str, Any], needs_customer_key: bool) -> dict[str, Any]:
        if needs_customer_key and shared_key is not None:
            return {**encryption, "kms_key_id": shared_key.arn}
        return encryption

    buckets: dict[str, EncryptedBucket] = {}
    for bucket in config.buckets:
        setting = settings[bucket.name]
        encryption = setting.model_dump(exclude_none=True)
        args: EncryptedBucketArgs = {
            **with_key(encryption, setting.needs_customer_key),  # type: ignore[typeddict-item]
            "force_destroy": bucket.force_destroy,
            "enforce_tls": bucket.enforce_tls,
            "tags": {**config.tags, **bucket.tags},
        }
        if bucket.bucket_name:
            args["bucket_name"] = bucket.bucket_name
        if bucket.retain_on_delete is not None:
            args["retain_on_delete"] = bucket.retain_on_delete
        buckets[bucket.name] = EncryptedBucket(bucket.name, args)

    if config.attach and attach_settings.needs_customer_key:
        pulumi.log.warn(
            f"bucketguard:attach: {', '.join(config.attach)} switch to the stack's new key {SHARED_KEY_NAME}: "
            "objects written from then on need kms:Decrypt on it, and writers kms:GenerateDataKey. "
            "To keep the key a bucket uses today, set bucketguard:defaults.kmsKeyId to it "
            "(`bucketguard audit --bucket NAME` shows it)."
        )
    attached: dict[str, BucketEncryption] = {}
    for existing in config.attach:
        encryption = attach_settings.model_dump(exclude_none=True)
        attach_args: BucketEncryptionArgs = {
            **with_key(encryption, attach_settings.needs_customer_key),  # type: ignore[typeddict-item]
            "bucket": existing,
        }
        attached[existing] = BucketEncryption(f"attach-{existing}", attach_args)
    return StackBuckets(shared_key, buckets, attached)


def export_stack(built: StackBuckets) -> None:
    """Export each bucket's name, ARN, algorithm and key ARN."""
    pulumi.export("buckets", {
        name: {
            "name": b.bucket_name,
            "arn": b.bucket_arn,
            "sseAlgorithm": b.sse_algorithm,
            "kmsKeyArn": b.kms_key_arn,
        }
        for name, b in built.buckets.items()
    })
    pulumi.export("attached", {
        name: {"sseAlgorithm": a.sse_algorithm, "kmsKeyArn": a.kms_key_arn}
        for name, a in built.attached.items()
    })
    if built.shared_key is not None:
        pulumi.export("sharedKeyArn", built.shared_key.arn)
