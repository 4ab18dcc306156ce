"""A cluster for the browser test of chat ops (frontend/e2e/run.mjs): the test control plane with KWOK nodes
(tests/cluster, as the `cluster` fixture starts it), a namespace with a `backend` Deployment of one replica, and
`ops-mcp serve --transport http` on it with a bearer token and a private audit log.

    .venv/bin/python tests/agent/ops_cluster_e2e.py

prints one JSON line when everything answers ({"ops_url", "ops_token", "namespace", "kubeconfig", "kubectl",
"audit_log"}), then runs until its standard input closes (the browser test ending, or dying), and then stops
ops-mcp and deletes the cluster. Failures go to stderr with a non-zero exit.
"""

from __future__ import annotations

import json
import secrets
import shutil
import signal
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cluster.harness import Cluster, ClusterError  # noqa: E402
from ops.ops_helpers import HttpServer, deployment, ops_env  # noqa: E402

NAMESPACE = "chat-ops-e2e"


def main() -> int:
    # SIGTERM (the test runner stopping) cleans up like the end of standard input does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    workdir = Path(tempfile.mkdtemp(prefix="todo-chatbot-e2e-ops-"))
    cluster: Cluster | None = None
    server: HttpServer | None = None
    try:
        cluster = Cluster.create(workdir, name="e2e-ops")
        cluster.fresh_namespace(NAMESPACE)
        cluster.apply(deployment("backend", replicas=1), NAMESPACE)
        token = secrets.token_urlsafe(24)
        audit = workdir / "ops-audit.jsonl"
        server = HttpServer(ops_env(cluster, NAMESPACE, audit, OPS_MCP_HTTP_TOKEN=token))
        ready = {
            "ops_url": server.url,
            "ops_token": token,
            "namespace": NAMESPACE,
            "kubeconfig": cluster.kubeconfig,
            "kubectl": str(cluster.bin_dir / "kubectl"),
            "audit_log": str(audit),
        }
        print(json.dumps(ready), flush=True)
        sys.stdin.read()  # until the browser test closes it
        return 0
    except (ClusterError, TimeoutError, RuntimeError) as exc:
        print(f"ops_cluster_e2e: {exc}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.stop()
        if cluster is not None:
            cluster.delete()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
