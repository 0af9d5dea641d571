"""The offline preview, top to bottom: `run_preview(request) -> PreviewResult`.

project and stack config (`pulumi_files`) → secure config → invoke answers and trusted components →
the program's interpreter → the stack's state, if any → the packs, started while the program runs →
the program, each registration analyzed as it is made, then AnalyzeStack (`session`) → findings of
multi-language components and of the state → the result (printed by `bucketguard.reports.preview`).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bucketguard.inputs import Broken, read_json_file
from bucketguard.preview import invokes, remote
from bucketguard.preview.analyzer import PackError, PolicyPackProcess
from bucketguard.preview.capture import Capture
from bucketguard.preview.construct import ComponentProviders, ProviderError
from bucketguard.preview.existing_stack import existing_stack_findings
from bucketguard.preview.interpreter import InterpreterError, ProgramInterpreter, find_interpreter
from bucketguard.preview.languages import unsupported_runtime
from bucketguard.preview.models import PreviewRequest, PreviewResult
from bucketguard.preview.monitor import PROVIDER_PREFIX, STACK_TYPE
from bucketguard.preview.nodejs import NodeError, NodeRuntime, find_node
from bucketguard.preview.packs import choose_packs
from bucketguard.preview.session import run_program_streaming
from bucketguard.preview.steps import Prior
from bucketguard.pulumi_files.project import (
    ProjectError,
    check_provider_config,
    config_for_runtime,
    load_project,
    pinned_environments,
    program_config,
)
from bucketguard.pulumi_files.secrets import SecretsError
from bucketguard.pulumi_files.state import StateError, load_state

log = logging.getLogger(__name__)  # --verbose: the steps, on stderr


def registers_nothing(capture: Capture) -> str | None:
    """Why a program's registrations give a preview nothing to judge (none besides the stack and its
    providers, which the engine registers for every program and which create nothing), or None."""
    if any(r.type != STACK_TYPE and not r.type.startswith(PROVIDER_PREFIX) for r in capture.resources):
        return None
    return ("the program registered no resource (besides the stack and its providers), and --require-resources "
            "asks for at least one; check the stack and its config, or drop --require-resources")


def read_stack_reference_outputs(given: Path | Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """`{"org/project/stack": {"output": value, ...}}`, the outputs a StackReference reads offline."""
    if given is None:
        return {}
    data = read_json_file(given, "stack reference outputs file") if isinstance(given, Path) else given
    if not isinstance(data, Mapping) or not all(isinstance(v, Mapping) for v in data.values()):
        where = given if isinstance(given, Path) else "stack reference outputs"
        raise Broken(f'{where}: must map stack names to their outputs, e.g. {{"acme/net/prod": {{"vpcId": "vpc-1"}}}}')
    return {str(k): dict(v) for k, v in data.items()}


def misspelt_pin(pinned: Mapping[str, Mapping[str, Any]], placeholders: Mapping[str, Sequence[str]],
                 source: Path | None) -> str | None:
    """A pinned answer's field that differs only in case or separators from a declared field that got a
    placeholder instead (`zoneID` or `zone_id` pinned, `zoneId` made up): the pin was meant for it.
    Two fields of one result never differ only so, so a right pin is never refused."""
    def norm(name: str) -> str:
        return name.replace("_", "").replace("-", "").lower()
    for token, fields in pinned.items():
        made_up = {norm(f): f for f in placeholders.get(token, ())}
        for name in fields:
            meant = made_up.get(norm(name))
            if meant is not None and meant != name:
                return (f"{source or '--invoke-answers'}: {token}.{name}: the result of {token} has no field "
                        f"{name!r}, so {meant!r} was made up; rename it to {meant!r} (camelCase, as the provider "
                        "returns it)")
    return None


def run_preview(request: PreviewRequest) -> PreviewResult:
    """Run the program and the packs offline, as `pulumi preview --policy-pack` would; raises Broken
    (one line naming the file and the problem) when the program, its environment or a pack is broken."""
    timings: dict[str, float] = {}  # seconds of each phase, in --json (the report itself is the rest)
    try:
        project = load_project(request.program_dir, request.stack)
        log.info("project %s, stack %s (runtime %s): %s, stack config from %s", project.name, project.stack,
                 project.runtime, project.folder, project.stack_file or "no stack file")
        refused = unsupported_runtime(project.folder / "Pulumi.yaml", project.runtime)
        if refused is not None:
            raise Broken(refused)
        environment_variables = pinned_environments(project, request.environment_values)
        check_provider_config(project)
        runtime_config = program_config(project)
        pinned = invokes.load_pinned_answers(request.invoke_answers) if request.invoke_answers else {}
        if request.invoke_answers:  # a misspelt field is refused before the program runs
            invokes.check_pinned_fields(pinned, request.invoke_answers)
        for component_type in request.trusted_components:
            remote.check_component_type(component_type, "--trust-component")
        trusted = [*request.trusted_components,
                   *(remote.load_trust_file(request.trust_components_file) if request.trust_components_file else [])]
    except (ProjectError, SecretsError, invokes.InvokeAnswersError, remote.TrustFileError) as error:
        raise Broken(str(error)) from None
    invoke_context = invokes.InvokeContext.from_config(project.config, pinned)

    def answer_invoke(token: str, invoke_args: dict[str, Any]) -> dict[str, Any] | None:
        return invokes.answer(token, invoke_args, invoke_context)
    interpreter: ProgramInterpreter | NodeRuntime
    try:
        interpreter = (find_node(project, install=request.install) if project.runtime == "nodejs" else
                       find_interpreter(project.folder, project.program_dir, project.runtime_options,
                                        install=request.install))
        components = ComponentProviders.for_project(project.folder, project.program_dir,
                                                    list(request.component_providers), install=request.install)
    except (InterpreterError, NodeError) as error:
        raise Broken(f"{project.folder / 'Pulumi.yaml'}: {error}") from None
    except ProviderError as error:
        raise Broken(str(error)) from None
    log.info("the program runs with %s", interpreter.python)
    stack_references = read_stack_reference_outputs(request.stack_reference_outputs)
    prior = None
    if request.state is not None:
        try:
            state = load_state(request.state, project=project.name, stack=project.stack)
        except StateError as error:
            raise Broken(str(error)) from None
        region = project.config.get("aws:region")
        prior = Prior(state, provider_region=region if isinstance(region, str) else None)
        log.info("state %s: %d resources", request.state, len(state.live()))
    chosen = choose_packs(request.packs)
    pack_dirs = [choice.folder for choice in chosen]

    def start(pack_dir: Path) -> PolicyPackProcess:
        return PolicyPackProcess(pack_dir, project=project.name, stack=project.stack,
                                 config=config_for_runtime(project))

    configs = [(choice.config, choice.config_source) for choice in chosen]
    with ThreadPoolExecutor(max_workers=max(1, len(pack_dirs))) as pool, components, \
            tempfile.TemporaryDirectory(prefix="bucketguard-") as scratch:
        futures: list[Future[PolicyPackProcess]] = [pool.submit(start, d) for d in pack_dirs]
        placeholder_report, reads_report = Path(scratch) / "invoke-placeholders.jsonl", Path(scratch) / "reads.jsonl"
        try:
            try:
                streamed = run_program_streaming(
                    project, futures, configs, interpreter, prior=prior, stack_references=stack_references,
                    config=runtime_config.values, secret_keys=runtime_config.secret_keys,
                    invoke_answer=answer_invoke, made_up=invoke_context.made_up_texts(),
                    extra_env={**environment_variables, **invoke_context.shim_environment(
                        placeholder_report, reads_report, runtime_config.undecrypted)},
                    construct=components.construct, timeout=request.timeout,
                    progress=request.progress)
                streamed.capture.placeholder_invokes = invokes.read_placeholder_report(placeholder_report)
                misspelt = misspelt_pin(pinned, streamed.capture.placeholder_invokes, request.invoke_answers)
                if misspelt is not None and streamed.error is None:
                    raise Broken(misspelt)
                streamed.capture.made_up_answers = {t: f for t in streamed.capture.invoked
                                                    if (f := invokes.made_up_fields(t, invoke_context))}
                made_up_reads = invokes.unverifiable_reads(invokes.read_made_up_reads(reads_report), invoke_context,
                                                           runtime_config.reason, project.folder)
                if isinstance(interpreter, NodeRuntime):
                    made_up_reads += invokes.unobserved_made_up(
                        streamed.capture.made_up_answers, streamed.capture.placeholder_invokes,
                        runtime_config.undecrypted, invoke_context, runtime_config.reason)
            except PackError as error:
                raise Broken(str(error)) from None
            if streamed.error is not None:
                note = (f"\n(secure config the program saw as placeholders: {', '.join(runtime_config.undecrypted)}; "
                        f"{runtime_config.reason})") if runtime_config.undecrypted else ""
                raise Broken(streamed.error + note)
            capture = streamed.capture
            timings.update(streamed.timings)
            described = [(p.info.name if p.info else "", p.version, p.policies()) for p in streamed.packs]
            diagnostics = streamed.diagnostics
            findings = remote.remote_component_findings(capture.resources, trusted)
            if findings:
                described.append((remote.FINDINGS_PACK, remote.FINDINGS_VERSION, [remote.POLICY]))
                diagnostics.extend(findings)
        finally:
            # Every pack that started is stopped, even one still starting when the program failed.
            for future in futures:
                if future.exception() is None:
                    future.result().close()

    result = PreviewResult(capture, project.main, diagnostics, described, runtime_config.undecrypted, timings,
                           undecrypted_reason=runtime_config.reason, base_dir=project.folder,
                           unverifiable=streamed.unverifiable + made_up_reads,
                           nothing_judged=registers_nothing(capture) if request.require_resources else None)
    if prior is not None:
        existing_stack_findings(result, prior.state)
    return result
