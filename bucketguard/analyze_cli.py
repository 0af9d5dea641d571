"""`bucketguard analyze --state FILE`: judge a stack's exported state with policy packs, without
running its program, as `pulumi policy analyze --file` does (pulumi/pulumi
`pkg/resource/deploy/analyze_snapshot.go`): Remediate + Analyze per resource with its state inputs,
AnalyzeStack once with every resource's state outputs; resources pending deletion are left out."""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

from bucketguard.cli import default_pack_dir
from bucketguard.cli_common import Broken, read_pack_config
from bucketguard.preview.analyzer import Diagnostic, PackError, PolicyPackProcess
from bucketguard.preview.capture import Capture, Registration
from bucketguard.preview.report import PreviewResult, StateSummary, render_text, to_json, to_sarif
from bucketguard.preview.state import (
    STATE_PACK,
    Decrypter,
    StackState,
    StateError,
    StateResource,
    pending_operation_findings,
    read_state,
)
from bucketguard.preview.steps import visible


def bucketguard_version() -> str:
    try:
        return metadata.version("bucketguard")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def state_decrypter(path: Path) -> Decrypter | None:
    """A decrypter for the state's secrets when the stack uses the passphrase provider and the
    passphrase is set (PULUMI_CONFIG_PASSPHRASE or _FILE); None otherwise (secrets stay unknown)."""
    try:
        from bucketguard.preview import secrets  # type: ignore[attr-defined]
    except ImportError:
        return None
    factory = getattr(secrets, "state_decrypter", None)
    return factory(path, os.environ) if callable(factory) else None


def load_state(path: Path, *, project: str | None, stack: str | None) -> StackState:
    try:
        return read_state(path, project=project, stack=stack, decrypt=state_decrypter(path))
    except StateError as error:
        raise Broken(str(error)) from None


def registration_of(resource: StateResource) -> Registration:
    """A state resource as the analyzer receives it: state inputs for Analyze, outputs for AnalyzeStack."""
    return Registration(
        urn=resource.urn, type=resource.type, name=resource.name, custom=resource.custom, parent=resource.parent,
        inputs=visible(resource.inputs), outputs=resource.outputs, dependencies=list(resource.dependencies),
        property_dependencies=dict(resource.property_dependencies), provider=resource.provider,
        protect=resource.protect, retain_on_delete=resource.retain_on_delete, op="same",
    )


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


def run_analyze(args: argparse.Namespace) -> int:
    pack_dirs = [p.resolve() for p in (args.policy_packs or [default_pack_dir()])]
    config_paths: list[Path] = args.pack_configs or []
    if len(config_paths) > len(pack_dirs):
        raise Broken("more --policy-pack-config files than policy packs; give one per --policy-pack, in order")
    pack_configs = [read_pack_config(p) for p in config_paths]
    for pack_dir in pack_dirs:
        if not (pack_dir / "PulumiPolicy.yaml").exists():
            raise Broken(f"{pack_dir}: not a policy pack folder (no PulumiPolicy.yaml)")
    state = load_state(args.state, project=args.project, stack=args.stack)
    project, stack = state.project or args.project or "project", state.stack or args.stack or "stack"
    resources = [registration_of(r) for r in state.live()]

    diagnostics: list[Diagnostic] = []
    packs = start_packs(pack_dirs, project, stack)
    try:
        for index, pack in enumerate(packs):
            source = str(config_paths[index]) if index < len(config_paths) else "policy pack config"
            pack.configure(pack_configs[index] if index < len(pack_configs) else None, source)
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

    meta, findings = pending_operation_findings(state, bucketguard_version())
    if findings:
        diagnostics.extend(findings)
        described.append((STATE_PACK, bucketguard_version(), [meta]))
    result = PreviewResult(
        Capture(project, stack, resources), args.state, diagnostics, described,
        state=StateSummary(args.state, state.version, analyze=True,
                           pending_operations=[(p.urn, p.operation) for p in state.pending_operations],
                           undecrypted_secrets=state.undecrypted_secrets),
    )
    if args.sarif:
        args.sarif.write_text(json.dumps(to_sarif(result, Path.cwd()), indent=2) + "\n")
    if args.json:
        sys.stdout.write(json.dumps(to_json(result), indent=2) + "\n")
    else:
        color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
        sys.stdout.write(render_text(result, color))
    return result.exit_code()
