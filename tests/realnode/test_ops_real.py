"""ops-mcp operating the Todo Chatbot deployed on the real node, through the MCP protocol: status, scale,
logs of real container output (current and after a real restart), rollout restart and a chart upgrade,
from the host (stdio, as Claude Code starts it from .mcp.json) and from inside the cluster (the chart's own
ops-mcp pod over HTTP, with its ServiceAccount)."""

from __future__ import annotations

import json
import os
import re
import secrets

import httpx
import pytest
from cluster import deploy
from cluster.harness import ROOT
from mcp import Client, StdioServerParameters
from ops.ops_helpers import HttpServer, http_client, ok, ops_env, stdio_client, text_of
from realnode_helpers import RELEASE, DeployedApp, deploy_app, free_port, signed_in

pytestmark = [pytest.mark.realnode, pytest.mark.anyio]


@pytest.fixture(scope="module")
def release(real_cluster, app_images, tmp_path_factory) -> DeployedApp:
    """A release of this module's own: the tests scale, restart and upgrade it."""
    app = deploy_app(real_cluster, "ops-real", app_images, tmp_path_factory.mktemp("ops-real"))
    yield app
    app.close()


def expand(value: str, env: dict[str, str]) -> str:
    """Claude Code's `${VAR}` and `${VAR:-default}` expansion."""
    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)


async def test_mcp_json_ops_server_reports_the_release_healthy(release, tmp_path):
    """`.mcp.json` as Claude Code runs it after `make up`: no KUBECONFIG in the environment, so ops-mcp
    reads .run/kubeconfig in the project folder (here a copy of the layout pointing at the test cluster)."""
    entry = json.loads((ROOT / ".mcp.json").read_text())["mcpServers"]["todo-ops"]
    project = tmp_path / "project"
    (project / ".run").mkdir(parents=True)
    (project / ".run" / "kubeconfig").symlink_to(release.cluster.kubeconfig)
    base = {k: v for k, v in os.environ.items() if k != "KUBECONFIG" and not k.startswith(("OPS_MCP_", "HELM_"))}
    base.update(OPS_MCP_NAMESPACE=release.namespace, OPS_MCP_AUDIT_LOG=str(tmp_path / "audit.jsonl"))
    env = {**base, **{k: expand(v, base) for k, v in entry["env"].items()}}
    assert env["KUBECONFIG"] == ".run/kubeconfig"
    params = StdioServerParameters(command=str(ROOT / entry["command"]), args=entry["args"], env=env, cwd=str(project))
    async with Client(params, read_timeout_seconds=120) as client:
        status = await client.call_tool("get_app_status", {})
    text = text_of(status)
    assert not status.is_error and text.startswith(f"HEALTHY: release {RELEASE} in {release.namespace}"), text
    assert all(f"Deployment/{RELEASE}-{d}  1/1" in text or f"Deployment/{RELEASE}-{d} 1/1" in re.sub(" +", " ", text) for d in deploy.DEPLOYMENTS), text


async def test_in_cluster_ops_server_reports_the_release_healthy(release, tmp_path):
    """The chart's ops-mcp pod: its ServiceAccount through the `kubernetes` Service (TLS verified), over
    HTTP with the bearer token from the release's Secret."""
    token = deploy.secret_value(release.cluster, release.namespace, RELEASE, "OPS_MCP_HTTP_TOKEN")
    forward = deploy.PortForward(release.cluster, release.namespace, f"svc/{RELEASE}-ops-mcp", free_port(), 8002, log=tmp_path / "pf.log").start()
    try:
        async with http_client(f"{forward.url}/mcp", token) as client:
            status = ok(await client.call_tool("get_app_status", {}))
    finally:
        forward.stop()
    assert status["healthy"] is True, status


def _ops_env(release: DeployedApp, tmp_path) -> dict[str, str]:
    return ops_env(release.cluster, release.namespace, tmp_path / "audit.jsonl")


async def test_scale_backend_to_two_really_ready_pods_and_back(release, tmp_path):
    async with stdio_client(_ops_env(release, tmp_path)) as client:
        scaled = ok(await client.call_tool("scale_deployment", {"name": f"{RELEASE}-backend", "replicas": 2, "wait": True}))
    assert (scaled["before"], scaled["after"], scaled["rollout"]["ready"], scaled["rollout"]["complete"]) == (1, 2, 2, True), scaled
    pods = release.pods()["backend"]
    assert len(pods) == 2 and all(p["ready"] and p["phase"] == "Running" for p in pods), pods
    # Both serve: each pod's own readiness endpoint answers through the API server's pod proxy.
    for pod in pods:
        proxied = release.cluster.kubectl("get", "--raw", f"/api/v1/namespaces/{release.namespace}/pods/{pod['name']}:8000/proxy/ready")
        assert json.loads(proxied.stdout)["status"] == "ok", proxied.stdout
    async with stdio_client(_ops_env(release, tmp_path)) as client:
        ok(await client.call_tool("scale_deployment", {"name": f"{RELEASE}-backend", "replicas": 1, "wait": True}))
    assert len(release.pods()["backend"]) == 1


async def test_ops_mcp_verifies_the_deployed_frontends_better_auth_jwts_and_audits_the_person(release, tmp_path):
    """ops-mcp on HTTP as a resource server of the app's own sign-in: the tokens and the JWKS come from Better Auth
    in the deployed frontend (its own EdDSA keys and claims), not from a test issuer; the audit names the person."""
    admin, other = (f"{who}-{secrets.token_hex(4)}@example.com" for who in ("admin", "other"))
    tokens = {}
    for email in (admin, other):
        browser = signed_in(release, email)
        response = browser.get("/api/auth/token")
        browser.close()
        assert response.status_code == 200, response.text
        tokens[email] = response.json()["token"]
    origin = release.frontend_url  # Better Auth's baseURL: the tokens' issuer and audience
    audit = tmp_path / "audit.jsonl"
    env = ops_env(
        release.cluster,
        release.namespace,
        audit,
        OPS_MCP_OIDC_ISSUER=origin,
        OPS_MCP_OIDC_AUDIENCE=origin,
        OPS_MCP_OIDC_JWKS_URL=f"{origin}/api/auth/jwks",
        OPS_MCP_OIDC_SUBJECTS=admin,
    )
    server = HttpServer(env)
    backend = f"{RELEASE}-backend"
    try:
        replicas = release.cluster.kubectl_json("get", "deployment", backend, "-n", release.namespace)["spec"]["replicas"]
        async with http_client(server.url, tokens[admin]) as client:
            assert ok(await client.call_tool("scale_deployment", {"name": backend, "replicas": replicas}))["after"] == replicas
        initialize = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
        }
        headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {tokens[other]}"}
        denied = httpx.post(server.url, json=initialize, headers=headers, timeout=30)
        assert denied.status_code == 401 and "not in OPS_MCP_OIDC_SUBJECTS" in denied.json()["detail"], denied.text
    finally:
        server.stop()
    [record] = [json.loads(line) for line in audit.read_text().splitlines() if '"scale_deployment"' in line]
    assert record["user"].startswith(f"{admin} ("), record
    assert tokens[admin] not in audit.read_text()


async def test_logs_of_real_output_current_and_previous_after_a_real_restart(release, tmp_path):
    cluster, ns = release.cluster, release.namespace
    pod = release.pods()["task-mcp"][0]["name"]
    async with stdio_client(_ops_env(release, tmp_path)) as client:
        current = text_of(await client.call_tool("get_pod_logs", {"name": pod, "tail_lines": 50}))
        assert "Uvicorn running on http://0.0.0.0:8001" in current, current
        never = await client.call_tool("get_pod_logs", {"name": pod, "previous": True})
        # The container never restarted: the answer must say so, not look like an empty log.
        assert "restart" in text_of(never).lower(), text_of(never)

        # A real restart: the server process (PID 1) gets SIGTERM, exits, and the kubelet starts it again.
        cluster.kubectl("exec", pod, "-n", ns, "--", "python", "-c", "import os, signal; os.kill(1, signal.SIGTERM)")
        cluster.wait_for(
            lambda: _restarts(cluster, ns, pod) == 1 and release.pods()["task-mcp"][0]["ready"], timeout=120, message=f"{pod} restarted and Ready again"
        )
        previous = text_of(await client.call_tool("get_pod_logs", {"name": pod, "previous": True, "tail_lines": 20}))
    assert "Shutting down" in previous or "Finished server process" in previous, previous


def _restarts(cluster, ns: str, pod: str) -> int:
    status = cluster.kubectl_json("get", "pod", pod, "-n", ns)["status"].get("containerStatuses") or [{}]
    return status[0].get("restartCount", 0)


async def test_rollout_restart_replaces_the_pods_and_they_come_up_ready(release, tmp_path):
    """wait=true returns once the new pods are Ready and the old ones (stopping through their preStop sleep) are gone:
    nothing of the old revision is left for a check that looks right after, and the app reads healthy."""
    before = {p["name"] for p in release.pods()["frontend"]}
    async with stdio_client(_ops_env(release, tmp_path)) as client:
        result = ok(await client.call_tool("rollout_restart", {"name": f"{RELEASE}-frontend", "wait": True}))
        status = await client.call_tool("get_app_status", {})
        stopping = [
            p["metadata"]["name"]
            for p in release.cluster.kubectl_json("get", "pods", "-n", release.namespace)["items"]
            if p["metadata"].get("deletionTimestamp") and p["metadata"]["name"] in before
        ]
    after = release.pods()["frontend"]
    assert {p["name"] for p in after}.isdisjoint(before) and all(p["ready"] for p in after), (result, after)
    assert not stopping, f"wait=true returned while old pods were still stopping: {stopping}"
    assert ok(status)["healthy"] is True and "failing" not in text_of(status).lower(), text_of(status)


async def test_deploy_chart_upgrades_the_release(release, tmp_path):
    """deploy_chart with the local values and the images the release runs: a new revision, pods Ready."""
    values: dict = {"publicUrl": release.frontend_url}
    for section, image in deploy.IMAGE_OF.items():
        repository, _, tag = release.images[image].rpartition(":")
        values[section] = {"image": {"repository": repository, "tag": tag}}
    values["backend"]["podAnnotations"] = {"todo-chatbot.test/deployed-by": "ops-mcp"}
    async with stdio_client(_ops_env(release, tmp_path)) as client:
        result = ok(await client.call_tool("deploy_chart", {"values_files": ["values-local.yaml"], "values": values, "timeout_seconds": 240, "confirm": True}))
        status = ok(await client.call_tool("get_app_status", {}))
    assert result["applied"] is True and result["revision"] >= 2 and result["status"] == "deployed", result
    assert status["healthy"] is True, status
    pods = release.cluster.kubectl_json("get", "pods", "-n", release.namespace, "-l", "app.kubernetes.io/component=backend")["items"]
    serving = [p for p in pods if not p["metadata"].get("deletionTimestamp")]  # the old pod may still be stopping
    assert [p["metadata"]["annotations"].get("todo-chatbot.test/deployed-by") for p in serving] == ["ops-mcp"], pods
