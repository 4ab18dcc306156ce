"""Fixtures for the ops-mcp tests (helpers live in ops_helpers.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # pyhelm3 and the server run on asyncio


@pytest.fixture
def audit_log(tmp_path):
    return tmp_path / "audit.jsonl"
