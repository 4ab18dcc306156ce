#!/usr/bin/env python3
"""Backend load benchmark: list and create task latency with 50 concurrent clients on PostgreSQL.

Starts the real backend (`uvicorn app.main:app --workers N` from backend-app/) on a fresh database
of the test PostgreSQL cluster (scripts/setup-postgres.sh), with Ed25519 JWTs verified against a
local JWKS like production. Each phase runs C concurrent clients, each sending R requests back to
back. Latencies are reported as p50/p99 and as a ratio to the same app's GET /health in the same
run (so the numbers compare across machines); then each worker's RSS.

    .venv/bin/python bench/backend_load.py [--clients 50] [--requests 40] [--workers 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import jwt
import psutil
import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

ROOT = Path(__file__).resolve().parents[1]
BACKEND_DIR = ROOT / "backend-app"
RSS_TARGET_MIB = 200


def postgres_url() -> str:
    out = subprocess.run(["bash", str(ROOT / "scripts" / "setup-postgres.sh")], check=True, capture_output=True,
                         text=True).stdout
    return out.strip().splitlines()[-1].split("=", 1)[1].strip("'")


def serve_jwks(key: Ed25519PrivateKey, kid: str) -> tuple[str, ThreadingHTTPServer]:
    jwk = {**json.loads(OKPAlgorithm.to_jwk(key.public_key())), "kid": kid, "alg": "EdDSA"}
    body = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}", httpd


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def phase(base: str, clients: int, requests: int, make_request) -> tuple[list[float], float, int]:
    """`clients` concurrent clients, each sending `requests` requests; returns latencies (ms), wall time, errors."""
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        async def one_client(index: int) -> None:
            nonlocal errors
            for n in range(requests):
                started = time.perf_counter()
                try:
                    response = await make_request(client, index, n)
                except httpx.TransportError:
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code >= 400:
                    errors += 1
        started = time.perf_counter()
        await asyncio.gather(*(one_client(i) for i in range(clients)))
        return latencies, time.perf_counter() - started, errors


async def run(args: argparse.Namespace, base: str, tokens: list[str]) -> dict:
    headers = [{"Authorization": f"Bearer {t}"} for t in tokens]

    async def health(client, i, n):
        return await client.get("/health")

    async def create(client, i, n):
        return await client.post(f"/api/bench-user-{i}/tasks", json={"title": f"task {n}"}, headers=headers[i])

    async def list_tasks(client, i, n):
        return await client.get(f"/api/bench-user-{i}/tasks", headers=headers[i])

    # Warm-up: connections, JWKS cache in every worker, SQLAlchemy pools.
    await phase(base, args.clients, 5, health)
    await phase(base, args.clients, 2, list_tasks)
    results = {}
    for name, fn in [("health", health), ("create_task", create), ("list_tasks", list_tasks)]:
        latencies, wall, errors = await phase(base, args.clients, args.requests, fn)
        results[name] = {"p50_ms": round(statistics.median(latencies), 2),
                         "p99_ms": round(percentile(latencies, 99), 2),
                         "requests": len(latencies), "errors": errors,
                         "throughput_rps": round(len(latencies) / wall, 1)}
    for name in ("create_task", "list_tasks"):
        results[name]["p50_vs_health"] = round(results[name]["p50_ms"] / results["health"]["p50_ms"], 2)
        results[name]["p99_vs_health"] = round(results[name]["p99_ms"] / results["health"]["p99_ms"], 2)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=40, help="requests per client per phase")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    admin_url = postgres_url()
    db_name = f"todo_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db_name}"')
    database_url = admin_url.rsplit("/", 1)[0] + f"/{db_name}"

    key, kid = Ed25519PrivateKey.generate(), secrets.token_hex(8)
    issuer, jwks_server = serve_jwks(key, kid)
    now = int(time.time())
    tokens = [jwt.encode({"sub": f"bench-user-{i}", "iat": now, "exp": now + 3600, "iss": issuer, "aud": issuer},
                         key, algorithm="EdDSA", headers={"kid": kid}) for i in range(args.clients)]

    env = {k: v for k, v in os.environ.items() if not k.startswith(("BETTER_AUTH", "ANTHROPIC", "DATABASE_URL"))}
    env.update(DATABASE_URL=database_url, BETTER_AUTH_JWKS_URL=f"{issuer}/api/auth/jwks", LOG_LEVEL="WARNING")
    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=BACKEND_DIR, env=env, check=True,
                   capture_output=True)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port",
                               str(port), "--workers", str(args.workers), "--no-access-log",
                               # Idle connections outlive the pauses between phases (no keep-alive races).
                               "--timeout-keep-alive", "60"],
                              cwd=BACKEND_DIR, env=env, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                print("backend did not start", file=sys.stderr)
                return 1
            time.sleep(0.3)
        results = asyncio.run(run(args, base, tokens))
        workers = psutil.Process(server.pid).children(recursive=True)
        rss = [round(worker.memory_info().rss / 2**20, 1) for worker in workers
               if "multiprocessing.resource_tracker" not in " ".join(worker.cmdline())]
        results["workers_rss_mib"] = rss
        results["rss_target_mib"] = RSS_TARGET_MIB
        results["rss_under_target"] = all(value < RSS_TARGET_MIB for value in rss)
        results["setup"] = {"clients": args.clients, "requests_per_client": args.requests, "workers": args.workers,
                            "database": "postgresql", "auth": "EdDSA JWT via JWKS", "cpus": os.cpu_count()}
    finally:
        server.terminate()
        server.wait(timeout=30)
        jwks_server.shutdown()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')

    print(f"{'endpoint':<12} {'p50 ms':>8} {'p99 ms':>8} {'p50/health':>11} {'p99/health':>11} {'req/s':>8} {'errors':>6}")
    for name in ("health", "create_task", "list_tasks"):
        r = results[name]
        print(f"{name:<12} {r['p50_ms']:>8} {r['p99_ms']:>8} {r.get('p50_vs_health', 1.0):>11} "
              f"{r.get('p99_vs_health', 1.0):>11} {r['throughput_rps']:>8} {r['errors']:>6}")
    print(f"worker RSS (MiB): {results['workers_rss_mib']} (target < {RSS_TARGET_MIB})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    errors = sum(results[name]["errors"] for name in ("health", "create_task", "list_tasks"))
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
