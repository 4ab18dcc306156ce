"""Chat ops: the backend's chat agent with the ops MCP server's tools for admins.

Everything is real: the backend under uvicorn, the anthropic SDK against the scripted Messages API server,
`ops-mcp serve --transport http` as a subprocess with a bearer token, on the real test control plane.
"""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path

import pytest
from backend.conftest import Database, free_port, issuer, start_backend  # noqa: F401 - fixtures
from ops.ops_helpers import HttpServer, ops_env
from support.messages_api import MessagesAPIServer, RecordedRequest, text, tool_use

pytestmark = pytest.mark.cluster

TASK_TOOLS = ["add_task", "list_tasks", "complete_task", "delete_task", "update_task"]
WRITE_TOOLS = {
    "scale_deployment",
    "rollout_restart",
    "deploy_chart",
    "rollout_undo",
    "rollback_release",
    "uninstall_release",
    "patch_resource",
    "apply_manifest",
    "delete_resource",
}
SECRET_VALUE = "Sup3rS3cret-chat-ops"


def backend_deployment(env: list[dict] | None = None) -> dict:
    container = {"name": "backend", "image": "registry.local/todo-backend:1.0", **({"env": env} if env else {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "backend"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "backend"}},
            "template": {"metadata": {"labels": {"app": "backend"}}, "spec": {"containers": [container]}},
        },
    }


def replicas(cluster, namespace: str) -> int:
    return json.loads(cluster.kubectl("get", "deploy", "backend", "-n", namespace, "-o", "json").stdout)["spec"]["replicas"]


class JsonLines(logging.Handler):
    """The backend's audit records as the JSON lines it writes (same formatter as its stderr handler)."""

    def __init__(self) -> None:
        from app.core.logging import JsonFormatter

        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def records(self, event: str) -> list[dict]:
        return [entry for entry in map(json.loads, self.lines) if entry.get("event") == event]


@pytest.fixture
def backend_log():
    handler = JsonLines()
    logger = logging.getLogger("app.audit")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
def api():
    with MessagesAPIServer() as server:
        yield server


@pytest.fixture
def ops_token() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture
def ops_server(cluster, namespace, tmp_path, ops_token):
    server = HttpServer(ops_env(cluster, namespace, tmp_path / "ops-audit.jsonl", OPS_MCP_HTTP_TOKEN=ops_token))
    yield server
    server.stop()


@pytest.fixture
def chat_backend(start_backend, tmp_path, issuer, api, ops_token):  # noqa: F811
    def start(ops_url: str, **overrides):
        db = Database("sqlite", {"SQLITE_PATH": str(tmp_path / "todo.db")})
        return start_backend(
            db,
            **issuer.settings,
            ANTHROPIC_API_KEY="sk-test-not-real",
            ANTHROPIC_BASE_URL=api.base_url,
            **{"OPS_MCP_URL": ops_url, "OPS_MCP_TOKEN": ops_token, **overrides},
        )

    return start


def chat(server, issuer, user: str, message: str, request_id: str = "req-chat-ops", **claims):  # noqa: F811
    headers = {**issuer.headers(user, **claims), "X-Request-ID": request_id}
    response = server.client.post(f"/api/{user}/chat", json={"message": message}, headers=headers, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


def ops_audit(tmp_path: Path) -> list[dict]:
    path = tmp_path / "ops-audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def test_admin_scales_the_backend_through_the_chat(
    cluster,
    namespace,
    ops_server,
    chat_backend,
    issuer,
    api,  # noqa: F811
    backend_log,
    tmp_path,
):
    cluster.apply(backend_deployment(), namespace)
    server = chat_backend(ops_server.url, OPS_CHAT_ALLOW_WRITES=True)
    api.script(tool_use("scale_deployment", {"name": "backend", "replicas": 3, "namespace": namespace}), text("Scaled the backend from 1 to 3 replicas."))

    body = chat(server, issuer, "root", "scale the backend to 3", request_id="req-scale-1", role="admin")

    assert replicas(cluster, namespace) == 3
    assert body["response"] == "Scaled the backend from 1 to 3 replicas."
    [call] = body["tool_calls"]
    assert call["tool"] == "scale_deployment" and call["is_error"] is False, call
    assert (call["result"]["before"], call["result"]["after"]) == (1, 3)
    # The model was offered the task tools and the ops tools, writes included, and told it may use them.
    offered = api.requests[0].tool_names
    assert offered[:5] == TASK_TOOLS and {"get_app_status", "diagnose", "scale_deployment"} <= set(offered)
    assert "administrator" in api.requests[0].body["system"]
    # Audited twice: by ops-mcp (the mutation) and by the backend (the chat's ops call).
    [record] = ops_audit(tmp_path)
    assert record["tool"] == "scale_deployment" and record["arguments"]["replicas"] == 3
    [logged] = backend_log.records("ops_tool_call")
    assert logged["request_id"] == "req-scale-1" and logged["user_id"] == "root"
    assert logged["tool"] == "scale_deployment" and logged["outcome"] == "ok"
    assert logged["arguments"] == {"name": "backend", "replicas": 3, "namespace": namespace}
    # Persisted with the reply, like the task tools' calls.
    conversation = server.client.get(f"/api/root/conversations/{body['conversation_id']}", headers=issuer.headers("root", role="admin")).json()
    assert conversation["messages"][1]["tool_calls"][0]["tool"] == "scale_deployment"
    assert ops_server.proc.poll() is None


def test_with_the_admins_own_token_forwarded_the_ops_audit_names_the_person(
    cluster,
    namespace,
    chat_backend,
    issuer,
    api,  # noqa: F811
    tmp_path,
):
    """OPS_MCP_FORWARD_USER_TOKEN: the backend calls ops-mcp with the admin's own Better Auth token, which ops-mcp
    verifies against the same issuer (its OIDC settings; no static token configured), so its audit log names the
    person who asked in the chat, not the backend."""
    cluster.apply(backend_deployment(), namespace)
    env = ops_env(
        cluster,
        namespace,
        tmp_path / "ops-audit.jsonl",
        OPS_MCP_OIDC_ISSUER=issuer.base_url,
        OPS_MCP_OIDC_AUDIENCE=issuer.base_url,
        OPS_MCP_OIDC_JWKS_URL=issuer.jwks_url,
        OPS_MCP_OIDC_SUBJECTS="root",
    )
    ops_server = HttpServer(env)
    try:
        server = chat_backend(ops_server.url, OPS_CHAT_ALLOW_WRITES=True, OPS_MCP_FORWARD_USER_TOKEN=True, OPS_MCP_TOKEN="")
        api.script(tool_use("scale_deployment", {"name": "backend", "replicas": 2, "namespace": namespace}), text("Scaled to 2."))
        body = chat(server, issuer, "root", "scale the backend to 2", role="admin")
        assert body["tool_calls"][0]["is_error"] is False, body
        assert replicas(cluster, namespace) == 2
        [record] = ops_audit(tmp_path)
        assert record["tool"] == "scale_deployment" and record["user"] == "root@example.test (root)", record
    finally:
        ops_server.stop()


def test_non_admin_never_sees_or_reaches_the_ops_tools(
    cluster,
    namespace,
    ops_server,
    chat_backend,
    issuer,
    api,  # noqa: F811
    backend_log,
    tmp_path,
):
    cluster.apply(backend_deployment(), namespace)
    server = chat_backend(ops_server.url, OPS_CHAT_ALLOW_WRITES=True, ADMIN_USER_IDS="root")
    api.script(tool_use("scale_deployment", {"name": "backend", "replicas": 3, "namespace": namespace}), text("I cannot do that."))

    body = chat(server, issuer, "bob", "scale the backend to 3", role="user, administrator")  # not "admin"

    assert api.requests[0].tool_names == TASK_TOOLS
    assert "administrator" not in api.requests[0].body["system"]
    [call] = body["tool_calls"]
    assert call["is_error"] is True and "Unknown tool 'scale_deployment'" in call["result"]
    [result] = api.requests[1].tool_results()
    assert result["is_error"] is True
    assert replicas(cluster, namespace) == 1
    assert ops_audit(tmp_path) == [] and backend_log.records("ops_tool_call") == []


def test_admin_without_allow_writes_gets_only_read_tools(
    cluster,
    namespace,
    ops_server,
    chat_backend,
    issuer,
    api,  # noqa: F811
    backend_log,
    tmp_path,
):
    cluster.apply(backend_deployment(), namespace)
    # The ops server itself allows writes; the backend still offers only readOnlyHint tools.
    server = chat_backend(ops_server.url, ADMIN_USER_IDS=" alice ,root")
    api.script(
        tool_use("scale_deployment", {"name": "backend", "replicas": 3, "namespace": namespace}),
        tool_use("get_app_status", {"namespace": namespace}),
        tool_use(
            "get_release_values", {"namespace": namespace, "release": "todo", "api_token": SECRET_VALUE, "source": f"postgres://app:{SECRET_VALUE}@db/todo"}
        ),
        text("I can only read the cluster here."),
    )

    body = chat(server, issuer, "root", "scale the backend to 3")  # admin by ADMIN_USER_IDS, no role claim

    offered = set(api.requests[0].tool_names)
    assert {"get_app_status", "diagnose", "get_pod_logs", *TASK_TOOLS} <= offered
    assert not offered & WRITE_TOOLS
    refused, status, values = body["tool_calls"]
    assert refused["is_error"] is True and "Unknown tool 'scale_deployment'" in refused["result"]
    assert status["tool"] == "get_app_status" and status["is_error"] is False, status
    assert values["tool"] == "get_release_values"
    assert replicas(cluster, namespace) == 1
    assert ops_audit(tmp_path) == []
    logged = backend_log.records("ops_tool_call")
    assert [r["tool"] for r in logged] == ["get_app_status", "get_release_values"]
    assert logged[0]["outcome"] == "ok" and logged[1]["outcome"] == ("error" if values["is_error"] else "ok")
    # The backend's audit record is redacted by ops-mcp's own rules (one module): names and values.
    assert logged[1]["arguments"] == {"namespace": namespace, "release": "todo", "api_token": "***", "source": "postgres://app:***@db/todo"}
    assert SECRET_VALUE not in "\n".join(backend_log.lines)


def answer_from_diagnosis(request: RecordedRequest):
    """The scripted model's final turn, composed from the real diagnose result it was sent."""
    report = json.loads(request.tool_results()[-1]["content"])
    roots = [f for f in report.get("findings", []) if not f.get("caused_by")] or report.get("findings", [])
    if not roots:
        return text(f"Nothing is failing: {report.get('summary', '')}")
    top = roots[0]
    return text(f"Root cause ({top['mode']}): {top['cause']['text']} Fix: {(top.get('fix') or {}).get('kubectl', '')}")


def test_why_is_the_backend_failing_names_the_root_cause(
    cluster,
    namespace,
    ops_server,
    chat_backend,
    issuer,
    api,  # noqa: F811
    backend_log,
):
    cluster.kubectl("create", "secret", "generic", "backend-secrets", "-n", namespace, f"--from-literal=password={SECRET_VALUE}")
    cluster.apply(
        backend_deployment(env=[{"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "backend-secrets", "key": "DATABASE_URL"}}}]), namespace
    )
    server = chat_backend(ops_server.url)
    api.script(tool_use("diagnose", {"kind": "deployment", "name": "backend", "namespace": namespace}), answer_from_diagnosis)

    body = chat(server, issuer, "ops-lead", "why is the backend failing?", role=["user", "admin"])

    assert body["tool_calls"][0]["tool"] == "diagnose" and body["tool_calls"][0]["is_error"] is False
    assert body["response"].startswith("Root cause (config.missing_secret_key)"), body["response"]
    assert "DATABASE_URL" in body["response"] and "backend-secrets" in body["response"]
    everything = json.dumps(body) + json.dumps([r.body for r in api.requests]) + "\n".join(backend_log.lines)
    assert SECRET_VALUE not in everything


def test_unreachable_ops_server_leaves_the_task_tools_working(chat_backend, issuer, api, backend_log):  # noqa: F811
    server = chat_backend(f"http://127.0.0.1:{free_port()}/mcp", OPS_CHAT_ALLOW_WRITES=True)
    api.script(tool_use("add_task", {"title": "check the cluster"}), text("Added task 1: check the cluster."))

    body = chat(server, issuer, "root", "remember to check the cluster", role="admin")

    assert api.requests[0].tool_names == TASK_TOOLS
    assert "ops tools are unavailable" in api.requests[0].body["system"]
    assert body["tool_calls"][0]["result"]["status"] == "created"
    assert body["response"].startswith("Added task 1: check the cluster.")
    assert body["response"].endswith("Note: the ops tools are unavailable right now, so I could not use them.")
    assert backend_log.records("ops_tool_call") == []
