"""Reading `pulumi stack export` documents, and planning registrations against them as the engine
would (same / update / replace / create / delete, and the properties each step reports)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from helpers import BUCKET, CONFIGURATION, KEY, ROOT, UNKNOWN
from state_exports import SECRET, SIG, ciphertext, deploy_program, export, find, write

from bucketguard.preview.engine import check, planned_outputs
from bucketguard.preview.steps import UNKNOWN_TYPE_NOTE, Prior
from bucketguard.pulumi_files.state import StackState, StateError, read_state


@pytest.fixture(scope="module")
def dev_resources() -> list[dict[str, Any]]:
    """This repository's dev stack, as `pulumi up` leaves it."""
    return deploy_program(ROOT)


def state_of(tmp_path: Path, resources: list[dict[str, Any]], **kwargs: Any) -> StackState:
    return read_state(write(tmp_path / "state.json", export(resources, **kwargs)))


def plan(prior: Prior, record: dict[str, Any], raw: dict[str, Any] | None = None) -> Any:
    """Plan a registration whose raw inputs are `raw` (default: the state's inputs minus bookkeeping)."""
    inputs = raw if raw is not None else {k: v for k, v in record.get("inputs", {}).items()
                                          if not k.startswith("__") and k != "region"}
    name = record["urn"].rsplit("::", 1)[1]
    checked = check(record["type"], name, inputs)
    return prior.plan(record["urn"], record["type"], record["custom"], inputs, checked,
                      planned_outputs(record["type"], checked, record["custom"]))


# --- reading ---------------------------------------------------------------------------------------

def test_dev_stack_export_reads_every_resource_with_its_links(tmp_path: Path, dev_resources: list[dict[str, Any]]) -> None:
    state = state_of(tmp_path, dev_resources)
    assert (state.project, state.stack, state.version) == ("bucketguard", "dev", 3)
    assert len(state.resources) == len(dev_resources)
    config = next(r for r in state.resources if r.name == "data-encryption")
    assert config.parent == "urn:pulumi:dev::bucketguard::bucketguard:index:EncryptedBucket::data"
    assert config.property_dependencies["bucket"] == [
        "urn:pulumi:dev::bucketguard::bucketguard:index:EncryptedBucket$aws:s3/bucket:Bucket::data"]
    assert config.provider.startswith("urn:pulumi:dev::bucketguard::pulumi:providers:aws::default_7_51_1::")
    assert config.outputs["rules"][0]["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"].startswith(
        "arn:aws:kms:eu-west-1:123456789012:key/")


def test_ciphertext_secrets_are_secret_values_of_unknown_content(tmp_path: Path) -> None:
    key_arn = json.dumps("arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab")
    record = {"urn": "urn:pulumi:dev::p::" + CONFIGURATION + "::c", "custom": True, "id": "b", "type": CONFIGURATION,
              "inputs": {"bucket": "b", "rules": [{"applyServerSideEncryptionByDefault": {
                  "sseAlgorithm": "aws:kms", "kmsMasterKeyId": ciphertext(key_arn)}}]},
              "outputs": {"bucket": "b", "secretRules": ciphertext("[]")}}
    state = state_of(tmp_path, [record])
    key = state.resources[0].inputs["rules"][0]["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"]
    assert key == {SIG: SECRET, "value": UNKNOWN}
    assert state.undecrypted_secrets == 2


def test_plaintext_secrets_from_show_secrets_are_decoded(tmp_path: Path) -> None:
    record = {"urn": "urn:pulumi:dev::p::aws:s3/bucket:Bucket::b", "custom": True, "id": "b", "type": BUCKET,
              "inputs": {"bucket": {SIG: SECRET, "plaintext": json.dumps("acme-b")},
                         "tags": {SIG: SECRET, "plaintext": json.dumps({"team": "x"})}}}
    state = state_of(tmp_path, [record])
    assert state.resources[0].inputs["bucket"] == {SIG: SECRET, "value": "acme-b"}
    assert state.resources[0].inputs["tags"] == {SIG: SECRET, "value": {"team": "x"}}
    assert state.undecrypted_secrets == 0


def test_a_decrypter_opens_ciphertexts_and_a_wrong_one_leaves_them_unknown(tmp_path: Path) -> None:
    record = {"urn": "urn:pulumi:dev::p::aws:s3/bucket:Bucket::b", "custom": True, "id": "b", "type": BUCKET,
              "inputs": {"bucket": {SIG: SECRET, "ciphertext": "v1:abc:def"}}}
    path = write(tmp_path / "state.json", export([record]))
    opened = read_state(path, decrypt=lambda c: json.dumps("acme-b") if c == "v1:abc:def" else "")
    assert opened.resources[0].inputs["bucket"] == {SIG: SECRET, "value": "acme-b"}

    def wrong(_: str) -> str:
        raise ValueError("incorrect passphrase")

    closed = read_state(path, decrypt=wrong)
    assert closed.resources[0].inputs["bucket"] == {SIG: SECRET, "value": UNKNOWN}
    assert closed.undecrypted_secrets == 1


def test_resource_references_reach_the_analyzer_downgraded(tmp_path: Path) -> None:
    ref_sig = "5cf8f73096256a8f31e491e813e4eb8e"
    record = {"urn": "urn:pulumi:dev::p::aws:s3/bucketPolicy:BucketPolicy::pol", "custom": True, "id": "b",
              "type": "aws:s3/bucketPolicy:BucketPolicy",
              "inputs": {"bucket": {SIG: ref_sig, "urn": "urn:pulumi:dev::p::aws:s3/bucket:Bucket::b", "id": "acme-b",
                                    "packageVersion": "7.51.1"},
                         "owner": {SIG: ref_sig, "urn": "urn:pulumi:dev::p::my:index:Thing::t"}}}
    inputs = state_of(tmp_path, [record]).resources[0].inputs
    assert inputs == {"bucket": "acme-b", "owner": "urn:pulumi:dev::p::my:index:Thing::t"}


def test_versions_one_and_two_are_migrated_like_the_cli(tmp_path: Path) -> None:
    record = {"urn": "urn:pulumi:dev::p::aws:s3/bucket:Bucket::b", "custom": True, "id": "b", "type": BUCKET,
              "inputs": {"bucket": "b", "tags": {}}, "dependencies": ["urn:pulumi:dev::p::aws:kms/key:Key::k"]}
    state = state_of(tmp_path, [record], version=2)
    assert state.resources[0].property_dependencies == {
        "bucket": ["urn:pulumi:dev::p::aws:kms/key:Key::k"], "tags": ["urn:pulumi:dev::p::aws:kms/key:Key::k"]}


def test_pending_operations_are_read_with_their_kind(tmp_path: Path, dev_resources: list[dict[str, Any]]) -> None:
    config = copy.deepcopy(find(dev_resources, "data-encryption", CONFIGURATION))
    state = state_of(tmp_path, dev_resources, pending=[{"resource": config, "type": "deleting"}])
    assert [(p.urn, p.operation) for p in state.pending_operations] == [(config["urn"], "deleting")]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("not json at all", "not a `pulumi stack export` document: not valid JSON"),
        ("[1, 2]", "not a `pulumi stack export` document: expected a JSON object"),
        ('{"version": 3, "checkpoint": {"latest": {}}}', "it is a backend checkpoint file"),
        ('{"deployment": {}}', "`version` must be an integer, got None"),
        ('{"version": 5, "deployment": {}}', "deployment version 5 is newer than this bucketguard reads (1 to 4)"),
        ('{"version": 4, "features": ["snippets-prototype"], "deployment": {}}',
         "needs features bucketguard does not support: snippets-prototype"),
        ('{"version": 3, "deployment": {"resources": [{"urn": "bucket", "type": "aws:s3/bucket:Bucket"}]}}',
         "deployment.resources[0] has an invalid URN 'bucket'"),
        ('{"version": 3, "deployment": {"resources": [{"urn": "urn:pulumi:s::p::t::n", "type": "t", "inputs": '
         '{"k": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}}}]}}',
         "malformed secret value: exactly one of `ciphertext` or `plaintext` must be supplied"),
        ('{"version": 3, "deployment": {"resources": [{"urn": "urn:pulumi:s::p::t::a", "type": "t"}, '
         '{"urn": "urn:pulumi:prod::p::t::b", "type": "t"}]}}', "resources of more than one stack"),
    ],
)
def test_bad_input_names_the_file_and_the_problem(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(content)
    with pytest.raises(StateError) as caught:
        read_state(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert problem in str(caught.value)


def test_a_state_of_another_stack_or_project_is_refused(tmp_path: Path, dev_resources: list[dict[str, Any]]) -> None:
    path = write(tmp_path / "state.json", export(dev_resources))
    with pytest.raises(StateError, match="belongs to stack dev of project bucketguard, not stack prod of project"):
        read_state(path, project="bucketguard", stack="prod")
    with pytest.raises(StateError, match="not stack dev of project other"):
        read_state(path, project="other", stack="dev")
    assert read_state(path, project="bucketguard", stack="dev").stack == "dev"


# --- planning ---------------------------------------------------------------------------------------

def test_an_unchanged_bucket_is_same_and_reports_its_old_outputs(tmp_path: Path, dev_resources: list[dict[str, Any]]) -> None:
    prior = Prior(state_of(tmp_path, dev_resources), provider_region="eu-west-1")
    bucket = find(dev_resources, "data", BUCKET)
    step = plan(prior, bucket)
    assert step.op == "same"
    # The program does not name the bucket: Check keeps the deployed autoname, not a new one.
    assert step.inputs["bucket"] == bucket["inputs"]["bucket"]
    assert step.outputs == bucket["outputs"]
    assert step.outputs["serverSideEncryptionConfiguration"]["rule"]["applyServerSideEncryptionByDefault"][
        "sseAlgorithm"] == "aws:kms"


def test_changed_tags_update_in_place_keeping_computed_outputs(tmp_path: Path, dev_resources: list[dict[str, Any]]) -> None:
    prior = Prior(state_of(tmp_path, dev_resources), provider_region="eu-west-1")
    bucket = find(dev_resources, "data", BUCKET)
    step = plan(prior, bucket, {"tags": {"team": "data"}, "forceDestroy": False})
    assert (step.op, step.reasons) == ("update", ("tags",))
    assert step.outputs["tags"] == {"team": "data"}
    assert step.outputs["tagsAll"] == UNKNOWN
    assert step.outputs["arn"] == bucket["outputs"]["arn"]  # computed: kept from state
    assert step.outputs["id"] == bucket["id"]
    assert step.outputs["serverSideEncryptionConfiguration"] == bucket["outputs"]["serverSideEncryptionConfiguration"]


def test_renaming_a_bucket_replaces_it_with_planned_outputs(tmp_path: Path, dev_resources: list[dict[str, Any]]) -> None:
    prior = Prior(state_of(tmp_path, dev_resources), provider_region="eu-west-1")
    bucket = find(dev_resources, "data", BUCKET)
    step = plan(prior, bucket, {"bucket": "acme-data-renamed", "tags": bucket["inputs"]["tags"], "forceDestroy": False})
    assert (step.op, step.reasons) == ("replace", ("bucket",))
    assert step.outputs["bucket"] == "acme-data-renamed"
    assert step.outputs["id"] == UNKNOWN and step.outputs["arn"] == UNKNOWN
    assert step.outputs["serverSideEncryptionConfiguration"] == UNKNOWN


def test_a_configuration_moved_to_another_bucket_is_replaced(tmp_path: Path, dev_resources: list[dict[str, Any]]) -> None:
    prior = Prior(state_of(tmp_path, dev_resources), provider_region="eu-west-1")
    config = find(dev_resources, "data-encryption", CONFIGURATION)
    moved = {k: v for k, v in config["inputs"].items() if not k.startswith("__") and k != "region"}
    moved["bucket"] = "ledger-0b49722"
    step = plan(prior, config, moved)
    assert (step.op, step.reasons) == ("replace", ("bucket",))


def test_an_unknown_key_in_a_rule_is_never_equal_to_the_deployed_one(tmp_path: Path, dev_resources: list[dict[str, Any]]) -> None:
    prior = Prior(state_of(tmp_path, dev_resources), provider_region="eu-west-1")
    config = find(dev_resources, "data-encryption", CONFIGURATION)
    raw = copy.deepcopy({k: v for k, v in config["inputs"].items() if not k.startswith("__") and k != "region"})
    raw["rules"][0]["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] = UNKNOWN
    step = plan(prior, config, raw)
    assert (step.op, step.reasons) == ("update", ("rules",))
    assert step.outputs["rules"] == UNKNOWN  # the whole block, as the provider may plan it
    assert step.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] == UNKNOWN


def test_a_new_resource_is_a_create_and_the_missing_ones_are_deletes(tmp_path: Path, dev_resources: list[dict[str, Any]]) -> None:
    prior = Prior(state_of(tmp_path, dev_resources), provider_region="eu-west-1")
    fresh = {"urn": "urn:pulumi:dev::bucketguard::aws:s3/bucket:Bucket::fresh", "type": BUCKET, "custom": True}
    assert plan(prior, fresh, {}).op == "create"
    for record in dev_resources:
        if record["urn"].endswith("::data-encryption") or record["type"].startswith("pulumi:providers:"):
            continue
        plan(prior, record)
    deleted = [r.name for r in prior.deletes()]
    assert "data-encryption" in deleted
    assert "fresh" not in deleted and "data" not in deleted


def test_unknown_types_update_in_place_and_say_so(tmp_path: Path) -> None:
    record = {"urn": "urn:pulumi:dev::p::aws:sqs/queue:Queue::q", "custom": True, "id": "q", "type": "aws:sqs/queue:Queue",
              "inputs": {"name": "q-1", "fifoQueue": False}, "outputs": {"name": "q-1", "arn": "arn:aws:sqs:::q-1"}}
    prior = Prior(state_of(tmp_path, [record]))
    step = plan(prior, record, {"name": "q-2", "fifoQueue": False})
    assert step.op == "update"
    assert step.reasons == ("name", UNKNOWN_TYPE_NOTE)


def test_a_pending_replacement_or_taint_is_replaced_even_unchanged(tmp_path: Path, dev_resources: list[dict[str, Any]]) -> None:
    resources = copy.deepcopy(dev_resources)
    find(resources, "shared-bucket-key", KEY)["taint"] = True
    prior = Prior(state_of(tmp_path, resources, version=4, features=["taint"]), provider_region="eu-west-1")
    step = plan(prior, find(resources, "shared-bucket-key", KEY))
    assert (step.op, step.reasons) == ("replace", ("taint",))


def test_a_component_changes_only_with_its_inputs(tmp_path: Path, dev_resources: list[dict[str, Any]]) -> None:
    prior = Prior(state_of(tmp_path, dev_resources))
    component = find(dev_resources, "data", "bucketguard:index:EncryptedBucket")
    assert plan(prior, component, {}).op == "same"
    assert plan(prior, component, {"note": "x"}).op == "update"


def test_resources_pending_deletion_are_not_planned_against_and_are_deleted(
        tmp_path: Path, dev_resources: list[dict[str, Any]]) -> None:
    resources = copy.deepcopy(dev_resources)
    leftover = copy.deepcopy(find(resources, "ledger", BUCKET))
    leftover.update({"delete": True, "id": "ledger-old1234"})
    resources.append(leftover)
    state = state_of(tmp_path, resources)
    assert [r.id for r in state.live() if r.name == "ledger" and r.type == BUCKET] == [
        find(dev_resources, "ledger", BUCKET)["id"]]
    prior = Prior(state, provider_region="eu-west-1")
    registered = [r["urn"] for r in dev_resources]
    deleted = prior.deletes(registered)
    assert [(r.name, r.id) for r in deleted] == [("ledger", "ledger-old1234")]


def test_the_stack_and_default_providers_are_never_deleted(tmp_path: Path, dev_resources: list[dict[str, Any]]) -> None:
    prior = Prior(state_of(tmp_path, dev_resources))
    deleted = {r.type for r in prior.deletes([])}
    assert "pulumi:pulumi:Stack" not in deleted and "pulumi:providers:aws" not in deleted
    assert BUCKET in deleted and CONFIGURATION in deleted


def test_inline_encryption_dropped_from_the_program_stays_in_the_planned_state(tmp_path: Path) -> None:
    """Optional+computed: Terraform keeps the old value when the program stops setting it, so the
    planned outputs still show the inline block while Analyze sees inputs without it."""
    inline = {"rule": {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": ""},
                       "bucketKeyEnabled": True}}
    inputs = {"bucket": "acme-b", "serverSideEncryptionConfiguration": inline, "tags": {"a": "b"}}
    record = {"urn": "urn:pulumi:dev::p::aws:s3/bucket:Bucket::b", "custom": True, "id": "acme-b", "type": BUCKET,
              "inputs": inputs, "outputs": {**inputs, "id": "acme-b", "arn": "arn:aws:s3:::acme-b"}}
    step = plan(Prior(state_of(tmp_path, [record])), record, {"bucket": "acme-b", "tags": {"a": "c"}})
    assert (step.op, step.reasons) == ("update", ("serverSideEncryptionConfiguration", "tags"))
    assert "serverSideEncryptionConfiguration" not in step.inputs
    assert step.outputs["serverSideEncryptionConfiguration"] == inline
    assert step.id == "acme-b" and step.outputs["arn"] == "arn:aws:s3:::acme-b"


def passphrase_stack(passphrase: str) -> tuple[str, Any]:
    """A passphrase secrets provider's salt state and its encrypter, as pulumi/pulumi
    `pkg/secrets/passphrase/manager.go` and `config/crypt.go` make them (PBKDF2-SHA256, 1e6 rounds,
    AES-256-GCM, `v1:<nonce>:<sealed>`)."""
    import base64
    import hashlib

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    salt = b"saltsalt"
    key = hashlib.pbkdf2_hmac("sha256", passphrase.encode(), salt, 1_000_000, 32)

    def encrypt(plaintext: str, nonce: bytes = b"\x01" * 12) -> str:
        sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), None)
        return f"v1:{base64.b64encode(nonce).decode()}:{base64.b64encode(sealed).decode()}"

    check = encrypt("pulumi", bytes(12))
    return f"v1:{base64.b64encode(salt).decode()}:{check}", encrypt


def test_passphrase_secrets_open_with_the_stacks_passphrase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bucketguard.pulumi_files.state import load_state

    salt, encrypt = passphrase_stack("correct horse")
    key_arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    record = {"urn": "urn:pulumi:dev::p::" + CONFIGURATION + "::c", "custom": True, "id": "b", "type": CONFIGURATION,
              "inputs": {"bucket": "b", "rules": [{"applyServerSideEncryptionByDefault": {
                  "sseAlgorithm": "aws:kms", "kmsMasterKeyId": {SIG: SECRET, "ciphertext": encrypt(json.dumps(key_arn))}}}]}}
    path = write(tmp_path / "state.json", export([record], secrets={"type": "passphrase", "state": {"salt": salt}}))

    def key_of(state: StackState) -> Any:
        return state.resources[0].inputs["rules"][0]["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"]

    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    assert key_of(load_state(path)) == {SIG: SECRET, "value": UNKNOWN}  # no passphrase: unknown
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "correct horse")
    opened = load_state(path)
    assert key_of(opened) == {SIG: SECRET, "value": key_arn}
    assert opened.undecrypted_secrets == 0
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "wrong")
    with pytest.raises(StateError, match="incorrect passphrase"):
        load_state(path)
