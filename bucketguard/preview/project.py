"""Read a Pulumi project folder: `Pulumi.yaml` and `Pulumi.<stack>.yaml`, as the CLI would."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bucketguard.preview.languages import unsupported_runtime
from bucketguard.preview.secrets import RuntimeConfig, StackSecrets, contains_secure, runtime_config


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

    @property
    def program_dir(self) -> Path:
        """The folder the program runs in (the language host's ProgramDirectory and pwd)."""
        return self.main if self.main.is_dir() else self.main.parent

    @property
    def entry_point(self) -> str:
        """What the language host passes to its shim: `.` for a folder (or its `__main__.py`), else the file."""
        return "." if self.main.is_dir() or self.main.name == "__main__.py" else self.main.name


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ProjectError(f"{path}: not found") from None
    except yaml.YAMLError as error:
        raise ProjectError(f"{path}: not valid YAML: {error}") from None


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
    refused = unsupported_runtime(project_file, runtime_name)
    if refused is not None:
        raise ProjectError(refused)
    name: str = data["name"]
    options = runtime.get("options") if isinstance(runtime, dict) else None
    if options is not None and not isinstance(options, dict):
        raise ProjectError(f"{project_file}: runtime.options must be a map (toolchain, virtualenv, ...)")
    main = folder / str(data.get("main") or ".")
    if main.is_dir() and runtime_name == "python":  # a Node.js main stays a folder (its package.json says)
        main = main / "__main__.py"
    if need_program and not main.exists():
        raise ProjectError(f"{project_file}: the program {main} does not exist")

    if stack is None:
        stacks = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in folder.glob("Pulumi.*.yaml"))
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

    stack_file = folder / f"Pulumi.{stack}.yaml"
    secret_keys: list[str] = []
    secrets: StackSecrets | None = None
    if stack_file.exists():
        stack_data = _read_yaml(stack_file)
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
    elif stack is not None and any(folder.glob("Pulumi.*.yaml")):
        raise ProjectError(f"{stack_file}: no such stack file (stacks here: "
                           + ", ".join(sorted(p.name for p in folder.glob('Pulumi.*.yaml'))) + ")")
    return Project(folder, name, str(runtime_name), main, stack, config, secret_keys, dict(options or {}), secrets)


def _optional_str(data: dict[str, Any], key: str, path: Path) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ProjectError(f"{path}: '{key}' must be a string, not {type(value).__name__}")
    return value or None


def config_for_runtime(project: Project) -> dict[str, str]:
    """The stack's plain config as the language host passes it: strings, objects as JSON (no
    secure values: `program_config` adds those)."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in project.config.items()}


def program_config(project: Project, environ: dict[str, str] | None = None) -> RuntimeConfig:
    """The config the program runs with: plain values, and each `secure:` value decrypted (a
    passphrase-encrypted stack and PULUMI_CONFIG_PASSPHRASE[_FILE] set) or a secret placeholder.
    Raises SecretsError for a wrong passphrase or a broken ciphertext."""
    return runtime_config(project.config, project.secrets, environ)
