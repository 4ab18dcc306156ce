"""Helpers for the tests on real containers (the chart on the real-node cluster)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cluster import deploy
from cluster.harness import Cluster

RELEASE = "todo-chatbot"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class DeployedApp:
    cluster: Cluster
    namespace: str
    images: dict[str, str]
    frontend_url: str  # the browser's origin (publicUrl), through a port-forward on 127.0.0.1
    forwards: list[deploy.PortForward] = field(default_factory=list)
    release: str = RELEASE

    def service_url(self, component: str, port: int) -> str:
        """The component's Service as the host reaches it: its ClusterIP, through kube-proxy."""
        return f"http://{deploy.cluster_ip(self.cluster, self.namespace, f'{self.release}-{component}')}:{port}"

    @property
    def backend_url(self) -> str:
        return self.service_url("backend", 8000)

    def pods(self) -> dict[str, list[dict]]:
        return deploy.ready_pods(self.cluster, self.namespace, self.release)

    def logs(self) -> str:
        parts = []
        for name in deploy.DEPLOYMENTS:
            out = self.cluster.kubectl("logs", f"deploy/{self.release}-{name}", "-n", self.namespace, "--tail=40", "--all-containers", check=False)
            parts.append(f"----- {name} -----\n{out.stdout}{out.stderr}")
        return "\n".join(parts)

    def close(self) -> None:
        for forward in self.forwards:
            forward.stop()
        self.cluster.helm("uninstall", self.release, "-n", self.namespace, "--timeout", "2m", check=False)
        self.cluster.kubectl("delete", "namespace", self.namespace, "--wait=false", check=False)


def deploy_app(cluster: Cluster, namespace: str, images: dict[str, str], workdir: Path, sets: dict[str, str] | None = None) -> DeployedApp:
    """Install the chart with the real images, every pod Ready; the frontend port-forwarded to its publicUrl."""
    port = free_port()
    url = f"http://localhost:{port}"
    deploy.install(cluster, namespace, images, public_url=url, sets=sets)
    app = DeployedApp(cluster, namespace, images, url)
    forward = deploy.PortForward(cluster, namespace, f"svc/{RELEASE}-frontend", port, 3000, log=workdir / "port-forward.log")
    app.forwards.append(forward.start())
    return app


class Prober:
    """Sends a GET to each URL every `interval` seconds in threads of its own and counts the outcomes.
    Each request opens a connection of its own, as a new visitor would: the Service picks its pod."""

    def __init__(self, urls: dict[str, str], interval: float = 0.1, timeout: float = 2.0):
        self.urls = urls
        self.interval = interval
        self.timeout = timeout
        self.ok = {name: 0 for name in urls}
        self.failed: dict[str, list[str]] = {name: [] for name in urls}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(name, url), daemon=True) for name, url in urls.items()]

    def _run(self, name: str, url: str) -> None:
        with httpx.Client(timeout=self.timeout, headers={"Connection": "close"}, limits=httpx.Limits(max_keepalive_connections=0)) as client:
            next_at = time.monotonic()
            while not self._stop.is_set():
                try:
                    response = client.get(url)
                    if response.status_code == 200:
                        self.ok[name] += 1
                    else:
                        self.failed[name].append(f"{time.strftime('%H:%M:%S')} HTTP {response.status_code}")
                except httpx.HTTPError as exc:
                    self.failed[name].append(f"{time.strftime('%H:%M:%S')} {type(exc).__name__}: {exc}")
                next_at += self.interval
                self._stop.wait(max(0.0, next_at - time.monotonic()))

    def __enter__(self) -> Prober:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)


def signed_in(app: DeployedApp, email: str) -> httpx.Client:
    """A browser-like client with a new user's Better Auth session, through the deployed frontend."""
    client = httpx.Client(base_url=app.frontend_url, timeout=30, headers={"Origin": app.frontend_url})
    response = client.post("/api/auth/sign-up/email", json={"name": "Real Node", "email": email, "password": "correct horse battery"})
    assert response.status_code == 200, response.text
    return client
