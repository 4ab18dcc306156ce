"""MCP prompts (common flows) and resources (app status, a release's values)."""

from __future__ import annotations

import json
from typing import Any

import yaml

from ops_mcp.errors import OpsError
from ops_mcp.params import check_namespace, check_release
from ops_mcp.redact import redact_obj


def register(ops: Any) -> None:
    mcp = ops.mcp
    s = ops.settings

    @mcp.prompt(name="troubleshoot_app", title="Troubleshoot the app")
    def troubleshoot_app(namespace: str = "", release: str = "") -> str:
        """Find out why the Todo Chatbot (or a release) is unhealthy and propose a fix."""
        ns = namespace or s.namespace
        rel = release or s.release
        return (
            f"Troubleshoot Helm release {rel!r} in namespace {ns!r}.\n"
            f"1. Call get_app_status(namespace={ns!r}, release={rel!r}).\n"
            "2. For each failing workload call diagnose (or diagnose_crashloop for CrashLoopBackOff pods) if available; "
            "otherwise get_events(object_name=...) and get_pod_logs(..., previous=true for crashed containers, grep='error|exception').\n"
            "3. Report the root cause with its evidence (event, log line, exit code) in two or three sentences.\n"
            "4. Propose the smallest fix. Do not change anything until the user agrees; then use the matching tool "
            "(deploy_chart with corrected values, rollout_undo, rollback_release) and confirm with get_app_status."
        )

    @mcp.prompt(name="safe_scale", title="Scale safely")
    def safe_scale(name: str, replicas: str, namespace: str = "") -> str:
        """Scale a Deployment with checks before and after."""
        ns = namespace or s.namespace
        return (
            f"Scale Deployment {name!r} in namespace {ns!r} to {replicas} replicas, safely.\n"
            f"1. rollout_status(name={name!r}, namespace={ns!r}): do not scale during a failing rollout; report it instead.\n"
            f"2. If {replicas} is more than double the current replicas, ask the user to confirm first. "
            f"The server refuses values above its ceiling ({s.max_replicas}).\n"
            f"3. scale_deployment(name={name!r}, replicas={replicas}, namespace={ns!r}, wait=true).\n"
            "4. Report before/after and readiness; if pods fail to become ready, show get_events for them and suggest scaling back."
        )

    @mcp.resource("ops://app/status", name="app_status", title="App status", mime_type="application/json")
    async def app_status_resource() -> str:
        """get_app_status for the default namespace and release, as JSON."""
        result = await mcp.call_tool("get_app_status", {})
        return json.dumps(result.structured_content or {"error": result.content[0].text if result.content else "unknown"})

    @mcp.resource("ops://releases/{namespace}/{release}/values", name="release_values", title="Release values", mime_type="application/yaml")
    async def release_values_resource(namespace: str, release: str) -> str:
        """User-supplied values of a Helm release (secrets masked), as YAML."""
        from mcp.server.mcpserver.exceptions import ResourceError

        from ops_mcp.tools.releases import rendered_secrets

        try:
            ns, rel = ops.policy.namespace(check_namespace(namespace)), check_release(release)
            values = await ops.helm.get_values(rel, ns)
        except (OpsError, ValueError) as exc:
            raise ResourceError(str(exc)) from None
        secrets = await rendered_secrets(ops, rel, ns)  # what the release renders into Secrets, whatever the key is called
        return yaml.safe_dump(secrets.obj(redact_obj(values)), sort_keys=False)
