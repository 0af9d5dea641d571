"""Run a Pulumi Python program under the mock runtime in preview mode and capture every
registration the way the engine would see it (engine URNs, Check'ed inputs, planned outputs,
dependencies and property dependencies)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import os
import runpy
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import mocks
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.settings import ROOT
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from bucketguard.preview import engine, invokes

STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass
class Registration:
    """One resource as the engine knows it during a preview."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None
    inputs: dict[str, Any]  # wire form: camelCase keys, unknown sentinels, secret envelopes
    outputs: dict[str, Any]
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    provider: str = ""
    protect: bool = False
    retain_on_delete: bool = False
    delete_before_replace: bool | None = None
    aliases: list[dict[str, Any]] = field(default_factory=list)  # {"urn": ...} or {"spec": {...}}
    op: str = "create"  # the engine's step: same | update | replace | create | read (delete: only in reports)
    reasons: list[str] = field(default_factory=list)  # properties that changed, or forced a replacement
    remote: bool = False  # a multi-language component, constructed by its provider
    version: str = ""  # the package version the SDK asked for (e.g. a remote component's provider)
    id: str = ""  # known id (from a prior state or a read), else "" (unknown)
    ignore_changes: list[str] = field(default_factory=list)
    additional_secret_outputs: list[str] = field(default_factory=list)
    alias_urns: list[str] = field(default_factory=list)  # the aliases as URNs, as analyzers get them
    custom_timeouts: dict[str, float] = field(default_factory=dict)  # create/update/delete, seconds
    source: tuple[str, int] | None = None  # (file URI, line) of the program's call that registered it
    deleted_with: str = ""
    protect_option: bool | None = None  # as set or inherited (children inherit it when unset)
    retain_option: bool | None = None
    provider_config_known: bool = True  # False: its provider's config is unknown during preview


@dataclass
class Capture:
    """Everything a program registered, in registration order, and what it could not be answered."""

    project: str
    stack: str
    resources: list[Registration] = field(default_factory=list)
    unanswered_invokes: list[str] = field(default_factory=list)  # no known answer nor pin
    placeholder_invokes: dict[str, list[str]] = field(default_factory=dict)  # token -> fields made up
    invoked: list[str] = field(default_factory=list)  # every invoke token, in first-call order
    made_up_answers: dict[str, list[str]] = field(default_factory=dict)  # known answers' made-up fields
    logs: list[tuple[str, str]] = field(default_factory=list)  # (severity, message) from pulumi.log / Engine.Log
    output: list[str] = field(default_factory=list)  # the program's own stdout and stderr lines
    transforms_run: int = 0

    def of_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_token]

    def by_name(self, name: str, type_token: str | None = None) -> Registration:
        found = [r for r in self.resources if r.name == name and (type_token is None or r.type == type_token)]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources named {name!r} of type {type_token}")
        return found[0]


class _OfflineMocks(mocks.Mocks):
    def __init__(self, capture: Capture, invoke_context: invokes.InvokeContext) -> None:
        self.capture = capture
        self.invoke_context = invoke_context

    def call(self, args: mocks.MockCallArgs) -> Any:
        # A plain dict: the mock monitor iterates the failures of a returned tuple even when None.
        answer = invokes.answer(args.token, dict(args.args), self.invoke_context)
        if answer is None:
            if args.token not in self.capture.unanswered_invokes:
                self.capture.unanswered_invokes.append(args.token)
            return {}
        return answer

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        # Only `.get()` lookups (ReadResource) reach here: echo what was asked for.
        return args.resource_id or args.name, dict(args.inputs)


@contextlib.contextmanager
def _worker_thread_loop() -> Iterator[None]:
    """The mock monitor makes an event loop on the runtime's worker thread for each invoke and never
    closes it; give it one that is closed when the call returns."""
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            yield
        finally:
            asyncio.set_event_loop(None)
            loop.close()
        return
    yield


class CapturingMonitor(mocks.MockMonitor):
    """A mock monitor that answers like the engine in preview and records what it is sent.

    The mock runtime's URNs carry `pulumi:pulumi:Stack$` and only the parent's own type; the engine's
    carry the whole chain of component types. Registrations are recorded with engine URNs.
    """

    def __init__(self, capture: Capture, on_register: Callable[[Registration], None] | None = None,
                 invoke_context: invokes.InvokeContext | None = None) -> None:
        super().__init__(_OfflineMocks(capture, invoke_context or invokes.InvokeContext()))
        self.capture = capture
        self.on_register = on_register
        self._engine_urns: dict[str, str] = {}
        self._qualified_types: dict[str, str] = {}

    def _engine_urn(self, mock_parent: str, type_token: str, name: str) -> tuple[str, str | None]:
        parent = self._engine_urns.get(mock_parent) if mock_parent else None
        parent_type = self._qualified_types.get(mock_parent, STACK_TYPE) if mock_parent else STACK_TYPE
        qualified = type_token if parent_type == STACK_TYPE else f"{parent_type}${type_token}"
        if type_token == STACK_TYPE:
            qualified = STACK_TYPE
        urn = f"urn:pulumi:{self.capture.stack}::{self.capture.project}::{qualified}::{name}"
        return urn, parent

    def _engine_reference(self, reference: str) -> str:
        """A provider reference (`URN::id`) with the provider's engine URN."""
        if not reference:
            return ""
        urn, _, provider_id = reference.rpartition("::")
        return f"{self._engine_urns.get(urn, urn)}::{provider_id}"

    def RegisterResource(self, request: Any) -> Any:
        mock_urn = self.make_urn(request.parent, request.type, request.name)
        urn, parent = self._engine_urn(request.parent, request.type, request.name)
        self._engine_urns[mock_urn] = urn
        qualified = urn.split("::")[2]
        self._qualified_types[mock_urn] = qualified

        inputs = json_format.MessageToDict(request.object)
        if request.type == STACK_TYPE:
            self._record(Registration(urn, request.type, request.name, False, None, {}, {}))
            return resource_pb2.RegisterResourceResponse(urn=mock_urn)

        checked = engine.check(request.type, request.name, inputs)
        outputs = engine.planned_outputs(request.type, checked, request.custom)
        self._record(Registration(
            urn=urn,
            type=request.type,
            name=request.name,
            custom=request.custom,
            parent=parent,
            inputs=checked,
            outputs=outputs,
            dependencies=[self._engine_urns.get(d, d) for d in request.dependencies],
            property_dependencies={
                key: [self._engine_urns.get(d, d) for d in deps.urns]
                for key, deps in request.propertyDependencies.items()
                if deps.urns  # the engine omits properties without dependencies
            },
            provider=self._engine_reference(request.provider),
            protect=request.protect,
            retain_on_delete=request.retainOnDelete,
            delete_before_replace=request.deleteBeforeReplace if request.deleteBeforeReplaceDefined else None,
            aliases=[json_format.MessageToDict(alias) for alias in request.aliases],
        ))
        state = {k: v for k, v in outputs.items() if k != "id"}
        self.resources[mock_urn] = mocks.MockMonitor.ResourceRegistration(mock_urn, "", state)
        response_object = struct_pb2.Struct()
        json_format.ParseDict(state, response_object)
        # An empty id tells the SDK, in preview, that the id is unknown.
        return resource_pb2.RegisterResourceResponse(urn=mock_urn, id="", object=response_object)


    def Invoke(self, request: Any) -> Any:
        with _worker_thread_loop():
            return super().Invoke(request)  # type: ignore[no-untyped-call]

    def ReadResource(self, request: Any) -> Any:
        with _worker_thread_loop():
            return super().ReadResource(request)  # type: ignore[no-untyped-call]

    def _record(self, registration: Registration) -> None:
        self.capture.resources.append(registration)
        if self.on_register is not None:
            self.on_register(registration)


class _LogCapture(mocks.MockEngine):
    def __init__(self, capture: Capture) -> None:
        super().__init__(None)
        self.capture = capture

    def Log(self, request: Any) -> Any:
        from pulumi.runtime.proto import engine_pb2

        severity = engine_pb2.LogSeverity.Name(request.severity).lower()
        self.capture.logs.append((severity, request.message))
        return super().Log(request)  # type: ignore[no-untyped-call]


def capture_program(
    program: Callable[[], object],
    *,
    project: str = "project",
    stack: str = "stack",
    config: dict[str, Any] | None = None,
    secret_keys: list[str] | None = None,
    into: Capture | None = None,
    on_register: Callable[[Registration], None] | None = None,
    invoke_context: invokes.InvokeContext | None = None,
) -> Capture:
    """Run `program` (a callable that declares resources) as a preview and return what it
    registered. Exceptions from the program propagate after the runtime has settled; pass `into`
    to keep what was registered before. `on_register` sees each registration as it happens (from
    the runtime's worker threads), as the engine analyzes resources while the program runs."""
    capture = into if into is not None else Capture(project, stack)

    def run() -> None:
        ROOT.set(None)
        pulumi.runtime.set_all_config(
            {k: v if isinstance(v, str) else json.dumps(v) for k, v in (config or {}).items()},
            secret_keys or [],
        )
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            monitor = CapturingMonitor(capture, on_register, invoke_context)
            mocks.set_mocks(monitor.mocks, project=project, stack=stack, preview=True, monitor=monitor)
            settings = pulumi.runtime.settings.SETTINGS
            settings.engine = _LogCapture(capture)
            def declare() -> None:
                program()

            _sync_await(run_pulumi_func(declare))
        finally:
            loop.close()
            asyncio.set_event_loop(None)

    contextvars.Context().run(run)
    return capture


def capture_program_dir(
    main: Path,
    *,
    project: str,
    stack: str,
    config: dict[str, Any] | None = None,
    secret_keys: list[str] | None = None,
    into: Capture | None = None,
    on_register: Callable[[Registration], None] | None = None,
    invoke_context: invokes.InvokeContext | None = None,
) -> Capture:
    """Run a Python program's entry file (`__main__.py` or the `main:` of Pulumi.yaml) as a preview,
    with its folder as working directory and first on sys.path, as the language host does."""
    folder = main.parent if main.is_file() else main
    entry = main if main.is_file() else main / "__main__.py"

    def program() -> None:
        sys.path.insert(0, str(folder))
        try:
            runpy.run_path(str(entry), run_name="__main__")
        finally:
            sys.path.remove(str(folder))

    previous = os.getcwd()
    os.chdir(folder)
    try:
        return capture_program(
            program, project=project, stack=stack, config=config, secret_keys=secret_keys, into=into,
            on_register=on_register, invoke_context=invoke_context,
        )
    finally:
        os.chdir(previous)
