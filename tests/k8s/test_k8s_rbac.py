"""The chart's ops-mcp ServiceAccount on the real apiserver: `kubectl auth can-i` per verb, real
requests as that account, helm run as that account, and the ops tools over MCP with its token."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from cluster.harness import Cluster
from k8s_chart import CHART, ROOT
from mcp import Client, StdioServerParameters

pytestmark = pytest.mark.cluster

RELEASE = "todo-chatbot"
SA = "todo-chatbot-ops-mcp"
OPS_ONLY = ["--set", "frontend.enabled=false", "--set", "backend.enabled=false", "--set", "mcpServer.enabled=false", "--set", "postgresql.enabled=false"]

# (verb, resource[, subresource]) the read tools use: always allowed in the release namespace.
READS = [
    ("get", "pods"),
    ("list", "pods"),
    ("watch", "pods"),
    ("get", "pods", "log"),
    ("list", "events"),
    ("list", "events.events.k8s.io"),
    ("list", "services"),
    ("list", "endpoints"),
    ("list", "endpointslices.discovery.k8s.io"),
    ("get", "configmaps"),
    ("list", "deployments.apps"),
    ("list", "replicasets.apps"),
    ("list", "statefulsets.apps"),
    ("list", "daemonsets.apps"),
    ("list", "jobs.batch"),
    ("list", "ingresses.networking.k8s.io"),
    ("list", "horizontalpodautoscalers.autoscaling"),
    ("list", "persistentvolumeclaims"),
    ("get", "deployments.apps"),
    # diagnose kind=serviceaccount: bindings, roles, and the API server's access review
    ("list", "rolebindings.rbac.authorization.k8s.io"),
    ("get", "roles.rbac.authorization.k8s.io"),
    ("create", "localsubjectaccessreviews.authorization.k8s.io"),
    # helm list/history/get values read the release records (Secrets of type helm.sh/release.v1)
    ("list", "secrets"),
    ("get", "secrets"),
]
# The write tools' verbs: refused when read-only, allowed when opsMcp.readOnly=false.
WRITES = [
    ("patch", "deployments.apps", "scale"),
    ("update", "deployments.apps", "scale"),
    ("patch", "statefulsets.apps", "scale"),
    ("patch", "deployments.apps"),
    ("patch", "statefulsets.apps"),
    ("create", "deployments.apps"),
    ("delete", "deployments.apps"),
    ("create", "configmaps"),
    ("create", "services"),
    ("create", "jobs.batch"),
    ("delete", "jobs.batch"),
    ("create", "serviceaccounts"),
]
# Writes the write policy refuses by default: granted only with the value that allows them (opsMcp.helmWrites: all).
POLICY_GATED = {
    "opsMcp.writePolicy.allowSecretWrites": [("create", "secrets"), ("update", "secrets"), ("delete", "secrets")],
    "opsMcp.writePolicy.allowNetworkPolicyWrites": [("create", "networkpolicies.networking.k8s.io"), ("patch", "networkpolicies.networking.k8s.io")],
    "opsMcp.writePolicy.allowRbacWrites": [("create", "roles.rbac.authorization.k8s.io"), ("delete", "rolebindings.rbac.authorization.k8s.io")],
}
# Never, in either mode.
NEVER = [
    ("*", "*"),
    ("create", "pods", "exec"),
    ("delete", "pods"),
    ("create", "pods"),
    ("create", "namespaces"),
    ("patch", "nodes"),
    ("delete", "nodes"),
    ("create", "clusterroles.rbac.authorization.k8s.io"),
    ("impersonate", "users"),
    ("escalate", "roles.rbac.authorization.k8s.io"),
    ("create", "subjectaccessreviews.authorization.k8s.io"),  # the namespaced LocalSubjectAccessReview is enough
]


def can_i(cluster: Cluster, namespace: str, verb: str, resource: str, sub: str | None = None, *, in_ns: str | None = None) -> bool:
    """`kubectl auth can-i ... --as` the chart's ServiceAccount, in process (the suite asks ~300 times)."""
    return cluster.api.can_i(f"system:serviceaccount:{namespace}:{SA}", verb, resource, in_ns or namespace, sub)


def install(cluster: Cluster, namespace: str, uninstall, *extra: str) -> None:
    uninstall(cluster, namespace)
    cluster.helm("upgrade", "--install", RELEASE, str(CHART), "-n", namespace, *OPS_ONLY, *extra, "--wait", "--timeout", "120s")


def test_read_only_service_account_reads_and_every_write_is_refused(cluster: Cluster, namespace: str, uninstall) -> None:
    install(cluster, namespace, uninstall)
    denied_reads = [r for r in READS if not can_i(cluster, namespace, *r)]
    assert not denied_reads, f"read tools would fail: {denied_reads}"
    assert can_i(cluster, namespace, "list", "nodes"), "diagnosis reads nodes (ClusterRole)"
    assert can_i(cluster, namespace, "list", "clusterrolebindings.rbac.authorization.k8s.io"), "diagnose kind=serviceaccount (ClusterRole)"
    allowed_writes = [w for w in WRITES + NEVER if can_i(cluster, namespace, *w)]
    assert not allowed_writes, f"read-only ServiceAccount may write: {allowed_writes}"
    assert not can_i(cluster, namespace, "list", "pods", in_ns="default"), "only the allowed namespaces"
    assert not can_i(cluster, namespace, "list", "secrets", in_ns="kube-system")

    # A real request as the account: the apiserver answers 403 Forbidden and names the verb and resource.
    proc = cluster.kubectl("scale", "deployment", SA, "--replicas=2", "-n", namespace, f"--as=system:serviceaccount:{namespace}:{SA}", check=False)
    assert proc.returncode != 0
    assert "Forbidden" in proc.stderr or "forbidden" in proc.stderr
    assert 'cannot patch resource "deployments/scale"' in proc.stderr or 'cannot get resource "deployments/scale"' in proc.stderr
    got = cluster.kubectl("get", "pods", "-n", namespace, "-o", "name", f"--as=system:serviceaccount:{namespace}:{SA}")
    assert "pod/todo-chatbot-ops-mcp-" in got.stdout


@pytest.mark.parametrize("value", [None, *POLICY_GATED, "opsMcp.helmWrites"])
def test_writable_service_account_gets_exactly_the_write_verbs(cluster: Cluster, namespace: str, uninstall, value: str | None) -> None:
    """opsMcp.readOnly=false: the write tools' verbs; those the write policy refuses only with the value allowing them."""
    install(cluster, namespace, uninstall, "--set", "opsMcp.readOnly=false", *(["--set", f"{value}=true"] if value else []))
    allowed = [] if value is None else [w for v, ws in POLICY_GATED.items() if value in (v, "opsMcp.helmWrites") for w in ws]
    missing = [w for w in READS + WRITES + allowed if not can_i(cluster, namespace, *w)]
    assert not missing, f"write tools would fail: {missing}"
    too_much = [n for n in NEVER + [w for ws in POLICY_GATED.values() for w in ws if w not in allowed] if can_i(cluster, namespace, *n)]
    assert not too_much, f"granted beyond the tools' needs and the policy: {too_much}"
    assert not can_i(cluster, namespace, "patch", "deployments.apps", in_ns="default")
    cluster.kubectl("scale", "deployment", SA, "--replicas=2", "-n", namespace, f"--as=system:serviceaccount:{namespace}:{SA}")


def test_helm_as_the_service_account_upgrades_and_rolls_back_the_full_release(cluster: Cluster, namespace: str, uninstall) -> None:
    """deploy_chart and rollback_release run helm with this account (opsMcp.helmWrites): the Role must be enough for
    every object of the chart (hooks and NetworkPolicies included, the API server's endpoints looked up), and nothing
    more was needed."""
    base = ["-n", namespace, "--set", "postgresql.persistence.enabled=false", "--set", "opsMcp.readOnly=false", "--set", "opsMcp.helmWrites=true"]
    base += ["--set", "networkPolicy.enabled=true", "--wait", "--timeout", "240s"]
    uninstall(cluster, namespace)
    cluster.helm("install", RELEASE, str(CHART), *base)
    as_sa = ["--kube-as-user", f"system:serviceaccount:{namespace}:{SA}"]
    cluster.helm("upgrade", RELEASE, str(CHART), *base, "--set", "anthropicModel=claude-by-ops-mcp", *as_sa)
    data = json.loads(cluster.kubectl("get", "configmap", "todo-chatbot-backend", "-n", namespace, "-o", "json").stdout)["data"]
    assert data["ANTHROPIC_MODEL"] == "claude-by-ops-mcp"
    cluster.helm("rollback", RELEASE, "1", "-n", namespace, "--wait", "--timeout", "240s", *as_sa)
    history = json.loads(cluster.helm("history", RELEASE, "-n", namespace, "-o", "json", *as_sa).stdout)
    assert [h["status"] for h in history][-1] == "deployed" and len(history) == 3


def sa_kubeconfig(cluster: Cluster, namespace: str, path: Path) -> Path:
    """The admin kubeconfig's cluster with the ServiceAccount's token as the user."""
    token = cluster.kubectl("create", "token", SA, "-n", namespace, "--duration=1h").stdout.strip()
    kc = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    for user in kc["users"]:
        user["user"] = {"token": token}
    for ctx in kc["contexts"]:
        ctx["context"]["namespace"] = namespace
    path.write_text(yaml.safe_dump(kc))
    path.chmod(0o600)
    return path


def chart_env(cluster: Cluster, namespace: str, *names: str) -> dict[str, str]:
    """These variables as the installed chart gives them to ops-mcp (its ConfigMap)."""
    data = json.loads(cluster.kubectl("get", "configmap", SA, "-n", namespace, "-o", "json").stdout)["data"]
    return {name: data[name] for name in names}


def sa_server(cluster: Cluster, namespace: str, tmp_path: Path, env: dict[str, str] | None = None) -> StdioServerParameters:
    """ops-mcp over stdio as the chart's ServiceAccount, started writable (its tools are listed and really try), with
    `env` (e.g. the chart's write-policy switches) on top."""
    base = {k: v for k, v in cluster.env.items() if not k.startswith("OPS_MCP_")}
    base.update(
        OPS_MCP_KUBECONFIG=str(sa_kubeconfig(cluster, namespace, tmp_path / "sa.kubeconfig")),
        KUBECONFIG=str(tmp_path / "sa.kubeconfig"),
        OPS_MCP_NAMESPACE=namespace,
        OPS_MCP_NAMESPACES=namespace,
        OPS_MCP_READ_ONLY="false",
        OPS_MCP_AUDIT_LOG=str(tmp_path / "audit.jsonl"),
        OPS_MCP_HELM_BINARY=str(cluster.bin_dir / "helm"),
        OPS_MCP_REQUEST_TIMEOUT="10",
        HOME=str(tmp_path),
        **(env or {}),
    )
    return StdioServerParameters(command=sys.executable, args=["-m", "ops_mcp.cli", "serve", "--transport", "stdio"], env=base, cwd=str(ROOT))


def text_of(result) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_ops_tools_with_the_chart_service_account(cluster: Cluster, namespace: str, tmp_path: Path, anyio_backend: str, uninstall) -> None:
    """The ops tools themselves, with the token of the chart's read-only account: reads work, a write is
    refused by the apiserver (the server is started writable so the tool is listed and really tries)."""
    install(cluster, namespace, uninstall)
    async with Client(sa_server(cluster, namespace, tmp_path), read_timeout_seconds=120) as mcp:
        pods = await mcp.call_tool("list_resources", {"kind": "pods"})
        assert not pods.is_error, text_of(pods)
        assert "todo-chatbot-ops-mcp" in json.dumps(pods.structured_content)
        described = await mcp.call_tool("describe_resource", {"kind": "deployment", "name": SA})
        assert not described.is_error, text_of(described)
        events = await mcp.call_tool("get_events", {})
        assert not events.is_error, text_of(events)
        # helm as the account: release records are Secrets, readable in its namespace only
        releases = await mcp.call_tool("list_releases", {})
        assert not releases.is_error, text_of(releases)
        assert RELEASE in json.dumps(releases.structured_content)
        scaled = await mcp.call_tool("scale_deployment", {"name": SA, "replicas": 2})
        assert scaled.is_error, text_of(scaled)
        assert "403" in text_of(scaled) or "forbidden" in text_of(scaled).lower(), text_of(scaled)
    replicas = json.loads(cluster.kubectl("get", "deployment", SA, "-n", namespace, "-o", "json").stdout)["spec"]["replicas"]
    assert replicas == 1


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_change_tools_with_the_writable_chart_service_account(cluster: Cluster, namespace: str, tmp_path: Path, anyio_backend: str, uninstall) -> None:
    """patch_resource, apply_manifest and delete_resource as the chart's account with opsMcp.readOnly=false: the Role
    grants what they declare for the app's kinds (a server-side apply that creates is authorized as a create too),
    Roles and RoleBindings with opsMcp.writePolicy.allowRbacWrites (the server then gets OPS_MCP_ALLOW_RBAC_WRITES),
    and a kind outside them is refused by the apiserver with the rule to add."""
    install(cluster, namespace, uninstall, "--set", "opsMcp.readOnly=false", "--set", "opsMcp.writePolicy.allowRbacWrites=true")
    policy = chart_env(cluster, namespace, "OPS_MCP_ALLOW_RBAC_WRITES")
    assert policy == {"OPS_MCP_ALLOW_RBAC_WRITES": "true"}
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "pod-reader"}}
    role["rules"] = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "pod-reader"}}
    binding["roleRef"] = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"}
    binding["subjects"] = [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}]
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fix-config"}, "data": {"a": "1"}}
    async with Client(sa_server(cluster, namespace, tmp_path, policy), read_timeout_seconds=120) as mcp:
        together = await mcp.call_tool("apply_manifest", {"manifest": [config, role, binding], "confirm": True})
        assert together.is_error and "apply the Role it binds first, in an earlier call" in text_of(together), text_of(together)
        assert cluster.kubectl("get", "configmap", "fix-config", "-n", namespace, check=False).returncode != 0  # nothing applied
        for manifest in ([config, role], [binding]):  # without `bind`, RBAC binds only a Role that exists
            applied = await mcp.call_tool("apply_manifest", {"manifest": manifest, "confirm": True})
            assert not applied.is_error, text_of(applied)
        patched = await mcp.call_tool("patch_resource", {"kind": "configmap", "name": "fix-config", "patch": {"data": {"a": "2"}}})
        assert not patched.is_error and patched.structured_content["changes"][0]["diff"] == [{"p": "data.a", "was": "1", "now": "2"}], text_of(patched)
        deleted = await mcp.call_tool("delete_resource", {"kind": "configmap", "name": "fix-config", "confirm": True})
        assert not deleted.is_error, text_of(deleted)
        pod = json.loads(cluster.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)["items"][0]["metadata"]["name"]
        refused = await mcp.call_tool("patch_resource", {"kind": "pod", "name": pod, "patch": {"metadata": {"labels": {"x": "y"}}}})
        assert refused.is_error and 'grant the identity a Role/ClusterRole rule apiGroups [""], resources [pods], verbs [patch]' in text_of(refused)
    assert (
        can_i(cluster, namespace, "list", "pods", in_ns=namespace)
        and cluster.kubectl("auth", "can-i", "list", "pods", f"--as=system:serviceaccount:{namespace}:default", "-n", namespace).stdout.strip() == "yes"
    )
    assert cluster.kubectl("get", "configmap", "fix-config", "-n", namespace, check=False).returncode != 0
