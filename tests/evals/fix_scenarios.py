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
    family: str = ""  # the fault family (the per-family table's row); the name's stem when empty
    cause: tuple[str, ...] = ()  # findings[0].mode names the cause when it starts with one of these
    control: bool = False  # healthy: nothing may be found to fix, nothing may change
    # False: no ops-mcp call may repair it (the application's own fault, or a cluster-scoped write that is a person's:
    # fix.note); naming it and changing nothing is the pass
    repairable: bool = True

    @property
    def group(self) -> str:
        return self.family or self.name


# ---- workloads ----------------------------------------------------------------------------------------------------


# Pod Security "restricted", as a namespace that enforces it requires (the project's images run as uid 10001): a
# repair that re-creates a workload passes ops-mcp's write policy as the original would have passed admission.
RESTRICTED_POD = {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}}
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def deployment(name: str, image: str, script: str | None = SERVER, *, pull_policy: str = "Never", pod: dict | None = None, **container: Any) -> dict:
    """One replica of `python3 -c script` (or the image's own command when script is None) on the real node."""
    spec: dict[str, Any] = {"name": "app", "image": image, "imagePullPolicy": pull_policy, "securityContext": RESTRICTED_CONTAINER, **container}
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
                "spec": {
                    "containers": [spec],
                    "terminationGracePeriodSeconds": 5,
                    "automountServiceAccountToken": False,
                    "securityContext": RESTRICTED_POD,
                    **(pod or {}),
                },
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


def logs(env: Env, app: str, container: str | None = None) -> str:
    return env.cluster.kubectl("logs", f"deploy/{app}", "-n", env.ns, "--tail=20", *(["-c", container] if container else []), check=False).stdout


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
    wait_event(env, "Killing", "liveness")  # the kubelet posts its events after the pod's status: diagnose reads both


def configmap_key_missing(env: Env) -> None:
    """LOG_LEVEL comes from key LOG_LEVEL of ConfigMap app-config, which has log-level: the kubelet's real
    CreateContainerConfigError ("couldn't find key"), the container never created."""
    env_ref = [{"name": "LOG_LEVEL", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "LOG_LEVEL"}}}]
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config"}, "data": {"log-level": "info", "timeout": "5"}}
    env.cluster.apply([config, deployment("cfg", env.images["backend"], ports=HTTP_PORT, readinessProbe=READY, env=env_ref)], env.ns)
    wait_pods(env, "cfg", any_pod(lambda p: waiting_reason(p) == "CreateContainerConfigError"), "CreateContainerConfigError")


# An init container that checks the database password it was given and exits 0 (it is set, then the app starts).
CHECK_PASSWORD = (
    "import os, sys; print('password set' if os.environ.get('DB_PASSWORD') else 'no password'); sys.exit(0 if os.environ.get('DB_PASSWORD') else 1)"
)


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


# A client of another Service: every 2 s it asks UPSTREAM (a URL, or host:port for a TCP connect) and logs the
# outcome; Ready only while the last call succeeded, unless READY_NEEDS_UPSTREAM=0 (an app that keeps serving).
CLIENT = textwrap.dedent(f"""
    import http.server, os, signal, socket, sys, threading, time, urllib.request
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    target = os.environ["UPSTREAM"]
    strict = os.environ.get("READY_NEEDS_UPSTREAM", "1") == "1"
    ok = threading.Event()
    def poll():
        while True:
            try:
                if "://" in target:
                    urllib.request.urlopen(target, timeout=2).read()
                else:
                    host, port = target.rsplit(":", 1)
                    socket.create_connection((host, int(port)), timeout=2).close()
                print(f"upstream {{target}}: ok", flush=True)
                ok.set()
            except Exception as exc:
                print(f"ERROR upstream {{target}}: {{type(exc).__name__}}: {{exc}}", flush=True)
                ok.clear()
            time.sleep(2)
    threading.Thread(target=poll, daemon=True).start()
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if ok.is_set() or not strict else 503)
            self.end_headers()
        def log_message(self, *args):
            pass
    http.server.ThreadingHTTPServer(("", {PORT}), Handler).serve_forever()
""")
# An init container that waits for HOST:PORT to accept a connection (as `until nc -z` does): no event while it waits.
WAIT_FOR = textwrap.dedent("""
    import os, socket, time
    host, port = os.environ["DB_HOST"], int(os.environ.get("DB_PORT", "5432"))
    while True:
        try:
            socket.create_connection((host, port), timeout=2).close()
            print(f"{host}:{port} is up", flush=True)
            break
        except OSError as exc:
            print(f"waiting for {host}:{port}: {exc}", flush=True)
            time.sleep(2)
""")
# An init container that checks its migration endpoint once and fails the pod's start when it cannot reach it.
CHECK_ONCE = textwrap.dedent("""
    import os, sys, urllib.request
    url = os.environ["MIGRATE_URL"]
    try:
        urllib.request.urlopen(url, timeout=3).read()
        print(f"schema service {url} reachable", flush=True)
    except Exception as exc:
        sys.exit(f"ERROR cannot reach schema service {url}: {exc}")
""")
# An app that serves and is Ready, while its own work keeps failing in ways the cluster cannot explain.
FAILING_WORK = (
    textwrap.dedent("""
    import threading, time
    def work():
        n = 0
        while True:
            n += 1
            print(f"ERROR payment provider rejected charge {n}: HTTP 503 from upstream acquirer", flush=True)
            time.sleep(1)
    threading.Thread(target=work, daemon=True).start()
""")
    + SERVER
)
# A healthy app whose log speaks of errors without having any.
CHATTY = (
    textwrap.dedent("""
    import threading, time
    def work():
        n = 0
        while True:
            n += 1
            print(f"INFO processed batch {n}: 10 items, 0 errors, error_count=0", flush=True)
            time.sleep(1)
    threading.Thread(target=work, daemon=True).start()
""")
    + SERVER
)


def server(env: Env, name: str, **container: Any) -> dict:
    return deployment(name, env.images["backend"], ports=HTTP_PORT, readinessProbe=READY, **container)


def client(env: Env, name: str, upstream: str, *, ready_needs_upstream: bool = True) -> dict:
    variables = [{"name": "UPSTREAM", "value": upstream}, {"name": "READY_NEEDS_UPSTREAM", "value": "1" if ready_needs_upstream else "0"}]
    return deployment(name, env.images["backend"], CLIENT, ports=HTTP_PORT, readinessProbe=READY, env=variables)


def wait_log(env: Env, app: str, text: str, timeout: float = 120, container: str | None = None) -> None:
    try:
        env.cluster.wait_for(lambda: text in logs(env, app, container), timeout=timeout, interval=1, message=f"{text!r} in {app}'s log")
    except TimeoutError as exc:
        raise AssertionError(f"{env.ns}: {exc}: {logs(env, app)}\n{report(env)}") from None


def log_clean(app: str) -> Callable[[Env], str | None]:
    """The newest lines of the app's log report success, not errors."""

    def check(env: Env) -> str | None:
        tail = [line for line in logs(env, app).splitlines() if line.strip()][-2:]
        return None if tail and not any("ERROR" in line for line in tail) else f"{app}'s log still fails: {tail}"

    return check


def service_renamed(env: Env) -> None:
    """The client asks http://backend/healthz; the Service was renamed backend-api: the app's DNS failure."""
    env.cluster.apply([server(env, "backend"), service("backend-api", {"app": "backend"}), client(env, "frontend", "http://backend/healthz")], env.ns)
    wait_log(env, "frontend", "ERROR upstream")


def service_deleted(env: Env) -> None:
    """The client asks http://store:80/healthz; the store Deployment runs, its Service was deleted."""
    env.cluster.apply([server(env, "store"), client(env, "shop", "http://store:80/healthz")], env.ns)
    wait_log(env, "shop", "ERROR upstream")


def env_wrong_port(env: Env) -> None:
    """The client asks the catalog Service on 8080 (the pods' port); the Service serves 80."""
    env.cluster.apply([server(env, "catalog"), service("catalog", {"app": "catalog"}), client(env, "web", "http://catalog:8080/healthz")], env.ns)
    wait_log(env, "web", "ERROR upstream")


def running_log_wrong_host(env: Env) -> None:
    """A Ready app (it keeps serving) whose cache connection fails in its log: CACHE at cache-primary:6379, the
    Service is cache."""
    cache = service("cache", {"app": "cache"}, target_port="http", port=6379)
    env.cluster.apply([server(env, "cache"), cache, client(env, "worker", "cache-primary:6379", ready_needs_upstream=False)], env.ns)
    wait_log(env, "worker", "ERROR upstream")
    wait_pods(env, "worker", lambda pods: pods and all(status_of(p).get("ready") for p in pods), "worker Ready")


def init_waits_for_wrong_host(env: Env) -> None:
    """The init container waits for db-main:5432, which no Service answers (the Service is db): Init:0/1, no event."""
    wait = {
        "name": "wait-for-db",
        "image": env.images["backend"],
        "imagePullPolicy": "Never",
        "command": ["python3", "-c", WAIT_FOR],
        "env": [{"name": "DB_HOST", "value": "db-main"}, {"name": "DB_PORT", "value": "5432"}],
    }
    db = service("db", {"app": "db"}, target_port="http", port=5432)
    env.cluster.apply([server(env, "db"), db, server(env, "orders", pod={"initContainers": [wait]})], env.ns)
    wait_log(env, "orders", "waiting for db-main:5432", container="wait-for-db")


def init_crashes_on_wrong_host(env: Env) -> None:
    """The init container checks http://schema/healthz once and exits 1; the Service is schema-api:
    Init:CrashLoopBackOff."""
    check_once = {
        "name": "check-schema",
        "image": env.images["backend"],
        "imagePullPolicy": "Never",
        "command": ["python3", "-c", CHECK_ONCE],
        "env": [{"name": "MIGRATE_URL", "value": "http://schema/healthz"}],
    }
    env.cluster.apply([server(env, "schema"), service("schema-api", {"app": "schema"}), server(env, "billing", pod={"initContainers": [check_once]})], env.ns)

    def looping(pod: dict) -> bool:
        init = ((pod.get("status") or {}).get("initContainerStatuses") or [{}])[0]
        return init.get("restartCount", 0) >= 1 and bool((init.get("lastState") or {}).get("terminated"))

    wait_pods(env, "billing", any_pod(looping), "the init container's failed check and a restart")


def dns_policy_none(env: Env) -> None:
    """The client resolves names through a nameserver of its own (dnsPolicy None, an address in the Service range
    that nothing answers): the Service exists, its name never resolves."""
    workload = client(env, "reader", "http://books/healthz")
    workload["spec"]["template"]["spec"].update(
        {"dnsPolicy": "None", "dnsConfig": {"nameservers": ["10.96.0.254"], "searches": [f"{env.ns}.svc.cluster.local"]}}
    )
    env.cluster.apply([server(env, "books"), service("books", {"app": "books"}), workload], env.ns)
    wait_log(env, "reader", "ERROR upstream")


def netpol(name: str, selector: dict, types: list[str], **rules: Any) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name},
        "spec": {"podSelector": {"matchLabels": selector}, "policyTypes": types, **rules},
    }


def ingress_denied(env: Env) -> None:
    """The inventory pods admit traffic from the admin pods only; the storefront's calls time out."""
    admin_only = netpol("inventory-admin-only", {"app": "inventory"}, ["Ingress"], ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "admin"}}}]}])
    env.cluster.apply(
        [admin_only, server(env, "inventory"), service("inventory", {"app": "inventory"}), client(env, "storefront", "http://inventory/healthz")], env.ns
    )
    wait_log(env, "storefront", "ERROR upstream")


def egress_denied(env: Env) -> None:
    """The reporting pods may send nothing anywhere (egress: none), DNS included."""
    locked = netpol("reporting-locked", {"app": "reporting"}, ["Egress"])
    env.cluster.apply([locked, server(env, "ledger"), service("ledger", {"app": "ledger"}), client(env, "reporting", "http://ledger/healthz")], env.ns)
    wait_log(env, "reporting", "ERROR upstream")


def target_port_number(env: Env) -> None:
    """The Service targets port 9090; the pods listen on 8080 (http): endpoints, but nothing answers."""
    env.cluster.apply([server(env, "shop"), service("shop", {"app": "shop"}, target_port=9090)], env.ns)
    wait_pods(env, "shop", lambda pods: pods and all(status_of(p).get("ready") for p in pods), "shop Ready")


def scaled_to_zero(env: Env) -> None:
    """The Deployment behind the Service was scaled to 0: no endpoints, nothing serves."""
    workload = server(env, "api")
    env.cluster.apply([workload, service("api", {"app": "api"})], env.ns)
    wait_pods(env, "api", lambda pods: pods and all(status_of(p).get("ready") for p in pods), "api Ready")
    env.cluster.kubectl("scale", "deploy/api", "--replicas=0", "-n", env.ns)
    wait_pods(env, "api", lambda pods: not pods, "api scaled to zero")


def statefulset_scaled_to_zero(env: Env) -> None:
    """A StatefulSet (replicas 0) behind its Service: no endpoints."""
    sts = server(env, "ledger")
    sts["kind"], sts["spec"]["serviceName"], sts["spec"]["replicas"] = "StatefulSet", "ledger", 0
    env.cluster.apply([sts, service("ledger", {"app": "ledger"})], env.ns)
    env.cluster.wait_for(
        lambda: env.cluster.kubectl_json("get", "statefulset", "ledger", "-n", env.ns).get("status", {}).get("observedGeneration"),
        60,
        message="ledger observed",
    )


def sts_ready(env: Env) -> str | None:
    s = env.cluster.kubectl_json("get", "statefulset", "ledger", "-n", env.ns)
    return None if (s.get("status") or {}).get("readyReplicas", 0) >= 1 else f"statefulset ledger: {json.dumps(s.get('status'))}"


def quota_memory(env: Env) -> None:
    """A ResourceQuota of 256Mi memory; the Deployment's pod asks 300Mi: refused (FailedCreate), no pod at all."""
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "team"},
        "spec": {"hard": {"requests.memory": "256Mi", "limits.memory": "256Mi"}},
    }
    memory = {"requests": {"memory": "300Mi"}, "limits": {"memory": "300Mi"}}
    env.cluster.apply(quota, env.ns)
    env.cluster.wait_for(lambda: env.cluster.kubectl_json("get", "resourcequota", "team", "-n", env.ns).get("status", {}).get("hard"), 60, message="quota")
    env.cluster.apply(server(env, "search", resources=memory), env.ns)
    wait_event(env, "FailedCreate", "exceeded quota")


def limit_range_max(env: Env) -> None:
    """A LimitRange allows at most 128Mi per container; the Deployment asks 256Mi: no pod is created."""
    limits = {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "per-container"},
        "spec": {"limits": [{"type": "Container", "max": {"memory": "128Mi"}}]},
    }
    env.cluster.apply(limits, env.ns)
    env.cluster.apply(server(env, "report", resources={"requests": {"memory": "64Mi"}, "limits": {"memory": "256Mi"}}), env.ns)
    wait_event(env, "FailedCreate", "maximum memory")


def anti_affinity(env: Env) -> None:
    """Two replicas that must not share a node, on a one-node cluster: the second stays Pending."""
    rule = {"labelSelector": {"matchLabels": {"app": "cachefe"}}, "topologyKey": "kubernetes.io/hostname"}
    workload = server(env, "cachefe", pod={"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [rule]}}})
    workload["spec"]["replicas"] = 2
    env.cluster.apply(workload, env.ns)
    wait_event(env, "FailedScheduling", "anti-affinity")


def spread_constraint(env: Env) -> None:
    """A topology spread over zones (DoNotSchedule) on a node without a zone label: Pending."""
    spread = [
        {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "edge"}}}
    ]
    env.cluster.apply(server(env, "edge", pod={"topologySpreadConstraints": spread}), env.ns)
    wait_event(env, "FailedScheduling", "topology spread")


def node_selector_label(env: Env) -> None:
    """nodeSelector disktype=ssd; no node has the label: Pending."""
    env.cluster.apply(server(env, "indexer", pod={"nodeSelector": {"disktype": "ssd"}}), env.ns)
    wait_event(env, "FailedScheduling", "node affinity/selector")


def node_selector_host(env: Env) -> None:
    """Pinned to a node that does not exist (kubernetes.io/hostname=worker-7): Pending."""
    env.cluster.apply(server(env, "pinned", pod={"nodeSelector": {"kubernetes.io/hostname": "worker-7"}}), env.ns)
    wait_event(env, "FailedScheduling", "node affinity/selector")


def paused_change(env: Env) -> None:
    """The Deployment was paused, then changed (a new env value): the change never rolls out."""
    env.cluster.apply(server(env, "notify"), env.ns)
    wait_pods(env, "notify", lambda pods: pods and all(status_of(p).get("ready") for p in pods), "notify Ready")
    env.cluster.kubectl("rollout", "pause", "deploy/notify", "-n", env.ns)
    env.cluster.kubectl("set", "env", "deploy/notify", "FEATURE_DIGEST=on", "-n", env.ns)


def paused_new(env: Env) -> None:
    """A Deployment created paused: no ReplicaSet, no pod."""
    workload = server(env, "mailer")
    workload["spec"]["paused"] = True
    env.cluster.apply(workload, env.ns)
    env.cluster.wait_for(
        lambda: env.cluster.kubectl_json("get", "deploy", "mailer", "-n", env.ns).get("status", {}).get("observedGeneration"), 60, message="mailer observed"
    )


def job(name: str, image: str, script: str, memory: str) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 1,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "securityContext": RESTRICTED_POD,
                    "containers": [
                        {
                            "name": "main",
                            "image": image,
                            "imagePullPolicy": "Never",
                            "command": ["python3", "-c", script],
                            "resources": {"limits": {"memory": memory}, "requests": {"memory": memory}},
                            "securityContext": RESTRICTED_CONTAINER,
                        }
                    ],
                },
            },
        },
    }


# A batch step that needs 60 MiB: killed by the kernel under 48Mi.
BATCH = "blocks = [bytearray(1024 * 1024) for _ in range(60)]; print('exported 60 chunks', flush=True)"


def job_backoff(env: Env) -> None:
    """A Job whose step needs 60 MiB under a 48Mi limit: OOMKilled twice, BackoffLimitExceeded."""
    env.cluster.apply(job("export", env.images["backend"], BATCH, "48Mi"), env.ns)
    env.cluster.wait_for(lambda: _job_condition(env, "export", "Failed"), 180, interval=1, message="export Failed")


def _job_condition(env: Env, name: str, ctype: str) -> bool:
    got = env.cluster.kubectl("get", "job", name, "-n", env.ns, "-o", "json", check=False)
    out = json.loads(got.stdout) if got.returncode == 0 else {}  # a Job the fix deletes and recreates may be gone a moment
    return any(c.get("type") == ctype and c.get("status") == "True" for c in (out.get("status") or {}).get("conditions") or [])


def job_completes(name: str) -> Callable[[Env], str | None]:
    def check(env: Env) -> str | None:
        return None if _job_condition(env, name, "Complete") else f"job {name} has not completed: {report(env)}"

    return eventually(check)


def cronjob_failing(env: Env) -> None:
    """A CronJob every minute whose step is OOM-killed: its Jobs fail."""
    spec = job("rollup", env.images["backend"], BATCH, "48Mi")["spec"]
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "rollup"}, "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": spec}}}
    env.cluster.apply(cron, env.ns)

    def failed_job() -> bool:
        items = env.cluster.kubectl_json("get", "jobs", "-n", env.ns)["items"]
        return any(c.get("type") == "Failed" and c.get("status") == "True" for j in items for c in (j.get("status") or {}).get("conditions") or [])

    env.cluster.wait_for(failed_job, 200, interval=2, message="a failed Job of cronjob/rollup")


def cronjob_runs(env: Env) -> str | None:
    """A Job made from the CronJob's template now completes."""
    env.cluster.kubectl("delete", "job", "rollup-check", "-n", env.ns, "--ignore-not-found", check=False)
    env.cluster.kubectl("create", "job", "rollup-check", "--from=cronjob/rollup", "-n", env.ns)
    return job_completes("rollup-check")(env)


def sts_claim_class(env: Env) -> None:
    """A StatefulSet whose claim template names the class fast-ssd: data-vault-0 Pending, the pod unscheduled."""
    sts = server(env, "vault", volumeMounts=[{"name": "data", "mountPath": "/data"}])
    sts["kind"], sts["spec"]["serviceName"] = "StatefulSet", "vault"
    sts["spec"]["volumeClaimTemplates"] = [
        {
            "metadata": {"name": "data"},
            "spec": {"storageClassName": "fast-ssd", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}}},
        }
    ]
    env.cluster.apply(sts, env.ns)
    wait_event(env, "ProvisioningFailed", "fast-ssd")


def sts_vault_ready(env: Env) -> str | None:
    s = env.cluster.kubectl_json("get", "statefulset", "vault", "-n", env.ns)
    if (s.get("status") or {}).get("readyReplicas", 0) < 1:
        return f"statefulset vault: {json.dumps(s.get('status'))}"
    pvc = env.cluster.kubectl_json("get", "pvc", "data-vault-0", "-n", env.ns)
    return None if pvc.get("status", {}).get("phase") == "Bound" else f"data-vault-0 is {pvc.get('status')}"


# Loads a 40 MiB index before it serves: killed as it starts under a 24Mi limit.
WARM_START = (
    textwrap.dedent("""
    index = [bytearray(1024 * 1024) for _ in range(40)]
    print("index loaded", flush=True)
""")
    + SERVER
)


def tiny_memory(env: Env) -> None:
    """A 24Mi memory limit for a server that loads a 40 MiB index at start: OOMKilled before it ever serves."""
    memory = {"limits": {"memory": "24Mi"}, "requests": {"memory": "24Mi"}}
    env.cluster.apply(server(env, "tiny", command=["python3", "-c", WARM_START], resources=memory), env.ns)
    wait_pods(env, "tiny", any_pod(lambda p: status_of(p).get("restartCount", 0) >= 1), "a restart under 24Mi")


def missing_script(env: Env) -> None:
    """The server started as `python3 /app/server.py`, a file the image does not have: exit 2, CrashLoopBackOff."""
    env.cluster.apply(
        deployment(
            "gateway",
            env.images["backend"],
            None,
            command=["python3", "/app/server.py"],
            ports=[{"name": "http", "containerPort": 8000}],
            readinessProbe={"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 2},
        ),
        env.ns,
    )
    wait_pods(env, "gateway", any_pod(lambda p: status_of(p).get("restartCount", 0) >= 1), "exit 2 and a restart")
    previous = lambda: env.cluster.kubectl("logs", "deploy/gateway", "-n", env.ns, "--previous", check=False).stdout  # noqa: E731
    env.cluster.wait_for(lambda: "can't open file" in previous(), timeout=60, interval=1, message="the missing file in the last run's log")


def app_errors(env: Env) -> None:
    """Running and Ready, its log full of the payment provider's 503s: the application's, not the cluster's."""
    env.cluster.apply(server(env, "payments", command=["python3", "-c", FAILING_WORK]), env.ns)
    wait_log(env, "payments", "HTTP 503")
    wait_pods(env, "payments", lambda pods: pods and all(status_of(p).get("ready") for p in pods), "payments Ready")


def healthy_pair(env: Env) -> None:
    """A healthy API behind its Service, and a client of it whose log speaks of errors without having any."""
    env.cluster.apply(
        [
            server(env, "api", command=["python3", "-c", CHATTY]),
            service("api", {"app": "api"}),
            client(env, "web", "http://api/healthz"),
        ],
        env.ns,
    )
    wait_log(env, "web", "upstream http://api/healthz: ok")
    for app in ("api", "web"):
        wait_pods(env, app, lambda pods: pods and all(status_of(p).get("ready") for p in pods), f"{app} Ready")


def healthy_batch(env: Env) -> None:
    """A Job that completed, a StatefulSet that serves: nothing to fix."""
    sts = server(env, "kv")
    sts["kind"], sts["spec"]["serviceName"] = "StatefulSet", "kv"
    env.cluster.apply([job("seed", env.images["backend"], "print('seeded 12 rows, 0 errors')", "64Mi"), sts, service("kv", {"app": "kv"})], env.ns)
    env.cluster.wait_for(lambda: _job_condition(env, "seed", "Complete"), 120, interval=1, message="seed Complete")
    env.cluster.wait_for(lambda: sts_ready_named(env, "kv") is None, 120, interval=1, message="kv Ready")


def sts_ready_named(env: Env, name: str) -> str | None:
    s = env.cluster.kubectl_json("get", "statefulset", name, "-n", env.ns)
    return None if (s.get("status") or {}).get("readyReplicas", 0) >= 1 else f"statefulset {name} not ready"


# ---- disruption budgets and released volumes (issue 24: causes never considered) ----------------------------------


def replicated(env: Env, name: str, replicas: int) -> dict:
    d = server(env, name)
    d["spec"]["replicas"] = replicas
    return d


def budget(name: str, **rule: Any) -> dict:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name}, "spec": {"selector": {"matchLabels": {"app": name}}, **rule}}


def evict(env: Env, pod: str) -> str | None:
    """A dry-run eviction of the pod through the Eviction API (the loopback API server): None when allowed, else the
    API server's refusal. Nothing is evicted (dryRun=All)."""
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": env.ns}, "deleteOptions": {"dryRun": ["All"]}}
    path = f"/api/v1/namespaces/{env.ns}/pods/{pod}/eviction?dryRun=All"
    out = env.cluster.kubectl("create", "--raw", path, "-f", "-", input=json.dumps(body), check=False)
    return None if out.returncode == 0 else (out.stderr or out.stdout).strip()[:300] or f"exit {out.returncode}"


def evictable(app: str) -> Callable[[Env], str | None]:
    """One of the app's Ready pods may be evicted now (a node drain would proceed)."""

    def check(env: Env) -> str | None:
        ready = [p["metadata"]["name"] for p in live_pods(env, app) if status_of(p).get("ready")]
        if not ready:
            return f"no Ready pod of {app} to evict"
        refused = evict(env, ready[0])
        return None if refused is None else f"eviction of {ready[0]} (dry run) refused: {refused}"

    return eventually(check)


def blocking_budget(app: str, replicas: int, **rule: Any) -> Callable[[Env], None]:
    """The app's pods all Ready, its budget's own numbers allowing no disruption: the disruption controller's status
    says 0 allowed with every expected pod healthy, and the Eviction API really refuses a (dry-run) eviction."""

    def setup(env: Env) -> None:
        env.cluster.apply([replicated(env, app, replicas), budget(app, **rule)], env.ns)
        wait_pods(env, app, lambda pods: len(pods) == replicas and all(status_of(p).get("ready") for p in pods), f"{replicas} Ready pods of {app}")

        def counted() -> bool:
            st = env.cluster.kubectl_json("get", "pdb", app, "-n", env.ns).get("status") or {}
            return st.get("expectedPods") == replicas and st.get("currentHealthy") == replicas and st.get("disruptionsAllowed") == 0

        env.cluster.wait_for(counted, 60, interval=1, message=f"pdb/{app}: {replicas} healthy, 0 disruptions allowed")
        refused = evict(env, live_pods(env, app)[0]["metadata"]["name"])
        assert refused and "disruption budget" in refused, f"{env.ns}: the eviction was not refused by the budget: {refused}"

    return setup


def sane_budget(env: Env) -> None:
    """Two Ready replicas under a budget that lets one go at a time: nothing to fix."""
    env.cluster.apply([replicated(env, "quotes", 2), budget("quotes", maxUnavailable=1), service("quotes", {"app": "quotes"})], env.ns)
    wait_pods(env, "quotes", lambda pods: len(pods) == 2 and all(status_of(p).get("ready") for p in pods), "2 Ready pods of quotes")
    env.cluster.wait_for(
        lambda: (env.cluster.kubectl_json("get", "pdb", "quotes", "-n", env.ns).get("status") or {}).get("disruptionsAllowed") == 1, 60, interval=1
    )


def claim(name: str, volume: str) -> dict:
    spec = {"storageClassName": "", "volumeName": volume, "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}}}
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}, "spec": spec}


def phase(env: Env, *what: str) -> str | None:
    got = env.cluster.kubectl("get", *what, "-o", "jsonpath={.status.phase}", check=False)
    return got.stdout.strip() if got.returncode == 0 else None


def released_volume(old: str, new: str, user: str | None = None) -> Callable[[Env], None]:
    """A static volume (Retain; nothing mounts it) bound to claim `old`; `old` deleted, so the volume is Released with
    the old claim's uid in its claimRef; then claim `new` names the volume: the PV controller's FailedBinding, the
    claim Pending. `user`: a Deployment whose pod mounts `new` and stays unscheduled."""

    def setup(env: Env) -> None:
        pv = f"{old}-{env.ns}"[:63]
        env.facts["volume"] = pv
        volume = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": pv, "labels": {"todo-chatbot/eval": env.ns}},
            "spec": {
                "capacity": {"storage": "64Mi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "",
                "hostPath": {"path": f"/tmp/todo-chatbot-eval/{pv}", "type": "DirectoryOrCreate"},
            },
        }
        env.cluster.apply(volume)
        env.cluster.apply(claim(old, pv), env.ns)
        env.cluster.wait_for(lambda: phase(env, "pvc", old, "-n", env.ns) == "Bound", 60, interval=1, message=f"pvc/{old} Bound to {pv}")
        env.cluster.kubectl("delete", "pvc", old, "-n", env.ns)
        env.cluster.wait_for(lambda: phase(env, "pv", pv) == "Released", 60, interval=1, message=f"pv/{pv} Released")
        env.cluster.apply(claim(new, pv), env.ns)
        if user:
            mount = {"volumeMounts": [{"name": "data", "mountPath": "/data"}]}
            workload = server(env, user, **mount)
            workload["spec"]["template"]["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": new}}]
            env.cluster.apply(workload, env.ns)
        wait_event(env, "FailedBinding", "already bound to a different claim")
        if user:
            wait_pods(env, user, any_pod(lambda p: "unbound" in json.dumps(p.get("status", {}).get("conditions"))), f"{user}'s pod unscheduled")

    return setup


SCENARIOS = [
    Scenario(
        "crashloop-bad-command",
        "command binary missing",
        bad_command,
        {"kind": "deployment", "name": "api"},
        stays_healthy("api"),
        family="wrong binary or command",
        cause=("crashloop.bad_command",),
    ),
    Scenario(
        "crashloop-missing-script",
        "python3 /app/server.py: no such file",
        missing_script,
        {"kind": "deployment", "name": "gateway"},
        stays_healthy("gateway"),
        family="wrong binary or command",
        cause=("crashloop.bad_command", "crashloop.app_error"),
    ),
    Scenario(
        "image-tag-not-found",
        "tag missing in registry (real pull)",
        image_tag_not_found,
        {"kind": "deployment", "name": "web"},
        stays_healthy("web", not_the_bad_image),
        family="image pull",
        cause=("image_pull.",),
    ),
    Scenario(
        "pvc-missing-storageclass",
        "PVC names missing StorageClass",
        pvc_missing_class,
        {"kind": "deployment", "name": "store"},
        stays_healthy("store", pvc_bound),
        family="missing StorageClass",
        cause=("pvc.no_storageclass", "scheduling.unbound_pvc"),
    ),
    Scenario(
        "sts-claim-missing-class",
        "StatefulSet claim template names a missing class",
        sts_claim_class,
        {"kind": "statefulset", "name": "vault"},
        eventually(sts_vault_ready),
        family="missing StorageClass",
        cause=("pvc.no_storageclass", "scheduling.unbound_pvc"),
    ),
    Scenario(
        "probe-wrong-paths",
        "liveness + readiness paths 404",
        wrong_probe_paths,
        {"kind": "deployment", "name": "probed"},
        stays_healthy("probed"),
        family="probes",
        cause=("crashloop.liveness", "readiness."),
    ),
    Scenario(
        "liveness-exit-zero",
        "liveness kill, exit 0",
        liveness_exit_zero,
        {"kind": "deployment", "name": "live"},
        stays_healthy("live"),
        family="probes",
        cause=("crashloop.liveness", "crashloop.exit_zero"),
    ),
    Scenario(
        "serviceaccount-cannot-list-pods",
        "SA lacks RBAC (real 403)",
        service_account_cannot_list_pods,
        {"kind": "serviceaccount", "name": "pod-reader", "can": "list pods"},
        both(eventually(sa_allowed), stays_healthy("watcher")),
        # the repair is a Role + RoleBinding: refused by default, allowed for this namespace's accounts and narrow rules
        operator={"OPS_MCP_ALLOW_RBAC_WRITES": "true"},
        family="RBAC",
        cause=("rbac.denied",),
    ),
    Scenario(
        "service-selector-mismatch",
        "selector matches no pod",
        selector_mismatch,
        {"kind": "service", "name": "web"},
        both(stays_healthy("web"), eventually(answers("web"))),
        family="Service routing",
        cause=("service.selector_mismatch",),
    ),
    Scenario(
        "service-no-endpoints",
        "targetPort name not declared",
        named_port_missing,
        {"kind": "service", "name": "api"},
        both(stays_healthy("api"), eventually(answers("api"))),
        family="Service targetPort",
        cause=("service.target_port_mismatch",),
    ),
    Scenario(
        "service-target-port-number",
        "targetPort 9090, pods listen on 8080",
        target_port_number,
        {"kind": "service", "name": "shop"},
        both(stays_healthy("shop"), eventually(answers("shop"))),
        family="Service targetPort",
        cause=("service.target_port_mismatch",),
    ),
    Scenario(
        "service-renamed",
        "client asks backend, the Service is backend-api",
        service_renamed,
        {"kind": "deployment", "name": "frontend"},
        stays_healthy("frontend"),
        family="deleted or renamed Service",
        cause=("dependency.missing_service",),
    ),
    Scenario(
        "service-deleted",
        "client asks store, its Service is gone",
        service_deleted,
        {"kind": "deployment", "name": "shop"},
        both(eventually(answers("store")), stays_healthy("shop")),
        family="deleted or renamed Service",
        cause=("dependency.missing_service",),
    ),
    Scenario(
        "env-wrong-port",
        "env URL on a port the Service does not serve",
        env_wrong_port,
        {"kind": "deployment", "name": "web"},
        stays_healthy("web"),
        family="env points at a wrong address",
        cause=("dependency.wrong_port",),
    ),
    Scenario(
        "running-log-wrong-host",
        "Ready, but its log fails on cache-primary",
        running_log_wrong_host,
        {"kind": "deployment", "name": "worker"},
        both(stays_healthy("worker"), eventually(log_clean("worker"))),
        family="env points at a wrong address",
        cause=("dependency.missing_service",),
    ),
    Scenario(
        "dns-policy-none",
        "dnsPolicy None, a nameserver that never answers",
        dns_policy_none,
        {"kind": "deployment", "name": "reader"},
        stays_healthy("reader"),
        family="DNS",
        cause=("dependency.dns",),
    ),
    Scenario(
        "netpol-ingress-denied",
        "the server's pods admit only the admin pods",
        ingress_denied,
        {"kind": "deployment", "name": "storefront"},
        stays_healthy("storefront"),
        operator={"OPS_MCP_ALLOW_NETWORK_POLICY_WRITES": "true"},  # NetworkPolicy writes are refused by default
        family="NetworkPolicy",
        cause=("dependency.network_policy",),
    ),
    Scenario(
        "netpol-egress-denied",
        "the client may send nothing, DNS included",
        egress_denied,
        {"kind": "deployment", "name": "reporting"},
        stays_healthy("reporting"),
        operator={"OPS_MCP_ALLOW_NETWORK_POLICY_WRITES": "true"},
        family="NetworkPolicy",
        cause=("dependency.network_policy",),
    ),
    Scenario(
        "init-waits-wrong-host",
        "init waits for db-main, no event",
        init_waits_for_wrong_host,
        {"kind": "deployment", "name": "orders"},
        stays_healthy("orders"),
        family="init container",
        cause=("dependency.missing_service", "init."),
    ),
    Scenario(
        "init-crashes",
        "init exits 1: cannot reach schema",
        init_crashes_on_wrong_host,
        {"kind": "deployment", "name": "billing"},
        stays_healthy("billing"),
        family="init container",
        cause=("dependency.missing_service", "init."),
    ),
    Scenario(
        "init-secret-key-missing",
        "init container env from a missing Secret key",
        init_secret_key_missing,
        {"kind": "deployment", "name": "gated"},
        stays_healthy("gated"),
        family="missing config key",
        cause=("config.missing_secret_key",),
    ),
    Scenario(
        "configmap-key-missing",
        "env from a ConfigMap key that is not there",
        configmap_key_missing,
        {"kind": "deployment", "name": "cfg"},
        stays_healthy("cfg"),
        family="missing config key",
        cause=("config.missing_configmap_key",),
    ),
    Scenario(
        "oom-kill",
        "80 MiB under a 64Mi limit",
        oom_kill,
        {"kind": "deployment", "name": "mem"},
        stays_healthy("mem"),
        family="limits too small",
        cause=("crashloop.oom_killed",),
    ),
    Scenario(
        "limits-too-small-to-start",
        "40 MiB at start under 24Mi",
        tiny_memory,
        {"kind": "deployment", "name": "tiny"},
        stays_healthy("tiny"),
        family="limits too small",
        cause=("crashloop.oom_killed", "sandbox.", "crashloop."),
    ),
    Scenario(
        "anti-affinity",
        "2 replicas, required anti-affinity, 1 node",
        anti_affinity,
        {"kind": "deployment", "name": "cachefe"},
        stays_healthy("cachefe"),
        family="unsatisfiable placement",
        cause=("scheduling.affinity",),
    ),
    Scenario(
        "spread-constraint",
        "zone spread on a node without zones",
        spread_constraint,
        {"kind": "deployment", "name": "edge"},
        stays_healthy("edge"),
        family="unsatisfiable placement",
        cause=("scheduling.",),
    ),
    Scenario(
        "node-selector-label",
        "nodeSelector disktype=ssd",
        node_selector_label,
        {"kind": "deployment", "name": "indexer"},
        stays_healthy("indexer"),
        family="node selector",
        cause=("scheduling.selector_mismatch",),
    ),
    Scenario(
        "node-selector-host",
        "pinned to a node that does not exist",
        node_selector_host,
        {"kind": "deployment", "name": "pinned"},
        stays_healthy("pinned"),
        family="node selector",
        cause=("scheduling.selector_mismatch",),
    ),
    Scenario(
        "quota-memory",
        "300Mi asked under a 256Mi quota",
        quota_memory,
        {"kind": "deployment", "name": "search"},
        stays_healthy("search"),
        family="quota and limit range",
        cause=("replicas.failed_create",),
    ),
    Scenario(
        "limit-range-max",
        "256Mi asked, 128Mi allowed",
        limit_range_max,
        {"kind": "deployment", "name": "report"},
        stays_healthy("report"),
        family="quota and limit range",
        cause=("replicas.failed_create",),
    ),
    Scenario(
        "scaled-to-zero",
        "Deployment behind a Service at 0",
        scaled_to_zero,
        {"kind": "service", "name": "api"},
        both(stays_healthy("api"), eventually(answers("api"))),
        family="scaled to zero",
        cause=("service.",),
    ),
    Scenario(
        "statefulset-at-zero",
        "StatefulSet behind a Service at 0",
        statefulset_scaled_to_zero,
        {"kind": "service", "name": "ledger"},
        both(eventually(sts_ready), eventually(answers("ledger"))),
        family="scaled to zero",
        cause=("service.",),
    ),
    Scenario(
        "paused-change",
        "paused, then changed: never rolls out",
        paused_change,
        {"kind": "deployment", "name": "notify"},
        stays_healthy("notify"),
        family="paused rollout",
        cause=("rollout.paused",),
    ),
    Scenario(
        "paused-new",
        "created paused: no pod",
        paused_new,
        {"kind": "deployment", "name": "mailer"},
        stays_healthy("mailer"),
        family="paused rollout",
        cause=("rollout.paused",),
    ),
    Scenario(
        "job-backoff-exhausted",
        "Job OOM-killed to its backoffLimit",
        job_backoff,
        {"kind": "job", "name": "export"},
        job_completes("export"),
        family="failing Job or CronJob",
        cause=("job.failed", "crashloop.oom_killed"),
    ),
    Scenario(
        "cronjob-failing",
        "CronJob whose runs are OOM-killed",
        cronjob_failing,
        {"kind": "cronjob", "name": "rollup"},  # its Jobs (named by the schedule) and their pods
        cronjob_runs,
        family="failing Job or CronJob",
        cause=("job.failed", "crashloop.oom_killed"),
    ),
    Scenario(
        "running-app-errors",
        "Ready, its log full of the provider's 503s",
        app_errors,
        {"kind": "deployment", "name": "payments"},
        lambda env: None,
        family="errors only in a Running pod's log",
        cause=("app.log_errors",),
        repairable=False,
    ),
    Scenario(
        "pdb-min-available-percent",
        "minAvailable 60% of 2 pods rounds up to both",
        blocking_budget("ledger", 2, minAvailable="60%"),
        {"kind": "deployment", "name": "ledger"},
        both(stays_healthy("ledger"), evictable("ledger")),
        family="disruption budget blocks eviction",
        cause=("pdb.blocks_eviction",),
    ),
    Scenario(
        "pdb-max-unavailable-zero",
        "maxUnavailable 0 over 1 pod",
        blocking_budget("catalog", 1, maxUnavailable=0),
        {},  # the namespace: nothing else is wrong in it
        both(stays_healthy("catalog"), evictable("catalog")),
        family="disruption budget blocks eviction",
        cause=("pdb.blocks_eviction",),
    ),
    Scenario(
        "pv-released-same-claim",
        "claim re-created on its Released volume (stale claimRef uid)",
        released_volume("archive", "archive"),
        {"kind": "pvc", "name": "archive"},
        lambda env: None,
        family="released volume, stale claim",
        cause=("pvc.volume_released",),
        repairable=False,  # a PersistentVolume is cluster-scoped: the fix is a cluster admin's command (fix.note)
    ),
    Scenario(
        "pv-released-new-claim",
        "a new claim names a Released volume; its Deployment waits",
        released_volume("reports-2025", "reports-2026", user="reports"),
        {"kind": "deployment", "name": "reports"},
        lambda env: None,
        family="released volume, stale claim",
        cause=("pvc.volume_released",),
        repairable=False,
    ),
    Scenario("healthy-pair", "API + client, chatty but healthy", healthy_pair, {}, lambda env: None, family="healthy control", control=True),
    Scenario("healthy-batch", "completed Job + Ready StatefulSet", healthy_batch, {}, lambda env: None, family="healthy control", control=True),
    Scenario("healthy-budget", "2 Ready pods, a budget allowing 1 eviction", sane_budget, {}, lambda env: None, family="healthy control", control=True),
]
