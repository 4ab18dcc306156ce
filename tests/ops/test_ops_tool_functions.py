"""Tools are top-level functions: a test can call one alone with the server's Ops, no MCP session in between.

(Calls through the protocol, with the middleware's audit and scrubbing, are tested everywhere else.)
"""

from __future__ import annotations

import pytest

from ops_mcp.errors import OpsError
from ops_mcp.server import build_server
from ops_mcp.settings import Settings
from ops_mcp.toolkit import TOOL_SPEC
from ops_mcp.tools import inspect, logs, workloads

pytestmark = pytest.mark.anyio

KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- {name: local, cluster: {server: "https://127.0.0.1:9"}}
- {name: prod, cluster: {server: "https://127.0.0.1:10"}}
users: [{name: admin, user: {token: s3cret-token-value}}]
contexts:
- {name: minikube, context: {cluster: local, user: admin, namespace: todo}}
- {name: do-prod, context: {cluster: prod, user: admin}}
current-context: minikube
"""


@pytest.fixture
def ops(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    settings = Settings(kubeconfig=str(kubeconfig), contexts="*", audit_log=str(tmp_path / "audit.jsonl"))
    return build_server(settings).ops


async def test_list_contexts_called_alone_names_every_context_and_no_credential(ops) -> None:
    result = await inspect.list_contexts(ops)
    rows = {row["name"]: row for row in result.structured_content["contexts"]}
    assert set(rows) == {"minikube", "do-prod"}
    assert rows["minikube"]["default"] is True and rows["minikube"]["namespace"] == "todo"
    assert rows["do-prod"]["server"] == "https://127.0.0.1:10" and not rows["do-prod"].get("default")
    assert "s3cret" not in str(result) and "admin" not in str(result)


async def test_a_bad_argument_is_refused_by_the_tool_itself_before_any_cluster_call(ops) -> None:
    with pytest.raises(OpsError, match="not a valid regular expression"):
        await logs.get_pod_logs(ops, name="web", grep="(unclosed")
    assert ops._clusters == {}, "no cluster client was made"


def test_each_tool_module_declares_its_tools_at_top_level() -> None:
    declared = {name for module in (inspect, logs, workloads) for name, fn in vars(module).items() if hasattr(fn, TOOL_SPEC)}
    assert {"list_resources", "describe_resource", "get_pod_logs", "scale_deployment", "rollout_undo"} <= declared
