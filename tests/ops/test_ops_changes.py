"""Change tools (scale, rollout, helm) against the real control plane: happy paths, bad inputs,
confirmation (elicitation and confirm=true), progress notifications, audit records."""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import threading
import time
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from mcp_types import ElicitResult
from ops_helpers import CHARTS, call, deployment, err, ok, ops_env, stdio_client, text_of, wait_ready

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]


def audit_records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def image_of(cluster, namespace, name) -> str:
    return cluster.kubectl("get", "deploy", name, "-n", namespace, "-o", "jsonpath={.spec.template.spec.containers[0].image}").stdout


async def test_scale_with_wait_progress_bounds_and_audit(cluster, namespace, audit_log):
    cluster.apply(deployment("web", 1), namespace)
    wait_ready(cluster, namespace, "web", 1)
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(p, total, message):
        progress.append((p, total, message))

    async with stdio_client(ops_env(cluster, namespace, audit_log, OPS_MCP_MAX_REPLICAS="5")) as c:
        r = ok(await call(c, "scale_deployment", {"name": "web", "replicas": 3, "wait": True, "timeout_seconds": 60}, progress_callback=on_progress))
        assert (r["before"], r["after"], r["applied"]) == (1, 3, True)
        assert r["rollout"]["complete"] and r["rollout"]["ready"] == 3
        assert progress and progress[-1][0] == 3 and progress[-1][1] == 3
        for bad in (-1, 6, 100000):
            assert "outside the allowed range 0..5" in err(await call(c, "scale_deployment", {"name": "web", "replicas": bad}))
        assert "'web'" in err(await call(c, "scale_deployment", {"name": "wbe", "replicas": 1}))
        assert "invalid name" in err(await call(c, "scale_deployment", {"name": "WEB!", "replicas": 1}))
        # to 0 stops the app: the user approves it (this client asks before each call, then says confirm=true)
        assert "scales Deployment/web to 0" in err(await call(c, "scale_deployment", {"name": "web", "replicas": 0}))
        down = ok(await call(c, "scale_deployment", {"name": "web", "replicas": 0, "confirm": True}))
        assert (down["before"], down["after"]) == (3, 0)
    records = audit_records(audit_log)
    assert [(x["tool"], x["outcome"]) for x in records] == [("scale_deployment", "applied")] + [("scale_deployment", "error")] * 6 + [
        ("scale_deployment", "applied")
    ]
    assert records[0]["arguments"] == {"name": "web", "replicas": 3, "wait": True, "timeout_seconds": 60}
    assert "stdio" in records[0]["client"] and records[0]["time"].endswith("+00:00")


async def test_rollout_status_restart_and_undo_with_confirmation(cluster, namespace, audit_log):
    cluster.apply(deployment("api", 2), namespace)
    wait_ready(cluster, namespace, "api", 2)
    cluster.kubectl("set", "image", "deploy/api", "app=registry.local/app:2", "-n", namespace)
    cluster.wait_for(lambda: cluster.kubectl("rollout", "status", "deploy/api", "-n", namespace, "--timeout=2s", check=False).returncode == 0, 60)
    env = ops_env(cluster, namespace, audit_log)
    async with stdio_client(env) as c:
        st = ok(await call(c, "rollout_status", {"name": "api"}))
        assert st["complete"] and st["revision"] == "2" and st["desired"] == 2
        rs = ok(await call(c, "rollout_restart", {"name": "api", "wait": True, "timeout_seconds": 60}))
        assert rs["applied"] and rs["rollout"]["complete"]
        assert cluster.kubectl("get", "deploy", "api", "-n", namespace, "-o", "jsonpath={.spec.template.metadata.annotations}").stdout.count("restartedAt") == 1
        # This client cannot be asked (no elicitation): the tool refuses and says how to confirm.
        msg = err(await call(c, "rollout_undo", {"name": "api"}))
        assert "needs the user's approval" in msg and "confirm=true" in msg
        assert image_of(cluster, namespace, "api") == "registry.local/app:2"
        assert "no revision 99" in err(await call(c, "rollout_undo", {"name": "api", "revision": 99, "confirm": True}))
        undo = ok(await call(c, "rollout_undo", {"name": "api", "revision": 1, "confirm": True, "wait": True}))
        assert undo["applied"] and "to 1" in undo["detail"]
        assert image_of(cluster, namespace, "api") == "registry.local/app:1"

    asked: list[str] = []

    def answer(accept: bool):
        async def callback(context, params):
            asked.append(params.message)
            return ElicitResult(action="accept", content={"confirm": True}) if accept else ElicitResult(action="decline")

        return callback

    async with stdio_client(env, elicitation_callback=answer(False)) as c:
        declined = ok(await call(c, "rollout_undo", {"name": "api"}))
        assert declined["applied"] is False and "Nothing changed" in text_of(await call(c, "rollout_undo", {"name": "api"}))
    assert image_of(cluster, namespace, "api") == "registry.local/app:1"
    async with stdio_client(env, elicitation_callback=answer(True)) as c:
        accepted = ok(await call(c, "rollout_undo", {"name": "api"}))
        assert accepted["applied"] is True
    assert image_of(cluster, namespace, "api") == "registry.local/app:2"
    assert asked and f"'api' in namespace '{namespace}'" in asked[0]
    outcomes = [(x["tool"], x["outcome"]) for x in audit_records(audit_log)]
    assert ("rollout_undo", "not_applied") in outcomes and outcomes[-1] == ("rollout_undo", "applied")
    assert all(tool != "rollout_status" for tool, _ in outcomes)


@pytest.mark.parametrize("kind", ["statefulset", "daemonset"])
async def test_rollout_undo_and_status_of_statefulsets_and_daemonsets(cluster, namespace, audit_log, kind):
    """Their revisions are ControllerRevisions (not ReplicaSets): undo applies the revision's template patch."""
    workload = deployment("db", 2)
    workload["kind"] = {"statefulset": "StatefulSet", "daemonset": "DaemonSet"}[kind]
    if kind == "statefulset":
        workload["spec"]["serviceName"] = "db"
    else:
        del workload["spec"]["replicas"]

    def image() -> str:
        return cluster.kubectl("get", kind, "db", "-n", namespace, "-o", "jsonpath={.spec.template.spec.containers[0].image}").stdout

    async with stdio_client(ops_env(cluster, namespace, audit_log)) as c:
        cluster.apply(workload, namespace)
        first = ok(await call(c, "rollout_status", {"name": "db", "kind": kind, "wait": True, "timeout_seconds": 120}))
        assert first["complete"] and first["desired"] == 2 and first["ready"] == 2, first
        assert "no previous revision" in err(await call(c, "rollout_undo", {"name": "db", "kind": kind, "confirm": True}))
        cluster.kubectl("set", "image", f"{kind}/db", "app=registry.local/app:2", "-n", namespace)
        assert ok(await call(c, "rollout_status", {"name": "db", "kind": kind, "wait": True, "timeout_seconds": 120}))["complete"]
        assert image() == "registry.local/app:2"
        assert "available revisions: 1, 2" in err(await call(c, "rollout_undo", {"name": "db", "kind": kind, "revision": 7, "confirm": True}))
        undo = ok(await call(c, "rollout_undo", {"name": "db", "kind": kind, "confirm": True, "wait": True}))
        assert undo["applied"] and undo["kind"] == workload["kind"] and undo["detail"] == "rolled back from revision 2 to 1"
        assert undo["rollout"]["complete"], undo
        assert image() == "registry.local/app:1"
        restarted = ok(await call(c, "rollout_restart", {"name": "db", "kind": kind}))
        assert restarted["applied"] and "restartedAt" in restarted["detail"]
    assert [(r["tool"], r["outcome"]) for r in audit_records(audit_log)][-3:] == [
        ("rollout_undo", "error"),
        ("rollout_undo", "applied"),
        ("rollout_restart", "applied"),
    ]


@pytest.mark.parametrize("helm", ["helm", "helm3"])  # helm 4 (the package's) and helm 3: flags differ (--rollback-on-failure / --atomic)
async def test_helm_deploy_dry_run_values_history_rollback_uninstall(cluster, namespace, audit_log, helm):
    chart = str(CHARTS / "demo")
    secret = "Pa55-w0rd-Helm-7731"
    progress: list[str | None] = []

    async def on_progress(p, total, message):
        progress.append(message)

    # the chart renders a Secret of the password: an operator who lets the agent write Secrets (the write policy's default refuses)
    env = ops_env(
        cluster,
        namespace,
        audit_log,
        OPS_MCP_RELEASE="demo",
        OPS_MCP_CHART_SOURCES=str(CHARTS),
        OPS_MCP_HELM_BINARY=str(cluster.bin_dir / helm),
        OPS_MCP_ALLOW_SECRET_WRITES="true",
    )
    async with stdio_client(env) as c:
        assert "Chart.yaml missing" in err(await call(c, "deploy_chart", {"confirm": True, "chart": str(CHARTS / "nonexistent")}))
        assert "outside the repository" in err(await call(c, "deploy_chart", {"confirm": True, "chart": chart, "values_files": ["/etc/passwd"]}))
        assert "invalid release name" in err(await call(c, "deploy_chart", {"confirm": True, "chart": chart, "release": "Bad_Release"}))
        d = ok(
            await call(
                c,
                "deploy_chart",
                {"confirm": True, "chart": chart, "values": {"db": {"password": secret}}, "timeout_seconds": 120},
                progress_callback=on_progress,
            )
        )
        assert d["applied"] and d["revision"] == 1 and d["status"] == "deployed" and d["chart"] == "demo-0.1.0"
        assert "Deployment/demo-web" in d["resources"]
        assert progress, "no progress notifications while helm waited"
        releases = ok(await call(c, "list_releases", {}))["releases"]
        assert [(r["name"], r["status"], r["revision"]) for r in releases] == [("demo", "deployed", 1)]
        status = ok(await call(c, "get_app_status", {}))
        assert status["helm"] == {"name": "demo", "namespace": namespace, "revision": 1, "status": "deployed"}
        assert status["healthy"] and {"kind": "Deployment", "name": "demo-web", "ready": 1, "desired": 1} in status["workloads"]
        values = await call(c, "get_release_values", {})
        assert ok(values)["values"]["db"]["password"] == "***" and secret not in text_of(values)
        dry = ok(
            await call(
                c,
                "deploy_chart",
                {"confirm": True, "chart": chart, "values_files": ["extra-values.yaml"], "values": {"db": {"password": secret}}, "dry_run": True},
            )
        )
        assert dry["applied"] is False and dry["changes"]["changed"] == ["Deployment/demo-web"] and dry["changes"]["added"] == []
        assert ok(await call(c, "release_history", {}))["revisions"][-1]["revision"] == 1
        # An upgrade whose pods never become ready times out and is rolled back.
        bad = err(
            await call(
                c, "deploy_chart", {"confirm": True, "chart": chart, "values": {"db": {"password": secret}, "kubelet": "crashloop"}, "timeout_seconds": 10}
            )
        )
        assert "rolled back" in bad and "Next step" in bad
        hist = ok(await call(c, "release_history", {}))["revisions"]
        assert [h["status"] for h in hist][-2:] == ["failed", "deployed"]
        assert "needs the user's approval" in err(await call(c, "rollback_release", {"name": "demo"}))
        rb = ok(await call(c, "rollback_release", {"name": "demo", "revision": 1, "confirm": True, "timeout_seconds": 60}))
        assert rb["applied"]
        assert "not found" in err(await call(c, "release_history", {"release": "nope"})).lower()
        un = ok(await call(c, "uninstall_release", {"name": "demo", "confirm": True}))
        assert un["applied"]
        assert ok(await call(c, "list_releases", {}))["releases"] == []
        assert "not installed" in err(await call(c, "uninstall_release", {"name": "demo", "confirm": True}))
    assert secret not in audit_log.read_text()
    tools = [x["tool"] for x in audit_records(audit_log)]
    assert "deploy_chart" in tools and "uninstall_release" in tools and "list_releases" not in tools


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


@contextmanager
def chart_repository(cluster, tmp_path):
    """A real Helm chart repository on loopback: the demo chart packaged, indexed and served over HTTP."""
    helm = str(cluster.bin_dir / "helm")
    subprocess.run([helm, "package", str(CHARTS / "demo"), "-d", str(tmp_path)], check=True, capture_output=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(tmp_path)))
    url = f"http://127.0.0.1:{server.server_address[1]}"
    subprocess.run([helm, "repo", "index", str(tmp_path), "--url", url], check=True, capture_output=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def oci_registry(cluster, tmp_path):
    """A real OCI registry on loopback (crane registry serve, in memory) holding the demo chart as demo:0.1.0."""
    helm, log = str(cluster.bin_dir / "helm"), tmp_path / "registry.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(cluster.bin_dir / "crane"), "registry", "serve", "--address", "127.0.0.1:0"], stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 15
        while not (port := re.search(r"serving on port (\d+)", log.read_text())):
            assert proc.poll() is None and time.monotonic() < deadline, f"crane registry did not start: {log.read_text()[-500:]}"
            time.sleep(0.05)
        host = f"127.0.0.1:{port.group(1)}"
        subprocess.run([helm, "package", str(CHARTS / "demo"), "-d", str(tmp_path)], check=True, capture_output=True)
        subprocess.run([helm, "push", str(tmp_path / "demo-0.1.0.tgz"), f"oci://{host}/charts", "--plain-http"], check=True, capture_output=True)
        yield host
    finally:
        proc.terminate()
        proc.wait(10)


async def test_deploy_chart_from_an_oci_registry(cluster, namespace, audit_log, tmp_path):
    with oci_registry(cluster, tmp_path) as host:
        ref = f"oci://{host}/charts/demo"
        async with stdio_client(ops_env(cluster, namespace, audit_log, OPS_MCP_CHART_SOURCES="*")) as c:
            dry = ok(await call(c, "deploy_chart", {"confirm": True, "release": "fromoci", "chart": ref, "version": "0.1.0", "dry_run": True}))
            assert dry["applied"] is False and dry["chart"] == "demo-0.1.0" and "Deployment/fromoci-web" in dry["changes"]["added"]
            d = ok(await call(c, "deploy_chart", {"confirm": True, "release": "fromoci", "chart": ref, "timeout_seconds": 120}))
            assert (d["applied"], d["revision"], d["status"], d["chart"]) == (True, 1, "deployed", "demo-0.1.0")
            assert cluster.kubectl("get", "deploy", "fromoci-web", "-n", namespace, "-o", "jsonpath={.status.readyReplicas}").stdout == "1"
            for missing in ({"chart": ref, "version": "9.9.9"}, {"chart": f"oci://{host}/charts/nope"}):
                assert "no such chart or version" in err(await call(c, "deploy_chart", {"confirm": True, "release": "fromoci", **missing}))
            down = err(await call(c, "deploy_chart", {"confirm": True, "release": "fromoci", "chart": "oci://127.0.0.1:1/charts/demo"}))
            assert "OCI registry could not serve the chart" in down and "cluster is unreachable" not in down
            assert [(h["revision"], h["status"]) for h in ok(await call(c, "release_history", {"release": "fromoci"}))["revisions"]] == [(1, "deployed")]


async def test_deploy_chart_from_a_chart_repository(cluster, namespace, audit_log, tmp_path):
    with chart_repository(cluster, tmp_path) as repo:
        async with stdio_client(ops_env(cluster, namespace, audit_log, OPS_MCP_CHART_SOURCES="*")) as c:
            dry = ok(
                await call(c, "deploy_chart", {"confirm": True, "release": "fromrepo", "chart": "demo", "repo": repo, "version": "0.1.0", "dry_run": True})
            )
            assert dry["applied"] is False and dry["chart"] == "demo-0.1.0" and "Deployment/fromrepo-web" in dry["changes"]["added"]
            assert ok(await call(c, "list_releases", {}))["releases"] == []  # a dry run installs nothing
            d = ok(await call(c, "deploy_chart", {"confirm": True, "release": "fromrepo", "chart": "demo", "repo": repo, "timeout_seconds": 120}))
            assert (d["applied"], d["revision"], d["status"], d["chart"]) == (True, 1, "deployed", "demo-0.1.0")
            assert cluster.kubectl("get", "deploy", "fromrepo-web", "-n", namespace, "-o", "jsonpath={.status.readyReplicas}").stdout == "1"
            # Bad sources fail with the real cause and change nothing.
            missing = err(await call(c, "deploy_chart", {"confirm": True, "release": "fromrepo", "chart": "demo", "repo": repo, "version": "9.9.9"}))
            assert 'version "9.9.9" not found' in missing and "versions the repository offers" in missing
            assert "not found" in err(await call(c, "deploy_chart", {"confirm": True, "release": "fromrepo", "chart": "nochart", "repo": repo}))
            gone = err(await call(c, "deploy_chart", {"confirm": True, "release": "fromrepo", "chart": "demo", "repo": "http://127.0.0.1:1"}))
            assert "chart repository could not be read" in gone and "cluster is unreachable" not in gone
            assert "only https:// and oci://" in err(
                await call(c, "deploy_chart", {"confirm": True, "release": "fromrepo", "chart": "demo", "repo": "http://charts.example.com"})
            )
            assert "only https:// and oci://" in err(await call(c, "deploy_chart", {"confirm": True, "release": "fromrepo", "chart": "file:///tmp/demo.tgz"}))
            assert "needs chart=" in err(await call(c, "deploy_chart", {"confirm": True, "release": "fromrepo", "repo": repo}))
            hist = ok(await call(c, "release_history", {"release": "fromrepo"}))["revisions"]
            assert [(h["revision"], h["status"]) for h in hist] == [(1, "deployed")]
    # Every deploy_chart call is on record: the dry run, the install, then six refusals.
    outcomes = [r["outcome"] for r in audit_records(audit_log) if r["tool"] == "deploy_chart"]
    assert outcomes == ["not_applied", "applied"] + ["error"] * 6


async def test_deploy_chart_needs_an_allowed_source_and_confirmation(cluster, namespace, audit_log, tmp_path):
    """A chart runs with the server's privileges (any Secret of the namespace, any ServiceAccount) and an
    upgrade deletes what its manifests drop: deploy_chart is destructive and limited to OPS_MCP_CHART_SOURCES."""
    demo = str(CHARTS / "demo")
    outside = tmp_path / "demo-copy"
    shutil.copytree(demo, outside)
    # Default: the app's own chart only.
    async with stdio_client(ops_env(cluster, namespace, audit_log, OPS_MCP_RELEASE="gated")) as c:
        msg = err(await call(c, "deploy_chart", {"chart": demo, "dry_run": True}))
        assert "not allowed on this server" in msg and "OPS_MCP_CHART_SOURCES" in msg and "Next step" in msg
    async with stdio_client(ops_env(cluster, namespace, audit_log, OPS_MCP_RELEASE="gated", OPS_MCP_CHART_SOURCES=demo)) as c:
        for refused in (
            {"chart": str(outside)},
            {"chart": f"{demo}/../../charts/../../.."},
            {"chart": "oci://registry.example.com/charts/demo"},
            {"chart": "demo", "repo": "https://charts.example.com"},
        ):
            assert "not allowed on this server" in err(await call(c, "deploy_chart", {**refused, "confirm": True})), refused
        # An install only adds objects, each checked by the write policy: nothing risky, so nobody is asked.
        installed = ok(await call(c, "deploy_chart", {"chart": demo, "timeout_seconds": 120}))
        assert installed["applied"] and installed["revision"] == 1
        # A new image is risky: the user approves it (confirm=true from this client, which asks before each call).
        msg = err(await call(c, "deploy_chart", {"chart": demo, "values": {"image": "registry.local/demo:2"}}))
        assert "changes Deployment/gated-web container web's image" in msg and "confirm=true" in msg, msg
        # A dry run asks nothing and compares with the deployed release.
        dry = ok(await call(c, "deploy_chart", {"chart": demo, "values": {"replicas": 2}, "dry_run": True}))
        assert dry["changes"]["changed"] == ["Deployment/gated-web"] and dry["changes"]["removed"] == [] and not dry["applied"]
    async with stdio_client(ops_env(cluster, namespace, audit_log, OPS_MCP_CHART_SOURCES=demo), "--disable-destructive") as c:
        assert "deploy_chart" not in {t.name for t in (await c.list_tools()).tools}
    assert cluster.kubectl("get", "deploy", "gated-web", "-n", namespace, "-o", "jsonpath={.spec.replicas}").stdout == "1"


async def test_scale_refuses_a_workload_an_hpa_scales_unless_asked_to_adjust_it(cluster, namespace, audit_log):
    cluster.apply(
        [
            deployment("web", 2),
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "web"},
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "minReplicas": 2,
                    "maxReplicas": 4,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}],
                },
            },
        ],
        namespace,
    )

    def get(kind: str, path: str) -> str:
        return cluster.kubectl("get", kind, "web", "-n", namespace, "-o", f"jsonpath={path}").stdout

    async with stdio_client(ops_env(cluster, namespace, audit_log)) as c:
        msg = err(await call(c, "scale_deployment", {"name": "web", "replicas": 3}))
        assert "HorizontalPodAutoscaler 'web' (2..4 replicas" in msg and "adjust_hpa=true" in msg and "Nothing changed" in msg
        assert get("deploy", "{.spec.replicas}") == "2"
        done = ok(await call(c, "scale_deployment", {"name": "web", "replicas": 6, "adjust_hpa": True}))
        assert done["after"] == 6 and done["hpa"] == {"name": "web", "min_before": 2, "max_before": 4, "min_after": 6, "max_after": 6}
        assert (get("hpa", "{.spec.minReplicas}"), get("hpa", "{.spec.maxReplicas}"), get("deploy", "{.spec.replicas}")) == ("6", "6", "6")
        assert "minimum cannot be 0" in err(await call(c, "scale_deployment", {"name": "web", "replicas": 0, "adjust_hpa": True}))
        assert "outside the allowed range" in err(await call(c, "scale_deployment", {"name": "web", "replicas": 11, "adjust_hpa": True}))
    assert get("hpa", "{.spec.minReplicas}") == "6"


async def test_rollout_undo_refuses_a_paused_deployment(cluster, namespace, audit_log):
    cluster.apply(deployment("api", 1), namespace)
    wait_ready(cluster, namespace, "api", 1)
    cluster.kubectl("set", "image", "deploy/api", "app=registry.local/app:2", "-n", namespace)
    cluster.wait_for(lambda: cluster.kubectl("rollout", "status", "deploy/api", "-n", namespace, "--timeout=2s", check=False).returncode == 0, 60)
    cluster.kubectl("rollout", "pause", "deploy/api", "-n", namespace)
    async with stdio_client(ops_env(cluster, namespace, audit_log)) as c:
        msg = err(await call(c, "rollout_undo", {"name": "api", "confirm": True}))
        assert "is paused" in msg and "rollout resume" in msg and "nothing changed" in msg
        assert image_of(cluster, namespace, "api") == "registry.local/app:2"
        cluster.kubectl("rollout", "resume", "deploy/api", "-n", namespace)
        undo = ok(await call(c, "rollout_undo", {"name": "api", "confirm": True}))  # the resourceVersion-guarded patch
        assert undo["applied"] and image_of(cluster, namespace, "api") == "registry.local/app:1"


async def test_rollout_undo_asks_again_when_the_workload_changes_while_the_user_decides(cluster, namespace, audit_log):
    """The confirmation names the revisions; a rollout that lands while the question is open (CI deploying during a
    human's minute) makes the earlier answer void: the user is asked about the new state, and that is what happens."""
    cluster.apply(deployment("api", 1), namespace)
    wait_ready(cluster, namespace, "api", 1)

    def set_image(tag: str, revision: str) -> None:
        cluster.kubectl("set", "image", "deploy/api", f"app=registry.local/app:{tag}", "-n", namespace)
        get = ("get", "deploy", "api", "-n", namespace, "-o", "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}")
        cluster.wait_for(lambda: cluster.kubectl(*get).stdout == revision, 60, message=f"revision {revision}")

    set_image("2", "2")
    asked: list[str] = []

    async def answer(context, params):
        asked.append(params.message)
        if len(asked) == 1:
            set_image("3", "3")  # someone else's rollout lands before the user clicks
        return ElicitResult(action="accept", content={"confirm": True})

    async with stdio_client(ops_env(cluster, namespace, audit_log), elicitation_callback=answer) as c:
        undo = ok(await call(c, "rollout_undo", {"name": "api"}))
    assert len(asked) == 2, asked
    assert "from revision 2 to 1" in asked[0] and "from revision 3 to 2" in asked[1]
    assert undo["applied"] and undo["detail"] == "rolled back from revision 3 to 2"
    assert image_of(cluster, namespace, "api") == "registry.local/app:2"


async def test_rollout_status_understands_statefulset_partitions(cluster, namespace, audit_log):
    sts = deployment("db", 3)
    sts["kind"] = "StatefulSet"
    sts["spec"].update(serviceName="db", updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}})
    cluster.apply(sts, namespace)
    async with stdio_client(ops_env(cluster, namespace, audit_log)) as c:
        assert ok(await call(c, "rollout_status", {"name": "db", "kind": "statefulset", "wait": True, "timeout_seconds": 120}))["complete"]
        cluster.kubectl("set", "image", "statefulset/db", "app=registry.local/app:2", "-n", namespace)
        # Only ordinal 2 rolls (partition 2): that is the whole rollout, as kubectl rollout status says.
        st = ok(await call(c, "rollout_status", {"name": "db", "kind": "statefulset", "wait": True, "timeout_seconds": 120}))
        assert st["complete"] and st["updated"] == 1 and "partitioned rollout complete" in st["message"], st
    images = cluster.kubectl(
        "get", "pods", "-n", namespace, "-l", "app=db", "-o", "jsonpath={range .items[*]}{.metadata.name}={.spec.containers[0].image} {end}"
    ).stdout.split()
    assert sorted(images) == ["db-0=registry.local/app:1", "db-1=registry.local/app:1", "db-2=registry.local/app:2"]
