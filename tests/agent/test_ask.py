"""`ops-mcp ask` through its CLI: the real anthropic SDK against a scripted Messages API server, the ops
tools over a real MCP stdio session, on the real control plane."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.messages_api import MessagesAPIServer, RecordedRequest, text, tool_use

pytestmark = pytest.mark.cluster


def backend(env: list[dict] | None = None) -> dict:
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


def ask(cluster, namespace: str, api: MessagesAPIServer, audit: Path, question: str, *flags: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in cluster.env.items() if not k.startswith(("OPS_MCP_", "ANTHROPIC_"))}
    env.update(
        ANTHROPIC_API_KEY="test-key",
        ANTHROPIC_BASE_URL=api.base_url,
        OPS_MCP_NAMESPACE=namespace,
        OPS_MCP_AUDIT_LOG=str(audit),
        OPS_MCP_HELM_BINARY=str(cluster.bin_dir / "helm"),
    )
    return subprocess.run(
        [sys.executable, "-m", "ops_mcp.cli", "ask", question, *flags], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180
    )


@pytest.fixture
def api():
    with MessagesAPIServer() as server:
        yield server


def test_scale_with_yes_changes_the_cluster_and_reports_usage(cluster, namespace, api, tmp_path):
    cluster.apply(backend(), namespace)
    api.script(tool_use("scale_deployment", {"name": "backend", "replicas": 3}), text("Scaled the backend from 1 to 3 replicas."))
    out = ask(cluster, namespace, api, tmp_path / "audit.jsonl", "scale the backend to 3", "--yes")

    assert out.returncode == 0, out.stderr
    assert replicas(cluster, namespace) == 3
    assert out.stdout.strip() == "Scaled the backend from 1 to 3 replicas."
    assert '→ scale_deployment(name="backend", replicas=3)' in out.stderr and "scaled 1 -> 3" in out.stderr
    assert "1 tool call(s); 2 model turn(s); tokens: 20 in, 20 out" in out.stderr
    # the model saw the tool's real result, and the write was audited
    [result] = api.requests[1].tool_results()
    assert not result["is_error"]
    assert {k: json.loads(result["content"])[k] for k in ("before", "after")} == {"before": 1, "after": 3}
    [record] = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert record["tool"] == "scale_deployment" and record["arguments"]["replicas"] == 3


def test_writes_without_confirmation_are_not_run(cluster, namespace, api, tmp_path):
    cluster.apply(backend(), namespace)
    api.script(tool_use("scale_deployment", {"name": "backend", "replicas": 3}), text("I did not scale: the change was not confirmed."))
    out = ask(cluster, namespace, api, tmp_path / "audit.jsonl", "scale the backend to 3")

    assert out.returncode == 0, out.stderr
    assert replicas(cluster, namespace) == 1
    assert "not confirmed (pass --yes to allow changes)" in out.stderr
    [result] = api.requests[1].tool_results()
    assert result["is_error"] and "declined" in json.dumps(result["content"])
    assert not (tmp_path / "audit.jsonl").exists() or not (tmp_path / "audit.jsonl").read_text().strip()


def test_read_only_mode_offers_no_write_tools(cluster, namespace, api, tmp_path):
    cluster.apply(backend(), namespace)
    api.script(tool_use("scale_deployment", {"name": "backend", "replicas": 3}), text("I cannot scale in read-only mode."))
    out = ask(cluster, namespace, api, tmp_path / "audit.jsonl", "scale the backend to 3", "--read-only", "--yes")

    assert out.returncode == 0, out.stderr
    offered = set(api.requests[0].tool_names)
    assert {"get_app_status", "diagnose", "get_pod_logs"} <= offered
    assert not offered & {"scale_deployment", "rollout_restart", "deploy_chart", "uninstall_release"}
    [result] = api.requests[1].tool_results()
    assert result["is_error"] and "no tool named 'scale_deployment'" in json.dumps(result["content"])
    assert replicas(cluster, namespace) == 1


def test_why_is_the_backend_failing_returns_the_diagnosed_root_cause(cluster, namespace, api, tmp_path):
    cluster.kubectl("create", "secret", "generic", "backend-secrets", "-n", namespace, "--from-literal=password=Sup3rS3cret")
    cluster.apply(backend(env=[{"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "backend-secrets", "key": "DATABASE_URL"}}}]), namespace)

    def answer_from_diagnosis(request: RecordedRequest):
        [result] = request.tool_results()
        content = result["content"]
        report = json.loads(content if isinstance(content, str) else content[0]["text"])
        top = report["findings"][0]
        # the value is not in the cluster: the fix says so, and its command is a person's template (in `note`)
        return text(f"Root cause ({top['mode']}): {top['cause']['text']} Fix: {top['fix']['do']} {top['fix']['note']}")

    api.script(tool_use("diagnose", {"kind": "deployment", "name": "backend"}), answer_from_diagnosis)
    out = ask(cluster, namespace, api, tmp_path / "audit.jsonl", "why is the backend failing?")

    assert out.returncode == 0, out.stderr
    assert "config.missing_secret_key" in out.stdout and "DATABASE_URL" in out.stdout
    assert f"kubectl -n {namespace} patch secret/backend-secrets" in out.stdout  # the person's template, from the same builder as every fix
    assert "Sup3rS3cret" not in out.stdout + out.stderr + json.dumps([r.body for r in api.requests])


def test_missing_api_key_is_a_clear_error(cluster, namespace, tmp_path):
    env = {k: v for k, v in cluster.env.items() if not k.startswith("ANTHROPIC_")}
    out = subprocess.run([sys.executable, "-m", "ops_mcp.cli", "ask", "status?"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "set ANTHROPIC_API_KEY" in out.stderr
