"""Shared test helpers: run programs under Pulumi's mock runtime (preview mode) and capture what
they register, exactly as the offline preview does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from audit_server import moto_endpoint, reset, s3_client

from bucketguard.preview.analyzer import PolicyPackProcess

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """moto's S3/STS/Organizations server, one per test module (the audit's tests)."""
    yield from moto_endpoint()


@pytest.fixture
def s3(endpoint: str) -> Any:
    """A client of that server, with the server's state reset."""
    reset(endpoint)
    return s3_client(endpoint)


@pytest.fixture(scope="module")
def pack() -> Iterator[PolicyPackProcess]:
    """bucketguard's pack started as the engine starts it, with its default config (one per module)."""
    with PolicyPackProcess(ROOT / "policies", project="proj", stack="dev") as process:
        process.configure()
        yield process
