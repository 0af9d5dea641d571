"""Configuration items shaped as AWS Config records an AWS::S3::Bucket (field names and types from AWS's
published resource schema, awslabs/aws-config-resource-schema AWS::S3::Bucket.properties.json, and the
configuration item fields of the Config API's ConfigurationItem: version 1.3, accountId, awsRegion,
supplementaryConfiguration values as objects, unset members as null)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

CAPTURED = "2026-11-30T08:15:42.117Z"


def recorded_rules(api_rules: Sequence[Mapping[str, Any]], *, record_blocked: bool) -> list[dict[str, Any]]:
    """S3's GetBucketEncryption Rules as Config records them (camelCase, nulls for unset members)."""
    recorded = []
    for rule in api_rules:
        default = rule.get("ApplyServerSideEncryptionByDefault")
        item: dict[str, Any] = {
            "applyServerSideEncryptionByDefault": None if default is None else {
                "sseAlgorithm": default.get("SSEAlgorithm"), "kmsMasterKeyID": default.get("KMSMasterKeyID")},
            "bucketKeyEnabled": rule.get("BucketKeyEnabled", False),
        }
        if record_blocked and "BlockedEncryptionTypes" in rule:
            item["blockedEncryptionTypes"] = {"encryptionType": list(rule["BlockedEncryptionTypes"]["EncryptionType"])}
        recorded.append(item)
    return recorded


def bucket_item(name: str, account: str, region: str, api_rules: Sequence[Mapping[str, Any]] | None, *,
                record_blocked: bool = False, captured: str = CAPTURED, status: str = "OK") -> dict[str, Any]:
    """The configuration item of a bucket whose GetBucketEncryption returns `api_rules` (None: no
    configuration). `record_blocked`: also record BlockedEncryptionTypes, which Config does not today."""
    supplementary: dict[str, Any] = {
        "AccessControlList": '{"grantSet":null,"grantList":[],"owner":{"displayName":null,"id":"c0ffee"},'
                             '"isRequesterCharged":false}',
        "BucketAccelerateConfiguration": {"status": None},
        "BucketLoggingConfiguration": {"destinationBucketName": None, "logFilePrefix": None},
        "BucketNotificationConfiguration": {"configurations": {}},
        "BucketPolicy": {"policyText": None},
        "BucketVersioningConfiguration": {"status": "Off", "isMfaDeleteEnabled": None},
        "IsRequesterPaysEnabled": False,
        "PublicAccessBlockConfiguration": {"blockPublicAcls": True, "ignorePublicAcls": True,
                                           "blockPublicPolicy": True, "restrictPublicBuckets": True},
    }
    if api_rules is not None:
        supplementary["ServerSideEncryptionConfiguration"] = {
            "rules": recorded_rules(api_rules, record_blocked=record_blocked)}
    return {
        "version": "1.3",
        "accountId": account,
        "configurationItemCaptureTime": captured,
        "configurationItemStatus": status,
        "configurationStateId": "1764490542117",
        "configurationItemMD5Hash": "",
        "arn": f"arn:aws:s3:::{name}",
        "resourceType": "AWS::S3::Bucket",
        "resourceId": name,
        "resourceName": name,
        "awsRegion": region,
        "availabilityZone": "Regional",
        "resourceCreationTime": "2024-03-02T10:00:00.000Z",
        "tags": {},
        "relatedEvents": [],
        "relationships": [],
        "configuration": {"name": name, "owner": {"displayName": None, "id": "c0ffee"},
                          "creationDate": "2024-03-02T10:00:00.000Z"},
        "supplementaryConfiguration": supplementary,
    }
