"""Dynamic providers (`pulumi.dynamic.Resource`): their Check runs during a preview, in the provider
server the Python SDK ships (`python -m pulumi.dynamic`, which the CLI's `pulumi-resource-pulumi-python`
plugin starts in the program's interpreter and folder). The offline preview starts that same server,
in the program's interpreter, the first time a dynamic resource is registered, and calls its
`Configure` and `Check` as the engine does (pulumi/pulumi pkg/resource/plugin/provider_plugin.go).
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from bucketguard.preview.processes import first_line

START_TIMEOUT_SECONDS = 60.0
_GRPC_OPTIONS = [("grpc.enable_http_proxy", 0)]


_SIG, _SECRET = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(_SIG) == _SECRET


def _unwrap(value: Any) -> Any:
    if _is_secret(value):
        return _unwrap(value.get("value"))
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


class DynamicProviderError(Exception):
    """The dynamic provider server did not start or failed a call."""


class DynamicProviderHost:
    """`python -m pulumi.dynamic` in the program's interpreter, started on first use."""

    def __init__(self, python: str, env: dict[str, str], cwd: Path, project: str) -> None:
        self.python, self.env, self.cwd, self.project = python, env, cwd, project
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._stub: provider_pb2_grpc.ResourceProviderStub | None = None
        self._channel: grpc.Channel | None = None

    def _start(self) -> provider_pb2_grpc.ResourceProviderStub:
        if self._stub is not None:
            return self._stub
        process = subprocess.Popen([self.python, "-u", "-m", "pulumi.dynamic"], cwd=self.cwd,
                                   env={**self.env, "PULUMI_PROJECT": self.project},
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._process = process
        line = first_line(process, START_TIMEOUT_SECONDS)
        try:
            port = int(line.strip())
        except ValueError:
            self.close()
            raise DynamicProviderError(f"the dynamic provider server ({self.python} -m pulumi.dynamic) did not "
                                       "start") from None
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=_GRPC_OPTIONS)
        self._stub = provider_pb2_grpc.ResourceProviderStub(self._channel)
        self._stub.Configure(provider_pb2.ConfigureRequest(acceptSecrets=True, acceptResources=True))
        return self._stub

    def check(self, urn: str, inputs: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The provider's `check(olds, news)` for a new resource: (checked inputs, failure reasons)."""
        with self._lock:
            stub = self._start()
        # Its Configure answers acceptSecrets false: the engine sends plain values and marks secret again
        # what was secret (provider_plugin.go Check, KeepSecrets: acceptSecrets, annotateSecrets).
        secret_keys = {k for k, v in inputs.items() if _is_secret(v)}
        news = struct_pb2.Struct()
        news.update({k: _unwrap(v) for k, v in inputs.items()})
        try:
            response = stub.Check(provider_pb2.CheckRequest(urn=urn, olds=struct_pb2.Struct(), news=news))
        except grpc.RpcError as error:
            details = error.details() if hasattr(error, "details") else str(error)
            raise DynamicProviderError(f"{urn}: the dynamic provider's check failed: "
                                       f"{(details or '').strip().splitlines()[-1:] or ['']}") from None
        checked = json_format.MessageToDict(response.inputs)
        checked = {k: {_SIG: _SECRET, "value": v} if k in secret_keys else v for k, v in checked.items()}
        return checked, [f"{f.property}: {f.reason}" if f.property else f.reason for f in response.failures]

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        for stream in (self._process.stdout, self._process.stderr) if self._process is not None else ():
            if stream is not None:
                stream.close()
