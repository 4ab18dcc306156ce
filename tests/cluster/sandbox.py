"""`make sandbox`: the test control plane as a long-lived local cluster to try the ops tools on.

    python tests/cluster/sandbox.py up      # create it, or start it again after a reboot
    python tests/cluster/sandbox.py down    # delete it and its data
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


def up() -> Cluster:
    existing = Cluster(workdir(), NAME, toolchain_bin())
    if Path(existing.kubeconfig).is_file():
        print("starting the existing sandbox cluster ...", file=sys.stderr)
        existing.start()
        return existing
    workdir().mkdir(parents=True, exist_ok=True)
    print("creating the sandbox cluster (etcd, kube-apiserver, controller-manager, scheduler, kwok) ...",
          file=sys.stderr)
    return Cluster.create(workdir(), NAME)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["up", "down", "env"])
    action = parser.parse_args().action
    try:
        if action == "down":
            if workdir().exists():
                Cluster(workdir(), NAME, toolchain_bin()).delete()
                shutil.rmtree(workdir(), ignore_errors=True)
            print("sandbox cluster deleted", file=sys.stderr)
            return 0
        cluster = up() if action == "up" else Cluster(workdir(), NAME, toolchain_bin())
    except (ClusterError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if action == "up":
        print(f"sandbox ready: {cluster.server}, 2 KWOK nodes. Point your tools at it with:", file=sys.stderr)
    print(f"export KUBECONFIG={cluster.kubeconfig} PATH={cluster.bin_dir}:$PATH")
    return 0


if __name__ == "__main__":
    sys.exit(main())
