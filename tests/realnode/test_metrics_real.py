"""top_pods / top_nodes on the real node: metrics-server (started by kwokctl beside the control plane, as Minikube's
addon) scrapes the real kubelet, so the numbers are a real process's CPU and memory."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cluster.harness import Cluster
from cluster.node import NODE_NAME
from ops.ops_helpers import ok
from test_failures_real import deployment, ops_mcp, wait_pod

pytestmark = [pytest.mark.realnode, pytest.mark.anyio]

# Holds 60 MiB (every page touched) and spins one core at about half its time.
BURN = """
import time
blocks = [bytearray(b"x" * (1 << 20)) for _ in range(60)]
print("holding", len(blocks), "MiB", flush=True)
while True:
    end = time.monotonic() + 0.05
    while time.monotonic() < end:
        pass
    time.sleep(0.05)
"""


async def test_top_pods_and_top_nodes_show_real_usage_against_requests_limits_and_allocatable(
    real_cluster: Cluster, app_images: dict[str, str], real_namespace: str, tmp_path: Path
) -> None:
    ns, cluster = real_namespace, real_cluster
    resources = {"requests": {"cpu": "100m", "memory": "100Mi"}, "limits": {"memory": "200Mi"}}
    cluster.apply(deployment("burner", app_images["backend"], BURN, resources=resources), ns)
    wait_pod(cluster, ns, "burner", lambda p: "running" in (((p.get("status") or {}).get("containerStatuses") or [{}])[0].get("state") or {}), "running")

    async with ops_mcp(cluster, ns, tmp_path, OPS_MCP_TOOLSETS="all") as ops:
        deadline = time.monotonic() + 150  # metrics-server scrapes every 15 s; a new pod's first point takes one or two
        while True:
            result = await ops.client.call_tool("top_pods", {})
            rows = [] if result.is_error else ok(result)["rows"]
            row = next((r for r in rows if r["name"].startswith("burner-")), None)
            if row and row["mem_mi"] >= 50:
                break
            assert time.monotonic() < deadline, f"no usable metrics for burner: {result.content[0].text}"
            time.sleep(5)
        assert 20 <= row["cpu_m"] <= 1000 and row["cpu_req%"] == round(100 * row["cpu_m"] / 100), row
        assert 50 <= row["mem_mi"] <= 150 and row["mem_lim%"] == round(100 * row["mem_mi"] / 200) and "cpu_lim%" not in row, row

        nodes = ok(await ops.client.call_tool("top_nodes", {}))["rows"]
        node = next(r for r in nodes if r["name"] == NODE_NAME)
        assert node["cpu_m"] > 0 and 0 < node["mem%"] <= 100 and node["mem_mi"] > row["mem_mi"], node


# Holds 140 MiB (every page touched) and spins without pause under a 100m CPU limit: near the memory limit and
# throttled by the kernel's CFS quota, for real.
PRESSED = """
blocks = [bytearray(b"x" * (1 << 20)) for _ in range(140)]
print("holding", len(blocks), "MiB", flush=True)
while True:
    pass
"""


async def test_diagnose_reads_real_usage_against_limits_near_oom_and_throttled(
    real_cluster: Cluster, app_images: dict[str, str], real_namespace: str, tmp_path: Path
) -> None:
    ns, cluster = real_namespace, real_cluster
    resources = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "100m", "memory": "160Mi"}}
    cluster.apply(deployment("pressed", app_images["backend"], PRESSED, resources=resources), ns)
    wait_pod(cluster, ns, "pressed", lambda p: "running" in (((p.get("status") or {}).get("containerStatuses") or [{}])[0].get("state") or {}), "running")

    async with ops_mcp(cluster, ns, tmp_path) as ops:  # the default toolsets: diagnose reads metrics on its own
        deadline = time.monotonic() + 180  # metrics-server's first point for a new pod takes one or two scrapes
        while True:
            report = ok(await ops.client.call_tool("diagnose", {"kind": "deployment", "name": "pressed"}))
            modes = {f["mode"]: f for f in report.get("findings", [])}
            if {"resources.memory_near_limit", "resources.cpu_throttled"} <= set(modes):
                break
            assert time.monotonic() < deadline, f"no usage findings: {report}"
            time.sleep(5)
    memory, cpu = modes["resources.memory_near_limit"], modes["resources.cpu_throttled"]
    assert "of its 160Mi memory limit" in memory["cause"]["text"] and memory["sev"] == "medium", memory
    assert "of its 100m CPU limit" in cpu["cause"]["text"] and "throttles" in cpu["cause"]["text"], cpu
    used = int(cpu["ev"][0]["v"].rstrip("m"))
    assert 90 <= used <= 110, cpu["ev"]  # the quota holds it at its limit
    assert memory["fix"]["apply"][0]["tool"] == "patch_resource", memory["fix"]
