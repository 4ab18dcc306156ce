"""`ops-mcp doctor`: cluster reachability, RBAC for each tool, helm, audit log; prints a table."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from ops_mcp.settings import Settings

# What each tool needs (verb, resource[/subresource]) in the namespace it acts on.
TOOL_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    "get_app_status": [("list", "deployments.apps"), ("list", "statefulsets.apps"), ("list", "pods"), ("list", "services"),
                       ("list", "endpointslices.discovery.k8s.io"), ("list", "events"), ("list", "secrets")],
    "list_resources": [("list", "pods"), ("list", "deployments.apps")],
    "describe_resource": [("get", "pods"), ("list", "events")],
    "get_events": [("list", "events")],
    "get_pod_logs": [("get", "pods"), ("list", "pods"), ("get", "pods/log")],
    "scale_deployment": [("get", "deployments.apps/scale"), ("patch", "deployments.apps/scale"), ("list", "horizontalpodautoscalers.autoscaling")],
    "rollout_status": [("get", "deployments.apps")],
    "rollout_restart": [("patch", "deployments.apps")],
    "rollout_undo": [("patch", "deployments.apps"), ("list", "replicasets.apps")],
    "deploy_chart": [("create", "secrets"), ("update", "secrets"), ("create", "deployments.apps"), ("patch", "deployments.apps"), ("create", "services")],
    "list_releases": [("list", "secrets")],
    "release_history": [("list", "secrets")],
    "get_release_values": [("get", "secrets"), ("list", "secrets")],
    "rollback_release": [("update", "secrets"), ("patch", "deployments.apps")],
    "uninstall_release": [("delete", "secrets"), ("delete", "deployments.apps")],
    "diagnose_crashloop": [("get", "pods"), ("list", "pods"), ("list", "events"), ("get", "pods/log")],
    "diagnose": [("get", "deployments.apps"), ("list", "pods"), ("list", "replicasets.apps"), ("list", "events"), ("list", "endpointslices.discovery.k8s.io")],
}


def run_doctor(settings: Settings) -> int:
    from ops_mcp import shaping
    from ops_mcp.errors import OpsError
    from ops_mcp.server import build_server

    rows: list[dict[str, Any]] = []
    ok = True

    def add(check: str, passed: bool, detail: str) -> None:
        nonlocal ok
        ok = ok and passed
        rows.append({"check": check, "ok": "yes" if passed else "NO", "detail": detail})

    mcp = build_server(settings)
    ops = mcp.ops  # type: ignore[attr-defined]
    mode = "read-only" if settings.read_only else ("no-destructive" if settings.disable_destructive else "read-write")
    add("config", True, f"namespace={settings.namespace} allowlist={','.join(settings.namespaces) or '(any)'} mode={mode} max_replicas={settings.max_replicas}")
    namespaces = settings.namespaces or [settings.namespace]
    reachable = False
    try:
        version = ops.cluster.version()
        reachable = True
        add("cluster", True, f"{ops.cluster.describe_target()}, Kubernetes {version.get('gitVersion')}")
    except OpsError as exc:
        add("cluster", False, str(exc))
    if reachable:
        for tool in ops.kinds:
            needs = TOOL_PERMISSIONS.get(tool, [])
            missing = []
            for ns in namespaces:
                for verb, res in needs:
                    resource, _, sub = res.partition("/")
                    try:
                        if not ops.cluster.can_i(verb, resource, ns, sub or None):
                            missing.append(f"{verb} {res} in {ns}")
                    except OpsError as exc:
                        missing.append(f"{verb} {res}: {exc}")
            add(f"rbac {tool}", not missing, "missing: " + "; ".join(missing) if missing else f"{len(needs)} permission(s)")
    try:
        helm_version = asyncio.run(ops.helm.version())
        add("helm", True, f"{ops.helm.binary} {helm_version}")
    except OpsError as exc:
        add("helm", False, str(exc))
    try:
        ops.audit.check_writable()
        add("audit log", True, str(ops.audit.path))
    except OpsError as exc:
        add("audit log", settings.read_only, str(exc))
    print(shaping.table(rows, ["check", "ok", "detail"]))
    print("\nall checks passed" if ok else "\nsome checks failed (see NO rows)", file=sys.stderr)
    return 0 if ok else 1
