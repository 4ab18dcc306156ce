"""ServiceAccount and Service targets on the real control plane, through MCP: the API server's own access review
(RBAC is real here), the printed Role + RoleBinding applied exactly as given, then the review says allowed; a
missing ServiceAccount created by its fix; a Service of a workload scaled to 0 repaired by its scale_deployment step."""

from __future__ import annotations

import pytest

from .scenario_helpers import deployment, finding, has, healthy, ops_client, service

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]

RBAC = "rbac.authorization.k8s.io/v1"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def can_i(cluster, ns: str, sa: str, verb: str, resource: str, where: str | None = None) -> bool:
    """`kubectl auth can-i VERB RESOURCE --as system:serviceaccount:NS:SA -n WHERE` (WHERE defaults to NS), in process."""
    return cluster.api.can_i(f"system:serviceaccount:{ns}:{sa}", verb, resource, where or ns)


def apply_step(cluster, step: dict, ns: str) -> None:
    """An apply_manifest step's objects, exactly as printed (kubectl until the tool exists on this branch)."""
    assert step["tool"] == "apply_manifest" and step["args"]["namespace"] == ns
    assert "<" not in repr(step["args"]), step
    cluster.apply(step["args"]["manifest"], ns)


async def test_service_account_can_is_answered_by_the_api_server_and_the_printed_grant_works(cluster, namespace, tmp_path):
    ns = namespace
    other = f"{ns[:50]}-other"
    cluster.api.create_namespace(other)  # only a Role and its binding go there: no pods, no wait for its ServiceAccount
    try:
        cluster.apply(
            [
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader"}},
                {"apiVersion": RBAC, "kind": "Role", "metadata": {"name": "cm"}, "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]},
                {
                    "apiVersion": RBAC,
                    "kind": "RoleBinding",
                    "metadata": {"name": "reader-cm"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm"},
                    "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns}],
                },
                deployment("api", [{"name": "api", "image": "example/api:1"}], kubelet=None, pod_spec={"serviceAccountName": "reader"}),
            ],
            ns,
        )
        # The API server's authorizer learns of a new binding from its informer, a moment later (longer when loaded).
        cluster.wait_for(lambda: can_i(cluster, ns, "reader", "get", "configmaps"), 30, message="RoleBinding reader-cm in effect")
        cluster.kubectl("rollout", "status", "deployment/api", "-n", ns, "--timeout=120s")  # its pod runs: the account's user is healthy
        async with ops_client(cluster, ns, tmp_path) as c:
            out = await c.call(kind="serviceaccount", name="reader", can="get configmaps")
            f = finding(out, "rbac.allowed")
            assert out["verdict"] == "healthy" and "by RoleBinding/reader-cm (Role/cm)" in f["cause"]["text"]
            review = f["ev"][0]
            assert review["p"] == "LocalSubjectAccessReview.status" and review["v"]["allowed"] is True and "reader-cm" in review["v"]["reason"]

            out = await c.call(kind="serviceaccount", name="reader", can="list pods")
            f = finding(out, "rbac.denied")
            assert f["ev"][0]["v"]["allowed"] is False and "RoleBinding/reader-cm -> Role/cm" in f["cause"]["text"]
            assert not can_i(cluster, ns, "reader", "list", "pods")
            (step,) = f["fix"]["apply"]
            apply_step(cluster, step, ns)
            cluster.wait_for(lambda: can_i(cluster, ns, "reader", "list", "pods"), 30, message="the printed grant in effect")
            f = finding(await c.call(kind="serviceaccount", name="reader", can="list pods"), "rbac.allowed")
            assert "RoleBinding/reader-list-pods (Role/reader-list-pods)" in f["cause"]["text"]

            # another namespace: the Role and RoleBinding go there, for the account of this one
            f = finding(await c.call(kind="serviceaccount", name="reader", can=f"create deployments.apps -n {other}"), "rbac.denied")
            (step,) = f["fix"]["apply"]
            assert [o["metadata"] for o in step["args"]["manifest"]] == [{"name": "reader-create-deployments", "namespace": other}] * 2
            cluster.apply(step["args"]["manifest"], other)
            cluster.wait_for(
                lambda: can_i(cluster, ns, "reader", "create", "deployments.apps", other), 30, message="the grant in the other namespace in effect"
            )
            assert "rbac.allowed" in {x["mode"] for x in (await c.call(kind="serviceaccount", name="reader", can=f"create deployments -n {other}"))["findings"]}

            # without `can`: what it is bound to and who runs as it
            f = finding(await c.call(kind="serviceaccount", name="reader"), "rbac.bindings")
            assert "RoleBinding/reader-cm -> Role/cm" in f["cause"]["text"] and "RoleBinding/reader-list-pods" in f["cause"]["text"]
            assert "used by Deployment/api" in f["cause"]["text"]

            msg = await c.error(kind="serviceaccount", name="reader", can="fly pods")
            assert "VERB RESOURCE" in msg
            msg = await c.error(kind="deployment", name="api", can="list pods")
            assert "kind='serviceaccount'" in msg
            msg = await c.error(kind="serviceaccount", name="readr")
            assert "'readr' not found" in msg and "reader" in msg
    finally:
        cluster.api.delete_namespace(other)


async def test_missing_service_account_is_created_by_its_fix(cluster, namespace, tmp_path):
    ns = namespace
    cluster.apply(deployment("robot", [{"name": "robot", "image": "example/robot:1"}], kubelet=None, pod_spec={"serviceAccountName": "robot"}), ns)
    async with ops_client(cluster, ns, tmp_path) as c:
        out = await c.until(has("serviceaccount.missing"), kind="serviceaccount", name="robot")
        root = finding(out, "serviceaccount.missing")
        assert root["sev"] == "critical" and "Deployment/robot" in root["cause"]["text"]
        create, restart = root["fix"]["apply"]
        apply_step(cluster, create, ns)
        assert restart == {"tool": "rollout_restart", "args": {"name": "robot", "namespace": ns, "kind": "deployment", "wait": True}}
        result = await c.client.call_tool(restart["tool"], restart["args"])
        assert not result.is_error, result
        out = await c.until(lambda o: not has("replicas.failed_create")(o) and has("rbac.bindings")(o), kind="serviceaccount", name="robot", timeout=120)
        assert "used by Deployment/robot (1 pods)" in finding(out, "rbac.bindings")["cause"]["text"]


async def test_service_of_a_workload_scaled_to_zero_is_repaired_by_its_scale_step(cluster, namespace, tmp_path):
    ns = namespace
    cluster.apply([deployment("web", [{"name": "web", "image": "nginx:1.27"}], replicas=0, kubelet=None), service("web", {"app": "web"}, target=80)], ns)
    async with ops_client(cluster, ns, tmp_path) as c:
        out = await c.until(has("service.no_ready_endpoints"), kind="service", name="web")
        f = finding(out, "service.no_ready_endpoints")
        assert "scaled to 0" in f["cause"]["text"]
        (step,) = f["fix"]["apply"]
        assert step == {"tool": "scale_deployment", "args": {"name": "web", "replicas": 1, "namespace": ns, "kind": "deployment", "wait": True}}
        result = await c.client.call_tool(step["tool"], step["args"])
        assert not result.is_error, result
        await c.until(healthy, kind="service", name="web", timeout=90)


async def test_hpa_and_pvc_targets_through_mcp(cluster, namespace, tmp_path):
    ns = namespace
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web-hpa"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 3,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}],
        },
    }
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {"storageClassName": "nope", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    cluster.apply([deployment("web", [{"name": "web", "image": "nginx:1.27"}], kubelet=None), hpa, claim], ns)
    async with ops_client(cluster, ns, tmp_path) as c:
        out = await c.until(has("hpa.missing_requests"), kind="hpa", name="web-hpa")
        assert out["target"] == {"kind": "HorizontalPodAutoscaler", "ns": ns, "name": "web-hpa"}
        assert f"kubectl -n {ns} set resources deploy/web -c web '--requests=cpu=<cpu-request>'" in finding(out, "hpa.missing_requests")["fix"]["note"]
        out = await c.until(has("pvc.no_storageclass"), kind="pvc", name="data")
        f = finding(out, "pvc.no_storageclass")
        assert out["target"]["kind"] == "PersistentVolumeClaim" and "StorageClass nope does not exist" in f["cause"]["text"]
        classes = cluster.kubectl_json("get", "storageclass")["items"]
        if not classes:  # the KWOK control plane has no provisioner: say so, no apply
            assert "apply" not in f["fix"] and "no other class" in f["fix"]["do"]
        msg = await c.error(kind="pvc", name="dta")
        assert "'dta' not found" in msg and "data" in msg
