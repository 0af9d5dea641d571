"""The layout's rules, read from the sources: no import circle between bucketguard's modules, command
modules that only parse arguments and call a product, and an `import bucketguard` as light as the
policy pack needs."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ROOT

PACKAGE = ROOT / "bucketguard"
# The cli modules that are commands (main.py assembles them, common.py is what they share).
COMMAND_MODULES = ("preview", "analyze", "audit", "pack")
COMMAND_MAX_LINES = 80
# What a command module may import besides the standard library: what it shares with the others, the
# request/result models, the product's entry and the report writers.
PRODUCT_ENTRIES = {"bucketguard.preview.pipeline", "bucketguard.preview.analyze", "bucketguard.audit.pipeline",
                   "bucketguard.publishing"}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path) -> dict[str, Path]:
    return {module_name(p, root): p for p in root.rglob("*.py") if "shim" not in p.parts}


def imported(path: Path, name: str, known: set[str]) -> Iterator[str]:
    """Every module of `known` that `path` imports, anywhere in it (lazy and TYPE_CHECKING imports too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[:len(package.split(".")) - node.level + 1], *([base] if base else [])])
            for alias in node.names:
                if f"{base}.{alias.name}" in known:
                    yield f"{base}.{alias.name}"  # `from package import module`
                elif base in known:
                    yield base


def import_graph(root: Path) -> dict[str, set[str]]:
    found = modules(root)
    known = set(found)
    return {name: set(imported(path, name, known)) - {name} for name, path in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = import_graph(PACKAGE)
    # The graph is the real one: the flows the README draws are in it.
    assert "bucketguard.preview.session" in graph["bucketguard.preview.pipeline"]
    assert "bucketguard.audit.aws" in graph["bucketguard.audit.pipeline"]
    assert "bucketguard.pulumi_files.project" in graph["bucketguard.audit.stack_import"]
    assert "bucketguard.preview.steps" in graph["bucketguard.preview.monitor"]  # a TYPE_CHECKING import
    assert cycles(graph) == []


def test_the_cycle_check_finds_a_circle(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "state.py").write_text("from pkg.sub.steps import plan\n")
    (package / "sub" / "steps.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.sub import state\n")
    (package / "sub" / "other.py").write_text("def f():\n    from . import steps\n")
    assert cycles(import_graph(package)) == [["pkg.sub.state", "pkg.sub.steps"]]


def command_problems(path: Path) -> list[str]:
    """Why a command module is more than arguments → request → product → printed result."""
    source = path.read_text()
    problems = [f"{len(source.splitlines())} lines"] if len(source.splitlines()) > COMMAND_MAX_LINES else []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                if not (top in sys.stdlib_module_names or top == "__future__" or name == "bucketguard.cli.common"
                        or name.endswith(".models") or name in PRODUCT_ENTRIES or name.startswith("bucketguard.reports.")):
                    problems.append(f"imports {name}")
        # Parsing arguments into a request needs no loop: a loop is work of the product.
        if isinstance(node, ast.For | ast.While | ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            problems.append(f"line {node.lineno}: a loop")
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    problems.extend(f"defines {name}" for name in sorted(defined - {"add_arguments", "run", "parser", "main"}))
    return problems


@pytest.mark.parametrize("command", COMMAND_MODULES)
def test_each_command_module_is_short_and_holds_no_product_logic(command: str) -> None:
    assert command_problems(PACKAGE / "cli" / f"{command}.py") == []


def test_the_command_check_rejects_a_command_that_does_the_work(tmp_path: Path) -> None:
    # The shape of audit_cli.py before issue 22: the command assembled clients and judged buckets itself.
    command = tmp_path / "audit.py"
    command.write_text("import argparse\nfrom bucketguard.audit.aws import S3Buckets\n\n\n"
                       "def run(args: argparse.Namespace) -> int:\n    for name in args.buckets:\n"
                       "        S3Buckets(None, None).read(name)\n    return 0\n\n\n"
                       "def render_table() -> str:\n    return ''\n" + "\n" * COMMAND_MAX_LINES)
    assert command_problems(command) == [f"{COMMAND_MAX_LINES + 12} lines", "imports bucketguard.audit.aws",
                                         "line 6: a loop", "defines render_table"]


HEAVY = ("grpc", "boto3", "botocore", "jsonschema", "pydantic", "pulumi", "pulumi_aws", "pulumi_policy", "rich",
         "cryptography", "yaml")


def loaded_after(statement: str) -> list[str]:
    program = (f"import sys\n{statement}\n"
               f"print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.split()


def test_import_bucketguard_imports_no_product() -> None:
    program = "import bucketguard, sys; print(' '.join(sorted(m for m in sys.modules if m.startswith('bucketguard'))))"
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["bucketguard"]
    assert loaded_after("import bucketguard") == []


def test_the_models_and_the_command_line_import_no_extra() -> None:
    # What `bucketguard --help` and the API's types need: nothing the cli extra brings.
    assert loaded_after("import bucketguard.cli.main, bucketguard.preview.models, bucketguard.audit.models") == []
    assert "grpc" in loaded_after("from bucketguard import run_preview")
