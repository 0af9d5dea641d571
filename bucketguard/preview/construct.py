"""Remote components built offline by their Python component provider, as the engine builds them.

A program in any language registers a multi-language component with `remote=true`. The engine
(pulumi/pulumi pkg/resource/deploy/source_eval.go RegisterResource, `if remote`) then takes the
component's provider (the package's default provider unless one is given), calls its `Construct`
(pkg/resource/plugin/provider_plugin.go: project, stack, organization, the stack's config and secret
keys, dry run, the monitor's address, type, name, parent, the inputs with secrets, resources and output
values kept, their dependencies, the providers map and the resource options) and answers the program
with the URN, the outputs (output values downgraded, their dependencies added to the property
dependencies) that the provider returns. The provider registers the component and its children against
the same monitor, so they are analyzed and judged like any resource.

Providers run here: Python component providers (`PulumiPlugin.yaml` with `runtime: python`), started as
the Python language host's RunPlugin starts them (`<python of the folder's toolchain/virtualenv>
<folder> <engine address>`, the port on the first line of stdout), one process per provider resource as
the engine loads them: bucketguard's own `components/` for the `bucketguard` package (in bucketguard's
own interpreter when the folder has no virtualenv of its own; only for a component of this bucketguard
version or of none), the local folders Pulumi.yaml's `packages:` (what `pulumi package add` writes) and
`plugins.providers` name, and each `--component-provider DIR` (its package name read from its schema).
Any other remote component stays an unverified one (`remote.py`). Constructs are served by a monitor of
their own (the same deployment on another port), so that a program that builds many components at once
cannot hold every worker of the program's monitor while their providers register the children.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import suppress
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import yaml
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc, resource_pb2

from bucketguard.preview import engine
from bucketguard.preview.interpreter import InterpreterError, find_interpreter
from bucketguard.rules import UNKNOWN

if TYPE_CHECKING:
    from bucketguard.preview.monitor import Deployment, EngineServer, _Options

OWN_PACKAGE = "bucketguard"
OWN_PROVIDER_DIR = Path(__file__).resolve().parents[2] / "components"
_START_SECONDS = 120.0
_GRPC_OPTIONS = [("grpc.max_send_message_length", 400 << 20), ("grpc.max_receive_message_length", 400 << 20),
                 ("grpc.enable_http_proxy", 0)]


class ProviderError(Exception):
    """A component provider that cannot be started or that failed a Construct: one line, with the fix."""


def _own_version() -> str:
    try:
        return version("bucketguard")
    except PackageNotFoundError:  # a source tree that is not installed
        return ""


def plugin_options(folder: Path) -> dict[str, Any] | None:
    """`runtime.options` of a Python provider folder's PulumiPlugin.yaml; None when it is not one."""
    try:
        data = yaml.safe_load((folder / "PulumiPlugin.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    runtime = data.get("runtime") if isinstance(data, dict) else None
    name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if name != "python":
        return None
    options = runtime.get("options") if isinstance(runtime, dict) else None
    return dict(options) if isinstance(options, dict) else {}


def project_providers(project_folder: Path) -> dict[str, Path]:
    """Package name -> local provider folder, from Pulumi.yaml's `packages:` (a local path, or
    `{source: path}` without parameters) and `plugins.providers[] {name, path}`."""
    try:
        data = yaml.safe_load((project_folder / "Pulumi.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}
    found: dict[str, Path] = {}
    packages = data.get("packages") if isinstance(data, dict) else None
    for name, spec in (packages or {}).items() if isinstance(packages, dict) else ():
        source = spec.get("source") if isinstance(spec, dict) and not spec.get("parameters") else spec
        if isinstance(source, str) and (project_folder / source).is_dir():
            found[str(name)] = (project_folder / source).resolve()
    plugins = data.get("plugins") if isinstance(data, dict) else None
    providers = plugins.get("providers") if isinstance(plugins, dict) else None
    for entry in providers or [] if isinstance(providers, list) else ():
        if isinstance(entry, dict) and isinstance(entry.get("name"), str) and isinstance(entry.get("path"), str):
            path = project_folder / entry["path"]
            if path.is_dir():
                found.setdefault(entry["name"], path.resolve())
    return found


def check_provider_folder(folder: Path, where: str) -> Path:
    """A folder the user names must be a Python component provider (PulumiPlugin.yaml, runtime python)."""
    folder = folder.resolve()
    if not (folder / "PulumiPlugin.yaml").is_file():
        raise ProviderError(f"{where} {folder}: not a component provider folder (no PulumiPlugin.yaml)")
    if plugin_options(folder) is None:
        raise ProviderError(f"{where} {folder}: PulumiPlugin.yaml does not say `runtime: python`; the offline "
                            "preview constructs components of Python component providers only")
    return folder


class ProviderProcess:
    """One provider plugin process and its gRPC client."""

    def __init__(self, command: Sequence[str], cwd: Path, env: Mapping[str, str], label: str) -> None:
        self.label = label
        self.process = subprocess.Popen(list(command), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.output: list[str] = []
        assert self.process.stdout is not None and self.process.stderr is not None
        first: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._drain, args=(self.process.stdout, first), daemon=True).start()
        threading.Thread(target=self._drain, args=(self.process.stderr, None), daemon=True).start()
        try:
            line = first.get(timeout=_START_SECONDS)
        except queue.Empty:
            line = ""
        if not line.strip().isdigit():
            self.close()
            tail = " | ".join(o for o in self.output if o.strip())[-600:]
            raise ProviderError(f"the {label} component provider did not start ({' '.join(command)})"
                                + (f": {tail}" if tail else ""))
        self.channel = grpc.insecure_channel(f"127.0.0.1:{line.strip()}", options=_GRPC_OPTIONS)
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)
        self.configured: set[str] = set()

    def _drain(self, stream: Any, first: queue.Queue[str] | None) -> None:
        for raw in stream:
            text = raw.decode(errors="replace").rstrip("\n")
            if first is not None:
                first.put(text)
                first = None
                continue
            self.output.append(text)
        if first is not None:
            first.put("")

    def schema_name(self) -> str:
        answer = self.stub.GetSchema(provider_pb2.GetSchemaRequest(version=0))
        name = json.loads(answer.schema or "{}").get("name")
        if not isinstance(name, str) or not name:
            raise ProviderError(f"the {self.label} component provider's schema has no package name")
        return name

    def close(self) -> None:
        with suppress(AttributeError):
            self.channel.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _downgrade_output_values(value: Any, dependencies: set[str]) -> Any:
    """Output values as source_eval.go downgrades Construct's outputs for the SDK (their dependencies
    collected); secrets and resource references are kept, the SDK accepts them."""
    if isinstance(value, dict):
        if value.get(engine.SIG) == engine.OUTPUT_VALUE_SIG:
            dependencies.update(str(d) for d in value.get("dependencies") or [])
            inner = _downgrade_output_values(value["value"], dependencies) if "value" in value else UNKNOWN
            return engine.secret(inner) if value.get("secret") else inner
        return {k: _downgrade_output_values(v, dependencies) for k, v in value.items()}
    if isinstance(value, list):
        return [_downgrade_output_values(v, dependencies) for v in value]
    return value


class ComponentProviders:
    """The Python component providers a preview may construct remote components with."""

    def __init__(self, folders: Mapping[str, Path], named: Sequence[Path] = (), *, program_dir: Path,
                 install: bool = False, own: bool = True, organization: str = "organization") -> None:
        self.folders = dict(folders)
        self.own = own and OWN_PACKAGE not in self.folders
        self.program_dir = program_dir
        self.install = install
        self.organization = organization
        self._lock = threading.RLock()
        self._processes: dict[str, ProviderProcess] = {}  # provider reference -> its plugin process
        self._server: EngineServer | None = None
        self._named = list(named)  # started on the first remote registration, to read their package names

    @classmethod
    def for_project(cls, project_folder: Path, program_dir: Path, named: Sequence[Path] = (),
                    install: bool = False) -> ComponentProviders:
        """bucketguard's own provider, the project's local providers and the folders the user names."""
        folders = {name: folder for name, folder in project_providers(project_folder).items()
                   if plugin_options(folder) is not None}
        checked = [check_provider_folder(folder, "--component-provider") for folder in named]
        return cls(folders, checked, program_dir=program_dir, install=install)

    # ---------------------------------------------------------------- which provider
    def _resolve_named(self, server: EngineServer) -> None:
        """The package names of the folders the user named: each provider is started and asked for its
        schema (the process then serves that package's first provider resource)."""
        with self._lock:
            named, self._named = self._named, []
            for folder in named:
                process = self._start(folder, server.address)
                try:
                    name = process.schema_name()
                except (grpc.RpcError, ProviderError) as error:
                    process.close()
                    raise ProviderError(f"--component-provider {folder}: cannot read its schema: {error}") from None
                self.folders[name] = folder
                self._processes.setdefault(f"named:{name}", process)
                if name == OWN_PACKAGE:
                    self.own = False

    def folder_for(self, package: str, requested_version: str, server: EngineServer) -> Path | None:
        self._resolve_named(server)
        if package in self.folders:
            return self.folders[package]
        if package == OWN_PACKAGE and self.own and requested_version in ("", _own_version()):
            return OWN_PROVIDER_DIR
        return None

    def _command(self, folder: Path, engine_address: str) -> tuple[list[str], dict[str, str]]:
        """How the Python language host runs a provider folder: its toolchain's python, the folder, the
        engine's address (RunPlugin: `python <folder> <args>`)."""
        own = folder == OWN_PROVIDER_DIR
        if own and not (folder / "PulumiPlugin.yaml").is_file():  # an installed wheel has no components/ folder
            return ([sys.executable, "-c", "from bucketguard.components.provider import serve; serve()",
                     engine_address], dict(os.environ))
        options = plugin_options(folder) or {}
        try:
            interpreter = find_interpreter(folder, folder, options, install=self.install and not own)
            return [interpreter.python, str(folder), engine_address], interpreter.env
        except InterpreterError as error:
            if own:  # bucketguard's own interpreter has bucketguard[components], what components/ runs
                return [sys.executable, str(folder), engine_address], dict(os.environ)
            raise ProviderError(f"{folder}/PulumiPlugin.yaml: {error}") from None

    def _start(self, folder: Path, engine_address: str) -> ProviderProcess:
        command, env = self._command(folder, engine_address)
        return ProviderProcess(command, self.program_dir, env, str(folder))

    def _process(self, package: str, folder: Path, provider_ref: str, deployment: Deployment,
                 server: EngineServer) -> ProviderProcess:
        """The plugin process of a provider resource, started and configured once (as the engine loads
        one plugin per provider resource)."""
        with self._lock:
            process = self._processes.get(provider_ref) or self._processes.pop(f"named:{package}", None)
            if process is None:
                process = self._start(folder, server.address)
            self._processes[provider_ref] = process
            if provider_ref not in process.configured:
                urn = provider_ref.rsplit("::", 1)[0]
                registration = deployment.by_urn.get(urn)
                inputs = dict(registration.inputs) if registration is not None else {}
                args = struct_pb2.Struct()
                args.update(inputs)
                variables = {f"{package}:{k}": v if isinstance(v, str) else json.dumps(v)
                             for k, v in inputs.items() if k != "version"}
                process.stub.Configure(provider_pb2.ConfigureRequest(
                    variables=variables, args=args, acceptSecrets=True, acceptResources=True, urn=urn,
                    name=urn.rsplit("::", 1)[-1], type=f"pulumi:providers:{package}"))
                process.configured.add(provider_ref)
            return process

    def _construct_server(self, deployment: Deployment) -> EngineServer:
        from bucketguard.preview.monitor import EngineServer

        with self._lock:
            if self._server is None:
                self._server = EngineServer(deployment)
            assert self._server.deployment is deployment, "one ComponentProviders per preview"
            return self._server

    # ---------------------------------------------------------------- Construct
    def construct(self, deployment: Deployment, request: resource_pb2.RegisterResourceRequest,
                  properties: struct_pb2.Struct, options: _Options, provider_ref: str,
                  ) -> resource_pb2.RegisterResourceResponse | None:
        """The engine's answer to a remote registration, after the provider's Construct; None when no
        provider here can build it (it stays an unverified multi-language component)."""
        from bucketguard.preview.monitor import RegistrationError

        package = request.type.split(":")[0]
        try:
            server = self._construct_server(deployment)
            folder = self.folder_for(package, options.version, server)
            if folder is None:
                return None
            process = self._process(package, folder, provider_ref, deployment, server)
            construct_request = self._request(deployment, request, properties, options, server.address)
            answer = process.stub.Construct(construct_request)
        except grpc.RpcError as error:
            details = error.details() if callable(getattr(error, "details", None)) else str(error)
            message = f"{request.type} '{request.name}': its provider's Construct failed: {(details or '').strip()}"
            deployment.capture.logs.append(("error", message))
            raise RegistrationError(message) from None
        except ProviderError as error:
            deployment.capture.logs.append(("error", str(error)))
            raise RegistrationError(str(error)) from None
        dependencies: dict[str, set[str]] = {k: set(v.urns) for k, v in answer.stateDependencies.items()}
        outputs: dict[str, Any] = {}
        for key, value in json_format.MessageToDict(answer.state).items():
            found: set[str] = set()
            outputs[key] = _downgrade_output_values(value, found)
            if found:
                dependencies.setdefault(key, set()).update(found)
        state = struct_pb2.Struct()
        state.update(outputs)
        return resource_pb2.RegisterResourceResponse(
            urn=answer.urn, object=state,
            propertyDependencies={k: resource_pb2.RegisterResourceResponse.PropertyDependencies(urns=sorted(v))
                                  for k, v in dependencies.items()})

    def _request(self, deployment: Deployment, request: resource_pb2.RegisterResourceRequest,
                 properties: struct_pb2.Struct, options: _Options, monitor: str) -> provider_pb2.ConstructRequest:
        """provider_plugin.go Construct's request, from the registration as the engine has it."""
        config = {k: v if isinstance(v, str) else json.dumps(v) for k, v in deployment.config.items()}
        construct_request = provider_pb2.ConstructRequest(
            project=deployment.capture.project, stack=deployment.capture.stack, organization=self.organization,
            config=config, configSecretKeys=sorted(k for k in deployment.secret_keys if k in config),
            dryRun=True, parallel=16, monitorEndpoint=monitor,
            type=request.type, name=request.name, parent=request.parent, inputs=properties,
            inputDependencies={k: provider_pb2.ConstructRequest.PropertyDependencies(urns=list(v.urns))
                               for k, v in request.propertyDependencies.items()},
            providers=dict(request.providers), dependencies=list(options.depends_on),
            additionalSecretOutputs=list(options.additional_secret_outputs), deletedWith=options.deleted_with,
            deleteBeforeReplace=bool(options.delete_before_replace), ignoreChanges=list(options.ignore_changes),
            replaceOnChanges=list(request.replaceOnChanges), retainOnDelete=bool(options.retain_on_delete),
            aliases=list(options.aliases), accepts_output_values=True)
        if options.protect is not None:
            construct_request.protect = options.protect
        if options.custom_timeouts:
            construct_request.customTimeouts.CopyFrom(
                provider_pb2.ConstructRequest.CustomTimeouts(**options.custom_timeouts))
        return construct_request

    # ---------------------------------------------------------------- lifetime
    def processes(self) -> Iterator[ProviderProcess]:
        with self._lock:
            yield from dict.fromkeys(self._processes.values())

    def close(self) -> None:
        """Stop every provider process this preview started, and the construct monitor."""
        for process in list(self.processes()):
            process.close()
        if self._server is not None:
            self._server.server.stop(grace=None)

    def __enter__(self) -> ComponentProviders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
