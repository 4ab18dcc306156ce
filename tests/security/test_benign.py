"""The benign suite (issue 23): the repairs an operator expects an agent to make still pass the write policy, on
workloads that meet the restricted level and on ones that never did (the policy judges what a change adds). Each
goes through MCP with the defaults (writes on, confirm=true from a client that asks its user) and is checked in the
cluster. The fix-loop evals (tests/evals) prove the same for diagnose's own fixes on the real node."""

from __future__ import annotations

from typing import Any

import pytest
from ops.ops_helpers import ok, ops_env, stdio_client, wait_ready

from security.attacks import workload

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def legacy(name: str) -> dict[str, Any]:
    """A workload as many are: no security context at all (root, default capabilities)."""
    obj = workload(name)
    obj["spec"]["template"]["spec"] = {"containers": [{"name": "app", "image": "registry.local/app:1", "env": [{"name": "MODE", "value": "a"}]}]}
    return obj


def field(cluster: Any, namespace: str, obj: str, path: str) -> str:
    return cluster.kubectl("get", obj, "-n", namespace, "-o", f"jsonpath={path}").stdout


async def test_legitimate_repairs_pass_the_write_policy(cluster: Any, namespace: str, tmp_path) -> None:
    cluster.apply(
        [workload("web"), legacy("old"), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"LOG_LEVEL": "info"}}], namespace
    )
    cluster.apply(
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 9000}]}},
        namespace,
    )
    wait_ready(cluster, namespace, "old", 1)
    probe = {"httpGet": {"path": "/healthz", "port": 8000}}
    repairs: list[tuple[str, dict[str, Any]]] = [
        (
            "patch_resource",
            {
                "kind": "deployment",
                "name": "web",
                "patch": {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "registry.local/app:2"}]}}}},
            },
        ),
        (
            "patch_resource",
            {
                "kind": "deployment",
                "name": "old",
                "patch": {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "registry.local/app:2"}]}}}},
            },
        ),
        (
            "patch_resource",
            {
                "kind": "deployment",
                "name": "old",
                "patch": {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [{"name": "MODE", "value": "b"}]}]}}}},
            },
        ),
        (
            "patch_resource",
            {
                "kind": "deployment",
                "name": "web",
                "patch": {
                    "spec": {"template": {"spec": {"containers": [{"name": "app", "livenessProbe": probe, "resources": {"limits": {"memory": "256Mi"}}}]}}}
                },
            },
        ),
        ("patch_resource", {"kind": "configmap", "name": "cfg", "patch": {"data": {"LOG_LEVEL": "debug"}}}),
        (
            "patch_resource",
            {"kind": "service", "name": "web", "patch_type": "json", "patch": [{"op": "replace", "path": "/spec/ports/0/targetPort", "value": 8000}]},
        ),
        ("scale_deployment", {"name": "web", "replicas": 3}),
        ("rollout_restart", {"name": "old"}),
        ("apply_manifest", {"manifest": [workload("fresh")]}),
        (
            "apply_manifest",
            {
                "manifest": [
                    {
                        "apiVersion": "v1",
                        "kind": "PersistentVolumeClaim",
                        "metadata": {"name": "data"},
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                    }
                ]
            },
        ),
        ("rollout_undo", {"name": "old"}),
        ("delete_resource", {"kind": "deployment", "name": "fresh"}),
    ]
    async with stdio_client(ops_env(cluster, namespace, tmp_path / "audit.jsonl", OPS_MCP_NAMESPACES=namespace)) as client:
        schemas = {t.name: t.input_schema for t in (await client.list_tools()).tools}
        for tool, args in repairs:
            confirm = {"confirm": True} if "confirm" in (schemas[tool].get("properties") or {}) else {}
            ok(await client.call_tool(tool, {**args, **confirm}))
    assert field(cluster, namespace, "deploy/web", "{.spec.template.spec.containers[0].image}") == "registry.local/app:2"
    assert field(cluster, namespace, "deploy/web", "{.spec.replicas}") == "3"
    assert field(cluster, namespace, "deploy/web", "{.spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation}") == "false"
    assert field(cluster, namespace, "configmap/cfg", "{.data.LOG_LEVEL}") == "debug"
    assert field(cluster, namespace, "svc/web", "{.spec.ports[0].targetPort}") == "8000"
    assert field(cluster, namespace, "deploy/old", "{.spec.template.spec.containers[0].env[0].value}") == "b"
    assert "restartedAt" not in field(cluster, namespace, "deploy/old", "{.spec.template.metadata.annotations}")  # the restart undone
    assert cluster.kubectl("get", "deploy", "fresh", "-n", namespace, check=False).returncode != 0
