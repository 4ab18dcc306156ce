"""Release operations on a release whose Deployment exceeded its progress deadline (the state a failed upgrade leaves),
against the real control plane: rollback_release and deploy_chart succeed (helm 4's default waiter gives up at once
on that condition), and deploy_chart without a chart upgrades the release with its own stored chart and values, the
change merged over them, so the owner's next `helm upgrade --reuse-values` keeps it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from ops_helpers import CHARTS, call, err, ok, ops_env, stdio_client

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]


def stalling_chart(tmp_path: Path) -> Path:
    """The demo chart with a 10 s progress deadline: its pods labelled kubelet=crashloop never become ready."""
    chart = tmp_path / "demo"
    shutil.copytree(CHARTS / "demo", chart)
    template = chart / "templates" / "deployment.yaml"
    template.write_text(template.read_text().replace("spec:\n  replicas:", "spec:\n  progressDeadlineSeconds: 10\n  replicas:", 1))
    return chart


def owner_helm(cluster, binary: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The release owner's helm CLI (helm 4 or helm 3), not ops-mcp's."""
    return subprocess.run([binary, "--kubeconfig", cluster.kubeconfig, *args], env=cluster.env, capture_output=True, text=True, check=True, timeout=300)


def progressing(cluster, ns: str) -> str:
    out = cluster.kubectl("get", "deploy", "demo-web", "-n", ns, "-o", "jsonpath={.status.conditions[?(@.type=='Progressing')].reason}")
    return out.stdout


def break_past_deadline(cluster, binary: str, chart: Path, ns: str, *sets: str) -> None:
    """The owner's upgrade whose pods never become ready, until the Deployment exceeds its progress deadline."""
    owner_helm(cluster, binary, "upgrade", "demo", str(chart), "-n", ns, "--reuse-values", "--set", "kubelet=crashloop", *sets)
    cluster.wait_for(lambda: progressing(cluster, ns) == "ProgressDeadlineExceeded", timeout=90, message="ProgressDeadlineExceeded")


def ready(cluster, ns: str) -> bool:
    status = cluster.kubectl_json("get", "deploy", "demo-web", "-n", ns)["status"]
    return status.get("readyReplicas") == 1 and status.get("updatedReplicas") == 1 and progressing(cluster, ns) == "NewReplicaSetAvailable"


@pytest.mark.parametrize("helm", ["helm", "helm3"])
async def test_release_operations_succeed_past_the_progress_deadline_and_the_owner_upgrades_after_them(cluster, namespace, audit_log, tmp_path, helm):
    ns, chart = namespace, stalling_chart(tmp_path)
    binary = str(cluster.bin_dir / helm)
    owner_helm(cluster, binary, "install", "demo", str(chart), "-n", ns, "--wait", "--timeout", "60s")
    break_past_deadline(cluster, binary, chart, ns)
    env = ops_env(cluster, ns, audit_log, OPS_MCP_RELEASE="demo", OPS_MCP_HELM_BINARY=binary)
    async with stdio_client(env) as c:
        rb = ok(await call(c, "rollback_release", {"name": "demo", "confirm": True, "timeout_seconds": 60}))
        assert rb["applied"] and "revision 2 -> 3" in rb["detail"], rb
        cluster.wait_for(lambda: ready(cluster, ns), timeout=60, message="demo-web ready after the rollback")

        # never healthy with this image: the repair is a values change, upgraded with the release's own chart
        break_past_deadline(cluster, binary, chart, ns, "--set", "image=registry.local/demo:2")
        dry = ok(await call(c, "deploy_chart", {"values": {"kubelet": ""}, "dry_run": True}))
        assert dry["chart"] == "demo-0.1.0" and dry["changes"]["changed"] == ["Deployment/demo-web"], dry
        d = ok(await call(c, "deploy_chart", {"values": {"kubelet": ""}, "confirm": True, "timeout_seconds": 60}))
        assert (d["revision"], d["status"], d["chart"]) == (5, "deployed", "demo-0.1.0"), d
        values = ok(await call(c, "get_release_values", {}))["values"]
        assert values == {"image": "registry.local/demo:2", "kubelet": ""}, values
        assert ready(cluster, ns)
    # the owner's next upgrade keeps the repair (no field-manager conflict, the values hold it)
    owner_helm(cluster, binary, "upgrade", "demo", str(chart), "-n", ns, "--reuse-values", "--wait", "--timeout", "60s")
    assert ready(cluster, ns)
    deploy = cluster.kubectl_json("get", "deploy", "demo-web", "-n", ns)
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/demo:2"
    assert "kwok.todo-chatbot.test/kubelet" not in deploy["spec"]["template"]["metadata"]["labels"]
    history = json.loads(owner_helm(cluster, binary, "history", "demo", "-n", ns, "-o", "json").stdout)
    assert [h["status"] for h in history][-2:] == ["superseded", "deployed"], history


def record_status(cluster, ns: str, release: str, revision: int) -> str | None:
    out = cluster.kubectl("get", "secret", f"sh.helm.release.v1.{release}.v{revision}", "-n", ns, "-o", "jsonpath={.metadata.labels.status}", check=False)
    return out.stdout or None


async def test_diagnose_finds_every_release_whatever_its_storage_and_status(cluster, namespace, audit_log, tmp_path):
    """Releases in Secrets and in ConfigMaps (HELM_DRIVER=configmap), deployed, broken and stuck pending-upgrade (a
    helm killed while it waited): a release target is found by its stored records; the stuck one's fix rolls it back;
    the broken upgrade's first fix is the rollback to the revision that served."""
    ns, chart = namespace, stalling_chart(tmp_path)
    binary = str(cluster.bin_dir / "helm")
    for name in ("demo", "stuck"):
        owner_helm(cluster, binary, "install", name, str(chart), "-n", ns, "--wait", "--timeout", "60s")
    subprocess.run(
        [binary, "--kubeconfig", cluster.kubeconfig, "install", "cm", str(chart), "-n", ns], env={**cluster.env, "HELM_DRIVER": "configmap"}, check=True
    )
    waiting = subprocess.Popen(
        [
            binary,
            "--kubeconfig",
            cluster.kubeconfig,
            "upgrade",
            "stuck",
            str(chart),
            "-n",
            ns,
            "--reuse-values",
            "--set",
            "kubelet=crashloop",
            "--wait",
            "--timeout",
            "5m",
        ],
        env=cluster.env,
    )
    try:
        cluster.wait_for(lambda: record_status(cluster, ns, "stuck", 2) == "pending-upgrade", timeout=60, message="stuck pending-upgrade")
    finally:
        waiting.kill()
        waiting.wait()
    break_past_deadline(cluster, binary, chart, ns)
    env = ops_env(cluster, ns, audit_log, OPS_MCP_HELM_BINARY=binary)
    async with stdio_client(env) as c:
        missing = err(await call(c, "diagnose", {"kind": "helm", "name": "nope"}))
        for known in ("cm (revision 1, deployed (ConfigMap))", "demo (revision 2, deployed (Secret))", "stuck (revision 2, pending-upgrade (Secret))"):
            assert known in missing, missing
        stuck = ok(await call(c, "diagnose", {"kind": "helm", "name": "stuck"}))
        assert stuck["target"]["release"] == "revision 2, pending-upgrade, chart demo-0.1.0 (Secret)", stuck["target"]
        first = stuck["findings"][0]
        assert {f["mode"] for f in stuck["findings"]} >= {"helm.pending", "crashloop.app_error"}, stuck
        assert first["fix"]["apply"] == [{"tool": "rollback_release", "args": {"name": "stuck", "namespace": ns, "revision": 1}}]
        assert ok(await call(c, "rollback_release", {**first["fix"]["apply"][0]["args"], "confirm": True, "timeout_seconds": 60}))["applied"]
        report = ok(await call(c, "diagnose", {"kind": "helm", "name": "demo"}))
        steps = report["findings"][0]["fix"]["apply"]
        assert steps == [{"tool": "rollback_release", "args": {"name": "demo", "namespace": ns, "revision": 1}}], report
        assert ok(await call(c, "rollback_release", {**steps[0]["args"], "confirm": True, "timeout_seconds": 60}))["applied"]
    cluster.wait_for(lambda: ready(cluster, ns), timeout=60, message="demo-web ready after the rollback")
    assert record_status(cluster, ns, "stuck", 3) == "deployed"
