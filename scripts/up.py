"""`make up`: the Todo Chatbot on the local Kubernetes cluster, until Ctrl-C.

The sandbox cluster (a real kubelet node beside the control plane, tests/cluster/sandbox.py) runs the
project's images (scripts/images.sh, loaded into the node, never pulled); the chart is installed with
k8s/helm/todo-chatbot/values-local.yaml as release todo-chatbot in namespace todo; the frontend and
ops-mcp's HTTP endpoint are port-forwarded to 127.0.0.1. Ctrl-C stops the port-forwards; the cluster
keeps running until `make down`. Everything already in place is reused.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from cluster import deploy, sandbox  # noqa: E402
from cluster.errors import ClusterError  # noqa: E402

NAMESPACE = "todo"  # .mcp.json's ops-mcp defaults (OPS_MCP_NAMESPACE, OPS_MCP_RELEASE)
RELEASE = "todo-chatbot"
STATE = ROOT / ".run"  # gitignored: the kubeconfig link and the ops-mcp token
FRONTEND_PORT = int(os.environ.get("FRONTEND_PORT", "3000"))
OPS_MCP_PORT = int(os.environ.get("OPS_MCP_PORT", "8002"))
TASK_MCP_PORT = int(os.environ.get("TASK_MCP_PORT", "8001"))  # .mcp.json's todo-tasks default


SUMMARY = """
The Todo Chatbot runs on the local Kubernetes cluster (release {release}, namespace {namespace}):
  app       {public_url}   (open this)
  ops-mcp   http://127.0.0.1:{ops_port}/mcp   Authorization: Bearer $(cat .run/ops-mcp-token)
            Claude Code: .mcp.json starts ops-mcp over stdio against this cluster (.run/kubeconfig)
  task MCP  http://127.0.0.1:{task_port}/mcp   Authorization: Bearer <a Better Auth JWT of yours>
  pods      {pods}
  cluster   export KUBECONFIG={kubeconfig} PATH={bin}:$PATH
            kubectl -n {namespace} get pods
Up in {seconds:.0f}s. Ctrl-C stops the port-forwards; `make down` removes the cluster.
"""


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def step(message: str, started: float) -> None:
    print(f"==> {message} ({time.monotonic() - started:.1f}s)", file=sys.stderr, flush=True)


def main() -> int:
    # Ctrl-C is KeyboardInterrupt even when started with SIGINT ignored (a background job of a script).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic() - float(os.environ.get("TODO_UP_SETUP_SECONDS", "0"))
    for name, port, var in (
        ("the frontend", FRONTEND_PORT, "FRONTEND_PORT"),
        ("ops-mcp", OPS_MCP_PORT, "OPS_MCP_PORT"),
        ("the task MCP server", TASK_MCP_PORT, "TASK_MCP_PORT"),
    ):
        if not port_free(port):
            print(
                f"error: port {port} on 127.0.0.1 is taken, so {name} cannot be forwarded there. Stop what "
                f"listens on it (`ss -ltnp 'sport = :{port}'` shows it; a `make dev` still running?) or set "
                f"{var}=<another port>.",
                file=sys.stderr,
            )
            return 1
    try:
        cluster = sandbox.up()
        step("cluster ready", started)
        refs = deploy.built_images()
        loaded = deploy.load_images(cluster, refs)
        step(f"images on the node ({'loaded ' + ', '.join(loaded) if loaded else 'all there already'})", started)
        public_url = f"http://localhost:{FRONTEND_PORT}"
        deploy.install(cluster, NAMESPACE, refs, release=RELEASE, public_url=public_url)
        step(f"release {RELEASE} installed; every component Ready", started)
    except (ClusterError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    STATE.mkdir(exist_ok=True)
    kubeconfig_link = STATE / "kubeconfig"  # .mcp.json's ops-mcp reads it when KUBECONFIG is unset
    if kubeconfig_link.is_symlink() or kubeconfig_link.exists():
        kubeconfig_link.unlink()
    kubeconfig_link.symlink_to(cluster.kubeconfig)
    token = deploy.secret_value(cluster, NAMESPACE, RELEASE, "OPS_MCP_HTTP_TOKEN")
    deploy.write_private(STATE / "ops-mcp-token", token + "\n")

    forwards = [
        deploy.PortForward(cluster, NAMESPACE, f"svc/{RELEASE}-frontend", FRONTEND_PORT, 3000, log=STATE / "port-forward-frontend.log"),
        deploy.PortForward(cluster, NAMESPACE, f"svc/{RELEASE}-ops-mcp", OPS_MCP_PORT, 8002, log=STATE / "port-forward-ops-mcp.log"),
        deploy.PortForward(cluster, NAMESPACE, f"svc/{RELEASE}-mcp", TASK_MCP_PORT, 8001, log=STATE / "port-forward-task-mcp.log"),
    ]
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        for forward in forwards:
            forward.start()
        pods = deploy.ready_pods(cluster, NAMESPACE, RELEASE)
        print(
            SUMMARY.format(
                release=RELEASE,
                namespace=NAMESPACE,
                public_url=public_url,
                ops_port=OPS_MCP_PORT,
                task_port=TASK_MCP_PORT,
                pods=", ".join(f"{c} {sum(p['ready'] for p in ps)}/{len(ps)} Ready" for c, ps in sorted(pods.items())),
                kubeconfig=cluster.kubeconfig,
                bin=cluster.bin_dir,
                seconds=time.monotonic() - started,
            ),
            flush=True,
        )
        while not done.wait(1):  # Ctrl-C (KeyboardInterrupt) or SIGTERM ends it
            pass
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        for forward in forwards:
            forward.stop()
    print("port-forwards stopped; the cluster keeps running (`make down` removes it)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
