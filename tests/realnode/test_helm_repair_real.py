"""Repairs that last, on the real node (issue 24): a Deployment of a Helm release broken through its values stays
broken past its progress deadline; diagnose(kind="helm") is asked once and the first finding's fix.apply is run
exactly as printed (adding only confirm=true where a tool takes it). The repair is a release operation, never a live
patch: afterwards the workload is healthy, the release's values hold the repair, and the owner's own
`helm upgrade --reuse-values` (the helm CLI) succeeds and keeps it repaired.
- broken by an upgrade (an image tag the node does not have) after a revision that served: rollback_release;
- never healthy (a readiness path the server does not answer, from the install on): deploy_chart with the values
  change the cluster's answer gives (the path the container answers through the pod proxy), with the release's own
  chart and values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cluster.harness import Cluster
from test_failures_real import ops_mcp, pod_report

pytestmark = [pytest.mark.realnode, pytest.mark.anyio]

CHART = Path(__file__).resolve().parent / "charts" / "web"
RELEASE = "shop"
DEADLINE = "15"  # progressDeadlineSeconds: the broken rollout exceeds it before diagnose is asked
CONFIRMABLE = {"rollout_undo", "rollback_release", "deploy_chart", "apply_manifest", "delete_resource", "patch_resource", "scale_deployment"}


def deployment(cluster: Cluster, ns: str) -> dict[str, Any]:
    return cluster.kubectl_json("get", "deploy", f"{RELEASE}-web", "-n", ns)


def progressing(cluster: Cluster, ns: str) -> str | None:
    conditions = deployment(cluster, ns).get("status", {}).get("conditions") or []
    return next((c.get("reason") for c in conditions if c["type"] == "Progressing"), None)


def rolled_out(cluster: Cluster, ns: str) -> bool:
    """The latest template's pod is Ready and no other pod is left."""
    d = deployment(cluster, ns)
    status = d.get("status") or {}
    return (
        status.get("observedGeneration") == d["metadata"]["generation"]
        and status.get("updatedReplicas") == status.get("readyReplicas") == status.get("replicas") == 1
        and progressing(cluster, ns) == "NewReplicaSetAvailable"
    )


def wait(cluster: Cluster, ns: str, predicate, what: str, timeout: float = 180) -> None:
    try:
        cluster.wait_for(predicate, timeout=timeout, interval=1, message=what)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{pod_report(cluster, ns)}") from None


def values(cluster: Cluster, ns: str) -> dict[str, Any]:
    return json.loads(cluster.helm("get", "values", RELEASE, "-n", ns, "-o", "json").stdout)


def container(cluster: Cluster, ns: str) -> dict[str, Any]:
    return deployment(cluster, ns)["spec"]["template"]["spec"]["containers"][0]


async def repair_as_printed(cluster: Cluster, ns: str, tmp_path: Path) -> dict[str, Any]:
    """diagnose(kind=helm) once the failure shows, then every step of findings[0].fix.apply as printed."""
    async with ops_mcp(cluster, ns, tmp_path, OPS_MCP_READ_ONLY="false") as ops:
        report = await ops.diagnose_until(lambda r: bool(r.get("findings") and (r["findings"][0].get("fix") or {}).get("apply")), kind="helm", name=RELEASE)
        assert report["target"]["helm"] == RELEASE and report["target"]["release"].startswith("revision 2, "), report["target"]
        fix = report["findings"][0]["fix"]
        for step in fix["apply"]:
            args = {**step["args"], **({"confirm": True} if step["tool"] in CONFIRMABLE else {})}
            print(f"--- {step['tool']}: {await ops.call(step['tool'], **args)}")
        wait(cluster, ns, lambda: rolled_out(cluster, ns), "the repaired rollout")
        after = await ops.diagnose_until(lambda r: r["verdict"] == "healthy" and not r.get("findings"), kind="helm", name=RELEASE, timeout=90)
        assert after["target"]["release"].startswith("revision 3, deployed"), after["target"]
    return fix


def owner_upgrade(cluster: Cluster, ns: str) -> None:
    """The owner's next plain upgrade: the helm CLI with the values the release holds."""
    cluster.helm("upgrade", RELEASE, str(CHART), "-n", ns, "--reuse-values", "--wait", "--timeout", "120s", timeout=180)
    wait(cluster, ns, lambda: rolled_out(cluster, ns), "the owner's upgrade rolled out")


async def test_an_upgrade_to_a_missing_image_is_repaired_by_rolling_the_release_back(
    real_cluster: Cluster, app_images: dict[str, str], real_namespace: str, tmp_path: Path
) -> None:
    ns, cluster = real_namespace, real_cluster
    repository, tag = app_images["backend"].rsplit(":", 1)
    image = ["--set", f"image.repository={repository}", "--set-string", f"image.tag={tag}", "--set", f"progressDeadlineSeconds={DEADLINE}"]
    cluster.helm("install", RELEASE, str(CHART), "-n", ns, *image, "--wait", "--timeout", "120s", timeout=180)
    cluster.helm("upgrade", RELEASE, str(CHART), "-n", ns, "--reuse-values", "--set-string", f"image.tag={tag}-missing")
    wait(cluster, ns, lambda: progressing(cluster, ns) == "ProgressDeadlineExceeded", "the upgrade past its progress deadline")

    fix = await repair_as_printed(cluster, ns, tmp_path)
    assert [s["tool"] for s in fix["apply"]] == ["rollback_release"], fix
    assert fix["apply"][0]["args"] == {"name": RELEASE, "namespace": ns, "revision": 1}, fix
    assert container(cluster, ns)["image"] == app_images["backend"]
    assert values(cluster, ns)["image"]["tag"] == tag

    owner_upgrade(cluster, ns)
    assert container(cluster, ns)["image"] == app_images["backend"] and values(cluster, ns)["image"]["tag"] == tag


async def test_a_release_never_healthy_is_repaired_by_deploy_chart_with_the_values_change(
    real_cluster: Cluster, app_images: dict[str, str], real_namespace: str, tmp_path: Path
) -> None:
    ns, cluster = real_namespace, real_cluster
    repository, tag = app_images["backend"].rsplit(":", 1)
    sets = ["--set", f"image.repository={repository}", "--set-string", f"image.tag={tag}", "--set", f"progressDeadlineSeconds={DEADLINE}"]
    cluster.helm("install", RELEASE, str(CHART), "-n", ns, *sets, "--set", "probe.path=/ready")
    # an upgrade that changes something else: the revision before it never served either
    cluster.helm("upgrade", RELEASE, str(CHART), "-n", ns, "--reuse-values", "--set-string", "podAnnotations.build=2")
    wait(cluster, ns, lambda: progressing(cluster, ns) == "ProgressDeadlineExceeded", "the never-ready rollout past its progress deadline")

    fix = await repair_as_printed(cluster, ns, tmp_path)
    assert fix["apply"] == [{"tool": "deploy_chart", "args": {"release": RELEASE, "namespace": ns, "values": {"probe": {"path": "/healthz"}}}}], fix
    assert "probe.path=/healthz" in fix["helm"] and "probe.path=/healthz" in fix["note"], fix
    assert container(cluster, ns)["readinessProbe"]["httpGet"]["path"] == "/healthz"
    held = values(cluster, ns)
    assert held["probe"] == {"path": "/healthz"} and held["image"] == {"repository": repository, "tag": tag} and held["podAnnotations"] == {"build": "2"}

    owner_upgrade(cluster, ns)
    assert container(cluster, ns)["readinessProbe"]["httpGet"]["path"] == "/healthz"
