"""Real failures on the real node, one per failure class of issue 14, each with the target to diagnose and its own
check of the repair. Every state comes from the kubelet, containerd, runc, the kernel, the scheduler and the
controllers (no KWOK, no status patch). The workloads run the project's backend image (python3, uid 10001).

A scenario's `setup` makes the failure and returns once the cluster really shows it; `check` returns None when the
workload is repaired (it may wait a bounded time for what the fix set in motion: a PVC bound, a pod scheduled), or
the reason it is not.
"""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from cluster.harness import Cluster
from cluster.node import NODE_NAME

PORT = 8080
HOLD = 8  # seconds a repaired workload must stay Ready without a restart
SETTLE = 60  # seconds a check waits for what a finished fix set in motion
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
# Really allocates 80 MiB (touching every page), then serves: killed by the kernel under a 64Mi limit.
OOM = (
    textwrap.dedent("""
    blocks = [bytearray(1024 * 1024) for _ in range(80)]
    print("allocated 80 MiB", flush=True)
""")
    + SERVER
)
# Lists the pods of its namespace with its ServiceAccount token every 2 s through kubernetes.default (TLS verified);
# logs each 403 and is Ready only while the list succeeds.
POD_LISTER = textwrap.dedent(f"""
    import http.server, json, signal, ssl, sys, threading, time, urllib.error, urllib.request
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    SA = "/var/run/secrets/kubernetes.io/serviceaccount"
    namespace = open(SA + "/namespace").read().strip()
    listed = threading.Event()
    def poll():
        context = ssl.create_default_context(cafile=SA + "/ca.crt")
        url = f"https://kubernetes.default.svc/api/v1/namespaces/{{namespace}}/pods?limit=5"
        while True:
            request = urllib.request.Request(url, headers={{"Authorization": "Bearer " + open(SA + "/token").read().strip()}})
            try:
                with urllib.request.urlopen(request, context=context, timeout=5) as response:
                    print(f"listed {{len(json.load(response)['items'])}} pods", flush=True)
                    listed.set()
            except urllib.error.HTTPError as exc:
                print(f"list pods: HTTP {{exc.code}} {{exc.reason}}: {{exc.read()[:200].decode(errors='replace')}}", flush=True)
                listed.clear()
            except OSError as exc:
                print(f"list pods: {{type(exc).__name__}}: {{exc}}", flush=True)
            time.sleep(2)
    threading.Thread(target=poll, daemon=True).start()
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if listed.is_set() else 503)
            self.end_headers()
        def log_message(self, *args):
            pass
    http.server.ThreadingHTTPServer(("", {PORT}), Handler).serve_forever()
""")


@dataclass
class Env:
    """What a scenario works with: the real-node cluster, its namespace, the project's images, the loopback registry."""

    cluster: Cluster
    ns: str
    images: dict[str, str]
    registry: Any = None  # loopback_registry.LoopbackRegistry
    facts: dict[str, Any] = field(default_factory=dict)  # what setup learnt and check needs


@dataclass(frozen=True)
class Scenario:
    name: str
    failure: str  # the failure in a few words (the table's second column)
    setup: Callable[[Env], None]
    target: dict[str, Any]  # diagnose's arguments besides namespace
    check: Callable[[Env], str | None]
    operator: dict[str, str] = field(default_factory=dict)  # what the operator allowed beyond the write policy's defaults


# ---- workloads ----------------------------------------------------------------------------------------------------


def deployment(name: str, image: str, script: str | None = SERVER, *, pull_policy: str = "Never", pod: dict | None = None, **container: Any) -> dict:
    """One replica of `python3 -c script` (or the image's own command when script is None) on the real node."""
    spec: dict[str, Any] = {"name": "app", "image": image, "imagePullPolicy": pull_policy, **container}
    if script is not None:
        spec.setdefault("command", ["python3", "-c", script])
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [spec], "terminationGracePeriodSeconds": 5, "automountServiceAccountToken": False, **(pod or {})},
            },
        },
    }


def service(name: str, selector: dict[str, str], target_port: int | str = "http", port: int = 80) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": selector, "ports": [{"name": "http", "port": port, "targetPort": target_port}]},
    }


HTTP_PORT = [{"name": "http", "containerPort": PORT}]
READY = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 2}


# ---- what the cluster shows ---------------------------------------------------------------------------------------


def live_pods(env: Env, app: str) -> list[dict]:
    items = env.cluster.kubectl_json("get", "pods", "-n", env.ns, "-l", f"app={app}")["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def status_of(pod: dict) -> dict:
    return ((pod.get("status") or {}).get("containerStatuses") or [{}])[0]


def waiting_reason(pod: dict) -> str | None:
    return (status_of(pod).get("state", {}).get("waiting") or {}).get("reason")


def report(env: Env) -> str:
    out = env.cluster.kubectl("get", "deploy,rs,pods,svc,endpointslices,pvc,events", "-n", env.ns, "-o", "wide", check=False)
    return out.stdout + out.stderr


def wait_pods(env: Env, app: str, predicate: Callable[[list[dict]], Any], what: str, timeout: float = 150) -> Any:
    """Poll the workload's live pods until `predicate(pods)` is truthy (the kubelet needs a moment to fail)."""
    try:
        return env.cluster.wait_for(lambda: predicate(live_pods(env, app)), timeout=timeout, interval=1, message=what)
    except TimeoutError as exc:
        raise AssertionError(f"{env.ns}: {exc}\n{report(env)}") from None


def any_pod(predicate: Callable[[dict], Any]) -> Callable[[list[dict]], Any]:
    return lambda pods: any(predicate(p) for p in pods)


def events(env: Env, reason: str) -> list[dict]:
    items = env.cluster.kubectl_json("get", "events", "-n", env.ns)["items"]
    return [e for e in items if e.get("reason") == reason]


def wait_event(env: Env, reason: str, text: str, timeout: float = 120) -> None:
    try:
        env.cluster.wait_for(lambda: any(text in e.get("message", "") for e in events(env, reason)), timeout=timeout, interval=1, message=f"a {reason} event")
    except TimeoutError as exc:
        raise AssertionError(f"{env.ns}: {exc} with {text!r}\n{report(env)}") from None


def logs(env: Env, app: str) -> str:
    return env.cluster.kubectl("logs", f"deploy/{app}", "-n", env.ns, "--tail=20", check=False).stdout


# ---- checks -------------------------------------------------------------------------------------------------------


def rolled_out(env: Env, app: str) -> str | None:
    d = env.cluster.kubectl_json("get", "deploy", app, "-n", env.ns)
    s, want = d.get("status", {}), d["spec"]["replicas"]
    got = (s.get("observedGeneration", 0) >= d["metadata"]["generation"], s.get("updatedReplicas"), s.get("readyReplicas"), s.get("availableReplicas"))
    pods = live_pods(env, app)
    if got != (True, want, want, want) or s.get("unavailableReplicas") or len(pods) != want:
        return f"rollout of {app} not finished: status {json.dumps(s)}, {len(pods)} live pod(s)"
    if not all(status_of(p).get("ready") and p["spec"].get("nodeName") == NODE_NAME for p in pods):
        return f"{app}'s pods are not all Ready on {NODE_NAME}"
    return None


def settled(env: Env, what: Callable[[], str | None], timeout: float = SETTLE) -> str | None:
    """None once `what()` is None (within `timeout`), else its last reason; adds the seconds it took to the
    scenario's `settle_s` (0 when the fix's own wait left the cluster repaired)."""
    start, reason = time.monotonic(), None
    while (reason := what()) is not None and time.monotonic() - start < timeout:
        time.sleep(1)
    env.facts["settle_s"] = round(env.facts.get("settle_s", 0) + time.monotonic() - start, 1)
    return reason


def eventually(check: Callable[[Env], str | None]) -> Callable[[Env], str | None]:
    return lambda env: settled(env, lambda: check(env))


def stays_healthy(app: str, extra: Callable[[Env], str | None] = lambda env: None) -> Callable[[Env], str | None]:
    """The rollout finished and the pods are Ready on the real node; over HOLD seconds the same containers stay Ready
    without a restart; `extra` holds too."""

    def check(env: Env) -> str | None:
        if reason := settled(env, lambda: rolled_out(env, app) or extra(env)):
            return f"{reason}\n{report(env)}"
        before = {p["metadata"]["uid"]: (status_of(p)["containerID"], status_of(p)["restartCount"]) for p in live_pods(env, app)}
        time.sleep(HOLD)
        after = {p["metadata"]["uid"]: (status_of(p).get("containerID"), status_of(p).get("restartCount")) for p in live_pods(env, app)}
        if before != after or (reason := rolled_out(env, app) or extra(env)):
            return f"{app} did not stay healthy for {HOLD} s ({before} -> {after}): {reason or 'replaced or restarted'}"
        return None

    return check


def answers(name: str, path: str = "/healthz") -> Callable[[Env], str | None]:
    """The Service has ready endpoints and answers through its ClusterIP from the node (kube-proxy)."""

    def check(env: Env) -> str | None:
        slices = env.cluster.kubectl_json("get", "endpointslices", "-n", env.ns, "-l", f"kubernetes.io/service-name={name}")["items"]
        ready = [e for s in slices for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready")]
        if not ready:
            return f"service {name} has no ready endpoints"
        svc = env.cluster.kubectl_json("get", "service", name, "-n", env.ns)
        url = f"http://{svc['spec']['clusterIP']}:{svc['spec']['ports'][0]['port']}{path}"
        try:
            status = httpx.get(url, timeout=3).status_code
        except httpx.HTTPError as exc:
            return f"{url}: {type(exc).__name__}: {exc}"
        return None if status == 200 else f"{url}: HTTP {status}"

    return check


def both(*checks: Callable[[Env], str | None]) -> Callable[[Env], str | None]:
    return lambda env: next((reason for check in checks if (reason := check(env))), None)


# ---- the failures -------------------------------------------------------------------------------------------------


def bad_command(env: Env) -> None:
    """The image's server started through a binary that does not exist: runc's exec fails (StartError, 128)."""
    env.cluster.apply(
        deployment(
            "api",
            env.images["backend"],
            None,
            command=["/app/bin/start-server"],
            ports=[{"name": "http", "containerPort": 8000}],
            readinessProbe={"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 2},
        ),
        env.ns,
    )
    wait_pods(
        env,
        "api",
        any_pod(lambda p: status_of(p).get("restartCount", 0) >= 1 and "terminated" in status_of(p).get("lastState", {})),
        "runc's failed exec and a restart",
    )


def image_tag_not_found(env: Env) -> None:
    """v1 is pulled for real from the loopback registry and Ready; then the Deployment moves to v2, a tag the
    registry never had: containerd's real `not found`, ErrImagePull/ImagePullBackOff; the v1 pod keeps serving."""
    good = env.registry.push(env.images["backend"], "todo/web", "v1")
    env.facts["bad_image"] = good.replace(":v1", ":v2")
    env.cluster.apply(deployment("web", good, pull_policy="IfNotPresent", ports=HTTP_PORT, readinessProbe=READY), env.ns)
    wait_pods(env, "web", lambda pods: len(pods) == 1 and status_of(pods[0]).get("ready"), "v1 pulled from the loopback registry and Ready")
    env.cluster.kubectl("set", "image", "deploy/web", f"app={env.facts['bad_image']}", "-n", env.ns)
    wait_pods(
        env,
        "web",
        any_pod(lambda p: status_of(p).get("image") == env.facts["bad_image"] and waiting_reason(p) in ("ErrImagePull", "ImagePullBackOff")),
        "the kubelet's failed pull of v2",
    )
    wait_event(env, "Failed", "not found")


def not_the_bad_image(env: Env) -> str | None:
    images = {c["image"] for p in live_pods(env, "web") for c in p["spec"]["containers"]}
    return f"pods still run {env.facts['bad_image']}" if env.facts["bad_image"] in images else None


def pvc_missing_class(env: Env) -> None:
    """A PVC that names a StorageClass the cluster lacks stays Pending (ProvisioningFailed); the pod that mounts it
    stays unscheduled (unbound immediate PersistentVolumeClaims)."""
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {"storageClassName": "fast-ssd", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}}},
    }
    workload = deployment(
        "store",
        env.images["backend"],
        ports=HTTP_PORT,
        readinessProbe=READY,
        volumeMounts=[{"name": "data", "mountPath": "/data"}],
        pod={"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]},
    )
    env.cluster.apply([pvc, workload], env.ns)
    wait_event(env, "FailedScheduling", "unbound")
    wait_event(env, "ProvisioningFailed", "fast-ssd")


def pvc_bound(env: Env) -> str | None:
    pvc = env.cluster.kubectl_json("get", "pvc", "data", "-n", env.ns)
    cls = pvc["spec"].get("storageClassName")
    if pvc.get("status", {}).get("phase") != "Bound":
        return f"pvc/data is {pvc.get('status', {}).get('phase')} (class {cls})"
    return None if env.cluster.kubectl("get", "storageclass", cls, check=False).returncode == 0 else f"pvc/data names the missing class {cls}"


def wrong_probe_paths(env: Env) -> None:
    """Both probes ask paths the server answers 404 on: the kubelet never marks it Ready and kills it (liveness)."""
    env.cluster.apply(
        deployment(
            "probed",
            env.images["backend"],
            ports=HTTP_PORT,
            livenessProbe={"httpGet": {"path": "/livez", "port": "http"}, "initialDelaySeconds": 2, "periodSeconds": 2, "failureThreshold": 2},
            readinessProbe={"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 2},
        ),
        env.ns,
    )
    wait_pods(env, "probed", any_pod(lambda p: status_of(p).get("restartCount", 0) >= 1), "a liveness kill")
    wait_event(env, "Unhealthy", "Readiness probe failed")


def service_account_cannot_list_pods(env: Env) -> None:
    """The app lists pods with its ServiceAccount's token and gets the API server's real 403: never Ready."""
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "pod-reader"}}
    workload = deployment(
        "watcher",
        env.images["backend"],
        POD_LISTER,
        ports=HTTP_PORT,
        readinessProbe=READY,
        pod={"serviceAccountName": "pod-reader", "automountServiceAccountToken": True},
    )
    env.cluster.apply([sa, workload], env.ns)
    try:
        env.cluster.wait_for(lambda: "HTTP 403" in logs(env, "watcher"), timeout=120, interval=1, message="the app's 403 in its log")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}: {logs(env, 'watcher')}\n{report(env)}") from None


def sa_allowed(env: Env) -> str | None:
    user = f"system:serviceaccount:{env.ns}:pod-reader"
    out = env.cluster.kubectl("auth", "can-i", "list", "pods", "-n", env.ns, "--as", user, check=False).stdout.strip()
    return None if out == "yes" else f"the SubjectAccessReview for {user} says {out!r} to list pods"


def selector_mismatch(env: Env) -> None:
    """The Service selects app=webapp, the pods are app=web: no endpoints although the pods are Ready."""
    env.cluster.apply([deployment("web", env.images["backend"], ports=HTTP_PORT, readinessProbe=READY), service("web", {"app": "webapp"})], env.ns)
    wait_pods(env, "web", lambda pods: pods and all(status_of(p).get("ready") for p in pods), "web Ready")


def named_port_missing(env: Env) -> None:
    """The Service targets the port name `web`, the pods declare only `http`: the EndpointSlice controller lists no
    endpoint although the pods are Ready and selected."""
    env.cluster.apply(
        [deployment("api", env.images["backend"], ports=HTTP_PORT, readinessProbe=READY), service("api", {"app": "api"}, target_port="web")], env.ns
    )
    wait_pods(env, "api", lambda pods: pods and all(status_of(p).get("ready") for p in pods), "api Ready")


def oom_kill(env: Env) -> None:
    """A process that really writes 80 MiB under a 64Mi limit: the kernel's OOM killer, OOMKilled 137."""
    memory = {"limits": {"memory": "64Mi"}, "requests": {"memory": "64Mi"}}
    env.cluster.apply(deployment("mem", env.images["backend"], OOM, ports=HTTP_PORT, resources=memory, readinessProbe=READY), env.ns)
    wait_pods(
        env,
        "mem",
        any_pod(lambda p: (status_of(p).get("lastState", {}).get("terminated") or {}).get("reason") == "OOMKilled"),
        "a real OOM kill",
    )


def liveness_exit_zero(env: Env) -> None:
    """The liveness probe asks a port nothing listens on; killed, the server exits 0 (Completed), again and again."""
    env.cluster.apply(
        deployment(
            "live",
            env.images["backend"],
            ports=HTTP_PORT,
            livenessProbe={"httpGet": {"path": "/healthz", "port": PORT + 1}, "initialDelaySeconds": 1, "periodSeconds": 2, "failureThreshold": 2},
        ),
        env.ns,
    )
    wait_pods(
        env,
        "live",
        any_pod(lambda p: (status_of(p).get("lastState", {}).get("terminated") or {}).get("exitCode") == 0 and status_of(p).get("restartCount", 0) >= 1),
        "a liveness kill with exit code 0",
    )


def configmap_key_missing(env: Env) -> None:
    """LOG_LEVEL comes from key LOG_LEVEL of ConfigMap app-config, which has log-level: the kubelet's real
    CreateContainerConfigError ("couldn't find key"), the container never created."""
    env_ref = [{"name": "LOG_LEVEL", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "LOG_LEVEL"}}}]
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config"}, "data": {"log-level": "info", "timeout": "5"}}
    env.cluster.apply([config, deployment("cfg", env.images["backend"], ports=HTTP_PORT, readinessProbe=READY, env=env_ref)], env.ns)
    wait_pods(env, "cfg", any_pod(lambda p: waiting_reason(p) == "CreateContainerConfigError"), "CreateContainerConfigError")


# An init container that checks the database password it was given and exits 0 (it is set, then the app starts).
CHECK_PASSWORD = "import os, sys; print('password set' if os.environ.get('DB_PASSWORD') else 'no password'); sys.exit(0 if os.environ.get('DB_PASSWORD') else 1)"


def init_secret_key_missing(env: Env) -> None:
    """The init container's DB_PASSWORD comes from key DB_PASSWORD of Secret db, which has db-password: the init
    container's real CreateContainerConfigError holds the pod in Init:0/1."""
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "stringData": {"db-password": "s3cr3t-init-only", "user": "app"}}
    init = {
        "name": "check-db",
        "image": env.images["backend"],
        "imagePullPolicy": "Never",
        "command": ["python3", "-c", CHECK_PASSWORD],
        "env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "DB_PASSWORD"}}}],
    }
    env.cluster.apply([secret, deployment("gated", env.images["backend"], ports=HTTP_PORT, readinessProbe=READY, pod={"initContainers": [init]})], env.ns)

    def held(pod: dict) -> bool:
        init_status = ((pod.get("status") or {}).get("initContainerStatuses") or [{}])[0]
        return ((init_status.get("state") or {}).get("waiting") or {}).get("reason") == "CreateContainerConfigError"

    wait_pods(env, "gated", any_pod(held), "the init container's CreateContainerConfigError")


SCENARIOS = [
    Scenario("crashloop-bad-command", "command binary missing", bad_command, {"kind": "deployment", "name": "api"}, stays_healthy("api")),
    Scenario(
        "image-tag-not-found",
        "tag missing in registry (real pull)",
        image_tag_not_found,
        {"kind": "deployment", "name": "web"},
        stays_healthy("web", not_the_bad_image),
    ),
    Scenario(
        "pvc-missing-storageclass",
        "PVC names missing StorageClass",
        pvc_missing_class,
        {"kind": "deployment", "name": "store"},
        stays_healthy("store", pvc_bound),
    ),
    Scenario("probe-wrong-paths", "liveness + readiness paths 404", wrong_probe_paths, {"kind": "deployment", "name": "probed"}, stays_healthy("probed")),
    Scenario(
        "serviceaccount-cannot-list-pods",
        "SA lacks RBAC (real 403)",
        service_account_cannot_list_pods,
        {"kind": "serviceaccount", "name": "pod-reader", "can": "list pods"},
        both(eventually(sa_allowed), stays_healthy("watcher")),
        # the repair is a Role + RoleBinding: refused by default, allowed for this namespace's accounts and narrow rules
        operator={"OPS_MCP_ALLOW_RBAC_WRITES": "true"},
    ),
    Scenario(
        "service-selector-mismatch",
        "selector matches no pod",
        selector_mismatch,
        {"kind": "service", "name": "web"},
        both(stays_healthy("web"), eventually(answers("web"))),
    ),
    Scenario(
        "service-no-endpoints",
        "targetPort name not declared",
        named_port_missing,
        {"kind": "service", "name": "api"},
        both(stays_healthy("api"), eventually(answers("api"))),
    ),
    Scenario("oom-kill", "80 MiB under a 64Mi limit", oom_kill, {"kind": "deployment", "name": "mem"}, stays_healthy("mem")),
    Scenario("liveness-exit-zero", "liveness kill, exit 0", liveness_exit_zero, {"kind": "deployment", "name": "live"}, stays_healthy("live")),
    Scenario("configmap-key-missing", "env from a ConfigMap key that is not there", configmap_key_missing, {"kind": "deployment", "name": "cfg"}, stays_healthy("cfg")),
    Scenario(
        "init-secret-key-missing",
        "init container env from a missing Secret key",
        init_secret_key_missing,
        {"kind": "deployment", "name": "gated"},
        stays_healthy("gated"),
    ),
]
