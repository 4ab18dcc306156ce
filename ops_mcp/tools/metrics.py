"""Metrics toolset (opt-in: --toolsets ...,metrics): top_pods and top_nodes from metrics.k8s.io (metrics-server).

Usage is shown beside what it is measured against (a pod's summed requests and limits, a node's allocatable), as
whole millicores and MiB, so a model sees the headroom without arithmetic. A cluster without metrics-server gets
a clear error saying so and how to install it.
"""

from typing import Annotated, Any, Literal

from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from ops_mcp import shaping
from ops_mcp.cluster import METRICS_API as METRICS
from ops_mcp.diagnosis.snapshot import millicores, quantity
from ops_mcp.errors import NotFound, OpsError
from ops_mcp.params import NamespaceArg
from ops_mcp.toolkit import Ops, OpsArg, tool

NOT_SERVED = OpsError(
    "metrics.k8s.io is not served in this cluster: no metrics-server is installed (or it is not ready yet).",
    "install metrics-server (Minikube: `minikube addons enable metrics-server`; elsewhere its release manifest), wait a minute for its first "
    "scrape, then retry.",
)


class TopRows(BaseModel):
    namespace: str | None = None
    rows: list[dict[str, Any]]
    window: str | None = None  # the metrics' sampling window (e.g. 15s)
    total: int


def mebibytes(value: Any) -> int:
    return int(quantity(value) / (1 << 20))


def percent(used: int, of: int) -> int | None:
    return round(100 * used / of) if of else None


def summed(pod: dict[str, Any], section: str, resource: str) -> int:
    """A pod's containers' requests or limits of one resource (cpu in millicores, memory in MiB); 0 when unset."""
    to = millicores if resource == "cpu" else mebibytes
    return sum(to(((c.get("resources") or {}).get(section) or {}).get(resource, 0)) for c in (pod.get("spec") or {}).get("containers") or [])


def pod_row(usage: dict[str, Any], pod: dict[str, Any] | None) -> dict[str, Any]:
    cpu = sum(millicores((c.get("usage") or {}).get("cpu", 0)) for c in usage.get("containers") or [])
    mem = sum(mebibytes((c.get("usage") or {}).get("memory", 0)) for c in usage.get("containers") or [])
    row: dict[str, Any] = {"name": usage["metadata"]["name"], "cpu_m": cpu, "mem_mi": mem}
    if pod is not None:
        for key, section, resource, used in (
            ("cpu_req%", "requests", "cpu", cpu),
            ("cpu_lim%", "limits", "cpu", cpu),
            ("mem_req%", "requests", "memory", mem),
            ("mem_lim%", "limits", "memory", mem),
        ):
            share = percent(used, summed(pod, section, resource))
            if share is not None:
                row[key] = share
    return row


def fetch(ops: Ops, path: str, resource: str, namespace: str | None, query: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        return ops.cluster.request("GET", path, query=query, verb="list", resource=resource, namespace=namespace)
    except NotFound:
        raise NOT_SERVED from None
    except OpsError as exc:
        if "ServiceUnavailable" in str(exc) or "503" in str(exc) or "the server is currently unable" in str(exc):
            raise NOT_SERVED from None
        raise


@tool(title="Pod CPU and memory", rbac=("list pods.metrics.k8s.io", "list pods"))
async def top_pods(
    ops: OpsArg,
    namespace: NamespaceArg = None,
    label_selector: str | None = None,
    sort_by: Literal["cpu", "memory"] = "cpu",
    limit: Annotated[int, Field(ge=1, le=500)] = 20,
) -> Annotated[CallToolResult, TopRows]:
    """Pods' CPU (millicores) and memory (MiB) now, with % of their requests and limits."""
    ns = ops.policy.namespace(namespace)
    query = {"labelSelector": label_selector}
    usage, pods = await ops.gather(
        lambda: ops.run(fetch, ops, f"{METRICS}/namespaces/{ns}/pods", "pods.metrics.k8s.io", ns, query),
        lambda: ops.run(ops.cluster.list_all, "pods", ns, label_selector=label_selector, max_items=2000),
    )
    by_name = {p["metadata"]["name"]: p for p in pods}
    rows = [pod_row(u, by_name.get(u["metadata"]["name"])) for u in usage.get("items") or []]
    rows.sort(key=lambda r: r["cpu_m" if sort_by == "cpu" else "mem_mi"], reverse=True)
    window = next((u.get("window") for u in usage.get("items") or []), None)
    out = TopRows(namespace=ns, rows=rows[:limit], window=window, total=len(rows))
    text = shaping.table(out.rows) if rows else f"No pod metrics in {ns} (pods started in the last minute have none yet)."
    return ops.result(out, text + (f"\n({len(rows) - limit} more)" if len(rows) > limit else ""))


@tool(title="Node CPU and memory", rbac=("list nodes.metrics.k8s.io", "list nodes"))
async def top_nodes(ops: OpsArg) -> Annotated[CallToolResult, TopRows]:
    """Nodes' CPU (millicores) and memory (MiB) now, with % of allocatable."""
    usage, nodes = await ops.gather(
        lambda: ops.run(fetch, ops, f"{METRICS}/nodes", "nodes.metrics.k8s.io", None),
        lambda: ops.run(ops.cluster.list_all, "nodes", None, max_items=2000),
    )
    allocatable = {n["metadata"]["name"]: (n.get("status") or {}).get("allocatable") or {} for n in nodes}
    rows = []
    for u in usage.get("items") or []:
        name = u["metadata"]["name"]
        cpu, mem = millicores((u.get("usage") or {}).get("cpu", 0)), mebibytes((u.get("usage") or {}).get("memory", 0))
        alloc = allocatable.get(name, {})
        row = {
            "name": name,
            "cpu_m": cpu,
            "cpu%": percent(cpu, millicores(alloc.get("cpu", 0))),
            "mem_mi": mem,
            "mem%": percent(mem, mebibytes(alloc.get("memory", 0))),
        }
        rows.append({k: v for k, v in row.items() if v is not None})
    rows.sort(key=lambda r: r["cpu_m"], reverse=True)
    missing = sorted(set(allocatable) - {r["name"] for r in rows})
    out = TopRows(rows=rows, window=next((u.get("window") for u in usage.get("items") or []), None), total=len(rows))
    text = shaping.table(rows) if rows else "No node metrics yet."
    if missing:
        text += f"\nNo metrics for {', '.join(missing[:10])} (not scraped yet, or its kubelet is unreachable)."
    return ops.result(out, text)
