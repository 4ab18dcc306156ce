"""Fixes applied as printed, on the real node: an agent runs exactly the ops-mcp calls of a finding's fix.apply
through MCP (adding only confirm=true to the destructive ones) and the workload really recovers.
- A pod Pending on a claim whose StorageClass does not exist: apply the never-bound claim again with the default class
  `standard` of the hostPath provisioner (`replace`: deleted and created), wait for the workload: the claim binds, the
  pod is Ready.
- A crash loop on the API server's 403 for the pod's ServiceAccount: apply the Role + RoleBinding, restart."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from cluster.harness import Cluster
from cluster.node import NODE_NAME, STORAGE_CLASS
from ops.ops_helpers import ok
from test_failures_real import SERVER, container_status, deployment, finding, has, has_log, healthy, http_port, ops_mcp, pod_report, wait_pod

pytestmark = [pytest.mark.realnode, pytest.mark.anyio]

# what a client that asks its user before each call adds once the user approved: confirm=true where a tool takes it
CONFIRMABLE = {"rollout_undo", "rollback_release", "deploy_chart", "apply_manifest", "delete_resource", "patch_resource", "scale_deployment"}


async def test_missing_storage_class_is_repaired_by_the_printed_apply_steps(
    real_cluster: Cluster, app_images: dict[str, str], real_namespace: str, tmp_path: Path
) -> None:
    ns, cluster = real_namespace, real_cluster
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "labels": {"app": "store", "tier": "db"}, "annotations": {"team": "shop"}},
        "spec": {"storageClassName": "fast-ssd", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}}},
    }
    store = deployment(
        "store",
        app_images["backend"],
        SERVER,
        ports=http_port(),
        readinessProbe={"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 2},
        volumeMounts=[{"name": "data", "mountPath": "/data"}],
    )
    store["spec"]["template"]["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    cluster.apply([claim, store], ns)
    wait_pod(cluster, ns, "store", lambda p: (p.get("status") or {}).get("phase") == "Pending" and not p["spec"].get("nodeName"), "a Pending pod")
    async with ops_mcp(cluster, ns, tmp_path, OPS_MCP_READ_ONLY="false") as ops:
        report = await ops.diagnose_until(has("pvc.no_storageclass"), kind="deployment", name="store")
        first = report["findings"][0]
        f = finding(report, "pvc.no_storageclass")
        assert first["id"] == f["id"], "the root cause comes first"
        assert f"StorageClass fast-ssd does not exist (existing: {STORAGE_CLASS})" in f["cause"]["text"]
        assert finding(report, "scheduling.unbound_pvc")["caused_by"] == [f["id"]]
        steps = f["fix"]["apply"]  # one call: storageClassName is immutable, the claim is deleted and created again
        assert [(s["tool"], s["args"].get("replace")) for s in steps] == [("apply_manifest", True)], steps
        assert "<" not in repr(steps), steps
        (manifest,) = steps[0]["args"]["manifest"]
        assert manifest["spec"]["storageClassName"] == STORAGE_CLASS and manifest["metadata"]["labels"] == {"app": "store", "tier": "db"}
        assert manifest["metadata"]["annotations"] == {"team": "shop"} and manifest["spec"]["resources"] == {"requests": {"storage": "64Mi"}}

        for step in steps:  # exactly as printed; a client adds confirm after the user approved
            args = {**step["args"], **({"confirm": True} if step["tool"] in CONFIRMABLE else {})}
            out = ok(await ops.client.call_tool(step["tool"], args))
            print(f"--- {step['tool']}: {out}")

        pvc = cluster.kubectl_json("get", "pvc", "data", "-n", ns)
        assert pvc["status"]["phase"] == "Bound" and pvc["spec"]["storageClassName"] == STORAGE_CLASS, pvc["status"]
        pod = wait_pod(cluster, ns, "store", lambda p: bool(container_status(p).get("ready")), "store Ready", timeout=60)
        assert pod["spec"]["nodeName"] == NODE_NAME and container_status(pod)["containerID"].startswith("containerd://"), pod_report(cluster, ns)
        assert healthy(await ops.diagnose_until(healthy, kind="deployment", name="store", timeout=60))
        report = await ops.diagnose_until(lambda r: r["target"]["kind"] == "PersistentVolumeClaim", kind="pvc", name="data", timeout=10)
        assert healthy(report), report


LISTER = (
    textwrap.dedent("""
    import ssl, sys, urllib.error, urllib.request
    sa = "/var/run/secrets/kubernetes.io/serviceaccount/"
    ns = open(sa + "namespace").read()
    req = urllib.request.Request(f"https://kubernetes.default.svc/api/v1/namespaces/{ns}/pods", headers={"Authorization": "Bearer " + open(sa + "token").read()})
    try:
        urllib.request.urlopen(req, context=ssl.create_default_context(cafile=sa + "ca.crt"), timeout=10)
    except urllib.error.HTTPError as exc:
        print("error: listing pods failed:", exc.code, exc.read().decode(), flush=True)
        sys.exit(1)
    print("listed pods", flush=True)
""")
    + SERVER
)


async def test_forbidden_service_account_crash_loop_is_repaired_by_the_printed_grant(
    real_cluster: Cluster, app_images: dict[str, str], real_namespace: str, tmp_path: Path
) -> None:
    """A real process lists pods with its ServiceAccount's token, gets the API server's 403 (its JSON Status body in
    the log) and exits 1; the printed Role + RoleBinding and restart, applied as given, make it list, serve and be Ready."""
    ns, cluster = real_namespace, real_cluster
    lister = deployment(
        "lister", app_images["backend"], LISTER, ports=http_port(), readinessProbe={"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 2}
    )
    lister["spec"]["template"]["spec"].update(serviceAccountName="lister", automountServiceAccountToken=True)
    cluster.apply([{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "lister"}}, lister], ns)
    wait_pod(cluster, ns, "lister", lambda p: container_status(p).get("restartCount", 0) >= 1, "a real 403 crash")
    # the grant is a Role + RoleBinding: the write policy refuses RBAC writes unless the operator allows narrow ones
    async with ops_mcp(cluster, ns, tmp_path, OPS_MCP_READ_ONLY="false", OPS_MCP_ALLOW_RBAC_WRITES="true") as ops:
        report = await ops.diagnose_until(has_log("crashloop.app_error"), kind="deployment", name="lister")  # the fix is read from the log
        f = finding(report, "crashloop.app_error")
        steps = f["fix"]["apply"]
        assert [s["tool"] for s in steps] == ["apply_manifest", "rollout_restart"], f["fix"]
        role, binding = steps[0]["args"]["manifest"]
        assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "lister", "namespace": ns}]
        denied = await ops.call("diagnose", kind="serviceaccount", name="lister", can="list pods")
        assert finding(denied, "rbac.denied")["fix"]["apply"][0] == steps[0], "the same grant from the ServiceAccount target"
        for step in steps:
            args = {**step["args"], **({"confirm": True} if step["tool"] in CONFIRMABLE else {})}
            print(f"--- {step['tool']}: {ok(await ops.client.call_tool(step['tool'], args))}")
        pod = wait_pod(cluster, ns, "lister", lambda p: bool(container_status(p).get("ready")), "lister Ready", timeout=60)
        assert container_status(pod)["restartCount"] == 0, container_status(pod)
        allowed = await ops.call("diagnose", kind="serviceaccount", name="lister", can="list pods")
        assert "RoleBinding/lister-list-pods" in finding(allowed, "rbac.allowed")["cause"]["text"]
    assert "listed pods" in cluster.kubectl("logs", "deploy/lister", "-n", ns).stdout
