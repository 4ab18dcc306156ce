"""Helpers for the image tests: the four processes, and containers of them run read-only without network.

Containers run with --network none and are probed from inside (docker exec): no test traffic leaves them.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("TODO_CHATBOT_CACHE", Path.home() / ".cache" / "todo-chatbot"))


@dataclass(frozen=True)
class Process:
    """One of the four processes the images run, as the chart runs them."""

    image: str  # key in images.json
    port: int
    health: str
    probe: str  # interpreter inside the image: python or node
    writable: tuple[str, ...]  # where it writes, as the chart mounts emptyDirs (the root filesystem is read-only)
    command: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


PROCESSES = {
    "backend": Process("backend", 8000, "/health", "python", ("/data",)),
    "task-mcp": Process(
        "backend", 8001, "/health", "python", ("/data",), ("python", "-m", "app.task_mcp", "--transport", "http", "--host", "0.0.0.0", "--port", "8001")
    ),
    "frontend": Process("frontend", 3000, "/api/health", "node", ("/app/data", "/app/.next/cache"), env={"BETTER_AUTH_SECRET": secrets.token_urlsafe(32)}),
    "ops-mcp": Process("ops-mcp", 8002, "/health", "python", ("/var/lib/ops-mcp",), env={"OPS_MCP_HTTP_TOKEN": secrets.token_hex(24)}),
}


def run_images_sh(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(root / "scripts" / "images.sh"), *args], capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        pytest.fail(f"{root}/scripts/images.sh exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return proc


def docker(env: dict[str, str], *args: str, check: bool = True, timeout: float = 60, input: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, env=env, timeout=timeout, input=input)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


@dataclass
class Running:
    name: str
    process: Process
    env: dict[str, str]

    def exec(self, *argv: str, check: bool = False, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return docker(self.env, "exec", self.name, *argv, check=check, timeout=timeout)

    def get(self, path: str) -> subprocess.CompletedProcess[str]:
        """GET http://127.0.0.1:<port><path> from inside the container; exit 0 on a 2xx answer."""
        url = f"http://127.0.0.1:{self.process.port}{path}"
        if self.process.probe == "node":
            code = "fetch(process.argv[1]).then(r => r.text().then(t => { console.log(r.status, t); process.exit(r.ok ? 0 : 1) }), e => { console.error(String(e)); process.exit(2) })"
            return self.exec("node", "-e", code, url)
        code = "import sys, urllib.request\nwith urllib.request.urlopen(sys.argv[1], timeout=2) as r: print(r.status, r.read().decode())"
        return self.exec("python", "-c", code, url)

    def state(self) -> dict:
        return json.loads(docker(self.env, "inspect", "-f", "{{json .State}}", self.name).stdout)

    def logs(self) -> str:
        proc = docker(self.env, "logs", "--tail", "40", self.name, check=False)
        return proc.stdout + proc.stderr

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self.state()["Running"]:
                pytest.fail(f"{self.name} exited {self.state()['ExitCode']} before answering:\n{self.logs()}")
            if self.get(self.process.health).returncode == 0:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"{self.process.health} did not answer within {timeout}s:\n{self.logs()}")
            time.sleep(0.3)

    def terminate(self, timeout: float = 10) -> tuple[int, float]:
        """SIGTERM (what the kubelet sends), then the exit code and the seconds it took."""
        start = time.monotonic()
        docker(self.env, "kill", "--signal", "TERM", self.name)
        proc = docker(self.env, "wait", self.name, check=False, timeout=timeout + 5)
        return int(proc.stdout.strip()), time.monotonic() - start


@contextmanager
def running(env: dict[str, str], images: dict[str, str], name: str) -> Iterator[Running]:
    """The process `name` in a read-only container (tmpfs /tmp, a volume where it writes), no network."""
    process = PROCESSES[name]
    container = f"todo-test-{name}-{secrets.token_hex(4)}"
    envs = [arg for key, value in process.env.items() for arg in ("-e", f"{key}={value}")]
    volumes = [arg for path in process.writable for arg in ("-v", path)]
    docker(
        env, "run", "-d", "--name", container, "--network", "none", "--read-only", "--tmpfs", "/tmp", *volumes, *envs, images[process.image], *process.command
    )
    try:
        yield Running(container, process, env)
    finally:
        docker(env, "rm", "-f", "-v", container, check=False)
