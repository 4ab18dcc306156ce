"""The task MCP server through the official MCP SDK client: HTTP (bearer JWT) and stdio."""

import subprocess
import time

import anyio
import httpx
import httpx2
import pytest
from mcp import StdioServerParameters
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from .conftest import BACKEND_DIR, PYTHON, free_port, subprocess_env

TOOLS = {"add_task", "list_tasks", "complete_task", "delete_task", "update_task"}


def http_client(url: str, token: str | None) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client(streamable_http_client(url, http_client=httpx2.AsyncClient(headers=headers, timeout=30)), cache=None)


async def exercise_tools(client: Client) -> None:
    """The five tools, their shapes and their errors, for whoever the client acts as."""
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    assert set(tools["add_task"].input_schema["required"]) == {"title"}
    assert set(tools["complete_task"].input_schema["required"]) == {"task_id"}
    assert tools["list_tasks"].input_schema["properties"]["status"]["enum"] == ["all", "pending", "completed"]
    assert tools["list_tasks"].annotations.read_only_hint is True
    assert tools["delete_task"].annotations.destructive_hint is True

    added = await client.call_tool("add_task", {"title": "Buy groceries", "description": "milk, eggs"})
    assert not added.is_error, added
    task_id = added.structured_content["task_id"]
    assert added.structured_content == {"task_id": task_id, "status": "created", "title": "Buy groceries"}
    second = (await client.call_tool("add_task", {"title": "Call mom"})).structured_content["task_id"]

    listed = await client.call_tool("list_tasks", {})
    items = listed.structured_content["result"]
    assert [(t["id"], t["title"], t["completed"]) for t in items] == [(task_id, "Buy groceries", False), (second, "Call mom", False)]
    assert items[0]["description"] == "milk, eggs"

    done = await client.call_tool("complete_task", {"task_id": second})
    assert done.structured_content == {"task_id": second, "status": "completed", "title": "Call mom"}
    pending = (await client.call_tool("list_tasks", {"status": "pending"})).structured_content["result"]
    assert [t["id"] for t in pending] == [task_id]
    completed = (await client.call_tool("list_tasks", {"status": "completed"})).structured_content["result"]
    assert [t["id"] for t in completed] == [second]

    updated = await client.call_tool("update_task", {"task_id": task_id, "title": "Buy groceries and fruits"})
    assert updated.structured_content == {"task_id": task_id, "status": "updated", "title": "Buy groceries and fruits"}
    after = (await client.call_tool("list_tasks", {})).structured_content["result"]
    assert after[0]["description"] == "milk, eggs"  # untouched by a title-only update
    described = await client.call_tool("update_task", {"task_id": task_id, "description": "and apples"})
    assert described.structured_content["title"] == "Buy groceries and fruits"

    deleted = await client.call_tool("delete_task", {"task_id": second})
    assert deleted.structured_content == {"task_id": second, "status": "deleted", "title": "Call mom"}

    missing = await client.call_tool("complete_task", {"task_id": second})
    assert missing.is_error and f"Task {second} not found" in missing.content[0].text
    empty_update = await client.call_tool("update_task", {"task_id": task_id})
    assert empty_update.is_error and "Nothing to update" in empty_update.content[0].text
    invalid = await client.call_tool("add_task", {"title": ""})
    assert invalid.is_error
    bad_status = await client.call_tool("list_tasks", {"status": "someday"})
    assert bad_status.is_error


def test_tools_over_http_act_as_the_token_subject(start_task_mcp_http, start_backend, db, issuer):
    mcp = start_task_mcp_http(db, **issuer.settings)
    url = f"{mcp.base_url}/mcp"

    async def main():
        async with http_client(url, issuer.token("alice")) as client:
            await exercise_tools(client)
            # A user_id naming someone else is refused; the token decides who acts.
            spoof = await client.call_tool("list_tasks", {"user_id": "bob"})
            assert spoof.is_error and "does not match" in spoof.content[0].text
            own = await client.call_tool("list_tasks", {"user_id": "alice"})
            assert not own.is_error
        async with http_client(url, issuer.token("bob")) as client:
            assert (await client.call_tool("list_tasks", {})).structured_content["result"] == []
            alices = await client.call_tool("complete_task", {"task_id": 1})
            assert alices.is_error and "not found" in alices.content[0].text

    anyio.run(main)
    # The same database seen through the REST API.
    backend = start_backend(db, **issuer.settings)
    titles = [t["title"] for t in backend.client.get("/api/alice/tasks", headers=issuer.headers("alice")).json()]
    assert titles == ["Buy groceries and fruits"]
    tasks = backend.client.get("/api/alice/tasks", headers=issuer.headers("alice")).json()
    assert tasks[0]["description"] == "and apples"


def test_http_requires_a_valid_token(start_task_mcp_http, db, issuer):
    mcp = start_task_mcp_http(db, **issuer.settings)
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    headers = {"Accept": "application/json, text/event-stream"}
    assert httpx.post(f"{mcp.base_url}/mcp", json=initialize, headers=headers).status_code == 401
    expired = {**headers, "Authorization": f"Bearer {issuer.token('alice', expires_in=-3600)}"}
    assert httpx.post(f"{mcp.base_url}/mcp", json=initialize, headers=expired).status_code == 401
    wrong_aud = {**headers, "Authorization": f"Bearer {issuer.token('alice', aud='http://x.test')}"}
    assert httpx.post(f"{mcp.base_url}/mcp", json=initialize, headers=wrong_aud).status_code == 401
    good = {**headers, "Authorization": f"Bearer {issuer.token('alice')}"}
    assert httpx.post(f"{mcp.base_url}/mcp", json=initialize, headers=good).status_code == 200
    assert httpx.get(f"{mcp.base_url}/health").json() == {"status": "ok"}

    async def main():
        with pytest.raises(Exception):  # noqa: B017 (any refusal will do: the transport raises its own types)
            async with http_client(f"{mcp.base_url}/mcp", None) as client:
                await client.list_tools()

    anyio.run(main)


def test_stdio_transport(db):
    params = StdioServerParameters(
        command=PYTHON,
        args=["-m", "app.task_mcp", "--transport", "stdio"],
        cwd=str(BACKEND_DIR),
        env=subprocess_env(db, TASK_MCP_USER_ID="alice", DB_MIGRATE_ON_START="true"),
    )

    async def main():
        async with Client(params, cache=None) as client:
            await exercise_tools(client)
            spoof = await client.call_tool("list_tasks", {"user_id": "bob"})
            assert spoof.is_error

    anyio.run(main)


def test_stdio_without_a_configured_user_takes_the_user_id_argument(db):
    params = StdioServerParameters(
        command=PYTHON, args=["-m", "app.task_mcp", "--transport", "stdio"], cwd=str(BACKEND_DIR), env=subprocess_env(db, DB_MIGRATE_ON_START="true")
    )

    async def main():
        async with Client(params, cache=None) as client:
            anonymous = await client.call_tool("list_tasks", {})
            assert anonymous.is_error and "No acting user" in anonymous.content[0].text
            added = await client.call_tool("add_task", {"title": "from claude code", "user_id": "carol"})
            assert added.structured_content["status"] == "created"
            mine = await client.call_tool("list_tasks", {"user_id": "carol"})
            assert [t["title"] for t in mine.structured_content["result"]] == ["from claude code"]
            assert (await client.call_tool("list_tasks", {"user_id": "dave"})).structured_content["result"] == []

    anyio.run(main)


def test_http_command_line(db, issuer):
    port = free_port()
    token = issuer.token("alice")
    env = subprocess_env(db, DB_MIGRATE_ON_START="true", BETTER_AUTH_JWKS_URL=issuer.jwks_url, LOG_LEVEL="DEBUG")
    process = subprocess.Popen(
        [PYTHON, "-m", "app.task_mcp", "--transport", "http", "--host", "127.0.0.1", "--port", str(port)],
        cwd=BACKEND_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read() if process.poll() is not None else "timeout"
            time.sleep(0.2)

        async def main():
            async with http_client(f"http://127.0.0.1:{port}/mcp", token) as client:
                added = await client.call_tool("add_task", {"title": "over the wire"})
                assert added.structured_content["status"] == "created"

        anyio.run(main)
        assert httpx.post(f"http://127.0.0.1:{port}/mcp", json={}).status_code == 401
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=15)
    # Logs at DEBUG still never carry the bearer token.
    assert stderr and token.split(".")[2] not in stderr


def test_http_rejects_user_id_flag():
    result = subprocess.run(
        [PYTHON, "-m", "app.task_mcp", "--transport", "http", "--user-id", "x"], cwd=BACKEND_DIR, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "--user-id is for stdio" in result.stderr
