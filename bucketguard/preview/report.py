"""What the offline preview prints: the resource tree, the policy section and a summary, as
`pulumi preview` users know them; or one JSON document; or SARIF 2.1.0."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bucketguard.preview.analyzer import Diagnostic, PolicyMeta
from bucketguard.preview.capture import Capture, Registration


@dataclass
class PreviewResult:
    """Everything one offline preview found."""

    capture: Capture
    program: Path
    diagnostics: list[Diagnostic]
    packs: list[tuple[str, str, list[PolicyMeta]]]  # (name, version, policies)
    undecrypted_secrets: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def mandatory(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.level in ("mandatory", "remediate")]

    @property
    def advisory(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.level == "advisory"]

    def exit_code(self) -> int:
        return 1 if self.mandatory else 0


class _Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text


def display_type(type_token: str) -> str:
    """The CLI's short form: `aws:s3/bucket:Bucket` shows as `aws:s3:Bucket`."""
    parts = type_token.split(":")
    if len(parts) == 3 and "/" in parts[1]:
        return f"{parts[0]}:{parts[1].split('/')[0]}:{parts[2]}"
    return type_token


def _children(resources: list[Registration]) -> dict[str | None, list[Registration]]:
    children: dict[str | None, list[Registration]] = defaultdict(list)
    known = {r.urn for r in resources}
    for resource in resources:
        parent = resource.parent if resource.parent in known else None
        children[parent].append(resource)
    return children


def render_text(result: PreviewResult, color: bool = False) -> str:
    style = _Style(color)
    cap = result.capture
    lines = [f"Previewing update ({cap.stack}) offline, as `pulumi preview --policy-pack` would:", ""]
    children = _children(cap.resources)
    rows: list[tuple[str, str, str]] = []

    def walk(parent: str | None, prefix: str) -> None:
        kids = children.get(parent, [])
        for index, resource in enumerate(kids):
            last = index == len(kids) - 1
            branch = "" if parent is None else ("└─ " if last else "├─ ")
            rows.append((prefix + branch + display_type(resource.type), resource.name, "create"))
            walk(resource.urn, prefix + ("" if parent is None else ("   " if last else "│  ")))

    walk(None, "")
    width = max([len("Type")] + [len(r[0]) for r in rows]) + 2
    name_width = max([len("Name")] + [len(r[1]) for r in rows]) + 2
    lines.append(f"     {'Type':<{width}}{'Name':<{name_width}}Plan")
    for type_text, name, plan in rows:
        lines.append(f" {style('+', '32')}   {type_text:<{width}}{name:<{name_width}}{style(plan, '32')}")
    lines.append("")

    by_urn = {r.urn: r for r in cap.resources}
    lines.append("Policies:")
    for pack_name, version, _ in result.packs:
        mine = [d for d in result.diagnostics if d.pack == pack_name]
        failed = any(d.level in ("mandatory", "remediate") for d in mine)
        mark = style("❌", "31") if failed else (style("⚠", "33") if mine else style("✅", "32"))
        lines.append(f"    {mark} {pack_name}@v{version}")
        for diagnostic in sorted(mine, key=lambda d: (d.level != "mandatory", d.policy, d.urn)):
            resource = by_urn.get(diagnostic.urn)
            where = f"  ({resource.type}: {resource.name})" if resource else ""
            level = style(f"[{diagnostic.level}]", "31" if diagnostic.level == "mandatory" else "33")
            lines.append(f"        - {level}  {diagnostic.policy}{where}")
            for text in diagnostic.message.splitlines():
                lines.append(f"          {text}")
    lines.append("")

    if cap.unanswered_invokes:
        lines.append("Invokes the offline preview could not answer (their results were empty): "
                     + ", ".join(cap.unanswered_invokes))
    if result.undecrypted_secrets:
        lines.append("Secure config values cannot be decrypted offline; the program saw them as unset: "
                     + ", ".join(result.undecrypted_secrets))
    custom = sum(1 for r in cap.resources if r.custom)
    lines.append("Resources:")
    lines.append(f"    {style('+', '32')} {len(cap.resources)} to create ({custom} cloud resources)")
    verdict = style("FAILED", "31") if result.mandatory else style("passed", "32")
    lines.append(f"Policy violations: {len(result.mandatory)} mandatory, {len(result.advisory)} advisory: {verdict}")
    return "\n".join(lines) + "\n"


def to_json(result: PreviewResult) -> dict[str, Any]:
    cap = result.capture
    return {
        "project": cap.project,
        "stack": cap.stack,
        "resources": [
            {"urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent, "custom": r.custom, "op": "create"}
            for r in cap.resources
        ],
        "diagnostics": [
            {"policyPack": d.pack, "policyPackVersion": d.pack_version, "policyName": d.policy,
             "enforcementLevel": d.level, "severity": d.severity, "urn": d.urn, "message": d.message}
            for d in result.diagnostics
        ],
        "summary": {
            "resources": len(cap.resources),
            "mandatory": len(result.mandatory),
            "advisory": len(result.advisory),
            "passed": not result.mandatory,
            "unansweredInvokes": cap.unanswered_invokes,
            "undecryptedSecrets": result.undecrypted_secrets,
        },
        "timings": {k: round(v, 4) for k, v in result.timings.items()},
    }


_SARIF_LEVELS = {"mandatory": "error", "remediate": "error", "advisory": "warning", "disabled": "none"}


@dataclass(frozen=True)
class SarifResult:
    """One violation for SARIF: which rule, how serious, what, and where."""

    policy: str
    level: str
    message: str
    name: str  # the resource or bucket
    fully_qualified_name: str  # its URN or ARN
    uri: str | None = None  # the file to point at, when there is one


def sarif_run(tool: str, version: str, policies: list[PolicyMeta], results: list[SarifResult]) -> dict[str, Any]:
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


def to_sarif(result: PreviewResult, base: Path) -> dict[str, Any]:
    """SARIF 2.1.0: one run per pack, one result per violation, located at the program file."""
    try:
        program_uri = result.program.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        program_uri = result.program.resolve().as_uri()
    names = {r.urn: r.name for r in result.capture.resources}
    return sarif_log([
        sarif_run(pack_name, version, policies, [
            SarifResult(d.policy, d.level, d.message, names.get(d.urn, d.urn), d.urn, program_uri)
            for d in result.diagnostics if d.pack == pack_name
        ])
        for pack_name, version, policies in result.packs
    ])
