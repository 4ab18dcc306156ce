#!/usr/bin/env python3
"""ops-mcp against the leading Kubernetes MCP servers, side by side on one test cluster, as an agent meets them.

The peers (pinned in bench/peers/, installed on first use into ~/.cache/todo-chatbot/peers):
- containers/kubernetes-mcp-server (npm `kubernetes-mcp-server`, a Go binary),
- Flux159/mcp-server-kubernetes (npm `mcp-server-kubernetes`, Node.js over kubectl),
- kubectl-mcp-server (PyPI `kubectl-mcp-server`, Python),
each in its default configuration, over stdio, through the MCP SDK's client (the same client for all).

The cluster (tests/cluster/harness.py, KWOK nodes only: no real node): 1,000 pods (namespace `bench`); two
crash-looping Deployments whose container's previous run is served as KWOK logs, each beside 20 healthy pods, with
the kubelet's events (Pulled/Created/Started/BackOff) written as the kubelet writes them:
- `crash` (fixture A): 120 lines of start-up log of three repeated messages that differ only in numbers, then a
  Python traceback whose last line is the cause (the repetition `get_pod_logs`' `fold` is made for);
- `crash2` (fixture B): a web app that served requests before dying: access lines with varied methods, paths, user
  ids, statuses and latencies, warnings, handled errors with different stack traces, then the fatal traceback.
The causes are only in the logs, never in the pod spec. Four Secrets of random values made with `kubectl apply`
(namespace `vault`, so the values are also in the last-applied annotation). Every server gets the same inputs.

Calls are spaced as an agent spaces them: every call is made --spacing seconds (default 1) after the previous reply
(a model turn sits between two tool calls). Back-to-back describes are measured apart, last in each session.

Tokens (chars/4) are counted twice, for the two kinds of client:
- text: the text content, what clients that read only `content` hand the model;
- structured: the structured content as compact JSON when the server sends one, else the text: what `ops-mcp ask`
  hands the model (ops_mcp/ask.py `_texts`, which also cuts a result at 24,000 characters: flagged where it would)
  and what recent Claude Code versions hand it (JSON.stringify(structuredContent) when present, as reported in
  anthropics/claude-code#79944 and #55677).

Tasks, per server, in every run (servers in rotated order, --runs times):
- start to tools/list (--starts fresh processes), tools/list tokens (name + description + inputSchema);
- list_first: the first page of the 1,000-pod namespace where the server pages (ops-mcp: 100 rows), else its one list;
- list_all: the whole namespace (every page of a server that pages; a server that does not: its one list);
- describe: the crash-looping pod with its events (the Go server needs `pods_get` + `events_list`: the pair), its
  latency over --samples spaced calls, and over --burst back-to-back calls (where the Go server's client-side rate
  limit, client-go's 5 requests a second after a burst of 10, shows);
- previous_logs A and B: the crashed container's previous run (each server's default length), cause present or not;
- crashloop A and B: a fixed minimal call plan per server to the root cause, stopped once the cause has appeared;
- secrets: the server's read tools on the seeded Secrets; the number of seeded values found in any output.

Prints three tables (time; text tokens; structured tokens) and the issue-15 targets (at most half the best peer's
tokens; describe at or below the Go pair) for both views; --json writes every sample of every run.

    .venv/bin/python bench/peers.py [--quick] [--runs 3] [--spacing 1] [--json out.json] [--replies replies.jsonl]
    # ~15 min for 3 runs on 2 loaded cores; --quick ~4 min

Needs the toolchain (scripts/toolchain.sh); npm and pip reach their registries on the first run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from cluster.harness import Cluster, cache_dir  # noqa: E402
from mcp import Client, StdioServerParameters, types  # noqa: E402
from ops_scale import pods_manifest  # noqa: E402

from ops_mcp.ask import TOOL_RESULT_LIMIT  # noqa: E402  (`ops-mcp ask` cuts a tool result there)

PINS = ROOT / "bench" / "peers"
BASE = 1796630400.0  # 2026-12-07 09:00:00 UTC: the logs' clock, fixed so that every run reads the same lines


def stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(BASE + seconds)) + f",{int(seconds * 1000) % 1000:03d}"


def crash_a() -> tuple[list[str], str]:
    """Fixture A: a web app's start, 120 lines of three messages that differ only in numbers, then the traceback
    (what `python3 -c` printed when the bench ran this for real on the real node)."""
    lines = [f"{stamp(0)} INFO todo.api todo-api 1.4.2 starting (python 3.11, 2 workers)"]
    for i in range(40):
        t = 0.01 + i * 0.003
        lines.append(f"{stamp(t)} INFO todo.api registered route GET /api/v1/resource{i}/{{id}} -> handlers.resource{i}.get")
        lines.append(f"{stamp(t + 0.001)} INFO todo.api registered route POST /api/v1/resource{i} -> handlers.resource{i}.create")
        lines.append(f"{stamp(t + 0.002)} INFO todo.api loaded migration {i:04d}_resource{i}.sql (checksum ok)")
    lines += [
        f"{stamp(0.2)} INFO todo.api loading settings from the environment",
        "Traceback (most recent call last):",
        '  File "<string>", line 17, in <module>',
        '  File "<string>", line 16, in load_settings',
        '  File "<string>", line 13, in database_url',
        "RuntimeError: DATABASE_URL is not set; refusing to start",
    ]
    return lines, "DATABASE_URL is not set"


TRACES = [  # handled errors the app logged (with their stack) before it died: each different
    [
        "Traceback (most recent call last):",
        '  File "/app/todo/handlers/todos.py", line 88, in update',
        "    todo = await repo.get(todo_id, owner=user.id)",
        '  File "/app/todo/repo.py", line 41, in get',
        '    raise NotFound(f"todo {{todo_id}} of {{owner}}")',
        "todo.errors.NotFound: todo {todo} of user {user}",
    ],
    [
        "Traceback (most recent call last):",
        '  File "/app/todo/handlers/chat.py", line 132, in stream',
        "    async for chunk in agent.run(messages):",
        '  File "/app/todo/agent/loop.py", line 77, in run',
        "    reply = await self.client.messages.create(**request)",
        '  File "/usr/local/lib/python3.11/site-packages/httpx/_client.py", line 1617, in send',
        '    raise ReadTimeout("timed out")',
        "httpx.ReadTimeout: timed out after {ms} ms (model call of conversation {conv})",
    ],
    [
        "Traceback (most recent call last):",
        '  File "/app/todo/handlers/tags.py", line 54, in create',
        "    payload = TagIn.model_validate(await request.json())",
        '  File "/usr/local/lib/python3.11/site-packages/pydantic/main.py", line 596, in model_validate',
        "    return cls.__pydantic_validator__.validate_python(obj)",
        "pydantic_core._pydantic_core.ValidationError: 1 validation error for TagIn: name: String should have at most 32 characters (got {n})",
    ],
    [
        "Traceback (most recent call last):",
        '  File "/app/todo/notify/webhooks.py", line 61, in deliver',
        "    resp.raise_for_status()",
        '  File "/usr/local/lib/python3.11/site-packages/httpx/_models.py", line 829, in raise_for_status',
        "    raise HTTPStatusError(message, request=request, response=self)",
        "httpx.HTTPStatusError: Server error '{code} Bad Gateway' for url 'https://hooks.example.com/u/{user}/todo-events'",
    ],
]


def crash_b() -> tuple[list[str], str]:
    """Fixture B: ~260 lines of a web app at work (requests of many users on many paths, warnings, handled errors with
    different stacks), then the fatal traceback. Seeded: the same lines for every server and every run."""
    rnd = random.Random(25)
    paths = [
        ("GET", "/api/v1/todos"),
        ("GET", "/api/v1/todos/{id}"),
        ("PATCH", "/api/v1/todos/{id}"),
        ("POST", "/api/v1/todos"),
        ("DELETE", "/api/v1/todos/{id}"),
        ("GET", "/api/v1/tags"),
        ("POST", "/api/v1/tags"),
        ("POST", "/api/v1/chat"),
        ("GET", "/api/v1/conversations/{id}/messages"),
        ("GET", "/healthz"),
        ("GET", "/api/v1/me"),
        ("POST", "/api/v1/auth/refresh"),
    ]
    agents = [
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
        "Mozilla/5.0 (Macintosh) Safari/605.1.15",
        "okhttp/4.12.0",
        "kube-probe/1.34",
        "python-httpx/0.28.1",
    ]
    lines = [f"{stamp(0)} INFO todo.api todo-api 1.4.2 started (python 3.11, 2 workers, pool 10 connections)"]
    t = 1.0
    while len(lines) < 230:
        t += rnd.uniform(0.05, 2.5)
        user = rnd.randrange(1000, 99999)
        roll = rnd.random()
        if roll < 0.80:
            method, path = rnd.choice(paths)
            path = path.replace("{id}", str(rnd.randrange(1, 50000)))
            status = rnd.choices([200, 201, 204, 304, 400, 401, 404, 409, 422, 500], [50, 8, 6, 5, 4, 3, 6, 2, 3, 1])[0]
            ms = round(rnd.lognormvariate(3.0, 0.9), 1)
            lines.append(
                f'{stamp(t)} INFO uvicorn.access 10.244.{rnd.randrange(0, 4)}.{rnd.randrange(2, 250)} user={user} "{method} {path} HTTP/1.1" '
                f'{status} {ms}ms req={rnd.getrandbits(48):012x} ua="{rnd.choice(agents)}"'
            )
        elif roll < 0.92:
            lines.append(
                rnd.choice(
                    [
                        f"{stamp(t)} WARNING todo.db slow query ({rnd.randrange(300, 2400)} ms): SELECT todos WHERE owner_id={user} ORDER BY due_at LIMIT {rnd.choice([20, 50, 100])}",
                        f"{stamp(t)} WARNING todo.auth token for user {user} expires in {rnd.randrange(5, 300)} s; refreshing",
                        f"{stamp(t)} WARNING todo.db pool {rnd.randrange(7, 10)}/10 connections in use, {rnd.randrange(1, 6)} waiting",
                        f"{stamp(t)} WARNING todo.agent conversation {rnd.randrange(10000, 99999)} of user {user} hit the 20-turn limit",
                        f"{stamp(t)} INFO todo.notify delivered {rnd.randrange(1, 9)} reminders for user {user} ({rnd.randrange(40, 400)} ms)",
                    ]
                )
            )
        else:
            trace = rnd.choice(TRACES)
            lines.append(f"{stamp(t)} ERROR todo.api unhandled error in request req={rnd.getrandbits(48):012x} of user {user}")
            values = {
                "todo": rnd.randrange(1, 50000),
                "user": user,
                "ms": rnd.randrange(30000, 60000),
                "conv": rnd.randrange(10000, 99999),
                "n": rnd.randrange(33, 90),
                "code": 502,
            }
            lines += [line.format(**values) for line in trace]
    t += 0.4
    lines += [
        f"{stamp(t)} WARNING todo.db pool 10/10 connections in use, 14 waiting",
        f"{stamp(t + 4.1)} ERROR todo.db connection lost; reconnecting (attempt 1 of 3)",
        f"{stamp(t + 6.3)} ERROR todo.db connection lost; reconnecting (attempt 2 of 3)",
        f"{stamp(t + 10.5)} ERROR todo.db connection lost; reconnecting (attempt 3 of 3)",
        f"{stamp(t + 10.6)} CRITICAL todo.api worker 1 cannot reach the database; exiting",
        "Traceback (most recent call last):",
        '  File "/app/todo/main.py", line 31, in lifespan',
        "    await db.connect(retries=3)",
        '  File "/app/todo/db.py", line 58, in connect',
        "    self.engine = await create_async_engine(url, pool_size=10).connect()",
        '  File "/usr/local/lib/python3.11/site-packages/sqlalchemy/ext/asyncio/engine.py", line 274, in connect',
        "    return await greenlet_spawn(self._proxied.connect)",
        'sqlalchemy.exc.OperationalError: (psycopg.OperationalError) connection to server at "db.todo.svc.cluster.local" '
        "(10.96.14.7), port 5432 failed: FATAL:  remaining connection slots are reserved for roles with the SUPERUSER attribute",
    ]
    return lines, "remaining connection slots are reserved"


FIXTURES = {"A": ("crash", crash_a), "B": ("crash2", crash_b)}


# ---- the peers --------------------------------------------------------------------------------------------------


def install_peers() -> Path:
    """The pinned peers in ~/.cache/todo-chatbot/peers (npm from bench/peers/package-lock.json, a venv for PyPI)."""
    home = cache_dir() / "peers"
    npm = home / "npm"
    stamp_ = (PINS / "package-lock.json").read_text() + (PINS / "requirements.txt").read_text()
    if (home / "installed").is_file() and (home / "installed").read_text() == stamp_:
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
    (home / "installed").write_text(stamp_)
    return home


Plan = list[tuple[str, dict[str, Any]]]


@dataclass
class Server:
    name: str
    argv: list[str]
    env: dict[str, str]
    plans: dict[str, Callable[[dict[str, Any]], Plan]] = field(default_factory=dict)
    # How a server pages a list: (argument that passes the continue token, how to read the token from a reply).
    pages: tuple[str, Callable[[types.CallToolResult], str | None]] | None = None

    def params(self) -> StdioServerParameters:
        return StdioServerParameters(command=self.argv[0], args=self.argv[1:], env=self.env, cwd=str(ROOT))


def servers(cluster: Cluster, peers: Path, work: Path) -> list[Server]:
    """Every call plan: `c` holds the fixture's namespace `ns` and crash-looping `pod`, and the Secrets' names."""
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
                "list": lambda c: [("list_resources", {"kind": "pods", "namespace": "bench"})],
                "describe": lambda c: [("describe_resource", {"kind": "pod", "name": c["pod"], "namespace": c["ns"]})],
                "previous_logs": lambda c: [("get_pod_logs", {"name": c["pod"], "namespace": c["ns"], "previous": True})],
                "crashloop": lambda c: [("diagnose_crashloop", {"namespace": c["ns"]})],
                "secrets": lambda c: (
                    [("list_resources", {"kind": "secrets", "namespace": "vault"})]
                    + [("describe_resource", {"kind": "secret", "name": s, "namespace": "vault"}) for s in c["secrets"]]
                ),
            },
            pages=("continue_token", lambda r: (r.structured_content or {}).get("continue_token")),
        ),
        Server(
            "kubernetes-mcp-server",
            [str(npm_bin / "kubernetes-mcp-server"), "--kubeconfig", cluster.kubeconfig],
            env,
            {
                "list": lambda c: [("pods_list_in_namespace", {"namespace": "bench"})],
                "describe": lambda c: [("pods_get", {"namespace": c["ns"], "name": c["pod"]}), ("events_list", {"namespace": c["ns"]})],
                "previous_logs": lambda c: [("pods_log", {"namespace": c["ns"], "name": c["pod"], "previous": True})],
                "crashloop": lambda c: [
                    ("pods_list_in_namespace", {"namespace": c["ns"]}),
                    ("pods_get", {"namespace": c["ns"], "name": c["pod"]}),
                    ("pods_log", {"namespace": c["ns"], "name": c["pod"], "previous": True}),
                ],
                "secrets": lambda c: (
                    [("resources_list", {"apiVersion": "v1", "kind": "Secret", "namespace": "vault"})]
                    + [("resources_get", {"apiVersion": "v1", "kind": "Secret", "namespace": "vault", "name": s}) for s in c["secrets"]]
                ),
            },
        ),
        Server(
            "mcp-server-kubernetes",
            [str(npm_bin / "mcp-server-kubernetes")],
            env,
            {
                "list": lambda c: [("kubectl_get", {"resourceType": "pods", "namespace": "bench"})],
                "describe": lambda c: [("kubectl_describe", {"resourceType": "pod", "name": c["pod"], "namespace": c["ns"]})],
                "previous_logs": lambda c: [("kubectl_logs", {"resourceType": "pod", "name": c["pod"], "namespace": c["ns"], "previous": True})],
                "crashloop": lambda c: [
                    ("kubectl_get", {"resourceType": "pods", "namespace": c["ns"]}),
                    ("kubectl_describe", {"resourceType": "pod", "name": c["pod"], "namespace": c["ns"]}),
                    ("kubectl_logs", {"resourceType": "pod", "name": c["pod"], "namespace": c["ns"], "previous": True}),
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
                "list": lambda c: [("kubectl_get", {"resource_type": "pods", "namespace": "bench"})],
                "describe": lambda c: [("kubectl_describe", {"resource_type": "pod", "name": c["pod"], "namespace": c["ns"]})],
                "previous_logs": lambda c: [("kubectl_logs", {"pod_name": c["pod"], "namespace": c["ns"], "previous": True})],
                "crashloop": lambda c: [
                    ("kubectl_get", {"resource_type": "pods", "namespace": c["ns"]}),
                    ("diagnose_pod_crash", {"pod_name": c["pod"], "namespace": c["ns"]}),
                    ("kubectl_logs", {"pod_name": c["pod"], "namespace": c["ns"], "previous": True}),
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
    types_ = {"registry": "kubernetes.io/dockerconfigjson"}
    manifests = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": types_.get(name, "Opaque"), "stringData": data}
        for name, data in fields.items()
    ]
    held = [f for data in fields.values() for f in data.values()]
    return manifests, [(value, next(f for f in held if value in f)) for value in v]


def leaked(seeded: list[tuple[str, str]], outputs: list[str]) -> int:
    """Seeded values found in any output: the value itself, or the base64 of the field holding it (what a
    Secret's `data` shows; a value inside a longer field has no base64 of its own there)."""
    blob = "\n".join(outputs)
    return sum(1 for value, whole in seeded if value in blob or base64.b64encode(whole.encode()).decode() in blob)


def crash_deployment(ns: str) -> dict[str, Any]:
    """A Deployment whose pod KWOK keeps in CrashLoopBackOff (tests/cluster/stages/pod-crashloop.yaml)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": ns, "labels": {"app": "api"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {
                    "labels": {"app": "api", "kwok.todo-chatbot.test/kubelet": "crashloop"},
                    "annotations": {"kwok.todo-chatbot.test/restart-count": "6", "kwok.todo-chatbot.test/exit-code": "1"},
                },
                "spec": {
                    "nodeName": "kwok-node-0",
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 2,
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.local/todo/api:1.4.2",
                            "command": ["python3", "-m", "todo.main"],
                            "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "WORKERS", "value": "2"}],
                            "ports": [{"containerPort": 8000}],
                            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
                            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8000}},
                        }
                    ],
                },
            },
        },
    }


def kubelet_events(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """The events a kubelet writes for a container that keeps crashing (KWOK's fake kubelet writes none)."""
    now = time.time()
    iso = lambda s: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s))  # noqa: E731
    meta = pod["metadata"]
    ref = {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"], "fieldPath": "spec.containers{app}"}
    specs = [
        ("Pulled", "Normal", 'Container image "registry.local/todo/api:1.4.2" already present on machine', 7),
        ("Created", "Normal", "Created container: app", 7),
        ("Started", "Normal", "Started container app", 7),
        ("BackOff", "Warning", f"Back-off restarting failed container app in pod {meta['name']}_{meta['namespace']}({meta['uid']})", 31),
    ]
    return [
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{reason.lower()}", "namespace": meta["namespace"]},
            "involvedObject": ref,
            "reason": reason,
            "type": kind,
            "message": message,
            "count": count,
            "firstTimestamp": iso(now - 600),
            "lastTimestamp": iso(now - 20),
            "source": {"component": "kubelet", "host": "kwok-node-0"},
            "reportingComponent": "kubelet",
            "reportingInstance": "kwok-node-0",
        }
        for reason, kind, message, count in specs
    ]


def prepare(cluster: Cluster, pods: int) -> dict[str, Any]:
    for ns in ("bench", "vault", *(ns for ns, _ in FIXTURES.values())):
        cluster.kubectl("create", "namespace", ns)
    manifest = pods_manifest(pods)
    for i in range(0, len(manifest), 250):
        cluster.apply({"apiVersion": "v1", "kind": "List", "items": manifest[i : i + 250]})
    fixtures = {}
    for key, (ns, make) in FIXTURES.items():
        healthy = [{**p, "metadata": {**p["metadata"], "namespace": ns, "name": f"worker-{i:02d}"}} for i, p in enumerate(pods_manifest(20))]
        for p in healthy:  # healthy for real: no reference to a Secret that namespace lacks
            p["spec"]["containers"][0].pop("env")
        cluster.apply({"apiVersion": "v1", "kind": "List", "items": healthy})
        cluster.apply(crash_deployment(ns))
        pod = cluster.wait_for(
            lambda ns=ns: (cluster.kubectl_json("get", "pods", "-n", ns, "-l", "app=api")["items"] or [None])[0], 120, message=f"the api pod in {ns}"
        )
        lines, marker = make()
        cluster.set_logs(ns, pod["metadata"]["name"], lines, previous=lines)
        cluster.apply({"apiVersion": "v1", "kind": "List", "items": kubelet_events(pod)})
        fixtures[key] = {"ns": ns, "pod": pod["metadata"]["name"], "marker": marker, "lines": len(lines)}
    secret_manifests, values = seed_secrets()
    cluster.apply({"apiVersion": "v1", "kind": "List", "items": secret_manifests}, namespace="vault")
    running = lambda ns, n: cluster.kubectl("get", "pods", "-n", ns, "--field-selector=status.phase=Running", "-o", "name").stdout.count("\n") >= n  # noqa: E731
    cluster.wait_for(lambda: running("bench", pods) and all(running(ns, 21) for ns, _ in FIXTURES.values()), 600, interval=2, message="KWOK pods running")

    def waiting(ns: str) -> bool:
        jsonpath = "jsonpath={.items[0].status.containerStatuses[0].state.waiting.reason}"
        return "CrashLoopBackOff" in cluster.kubectl("get", "pods", "-n", ns, "-l", "app=api", "-o", jsonpath).stdout

    cluster.wait_for(lambda: all(waiting(ns) for ns, _ in FIXTURES.values()), 120, message="the api pods in CrashLoopBackOff")
    return {"fixtures": fixtures, "secrets": [m["metadata"]["name"] for m in secret_manifests], "values": values, "pods": pods}


# ---- measuring --------------------------------------------------------------------------------------------------


def tokens(text: str) -> int:
    return len(text) // 4


def visible_tokens(tools: list[Any]) -> int:
    """What every model turn pays for the tool list (bench/ops_startup.py and the listing test count alike)."""
    dumped = [t.model_dump(by_alias=True, mode="json", include={"name", "description", "input_schema"}, exclude_none=True) for t in tools]
    return sum(len(json.dumps(t)) for t in dumped) // 4


@dataclass
class Reply:
    text: str  # the text content: what clients that read only `content` hand the model
    ask: str  # structured content as compact JSON when there is one, else the text (ops-mcp ask, uncut; Claude Code)
    structured: bool
    error: bool
    seconds: float
    raw: types.CallToolResult | None = None


class Session:
    """One server's client session; every call waits `spacing` seconds after the previous reply (an agent's turn)."""

    def __init__(self, client: Client, spacing: float, server: str):
        self.client, self.spacing, self.server = client, spacing, server
        self.last = 0.0

    async def call(self, tool: str, args: dict[str, Any], spaced: bool = True, record: bool = True) -> Reply:
        if spaced:
            await asyncio.sleep(max(0.0, self.last + self.spacing - time.monotonic()))
        start = time.perf_counter()
        try:
            result = await self.client.call_tool(tool, args, read_timeout_seconds=180)
        except Exception as exc:  # a peer crashing or timing out is a result here, not the end of the run
            reply = Reply(f"{type(exc).__name__}: {exc}", f"{type(exc).__name__}: {exc}", False, True, time.perf_counter() - start)
        else:
            seconds = time.perf_counter() - start
            text = "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))
            sc = result.structured_content
            model = text if sc is None else json.dumps(sc, separators=(",", ":"), default=str)  # as ops_mcp/ask.py `_texts`
            reply = Reply(text, model, sc is not None, bool(result.is_error), seconds, result)
        self.last = time.monotonic()
        if record:
            entry = {"server": self.server, "tool": tool, "args": args, "error": reply.error, "seconds": round(reply.seconds, 4), "text": reply.text}
            if reply.structured:
                entry["structured"] = reply.ask
            REPLIES.append(entry)
        return reply


REPLIES: list[dict[str, Any]] = []  # every reply of the first run, for --replies


def summarize(replies: list[Reply]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "calls": len(replies),
        "text_tokens": sum(tokens(r.text) for r in replies),
        "ask_tokens": sum(tokens(r.ask) for r in replies),
        "structured": any(r.structured for r in replies),
        "over_ask_cap": any(len(r.ask) > TOOL_RESULT_LIMIT for r in replies),
    }
    errors = [r.text[:160] for r in replies if r.error]
    if errors:
        out["errors"] = errors
    return out


async def run_plan(s: Session, plan: Plan, until: str | None = None) -> tuple[dict[str, Any], list[Reply]]:
    replies = []
    for tool, args in plan:
        replies.append(await s.call(tool, args))
        if until and any(until in r.text or until in r.ask for r in replies):
            break
    return summarize(replies), replies


async def start_seconds(server: Server, starts: int) -> tuple[list[float], int, int]:
    times, tools = [], []
    for _ in range(starts):
        t = time.perf_counter()
        async with Client(server.params(), read_timeout_seconds=120) as client:
            tools = (await client.list_tools()).tools
            times.append(time.perf_counter() - t)
    return times, len(tools), visible_tokens(tools)


def pods_named(ctx: dict[str, Any], replies: list[Reply]) -> int:
    blob = "\n".join(r.text + r.ask for r in replies)
    return sum(1 for i in range(ctx["pods"]) if f"web-{i:04d}" in blob)


async def measure(server: Server, ctx: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    starts, count, listed = await start_seconds(server, args.starts)
    report: dict[str, Any] = {"start_s": starts, "tools": count, "tools_list_tokens": listed, "load_1m": round(os.getloadavg()[0], 2)}
    fx = ctx["fixtures"]
    with_fixture = lambda key: {**fx[key], "secrets": ctx["secrets"]}  # noqa: E731
    async with Client(server.params(), read_timeout_seconds=300) as client:
        s = Session(client, args.spacing, server.name)
        await client.list_tools()
        # The first page where the server pages; a server that does not page answers with its whole list.
        first, replies = await run_plan(s, server.plans["list"](ctx))
        first["pods_named"] = pods_named(ctx, replies)
        first["pages"] = server.pages is not None
        report["list_first"] = first
        pages = list(replies)
        if server.pages:
            argname, next_token = server.pages
            tool, base_args = server.plans["list"](ctx)[0]
            while pages[-1].raw is not None and (token := next_token(pages[-1].raw)):
                pages.append(await s.call(tool, {**base_args, argname: token}))
        whole = summarize(pages)
        whole["pods_named"] = pods_named(ctx, pages)
        report["list_all"] = whole
        # describe with events: tokens of one answer, then the latency of --samples spaced answers
        describe, _ = await run_plan(s, server.plans["describe"](with_fixture("A")))
        spaced = []
        for _ in range(args.samples):
            spaced.append(sum([(await s.call(tool, a, record=False)).seconds for tool, a in server.plans["describe"](with_fixture("A"))]))
        describe["spaced_s"] = spaced
        report["describe"] = describe
        for key in FIXTURES:
            logs, replies = await run_plan(s, server.plans["previous_logs"](with_fixture(key)))
            logs["has_root_cause"] = any(fx[key]["marker"] in r.text or fx[key]["marker"] in r.ask for r in replies)
            report[f"previous_logs_{key}"] = logs
            crash, replies = await run_plan(s, server.plans["crashloop"](with_fixture(key)), until=fx[key]["marker"])
            crash["found"] = any(fx[key]["marker"] in r.text or fx[key]["marker"] in r.ask for r in replies)
            report[f"crashloop_{key}"] = crash
        secret_reads, replies = await run_plan(s, server.plans["secrets"](with_fixture("A")))
        secret_reads["values_leaked"] = leaked(ctx["values"], [r.text for r in replies] + [r.ask for r in replies])
        secret_reads["values_seeded"] = len(ctx["values"])
        report["secrets"] = secret_reads
        # back-to-back, last: what a loop meets (the Go server's client-side rate limit), not an agent
        burst = []
        for _ in range(args.burst):
            t = time.perf_counter()
            for tool, a in server.plans["describe"](with_fixture("A")):
                await s.call(tool, a, spaced=False, record=False)
            burst.append(time.perf_counter() - t)
        report["describe"]["back_to_back_s"] = burst
    return report


# ---- the tables -------------------------------------------------------------------------------------------------

TASKS = ("list_first", "list_all", "describe", "previous_logs_A", "previous_logs_B", "crashloop_A", "crashloop_B", "secrets")
LABELS = {
    "list_first": "list 1,000 pods: first page",
    "list_all": "list 1,000 pods: whole namespace",
    "describe": "describe the pod with events",
    "previous_logs_A": "previous logs A (repeated start-up)",
    "previous_logs_B": "previous logs B (varied lines)",
    "crashloop_A": "crash loop A to its root cause",
    "crashloop_B": "crash loop B to its root cause",
    "secrets": "seeded Secret values",
}


def med(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float], scale: float = 1.0, fmt: str = "{:.0f}") -> str:
    """median (min-max)"""
    return f"{fmt.format(med(values) * scale)} ({fmt.format(min(values) * scale)}–{fmt.format(max(values) * scale)})"


def aggregate(runs: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per server: token counts of the runs (median; they differ by a pod's age at most), every latency sample."""
    out: dict[str, dict[str, Any]] = {}
    for name in runs[0]:
        rs = [run[name] for run in runs]
        agg: dict[str, Any] = {
            "start_s": [x for r in rs for x in r["start_s"]],
            "tools": rs[0]["tools"],
            "tools_list_tokens": rs[0]["tools_list_tokens"],
            "load_1m": [r["load_1m"] for r in rs],
        }
        for task in TASKS:
            t = dict(rs[0][task])
            for key in ("text_tokens", "ask_tokens", "calls"):
                vals = [r[task][key] for r in rs]
                t[key] = int(med(vals))
                if min(vals) != max(vals):
                    t[key + "_range"] = [min(vals), max(vals)]
            for key in ("found", "has_root_cause"):
                if key in t:
                    t[key] = [r[task][key] for r in rs]
            t["errors"] = sorted({e for r in rs for e in r[task].get("errors", [])})
            if not t["errors"]:
                del t["errors"]
            if task == "describe":
                t["spaced_s"] = [x for r in rs for x in r[task]["spaced_s"]]
                t["back_to_back_s"] = [x for r in rs for x in r[task]["back_to_back_s"]]
                t["spaced_run_medians_s"] = [round(med(r[task]["spaced_s"]), 4) for r in rs]
                t["back_to_back_run_medians_s"] = [round(med(r[task]["back_to_back_s"]), 4) for r in rs]
            agg[task] = t
        out[name] = agg
    return out


def token_cell(task: str, t: dict[str, Any], key: str) -> str:
    s = f"{t[key]:,}"
    if t.get(key + "_range"):
        lo, hi = t[key + "_range"]
        s += f" ({lo:,}–{hi:,})"
    if t.get("errors"):
        s += " ERROR: " + t["errors"][0][:60].replace("|", "/")
        return s
    if task == "list_first" and not t.get("pages"):
        return "— (does not page; its one list is the row below)"
    if task.startswith("list"):
        s += f", {t['pods_named']} pods" + (f", {t['calls']} calls" if t["calls"] > 1 else "")
    if task.startswith("crashloop"):
        found = "found" if all(t["found"]) else ("NOT found" if not any(t["found"]) else f"found {sum(t['found'])}/{len(t['found'])}")
        s += f", {t['calls']} call{'s' if t['calls'] > 1 else ''}, {found}"
    if key == "ask_tokens" and t.get("over_ask_cap"):
        s += " (ops-mcp ask would cut it at 6,000)"
    if task.startswith("previous_logs") and not all(t["has_root_cause"]):
        s += ", no error line"
    if task == "secrets":
        s += f", {t['values_leaked']}/{t['values_seeded']} leaked"
    return s


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def tables(agg: dict[str, dict[str, Any]], spacing: float) -> str:
    names = list(agg)
    header = ["", *names]
    out = []
    rows = [
        ["start to tools/list, s", *(spread(agg[n]["start_s"], fmt="{:.2f}") for n in names)],
        ["tools (tools/list tokens)", *(f"{agg[n]['tools']} ({agg[n]['tools_list_tokens']:,})" for n in names)],
        [f"describe with events, spaced {spacing:g} s, ms", *(spread(agg[n]["describe"]["spaced_s"], 1000) for n in names)],
        ["describe with events, back-to-back, ms", *(spread(agg[n]["describe"]["back_to_back_s"], 1000) for n in names)],
    ]
    out.append("Time: median (min–max) over every sample of every run\n\n" + markdown(header, rows))
    for key, title in (
        ("text_tokens", "Tokens of the text content (what clients that read only `content` hand the model)"),
        ("ask_tokens", "Tokens of the structured content as compact JSON when sent, else the text (what `ops-mcp ask` and recent Claude Code hand the model)"),
    ):
        rows = [[LABELS[task], *(token_cell(task, agg[n][task], key) for n in names)] for task in TASKS]
        sent = [n for n in names if any(agg[n][task]["structured"] for task in TASKS)]
        out.append(f"{title}; structuredContent sent by: {', '.join(sent) or 'none'}\n\n" + markdown(header, rows))
    return "\n\n".join(out)


def verdicts(agg: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Issue 15's targets: every task at most half the best peer's tokens; describe at or below the Go pair."""
    ours = agg["ops-mcp"]
    peers = {n: r for n, r in agg.items() if n != "ops-mcp"}
    out: dict[str, Any] = {}
    for key in ("text_tokens", "ask_tokens"):
        out[key] = {}
        for task in ("tools_list_tokens", *TASKS):
            if task == "list_first":
                continue  # only ops-mcp pages: the like-with-like list comparison is list_all
            mine = ours[task] if task == "tools_list_tokens" else ours[task][key]
            theirs = [
                (r[task] if task == "tools_list_tokens" else r[task][key]) for r in peers.values() if task == "tools_list_tokens" or not r[task].get("errors")
            ]
            theirs = [t for t in theirs if t > 0]
            best = min(theirs) if theirs else None
            out[key][task] = {
                "ours": mine,
                "best_peer": best,
                "ratio": round(mine / best, 3) if best else None,
                "at_most_half": bool(best) and mine <= best / 2,
            }
    go = peers.get("kubernetes-mcp-server", {}).get("describe", {})
    for mode in ("spaced_s", "back_to_back_s"):
        if go:
            out[f"describe_{mode}"] = {
                "ours_p50": round(med(ours["describe"][mode]), 4),
                "go_pair_p50": round(med(go[mode]), 4),
                "ratio": round(med(ours["describe"][mode]) / med(go[mode]), 3),
            }
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3, help="runs, the servers' order rotated by one each run")
    ap.add_argument("--spacing", type=float, default=1.0, help="seconds between a reply and the next call (an agent's turn)")
    ap.add_argument("--samples", type=int, default=8, help="spaced describe calls per server and run")
    ap.add_argument("--burst", type=int, default=21, help="back-to-back describe calls per server and run")
    ap.add_argument("--starts", type=int, default=3, help="server starts per server and run")
    ap.add_argument("--quick", action="store_true", help="one run, 3 spaced and 12 back-to-back describes, one start")
    ap.add_argument("--json", help="also write the report here")
    ap.add_argument("--replies", help="write every reply of the first run (JSON lines: server, tool, arguments, text, structured) here")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.samples, args.burst, args.starts = 1, 3, 12, 1
    peers = install_peers()
    work = Path(tempfile.mkdtemp(prefix="peers-bench-"))
    began, load_at_start = time.time(), [round(x, 2) for x in os.getloadavg()]
    cluster = Cluster.create(work, name="peers", timeout=240)
    runs: list[dict[str, dict[str, Any]]] = []
    try:
        ctx = prepare(cluster, args.pods)
        order = servers(cluster, peers, work)
        for run in range(args.runs):
            rotated = order[run % len(order) :] + order[: run % len(order)]
            results = {}
            for server in rotated:
                print(f"== run {run + 1}/{args.runs}: {server.name}", file=sys.stderr, flush=True)
                mark = len(REPLIES)
                results[server.name] = await measure(server, ctx, args)
                if run:
                    del REPLIES[mark:]
            runs.append({s.name: results[s.name] for s in order} | {"_order": [s.name for s in rotated]})  # type: ignore[dict-item]
    finally:
        cluster.delete()
        shutil.rmtree(work, ignore_errors=True)
    orders = [run.pop("_order") for run in runs]
    agg = aggregate(runs)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    loads = [x for r in agg.values() for x in r["load_1m"]]
    machine = {
        "cores": os.cpu_count(),
        "load_1m_during": [min(loads), round(med(loads), 2), max(loads)],
        "load_average_at_start": load_at_start,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "commit": head,
        "minutes": round((time.time() - began) / 60, 1),
    }
    report = {
        "machine": machine,
        "args": {k: v for k, v in vars(args).items() if k not in ("json", "replies")},
        "orders": orders,
        "fixtures": ctx["fixtures"],
        "results": agg,
        "runs": runs,
        "targets": verdicts(agg),
    }
    print(
        f"{machine['cores']} cores, load average {machine['load_average_at_start']} at the start, {machine['load_average_at_end']} at the end (1-minute load at each server's turn: min {machine['load_1m_during'][0]}, median {machine['load_1m_during'][1]}, max {machine['load_1m_during'][2]}), {head}, {machine['minutes']} min; orders {orders}\n"
    )
    print(tables(agg, args.spacing))
    print(json.dumps(report["targets"], indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    if args.replies:
        Path(args.replies).write_text("".join(json.dumps(r) + "\n" for r in REPLIES))


if __name__ == "__main__":
    asyncio.run(main())
