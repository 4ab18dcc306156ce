"""Fixtures for the image tests: the real engine (scripts/engine.sh) and the images scripts/images.sh builds.

Containers run with --network none and are probed from inside (docker exec): no test traffic leaves them.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from images_support import CACHE, ROOT, run_images_sh


@pytest.fixture(scope="session")
def docker_env() -> dict[str, str]:
    """The environment for the docker CLI, pointing at the engine scripts/engine.sh makes reachable."""
    proc = subprocess.run([str(ROOT / "scripts" / "engine.sh")], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 or not proc.stdout.strip():
        pytest.fail(f"no container engine: scripts/engine.sh exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return {**os.environ, "DOCKER_HOST": proc.stdout.strip().splitlines()[-1]}


@pytest.fixture(scope="session")
def images(docker_env: dict[str, str]) -> dict[str, str]:
    """images.json after scripts/images.sh (a no-op when setup already built them)."""
    run_images_sh(ROOT, docker_env)
    refs = json.loads((CACHE / "images" / "images.json").read_text())
    assert set(refs) == {"backend", "frontend", "ops-mcp"}, refs
    return refs
