"""The three clients' configurations, checked against the server they point at (not against each other):
Claude Code's `.mcp.json` starts ops-mcp and tools/list answers over stdio; kubectl-ai's `mcp.yaml`
reaches the HTTP transport with bearer auth; kagent's RemoteMCPServer and Agent match what ops-mcp serves."""

from __future__ import annotations

import json
import os
import re
import shutil

import httpx
import pytest
import yaml
from cluster.harness import ROOT
from mcp import Client, StdioServerParameters
from ops.ops_helpers import HttpServer, http_client, ops_env

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]

CORE_TOOLS = {
    "get_app_status",
    "list_resources",
    "describe_resource",
    "get_events",
    "get_pod_logs",
    "diagnose",
    "diagnose_crashloop",
    "scale_deployment",
    "deploy_chart",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def expand(value: str, env: dict[str, str]) -> str:
    """Claude Code's `${VAR}` and `${VAR:-default}` expansion."""
    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)


async def tool_annotations(env: dict[str, str], *flags: str) -> dict[str, bool]:
    """{tool name: read-only?} as ops-mcp serves them with these flags."""
    params = StdioServerParameters(command=str(ROOT / ".venv" / "bin" / "ops-mcp"), args=["serve", "--transport", "stdio", *flags], env=env)
    async with Client(params, read_timeout_seconds=60) as client:
        tools = (await client.list_tools()).tools
    return {t.name: bool(t.annotations and t.annotations.read_only_hint) for t in tools}


async def test_claude_code_mcp_json_starts_ops_mcp_over_stdio(cluster, namespace, tmp_path):
    servers = json.loads((ROOT / ".mcp.json").read_text())["mcpServers"]
    [entry] = [s for s in servers.values() if "serve" in s.get("args", []) and "stdio" in s.get("args", [])]
    env = {**ops_env(cluster, namespace, tmp_path / "audit.jsonl"), "CLAUDE_PROJECT_DIR": str(ROOT)}
    env.update({k: expand(v, env) for k, v in (entry.get("env") or {}).items()})
    command = expand(entry["command"], env)
    command = command if os.path.isabs(command) else (shutil.which(command, path=env["PATH"]) or str(ROOT / command))
    params = StdioServerParameters(command=command, args=[expand(a, env) for a in entry.get("args", [])], env=env, cwd=str(ROOT))
    async with Client(params, read_timeout_seconds=60) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert CORE_TOOLS - {"scale_deployment", "deploy_chart"} <= names
        status = await client.call_tool("get_app_status", {"namespace": namespace})
        assert not status.is_error


async def test_kubectl_ai_http_entry_reaches_the_server_with_bearer_auth(cluster, namespace, tmp_path):
    servers = yaml.safe_load((ROOT / ".mcp" / "kubectl-ai" / "mcp.yaml").read_text())["servers"]
    [entry] = [s for s in servers if s["name"] == "ops_cluster"]
    assert entry["auth"]["type"] == "bearer" and entry.get("use_streaming") is True
    url = httpx.URL(entry["url"])
    token = "kubectl-ai-test-token-0123456789abcdef"
    server = HttpServer(ops_env(cluster, namespace, tmp_path / "audit.jsonl", OPS_MCP_HTTP_TOKEN=token))
    try:
        # the entry's path on the port the test server got (the config's port is a port-forward's)
        target = str(url.copy_with(host="127.0.0.1", port=server.port))
        assert url.path == "/mcp"
        # kubectl-ai sends the token from MCP_OPS_CLUSTER_TOKEN as "Authorization: Bearer <token>"
        async with http_client(target, token) as client:
            assert CORE_TOOLS - {"scale_deployment", "deploy_chart"} <= {t.name for t in (await client.list_tools()).tools}
        denied = httpx.post(target, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers={"Accept": "application/json, text/event-stream"})
        assert denied.status_code == 401
    finally:
        server.stop()


async def test_kagent_objects_match_what_ops_mcp_serves(cluster, namespace, tmp_path):
    docs = [d for f in sorted((ROOT / "k8s" / "kagent").glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]
    remote = next(d for d in docs if d["kind"] == "RemoteMCPServer" and d["metadata"]["name"] == "todo-ops-mcp")
    agent = next(d for d in docs if d["kind"] == "Agent")

    # the URL is the chart's ops-mcp Service, port and MCP path; the protocol is streamable HTTP
    values = yaml.safe_load((ROOT / "k8s" / "helm" / "todo-chatbot" / "values.yaml").read_text())
    url = httpx.URL(remote["spec"]["url"])
    assert remote["spec"]["protocol"] == "STREAMABLE_HTTP"
    assert url.host == "todo-chatbot-ops-mcp.todo.svc.cluster.local" and url.path == "/mcp"
    assert url.port == values["opsMcp"]["service"]["port"] == 8002
    rendered = cluster.helm(
        "template", "todo-chatbot", str(ROOT / "k8s" / "helm" / "todo-chatbot"), "-n", "todo", "--set", "secrets.betterAuthSecret=" + "x" * 32
    ).stdout
    services = {d["metadata"]["name"]: d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Service"}
    assert {p["port"] for p in services["todo-chatbot-ops-mcp"]["spec"]["ports"]} == {8002}

    # every tool the Agent names is served (in the writable mode its approvals imply), and exactly the
    # tools that change the cluster wait for a human's approval
    served = await tool_annotations(ops_env(cluster, namespace, tmp_path / "audit.jsonl"))
    [tools] = [t["mcpServer"] for t in agent["spec"]["declarative"]["tools"] if t["mcpServer"]["name"] == "todo-ops-mcp"]
    named, approval = set(tools["toolNames"]), set(tools.get("requireApproval", []))
    assert named <= set(served), f"not served: {named - set(served)}"
    assert approval == {n for n in named if not served[n]}
