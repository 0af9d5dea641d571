"""s3-kms-key-allowed: SSE-KMS and DSSE-KMS rules use an allowed KMS key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bucketguard.policies.model import AwsContext, Declaration, PlainResource, configuration_declaration, label, report_urn
from bucketguard.policies.spec import NIST_SC12, Finding, PolicySpec, setting
from bucketguard.policies.stack_view import StackView, rules_dependencies
from bucketguard.rules import (
    AWS_MANAGED_KEY_ALIAS,
    KMS_KEY_FORMS,
    KMS_KEY_PATTERN,
    EncryptionRule,
    effective_kms_key,
    is_aws_managed_key,
    is_unknown,
    kms_key_matches,
    parse_kms_key,
)


def _sources(stack: StackView) -> list[tuple[PlainResource, Declaration]]:
    """Every place the stack declares rules: configurations and buckets' inline blocks."""
    sources = []
    for configuration in stack.configurations:
        declared = configuration_declaration(configuration)
        if declared is not None:
            sources.append((configuration, declared))
    for view in stack.buckets:
        if view.inline is not None:
            sources.append((view.bucket, view.inline))
    return sources


def check(stack: StackView, config: Mapping[str, Any]) -> list[Finding]:
    allowed = [k for k in setting(SPEC, config, "allowedKmsKeys") if isinstance(k, str)]
    allow_stack_keys = setting(SPEC, config, "allowStackKeys")
    require_customer_key = setting(SPEC, config, "requireCustomerManagedKey")
    if not allowed and allow_stack_keys and not require_customer_key:
        return []  # any key is allowed: nothing here can fail
    findings = []
    for source, declaration in _sources(stack):
        where = label(source)

        def report(problem: str, source: PlainResource = source, where: str = where) -> None:
            findings.append(Finding(report_urn(source), f"{where}: {problem}"))

        if declaration.rules is None:
            report("its encryption rules are not known during preview, so the KMS key cannot be verified; "
                   "pass the key ARN from a key of this stack or a literal allowed key.")
            continue
        for rule in declaration.rules:
            problem = _key_problem(rule, declaration, source, stack, allowed, allow_stack_keys, require_customer_key)
            if problem:
                report(problem)
    return findings


def _context_hint(key: str, allowed: list[str], context: AwsContext) -> str:
    """Why a bare entry naming the same key or alias did not match: the account or region is unknown."""
    ref = parse_kms_key(key)
    for entry in allowed:
        other = parse_kms_key(entry)
        if ref is None or other is None or (ref.kind, ref.resource) != (other.kind, other.resource):
            continue
        if ref.is_arn != other.is_arn and (context.account is None or context.region is None):
            unknown = " and ".join(n for n, v in (("account", context.account), ("region", context.region)) if v is None)
            return (f" (entry {entry} names the same {ref.kind} without an ARN, but the stack's {unknown} is not "
                    "known to the pack, so where it resolves cannot be verified: list the ARN, or set the AWS "
                    "provider's region and allowedAccountIds to one account)")
    return ""


def _computed_key_problem(source: PlainResource, stack: StackView, context: AwsContext, allowed: list[str],
                          allow_stack_keys: bool) -> str | None:
    """Why a key computed during preview is not a key of this stack usable where `source` is."""
    deps = rules_dependencies(source)
    problem = stack.dependency_problem(deps, context)
    if problem is None:
        if not allow_stack_keys:
            return ("uses a KMS key created in this stack, which allowStackKeys forbids; "
                    f"use one of the allowed keys ({', '.join(allowed) or 'none configured'}).")
        return None
    kind, urns = problem
    if kind == "elsewhere":
        keys = ", ".join(label(stack.kms_keys[u].resource) for u in urns)
        return (f"its KMS key is computed from a key of this stack ({keys}) that is not certainly in the account and "
                f"region of {label(source)} (a bare key id or alias name resolves where the bucket is; a key of "
                "another region cannot encrypt it), so it cannot be verified during preview; create the key with "
                "the bucket's provider and region, or pass a literal allowed key ARN.")
    if kind == "unseen":
        return ("its KMS key is computed and depends on resources the pack cannot see (reads such as a StackReference, "
                "Resource.get or get_resource are not among the resources the engine sends), so it cannot be "
                "verified during preview; pass a literal key ARN or a key created in this stack.")
    return ("its KMS key is computed and does not come from a KMS key of this stack (aws.kms.Key, ReplicaKey, "
            "ExternalKey, ReplicaExternalKey, aws_native.kms.Key, or an alias of one), so it cannot be "
            "verified during preview; pass a literal key ARN or a key of this stack.")


def _key_problem(rule: EncryptionRule, declaration: Declaration, source: PlainResource, stack: StackView,
                 allowed: list[str], allow_stack_keys: bool, require_customer_key: bool) -> str | None:
    """Why the key `rule` encrypts with is not allowed or cannot be verified, or None."""
    key = effective_kms_key(rule, declaration.family)
    if key is None:
        if is_unknown(rule.sse_algorithm) and (allowed or require_customer_key):
            return ("its sseAlgorithm is not known during preview, so whether it uses the AWS managed key "
                    "aws/s3 cannot be verified; pass a literal sseAlgorithm.")
        return None
    implicit = key == AWS_MANAGED_KEY_ALIAS and rule.kms_master_key_id in (None, "")
    shown = f"{key} (implicit: {rule.sse_algorithm} with no kmsMasterKeyId)" if implicit else str(key)
    context = stack.context_of(source)
    if is_unknown(key):
        return _computed_key_problem(source, stack, context, allowed, allow_stack_keys)
    if not isinstance(key, str) or parse_kms_key(key) is None:
        return f"kmsMasterKeyId {key!r} is not a KMS key identifier; pass {KMS_KEY_FORMS}."
    if stack.stack_key(key, context) is not None:
        return None if allow_stack_keys else f"uses KMS key {key} of this stack, which allowStackKeys forbids."
    if is_aws_managed_key(key) and require_customer_key:
        return (f"uses the AWS managed key {shown}, but a customer managed key is required; pass kms_key_id, "
                "or let bucketguard.EncryptedBucket create a key.")
    if allowed and not any(kms_key_matches(key, entry, account=context.account, region=context.region)
                           for entry in allowed):
        return (f"KMS key {shown} is not one of the allowed keys ({', '.join(allowed)}){_context_hint(key, allowed, context)}; "
                "use an allowed key in kms_key_id.")
    return None


SPEC = PolicySpec(
    name="s3-kms-key-allowed",
    description="SSE-KMS and DSSE-KMS default encryption must use an allowed KMS key.",
    level="mandatory",
    severity="high",
    remediation="Pass an allowed key as kms_key_id to bucketguard.EncryptedBucket / bucketguard.BucketEncryption, "
    "or let them create a customer managed key in the stack.",
    stack_check=check,
    config_schema={
        "allowedKmsKeys": {
            "type": "array",
            "items": {"type": "string", "pattern": KMS_KEY_PATTERN},
            "default": [],
            "description": f"Keys allowed (empty: any key), each {KMS_KEY_FORMS}.",
        },
        "allowStackKeys": {
            "type": "boolean",
            "default": True,
            "description": "Keys created in the same stack, in the bucket's own account and region, pass.",
        },
        "requireCustomerManagedKey": {
            "type": "boolean",
            "default": False,
            "description": "Reject the AWS managed aws/s3 key, implicit or by alias.",
        },
    },
    framework=NIST_SC12,
)
