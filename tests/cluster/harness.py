"""A real Kubernetes control plane on loopback for tests, started by kwokctl.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler are the upstream
binaries built by scripts/toolchain.sh; KWOK's controller plays the fake nodes and
their kubelets. With `real_node=True` a real kubelet node joins (tests/cluster/node.py)
and runs every workload, the KWOK nodes being tainted. See tests/cluster/README.md.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from cluster.api import Api
from cluster.errors import ClusterError
from cluster.node import FAKE_NODE_TAINT, NODE_NAME, NodeError, RealNode

__all__ = ["Cluster", "ClusterError", "NodeError"]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
STAGES = HERE / "stages"

KUBE_VERSION = "v1.34.4"
NODES = (("kwok-node-0", "zone-a"), ("kwok-node-1", "zone-b"))
NODE_ALLOCATABLE = {"cpu": "4", "memory": "8Gi", "pods": "110"}
# Label that takes a pod out of KWOK's default pod stages (see stages/README.md).
KUBELET_LABEL = "kwok.todo-chatbot.test/kubelet"

T = TypeVar("T")


def cache_dir() -> Path:
    return Path(os.environ.get("TODO_CHATBOT_CACHE", Path.home() / ".cache" / "todo-chatbot"))


def toolchain_bin() -> Path:
    """The toolchain's bin dir; fails with the command to run when it is incomplete."""
    bin_dir = cache_dir() / "bin"
    needed = [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "etcd",
        "kwok",
        "kwokctl",
        "kubectl",
        "helm",
        "crane",
        "kubelet",
        "kube-proxy",
        "coredns",
        "pause",
        "hostpath-provisioner",
        "kube-router",
    ]
    missing = [name for name in needed if not (bin_dir / name).is_file()]
    if missing:
        raise ClusterError(f"toolchain incomplete in {bin_dir}: missing {', '.join(missing)}. Run `scripts/toolchain.sh` (or `make setup`).")
    return bin_dir


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cri_log(lines: list[str], stream: str = "stdout") -> str:
    """Lines in the CRI log format that KWOK's kubelet API serves to `kubectl logs`."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    return "".join(f"{stamp}.{i:09d}Z {stream} F {line}\n" for i, line in enumerate(lines))


class Cluster:
    """One kwokctl cluster. Use `Cluster.create()`; always `delete()` it."""

    def __init__(self, workdir: Path, name: str, bin_dir: Path, real_node: bool = False):
        self.workdir = workdir
        self.name = name
        self.bin_dir = bin_dir
        self.cluster_dir = workdir / "clusters" / name
        self.kubeconfig = str(self.cluster_dir / "kubeconfig.yaml")
        # The node's files live beside the cluster's, not inside: `kwokctl delete` removes the cluster dir.
        self.etcd_port = _free_port()  # etcd's client port (plain HTTP on loopback; compact_etcd speaks its JSON gateway)
        self.node = RealNode(workdir / "nodes" / name, bin_dir, self.cluster_dir / "pki", self.kubeconfig) if real_node else None
        self._api: Api | None = None
        self.env = {
            **os.environ,
            "KWOK_WORKDIR": str(workdir),
            "KUBECONFIG": self.kubeconfig,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        # Tests must never touch the user's own helm or kubectl state.
        for var, sub in (("HELM_CONFIG_HOME", "helm/config"), ("HELM_CACHE_HOME", "helm/cache"), ("HELM_DATA_HOME", "helm/data")):
            self.env[var] = str(workdir / sub)

    @property
    def server(self) -> str:
        """The apiserver URL (https://127.0.0.1:PORT), from the cluster's kubeconfig."""
        return yaml.safe_load(Path(self.kubeconfig).read_text())["clusters"][0]["cluster"]["server"]

    # -- lifecycle ---------------------------------------------------------

    @property
    def apiserver_port(self) -> int:
        return int(self.server.rsplit(":", 1)[1])

    @classmethod
    def create(cls, workdir: Path, name: str = "test", timeout: float = 180, attempts: int = 2, real_node: bool = False) -> Cluster:
        """Create and wait for readiness; a start that fails (e.g. a port taken between kwokctl picking
        it and a component binding it, or a starved machine) is deleted and tried again once."""
        for attempt in range(1, attempts + 1):
            cluster = cls(workdir, name, toolchain_bin(), real_node=real_node)
            try:
                cluster._create(timeout)
                return cluster
            except (ClusterError, TimeoutError, subprocess.TimeoutExpired) as exc:
                logs = cluster.component_logs(20)
                if isinstance(exc, NodeError) and "already running" in str(exc):
                    raise  # another owner's node: retrying cannot help
                cluster.delete()  # never leave half-started components holding ports
                if attempt == attempts:
                    raise ClusterError(f"{exc}\n{logs}") from exc
                print(f"test control plane: attempt {attempt} failed ({exc}); retrying\n{logs}", file=sys.stderr)
        raise AssertionError("unreachable")

    def _create(self, timeout: float) -> None:
        if self.node:
            # The bridge the API server advertises must exist first.
            self.node.claim_host(wait=float(os.environ.get("TODO_CHATBOT_NODE_WAIT", "0")))
        config = self.workdir / f"kwokctl-{self.name}.yaml"
        config.write_text(self._config())
        self._kwokctl(
            "--config",
            str(config),
            "create",
            "cluster",
            "--kubeconfig",
            str(self.workdir / "merged-kubeconfig.yaml"),  # keep ~/.kube/config untouched
            "--wait",
            f"{int(timeout)}s",
            timeout=timeout + 60,
        )
        self._add_nodes()
        self._start_node()
        self.wait_ready(timeout)

    def _start_node(self) -> None:
        if not self.node:
            return
        self.node.start(self.apiserver_port)
        self.apply({"apiVersion": "v1", "kind": "List", "items": self.node.cluster_objects()})

    def _config(self) -> str:
        b = self.bin_dir
        options = {
            "runtime": "binary",
            "bindAddress": "127.0.0.1",
            "kubeVersion": KUBE_VERSION,
            # Every port explicit: kwokctl hands out ports counting down from 32767, so clusters
            # started at the same time (parallel test sessions) would collide.
            "kubeApiserverPort": _free_port(),
            "etcdPort": self.etcd_port,
            "etcdPeerPort": _free_port(),
            "kubeControllerManagerPort": _free_port(),
            "kubeSchedulerPort": _free_port(),
            "kwokControllerPort": _free_port(),
            "kubeApiserverBinary": str(b / "kube-apiserver"),
            "kubeControllerManagerBinary": str(b / "kube-controller-manager"),
            "kubeSchedulerBinary": str(b / "kube-scheduler"),
            "kwokControllerBinary": str(b / "kwok"),
            "etcdBinary": str(b / "etcd"),
            "kubectlBinary": str(b / "kubectl"),
            "enableCRDs": ["Logs", "ClusterLogs"],
            "disableQPSLimits": True,
        }
        patches = (
            [
                # Without a default route the apiserver cannot pick an address by itself.
                {"name": "kube-apiserver", "extraArgs": [{"key": "advertise-address", "value": "127.0.0.1"}]},
            ]
            if not self.node
            else self.node.control_plane_patches()
        )
        if self.node:
            options["kubeApiserverCertSANs"] = self.node.cert_sans()
            # metrics.k8s.io from the real kubelet (top_pods, top_nodes), as `minikube addons enable metrics-server`
            metrics = self.bin_dir.parent / "metrics-server" / "base"
            if (self.bin_dir / "metrics-server").is_file() and metrics.is_dir():
                options.update(
                    enableMetricsServer=True,
                    metricsServerBinary=str(self.bin_dir / "metrics-server"),
                    metricsServerManifests=[str(metrics)],
                    metricsServerPort=_free_port(),
                )
        patches += [
            # Test data is disposable: skip fsync, which dominates etcd latency on small disks.
            {"name": "etcd", "extraArgs": [{"key": "unsafe-no-fsync", "value": "true"}]},
            # One instance each: leader election only delays a restart until the old lease expires.
            {"name": "kube-controller-manager", "extraArgs": [{"key": "leader-elect", "value": "false"}]},
            {"name": "kube-scheduler", "extraArgs": [{"key": "leader-elect", "value": "false"}]},
        ]
        docs: list[Any] = [
            {
                "kind": "KwokctlConfiguration",
                "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
                "options": options,
                "componentsPatches": patches,
            }
        ]
        for stage in sorted(STAGES.glob("*.yaml")):
            docs.append(yaml.safe_load(stage.read_text()))
        return yaml.safe_dump_all(docs, sort_keys=False)

    def _add_nodes(self) -> None:
        nodes = [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                    "labels": {
                        "type": "kwok",
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "topology.kubernetes.io/zone": zone,
                    },
                },
                "spec": {"taints": [FAKE_NODE_TAINT]} if self.node else {},
                "status": {"allocatable": NODE_ALLOCATABLE, "capacity": NODE_ALLOCATABLE},
            }
            for name, zone in NODES
        ]
        self.apply({"apiVersion": "v1", "kind": "List", "items": nodes})

    def wait_ready(self, timeout: float = 120) -> None:
        self.wait_for(lambda: self.kubectl("get", "--raw", "/readyz", check=False).stdout.strip() == "ok", timeout, message="apiserver /readyz")

        def nodes_ready() -> bool:
            out = self.kubectl("get", "nodes", "-o", "json", check=False)
            if out.returncode:
                return False
            items = json.loads(out.stdout)["items"]
            ready = [n for n in items if any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))]
            names = {n["metadata"]["name"] for n in ready}
            return len(ready) >= len(NODES) and (not self.node or NODE_NAME in names)

        self.wait_for(nodes_ready, timeout, message=f"{len(NODES)} Ready KWOK nodes" + (f" and the Ready real node {NODE_NAME}" if self.node else ""))
        self.wait_for(
            lambda: self.kubectl("get", "serviceaccount", "default", "-n", "default", check=False).returncode == 0,
            timeout,
            message="the default ServiceAccount",
        )

    def stop(self) -> None:
        """Stop every component (the data stays); `start()` brings it back."""
        if self.node:
            self.node.stop()
        self._kwokctl("stop", "cluster")

    def start(self, timeout: float = 120) -> None:
        """Start a stopped cluster; the API answers again when this returns. Note: the restarted
        kwok-controller takes the nodes over only when the old controller's node leases expire (about a
        minute), so new pods stay Pending until then. Outage tests use `disposable_cluster`."""
        if self.node:
            self.node.claim_host()
        self._kwokctl("start", "cluster", timeout=timeout + 60)
        self._start_node()
        self.wait_ready(timeout)

    def delete(self) -> None:
        if self.node:
            self.node.teardown()
        self._kwokctl("delete", "cluster", check=False)

    def component_logs(self, tail: int = 60) -> str:
        """The tail of each component's log, for failure reports."""
        parts = []
        for log in sorted((self.cluster_dir / "logs").glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-tail:]
            parts.append(f"----- {log.name} (last {len(lines)} lines) -----\n" + "\n".join(lines))
        if self.node:
            parts.append(self.node.logs(tail))
        return "\n".join(parts) or f"(no component logs under {self.cluster_dir / 'logs'})"

    # -- clients -----------------------------------------------------------

    def _run(self, argv: list[str], *, input: str | None = None, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(argv, input=input, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode:
            raise ClusterError(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr or proc.stdout}")
        return proc

    def _kwokctl(self, *args: str, check: bool = True, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return self._run([str(self.bin_dir / "kwokctl"), "--name", self.name, *args], check=check, timeout=timeout)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self._run([str(self.bin_dir / "kubectl"), "--kubeconfig", self.kubeconfig, *args], input=input, check=check, timeout=timeout)

    def kubectl_json(self, *args: str, timeout: float = 120) -> Any:
        """`kubectl ... -o json`, parsed: in process for the plain forms of `get` (cluster/api.py), else by kubectl."""
        answer = self.api.get(args)
        return answer if answer is not None else json.loads(self.kubectl(*args, "-o", "json", timeout=timeout).stdout)

    @property
    def api(self) -> Api:
        """In-process reads (cluster/api.py), made on first use: the kubeconfig exists once the cluster has started."""
        if self._api is None:
            self._api = Api(self.kubeconfig)
        return self._api

    def fresh_namespace(self, name: str) -> str:
        """Create a namespace and wait until it is ready for pods (its default ServiceAccount exists)."""
        self.api.create_namespace(name)
        self.wait_for(
            lambda: self.api.request("GET", f"/api/v1/namespaces/{name}/serviceaccounts/default") is not None,
            timeout=30,
            message=f"ServiceAccount default in {name}",
        )
        return name

    def helm(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return self._run([str(self.bin_dir / "helm"), "--kubeconfig", self.kubeconfig, *args], check=check, timeout=timeout)

    def apply(self, manifest: str | dict | list, namespace: str | None = None) -> subprocess.CompletedProcess[str]:
        if isinstance(manifest, dict):
            text = yaml.safe_dump(manifest)
        elif isinstance(manifest, list):
            text = yaml.safe_dump_all(manifest)
        else:
            text = manifest
        args = ["apply", "-f", "-"] + (["-n", namespace] if namespace else [])
        return self.kubectl(*args, input=text)

    def set_logs(self, namespace: str, pod: str, current: list[str], previous: list[str] | None = None, container: str | None = None) -> None:
        """Make `kubectl logs` (and `--previous`) of this pod return these lines."""
        folder = self.workdir / "pod-logs" / namespace / pod
        folder.mkdir(parents=True, exist_ok=True)
        entry: dict[str, Any] = {"logsFile": str(folder / f"{container or 'all'}.log")}
        Path(entry["logsFile"]).write_text(cri_log(current))
        if previous is not None:
            entry["previousLogsFile"] = str(folder / f"{container or 'all'}.previous.log")
            Path(entry["previousLogsFile"]).write_text(cri_log(previous))
        if container:
            entry["containers"] = [container]
        self.apply(
            {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "Logs",
                "metadata": {"name": pod, "namespace": namespace},
                "spec": {"logs": [entry]},
            }
        )
        # KWOK serves the logs once its watch has seen the Logs object: wait for that, so tests never race it.
        for prev, lines in ((False, current), (True, previous)):
            if lines is None:
                continue
            self.wait_for(
                lambda prev=prev, lines=lines: (self.api.logs(namespace, pod, container, prev) or "").splitlines() == lines,
                timeout=30,
                message=f"the logs{' (previous)' if prev else ''} of {pod}",
            )

    def compact_etcd(self) -> int:
        """Compact etcd's history up to its current revision, as the API server does every 5 minutes: what a
        resourceVersion (a watch, a list's continue token) named before is gone, so the API server answers 410.
        Like the API server's own compactor, it records the revision under compact_rev_key, which the API server
        watches: its watch cache drops what is older within ~15 s (cacher/compactor.go), and from then on lists that
        continue an older snapshot get 410. Through etcd's JSON gateway on loopback; returns the compacted revision."""

        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            request = urllib.request.Request(
                f"http://127.0.0.1:{self.etcd_port}/v3/kv/{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.load(response)

        revision = int(post("range", {"key": base64.b64encode(b"compact_rev_key").decode()})["header"]["revision"])
        post("put", {"key": base64.b64encode(b"compact_rev_key").decode(), "value": base64.b64encode(str(revision).encode()).decode()})
        post("compaction", {"revision": revision, "physical": True})
        return revision

    @staticmethod
    def wait_for(predicate: Callable[[], T], timeout: float = 30, interval: float = 0.2, message: str = "") -> T:
        """predicate()'s first true result, asked every `interval` seconds at first and then less often (x1.5 per
        miss, up to 1 s, or `interval` when it is longer): a condition met at once is seen at once, and one that
        takes half a minute costs about 40 kubectl runs rather than 150 (they were a fifth of the suite's CPU)."""
        deadline = time.monotonic() + timeout
        gap, longest = interval, max(interval, 1.0)
        while True:
            result = predicate()
            if result:
                return result
            left = deadline - time.monotonic()
            if left < 0:
                raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {message or predicate}")
            time.sleep(min(gap, left + 0.01))  # the last ask falls just past the deadline, not a whole gap after it
            gap = min(gap * 1.5, longest)
