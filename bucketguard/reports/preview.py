"""What `bucketguard preview` and `bucketguard analyze` print: the resource tree, the policy section and a
summary, as `pulumi preview` users know them; or one JSON document; or SARIF 2.1.0."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bucketguard.inputs import Broken, nothing_judged_lines
from bucketguard.preview.models import PreviewResult
from bucketguard.reports.sarif import SarifResult, sarif_log, sarif_run, write_sarif
from bucketguard.reports.style import Style, wants_color

if TYPE_CHECKING:
    from bucketguard.preview.analyzer import Diagnostic
    from bucketguard.preview.capture import Registration


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


# How `pulumi preview` marks each step: symbol, word, colour.
_STEPS = {
    "create": ("+", "create", "green"), "update": ("~", "update", "yellow"), "replace": ("+-", "replace", "magenta"),
    "delete": ("-", "delete", "red"), "read": (">", "read", "cyan"), "same": (" ", "", "none"),
}


def _diff_info(resource: Registration) -> str:
    marks = {"update": "~", "replace": "+-"}
    mark = marks.get(resource.op)
    keys = [k for k in resource.reasons if " " not in k]
    notes = [k for k in resource.reasons if " " in k]
    info = f"[diff: {' '.join(mark + k for k in keys)}]" if mark and keys else ""
    return "; ".join([info, *notes] if info else notes)


def render_text(result: PreviewResult, color: bool = False) -> str:
    style = Style(color)
    cap = result.capture
    state = result.state
    if state is not None and state.analyze:
        lines = [f"Analyzing the state of stack {cap.stack} from {state.file} offline, "
                 "as `pulumi policy analyze --file` would:", ""]
    elif state is not None:
        lines = [f"Previewing update ({cap.stack}) offline against {state.file}, "
                 "as `pulumi preview --policy-pack` would:", ""]
    else:
        lines = [f"Previewing update ({cap.stack}) offline, as `pulumi preview --policy-pack` would:", ""]
    deleted = state.deleted if state is not None else []
    shown = cap.resources + deleted
    children = _children(shown)
    rows: list[tuple[str, str, str, str]] = []

    def walk(parent: str | None, prefix: str) -> None:
        kids = children.get(parent, [])
        for index, resource in enumerate(kids):
            last = index == len(kids) - 1
            branch = "" if parent is None else ("└─ " if last else "├─ ")
            op = "same" if state is not None and state.analyze else resource.op
            rows.append((prefix + branch + display_type(resource.type), resource.name, op, _diff_info(resource)))
            walk(resource.urn, prefix + ("" if parent is None else ("   " if last else "│  ")))

    walk(None, "")
    width = max([len("Type")] + [len(r[0]) for r in rows]) + 2
    name_width = max([len("Name")] + [len(r[1]) for r in rows]) + 2
    plan_width = max([len("Plan")] + [len(_STEPS[r[2]][1]) for r in rows]) + 2
    columns = "" if state is not None and state.analyze else f"{'Plan':<{plan_width}}Info"
    lines.append(f"     {'Type':<{width}}{'Name':<{name_width}}{columns}".rstrip())
    for type_text, name, op, info in rows:
        symbol, word, colour = _STEPS[op]
        lines.append((f" {style(f'{symbol:<2}', colour)}  {type_text:<{width}}{name:<{name_width}}"
                      f"{style(f'{word:<{plan_width}}', colour)}{info}").rstrip())
    lines.append("")

    if cap.logs or cap.output:
        # As `pulumi preview` shows them: under the stack, logs with their severity, then what the
        # program printed, as it printed it.
        stack = next((r for r in cap.resources if r.type == "pulumi:pulumi:Stack"), None)
        lines.append("Program output:")
        lines.append(f"  pulumi:pulumi:Stack ({stack.name if stack else cap.project + '-' + cap.stack}):")
        for severity, message in cap.logs:
            label = {"warning": "warning", "error": "error", "info": "", "debug": "debug"}.get(severity, severity)
            for text in message.splitlines() or [""]:
                lines.append(f"    {style(label + ': ', 'yellow' if label == 'warning' else 'red') if label else ''}{text}")
        lines.extend(f"    {text}" for text in cap.output)
        lines.append("")

    by_urn = {r.urn: r for r in cap.resources}
    lines.append("Policies:")
    for pack_name, version, _ in result.packs:
        mine = [d for d in result.diagnostics if d.pack == pack_name]
        failed = any(d.level in ("mandatory", "remediate") for d in mine)
        mark = style("❌", "red") if failed else (style("⚠", "yellow") if mine else style("✅", "green"))
        lines.append(f"    {mark} {pack_name}@v{version}")
        for diagnostic in sorted(mine, key=lambda d: (d.level != "mandatory", d.policy, d.urn)):
            resource = by_urn.get(diagnostic.urn)
            where = f"  ({display_type(resource.type)}: {resource.name})" if resource else ""  # diff.go policyResourceClause
            level = style(f"[{diagnostic.level}]", "red" if diagnostic.level == "mandatory" else "yellow")
            lines.append(f"        - {level}  {diagnostic.policy}{where}")
            for text in diagnostic.message.splitlines():
                lines.append(f"          {text}")
    lines.append("")

    if cap.placeholder_invokes:
        lines.append("Invokes answered with placeholders (made-up values of the declared types; pin real "
                     "answers with --invoke-answers FILE):")
        lines.extend(f"    {token}: {', '.join(fields)}" for token, fields in cap.placeholder_invokes.items())
    if cap.made_up_answers:
        lines.append("Answers made up offline (no aws:allowedAccountIds or aws:region in the stack, nothing pinned; "
                     "strings built from them are unknown to the policies):")
        lines.extend(f"    {token}: {', '.join(fields)}" for token, fields in cap.made_up_answers.items())
    empty = [token for token in cap.unanswered_invokes if token not in cap.placeholder_invokes]
    if empty:
        lines.append("Invokes the offline preview could not answer (their results were empty): " + ", ".join(empty))
    if result.undecrypted_secrets:
        lines.append("Secure config values the program saw as secret placeholders (whatever is computed "
                     "from them is unknown to the policies): " + ", ".join(result.undecrypted_secrets)
                     + (f"; {result.undecrypted_reason}" if result.undecrypted_reason else ""))
    if state is not None and state.pending_operations:
        lines.append("The state records operations the Pulumi CLI was interrupted in:")
        lines.extend(f"    * {urn}, interrupted while {operation}" for urn, operation in state.pending_operations)
    if state is not None and state.undecrypted_secrets:
        lines.append(f"{state.undecrypted_secrets} secret value(s) in the state could not be decrypted and were "
                     "judged as unknown (a passphrase stack: set PULUMI_CONFIG_PASSPHRASE; any stack: export with "
                     "`pulumi stack export --show-secrets`, which writes them in plaintext)")
    custom = sum(1 for r in cap.resources if r.custom)
    lines.append("Resources:")
    if state is not None and state.analyze:
        lines.append(f"    {len(cap.resources)} in the state ({custom} cloud resources)")
    elif state is None:
        lines.append(f"    {style('+', 'green')} {len(cap.resources)} to create ({custom} cloud resources)")
    else:
        counts = plan_counts(result)
        for op, label in (("create", "to create"), ("update", "to update"), ("delete", "to delete"),
                          ("replace", "to replace")):
            if counts[op]:
                symbol, _, colour = _STEPS[op]
                lines.append(f"    {style(symbol, colour)}{' ' if len(symbol) == 1 else ''}{counts[op]} {label}")
        changes = sum(counts[op] for op in ("create", "update", "delete", "replace"))
        lines.append(f"    {changes} change{'s' if changes != 1 else ''}. {counts['same']} unchanged")
    if result.unverifiable:
        lines.append("Unverifiable offline (pin these, or run `pulumi preview --policy-pack`):")
        lines.extend(f"    * {reason}" for reason in result.unverifiable)
    verdict = (style("UNVERIFIABLE", "red") if result.unverifiable
               else style("FAILED", "red") if result.mandatory
               else style("NOTHING JUDGED", "red") if result.nothing_judged else style("passed", "green"))
    lines.append(f"Policy violations: {len(result.mandatory)} mandatory, {len(result.advisory)} advisory: {verdict}")
    return "\n".join(lines) + "\n"


def plan_counts(result: PreviewResult) -> dict[str, int]:
    """Steps of the plan by kind, as `pulumi preview`'s summary counts them."""
    counts = dict.fromkeys(_STEPS, 0)
    for resource in result.capture.resources:
        counts[resource.op] += 1
    counts["delete"] += len(result.state.deleted) if result.state is not None else 0
    return counts


JSON_SCHEMA_VERSION = 1  # raised when a key of `--json` is removed or changes its meaning


def to_json(result: PreviewResult) -> dict[str, Any]:
    cap = result.capture
    state = result.state
    analyzing = state is not None and state.analyze
    document: dict[str, Any] = {
        "schemaVersion": JSON_SCHEMA_VERSION,
        "project": cap.project,
        "stack": cap.stack,
        "resources": [
            {"urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent, "custom": r.custom,
             **({} if analyzing else {"op": r.op}), **({"diff": r.reasons} if r.reasons else {})}
            for r in cap.resources + (state.deleted if state is not None else [])
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
            "passed": result.passed,  # no mandatory violation, nothing unverifiable, something judged
            "unverifiable": result.unverifiable,
            "unansweredInvokes": cap.unanswered_invokes,
            "placeholderInvokes": cap.placeholder_invokes,
            "madeUpAnswers": cap.made_up_answers,
            "undecryptedSecrets": result.undecrypted_secrets,
        },
        "logs": [{"severity": severity, "message": message} for severity, message in cap.logs],
        "programOutput": cap.output,
        "timings": {k: round(v, 4) for k, v in result.timings.items()},
    }
    if state is not None:
        document["state"] = {
            "file": str(state.file), "version": state.version,
            "pendingOperations": [{"urn": u, "operation": o} for u, o in state.pending_operations],
            "undecryptedSecrets": state.undecrypted_secrets,
        }
        if not analyzing:
            document["plan"] = plan_counts(result)
    return document


def repository_root(folder: Path) -> Path:
    """The git top level above `folder` (what code scanning resolves SARIF paths against), else `folder`."""
    folder = folder.resolve()
    return next((f for f in (folder, *folder.parents) if (f / ".git").exists()), folder)


def _source(resource: Registration | None, by_urn: dict[str, Registration], root: Path) -> tuple[str, int] | None:
    """The file and line under `root` where the program made the resource (or its nearest parent:
    a component's children are made in the component's own file)."""
    while resource is not None:
        if resource.source is not None and resource.source[0].startswith("file://"):
            from urllib.parse import unquote, urlparse

            path = Path(unquote(urlparse(resource.source[0]).path))
            if path.resolve().is_relative_to(root):
                return path.resolve().relative_to(root).as_posix(), max(1, resource.source[1])
        resource = by_urn.get(resource.parent or "")
    return None


def to_sarif(result: PreviewResult, root: Path) -> dict[str, Any]:
    """SARIF 2.1.0: one run per pack, one result per violation, located at the program's file and line
    relative to `root` (the repository's top level)."""
    root = root.resolve()
    try:
        program_uri = result.program.resolve().relative_to(root).as_posix()
    except ValueError:
        program_uri = result.program.resolve().as_uri()
    by_urn = {r.urn: r for r in result.capture.resources}

    def located(d: Diagnostic) -> SarifResult:
        resource = by_urn.get(d.urn)
        uri, line = _source(resource, by_urn, root) or (program_uri, 1)
        return SarifResult(d.policy, d.level, d.message, resource.name if resource else d.urn, d.urn, uri, line)
    return sarif_log([
        sarif_run(pack_name, version, policies, [located(d) for d in result.diagnostics if d.pack == pack_name],
                  errors=[*result.unverifiable, *nothing_judged_lines(result.nothing_judged)])
        for pack_name, version, policies in result.packs
    ])


def _shows(stream: Any, text: str) -> bool:
    try:
        text.encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


_ASCII = str.maketrans({"✅": "OK", "❌": "X", "⚠": "!", "└": "`", "├": "|", "│": "|", "─": "-"})


def write_result(result: PreviewResult, *, as_json: bool, sarif: Path | None, color: str,
                 sarif_root: Path | None = None, junit: Path | None = None, quiet: bool = False) -> None:
    """Print the result as `--json` or text (colour: auto|always|never; ASCII icons where the terminal's
    encoding has no ✅; `quiet`: only the verdict line), and write `--sarif` (`-`: to stdout, the text then
    goes to stderr) and `--junit` if asked."""
    if sarif is not None and as_json and str(sarif) == "-":
        raise Broken("--sarif - and --json both write to standard output; give --sarif a file")
    if sarif is not None:
        write_sarif(sarif, to_sarif(result, sarif_root or repository_root(result.base_dir)))
    if junit is not None:
        from bucketguard.reports.junit import write_junit

        write_junit(junit, result)
    out = sys.stderr if sarif is not None and str(sarif) == "-" else sys.stdout
    if as_json:
        out.write(json.dumps(to_json(result), indent=2) + "\n")
    else:
        text = render_text(result, wants_color(color, out))
        text = text.rstrip("\n").splitlines()[-1] + "\n" if quiet else text
        out.write(text if _shows(out, "✅❌⚠└├│─") else text.translate(_ASCII))
    for reason in result.unverifiable:
        print(f"bucketguard: unverifiable: {reason}", file=sys.stderr)
