"""k8s/kagent's Agent run by kagent's own agent runtime (PyPI kagent-adk) against ops-mcp over streamable HTTP,
with the real `anthropic` client inside the runtime pointed at the scripted Messages API server.

What the kagent controller does in a cluster is done here by `render_agent`: the Agent, its ModelConfig and
the RemoteMCPServer it names become the config.json and agent-card.json its pod reads (the RemoteMCPServer's
Service URL is the test server's loopback URL; its Authorization header comes from the Secret value). From
there on everything is kagent's code: the A2A server, the ADK agent, its Anthropic model, the MCP toolset
with the Agent's toolNames filter and the approval callback of requireApproval. The test speaks A2A to it,
as the kagent UI and CLI do, and checks what reached the model and the cluster.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cluster.harness import ROOT, cache_dir
from ops.ops_helpers import HttpServer, free_port, ops_env, terminate
from support.messages_api import MessagesAPIServer, RecordedRequest, text, tool_use

pytestmark = [pytest.mark.cluster]

RUNTIME = cache_dir() / "kagent-adk" / "bin" / "python"  # scripts/setup.sh: tests/clients/kagent-requirements.txt


def kagent_docs() -> dict[tuple[str, str], dict[str, Any]]:
    docs = [d for f in sorted((ROOT / "k8s" / "kagent").glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs if d.get("apiVersion", "").startswith("kagent.dev/")}


def render_agent(
    agent: dict[str, Any], docs: dict[tuple[str, str], dict[str, Any]], urls: dict[str, str], secret_values: dict[str, str], model_url: str
) -> tuple[dict, dict]:
    """The controller's translation of a Declarative Agent into the runtime's config.json and agent card."""
    spec = agent["spec"]["declarative"]
    model = docs[("ModelConfig", spec["modelConfig"])]["spec"]
    assert model["provider"] == "Anthropic", "only the Anthropic provider is rendered here"
    http_tools = []
    for tool in spec["tools"]:
        ref = tool["mcpServer"]
        remote = docs[(ref["kind"], ref["name"])]["spec"]
        assert remote["protocol"] == "STREAMABLE_HTTP"
        headers = {h["name"]: secret_values[h["valueFrom"]["key"]] for h in remote.get("headersFrom", [])}
        timeout = float(remote.get("timeout", "30s").rstrip("s"))
        http_tools.append(
            {
                "params": {"url": urls[remote["url"]], "headers": headers, "timeout": timeout},
                "tools": ref["toolNames"],
                "require_approval": ref.get("requireApproval", []),
            }
        )
    config = {
        "model": {"type": "anthropic", "model": model["model"], "base_url": model_url},
        "description": agent["spec"]["description"],
        "instruction": spec["systemMessage"],
        "http_tools": http_tools,
        "stream": spec.get("stream", False),
    }
    card = {
        "name": agent["metadata"]["name"],
        "description": agent["spec"]["description"],
        "url": "http://127.0.0.1/",
        "version": "0.1.0",
        "capabilities": {"streaming": True},
        "defaultInputModes": ["text"],
        "defaultOutputModes": ["text"],
        "skills": [],
    }
    return config, card


class Runtime:
    """tests/agent/kagent_runtime.py in the kagent-adk virtualenv, serving A2A on a loopback port."""

    def __init__(self, folder: Path, env: dict[str, str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = folder / "runtime.log"
        self.proc = subprocess.Popen(
            [str(RUNTIME), str(ROOT / "tests" / "agent" / "kagent_runtime.py"), str(folder), str(self.port)],
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"kagent-adk exited {self.proc.returncode}:\n{self.log.read_text()[-4000:]}")
            try:
                if httpx.get(f"{self.url}.well-known/agent-card.json", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"kagent-adk did not serve its agent card within 90 s:\n{self.log.read_text()[-4000:]}")
            time.sleep(0.3)

    def send(self, *parts: dict[str, Any], task: dict[str, Any] | None = None) -> dict[str, Any]:
        """One A2A `message/send`; the resulting Task."""
        message: dict[str, Any] = {"role": "user", "parts": list(parts), "messageId": uuid.uuid4().hex, "kind": "message"}
        if task:
            message.update(taskId=task["id"], contextId=task["contextId"])
        body = {"jsonrpc": "2.0", "id": uuid.uuid4().hex, "method": "message/send", "params": {"message": message}}
        reply = httpx.post(self.url, json=body, timeout=120).json()
        assert "result" in reply, f"{reply}\n{self.log.read_text()[-3000:]}"
        return reply["result"]

    def stop(self) -> None:
        terminate(self.proc)


def texts(task: dict[str, Any]) -> str:
    parts = [p for a in task.get("artifacts") or [] for p in a["parts"]] + [p for m in task.get("history") or [] for p in m["parts"]]
    parts += (task["status"].get("message") or {}).get("parts") or []
    return "\n".join(p.get("text", "") for p in parts)


def deployment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/instance": "todo-chatbot"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": "registry.local/todo-backend:1.0"}]}},
        },
    }


def replicas(cluster: Any, namespace: str, name: str) -> int:
    return cluster.kubectl_json("get", "deployment", name, "-n", namespace)["spec"]["replicas"]


@pytest.fixture
def runtime_parts(cluster, namespace, tmp_path):
    if not RUNTIME.exists():
        pytest.fail(f"{RUNTIME} is missing: run scripts/setup.sh (it installs kagent-adk from tests/clients/kagent-requirements.txt)")
    token = secrets.token_urlsafe(24)
    server = HttpServer(ops_env(cluster, namespace, tmp_path / "ops-audit.jsonl", OPS_MCP_HTTP_TOKEN=token))
    api = MessagesAPIServer().start()
    try:
        yield server, api, token
    finally:
        api.stop()
        server.stop()


def start_runtime(tmp_path: Path, server: HttpServer, api: MessagesAPIServer, token: str) -> tuple[Runtime, dict[str, Any]]:
    docs = kagent_docs()
    agent = docs[("Agent", "todo-ops-agent")]
    remote = docs[("RemoteMCPServer", "todo-ops-mcp")]["spec"]
    config, card = render_agent(agent, docs, {remote["url"]: server.url}, {"OPS_MCP_AUTHORIZATION": f"Bearer {token}"}, api.base_url)
    folder = tmp_path / "agent"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "agent-card.json").write_text(json.dumps(card))
    # The pod's environment: the ModelConfig's key from its Secret; the runtime's own telemetry off.
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "ANTHROPIC_API_KEY": "sk-test-not-real",
        "OTEL_SDK_DISABLED": "true",
        "KAGENT_NAME": card["name"],
        "KAGENT_NAMESPACE": "kagent",
        "KAGENT_URL": "http://127.0.0.1:9",
    }
    return Runtime(folder, env), agent


def test_kagent_runtime_runs_the_agent_on_ops_mcp_over_http(cluster, namespace, runtime_parts, tmp_path):
    server, api, token = runtime_parts
    cluster.apply(deployment("backend"), namespace)
    seen: dict[str, Any] = {}

    def first(request: RecordedRequest):
        seen["tools"], seen["system"] = request.tool_names, request.body.get("system")
        return tool_use("get_app_status", {"namespace": namespace})

    def second(request: RecordedRequest):
        seen["result"] = json.dumps(request.tool_results())
        return text("The backend Deployment is there with 1 replica wanted.")

    api.script(first, second)
    runtime, agent = start_runtime(tmp_path, server, api, token)
    try:
        task = runtime.send({"kind": "text", "text": "How is the Todo Chatbot doing?"})
    finally:
        runtime.stop()
    assert task["status"]["state"] == "completed", json.dumps(task)[:3000]
    assert "1 replica wanted" in texts(task)
    # The model saw exactly the Agent's toolNames, listed from ops-mcp over HTTP with the Secret's bearer token
    # (beside the runtime's own ask_user), and the Agent's system message.
    wanted = agent["spec"]["declarative"]["tools"][0]["mcpServer"]["toolNames"]
    assert sorted(set(seen["tools"]) - {"ask_user"}) == sorted(wanted), seen["tools"]
    assert "Start with get_app_status" in json.dumps(seen["system"])
    # The tool ran on ops-mcp against the cluster: its answer names the Deployment the test made.
    assert "backend" in seen["result"] and namespace in seen["result"], seen["result"][:2000]
    assert api.remaining == 0


def test_kagent_runtime_waits_for_approval_before_a_change(cluster, namespace, runtime_parts, tmp_path):
    server, api, token = runtime_parts
    cluster.apply(deployment("backend"), namespace)
    results: list[str] = []

    def after_scale(request: RecordedRequest):
        results.append(json.dumps(request.tool_results()))
        return text("Scaled the backend to 2 replicas.")

    api.script(tool_use("scale_deployment", {"name": "backend", "replicas": 2, "namespace": namespace}), after_scale)
    runtime, _ = start_runtime(tmp_path, server, api, token)
    audit = tmp_path / "ops-audit.jsonl"
    try:
        task = runtime.send({"kind": "text", "text": "Scale the backend to 2."})
        # requireApproval: the runtime stops before the call; nothing reached ops-mcp or the cluster.
        assert task["status"]["state"] == "input-required", json.dumps(task)[:3000]
        assert replicas(cluster, namespace, "backend") == 1
        assert not audit.exists() or "scale_deployment" not in audit.read_text()
        done = runtime.send({"kind": "data", "data": {"decision_type": "approve"}}, task=task)
    finally:
        runtime.stop()
    assert done["status"]["state"] == "completed", json.dumps(done)[:3000]
    assert "Scaled the backend" in texts(done)
    assert replicas(cluster, namespace, "backend") == 2
    [record] = [json.loads(line) for line in audit.read_text().splitlines() if '"scale_deployment"' in line]
    assert record["outcome"] == "applied" and record["arguments"]["replicas"] == 2
    assert "scaled 1 -> 2" in results[0], results  # what ops-mcp answered reached the model
