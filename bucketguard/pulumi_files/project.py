"""Read a Pulumi project folder: `Pulumi.yaml` and `Pulumi.<stack>.yaml`, as the CLI would."""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bucketguard.pulumi_files.secrets import RuntimeConfig, StackSecrets, _go_numbers, contains_secure, runtime_config


class ProjectError(Exception):
    """A broken project or stack file: names the file and the problem."""


@dataclass
class Project:
    """What the offline preview needs from a Pulumi project."""

    folder: Path
    name: str
    runtime: str
    main: Path
    stack: str
    config: dict[str, Any] = field(default_factory=dict)  # "namespace:key" -> value (JSON-able)
    secret_keys: list[str] = field(default_factory=list)  # keys holding `secure:` values
    runtime_options: dict[str, Any] = field(default_factory=dict)  # Pulumi.yaml `runtime.options`
    secrets: StackSecrets | None = None  # the stack file's secure values and encryption state
    environments: list[str] = field(default_factory=list)  # ESC environments the stack file imports
    stack_file: Path | None = None

    @property
    def program_dir(self) -> Path:
        """The folder the program runs in (the language host's ProgramDirectory and pwd)."""
        return self.main if self.main.is_dir() else self.main.parent

    @property
    def entry_point(self) -> str:
        """What the language host passes to its shim: `.` for a folder (or its `__main__.py`), else the file."""
        return "." if self.main.is_dir() or self.main.name == "__main__.py" else self.main.name


class _CliLoader(yaml.SafeLoader):
    """Plain scalars resolved as the Pulumi CLI's YAML library (gopkg.in/yaml.v3 resolve.go) does,
    not by PyYAML's YAML 1.1 rules: only true/false (True, TRUE, ...) are booleans (`yes`, `no`,
    `on`, `off`, `y`, `n` are strings); integers as Go's ParseInt with base 0 after dropping `_`
    (`0x1F`, `0o17`, `0b101`, and `017` octal as in YAML 1.1); no base-60 numbers."""


_CliLoader.yaml_implicit_resolvers = {}
for _tag, _regex, _first in (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", "~nN"),
    ("tag:yaml.org,2002:int", r"^[-+]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|[0-9][0-9_]*)$",
     "-+0123456789"),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     "-+.0123456789"),
    ("tag:yaml.org,2002:timestamp", r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?$", "0123456789"),
    ("tag:yaml.org,2002:merge", r"^<<$", "<"),
):
    _CliLoader.add_implicit_resolver(_tag, re.compile(_regex), list(_first))


def _go_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    text = str(node.value).replace("_", "")
    sign, digits = (-1, text[1:]) if text.startswith("-") else (1, text.lstrip("+"))
    lowered = digits.lower()
    if lowered.startswith(("0x", "0o", "0b")):
        return sign * int(digits[2:], {"x": 16, "o": 8, "b": 2}[lowered[1]])
    if len(digits) > 1 and digits.startswith("0"):
        try:
            return sign * int(digits, 8)  # Go's ParseInt base 0: a leading 0 is octal
        except ValueError:
            return sign * float(digits)  # `09`: not an integer for Go, but a YAML-style float
    return sign * int(digits)


def _go_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    text = str(node.value).replace("_", "")
    lowered = text.lower()
    if lowered.endswith("inf"):
        return float("-inf") if text.startswith("-") else float("inf")
    if lowered.endswith("nan"):
        return float("nan")
    return float(text)


def _go_timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    """A timestamp becomes a Go time.Time, which Pulumi's config turns into its String() text
    (sdk/go/common/resource/config/object.go unmarshalObject); anything else stays a string."""
    text = str(node.value)
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S"):
        try:
            moment = datetime.datetime.strptime(text, fmt)
        except ValueError:
            continue
        return moment.strftime("%Y-%m-%d %H:%M:%S +0000 UTC")
    return text


_CliLoader.add_constructor("tag:yaml.org,2002:int", _go_int)
_CliLoader.add_constructor("tag:yaml.org,2002:float", _go_float)
_CliLoader.add_constructor("tag:yaml.org,2002:timestamp", _go_timestamp)


def read_cli_yaml(text: str) -> Any:
    """A YAML document read as the Pulumi CLI reads Pulumi.yaml and stack files."""
    return yaml.load(text, Loader=_CliLoader)


def _read_yaml(path: Path) -> Any:
    try:
        return read_cli_yaml(path.read_text()) or {}
    except FileNotFoundError:
        raise ProjectError(f"{path}: not found") from None
    except yaml.YAMLError as error:
        # One line at the user's file and line (PyYAML's own text spans several, at "<unicode string>").
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        context = getattr(error, "context", None)
        raise ProjectError(f"{where}: not valid YAML: {problem}" + (f" ({context})" if context else "")
                           + "; fix the YAML syntax there") from None


def _full_key(project: str, key: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def load_project(folder: Path, stack: str | None = None, need_program: bool = True) -> Project:
    """Load the project in `folder`; the stack defaults to the only `Pulumi.<stack>.yaml`, else `dev`.
    `need_program=False` reads the config of a project whose program is elsewhere (the audit)."""
    folder = folder.resolve()
    project_file = next((folder / n for n in ("Pulumi.yaml", "Pulumi.yml") if (folder / n).exists()), None)
    if project_file is None:
        raise ProjectError(f"{folder}: no Pulumi.yaml here; PROGRAM_DIR must be a Pulumi project folder")
    data = _read_yaml(project_file)
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise ProjectError(f"{project_file}: needs a 'name' (the project name)")
    runtime = data.get("runtime")
    runtime_name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if not isinstance(runtime_name, str) or not runtime_name:
        raise ProjectError(f"{project_file}: needs a 'runtime' (python, nodejs, ...)")
    name: str = data["name"]
    options = runtime.get("options") if isinstance(runtime, dict) else None
    if options is not None and not isinstance(options, dict):
        raise ProjectError(f"{project_file}: runtime.options must be a map (toolchain, virtualenv, ...)")
    main = folder / str(data.get("main") or ".")
    if main.is_dir() and runtime_name == "python":  # a Node.js main stays a folder (its package.json says)
        main = main / "__main__.py"
    if need_program and not main.exists():
        raise ProjectError(f"{project_file}: the program {main} does not exist")

    # Stack files live beside the project file, or in `stackConfigDir`, with its extension
    # (sdk/go/common/workspace/paths.go ProjectStackPath).
    config_dir = data.get("stackConfigDir")
    if config_dir is not None and not isinstance(config_dir, str):
        raise ProjectError(f"{project_file}: stackConfigDir must be a folder path")
    stack_folder = (folder / config_dir) if config_dir else folder
    extension = project_file.suffix
    if stack is None:
        stacks = sorted(p.name[len("Pulumi."):-len(extension)] for p in stack_folder.glob(f"Pulumi.*{extension}"))
        stack = stacks[0] if len(stacks) == 1 else "dev"
    config: dict[str, Any] = {}
    declared = data.get("config") or {}
    if not isinstance(declared, dict):
        raise ProjectError(f"{project_file}: 'config' must be a map of keys to declarations")
    for key, declaration in declared.items():
        if isinstance(declaration, dict):
            if "default" in declaration:
                config[_full_key(name, key)] = declaration["default"]
            elif "value" in declaration:
                config[_full_key(name, key)] = declaration["value"]
        else:
            config[_full_key(name, key)] = declaration

    stack_file = stack_folder / f"Pulumi.{stack.rsplit('/', 1)[-1]}{extension}"
    environments: list[str] = []
    secret_keys: list[str] = []
    secrets: StackSecrets | None = None
    if stack_file.exists():
        stack_data = _read_yaml(stack_file)
        environments = _environment_imports(stack_data.get("environment") if isinstance(stack_data, dict) else None,
                                            stack_file)
        stack_config = stack_data.get("config") if isinstance(stack_data, dict) else None
        if stack_config is not None and not isinstance(stack_config, dict):
            raise ProjectError(f"{stack_file}: 'config' must be a map of keys to values")
        secure_values: dict[str, Any] = {}
        for key, value in (stack_config or {}).items():
            full = _full_key(name, key)
            if contains_secure(value):  # a ciphertext, or an object or list holding some
                secret_keys.append(full)
                secure_values[full] = value
                config.pop(full, None)
                continue
            config[full] = value
        if secure_values:
            state = stack_data if isinstance(stack_data, dict) else {}
            secrets = StackSecrets(stack_file, secure_values, _optional_str(state, "encryptionsalt", stack_file),
                                   _optional_str(state, "secretsprovider", stack_file),
                                   _optional_str(state, "encryptedkey", stack_file))
    elif stack is not None and any(stack_folder.glob(f"Pulumi.*{extension}")):
        raise ProjectError(f"{stack_file}: no such stack file (stacks here: "
                           + ", ".join(sorted(p.name for p in stack_folder.glob(f'Pulumi.*{extension}'))) + ")")
    elif config_dir:
        raise ProjectError(f"{stack_file}: no such stack file (Pulumi.yaml's stackConfigDir is {config_dir!r})")
    return Project(folder, name, runtime_name, main, stack, config, secret_keys, dict(options or {}), secrets,
                   environments, stack_file if stack_file.exists() else None)


def _environment_imports(value: Any, path: Path) -> list[str]:
    """The ESC environments a stack file imports: `environment: [a, b]` or `environment: {imports: [...]}`
    (sdk/go/common/workspace Environment)."""
    if value is None:
        return []
    imports = value.get("imports") if isinstance(value, dict) else value
    if not isinstance(imports, list) or not all(isinstance(i, (str, dict)) for i in imports):
        raise ProjectError(f"{path}: 'environment' must list the ESC environments the stack imports")
    return [i if isinstance(i, str) else next(iter(i), "") for i in imports]


def apply_environment_values(project: Project, values: dict[str, Any]) -> dict[str, str]:
    """Pin the stack's ESC environments with what `esc env open` printed for each (`--environment-values`):
    their `pulumiConfig` below the stack's own config, which wins; returns their
    `environmentVariables` for the program. Raises ProjectError naming an import left out."""
    missing = [name for name in project.environments if name not in values]
    if missing:
        raise ProjectError(f"--environment-values: no values for the environment(s) {', '.join(missing)} that "
                           f"{project.stack_file} imports; add each as {{\"<env>\": <`esc env open <env>` output>}}")
    variables: dict[str, str] = {}
    merged: dict[str, Any] = {}
    for name in project.environments:
        opened = values[name]
        if not isinstance(opened, dict):
            raise ProjectError(f"--environment-values: {name}: must be the JSON object `esc env open` prints")
        for key, value in (opened.get("pulumiConfig") or {}).items():
            merged[_full_key(project.name, key)] = value
        variables.update({str(k): str(v) for k, v in (opened.get("environmentVariables") or {}).items()})
    for key, value in merged.items():
        if key not in project.config and key not in project.secret_keys:
            project.config[key] = value
    return variables


def _optional_str(data: dict[str, Any], key: str, path: Path) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ProjectError(f"{path}: '{key}' must be a string, not {type(value).__name__}")
    return value or None


def config_for_runtime(project: Project) -> dict[str, str]:
    """The stack's plain config as the language host passes it: strings, objects as JSON (no
    secure values: `program_config` adds those)."""
    return {k: v if isinstance(v, str) else json.dumps(_go_numbers(v)) for k, v in project.config.items()}


def program_config(project: Project, environ: dict[str, str] | None = None) -> RuntimeConfig:
    """The config the program runs with: plain values, and each `secure:` value decrypted (a
    passphrase-encrypted stack and PULUMI_CONFIG_PASSPHRASE[_FILE] set) or a secret placeholder.
    Raises SecretsError for a wrong passphrase or a broken ciphertext."""
    return runtime_config(project.config, project.secrets, environ)


def pinned_environments(project: Project, values_file: Path | None) -> dict[str, str]:
    """The stack's ESC imports pinned by `--environment-values FILE`, or ProjectError: their values
    (config and environment variables) come from Pulumi Cloud, which an offline preview cannot reach.
    Returns the environment variables they set for the program."""
    if not project.environments:
        return {}
    if values_file is None:
        names = ", ".join(project.environments)
        raise ProjectError(f"{project.stack_file}: imports the ESC environment(s) {names}, whose config Pulumi Cloud "
                           "resolves: unverifiable offline; pin them with --environment-values FILE "
                           f'({{"{project.environments[0]}": <the output of `esc env open {project.environments[0]}`>}})')
    try:
        values = json.loads(values_file.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ProjectError(f"{values_file}: cannot read the environment values: {error}") from None
    if not isinstance(values, dict):
        raise ProjectError(f"{values_file}: must map each environment to its `esc env open` output")
    return apply_environment_values(project, values)


_REGION_KEYS = ("aws:region", "aws-native:region")
_ACCOUNT_LIST_KEYS = ("aws:allowedAccountIds", "aws:forbiddenAccountIds", "aws-native:allowedAccountIds")


def aws_region_problem(region: Any) -> str | None:
    """Why `region` is not an AWS region name (botocore's partition data: each partition's regionRegex), or None."""
    from bucketguard.partitions import partitions

    if not isinstance(region, str):
        return f"must be a region name (a string), not {type(region).__name__}"
    if any(re.match(p.region_regex, region) for p in partitions()):
        return None
    return f"{region!r} is not an AWS region name (e.g. us-east-1, eu-west-1, cn-north-1, us-gov-west-1)"


def check_provider_config(project: Project) -> None:
    """The provider settings the preview reads have the shape the provider takes, or ProjectError
    naming the stack file, the key, the value and the fix."""
    where = project.stack_file or project.folder / "Pulumi.yaml"
    for key in _REGION_KEYS:
        if key in project.config and (problem := aws_region_problem(project.config[key])) is not None:
            raise ProjectError(f"{where}: {key}: {problem}; set `{key}: us-east-1`")
    for key in _ACCOUNT_LIST_KEYS:
        value = project.config.get(key)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                value = [value]
        if value is not None and not (isinstance(value, list) and all(
                isinstance(v, str | int) and re.fullmatch(r"\d{12}", str(v)) for v in value)):
            raise ProjectError(f"{where}: {key}: {project.config[key]!r} must be a list of 12-digit account ids, "
                               f'e.g. `{key}: ["123456789012"]`')
