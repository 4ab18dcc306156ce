"""diagnose reads what its target needs and no more, counted at the API server (the request recorder in conftest.py):
a PersistentVolume only where a Pending claim names it, CronJobs only for a CronJob target."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from ops_helpers import call, ok, ops_env, stdio_client

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]


def claim(name: str, volume: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {"storageClassName": "", "volumeName": volume, "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}}},
    }


def volume(name: str, namespace: str, claim_name: str, uid: str | None = None) -> dict:
    ref = {"kind": "PersistentVolumeClaim", "namespace": namespace, "name": claim_name, **({"uid": uid} if uid else {})}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": "64Mi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "hostPath": {"path": f"/tmp/{name}"},
            "claimRef": ref,
        },
    }


async def test_diagnose_gets_only_the_volumes_that_pending_claims_name(cluster, namespace, audit_log, recorded):
    """Three claims: one names a volume still reserved for a claim of the same name that is gone (another uid), one a
    volume that does not exist, one is Bound to its volume. The volumes of the two Pending claims are read, one GET
    each (the missing one a 404), the bound claim's is not; the reserved volume is the finding."""
    archive, gone, bound = (f"{namespace}-{n}"[:63] for n in ("archive", "gone", "bound"))
    volumes = [volume(archive, namespace, "archive", uid="0b5e7c1e-0000-4000-8000-000000000001"), volume(bound, namespace, "bound")]
    try:
        cluster.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": volumes}))
        cluster.apply([claim("archive", archive), claim("gone", gone), claim("bound", bound)], namespace)

        def phases() -> dict[str, str]:
            items = cluster.kubectl_json("get", "pvc", "-n", namespace)["items"]
            return {c["metadata"]["name"]: (c.get("status") or {}).get("phase") for c in items}

        def released() -> bool:
            return cluster.kubectl("get", "pv", archive, "-o", "jsonpath={.status.phase}").stdout == "Released"

        cluster.wait_for(lambda: phases() == {"archive": "Pending", "gone": "Pending", "bound": "Bound"} and released(), 60, message="the claims' phases")
        kubeconfig, seen = recorded
        async with stdio_client(ops_env(cluster, namespace, audit_log, OPS_MCP_KUBECONFIG=str(kubeconfig))) as c:
            report = ok(await call(c, "diagnose", {"include_logs": False}))
        read = sorted(urlsplit(path).path for path in seen if urlsplit(path).path.startswith("/api/v1/persistentvolumes"))
        assert read == [f"/api/v1/persistentvolumes/{archive}", f"/api/v1/persistentvolumes/{gone}"], seen
        assert [(f["mode"], f["objs"]) for f in report["findings"] if f["mode"].startswith("pvc.")][:1] == [
            ("pvc.volume_released", ["PersistentVolumeClaim/archive"])
        ], report
    finally:
        cluster.kubectl("delete", "pv", archive, bound, "--wait=false", check=False)


async def test_diagnose_lists_cronjobs_only_for_a_cronjob_target(cluster, namespace, audit_log, recorded):
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "rollup"},
        "spec": {
            "schedule": "0 0 1 1 *",
            "suspend": True,
            "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "registry.local/rollup:1"}]}}}},
        },
    }
    cluster.apply(cronjob, namespace)
    kubeconfig, seen = recorded
    for args, listed in (({"kind": "cronjob", "name": "rollup"}, True), ({}, False)):
        seen.clear()
        async with stdio_client(ops_env(cluster, namespace, audit_log, OPS_MCP_KUBECONFIG=str(kubeconfig))) as c:
            report = ok(await call(c, "diagnose", {**args, "include_logs": False}))
        paths = [urlsplit(path).path for path in seen]
        assert (f"/apis/batch/v1/namespaces/{namespace}/cronjobs" in paths) is listed, paths
        assert f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets" in paths, paths
        assert report["target"]["kind"] == ("CronJob" if listed else "Namespace"), report
