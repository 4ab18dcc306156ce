"""The chart's NetworkPolicies enforced for real (kube-router's firewall on the real node, as a policy-aware
CNI does it on Minikube): every path the app needs works, everything else is refused."""

from __future__ import annotations

import socket
import subprocess

import pytest
from cluster import deploy
from ops.ops_helpers import http_client, ok
from realnode_helpers import RELEASE, deploy_app, free_port

pytestmark = [pytest.mark.realnode, pytest.mark.anyio]

CONNECT = "import socket, sys\ntry:\n    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()\n    print('open')\nexcept OSError as e:\n    print('refused', e)"


def firewall_state(cluster) -> str:
    """What a refusal that did not come needs to be understood: FORWARD's order and the enforcer's log."""
    forward = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True).stdout
    return f"iptables FORWARD:\n{forward}\n{cluster.node.daemons['network-policy'].tail(20)}"


def refused(cluster, namespace: str, target: str, host: str, port: int) -> None:
    # the enforcer programs a new pod's rules from its watch: under load that lags the pod's start by seconds
    try:
        cluster.wait_for(lambda: reach(cluster, namespace, target, host, port) == "refused", timeout=30, message=f"{target} -> {host}:{port} refused")
    except TimeoutError as e:
        raise AssertionError(f"{e}\n{firewall_state(cluster)}") from None


def reach(cluster, namespace: str, target: str, host: str, port: int) -> str:
    """Whether a TCP connection from `target` (a pod or deploy/...) to host:port opens."""
    out = cluster.kubectl("exec", target, "-n", namespace, "--", "python", "-c", CONNECT, host, str(port), timeout=60)
    return out.stdout.strip().split()[0]


def host_reach(host: str, port: int) -> str:
    """Whether the host (no policy applies to it) opens a TCP connection to host:port: the control for a refusal."""
    try:
        socket.create_connection((host, port), timeout=3).close()
        return "open"
    except OSError:
        return "refused"


def stranger_pod(namespace: str, image: str, port: int) -> dict:
    """A pod of the namespace that is none of the app's components, serving HTTP on `port`, within the restricted Pod
    Security level the namespace enforces (deploy.install labels it)."""
    security = {"runAsNonRoot": True, "runAsUser": 10001, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    container = {"name": "c", "image": image, "imagePullPolicy": "Never", "command": ["python", "-m", "http.server", str(port)], "securityContext": security}
    spec = {"containers": [container], "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stranger", "namespace": namespace}, "spec": spec}


async def test_allowed_paths_work_and_everything_else_is_refused(real_cluster, app_images, real_namespace, tmp_path):
    app = deploy_app(real_cluster, real_namespace, app_images, tmp_path, sets={"networkPolicy.enabled": "true"})
    try:
        assert len(real_cluster.kubectl_json("get", "networkpolicy", "-n", real_namespace)["items"]) >= 5
        # Allowed: the browser's path frontend -> backend -> task MCP server (and both verify tokens against the
        # frontend's JWKS), and ops-mcp -> the API server through the `kubernetes` Service.
        import httpx

        with httpx.Client(base_url=app.frontend_url, timeout=30, headers={"Origin": app.frontend_url}) as client:
            body = {"name": "NP", "email": "np@example.com", "password": "correct horse battery"}
            assert client.post("/api/auth/sign-up/email", json=body).status_code == 200
            assert client.post("/api/backend/tasks", json={"title": "through the policies"}).status_code == 201
            chat = client.post("/api/backend/chat", json={"message": "list my tasks"}).json()
            assert "through the policies" in chat["response"], chat
        token = deploy.secret_value(real_cluster, real_namespace, RELEASE, "OPS_MCP_HTTP_TOKEN")
        forward = deploy.PortForward(real_cluster, real_namespace, f"svc/{RELEASE}-ops-mcp", free_port(), 8002).start()
        try:
            async with http_client(f"{forward.url}/mcp", token) as mcp:
                assert ok(await mcp.call_tool("get_app_status", {}))["healthy"] is True
        finally:
            forward.stop()
        ops = f"deploy/{RELEASE}-ops-mcp"
        assert reach(real_cluster, real_namespace, ops, deploy.cluster_ip(real_cluster, "default", "kubernetes"), 443) == "open"

        # Refused: ops-mcp talks to the API server only, not even to another pod on the API server's own port (the
        # policy names the API server's address, from the `kubernetes` EndpointSlice the chart looked up); a pod of
        # the namespace that is none of the app's components reaches none of them.
        backend, mcp_svc = f"{RELEASE}-backend", f"{RELEASE}-mcp"
        refused(real_cluster, real_namespace, ops, backend, 8000)
        api = real_cluster.kubectl_json("get", "endpointslice", "kubernetes", "-n", "default")
        api_port = api["ports"][0]["port"]
        [egress] = real_cluster.kubectl_json("get", "networkpolicy", f"{RELEASE}-ops-mcp", "-n", real_namespace)["spec"]["egress"]
        assert egress["to"] == [{"ipBlock": {"cidr": f"{a}/32"}} for e in api["endpoints"] for a in e["addresses"]], egress
        assert {"port": api_port, "protocol": "TCP"} in egress["ports"], egress
        real_cluster.apply(stranger_pod(real_namespace, app_images["backend"], api_port))
        real_cluster.kubectl("wait", "--for=condition=Ready", "pod/stranger", "-n", real_namespace, "--timeout=60s")
        stranger_ip = real_cluster.kubectl_json("get", "pod", "stranger", "-n", real_namespace)["status"]["podIP"]
        real_cluster.wait_for(lambda: host_reach(stranger_ip, api_port) == "open", timeout=30, message="the stranger serves on the API server's port")
        refused(real_cluster, real_namespace, ops, stranger_ip, api_port)
        for host, port in ((backend, 8000), (mcp_svc, 8001), (f"{RELEASE}-ops-mcp", 8002)):
            refused(real_cluster, real_namespace, "stranger", host, port)
        # The same pod with the label the chart documents for ops-mcp's clients is let in.
        real_cluster.kubectl("label", "pod", "stranger", "-n", real_namespace, f"{RELEASE}-ops-mcp-client=true")
        real_cluster.wait_for(
            lambda: reach(real_cluster, real_namespace, "stranger", f"{RELEASE}-ops-mcp", 8002) == "open", timeout=30, message="the labelled client"
        )
    finally:
        app.close()
