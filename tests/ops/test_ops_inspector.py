"""A real MCP client other than our own: the MCP Inspector's CLI (npm @modelcontextprotocol/inspector, pinned in
tests/clients) drives ops-mcp over stdio and over streamable HTTP on the test control plane."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from ops_helpers import ROOT, SERVE, HttpServer, deployment, ops_env, wait_ready

INSPECTOR = ROOT / "tests" / "clients" / "node_modules" / ".bin" / "mcp-inspector"
TOKEN = "inspector-http-token-3d8e51"


def inspector(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert INSPECTOR.exists(), f"{INSPECTOR} is missing: run scripts/setup-frontend.sh (make setup)"
    return subprocess.run([str(INSPECTOR), "--cli", *args], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)


def stdio_target(env: dict[str, str]) -> list[str]:
    pairs = [item for key, value in env.items() if key.startswith(("OPS_MCP_", "KUBECONFIG", "HOME", "PATH")) for item in ("-e", f"{key}={value}")]
    return [*pairs, "--", *SERVE, "--transport", "stdio"]


def test_the_inspector_lists_and_calls_the_tools_over_stdio(cluster, namespace, audit_log, tmp_path: Path) -> None:
    cluster.apply(deployment("web", 2), namespace)
    wait_ready(cluster, namespace, "web", 2)
    env = ops_env(cluster, namespace, audit_log)
    listed = inspector("--method", "tools/list", *stdio_target(env))
    assert listed.returncode == 0, listed.stderr
    names = {t["name"] for t in json.loads(listed.stdout)["tools"]}
    assert {"get_app_status", "list_resources", "diagnose", "scale_deployment", "delete_resource"} <= names, names

    called = inspector("--method", "tools/call", "--tool-name", "list_resources", "--tool-arg", "kind=pods", *stdio_target(env))
    assert called.returncode == 0, called.stderr
    rows = json.loads(called.stdout)["structuredContent"]["rows"]
    assert len(rows) == 2 and all(r["name"].startswith("web-") for r in rows), rows

    # A destructive call the Inspector cannot confirm by elicitation is refused with the next step, and nothing changes.
    refused = inspector(
        "--method", "tools/call", "--tool-name", "delete_resource", "--tool-arg", "kind=deployment", "--tool-arg", "name=web", *stdio_target(env)
    )
    assert refused.returncode != 0 and "confirm=true" in refused.stdout + refused.stderr, refused.stdout + refused.stderr
    assert cluster.kubectl("get", "deploy", "web", "-n", namespace, check=False).returncode == 0


def test_the_inspector_reaches_the_http_transport_only_with_the_token(cluster, namespace, audit_log) -> None:
    server = HttpServer(ops_env(cluster, namespace, audit_log, OPS_MCP_HTTP_TOKEN=TOKEN))
    try:
        ok = inspector("--transport", "http", "--server-url", server.url, "--header", f"Authorization: Bearer {TOKEN}", "--method", "tools/list")
        assert ok.returncode == 0 and "get_app_status" in ok.stdout, ok.stderr
        # Without it the server's 401 sends the Inspector to OAuth, which it may not start here (no stored grant).
        denied = inspector("--transport", "http", "--server-url", server.url, "--stored-auth-only", "--method", "tools/list")
        assert denied.returncode != 0 and "auth" in (denied.stdout + denied.stderr).lower() and "get_app_status" not in denied.stdout, (
            denied.stdout + denied.stderr
        )
    finally:
        server.stop()
