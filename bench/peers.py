#!/usr/bin/env python3
"""ops-mcp against the leading Kubernetes MCP servers, side by side on one test cluster in one run.

The peers (pinned in bench/peers/, installed on first use into ~/.cache/todo-chatbot/peers):
- containers/kubernetes-mcp-server (npm `kubernetes-mcp-server`, a Go binary),
- Flux159/mcp-server-kubernetes (npm `mcp-server-kubernetes`, Node.js over kubectl),
- kubectl-mcp-server (PyPI `kubectl-mcp-server`, Python),
each in its default configuration, over stdio, through the MCP SDK's client (the same client for all).

The cluster (tests/cluster/harness.py): a real control plane and a real node. 1,000 pods on KWOK nodes
(namespace `bench`); a Deployment crash-looping for real on the real node (the backend image, namespace
`crash`, beside 20 healthy pods: 120 lines of start-up log, then a Python traceback naming the cause); Secrets of random values created with `kubectl apply` (namespace `vault`,
so the values are in the last-applied annotation too, as on real clusters).

Per server: start to tools/list (p50), tools/list tokens (name + description + inputSchema of every tool,
chars/4), then per task the tokens of every response the model reads (text content, chars/4; ops-mcp's
structured content is reported beside it):
- list_pods: list the 1,000-pod namespace (the rows returned; ops-mcp pages, so its every-page total too);
- describe: the crash-looping pod with its events (p50 over --runs; the Go server needs `pods_get` and
  `events_list` for that, timed as the pair);
- previous_logs: the crashed container's previous run (each server's default length);
- crashloop: a fixed minimal call plan per server to the root cause (the error line the container printed),
  stopped as soon as the line has appeared; the calls, tokens and whether it was found;
- secrets: the server's read tools on the seeded Secrets (list, get, describe, as JSON/YAML where offered);
  the number of seeded values found in any output, raw or base64-encoded.

Targets (issue 15): every task at most half the best peer's tokens; describe with events at or below the Go
server's `pods_get` + `events_list` p50.

    .venv/bin/python bench/peers.py [--pods 1000] [--runs 21] [--starts 5] [--json out.json]

Needs the toolchain and the images (make setup) and the machine's real-node slot (no `make up` cluster or
real-node test session running); npm and pip reach their registries on the first run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from cluster import deploy  # noqa: E402
from cluster.harness import Cluster, cache_dir  # noqa: E402
from cluster.node import NODE_NAME  # noqa: E402
from mcp import Client, StdioServerParameters  # noqa: E402
from ops_scale import pods_manifest  # noqa: E402

PINS = ROOT / "bench" / "peers"
MARKER = "DATABASE_URL is not set"  # the crash loop's root cause, as the container prints it
# A web app's start: 120 lines of start-up log, then a real traceback whose last line is the root cause. The
# line is put together at run time, so the pod's spec (its command) does not hold it: only the logs do.
CRASH = textwrap.dedent("""
    import logging, os
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    log = logging.getLogger("todo.api")
    log.info("todo-api 1.4.2 starting (python 3.11, 2 workers)")
    for i in range(40):
        log.info("registered route GET /api/v1/resource%d/{id} -> handlers.resource%d.get", i, i)
        log.info("registered route POST /api/v1/resource%d -> handlers.resource%d.create", i, i)
        log.info("loaded migration %04d_resource%d.sql (checksum ok)", i, i)
    def database_url():
        name = "_".join(["DATABASE", "URL"])
        if not os.environ.get(name):
            raise RuntimeError(name + " is not set; refusing to start")
    def load_settings():
        log.info("loading settings from the environment")
        database_url()
    load_settings()
""")


# ---- the peers --------------------------------------------------------------------------------------------------


def install_peers() -> Path:
    """The pinned peers in ~/.cache/todo-chatbot/peers (npm from bench/peers/package-lock.json, a venv for PyPI)."""
    home = cache_dir() / "peers"
    npm = home / "npm"
    stamp = (PINS / "package-lock.json").read_text() + (PINS / "requirements.txt").read_text()
    if (home / "installed").is_file() and (home / "installed").read_text() == stamp:
        return home
    npm.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy(PINS / name, npm / name)
    # `npm ci` rejects a lock whose optional per-platform packages were resolved on one platform (npm 11);
    # `npm install` on an up-to-date lock installs exactly what it pins.
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=npm, check=True, stdout=subprocess.DEVNULL)
    if not (home / "venv" / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(home / "venv")], check=True)
    subprocess.run([str(home / "venv" / "bin" / "pip"), "install", "-q", "-r", str(PINS / "requirements.txt")], check=True)
    (home / "installed").write_text(stamp)
    return home


@dataclass
class Server:
    name: str
    argv: list[str]
    env: dict[str, str]
    plans: dict[str, Callable[[dict[str, Any]], list[tuple[str, dict[str, Any]]]]] = field(default_factory=dict)
    describe_pair: bool = False  # describe with events takes two calls (timed as the pair)

    def params(self) -> StdioServerParameters:
        return StdioServerParameters(command=self.argv[0], args=self.argv[1:], env=self.env, cwd=str(ROOT))


def servers(cluster: Cluster, peers: Path, work: Path) -> list[Server]:
    env = dict(cluster.env)  # KUBECONFIG and PATH with the pinned kubectl and helm
    npm_bin = peers / "npm" / "node_modules" / ".bin"
    ours_env = {k: v for k, v in env.items() if not k.startswith("OPS_MCP_")}
    ours_env.update(OPS_MCP_KUBECONFIG=cluster.kubeconfig, OPS_MCP_AUDIT_LOG=str(work / "audit.jsonl"), OPS_MCP_HELM_BINARY=str(cluster.bin_dir / "helm"))
    return [
        Server(
            "ops-mcp",
            [sys.executable, "-m", "ops_mcp.cli", "serve", "--transport", "stdio"],
            ours_env,
            {
                "list_pods": lambda c: [("list_resources", {"kind": "pods", "namespace": "bench"})],
                "describe": lambda c: [("describe_resource", {"kind": "pod", "name": c["pod"], "namespace": "crash"})],
                "previous_logs": lambda c: [("get_pod_logs", {"name": c["pod"], "namespace": "crash", "previous": True})],
                "crashloop": lambda c: [("diagnose_crashloop", {"namespace": "crash"})],
                "secrets": lambda c: (
                    [("list_resources", {"kind": "secrets", "namespace": "vault"})]
                    + [("describe_resource", {"kind": "secret", "name": s, "namespace": "vault"}) for s in c["secrets"]]
                ),
            },
        ),
        Server(
            "kubernetes-mcp-server",
            [str(npm_bin / "kubernetes-mcp-server"), "--kubeconfig", cluster.kubeconfig],
            env,
            {
                "list_pods": lambda c: [("pods_list_in_namespace", {"namespace": "bench"})],
                "describe": lambda c: [("pods_get", {"namespace": "crash", "name": c["pod"]}), ("events_list", {"namespace": "crash"})],
                "previous_logs": lambda c: [("pods_log", {"namespace": "crash", "name": c["pod"], "previous": True})],
                "crashloop": lambda c: [
                    ("pods_list_in_namespace", {"namespace": "crash"}),
                    ("pods_get", {"namespace": "crash", "name": c["pod"]}),
                    ("pods_log", {"namespace": "crash", "name": c["pod"], "previous": True}),
                ],
                "secrets": lambda c: (
                    [("resources_list", {"apiVersion": "v1", "kind": "Secret", "namespace": "vault"})]
                    + [("resources_get", {"apiVersion": "v1", "kind": "Secret", "namespace": "vault", "name": s}) for s in c["secrets"]]
                ),
            },
            describe_pair=True,
        ),
        Server(
            "mcp-server-kubernetes",
            [str(npm_bin / "mcp-server-kubernetes")],
            env,
            {
                "list_pods": lambda c: [("kubectl_get", {"resourceType": "pods", "namespace": "bench"})],
                "describe": lambda c: [("kubectl_describe", {"resourceType": "pod", "name": c["pod"], "namespace": "crash"})],
                "previous_logs": lambda c: [("kubectl_logs", {"resourceType": "pod", "name": c["pod"], "namespace": "crash", "previous": True})],
                "crashloop": lambda c: [
                    ("kubectl_get", {"resourceType": "pods", "namespace": "crash"}),
                    ("kubectl_describe", {"resourceType": "pod", "name": c["pod"], "namespace": "crash"}),
                    ("kubectl_logs", {"resourceType": "pod", "name": c["pod"], "namespace": "crash", "previous": True}),
                ],
                "secrets": lambda c: (
                    [("kubectl_get", {"resourceType": "secrets", "namespace": "vault"})]
                    + [("kubectl_get", {"resourceType": "secret", "name": s, "namespace": "vault", "output": "yaml"}) for s in c["secrets"]]
                    + [("kubectl_describe", {"resourceType": "secret", "name": s, "namespace": "vault"}) for s in c["secrets"]]
                ),
            },
        ),
        Server(
            "kubectl-mcp-server",
            [str(peers / "venv" / "bin" / "kubectl-mcp-serve"), "serve"],
            env,
            {
                "list_pods": lambda c: [("kubectl_get", {"resource_type": "pods", "namespace": "bench"})],
                "describe": lambda c: [("kubectl_describe", {"resource_type": "pod", "name": c["pod"], "namespace": "crash"})],
                "previous_logs": lambda c: [("kubectl_logs", {"pod_name": c["pod"], "namespace": "crash", "previous": True})],
                "crashloop": lambda c: [
                    ("kubectl_get", {"resource_type": "pods", "namespace": "crash"}),
                    ("diagnose_pod_crash", {"pod_name": c["pod"], "namespace": "crash"}),
                    ("kubectl_logs", {"pod_name": c["pod"], "namespace": "crash", "previous": True}),
                ],
                "secrets": lambda c: (
                    [("kubectl_get", {"resource_type": "secrets", "namespace": "vault", "output": "json"})]
                    + [("kubectl_get", {"resource_type": "secret", "name": s, "namespace": "vault", "output": "yaml"}) for s in c["secrets"]]
                    + [("kubectl_describe", {"resource_type": "secret", "name": s, "namespace": "vault"}) for s in c["secrets"]]
                ),
            },
        ),
    ]


# ---- the cluster ------------------------------------------------------------------------------------------------


def seed_secrets() -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Four Secrets of random values (an app's credentials, API keys, a registry login, a TLS key), and each
    value with the whole field that holds it."""
    v = [secrets.token_urlsafe(24) for _ in range(6)]
    fields = {
        "db": {"password": v[0], "url": f"postgresql://todo:{v[1]}@db:5432/todo"},
        "api-keys": {"anthropic": f"sk-ant-{v[2]}", "better-auth": v[3]},
        "registry": {".dockerconfigjson": json.dumps({"auths": {"registry.local": {"username": "ci", "password": v[4]}}})},
        "tls": {"tls.key": f"-----BEGIN PRIVATE KEY-----\n{v[5]}\n-----END PRIVATE KEY-----\n"},
    }
    types = {"registry": "kubernetes.io/dockerconfigjson"}
    manifests = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": types.get(name, "Opaque"), "stringData": data}
        for name, data in fields.items()
    ]
    held = [field for data in fields.values() for field in data.values()]
    return manifests, [(value, next(f for f in held if value in f)) for value in v]


def leaked(seeded: list[tuple[str, str]], outputs: list[str]) -> int:
    """Seeded values found in any output: the value itself, or the base64 of the field holding it (what a
    Secret's `data` shows; a value inside a longer field has no base64 of its own there)."""
    blob = "\n".join(outputs)
    return sum(1 for value, whole in seeded if value in blob or base64.b64encode(whole.encode()).decode() in blob)


def crash_deployment(image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "crash", "labels": {"app": "api"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {
                    "nodeName": NODE_NAME,
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 2,
                    "containers": [
                        {
                            "name": "app",
                            "image": image,
                            "imagePullPolicy": "Never",
                            "command": ["python3", "-c", CRASH],
                            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
                        }
                    ],
                },
            },
        },
    }


def crash_looping_pod(cluster: Cluster) -> str | None:
    for pod in cluster.kubectl_json("get", "pods", "-n", "crash", "-l", "app=api")["items"]:
        status = ((pod.get("status") or {}).get("containerStatuses") or [{}])[0]
        waiting = (status.get("state") or {}).get("waiting") or {}
        if status.get("restartCount", 0) >= 2 and waiting.get("reason") == "CrashLoopBackOff":
            return pod["metadata"]["name"]
    return None


def prepare(cluster: Cluster, pods: int) -> dict[str, Any]:
    for ns in ("bench", "crash", "vault"):
        cluster.kubectl("create", "namespace", ns)
    manifest = pods_manifest(pods)
    for i in range(0, len(manifest), 250):
        cluster.apply({"apiVersion": "v1", "kind": "List", "items": manifest[i : i + 250]})
    healthy = [{**p, "metadata": {**p["metadata"], "namespace": "crash", "name": f"worker-{i:02d}"}} for i, p in enumerate(pods_manifest(20))]
    for pod in healthy:  # healthy for real: no reference to a Secret that namespace lacks
        pod["spec"]["containers"][0].pop("env")
    cluster.apply({"apiVersion": "v1", "kind": "List", "items": healthy})
    image = deploy.built_images()["backend"]
    deploy.load_images(cluster, {"backend": image})
    cluster.apply(crash_deployment(image))
    secret_manifests, values = seed_secrets()
    cluster.apply({"apiVersion": "v1", "kind": "List", "items": secret_manifests}, namespace="vault")
    running = lambda ns, n: cluster.kubectl("get", "pods", "-n", ns, "--field-selector=status.phase=Running", "-o", "name").stdout.count("\n") >= n  # noqa: E731
    cluster.wait_for(lambda: running("bench", pods) and running("crash", 20), 600, interval=2, message="KWOK pods running")
    pod = cluster.wait_for(lambda: crash_looping_pod(cluster), 240, interval=2, message="the api pod in CrashLoopBackOff after two restarts")
    # Between two runs the crashed container is briefly `terminated` and the one before it already removed, so
    # a previous-logs read then finds nothing: every server is asked while the pod waits in its back-off.
    settle = lambda: cluster.wait_for(lambda: crash_looping_pod(cluster) == pod, 300, interval=0.5, message="the api pod back in CrashLoopBackOff")  # noqa: E731
    return {"pod": pod, "secrets": [m["metadata"]["name"] for m in secret_manifests], "values": values, "settle": settle, "pods": pods}


# ---- measuring --------------------------------------------------------------------------------------------------


def tokens(text: str) -> int:
    return len(text) // 4


def visible_tokens(tools: list[Any]) -> int:
    """What every model turn pays for the tool list (bench/ops_startup.py and the listing test count alike)."""
    dumped = [t.model_dump(by_alias=True, mode="json", include={"name", "description", "input_schema"}, exclude_none=True) for t in tools]
    return sum(len(json.dumps(t)) for t in dumped) // 4


@dataclass
class Reply:
    text: str
    structured: str
    error: bool
    seconds: float


async def call(client: Client, tool: str, args: dict[str, Any]) -> Reply:
    start = time.perf_counter()
    try:
        result = await client.call_tool(tool, args, read_timeout_seconds=180)
    except Exception as exc:  # a peer crashing or timing out is a result here, not the end of the run
        return Reply(f"{type(exc).__name__}: {exc}", "", True, time.perf_counter() - start)
    seconds = time.perf_counter() - start
    text = "".join(getattr(c, "text", "") for c in result.content)
    structured = json.dumps(result.structured_content) if result.structured_content is not None else ""
    return Reply(text, structured, bool(result.is_error), seconds)


REPLIES: list[dict[str, Any]] = []  # every reply of a task, for --replies


async def run_plan(client: Client, plan: list[tuple[str, dict[str, Any]]], until: str | None = None) -> dict[str, Any]:
    replies = []
    for tool, args in plan:
        replies.append(await call(client, tool, args))
        REPLIES.append({"tool": tool, "args": args, "error": replies[-1].error, "text": replies[-1].text})
        if until and any(until in r.text or until in r.structured for r in replies):
            break
    out: dict[str, Any] = {"calls": len(replies), "tokens": sum(tokens(r.text) for r in replies)}
    if any(r.structured for r in replies):
        out["structured_tokens"] = sum(tokens(r.structured) for r in replies)
    errors = [r.text[:160] for r in replies if r.error]
    if errors:
        out["errors"] = errors
    out["_replies"] = replies
    return out


async def start_seconds(server: Server, starts: int) -> tuple[float, int, int]:
    times, tools = [], []
    for _ in range(starts):
        t = time.perf_counter()
        async with Client(server.params(), read_timeout_seconds=120) as client:
            tools = (await client.list_tools()).tools
            times.append(time.perf_counter() - t)
    return statistics.median(times), len(tools), visible_tokens(tools)


async def measure(server: Server, ctx: dict[str, Any], runs: int, starts: int) -> dict[str, Any]:
    start_p50, count, listed = await start_seconds(server, starts)
    report: dict[str, Any] = {"start_to_tools_list_s": round(start_p50, 3), "tools": count, "tools_list_tokens": listed}
    async with Client(server.params(), read_timeout_seconds=300) as client:
        await client.list_tools()
        listing = await run_plan(client, server.plans["list_pods"](ctx))
        text = listing["_replies"][0].text + listing["_replies"][0].structured
        listing["pods_named"] = sum(1 for i in range(ctx["pods"]) if f"web-{i:04d}" in text)
        if server.name == "ops-mcp":
            listing["all_pages"] = await all_pages(client)
        report["list_pods"] = listing
        describe = await run_plan(client, server.plans["describe"](ctx))
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            for tool, args in server.plans["describe"](ctx):
                await call(client, tool, args)
            times.append(time.perf_counter() - t)
        describe["p50_s"] = round(statistics.median(times), 4)
        report["describe"] = describe
        ctx["settle"]()
        report["previous_logs"] = await run_plan(client, server.plans["previous_logs"](ctx))
        report["previous_logs"]["has_root_cause"] = any(MARKER in r.text for r in report["previous_logs"]["_replies"])
        ctx["settle"]()
        crash = await run_plan(client, server.plans["crashloop"](ctx), until=MARKER)
        crash["found"] = any(MARKER in r.text or MARKER in r.structured for r in crash["_replies"])
        report["crashloop"] = crash
        secret_reads = await run_plan(client, server.plans["secrets"](ctx))
        outputs = [r.text for r in secret_reads["_replies"]] + [r.structured for r in secret_reads["_replies"]]
        secret_reads["values_leaked"] = leaked(ctx["values"], outputs)
        secret_reads["values_seeded"] = len(ctx["values"])
        report["secrets"] = secret_reads
    for task in report.values():
        if isinstance(task, dict):
            task.pop("_replies", None)
    return report


async def all_pages(client: Client) -> dict[str, Any]:
    """ops-mcp's default page is 100 pods: what reading every page costs, for the whole-namespace comparison."""
    token, pages, total, rows = None, 0, 0, 0
    while True:
        reply = await client.call_tool("list_resources", {"kind": "pods", "namespace": "bench", **({"continue_token": token} if token else {})})
        pages += 1
        total += tokens("".join(getattr(c, "text", "") for c in reply.content))
        rows += len(reply.structured_content["rows"])
        token = reply.structured_content.get("continue_token")
        if not token:
            return {"pages": pages, "rows": rows, "tokens": total}


# ---- the table --------------------------------------------------------------------------------------------------

TASKS = ("list_pods", "describe", "previous_logs", "crashloop", "secrets")


def verdicts(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    ours = results["ops-mcp"]
    peers = {name: r for name, r in results.items() if name != "ops-mcp"}
    out: dict[str, Any] = {}
    for task in ("tools_list_tokens", *TASKS):
        mine = ours[task] if task == "tools_list_tokens" else ours[task]["tokens"]
        theirs = [
            (r[task] if task == "tools_list_tokens" else r[task]["tokens"]) for r in peers.values() if task == "tools_list_tokens" or not r[task].get("errors")
        ]
        theirs = [t for t in theirs if t > 0]
        best = min(theirs) if theirs else None
        out[task] = {"ours": mine, "best_peer": best, "ratio": round(mine / best, 3) if best else None, "at_most_half": bool(best) and mine <= best / 2}
    go = peers.get("kubernetes-mcp-server", {}).get("describe", {}).get("p50_s")
    out["describe_latency"] = {
        "ours_p50_s": ours["describe"]["p50_s"],
        "go_pods_get_events_list_p50_s": go,
        "at_or_below": go is not None and ours["describe"]["p50_s"] <= go,
    }
    return out


def table(results: dict[str, dict[str, Any]]) -> str:
    names = list(results)
    rows = [
        ("start to tools/list (s)", lambda r: f"{r['start_to_tools_list_s']:.2f}"),
        ("tools (tools/list tokens)", lambda r: f"{r['tools']} ({r['tools_list_tokens']:,})"),
    ]

    def cell(task: str) -> Callable[[dict[str, Any]], str]:
        def render(r: dict[str, Any]) -> str:
            t = r[task]
            s = f"{t['tokens']:,} tok"
            if t.get("errors"):
                s += " ERROR"
            if task == "list_pods":
                s += f", {t['pods_named']} pods"
            if task == "describe":
                s += f", {t['p50_s'] * 1000:.0f} ms"
            if task == "crashloop":
                s += f", {t['calls']} calls, {'found' if t['found'] else 'NOT found'}"
            if task == "previous_logs" and not t["has_root_cause"]:
                s += ", no error line"
            if task == "secrets":
                s += f", {t['values_leaked']}/{t['values_seeded']} leaked"
            return s

        return render

    rows += [(task, cell(task)) for task in TASKS]
    width = [max(len(label) for label, _ in rows)] + [max(len(n), 30) for n in names]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(["", *names], width, strict=True)) + " |", "|" + "|".join("-" * (w + 2) for w in width) + "|"]
    for label, fn in rows:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip([label, *(fn(results[n]) for n in names)], width, strict=True)) + " |")
    return "\n".join(lines)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=21, help="describe calls per server for its p50")
    ap.add_argument("--starts", type=int, default=5, help="server starts per server for the start-up p50")
    ap.add_argument("--json", help="also write the report here")
    ap.add_argument("--replies", help="write every reply (JSON lines: tool, arguments, text) here")
    args = ap.parse_args()
    peers = install_peers()
    work = Path(tempfile.mkdtemp(prefix="peers-bench-"))
    cluster = Cluster.create(work, name="peers", real_node=True, timeout=240)
    try:
        ctx = prepare(cluster, args.pods)
        results = {}
        for server in servers(cluster, peers, work):
            print(f"== {server.name}", file=sys.stderr, flush=True)
            REPLIES.append({"server": server.name})
            results[server.name] = await measure(server, ctx, args.runs, args.starts)
    finally:
        cluster.delete()
        shutil.rmtree(work, ignore_errors=True)
    report = {"pods": args.pods, "runs": args.runs, "results": results, "targets": verdicts(results)}
    print(table(results))
    print(json.dumps(report, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    if args.replies:
        Path(args.replies).write_text("".join(json.dumps(r) + "\n" for r in REPLIES))


if __name__ == "__main__":
    asyncio.run(main())
