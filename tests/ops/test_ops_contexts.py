"""Several kubeconfig contexts on the test control plane: each call acts as the context it names, the allowlist
holds, and the audit log names the context of every change."""

from __future__ import annotations

import json

import pytest
import yaml
from ops_helpers import call, deployment, err, ok, ops_env, stdio_client

pytestmark = pytest.mark.anyio


def two_context_kubeconfig(cluster, namespace: str, tmp_path) -> str:
    """The admin's context (`admin`) and a ServiceAccount that may only read pods (`viewer`), on one cluster."""
    cluster.apply(
        [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ctx-viewer"}},
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "ctx-pods"},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "ctx-pods"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ctx-pods"},
                "subjects": [{"kind": "ServiceAccount", "name": "ctx-viewer", "namespace": namespace}],
            },
            deployment("web", 1),
        ],
        namespace,
    )
    token = cluster.kubectl("create", "token", "ctx-viewer", "-n", namespace, "--duration=1h").stdout.strip()
    admin = yaml.safe_load(open(cluster.kubeconfig))
    [cluster_entry] = admin["clusters"][:1]
    [admin_user] = [u for u in admin["users"] if u["name"] == next(c for c in admin["contexts"] if c["name"] == admin["current-context"])["context"]["user"]]
    kc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "admin",
        "clusters": [cluster_entry],
        "users": [admin_user, {"name": "viewer", "user": {"token": token}}],
        "contexts": [
            {"name": "admin", "context": {"cluster": cluster_entry["name"], "user": admin_user["name"]}},
            {"name": "viewer", "context": {"cluster": cluster_entry["name"], "user": "viewer", "namespace": namespace}},
            {"name": "elsewhere", "context": {"cluster": cluster_entry["name"], "user": admin_user["name"]}},
        ],
    }
    path = tmp_path / "contexts.kubeconfig"
    path.write_text(yaml.safe_dump(kc))
    return str(path)


async def test_each_call_acts_as_the_context_it_names_inside_the_allowlist(cluster, namespace, audit_log, tmp_path):
    path = two_context_kubeconfig(cluster, namespace, tmp_path)
    env = ops_env(cluster, namespace, audit_log, OPS_MCP_KUBECONFIG=path, OPS_MCP_CONTEXTS="admin,viewer")
    async with stdio_client(env) as c:
        names = [row["name"] for row in ok(await call(c, "list_contexts"))["contexts"]]
        assert names == ["admin", "viewer"]
        # The viewer's client reads pods and is refused the scale; the default (admin) scales: two clients, one server.
        assert len(ok(await call(c, "list_resources", {"kind": "pods", "context": "viewer"}))["rows"]) >= 1
        message = err(await call(c, "scale_deployment", {"name": "web", "replicas": 2, "context": "viewer"}))
        assert "cannot get deployments.apps/scale" in message, message
        assert ok(await call(c, "scale_deployment", {"name": "web", "replicas": 2}))["after"] == 2
        assert ok(await call(c, "scale_deployment", {"name": "web", "replicas": 1, "context": "admin"}))["after"] == 1
        message = err(await call(c, "scale_deployment", {"name": "web", "replicas": 3, "context": "elsewhere"}))
        assert "Context 'elsewhere' is not one this server may use" in message and "admin, viewer" in message
    assert cluster.kubectl("get", "deploy", "web", "-n", namespace, "-o", "jsonpath={.spec.replicas}").stdout == "1"
    records = [json.loads(line) for line in open(audit_log) if '"scale_deployment"' in line]
    assert [(r["context"], r["outcome"]) for r in records] == [("viewer", "error"), ("admin", "applied"), ("admin", "applied"), ("elsewhere", "error")], records


async def test_an_allowlisted_context_the_kubeconfig_lacks_is_a_clear_error(cluster, namespace, audit_log, tmp_path):
    path = two_context_kubeconfig(cluster, namespace, tmp_path)
    env = ops_env(cluster, namespace, audit_log, OPS_MCP_KUBECONFIG=path, OPS_MCP_CONTEXTS="admin,staging")
    async with stdio_client(env) as c:
        message = err(await call(c, "list_resources", {"kind": "pods"}))
    assert "OPS_MCP_CONTEXTS names staging, which the kubeconfig does not have (it has: admin, viewer, elsewhere)" in message, message
