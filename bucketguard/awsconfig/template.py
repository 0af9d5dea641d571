"""The conformance pack template for an organisation: one AWS::Config::ConfigRule per generated rule
(PolicyText through Fn::Sub, so that each member account's stack fills in its own account, region and
partition: `guard.CLOUDFORMATION_PLACE`), and with remediation an AWS::Config::RemediationConfiguration
per mandatory rule running our SSM document."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bucketguard.awsconfig.guard import GUARD_RUNTIME, RESOURCE_TYPE, ConfigRule, RuleSet

TRIGGERS = ("ConfigurationItemChangeNotification", "OversizedConfigurationItemChangeNotification")


@dataclass(frozen=True)
class Remediation:
    """What the remediation runs: the document, the role each account's automation assumes, the fix setting."""

    document: str  # SSM document name or ARN
    role_arn: str  # may hold ${AWS::AccountId} / ${AWS::Partition} in a template
    parameters: Mapping[str, str]  # SseAlgorithm, KmsKeyId, BucketKeyEnabled, BlockSseC, Policies


def rule_name(prefix: str, rule: ConfigRule) -> str:
    return f"{prefix}-{rule.policy}"


def logical_id(rule: ConfigRule, suffix: str = "") -> str:
    return "".join(part.capitalize() for part in rule.policy.split("-")) + suffix


def _text(text: str) -> Any:
    # A text naming the place goes through Fn::Sub (cfn-lint E1029), and only such a text (W1020).
    return {"Fn::Sub": text} if "${AWS::" in text else text


def remediation_parameters(remediation: Remediation) -> dict[str, Any]:
    """The RemediationConfiguration Parameters (CloudFormation's shape)."""
    parameters: dict[str, Any] = {"AutomationAssumeRole": {"StaticValue": {"Values": [_text(remediation.role_arn)]}},
                                  "BucketName": {"ResourceValue": {"Value": "RESOURCE_ID"}}}
    for name, value in remediation.parameters.items():
        parameters[name] = {"StaticValue": {"Values": [value]}}
    return parameters


def conformance_pack_template(rule_set: RuleSet, prefix: str, remediation: Remediation | None = None) -> dict[str, Any]:
    """The template (a dict; `json.dumps` it for TemplateBody)."""
    resources: dict[str, Any] = {}
    for rule in rule_set.rules:
        resources[logical_id(rule)] = {"Type": "AWS::Config::ConfigRule", "Properties": {
            "ConfigRuleName": rule_name(prefix, rule),
            "Description": f"bucketguard {rule.level}: {rule.description}"[:256],
            "Scope": {"ComplianceResourceTypes": [RESOURCE_TYPE]},
            "Source": {"Owner": "CUSTOM_POLICY",
                       "SourceDetails": [{"EventSource": "aws.config", "MessageType": t} for t in TRIGGERS],
                       "CustomPolicyDetails": {"PolicyRuntime": GUARD_RUNTIME,
                                               "PolicyText": _text(rule.policy_text)}},
        }}
        if remediation is not None and rule.enforced:
            resources[logical_id(rule, "Remediation")] = {"Type": "AWS::Config::RemediationConfiguration", "Properties": {
                "ConfigRuleName": rule_name(prefix, rule), "TargetType": "SSM_DOCUMENT",
                "TargetId": remediation.document, "Automatic": True, "MaximumAutomaticAttempts": 3,
                "RetryAttemptSeconds": 60, "Parameters": remediation_parameters(remediation)},
                "DependsOn": logical_id(rule)}
    return {"AWSTemplateFormatVersion": "2010-09-09",
            "Description": "bucketguard: S3 default encryption rules from the pack config", "Resources": resources}


def template_body(rule_set: RuleSet, prefix: str, remediation: Remediation | None = None) -> str:
    return json.dumps(conformance_pack_template(rule_set, prefix, remediation), indent=1, sort_keys=True)
