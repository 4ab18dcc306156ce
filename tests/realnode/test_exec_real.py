"""exec_in_pod on real containers: opt-in, confirmed, bounded, its output scrubbed, audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cluster.harness import Cluster
from ops.ops_helpers import err, ok, stdio_client
from test_failures_real import SERVER, deployment, http_port, ops_env, wait_pod

pytestmark = [pytest.mark.realnode, pytest.mark.anyio]

TOKEN = "exec-literal-7f3a9c2e1b"  # a literal credential in the pod's env: never in any output


async def test_exec_in_pod_runs_an_argv_only_when_allowed_and_confirmed_and_scrubs_its_output(
    real_cluster: Cluster, app_images: dict[str, str], real_namespace: str, tmp_path: Path
) -> None:
    ns, cluster = real_namespace, real_cluster
    cluster.apply(deployment("shell", app_images["backend"], SERVER, ports=http_port(), env=[{"name": "API_TOKEN", "value": TOKEN}]), ns)
    pod = wait_pod(cluster, ns, "shell", lambda p: "running" in ((p.get("status") or {}).get("containerStatuses") or [{}])[0].get("state", {}), "running")
    name = pod["metadata"]["name"]
    audit = tmp_path / "audit.jsonl"

    async with stdio_client(ops_env(cluster, ns, audit)) as client:  # not opted in: neither listed nor callable
        assert "exec_in_pod" not in {t.name for t in (await client.list_tools()).tools}
        assert (await client.call_tool("exec_in_pod", {"name": name, "command": ["id"], "confirm": True})).is_error
    async with stdio_client(ops_env(cluster, ns, audit, OPS_MCP_ALLOW_EXEC="true", OPS_MCP_READ_ONLY="true")) as client:
        assert "exec_in_pod" not in {t.name for t in (await client.list_tools()).tools}, "never in read-only mode"

    async with stdio_client(ops_env(cluster, ns, audit, OPS_MCP_ALLOW_EXEC="true")) as client:
        [tool] = [t for t in (await client.list_tools()).tools if t.name == "exec_in_pod"]
        assert tool.annotations.destructive_hint is True and tool.input_schema["properties"]["command"]["type"] == "array"

        # No confirmation and a client that cannot be asked: nothing runs.
        assert "needs the user's approval" in err(await client.call_tool("exec_in_pod", {"name": name, "command": ["id"]}))

        # A real process in the container: its uid, its exit code, stdout and stderr apart.
        run = ok(
            await client.call_tool(
                "exec_in_pod",
                {
                    "name": name,
                    "command": ["python3", "-c", "import os, sys; print(os.getuid()); print('to stderr', file=sys.stderr); sys.exit(4)"],
                    "confirm": True,
                },
            )
        )
        assert run["container"] == "app" and run["exit_code"] == 4 and run["stdout"].strip() == "10001" and run["stderr"].strip() == "to stderr", run

        # Its own literal credential is scrubbed from the output, and so is anything that looks like one.
        result = await client.call_tool(
            "exec_in_pod", {"name": name, "command": ["python3", "-c", "import os; print(os.environ['API_TOKEN'])"], "confirm": True}
        )
        run = ok(result)
        assert run["exit_code"] == 0 and TOKEN not in json.dumps(run) and TOKEN not in result.content[0].text, run

        # Bounded: a timeout closes the stream and says so; a missing binary is a clear error.
        run = ok(await client.call_tool("exec_in_pod", {"name": name, "command": ["sleep", "30"], "timeout_seconds": 2, "confirm": True}))
        assert run["timed_out"] is True and run.get("exit_code") is None and "wrap argv in `timeout`" in run["note"], run
        message = err(await client.call_tool("exec_in_pod", {"name": name, "command": ["no-such-binary"], "confirm": True}))
        assert "could not be run" in message and "argv[0]" in message, message
        assert "has no container 'db'" in err(await client.call_tool("exec_in_pod", {"name": name, "command": ["id"], "container": "db", "confirm": True}))

    records = [json.loads(line) for line in audit.read_text().splitlines()]
    execs = [r for r in records if r.get("tool") == "exec_in_pod"]
    assert len(execs) >= 5 and any(r.get("arguments", {}).get("command") == ["sleep", "30"] for r in execs), execs[-1]
    assert TOKEN not in audit.read_text()
