"""A pod Pending on a claim whose StorageClass does not exist, on the real node: ops-mcp names the cause and prints
the fix as ordered ops-mcp calls (delete the never-bound claim, apply it again with the default class `standard`
of the hostPath provisioner, wait for the workload); an agent that runs exactly those calls through MCP (adding only
confirm=true to the destructive ones) gets a bound claim and the pod Running and Ready on the real node."""

from __future__ import annotations

from pathlib import Path

import pytest
from cluster.harness import Cluster
from cluster.node import NODE_NAME, STORAGE_CLASS
from ops.ops_helpers import ok
from test_failures_real import SERVER, container_status, deployment, finding, has, healthy, http_port, ops_mcp, pod_report, wait_pod

pytestmark = [pytest.mark.realnode, pytest.mark.anyio]

DESTRUCTIVE = {"apply_manifest", "delete_resource", "rollout_undo", "rollback_release", "deploy_chart"}


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
        steps = f["fix"]["apply"]
        assert [s["tool"] for s in steps] == ["delete_resource", "apply_manifest", "rollout_status"], steps
        assert "<" not in repr(steps), steps
        (manifest,) = steps[1]["args"]["manifest"]
        assert manifest["spec"]["storageClassName"] == STORAGE_CLASS and manifest["metadata"]["labels"] == {"app": "store", "tier": "db"}
        assert manifest["metadata"]["annotations"] == {"team": "shop"} and manifest["spec"]["resources"] == {"requests": {"storage": "64Mi"}}

        for step in steps:  # exactly as printed; a client adds confirm after the user approved
            args = {**step["args"], **({"confirm": True} if step["tool"] in DESTRUCTIVE else {})}
            out = ok(await ops.client.call_tool(step["tool"], args))
            print(f"--- {step['tool']}: {out}")

        pvc = cluster.kubectl_json("get", "pvc", "data", "-n", ns)
        assert pvc["status"]["phase"] == "Bound" and pvc["spec"]["storageClassName"] == STORAGE_CLASS, pvc["status"]
        pod = wait_pod(cluster, ns, "store", lambda p: bool(container_status(p).get("ready")), "store Ready", timeout=60)
        assert pod["spec"]["nodeName"] == NODE_NAME and container_status(pod)["containerID"].startswith("containerd://"), pod_report(cluster, ns)
        assert healthy(await ops.diagnose_until(healthy, kind="deployment", name="store", timeout=60))
        report = await ops.diagnose_until(lambda r: r["target"]["kind"] == "PersistentVolumeClaim", kind="pvc", name="data", timeout=10)
        assert healthy(report), report
