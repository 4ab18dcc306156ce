"""The repository's ruff configuration (pyproject.toml) holds: lint clean and formatted."""

from __future__ import annotations

import subprocess
import sys

import pytest
from ops_helpers import ROOT


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]])
def test_ruff(command: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "ruff", *command], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
