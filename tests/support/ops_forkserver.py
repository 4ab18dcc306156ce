"""A fork server for the tests' ops-mcp processes: `ops-mcp serve` without paying its imports each time.

A test starts its own ops-mcp (its env, namespace and audit log are the test's), ~250 of them per suite run, and each
spent ~1.5 s of CPU importing the MCP SDK (whose two schema versions build ~1 s of pydantic models) before serving:
on a 2-core machine that was the largest single cost of `make test` (issue 25). Here one process per test worker
imports ops_mcp once and forks a server per launch; each is the real `ops_mcp.cli.main` with the launcher's stdin,
stdout, stderr, environment, working directory and arguments, and the launcher exits with its exit code (or the
signal that ended it) and forwards SIGTERM/SIGINT/SIGHUP to it.

  python tests/support/ops_forkserver.py serve SOCKET            the fork server (`launcher()` starts it)
  python -S tests/support/ops_forkserver.py launch SOCKET ARGS   what a test runs where it ran `ops-mcp ARGS`

A launch whose fork server is gone, or whose environment sets the interpreter differently (PYTHONPATH, ...), runs
`python -m ops_mcp.cli ARGS` itself: slower, never wrong.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

MAX_MESSAGE = 1 << 20  # the launcher's environment, in one SOCK_SEQPACKET message
_started: list[str] = []  # this process's fork server's socket, once started


def launcher() -> list[str]:
    """The command that runs `ops-mcp ARGS` (append ARGS) through this process's fork server, started on first use
    and killed at exit."""
    if not _started:
        folder = tempfile.mkdtemp(prefix="ops-forkserver-")
        path = os.path.join(folder, "socket")
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "serve", path], stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        atexit.register(lambda: (proc.kill(), proc.wait(), shutil.rmtree(folder, ignore_errors=True)))
        deadline = time.monotonic() + 120
        while not os.path.exists(path):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the ops-mcp fork server did not start: {proc.stderr.read() if proc.poll() is not None else 'no socket after 120 s'}")
            time.sleep(0.05)
        _started.append(path)
    return [sys.executable, "-S", os.path.abspath(__file__), "launch", _started[0]]


def serve(path: str) -> None:
    import importlib
    import pkgutil
    import selectors

    import ops_mcp

    for module in pkgutil.walk_packages(ops_mcp.__path__, "ops_mcp."):  # every import a server makes, made once here
        importlib.import_module(module.name)
    import ops_mcp.cli

    interpreter = _interpreter(dict(os.environ))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path + ".tmp")
    listener.listen(64)
    os.rename(path + ".tmp", path)  # the socket appears once it accepts: the starter waits for the path
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    launchers: dict[int, socket.socket] = {}  # a running server's pid -> its launcher, told its exit code
    parent = os.getppid()
    while os.getppid() == parent:  # a test worker that died without its atexit (killed) does not leave this behind
        for key, _ in selector.select(timeout=5):
            if key.fileobj is listener:
                conn, _ = listener.accept()
                message, fds, _, _ = socket.recv_fds(conn, MAX_MESSAGE, 3)
                request = json.loads(message)
                if len(fds) != 3 or _interpreter(request["env"]) != interpreter:
                    for fd in fds:
                        os.close(fd)
                    conn.send(b"direct")  # another PYTHONPATH (say): only a fresh interpreter honours it
                    conn.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    selector.close()
                    for fd in (wake_r, wake_w):
                        os.close(fd)
                    listener.close()
                    conn.close()
                    _run(ops_mcp.cli.main, request, fds)
                for fd in fds:
                    os.close(fd)
                conn.send(f"{pid}".encode())
                launchers[pid] = conn
            else:
                os.read(wake_r, 4096)
                while launchers:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                    if pid == 0:
                        break
                    if (conn := launchers.pop(pid, None)) is not None:
                        try:
                            conn.send(f"{os.waitstatus_to_exitcode(status)}".encode())
                        except OSError:
                            pass  # its launcher is gone (killed with its session)
                        conn.close()
    for remove in (os.unlink, os.rmdir):  # the socket and the folder launcher() made for it
        try:
            remove(path if remove is os.unlink else os.path.dirname(path))
        except OSError:
            pass


def _interpreter(env: dict[str, str]) -> dict[str, str]:
    """What the interpreter read at its start (PYTHONPATH, PYTHONHASHSEED, ...): a fork keeps the fork server's."""
    return {k: v for k, v in env.items() if k.startswith("PYTHON")}


def _run(main, request: dict, fds: list[int]) -> None:  # type: ignore[no-untyped-def]
    """In the forked child: become the launcher's `ops-mcp ARGS`, then exit with its code."""
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["ops-mcp", *request["argv"]]
    code = 1
    try:
        code = main(request["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int | None):
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - a server's crash is reported as the process's would be
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def launch(path: str, argv: list[str]) -> None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        conn.connect(path)
        request = {"argv": argv, "env": dict(os.environ), "cwd": os.getcwd()}
        socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])
        pid = int(conn.recv(64))  # b"direct": the fork server cannot be this process
    except (OSError, ValueError):
        os.execv(sys.executable, [sys.executable, "-m", "ops_mcp.cli", *argv])
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda n, _: os.kill(pid, n))
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the server holds the pipes now; the client sees EOF when the server closes them
        os.dup2(devnull, fd)
    answer = conn.recv(64)
    code = int(answer) if answer else 1
    if code < 0:  # ended by a signal: end the same way
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        launch(sys.argv[2], sys.argv[3:])
