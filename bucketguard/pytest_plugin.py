"""bucketguard's pytest plugin (registered as `bucketguard` through the `pytest11` entry point): the
`bucketguard_preview` fixture runs the offline preview gate on a Pulumi program, so that a program's
own test suite can require it to pass, as Pulumi users test their programs with pytest.

    def test_infra_passes_the_gate(bucketguard_preview):
        bucketguard_preview.assert_passes("infra", stack="prod")

    def test_the_gate_names_the_bare_bucket(bucketguard_preview):
        result = bucketguard_preview("infra")
        assert {d.policy for d in result.mandatory} == {"s3-bucket-encryption-declared"}

Relative paths are taken from pytest's rootdir. Nothing of bucketguard is imported until the fixture
is used (`-p no:bucketguard` turns the plugin off).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

import pytest

if TYPE_CHECKING:
    from bucketguard.preview.models import PolicyPack, PreviewResult


class PreviewOptions(TypedDict, total=False):
    """`bucketguard preview`'s options, as `PreviewRequest` fields (see bucketguard.preview.models)."""

    stack: str
    packs: Sequence[PolicyPack]
    invoke_answers: str | os.PathLike[str]
    trusted_components: Sequence[str]
    trust_components_file: str | os.PathLike[str]
    state: str | os.PathLike[str]
    stack_reference_outputs: str | os.PathLike[str] | Mapping[str, Mapping[str, Any]]
    install: bool


class PreviewGate:
    """What the `bucketguard_preview` fixture gives a test: call it to get a program's `PreviewResult`,
    or `assert_passes` to fail the test, with the report, when a mandatory policy fails."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, given: str | os.PathLike[str]) -> Path:
        return self.root / Path(given)  # an absolute path stays itself

    def __call__(self, program_dir: str | os.PathLike[str] = ".", **options: Unpack[PreviewOptions]) -> PreviewResult:
        """Run the preview on the program in `program_dir` (raises `bucketguard.Broken` when it cannot run)."""
        from bucketguard.preview.models import PolicyPack, PreviewRequest
        from bucketguard.preview.pipeline import run_preview

        packs = [PolicyPack(None if p.folder is None else self.path(p.folder),
                            self.path(p.config) if isinstance(p.config, Path) else p.config)
                 for p in options.get("packs", ())]
        answers, trust_file, state = options.get("invoke_answers"), options.get("trust_components_file"), options.get("state")
        references = options.get("stack_reference_outputs")
        request = PreviewRequest(
            program_dir=self.path(program_dir), stack=options.get("stack"), packs=packs,
            invoke_answers=None if answers is None else self.path(answers),
            trusted_components=tuple(options.get("trusted_components", ())),
            trust_components_file=None if trust_file is None else self.path(trust_file),
            state=None if state is None else self.path(state),
            stack_reference_outputs=references if references is None or isinstance(references, Mapping)
            else self.path(references),
            install=options.get("install", False))
        # The engine side answers UNIMPLEMENTED to RPCs the SDK probes and falls back from (GetDeploymentInfo:
        # pulumi sdk/python/lib/pulumi/runtime/settings.py, _load_monitor_feature_support); grpc logs each as an
        # error, which pytest would show with every failing test.
        grpc_log = logging.getLogger("grpc._server")
        level = grpc_log.level
        grpc_log.setLevel(logging.CRITICAL)
        try:
            return run_preview(request)
        finally:
            grpc_log.setLevel(level)

    def assert_passes(self, program_dir: str | os.PathLike[str] = ".", **options: Unpack[PreviewOptions]) -> PreviewResult:
        """Run the preview and fail the test, showing the report, unless no mandatory policy fails."""
        result = self(program_dir, **options)
        if not result.passed:
            from bucketguard.reports.preview import render_text

            pytest.fail(f"{program_dir}: {len(result.mandatory)} mandatory policy violation(s) in the bucketguard "
                        f"preview gate\n\n{render_text(result)}", pytrace=False)
        return result


@pytest.fixture
def bucketguard_preview(request: pytest.FixtureRequest) -> PreviewGate:
    """Run bucketguard's offline preview gate on a Pulumi program: `bucketguard_preview(dir)` returns its
    `PreviewResult`; `bucketguard_preview.assert_passes(dir)` fails the test unless the gate passes."""
    return PreviewGate(request.config.rootpath)
