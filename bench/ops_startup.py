#!/usr/bin/env python3
"""ops-mcp start-up and tools/list cost, with no cluster (the API server address is a local
socket that counts connections, to prove nothing contacts it before the first tool call).

Measures, in one run:
- tools/list tokens (chars/4): model-visible (name + description + inputSchema) and the whole list
  (with annotations, titles, outputSchemas);
- spawn -> first tools/list reply, against the time to import the MCP SDK alone (ratio);
- the server's peak RSS at idle;
- connections made to the API server before any tool call (must be 0).

Usage: .venv/bin/python bench/ops_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def rpc(proc: subprocess.Popen, msg: dict) -> None:
    proc.stdin.write((json.dumps(msg) + "\n").encode())
    proc.stdin.flush()


def read_reply(proc: subprocess.Popen, want_id: int) -> dict:
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("server closed stdout")
        msg = json.loads(line)
        if msg.get("id") == want_id:
            return msg


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class CountingListener:
    """A TCP port standing in for the API server; counts connection attempts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


def one_run(env: dict[str, str]) -> tuple[float, dict, float, int]:
    start = time.perf_counter()
    proc = subprocess.Popen([PY, "-m", "ops_mcp.cli", "serve", "--transport", "stdio"], env=env, cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        rpc(proc, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}})
        read_reply(proc, 1)
        rpc(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        rpc(proc, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        tools = read_reply(proc, 2)["result"]
        elapsed = time.perf_counter() - start
        rss = peak_rss_mib(proc.pid)
        return elapsed, tools, rss, 0
    finally:
        proc.stdin.close()
        proc.terminate()
        proc.wait(timeout=10)


def sdk_import_time(env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([PY, "-c", "import mcp.server.mcpserver"], env=env, check=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    listener = CountingListener()
    tmp = Path(tempfile.mkdtemp())
    kubeconfig = tmp / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{listener.port}'}}}}]\n"
        "users: [{name: u, user: {token: bench}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPS_MCP_")}
    env.update(OPS_MCP_KUBECONFIG=str(kubeconfig), OPS_MCP_AUDIT_LOG=str(tmp / "audit.jsonl"))

    sdk_import_time(env)  # warm the page cache for both measurements
    spawn, imports, rss = [], [], []
    tools_result = None
    for _ in range(args.runs):
        imports.append(sdk_import_time(env))
        elapsed, tools_result, peak, _ = one_run(env)
        spawn.append(elapsed)
        rss.append(peak)
    tools = tools_result["tools"]
    visible = sum(len(json.dumps({k: t[k] for k in ("name", "description", "inputSchema") if k in t})) for t in tools) / 4
    full = len(json.dumps(tools_result)) / 4
    out_schemas = sum(len(json.dumps(t.get("outputSchema", {}))) for t in tools) / 4
    p50_spawn, p50_import = statistics.median(spawn), statistics.median(imports)
    # Every toolset listed (the opt-in ones too), counted per toolset.
    _, every, _, _ = one_run({**env, "OPS_MCP_TOOLSETS": "all", "OPS_MCP_ALLOW_EXEC": "true"})
    from ops_mcp.server import build_server
    from ops_mcp.settings import load_settings

    catalog = build_server(load_settings(toolsets=["all"], allow_exec=True)).ops.catalog
    by_toolset: dict[str, int] = {}
    for t in every["tools"]:
        share = len(json.dumps({k: t[k] for k in ("name", "description", "inputSchema") if k in t})) / 4
        by_toolset[catalog[t["name"]]] = by_toolset.get(catalog[t["name"]], 0) + round(share)
    report = {
        "tools": len(tools),
        "tokens_model_visible": round(visible),
        "tokens_full_list": round(full),
        "tokens_output_schemas": round(out_schemas),
        "spawn_to_tools_list_s_p50": round(p50_spawn, 3),
        "sdk_import_s_p50": round(p50_import, 3),
        "spawn_vs_sdk_import_ratio": round(p50_spawn / p50_import, 2),
        "idle_peak_rss_mib_max": round(max(rss), 1),
        "api_server_connections_before_first_call": listener.connections,
        "model_visible_by_toolset (all listed)": by_toolset,
        "per_tool_model_visible": {t["name"]: round(len(json.dumps({k: t[k] for k in ("name", "description", "inputSchema") if k in t})) / 4) for t in tools},
        "targets": {"model_visible_lt": 3000, "full_lt": 6000, "ratio_lt": 1.2, "idle_rss_mib_lt": 120, "connections": 0},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
