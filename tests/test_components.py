"""EncryptedBucket and BucketEncryption under Pulumi's mock runtime: what they register."""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from helpers import (
    BUCKET,
    BUCKET_ENCRYPTION,
    CONFIGURATION,
    ENCRYPTED_BUCKET,
    KEY,
    POLICY,
    UNKNOWN,
    capture,
    capture_failing,
    rule_of,
    types_registered,
)
from pulumi.runtime import mocks
from pulumi.runtime.settings import ROOT
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from bucketguard.components import BucketEncryption, EncryptedBucket
from bucketguard.components.encrypted_bucket import tls_only_statement
from bucketguard.preview import invokes
from bucketguard.preview.capture import _worker_thread_loop
from bucketguard.settings import SettingsError

KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
READER = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
          "Action": ["s3:GetObject", "kms:Decrypt"], "Resource": "*"}
BAD_STATEMENTS = [
    ([dict(READER, Sid="Read"), dict(READER, Sid="Read")],
     "policy_statements[1]: Sid 'Read' is already used by policy_statements[0]; Sids must be unique"),
    ([READER], "policy_statements[0]: needs a Sid, a plain non-empty string"),
    ([dict(READER, Sid="DenyInsecureTransport")],
     "policy_statements[0]: Sid 'DenyInsecureTransport' is the component's own statement; choose another Sid"),
    ([{k: v for k, v in dict(READER, Sid="R").items() if k != "Effect"}],
     "policy_statements[0] (R): Effect must be \"Allow\" or \"Deny\" (got None)"),
    ([dict(READER, Sid="R", Effect="allow")], "Effect must be \"Allow\" or \"Deny\" (got 'allow')"),
    ([{k: v for k, v in dict(READER, Sid="R").items() if k != "Action"}],
     "policy_statements[0] (R): needs exactly one of Action or NotAction (got neither)"),
    ([dict(READER, Sid="R", NotAction="s3:DeleteObject")], "needs exactly one of Action or NotAction (got both)"),
    ([{k: v for k, v in dict(READER, Sid="R").items() if k != "Principal"}],
     "needs exactly one of Principal or NotPrincipal (got neither)"),
    ([{k: v for k, v in dict(READER, Sid="R").items() if k != "Resource"}],
     "needs exactly one of Resource or NotResource (got neither)"),
    ([dict(READER, Sid="R", Condition={}, Actions="s3:*")], "policy_statements[0]: unknown statement element(s) Actions"),
    ({"Sid": "R"}, "policy_statements must be a list of IAM statement dicts (got dict)"),
]


def test_default_bucket_is_sse_kms_with_a_created_retained_rotating_key() -> None:
    cap = capture(lambda: EncryptedBucket("data"))

    assert types_registered(cap) == sorted([ENCRYPTED_BUCKET, BUCKET, KEY, CONFIGURATION, POLICY])
    component = cap.by_name("data", ENCRYPTED_BUCKET)
    for child in (r for r in cap.resources if r.type in (BUCKET, KEY, CONFIGURATION, POLICY)):
        assert child.parent == component.urn, child.type

    bucket = cap.by_name("data", BUCKET)
    assert bucket.inputs["forceDestroy"] is False
    assert "serverSideEncryptionConfiguration" not in bucket.inputs  # never the deprecated inline block

    key = cap.by_name("data-key", KEY)
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["deletionWindowInDays"] == 30
    assert key.retain_on_delete is True

    configuration = cap.by_name("data-encryption", CONFIGURATION)
    assert configuration.inputs["bucket"] == bucket.inputs["bucket"]
    assert configuration.property_dependencies["bucket"] == [bucket.urn]
    assert configuration.property_dependencies["rules"] == [key.urn]
    assert rule_of(configuration.inputs) == {
        "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": UNKNOWN},
        "bucketKeyEnabled": True,
        "blockedEncryptionTypes": ["SSE-C"],
    }


@pytest.mark.parametrize(
    ("args", "creates_key", "expected_default", "bucket_key"),
    [
        ({"sse_algorithm": "AES256"}, False, {"sseAlgorithm": "AES256"}, False),
        ({"sse_algorithm": "aws:kms", "kms_key_id": KEY_ARN}, False,
         {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN}, True),
        ({"sse_algorithm": "aws:kms", "kms_key_id": "alias/team-data"}, False,
         {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "alias/team-data"}, True),
        ({"use_aws_managed_key": True}, False, {"sseAlgorithm": "aws:kms"}, True),
        ({"sse_algorithm": "aws:kms", "bucket_key_enabled": False}, True,
         {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": UNKNOWN}, False),
        ({"sse_algorithm": "aws:kms:dsse"}, True, {"sseAlgorithm": "aws:kms:dsse", "kmsMasterKeyId": UNKNOWN}, False),
        ({"sse_algorithm": "aws:kms:dsse", "kms_key_id": KEY_ARN}, False,
         {"sseAlgorithm": "aws:kms:dsse", "kmsMasterKeyId": KEY_ARN}, False),
        ({"sse_algorithm": "aws:kms:dsse", "use_aws_managed_key": True}, False, {"sseAlgorithm": "aws:kms:dsse"}, False),
    ],
)
def test_every_algorithm_and_key_combination(
    args: dict[str, Any], creates_key: bool, expected_default: dict[str, str], bucket_key: bool
) -> None:
    cap = capture(lambda: EncryptedBucket("data", args))  # type: ignore[arg-type]

    assert len(cap.of_type(KEY)) == (1 if creates_key else 0)
    rule = rule_of(cap.by_name("data-encryption", CONFIGURATION).inputs)
    assert rule["applyServerSideEncryptionByDefault"] == expected_default
    assert rule["bucketKeyEnabled"] is bucket_key
    assert rule["blockedEncryptionTypes"] == ["SSE-C"]


def test_sse_c_stays_allowed_only_when_asked() -> None:
    cap = capture(lambda: EncryptedBucket("data", {"block_sse_c": False}))
    assert "blockedEncryptionTypes" not in rule_of(cap.by_name("data-encryption", CONFIGURATION).inputs)


def test_bucket_name_and_tags_reach_the_bucket_and_the_key() -> None:
    tags = {"team": "data"}
    cap = capture(lambda: EncryptedBucket("data", {"bucket_name": "acme-data-eu", "tags": tags}))
    assert cap.by_name("data", BUCKET).inputs["bucket"] == "acme-data-eu"
    assert cap.by_name("data", BUCKET).inputs["tags"] == tags
    assert cap.by_name("data-key", KEY).inputs["tags"] == tags
    assert cap.by_name("data-encryption", CONFIGURATION).inputs["bucket"] == "acme-data-eu"


def test_tls_policy_can_be_turned_off_and_extra_statements_share_the_one_policy() -> None:
    cap = capture(lambda: EncryptedBucket("data", {"enforce_tls": False}))
    assert cap.of_type(POLICY) == []

    extra = {"Sid": "ReadOnly", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
             "Action": "s3:GetObject", "Resource": "*"}
    cap = capture(lambda: EncryptedBucket("data", {"policy_statements": [extra]}))
    (policy,) = cap.of_type(POLICY)
    assert policy.property_dependencies["policy"] == [cap.by_name("data", BUCKET).urn]


def test_tls_statement_denies_requests_without_secure_transport() -> None:
    statement = tls_only_statement("arn:aws:s3:::b")
    assert statement["Effect"] == "Deny"
    assert statement["Resource"] == ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_changing_only_encryption_leaves_the_bucket_inputs_unchanged() -> None:
    before = capture(lambda: EncryptedBucket("data", {"sse_algorithm": "aws:kms"}))
    after = capture(lambda: EncryptedBucket("data", {"sse_algorithm": "AES256", "bucket_key_enabled": False}))
    assert before.by_name("data", BUCKET).inputs == after.by_name("data", BUCKET).inputs
    assert before.by_name("data", BUCKET).urn == after.by_name("data", BUCKET).urn
    assert before.by_name("data-encryption", CONFIGURATION).urn == after.by_name("data-encryption", CONFIGURATION).urn


def test_component_outputs() -> None:
    seen: dict[str, Any] = {}

    def program() -> None:
        component = EncryptedBucket("data", {"sse_algorithm": "aws:kms", "kms_key_id": KEY_ARN})
        seen["component"] = component
        pulumi.Output.all(component.bucket_name, component.sse_algorithm, component.kms_key_arn).apply(
            lambda values: seen.setdefault("values", values)
        )

    capture(program)
    component = seen["component"]
    assert isinstance(component.bucket, aws.s3.Bucket)
    assert isinstance(component.encryption, aws.s3.BucketServerSideEncryptionConfiguration)
    assert component.kms_key is None
    assert seen["values"] == ["data-" + seen["values"][0].split("-")[-1], "aws:kms", KEY_ARN]


def test_bucket_encryption_attaches_to_an_existing_bucket_by_name() -> None:
    cap = capture(lambda: BucketEncryption("legacy", {"bucket": "acme-legacy", "sse_algorithm": "AES256"}))
    assert types_registered(cap) == sorted([BUCKET_ENCRYPTION, CONFIGURATION])
    configuration = cap.by_name("legacy-encryption", CONFIGURATION)
    assert configuration.inputs["bucket"] == "acme-legacy"
    assert configuration.parent == cap.by_name("legacy", BUCKET_ENCRYPTION).urn
    assert rule_of(configuration.inputs)["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}


def test_bucket_encryption_never_touches_the_bucket_it_encrypts() -> None:
    def bare() -> None:
        aws.s3.Bucket("reports")

    def attached() -> None:
        bucket = aws.s3.Bucket("reports")
        BucketEncryption("reports", {"bucket": bucket})

    plain, with_encryption = capture(bare), capture(attached)
    assert plain.by_name("reports", BUCKET).inputs == with_encryption.by_name("reports", BUCKET).inputs
    configuration = with_encryption.by_name("reports-encryption", CONFIGURATION)
    assert configuration.property_dependencies["bucket"] == [with_encryption.by_name("reports", BUCKET).urn]
    assert len(with_encryption.of_type(KEY)) == 1


BAD_ARGS = [
    ({"sse_algorithm": "aes256"}, "sse_algorithm: 'aes256' is not an S3 algorithm; use one of AES256"),
    ({"sse_algorithm": "AES256", "kms_key_id": KEY_ARN}, "kms_key_id: a KMS key is only valid with aws:kms"),
    ({"kms_key_id": "my-key"}, "kms_key_id: 'my-key' is not a KMS key identifier"),
    ({"sse_algorithm": "aws:kms:dsse", "bucket_key_enabled": True},
     "bucket_key_enabled: S3 does not support Bucket Keys with DSSE-KMS"),
    ({"sse_algorithm": "AES256", "bucket_key_enabled": True}, "bucket_key_enabled: Bucket Keys only apply to SSE-KMS"),
    ({"use_aws_managed_key": True, "kms_key_id": KEY_ARN}, "use_aws_managed_key and kms_key_id exclude each other"),
    ({"sse_algorithm": "AES256", "use_aws_managed_key": True}, "use_aws_managed_key: the AWS managed key needs"),
    ({"block_sse_c": "yes"}, "block_sse_c: Input should be a valid boolean (got 'yes')"),
    ({"bucket_name": "Acme_Data"}, "bucket_name 'Acme_Data' is not an S3 bucket name"),
    ({"bucket_name": "192.168.1.1"}, "must not be formatted as an IP address"),
    ({"policy_statements": ["allow all"]}, "policy_statements[0] must be an IAM statement dict"),
    ({"sse_algorith": "AES256"}, "unknown argument(s) sse_algorith"),
    # Reserved S3 names, given or autonamed from the component name ("data" is the name used here).
    *[({"bucket_name": name}, f"bucket_name {name!r} is not an S3 bucket name: it must not")
      for name in ("xn--acme-data", "sthree-acme", "amzn-s3-demo-acme", "acme-s3alias", "acme--ol-s3",
                   "acme.mrap", "acme--x-s3")],
    ({"tags": {"aws:cloudformation:stack-name": "x"}}, "tags: tag key 'aws:cloudformation:stack-name' starts with the reserved"),
    ({"tags": {"AWS:team": "x"}}, "starts with the reserved prefix 'aws:'"),
    ({"retain_on_delete": "yes"}, "retain_on_delete must be true or false (got 'yes')"),
    ({"force_destroy": True, "retain_on_delete": True}, "force_destroy=True has no effect with retain_on_delete=True"),
    ({"child_aliases": {"bukket": ["urn:pulumi:test::bucketguard::aws:s3/bucket:Bucket::data"]}},
     "child_aliases: 'bukket' is not a child of this component; use bucket, encryption, key, policy"),
    ({"child_aliases": {"bucket": "urn:pulumi:test::bucketguard::aws:s3/bucket:Bucket::data"}},
     "child_aliases['bucket'] must be a list of aliases"),
    ({"key_policy_statements": [dict(READER, Sid="R")], "kms_key_id": KEY_ARN},
     "key_policy_statements only apply to a key the component creates; this setting uses the key given in kms_key_id"),
    ({"key_policy_statements": [dict(READER, Sid="Enable IAM User Permissions")]},
     "key_policy_statements[0]: Sid 'Enable IAM User Permissions' is the component's own statement"),
    *[({"policy_statements": statements}, message) for statements, message in BAD_STATEMENTS],
]


@pytest.mark.parametrize(("args", "message"), BAD_ARGS)
def test_bad_encrypted_bucket_args_raise_and_register_nothing(args: dict[str, Any], message: str) -> None:
    cap, error = capture_failing(lambda: EncryptedBucket("data", args), SettingsError)  # type: ignore[arg-type]
    assert message in error
    assert "EncryptedBucket('data')" in error
    assert types_registered(cap) == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("xn--data", "the bucket name autonamed from 'xn--data' (xn--data-<7 random hex>) is not an S3 bucket name: "
                     "it must not start with the reserved prefix 'xn--'; rename the component or pass bucket_name"),
        ("sthree-data", "must not start with the reserved prefix 'sthree-'"),
        ("amzn-s3-demo-data", "must not start with the reserved prefix 'amzn-s3-demo-'"),
        ("Data_Lake", "autonamed from 'Data_Lake' (data_lake-<7 random hex>) is not an S3 bucket name: it may contain only"),
        ("d" * 56, "must be 3 to 63 characters long (it has 64)"),
    ],
)
def test_a_component_name_whose_autoname_s3_rejects_raises_and_registers_nothing(name: str, message: str) -> None:
    cap, error = capture_failing(lambda: EncryptedBucket(name), SettingsError)
    assert message in error
    assert types_registered(cap) == []


def test_a_long_or_uppercase_component_name_with_a_valid_autoname_is_accepted() -> None:
    cap = capture(lambda: EncryptedBucket("Data" + "d" * 51))  # 55 characters + 8 = 63
    assert cap.by_name("Data" + "d" * 51, BUCKET).inputs["bucket"].startswith("data" + "d" * 51 + "-")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"sse_algorithm": "AES256"}, "args.bucket is required"),
        ({"bucket": "acme-legacy", "tags": {"aws:owner": "x"}}, "tag key 'aws:owner' starts with the reserved prefix"),
        ({"bucket": "acme-legacy", "sse_algorithm": "AES256", "key_policy_statements": [dict(READER, Sid="R")]},
         "key_policy_statements only apply to a key the component creates; this setting uses AES256 (no KMS key)"),
        ({"bucket": "acme-legacy", "use_aws_managed_key": True, "key_policy_statements": [dict(READER, Sid="R")]},
         "this setting uses the AWS managed key aws/s3"),
        ({"bucket": "acme-legacy", "key_policy_statements": [dict(READER, Sid="R"), READER]},
         "key_policy_statements[1]: needs a Sid"),
        ({"bucket": "acme-legacy", "child_aliases": {"bucket": []}},
         "'bucket' is not a child of this component; use encryption, key"),
        ({"bucket": "acme-legacy", "kms_key": "alias/x"}, "unknown argument(s) kms_key; see BucketEncryptionArgs"),
        ({"bucket": "x"}, "bucket 'x' is not an S3 bucket name: it must be 3 to 63 characters long"),
        ({"bucket": "acme-legacy", "sse_algorithm": "aws:kms:dsse", "bucket_key_enabled": True},
         "S3 does not support Bucket Keys with DSSE-KMS"),
    ],
)
def test_bad_bucket_encryption_args_raise_and_register_nothing(args: dict[str, Any], message: str) -> None:
    cap, error = capture_failing(lambda: BucketEncryption("legacy", args), SettingsError)  # type: ignore[arg-type]
    assert message in error
    assert types_registered(cap) == []


def test_a_key_given_as_an_output_still_requires_a_kms_algorithm() -> None:
    def program() -> None:
        key = aws.kms.Key("k")
        EncryptedBucket("data", {"sse_algorithm": "AES256", "kms_key_id": key.arn})

    cap, error = capture_failing(program, SettingsError)
    assert "kms_key_id: a KMS key is only valid with aws:kms or aws:kms:dsse, not AES256" in error
    assert types_registered(cap) == [KEY]


def test_policy_json_is_plain_iam() -> None:
    # The policy document the component writes is plain IAM JSON once the ARN is known.
    document = json.dumps({"Version": "2012-10-17", "Statement": [tls_only_statement("arn:aws:s3:::b")]})
    assert json.loads(document)["Statement"][0]["Sid"] == "DenyInsecureTransport"


# --- Data safety: retention, aliases, Outputs in statements ------------------------------------------


def test_encryption_configurations_are_retained_on_delete() -> None:
    # Deleting a configuration is DeleteBucketEncryption: destroy, removal or rename must only forget it.
    cap = capture(lambda: (EncryptedBucket("data"), BucketEncryption("legacy", {"bucket": "acme-legacy"})))
    assert cap.by_name("data-encryption", CONFIGURATION).retain_on_delete is True
    assert cap.by_name("legacy-encryption", CONFIGURATION).retain_on_delete is True
    assert cap.by_name("legacy-key", KEY).retain_on_delete is True


def test_the_bucket_and_its_policy_are_retained_on_delete_by_default() -> None:
    # Dropping the component from the program, or renaming it without aliases, must not delete the
    # bucket, nor delete (DeleteBucketPolicy) the one policy a bucket has after the new one was written.
    cap = capture(lambda: EncryptedBucket("data", {"policy_statements": [dict(READER, Sid="Read")]}))
    assert cap.by_name("data", BUCKET).retain_on_delete is True
    assert cap.by_name("data-policy", POLICY).retain_on_delete is True


@pytest.mark.parametrize(("args", "retained"), [
    ({"force_destroy": True}, False),  # asking destroy to empty the bucket is asking for its deletion
    ({"retain_on_delete": False}, False),
    ({"retain_on_delete": True, "force_destroy": False}, True),
])
def test_retention_follows_force_destroy_and_retain_on_delete(args: dict[str, Any], retained: bool) -> None:
    cap = capture(lambda: EncryptedBucket("data", args))  # type: ignore[arg-type]
    assert cap.by_name("data", BUCKET).retain_on_delete is retained
    assert cap.by_name("data-policy", POLICY).retain_on_delete is True
    assert cap.by_name("data-encryption", CONFIGURATION).retain_on_delete is True


def test_stack_config_sets_retention_per_bucket() -> None:
    from bucketguard.components.stack import build_stack
    from bucketguard.settings import load_stack_config

    config = load_stack_config({"buckets": [{"name": "kept"}, {"name": "scratch", "retainOnDelete": False},
                                            {"name": "tmp", "forceDestroy": True}]})
    cap = capture(lambda: build_stack(config))
    assert [cap.by_name(n, BUCKET).retain_on_delete for n in ("kept", "scratch", "tmp")] == [True, False, False]


def test_a_moved_child_keeps_the_callers_own_aliases_first() -> None:
    old_key = "urn:pulumi:test::bucketguard::aws:kms/key:Key::k"
    cap = capture(lambda: EncryptedBucket("data", {"child_aliases": {"key": [old_key]}}))
    aliases = cap.by_name("data-key", KEY).aliases
    assert aliases[0] == {"urn": old_key}
    assert any("spec" in a and a["spec"]["parentUrn"].endswith("bucketguard:index:BucketEncryption::data") for a in aliases)


def test_moving_an_existing_bucket_into_encrypted_bucket_keeps_its_urn() -> None:
    before = capture(lambda: aws.s3.Bucket("data"))
    old = before.by_name("data", BUCKET)

    def moved() -> None:
        EncryptedBucket("data", {"child_aliases": {"bucket": [pulumi.create_urn("data", BUCKET)]}})

    after = capture(moved)
    bucket = after.by_name("data", BUCKET)
    assert bucket.urn != old.urn  # now a child of the component ...
    # ... and the engine finds the old state under its alias (pulumi-aws adds its own type aliases after it)
    assert bucket.aliases[0] == {"urn": old.urn}
    assert bucket.inputs["bucket"] == old.inputs["bucket"]  # same physical bucket, so no replacement
    assert not any("urn" in alias for alias in after.by_name("data-encryption", CONFIGURATION).aliases)


def test_alias_objects_reach_the_children_they_name() -> None:
    def renamed() -> None:
        EncryptedBucket("store", {"child_aliases": {
            "bucket": [pulumi.Alias(name="data", parent=pulumi.ROOT_STACK_RESOURCE)],
            "encryption": [pulumi.Alias(name="data-encryption")],
            "key": [pulumi.Alias(name="data-key")],
            "policy": [pulumi.Alias(name="data-policy")],
        }})

    cap = capture(renamed)
    assert cap.by_name("store", BUCKET).aliases[0] == {"spec": {"name": "data", "noParent": True}}
    for child, kind in (("encryption", CONFIGURATION), ("key", KEY), ("policy", POLICY)):
        assert {"spec": {"name": f"data-{child}", "parentUrn": ""}} in cap.by_name(f"store-{child}", kind).aliases


ROLE = "aws:iam/role:Role"


class DeployedMocks(mocks.Mocks):
    """Answers like `pulumi up` once resources exist: every output known."""

    def __init__(self) -> None:
        self.inputs: dict[str, dict[str, Any]] = {}

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.inputs[args.name] = dict(args.inputs)
        outputs = dict(args.inputs)
        if args.typ == BUCKET:
            outputs["bucket"] = args.inputs.get("bucket") or f"{args.name}-1a2b3c4"
            outputs["arn"] = f"arn:aws:s3:::{outputs['bucket']}"
        elif args.typ in (KEY, ROLE):
            outputs["arn"] = f"arn:aws:{'kms' if args.typ == KEY else 'iam'}::123456789012:{args.name}"
        return f"{args.name}-id", outputs

    def call(self, args: mocks.MockCallArgs) -> dict[str, Any]:
        return invokes.answer(args.token, dict(args.args), invokes.InvokeContext()) or {}


class DeployedMonitor(mocks.MockMonitor):
    # The mock monitor leaves an event loop open on its worker thread per call otherwise.
    def Invoke(self, request: Any) -> Any:
        with _worker_thread_loop():
            return super().Invoke(request)  # type: ignore[no-untyped-call]

    def RegisterResource(self, request: Any) -> Any:
        with _worker_thread_loop():
            return super().RegisterResource(request)  # type: ignore[no-untyped-call]


def deploy(program: Callable[[], object]) -> dict[str, dict[str, Any]]:
    """Run `program` as an update (not a preview) under mocks; return each resource's inputs by name."""
    deployed = DeployedMocks()

    def run() -> None:
        ROOT.set(None)
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            mocks.set_mocks(deployed, project="bucketguard", stack="test", preview=False,
                            monitor=DeployedMonitor(deployed))
            _sync_await(run_pulumi_func(lambda: program()))
        finally:
            loop.close()
            asyncio.set_event_loop(None)

    contextvars.Context().run(run)
    return deployed.inputs


def test_policy_statements_may_hold_outputs_once_the_bucket_exists() -> None:
    def program() -> None:
        role = aws.iam.Role("reader", assume_role_policy="{}")
        EncryptedBucket("data", {"policy_statements": [
            {"Sid": "Read", "Effect": "Allow", "Principal": {"AWS": role.arn}, "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::data-1a2b3c4/*"},
        ]})

    policy = json.loads(deploy(program)["data-policy"]["policy"])
    assert policy["Statement"] == [
        tls_only_statement("arn:aws:s3:::data-1a2b3c4"),
        {"Sid": "Read", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:reader"},
         "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data-1a2b3c4/*"},
    ]


def test_key_policy_statements_follow_aws_default_statement() -> None:
    def program() -> None:
        role = aws.iam.Role("reader", assume_role_policy="{}")
        EncryptedBucket("data", {"key_policy_statements": [
            {"Sid": "PartnerDecrypt", "Effect": "Allow", "Principal": {"AWS": [role.arn, "arn:aws:iam::210987654321:root"]},
             "Action": "kms:Decrypt", "Resource": "*"},
        ]})

    inputs = deploy(program)
    policy = json.loads(inputs["data-key"]["policy"])
    assert policy["Statement"] == [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{invokes.DEFAULT_ACCOUNT_ID}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "PartnerDecrypt", "Effect": "Allow",
         "Principal": {"AWS": ["arn:aws:iam::123456789012:reader", "arn:aws:iam::210987654321:root"]},
         "Action": "kms:Decrypt", "Resource": "*"},
    ]


def test_without_key_policy_statements_the_key_keeps_aws_default_policy() -> None:
    assert "policy" not in deploy(lambda: EncryptedBucket("data"))["data-key"]
