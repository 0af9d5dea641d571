"""SARIF 2.1.0, as every command writes it (`--sarif FILE`): one run per tool with the rules'
metadata, one result per violation, located at a file when there is one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


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


def sarif_run(tool: str, version: str, policies: Sequence[SarifRule], results: list[SarifResult]) -> dict[str, Any]:
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
    for r in results:
        location: dict[str, Any] = {
            "logicalLocations": [{"name": r.name, "fullyQualifiedName": r.fully_qualified_name, "kind": "resource"}],
        }
        if r.uri is not None:
            location["physicalLocation"] = {"artifactLocation": {"uri": r.uri}, "region": {"startLine": 1}}
        entry: dict[str, Any] = {"ruleId": r.policy, "level": _SARIF_LEVELS.get(r.level, "warning"),
                                 "message": {"text": r.message}, "locations": [location]}
        if r.policy in index:
            entry["ruleIndex"] = index[r.policy]
        entries.append(entry)
    return {"tool": {"driver": {"name": tool, "version": version, "rules": rules}}, "results": entries}


def sarif_log(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0", "runs": runs}
