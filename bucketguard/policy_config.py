"""How a policy pack's config is built, as the engine builds it before `Configure`: each policy's
schema defaults, then the pack's initial config, then the user's `--policy-pack-config` file (keys
are policy names, or "all" to set every level), validated against each policy's JSON schema.
Used by the offline preview (for any pack) and by the audit (for bucketguard's own policies), and its
key checks by the pack's own `Configure` (`config_key_problem`, `unknown_policy_problem`).

Stricter than the engine on purpose: the engine validates each policy's properties against its
schema without forbidding extra properties (pulumi/pulumi pkg/resource/analyzer/config.go,
convertSchema), so a typo such as `allowedKMSKeys` or `{"enforcement": ...}` would silently leave a
policy at its defaults. Every key that is not a property of the policy's schema (or
`enforcementLevel`), and every name that is no policy of the pack, is refused with the closest match.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

LEVEL_NAMES = ("advisory", "mandatory", "remediate", "disabled")
LEVEL_KEY = "enforcementLevel"
ALL_POLICIES = "all"


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


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like `word` (difflib's ratio), None when there is none."""
    found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.0)
    return found[0] if found else None


def config_key_problem(policy: str, keys: Iterable[str], schema: Mapping[str, Any]) -> str | None:
    """Why a policy's config keys do not fit its schema: the first unknown key, the known ones and the
    closest match; None when every key is a property of the schema or `enforcementLevel`."""
    known = [*schema, LEVEL_KEY]
    for key in keys:
        if key not in known:
            return (f"{policy}: unknown property {key!r} (known: {', '.join(known)}); "
                    f"did you mean {closest(key, known)!r}?")
    return None


def unknown_policy_problem(name: str, policies: Iterable[str], pack_name: str) -> str | None:
    """Why a config key names no policy of the pack (with the closest one); None for a policy or "all"."""
    names = list(policies)
    if name == ALL_POLICIES or name in names:
        return None
    return (f"{name!r} is not a policy of pack {pack_name!r} (its policies: {', '.join(names)}); "
            f"did you mean {closest(name, names)!r}?")


def resolve_policy_config(
    policies: Iterable[PolicyDescription],
    user_config: Mapping[str, Any] | None,
    source: str,
    pack_name: str,
    initial: Mapping[str, tuple[str | None, Mapping[str, Any]]] | None = None,
) -> ResolvedConfig:
    """Each policy's (level, properties); raises PolicyConfigError naming `source` and the field."""
    import jsonschema  # the cli extra: the pack itself only uses the key checks above

    described = {p.name: p for p in policies}
    built: ResolvedConfig = {
        p.name: (p.level, {k: v["default"] for k, v in p.schema.items() if isinstance(v, dict) and "default" in v})
        for p in described.values()
    }
    for name, (level, props) in (initial or {}).items():
        if name in built:
            built[name] = (level or built[name][0], {**built[name][1], **props})
    for key, value in (user_config or {}).items():
        problem = unknown_policy_problem(key, built, pack_name)
        if problem:
            raise PolicyConfigError(f"{source}: {problem}")
        if not isinstance(value, (str, dict)):
            raise PolicyConfigError(f"{source}: {key}: expected an enforcement level or an object, got {value!r}")
        if isinstance(value, dict):
            schema = {} if key == ALL_POLICIES else described[key].schema
            problem = config_key_problem(key, value, schema)
            if problem:
                raise PolicyConfigError(f"{source}: {problem}")
        level = value if isinstance(value, str) else value.get(LEVEL_KEY)
        if level is not None and level not in LEVEL_NAMES:
            raise PolicyConfigError(f"{source}: {key}: enforcementLevel {level!r} is not one of {', '.join(LEVEL_NAMES)}")
        for name in list(built) if key == ALL_POLICIES else [key]:
            current_level, props = built[name]
            if isinstance(value, dict) and key != ALL_POLICIES:
                props = {**props, **{k: v for k, v in value.items() if k != LEVEL_KEY}}
            built[name] = (level or current_level, props)
    for name, (_, props) in built.items():
        policy = described[name]
        schema = {"type": "object", "properties": dict(policy.schema), "required": list(policy.required),
                  "additionalProperties": False}
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(props), key=lambda e: list(e.path))
        if errors:
            first = errors[0]
            where = ".".join(str(p) for p in first.path)
            message = first.message
            if first.validator == "pattern":  # the key's description, not the (long) regular expression
                key = str(first.path[0]) if first.path else ""
                hint = str(policy.schema.get(key, {}).get("description", ""))
                message = f"{first.instance!r} is not in the expected form" + (f"; {hint}" if hint else "")
            raise PolicyConfigError(f"{source}: {name}{'.' + where if where else ''}: {message}")
    return built
