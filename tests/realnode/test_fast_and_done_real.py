"""Fast and done, on the real node through MCP stdio: a change tool's `wait=true` returns only once the new pods are
Ready and no old pod is left (a slow-stopping container's pod stays Terminating for seconds after the rollout status
says complete), and diagnose answers at once from a crashed run's own log instead of waiting out the kubelet's
back-off, waiting (with progress notifications) only when nothing the cluster shows explains the failure."""

from __future__ import annotations

import textwrap
import time
from typing import Any

import anyio
import pytest
from cluster.harness import Cluster
from ops.ops_helpers import ok, ops_env, stdio_client, text_of

pytestmark = [pytest.mark.realnode, pytest.mark.anyio]

PORT = 8080
# Ignores SIGTERM: each old pod stays Terminating for the whole grace period, long after its replacement is Ready.
SLOW_STOP = 'import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint("up", flush=True)\nwhile True: time.sleep(1)'
GRACE = 15
# Listens on PORT; exits 0 on SIGTERM (a liveness kill leaves nothing in its log).
SERVER = textwrap.dedent(f"""
    import http.server, signal, sys
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()
        def log_message(self, *args):
            pass
    print("listening on {PORT}", flush=True)
    http.server.ThreadingHTTPServer(("", {PORT}), Handler).serve_forever()
""")
# Crashes 3 s after its start with an exception naming the cause; its readiness probe is refused meanwhile.
CRASH = 'import time\nprint("starting", flush=True)\ntime.sleep(3)\nraise RuntimeError("cannot reach the ledger at ledger:5432")'


def deployment(name: str, image: str, script: str, replicas: int = 1, grace: int = 5, **container: Any) -> dict[str, Any]:
    spec = {"name": "app", "image": image, "imagePullPolicy": "Never", "command": ["python3", "-c", script], **container}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [spec], "terminationGracePeriodSeconds": grace, "automountServiceAccountToken": False},
            },
        },
    }


def pods(cluster: Cluster, ns: str, app: str) -> list[dict[str, Any]]:
    return cluster.kubectl_json("get", "pods", "-n", ns, "-l", f"app={app}")["items"]


def ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


def status_of(pod: dict[str, Any]) -> dict[str, Any]:
    return (pod["status"].get("containerStatuses") or [{}])[0]


def only_new_pods(cluster: Cluster, ns: str, app: str, replicas: int, before: set[str]) -> list[dict[str, Any]]:
    """What a check on the selector sees right after the call: exactly the new pods, every one Ready, none terminating."""
    seen = pods(cluster, ns, app)
    described = [(p["metadata"]["name"], p["metadata"].get("deletionTimestamp"), ready(p)) for p in seen]
    assert len(seen) == replicas and all(ready(p) and not p["metadata"].get("deletionTimestamp") for p in seen), described
    assert not {p["metadata"]["name"] for p in seen} & before, described
    return seen


async def test_wait_returns_when_the_new_pods_are_ready_and_the_old_ones_are_gone(
    real_cluster: Cluster, app_images: dict[str, str], real_namespace: str, tmp_path
) -> None:
    ns, cluster, app = real_namespace, real_cluster, "slow-stop"
    cluster.apply(deployment(app, app_images["backend"], SLOW_STOP, replicas=2, grace=GRACE), ns)
    cluster.wait_for(lambda: len([p for p in pods(cluster, ns, app) if ready(p)]) == 2, timeout=120, message="2 pods Ready")
    progress: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async with stdio_client(ops_env(cluster, ns, tmp_path / "audit.jsonl")) as client:
        before = {p["metadata"]["name"] for p in pods(cluster, ns, app)}
        result = await client.call_tool("rollout_restart", {"name": app, "wait": True, "timeout_seconds": 180}, progress_callback=on_progress)
        out = ok(result)
        only_new_pods(cluster, ns, app, 2, before)
        assert out["rollout"]["complete"] is True and "no terminating or old-revision pod left" in out["rollout"]["message"], out
        assert "no terminating or old-revision pod left" in text_of(result)
        assert any("terminating or old-revision pod(s) to be gone" in m for m in progress), progress  # it did wait for them

        # the same wait behind patch_resource (a fix's apply step) and scale_deployment (the pod it removes)
        before = {p["metadata"]["name"] for p in pods(cluster, ns, app)}
        env = {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [{"name": "LEVEL", "value": "2"}]}]}}}}
        patched = ok(await client.call_tool("patch_resource", {"kind": "deployment", "name": app, "patch": env, "wait": True, "confirm": True}))
        assert patched["rollout"]["complete"] is True, patched
        kept = only_new_pods(cluster, ns, app, 2, before)
        scaled = ok(await client.call_tool("scale_deployment", {"name": app, "replicas": 1, "wait": True}))
        assert scaled["rollout"]["complete"] is True, scaled
        left = pods(cluster, ns, app)  # the removed pod is gone, not Terminating
        assert len(left) == 1 and not left[0]["metadata"].get("deletionTimestamp") and left[0]["metadata"]["name"] in {p["metadata"]["name"] for p in kept}

        # the timeout holds: old pods still terminating when it passes are named, and the rollout is not complete
        start = time.monotonic()
        late = ok(await client.call_tool("rollout_restart", {"name": app, "wait": True, "timeout_seconds": 4}))["rollout"]
        assert time.monotonic() - start < GRACE and late["complete"] is False and late["message"].startswith("timed out after 4s"), late


async def test_diagnose_answers_from_the_crashed_runs_log_without_waiting_for_the_back_off(
    real_cluster: Cluster, app_images: dict[str, str], real_namespace: str, tmp_path
) -> None:
    """The container raises an exception 3 s after each start, while its readiness probe is refused: the kubelet's
    Unhealthy events name a failing HTTP probe, but the previous run's log and exit code already explain the crash."""
    ns, cluster, app = real_namespace, real_cluster, "ledger"
    probe = {"httpGet": {"path": "/healthz", "port": PORT}, "periodSeconds": 1}
    cluster.apply(deployment(app, app_images["backend"], CRASH, ports=[{"name": "http", "containerPort": PORT}], readinessProbe=probe), ns)

    def backed_off_after_a_refused_probe() -> bool:
        pod = next(iter(pods(cluster, ns, app)), None)
        waiting = (status_of(pod).get("state") or {}).get("waiting") or {} if pod else {}
        if waiting.get("reason") != "CrashLoopBackOff":
            return False
        selector = f"involvedObject.name={pod['metadata']['name']},reason=Unhealthy"
        return bool(cluster.kubectl_json("get", "events", "-n", ns, "--field-selector", selector)["items"])

    progress: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    # The container runs 3 s between back-offs; a diagnose that meets it running sees no crash yet. So: wait for the
    # back-off, ask; if the container had started its next run in between, wait for the next back-off and ask again.
    async with stdio_client(ops_env(cluster, ns, tmp_path / "audit.jsonl")) as client:
        for _ in range(4):
            await anyio.to_thread.run_sync(
                lambda: cluster.wait_for(
                    backed_off_after_a_refused_probe, timeout=120, interval=0.5, message="CrashLoopBackOff after a refused readiness probe"
                )
            )
            start = time.monotonic()
            report = ok(await client.call_tool("diagnose", {"kind": "deployment", "name": app}, progress_callback=on_progress))
            took = time.monotonic() - start
            assert not report.get("limits", {}).get("waited_s") and not progress, (report.get("limits"), progress)
            assert took < 15, took  # it used to wait out the back-off (10 s here) first
            crash = next((f for f in report["findings"] if f["mode"].startswith("crashloop.")), None)
            if crash:
                break
    assert crash and "ledger:5432" in str(crash["cause"]) + str(crash["ev"]), report


async def test_diagnose_waits_with_progress_when_nothing_explains_the_failure(
    real_cluster: Cluster, app_images: dict[str, str], real_namespace: str, tmp_path
) -> None:
    """A server killed by its liveness probe (a port nothing listens on) exits 0 and logs no error: only the running
    container can say which path answers, so diagnose waits for its next run, telling the client meanwhile."""
    ns, cluster, app = real_namespace, real_cluster, "probed"
    liveness = {"httpGet": {"path": "/healthz", "port": PORT + 1}, "initialDelaySeconds": 1, "periodSeconds": 2, "failureThreshold": 2}
    readiness = {"httpGet": {"path": "/ready", "port": PORT}, "periodSeconds": 1}
    cluster.apply(
        deployment(app, app_images["backend"], SERVER, ports=[{"name": "http", "containerPort": PORT}], livenessProbe=liveness, readinessProbe=readiness), ns
    )

    def in_back_off() -> bool:
        waiting = next(((status_of(p).get("state") or {}).get("waiting") or {} for p in pods(cluster, ns, app)), {})
        return waiting.get("reason") == "CrashLoopBackOff"

    cluster.wait_for(in_back_off, timeout=120, interval=0.5, message="a liveness kill, then the kubelet's back-off")
    progress: list[tuple[float, float | None, str]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message or ""))

    async with stdio_client(ops_env(cluster, ns, tmp_path / "audit.jsonl")) as client:
        report = ok(await client.call_tool("diagnose", {"kind": "deployment", "name": app}, progress_callback=on_progress))
    assert report["limits"]["waited_s"] > 0, report.get("limits")
    assert progress and all("to run again after its back-off" in m and total for _, total, m in progress), progress
    fix = next(f for f in report["findings"] if f["mode"] == "crashloop.liveness")["fix"]
    assert "pod proxy" in fix["do"], fix  # the wait was for this: the running container was asked
