"""Fixtures for the backend tests: real servers on loopback, real databases, real keys.

- `db`: a fresh empty database per test, SQLite file or PostgreSQL (marked `postgres`; the
  cluster is started by scripts/setup-postgres.sh when it is not running).
- `issuer`: a Better-Auth-like token issuer: Ed25519 keys, a JWKS served over HTTP at
  /api/auth/jwks, `iss` = `aud` = its base URL, `sub` = user id.
- `backend`: starts `app.main.create_app(...)` under a real uvicorn on an ephemeral port.
- `task_mcp_http`: starts the task MCP server's HTTP app the same way.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from support.jwt_issuer import Issuer, SigningKey, new_key, serve_issuer  # noqa: F401  (re-exported for the tests)

ROOT = Path(__file__).resolve().parents[2]
BACKEND_DIR = ROOT / "backend-app"
PYTHON = sys.executable

# Settings the tests always pass explicitly, so the developer's environment cannot leak in.
_HERMETIC = {
    "DATABASE_URL": None,
    "BETTER_AUTH_JWKS_URL": None,
    "BETTER_AUTH_ISSUER": None,
    "BETTER_AUTH_AUDIENCE": None,
    "BETTER_AUTH_SECRET": None,
    "ANTHROPIC_API_KEY": None,
    "ANTHROPIC_BASE_URL": None,
    "TASK_MCP_URL": None,
    "LOG_LEVEL": "WARNING",
    "OPS_MCP_URL": None,
    "OPS_MCP_TOKEN": None,
    "ADMIN_USER_IDS": None,
    "OPS_CHAT_ALLOW_WRITES": False,
    "OPS_MCP_FORWARD_USER_TOKEN": False,
    "AUTH_DEVELOPMENT_MODE": False,
}


# --- databases ---------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """URL of the test PostgreSQL cluster (started by scripts/setup-postgres.sh if needed)."""
    result = subprocess.run(["bash", str(ROOT / "scripts" / "setup-postgres.sh")], capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.fail(f"scripts/setup-postgres.sh failed (exit {result.returncode}):\n{result.stderr}")
    line = result.stdout.strip().splitlines()[-1]
    return line.split("=", 1)[1].strip("'")


@dataclass
class Database:
    kind: str
    env: dict[str, str]  # DATABASE_URL or SQLITE_PATH

    @property
    def url(self) -> str:
        return self.env.get("DATABASE_URL") or f"sqlite:///{self.env['SQLITE_PATH']}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        yield Database("sqlite", {"SQLITE_PATH": str(tmp_path / "todo.db")})
        return
    import psycopg

    admin_url = request.getfixturevalue("postgres_admin_url")
    name = f"todo_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Database("postgres", {"DATABASE_URL": admin_url.rsplit("/", 1)[0] + f"/{name}"})
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- token issuer (Better Auth's JWT plugin, as seen from the backend): tests/support/jwt_issuer.py -------


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with serve_issuer() as state:
        yield state


# --- servers -----------------------------------------------------------------


class ThreadedServer:
    """An ASGI app under a real uvicorn in a background thread, on an ephemeral loopback port."""

    def __init__(self, app: Any) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start (see the log output above)")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        self.client = httpx.Client(base_url=self.base_url, timeout=30)

    def stop(self) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=15)


def backend_settings(db: Database, **overrides: Any):
    from app.core.config import Settings

    values = {**_HERMETIC, **db.env, "DB_MIGRATE_ON_START": True, **overrides}
    return Settings(_env_file=None, **values)


@pytest.fixture
def start_backend() -> Iterator[Callable[..., ThreadedServer]]:
    """start_backend(db, **settings) -> a running backend; stopped at the end of the test."""
    from app.main import create_app

    started: list[ThreadedServer] = []

    def start(db: Database, **overrides: Any) -> ThreadedServer:
        server = ThreadedServer(create_app(backend_settings(db, **overrides)))
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def backend(start_backend, db: Database, issuer: Issuer) -> ThreadedServer:
    """A backend on the test database, verifying the issuer's tokens, chat in offline mode."""
    return start_backend(db, **issuer.settings)


@pytest.fixture
def start_task_mcp_http() -> Iterator[Callable[..., ThreadedServer]]:
    from app.core.db import make_engine
    from app.task_mcp.http import create_http_app

    started: list[ThreadedServer] = []

    def start(db: Database, **overrides: Any) -> ThreadedServer:
        settings = backend_settings(db, **overrides)
        from app.core.db import migrate

        migrate(settings)
        server = ThreadedServer(create_http_app(settings, make_engine(settings)))
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def tool_output(content: str, source: str = "task") -> str:
    """The text of a tool_result the agent sent the model, out of its untrusted-data delimiter (which it asserts)."""
    head = f'<tool_output source="{source}" trust="untrusted">\n'
    assert content.startswith(head) and content.endswith("\n</tool_output>"), content[:200]
    return content[len(head) : -len("\n</tool_output>")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def subprocess_env(db: Database, **extra: str) -> dict[str, str]:
    """Environment for a backend subprocess: the caller's PATH etc., none of its app settings."""
    env = {k: v for k, v in os.environ.items() if k not in _HERMETIC and not k.startswith(("BETTER_AUTH", "ANTHROPIC"))}
    return {**env, **db.env, "LOG_LEVEL": "WARNING", **extra}
