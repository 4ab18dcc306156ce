"""Fixtures for the ops-mcp tests (helpers live in ops_helpers.py)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # pyhelm3 and the server run on asyncio


@pytest.fixture
def audit_log(tmp_path):
    return tmp_path / "audit.jsonl"


class Recorder(BaseHTTPRequestHandler):
    """A plain-HTTP front for the test API server that forwards every request (the admin certificate) and records it."""

    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "content-type")}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        resp = self.server.pool.request(self.command, self.server.api + self.path, headers=headers, body=body, retries=False, redirect=False)
        body = resp.data
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.headers.get("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PATCH = do_DELETE = do_PUT = do_GET

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def recorded(cluster, tmp_path):
    """(kubeconfig path through the recorder, the recorded request paths)."""
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=cluster.kubeconfig, client_configuration=cfg, persist_config=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Rec", (Recorder,), {"seen": []}))
    server.pool, server.api = client.rest.RESTClientObject(cfg).pool_manager, cfg.host  # urllib3 with the admin certificate
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    kubeconfig = tmp_path / "recorded-kubeconfig.yaml"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "rec", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
                "users": [{"name": "rec", "user": {}}],
                "contexts": [{"name": "rec", "context": {"cluster": "rec", "user": "rec"}}],
                "current-context": "rec",
            }
        )
    )
    yield kubeconfig, server.RequestHandlerClass.seen
    server.shutdown()
