"""Shared test helpers: run programs under Pulumi's mock runtime (preview mode) and capture what
they register, exactly as the offline preview does."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
