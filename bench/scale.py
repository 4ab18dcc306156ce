#!/usr/bin/env python3
"""The scale envelope (issue 25 item 2): ops-mcp's read tools at 1k, 10k, 50k (100k) pods on KWOK nodes.

One test control plane (tests/cluster/harness.py) grows through the levels: bare pods bound to the KWOK nodes
(spec.nodeName: no scheduler) POSTed concurrently over a keep-alive client, a Deployment `api` with a tenth of the
pods (its template also bound to a node), and events (a fifth of the pods' count in the namespace, as many again
across ten other namespaces). At each level a fresh ops-mcp server (stdio, the SDK's MCP client) answers:
list pods (one page), describe a pod, get_events (namespace, and all namespaces), get_app_status, diagnose of the
namespace and of the Deployment. For each: response tokens (chars/4 of the text the model reads and of the
structured content), p50/p95 latency, and the p50 of the same API requests made by a plain HTTPS client with the
admin certificate (same server, same run; in parallel where the tool makes them in parallel); the server's peak
RSS (VmHWM) per level. get_pod_logs is left out: a KWOK pod's log is a file the bench writes (ops_scale.py covers it).

Usage: .venv/bin/python bench/scale.py [--pods 1000,10000,50000] [--runs 5] [--min-free-gib 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from ops_scale import NS, Raw, pods_manifest, rss_kib, server_pid  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
from cluster.harness import Cluster  # noqa: E402
from mcp import Client, StdioServerParameters  # noqa: E402

from ops_mcp.cluster import TABLE_ACCEPT  # noqa: E402
from ops_mcp.diagnosis.builder import LISTS, PAGE  # noqa: E402

EVENT_NAMESPACES = [f"ev-{i}" for i in range(10)]
WORKLOAD = "api"
REASONS = [
    ("Normal", "Scheduled", "Successfully assigned {ns}/{pod} to kwok-node-{n}"),
    ("Normal", "Pulled", 'Container image "registry.local/todo/backend:1.4.2" already present on machine'),
    ("Normal", "Created", "Created container: app"),
    ("Normal", "Started", "Started container app"),
    ("Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503"),
    ("Warning", "BackOff", 'Back-off pulling image "registry.local/proxy:{n}"'),
]


def free_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024 / 1024
    return float("nan")


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (with fewer than 20 runs, p95 is the slowest run)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class Writer:
    """Concurrent POSTs over the Raw client's keep-alive pool (urllib3, the admin certificate)."""

    def __init__(self, raw: Raw, threads: int = 8):
        self.raw, self.threads = raw, threads

    def post(self, path: str, body: dict) -> None:
        for attempt in range(5):
            resp = self.raw.rest.request(
                "POST", self.raw.server + path, headers={**self.raw.headers, "Content-Type": "application/json"}, body=body, _request_timeout=60
            )
            if resp.status in (200, 201, 409):  # 409: already there (a retried POST)
                return
            if resp.status not in (429, 500, 503, 504) or attempt == 4:
                raise RuntimeError(f"POST {path}: {resp.status} {resp.response.data[:200]!r}")
            time.sleep(0.5 * (attempt + 1))

    def post_all(self, items: list[tuple[str, dict]]) -> float:
        t = time.perf_counter()
        with ThreadPoolExecutor(self.threads) as pool:
            for _ in pool.map(lambda item: self.post(*item), items, chunksize=64):
                pass
        return time.perf_counter() - t


def event(ns: str, i: int, pod: str) -> dict:
    kind, reason, message = REASONS[i % len(REASONS)]
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{pod}.bench{i:06d}", "namespace": ns},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": pod, "namespace": ns},
        "type": kind,
        "reason": reason,
        "message": message.format(ns=ns, pod=pod, n=i % 2),
        "count": 1 + i % 7,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "source": {"component": "bench-scale"},
    }


def workload(replicas: int) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": WORKLOAD, "namespace": NS, "labels": {"app.kubernetes.io/instance": "todo-chatbot"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": WORKLOAD}},
            "template": {
                "metadata": {"labels": {"app": WORKLOAD, "app.kubernetes.io/instance": "todo-chatbot"}},
                "spec": {
                    "nodeName": "kwok-node-1",
                    "containers": [{"name": "api", "image": "registry.local/todo/api:2.0.1", "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}}}],
                },
            },
        },
    }


class Population:
    """What the cluster holds so far; grow() adds up to the next level."""

    def __init__(self, cluster: Cluster, raw: Raw, settle_s: float):
        self.cluster, self.raw, self.writer, self.settle_s = cluster, raw, Writer(raw), settle_s
        self.bare = self.events_ns = self.events_other = 0
        self.created_deploy = False

    def grow(self, pods: int) -> dict:
        replicas = pods // 10
        bare = pods - replicas
        t0 = time.perf_counter()
        manifest = pods_manifest(bare)[self.bare :]
        pod_s = self.writer.post_all([(f"/api/v1/namespaces/{NS}/pods", p) for p in manifest])
        self.bare = bare
        if not self.created_deploy:
            self.writer.post(f"/apis/apps/v1/namespaces/{NS}/deployments", workload(replicas))
            self.created_deploy = True
        else:
            self.cluster.kubectl("scale", "deployment", WORKLOAD, "-n", NS, f"--replicas={replicas}")
        # Events: pods/5 in the namespace (about the bare pods), as many again across ten namespaces.
        want = pods // 5
        evs = [(f"/api/v1/namespaces/{NS}/events", event(NS, i, f"web-{i % bare:04d}")) for i in range(self.events_ns, want)]
        evs += [(f"/api/v1/namespaces/{ns}/events", event(ns, i, f"job-{i:06d}")) for i in range(self.events_other, want) for ns in [EVENT_NAMESPACES[i % 10]]]
        ev_s = self.writer.post_all(evs)
        self.events_ns = self.events_other = want

        # Every pod Running (KWOK's controller marks them), the Deployment's included; from the watch cache (resourceVersion=0).
        def settled() -> bool:
            body = json.loads(
                self.raw.get(
                    f"/api/v1/namespaces/{NS}/pods", fieldSelector="status.phase%21%3DRunning", resourceVersion="0", accept=TABLE_ACCEPT, includeObject="None"
                )
            )
            table = json.loads(
                self.raw.get(f"/api/v1/namespaces/{NS}/pods", resourceVersion="0", accept=TABLE_ACCEPT, includeObject="None", labelSelector="app%3Dapi")
            )
            return not body["rows"] and len(table["rows"]) == replicas

        # Bounded: at ~100k pods KWOK's controller falls behind and the Deployment's pods may not all run for long;
        # the level is then measured as it stands, and the report says so.
        try:
            self.cluster.wait_for(settled, timeout=self.settle_s, interval=3, message=f"{pods} pods Running")
            running = round(time.perf_counter() - t0, 1)
        except TimeoutError:
            running = None
        return {
            "create_pods_s": round(pod_s, 1),
            "create_events_s": round(ev_s, 1),
            "events": 2 * want,
            "to_running_s": running,
            "not_settled": None if running is not None else f"not every pod Running within {self.settle_s:.0f} s: measured as it stood",
        }


def raw_cases(raw: Raw, pool: ThreadPoolExecutor) -> dict:
    """The same API requests each tool makes, by the plain client (one after the other, or at once where the tool does)."""
    ns_events = f"/api/v1/namespaces/{NS}/events"

    def pages(path: str, cap: int | None = None, **params) -> int:
        token, n, size = None, 0, 0
        while True:
            limit = min(PAGE, cap - n) if cap else PAGE
            body = raw.get(path, limit=limit, **params, **({"continue": token} if token else {}))
            size += len(body)
            page = json.loads(body)
            n += len(page.get("items") or page.get("rows") or [])  # a list, or a Table's rows
            token = page["metadata"].get("continue")
            if not token or (cap and n >= cap):
                return size

    def at_once(*calls) -> int:
        return sum(f.result() for f in [pool.submit(c) for c in calls])

    def diagnose(selector: str | None):
        calls = []
        for attr, kind in LISTS.items():
            path = kind.path(NS if kind.namespaced else None)
            calls.append(lambda path=path, sel=(selector if attr == "pods" else None): pages(path, **({"labelSelector": sel} if sel else {})))
        return lambda: at_once(*calls)

    return {
        "list pods (page)": lambda: len(raw.get(f"/api/v1/namespaces/{NS}/pods", accept=TABLE_ACCEPT, limit=100, includeObject="None")),
        "describe pod": lambda: at_once(
            lambda: len(raw.get(f"/api/v1/namespaces/{NS}/pods/web-0000")),
            lambda: len(raw.get(ns_events, fieldSelector="involvedObject.name%3Dweb-0000%2CinvolvedObject.kind%3DPod", limit=200)),
        ),
        "get_events (namespace)": lambda: pages(ns_events, cap=1000),
        "get_events (all namespaces)": lambda: pages("/api/v1/events", cap=1000),
        "get_app_status": lambda: at_once(
            lambda: pages(f"/apis/apps/v1/namespaces/{NS}/deployments"),
            lambda: pages(f"/apis/apps/v1/namespaces/{NS}/statefulsets"),
            lambda: pages(f"/api/v1/namespaces/{NS}/pods", accept=TABLE_ACCEPT, includeObject="None"),  # the Table, page by page
            lambda: pages(f"/api/v1/namespaces/{NS}/services"),
            lambda: pages(f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices"),
            lambda: pages(ns_events, cap=1000, fieldSelector="type%3DWarning"),
            lambda: len(raw.get(f"/api/v1/namespaces/{NS}/secrets", labelSelector="owner%3Dhelm")),
        ),
        "diagnose namespace": diagnose(None),
        "diagnose deployment": diagnose(f"app%3D{WORKLOAD}"),
    }


TOOL_CASES = {
    "list pods (page)": ("list_resources", {"kind": "pods"}),
    "describe pod": ("describe_resource", {"kind": "pod", "name": "web-0000"}),
    "get_events (namespace)": ("get_events", {}),
    "get_events (all namespaces)": ("get_events", {"all_namespaces": True}),
    "get_app_status": ("get_app_status", {}),
    "diagnose namespace": ("diagnose", {}),
    "diagnose deployment": ("diagnose", {"kind": "deployment", "name": WORKLOAD}),
}


def runs_for(first_s: float, runs: int, budget_s: float) -> int:
    """Fewer runs for a call that is slow at this level (at least 3; 1 when one call outlasts the budget)."""
    return 1 if first_s > budget_s else max(3, min(runs, int(budget_s / max(first_s, 1e-3))))


async def measure_level(cluster: Cluster, raw: Raw, work: Path, pods: int, runs: int, budget_s: float) -> dict:
    env = {k: v for k, v in cluster.env.items() if not k.startswith("OPS_MCP_")}
    env.update(
        OPS_MCP_KUBECONFIG=cluster.kubeconfig,
        OPS_MCP_NAMESPACE=NS,
        OPS_MCP_AUDIT_LOG=str(work / f"audit-{pods}.jsonl"),
        OPS_MCP_HELM_BINARY=str(cluster.bin_dir / "helm"),
    )
    params = StdioServerParameters(command=sys.executable, args=["-m", "ops_mcp.cli", "serve", "--transport", "stdio"], env=env, cwd=str(ROOT))
    rows = {}
    with ThreadPoolExecutor(8) as pool:
        baselines = raw_cases(raw, pool)
        async with Client(params, read_timeout_seconds=600) as client:
            await client.list_tools()
            pid = server_pid()
            for label, (tool, args) in TOOL_CASES.items():
                t = time.perf_counter()
                result = await client.call_tool(tool, args)  # warm-up, and the run count for this call
                first = time.perf_counter() - t
                n = runs_for(first, runs, budget_s)
                times = []
                for _ in range(n):
                    t = time.perf_counter()
                    result = await client.call_tool(tool, args)
                    times.append(time.perf_counter() - t)
                text = "".join(getattr(c, "text", "") for c in result.content)
                raw_times, raw_bytes = [], 0
                for _ in range(n):
                    t = time.perf_counter()
                    raw_bytes = baselines[label]()
                    raw_times.append(time.perf_counter() - t)
                row = {
                    "runs": n,
                    "text_tokens": len(text) // 4,
                    "structured_tokens": len(json.dumps(result.structured_content)) // 4 if result.structured_content else 0,
                    "p50_s": round(statistics.median(times), 4),
                    "p95_s": round(pct(times, 0.95), 4),
                    "raw_p50_s": round(statistics.median(raw_times), 4),
                    "raw_tokens": raw_bytes // 4,
                    "error": text[:200] if result.is_error else None,
                    "rss_peak_mib": round(rss_kib(pid, "VmHWM") / 1024, 1),
                }
                row["ratio"] = round(row["p50_s"] / row["raw_p50_s"], 2)
                rows[label] = row
                print(
                    f"  {pods:>7} {label:<28} {row['text_tokens']:>6} {row['structured_tokens']:>6} {row['p50_s']:>8.3f} {row['p95_s']:>8.3f} "
                    f"{row['raw_p50_s']:>8.3f} {row['ratio']:>6.2f} {row['rss_peak_mib']:>7.1f}  n={n}{'  ERROR ' + row['error'] if row['error'] else ''}",
                    file=sys.stderr,
                    flush=True,
                )
            rss = round(rss_kib(pid, "VmHWM") / 1024, 1)
    return {"calls": rows, "rss_peak_mib": rss}


def table(report: dict) -> str:
    out = ["| pods | call | text tok | struct tok | p50 | p95 | raw p50 | ratio | RSS peak MiB |", "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for level in report["levels"]:
        for label, r in level["calls"].items():
            out.append(
                f"| {level['pods']:,} | {label} | {r['text_tokens']:,} | {r['structured_tokens']:,} | {r['p50_s'] * 1000:,.0f} ms | {r['p95_s'] * 1000:,.0f} ms "
                f"| {r['raw_p50_s'] * 1000:,.0f} ms | {r['ratio']:.2f}x | {r['rss_peak_mib']:.0f} |"
            )
    return "\n".join(out)


async def run(args) -> dict:
    levels = sorted(int(p) for p in args.pods.split(","))
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    report: dict = {"commit": head, "cores": os.cpu_count(), "runs": args.runs, "levels": [], "stopped": None}
    work = Path(tempfile.mkdtemp(prefix="ops-scale-"))
    cluster = Cluster.create(work, name="scale")
    loads = []
    try:
        for ns in [NS, *EVENT_NAMESPACES]:
            cluster.kubectl("create", "namespace", ns)
        raw = Raw(cluster.kubeconfig, work)
        population = Population(cluster, raw, args.settle_minutes * 60)
        deadline = time.monotonic() + args.max_minutes * 60
        rate = None  # objects (pods and events) per second, as the last level grew
        for pods in levels:
            if free_gib() < args.min_free_gib:
                report["stopped"] = f"before {pods:,} pods: {free_gib():.1f} GiB available < {args.min_free_gib}"
                break
            have = population.bare + population.bare // 9 + 2 * population.events_ns
            eta = (pods * 1.4 - have) / rate if rate else 0.0  # pods and their 2 x pods/5 events
            if rate and time.monotonic() + 2 * eta > deadline:  # growing, then measuring (about as long)
                report["stopped"] = (
                    f"before {pods:,} pods: growing there would take ~{eta / 60:.0f} min at the {rate:.0f} objects/s measured "
                    f"(load average {os.getloadavg()[0]:.1f}), past --max-minutes {args.max_minutes}"
                )
                break
            print(f"growing to {pods:,} pods ({free_gib():.1f} GiB available)", file=sys.stderr, flush=True)
            t = time.monotonic()
            grown = population.grow(pods)
            rate = (pods * 1.4 - have) / (time.monotonic() - t)
            loads.append(os.getloadavg()[0])
            level = {"pods": pods, **grown, "mem_available_gib": round(free_gib(), 1)}
            level.update(await measure_level(cluster, raw, work, pods, args.runs, args.budget))
            loads.append(os.getloadavg()[0])
            report["levels"].append(level)
        report["load_avg_1m"] = [round(x, 1) for x in loads]
        report["targets"] = {"tokens": "flat past a page", "ratio_to_raw_le": 2.0, "rss_peak_mib_lt_at_100k": 300, "diagnose_10k_namespace_s_lt": 3.0}
        return report
    finally:
        cluster.delete()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", default="1000,10000,50000", help="levels, comma-separated (the cluster grows through them)")
    ap.add_argument("--runs", type=int, default=5, help="runs per call (fewer for a slow call: at least 3, 1 when one call outlasts --budget)")
    ap.add_argument("--budget", type=float, default=60.0, help="seconds of timed runs per call and level")
    ap.add_argument("--min-free-gib", type=float, default=4.0, help="stop growing when MemAvailable falls below this")
    ap.add_argument("--settle-minutes", type=float, default=15.0, help="wait at most this for every pod of a level to run, then measure it as it stands")
    ap.add_argument("--max-minutes", type=float, default=60.0, help="skip a level that would not be grown and measured within this")
    report = asyncio.run(run(ap.parse_args()))
    print(json.dumps(report, indent=2))
    print(table(report))
    for level in report["levels"]:
        if level.get("not_settled"):
            print(f"{level['pods']:,} pods: {level['not_settled']}")
    if report["stopped"]:
        print(f"stopped {report['stopped']}")


if __name__ == "__main__":
    main()
