#!/usr/bin/env python3
"""ops-mcp on a namespace of 1,000 pods (the real test control plane, started here and deleted after).

For list pods (one page), describe pod, pod logs and app status, through the SDK's MCP client over stdio:
- p50 latency, and the ratio to one raw HTTP GET of the same data (same run, same API server);
- response tokens (chars/4) of what the model reads (text) and of the structured content, vs the raw GET;
- the server's RSS: idle, and peak after paging through all 1,000 pods and tailing a 50 MB log.

Usage: .venv/bin/python bench/ops_scale.py [--pods 1000] [--runs 21]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from cluster.harness import Cluster  # noqa: E402
from mcp import Client, StdioServerParameters  # noqa: E402

NS = "bench"


def pods_manifest(n: int) -> list[dict]:
    items = []
    for i in range(n):
        items.append({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"web-{i:04d}", "namespace": NS,
                         "labels": {"app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "todo-chatbot", "shard": str(i % 10)},
                         "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090"}},
            "spec": {"nodeName": f"kwok-node-{i % 2}", "containers": [
                {"name": "app", "image": "registry.local/todo/backend:1.4.2", "ports": [{"containerPort": 8000}],
                 "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}],
                 "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "256Mi"}},
                 "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8000}}},
                {"name": "sidecar", "image": "registry.local/proxy:2", "args": ["--port=9090"]}]},
        })
    return items


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def server_pid() -> int:
    me = os.getpid()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmd = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and b"ops_mcp.cli" in cmd:
            return int(proc.name)
    raise RuntimeError("ops-mcp server process not found")


class Raw:
    """One plain HTTPS GET with the admin client certificate: the baseline."""

    def __init__(self, kubeconfig: str, tmp: Path):
        from kubernetes import client, config

        cfg = client.Configuration()
        config.load_kube_config(config_file=kubeconfig, client_configuration=cfg, persist_config=False)
        self.server = cfg.host
        self.headers = {"Accept": "application/json"}
        if cfg.api_key.get("authorization"):
            self.headers["Authorization"] = cfg.api_key["authorization"]
        self.rest = client.rest.RESTClientObject(cfg)  # urllib3 with the kubeconfig's TLS client certificate

    def get(self, path: str, accept: str | None = None, **params) -> str:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        headers = {**self.headers, **({"Accept": accept} if accept else {})}
        resp = self.rest.request("GET", self.server + path + (f"?{query}" if query else ""), headers=headers, _request_timeout=60)
        body = resp.response.data
        if resp.status != 200:
            raise RuntimeError(f"raw GET {path}: {resp.status} {body[:200]!r}")
        return body.decode()


def p50(values: list[float]) -> float:
    return statistics.median(values)


async def measure(client: Client, tool: str, args: dict, runs: int) -> tuple[float, dict]:
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = await client.call_tool(tool, args)
        times.append(time.perf_counter() - t)
        if result.is_error:
            raise RuntimeError(f"{tool}: {result.content[0].text}")
    text = "".join(c.text for c in result.content)
    return p50(times), {"text_tokens": len(text) // 4, "structured_tokens": len(json.dumps(result.structured_content)) // 4}


def raw_p50(fn, runs: int) -> tuple[float, int]:
    times, body = [], ""
    for _ in range(runs):
        t = time.perf_counter()
        body = fn()
        times.append(time.perf_counter() - t)
    return p50(times), len(body) // 4


async def run(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="ops-bench-"))
    cluster = Cluster.create(work)
    try:
        cluster.kubectl("create", "namespace", NS)
        manifest = pods_manifest(args.pods)
        for i in range(0, len(manifest), 250):
            cluster.apply({"apiVersion": "v1", "kind": "List", "items": manifest[i:i + 250]})
        cluster.apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": NS, "labels": {"app.kubernetes.io/instance": "todo-chatbot"}},
                       "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "api"}},
                                "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [{"name": "app", "image": "registry.local/api:1"}]}}}})
        cluster.wait_for(lambda: cluster.kubectl("get", "pods", "-n", NS, "--field-selector=status.phase=Running", "-o", "name").stdout.count("\n") >= args.pods, 600, interval=2, message="pods running")
        # A 50 MB log on one pod, a normal one on another.
        big_line = "INFO request handled path=/api/tasks status=200 duration_ms=12 user=4711 " + "x" * 120
        cluster.set_logs(NS, "web-0001", [big_line] * (50 * 1024 * 1024 // (len(big_line) + 40)))
        cluster.set_logs(NS, "web-0000", [f"INFO request {i} handled status=200" for i in range(1000)])

        raw = Raw(cluster.kubeconfig, work)
        env = {k: v for k, v in cluster.env.items() if not k.startswith("OPS_MCP_")}
        env.update(OPS_MCP_KUBECONFIG=cluster.kubeconfig, OPS_MCP_NAMESPACE=NS, OPS_MCP_AUDIT_LOG=str(work / "audit.jsonl"),
                   OPS_MCP_HELM_BINARY=str(cluster.bin_dir / "helm"))
        params = StdioServerParameters(command=sys.executable, args=["-m", "ops_mcp.cli", "serve", "--transport", "stdio"], env=env, cwd=str(ROOT))
        report: dict = {"pods": args.pods, "runs": args.runs}
        async with Client(params, read_timeout_seconds=300) as client:
            await client.list_tools()
            pid = server_pid()
            report["rss_idle_mib"] = round(rss_kib(pid, "VmRSS") / 1024, 1)
            report["rss_idle_peak_mib"] = round(rss_kib(pid, "VmHWM") / 1024, 1)
            # The floor: a call the server rejects at argument validation (no Kubernetes API call).
            floor = []
            for _ in range(args.runs):
                t = time.perf_counter()
                await client.call_tool("rollout_status", {"name": "Not_A_Name"})
                floor.append(time.perf_counter() - t)
            report["mcp_round_trip_floor_p50_s"] = round(p50(floor), 4)
            cases = {
                "list_pods_page": ("list_resources", {"kind": "pods"}, lambda: raw.get(f"/api/v1/namespaces/{NS}/pods", limit=100)),
                "describe_pod": ("describe_resource", {"kind": "pod", "name": "web-0000"}, lambda: raw.get(f"/api/v1/namespaces/{NS}/pods/web-0000")),
                # The same data as the raw GET: one container's tail (the tool also reads the pod, for its secret env values).
                "pod_logs": ("get_pod_logs", {"name": "web-0000", "container": "app"}, lambda: raw.get(f"/api/v1/namespaces/{NS}/pods/web-0000/log", container="app", tailLines=100)),
                "app_status": ("get_app_status", {}, lambda: raw.get(f"/api/v1/namespaces/{NS}/pods")),
            }
            for label, (tool, targs, baseline) in cases.items():
                raw_t, raw_tokens = raw_p50(baseline, args.runs)
                t, tokens = await measure(client, tool, targs, args.runs)
                report[label] = {"p50_s": round(t, 4), "raw_get_p50_s": round(raw_t, 4), "ratio_to_raw": round(t / raw_t, 2),
                                 **tokens, "raw_get_tokens": raw_tokens}
            # describe answers with the object and its events: two GETs for a plain client too,
            # one after the other or (as the tool does) at once.
            events = f"/api/v1/namespaces/{NS}/events"
            get_object = lambda: raw.get(f"/api/v1/namespaces/{NS}/pods/web-0000")  # noqa: E731
            get_events = lambda: raw.get(events, fieldSelector="involvedObject.name%3Dweb-0000%2CinvolvedObject.kind%3DPod")  # noqa: E731
            both_t, _ = raw_p50(lambda: (get_object(), get_events()), args.runs)
            with ThreadPoolExecutor(2) as pool:
                parallel_t, _ = raw_p50(lambda: [f.result() for f in (pool.submit(get_object), pool.submit(get_events))], args.runs)
            t = report["describe_pod"]["p50_s"]
            report["describe_pod"].update(raw_object_and_events_p50_s=round(both_t, 4), ratio_to_raw_object_and_events=round(t / both_t, 2),
                                          raw_object_and_events_parallel_p50_s=round(parallel_t, 4), ratio_to_raw_parallel=round(t / parallel_t, 2))
            # Helm reads run the helm binary (a process per call): against the GET of the release's storage Secrets.
            cluster.helm("install", "demo", str(ROOT / "tests" / "ops" / "charts" / "demo"), "--namespace", NS)
            release_secrets = lambda: raw.get(f"/api/v1/namespaces/{NS}/secrets", labelSelector="owner%3Dhelm%2Cname%3Ddemo")  # noqa: E731
            for label, (tool, targs) in {"list_releases": ("list_releases", {}), "release_history": ("release_history", {"release": "demo"}),
                                         "release_values": ("get_release_values", {"release": "demo"})}.items():
                raw_t, _ = raw_p50(release_secrets, args.runs)
                t, tokens = await measure(client, tool, targs, args.runs)
                report[label] = {"p50_s": round(t, 4), "raw_get_p50_s": round(raw_t, 4), "ratio_to_raw": round(t / raw_t, 2), **tokens}
            # The default call reads every container (two here): reported, its baseline is still one log GET.
            t, tokens = await measure(client, "get_pod_logs", {"name": "web-0000"}, args.runs)
            report["pod_logs_all_containers"] = {"p50_s": round(t, 4), **tokens}
            # Page through every pod, then tail the 50 MB log: peak RSS must stay flat.
            t = time.perf_counter()
            token, rows = None, 0
            while True:
                res = await client.call_tool("list_resources", {"kind": "pods", "limit": 500, **({"continue_token": token} if token else {})})
                rows += len(res.structured_content["rows"])
                token = res.structured_content.get("continue_token")
                if not token:
                    break
            report["list_all_pods"] = {"rows": rows, "seconds": round(time.perf_counter() - t, 3)}
            t = time.perf_counter()
            big = await client.call_tool("get_pod_logs", {"name": "web-0001", "tail_lines": 5000})
            report["log_50mb_tail_5000"] = {"seconds": round(time.perf_counter() - t, 3), "text_tokens": len(big.content[0].text) // 4,
                                            "truncated": big.structured_content["logs"][0]["truncated"]}
            report["rss_peak_after_1000_pods_and_50mb_log_mib"] = round(rss_kib(pid, "VmHWM") / 1024, 1)
        report["targets"] = {"page_tokens_lt": 10000, "read_ratio_lt": 3.0, "idle_rss_mib_lt": 120, "peak_rss_mib_lt": 300}
        return report
    finally:
        cluster.delete()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=21)
    print(json.dumps(asyncio.run(run(ap.parse_args())), indent=2))


if __name__ == "__main__":
    main()
