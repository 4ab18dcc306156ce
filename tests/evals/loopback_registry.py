"""A real OCI registry on loopback (`crane registry serve`, in memory) that the real node's containerd pulls from.

Images are pushed from the node's own containerd (`ctr images push --plain-http`), then the pushed tag is removed
from the node, so the kubelet really resolves and pulls it over 127.0.0.1; a tag never pushed gives containerd's
real `not found`.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from cluster.harness import Cluster
from cluster.node import _normalize


class LoopbackRegistry:
    def __init__(self, cluster: Cluster, log: Path):
        assert cluster.node is not None, "a registry for the real node needs the real-node cluster"
        self.cluster, self.node, self.log = cluster, cluster.node, log
        with log.open("w") as out:
            self.proc = subprocess.Popen([str(cluster.bin_dir / "crane"), "registry", "serve", "--address", "127.0.0.1:0"], stdout=out, stderr=out)
        deadline = time.monotonic() + 15
        while not (port := re.search(r"serving on port (\d+)", log.read_text())):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"crane registry did not start: {log.read_text()[-500:]}")
            time.sleep(0.05)
        self.host = f"127.0.0.1:{port.group(1)}"
        self.node.trust_registry(self.host)

    def push(self, source: str, repository: str, tag: str) -> str:
        """Push the node's image `source` as HOST/repository:tag and forget that tag on the node; returns the ref."""
        ref = f"{self.host}/{repository}:{tag}"
        self.node.ctr("images", "tag", "--force", _normalize(source), ref)
        self.node.ctr("images", "push", "--plain-http", ref, timeout=600)
        self.node.ctr("images", "rm", ref)
        return ref

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
