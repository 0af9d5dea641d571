"""Invoke results shaped as a Node.js program's own SDK declares them, on the engine side.

A generated Node.js SDK function (`aws.route53.getZone`) returns the engine's answer as it is; its
result type is a TypeScript interface, erased at run time, so a field the offline engine did not
answer is `undefined` where the program expects a string, and `new aws.route53.Record(..., {zoneId})`
stops on a missing required input. The types are in the package's declaration files, which every
published SDK ships next to its code: `<package>/<module>/<function>.d.ts` holds `export interface
<Function>Result { readonly field?: Type; ... }`, and nested types are interfaces of the file it
imports as `outputs` (`types/output.d.ts`, in one `namespace` per module). This module finds the
program's own copy of the package (`node_modules`, by its package.json `pulumi.name`), reads the result
interface and completes the answer with values of the declared types: an argument of the same name
when there is one, else the placeholders the Python shim makes (`shim/_bucketguard_invoke_shapes.py`:
one source for names, ARNs, regions and the marker that makes any value built from them unknown to
the policies). Only declaration syntax the SDK code generators emit is read; anything else is `any`.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bucketguard.preview import invokes

_MAX_DEPTH = 6  # as the Python shim: nested result types are filled this deep
_COMMENTS = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_BLOCKS = re.compile(
    r"(?:export\s+)?(?:declare\s+)?namespace\s+(?P<namespace>[\w.$]+)\s*\{"
    r"|(?:export\s+)?interface\s+(?P<interface>[\w$]+)(?:\s*<[^>{]*>)?(?:\s+extends\s+[^{]+)?\s*\{"
    r"|(?P<open>\{)|(?P<close>\})")
_IMPORT = re.compile(r"import\s+\*\s+as\s+([\w$]+)\s+from\s+[\"']([^\"']+)[\"']")
_MEMBER = re.compile(r"^(?:readonly\s+)?(?P<name>[\w$]+|\"[^\"]+\"|'[^']+')(?P<optional>\?)?\s*:\s*(?P<type>.+)$", re.S)
_SCALARS = {"string": "string", "number": "number", "boolean": "boolean", "any": "any", "unknown": "any",
            "object": "any"}


@dataclass(frozen=True)
class TypeRef:
    """A declared type: kind string|number|boolean|any|literal|array|map|object|ref."""

    kind: str
    item: TypeRef | None = None  # array item, map value
    literal: Any = None
    fields: tuple[Field, ...] = ()  # inline object type
    file: Path | None = None  # ref: the declaration file and the interface's qualified name
    name: str = ""


@dataclass(frozen=True)
class Field:
    name: str
    optional: bool
    type: TypeRef


def _split_top(text: str, separator: str) -> list[str]:
    """`text` split at `separator` where it is not nested in brackets."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char in "{[(<":
            depth += 1
        elif char in "}])" or (char == ">" and text[index - 1:index] != "="):
            depth -= 1
        elif char == separator and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


class DeclarationFile:
    """One `.d.ts`: its interfaces (by qualified name, `route53.GetZoneFilter`) and `import * as` aliases."""

    def __init__(self, path: Path) -> None:
        self.path = path
        text = _COMMENTS.sub("", path.read_text(errors="replace"))
        self.imports: dict[str, str] = dict(_IMPORT.findall(text))
        self.bodies: dict[str, str] = {}
        stack: list[tuple[str, str, int]] = []  # (kind, name, body start)
        for match in _BLOCKS.finditer(text):
            if match.group("namespace"):
                stack.append(("namespace", match.group("namespace"), match.end()))
            elif match.group("interface"):
                stack.append(("interface", match.group("interface"), match.end()))
            elif match.group("open"):
                stack.append(("block", "", match.end()))
            elif stack:
                kind, name, start = stack.pop()
                if kind == "interface" and not any(k == "interface" or k == "block" for k, _, _ in stack):
                    qualified = ".".join([n for k, n, _ in stack if k == "namespace"] + [name])
                    self.bodies.setdefault(qualified, text[start:match.start()])

    def import_path(self, alias: str) -> Path | None:
        target = self.imports.get(alias)
        if target is None or not target.startswith("."):
            return None
        return (self.path.parent / (target + ".d.ts")).resolve()


class ResultShapes:
    """Result interfaces of the invoke functions of the SDKs installed for one program."""

    def __init__(self, program_dir: Path) -> None:
        self.program_dir = program_dir
        self._files: dict[Path, DeclarationFile | None] = {}
        self._packages: dict[str, Path | None] = {}
        self._fields: dict[str, tuple[Field, ...] | None] = {}
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- finding declarations
    def _node_modules(self) -> list[Path]:
        return [d / "node_modules" for d in (self.program_dir, *self.program_dir.parents) if (d / "node_modules").is_dir()]

    def package_dir(self, package: str) -> Path | None:
        """The folder of the SDK for Pulumi package `package` that the program resolves (the nearest
        node_modules; `@pulumi/<package>` first, else any package whose package.json says
        `"pulumi": {"name": <package>}`)."""
        if package in self._packages:
            return self._packages[package]
        found: Path | None = None
        for modules in self._node_modules():
            candidates = [modules / "@pulumi" / package, *sorted(modules.glob("*")), *sorted(modules.glob("@*/*"))]
            for candidate in candidates:
                if _pulumi_name(candidate / "package.json") == package:
                    found = candidate
                    break
            if found is not None:
                break
        self._packages[package] = found
        return found

    def _file(self, path: Path) -> DeclarationFile | None:
        if path not in self._files:
            try:
                self._files[path] = DeclarationFile(path)
            except OSError:
                self._files[path] = None
        return self._files[path]

    def function_file(self, token: str) -> Path | None:
        """`aws:route53/getZone:getZone` -> <aws>/route53/getZone.d.ts; `index` is the package's root."""
        parts = token.split(":")
        if len(parts) != 3:
            return None
        root = self.package_dir(parts[0])
        if root is None:
            return None
        module = parts[1].split("/", 1)[0]
        folder = root if module in ("index", "") else root / module
        if not folder.is_dir() and module:
            folder = next((d for d in root.iterdir() if d.is_dir() and d.name.lower() == module.lower()), folder)
        path = folder / f"{parts[2]}.d.ts"
        return path if path.is_file() else None

    def result_fields(self, token: str) -> tuple[Field, ...] | None:
        """The fields of the function's result interface, or None when the SDK declares none we can read."""
        with self._lock:
            if token not in self._fields:
                self._fields[token] = self._read_result(token)
            return self._fields[token]

    def _read_result(self, token: str) -> tuple[Field, ...] | None:
        path = self.function_file(token)
        declarations = self._file(path) if path is not None else None
        if declarations is None:
            return None
        function = token.rsplit(":", 1)[-1]
        name = function[:1].upper() + function[1:] + "Result"
        body = declarations.bodies.get(name)
        return None if body is None else self._fields_of(body, declarations)

    # ---------------------------------------------------------------- reading types
    def _fields_of(self, body: str, declarations: DeclarationFile) -> tuple[Field, ...]:
        fields = []
        for member in _split_top(body.replace("\n", " "), ";"):
            match = _MEMBER.match(member.strip().rstrip(","))
            if match is None:
                continue  # an index signature or a method: not a result field
            name = match.group("name").strip("\"'")
            fields.append(Field(name, bool(match.group("optional")), self.parse_type(match.group("type"), declarations)))
        return tuple(fields)

    def parse_type(self, text: str, declarations: DeclarationFile) -> TypeRef:
        text = text.strip()
        members = [m for m in _split_top(text, "|") if m not in ("undefined", "null")]
        if len(members) > 1:
            return self.parse_type(members[0], declarations)
        text = members[0] if members else "any"
        if text.startswith("(") and text.endswith(")"):
            return self.parse_type(text[1:-1], declarations)
        if text.endswith("[]"):
            return TypeRef("array", item=self.parse_type(text[:-2], declarations))
        generic = re.fullmatch(r"(?:Readonly)?Array<(.+)>", text, re.S)
        if generic:
            return TypeRef("array", item=self.parse_type(generic.group(1), declarations))
        if text.startswith("{") and text.endswith("}"):
            inner = text[1:-1].strip()
            index = re.match(r"\[\s*[\w$]+\s*:\s*string\s*\]\s*:\s*(.+?);?\s*$", inner, re.S)
            if index:
                return TypeRef("map", item=self.parse_type(index.group(1), declarations))
            return TypeRef("object", fields=self._fields_of(inner, declarations))
        if text in _SCALARS:
            return TypeRef(_SCALARS[text])
        if re.fullmatch(r"\"[^\"]*\"|'[^']*'", text):
            return TypeRef("literal", literal=text[1:-1])
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            return TypeRef("literal", literal=float(text) if "." in text else int(text))
        if text in ("true", "false"):
            return TypeRef("literal", literal=text == "true")
        qualified = re.fullmatch(r"([\w$]+)((?:\.[\w$]+)*)", text)
        if qualified:
            alias, rest = qualified.group(1), qualified.group(2).lstrip(".")
            target = declarations.import_path(alias) if rest else declarations.path
            if target is not None:
                return TypeRef("ref", file=target, name=rest or alias)
        return TypeRef("any")  # an enum (string values), a generic, anything the generators do not emit

    def resolve(self, ref: TypeRef) -> tuple[Field, ...] | None:
        """The fields of a referenced interface, or None (an enum or an unreadable type)."""
        if ref.file is None:
            return None
        with self._lock:
            declarations = self._file(ref.file)
            body = declarations.bodies.get(ref.name) if declarations is not None else None
            return None if body is None or declarations is None else self._fields_of(body, declarations)


def _pulumi_name(manifest: Path) -> str | None:
    try:
        data = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return None
    pulumi = data.get("pulumi") if isinstance(data, dict) else None
    name = pulumi.get("name") if isinstance(pulumi, dict) else None
    if isinstance(name, str):
        return name
    package = data.get("name") if isinstance(data, dict) else None
    return package.removeprefix("@pulumi/") if isinstance(package, str) and package.startswith("@pulumi/") else None


# ---------------------------------------------------------------- filling a result


def placeholder(kind: TypeRef, field: str, token: str, context: Any, shapes: ResultShapes, depth: int = 0) -> Any:
    """A plausible value of a declared type for a field named `field` (the Python shim's rules)."""
    shim = invokes.load_shapes_module()
    if kind.kind == "string":
        return shim.placeholder_string(field, token, context)
    if kind.kind == "number":
        return 1
    if kind.kind == "boolean":
        return False
    if kind.kind == "literal":
        return kind.literal
    if kind.kind == "any":
        return {}  # a JSON value (policies, documents): an empty object, as the Python shim
    if kind.kind == "map":
        return {}
    if kind.kind == "array":
        item = placeholder(kind.item, field, token, context, shapes, depth + 1) if kind.item is not None else None
        return [] if item is None else [item]
    fields = kind.fields if kind.kind == "object" else shapes.resolve(kind)
    if fields is None:  # an enum type: a string
        return shim.placeholder_string(field, token, context)
    if depth >= _MAX_DEPTH:
        return None
    value: dict[str, Any] = {}
    fill(value, fields, {}, token, context, depth + 1, shapes=shapes)
    return value


def _fits(value: Any, kind: TypeRef) -> bool:
    if kind.kind == "string":
        return isinstance(value, str)
    if kind.kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind.kind == "boolean":
        return isinstance(value, bool)
    if kind.kind == "array":
        return isinstance(value, list) and all(isinstance(v, str | int | float | bool) for v in value)
    if kind.kind == "map":
        return isinstance(value, dict)
    return False


def fill(result: dict[str, Any], fields: tuple[Field, ...], args: dict[str, Any], token: str, context: Any,
         depth: int = 0, fill_optional: bool = True, *, shapes: ResultShapes) -> list[str]:
    """Give every declared field of `result` that is missing a plausible value; return the names of the
    fields given placeholders (as the Python shim's `fill`: an argument of the same name is echoed, an
    argument the program left unset keeps an optional field unset, and optional fields of a nested
    value that was given stay as they are)."""
    filled: list[str] = []
    for declared in fields:
        current = result.get(declared.name)
        if current is not None:
            if depth < _MAX_DEPTH:
                filled.extend(f"{declared.name}.{f}" for f in _fill_nested(current, declared.type, token, context,
                                                                           depth, shapes))
            continue
        if declared.optional and not fill_optional:
            continue
        if declared.name in args:
            given = args[declared.name]
            if given is None and declared.optional:
                continue
            if given is not None and _fits(given, declared.type):
                result[declared.name] = given
                continue
        value = placeholder(declared.type, declared.name, token, context, shapes, depth)
        if value is None:
            continue
        result[declared.name] = value
        filled.append(declared.name)
    return filled


def _fill_nested(value: Any, kind: TypeRef, token: str, context: Any, depth: int, shapes: ResultShapes) -> list[str]:
    if kind.kind in ("object", "ref") and isinstance(value, dict):
        fields = kind.fields if kind.kind == "object" else shapes.resolve(kind)
        return fill(value, fields, {}, token, context, depth + 1, False, shapes=shapes) if fields else []
    if kind.kind == "array" and kind.item is not None and isinstance(value, list):
        found: list[str] = []
        for item in value:
            found.extend(f for f in _fill_nested(item, kind.item, token, context, depth, shapes) if f not in found)
        return found
    return []
