"""The attack suite (issue 23): every attempt of tests/security/attacks.py through MCP against the real control plane,
with writes on and confirm=true wherever a tool takes it. Each must be refused with nothing in the namespace changed
and no seeded secret value in anything the client receives or the audit log keeps. KWOK nodes are enough: every
refusal happens before anything is applied, so no pod has to run."""

from __future__ import annotations

import json
from itertools import groupby
from pathlib import Path
from typing import Any

import pytest
from ops.ops_helpers import everything, ops_env, stdio_client, text_of

from security.attacks import LEAK_FORMS, PROTECTED, Attack, attacks, seed

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]

WATCHED = "secrets,configmaps,deployments,daemonsets,jobs,cronjobs,services,roles,rolebindings,networkpolicies,horizontalpodautoscalers,ingresses,serviceaccounts,pods"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def state(cluster: Any, namespace: str) -> dict[str, Any]:
    """What the namespace holds, as content (status and server bookkeeping left out: KWOK updates those on its own)."""
    out = {}
    for obj in cluster.kubectl_json("get", WATCHED, "-n", namespace)["items"]:
        meta = obj["metadata"]
        key = f"{obj['kind']}/{meta['name']}"
        if obj["kind"] == "Pod":
            out[key] = meta.get("ownerReferences", [{}])[0].get("kind")  # only that it exists, and whose it is
            continue
        keep = {k: v for k, v in obj.items() if k not in ("status", "metadata")}
        out[key] = {**keep, "labels": meta.get("labels"), "annotations": meta.get("annotations")}
    return out


def server_env(cluster: Any, namespace: str, audit: Path, extra: dict[str, str]) -> dict[str, str]:
    return ops_env(cluster, namespace, audit, OPS_MCP_NAMESPACES=namespace, OPS_MCP_PROTECTED_OBJECTS=PROTECTED, **extra)


async def test_every_attack_is_refused_with_nothing_changed_and_nothing_leaked(cluster: Any, namespace: str, tmp_path: Path) -> None:
    cluster.apply(seed(namespace), namespace)
    cluster.wait_for(lambda: cluster.kubectl("get", "pods", "-n", namespace, "-o", "name").stdout.count("pod/") >= 2, timeout=60, message="the seeded pods")
    before = state(cluster, namespace)
    audit = tmp_path / "audit.jsonl"
    rows: list[tuple[Attack, bool, bool, list[str], str]] = []
    ordered = sorted(attacks(namespace), key=lambda a: sorted(a.env.items()))
    for env, group in groupby(ordered, key=lambda a: tuple(sorted(a.env.items()))):
        async with stdio_client(server_env(cluster, namespace, audit, dict(env))) as client:
            schemas = {t.name: t.input_schema for t in (await client.list_tools()).tools}
            for attack in group:
                confirm = {"confirm": True} if "confirm" in (schemas[attack.tool].get("properties") or {}) else {}
                result = await client.call_tool(attack.tool, {**attack.args, **confirm})
                seen = everything(result)
                after = state(cluster, namespace)
                changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
                leaked = [v for v in LEAK_FORMS if v in seen]
                rows.append((attack, bool(result.is_error) and attack.expect in text_of(result), bool(changed), leaked, text_of(result)[:300]))
                before = after  # one attack's change must not hide the next one's
    records = audit.read_text() if audit.exists() else ""
    audit_leaks = [v for v in LEAK_FORMS if v in records]
    table = ["| class | attempt | refused | changed | leaked |", "|---|---|---|---|---|"]
    table += [f"| {a.cls} | {a.name} | {'yes' if r else 'NO'} | {'YES' if c else 'no'} | {len(lk)} |" for a, r, c, lk, _ in rows]
    print("\n".join(table))
    classes = {}
    for a, r, c, lk, _ in rows:
        n = classes.setdefault(a.cls, [0, 0, 0, 0])
        n[0] += 1
        n[1] += r
        n[2] += c
        n[3] += bool(lk)
    print("\n".join(f"{cls}: {n[0]} attempts, {n[1]} refused, {n[2]} changed something, {n[3]} leaked" for cls, n in classes.items()))
    failures = [f"{a.cls} / {a.name}: refused={r} changed={c} leaked={lk}: {text}" for a, r, c, lk, text in rows if not r or c or lk]
    assert len(rows) >= 30
    assert not failures, "\n".join(failures)
    assert not audit_leaks, f"the audit log holds {audit_leaks}"
    tools_refused = [json.loads(line) for line in records.splitlines()]
    assert tools_refused and all("result" not in r and "detail" not in r for r in tools_refused), "the audit record keeps no tool output"
    assert any(r.get("refused_by") == ["rbac"] for r in tools_refused), "a refusal is audited with its rule"
