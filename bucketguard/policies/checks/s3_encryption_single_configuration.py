"""s3-encryption-single-configuration: a bucket's default encryption is declared once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bucketguard.policies.model import configuration_declaration, label, report_urn
from bucketguard.policies.spec import Finding, PolicySpec
from bucketguard.policies.stack_view import StackView
from bucketguard.rules import same_rules

FIX = "keep one declaration: a single bucketguard.BucketEncryption (or EncryptedBucket) per bucket"


def _names(view_configurations: list[Any]) -> str:
    return ", ".join(repr(c.name) for c in view_configurations)


def check(stack: StackView, config: Mapping[str, Any]) -> list[Finding]:
    findings = []
    for view in stack.buckets:
        where, urn = label(view.bucket), report_urn(view.bucket)
        if len(view.configurations) > 1:
            findings.append(Finding(urn, (
                f"{where}: {len(view.configurations)} separate encryption configurations target it "
                f"({_names(view.configurations)}); they overwrite each other on every update; {FIX}."
            )))
        if not view.configurations or view.inline is None:
            continue
        inline = view.inline.rules
        for configuration in view.configurations:
            separate = configuration_declaration(configuration)
            agree = None if inline is None or separate is None or separate.rules is None else (
                same_rules(inline, separate.rules))
            if agree is None:
                findings.append(Finding(urn, (
                    f"{where}: declares inline encryption and configuration {configuration.name!r}, and "
                    f"values in them are not known during preview, so their agreement cannot be verified; "
                    f"remove the inline serverSideEncryptionConfiguration; {FIX}."
                )))
            elif not agree:
                findings.append(Finding(urn, (
                    f"{where}: its inline encryption disagrees with configuration {configuration.name!r}; "
                    f"the two overwrite each other on every update; remove the inline "
                    f"serverSideEncryptionConfiguration; {FIX}."
                )))
    return findings


SPEC = PolicySpec(
    name="s3-encryption-single-configuration",
    description="A bucket's default encryption must be declared once: two separate configurations, or "
    "inline and separate ones that disagree, fight each other on every update.",
    level="mandatory",
    severity="medium",
    remediation="Remove the inline serverSideEncryptionConfiguration and all but one "
    "BucketServerSideEncryptionConfiguration per bucket; bucketguard.BucketEncryption writes exactly one.",
    stack_check=check,
)
