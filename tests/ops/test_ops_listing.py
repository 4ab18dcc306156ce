"""tools/list, modes, prompts and resources over stdio, with no reachable cluster (lazy start-up)."""

from __future__ import annotations

import json
import os
import sys

import pytest
from ops_helpers import err, ok, stdio_client

pytestmark = pytest.mark.anyio

READ_TOOLS = {
    "get_app_status",
    "list_resources",
    "describe_resource",
    "get_events",
    "get_pod_logs",
    "rollout_status",
    "list_releases",
    "release_history",
    "get_release_values",
}
WRITE_TOOLS = {"scale_deployment", "rollout_restart", "patch_resource"}
DESTRUCTIVE_TOOLS = {
    "rollout_undo",
    "rollback_release",
    "uninstall_release",
    "deploy_chart",
    "apply_manifest",
    "delete_resource",
}  # deploy_chart: a chart may mount any Secret; an upgrade deletes what it drops; apply_manifest overwrites (forced apply)

# A kubeconfig whose API server does not exist: listing must not need it.
DEAD_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: dead, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: abc}}]
contexts: [{name: dead, context: {cluster: dead, user: u}}]
current-context: dead
"""


@pytest.fixture
def env(tmp_path):
    kc = tmp_path / "kubeconfig"
    kc.write_text(DEAD_KUBECONFIG)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPS_MCP_", "KUBECONFIG"))}
    return {**base, "OPS_MCP_KUBECONFIG": str(kc), "OPS_MCP_AUDIT_LOG": str(tmp_path / "audit.jsonl"), "OPS_MCP_REQUEST_TIMEOUT": "3"}


async def test_tools_list_without_cluster_has_truthful_annotations_and_schemas(env):
    async with stdio_client(env) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert READ_TOOLS | WRITE_TOOLS | DESTRUCTIVE_TOOLS <= set(tools)
    for name, tool in tools.items():
        a = tool.annotations
        assert tool.output_schema and tool.output_schema.get("type") == "object", name
        assert tool.description and len(tool.description) < 200, name
        assert a.open_world_hint is True
        if name in READ_TOOLS:
            assert a.read_only_hint is True and a.destructive_hint is False and a.idempotent_hint is True, name
        if name in WRITE_TOOLS:
            assert a.read_only_hint is False and a.destructive_hint is False, name
        if name in DESTRUCTIVE_TOOLS:
            assert a.read_only_hint is False and a.destructive_hint is True, name
        assert "title" not in str(tool.input_schema.get("properties", {}).get("namespace", {}))
    assert tools["scale_deployment"].annotations.idempotent_hint is True
    assert tools["rollout_restart"].annotations.idempotent_hint is False


async def test_default_tools_list_stays_under_3000_model_visible_tokens(env):
    """Every token of tools/list is paid on each model turn (bench/ops_startup.py counts the same way: chars / 4)."""
    async with stdio_client(env) as client:
        tools = (await client.list_tools()).tools
    visible = [t.model_dump(by_alias=True, mode="json", include={"name", "description", "input_schema"}, exclude_none=True) for t in tools]
    tokens = sum(len(json.dumps(t)) for t in visible) / 4
    assert 2000 < tokens < 3000, f"{tokens:.0f} model-visible tokens"


async def test_first_call_reports_unreachable_cluster_with_server_and_context(env):
    async with stdio_client(env) as client:
        msg = err(await client.call_tool("list_resources", {"kind": "pods"}))
    assert "https://127.0.0.1:9" in msg and "'dead'" in msg and "Next step" in msg


async def test_read_only_mode_lists_no_write_tools(env):
    async with stdio_client(env, "--read-only") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names >= READ_TOOLS
        assert not names & (WRITE_TOOLS | DESTRUCTIVE_TOOLS)
        # A hidden tool is not callable either.
        result = await client.call_tool("scale_deployment", {"name": "web", "replicas": 1})
        assert result.is_error


async def test_disable_destructive_hides_only_destructive_tools(env):
    async with stdio_client({**env, "OPS_MCP_DISABLE_DESTRUCTIVE": "true"}) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert names >= READ_TOOLS | WRITE_TOOLS
    assert not names & DESTRUCTIVE_TOOLS


async def test_toolsets_and_tools_choose_what_is_listed_and_callable(env):
    async with stdio_client(env, "--toolsets", "inspect,diagnose") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == {"get_app_status", "list_resources", "describe_resource", "get_events", "diagnose", "diagnose_crashloop"}, names
        assert (await client.call_tool("get_pod_logs", {"name": "web"})).is_error, "a tool of another toolset is not callable"
    async with stdio_client({**env, "OPS_MCP_TOOLS": "-delete_resource,-deploy_chart"}) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == (READ_TOOLS | WRITE_TOOLS | DESTRUCTIVE_TOOLS | {"diagnose", "diagnose_crashloop"}) - {"delete_resource", "deploy_chart"}, names
    async with stdio_client(env, "--tools", "diagnose,get_pod_logs", "--read-only") as client:
        assert {t.name for t in (await client.list_tools()).tools} == {"diagnose", "get_pod_logs"}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--toolsets", "inspect,shell"], "unknown toolset(s) shell; known: inspect, logs, workloads, releases, changes, diagnose, metrics, exec (or all)"),
        (["--tools", "diagnose,exec_pod"], "'exec_pod' is no tool (known: apply_manifest,"),
        (["--toolsets", "inspect", "--tools", "get_pod_logs"], "'get_pod_logs' is in toolset 'logs', which is not enabled: add it to --toolsets"),
    ],
)
def test_unknown_toolsets_and_tools_are_refused_at_start_with_the_known_names(env, flags, message):
    """Started directly and through the tests' fork server (ops_helpers.serve_argv): the same exit code and words."""
    import subprocess

    from ops_helpers import SERVE, serve_argv

    for serve in (SERVE, serve_argv()):
        proc = subprocess.run([*serve, "--transport", "stdio", *flags], env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert proc.returncode == 2 and "invalid configuration" in proc.stderr and message in proc.stderr, (serve, proc.stderr)


def test_a_forked_server_ends_with_its_launcher_s_sigterm_and_closes_its_stdout(env):
    """The tests' fork server: SIGTERM to the launcher reaches the serving ops-mcp, which ends, so the client's pipe
    sees EOF (a server left running would hold it open), and the launcher exits as the server did."""
    import select
    import signal
    import subprocess

    from ops_helpers import serve_argv

    proc = subprocess.Popen([*serve_argv(), "--transport", "stdio"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    request = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    proc.stdin.write((json.dumps(request) + "\n").encode())
    proc.stdin.flush()
    assert json.loads(proc.stdout.readline())["id"] == 1  # serving
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
    assert select.select([proc.stdout], [], [], 30)[0] and proc.stdout.read() == b""  # EOF: the server is gone


TWO_CONTEXTS = """apiVersion: v1
kind: Config
clusters:
- {name: local, cluster: {server: "https://127.0.0.1:9"}}
- {name: prod, cluster: {server: "https://127.0.0.1:10"}}
users: [{name: u, user: {token: abc-secret-token}}]
contexts:
- {name: minikube, context: {cluster: local, user: u}}
- {name: do-prod, context: {cluster: prod, user: u, namespace: todo}}
- {name: other, context: {cluster: prod, user: u}}
current-context: minikube
"""


async def test_contexts_add_a_context_argument_and_list_contexts_only_when_configured(env, tmp_path):
    async with stdio_client(env) as client:  # one context: no `context` argument, no list_contexts
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert "list_contexts" not in tools and not any("context" in (t.input_schema.get("properties") or {}) for t in tools.values())
    kc = tmp_path / "two"
    kc.write_text(TWO_CONTEXTS)
    two = {**env, "OPS_MCP_KUBECONFIG": str(kc), "OPS_MCP_CONTEXTS": "minikube,do-prod"}
    async with stdio_client(two) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert all("context" in (t.input_schema.get("properties") or {}) for n, t in tools.items() if n != "list_contexts"), "every cluster tool"
        listed = ok(await client.call_tool("list_contexts", {}))["contexts"]
        assert listed == [
            {"name": "minikube", "cluster": "local", "server": "https://127.0.0.1:9", "default": True},
            {"name": "do-prod", "cluster": "prod", "server": "https://127.0.0.1:10", "namespace": "todo", "default": False},
        ], listed
        assert "abc-secret-token" not in json.dumps(listed)
        # A context outside the allowlist is refused by name, before anything is called.
        message = err(await client.call_tool("list_resources", {"kind": "pods", "context": "other"}))
        assert "Context 'other' is not one this server may use" in message and "minikube, do-prod" in message, message
        # The named context is the one called: its (dead) API server is in the error.
        assert "https://127.0.0.1:10" in err(await client.call_tool("list_resources", {"kind": "pods", "context": "do-prod"}))
        assert "https://127.0.0.1:9" in err(await client.call_tool("list_resources", {"kind": "pods"}))


async def test_prompts_and_resources_are_listed(env):
    async with stdio_client(env) as client:
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        resources = {str(r.uri) for r in (await client.list_resources()).resources}
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        got = await client.get_prompt("safe_scale", {"name": "web", "replicas": "3", "namespace": "todo"})
    assert {"troubleshoot_app", "safe_scale"} <= prompts
    assert "ops://app/status" in resources
    assert "ops://releases/{namespace}/{release}/values" in templates
    assert "scale_deployment(name='web', replicas=3, namespace='todo', wait=true)" in got.messages[0].content.text


async def test_bad_configuration_fails_fast_with_a_clear_message(env, tmp_path):
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-m", "ops_mcp.cli", "serve", "--transport", "stdio", "--namespaces", "a,b", "--namespace", "c"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    assert "outside the allowlist" in proc.stderr


async def test_unknown_arguments_are_refused_by_name(env):
    """deploy_chart(wait=false) used to be dropped silently (and the call waited minutes for readiness)."""
    async with stdio_client(env) as client:
        msg = err(await client.call_tool("deploy_chart", {"wait": False, "dry_run": True}))
        assert "deploy_chart does not take 'wait'" in msg and "nothing was done" in msg and "timeout_seconds" in msg
        msg = err(await client.call_tool("list_resources", {"kind": "pods", "namespaces": "a,b", "lim": 3}))
        assert "'namespaces', 'lim'" in msg and "all_namespaces" in msg and "limit" in msg
