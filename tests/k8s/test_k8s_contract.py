"""The chart's contract with the components it runs: each component's command from the rendered
Deployment, started as a real process with the environment the chart gives it (its ConfigMap and
Secret), must answer the probe paths the chart checks; the MCP servers must accept their in-cluster
Service names as Host and demand authentication.

Container paths (/data, /var/lib/ops-mcp, /opt/ops-mcp/charts) are mapped to local ones; bind
addresses and ports are the only other change."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from k8s_chart import CHART, ROOT, one, render, tool

VENV_BIN = Path(sys.executable).parent
COMPONENTS = {"backend": "backend-app", "mcp": "backend-app", "ops-mcp": ".", "frontend": "frontend/.next/standalone"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chart_env(docs: list[dict], name: str, tmp: Path) -> dict[str, str]:
    """What the container sees: its ConfigMap, its Secret keys and literal env, container paths mapped."""
    container = one(docs, "Deployment", f"todo-chatbot-{name}")["spec"]["template"]["spec"]["containers"][0]
    env = dict(one(docs, "ConfigMap", f"todo-chatbot-{name}")["data"])
    secret = {k: base64.b64decode(v).decode() for k, v in one(docs, "Secret", "todo-chatbot")["data"].items()}
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        elif e["valueFrom"]["secretKeyRef"]["key"] in secret:
            env[e["name"]] = secret[e["valueFrom"]["secretKeyRef"]["key"]]
    mapping = {
        "/app/data": f"{tmp}/data",
        "^/data/": f"{tmp}/data/",
        "/var/lib/ops-mcp/": f"{tmp}/state/",
        "/tmp/helm/": f"{tmp}/helm/",
        "/opt/ops-mcp/charts/todo-chatbot": str(CHART),
        "/usr/local/bin/helm": tool("helm"),
    }
    for key, value in env.items():
        for old, new in mapping.items():  # "^" anchors at the start of the value
            if old.startswith("^"):
                value = new + value[len(old) - 1 :] if value.startswith(old[1:]) else value
            else:
                value = value.replace(old, new)
        env[key] = value
    (tmp / "data").mkdir(exist_ok=True)
    return env


def local_command(command: list[str], port: int, env: dict[str, str]) -> list[str]:
    argv = [str(VENV_BIN / command[0]) if (VENV_BIN / command[0]).exists() else command[0], *command[1:]]
    if argv[0] == "python":
        argv[0] = sys.executable
    if "--port" in argv:
        argv[argv.index("--host") + 1] = "127.0.0.1"
        argv[argv.index("--port") + 1] = str(port)
    else:  # Next.js standalone: PORT and HOSTNAME from the environment
        env.update(PORT=str(port), HOSTNAME="127.0.0.1")
    return argv


@contextmanager
def running(name: str, docs: list[dict], tmp: Path) -> Iterator[tuple[str, dict[str, str], dict]]:
    container = one(docs, "Deployment", f"todo-chatbot-{name}")["spec"]["template"]["spec"]["containers"][0]
    port = free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp), **chart_env(docs, name, tmp)}
    cwd = ROOT / COMPONENTS[name]
    if name == "frontend" and not (cwd / "server.js").is_file():
        pytest.skip("no frontend production build: run `npm run build` in frontend/ (the frontend tests do)")
    log = (tmp / f"{name}.log").open("w")
    proc = subprocess.Popen(local_command(container["command"], port, env), cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{name} exited {proc.returncode}:\n{(tmp / f'{name}.log').read_text()[-3000:]}")
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(f"{name} did not listen within 60s:\n{(tmp / f'{name}.log').read_text()[-3000:]}")
                time.sleep(0.2)
        yield base, env, container
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    # SQLite mode: the processes need no database server; everything else is the default values.
    return render(sets={"postgresql.enabled": "false"})


@pytest.mark.parametrize("name", sorted(COMPONENTS))
def test_component_answers_the_chart_probes(name: str, docs: list[dict], tmp_path: Path) -> None:
    with running(name, docs, tmp_path) as (base, _env, container):
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            path = container[probe]["httpGet"]["path"]
            response = httpx.get(base + path, timeout=10)
            assert response.status_code == 200, f"{name} {probe} GET {path} -> {response.status_code}"
    if name == "frontend":  # Better Auth's SQLite file lands on the volume the chart mounts (AUTH_SQLITE_PATH)
        assert (tmp_path / "data" / "auth.db").is_file()


def mcp_initialize(base: str, host: str, token: str | None) -> httpx.Response:
    headers = {"Host": host, "Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "chart-contract", "version": "1"}},
    }
    return httpx.post(base + "/mcp", json=body, headers=headers, timeout=20)


def test_ops_mcp_accepts_its_service_names_and_requires_the_token(docs: list[dict], tmp_path: Path) -> None:
    with running("ops-mcp", docs, tmp_path) as (base, env, _):
        token = env["OPS_MCP_HTTP_TOKEN"]
        for host in ("todo-chatbot-ops-mcp:8002", "todo-chatbot-ops-mcp.todo.svc.cluster.local:8002"):
            ok = mcp_initialize(base, host, token)
            assert ok.status_code == 200, f"Host {host}: {ok.status_code} {ok.text[:300]}"
        assert mcp_initialize(base, "todo-chatbot-ops-mcp:8002", None).status_code == 401
        assert mcp_initialize(base, "todo-chatbot-ops-mcp:8002", "wrong-token").status_code in (401, 403)
        foreign = mcp_initialize(base, "attacker.example:8002", token)
        assert foreign.status_code in (403, 421), "a foreign Host header must be refused (DNS rebinding)"


def test_ops_mcp_accepts_the_backend_as_the_chart_configures_it(docs: list[dict], tmp_path: Path) -> None:
    """Chat ops: the Host of the backend's OPS_MCP_URL and its OPS_MCP_TOKEN get through ops-mcp."""
    backend = chart_env(docs, "backend", tmp_path)
    url = httpx.URL(backend["OPS_MCP_URL"])
    assert url.path == "/mcp"
    with running("ops-mcp", docs, tmp_path) as (base, env, _):
        assert backend["OPS_MCP_TOKEN"] == env["OPS_MCP_HTTP_TOKEN"]
        ok = mcp_initialize(base, f"{url.host}:{url.port}", backend["OPS_MCP_TOKEN"])
        assert ok.status_code == 200, f"Host {url.host}:{url.port}: {ok.status_code} {ok.text[:300]}"


def test_task_mcp_requires_a_user_token(docs: list[dict], tmp_path: Path) -> None:
    with running("mcp", docs, tmp_path) as (base, _env, _):
        refused = mcp_initialize(base, "todo-chatbot-mcp:8001", None)
        assert refused.status_code == 401, refused.text[:300]
