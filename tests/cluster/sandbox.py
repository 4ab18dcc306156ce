"""The local cluster of `make up` / `make sandbox`: the test control plane with a real kubelet node (and
two tainted KWOK nodes for scale), long-lived, its files in ~/.cache/todo-chatbot/sandbox.

    python tests/cluster/sandbox.py up      # create it, or start it again (after a reboot, a `stop`)
    python tests/cluster/sandbox.py down    # delete it and undo what its node changed on the machine
    python tests/cluster/sandbox.py env     # print the KUBECONFIG export line
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cluster.harness import Cluster, ClusterError, cache_dir, toolchain_bin  # noqa: E402

NAME = "sandbox"


def workdir() -> Path:
    return cache_dir() / "sandbox"


def existing() -> Cluster:
    return Cluster(workdir(), NAME, toolchain_bin(), real_node=True)


def running(cluster: Cluster) -> bool:
    """The API answers and every node process is up: nothing to start."""
    if not Path(cluster.kubeconfig).is_file() or cluster.node is None or not all(cluster.node.status().values()):
        return False
    return cluster.kubectl("get", "--raw", "/readyz", check=False, timeout=10).stdout.strip() == "ok"


def up() -> Cluster:
    cluster = existing()
    if Path(cluster.kubeconfig).is_file():
        if not cluster.node.folder.is_dir():  # type: ignore[union-attr]
            print("the sandbox predates its real node: recreating it ...", file=sys.stderr)
            down()
            return up()
        if running(cluster):
            print("the sandbox cluster is running: reusing it", file=sys.stderr)
            return cluster
        print("starting the existing sandbox cluster ...", file=sys.stderr)
        cluster.start()
        return cluster
    workdir().mkdir(parents=True, exist_ok=True)
    print(
        "creating the sandbox cluster (etcd, kube-apiserver, controller-manager, scheduler, kwok, and a real "
        "node: kubelet, containerd, kube-proxy, CoreDNS) ...",
        file=sys.stderr,
    )
    return Cluster.create(workdir(), NAME, real_node=True)


def down() -> None:
    if workdir().exists():
        existing().delete()
        shutil.rmtree(workdir(), ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["up", "down", "env"])
    action = parser.parse_args().action
    try:
        if action == "down":
            down()
            print("sandbox cluster deleted; what its node changed on this machine is restored", file=sys.stderr)
            return 0
        cluster = up() if action == "up" else existing()
    except (ClusterError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if action == "up":
        print(f"sandbox ready: {cluster.server}, a real node and 2 KWOK nodes. Point your tools at it with:", file=sys.stderr)
    print(f"export KUBECONFIG={cluster.kubeconfig} PATH={cluster.bin_dir}:$PATH")
    return 0


if __name__ == "__main__":
    sys.exit(main())
