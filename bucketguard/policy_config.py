"""How a policy pack's config is built, as the engine builds it before `Configure`: each policy's
schema defaults, then the pack's initial config, then the user's `--policy-pack-config` file (keys
are policy names, or "all" to set every level), validated against each policy's JSON schema.
Used by the offline preview (for any pack) and by the audit (for bucketguard's own policies)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema

LEVEL_NAMES = ("advisory", "mandatory", "remediate", "disabled")


class PolicyConfigError(ValueError):
    """A config that names no policy of the pack, a bad level, or properties its schema rejects."""


@dataclass(frozen=True)
class PolicyDescription:
    """What the config builder needs to know of a policy."""

    name: str
    level: str
    schema: Mapping[str, Any]  # JSON schema `properties`
    required: tuple[str, ...] = ()


ResolvedConfig = dict[str, tuple[str, dict[str, Any]]]  # policy -> (level, properties)


def resolve_policy_config(
    policies: Iterable[PolicyDescription],
    user_config: Mapping[str, Any] | None,
    source: str,
    pack_name: str,
    initial: Mapping[str, tuple[str | None, Mapping[str, Any]]] | None = None,
) -> ResolvedConfig:
    """Each policy's (level, properties); raises PolicyConfigError naming `source` and the field."""
    described = {p.name: p for p in policies}
    built: ResolvedConfig = {
        p.name: (p.level, {k: v["default"] for k, v in p.schema.items() if isinstance(v, dict) and "default" in v})
        for p in described.values()
    }
    for name, (level, props) in (initial or {}).items():
        if name in built:
            built[name] = (level or built[name][0], {**built[name][1], **props})
    for key, value in (user_config or {}).items():
        if key != "all" and key not in built:
            raise PolicyConfigError(f"{source}: {key!r} is not a policy of pack {pack_name!r} "
                                    f"(its policies: {', '.join(built)})")
        if not isinstance(value, (str, dict)):
            raise PolicyConfigError(f"{source}: {key}: expected an enforcement level or an object, got {value!r}")
        level = value if isinstance(value, str) else value.get("enforcementLevel")
        if level is not None and level not in LEVEL_NAMES:
            raise PolicyConfigError(f"{source}: {key}: enforcementLevel {level!r} is not one of {', '.join(LEVEL_NAMES)}")
        for name in list(built) if key == "all" else [key]:
            current_level, props = built[name]
            if isinstance(value, dict) and key != "all":
                props = {**props, **{k: v for k, v in value.items() if k != "enforcementLevel"}}
            built[name] = (level or current_level, props)
    for name, (_, props) in built.items():
        policy = described[name]
        schema = {"type": "object", "properties": dict(policy.schema), "required": list(policy.required),
                  "additionalProperties": False}
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(props), key=lambda e: list(e.path))
        if errors:
            where = ".".join(str(p) for p in errors[0].path)
            raise PolicyConfigError(f"{source}: {name}{'.' + where if where else ''}: {errors[0].message}")
    return built
