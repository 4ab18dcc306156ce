"""Helpers for driving ops-mcp through the SDK's MCP client (stdio and streamable HTTP)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from support import ops_forkserver

ROOT = Path(__file__).resolve().parents[2]
CHARTS = Path(__file__).resolve().parent / "charts"
SERVE = [sys.executable, "-m", "ops_mcp.cli", "serve"]


def serve_argv() -> list[str]:
    """How a test starts `ops-mcp serve`: through this process's fork server (tests/support/ops_forkserver.py: the
    real server, forked after its imports), or as `python -m ops_mcp.cli serve` with TODO_CHATBOT_FORKSERVER=0."""
    return SERVE if os.environ.get("TODO_CHATBOT_FORKSERVER") == "0" else [*ops_forkserver.launcher(), "serve"]


def ops_env(cluster: Any, namespace: str | None, audit: Path, **extra: str) -> dict[str, str]:
    """Environment for an ops-mcp subprocess: the test cluster, one namespace, a private audit log."""
    env = {k: v for k, v in cluster.env.items() if not k.startswith("OPS_MCP_")}
    env.update(
        OPS_MCP_KUBECONFIG=cluster.kubeconfig,
        OPS_MCP_AUDIT_LOG=str(audit),
        OPS_MCP_HELM_BINARY=str(cluster.bin_dir / "helm"),
        OPS_MCP_REQUEST_TIMEOUT="8",
        HOME=env.get("HOME", str(audit.parent)),
    )
    if namespace:
        env["OPS_MCP_NAMESPACE"] = namespace
    env.update(extra)
    return env


@asynccontextmanager
async def stdio_client(env: dict[str, str], *flags: str, cwd: str | None = None, **client_kw: Any) -> AsyncIterator[Client]:
    serve = serve_argv()
    params = StdioServerParameters(command=serve[0], args=[*serve[1:], "--transport", "stdio", *flags], env=env, cwd=cwd or str(ROOT))
    async with Client(params, read_timeout_seconds=120, **client_kw) as client:
        yield client


@asynccontextmanager
async def http_client(url: str, token: str | None, **client_kw: Any) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    transport = streamable_http_client(url, http_client=create_mcp_http_client(headers=headers))
    async with Client(transport, read_timeout_seconds=120, **client_kw) as client:
        yield client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HttpServer:
    """`ops-mcp serve --transport http` as a real subprocess."""

    def __init__(self, env: dict[str, str], *flags: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.proc = subprocess.Popen(
            [*serve_argv(), "--transport", "http", "--port", str(self.port), *flags],
            env=env,
            cwd=str(ROOT),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ops-mcp http exited {self.proc.returncode}: {self.proc.stdout.read()}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("ops-mcp http did not start within 60s")
            time.sleep(0.2)

    def stop(self) -> None:
        terminate(self.proc)


def terminate(proc: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds; nothing when it has already exited."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()


async def call(client: Client, tool: str, args: dict[str, Any] | None = None, **kw: Any):
    return await client.call_tool(tool, args or {}, **kw)


def text_of(result: Any) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


def ok(result: Any) -> dict[str, Any]:
    """Assert a successful tool result; return its structured content."""
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


def err(result: Any) -> str:
    assert result.is_error, f"expected a tool error, got: {text_of(result)[:500]}"
    return text_of(result)


def everything(result: Any) -> str:
    """All a client can see of a result (text + structured content), for leak scans."""
    return text_of(result) + "\n" + json.dumps(result.structured_content or {})


def deployment(
    name: str, replicas: int = 1, labels: dict[str, str] | None = None, env: list[dict[str, Any]] | None = None, pod_labels: dict[str, str] | None = None
) -> dict[str, Any]:
    labels = labels or {"app": name}
    container: dict[str, Any] = {"name": "app", "image": "registry.local/app:1"}
    if env:
        container["env"] = env
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": {**labels, **(pod_labels or {})}}, "spec": {"containers": [container]}},
        },
    }


def pod(name: str, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None, containers: list[str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}, "annotations": annotations or {}},
        "spec": {"containers": [{"name": c, "image": "registry.local/app:1"} for c in (containers or ["app"])]},
    }


def event(namespace: str, name: str, obj_kind: str, obj_name: str, reason: str, message: str, type_: str = "Warning", count: int = 1) -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": {"kind": obj_kind, "name": obj_name, "namespace": namespace},
        "reason": reason,
        "message": message,
        "type": type_,
        "count": count,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "source": {"component": "kubelet"},
    }


def wait_ready(cluster: Any, namespace: str, deploy: str, replicas: int, timeout: float = 180) -> None:
    def ready() -> bool:
        found = cluster.api.request("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/{deploy}") or {}
        return (found.get("status") or {}).get("readyReplicas", 0) == replicas

    cluster.wait_for(ready, timeout=timeout, message=f"{deploy} {replicas} ready")
