"""The chart with the project's own images on the real node: every pod Running and Ready through its real
probes, frontend -> backend -> task MCP server wired through Services and cluster DNS, and the browser
end-to-end run through the deployed frontend."""

from __future__ import annotations

import os
import secrets
import subprocess

import httpx
import pytest
from cluster.harness import ROOT
from cluster.node import NODE_NAME
from realnode_helpers import DeployedApp, signed_in

pytestmark = pytest.mark.realnode

COMPONENTS = {"frontend", "backend", "task-mcp", "ops-mcp"}


def test_every_pod_runs_on_the_real_node_and_is_ready_through_its_probes(app: DeployedApp) -> None:
    pods = app.pods()
    assert set(pods) == COMPONENTS, pods
    for component, items in pods.items():
        for pod in items:
            assert (pod["phase"], pod["ready"], pod["node"], pod["restarts"]) == ("Running", True, NODE_NAME, 0), (component, pod)
    # Readiness came from the kubelet running the probes: each container declares all three, and the
    # kubelet reports them started (the startup probe passed) with a real container ID from containerd.
    for pod in app.cluster.kubectl_json("get", "pods", "-n", app.namespace)["items"]:
        spec = pod["spec"]["containers"][0]
        assert {"livenessProbe", "readinessProbe", "startupProbe"} <= set(spec), pod["metadata"]["name"]
        status = pod["status"]["containerStatuses"][0]
        assert status["started"] is True and status["containerID"].startswith("containerd://"), status


def test_containers_run_as_non_root_on_a_read_only_root_filesystem(app: DeployedApp) -> None:
    for deployment in ("frontend", "backend", "mcp", "ops-mcp"):
        target = f"deploy/{app.release}-{deployment}"
        uid = app.cluster.kubectl("exec", target, "-n", app.namespace, "--", "id", "-u").stdout.strip()
        assert uid == "10001", (deployment, uid)
        write = app.cluster.kubectl("exec", target, "-n", app.namespace, "--", "touch", "/probe-write", check=False)
        assert write.returncode != 0 and "Read-only file system" in write.stderr, (deployment, write.stderr)


def test_rest_and_chat_share_the_tasks_through_services_and_dns(app: DeployedApp) -> None:
    """The browser's requests go frontend -> backend (Service DNS name), the chat's tool calls go backend ->
    task MCP server (Service DNS name); both must see one database (issue: SQLite mode split them)."""
    client = signed_in(app, f"real-{secrets.token_hex(4)}@example.com")
    try:
        created = client.post("/api/backend/tasks", json={"title": "water the plants"})
        assert created.status_code == 201, created.text
        listed = client.post("/api/backend/chat", json={"message": "list my tasks"})
        assert listed.status_code == 200, listed.text
        body = listed.json()
        assert "water the plants" in body["response"], body
        assert [(call["tool"], call["is_error"]) for call in body["tool_calls"]] == [("list_tasks", False)], body

        added = client.post("/api/backend/chat", json={"message": "add buy bread"})
        assert added.status_code == 200 and added.json()["tool_calls"][0]["tool"] == "add_task", added.text
        titles = [task["title"] for task in client.get("/api/backend/tasks").json()]
        assert sorted(titles) == ["buy bread", "water the plants"], titles
        # The tool calls reached the task MCP server's own pod (through its Service), not an in-process copy:
        # it verified the user's token against the frontend's JWKS (through the frontend's Service name).
        mcp_log = app.cluster.kubectl("logs", f"deploy/{app.release}-mcp", "-n", app.namespace).stdout
        assert f"http://{app.release}-frontend:3000/api/auth/jwks" in mcp_log and "JWKS loaded" in mcp_log, mcp_log[-2000:]
    finally:
        client.close()


def test_browser_end_to_end_through_the_deployed_frontend(app: DeployedApp, tmp_path) -> None:
    """frontend/e2e/run.mjs in Chromium against the release: sign up, add, complete and delete a todo,
    the chat adds "buy milk" and /todos shows it, sign out."""
    env = {
        **os.environ,
        "E2E_FRONTEND_URL": app.frontend_url,
        "E2E_BACKEND_URL": app.backend_url,
        "E2E_ARTIFACTS_DIR": str(ROOT / "artifacts" / "e2e-real-node"),
    }
    proc = subprocess.run(["node", "e2e/run.mjs"], cwd=ROOT / "frontend", env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}\n{app.logs()}"
    assert "# fail 0" in proc.stdout and "# pass 6" in proc.stdout, proc.stdout[-2000:]


def test_helm_test_passes_and_its_logs_stay_readable(app: DeployedApp) -> None:
    """`helm test --logs` exits 0 after a pass and prints the test pod's checks (it used to exit 1: the test was a
    Job deleted on success, and helm reads the log of a pod named like the hook); a second run replaces the pod."""
    for _ in range(2):
        proc = app.cluster.helm("test", app.release, "-n", app.namespace, "--logs", "--timeout", "120s", check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        for url in ("frontend:3000/api/health", "backend:8000/ready", "mcp:8001/health", "ops-mcp:8002/health"):
            assert f"ok   200 http://{app.release}-{url}" in proc.stdout, proc.stdout


def test_sign_in_works_from_any_origin_that_reaches_the_app_and_cross_site_requests_are_refused(app: DeployedApp) -> None:
    """What NOTES.txt says: the page's own origin is trusted (here the frontend Service's address, not publicUrl),
    a request that another site's page sends (another Origin) is refused."""
    other = app.service_url("frontend", 3000)
    assert other != app.frontend_url
    email = f"origin-{secrets.token_hex(4)}@example.com"
    body = {"name": "Origin", "email": email, "password": "correct horse battery"}
    with httpx.Client(base_url=other, timeout=30, headers={"Origin": other}) as client:
        assert client.post("/api/auth/sign-up/email", json=body).status_code == 200
        signed_in = client.post("/api/auth/sign-in/email", json={"email": email, "password": body["password"]})
        assert signed_in.status_code == 200, signed_in.text
        assert client.get("/api/backend/tasks").status_code == 200
    with httpx.Client(base_url=other, timeout=30, headers={"Origin": "http://attacker.example"}) as client:
        refused = client.post("/api/auth/sign-in/email", json={"email": email, "password": body["password"]})
        assert refused.status_code == 403, refused.text
    notes = app.cluster.helm("get", "notes", app.release, "-n", app.namespace).stdout
    assert "sign-in trusts the\n  page's own origin" in notes and "(another Origin) are refused" in notes, notes


def test_network_policy_lets_ops_mcp_reach_the_api_servers_real_port(app: DeployedApp) -> None:
    """NetworkPolicies match after Service translation: ops-mcp's egress must allow the API server endpoint's own
    port (here the test control plane's random port, 8443 on Minikube), not only the Service's 443."""
    import yaml
    from cluster.deploy import CHART, LOCAL_VALUES

    proc = app.cluster.helm(
        "install", "np-check", str(CHART), "-n", app.namespace, "-f", str(LOCAL_VALUES), "--dry-run=server", "--set", "networkPolicy.enabled=true"
    )
    manifest = proc.stdout.split("MANIFEST:", 1)[1].split("NOTES:", 1)[0]
    [policy] = [d for d in yaml.safe_load_all(manifest) if d and d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "np-check-todo-chatbot-ops-mcp"]
    ports = {rule["port"] for egress in policy["spec"]["egress"] for rule in egress["ports"]}
    assert {app.cluster.apiserver_port, 443, 6443, 8443} <= ports, ports
