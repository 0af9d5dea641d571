"""The engine side of an offline preview: a gRPC `ResourceMonitor` and `Engine` that a Pulumi
Python program's own SDK talks to, exactly as it talks to the Pulumi CLI (pulumi/pulumi
`proto/pulumi/resource.proto`, `engine.proto`; the engine's implementation is
`pkg/resource/deploy/source_eval.go`, `resmon`).

What it reproduces from the engine, during a preview:
- URNs (`urn:pulumi:<stack>::<project>::<parent's qualified type>$<type>::<name>`), parents,
  options inherited from the parent (protect, retainOnDelete, deletedWith, provider), dependencies;
- resource transforms (`transforms`, `register_resource_transform`): run on the SDK's own
  Callbacks server, the resource's own first, then its ancestors', then the stack's;
- default providers (`pulumi:providers:<pkg>::default_<version>`) with the stack's config for the
  package, registered before the first resource or invoke that needs one;
- the provider's Check (autonames, see `autonaming.py`) and a planned state for each new resource,
  with unknown ids; `additionalSecretOutputs` made secret;
- resource references and output values downgraded as the engine marshals them for analyzers.

Every registration is handed to `on_register` as it is made (the engine analyzes while a program
runs). A `prior` planner (a previous state) may turn a create into a same or an update.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import (
    alias_pb2,
    callback_pb2,
    callback_pb2_grpc,
    engine_pb2,
    engine_pb2_grpc,
    provider_pb2,
    resource_pb2,
    resource_pb2_grpc,
)

from bucketguard.preview import engine, invokes
from bucketguard.preview.capture import Capture, Registration
from bucketguard.rules import UNKNOWN

if TYPE_CHECKING:
    from bucketguard.preview.state import PlannedStep

STACK_TYPE = "pulumi:pulumi:Stack"
PROVIDER_PREFIX = "pulumi:providers:"
STACK_REFERENCE = "pulumi:pulumi:StackReference"
GET_RESOURCE = "pulumi:pulumi:getResource"
# What the engine answers to SupportsFeature (source_eval.go, supportsFeatureID).
SUPPORTED_FEATURES = frozenset({
    "secrets", "resourceReferences", "outputValues", "aliasSpecs", "replacementTrigger", "deletedWith",
    "replaceWith", "transforms", "invokeTransforms", "parameterization", "resourceHooks", "errorHooks",
    "sendsOptionsToHooks",
})
_GRPC_OPTIONS = [("grpc.max_send_message_length", 400 << 20), ("grpc.max_receive_message_length", 400 << 20),
                 ("grpc.enable_http_proxy", 0)]


class RegistrationError(Exception):
    """A registration the engine refuses (e.g. a remote component whose Construct failed): the SDK gets
    this message as the RPC's error, as from the engine."""


class Planner(Protocol):
    """A previous state the preview is made against (see `--state`)."""

    def plan(self, urn: str, type_token: str, custom: bool, raw_inputs: dict[str, Any],
             checked_inputs: dict[str, Any], planned_outputs: dict[str, Any]) -> PlannedStep: ...
    # PlannedStep (bucketguard.preview.state): op, inputs (Analyze), outputs (AnalyzeStack and the
    # program; "id" in them is the resource's id), reasons (what changed, or forced a replacement).


# A token and its (downgraded) args -> a plausible result, or None when it has none. The CLI passes
# `lambda token, args: invokes.answer(token, args, context)` with the stack's invoke context.
InvokeAnswer = Callable[[str, dict[str, Any]], "dict[str, Any] | None"]
# A remote component's Construct by its provider (construct.ComponentProviders.construct): given the
# deployment, the request, its properties and options after transforms, and its provider reference, the
# response the engine sends the SDK; None leaves it an unverified remote component.
Construct = Callable[["Deployment", resource_pb2.RegisterResourceRequest, struct_pb2.Struct, "_Options", str],
                     "resource_pb2.RegisterResourceResponse | None"]


def _struct(data: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(data)
    return message


def _to_dict(message: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def qualified_type(urn: str) -> str:
    return urn.split("::")[2] if urn.count("::") >= 3 else ""


def _optional_bool(request: Any, name: str) -> bool | None:
    """A proto3 `optional bool` (newer protos) or a plain bool (older SDKs send False for unset)."""
    try:
        return bool(getattr(request, name)) if request.HasField(name) else None
    except ValueError:
        return bool(getattr(request, name)) or None


@dataclass
class _Options:
    """The resource options the engine keeps (TransformResourceOptions in source_eval.go)."""

    protect: bool | None = None
    ignore_changes: list[str] = field(default_factory=list)
    delete_before_replace: bool | None = None
    additional_secret_outputs: list[str] = field(default_factory=list)
    aliases: list[alias_pb2.Alias] = field(default_factory=list)
    custom_timeouts: dict[str, str] = field(default_factory=dict)
    provider: str = ""
    depends_on: list[str] = field(default_factory=list)
    retain_on_delete: bool | None = None
    deleted_with: str = ""
    version: str = ""

    def to_proto(self) -> resource_pb2.TransformResourceOptions:
        options = resource_pb2.TransformResourceOptions(
            depends_on=self.depends_on, ignore_changes=self.ignore_changes, aliases=self.aliases,
            provider=self.provider, additional_secret_outputs=self.additional_secret_outputs,
            deleted_with=self.deleted_with, version=self.version,
        )
        if self.protect is not None:
            options.protect = self.protect
        if self.retain_on_delete is not None:
            options.retain_on_delete = self.retain_on_delete
        if self.delete_before_replace is not None:
            options.delete_before_replace = self.delete_before_replace
        if self.custom_timeouts:
            options.custom_timeouts.CopyFrom(resource_pb2.RegisterResourceRequest.CustomTimeouts(**self.custom_timeouts))
        return options

    @classmethod
    def from_proto(cls, options: resource_pb2.TransformResourceOptions) -> _Options:
        timeouts = options.custom_timeouts
        return cls(
            protect=options.protect if options.HasField("protect") else None,
            ignore_changes=list(options.ignore_changes),
            delete_before_replace=options.delete_before_replace if options.HasField("delete_before_replace") else None,
            additional_secret_outputs=list(options.additional_secret_outputs),
            aliases=list(options.aliases),
            custom_timeouts={k: v for k, v in (("create", timeouts.create), ("update", timeouts.update),
                                               ("delete", timeouts.delete)) if v},
            provider=options.provider, depends_on=list(options.depends_on),
            retain_on_delete=options.retain_on_delete if options.HasField("retain_on_delete") else None,
            deleted_with=options.deleted_with, version=options.version,
        )


class Deployment:
    """The engine's view of one preview: every registration, in order, with engine URNs."""

    def __init__(self, capture: Capture, *, config: Mapping[str, Any], on_register: Callable[[Registration], None],
                 secret_keys: Iterable[str] = (), prior: Planner | None = None,
                 invoke_answer: InvokeAnswer | None = None,
                 stack_references: Mapping[str, Mapping[str, Any]] | None = None,
                 construct: Construct | None = None) -> None:
        self.capture = capture
        self.construct = construct
        self.stack_references = dict(stack_references or {})
        self.config = dict(config)
        self.secret_keys = frozenset(secret_keys)
        self.on_register = on_register
        self.prior = prior
        if invoke_answer is None:
            context = invokes.InvokeContext.from_config(self.config)

            def invoke_answer(token: str, args: dict[str, Any]) -> dict[str, Any] | None:
                return invokes.answer(token, args, context)
        self.invoke_answer = invoke_answer
        self.by_urn: dict[str, Registration] = {}
        self.transforms_by_urn: dict[str, list[callback_pb2.Callback]] = {}
        self.stack_transforms: list[callback_pb2.Callback] = []
        self.default_providers: dict[tuple[str, str], str] = {}  # (package, version) -> provider reference
        self.root_resource = ""
        self.transforms_run = 0
        self._lock = threading.RLock()
        self._callback_channels: dict[str, grpc.Channel] = {}
        self._packages: dict[str, tuple[str, str]] = {}

    # URNs --------------------------------------------------------------------------------------
    def urn(self, type_token: str, name: str, parent: str) -> str:
        parent_type = qualified_type(parent) if parent else ""
        qualified = type_token if parent_type in ("", STACK_TYPE) else f"{parent_type}${type_token}"
        return f"urn:pulumi:{self.capture.stack}::{self.capture.project}::{qualified}::{name}"

    def alias_urn(self, alias: alias_pb2.Alias, type_token: str, name: str, parent: str) -> str:
        """An alias as the analyzer sees it: its URN, with the resource's own name, type, stack,
        project and parent filling what the alias spec leaves out."""
        if alias.WhichOneof("alias") == "urn":
            return alias.urn
        spec = alias.spec
        alias_parent = "" if spec.noParent else (spec.parentUrn or parent)
        parent_type = qualified_type(alias_parent) if alias_parent else ""
        alias_type = spec.type or type_token
        qualified = alias_type if parent_type in ("", STACK_TYPE) else f"{parent_type}${alias_type}"
        return (f"urn:pulumi:{spec.stack or self.capture.stack}::{spec.project or self.capture.project}"
                f"::{qualified}::{spec.name or name}")

    # Registrations -----------------------------------------------------------------------------
    def record(self, registration: Registration) -> None:
        with self._lock:
            self.capture.resources.append(registration)
            self.by_urn[registration.urn] = registration
        self.on_register(registration)

    def package_config(self, package: str) -> dict[str, Any]:
        """The stack's config for a package, keyed without namespace, as the engine gives a default
        provider (deploy/target.go GetPackageConfig: values are strings, secure ones secret; a dynamic
        provider, pulumi-nodejs or pulumi-python, gets the whole config with its namespaced keys)."""
        prefix = f"{package}:"
        dynamic = package in ("pulumi-nodejs", "pulumi-python")
        values: dict[str, Any] = {}
        for key, value in self.config.items():
            if key.startswith(prefix) or dynamic:
                text = value if isinstance(value, str) else json.dumps(value)
                values[key if dynamic else key[len(prefix):]] = engine.secret(text) if key in self.secret_keys else text
        return values

    def default_provider(self, package: str, version: str) -> str:
        """The reference (`urn::id`) of the default provider for a package, registered on first use."""
        with self._lock:
            key = (package, version)
            if key in self.default_providers:
                return self.default_providers[key]
            name = "default" + ("_" + version.replace(".", "_").replace("-", "_").replace("+", "_") if version else "")
            type_token = PROVIDER_PREFIX + package
            urn = self.urn(type_token, name, "")
            inputs = self.package_config(package)
            if version:
                inputs["version"] = version
            registration = Registration(urn=urn, type=type_token, name=name, custom=True, parent=None,
                                        inputs=inputs, outputs=dict(inputs))
            reference = f"{urn}::{UNKNOWN}"
            self.default_providers[key] = reference
        self._plan(registration, inputs)
        self.record(registration)
        return reference

    def _plan(self, registration: Registration, raw_inputs: dict[str, Any]) -> None:
        if self.prior is None:
            return
        step = self.prior.plan(registration.urn, registration.type, registration.custom, raw_inputs,
                               registration.inputs, registration.outputs)
        registration.op, registration.inputs, registration.outputs = step.op, step.inputs, step.outputs
        registration.reasons = list(getattr(step, "reasons", ()))
        known_id = step.outputs.get("id")
        if isinstance(known_id, str) and known_id != UNKNOWN:
            registration.id = known_id

    def _callbacks(self, target: str) -> callback_pb2_grpc.CallbacksStub:
        with self._lock:
            channel = self._callback_channels.get(target)
            if channel is None:
                channel = grpc.insecure_channel(target, options=_GRPC_OPTIONS)
                self._callback_channels[target] = channel
        return callback_pb2_grpc.CallbacksStub(channel)

    def run_transforms(self, callbacks: Iterable[callback_pb2.Callback], type_token: str, name: str, custom: bool,
                       parent: str, properties: struct_pb2.Struct, options: _Options
                       ) -> tuple[struct_pb2.Struct, _Options]:
        """Each transform in turn on the SDK's Callbacks server, as the engine does."""
        for callback in callbacks:
            request = resource_pb2.TransformRequest(type=type_token, name=name, custom=custom, parent=parent,
                                                    properties=properties, options=options.to_proto())
            answer = self._callbacks(callback.target).Invoke(callback_pb2.CallbackInvokeRequest(
                token=callback.token, request=request.SerializeToString()))
            response = resource_pb2.TransformResponse()
            response.ParseFromString(answer.response)
            if response.HasField("properties"):
                properties = response.properties
            if response.HasField("options"):
                options = _Options.from_proto(response.options)
            with self._lock:
                self.transforms_run += 1
        return properties, options

    def register(self, request: resource_pb2.RegisterResourceRequest) -> resource_pb2.RegisterResourceResponse:
        type_token, name, custom, remote = request.type, request.name, request.custom, request.remote
        parent = request.parent
        if type_token == STACK_TYPE:
            urn = self.urn(type_token, name, "")
            stack = Registration(urn, type_token, name, False, None, {}, {})
            self._plan(stack, {})  # `same` when the prior state has this stack
            self.record(stack)
            return resource_pb2.RegisterResourceResponse(urn=urn)

        options = _Options(
            protect=_optional_bool(request, "protect"),
            ignore_changes=list(request.ignoreChanges),
            delete_before_replace=(request.deleteBeforeReplace
                                   if request.deleteBeforeReplaceDefined or request.deleteBeforeReplace else None),
            additional_secret_outputs=list(request.additionalSecretOutputs),
            aliases=[alias_pb2.Alias(urn=u) for u in request.aliasURNs] + list(request.aliases),
            custom_timeouts={k: v for k, v in (("create", request.customTimeouts.create),
                                               ("update", request.customTimeouts.update),
                                               ("delete", request.customTimeouts.delete)) if v},
            provider=request.provider, depends_on=list(request.dependencies),
            retain_on_delete=_optional_bool(request, "retainOnDelete"),
            deleted_with=request.deletedWith, version=request.version,
        )
        parent_registration = self.by_urn.get(parent) if parent else None
        if parent_registration is not None:
            # source_eval.go inheritFromParent
            if options.protect is None:
                options.protect = parent_registration.protect_option
            if options.retain_on_delete is None:
                options.retain_on_delete = parent_registration.retain_option
            options.deleted_with = options.deleted_with or parent_registration.deleted_with
            inherited = parent_registration.provider
            if not options.provider and inherited and (
                    (not remote and not custom)
                    or qualified_type(inherited.rsplit("::", 1)[0]).split("$")[-1].split(":")[-1]
                    == type_token.split(":")[0]):
                options.provider = inherited

        properties = request.object
        with self._lock:
            callbacks = list(request.transforms)
            ancestor = parent
            while ancestor:
                callbacks += self.transforms_by_urn.get(ancestor, [])
                ancestor_registration = self.by_urn.get(ancestor)
                ancestor = ancestor_registration.parent or "" if ancestor_registration else ""
            callbacks += self.stack_transforms
        if callbacks:
            properties, options = self.run_transforms(callbacks, type_token, name, custom, parent, properties, options)

        urn = self.urn(type_token, name, parent)
        with self._lock:
            if request.transforms:
                self.transforms_by_urn[urn] = list(request.transforms)

        provider = ""
        if (custom and not type_token.startswith(PROVIDER_PREFIX)) or remote:
            provider = options.provider or self.default_provider(type_token.split(":")[0], options.version)
        elif not custom:
            provider = options.provider  # kept for children to inherit, never sent for a component
        if remote and self.construct is not None:  # source_eval.go: the provider's Construct registers it
            constructed = self.construct(self, request, properties, options, provider)
            if constructed is not None:
                return constructed

        inputs = engine.downgrade(_to_dict(properties))
        if type_token.startswith(PROVIDER_PREFIX) and options.version:
            inputs["version"] = options.version
        checked = engine.check(type_token, name, inputs) if custom else inputs
        outputs = engine.planned_outputs(type_token, checked, custom) if custom else {}
        for key in options.additional_secret_outputs:
            if key in outputs and not engine.is_secret(outputs[key]):
                outputs[key] = engine.secret(outputs[key])
        registration = Registration(
            urn=urn, type=type_token, name=name, custom=custom, parent=parent or None,
            inputs=checked, outputs=outputs,
            dependencies=list(options.depends_on),
            property_dependencies={
                key: list(deps.urns) for key, deps in request.propertyDependencies.items() if deps.urns
            },
            provider=provider,  # a component's is only kept for its children to inherit
            protect=bool(options.protect),
            retain_on_delete=bool(options.retain_on_delete),
            delete_before_replace=options.delete_before_replace,
            remote=remote,
            version=options.version,
            ignore_changes=options.ignore_changes,
            additional_secret_outputs=options.additional_secret_outputs,
            aliases=[json_format.MessageToDict(a) for a in options.aliases],
            # Collapsed to URNs and deduplicated, as step_generator.go generateAliases does.
            alias_urns=list(dict.fromkeys(self.alias_urn(a, type_token, name, parent) for a in options.aliases)),
            custom_timeouts={k: engine.duration_seconds(v) for k, v in options.custom_timeouts.items()},
            deleted_with=options.deleted_with,
            protect_option=options.protect,
            retain_option=options.retain_on_delete,
        )
        self._plan(registration, inputs)
        self.record(registration)
        response_outputs = {k: v for k, v in registration.outputs.items() if k != "id"}
        # An empty id tells the SDK, in preview, that the id is unknown.
        return resource_pb2.RegisterResourceResponse(urn=urn, id=registration.id, object=_struct(response_outputs))

    def register_outputs(self, urn: str, outputs: struct_pb2.Struct) -> None:
        registration = self.by_urn.get(urn)
        if registration is not None:
            registration.outputs = engine.downgrade(_to_dict(outputs))

    def read(self, request: resource_pb2.ReadResourceRequest) -> resource_pb2.ReadResourceResponse:
        urn = self.urn(request.type, request.name, request.parent)
        package = request.type.split(":")[0]
        provider = request.provider or ("" if package == "pulumi" else self.default_provider(package, request.version))
        properties = engine.downgrade(_to_dict(request.properties))
        if request.type == STACK_REFERENCE:
            # Another stack's outputs are not here: unknown (so nothing judged from them can pass)
            # unless the user gave them (--stack-reference-outputs).
            name = properties.get("name", request.id)
            given = self.stack_references.get(str(name))
            properties = {"name": name, "outputs": dict(given) if given is not None else UNKNOWN,
                          "secretOutputNames": [] if given is not None else UNKNOWN}
        registration = Registration(urn=urn, type=request.type, name=request.name, custom=True,
                                    parent=request.parent or None, inputs=properties,
                                    outputs={**properties, "id": request.id}, provider=provider,
                                    dependencies=list(request.dependencies), op="read", id=request.id)
        self.record(registration)
        return resource_pb2.ReadResourceResponse(urn=urn, properties=_struct(properties))

    def get_resource(self, urn: str) -> dict[str, Any] | None:
        """The builtin `pulumi:pulumi:getResource` (deploy/builtins.go): what the SDK reads to rehydrate
        a resource reference, e.g. in the properties a transform receives."""
        registration = self.by_urn.get(urn)
        if registration is None:
            return None
        return {"urn": urn, "id": registration.id or UNKNOWN, "provider": registration.provider,
                "state": {k: v for k, v in registration.outputs.items() if k != "id"}}

    def invoke(self, request: resource_pb2.ResourceInvokeRequest) -> provider_pb2.InvokeResponse:
        package = request.tok.split(":")[0]
        if not request.provider and package != "pulumi":
            self.default_provider(package, request.version)
        args = engine.downgrade(_to_dict(request.args))
        if request.tok == GET_RESOURCE:
            answer = self.get_resource(str(_to_dict(request.args).get("urn", "")))
        else:
            answer = self.invoke_answer(request.tok, args)
        if answer is None:
            with self._lock:
                if request.tok not in self.capture.unanswered_invokes:
                    self.capture.unanswered_invokes.append(request.tok)
            answer = {}
        response = provider_pb2.InvokeResponse()
        getattr(response, "return").CopyFrom(_struct(answer))  # `return` is a Python keyword
        return response

    def close(self) -> None:
        for channel in self._callback_channels.values():
            channel.close()


class _Monitor(resource_pb2_grpc.ResourceMonitorServicer):
    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment

    def SupportsFeature(self, request: Any, context: Any) -> Any:
        return resource_pb2.SupportsFeatureResponse(hasSupport=request.id in SUPPORTED_FEATURES)

    def RegisterResource(self, request: Any, context: Any) -> Any:
        try:
            return self.deployment.register(request)
        except RegistrationError as error:
            context.abort(grpc.StatusCode.UNKNOWN, str(error))

    def RegisterResourceOutputs(self, request: Any, context: Any) -> Any:
        self.deployment.register_outputs(request.urn, request.outputs)
        return empty_pb2.Empty()

    def ReadResource(self, request: Any, context: Any) -> Any:
        return self.deployment.read(request)

    def Invoke(self, request: Any, context: Any) -> Any:
        return self.deployment.invoke(request)

    def Call(self, request: Any, context: Any) -> Any:
        # Methods of multi-language components run in their provider, which is not here.
        with self.deployment._lock:
            token = f"call {request.tok}"
            if token not in self.deployment.capture.unanswered_invokes:
                self.deployment.capture.unanswered_invokes.append(token)
        return provider_pb2.CallResponse()

    def RegisterStackTransform(self, request: Any, context: Any) -> Any:
        with self.deployment._lock:
            self.deployment.stack_transforms.append(request)
        return empty_pb2.Empty()

    def RegisterStackInvokeTransform(self, request: Any, context: Any) -> Any:
        return empty_pb2.Empty()

    def RegisterResourceHook(self, request: Any, context: Any) -> Any:
        return empty_pb2.Empty()  # hooks run around real operations; a preview performs none

    def RegisterErrorHook(self, request: Any, context: Any) -> Any:
        return empty_pb2.Empty()

    def RegisterPackage(self, request: Any, context: Any) -> Any:
        reference = str(uuid.uuid4())
        with self.deployment._lock:
            self.deployment._packages[reference] = (request.name, request.version)
        return resource_pb2.RegisterPackageResponse(ref=reference)

    def SignalAndWaitForShutdown(self, request: Any, context: Any) -> Any:
        return empty_pb2.Empty()


class _Engine(engine_pb2_grpc.EngineServicer):
    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment

    def Log(self, request: Any, context: Any) -> Any:
        severity = engine_pb2.LogSeverity.Name(request.severity).lower()
        if severity == "debug":
            return empty_pb2.Empty()  # the CLI shows these only with --debug
        with self.deployment._lock:
            self.deployment.capture.logs.append((severity, request.message))
        return empty_pb2.Empty()

    def GetRootResource(self, request: Any, context: Any) -> Any:
        return engine_pb2.GetRootResourceResponse(urn=self.deployment.root_resource)

    def SetRootResource(self, request: Any, context: Any) -> Any:
        self.deployment.root_resource = request.urn
        return engine_pb2.SetRootResourceResponse()


class EngineServer:
    """The monitor and engine services on a loopback port, for one program run."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="bucketguard-monitor"),
                                  options=_GRPC_OPTIONS)
        resource_pb2_grpc.add_ResourceMonitorServicer_to_server(_Monitor(deployment), self.server)
        engine_pb2_grpc.add_EngineServicer_to_server(_Engine(deployment), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop(grace=None)
        self.deployment.close()

    def __enter__(self) -> EngineServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
