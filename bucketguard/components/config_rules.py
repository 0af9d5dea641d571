"""`EncryptionConfigRules`: bucketguard's rules, from the pack config, enforced continuously by AWS Config:
custom policy rules (Guard, `bucketguard.awsconfig.guard`) in one account, or an organisation conformance
pack; optionally with automatic remediation by our SSM document (`bucketguard.awsconfig.document`).

No `from __future__ import annotations`: the component provider reads these annotations at runtime.
"""

import functools
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from bucketguard.awsconfig.document import role_document, shipped_document
from bucketguard.awsconfig.guard import (
    CLOUDFORMATION_PLACE,
    GUARD_RUNTIME,
    RESOURCE_TYPE,
    ConfigRulesError,
    Place,
    RuleSet,
    rule_set,
)
from bucketguard.awsconfig.template import TRIGGERS, Remediation, rule_name, template_body
from bucketguard.components.encryption import check_arg_names, check_tags
from bucketguard.policy_config import PolicyConfigError, ResolvedConfig
from bucketguard.settings import EncryptionSettings, SettingsError, validate_encryption

_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_SCOPES = ("account", "organization")


class EncryptionConfigRulesArgs(TypedDict):
    """Arguments of `EncryptionConfigRules`."""

    pack_config_file: NotRequired[str]
    """Path of the pack config JSON (the file given to --policy-pack-config); excludes pack_config."""
    pack_config: NotRequired[Mapping[str, Any]]
    """The pack config itself (the same JSON object); excludes pack_config_file. Neither: the pack's defaults."""
    scope: NotRequired[str]
    """"account" (default): Config rules in this account and region; "organization": an organisation conformance pack."""
    rule_name_prefix: NotRequired[str]
    """Rules are named <prefix>-<policy>; default "bucketguard"."""
    excluded_accounts: NotRequired[Sequence[str]]
    """Organisation scope: accounts the conformance pack skips."""
    enable_remediation: NotRequired[bool]
    """Automatic remediation of mandatory failures by bucketguard's SSM document; default False."""
    remediation_sse_algorithm: NotRequired[str]
    """The fix setting's algorithm (as `audit --fix --sse-algorithm`); default "aws:kms"."""
    remediation_kms_key_id: NotRequired[str]
    """The fix setting's key ARN (as `audit --fix --kms-key-id`); a KMS setting needs it or remediation_use_aws_managed_key."""
    remediation_use_aws_managed_key: NotRequired[bool]
    """The fix setting uses aws/s3 (as `audit --fix --use-aws-managed-key`)."""
    remediation_block_sse_c: NotRequired[bool]
    """The fix blocks SSE-C uploads (default True; False as `audit --fix --allow-sse-c`)."""
    remediation_role_name: NotRequired[str]
    """Organisation scope: the role each member account's automation assumes (deployed there with the shipped documents)."""
    remediation_account_ids: NotRequired[Sequence[str]]
    """Organisation scope: the member accounts the SSM document is shared with."""
    tags: NotRequired[Mapping[str, str]]
    """Tags for the rules, document and role. Keys starting with "aws:" are rejected."""


def load_pack_config(where: str, args: Mapping[str, Any]) -> tuple[ResolvedConfig, str]:
    """The pack config resolved as the pack and the audit resolve it; SettingsError on any problem."""
    from bucketguard.audit.judge import audit_policy_config

    path, values = args.get("pack_config_file"), args.get("pack_config")
    if path is not None and values is not None:
        raise SettingsError(f"{where}: pack_config_file and pack_config exclude each other; keep one")
    source = "pack_config"
    if path is not None:
        if not isinstance(path, str):
            raise SettingsError(f"{where}: pack_config_file must be a path (got {path!r})")
        source = path
        try:
            values = json.loads(Path(path).read_text())
        except (OSError, ValueError) as error:
            raise SettingsError(f"{where}: pack_config_file {path}: {error}") from None
    if values is not None and not isinstance(values, Mapping):
        raise SettingsError(f"{where}: {source}: the pack config must be a JSON object (got {values!r})")
    try:
        return audit_policy_config(dict(values) if values is not None else None, source), source
    except PolicyConfigError as error:
        raise SettingsError(f"{where}: {error}") from None


def _fix_setting(where: str, args: Mapping[str, Any], config: ResolvedConfig) -> EncryptionSettings:
    from bucketguard.audit.judge import setting_problems

    values = {"sse_algorithm": args.get("remediation_sse_algorithm", "aws:kms"),
              "kms_key_id": args.get("remediation_kms_key_id"),
              "use_aws_managed_key": args.get("remediation_use_aws_managed_key", False),
              "block_sse_c": args.get("remediation_block_sse_c", True)}
    setting = validate_encryption(where, {k: v for k, v in values.items() if v is not None}, python_names=True)
    if setting.needs_customer_key:
        raise SettingsError(f"{where}: remediation creates no KMS key; set remediation_kms_key_id (a key ARN) or "
                            "remediation_use_aws_managed_key")
    problems = setting_problems(setting, config)
    if problems:
        raise SettingsError(f"{where}: the remediation setting itself fails {problems[0].policy}: "
                            f"{problems[0].message.splitlines()[-1]}")
    return setting


def remediation_policies(config: ResolvedConfig) -> str:
    """The enforced policies and their config, as the document's Policies parameter."""
    return json.dumps({name: props for name, (level, props) in config.items() if level in ("mandatory", "remediate")},
                      sort_keys=True)


def remediation_parameters(setting: EncryptionSettings, config: ResolvedConfig) -> dict[str, str]:
    return {"SseAlgorithm": setting.sse_algorithm, "KmsKeyId": setting.kms_key_id or "",
            "BucketKeyEnabled": json.dumps(setting.effective_bucket_key), "BlockSseC": json.dumps(setting.block_sse_c),
            "Policies": remediation_policies(config)}


class EncryptionConfigRules(pulumi.ComponentResource):
    """AWS Config rules enforcing the pack config's S3 default-encryption policies on every change."""

    rule_names: pulumi.Output[Sequence[str]]
    """The Config rules (in a conformance pack, AWS adds a suffix in each member account)."""
    conformance_pack_arn: pulumi.Output[str] | None
    """The organisation conformance pack's ARN (organisation scope)."""
    remediation_document_name: pulumi.Output[str] | None
    """The SSM Automation document remediation runs, when enabled."""
    remediation_role_arn: pulumi.Output[str] | None
    """The role the automation assumes (account scope, remediation enabled)."""

    def __init__(self, name: str, args: EncryptionConfigRulesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        where = f"EncryptionConfigRules({name!r})"
        check_arg_names(where, args, EncryptionConfigRulesArgs)
        config, _ = load_pack_config(where, args)
        scope = args.get("scope", "account")
        if scope not in _SCOPES:
            raise SettingsError(f"{where}: scope {scope!r} is not one of {', '.join(_SCOPES)}")
        prefix = args.get("rule_name_prefix", "bucketguard")
        if not isinstance(prefix, str) or not _PREFIX.match(prefix):
            raise SettingsError(f"{where}: rule_name_prefix {prefix!r} must be 1-64 letters, digits, - and _")
        for account in args.get("excluded_accounts", ()) or ():
            if not isinstance(account, str) or not _ACCOUNT_ID.match(account):
                raise SettingsError(f"{where}: excluded_accounts: {account!r} is not a 12-digit account id")
        remediate = args.get("enable_remediation", False)
        if not isinstance(remediate, bool):
            raise SettingsError(f"{where}: enable_remediation must be true or false (got {remediate!r})")
        setting = _fix_setting(where, args, config) if remediate else None
        if remediate and scope == "organization":
            role = args.get("remediation_role_name")
            if not isinstance(role, str) or not re.match(r"^[\w+=,.@-]{1,64}$", role):
                raise SettingsError(f"{where}: organisation remediation needs remediation_role_name, the role each member "
                                    "account's automation assumes (got {role!r})")
            shared = list(args.get("remediation_account_ids") or [])
            if not shared or not all(isinstance(a, str) and _ACCOUNT_ID.match(a) for a in shared):
                raise SettingsError(f"{where}: organisation remediation needs remediation_account_ids, the 12-digit "
                                    "member accounts to share the document with")
        check_tags(where, args.get("tags"))
        try:  # the texts' size, with the longest place any account could fill in
            rules = rule_set(config, CLOUDFORMATION_PLACE)
        except ConfigRulesError as error:
            raise SettingsError(f"{where}: {error}") from None
        super().__init__("bucketguard:index:EncryptionConfigRules", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.get("tags")
        self.conformance_pack_arn = None
        self.remediation_document_name = None
        self.remediation_role_arn = None
        document = None
        if setting is not None:
            permissions = ({"type": "Share", "account_ids": ",".join(args.get("remediation_account_ids") or [])}
                           if scope == "organization" else None)
            document = aws.ssm.Document(f"{name}-remediation", document_type="Automation", document_format="JSON",
                                        content=json.dumps(shipped_document()), permissions=permissions, tags=tags,
                                        opts=child)
            self.remediation_document_name = document.name
        if scope == "account":
            self._account_rules(name, rules, config, prefix, setting, document, tags, child)
        else:
            self._organization_pack(name, rules, config, prefix, setting, document, args, child)
        self.rule_names = pulumi.Output.from_input([rule_name(prefix, r) for r in rules.rules])
        self.register_outputs({"rule_names": self.rule_names, "conformance_pack_arn": self.conformance_pack_arn,
                               "remediation_document_name": self.remediation_document_name,
                               "remediation_role_arn": self.remediation_role_arn})

    def _account_rules(self, name: str, rules: RuleSet, config: ResolvedConfig, prefix: str,
                       setting: EncryptionSettings | None, document: aws.ssm.Document | None,
                       tags: Mapping[str, str] | None, child: pulumi.ResourceOptions) -> None:
        invoke = pulumi.InvokeOutputOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=invoke)
        region = aws.get_region_output(opts=invoke)
        def place_of(found: list[Any]) -> Place:
            return Place(str(found[0]), str(found[1]))

        place = pulumi.Output.all(identity.account_id, region.region).apply(place_of)
        role = None
        if setting is not None:
            role = aws.iam.Role(f"{name}-remediation", description="bucketguard: AWS Config remediation of S3 default "
                                "encryption", assume_role_policy=json.dumps(role_document("remediation-trust-policy.json")),
                                tags=tags, opts=child)
            aws.iam.RolePolicy(f"{name}-remediation", role=role.name, name="bucketguard-remediation",
                               policy=json.dumps(role_document("remediation-policy.json")), opts=child)
            self.remediation_role_arn = role.arn
        for config_rule in rules.rules:
            policy = config_rule.policy
            text = place.apply(functools.partial(_text_for, config, policy=policy))
            made = aws.cfg.Rule(f"{name}-{policy}", name=rule_name(prefix, config_rule),
                                description=f"bucketguard {config_rule.level}: {config_rule.description}"[:256],
                                scope={"compliance_resource_types": [RESOURCE_TYPE]},
                                source={"owner": "CUSTOM_POLICY",
                                        "source_details": [{"event_source": "aws.config", "message_type": t} for t in TRIGGERS],
                                        "custom_policy_details": {"policy_runtime": GUARD_RUNTIME, "policy_text": text}},
                                tags=tags, opts=child)
            if setting is not None and document is not None and role is not None and config_rule.enforced:
                parameters: list[aws.cfg.RemediationConfigurationParameterArgsDict] = [
                    {"name": "AutomationAssumeRole", "static_value": role.arn},
                    {"name": "BucketName", "resource_value": "RESOURCE_ID"}]
                parameters += [{"name": k, "static_value": v} for k, v in remediation_parameters(setting, config).items()]
                aws.cfg.RemediationConfiguration(
                    f"{name}-{policy}-remediation", config_rule_name=made.name, target_type="SSM_DOCUMENT",
                    target_id=document.name, automatic=True, maximum_automatic_attempts=3, retry_attempt_seconds=60,
                    parameters=parameters,
                    opts=child)

    def _organization_pack(self, name: str, rules: RuleSet, config: ResolvedConfig, prefix: str,
                           setting: EncryptionSettings | None, document: aws.ssm.Document | None,
                           args: Mapping[str, Any], child: pulumi.ResourceOptions) -> None:
        if setting is not None and document is not None:
            role = f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/{args['remediation_role_name']}"
            body: pulumi.Input[str] = document.arn.apply(lambda arn: template_body(
                rules, prefix, Remediation(arn, role, remediation_parameters(setting, config))))
        else:
            body = template_body(rules, prefix)
        pack = aws.cfg.OrganizationConformancePack(f"{name}-pack", name=f"{prefix}-s3-encryption", template_body=body,
                                                   excluded_accounts=list(args.get("excluded_accounts") or []) or None,
                                                   opts=child)
        self.conformance_pack_arn = pack.arn


def _text_for(config: ResolvedConfig, place: Place, *, policy: str) -> str:
    for made in rule_set(config, place).rules:
        if made.policy == policy:
            return made.policy_text
    raise ConfigRulesError(f"{policy}: no rule generated")  # the same config made it above; cannot happen



