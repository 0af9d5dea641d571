"""Mark every answer the offline preview makes up, and see when the program reads one.

Runs in the program's interpreter (standard library and the program's own pulumi only; keep it
compatible with Python 3.8). A made-up value (an invoke placeholder, a made-up account, region or
partition, an undecrypted `secure:` config value) is handed to the program as a subclass of its type
(`MadeUpStr`, `MadeUpInt`, `MadeUpFloat`; a made-up boolean is a `MadeUpInt` of 0, since `bool`
cannot be subclassed) that remembers where it came from. When code outside the Pulumi SDKs *decides*
on one (compares, hashes, tests its truth or length, indexes, iterates, converts or calls a string
method on it) the read is appended to the file BUCKETGUARD_MADE_UP_REPORT names, and bucketguard
makes the verdict "unverifiable". Building a string from a made-up string (f-string, `str()`, `%`,
`+`, `format`) is not a read: the built string still holds the made-up text, which bucketguard turns
into an unknown before any policy sees it. A made-up number or boolean that reaches a resource's
inputs is sent as unknown.

Not seen: code that reads a string's characters directly in C (the `re` module, pydantic-core,
`str.join` of a list holding one, `int()` of one is seen), and `x is False` on a made-up boolean.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

REPORT_ENV = "BUCKETGUARD_MADE_UP_REPORT"  # where reads are appended, one JSON line each
CONFIG_ENV = "BUCKETGUARD_MADE_UP_CONFIG"  # JSON list of config keys whose values are made up
_seen: set[tuple[str, str]] = set()
_SDK_PACKAGES: tuple[str, ...] = ()
_HERE = os.path.dirname(os.path.abspath(__file__))


def _sdk_folders() -> tuple[str, ...]:
    """Folders of the Pulumi SDKs (pulumi, pulumi_aws, ...): their own handling of a value is not the
    program deciding on it. `pulumi/config.py` is the exception: it parses what the program asks for
    (get_bool, get_int, get_object)."""
    global _SDK_PACKAGES
    if not _SDK_PACKAGES:
        folders = [_HERE + os.sep]
        for name, module in list(sys.modules.items()):
            if (name == "pulumi" or name.startswith("pulumi_")) and "." not in name:
                path = getattr(module, "__file__", None)
                if path:
                    folders.append(os.path.dirname(os.path.abspath(path)) + os.sep)
        _SDK_PACKAGES = tuple(folders)
    return _SDK_PACKAGES


def _caller() -> str | None:
    """`file:line` of the code that decided on the value, or None when it is an SDK's own."""
    frame = sys._getframe(3)
    filename = os.path.abspath(frame.f_code.co_filename)
    if filename.endswith(os.sep + os.path.join("pulumi", "config.py")):
        frame = frame.f_back or frame  # the program's call to Config.get_bool & co.
        while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(_sdk_folders()):
            frame = frame.f_back
        return f"{frame.f_code.co_filename}:{frame.f_lineno}"
    if filename.startswith(_sdk_folders()):
        return None
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def record(origin: str, operation: str) -> None:
    where = _caller()
    if where is None or (origin, operation) in _seen:
        return
    _seen.add((origin, operation))
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "a") as stream:
            stream.write(json.dumps({"origin": origin, "operation": operation, "where": where}) + "\n")


class MadeUpStr(str):
    """A made-up string; `origin` says what made it up (`<invoke token> <field>`, `config <key>`)."""

    _bucketguard_origin: str

    def __new__(cls, value: str, origin: str) -> MadeUpStr:
        made = super().__new__(cls, value)
        made._bucketguard_origin = origin
        return made

    def __reduce__(self) -> Any:
        return (MadeUpStr, (str.__str__(self), self._bucketguard_origin))

    def __deepcopy__(self, memo: Any) -> MadeUpStr:
        return self

    def __copy__(self) -> MadeUpStr:
        return self

    # Building strings: not a read (the text travels on and is masked by bucketguard).
    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(str.__str__(self), spec)

    def __add__(self, other: Any) -> str:
        return str(str.__str__(self) + other)

    def __radd__(self, other: Any) -> str:
        return str(other + str.__str__(self))

    def __mod__(self, other: Any) -> str:
        return str(str.__str__(self) % other)

    def __rmod__(self, other: Any) -> Any:
        return NotImplemented

    def __repr__(self) -> str:
        return str.__repr__(str.__str__(self))


class MadeUpInt(int):
    """A made-up integer (or boolean, as 0 or 1)."""

    _bucketguard_origin: str

    def __new__(cls, value: int, origin: str) -> MadeUpInt:
        made = super().__new__(cls, value)
        made._bucketguard_origin = origin
        return made

    def __reduce__(self) -> Any:
        return (MadeUpInt, (int.__int__(self), self._bucketguard_origin))


class MadeUpFloat(float):
    """A made-up float."""

    _bucketguard_origin: str

    def __new__(cls, value: float, origin: str) -> MadeUpFloat:
        made = super().__new__(cls, value)
        made._bucketguard_origin = origin
        return made

    def __reduce__(self) -> Any:
        return (MadeUpFloat, (float.__float__(self), self._bucketguard_origin))


# Object machinery that is not reading the value.
_INTERNALS = {"__new__", "__init__", "__reduce__", "__reduce_ex__", "__getattribute__", "__setattr__",
              "__delattr__", "__class__", "__init_subclass__", "__subclasshook__", "__getnewargs__", "__sizeof__",
              "__dir__", "__doc__", "__getstate__", "__deepcopy__", "__copy__", "__class_getitem__"}
# Building a string from a made-up string: not a read (defined on MadeUpStr above).
_STRING_BUILDING = {"__str__", "__format__", "__add__", "__radd__", "__mod__", "__rmod__", "__repr__"}
_PLAIN = {str: str.__str__, int: int.__int__, float: float.__float__}


def _reading(base: type, name: str) -> Any:
    original = getattr(base, name)
    plain = _PLAIN[base]

    def read(self: Any, *args: Any, **kwargs: Any) -> Any:
        record(self._bucketguard_origin, name.strip("_"))
        return original(plain(self), *args, **kwargs)

    read.__name__ = name
    return read


def _mark_reads() -> None:
    for cls, base in ((MadeUpStr, str), (MadeUpInt, int), (MadeUpFloat, float)):
        skipped = _INTERNALS | (_STRING_BUILDING if base is str else set())
        for name in dir(base):
            if name not in skipped and callable(getattr(base, name, None)):
                setattr(cls, name, _reading(base, name))

    def converter(name: str, convert: Any) -> Any:
        def read(self: Any) -> Any:
            record(self._bucketguard_origin, name.strip("_"))
            return convert(str.__str__(self))

        return read

    # str has none of these slots: truth is its length, int() and float() parse it.
    for name, convert in (("__bool__", bool), ("__int__", int), ("__float__", float)):
        setattr(MadeUpStr, name, converter(name, convert))


_mark_reads()


def made_up(value: Any, origin: str) -> Any:
    """`value` marked as made up (strings, numbers and booleans; other values as they are)."""
    if isinstance(value, (MadeUpStr, MadeUpInt, MadeUpFloat)):
        return value
    if isinstance(value, bool):
        return MadeUpInt(int(value), origin)
    if isinstance(value, str):
        return MadeUpStr(value, origin)
    if isinstance(value, int):
        return MadeUpInt(value, origin)
    if isinstance(value, float):
        return MadeUpFloat(value, origin)
    return value


def is_made_up(value: Any) -> bool:
    return isinstance(value, (MadeUpStr, MadeUpInt, MadeUpFloat))


def _hook_serialization() -> None:
    """A made-up number or boolean reaching a resource's inputs is sent as unknown (rpc.UNKNOWN):
    unlike a string's text, nothing downstream could tell it from a real one."""
    import pulumi.runtime.rpc as rpc

    original = rpc.serialize_property
    if getattr(original, "_bucketguard_made_up", False):
        return

    async def serialize_property(value: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(value, (MadeUpInt, MadeUpFloat)):
            value = rpc.UNKNOWN
        return await original(value, *args, **kwargs)

    serialize_property._bucketguard_made_up = True  # type: ignore[attr-defined]
    rpc.serialize_property = serialize_property


def _mark_config() -> None:
    """Undecrypted secure config values reach the program marked (their keys in CONFIG_ENV)."""
    try:
        keys = json.loads(os.environ.get(CONFIG_ENV) or "[]")
    except ValueError:
        keys = []
    if not keys:
        return
    import pulumi.runtime.config as runtime_config

    store: Any = runtime_config.CONFIG
    values: Any = store if isinstance(store, dict) else store.get()  # a ContextVar on newer SDKs
    for key in keys:
        if key in values and isinstance(values[key], str):
            values[key] = MadeUpStr(values[key], f"config {key}")


def install() -> None:
    _hook_serialization()
    _mark_config()
