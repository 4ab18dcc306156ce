"""Consent only a person can give (issue 23 item 3), through real MCP clients against the real control plane:
a client that can elicit is always asked (confirm=true never skips it) and sees the dry run's diff; over HTTP a
client that cannot elicit is refused risky writes and is not even offered `confirm`; risk decides, not the tool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp_types import ElicitResult
from ops.ops_helpers import HttpServer, err, http_client, ok, ops_env, stdio_client, text_of

from security.attacks import workload

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]
TOKEN = "consent-test-token-0123456789abcdef"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def image_of(cluster: Any, namespace: str, name: str) -> str:
    return cluster.kubectl("get", "deploy", name, "-n", namespace, "-o", "jsonpath={.spec.template.spec.containers[0].image}").stdout


def replicas_of(cluster: Any, namespace: str, name: str) -> str:
    return cluster.kubectl("get", "deploy", name, "-n", namespace, "-o", "jsonpath={.spec.replicas}").stdout


def new_image(image: str) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}


class Person:
    """An elicitation callback: records each question and answers as told."""

    def __init__(self, accept: bool):
        self.accept, self.asked = accept, []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        self.asked.append(params.message)
        return ElicitResult(action="accept", content={"confirm": True}) if self.accept else ElicitResult(action="decline")


async def test_over_http_a_client_that_cannot_elicit_gets_no_risky_write_and_no_confirm(cluster: Any, namespace: str, tmp_path: Path) -> None:
    cluster.apply([workload("web"), workload("api")], namespace)
    server = HttpServer(ops_env(cluster, namespace, tmp_path / "audit.jsonl", OPS_MCP_HTTP_TOKEN=TOKEN, OPS_MCP_NAMESPACES=namespace))
    try:
        async with http_client(server.url, TOKEN) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert not [n for n, t in tools.items() if "confirm" in (t.input_schema.get("properties") or {})], "confirm is offered over HTTP"
            forged = err(await client.call_tool("delete_resource", {"kind": "deployment", "name": "api", "confirm": True}))
            assert "does not take 'confirm'" in forged
            refused = err(await client.call_tool("delete_resource", {"kind": "deployment", "name": "api"}))
            assert "needs a person's approval" in refused and "OPS_MCP_CONSENT=client" in refused, refused
            refused = err(await client.call_tool("patch_resource", {"kind": "deployment", "name": "web", "patch": new_image("registry.local/app:2")}))
            assert "changes Deployment/web container app's image" in refused, refused
            # not risky: no question at all, even for a client that cannot be asked
            ok(await client.call_tool("scale_deployment", {"name": "web", "replicas": 2}))
            dry = await client.call_tool("patch_resource", {"kind": "deployment", "name": "web", "patch": new_image("registry.local/app:3"), "dry_run": True})
            assert ok(dry)["applied"] is False and "registry.local/app:1 -> registry.local/app:3" in text_of(dry)  # a dry run is never asked
    finally:
        server.stop()
    assert cluster.kubectl("get", "deploy", "api", "-n", namespace, check=False).returncode == 0
    assert image_of(cluster, namespace, "web") == "registry.local/app:1" and replicas_of(cluster, namespace, "web") == "2"


async def test_a_client_that_can_elicit_is_always_asked_and_sees_the_diff(cluster: Any, namespace: str, tmp_path: Path) -> None:
    cluster.apply([workload("web"), workload("api")], namespace)
    env = ops_env(cluster, namespace, tmp_path / "audit.jsonl", OPS_MCP_NAMESPACES=namespace)
    no = Person(accept=False)
    async with stdio_client(env, elicitation_callback=no) as client:  # stdio: confirm is offered, and still not enough
        out = ok(await client.call_tool("patch_resource", {"kind": "deployment", "name": "web", "patch": new_image("registry.local/app:2"), "confirm": True}))
        assert out["applied"] is False and len(no.asked) == 1
        assert "registry.local/app:1 -> registry.local/app:2" in no.asked[0] and "image" in no.asked[0], no.asked[0]
        ok(await client.call_tool("delete_resource", {"kind": "deployment", "name": "api", "confirm": True}))
        ok(await client.call_tool("scale_deployment", {"name": "web", "replicas": 0, "confirm": True}))
        assert len(no.asked) == 3 and "to 0" in no.asked[2]
        ok(await client.call_tool("scale_deployment", {"name": "web", "replicas": 2}))  # not risky: not asked
        assert len(no.asked) == 3
    assert image_of(cluster, namespace, "web") == "registry.local/app:1" and replicas_of(cluster, namespace, "web") == "2"
    assert cluster.kubectl("get", "deploy", "api", "-n", namespace, check=False).returncode == 0
    yes = Person(accept=True)
    server = HttpServer(ops_env(cluster, namespace, tmp_path / "audit2.jsonl", OPS_MCP_HTTP_TOKEN=TOKEN, OPS_MCP_NAMESPACES=namespace))
    try:
        async with http_client(server.url, TOKEN, elicitation_callback=yes) as client:
            out = ok(await client.call_tool("patch_resource", {"kind": "deployment", "name": "web", "patch": new_image("registry.local/app:2")}))
            assert out["applied"] is True and len(yes.asked) == 1
    finally:
        server.stop()
    assert image_of(cluster, namespace, "web") == "registry.local/app:2"
