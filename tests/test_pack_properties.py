"""Property-based: over generated stacks, exactly the buckets without valid linked encryption are
flagged, and the pack never raises. Runs the pure stack check and the real protocol."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from helpers import ROOT, UNKNOWN
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bucketguard.preview.analyzer import PolicyPackProcess, run_preview_analysis
from bucketguard.preview.capture import Registration

BUCKET = "aws:s3/bucket:Bucket"
CONF = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
ALGORITHMS = ["AES256", "aws:kms", "aws:kms:dsse"]

# How a generated bucket gets (or fails to get) encryption.
KINDS = ["none", "by-dependency", "by-name", "inline", "other-bucket", "bad-algorithm", "unknown-algorithm",
         "reported-only", "shared-with-next", "untargeted-bucket", "untargeted-configuration", "unknown-provider"]
odd_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.just(UNKNOWN),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def pack() -> Iterator[PolicyPackProcess]:
    with PolicyPackProcess(ROOT / "policies", project="p", stack="dev") as process:
        process.configure()
        yield process


_stacks = iter(range(10**9))


def build(kinds: list[str], algorithms: list[str], noise: list[Any]) -> tuple[list[Registration], set[str]]:
    stack = f"h{next(_stacks)}"
    resources: list[Registration] = []
    expected: set[str] = set()

    def urn(t: str, n: str) -> str:
        return f"urn:pulumi:{stack}::p::{t}::{n}"

    # The engine sends every custom resource with its provider (here the default one, config known).
    provider = urn("pulumi:providers:aws", "default_7_51_1")
    resources.append(Registration(provider, "pulumi:providers:aws", "default_7_51_1", True, None,
                                  {"version": "7.51.1"}, {"version": "7.51.1"}))
    reference = f"{provider}::provider-id"
    # An explicit provider assuming a role created in this run: config unknown, Check and planning skipped.
    assumed = urn("pulumi:providers:aws", "assumed")
    resources.append(Registration(assumed, "pulumi:providers:aws", "assumed", True, None,
                                  {"assumeRoles": UNKNOWN}, {"assumeRoles": UNKNOWN}))

    for i, (kind, algorithm) in enumerate(zip(kinds, algorithms, strict=True)):
        name = f"b{i}"
        physical = f"b{i}-abc1234"
        good_rule = {"applyServerSideEncryptionByDefault": {"sseAlgorithm": algorithm},
                     "bucketKeyEnabled": algorithm == "aws:kms", "blockedEncryptionTypes": ["SSE-C"]}
        inputs: dict[str, Any] = {"bucket": physical}
        if kind == "inline":
            inputs["serverSideEncryptionConfiguration"] = {"rule": good_rule}
        outputs = {**inputs, "id": UNKNOWN, "serverSideEncryptionConfiguration":
                   inputs.get("serverSideEncryptionConfiguration", UNKNOWN)}
        if kind == "reported-only":  # deployed; state reports what S3 applies, the program declares nothing
            outputs = {**inputs, "id": physical, "serverSideEncryptionConfiguration": {"rule": good_rule}}
        if kind in ("untargeted-bucket", "unknown-provider"):  # both send no inputs and no outputs
            inputs, outputs = {}, {}
        resources.append(Registration(urn(BUCKET, name), BUCKET, name, True, None, inputs, outputs,
                                      provider=f"{assumed}::id" if kind == "unknown-provider" else reference))
        if kind in ("none", "other-bucket", "reported-only", "untargeted-configuration", "unknown-provider"):
            expected.add(name)
        if kind in ("none", "inline", "reported-only", "untargeted-bucket", "unknown-provider"):
            continue
        if kind == "shared-with-next":  # bucket=Output.all(this.id, next.id).apply(...): counts for neither
            # With no next bucket at all, its dependencies name a resource the pack cannot see (a read, as far
            # as it knows), so it counts for none either; a next bucket skipped in this run is no bucket.
            if i + 1 >= len(kinds) or kinds[i + 1] != "untargeted-bucket":
                expected.add(name)
            rule_inputs = {"bucket": UNKNOWN, "rules": [good_rule]}
            deps = {"bucket": [urn(BUCKET, name), urn(BUCKET, f"b{i + 1}")]}
            resources.append(Registration(urn(CONF, f"{name}-enc"), CONF, f"{name}-enc", True, None, rule_inputs,
                                          {**rule_inputs, "id": UNKNOWN}, property_dependencies=deps,
                                          provider=reference))
            continue
        if kind == "untargeted-configuration":
            resources.append(Registration(urn(CONF, f"{name}-enc"), CONF, f"{name}-enc", True, None, {}, {},
                                          property_dependencies={"bucket": [urn(BUCKET, name)]},
                                          provider=reference))
            continue
        rule = dict(good_rule)
        if kind == "bad-algorithm":
            rule["applyServerSideEncryptionByDefault"] = {"sseAlgorithm": algorithm.lower() + "x"}
        if kind == "unknown-algorithm":
            rule["applyServerSideEncryptionByDefault"] = {"sseAlgorithm": UNKNOWN}
        target = {"by-name": physical, "other-bucket": "external-bucket"}.get(kind, UNKNOWN)
        conf_inputs = {"bucket": target, "rules": [rule]}
        conf_outputs = {**conf_inputs, "id": UNKNOWN}
        deps = {"bucket": [urn(BUCKET, name)]}
        resources.append(Registration(urn(CONF, f"{name}-enc"), CONF, f"{name}-enc", True, None,
                                      conf_inputs, conf_outputs, property_dependencies=deps, provider=reference))
        if kind in ("bad-algorithm", "unknown-algorithm"):
            expected.add(f"{name}-enc")
    for j, value in enumerate(noise):
        resources.append(Registration(urn(BUCKET, f"n{j}"), BUCKET, f"n{j}", True, None,
                                      {"bucket": f"n{j}-abc1234", "serverSideEncryptionConfiguration": value},
                                      {"id": UNKNOWN, "serverSideEncryptionConfiguration": value},
                                      provider=reference))
    return resources, expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.lists(st.tuples(st.sampled_from(KINDS), st.sampled_from(ALGORITHMS)), min_size=1, max_size=8),
    noise=st.lists(odd_values, max_size=2),
)
def test_exactly_the_unencrypted_buckets_are_flagged(pack: PolicyPackProcess, data: list[tuple[str, str]],
                                                     noise: list[Any]) -> None:
    kinds = [k for k, _ in data]
    resources, expected = build(kinds, [a for _, a in data], noise)
    diagnostics = run_preview_analysis(pack, resources)
    mandatory = {d.urn.rsplit("::", 1)[-1] for d in diagnostics if d.level == "mandatory"}
    assert {m for m in mandatory if not m.startswith("n")} == expected
    assert not [d for d in diagnostics if "can't run policy" in d.message or "could not evaluate" in d.message]
