"""Give every invoke result the shape its SDK declares, inside the program's own interpreter.

Generated Pulumi SDK code calls `pulumi.runtime.invoke(token, args, opts=opts, typ=GetZoneResult)`
(or `invoke_output`, `invoke_async`, `invoke_single`, `invoke_output_single`, depending on the SDK
version) and then reads every field of the result: a field the offline engine did not answer
would be None where the SDK promises a `str`, and the program would die on it. `install()` wraps
those entry points so that each field the result type declares (its `@pulumi.getter` properties
and their return type hints) holds a plausible value of its type: the invoke's own argument of the
same name when there is one, else a placeholder shaped by the field's name and type (ARNs, account,
region and partition agree with the stack's config).

This file runs in the program's interpreter, with the program's own `pulumi` (any 3.x), and imports
nothing else outside the standard library: bucketguard is not installed there. Keep it compatible
with Python 3.8.
"""

from __future__ import annotations

import enum
import functools
import inspect
import json
import os
import sys
import typing
from collections.abc import Callable
from typing import Any

CONTEXT_ENV = "BUCKETGUARD_INVOKE_CONTEXT"  # JSON {"region", "accountId", "partition"}
# A file to append one JSON line {"token": ..., "fields": [...]} to for each new placeholder (read by
# bucketguard.preview.invokes.read_placeholder_report once the program is done).
REPORT_ENV = "BUCKETGUARD_INVOKE_REPORT"
_PULUMI_NAME = "_pulumi_name"  # set on getter functions by @pulumi.getter, every pulumi 3.x
_PULUMI_OUTPUT_TYPE = "_pulumi_output_type"  # set on classes by @pulumi.output_type
# In every made-up string whose value matters (ids, names, ARNs): the preview turns a value built
# from one into an unknown before policies see it (bucketguard.preview.invokes.PLACEHOLDER_MARKER).
PLACEHOLDER_MARKER = "offline-placeholder"
_MAX_DEPTH = 6  # nested result types are filled this deep (recursive schemas exist)

# token -> pulumi names of the fields given placeholders, in the order first seen
placeholdered: dict[str, list[str]] = {}
_report: Callable[[str, list[str]], None] | None = None


class InvokeContext:
    """What placeholders must agree with: the stack's region, account and partition."""

    def __init__(self, region: str = "us-east-1", account_id: str = "999999999999", partition: str = "aws",
                 made_up: dict[str, str] | None = None, dns_suffix: str = "amazonaws.com") -> None:
        # The partition and its DNS suffix come from bucketguard (botocore's partition data), which
        # always sends them: this interpreter may have no botocore.
        self.region = region
        self.account_id = account_id
        self.partition = partition
        self.dns_suffix = dns_suffix
        # Which of them bucketguard made up (not from the stack's config nor pinned):
        # {"accountId": ..., "region": ..., "partition": ...}
        self.made_up = dict(made_up or {})

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> InvokeContext:
        """From BUCKETGUARD_INVOKE_CONTEXT, else the region in the program's PULUMI_CONFIG."""
        environ = dict(os.environ) if environ is None else environ
        try:
            given = json.loads(environ.get(CONTEXT_ENV) or "{}")
        except ValueError:
            given = {}
        try:
            config = json.loads(environ.get("PULUMI_CONFIG") or "{}")
        except ValueError:
            config = {}
        region = given.get("region") or config.get("aws:region") or config.get("aws-native:region") or "us-east-1"
        return cls(str(region), str(given.get("accountId") or "999999999999"), str(given.get("partition") or "aws"),
                   {str(k): str(v) for k, v in (given.get("madeUp") or {}).items()},
                   str(given.get("dnsSuffix") or "amazonaws.com"))


def _marker() -> Any:
    """The made-up marking module, when the shim loaded it (the offline preview's own runs)."""
    return sys.modules.get("_bucketguard_made_up")


def _mark_placeholder(value: Any, origin: str) -> Any:
    module = _marker()
    if module is None:
        return value
    if isinstance(value, list):
        return [module.made_up(v, origin) for v in value]
    return module.made_up(value, origin)


def _made_up_text(value: str, context: InvokeContext) -> bool:
    """A string holding a placeholder or a made-up account or region (a made-up partition only
    when it is the whole value: its text is everywhere)."""
    if PLACEHOLDER_MARKER in value:
        return True
    for key in ("accountId", "region"):
        text = context.made_up.get(key)
        if text and text in value:
            return True
    return bool(context.made_up.get("partition")) and value == context.made_up["partition"]


def mark_made_up_fields(instance: Any, cls: type, token: str, context: InvokeContext, depth: int = 0) -> None:
    """Mark every field of a result whose value was made up (placeholders and made-up answers)."""
    module = _marker()
    if module is None or depth > _MAX_DEPTH:
        return
    import pulumi

    for python_name, pulumi_name, _hint in declared_fields(cls):
        current = pulumi.get(instance, python_name)
        origin = f"{token} {pulumi_name}"
        if isinstance(current, str) and not module.is_made_up(current) and _made_up_text(current, context):
            pulumi.set(instance, python_name, module.made_up(current, origin))
        elif isinstance(current, list) and any(isinstance(v, str) and _made_up_text(v, context) for v in current):
            pulumi.set(instance, python_name, [module.made_up(v, origin) if isinstance(v, str) else v
                                               for v in current])
        elif is_output_type(type(current)):
            mark_made_up_fields(current, type(current), token, context, depth + 1)


# ---------------------------------------------------------------- reading a result type


def is_output_type(cls: Any) -> bool:
    return isinstance(cls, type) and hasattr(cls, _PULUMI_OUTPUT_TYPE)


def declared_fields(cls: type) -> list[tuple[str, str, Any]]:
    """(python name, pulumi name, type hint) of every `@pulumi.getter` property of an output type."""
    fields: list[tuple[str, str, Any]] = []
    seen = set()
    for klass in cls.__mro__:
        for python_name, member in vars(klass).items():
            if python_name in seen or not isinstance(member, property) or member.fget is None:
                continue
            pulumi_name = getattr(member.fget, _PULUMI_NAME, None)
            if pulumi_name is None:
                continue
            seen.add(python_name)
            fields.append((python_name, pulumi_name, _return_hint(member.fget)))
    return fields


def _return_hint(getter: Callable[..., Any]) -> Any:
    try:
        return typing.get_type_hints(getter).get("return", Any)
    except Exception:  # an unresolvable forward reference: fall back to the raw annotation
        annotation = getattr(inspect.unwrap(getter), "__annotations__", {}).get("return", Any)
        if isinstance(annotation, str):
            namespace = getattr(inspect.unwrap(getter), "__globals__", {})
            try:
                return eval(annotation, dict(namespace))  # the SDK's own annotation text
            except Exception:
                return str if "str" in annotation else Any
        return annotation


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    if typing.get_origin(hint) is typing.Union or type(hint).__name__ == "UnionType":
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(members) < len(typing.get_args(hint)):
            return (members[0] if len(members) == 1 else typing.Union[tuple(members)]), True  # noqa: UP007 (runs on Python 3.8)
    return hint, False


# ---------------------------------------------------------------- plausible values


def _snake(name: str) -> str:
    out: list[str] = []
    for char in name:
        if char.isupper() and out:
            out.append("_")
        out.append(char.lower())
    return "".join(out)


def _service(token: str) -> str:
    """`aws:route53/getZone:getZone` -> `route53`; `aws:index/...` -> `aws`."""
    parts = token.split(":")
    module = parts[1].split("/")[0] if len(parts) > 1 else ""
    return module if module and module != "index" else parts[0]


def placeholder_string(field: str, token: str, context: InvokeContext) -> str:
    """A plausible string for a result field named `field` (snake or camel case)."""
    name = _snake(field)
    function = token.rsplit(":", 1)[-1] if ":" in token else token
    provider = token.split(":", 1)[0]
    if name == "region" or name.endswith("_region"):
        return context.region
    if name in ("account_id", "owner_id", "account", "owner_account_id", "aws_account_id"):
        return context.account_id
    if name == "partition":
        return context.partition
    if name.endswith("arn"):
        if provider in ("aws", "aws-native"):
            where = f"{context.partition}:{_service(token)}:{context.region}:{context.account_id}"
            return f"arn:{where}:{function}/{PLACEHOLDER_MARKER}"
        return f"{PLACEHOLDER_MARKER}-{name}"
    if name.endswith("availability_zone"):
        return f"{context.region}a"
    if "ipv6_cidr" in name:
        return "2600:1f18:0:100::/56"
    if "cidr" in name:
        return "10.0.0.0/16"
    if name == "json" or name.endswith(("_json", "policy", "document")):
        return "{}"
    if name.endswith(("url", "endpoint")):
        return f"https://{PLACEHOLDER_MARKER}.invalid"
    if name.endswith("dns_suffix"):
        return context.dns_suffix
    return f"{PLACEHOLDER_MARKER}-{name.replace('_', '-')}"


def placeholder_value(hint: Any, field: str, token: str, context: InvokeContext, depth: int = 0) -> Any:
    """A plausible value of type `hint` for a field named `field`."""
    hint, _ = _unwrap_optional(hint)
    origin = typing.get_origin(hint)
    if hint is bool:
        return False
    if hint is int:
        return 1
    if hint is float:
        return 1.0
    if hint is Any:
        # SDKs type JSON-valued fields (policies, documents) as Any, and their generated result
        # classes check them with `if value and not isinstance(value, dict)`: an empty object is a
        # JSON value that passes whatever that type is (aws-native's kms.getKey `keyPolicy`).
        return {}
    if hint is str or isinstance(hint, (str, typing.ForwardRef)):
        return placeholder_string(field, token, context)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return next(iter(hint))
    if is_output_type(hint):
        return build_instance(hint, {}, token, context, depth + 1) if depth < _MAX_DEPTH else None
    if origin in (list, tuple, typing.Sequence, _abc("Sequence")):
        args = typing.get_args(hint)
        item = placeholder_value(args[0] if args else str, field, token, context, depth + 1)
        return [] if item is None else [item]
    if origin in (dict, typing.Mapping, _abc("Mapping")):
        return {}
    if origin is typing.Union:  # a union of several types: the first one's value
        return placeholder_value(typing.get_args(hint)[0], field, token, context, depth)
    return placeholder_string(field, token, context)


def _abc(name: str) -> Any:
    import collections.abc

    return getattr(collections.abc, name)


def _plain(value: Any) -> bool:
    """A value that can stand in a result as it is (not an Output, awaitable or resource)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _fits(value: Any, hint: Any) -> bool:
    hint, _ = _unwrap_optional(hint)
    if hint in (str, int, float, bool):
        return isinstance(value, hint) and not (hint is int and isinstance(value, bool))
    origin = typing.get_origin(hint)
    if origin in (list, tuple, typing.Sequence, _abc("Sequence")):
        return isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float, bool)) for v in value)
    if origin in (dict, typing.Mapping, _abc("Mapping")):
        return isinstance(value, dict)
    return False


def fill(instance: Any, cls: type, args: dict[str, Any], token: str, context: InvokeContext,
         depth: int = 0, fill_optional: bool = True) -> list[str]:
    """Give every declared field of `instance` that holds None a plausible value; return the pulumi
    names of the fields given placeholders. An argument of the same name is echoed (a field that
    is an argument the program left unset stays None when its type allows it, and so does an
    optional field of a nested value that was given, with `fill_optional=False`)."""
    import pulumi

    filled: list[str] = []
    for python_name, pulumi_name, hint in declared_fields(cls):
        current = pulumi.get(instance, python_name)
        if current is not None:
            if depth < _MAX_DEPTH:
                filled.extend(f"{pulumi_name}.{f}" for f in _fill_nested(current, hint, token, context, depth))
            continue
        _, optional = _unwrap_optional(hint)
        if optional and not fill_optional:
            continue
        if pulumi_name in args:
            given = args[pulumi_name]
            if given is None and optional:
                continue
            if given is not None and _plain(given) and _fits(given, hint):
                pulumi.set(instance, python_name, list(given) if isinstance(given, tuple) else given)
                continue
        value = placeholder_value(hint, pulumi_name, token, context, depth)
        if value is None:
            continue
        pulumi.set(instance, python_name, _mark_placeholder(value, f"{token} {pulumi_name}"))
        filled.append(pulumi_name)
    return filled


def _fill_nested(value: Any, hint: Any, token: str, context: InvokeContext, depth: int) -> list[str]:
    hint, _ = _unwrap_optional(hint)
    if is_output_type(hint) and isinstance(value, hint):
        return fill(value, hint, {}, token, context, depth + 1, fill_optional=False)
    args = typing.get_args(hint)
    if isinstance(value, list) and args and is_output_type(args[0]):
        found: list[str] = []
        for item in value:
            if isinstance(item, args[0]):
                found.extend(f for f in fill(item, args[0], {}, token, context, depth + 1, False) if f not in found)
        return found
    return []


def build_instance(cls: type, args: dict[str, Any], token: str, context: InvokeContext, depth: int = 0) -> Any:
    """A new instance of output type `cls` with every field filled."""
    names = [python_name for python_name, _, _ in declared_fields(cls)]
    try:
        instance = cls(**{n: None for n in names})
    except TypeError:  # a constructor that refuses None for required fields: build it bare
        instance = object.__new__(cls)
    fill(instance, cls, args, token, context, depth)
    return instance


# ---------------------------------------------------------------- wrapping the SDK


def shape_result(token: str, props: Any, typ: type | None, value: Any, context: InvokeContext) -> Any:
    """The invoke's result with every field of `typ` filled; records what was placeholdered."""
    if typ is None or not is_output_type(typ):
        return value
    args = props if isinstance(props, dict) else {}
    if value is None:
        value = build_instance(typ, args, token, context)
        filled = [pulumi_name for _, pulumi_name, _ in declared_fields(typ)]
    elif isinstance(value, typ):
        filled = fill(value, typ, args, token, context)
    else:
        return value
    if filled:
        _record(token, filled)
    mark_made_up_fields(value, typ, token, context)
    return value


def _record(token: str, fields: list[str]) -> None:
    known = placeholdered.setdefault(token, [])
    new = [f for f in fields if f not in known]
    known.extend(new)
    if new and _report is not None:
        _report(token, new)


def _typ_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> type | None:
    typ = kwargs.get("typ", args[3] if len(args) > 3 else None)
    return typ if isinstance(typ, type) else None


def _props_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return kwargs.get("props", args[1] if len(args) > 1 else None)


def _token_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    return str(kwargs.get("tok", args[0] if args else ""))


def _wrap_invoke(original: Callable[..., Any], context: InvokeContext) -> Callable[..., Any]:
    @functools.wraps(original)
    def invoke(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if getattr(result, "is_known", True) is False:  # unknown inputs during preview: the engine's answer
            return result
        result.value = shape_result(_token_of(args, kwargs), _props_of(args, kwargs), _typ_of(args, kwargs),
                                    result.value, context)
        return result

    invoke._bucketguard_shapes = True  # type: ignore[attr-defined]
    return invoke


def _wrap_invoke_async(original: Callable[..., Any], context: InvokeContext) -> Callable[..., Any]:
    @functools.wraps(original)
    async def invoke_async(*args: Any, **kwargs: Any) -> Any:
        value = await original(*args, **kwargs)
        return shape_result(_token_of(args, kwargs), _props_of(args, kwargs), _typ_of(args, kwargs), value, context)

    invoke_async._bucketguard_shapes = True  # type: ignore[attr-defined]
    return invoke_async


def _wrap_invoke_output(original: Callable[..., Any], context: InvokeContext) -> Callable[..., Any]:
    @functools.wraps(original)
    def invoke_output(*args: Any, **kwargs: Any) -> Any:
        output = original(*args, **kwargs)
        token, props, typ = _token_of(args, kwargs), _props_of(args, kwargs), _typ_of(args, kwargs)
        if typ is None:
            return output
        # apply keeps the output's secretness and dependencies; an unknown output stays unknown
        return output.apply(lambda value: shape_result(token, props, typ, value, context))

    invoke_output._bucketguard_shapes = True  # type: ignore[attr-defined]
    return invoke_output


def _file_reporter(path: str) -> Callable[[str, list[str]], None]:
    def append(token: str, fields: list[str]) -> None:
        with open(path, "a") as stream:  # one write per line: a crash loses no earlier line
            stream.write(json.dumps({"token": token, "fields": fields}) + "\n")

    return append


_WRAPPERS = {
    "invoke": _wrap_invoke,
    "invoke_async": _wrap_invoke_async,
    "invoke_output": _wrap_invoke_output,
}


def install(context: InvokeContext | None = None,
            report: Callable[[str, list[str]], None] | None = None) -> list[str]:
    """Wrap the program's SDK invoke entry points (those this SDK version has) so results are
    complete; `report(token, fields)` is called for each new placeholder. Returns the entry points
    wrapped. Idempotent. `invoke_single` and `invoke_output_single` call the wrapped module
    functions, so they are covered too."""
    global _report
    report_path = os.environ.get(REPORT_ENV)
    _report = report or (_file_reporter(report_path) if report_path else None)
    import pulumi.runtime

    invoke_module = sys.modules.get("pulumi.runtime.invoke")
    if invoke_module is None:
        import importlib

        invoke_module = importlib.import_module("pulumi.runtime.invoke")
    context = context or InvokeContext.from_environment()
    wrapped = []
    for name, wrapper in _WRAPPERS.items():
        original = getattr(invoke_module, name, None)
        if original is None or getattr(original, "_bucketguard_shapes", False):
            continue
        replacement = wrapper(original, context)
        setattr(invoke_module, name, replacement)
        if getattr(pulumi.runtime, name, None) is original:
            setattr(pulumi.runtime, name, replacement)
        wrapped.append(name)
    return wrapped


def uninstall() -> None:
    """Restore the SDK's own invoke entry points and forget what was recorded."""
    global _report
    import pulumi.runtime

    invoke_module = sys.modules.get("pulumi.runtime.invoke")
    for name in _WRAPPERS:
        current = getattr(invoke_module, name, None)
        original = getattr(current, "__wrapped__", None)
        if original is None or not getattr(current, "_bucketguard_shapes", False):
            continue
        setattr(invoke_module, name, original)
        if getattr(pulumi.runtime, name, None) is current:
            setattr(pulumi.runtime, name, original)
    placeholdered.clear()
    _report = None
