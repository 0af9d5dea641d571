"""SARIF 2.1.0, as every command writes it (`--sarif FILE`): one run per tool with the rules'
metadata, one result per violation, located at a file when there is one."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bucketguard.inputs import Broken


class SarifRule(Protocol):
    """What SARIF says of a rule (a pack's policy metadata has it)."""

    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def level(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def remediation(self) -> str: ...
    @property
    def framework(self) -> dict[str, str]: ...


_SARIF_LEVELS = {"mandatory": "error", "remediate": "error", "advisory": "warning", "disabled": "none"}


@dataclass(frozen=True)
class SarifRuleMeta:
    """A rule's metadata for SARIF, when it is not a pack's (the audit's own policies)."""

    name: str
    description: str
    level: str
    severity: str
    remediation: str
    framework: dict[str, str]


@dataclass(frozen=True)
class SarifResult:
    """One violation for SARIF: which rule, how serious, what, and where."""

    policy: str
    level: str
    message: str
    name: str  # the resource or bucket
    fully_qualified_name: str  # its URN or ARN
    uri: str | None = None  # the file to point at, when there is one
    line: int = 1  # the line in it
    # What the finding is about, for `partialFingerprints` (default: fully_qualified_name): an URN for a
    # declaration; account/region/bucket for a live bucket. Never the message, whose values change.
    identity: str | None = None


def sarif_run(tool: str, version: str, policies: Sequence[SarifRule], results: list[SarifResult],
              errors: Sequence[str] = ()) -> dict[str, Any]:
    """One SARIF 2.1.0 run: rule metadata from the policies, one result per violation."""
    rules = [
        {
            "id": p.name,
            "name": p.name,
            "shortDescription": {"text": p.description},
            "fullDescription": {"text": p.description},
            "help": {"text": p.remediation or p.description},
            "defaultConfiguration": {"level": _SARIF_LEVELS.get(p.level, "warning")},
            "properties": {"severity": p.severity, "enforcementLevel": p.level,
                           **({"framework": p.framework} if p.framework else {})},
        }
        for p in policies
    ]
    index = {p.name: i for i, p in enumerate(policies)}
    entries = []
    # Sorted, so that identical runs write identical reports.
    for r in sorted(results, key=lambda r: (r.policy, r.fully_qualified_name, r.uri or "", r.line, r.message)):
        location: dict[str, Any] = {
            "logicalLocations": [{"name": r.name, "fullyQualifiedName": r.fully_qualified_name, "kind": "resource"}],
        }
        if r.uri is not None:
            location["physicalLocation"] = {"artifactLocation": {"uri": r.uri}, "region": {"startLine": r.line}}
        # What code scanning matches a finding by across runs: the rule and the resource, not the
        # message or the line (both change with unrelated edits).
        fingerprint = hashlib.sha256(f"{r.policy}\0{r.identity or r.fully_qualified_name}".encode()).hexdigest()
        entry: dict[str, Any] = {"ruleId": r.policy, "level": _SARIF_LEVELS.get(r.level, "warning"),
                                 "message": {"text": r.message}, "locations": [location],
                                 "partialFingerprints": {"bucketguardResource/v1": fingerprint}}
        if r.policy in index:
            entry["ruleIndex"] = index[r.policy]
        entries.append(entry)
    return {"tool": {"driver": {"name": tool, "version": version, "rules": rules}},
            "invocations": [invocation(errors)], "results": entries}


def invocation(errors: Sequence[str] = ()) -> dict[str, Any]:
    """Whether the run gave a verdict (`executionSuccessful`), and if not, why."""
    return {"executionSuccessful": not errors,
            "toolExecutionNotifications": [{"level": "error", "message": {"text": e}} for e in errors]}


def failed_log(tool: str, message: str) -> dict[str, Any]:
    """The report of a run that stopped before any verdict: no result, and the error."""
    from bucketguard import __version__

    return sarif_log([{"tool": {"driver": {"name": tool, "version": __version__, "rules": []}},
                       "invocations": [invocation([message])], "results": []}])


def write_sarif(path: Path, document: dict[str, Any]) -> None:
    """Write the log to `path` (`-`: standard output); Broken naming the file when it cannot be written."""
    text = json.dumps(document, indent=2) + "\n"
    if str(path) == "-":
        sys.stdout.write(text)
        return
    try:
        path.write_text(text)
    except OSError as error:
        raise Broken(f"--sarif {path}: cannot write the report: {error.strerror or error}") from None


def sarif_log(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0", "runs": runs}
