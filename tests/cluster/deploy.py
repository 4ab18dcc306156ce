"""The Todo Chatbot on a cluster with a real node: the built images loaded into the node, the chart
installed with values for the local cluster, and port-forwards that survive pod replacement.

Used by `make up` (scripts/up.py) and by the real-node tests (tests/realnode/).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

from cluster.errors import ClusterError
from cluster.harness import ROOT, Cluster, cache_dir

CHART = ROOT / "k8s" / "helm" / "todo-chatbot"
LOCAL_VALUES = CHART / "values-local.yaml"
# The chart's image sections and the image (scripts/images.sh's key) each one runs.
IMAGE_OF = {"frontend": "frontend", "backend": "backend", "mcpServer": "backend", "opsMcp": "ops-mcp"}
DEPLOYMENTS = ("frontend", "backend", "mcp", "ops-mcp")  # the Deployments' name suffixes
# The strictest Pod Security Standards level every pod of the chart meets (tests/k8s/test_k8s_chart.py checks it):
# the namespace the chart is installed in enforces it, so a pod that breaks it is refused here as on a hardened cluster.
POD_SECURITY = "restricted"


def pod_security_labels(level: str = POD_SECURITY) -> dict[str, str]:
    """Pod Security Admission's namespace labels: refuse (enforce), record (audit) and warn about pods beyond `level`."""
    return {f"pod-security.kubernetes.io/{mode}": level for mode in ("enforce", "audit", "warn")}


def engine_env() -> dict[str, str]:
    """DOCKER_HOST of a reachable engine (scripts/engine.sh starts one when there is none)."""
    proc = subprocess.run([str(ROOT / "scripts" / "engine.sh")], capture_output=True, text=True, timeout=600)
    if proc.returncode or not proc.stdout.strip():
        raise ClusterError(f"no container engine: scripts/engine.sh exited {proc.returncode}:\n{proc.stderr.strip()}")
    return {"DOCKER_HOST": proc.stdout.strip().splitlines()[-1]}


def built_images() -> dict[str, str]:
    """The image references scripts/images.sh built last ({"backend": "todo-chatbot/backend:<tag>", ...})."""
    path = cache_dir() / "images" / "images.json"
    if not path.is_file():
        raise ClusterError(f"{path} is missing: build the images first (scripts/images.sh, or make setup)")
    refs = json.loads(path.read_text())
    missing = sorted(set(IMAGE_OF.values()) - set(refs))
    if missing:
        raise ClusterError(f"{path} names no image for {', '.join(missing)}: run scripts/images.sh")
    return refs


def postgres_standin() -> str:
    """A local image with the interface of the chart's bundled PostgreSQL (tests/cluster/postgres/), for the
    real node where the public postgres image cannot be pulled; built once, then from the layer cache."""
    env = {**os.environ, **engine_env(), "DOCKER_BUILDKIT": "0"}
    have = subprocess.run(["docker", "image", "inspect", "todo-chatbot/base-python:bookworm"], env=env, capture_output=True)
    base = "todo-chatbot/base-python:bookworm" if have.returncode == 0 else "python:3.11-slim-bookworm"
    folder = ROOT / "tests" / "cluster" / "postgres"
    proc = subprocess.run(
        ["docker", "build", "--network", "host", "-q", "--build-arg", f"BASE_IMAGE={base}", str(folder)], env=env, capture_output=True, text=True, timeout=900
    )
    if proc.returncode:
        raise ClusterError(f"building the PostgreSQL stand-in failed:\n{proc.stderr[-2000:]}")
    ref = f"todo-chatbot.test/postgres:{proc.stdout.strip().split(':')[-1][:12]}"
    subprocess.run(["docker", "tag", proc.stdout.strip(), ref], env=env, check=True, capture_output=True)
    return ref


def load_images(cluster: Cluster, refs: dict[str, str]) -> list[str]:
    """Put the images into the real node's containerd (pods never pull them); returns those it lacked."""
    if cluster.node is None:
        raise ClusterError("this cluster has no real node to load images into")
    return cluster.node.load_images(refs.values(), engine_env())


def image_sets(refs: dict[str, str]) -> dict[str, str]:
    sets = {}
    for section, image in IMAGE_OF.items():
        repository, _, tag = refs[image].rpartition(":")
        sets[f"{section}.image.repository"] = repository
        sets[f"{section}.image.tag"] = tag
    return sets


def install(
    cluster: Cluster,
    namespace: str,
    refs: dict[str, str],
    *,
    release: str = "todo-chatbot",
    public_url: str = "http://localhost:3000",
    sets: dict[str, str] | None = None,
    values: list[Path] | None = None,
    timeout: str = "5m",
    wait: bool = True,
) -> subprocess.CompletedProcess[str]:
    """`helm upgrade --install` the chart with the local values and these images into `namespace`, created or labelled
    to enforce the chart's Pod Security level first; with `wait`, until every pod is Ready (and every Job done)."""
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": pod_security_labels()}})
    args = ["upgrade", "--install", release, str(CHART), "-n", namespace, "-f", str(LOCAL_VALUES), "--timeout", timeout]
    args += ["--wait"] if wait else []
    for path in values or []:
        args += ["-f", str(path)]
    for key, value in {**image_sets(refs), "publicUrl": public_url, **(sets or {})}.items():
        args += ["--set", f"{key}={value}"]
    proc = cluster.helm(*args, check=False, timeout=600)
    if proc.returncode:
        pods = cluster.kubectl("get", "pods,events", "-n", namespace, check=False).stdout
        raise ClusterError(f"helm upgrade --install {release} failed: {proc.stderr.strip()}\n{pods}")
    return proc


def ready_pods(cluster: Cluster, namespace: str, release: str = "todo-chatbot") -> dict[str, list[dict]]:
    """The release's running pods by component, each with its readiness and restarts."""
    out = json.loads(cluster.kubectl("get", "pods", "-n", namespace, "-l", f"app.kubernetes.io/instance={release}", "-o", "json").stdout)
    by: dict[str, list[dict]] = {}
    for pod in out["items"]:
        if pod["metadata"].get("deletionTimestamp") or pod["status"].get("phase") in ("Succeeded", "Failed"):
            continue
        component = pod["metadata"]["labels"].get("app.kubernetes.io/component", "?")
        statuses = pod["status"].get("containerStatuses") or []
        by.setdefault(component, []).append(
            {
                "name": pod["metadata"]["name"],
                "node": pod["spec"].get("nodeName"),
                "phase": pod["status"].get("phase"),
                "ready": bool(statuses) and all(s.get("ready") for s in statuses),
                "restarts": sum(s.get("restartCount", 0) for s in statuses),
            }
        )
    return by


def cluster_ip(cluster: Cluster, namespace: str, service: str) -> str:
    return cluster.kubectl("get", "svc", service, "-n", namespace, "-o", "jsonpath={.spec.clusterIP}").stdout.strip()


class PortForward:
    """`kubectl port-forward` on 127.0.0.1, started again whenever it exits (it dies with its pod)."""

    def __init__(self, cluster: Cluster, namespace: str, target: str, local_port: int, remote_port: int, log: Path | None = None):
        self.argv = [
            str(cluster.bin_dir / "kubectl"),
            "--kubeconfig",
            cluster.kubeconfig,
            "-n",
            namespace,
            "port-forward",
            "--address",
            "127.0.0.1",
            target,
            f"{local_port}:{remote_port}",
        ]
        self.env = cluster.env
        self.url = f"http://127.0.0.1:{local_port}"
        self.log = log
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"port-forward {target}", daemon=True)

    def start(self, timeout: float = 30) -> PortForward:
        self._thread.start()
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(self.url, timeout=2)
                return self
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise ClusterError(f"port-forward to {self.argv[-2]} did not answer at {self.url}") from None
                time.sleep(0.2)

    def _loop(self) -> None:
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        try:
            while not self._stopping.is_set():
                self._proc = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                self._proc.wait()
                self._stopping.wait(0.5)
        finally:
            if self.log:
                out.close()  # type: ignore[union-attr]

    def stop(self) -> None:
        self._stopping.set()
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._thread.join(timeout=10)


def secret_value(cluster: Cluster, namespace: str, secret: str, key: str) -> str:
    import base64

    data = cluster.kubectl("get", "secret", secret, "-n", namespace, "-o", f"jsonpath={{.data.{key}}}").stdout
    return base64.b64decode(data).decode()


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
