"""Which Pulumi language runtimes the offline preview runs; the others are gated by the Pulumi CLI."""

from __future__ import annotations

from pathlib import Path

RUNTIMES = ("python", "nodejs")  # what Pulumi.yaml's `runtime` may name here
_NAMES = {"go": "Go", "yaml": "YAML", "dotnet": ".NET", "java": "Java", "bun": "Bun"}


def unsupported_runtime(project_file: Path, runtime: object) -> str | None:
    """None for a runtime the preview runs, else the one line that says so and what to run instead."""
    if runtime in RUNTIMES:
        return None
    language = _NAMES.get(str(runtime), f"{runtime!r}")
    return (f"{project_file}: runtime is {runtime!r}: the offline preview runs Python and Node.js (TypeScript, "
            f"JavaScript) programs, not {language} ones; gate this project with the Pulumi CLI: "
            "`pulumi preview --policy-pack <pack folder>`")
