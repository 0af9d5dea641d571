"""One offline preview session: the program runs in its own interpreter (its toolchain and
virtualenv, its folder as working directory) through a shim that does what the CLI's
`pulumi-language-python-exec` does, and its SDK talks to bucketguard's engine side
(`monitor.EngineServer`). Each registration goes to every pack (Remediate + Analyze) as it is
made, on an analysis thread, as the engine analyzes resources while a program runs; AnalyzeStack
follows once the program is done."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bucketguard.preview.analyzer import Diagnostic, PackError, PolicyPackProcess
from bucketguard.preview.autonaming import AutonamingConfigError
from bucketguard.preview.capture import Capture, Registration
from bucketguard.preview.dynamic import DynamicProviderError, DynamicProviderHost
from bucketguard.preview.interpreter import ProgramInterpreter
from bucketguard.preview.monitor import Construct, Deployment, EngineError, EngineServer, InvokeAnswer, Planner
from bucketguard.preview.nodejs import NodeRuntime, default_answer
from bucketguard.pulumi_files.project import Project, config_for_runtime

SHIM = Path(__file__).resolve().parent / "shim" / "_bucketguard_program_exec.py"
RESULT_FD_ENV = "BUCKETGUARD_RESULT_FD"
ORGANIZATION = "organization"
_OUTPUT_LINES_IN_ERRORS = 5
log = logging.getLogger(__name__)  # --verbose: the steps, on stderr


@dataclass
class StreamedPreview:
    """What a streamed preview produced."""

    capture: Capture
    packs: list[PolicyPackProcess]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    unverifiable: list[str] = field(default_factory=list)  # what only the real engine can decide
    invoke_transforms_run: int = 0


def program_error(result: Mapping[str, Any], project: Project, python: str) -> str:
    """One line for a program that failed, from what the shim reported."""
    kind, message, where = result.get("type", ""), result.get("message", ""), result.get("where", "")
    if kind == "MissingSDK":
        # --install creates a virtualenv or runs uv/poetry; a program on PATH's python has none to create.
        creates = bool(project.runtime_options.get("virtualenv")) or project.runtime_options.get("toolchain") in (
            "uv", "poetry")
        fix = ("`pulumi install`, or rerun with --install" if creates else
               f"`{python} -m pip install pulumi` and the program's requirements, or set runtime.options.virtualenv "
               f"in {project.folder / 'Pulumi.yaml'} and rerun with --install")
        return f"{python} cannot import the Pulumi SDK ({message}); install the program's dependencies ({fix})"
    if kind == "RunError":
        config = f"stack config: {project.stack_file}" if project.stack_file else f"no stack file for {project.stack}"
        return f"{project.main} stopped ({config}): {message}"
    if kind == "SyntaxError" and where:
        return f"{where}: SyntaxError: {message}; fix the program's syntax"
    if kind == "SystemExit":
        return f"{project.main}: {message}"
    at = f" at {where}" if where else ""
    return f"{project.main}: the program raised {kind}{at}: {message}"


def program_command(interpreter: ProgramInterpreter, project: Project, server: EngineServer) -> list[str]:
    """The shim's command line, with the arguments the language host passes (main.go constructArguments)."""
    return [
        interpreter.python, "-u", str(SHIM),
        "--monitor", server.address, "--engine", server.address,
        "--project", project.name, "--root_directory", str(project.folder), "--stack", project.stack,
        "--pwd", str(project.program_dir), "--dry_run", "true", "--parallel", "16",
        "--organization", ORGANIZATION, project.entry_point,
    ]


def program_environment(interpreter: ProgramInterpreter, config: Mapping[str, str], secret_keys: Sequence[str],
                        result_fd: int) -> dict[str, str]:
    """The interpreter's environment plus the config as the language host passes it (PULUMI_CONFIG:
    JSON of strings; PULUMI_CONFIG_SECRET_KEYS: the keys whose values are secret)."""
    env = dict(interpreter.env)
    env["PULUMI_CONFIG"] = json.dumps(dict(config))
    env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps([k for k in secret_keys if k in config])
    env[RESULT_FD_ENV] = str(result_fd)
    return env


class _Analysis:
    """Remediate + Analyze each registration with every pack, on one thread, in arrival order."""

    def __init__(self, packs: Sequence[Future[PolicyPackProcess]],
                 configs: Sequence[tuple[Mapping[str, Any] | None, str]], result: StreamedPreview) -> None:
        self.pack_futures, self.configs, self.result = packs, configs, result
        self.by_urn: dict[str, Registration] = {}
        self.queue: queue.Queue[Registration | None] = queue.Queue()
        self.failed = threading.Event()
        self.thread = threading.Thread(target=self._run, name="bucketguard-analysis", daemon=True)
        self.thread.start()

    def configure_packs(self) -> None:
        """Once, before the first analysis: wait for each pack to be up, then Configure it."""
        if self.result.packs:
            return
        for future, (config, source) in zip(self.pack_futures, self.configs, strict=True):
            pack = future.result()
            self.result.packs.append(pack)
            pack.configure(config, source)

    def _run(self) -> None:
        try:
            while (registration := self.queue.get()) is not None:
                self.by_urn[registration.urn] = registration
                if registration.op == "read" or self.failed.is_set():
                    continue  # the engine analyzes registrations, not reads
                self.configure_packs()
                # As step_generator.go: every pack's Remediate in turn, then every pack's Analyze.
                for pack in self.result.packs:
                    self.result.diagnostics.extend(pack.remediate(registration, self.by_urn))
                for pack in self.result.packs:
                    self.result.diagnostics.extend(pack.analyze_only(registration, self.by_urn))
        except Exception as error:  # a pack that fails is reported in one line, never raised
            self.result.error = self.result.error or describe_failure(error)
            self.failed.set()

    def finish(self) -> None:
        self.queue.put(None)
        self.thread.join()


def describe_failure(error: BaseException) -> str:
    """One line for a pack or protocol failure."""
    if isinstance(error, PackError):
        return str(error)
    details = getattr(error, "details", None)
    text = details() if callable(details) else str(error)
    first = (text or type(error).__name__).strip().splitlines()
    return f"a policy pack failed: {first[-1] if first else type(error).__name__}"


class _Ticker:
    """Tells `progress` how many resources the program has registered, four times a second while it runs,
    then once more when it has ended."""

    def __init__(self, progress: Callable[[int, bool], None] | None, capture: Capture) -> None:
        self.progress, self.capture, self.stopped = progress, capture, threading.Event()
        self.thread = threading.Thread(target=self._run, name="bucketguard-progress", daemon=True)
        if progress is not None:
            self.thread.start()

    def _run(self) -> None:
        assert self.progress is not None
        while not self.stopped.wait(0.25):
            self.progress(len(self.capture.resources), False)

    def stop(self) -> None:
        if self.progress is not None and not self.stopped.is_set():
            self.stopped.set()
            self.thread.join()
            self.progress(len(self.capture.resources), True)


def run_program_streaming(project: Project, packs: Sequence[Future[PolicyPackProcess]],
                          configs: Sequence[tuple[Mapping[str, Any] | None, str]],
                          interpreter: ProgramInterpreter | NodeRuntime, *, prior: Planner | None = None,
                          invoke_answer: InvokeAnswer | None = None, config: Mapping[str, str] | None = None,
                          secret_keys: Sequence[str] | None = None,
                          extra_env: Mapping[str, str] | None = None,
                          stack_references: Mapping[str, Mapping[str, Any]] | None = None,
                          made_up: Sequence[str] = (), construct: Construct | None = None,
                          timeout: float | None = None,
                          progress: Callable[[int, bool], None] | None = None) -> StreamedPreview:
    """Run the program in its own interpreter (or node) and analyze its registrations as they arrive.
    `config` (strings, as the program sees them) and `secret_keys` default to the project's;
    `extra_env` is added to the program's environment; `made_up` are texts of made-up answers (an
    account, a region) whose strings reach the policies as unknown; `construct` builds remote components;
    the program is stopped after `timeout` seconds; `progress` is told how many resources it registered."""
    config = config_for_runtime(project) if config is None else config
    secret_keys = project.secret_keys if secret_keys is None else secret_keys
    started = time.perf_counter()
    result = StreamedPreview(Capture(project.name, project.stack), [])
    analysis = _Analysis(packs, configs, result)
    dynamic: DynamicProviderHost | None = None
    if isinstance(interpreter, NodeRuntime):  # Node.js SDKs type lookups in .d.ts files: shaped here
        invoke_answer = interpreter.shaped_invokes(invoke_answer or default_answer(config), project.program_dir,
                                                   {"PULUMI_CONFIG": json.dumps(dict(config)), **(extra_env or {})},
                                                   result.capture)
    else:  # Python dynamic providers run in the program's interpreter (Node.js ones stay unverifiable)
        environment = {**program_environment(interpreter, config, secret_keys, -1), **(extra_env or {})}
        environment.pop(RESULT_FD_ENV, None)
        dynamic = DynamicProviderHost(interpreter.python, environment, project.program_dir, project.name)

    def dynamic_check(urn: str, inputs: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        if dynamic is None:
            raise deployment.fail(f"{urn}: a dynamic provider of a Node.js program cannot run offline")
        try:
            return dynamic.check(urn, inputs)
        except DynamicProviderError as error:
            raise deployment.fail(str(error)) from None

    try:
        deployment = Deployment(result.capture, config=config, secret_keys=secret_keys,
                                on_register=analysis.queue.put, prior=prior, invoke_answer=invoke_answer,
                                stack_references=stack_references, dynamic_check=dynamic_check,
                                made_up=made_up, construct=construct)
    except (EngineError, AutonamingConfigError) as error:
        analysis.finish()
        result.error = f"{project.folder / f'Pulumi.{project.stack}.yaml'}: {error}"
        return result
    read_fd, write_fd = os.pipe()
    try:
        with EngineServer(deployment) as server, contextlib.ExitStack() as node_engine:
            if isinstance(interpreter, NodeRuntime):
                engine_address = node_engine.enter_context(interpreter.engine(server.address))
                command = interpreter.command(project, server.address, engine_address)
                environment = interpreter.environment(config, secret_keys)
            else:
                command = program_command(interpreter, project, server)
                environment = program_environment(interpreter, config, secret_keys, write_fd)
            process = subprocess.Popen(
                command, cwd=project.program_dir, env={**environment, **(extra_env or {})},
                pass_fds=(write_fd,),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            )
            os.close(write_fd)
            write_fd = -1
            log.info("program started: %s (pid %d, in %s), engine at %s", " ".join(command), process.pid,
                     project.program_dir, server.address)
            assert process.stdout is not None
            timed_out = threading.Event()

            def stop_program() -> None:
                timed_out.set()
                process.kill()
            timer = threading.Timer(timeout, stop_program) if timeout is not None else None
            ticker = _Ticker(progress, result.capture)
            try:
                if timer is not None:
                    timer.daemon = True
                    timer.start()
                # The program's own output is kept for the report, never mixed into ours (--json, SARIF).
                for raw in process.stdout:
                    result.capture.output.append(raw.decode(errors="replace").rstrip("\n"))
                    if analysis.failed.is_set():
                        process.kill()
                process.stdout.close()
                code = process.wait()
            finally:
                # Ctrl-C, SIGTERM or any failure here: the program never outlives the preview.
                if timer is not None:
                    timer.cancel()
                ticker.stop()
                if process.poll() is None:
                    process.kill()
                    process.wait()
            if timed_out.is_set():
                result.error = (f"{project.main}: the program ran longer than the --timeout of {timeout:g} s and was "
                                "stopped; make it finish (an endless loop? a call waiting on the network?) or "
                                "raise --timeout")
            with os.fdopen(read_fd) as stream:
                read_fd = -1
                reported = stream.read().strip()
    finally:
        for fd in (read_fd, write_fd):
            if fd >= 0:
                os.close(fd)
        analysis.finish()
        if dynamic is not None:
            dynamic.close()
    result.capture.transforms_run = deployment.transforms_run
    result.invoke_transforms_run = deployment.invoke_transforms_run
    result.unverifiable = list(deployment.unverifiable)
    if deployment.engine_error is not None and result.error is None:
        # What the engine stops the preview with comes first: the program only saw its RPC fail.
        result.error = f"{project.main}: the engine would stop this preview: {deployment.engine_error}"
    result.timings["program (analysis runs alongside)"] = time.perf_counter() - started
    log.info("program exited with code %d after %.1f s: %d registrations (%d of them reads)", code,
             result.timings["program (analysis runs alongside)"], len(result.capture.resources),
             sum(r.op == "read" for r in result.capture.resources))
    if result.error is not None:
        return result
    message = json.loads(reported.splitlines()[-1]) if reported else {}
    if isinstance(interpreter, NodeRuntime):  # the run entry reports failures to the engine's Log, and its exit code
        result.error = interpreter.failure(code, result.capture, project)
    elif "error" in message:
        result.error = program_error(message["error"], project, interpreter.python)
    elif code != 0 or not message.get("ok"):
        tail = [line for line in result.capture.output if line.strip()][-_OUTPUT_LINES_IN_ERRORS:]
        result.error = (f"{project.main}: the program's process ({interpreter.python}) exited with code {code} "
                        "before it finished" + ("; its last output: " + " | ".join(tail) if tail else ""))
    if result.error is not None:
        if result.capture.unanswered_invokes:
            result.error += ("\n(invokes the offline preview could not answer returned empty results: "
                             + ", ".join(result.capture.unanswered_invokes) + ")")
        return result
    stack_started = time.perf_counter()
    try:
        analysis.configure_packs()
        # A read (`Resource.get`) is recorded in the deployment's `reads`, not its `news`, and
        # AnalyzeStack sends only `news` (step_executor.go executeStep, step_generator.go
        # AnalyzeResources); `pulumi policy analyze` on a state does include them (analyze_snapshot.go).
        managed = [r for r in result.capture.resources if r.op != "read"]
        for pack in result.packs:
            result.diagnostics.extend(pack.analyze_stack(managed))
    except Exception as error:  # a pack that fails is reported in one line, never raised
        result.error = describe_failure(error)
        return result
    result.timings["AnalyzeStack"] = time.perf_counter() - stack_started
    result.timings["pack start (parallel with the program)"] = max(
        (p.start_seconds() for p in result.packs), default=0.0)
    return result
