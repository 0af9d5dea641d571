"""`--import-file`: a `pulumi import --file` document for the buckets the audit fixed, so that the
stack's next `pulumi up` finds them as it declares them (and changes none of them).

What the stack declares comes from its own config (`Pulumi.<stack>.yaml`, read with the stack program's
models, `bucketguard.settings.StackConfig`), never from the audit's fix flags: the stack program gives
every bucket of `bucketguard:attach` a `BucketEncryption` with `bucketguard:defaults`
(`bucketguard.components.stack.build_stack`). A bucket is listed only when what S3 holds after the fix
equals that declaration field by field (algorithm, key as written, Bucket Key, blocked types), since
Pulumi diffs the declared inputs against what the import read; anything unknown counts as different.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bucketguard.audit.encryption import blocked_of, bucket_key_of, default_of, describe_rules, desired_rules
from bucketguard.audit.models import BucketReport
from bucketguard.inputs import Broken
from bucketguard.policies.model import CONFIGURATION
from bucketguard.pulumi_files.project import Project, ProjectError, check_provider_config, load_project
from bucketguard.settings import SettingsError, StackConfig, load_stack_config

IMPORT_TYPE = CONFIGURATION
COMPONENT_TYPE = "bucketguard:index:BucketEncryption"
NAMESPACE = "bucketguard"  # the stack program reads `bucketguard:*` whatever the project's name
CONFIG_KEYS = ("defaults", "buckets", "attach", "tags")
NEW_KEY_NAME = "shared-bucket-key"  # bucketguard.components.stack.SHARED_KEY_NAME (not imported: it loads pulumi)


@dataclass(frozen=True)
class StackDeclaration:
    """What the stack program would declare, from its own config; `unknown` says why it cannot be told."""

    stack_file: str
    config: StackConfig | None = None
    unknown: str | None = None


def load_stack(project_dir: Path, stack: str) -> Project:
    """The project and stack file as the stack program reads them, the provider settings checked as the
    preview checks them (the stack runs with them); Broken naming the file, the key and the fix."""
    try:
        project = load_project(project_dir, stack, need_program=False)
        check_provider_config(project)
    except ProjectError as error:
        raise Broken(str(error)) from None
    return project


def read_stack_declaration(project_dir: Path, stack: str) -> StackDeclaration:
    """The stack's `bucketguard:*` config as the stack program validates it. Raises Broken for a broken
    project or stack file (before the audit writes anything)."""
    stack_file = f"{project_dir}/Pulumi.{stack}.yaml"
    if not any((project_dir / name).exists() for name in ("Pulumi.yaml", "Pulumi.yml")):
        return StackDeclaration(stack_file, unknown=f"no Pulumi project in {project_dir} (--project-dir), so what "
                                                    f"stack {stack} declares is unknown")
    project = load_stack(project_dir, stack)
    stack_file = str(project.stack_file or stack_file)
    secret = [key for key in project.secret_keys if key.partition(":")[0] == NAMESPACE]
    if secret:
        return StackDeclaration(stack_file, unknown=f"{', '.join(secret)} in {stack_file} is a secret the audit "
                                                    "does not decrypt, so what the stack declares is unknown")
    if project.environments:
        return StackDeclaration(stack_file, unknown=f"{stack_file} imports ESC environments "
                                                    f"({', '.join(project.environments)}) whose values the audit "
                                                    "does not read, so what the stack declares is unknown")
    raw = {key.partition(":")[2]: value for key, value in project.config.items()
           if key.partition(":")[0] == NAMESPACE and key.partition(":")[2] in CONFIG_KEYS}
    try:
        return StackDeclaration(stack_file, load_stack_config(raw))
    except SettingsError as error:
        raise Broken(f"{stack_file}: {error}") from None


def declared_rules(declaration: StackDeclaration, bucket: str) -> tuple[list[dict[str, Any]] | None, str | None]:
    """The rules the stack program would declare for `bucket` (S3's words), or None and why not."""
    config = declaration.config
    if config is None:
        return None, declaration.unknown
    owned = next((b.name for b in config.buckets if b.bucket_name == bucket), None)
    if owned is not None:
        return None, (f"bucketguard:buckets declares it as {owned!r}, an EncryptedBucket that creates its bucket; "
                      "this file adopts only buckets of bucketguard:attach")
    if bucket not in config.attach:
        return None, (f"it is not in bucketguard:attach of {declaration.stack_file}, so the stack does not declare "
                      "it; add it there and run the audit again")
    if config.defaults.needs_customer_key:
        return None, (f"the stack gives attached buckets a new customer managed key ({NEW_KEY_NAME}) that does not "
                      "exist yet; set bucketguard:defaults.kmsKeyId to the key it should keep")
    return desired_rules(config.defaults), None


def differences(held: Sequence[Mapping[str, Any]] | None, declared: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each field in which what S3 holds differs from the declaration (strings compared as written: Pulumi's
    diff does not know that a key id and its ARN name the same key)."""
    if held is None or len(held) != 1:
        return [f"{describe_rules(held)}, the stack declares {describe_rules(declared)}"]
    found = []
    now, wanted = default_of(held) or {}, default_of(declared) or {}
    if now.get("SSEAlgorithm") != wanted.get("SSEAlgorithm"):
        found.append(f"algorithm {now.get('SSEAlgorithm')}, the stack declares {wanted.get('SSEAlgorithm')}")
    if now.get("KMSMasterKeyID") != wanted.get("KMSMasterKeyID"):
        found.append(f"key {now.get('KMSMasterKeyID') or 'none given'}, the stack declares "
                     f"{wanted.get('KMSMasterKeyID') or 'none given'}")
    if bucket_key_of(held) != bucket_key_of(declared):
        found.append(f"Bucket Key {'on' if bucket_key_of(held) else 'off'}, the stack declares "
                     f"{'on' if bucket_key_of(declared) else 'off'}")
    if sorted(blocked_of(held)) != sorted(blocked_of(declared)):
        found.append(f"blocked types [{', '.join(blocked_of(held))}], the stack declares "
                     f"[{', '.join(blocked_of(declared))}]")
    return found


def matches_stack(report: BucketReport, declaration: StackDeclaration) -> str | None:
    """Why the stack's next `pulumi up` would change what S3 holds now (or cannot be told not to); None
    when it would not. Importing such a bucket hands it to `pulumi up` with none of the audit's guards."""
    if report.error or report.mandatory:
        return "it still fails a mandatory policy, so the stack would adopt a failing bucket"
    declared, why = declared_rules(declaration, report.name)
    if declared is None:
        return why
    found = differences(report.rules, declared)
    return (f"it holds {'; '.join(found)}: the next pulumi up would rewrite it with none of the audit's guards"
            if found else None)


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


def import_candidates(reports: list[BucketReport],
                      declaration: StackDeclaration) -> tuple[list[BucketReport], list[str]]:
    """The buckets the import file may list (those that failed and now hold what the stack declares),
    and one line for each failing bucket it leaves out."""
    listed, notes = [], []
    for report in reports:
        if not report.fix and not report.mandatory:
            continue  # it passed before the audit: nothing to bring under the stack
        why = matches_stack(report, declaration)
        if why is None:
            listed.append(report)
        else:
            notes.append(f"! {report.name}: left out of the import file: {why}")
    return listed, notes
