"""`--import-file`: a `pulumi import --file` document for the buckets the audit fixed, so that the
stack's next `pulumi up` finds them as it declares them (and changes none of them)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bucketguard.audit.encryption import customer_key_of, default_of, describe_rules, desired_rules, lowerings, same_key
from bucketguard.audit.models import BucketReport, Identity
from bucketguard.policies.model import CONFIGURATION
from bucketguard.settings import EncryptionSettings

IMPORT_TYPE = CONFIGURATION
COMPONENT_TYPE = "bucketguard:index:BucketEncryption"


def matches_stack(report: BucketReport, setting: EncryptionSettings, identity: Identity) -> str | None:
    """Why the stack's declaration (`setting`) would change what S3 holds now; None when it would not.

    Importing a bucket the stack would change hands it to `pulumi up` with none of the audit's guards.
    """
    if report.error or report.mandatory:
        return "it still fails a mandatory policy"
    declared = desired_rules(setting)
    place = {"account": report.account or identity.account, "region": report.region or "us-east-1",
             "partition": identity.partition}
    held, wanted = default_of(report.rules), declared[0]["ApplyServerSideEncryptionByDefault"]
    if held is None or held["SSEAlgorithm"] != wanted["SSEAlgorithm"]:
        return f"it holds {describe_rules(report.rules)}, the stack declares {describe_rules(declared)}"
    held_key, wanted_key = customer_key_of(held), customer_key_of(wanted)
    if (held_key is None) != (wanted_key is None) or (
            held_key and wanted_key and not same_key(held_key, wanted_key, **place)):
        return f"it uses key {held.get('KMSMasterKeyID') or 'aws/s3'}, the stack declares {describe_rules(declared)}"
    lowered = lowerings(report.rules, declared, **place)
    if lowered:
        return f"the stack's declaration would lower it ({'; '.join(lowered)})"
    return None


def import_file(reports: Iterable[BucketReport]) -> dict[str, Any]:
    """A `pulumi import --file` document bringing each bucket's encryption under a BucketEncryption
    component named as the stack program names it (`attach-<bucket>`, child `attach-<bucket>-encryption`)."""
    resources: list[dict[str, Any]] = []
    for report in reports:
        component = f"attach-{report.name}"
        resources.append({"type": COMPONENT_TYPE, "name": component, "component": True})
        resources.append({"type": IMPORT_TYPE, "name": f"{component}-encryption", "id": report.name,
                          "parent": component})
    return {"resources": resources}


def import_candidates(reports: list[BucketReport], setting: EncryptionSettings,
                      identity: Identity) -> tuple[list[BucketReport], list[str]]:
    """The buckets the import file may list (those that failed and now hold what the stack will declare),
    and one line for each failing bucket it leaves out."""
    listed, notes = [], []
    for report in reports:
        if not report.fix and not report.mandatory:
            continue  # it passed before the audit: nothing to bring under the stack
        why = matches_stack(report, setting, identity)
        if why is None:
            listed.append(report)
        else:
            notes.append(f"! {report.name}: left out of the import file: {why} (pulumi up would change it "
                         "with none of the audit's guards)")
    return listed, notes
