"""Benchmark `diagnose` on a namespace of 500 pods with 10 failing in 3 signatures (issue 4).

Measures, on its own test control plane (tests/cluster/harness.py):
- latency of `diagnose` (namespace target) through the MCP protocol (stdio server) and in-process, p50 of N runs,
  each also as a ratio to one raw GET of the namespace's pod list in the same run;
- response tokens (chars/4 of the structured content and of the text);
- API requests per diagnosis, for 50 and for 500 pods (must not grow with healthy pods beyond list pages);
- peak RSS (VmHWM) of the ops-mcp server process.
Targets: < 2 s, < 2,500 tokens, < 300 MiB.

    .venv/bin/python bench/diagnose_namespace.py [--pods 500] [--runs 5] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from cluster.harness import Cluster  # noqa: E402
from mcp import Client, StdioServerParameters  # noqa: E402

FAILING = 10   # 4 OOMKilled + 3 app errors (with logs) + 3 unschedulable


def deployment(name: str, replicas: int, *, kubelet: str | None = None, annotations=None, container=None,
               pod_spec=None) -> dict:
    labels = {"app": name}
    template_labels = {**labels, **({"kwok.todo-chatbot.test/kubelet": kubelet} if kubelet else {})}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": template_labels, "annotations": annotations or {}},
                                  "spec": {"containers": [container or {"name": "app", "image": "example/app:1"}],
                                           **(pod_spec or {})}}}}


def populate(cluster: Cluster, ns: str, pods: int) -> None:
    cluster.kubectl("create", "namespace", ns)
    healthy = pods - FAILING
    objs = []
    for i in range(0, healthy, 10):
        objs.append(deployment(f"svc-{i // 10:03d}", min(10, healthy - i)))
        objs.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"svc-{i // 10:03d}"},
                     "spec": {"selector": {"app": f"svc-{i // 10:03d}"}, "ports": [{"port": 80}]}})
    objs.append(deployment("api", 4, kubelet="crashloop", container={
        "name": "api", "image": "example/api:1", "resources": {"limits": {"memory": "64Mi"}}},
        annotations={"kwok.todo-chatbot.test/exit-code": "137", "kwok.todo-chatbot.test/reason": "OOMKilled"}))
    objs.append(deployment("worker", 3, kubelet="crashloop", container={"name": "worker", "image": "example/w:1"}))
    objs.append(deployment("gpu", 3, pod_spec={"nodeSelector": {"accelerator": "nvidia-h100"}}))
    cluster.apply(objs, ns)

    def settled() -> bool:
        out = json.loads(cluster.kubectl("get", "pods", "-n", ns, "-o", "json").stdout)["items"]
        ready = sum(1 for p in out if any(c["type"] == "Ready" and c["status"] == "True"
                                          for c in (p.get("status") or {}).get("conditions") or []))
        crashing = [p for p in out if p["metadata"]["labels"].get("app") == "worker" and
                    (p.get("status") or {}).get("containerStatuses")]
        return len(out) == pods and ready == healthy and len(crashing) == 3 and crashing
    crashing = cluster.wait_for(settled, timeout=600, interval=2, message=f"{pods} pods in {ns}")
    for pod in crashing:
        cluster.set_logs(ns, pod["metadata"]["name"], current=[], container="worker",
                         previous=["starting worker", "ERROR: config key QUEUE_URL is not set", "exiting"])


def add_nodes(cluster: Cluster, count: int) -> None:
    allocatable = {"cpu": "4", "memory": "8Gi", "pods": "110"}
    cluster.apply({"apiVersion": "v1", "kind": "List", "items": [{
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": f"bench-node-{i}", "annotations": {"kwok.x-k8s.io/node": "fake"},
                     "labels": {"type": "kwok", "kubernetes.io/os": "linux", "kubernetes.io/hostname": f"bench-node-{i}"}},
        "status": {"allocatable": allocatable, "capacity": allocatable}} for i in range(count)]})


def vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def server_pid() -> int:
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me and b"ops_mcp.cli" in cmd:
                return int(entry.name)
    raise RuntimeError("ops-mcp server process not found")


async def over_mcp(cluster: Cluster, ns: str, runs: int) -> dict:
    env = {k: v for k, v in cluster.env.items() if not k.startswith("OPS_MCP_")}
    env.update(OPS_MCP_KUBECONFIG=cluster.kubeconfig, OPS_MCP_NAMESPACE=ns,
               OPS_MCP_AUDIT_LOG=str(Path(tempfile.gettempdir()) / "bench-audit.jsonl"))
    params = StdioServerParameters(command=sys.executable, args=["-m", "ops_mcp.cli", "serve", "--transport", "stdio"],
                                   env=env, cwd=str(ROOT))
    times, result = [], None
    async with Client(params, read_timeout_seconds=120) as client:
        await client.call_tool("diagnose", {})              # warm-up: imports, client configuration
        for _ in range(runs):
            start = time.perf_counter()
            result = await client.call_tool("diagnose", {})
            times.append(time.perf_counter() - start)
        rss = vm_hwm_mib(server_pid())
    assert not result.is_error, result
    structured = result.structured_content
    text = "\n".join(c.text for c in result.content)
    return {"p50_s": statistics.median(times), "tokens_structured": len(json.dumps(structured)) / 4,
            "tokens_text": len(text) / 4, "rss_mib": rss, "report": structured}


def in_process(cluster: Cluster, ns: str, runs: int) -> dict:
    from ops_mcp.cluster import Cluster as Api
    from ops_mcp.diagnosis import Options, diagnose
    from ops_mcp.diagnosis.builder import build
    from ops_mcp.diagnosis import scrub
    from ops_mcp.settings import Settings

    api = Api(Settings(kubeconfig=cluster.kubeconfig))
    api.request("GET", f"/api/v1/namespaces/{ns}/pods")      # warm-up
    raw, diag, report = [], [], None
    for _ in range(runs):
        start = time.perf_counter()
        api.request("GET", f"/api/v1/namespaces/{ns}/pods")
        raw.append(time.perf_counter() - start)
        start = time.perf_counter()
        snap, scope = build(api, ns, None, None, Options())
        report = diagnose(snap, scope, Options(), scrub)
        diag.append(time.perf_counter() - start)
    return {"raw_get_p50_s": statistics.median(raw), "diagnose_p50_s": statistics.median(diag),
            "api_requests": report.limits.api_requests, "list_pages": snap.api_list_pages,
            "other_requests": snap.api_requests - snap.api_list_pages,
            "findings": [(f.mode, f.n) for f in report.findings]}


def start_cluster(attempts: int = 3) -> Cluster:
    """Cluster.create, retried: concurrent control planes on one host can race for a free port."""
    for attempt in range(1, attempts + 1):
        workdir = Path(tempfile.mkdtemp(prefix="bench-diagnose-"))
        try:
            return Cluster.create(workdir)
        except (TimeoutError, RuntimeError) as exc:
            _delete(workdir)
            if attempt == attempts:
                raise
            print(f"control plane did not start ({exc}); retrying", file=sys.stderr)
    raise AssertionError("unreachable")


def _delete(workdir: Path) -> None:
    from cluster.harness import toolchain_bin
    Cluster(workdir, "test", toolchain_bin()).delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=500)
    parser.add_argument("--small", type=int, default=50, help="pods in the comparison namespace")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="leave the cluster running")
    args = parser.parse_args()
    cluster = start_cluster()
    try:
        add_nodes(cluster, (args.pods + args.small) // 100 + 2)
        populate(cluster, "bench-small", args.small)
        populate(cluster, "bench", args.pods)
        small = in_process(cluster, "bench-small", args.runs)
        big = in_process(cluster, "bench", args.runs)
        mcp = anyio.run(over_mcp, cluster, "bench", args.runs)
        report = mcp.pop("report")
        rows = [
            ("pods in namespace", args.small, args.pods),
            ("API requests per diagnosis", small["api_requests"], big["api_requests"]),
            ("  of which list pages", small["list_pages"], big["list_pages"]),
            ("  of which GET/logs", small["other_requests"], f"{big['other_requests']}  (must not grow)"),
            ("raw GET pod list p50 (s)", f"{small['raw_get_p50_s']:.3f}", f"{big['raw_get_p50_s']:.3f}"),
            ("diagnose in-process p50 (s)", f"{small['diagnose_p50_s']:.3f}", f"{big['diagnose_p50_s']:.3f}"),
            ("  ratio to raw GET", f"{small['diagnose_p50_s'] / small['raw_get_p50_s']:.1f}x",
             f"{big['diagnose_p50_s'] / big['raw_get_p50_s']:.1f}x"),
            ("diagnose over MCP stdio p50 (s)", "", f"{mcp['p50_s']:.3f}  (target < 2)"),
            ("response tokens, structured", "", f"{mcp['tokens_structured']:.0f}  (target < 2500)"),
            ("response tokens, text", "", f"{mcp['tokens_text']:.0f}"),
            ("server peak RSS (MiB)", "", f"{mcp['rss_mib']:.0f}  (target < 300)"),
        ]
        width = max(len(r[0]) for r in rows)
        for label, a, b in rows:
            print(f"{label:<{width}}  {str(a):>10}  {b}")
        print("findings:", big["findings"])
        print("verdict:", report["verdict"], "| summary:", report["summary"][:300])
        print(json.dumps({"small": small, "big": big, "mcp": mcp}, default=str))
        ok = mcp["p50_s"] < 2 and mcp["tokens_structured"] < 2500 and mcp["rss_mib"] < 300 and \
            big["other_requests"] == small["other_requests"]
        print("targets met" if ok else "TARGETS MISSED")
    finally:
        if args.keep:
            print(f"cluster kept: KUBECONFIG={cluster.kubeconfig}")
        else:
            cluster.delete()


if __name__ == "__main__":
    main()
