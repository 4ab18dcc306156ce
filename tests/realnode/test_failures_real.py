"""Real failures made by real containers on the real node, each diagnosed by ops-mcp (a host process over MCP
stdio with the real cluster's kubeconfig) and fixed by calling, over MCP, the `apply` steps of its fix exactly as
given, as an agent with only MCP tools would (the kubectl command it prints is checked as text); then the workload
is really healthy: the rollout finished, the pods are Ready and stay so without a restart, and ops-mcp says
healthy. Every state here comes from the kubelet, containerd, runc and the kernel (no KWOK, no status patch); the
image is the project's backend image, which has python3. Also get_pod_logs on the real kubelet's log semantics.
"""

from __future__ import annotations

import json
import re
import shlex
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from cluster.harness import Cluster
from cluster.node import NODE_NAME
from ops.ops_helpers import ok, ops_env, stdio_client, text_of

pytestmark = [pytest.mark.realnode, pytest.mark.anyio]

PORT = 8080
# A small HTTP server: 200 on /healthz, 404 elsewhere; exits 0 on SIGTERM (as PID 1, Python would ignore it).
SERVER = textwrap.dedent(f"""
    import http.server, signal, sys
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            found = self.path == "/healthz"
            self.send_response(200 if found else 404)
            self.end_headers()
            self.wfile.write(b"ok" if found else b"not found")
        def log_message(self, *args):
            pass
    print("listening on {PORT}", flush=True)
    http.server.ThreadingHTTPServer(("", {PORT}), Handler).serve_forever()
""")


# ---- the workload ---------------------------------------------------------------------------------------------


def deployment(name: str, image: str, script: str, *, pull_policy: str = "Never", **container: Any) -> dict[str, Any]:
    """One replica of `python3 -c script` in the given image, on the real node."""
    spec = {"name": "app", "image": image, "imagePullPolicy": pull_policy, "command": ["python3", "-c", script], **container}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [spec], "terminationGracePeriodSeconds": 5, "automountServiceAccountToken": False},
            },
        },
    }


def http_port() -> list[dict[str, Any]]:
    return [{"name": "http", "containerPort": PORT}]


def live_pods(cluster: Cluster, ns: str, app: str) -> list[dict[str, Any]]:
    items = cluster.kubectl_json("get", "pods", "-n", ns, "-l", f"app={app}")["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def container_status(pod: dict[str, Any]) -> dict[str, Any]:
    return ((pod.get("status") or {}).get("containerStatuses") or [{}])[0]


def wait_pod(cluster: Cluster, ns: str, app: str, predicate: Callable[[dict[str, Any]], bool], what: str, timeout: float = 120) -> dict[str, Any]:
    """The workload's one live pod once `predicate(pod)` holds."""

    def check() -> dict[str, Any] | None:
        pods = live_pods(cluster, ns, app)
        return pods[0] if len(pods) == 1 and predicate(pods[0]) else None

    try:
        return cluster.wait_for(check, timeout=timeout, interval=0.5, message=what)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{pod_report(cluster, ns)}") from None


def pod_report(cluster: Cluster, ns: str) -> str:
    out = cluster.kubectl("get", "pods,events", "-n", ns, "-o", "wide", check=False)
    return out.stdout + out.stderr


# ---- ops-mcp over MCP stdio ------------------------------------------------------------------------------------


class Ops:
    """ops-mcp as an MCP client session (a host process over stdio on the real cluster's kubeconfig)."""

    def __init__(self, client: Any, namespace: str):
        self.client = client
        self.namespace = namespace

    async def call(self, tool: str, **args: Any) -> dict[str, Any]:
        return ok(await self.client.call_tool(tool, args))

    async def text(self, tool: str, **args: Any) -> tuple[str, dict[str, Any]]:
        result = await self.client.call_tool(tool, args)
        return text_of(result), ok(result)

    async def diagnose_until(self, predicate: Callable[[dict[str, Any]], bool], tool: str = "diagnose", timeout: float = 150, **args: Any) -> dict[str, Any]:
        """Diagnose until the report satisfies `predicate` (the kubelet needs a moment to make the failure)."""
        deadline = time.monotonic() + timeout
        while True:
            text, report = await self.text(tool, **args)
            if predicate(report):
                print(f"--- {tool} {args}:\n{text}\n{json.dumps(report.get('findings'), indent=1)}")
                return report
            if time.monotonic() > deadline:
                raise AssertionError(f"{tool} {args} never satisfied the condition; last report:\n{json.dumps(report, indent=1)[:6000]}")
            await anyio.sleep(2)


@asynccontextmanager
async def ops_mcp(cluster: Cluster, namespace: str, tmp_path: Path, **settings: str) -> AsyncIterator[Ops]:
    async with stdio_client(ops_env(cluster, namespace, tmp_path / "audit.jsonl", **settings)) as client:
        yield Ops(client, namespace)


def finding(report: dict[str, Any], mode: str) -> dict[str, Any]:
    found = [f for f in report.get("findings", []) if f["mode"] == mode]
    assert found, f"no {mode} finding; got {[f['mode'] for f in report.get('findings', [])]}: {report['summary']}"
    return found[0]


def has(mode: str) -> Callable[[dict[str, Any]], bool]:
    return lambda report: any(f["mode"] == mode for f in report.get("findings", []))


def has_log(mode: str) -> Callable[[dict[str, Any]], bool]:
    """A finding of `mode` that quotes a crashed run's log. Between a crash and the kubelet's back-off the container
    shows terminated, and the kubelet may already have removed the run before it (one dead container kept per
    container): a diagnosis then has the exit code but no previous log yet, and the next one, in back-off, has it."""
    return lambda report: any(f["mode"] == mode and any("log" in e for e in f["ev"]) for f in report.get("findings", []))


def healthy(report: dict[str, Any]) -> bool:
    return report["verdict"] == "healthy" and not report.get("findings")


def evidence(f: dict[str, Any], path_part: str) -> Any:
    return next(e["v"] for e in f["ev"] if path_part in (e.get("p") or ""))


def events_of(f: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["event"] for e in f["ev"] if "event" in e]


# ---- applying the printed fix ---------------------------------------------------------------------------------


def run_printed(cluster: Cluster, command: str, **placeholders: str) -> str:
    """Run a kubectl command exactly as the report printed it: parsed with shlex into an argument list (never a
    shell), only the named placeholders filled in, with the toolchain's kubectl against the real cluster."""
    argv = shlex.split(command)
    assert argv[0] == "kubectl", f"not a kubectl command: {command}"
    for placeholder, value in placeholders.items():
        assert any(placeholder in arg for arg in argv), f"{placeholder} is not in {command}"
        argv = [arg.replace(placeholder, value) for arg in argv]
    left = [arg for arg in argv if "<" in arg and ">" in arg]
    assert not left, f"placeholder(s) the test may not fill in {command}: {left}"
    return cluster.kubectl(*argv[1:], timeout=180).stdout


def patch_step(name: str, ns: str, patch: Any, patch_type: str | None = None) -> dict[str, Any]:
    """The patch_resource step a fix of Deployment `name` must carry (strategic unless said, waiting for the rollout)."""
    args = {"kind": "deployment", "name": name, "namespace": ns, "patch": patch, **({"patch_type": patch_type} if patch_type else {}), "wait": True}
    return {"tool": "patch_resource", "args": args}


# what a client that asks its user before each call adds once the user approved: confirm=true where a tool takes it
CONFIRMABLE = {"rollout_undo", "rollback_release", "deploy_chart", "apply_manifest", "delete_resource", "patch_resource", "scale_deployment"}


async def apply_fix(ops: Ops, fix: dict[str, Any]) -> list[dict[str, Any]]:
    """Call each step of the fix's `apply` over MCP, in order and exactly with its args (adding only confirm for a
    destructive tool, as a client does once the user approved); each must succeed, and a rollout it waits for
    must have finished."""
    steps = fix.get("apply") or []
    assert steps, f"the fix has no apply steps: {fix}"
    assert "<" not in json.dumps(steps), f"placeholder in apply: {steps}"
    results = []
    for step in steps:
        args = {**step["args"], **({"confirm": True} if step["tool"] in CONFIRMABLE else {})}
        out = await ops.call(step["tool"], **args)
        rollout = out.get("rollout")
        if step["args"].get("wait"):
            assert rollout and rollout.get("complete") is True, f"{step}: {out}"
        results.append(out)
    return results


def assert_really_healthy(cluster: Cluster, ns: str, app: str, fix: dict[str, Any], hold: float = 12) -> None:
    """The fix's own verify command (kubectl rollout status) finishes; the one pod runs on the real node, is Ready,
    and over `hold` seconds stays the same container, Ready, without a restart."""
    assert fix.get("verify"), fix
    assert "successfully rolled out" in run_printed(cluster, fix["verify"])
    pod = wait_pod(cluster, ns, app, lambda p: bool(container_status(p).get("ready")), f"{app} Ready")
    status = container_status(pod)
    assert pod["spec"]["nodeName"] == NODE_NAME and status["containerID"].startswith("containerd://"), status
    assert status["restartCount"] == 0 and "running" in status["state"], status
    time.sleep(hold)
    again = wait_pod(cluster, ns, app, lambda p: True, f"{app} still there")
    later = container_status(again)
    assert again["metadata"]["uid"] == pod["metadata"]["uid"], "the pod was replaced"
    assert (later["ready"], later["restartCount"], later["containerID"]) == (True, 0, status["containerID"]), later


# ---- the failures -----------------------------------------------------------------------------------------------

MISSING_ENV = (
    textwrap.dedent("""
    import os
    url = os.environ["DATABASE_URL"]
    print("database at", url.split("://")[0], flush=True)
""")
    + SERVER
)


async def test_missing_env_var_crash_loop_is_diagnosed_and_fixed_from_the_secret_with_the_key(
    real_cluster: Cluster, app_images: dict[str, str], real_namespace: str, tmp_path: Path
) -> None:
    """A real process reads os.environ["DATABASE_URL"], dies with a KeyError traceback and exit code 1, and the
    real kubelet restarts it into CrashLoopBackOff. ops-mcp reads the previous container's log through the API
    server and the kubelet, names the variable, finds the Secret of the namespace that has a key of that name, and
    fixes it by setting the variable from that key (patch_resource, or `kubectl set env --from`); the new pod starts,
    serves and stays Ready."""
    ns, cluster = real_namespace, real_cluster
    cluster.kubectl("create", "secret", "generic", "db", "-n", ns, "--from-literal=DATABASE_URL=sqlite:////tmp/app.db")
    cluster.apply(
        deployment(
            "api", app_images["backend"], MISSING_ENV, ports=http_port(), readinessProbe={"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 2}
        ),
        ns,
    )
    wait_pod(cluster, ns, "api", lambda p: container_status(p).get("restartCount", 0) >= 1, "a real restart")
    # the fix loads a Secret the workload did not load: the write policy's workload-identity rule refuses that unless
    # the operator turns it off (tests/security shows the refusal)
    async with ops_mcp(cluster, ns, tmp_path, OPS_MCP_POLICY_DISABLE="workload-identity") as ops:
        report = await ops.diagnose_until(has_log("crashloop.app_error"), "diagnose_crashloop", name="api")
        f = finding(report, "crashloop.app_error")
        assert report["verdict"] == "failing" and f["sev"] == "critical" and f["container"] == "app"
        assert evidence(f, "lastState.terminated")["exitCode"] == 1
        log = next(e["log"] for e in f["ev"] if "log" in e)
        assert log["src"] == "previous" and "KeyError: 'DATABASE_URL'" in log["lines"], log
        assert f["cause"]["conf"] == "high" and "DATABASE_URL" in f["cause"]["text"], f["cause"]
        assert f["fix"]["kubectl"] == f"kubectl -n {ns} set env deploy/api -c app --from=secret/db --keys=DATABASE_URL", f["fix"]
        assert "sqlite" not in json.dumps(report), "the Secret's value is never in the report"
        env = [{"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "DATABASE_URL"}}}]
        assert f["fix"]["apply"] == [patch_step("api", ns, {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": env}]}}}})]

        await apply_fix(ops, f["fix"])
        assert_really_healthy(cluster, ns, "api", f["fix"])
        assert healthy(await ops.diagnose_until(healthy, name="api", kind="deployment"))
    assert "database at sqlite" in cluster.kubectl("logs", "deploy/api", "-n", ns).stdout


async def test_failing_init_container_is_named_with_its_exit_code_and_log_line_and_no_fix_is_guessed(
    real_cluster: Cluster, app_images: dict[str, str], real_namespace: str, tmp_path: Path
) -> None:
    """An init container that cannot reach its database prints why and exits 3; the real kubelet restarts it into
    CrashLoopBackOff and the app container never starts (Init:CrashLoopBackOff). ops-mcp names the init container,
    its exit code and its log line; what it needs (a database) is not something ops-mcp can know, so the fix says
    what to change and applies nothing."""
    ns, cluster = real_namespace, real_cluster
    wait_db = "print('waiting for db:5432: connection refused', flush=True); raise SystemExit(3)"
    init = {"name": "wait-db", "image": app_images["backend"], "imagePullPolicy": "Never", "command": ["python3", "-c", wait_db]}
    manifest = deployment("gated", app_images["backend"], SERVER, ports=http_port())
    manifest["spec"]["template"]["spec"]["initContainers"] = [init]
    cluster.apply(manifest, ns)

    def init_looping(pod: dict[str, Any]) -> bool:
        status = ((pod.get("status") or {}).get("initContainerStatuses") or [{}])[0]
        return status.get("restartCount", 0) >= 1 and bool((status.get("lastState") or {}).get("terminated"))

    wait_pod(cluster, ns, "gated", init_looping, "the init container's real restart")
    async with ops_mcp(cluster, ns, tmp_path) as ops:
        report = await ops.diagnose_until(has("init.failed"), name="gated", kind="deployment")
        f = report["findings"][0]
        assert f["mode"] == "init.failed" and f["container"] == "wait-db", report["findings"]
        assert "exits with code 3" in f["cause"]["text"] and "waiting for db:5432" in f["cause"]["text"], f["cause"]
        assert f["cause"]["conf"] == "high"
        assert "apply" not in f["fix"] and f["fix"]["mutates"] is False, f["fix"]
        assert not any(x["mode"].startswith("crashloop.") for x in report["findings"]), "the app container never ran"


OOM = (
    textwrap.dedent("""
    print("allocating 80 MiB", flush=True)
    blocks = [bytearray(b"x" * (1 << 20)) for _ in range(80)]
    print("allocated", sum(map(len, blocks)) >> 20, "MiB", flush=True)
""")
    + SERVER
)


async def test_oom_kill_under_a_memory_limit_is_diagnosed_and_fixed_by_a_higher_limit(
    real_cluster: Cluster, app_images: dict[str, str], real_namespace: str, tmp_path: Path
) -> None:
    """A process that really writes 80 MiB under a 64Mi limit is killed by the kernel's cgroup OOM killer; the
    kubelet reports lastState.terminated reason OOMKilled, exit code 137, and restarts it. ops-mcp names the OOM
    kill, quotes the limit from the spec and prints `kubectl set resources` with a concrete higher limit; applied as
    printed, the process fits, serves and stays Ready without another kill."""
    ns, cluster = real_namespace, real_cluster
    cluster.apply(
        deployment(
            "mem",
            app_images["backend"],
            OOM,
            ports=http_port(),
            resources={"limits": {"memory": "64Mi"}, "requests": {"memory": "64Mi"}},
            readinessProbe={"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 2},
        ),
        ns,
    )
    pod = wait_pod(cluster, ns, "mem", lambda p: container_status(p).get("restartCount", 0) >= 1, "a real OOM kill")
    last = container_status(pod)["lastState"]["terminated"]
    assert (last["reason"], last["exitCode"]) == ("OOMKilled", 137), last
    async with ops_mcp(cluster, ns, tmp_path) as ops:
        report = await ops.diagnose_until(has("crashloop.oom_killed"), "diagnose_crashloop", name="mem")
        f = finding(report, "crashloop.oom_killed")
        assert report["verdict"] == "failing" and f["cause"]["conf"] == "high", f
        assert evidence(f, "lastState.terminated")["reason"] == "OOMKilled"
        assert evidence(f, "resources.limits.memory") == "64Mi"
        assert "64Mi" in f["cause"]["text"]
        assert f["fix"]["kubectl"] == (f"kubectl -n {ns} set resources deploy/mem -c app --limits=memory=128Mi --requests=memory=128Mi"), f["fix"]
        memory = {"limits": {"memory": "128Mi"}, "requests": {"memory": "128Mi"}}
        assert f["fix"]["apply"] == [patch_step("mem", ns, {"spec": {"template": {"spec": {"containers": [{"name": "app", "resources": memory}]}}}})]

        await apply_fix(ops, f["fix"])
        assert_really_healthy(cluster, ns, "mem", f["fix"])
        assert healthy(await ops.diagnose_until(healthy, name="mem", kind="deployment"))
    assert "allocated 80 MiB" in cluster.kubectl("logs", "deploy/mem", "-n", ns).stdout


async def test_liveness_probe_on_a_port_nothing_listens_on_is_fixed_to_the_declared_port(
    real_cluster: Cluster, app_images: dict[str, str], real_namespace: str, tmp_path: Path
) -> None:
    """The server listens on its declared port 8080; the liveness probe asks 8081, where nothing listens. The real
    kubelet's probe gets "connection refused", kills the container ("failed liveness probe, will be restarted") and
    restarts it, again and again. Between two kills the container runs again and, having no readiness probe, is
    even Ready: a diagnosis made then must still report the crash loop. ops-mcp diagnoses crashloop.liveness from
    the kubelet's events, sees that 8081 is not a declared container port, and prints a JSON patch that points the
    probe at 8080; applied as printed, the probe passes and the kubelet stops killing the container."""
    ns, cluster = real_namespace, real_cluster
    cluster.apply(
        deployment(
            "live",
            app_images["backend"],
            SERVER,
            ports=http_port(),
            livenessProbe={"httpGet": {"path": "/healthz", "port": PORT + 1}, "initialDelaySeconds": 1, "periodSeconds": 2, "failureThreshold": 3},
        ),
        ns,
    )
    wait_pod(cluster, ns, "live", lambda p: container_status(p).get("restartCount", 0) >= 2, "real liveness kills")
    async with ops_mcp(cluster, ns, tmp_path) as ops:
        for _ in range(5):  # a diagnosis made while the container is running (and Ready) between two kills
            running = container_status(wait_pod(cluster, ns, "live", lambda p: container_status(p).get("ready") is True, "a run between two kills"))
            report = await ops.call("diagnose", kind="deployment", name="live")
            now = container_status(live_pods(cluster, ns, "live")[0])
            if now.get("containerID") == running["containerID"] and now.get("ready"):
                break
        else:
            pytest.fail(f"no diagnosis fell inside a run between two kills:\n{pod_report(cluster, ns)}")
        assert has("crashloop.liveness")(report), f"a running, Ready container between two kills: {report}"
        assert report["verdict"] != "healthy"
        report = await ops.diagnose_until(has("crashloop.liveness"), "diagnose", kind="deployment", name="live")
        f = finding(report, "crashloop.liveness")
        assert f["cause"]["conf"] == "high" and f"{PORT + 1}" in f["cause"]["text"], f["cause"]
        reasons = {e["reason"] for e in events_of(f)}
        assert "Unhealthy" in reasons or "Killing" in reasons, f["ev"]
        assert any("connection refused" in e["msg"] for e in events_of(f)) or "connection refused" in f["cause"]["text"], f
        patch = json.loads(shlex.split(f["fix"]["kubectl"])[-1].removeprefix("-p="))
        assert patch == [{"op": "replace", "path": "/spec/template/spec/containers/0/livenessProbe/httpGet/port", "value": PORT}], f["fix"]
        assert f["fix"]["apply"] == [patch_step("live", ns, patch, "json")], f["fix"]

        await apply_fix(ops, f["fix"])
        assert_really_healthy(cluster, ns, "live", f["fix"])
        assert healthy(await ops.diagnose_until(healthy, name="live", kind="deployment"))


@pytest.mark.parametrize("wrong", ["path", "port"])
async def test_failing_readiness_probe_keeps_the_pod_unready_until_the_printed_fix(
    real_cluster: Cluster, app_images: dict[str, str], real_namespace: str, tmp_path: Path, wrong: str
) -> None:
    """The server runs and its liveness probe (/healthz on the declared port) passes, but the readiness probe asks a
    path that answers 404 (`path`) or a port nothing listens on (`port`): the real kubelet keeps the pod Running
    and never Ready, without a restart. ops-mcp diagnoses readiness.failing (not a crash loop) from the kubelet's
    Unhealthy events and prints a JSON patch with the value the cluster knows: the path the passing liveness probe
    uses on that port, or the declared container port. Applied as printed, the pod becomes Ready."""
    ns, cluster = real_namespace, real_cluster
    probe = {"path": "/ready", "port": PORT} if wrong == "path" else {"path": "/healthz", "port": PORT + 1}
    cluster.apply(
        deployment(
            "web",
            app_images["backend"],
            SERVER,
            ports=http_port(),
            livenessProbe={"httpGet": {"path": "/healthz", "port": PORT}, "periodSeconds": 2},
            readinessProbe={"httpGet": probe, "periodSeconds": 1},
        ),
        ns,
    )
    wait_pod(cluster, ns, "web", lambda p: "running" in container_status(p).get("state", {}), "the container running")
    async with ops_mcp(cluster, ns, tmp_path) as ops:
        report = await ops.diagnose_until(has("readiness.failing"), "diagnose", kind="deployment", name="web")
        f = finding(report, "readiness.failing")
        assert not any(x["mode"].startswith("crashloop.") for x in report["findings"]), report["findings"]
        assert evidence(f, ".ready") is False and evidence(f, "restartCount") == 0
        symptom = "statuscode: 404" if wrong == "path" else "connection refused"
        assert any(symptom in e["msg"] for e in events_of(f)), f["ev"]
        patch = json.loads(shlex.split(f["fix"]["kubectl"])[-1].removeprefix("-p="))
        key, value = ("path", "/healthz") if wrong == "path" else ("port", PORT)
        assert patch == [{"op": "replace", "path": f"/spec/template/spec/containers/0/readinessProbe/httpGet/{key}", "value": value}], f["fix"]
        assert f["fix"]["apply"] == [patch_step("web", ns, patch, "json")], f["fix"]
        pod = live_pods(cluster, ns, "web")[0]
        assert (pod["status"]["phase"], container_status(pod)["ready"]) == ("Running", False)

        await apply_fix(ops, f["fix"])
        assert_really_healthy(cluster, ns, "web", f["fix"])
        assert healthy(await ops.diagnose_until(healthy, name="web", kind="deployment"))


async def test_bad_command_after_a_healthy_revision_is_rolled_back_first_then_keeps_the_command_that_ran(
    real_cluster: Cluster, app_images: dict[str, str], real_namespace: str, tmp_path: Path
) -> None:
    """A healthy Deployment is changed to run `pyhton3` (a typo): the real runtime cannot find the binary
    (StartError, exit 128, "executable file not found") and the kubelet backs off, while the previous revision's pod
    still serves. ops-mcp diagnoses crashloop.bad_command and, since the previous revision is healthy, its fix is
    remediation first: rollout_undo (waiting), then the command of that revision, kept by a patch; applied over MCP,
    the workload runs the old pod template, Ready, and ops-mcp says healthy."""
    ns, cluster = real_namespace, real_cluster
    good = deployment(
        "cmd", app_images["backend"], SERVER, ports=http_port(), readinessProbe={"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1}
    )
    cluster.apply(good, ns)
    wait_pod(cluster, ns, "cmd", lambda p: bool(container_status(p).get("ready")), "the healthy revision Ready")
    cluster.kubectl(
        "patch",
        "deploy/cmd",
        "-n",
        ns,
        "--type=json",
        "-p",
        json.dumps([{"op": "replace", "path": "/spec/template/spec/containers/0/command/0", "value": "pyhton3"}]),
    )
    async with ops_mcp(cluster, ns, tmp_path) as ops:
        report = await ops.diagnose_until(has("crashloop.bad_command"), "diagnose", kind="deployment", name="cmd")
        f = finding(report, "crashloop.bad_command")
        assert "pyhton3" in f["cause"]["text"] and f["cause"]["conf"] == "high", f["cause"]
        container = {"name": "app", "command": ["python3", "-c", SERVER]}
        assert f["fix"]["apply"] == [
            {"tool": "rollout_undo", "args": {"name": "cmd", "namespace": ns, "wait": True}},
            patch_step("cmd", ns, {"spec": {"template": {"spec": {"containers": [container]}}}}),
        ], f["fix"]

        await apply_fix(ops, f["fix"])
        assert_really_healthy(cluster, ns, "cmd", f["fix"])
        assert healthy(await ops.diagnose_until(healthy, name="cmd", kind="deployment"))
    spec = cluster.kubectl_json("get", "deploy/cmd", "-n", ns)["spec"]["template"]["spec"]["containers"][0]
    assert spec["command"][0] == "python3"


def back_off(status: dict[str, Any]) -> bool:
    """In CrashLoopBackOff with a back-off short enough for diagnose to wait out: the kubelet's message says how
    long ("back-off 10s restarting failed container=..."; it starts at 10 s and doubles)."""
    waiting = (status.get("state") or {}).get("waiting") or {}
    delay = re.search(r"back-off (\d+)s", waiting.get("message") or "")
    return waiting.get("reason") == "CrashLoopBackOff" and delay is not None and 4 <= int(delay.group(1)) <= 16


async def test_both_probes_wrong_are_one_finding_fixed_by_one_patch_with_the_path_the_container_answers(
    real_cluster: Cluster, app_images: dict[str, str], real_namespace: str, tmp_path: Path
) -> None:
    """The liveness probe asks port 8081 (nothing listens) and the readiness probe /ready (404): the real kubelet
    kills the container again and again and it is never Ready. ops-mcp reports both probes in the crash-loop
    finding, asks the running container through the API server's pod proxy which usual health path answers on its
    declared port (/healthz), waiting for the container's next run when the kubelet holds it in back-off, and fixes
    both with one JSON patch; applied, the pod is Ready and no longer killed."""
    ns, cluster = real_namespace, real_cluster
    cluster.apply(
        deployment(
            "probes",
            app_images["backend"],
            SERVER,
            ports=http_port(),
            livenessProbe={"httpGet": {"path": "/healthz", "port": PORT + 1}, "initialDelaySeconds": 1, "periodSeconds": 2, "failureThreshold": 3},
            readinessProbe={"httpGet": {"path": "/ready", "port": PORT}, "periodSeconds": 1},
        ),
        ns,
    )
    # diagnosed while the killed container waits out its back-off: only a running container can be asked
    wait_pod(cluster, ns, "probes", lambda p: back_off(container_status(p)), "a real liveness kill, then the kubelet's back-off")
    both = [
        {"op": "replace", "path": "/spec/template/spec/containers/0/livenessProbe/httpGet/port", "value": PORT},
        {"op": "replace", "path": "/spec/template/spec/containers/0/readinessProbe/httpGet/path", "value": "/healthz"},
    ]

    async with ops_mcp(cluster, ns, tmp_path) as ops:
        _, report = await ops.text("diagnose", kind="deployment", name="probes")
        assert report["limits"]["waited_s"] > 0, "diagnose waited for the container's next run"
        assert not any(x["mode"] == "readiness.failing" for x in report["findings"]), "one finding for both probes"
        f = finding(report, "crashloop.liveness")
        assert evidence(f, "readinessProbe")["httpGet"]["path"] == "/ready" and "readiness probe fails too" in f["cause"]["text"], f
        assert f["fix"]["apply"] == [patch_step("probes", ns, both, "json")], f["fix"]
        assert "pod proxy" in f["fix"]["do"], f["fix"]

        await apply_fix(ops, f["fix"])
        assert_really_healthy(cluster, ns, "probes", f["fix"])
        assert healthy(await ops.diagnose_until(healthy, name="probes", kind="deployment"))


def just_restarted(pod: dict[str, Any]) -> bool:
    """Killed at least once and now either in back-off or running for under 2 s: its server does not listen yet."""
    status = container_status(pod)
    started = ((status.get("state") or {}).get("running") or {}).get("startedAt")
    young = started is not None and (datetime.now(UTC) - datetime.fromisoformat(started.replace("Z", "+00:00"))).total_seconds() < 2
    return status.get("restartCount", 0) >= 1 and (young or "waiting" in (status.get("state") or {}))


async def test_wrong_probe_paths_of_a_slow_starting_server_are_fixed_with_the_path_it_answers_once_it_listens(
    real_cluster: Cluster, app_images: dict[str, str], real_namespace: str, tmp_path: Path
) -> None:
    """Each run of the container sleeps 5 s before it listens; its liveness probe asks /livez and its readiness probe
    /readyz, both 404 once it listens, so the real kubelet kills it again and again. Diagnosed right after a restart,
    the container does not answer the pod proxy yet: that says nothing of the path, so ops-mcp asks again until the
    server listens (while its liveness probe lets it run: 15 s, then 2 failures 2 s apart; a loaded
    node starts Python late) and fixes both probes to /healthz, the path it answers."""
    ns, cluster = real_namespace, real_cluster
    cluster.apply(
        deployment(
            "slow",
            app_images["backend"],
            "import time; time.sleep(5)\n" + SERVER,
            ports=http_port(),
            livenessProbe={"httpGet": {"path": "/livez", "port": "http"}, "initialDelaySeconds": 15, "periodSeconds": 2, "failureThreshold": 2},
            readinessProbe={"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 2},
        ),
        ns,
    )
    wait_pod(cluster, ns, "slow", just_restarted, "a real liveness kill, then a restart (or its back-off)")
    both = [
        {"op": "replace", "path": f"/spec/template/spec/containers/0/{probe}/httpGet/path", "value": "/healthz"}
        for probe in ("livenessProbe", "readinessProbe")
    ]

    async with ops_mcp(cluster, ns, tmp_path) as ops:
        _, report = await ops.text("diagnose", kind="deployment", name="slow")
        f = finding(report, "crashloop.liveness")
        assert f["fix"].get("apply") == [patch_step("slow", ns, both, "json")], f["fix"]
        assert "GET /healthz on 8080 answers (asked through the pod proxy)" in f["fix"]["do"], f["fix"]

        await apply_fix(ops, f["fix"])
        assert_really_healthy(cluster, ns, "slow", f["fix"])


@pytest.mark.parametrize("pull_policy", ["Never", "IfNotPresent"])
async def test_image_not_on_the_node_is_fixed_with_a_tag_the_node_has(
    real_cluster: Cluster, app_images: dict[str, str], real_namespace: str, tmp_path: Path, pull_policy: str
) -> None:
    """A tag of the backend repository that was never loaded into the node. With pull policy Never the real kubelet
    reports ErrImageNeverPull; with IfNotPresent the node's containerd tries the registry and fails at once (its
    proxy is a closed loopback port: nothing leaves the machine), ErrImagePull then ImagePullBackOff. ops-mcp
    diagnoses the pull failure and, since the node's status.images lists the tag of that repository it does have,
    prints `kubectl set image` to that tag (never "change the pull policy", which would send the kubelet to a
    registry that lacks the image); applied as printed, the pod starts from the node's image and is Ready."""
    ns, cluster = real_namespace, real_cluster
    repository, _, tag = app_images["backend"].rpartition(":")
    cluster.apply(
        deployment(
            "img",
            f"{repository}:never-loaded",
            SERVER,
            pull_policy=pull_policy,
            ports=http_port(),
            readinessProbe={"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 2},
        ),
        ns,
    )
    reasons = {"Never": {"ErrImageNeverPull"}, "IfNotPresent": {"ErrImagePull", "ImagePullBackOff"}}[pull_policy]
    pod = wait_pod(
        cluster,
        ns,
        "img",
        lambda p: (container_status(p).get("state", {}).get("waiting") or {}).get("reason") in reasons,
        f"the kubelet's {' or '.join(sorted(reasons))}",
    )
    assert pod["spec"]["nodeName"] == NODE_NAME
    mode = "image_pull.never_pull" if pull_policy == "Never" else "image_pull.registry_unreachable"
    async with ops_mcp(cluster, ns, tmp_path) as ops:
        report = await ops.diagnose_until(has(mode), "diagnose_crashloop", name="img")
        f = finding(report, mode)
        assert report["verdict"] == "failing" and evidence(f, "image") == f"{repository}:never-loaded"
        assert f["fix"]["kubectl"] == f"kubectl -n {ns} set image deploy/img app={repository}:{tag}", f["fix"]
        assert "imagePullPolicy" not in f["fix"]["kubectl"] and tag in f["fix"]["do"], f["fix"]
        image = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": f"{repository}:{tag}"}]}}}}
        assert f["fix"]["apply"] == [patch_step("img", ns, image)], f["fix"]

        await apply_fix(ops, f["fix"])
        assert_really_healthy(cluster, ns, "img", f["fix"])
        assert healthy(await ops.diagnose_until(healthy, name="img", kind="deployment"))


# ---- get_pod_logs on the real kubelet ---------------------------------------------------------------------------

LINES = 3000
# Each run prints a header and LINES numbered lines of 64 bytes; the first run then exits 3 (a real restart),
# the second stays up. The run number lives in an emptyDir, which outlives the container.
LOGGER = textwrap.dedent(f"""
    import pathlib, signal, sys, time
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    counter = pathlib.Path("/work/runs")
    run = int(counter.read_text() or 0) + 1 if counter.exists() else 1
    counter.write_text(str(run))
    print(f"run {{run}} starting", flush=True)
    for i in range(1, {LINES} + 1):
        print(f"run {{run}} line {{i:06d}} " + "x" * 46)
    sys.stdout.flush()
    if run == 1:
        print("run 1 exits 3", flush=True)
        sys.exit(3)
    while True:
        time.sleep(3600)
""")


def logger_pod(image: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "logger", "labels": {"app": "logger"}},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": ["python3", "-c", LOGGER],
                    "volumeMounts": [{"name": "work", "mountPath": "/work"}],
                }
            ],
            "volumes": [{"name": "work", "emptyDir": {}}],
            "terminationGracePeriodSeconds": 5,
            "automountServiceAccountToken": False,
        },
    }


async def test_get_pod_logs_tail_over_the_byte_cap_returns_the_newest_lines_and_previous_the_crashed_run(
    real_cluster: Cluster, app_images: dict[str, str], real_namespace: str, tmp_path: Path
) -> None:
    """The real kubelet applies limitBytes from the start of the requested tail, so a tail larger than ops-mcp's
    byte cap read in one request gives the oldest lines of the tail. get_pod_logs(tail_lines=N) with N lines over
    the cap must instead end with the container's very last line, hold only whole consecutive lines within the cap,
    and say it was truncated. After the container's real restart (exit 3), previous=True returns the crashed run's
    output and the default the running one's."""
    ns, cluster = real_namespace, real_cluster
    cap = 32_000
    cluster.apply(logger_pod(app_images["backend"]), ns)
    wait_pod(
        cluster,
        ns,
        "logger",
        lambda p: container_status(p).get("restartCount", 0) >= 1 and "running" in container_status(p).get("state", {}),
        "the logger's second run",
    )
    last_line = f"run 2 line {LINES:06d} " + "x" * 46

    def second_run_printed() -> bool:
        out = cluster.kubectl("logs", "logger", "-n", ns, "--tail=1", check=False).stdout
        return out.strip() == last_line

    cluster.wait_for(second_run_printed, timeout=60, message="the second run's last line in kubectl logs")

    tail = 1000  # 1000 lines of 64 bytes: twice the cap
    assert len("\n".join(cluster.kubectl("logs", "logger", "-n", ns, f"--tail={tail}").stdout.splitlines()[:tail])) > cap
    async with ops_mcp(cluster, ns, tmp_path, OPS_MCP_LOG_BYTES_LIMIT=str(cap)) as ops:
        # fold=False: the verbatim tail, so every line's number can be checked.
        text, out = await ops.text("get_pod_logs", name="logger", tail_lines=tail, fold=False)
        log = out["logs"][0]
        lines = log["text"].splitlines()
        assert lines[-1] == last_line, f"does not end with the newest line: ...{lines[-3:]}"
        assert log["truncated"] is True and "(truncated)" in text.splitlines()[0], text[:200]
        numbers = [int(line.split()[3]) for line in lines]
        assert numbers == list(range(numbers[0], LINES + 1)), "not whole consecutive lines up to the last"
        assert LINES - tail + 1 < numbers[0] and len(log["text"].encode()) <= cap, (numbers[0], len(log["text"]))
        assert log["lines"] == len(lines) and len(lines) >= cap // 65 - 1, log["lines"]

        # By default the same capped tail folds to its first two lines, a marker and the newest line.
        _, folded = await ops.text("get_pod_logs", name="logger", tail_lines=tail)
        shown = folded["logs"][0]["text"].splitlines()
        assert shown[:2] == lines[:2] and shown[-1] == last_line, shown
        assert shown[2] == f"[... {len(lines) - 3} repeated lines folded]" and len(shown) == 4, shown
        assert folded["logs"][0]["folded"] == len(lines) - 3 and folded["logs"][0]["lines"] == len(lines)

        # Under the cap the tail is exact.
        _, small = await ops.text("get_pod_logs", name="logger", tail_lines=20, fold=False)
        assert small["logs"][0]["truncated"] is False
        assert small["logs"][0]["text"].splitlines()[-1] == last_line and small["logs"][0]["lines"] == 20

        _, before = await ops.text("get_pod_logs", name="logger", previous=True, tail_lines=5)
        previous = before["logs"][0]["text"].splitlines()
        assert previous[-1] == "run 1 exits 3" and previous[-2].startswith(f"run 1 line {LINES:06d}"), previous
        assert all(line.startswith("run 1 ") for line in previous)
