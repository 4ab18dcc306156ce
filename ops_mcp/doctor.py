"""`ops-mcp doctor`: cluster reachability, RBAC for each tool, helm, audit log; prints a table."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from ops_mcp.settings import Settings


def run_doctor(settings: Settings, transport: str = "stdio") -> int:
    from ops_mcp import shaping
    from ops_mcp.errors import OpsError
    from ops_mcp.helm import check_version, parse_version
    from ops_mcp.server import build_server

    rows: list[dict[str, Any]] = []
    ok = True

    def add(check: str, passed: bool, detail: str) -> None:
        nonlocal ok
        ok = ok and passed
        rows.append({"check": check, "ok": "yes" if passed else "NO", "detail": detail})

    mcp = build_server(settings, transport=transport)
    ops = mcp.ops  # type: ignore[attr-defined]
    mode = "read-only" if settings.read_only else ("no-destructive" if settings.disable_destructive else "read-write")
    add("config", True, f"namespace={settings.namespace} allowlist={','.join(settings.namespaces) or '(any)'} mode={mode} max_replicas={settings.max_replicas}")
    if not settings.read_only:
        from ops_mcp import guard

        add("consent", True, f"{ops.consent_mode} (OPS_MCP_CONSENT={settings.consent}; risky writes: deletes, rollbacks, scale to 0, new images or commands)")
        for row in guard.describe(settings):
            add(f"policy {row['rule']}", True, f"{row['state']}: refuses {row['refuses']}")
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
            needs = ops.rbac.get(tool, [])  # declared beside each tool (@tool(rbac=...))
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
        version = parse_version(helm_version)
        check_version(version, helm_version)
        flags = "--rollback-on-failure" if version[0] >= 4 else "--atomic"
        add("helm", True, f"{ops.helm.binary} {helm_version} (helm {version[0]}: rollback with {flags})")
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
