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

from bucketguard.preview import autonaming, engine, invokes
from bucketguard.preview.capture import Capture, Registration
from bucketguard.rules import UNKNOWN

if TYPE_CHECKING:
    from bucketguard.preview.steps import PlannedStep

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


# A Node.js program sends its registrations at once: a thousand buckets are a thousand calls before the
# first answer. gRPC's C core (the Python server's) queues at most 1,000 calls no handler has taken yet and
# refuses the rest (grpc-js: "1 CANCELLED"; tests/test_monitor_burst.py), and with its bandwidth probes
# (PINGs) a loaded machine ended such a program's connection ("8 RESOURCE_EXHAUSTED: Bandwidth exhausted or
# memory limit exceeded": 1,000 buckets, three previews at once, 3 of 3 runs failed with probes, 0 of 3
# without). The engine's Go server queues every call; so does this one, and it does not probe.
_MONITOR_OPTIONS = [("grpc.server.max_pending_requests", 1 << 30),
                    ("grpc.server.max_pending_requests_hard_limit", 1 << 30), ("grpc.http2.bdp_probe", 0)]


class RegistrationError(Exception):
    """A registration the engine refuses (e.g. a remote component whose Construct failed): the SDK gets
    this message as the RPC's error, as from the engine."""


class Planner(Protocol):
    """A previous state the preview is made against (see `--state`)."""

    def plan(self, urn: str, type_token: str, custom: bool, raw_inputs: dict[str, Any],
             checked_inputs: dict[str, Any], planned_outputs: dict[str, Any]) -> PlannedStep: ...

    def has(self, urn: str) -> bool: ...
    # PlannedStep (bucketguard.preview.steps): op, inputs (Analyze), outputs (AnalyzeStack and the
    # program; "id" in them is the resource's id), reasons (what changed, or forced a replacement).


# A token and its (downgraded) args -> a plausible result, or None when it has none. The CLI passes
# `lambda token, args: invokes.answer(token, args, context)` with the stack's invoke context.
InvokeAnswer = Callable[[str, dict[str, Any]], "dict[str, Any] | None"]
# A dynamic provider's Check (pulumi.dynamic's provider server in the program's interpreter):
# (urn, inputs with `__provider`) -> (checked inputs, failure reasons).
DynamicCheck = Callable[[str, dict[str, Any]], "tuple[dict[str, Any], list[str]]"]
DYNAMIC_TYPE = "pulumi-python:dynamic:Resource"


class EngineError(Exception):
    """What the engine would stop the preview with (a bail diagnostic): the program's RPC fails and
    the preview ends in error, whatever the program does next."""


def _output_dependencies(value: Any, into: set[str]) -> None:
    """The URNs output values nested in `value` carry (source_eval.go addOutputDependencies)."""
    if isinstance(value, dict):
        if value.get(engine.SIG) == engine.OUTPUT_VALUE_SIG:
            into.update(value.get("dependencies") or [])
        for item in value.values():
            _output_dependencies(item, into)
    elif isinstance(value, list):
        for item in value:
            _output_dependencies(item, into)


def _upgrade_output_values(properties: struct_pb2.Struct, dependencies: Mapping[str, list[str]]) -> struct_pb2.Struct:
    """The request's properties as the engine hands them to a resource's own transforms
    (source_eval.go upgradeOutputValues): each property with dependencies becomes an output value
    carrying them; unknowns and secrets become output values too (UpgradeToOutputValues)."""
    upgraded: dict[str, Any] = {}
    for key, value in _to_dict(properties).items():
        deps = dependencies.get(key) or []
        unknown, secret = value == UNKNOWN, engine.is_secret(value)
        if not deps and not unknown and not secret:
            upgraded[key] = value
            continue
        output: dict[str, Any] = {engine.SIG: engine.OUTPUT_VALUE_SIG}
        inner = value.get("value") if secret else value
        if inner != UNKNOWN:
            output["value"] = inner
        if secret:
            output["secret"] = True
        if deps:
            output["dependencies"] = list(deps)
        upgraded[key] = output
    return _struct(upgraded)


def _disabled_default_providers(config: Mapping[str, Any]) -> list[str]:
    """`pulumi:disable-default-providers` as default_providers.go shouldDenyRequest reads it."""
    value = config.get("pulumi:disable-default-providers")
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise EngineError(f"Failed to parse {value}: pulumi:disable-default-providers must be a list") from None
    if not isinstance(value, list):
        raise EngineError("Unexpected encoding of pulumi:disable-default-providers")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise EngineError(f"pulumi:disable-default-providers[{index}] must be a string")
    return [item.strip() for item in value]


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
                 dynamic_check: DynamicCheck | None = None, made_up: Iterable[str] = (),
                 construct: Construct | None = None) -> None:
        self.capture = capture
        self.made_up = tuple(t for t in made_up if t)
        self.dynamic_check = dynamic_check
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
        self.invoke_transforms: list[callback_pb2.Callback] = []
        self.invoke_transforms_run = 0
        self.urns: set[str] = set()  # every URN registered or read (step_generator.go generateURN)
        self.engine_error: str | None = None  # the first error the engine would stop the preview with
        self.unverifiable: list[str] = []  # what only the engine can do here (reads of imports, ...)
        self.disabled_defaults = _disabled_default_providers(self.config)
        self.autonamer = autonaming.parse_autonaming_config(self.config, capture.project, capture.stack)
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
    def claim_urn(self, urn: str) -> None:
        """A URN is registered (or read) once per deployment (step_generator.go generateURN)."""
        with self._lock:
            if urn in self.urns:
                raise EngineError(f"Duplicate resource URN '{urn}'; try giving it a unique name")
            self.urns.add(urn)

    def fail(self, message: str) -> EngineError:
        with self._lock:
            self.engine_error = self.engine_error or message
        return EngineError(message)

    def provider_config_known(self, reference: str) -> bool:
        """Whether a provider's config is fully known (provider_plugin.go Configure: any input but
        `version` that contains an unknown leaves the provider unconfigured for the preview)."""
        provider = self.by_urn.get(reference.rsplit("::", 1)[0]) if reference else None
        if provider is None:
            return True
        return not any(engine.contains_unknown(v) for k, v in provider.inputs.items() if k != "version")

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

    def default_provider(self, package: str, version: str, user: str = "") -> str:
        """The reference (`urn::id`) of the default provider for a package, registered on first use.
        `user` (the resource's URN or the invoke's token) is named when default providers are denied."""
        if package != "pulumi" and any(d in ("*", package) for d in self.disabled_defaults):
            # default_providers.go shouldDenyRequest; the message is diag.GetDefaultProviderDenied's.
            raise self.fail(f"Default provider for '{package}' disabled. '{user}' must use an explicit provider.")
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
        if not registration.provider_config_known and step.op in ("same", "update"):
            # provider_plugin.go Diff: unknown provider config makes the diff unavailable, which the step
            # generator plans as an update, and Update in preview returns no properties.
            registration.op, registration.outputs = "update", {}
            registration.reasons.append("the provider's config is not known during preview")
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
            self.claim_urn(urn)
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

        # The property dependencies the request carries; none given (and not remote): every property
        # depends on every dependency of the request (source_eval.go RegisterResource).
        property_dependencies = {key: list(deps.urns) for key, deps in request.propertyDependencies.items()}
        if not property_dependencies and not remote:
            property_dependencies = {key: list(request.dependencies) for key in request.object.fields}
        own_transforms = list(request.transforms)
        properties = request.object
        if own_transforms:
            properties = _upgrade_output_values(properties, property_dependencies)
        with self._lock:
            callbacks = list(own_transforms)
            ancestor = parent
            while ancestor:
                callbacks += self.transforms_by_urn.get(ancestor, [])
                ancestor_registration = self.by_urn.get(ancestor)
                ancestor = ancestor_registration.parent or "" if ancestor_registration else ""
            callbacks += self.stack_transforms
        if callbacks:
            properties, options = self.run_transforms(callbacks, type_token, name, custom, parent, properties, options)
        returned = _to_dict(properties)
        dependencies = list(options.depends_on)
        if own_transforms:
            # After the resource's own transforms the engine rebuilds the property dependencies from the
            # output values the transforms returned, and nothing else (source_eval.go, "Reparse the
            # dependency information from any transformation results"). The Python SDK returns plain
            # values (its transform callback serializes without output values), so they come back empty.
            property_dependencies = {}
            for key, value in returned.items():
                found: set[str] = set()
                _output_dependencies(value, found)
                property_dependencies[key] = sorted(found)
            dependencies = list(dict.fromkeys(dependencies + [u for d in property_dependencies.values() for u in d]))
        else:
            for key, value in returned.items():
                found = set()
                _output_dependencies(value, found)
                property_dependencies[key] = list(dict.fromkeys(property_dependencies.get(key, []) + sorted(found)))

        urn = self.urn(type_token, name, parent)
        constructing = remote and self.construct is not None
        if not constructing:  # a constructed component's URN is claimed by the provider's own registration
            self.claim_urn(urn)
        with self._lock:
            if request.transforms:
                self.transforms_by_urn[urn] = list(request.transforms)

        provider = ""
        if (custom and not type_token.startswith(PROVIDER_PREFIX)) or remote:
            provider = options.provider or self.default_provider(type_token.split(":")[0], options.version, urn)
        elif not custom:
            provider = options.provider  # kept for children to inherit, never sent for a component
        if constructing:  # source_eval.go: the provider's Construct registers it (no step of its own here)
            assert self.construct is not None
            constructed = self.construct(self, request, properties, options, provider)
            if constructed is not None:
                return constructed
            self.claim_urn(urn)

        inputs = engine.downgrade(returned)
        if type_token.startswith(PROVIDER_PREFIX) and options.version:
            inputs["version"] = options.version
        if request.importId and (self.prior is None or not self.prior.has(urn)):
            # An import is read from the provider during the preview (step_generator.go, ImportStep);
            # only the engine can do that.
            with self._lock:
                self.unverifiable.append(
                    f"{urn} is imported (import_={request.importId!r}): the engine reads its state from the "
                    "provider, which the offline preview cannot; preview it with `pulumi preview`, or with "
                    "--state once it is imported")
        config_known = self.provider_config_known(provider) if custom else True
        if not custom or type_token.startswith(PROVIDER_PREFIX):
            checked = engine.check(type_token, name, inputs, autoname=False, made_up=self.made_up) if custom else inputs
        elif not config_known:
            # provider_plugin.go Check: a provider whose config is not fully known is not called; the
            # inputs come back as they were sent (no autoname).
            checked = engine.check(type_token, name, inputs, autoname=False, made_up=self.made_up)
        elif type_token == DYNAMIC_TYPE and self.dynamic_check is not None:
            dynamic_inputs, failures = self.dynamic_check(urn, inputs)
            if failures:
                raise self.fail(f"{type_token} resource '{name}' has a problem: " + "; ".join(failures))
            checked = engine.check(type_token, name, dynamic_inputs, autoname=False, made_up=self.made_up)
        else:
            naming = self.autonamer.options_for(urn, type_token) if self.autonamer is not None else None
            try:
                checked = engine.check(type_token, name, inputs, naming=naming, made_up=self.made_up)
            except engine.CheckFailure as failure:
                raise self.fail(f"{type_token} resource '{name}' has a problem: {failure}") from None
        if type_token.startswith(PROVIDER_PREFIX):
            # A provider's state is its config (providers/registry.go Create: FilterProviderConfig).
            outputs: dict[str, Any] = dict(checked)
        elif not custom:
            outputs = {}
        elif not config_known:
            # provider_plugin.go Create: a preview with unknown provider config returns no properties.
            outputs = {}
        elif type_token == DYNAMIC_TYPE:
            # The dynamic provider does not support previews (pulumi.dynamic Configure sets no
            # supportsPreview): a preview Create returns the inputs as the state.
            outputs = dict(checked)
        else:
            outputs = engine.planned_outputs(type_token, checked, custom)
        for key in options.additional_secret_outputs:
            if key in outputs and not engine.is_secret(outputs[key]):
                outputs[key] = engine.secret(outputs[key])
        registration = Registration(
            urn=urn, type=type_token, name=name, custom=custom, parent=parent or None,
            inputs=checked, outputs=outputs,
            dependencies=dependencies,
            property_dependencies={key: deps for key, deps in property_dependencies.items() if deps},
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
            provider_config_known=config_known,
            # Where the program made it: the SDK's first frame in user code (resource.py _get_source_position).
            source=((request.sourcePosition.uri, request.sourcePosition.line)
                    if request.HasField("sourcePosition") and request.sourcePosition.uri else None),
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
        self.claim_urn(urn)  # step_generator.go GenerateReadSteps: reads take a URN too
        package = request.type.split(":")[0]
        provider = request.provider or ("" if package == "pulumi" else
                                        self.default_provider(package, request.version, request.type))
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

    def run_invoke_transforms(self, token: str, args: struct_pb2.Struct,
                              options: resource_pb2.TransformInvokeOptions
                              ) -> tuple[struct_pb2.Struct, resource_pb2.TransformInvokeOptions]:
        """Every stack invoke transform in turn, before the provider is chosen (source_eval.go Invoke)."""
        with self._lock:
            callbacks = list(self.invoke_transforms)
        for callback in callbacks:
            request = resource_pb2.TransformInvokeRequest(token=token, args=args, options=options)
            answer = self._callbacks(callback.target).Invoke(callback_pb2.CallbackInvokeRequest(
                token=callback.token, request=request.SerializeToString()))
            response = resource_pb2.TransformInvokeResponse()
            response.ParseFromString(answer.response)
            if response.HasField("args"):
                args = response.args
            if response.HasField("options"):
                options = response.options
            with self._lock:
                self.invoke_transforms_run += 1
        return args, options

    def invoke(self, request: resource_pb2.ResourceInvokeRequest) -> provider_pb2.InvokeResponse:
        package = request.tok.split(":")[0]
        options = resource_pb2.TransformInvokeOptions(provider=request.provider, version=request.version,
                                                      plugin_download_url=request.pluginDownloadURL)
        request_args = request.args
        if self.invoke_transforms:
            request_args, options = self.run_invoke_transforms(request.tok, request_args, options)
        provider = options.provider
        if not provider and package != "pulumi":
            provider = self.default_provider(package, options.version, request.tok)
        args = engine.downgrade(_to_dict(request_args))
        with self._lock:
            if request.tok not in self.capture.invoked:
                self.capture.invoked.append(request.tok)
        if request.tok == GET_RESOURCE:
            answer = self.get_resource(str(_to_dict(request_args).get("urn", "")))
        elif not self.provider_config_known(provider):
            # provider_plugin.go Invoke: a provider whose config is unknown returns an empty result.
            answer = None
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
        except EngineError as error:
            self.deployment.fail(str(error))
            context.abort(grpc.StatusCode.UNKNOWN, str(error))
        except RegistrationError as error:
            context.abort(grpc.StatusCode.UNKNOWN, str(error))

    def RegisterResourceOutputs(self, request: Any, context: Any) -> Any:
        self.deployment.register_outputs(request.urn, request.outputs)
        return empty_pb2.Empty()

    def ReadResource(self, request: Any, context: Any) -> Any:
        try:
            return self.deployment.read(request)
        except EngineError as error:
            self.deployment.fail(str(error))
            context.abort(grpc.StatusCode.UNKNOWN, str(error))

    def Invoke(self, request: Any, context: Any) -> Any:
        try:
            return self.deployment.invoke(request)
        except EngineError as error:
            self.deployment.fail(str(error))
            context.abort(grpc.StatusCode.UNKNOWN, str(error))

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
        with self.deployment._lock:
            self.deployment.invoke_transforms.append(request)  # run on every invoke that follows
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
                                  options=[*_GRPC_OPTIONS, *_MONITOR_OPTIONS])
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
