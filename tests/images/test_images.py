"""The images scripts/images.sh builds: how they run, how they stop, and how they are cached."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from images_support import PROCESSES, ROOT, docker, run_images_sh, running

# A cold first build (local bases, better-sqlite3 compiled from source) takes ~10 minutes on 2 cores.
pytestmark = pytest.mark.timeout(3600)


def mounts(container) -> dict[str, set[str]]:
    """Mount point -> options, as the kernel reports them inside the container."""
    rows = (line.split() for line in container.exec("cat", "/proc/mounts", check=True).stdout.splitlines())
    return {row[1]: set(row[3].split(",")) for row in rows}


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_runs_read_only_as_uid_10001_answers_health_and_exits_0_on_sigterm(docker_env, images, name: str) -> None:
    with running(docker_env, images, name) as container:
        container.wait_healthy()
        assert container.exec("id", "-u").stdout.strip() == "10001"
        assert container.exec("id", "-g").stdout.strip() == "10001"
        mounted = mounts(container)
        assert "ro" in mounted["/"], mounted["/"]
        for path in container.process.writable:
            assert "rw" in mounted[path], (path, mounted.get(path))
            assert container.exec("touch", f"{path}/written").returncode == 0, f"{path} is not writable by uid 10001"
        code, seconds = container.terminate()
        assert code == 0, f"{name} exited {code} on SIGTERM:\n{container.logs()}"
        assert seconds < 5, f"{name} took {seconds:.1f}s to stop after SIGTERM"


# Upper bounds (bytes, as `docker image ls` counts them) on the distroless-like bases scripts/images.sh makes; the
# public bases (python:3.11-slim-bookworm, node:20-bookworm-slim) are larger and not bounded here.
MAX_SIZE = {"ops-mcp": 150_000_000, "backend": 150_000_000, "frontend": 200_000_000}


def test_images_on_the_distroless_bases_stay_small(docker_env, images) -> None:
    sizes, checked = {}, 0
    for name, ref in images.items():
        size, base = docker(docker_env, "image", "inspect", "-f", '{{.Size}} {{index .Config.Labels "todo-chatbot.base-recipe"}}', ref).stdout.split(" ", 1)
        sizes[name] = int(size)
        if base.strip().startswith(("python_runtime-", "node_runtime-")):
            checked += 1
            assert int(size) <= MAX_SIZE[name], f"{name} ({ref}) is {int(size) / 1e6:.0f} MB, over {MAX_SIZE[name] / 1e6:.0f} MB"
    if not checked:
        pytest.skip(f"built on the public bases: {sizes}")


# Sends a sign-up request in two parts: everything but the second half of the body, then (after a line on
# stdin) the rest. Between the two the request is in flight. Prints "sent", then the response's status line.
IN_FLIGHT_CLIENT = r"""
const net = require("node:net");
const body = JSON.stringify({ name: "Ada", email: process.argv[1], password: "correct-horse-battery" });
const half = Math.floor(body.length / 2);
const socket = net.connect(3000, "127.0.0.1", () => {
  socket.write("POST /api/auth/sign-up/email HTTP/1.1\r\nHost: localhost:3000\r\nOrigin: http://localhost:3000\r\n" +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n` +
    body.slice(0, half));
  console.log("sent");
  process.stdin.once("data", () => socket.write(body.slice(half)));
});
let response = "";
socket.on("data", (chunk) => (response += chunk));
socket.on("close", () => { console.log(response.split("\r\n")[0]); process.exit(0); });
socket.on("error", (err) => { console.log("error " + err.message); process.exit(1); });
"""


def wait_read(container, port: int, timeout: float = 30) -> None:
    """Until the server's end of a connection to `port` has an empty receive queue (/proc/net/tcp in the container's
    network namespace): the server has read what the client wrote (loopback delivers a write at once)."""
    deadline = time.monotonic() + timeout
    while True:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for row in container.exec("cat", table).stdout.splitlines()[1:]:
                local, state, queues = row.split()[1], row.split()[3], row.split()[4]
                if local.endswith(f":{port:04X}") and state == "01" and int(queues.split(":")[1], 16) == 0:  # 01: ESTABLISHED
                    return
        assert time.monotonic() < deadline, f"no connection on :{port} whose data the server has read:\n{container.logs()}"
        time.sleep(0.1)


def test_frontend_finishes_an_in_flight_request_during_shutdown_then_exits_0(docker_env, images) -> None:
    with running(docker_env, images, "frontend") as container:
        container.wait_healthy()
        email = f"ada-{secrets.token_hex(4)}@example.org"
        client = subprocess.Popen(
            ["docker", "exec", "-i", container.name, "node", "-e", IN_FLIGHT_CLIENT, email],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=docker_env,
        )
        try:
            assert client.stdout.readline().strip() == "sent", client.stderr.read()
            wait_read(container, 3000)  # the server has the request's head and waits for the rest of its body
            start = time.monotonic()
            docker(docker_env, "kill", "--signal", "TERM", container.name)
            time.sleep(1.5)
            assert container.state()["Running"], f"the server exited with a request in flight:\n{container.logs()}"
            out, err = client.communicate("go\n", timeout=30)
        finally:
            client.kill()
        assert out.strip().startswith("HTTP/1.1 200"), f"the in-flight sign-up got {out!r} {err}\n{container.logs()}"
        code = int(docker(docker_env, "wait", container.name, timeout=15).stdout.strip())
        assert code == 0, f"frontend exited {code}:\n{container.logs()}"
        assert time.monotonic() - start < 10


COPIED = ("scripts", "backend-app", "frontend", "ops_mcp", "k8s/helm/todo-chatbot", "pyproject.toml", "README.md", ".dockerignore")


def copy_tree(dest: Path) -> Path:
    """What scripts/images.sh builds from, copied (new paths, new mtimes: only the content is the same)."""
    skip = shutil.ignore_patterns("node_modules", ".next", ".venv", "__pycache__", ".data", "test-results")
    for rel in COPIED:
        src, dst = ROOT / rel, dest / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=skip, copy_function=shutil.copyfile)
        else:
            shutil.copyfile(src, dst)
    for script in (dest / "scripts").iterdir():
        script.chmod(0o755)
    return dest


def test_refs_follow_content_a_backend_change_rebuilds_only_the_backend(docker_env, images, tmp_path: Path) -> None:
    copy = copy_tree(tmp_path / "repo")
    out = tmp_path / "images.json"
    env = {**docker_env, "IMAGES_JSON": str(out)}

    run_images_sh(copy, env)
    assert json.loads(out.read_text()) == images, "the same content must give the same refs"

    init = copy / "backend-app" / "app" / "__init__.py"
    init.write_text(init.read_text() + "\n# a change under backend-app/\n")
    start = time.monotonic()
    run_images_sh(copy, env)
    changed = json.loads(out.read_text())
    try:
        assert changed["backend"] != images["backend"]
        assert changed["backend"].startswith("todo-chatbot/backend:")
        assert {k: changed[k] for k in ("frontend", "ops-mcp")} == {k: images[k] for k in ("frontend", "ops-mcp")}
        # Only the backend's last layers were rebuilt (a cold frontend build alone takes minutes).
        assert time.monotonic() - start < 120
    finally:
        if changed["backend"] != images["backend"]:
            docker(docker_env, "rmi", changed["backend"], check=False)
