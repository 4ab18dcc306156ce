"""A real Kubernetes node beside the KWOK fake nodes: kubelet on containerd + runc, with Service
routing (kube-proxy) and cluster DNS (CoreDNS), all host processes, so that pods run real containers.

Layout on this machine (one real node at a time: kube-proxy's iptables chains have fixed names):
- the bridge `todo0` with the gateway 10.244.0.1 holds the pods (10.244.0.0/24; routes only to the pod and
  Service ranges, never a default route: nothing leaves the machine);
- the API server advertises the gateway; a socat forwarder takes gateway:PORT to its loopback listener, so pods
  reach `kubernetes.default` (10.96.0.1) through kube-proxy;
- CoreDNS listens on gateway:53 behind the `kube-dns` Service 10.96.0.10, serves cluster.local from the API and
  NXDOMAIN for every other name;
- a hostPath provisioner serves the default StorageClass `standard` (directories under the node's folder), as
  Minikube's storage-provisioner does; kube-router's firewall enforces NetworkPolicies;
- containerd (own root, state and socket) pulls nothing from outside: its proxy is a closed loopback port.

`teardown()` undoes what the node changed on the machine: processes, containers, mounts, netns, cgroups,
iptables chains, the bridge and the sysctls the kubelet and the bridge set.
See tests/cluster/README.md and ../shared/reference/realnode.md.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import yaml
from cluster.errors import ClusterError

NODE_NAME = "real-node"
NODE_LABEL = "todo-chatbot.test/node"
BRIDGE = "todo0"
GATEWAY = "10.244.0.1"
POD_SUBNET = "10.244.0.0/24"
CLUSTER_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/16"
# FORWARD rules that accept the pods' traffic (see _bridge_up)
FORWARD_ACCEPT = [[flag, POD_SUBNET, "-m", "comment", "--comment", "todo-node pods, after the NetworkPolicy enforcer", "-j", "ACCEPT"] for flag in ("-s", "-d")]
API_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
CGROUP_ROOT = "todo-node"
PAUSE_IMAGE = "todo-chatbot.local/pause:3.10"
# Taint of the KWOK nodes in a cluster with a real node: workloads land on the real node unless they tolerate it.
FAKE_NODE_TAINT = {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}
# A loopback port nothing listens on: every registry pull fails at once, without a DNS lookup (Go's proxy dialer).
CLOSED_PROXY = "http://127.0.0.1:9"
# What the kubelet and the bridge set on the machine, restored at teardown.
SYSCTLS = (
    "net/ipv4/ip_forward",
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
HOST_STATE = Path("/run/todo-chatbot-node")  # the owner of the machine's real node, and the sysctls it found
CNI_BIN = Path("/usr/lib/cni")
DEBIAN_PACKAGES = {
    "containerd": "containerd",
    "runc": "runc",
    "socat": "socat",
    "ctr": "containerd",
    "iptables": "iptables",
    "openssl": "openssl",
    "ip": "iproute2",
    "ipset": "ipset",
}
DAEMONS = ("apiserver-forward", "containerd", "kubelet", "kube-proxy", "coredns", "provisioner", "network-policy")
STORAGE_CLASS = "standard"  # the default class, named as on Minikube
PROVISIONER = "todo-chatbot.test/hostpath"


class NodeError(ClusterError):
    """The real node could not be set up, started or torn down."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(argv: list[str], *, check: bool = True, input: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(argv, input=input, capture_output=True, timeout=timeout)
    if check and proc.returncode:
        raise NodeError(f"{' '.join(argv)} exited {proc.returncode}: {(proc.stderr or proc.stdout).decode(errors='replace').strip()}")
    return proc


def missing_prerequisites() -> list[str]:
    """What this machine lacks for a real node, each with the fix; empty when it can run one."""
    problems = []
    if os.geteuid() != 0:
        problems.append("the real node needs root (kubelet, containerd, a bridge, iptables): run as root")
    for cmd, package in DEBIAN_PACKAGES.items():
        if not shutil.which(cmd):
            problems.append(f"{cmd} is missing: apt-get install {package} (scripts/setup.sh does it)")
    for plugin in ("bridge", "host-local", "loopback"):
        if not (CNI_BIN / plugin).is_file():
            problems.append(f"CNI plugin {CNI_BIN / plugin} is missing: apt-get install containernetworking-plugins")
    return problems


class Daemon:
    """A detached host process with a pidfile and a log file in the node's folder."""

    def __init__(self, folder: Path, name: str):
        self.name = name
        self.pidfile = folder / "run" / f"{name}.pid"
        self.log = folder / "logs" / f"{name}.log"

    def pid(self) -> int | None:
        """The process's pid while it runs (a zombie has exited: reaped here when it is our child)."""
        try:
            pid_text, _, program = self.pidfile.read_text().partition("\n")
            pid = int(pid_text)
        except (OSError, ValueError):
            return None
        try:
            if program and not Path(f"/proc/{pid}/cmdline").read_bytes().startswith(program.encode()):
                return None  # the pid belongs to another process now (a reboot)
        except OSError:
            return None
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return None
        return None if state in ("Z", "X") else pid

    def start(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        if self.pid():
            return
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, start_new_session=True
            )
        self.pidfile.write_text(f"{proc.pid}\n{argv[0]}")
        time.sleep(0.2)
        if proc.poll() is not None:
            raise NodeError(f"{self.name} exited {proc.returncode} at start:\n{self.tail()}")

    def stop(self, timeout: float = 20) -> None:
        pid = self.pid()
        if pid:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.pid():
                time.sleep(0.1)
            if self.pid():
                os.kill(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)

    def tail(self, lines: int = 30) -> str:
        if not self.log.is_file():
            return f"(no log at {self.log})"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class RealNode:
    """The real node of one cluster; its files live in `folder` (the cluster's work dir /node)."""

    def __init__(self, folder: Path, bin_dir: Path, pki_dir: Path, kubeconfig: str):
        self.folder = folder
        self.bin_dir = bin_dir
        self.pki_dir = pki_dir
        self.admin_kubeconfig = kubeconfig
        self.daemons = {name: Daemon(folder, name) for name in DAEMONS}
        self.socket = folder / "containerd" / "containerd.sock"

    # -- the control plane's side ------------------------------------------------------------

    def control_plane_patches(self) -> list[dict]:
        """kwokctl component patches: the API server as the pods see it, and KWOK keeping off the real node."""
        return [
            {
                "name": "kube-apiserver",
                "extraArgs": [
                    {"key": "advertise-address", "value": GATEWAY},
                    {"key": "service-cluster-ip-range", "value": SERVICE_CIDR},
                    # logs, exec and port-forward: the API server calls the kubelet as an identity its webhook allows.
                    {"key": "kubelet-client-certificate", "value": str(self.pki_dir / "admin.crt")},
                    {"key": "kubelet-client-key", "value": str(self.pki_dir / "admin.key")},
                    # The default tries the Hostname first: a DNS lookup through the machine's resolver.
                    {"key": "kubelet-preferred-address-types", "value": "InternalIP"},
                ],
            },
            {
                "name": "kwok-controller",
                "extraArgs": [
                    {"key": "manage-all-nodes", "value": "false", "override": True},
                    {"key": "manage-nodes-with-annotation-selector", "value": "kwok.x-k8s.io/node=fake"},
                ],
            },
        ]

    @staticmethod
    def cert_sans() -> list[str]:
        return [API_SERVICE_IP, GATEWAY]

    # -- host networking, before the control plane ------------------------------------------

    def claim_host(self, wait: float = 0) -> None:
        """Take the machine's one real-node slot, cleaning up after an owner that is gone; with `wait`, wait
        that many seconds for a running owner to finish (test sessions of several checkouts take turns)."""
        problems = missing_prerequisites()
        if problems:
            raise NodeError("this machine cannot run the real node:\n  - " + "\n  - ".join(problems))
        import fcntl

        deadline = time.monotonic() + wait
        HOST_STATE.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{HOST_STATE}.lock", "w") as lock:
            while True:
                fcntl.flock(lock, fcntl.LOCK_EX)  # one claimant at a time looks at and takes the slot
                HOST_STATE.mkdir(parents=True, exist_ok=True)
                owner_file = HOST_STATE / "owner"
                # The owner: the node's folder and the process that claimed it (alive while it starts the node).
                folder, _, claimant = owner_file.read_text().partition("\n") if owner_file.is_file() else ("", "", "")
                owner = Path(folder.strip()) if folder.strip() else None
                if owner is not None and owner != self.folder:
                    other = RealNode(owner, self.bin_dir, self.pki_dir, self.admin_kubeconfig)
                    if not _alive(claimant) and not any(d.pid() for d in other.daemons.values()):
                        other.teardown()
                        owner = None
                if owner is None or owner == self.folder:
                    HOST_STATE.mkdir(parents=True, exist_ok=True)
                    if not (HOST_STATE / "sysctls.json").is_file():
                        found = {key: Path("/proc/sys", key).read_text().strip() for key in SYSCTLS if Path("/proc/sys", key).exists()}
                        (HOST_STATE / "sysctls.json").write_text(json.dumps(found))
                    (HOST_STATE / "owner").write_text(f"{self.folder}\n{os.getpid()}")
                    break
                fcntl.flock(lock, fcntl.LOCK_UN)
                if time.monotonic() > deadline:
                    raise NodeError(
                        f"a real node is already running on this machine (its files: {owner}). Only one can run "
                        "at a time: stop it first (`make down` for the local cluster, or let its test session end)."
                    )
                time.sleep(2)
        self._bridge_up()

    def _bridge_up(self) -> None:
        if _run(["ip", "link", "show", BRIDGE], check=False).returncode:
            _run(["ip", "link", "add", BRIDGE, "type", "bridge"])
        addrs = _run(["ip", "-o", "-4", "addr", "show", "dev", BRIDGE]).stdout.decode()
        if f" {GATEWAY}/" not in addrs:
            _run(["ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE])
        _run(["ip", "link", "set", BRIDGE, "up"])
        # The host reaches ClusterIPs through kube-proxy's DNAT; without this route a packet to a Service kube-proxy
        # has not synced yet would follow the default route off the machine.
        _run(["ip", "route", "replace", SERVICE_CIDR, "dev", BRIDGE, "src", GATEWAY])
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1")
        # The pods' traffic is accepted when FORWARD's policy is DROP (a Docker engine sets that) by rules *appended*
        # to FORWARD, so they always come after the NetworkPolicy enforcer's jump (kube-router keeps its own at
        # position 1). The CNI firewall plugin did this before, but it inserts at position 1 whenever its jump is
        # missing: between two kube-router syncs that accepted every pod's egress ahead of the policies.
        for rule in FORWARD_ACCEPT:
            if _run(["iptables", "-C", "FORWARD", *rule], check=False).returncode:
                _run(["iptables", "-A", "FORWARD", *rule])

    # -- the node's processes --------------------------------------------------------------

    def start(self, apiserver_port: int, timeout: float = 120) -> None:
        """Start (or, after a reboot or `stop()`, restart) every node process; returns when the Node is Ready."""
        for sub in ("run", "logs", "etc", "cni/net.d", "pki"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self.daemons["apiserver-forward"].start(["socat", f"TCP-LISTEN:{apiserver_port},bind={GATEWAY},fork,reuseaddr", f"TCP:127.0.0.1:{apiserver_port}"])
        self._start_containerd()
        self._import_pause()
        self._start_kubelet(apiserver_port)
        self._start_kube_proxy()
        self._start_coredns()
        self.daemons["provisioner"].start(
            [
                str(self.bin_dir / "hostpath-provisioner"),
                "-kubeconfig",
                self.admin_kubeconfig,
                "-root",
                str(self.folder / "volumes"),
                "-name",
                PROVISIONER,
                "-node",
                NODE_NAME,
            ]
        )
        # NetworkPolicies enforced as on a cluster with a policy-aware CNI (Calico on Minikube): kube-router's
        # firewall alone (iptables + ipset), no routing or Service proxy of its own. It reads its Node object once at
        # start and exits for good when the kubelet has not registered it yet (seen in CI on a loaded machine).
        self._wait_registered(timeout)
        self.daemons["network-policy"].start(
            [
                str(self.bin_dir / "kube-router"),
                *self._kube_router_flags(),
                "--run-firewall=true",
                "--run-router=false",
                "--run-service-proxy=false",
                "--enable-cni=false",
                # a sync that failed (an xtables lock held by kube-proxy under load) is retried soon, not in 5 min
                "--iptables-sync-period=15s",
                "--health-port=0",
                "--metrics-port=0",
                "--v=1",
            ]
        )

    def _wait_registered(self, timeout: float) -> None:
        kubectl = [str(self.bin_dir / "kubectl"), "--kubeconfig", self.admin_kubeconfig, "get", "node", NODE_NAME, "-o", "name"]
        deadline = time.monotonic() + timeout
        while _run(kubectl, check=False, timeout=30).returncode:
            if time.monotonic() > deadline:
                raise NodeError(f"the kubelet did not register Node {NODE_NAME} within {timeout:.0f}s:\n{self.daemons['kubelet'].tail()}")
            if not self.daemons["kubelet"].pid():
                raise NodeError(f"the kubelet exited before registering Node {NODE_NAME}:\n{self.daemons['kubelet'].tail()}")
            time.sleep(0.5)

    def _kube_router_flags(self) -> list[str]:
        return [
            f"--kubeconfig={self.admin_kubeconfig}",
            f"--hostname-override={NODE_NAME}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--enable-ipv4=true",
            "--enable-ipv6=false",
        ]

    def _ports(self) -> dict[str, int]:
        """Ports of the node's listeners, picked once and kept, so a restart finds them again."""
        path = self.folder / "etc" / "ports.json"
        if path.is_file():
            return json.loads(path.read_text())
        ports = {name: _free_port() for name in ("kubelet", "kubelet-healthz", "proxy-healthz", "proxy-metrics", "dns-health", "dns-ready")}
        path.write_text(json.dumps(ports))
        return ports

    def _start_containerd(self) -> None:
        root = self.folder / "containerd"
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        config = f"""version = 2
root = "{root / "root"}"
state = "{root / "state"}"
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{root / "containerd-ttrpc.sock"}"
[metrics]
  address = ""
[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  # Without CAP_SYS_RESOURCE nothing may lower oom_score_adj, and containerd would set -998 on sandboxes.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
  [{cri}.cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{self.folder / "cni" / "net.d"}"
  [{cri}.registry]
    config_path = "{root / "certs.d"}"
"""
        (root / "certs.d").mkdir(parents=True, exist_ok=True)
        (self.folder / "etc" / "containerd.toml").write_text(config)
        (self.folder / "cni" / "net.d" / "10-todo-node.conflist").write_text(
            json.dumps(
                {
                    "cniVersion": "1.0.0",
                    "name": "todo-node",
                    "plugins": [
                        {
                            "type": "bridge",
                            "bridge": BRIDGE,
                            "isGateway": True,
                            "hairpinMode": True,
                            "ipMasq": False,
                            "ipam": {
                                "type": "host-local",
                                "dataDir": str(self.folder / "cni" / "ipam"),
                                "ranges": [[{"subnet": POD_SUBNET, "gateway": GATEWAY}]],
                                # No default route: a pod reaches the pod and Service ranges, nothing else.
                                "routes": [{"dst": CLUSTER_CIDR}, {"dst": SERVICE_CIDR}],
                            },
                        },
                    ],
                },
                indent=2,
            )
        )
        no_proxy = ",".join(["127.0.0.1", "localhost", "::1", CLUSTER_CIDR, SERVICE_CIDR])
        env = {
            "HTTP_PROXY": CLOSED_PROXY,
            "HTTPS_PROXY": CLOSED_PROXY,
            "NO_PROXY": no_proxy,
            "http_proxy": CLOSED_PROXY,
            "https_proxy": CLOSED_PROXY,
            "no_proxy": no_proxy,
        }
        self.daemons["containerd"].start(["containerd", "--config", str(self.folder / "etc" / "containerd.toml")], env)
        self._wait(lambda: self.ctr("version", check=False).returncode == 0, 30, "containerd to answer", self.daemons["containerd"])

    def ctr(self, *args: str, check: bool = True, input: bytes | None = None, timeout: float = 300) -> subprocess.CompletedProcess[bytes]:
        return _run(["ctr", "--address", str(self.socket), "--namespace", "k8s.io", *args], check=check, input=input, timeout=timeout)

    def images(self) -> set[str]:
        return set(self.ctr("images", "list", "--quiet").stdout.decode().split())

    def trust_registry(self, host: str) -> None:
        """Let containerd pull over plain HTTP from a test's registry on loopback (`127.0.0.1:PORT`): loopback
        bypasses the closed proxy; every other registry stays unreachable. containerd reads certs.d per pull."""
        folder = self.folder / "containerd" / "certs.d" / host
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "hosts.toml").write_text(f'server = "http://{host}"\n[host."http://{host}"]\n  capabilities = ["pull", "resolve"]\n')

    def _import_pause(self) -> None:
        if PAUSE_IMAGE in self.images():
            return
        self.ctr("images", "import", "-", input=_oci_archive(PAUSE_IMAGE, {"/pause": (self.bin_dir / "pause").read_bytes()}, entrypoint=["/pause"]))

    def load_images(self, refs: Iterable[str], docker_env: dict[str, str]) -> list[str]:
        """Copy images from the Docker engine into the node's containerd (those it lacks); returns what was loaded."""
        have = self.images()
        wanted = [ref for ref in dict.fromkeys(refs) if _normalize(ref) not in have]
        if not wanted:
            return []
        save = subprocess.Popen(["docker", "save", *wanted], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **docker_env})
        assert save.stdout is not None
        load = subprocess.run(
            ["ctr", "--address", str(self.socket), "--namespace", "k8s.io", "images", "import", "-"], stdin=save.stdout, capture_output=True, timeout=600
        )
        save.stdout.close()
        save_err = save.stderr.read().decode(errors="replace") if save.stderr else ""
        if save.wait() or load.returncode:
            raise NodeError(f"loading {', '.join(wanted)} into the node failed: {save_err or load.stderr.decode(errors='replace')}")
        return wanted

    def _start_kubelet(self, apiserver_port: int) -> None:
        ports = self._ports()
        kubeconfig = self._node_kubeconfig(apiserver_port)
        (self.folder / "etc" / "resolv.conf").write_text(f"nameserver {DNS_SERVICE_IP}\n")
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": GATEWAY,  # the node's InternalIP: the API server reaches the kubelet there
            "port": ports["kubelet"],
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": ports["kubelet-healthz"],
            "readOnlyPort": 0,
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True}, "x509": {"clientCAFile": str(self.pki_dir / "ca.crt")}},
            "authorization": {"mode": "Webhook"},
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{CGROUP_ROOT}",
            "failCgroupV1": False,
            "failSwapOn": False,
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "podLogsDir": str(self.folder / "pod-logs"),
            "resolvConf": str(self.folder / "etc" / "resolv.conf"),
            "clusterDNS": [DNS_SERVICE_IP],
            "clusterDomain": "cluster.local",
            "makeIPTablesUtilChains": False,
            "volumePluginDir": str(self.folder / "volume-plugins"),
            "staticPodPath": "",
            "maxPods": 60,
            "serializeImagePulls": False,
            # The images were loaded, never pulled: garbage collection must not drop them.
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
            "containerLogMaxSize": "10Mi",
            "nodeStatusReportFrequency": "10s",
        }
        (self.folder / "etc" / "kubelet.yaml").write_text(yaml.safe_dump(config))
        self._cgroups_create()
        self.daemons["kubelet"].start(
            [
                str(self.bin_dir / "kubelet"),
                "--config",
                str(self.folder / "etc" / "kubelet.yaml"),
                "--kubeconfig",
                kubeconfig,
                "--root-dir",
                str(self.folder / "kubelet"),
                "--cert-dir",
                str(self.folder / "pki" / "kubelet-serving"),
                "--hostname-override",
                NODE_NAME,
                "--node-ip",
                GATEWAY,
                "--node-labels",
                f"{NODE_LABEL}=real",
                "--v",
                "1",
            ]
        )

    def _node_kubeconfig(self, apiserver_port: int) -> str:
        """The kubelet's own identity (system:node:<name>), so the Node authorizer and NodeRestriction apply."""
        pki = self.folder / "pki"
        key, csr, crt = pki / "node.key", pki / "node.csr", pki / "node.crt"
        if not crt.is_file():
            _run(
                [
                    "openssl",
                    "req",
                    "-new",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-keyout",
                    str(key),
                    "-out",
                    str(csr),
                    "-subj",
                    f"/O=system:nodes/CN=system:node:{NODE_NAME}",
                ]
            )
            _run(
                [
                    "openssl",
                    "x509",
                    "-req",
                    "-in",
                    str(csr),
                    "-CA",
                    str(self.pki_dir / "ca.crt"),
                    "-CAkey",
                    str(self.pki_dir / "ca.key"),
                    "-CAcreateserial",
                    "-days",
                    "365",
                    "-out",
                    str(crt),
                ]
            )
            key.chmod(0o600)
        path = self.folder / "etc" / "kubelet.kubeconfig"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "node",
                    "clusters": [
                        {"name": "local", "cluster": {"server": f"https://127.0.0.1:{apiserver_port}", "certificate-authority": str(self.pki_dir / "ca.crt")}}
                    ],
                    "users": [{"name": "node", "user": {"client-certificate": str(crt), "client-key": str(key)}}],
                    "contexts": [{"name": "node", "context": {"cluster": "local", "user": "node"}}],
                }
            )
        )
        return str(path)

    def _start_kube_proxy(self) -> None:
        ports = self._ports()
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": self.admin_kubeconfig},
            "mode": "iptables",
            "clusterCIDR": CLUSTER_CIDR,
            "hostnameOverride": NODE_NAME,
            "healthzBindAddress": f"127.0.0.1:{ports['proxy-healthz']}",
            "metricsBindAddress": f"127.0.0.1:{ports['proxy-metrics']}",
            # NodePorts on the bridge only: nothing is opened on the machine's own interfaces.
            "nodePortAddresses": [f"{GATEWAY}/32"],
            "iptables": {"localhostNodePorts": False},
            # Zero leaves the machine's conntrack sysctls as they are.
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s", "udpTimeout": "0s", "udpStreamTimeout": "0s"},
            "oomScoreAdj": 0,
        }
        (self.folder / "etc" / "kube-proxy.yaml").write_text(yaml.safe_dump(config))
        self.daemons["kube-proxy"].start([str(self.bin_dir / "kube-proxy"), "--config", str(self.folder / "etc" / "kube-proxy.yaml")])

    def _start_coredns(self) -> None:
        ports = self._ports()
        corefile = f"""cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {{
    bind {GATEWAY}
    errors
    health 127.0.0.1:{ports["dns-health"]}
    ready 127.0.0.1:{ports["dns-ready"]}
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {self.admin_kubeconfig}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 5
    loadbalance
}}
.:53 {{
    bind {GATEWAY}
    errors
    template ANY ANY {{
        rcode NXDOMAIN
    }}
}}
"""
        (self.folder / "etc" / "Corefile").write_text(corefile)
        self.daemons["coredns"].start([str(self.bin_dir / "coredns"), "-conf", str(self.folder / "etc" / "Corefile")])

    def cluster_objects(self) -> list[dict]:
        """The `kube-dns` Service with its EndpointSlice pointing at CoreDNS on the gateway, and the default
        StorageClass."""
        ports = [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]
        return [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
                "spec": {"clusterIP": DNS_SERVICE_IP, "ports": [{**p, "targetPort": 53} for p in ports]},
            },
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": "kube-dns-host",
                    "namespace": "kube-system",
                    "labels": {"kubernetes.io/service-name": "kube-dns", "endpointslice.kubernetes.io/managed-by": "todo-chatbot.test"},
                },
                "addressType": "IPv4",
                "endpoints": [{"addresses": [GATEWAY], "conditions": {"ready": True}}],
                "ports": ports,
            },
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {"name": STORAGE_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                "provisioner": PROVISIONER,
                "reclaimPolicy": "Delete",
                "volumeBindingMode": "Immediate",
            },
        ]

    def status(self) -> dict[str, bool]:
        return {name: bool(d.pid()) for name, d in self.daemons.items()}

    def logs(self, lines: int = 40) -> str:
        return "\n".join(f"----- node {name} (last {lines} lines) -----\n{d.tail(lines)}" for name, d in self.daemons.items())

    # -- teardown ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the node's processes; containers keep running under their shims until teardown."""
        for name in reversed(DAEMONS):
            self.daemons[name].stop()

    def teardown(self) -> None:
        """Stop everything and restore the machine: containers, mounts, netns, cgroups, iptables, bridge, sysctls."""
        for name in ("network-policy", "provisioner", "coredns", "kube-proxy", "kubelet", "apiserver-forward"):
            self.daemons[name].stop()
        netns = self._remove_containers()
        self.daemons["containerd"].stop()
        self._kill_shims()
        for path in netns:
            _run(["umount", path], check=False)
            Path(path).unlink(missing_ok=True)
        self._unmount_under(self.folder)
        self._cgroups_remove()
        kube_proxy = self.bin_dir / "kube-proxy"
        if kube_proxy.is_file():
            _run([str(kube_proxy), "--cleanup"], check=False)
        kube_router = self.bin_dir / "kube-router"
        if kube_router.is_file():  # its iptables chains and ipsets
            _run([str(kube_router), "--cleanup-config", *self._kube_router_flags()], check=False, timeout=60)
        self._remove_leftover_chains()
        for rule in FORWARD_ACCEPT:
            while _run(["iptables", "-D", "FORWARD", *rule], check=False).returncode == 0:
                pass
        _run(["ip", "link", "del", BRIDGE], check=False)
        saved = HOST_STATE / "sysctls.json"
        if saved.is_file():
            for key, value in json.loads(saved.read_text()).items():
                try:
                    Path("/proc/sys", key).write_text(value)
                except OSError:
                    pass
        owner = HOST_STATE / "owner"
        if owner.is_file() and Path(owner.read_text().partition("\n")[0].strip()) == self.folder:
            shutil.rmtree(HOST_STATE, ignore_errors=True)

    def _remove_containers(self) -> list[str]:
        """Kill and remove every container of the node; returns the pods' network namespace paths."""
        if not self.socket.exists() or self.ctr("version", check=False).returncode:
            return []
        netns: list[str] = []
        for cid in self.ctr("containers", "list", "--quiet", check=False).stdout.decode().split():
            info = self.ctr("containers", "info", cid, check=False)
            if info.returncode == 0:
                spec = json.loads(info.stdout).get("Spec") or {}
                for ns in (spec.get("linux") or {}).get("namespaces") or []:
                    if ns.get("type") == "network" and ns.get("path", "").startswith("/var/run/netns/"):
                        netns.append(ns["path"])
            self.ctr("tasks", "kill", "--signal", "SIGKILL", cid, check=False)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and b"RUNNING" in self.ctr("tasks", "list", check=False).stdout:
            time.sleep(0.2)
        for cid in self.ctr("containers", "list", "--quiet", check=False).stdout.decode().split():
            self.ctr("tasks", "delete", "--force", cid, check=False)
            self.ctr("containers", "delete", cid, check=False)
        return sorted(set(netns))

    def _kill_shims(self) -> None:
        marker = str(self.socket).encode()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"containerd-shim" in cmdline and marker in cmdline:
                try:
                    os.kill(int(proc.name), signal.SIGKILL)
                except OSError:
                    pass

    @staticmethod
    def _unmount_under(folder: Path) -> None:
        prefix = str(folder)
        for _ in range(3):  # bind mounts can stack
            mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
            ours = sorted({m for m in mounts if m == prefix or m.startswith(prefix + "/")}, key=len, reverse=True)
            if not ours:
                return
            for mount in ours:
                _run(["umount", "-l", mount], check=False)

    @staticmethod
    def _cgroup_mounts() -> list[Path]:
        out = []
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            if fields[2] in ("cgroup", "cgroup2"):
                out.append(Path(fields[1]))
        return out

    def _cgroups_create(self) -> None:
        for mount in self._cgroup_mounts():
            path = mount / CGROUP_ROOT
            path.mkdir(exist_ok=True)
            # A new cpuset cgroup starts with no CPUs and no memory nodes: give it its parent's.
            for name in ("cpuset.cpus", "cpuset.mems"):
                if (mount / name).is_file() and not (path / name).read_text().strip():
                    (path / name).write_text((mount / name).read_text())

    def _cgroups_remove(self) -> None:
        for mount in self._cgroup_mounts():
            top = mount / CGROUP_ROOT
            if not top.is_dir():
                continue
            for path in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
                try:
                    path.rmdir()
                except OSError:
                    pass
            try:
                top.rmdir()
            except OSError:
                pass

    @staticmethod
    def _remove_leftover_chains() -> None:
        """Chains that outlive `kube-proxy --cleanup`: its KUBE-FIREWALL, and the CNI firewall plugin's chains
        (that a node started by an earlier version of this file used)."""
        import shlex

        chains = ("KUBE-FIREWALL", "CNI-FORWARD", "CNI-ADMIN")
        for tool in ("iptables", "ip6tables"):
            for rule in _run([tool, "-S"], check=False).stdout.decode().splitlines():
                words = shlex.split(rule)
                if words[:1] == ["-A"] and any(words[-2:] == ["-j", chain] for chain in chains):
                    _run([tool, "-D", *words[1:]], check=False)
            for chain in chains:
                _run([tool, "-F", chain], check=False)
                _run([tool, "-X", chain], check=False)

    @staticmethod
    def _wait(predicate, timeout: float, what: str, daemon: Daemon | None = None) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if daemon is not None and not daemon.pid():
                raise NodeError(f"{daemon.name} exited while waiting for {what}:\n{daemon.tail()}")
            if time.monotonic() > deadline:
                raise NodeError(f"timed out after {timeout:.0f}s waiting for {what}" + (f":\n{daemon.tail()}" if daemon else ""))
            time.sleep(0.2)


def _alive(pid: str) -> bool:
    try:
        return int(pid) != os.getpid() and Path(f"/proc/{int(pid)}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, ValueError, IndexError):
        return False


def _normalize(ref: str) -> str:
    """An image reference as containerd names it (docker.io/library/... for short names)."""
    name, _, tag = ref.rpartition(":") if ":" in ref.split("/")[-1] else (ref, "", "latest")
    first = name.split("/")[0]
    if "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}" if "/" in name else f"docker.io/library/{name}"
    return f"{name}:{tag}"


def _oci_archive(ref: str, files: dict[str, bytes], entrypoint: list[str]) -> bytes:
    """A one-layer OCI image archive (for `ctr images import`) holding `files` as executables."""
    import gzip
    import hashlib
    import io
    import tarfile

    def blob(data: bytes) -> tuple[str, bytes]:
        return "sha256:" + hashlib.sha256(data).hexdigest(), data

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    diff_id, _ = blob(raw.getvalue())
    layer_digest, layer = blob(gzip.compress(raw.getvalue(), mtime=0))
    config_digest, config = blob(
        json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Entrypoint": entrypoint, "User": "65535:65535"},
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            }
        ).encode()
    )
    manifest_digest, manifest = blob(
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": len(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": len(layer)}],
            }
        ).encode()
    )
    index = json.dumps(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": manifest_digest,
                    "size": len(manifest),
                    "platform": {"architecture": "amd64", "os": "linux"},
                    "annotations": {"org.opencontainers.image.ref.name": ref, "io.containerd.image.name": ref},
                }
            ],
        }
    ).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        add("index.json", index)
        for digest, data in ((layer_digest, layer), (config_digest, config), (manifest_digest, manifest)):
            add(f"blobs/sha256/{digest.split(':')[1]}", data)
    return out.getvalue()
