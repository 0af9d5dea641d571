"""A stack's state as `pulumi stack export` writes it, read the way the CLI reads it, and the
planner that previews a program against it (`same`/`update`/`replace`/`create`, and `delete` for
what the program no longer declares).

Format (pulumi/pulumi `sdk/go/common/apitype/core.go`, `pkg/resource/stack/deployment.go`): an
`UntypedDeployment` `{"version", "features"?, "deployment"}`; versions 1 to 4 are read (1 and 2 are
migrated as `pkg/resource/stack/migrate` does; 4 lists the features it needs, and the CLI refuses
features it does not know); `deployment` is a `DeploymentV3` with `manifest`, `secrets_providers`,
`resources[]` (`ResourceV3`) and `pending_operations[]` (`{"resource", "type"}`).

Property values come back in the analyzer's wire form: unknowns as the unknown sentinel, secrets as
`{sig: secret, value}`. A secret stored as ciphertext is decrypted when a decrypter is given (the
passphrase provider, with the stack's passphrase); otherwise its value is unknown, so whatever it
decides is judged unverifiable, never guessed.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bucketguard.preview.steps import plan_step, visible
from bucketguard.rules import UNKNOWN

if TYPE_CHECKING:
    from bucketguard.preview.analyzer import Diagnostic, PolicyMeta
    from bucketguard.preview.capture import Registration
    from bucketguard.preview.report import PreviewResult, StateSummary

SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE_REFERENCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
BYTE_STRING_SIG = "803fd3297a5875dc03ca845dda5d2a98"
FLOAT_SIG = "8ad145fe-0d11-4827-bfd7-1abcbf086f5c"
ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
STACK_TYPE = "pulumi:pulumi:Stack"
PROVIDER_PREFIX = "pulumi:providers:"

OLDEST_VERSION, NEWEST_VERSION = 1, 4
# Features a version-4 deployment may declare that this reader understands (deployment.go's
# supportedFeatures, minus `snippets-prototype`: snippets register resources no program declares,
# which an offline preview cannot evaluate, so their resources would wrongly show as deleted).
SUPPORTED_FEATURES = frozenset({
    "refreshBeforeUpdate", "views", "hooks", "taint", "replaceWith", "extensionParameterization", "byteString",
})
OPERATION_TYPES = ("creating", "updating", "deleting", "reading")

Decrypter = Callable[[str], str]


class StateError(Exception):
    """A state file that cannot be used: the message names the file and the problem."""


@dataclass(frozen=True)
class StateResource:
    """One resource of the stack's state (a `ResourceV3`), its properties in wire form."""

    urn: str
    type: str
    custom: bool
    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    parent: str | None = None
    dependencies: tuple[str, ...] = ()
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    provider: str = ""
    protect: bool = False
    delete: bool = False
    pending_replacement: bool = False
    taint: bool = False
    external: bool = False
    retain_on_delete: bool = False
    view_of: str = ""

    @property
    def name(self) -> str:
        return parse_urn(self.urn)[3]


@dataclass(frozen=True)
class PendingOperation:
    """An operation the CLI was running when it was interrupted (`pending_operations[]`)."""

    urn: str
    type: str
    operation: str  # creating | updating | deleting | reading


@dataclass
class StackState:
    """What `pulumi stack export` wrote for one stack."""

    path: Path
    version: int
    project: str | None
    stack: str | None
    resources: list[StateResource]
    pending_operations: list[PendingOperation]
    secrets_provider: str | None
    undecrypted_secrets: int = 0

    def live(self) -> list[StateResource]:
        """The resources the engine plans against (those pending deletion are left out, as the engine does)."""
        return [r for r in self.resources if not r.delete]


def parse_urn(urn: str) -> tuple[str, str, str, str]:
    """`urn:pulumi:<stack>::<project>::<qualified type>::<name>` -> its four parts (a name may hold `::`)."""
    if not urn.startswith("urn:pulumi:"):
        raise ValueError(urn)
    parts = urn[len("urn:pulumi:"):].split("::", 3)
    if len(parts) != 4 or not all(parts[:3]):
        raise ValueError(urn)
    stack, project, qualified_type, name = parts
    return stack, project, qualified_type, name


class _Decoder:
    """Turns serialized property values (deployment.go's DeserializePropertyValue) into wire form."""

    def __init__(self, where: str, decrypt: Decrypter | None) -> None:
        self.where = where
        self.decrypt = decrypt
        self.undecrypted = 0

    def value(self, value: Any, path: str) -> Any:
        if isinstance(value, list):
            return [self.value(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, dict):
            return value
        if SIG_KEY not in value:
            return {k: self.value(v, f"{path}.{k}") for k, v in value.items()}
        sig = value[SIG_KEY]
        if sig == SECRET_SIG:
            return {SIG_KEY: SECRET_SIG, "value": self._secret(value, path)}
        if sig == RESOURCE_REFERENCE_SIG:
            # The engine marshals analyzer properties without KeepResources: a custom resource
            # becomes its id (unknown while it has none), a component its URN (rpc.go).
            if "id" in value:
                ref_id = value["id"]
                return ref_id if isinstance(ref_id, str) and ref_id else UNKNOWN
            return value.get("urn", UNKNOWN)
        if sig == BYTE_STRING_SIG and isinstance(value.get("value"), str):
            return base64.b64decode(value["value"]).decode("utf-8", errors="replace")
        if sig == FLOAT_SIG and isinstance(value.get("value"), str):
            return struct.unpack(">d", bytes.fromhex(value["value"]))[0]
        if sig in (ASSET_SIG, ARCHIVE_SIG):
            return value
        raise StateError(f"{self.where}: {path}: unrecognized signature {sig!r} in a property value")

    def _secret(self, value: Mapping[str, Any], path: str) -> Any:
        ciphertext, plaintext = value.get("ciphertext"), value.get("plaintext")
        if isinstance(ciphertext, str) == isinstance(plaintext, str):
            raise StateError(f"{self.where}: {path}: malformed secret value: exactly one of `ciphertext` "
                             "or `plaintext` must be supplied")
        if isinstance(ciphertext, str):
            if self.decrypt is None:
                self.undecrypted += 1
                return UNKNOWN
            try:
                plaintext = self.decrypt(ciphertext)
            except Exception:  # a wrong passphrase or another provider's ciphertext: unknown, never guessed
                self.undecrypted += 1
                return UNKNOWN
        try:
            decoded = json.loads(str(plaintext))
        except json.JSONDecodeError:
            raise StateError(f"{self.where}: {path}: a secret's plaintext is not JSON") from None
        return self.value(decoded, path)

    def properties(self, props: Any, path: str) -> dict[str, Any]:
        if props is None:
            return {}
        if not isinstance(props, dict):
            raise StateError(f"{self.where}: {path} must be an object of properties, got {type(props).__name__}")
        return {k: self.value(v, f"{path}.{k}") for k, v in props.items()}


def _load_json(path: Path) -> Any:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise StateError(f"{path}: state file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise StateError(f"{path}: cannot read the state file: {error}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise StateError(f"{path}: not a `pulumi stack export` document: not valid JSON ({error})") from None


def _envelope(path: Path, document: Any) -> tuple[int, dict[str, Any]]:
    not_export = f"{path}: not a `pulumi stack export` document"
    if not isinstance(document, dict):
        raise StateError(f"{not_export}: expected a JSON object with `version` and `deployment`")
    if "checkpoint" in document and "deployment" not in document:
        raise StateError(f"{not_export}: it is a backend checkpoint file; "
                         "write the export with `pulumi stack export --file FILE`")
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise StateError(f"{not_export}: `version` must be an integer, got {version!r}")
    if version > NEWEST_VERSION:
        raise StateError(f"{path}: deployment version {version} is newer than this bucketguard reads "
                         f"({OLDEST_VERSION} to {NEWEST_VERSION}); upgrade bucketguard to judge this state")
    if version < OLDEST_VERSION:
        raise StateError(f"{path}: deployment version {version} is too old; the Pulumi CLI reads "
                         f"{OLDEST_VERSION} and newer")
    if version >= 4:
        features = document.get("features") or []
        if not isinstance(features, list):
            raise StateError(f"{not_export}: `features` must be a list of feature names")
        unsupported = sorted(str(f) for f in features if f not in SUPPORTED_FEATURES)
        if unsupported:
            raise StateError(f"{path}: this deployment needs features bucketguard does not support: "
                             + ", ".join(unsupported))
    deployment = document.get("deployment")
    if deployment is None and set(document) <= {"version", "features"}:
        deployment = {}  # a stack that was never deployed exports no deployment
    if not isinstance(deployment, dict):
        raise StateError(f"{not_export}: `deployment` must be an object with `manifest` and `resources`")
    return version, deployment


def _resource(raw: Any, index: int, decoder: _Decoder, version: int) -> StateResource:
    where = f"deployment.resources[{index}]"
    if not isinstance(raw, dict):
        raise StateError(f"{decoder.where}: {where} must be an object")
    urn, type_token = raw.get("urn"), raw.get("type")
    if not isinstance(urn, str) or not urn:
        raise StateError(f"{decoder.where}: {where} has no `urn`")
    try:
        parse_urn(urn)
    except ValueError:
        raise StateError(f"{decoder.where}: {where} has an invalid URN {urn!r} "
                         "(expected urn:pulumi:<stack>::<project>::<type>::<name>)") from None
    if not isinstance(type_token, str) or not type_token:
        raise StateError(f"{decoder.where}: {where} ({urn}) has no `type`")
    custom = bool(raw.get("custom", False))
    resource_id = raw.get("id") or ""
    if not custom and resource_id:
        raise StateError(f"{decoder.where}: {where} ({urn}) has 'custom' false but non-empty ID")
    inputs = decoder.properties(raw.get("inputs"), f"{where}.inputs")
    dependencies = tuple(str(d) for d in raw.get("dependencies") or [])
    raw_deps = raw.get("propertyDependencies")
    if version < 3:
        # migrate.UpToResourceV3: every input conservatively depends on every dependency.
        property_dependencies = {k: list(dependencies) for k in inputs}
    elif isinstance(raw_deps, dict):
        property_dependencies = {str(k): [str(u) for u in v or []] for k, v in raw_deps.items()}
    else:
        property_dependencies = {}
    return StateResource(
        urn=urn, type=type_token, custom=custom, id=str(resource_id),
        inputs=inputs, outputs=decoder.properties(raw.get("outputs"), f"{where}.outputs"),
        parent=raw.get("parent") or None, dependencies=dependencies,
        property_dependencies={k: v for k, v in property_dependencies.items() if v},
        provider=str(raw.get("provider") or ""), protect=bool(raw.get("protect", False)),
        delete=bool(raw.get("delete", False)), pending_replacement=bool(raw.get("pendingReplacement", False)),
        taint=bool(raw.get("taint", False)), external=bool(raw.get("external", False)),
        retain_on_delete=bool(raw.get("retainOnDelete", False)), view_of=str(raw.get("viewOf") or ""),
    )


def read_state(path: Path, *, project: str | None = None, stack: str | None = None,
               decrypt: Decrypter | None = None, secrets_environ: Mapping[str, str] | None = None) -> StackState:
    """Read a `pulumi stack export` file; with `project`/`stack`, refuse a state of another one.
    Ciphertexts are opened with `decrypt`, else (given `secrets_environ`) with the stack's passphrase."""
    document = _load_json(path)
    version, deployment = _envelope(path, document)
    if decrypt is None and secrets_environ is not None:
        decrypt = passphrase_decrypter(path, deployment.get("secrets_providers"), secrets_environ)
    decoder = _Decoder(str(path), decrypt)
    raw_resources = deployment.get("resources") or []
    if not isinstance(raw_resources, list):
        raise StateError(f"{path}: not a `pulumi stack export` document: `deployment.resources` must be a list")
    resources = [_resource(raw, i, decoder, version) for i, raw in enumerate(raw_resources)]

    pending: list[PendingOperation] = []
    raw_pending = deployment.get("pending_operations") or []
    if not isinstance(raw_pending, list):
        raise StateError(f"{path}: `deployment.pending_operations` must be a list")
    for i, raw in enumerate(raw_pending):
        operation = raw.get("type") if isinstance(raw, dict) else None
        if operation not in OPERATION_TYPES:
            raise StateError(f"{path}: deployment.pending_operations[{i}].type must be one of "
                             f"{', '.join(OPERATION_TYPES)}, got {operation!r}")
        resource = _resource(raw.get("resource"), i, decoder, version)
        pending.append(PendingOperation(resource.urn, resource.type, str(operation)))

    owners = sorted({parse_urn(r.urn)[:2] for r in resources} | {parse_urn(p.urn)[:2] for p in pending})
    if len(owners) > 1:
        raise StateError(f"{path}: resources of more than one stack: "
                         + ", ".join(f"stack {s} of project {p}" for s, p in owners))
    state_stack, state_project = owners[0] if owners else (None, None)
    if owners and ((project is not None and state_project != project) or (stack is not None and state_stack != stack)):
        wanted = f"stack {stack or state_stack} of project {project or state_project}"
        raise StateError(f"{path}: this state belongs to stack {state_stack} of project {state_project}, "
                         f"not {wanted}; export the right one with `pulumi stack export --stack "
                         f"{stack or state_stack} --file {path.name}`")
    providers = deployment.get("secrets_providers")
    provider_type = providers.get("type") if isinstance(providers, dict) else None
    return StackState(path, version, state_project, state_stack, resources, pending,
                      str(provider_type) if provider_type else None, decoder.undecrypted)


def passphrase_decrypter(path: Path, providers: Any, environ: Mapping[str, str]) -> Decrypter | None:
    """A decrypter for a passphrase stack's state secrets (`secrets_providers` {"type": "passphrase",
    "state": {"salt": ...}}, pulumi/pulumi `pkg/secrets/passphrase/manager.go`) when the passphrase is
    set, using `bucketguard.preview.secrets`; None otherwise (secrets stay unknown). A wrong
    passphrase is an error, as it is for the stack's `secure:` config."""
    if not isinstance(providers, dict) or providers.get("type") != "passphrase":
        return None
    salt = (providers.get("state") or {}).get("salt") if isinstance(providers.get("state"), dict) else None
    try:
        secrets = importlib.import_module("bucketguard.preview.secrets")
    except ImportError:
        return None
    read_passphrase = getattr(secrets, "read_passphrase", None)
    key_from_state = getattr(secrets, "key_from_state", None)
    decrypt_with_key = getattr(secrets, "decrypt_with_key", None)
    if not (callable(read_passphrase) and callable(key_from_state) and callable(decrypt_with_key)):
        return None
    try:
        passphrase = read_passphrase(environ)
        if passphrase is None or not isinstance(salt, str):
            return None
        key = key_from_state(passphrase, salt, f"{path}: deployment.secrets_providers.state.salt")
    except Exception as error:  # secrets.SecretsError: a wrong passphrase, an unreadable file, a bad salt
        raise StateError(str(error)) from None

    def decrypt(ciphertext: str) -> str:
        return str(decrypt_with_key(key, ciphertext))

    return decrypt


def load_state(path: Path, *, project: str | None = None, stack: str | None = None) -> StackState:
    """`read_state` with a passphrase stack's secrets decrypted when PULUMI_CONFIG_PASSPHRASE(_FILE) is set."""
    return read_state(path, project=project, stack=stack, secrets_environ=os.environ)


def registration_of(resource: StateResource, op: str = "same") -> Registration:
    """A state resource as the analyzer receives it: its inputs for Analyze, its outputs for AnalyzeStack."""
    from bucketguard.preview.capture import Registration

    return Registration(
        urn=resource.urn, type=resource.type, name=resource.name, custom=resource.custom, parent=resource.parent,
        inputs=visible(resource.inputs), outputs=resource.outputs, dependencies=list(resource.dependencies),
        property_dependencies=dict(resource.property_dependencies), provider=resource.provider,
        protect=resource.protect, retain_on_delete=resource.retain_on_delete, op=op,
    )


def summarize(state: StackState, *, analyze: bool, registered: Iterable[Registration] = ()) -> StateSummary:
    """What the report says about the state: for a preview, what the update would delete."""
    from bucketguard.preview.report import StateSummary

    deleted = [] if analyze else [
        registration_of(r, "delete") for r in Prior(state).deletes(r.urn for r in registered)]
    return StateSummary(state.path, state.version, analyze=analyze, deleted=deleted,
                        pending_operations=[(p.urn, p.operation) for p in state.pending_operations],
                        undecrypted_secrets=state.undecrypted_secrets)


@dataclass(frozen=True)
class PlannedStep:
    """What the engine would do with one registration: the step and the properties it reports.
    `inputs` are what Analyze sees (after Check), `outputs` what AnalyzeStack sees for this step."""

    op: str  # same | update | replace | create
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    reasons: tuple[str, ...] = ()  # the properties that changed, or forced the replacement
    id: str = ""  # the state's id for same and update (the program gets it back); "" = unknown


class Prior:
    """Plans each registration against a stack's state, as the engine's step generator would, and
    tracks what the program registered so the rest can be reported as deletes."""

    def __init__(self, state: StackState, provider_region: str | None = None) -> None:
        self.state = state
        self.provider_region = provider_region
        self.olds = {r.urn: r for r in state.live()}
        self.registered: set[str] = set()

    def has(self, urn: str) -> bool:
        """Whether the state holds this resource (alive)."""
        return urn in self.olds

    def plan(self, urn: str, type_token: str, custom: bool, raw_inputs: Mapping[str, Any],
             checked_inputs: Mapping[str, Any], planned_outputs: Mapping[str, Any]) -> PlannedStep:
        """The step for one registration (see `steps.plan_step`)."""
        self.registered.add(urn)
        old = self.olds.get(urn)
        if old is None:
            return PlannedStep("create", visible(checked_inputs), dict(planned_outputs))
        op, inputs, outputs, reasons = plan_step(old, custom, raw_inputs, checked_inputs, planned_outputs,
                                                 self.provider_region)
        return PlannedStep(op, inputs, outputs, reasons, old.id if op in ("same", "update") else "")

    def deletes(self, registered: Iterable[str] | None = None) -> list[StateResource]:
        """Resources of the state the program did not register (and those already pending deletion),
        in reverse state order as the engine deletes them. Left out: the root stack (every program
        registers it), default providers (the engine registers them itself, when a resource needs
        one), views (their owner's provider registers them) and external resources (a read the
        program no longer does is discarded from state, nothing is deleted)."""
        seen = set(registered) if registered is not None else self.registered
        return [r for r in reversed(self.state.resources)
                if (r.delete or r.urn not in seen) and not r.view_of and not r.external and r.type != STACK_TYPE
                and not (r.type.startswith(PROVIDER_PREFIX) and r.name.startswith("default"))]


STATE_PACK = "bucketguard-state"
PENDING_POLICY = "state-pending-operation"
# Resource kinds whose interrupted operation can leave a bucket's encryption other than the state says.
JUDGED_TYPE_PREFIXES = ("aws:s3/", "aws:kms/", "aws-native:s3:", "aws-native:kms:")


def pending_operation_findings(state: StackState, pack_version: str) -> tuple[PolicyMeta, list[Diagnostic]]:
    """A mandatory finding per interrupted operation on an S3 or KMS resource: the state no longer
    says whether it exists or how it is set (a configuration interrupted while deleting still shows
    in state, and an update would leave it as it is), so no verdict on it can be trusted."""
    from bucketguard.preview.analyzer import Diagnostic, PolicyMeta

    meta = PolicyMeta(
        name=PENDING_POLICY,
        description="The state has no interrupted operation on an S3 bucket, its encryption or a KMS key.",
        level="mandatory", severity="high",
        remediation="Check the resource in AWS, run `pulumi refresh` (interactively, for an interrupted create) "
                    "to clear the pending operation, then export the state again.",
        config_schema={}, required=(), framework={},
    )
    findings = [
        Diagnostic(
            pack=STATE_PACK, pack_version=pack_version, policy=PENDING_POLICY, level="mandatory", severity="high",
            urn=op.urn, description=meta.description,
            message=(f"{op.type} '{parse_urn(op.urn)[3]}': the Pulumi CLI was interrupted while {op.operation} it, "
                     f"so whether it exists as {state.path.name} says is unknown. {meta.remediation}"),
        )
        for op in state.pending_operations if op.type.startswith(JUDGED_TYPE_PREFIXES)
    ]
    return meta, findings


def existing_stack_findings(result: PreviewResult, state: StackState, *, analyze: bool = False) -> None:
    """Add to a result what comes from the state: the deletes of a preview, pending operations (and
    their findings), the count of secrets left unknown."""
    from importlib import metadata

    try:
        version = metadata.version("bucketguard")
    except metadata.PackageNotFoundError:
        version = "0.0.0"
    result.state = summarize(state, analyze=analyze, registered=result.capture.resources)
    meta, findings = pending_operation_findings(state, version)
    if findings:
        result.diagnostics.extend(findings)
        result.packs.append((STATE_PACK, version, [meta]))
