"""`make dev`: the components as host processes on embedded defaults, until Ctrl-C (quick iteration;
`make up` runs the images on Kubernetes).

Starts the sandbox control plane (unless KUBECONFIG points elsewhere) and every
component that exists in the tree, each as a child process with its output
prefixed by its name. One component exiting stops them all.
"""

from __future__ import annotations

import os
import secrets
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
STATE = ROOT / ".run"  # gitignored: local databases and generated dev secrets


@dataclass
class Component:
    name: str
    argv: list[str]
    cwd: Path
    url: str
    present: Path
    env: dict[str, str] = field(default_factory=dict)


def dev_secret(name: str) -> str:
    """A random secret kept in .run/ so sessions and restarts agree on it."""
    path = STATE / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def components(kubeconfig: str) -> list[Component]:
    frontend_url = "http://localhost:3000"
    backend_env = {
        "SQLITE_PATH": str(STATE / "todo.db"),
        "BETTER_AUTH_JWKS_URL": f"{frontend_url}/api/auth/jwks",
        "BETTER_AUTH_ISSUER": frontend_url,
        "BETTER_AUTH_AUDIENCE": frontend_url,
        "TASK_MCP_URL": "http://127.0.0.1:8001/mcp",
        "CORS_ORIGINS": frontend_url,
        # Chat ops: admins (role=admin, or ADMIN_USER_IDS from your shell) also get the read-only ops tools.
        "OPS_MCP_URL": "http://127.0.0.1:8002/mcp",
        "OPS_MCP_TOKEN": dev_secret("ops-mcp-token"),
    }
    return [
        Component(
            "backend",
            [str(VENV_BIN / "uvicorn"), "app.main:app", "--host", "127.0.0.1", "--port", "8000"],
            ROOT / "backend-app",
            "http://127.0.0.1:8000/docs",
            ROOT / "backend-app" / "app" / "main.py",
            backend_env,
        ),
        Component(
            "task-mcp",
            [str(VENV_BIN / "python"), "-m", "app.task_mcp", "--transport", "http", "--host", "127.0.0.1", "--port", "8001"],
            ROOT / "backend-app",
            "http://127.0.0.1:8001/mcp",
            ROOT / "backend-app" / "app" / "task_mcp",
            backend_env,
        ),
        Component(
            "frontend",
            ["node", "scripts/start.mjs"],
            ROOT / "frontend",
            f"{frontend_url} (open this)",
            ROOT / "frontend" / "scripts" / "start.mjs",
            {
                "PORT": "3000",
                "HOSTNAME": "127.0.0.1",
                "BETTER_AUTH_URL": frontend_url,
                "BETTER_AUTH_SECRET": dev_secret("better-auth-secret"),
                "BACKEND_URL": "http://127.0.0.1:8000",
                "AUTH_DATA_DIR": str(STATE / "frontend"),
            },
        ),
        Component(
            "ops-mcp",
            [str(VENV_BIN / "ops-mcp"), "serve", "--transport", "http", "--host", "127.0.0.1", "--port", "8002"],
            ROOT,
            "http://127.0.0.1:8002/mcp (bearer token in .run/ops-mcp-token)",
            ROOT / "ops_mcp" / "cli.py",
            {
                "KUBECONFIG": kubeconfig,
                "OPS_MCP_HTTP_TOKEN": dev_secret("ops-mcp-token"),
                "OPS_MCP_NAMESPACE": "default",
                "OPS_MCP_AUDIT_LOG": str(STATE / "ops-mcp-audit.jsonl"),
            },
        ),
    ]


def sandbox_kubeconfig() -> str:
    if os.environ.get("KUBECONFIG"):
        print(f"using KUBECONFIG={os.environ['KUBECONFIG']}", flush=True)
        return os.environ["KUBECONFIG"]
    out = subprocess.run([str(VENV_BIN / "python"), str(ROOT / "tests" / "cluster" / "sandbox.py"), "up"], check=True, capture_output=True, text=True)
    sys.stderr.write(out.stderr)
    # The last line is `export KUBECONFIG=... PATH=...`.
    return out.stdout.split("KUBECONFIG=", 1)[1].split()[0]


def main() -> int:
    STATE.mkdir(exist_ok=True)
    kubeconfig = sandbox_kubeconfig()
    present = [c for c in components(kubeconfig) if c.present.exists()]
    procs: dict[str, subprocess.Popen[bytes]] = {}
    sel = selectors.DefaultSelector()
    for comp in present:
        proc = subprocess.Popen(
            comp.argv, cwd=comp.cwd, env={**os.environ, **comp.env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        procs[comp.name] = proc
        assert proc.stdout is not None
        sel.register(proc.stdout, selectors.EVENT_READ, comp.name)
    width = max((len(c.name) for c in present), default=7)
    print("\nTodo Chatbot running locally (Ctrl-C stops everything):", flush=True)
    print(f"  {'cluster':<{width}}  KUBECONFIG={kubeconfig}")
    for comp in present:
        print(f"  {comp.name:<{width}}  {comp.url}")
    print(flush=True)

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping and procs:
        for key, _ in sel.select(timeout=0.5):
            line = key.fileobj.readline()  # type: ignore[union-attr]
            if line:
                sys.stdout.write(f"{key.data:<{width}} | {line.decode(errors='replace')}")
                sys.stdout.flush()
        for name, proc in list(procs.items()):
            if proc.poll() is not None:
                print(f"{name} exited with code {proc.returncode}; stopping the others", flush=True)
                exit_code = proc.returncode or 1
                stopping = True
    for proc in procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for proc in procs.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
