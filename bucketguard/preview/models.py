"""The requests and results of the offline preview (`run_preview`) and of the state analysis
(`analyze_state`): plain values in, everything found out. Light to import: no gRPC, no Pulumi SDK."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bucketguard.preview.analyzer import Diagnostic, PolicyMeta
    from bucketguard.preview.capture import Capture, Registration


@dataclass(frozen=True)
class PolicyPack:
    """A policy pack to run and its config, as `--policy-pack DIR --policy-pack-config FILE`."""

    folder: Path | None = None  # None: bucketguard's own pack
    config: Path | Mapping[str, Any] | None = None  # a JSON file, or its content (keyed by policy name, or "all")


@dataclass(frozen=True)
class PreviewRequest:
    """What `bucketguard preview` is asked: the program, its stack, the packs, and what it cannot know offline."""

    program_dir: Path = Path(".")  # a Pulumi project folder
    stack: str | None = None  # default: the only Pulumi.<stack>.yaml, else dev
    packs: Sequence[PolicyPack] = ()  # default: bucketguard's own pack with its default config
    invoke_answers: Path | None = None  # JSON answers for the program's invokes, keyed by token
    trusted_components: Sequence[str] = ()  # multi-language component types known to create no unencrypted bucket
    trust_components_file: Path | None = None  # such types, one per line
    state: Path | None = None  # preview against this exported state (`pulumi stack export --file FILE`)
    # outputs of referenced stacks ({"org/project/stack": {"output": value}}), a JSON file or its content
    stack_reference_outputs: Path | Mapping[str, Mapping[str, Any]] | None = None
    install: bool = False  # create the program's missing virtualenv first, as `pulumi install` would
    component_providers: Sequence[Path] = ()  # Python component provider folders whose components are built offline
    environment_values: Path | None = None  # {"<env>": <`esc env open <env>` output>} for the stack's ESC imports
    timeout: float | None = 600.0  # seconds the program may run (None: no limit)
    # told (resources registered so far, whether the program has ended) a few times a second while it runs
    progress: Callable[[int, bool], None] | None = None
    require_resources: bool = False  # a program that registers no resource is nothing judged (exit 2), not a pass


@dataclass(frozen=True)
class AnalyzeRequest:
    """What `bucketguard analyze` is asked: a stack's exported state and the packs to judge it with."""

    state: Path  # what `pulumi stack export --file FILE` wrote
    stack: str | None = None  # refuse a state of any other stack
    project: str | None = None  # refuse a state of any other project
    packs: Sequence[PolicyPack] = ()  # default: bucketguard's own pack with its default config


@dataclass
class StateSummary:
    """The exported state a preview ran against (`--state`), or that `analyze` judged."""

    file: Path
    version: int
    analyze: bool  # True: `bucketguard analyze` (no plan); False: a preview planned against it
    deleted: list[Registration] = field(default_factory=list)  # what the update would delete
    pending_operations: list[tuple[str, str]] = field(default_factory=list)  # (urn, operation)
    undecrypted_secrets: int = 0  # ciphertexts judged as unknown secrets


@dataclass
class PreviewResult:
    """Everything one offline preview (or analysis) found: the resources, every pack's verdicts, and
    what could not be known. `passed` is the gate: no mandatory violation."""

    capture: Capture
    program: Path
    diagnostics: list[Diagnostic]
    packs: list[tuple[str, str, list[PolicyMeta]]]  # (name, version, policies)
    undecrypted_secrets: list[str] = field(default_factory=list)  # secure keys the program saw as placeholders
    timings: dict[str, float] = field(default_factory=dict)
    state: StateSummary | None = None  # set when previewing against, or analyzing, an exported state
    undecrypted_reason: str | None = None  # why secure keys were not decrypted
    base_dir: Path = field(default_factory=Path.cwd)  # what report paths are relative to (SARIF)
    # Why no verdict can be given offline (a made-up answer the program read, an import, an
    # unresolved ESC environment, ...), each with how to pin it; any of them makes the exit code 2.
    unverifiable: list[str] = field(default_factory=list)
    # `--require-resources`: why the program gave nothing to judge (it registered no resource); exit 2.
    nothing_judged: str | None = None

    @property
    def mandatory(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.level in ("mandatory", "remediate")]

    @property
    def advisory(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.level == "advisory"]

    @property
    def passed(self) -> bool:
        return not self.mandatory and not self.unverifiable and self.nothing_judged is None

