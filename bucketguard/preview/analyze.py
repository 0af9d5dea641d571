"""`analyze_state(request) -> PreviewResult`: judge a stack's exported state with policy packs, without
running its program, as `pulumi policy analyze --file` does (pulumi/pulumi
`pkg/resource/deploy/analyze_snapshot.go`): Remediate + Analyze per resource with its state inputs,
AnalyzeStack once with every resource's state outputs; resources pending deletion are left out."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bucketguard.inputs import Broken
from bucketguard.preview.analyzer import Diagnostic, PackError, PolicyPackProcess
from bucketguard.preview.capture import Capture
from bucketguard.preview.existing_stack import existing_stack_findings, registration_of
from bucketguard.preview.models import AnalyzeRequest, PreviewResult
from bucketguard.preview.packs import choose_packs
from bucketguard.pulumi_files.state import StateError, load_state

log = logging.getLogger(__name__)  # --verbose: the steps, on stderr


def start_packs(pack_dirs: list[Path], project: str, stack: str) -> list[PolicyPackProcess]:
    """Start every pack at once; a pack that fails to start closes the others."""
    with ThreadPoolExecutor(max_workers=max(1, len(pack_dirs))) as pool:
        futures = [pool.submit(PolicyPackProcess, d, project=project, stack=stack, config={}) for d in pack_dirs]
    started = [f.result() for f in futures if f.exception() is None]
    failed = next((f.exception() for f in futures if f.exception() is not None), None)
    if failed is not None:
        for pack in started:
            pack.close()
        if isinstance(failed, PackError):
            raise Broken(str(failed)) from None
        raise failed
    return started


def analyze_state(request: AnalyzeRequest) -> PreviewResult:
    """The packs' verdicts on the state's resources; raises Broken for a state or pack that cannot be used."""
    chosen = choose_packs(request.packs)
    try:
        state = load_state(request.state, project=request.project, stack=request.stack)
    except StateError as error:
        raise Broken(str(error)) from None
    project, stack = state.project or request.project or "project", state.stack or request.stack or "stack"
    resources = [registration_of(r) for r in state.live()]
    log.info("state %s: stack %s of project %s, %d resources (pending deletion left out)", request.state, stack,
             project, len(resources))

    diagnostics: list[Diagnostic] = []
    packs = start_packs([choice.folder for choice in chosen], project, stack)
    try:
        for pack, choice in zip(packs, chosen, strict=True):
            pack.configure(choice.config, choice.config_source)
        log.info("Remediate and Analyze each of %d resources", len(resources))
        for resource in resources:
            for pack in packs:
                diagnostics.extend(pack.analyze(resource))
        for pack in packs:
            diagnostics.extend(pack.analyze_stack(resources))
        described = [(p.info.name if p.info else "", p.version, p.policies()) for p in packs]
    except PackError as error:
        raise Broken(str(error)) from None
    finally:
        for pack in packs:
            pack.close()

    result = PreviewResult(Capture(project, stack, resources), request.state, diagnostics, described,
                           base_dir=Path.cwd())
    existing_stack_findings(result, state, analyze=True)
    return result
