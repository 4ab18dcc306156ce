"""docker-compose.yml as a user runs it: `docker compose up --build -d` on the local engine (scripts/engine.sh),
then sign up, add and list a todo and chat, all through the frontend, then `docker compose down -v`.

- Secrets are generated into an env file (--env-file); base images are the Dockerfiles' public defaults or
  scripts/images.sh's local ones (`scripts/images.sh --bases`), passed as the file's variables.
- A project name of its own (several runs may share the engine) and free host ports on 127.0.0.1: the only
  test traffic is to loopback and inside the project's own network. The chat runs offline (no API key).
- Waits are conditions (compose's depends_on health conditions, then every container healthy), not sleeps.
- Teardown: `down -v --remove-orphans`, then a check that no container, volume or network of the project is left.
  The services' logs go to artifacts/test-logs/compose-<project>.log when something fails.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "http://localhost:3000"  # BETTER_AUTH_URL in docker-compose.yml: the browser's origin
SERVICES = {"postgres", "migrate", "backend", "mcp", "frontend", "ops-mcp"}

# A cold build (npm ci with better-sqlite3 compiled, next build, two virtualenvs) takes ~10 minutes on 2 cores;
# with scripts/images.sh's layers in the engine's cache it is all cache hits.
pytestmark = pytest.mark.timeout(3600)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def compose_command(env: dict[str, str]) -> list[str]:
    """`docker compose` (the v2 plugin) when the CLI has it, else docker-compose (scripts/setup.sh installs it)."""
    if subprocess.run(["docker", "compose", "version"], env=env, capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("neither `docker compose` nor docker-compose is installed: run scripts/setup.sh (it installs Debian's docker-compose)")


@dataclass
class Project:
    name: str
    argv: list[str]  # the compose command with -p, -f and --env-file
    env: dict[str, str]
    frontend: str  # http://127.0.0.1:<port>
    ports: dict[str, int]

    def compose(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*self.argv, *args], env=self.env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args[:2])} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
        return proc

    def docker(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", *args], env=self.env, capture_output=True, text=True, timeout=60)

    def containers(self) -> dict[str, dict]:
        """Service -> `docker inspect` of its container, for every container of the project."""
        ids = self.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={self.name}").stdout.split()
        if not ids:
            return {}
        return {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in json.loads(self.docker("inspect", *ids).stdout)}

    def leftovers(self) -> list[str]:
        label = f"label=com.docker.compose.project={self.name}"
        return [
            *self.docker("ps", "-aq", "--filter", label).stdout.split(),
            *self.docker("volume", "ls", "-q", "--filter", label).stdout.split(),
            *self.docker("network", "ls", "-q", "--filter", label).stdout.split(),
        ]


def engine_env() -> dict[str, str]:
    proc = subprocess.run([str(ROOT / "scripts" / "engine.sh")], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 or not proc.stdout.strip():
        pytest.fail(f"no container engine: scripts/engine.sh exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return {**os.environ, "DOCKER_HOST": proc.stdout.strip().splitlines()[-1]}


def base_images(env: dict[str, str]) -> dict[str, str]:
    """docker-compose.yml's base-image variables: the public images, or the local ones made from Debian packages."""
    proc = subprocess.run([str(ROOT / "scripts" / "images.sh"), "--bases"], env=env, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        pytest.fail(f"scripts/images.sh --bases exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Project]:
    env = engine_env()
    workdir = tmp_path_factory.mktemp("compose")
    # ops-mcp mounts a kubeconfig: one of the test's own (its server is the container's own loopback: never called).
    kubeconfig = workdir / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: none\nclusters: [{name: none, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "contexts: [{name: none, context: {cluster: none, user: none}}]\nusers: [{name: none, user: {token: none}}]\n"
    )
    ports = {name: free_port() for name in ("FRONTEND_PORT", "BACKEND_PORT", "MCP_PORT", "OPS_MCP_PORT")}
    variables = {
        "BETTER_AUTH_SECRET": secrets.token_hex(32),
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "OPS_MCP_HTTP_TOKEN": secrets.token_hex(24),
        "ANTHROPIC_API_KEY": "",  # the chat's offline mode
        "KUBECONFIG": str(kubeconfig),
        **{name: str(port) for name, port in ports.items()},
        **base_images(env),
    }
    env_file = workdir / "compose.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in variables.items()))
    env_file.chmod(0o600)
    # The file's values win over the caller's environment (a KUBECONFIG of the cluster tests, say). Builds go
    # through the docker CLI's classic builder, as scripts/images.sh's do: the same layer cache.
    env = {**env, **variables, "COMPOSE_DOCKER_CLI_BUILD": "1", "DOCKER_BUILDKIT": "0", "COMPOSE_INTERACTIVE_NO_CLI": "1"}
    name = f"todo-compose-{secrets.token_hex(4)}"
    argv = [*compose_command(env), "-p", name, "-f", str(ROOT / "docker-compose.yml"), "--env-file", str(env_file)]
    created = Project(name, argv, env, f"http://127.0.0.1:{ports['FRONTEND_PORT']}", {k: int(v) for k, v in ports.items()})
    failed_before, up_failed = request.session.testsfailed, False
    try:
        try:
            created.compose("up", "--build", "-d", timeout=3000)
        except BaseException:
            up_failed = True
            raise
        yield created
    finally:
        if up_failed or request.session.testsfailed > failed_before:
            logs = created.compose("logs", "--no-color", "--tail", "200", check=False, timeout=120)
            folder = ROOT / "artifacts" / "test-logs"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"compose-{name}.log").write_text(logs.stdout + logs.stderr)
        created.compose("down", "-v", "--remove-orphans", "--timeout", "20", check=False, timeout=300)


def wait_healthy(project: Project, timeout: float = 300) -> dict[str, dict]:
    """Until every long-running service's container reports healthy and migrate has exited 0."""
    deadline = time.monotonic() + timeout
    while True:
        containers = project.containers()
        states = {service: c["State"] for service, c in containers.items()}
        migrate = states.get("migrate", {})
        assert not (migrate.get("Status") == "exited" and migrate.get("ExitCode") != 0), f"migrate exited {migrate.get('ExitCode')}"
        for service, state in states.items():
            assert service == "migrate" or state.get("Status") != "exited", f"{service} exited {state.get('ExitCode')}"
        healthy = {s for s, state in states.items() if state.get("Health", {}).get("Status") == "healthy"}
        if set(states) == SERVICES and healthy == SERVICES - {"migrate"} and migrate.get("Status") == "exited":
            return containers
        if time.monotonic() > deadline:
            pytest.fail(f"not all healthy within {timeout}s: { {s: (st.get('Status'), st.get('Health', {}).get('Status')) for s, st in states.items()} }")
        time.sleep(1)


def test_compose_up_serves_the_app_sign_up_todos_and_chat_through_the_frontend(project: Project) -> None:
    containers = wait_healthy(project)
    # The hardened services as docker-compose.yml declares them: read-only root filesystem, uid 10001.
    for service in ("backend", "mcp", "frontend", "ops-mcp"):
        host = containers[service]["HostConfig"]
        assert host["ReadonlyRootfs"] and host["CapDrop"] == ["ALL"], (service, host["ReadonlyRootfs"], host["CapDrop"])
        assert project.docker("exec", containers[service]["Id"], "id", "-u").stdout.strip() == "10001", service

    with httpx.Client(base_url=project.frontend, timeout=60, headers={"Origin": ORIGIN}) as client:
        assert client.get("/api/health").status_code == 200
        assert client.get("/api/backend/tasks").status_code == 401  # not signed in: the proxy refuses
        email = f"compose-{secrets.token_hex(4)}@example.com"
        signed = client.post("/api/auth/sign-up/email", json={"name": "Compose", "email": email, "password": "correct horse battery"})
        assert signed.status_code == 200, signed.text

        created = client.post("/api/backend/tasks", json={"title": "water the plants"})
        assert created.status_code == 201, created.text
        listed = client.get("/api/backend/tasks")
        assert listed.status_code == 200 and [t["title"] for t in listed.json()] == ["water the plants"], listed.text

        # The chat (offline mode: no ANTHROPIC_API_KEY) calls the task MCP server's tools over the project's network.
        chat = client.post("/api/backend/chat", json={"message": "list my tasks"})
        assert chat.status_code == 200, chat.text
        body = chat.json()
        assert "water the plants" in body["response"], body
        assert [(call["tool"], call["is_error"]) for call in body["tool_calls"]] == [("list_tasks", False)], body
        added = client.post("/api/backend/chat", json={"message": "add buy bread"})
        assert added.status_code == 200 and added.json()["tool_calls"][0]["tool"] == "add_task", added.text
        titles = sorted(task["title"] for task in client.get("/api/backend/tasks").json())
        assert titles == ["buy bread", "water the plants"], titles

    # The tasks live in PostgreSQL (not a container's SQLite file): the database service has them.
    rows = project.compose("exec", "-T", "postgres", "psql", "-U", "todo", "-d", "todo", "-Atc", "select count(*) from tasks", check=False)
    assert rows.returncode == 0 and rows.stdout.strip() == "2", rows.stdout + rows.stderr
    # The ops MCP server answers on its published port (loopback only).
    assert httpx.get(f"http://127.0.0.1:{project.ports['OPS_MCP_PORT']}/health", timeout=10).status_code == 200


def test_compose_down_leaves_nothing_behind(project: Project) -> None:
    """Runs after the test above (same module fixture): `down -v` removes the containers, volumes and network."""
    project.compose("down", "-v", "--remove-orphans", "--timeout", "20", timeout=300)
    assert project.leftovers() == [], project.leftovers()
