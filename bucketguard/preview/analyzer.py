"""Start a Python policy pack and drive it over the analyzer gRPC protocol, as the engine does.

Sequence (docs/engine.md): start `<python> -u -m pulumi.policy <engine> <pack dir>` in the pack
dir with the PULUMI_* environment, read the port line, Handshake (UNIMPLEMENTED is tolerated),
ConfigureStack, GetPluginInfo, GetAnalyzerInfo, Configure (schema defaults, then the pack's initial
config, then the user's file, validated against each policy's schema), then Remediate + Analyze per
resource with its inputs, and AnalyzeStack once with outputs and dependencies.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from bucketguard.policy_config import PolicyConfigError, PolicyDescription, ResolvedConfig, resolve_policy_config
from bucketguard.preview.capture import Registration
from bucketguard.preview.processes import first_line

log = logging.getLogger(__name__)  # --verbose: the steps, on stderr

LEVEL_NAMES = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.REMEDIATE: "remediate",
    analyzer_pb2.DISABLED: "disabled",
}
LEVELS = {name: value for value, name in LEVEL_NAMES.items()}
SEVERITY_NAMES = {
    analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "",
    analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
    analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}
# Loopback only: never through an HTTP proxy the environment may name.
_GRPC_OPTIONS = [("grpc.max_send_message_length", 400 << 20), ("grpc.max_receive_message_length", 400 << 20),
                 ("grpc.enable_http_proxy", 0)]
START_TIMEOUT_SECONDS = 60.0


class PackError(Exception):
    """A pack that does not start, or a pack config that does not fit its schema."""


@dataclass(frozen=True)
class Diagnostic:
    """One policy violation, as `pulumi preview` prints it."""

    pack: str
    pack_version: str
    policy: str
    level: str
    severity: str
    urn: str
    message: str
    description: str


@dataclass(frozen=True)
class PolicyMeta:
    """A policy as GetAnalyzerInfo describes it."""

    name: str
    description: str
    level: str
    severity: str
    remediation: str
    config_schema: dict[str, Any]
    required: tuple[str, ...]
    framework: dict[str, str]


def read_pack_manifest(pack_dir: Path) -> tuple[str, str]:
    """From PulumiPolicy.yaml: the interpreter the language host would use (`runtime.options.virtualenv`,
    else `python3` on PATH) and the version users see."""
    manifest = pack_dir / "PulumiPolicy.yaml"
    try:
        data = yaml.safe_load(manifest.read_text()) or {}
    except FileNotFoundError:
        raise PackError(f"{manifest}: not found; a policy pack folder needs PulumiPolicy.yaml") from None
    except yaml.YAMLError as error:
        raise PackError(f"{manifest}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise PackError(f"{manifest}: must be a map with runtime and version")
    version = str(data.get("version", "0.0.1"))
    runtime = data.get("runtime")
    name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if name != "python":
        raise PackError(f"{manifest}: runtime is {name!r}; only Python packs can be run offline")
    options = runtime.get("options") or {} if isinstance(runtime, dict) else {}
    virtualenv = options.get("virtualenv") if isinstance(options, dict) else None
    if virtualenv:
        folder = (pack_dir / virtualenv).resolve()
        for candidate in (folder / "bin" / "python", folder / "Scripts" / "python.exe"):
            if candidate.exists():
                return str(candidate), version
        raise PackError(f"{manifest}: virtualenv {folder} does not exist; create it (./run does for this project)")
    found = shutil.which("python3")  # absolute: the pack runs in its own folder, PATH may be relative
    return os.path.abspath(found) if found else sys.executable, version


def _struct(data: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(data)
    return message


def analyzer_options(resource: Registration) -> analyzer_pb2.AnalyzerResourceOptions:
    """The options as the engine marshals them (plugin/analyzer_plugin.go marshalResourceOptions):
    customTimeouts always present (seconds, 0 when unset), aliases as URNs."""
    timeouts = resource.custom_timeouts
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=resource.protect, ignoreChanges=resource.ignore_changes,
        deleteBeforeReplace=bool(resource.delete_before_replace),
        deleteBeforeReplaceDefined=resource.delete_before_replace is not None,
        additionalSecretOutputs=resource.additional_secret_outputs, aliases=resource.alias_urns,
        customTimeouts=analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts(
            create=timeouts.get("create", 0.0), update=timeouts.get("update", 0.0),
            delete=timeouts.get("delete", 0.0), read=timeouts.get("read", 0.0)),
        parent=resource.parent or "",
    )


def analyzer_provider(resource: Registration, resources: Mapping[str, Registration]
                      ) -> analyzer_pb2.AnalyzerProviderResource | None:
    """The provider of a custom resource (or remote component) with its inputs, as the engine sends it."""
    if not resource.provider or not (resource.custom or resource.remote):
        return None
    provider = resources.get(resource.provider.rsplit("::", 1)[0])
    if provider is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(urn=provider.urn, type=provider.type, name=provider.name,
                                                 properties=_struct(provider.inputs))


class PolicyPackProcess:
    """A running policy pack, driven like the engine drives it."""

    def __init__(self, pack_dir: Path, *, project: str, stack: str, organization: str = "organization",
                 dry_run: bool = True, config: Mapping[str, Any] | None = None) -> None:
        self.pack_dir = pack_dir.resolve()
        interpreter, self.version = read_pack_manifest(self.pack_dir)
        env = dict(os.environ)
        env.update({
            "PULUMI_PROJECT": project,
            "PULUMI_STACK": stack,
            "PULUMI_ORGANIZATION": organization,
            "PULUMI_DRY_RUN": "true" if dry_run else "false",
            "PULUMI_CONFIG": json.dumps(dict(config or {})),
        })
        self.project, self.stack, self.organization, self.dry_run = project, stack, organization, dry_run
        self.started_at = time.perf_counter()
        self.process = subprocess.Popen(
            [interpreter, "-u", "-m", "pulumi.policy", "127.0.0.1:0", str(self.pack_dir)],
            cwd=self.pack_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        log.info("policy pack %s: starting (%s -m pulumi.policy)", self.pack_dir, interpreter)
        self.port = self._read_port()
        self.start_duration = time.perf_counter() - self.started_at
        log.info("policy pack %s: started in %.1f s, serving on port %d", self.pack_dir, self.start_duration, self.port)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}", options=_GRPC_OPTIONS)
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        self.info: analyzer_pb2.AnalyzerInfo | None = None
        self.providers: dict[str, Registration] = {}  # provider URN -> its registration, as analyzed

    def _read_port(self) -> int:
        line = first_line(self.process, START_TIMEOUT_SECONDS)
        try:
            return int(line.strip())
        except ValueError:
            if self.process.poll() is None:
                self.process.kill()
            assert self.process.stderr is not None
            stderr = self.process.stderr.read().decode(errors="replace").strip()
            self.close()
            got = f"it printed {line.decode(errors='replace')!r}" if line else "it printed nothing"
            raise PackError(
                f"policy pack {self.pack_dir} did not start: {got} instead of its port"
                + (f"; its last error line: {stderr.splitlines()[-1].strip()}" if stderr else "")
            ) from None

    def start_seconds(self) -> float:
        """Seconds from launch to the port line."""
        return self.start_duration

    def handshake_and_describe(self) -> analyzer_pb2.AnalyzerInfo:
        """Handshake, ConfigureStack, GetPluginInfo and GetAnalyzerInfo, in the engine's order."""
        try:
            self.stub.Handshake(analyzer_pb2.AnalyzerHandshakeRequest(
                engine_address="127.0.0.1:0", root_directory=str(self.pack_dir),
                program_directory=str(self.pack_dir)))
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise
        self.stub.ConfigureStack(analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=self.stack, project=self.project, organization=self.organization, dry_run=self.dry_run))
        self.stub.GetPluginInfo(empty_pb2.Empty())
        self.info = self.stub.GetAnalyzerInfo(empty_pb2.Empty())
        return self.info

    def policies(self) -> list[PolicyMeta]:
        info = self.info or self.handshake_and_describe()
        result = []
        for policy in info.policies:
            schema = json_format.MessageToDict(policy.configSchema.properties)
            result.append(PolicyMeta(
                name=policy.name, description=policy.description,
                level=LEVEL_NAMES.get(policy.enforcementLevel, "advisory"),
                severity=SEVERITY_NAMES.get(policy.severity, ""),
                remediation=policy.remediation_steps, config_schema=schema,
                required=tuple(policy.configSchema.required),
                framework=json_format.MessageToDict(policy.framework) if policy.HasField("framework") else {},
            ))
        return result

    def configure(self, user_config: Mapping[str, Any] | None = None,
                  source: str = "policy pack config") -> ResolvedConfig:
        """Build each policy's config as the engine does, validate it, and send Configure."""
        info = self.info or self.handshake_and_describe()
        initial = {
            name: (LEVEL_NAMES.get(value.enforcementLevel) if value.enforcementLevel else None,
                   json_format.MessageToDict(value.properties))
            for name, value in info.initialConfig.items()
        }
        described = [PolicyDescription(p.name, p.level, p.config_schema, p.required) for p in self.policies()]
        try:
            built = resolve_policy_config(described, user_config, source, info.name, initial)
        except PolicyConfigError as error:
            raise PackError(str(error)) from None
        self.stub.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={
            name: analyzer_pb2.PolicyConfig(enforcementLevel=LEVELS[level], properties=_struct(props))
            for name, (level, props) in built.items()
        }))
        log.info("policy pack %s@v%s: configured (%d policies, from %s)", info.name, self.version, len(built),
                 source if user_config is not None else "their defaults")
        return built

    def _diagnostics(self, response: analyzer_pb2.AnalyzeResponse, analyzed: str = "") -> list[Diagnostic]:
        # The SDK always says 0.0.1; users see PulumiPolicy.yaml's version, as the CLI shows it. An Analyze
        # diagnostic is the analyzed resource's (analyze_snapshot.go analyzeResource: OnPolicyViolation(r.URN, d)),
        # whatever URN the pack put in it (pulumi_policy puts none).
        return [
            Diagnostic(
                pack=d.policyPackName, pack_version=self.version, policy=d.policyName,
                level=LEVEL_NAMES.get(d.enforcementLevel, "advisory"),
                severity=SEVERITY_NAMES.get(d.severity, ""), urn=analyzed or d.urn, message=d.message,
                description=d.description,
            )
            for d in response.diagnostics
        ]

    def _request(self, resource: Registration, resources: Mapping[str, Registration]) -> analyzer_pb2.AnalyzeRequest:
        # Providers are analyzed before the resources that use them: remember them for callers that
        # pass no `resources` (a state's resources, analyzed one by one).
        if resource.type.startswith("pulumi:providers:"):
            self.providers[resource.urn] = resource
        return analyzer_pb2.AnalyzeRequest(
            type=resource.type, properties=_struct(resource.inputs), urn=resource.urn, name=resource.name,
            options=analyzer_options(resource), provider=analyzer_provider(resource, resources or self.providers),
        )

    def remediate(self, resource: Registration, resources: Mapping[str, Registration] | None = None
                  ) -> list[Diagnostic]:
        """Remediate one resource; a remediation replaces its inputs for every later call, as the
        engine uses the transformed inputs (step_generator.go); a remediation that could not be
        applied comes back as an advisory diagnostic."""
        response = self.stub.Remediate(self._request(resource, resources or {}))
        diagnostics = []
        for remediation in response.remediations:
            if remediation.diagnostic:
                diagnostics.append(Diagnostic(
                    pack=remediation.policyPackName, pack_version=self.version, policy=remediation.policyName,
                    level="advisory", severity="", urn=resource.urn, message=remediation.diagnostic,
                    description=remediation.description))
            elif remediation.HasField("properties"):
                resource.inputs = json_format.MessageToDict(remediation.properties)
        return diagnostics

    def analyze_only(self, resource: Registration, resources: Mapping[str, Registration] | None = None
                     ) -> list[Diagnostic]:
        """Analyze one resource with its inputs after Check and its options (no dependencies)."""
        return self._diagnostics(self.stub.Analyze(self._request(resource, resources or {})), resource.urn)

    def analyze(self, resource: Registration, resources: Mapping[str, Registration] | None = None) -> list[Diagnostic]:
        """Remediate, then Analyze, one resource."""
        return self.remediate(resource, resources) + self.analyze_only(resource, resources)

    def analyze_stack(self, resources: Iterable[Registration]) -> list[Diagnostic]:
        """AnalyzeStack with every resource's outputs, options, provider, parent and dependencies."""
        listed = list(resources)
        by_urn = {**self.providers, **{r.urn: r for r in listed}}
        request = analyzer_pb2.AnalyzeStackRequest(resources=[
            analyzer_pb2.AnalyzerResource(
                type=r.type, properties=_struct(r.outputs), urn=r.urn, name=r.name,
                options=analyzer_options(r), provider=analyzer_provider(r, by_urn),
                parent=r.parent or "", dependencies=r.dependencies,
                propertyDependencies={
                    k: analyzer_pb2.AnalyzerPropertyDependencies(urns=v)
                    for k, v in r.property_dependencies.items() if v
                },
            )
            for r in listed
        ])
        log.info("policy pack %s: AnalyzeStack with %d resources", self.info.name if self.info else self.pack_dir,
                 len(listed))
        found = self._diagnostics(self.stub.AnalyzeStack(request))
        log.info("policy pack %s: AnalyzeStack returned %d diagnostics", self.info.name if self.info else self.pack_dir,
                 len(found))
        return found

    def close(self) -> None:
        if getattr(self, "channel", None) is not None:
            self.channel.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> PolicyPackProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_preview_analysis(pack: PolicyPackProcess, resources: list[Registration]) -> list[Diagnostic]:
    """Analyze every resource in registration order, then AnalyzeStack once."""
    diagnostics: list[Diagnostic] = []
    for resource in resources:
        diagnostics.extend(pack.analyze(resource))
    diagnostics.extend(pack.analyze_stack(resources))
    return diagnostics


