"""The whole fix loop on real failures (issue 14): for each failure class the real node makes the failure, an agent
without a model calls `diagnose` once and applies findings[0].fix.apply through the tools it names, and the
scenario's own check decides. At least 7 of every 8 scenarios must be repaired, each with at most 3 tool calls.
The tables are printed and written to artifacts/fix-loop-realnode-{fix,ask}.json.
"""

from __future__ import annotations

import io
import os
import re
import shlex
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
import pytest
from cluster.harness import ROOT, Cluster
from ops.ops_helpers import ops_env, stdio_client

from evals.conftest import FIX_LOOP_RESULTS
from evals.fix_loop import MAX_CALLS, LoopResult, result_for, run_loop, table, write_json
from evals.fix_loop_model import run_with_model
from evals.fix_scenarios import SCENARIOS, Env, Scenario, stays_healthy
from evals.loopback_registry import LoopbackRegistry

WAIT = float(os.environ.get("TODO_CHATBOT_NODE_WAIT", "0"))
pytestmark = [pytest.mark.realnode, pytest.mark.anyio, pytest.mark.timeout(1800 + WAIT)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def registry(real_cluster: Cluster, app_images: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackRegistry]:
    served = LoopbackRegistry(real_cluster, tmp_path_factory.mktemp("registry") / "registry.log")
    try:
        yield served
    finally:
        served.stop()


def set_up(cluster: Cluster, images: dict[str, str], registry: LoopbackRegistry, prefix: str) -> list[tuple[Scenario, Env]]:
    """Every scenario's failure in a namespace of its own, made concurrently (each waits for its kubelet state)."""
    # FIX_LOOP_SCENARIOS=name,name runs only those (a quicker look at one failure class)
    chosen = [s for s in SCENARIOS if s.name in os.environ.get("FIX_LOOP_SCENARIOS", s.name).split(",")]
    envs = [(s, Env(cluster, cluster.fresh_namespace(f"{prefix}{i}-{s.name}"[:63]), images, registry)) for i, s in enumerate(chosen)]
    with ThreadPoolExecutor(len(envs)) as pool:
        futures = [pool.submit(s.setup, env) for s, env in envs]
    for (_, env), future in zip(envs, futures, strict=True):
        if future.exception() is not None:  # the loop reports it as failed; the other scenarios still run
            env.facts["setup_error"] = f"setup failed: {future.exception()}"[:2000]
    return envs


CONCURRENT = 4  # scenarios whose loops run at once (each its own ops-mcp process and namespace); 8 made the load peak
# past what the other lane's timing-bound tests bear (a chat call timed out in CI at load 21)
NAMED, REPAIRED = 0.9, 0.8  # the acceptance: share of faults whose cause findings[0] names, share repaired


async def run_all(cluster: Cluster, images: dict[str, str], registry: LoopbackRegistry, tmp_path: Path, prefix: str, scripted: bool) -> str:
    """Every scenario, its loop run by the model-free agent or (scripted) the `ops-mcp ask` agent; returns the table."""
    envs = await anyio.to_thread.run_sync(set_up, cluster, images, registry, prefix)
    results: list[LoopResult] = []
    limit = anyio.CapacityLimiter(CONCURRENT)

    async def one(scenario: Scenario, env: Env) -> None:
        if "setup_error" in env.facts:
            results.append(result_for(scenario))
            results[-1].reason = env.facts["setup_error"]
            return
        async with limit:
            server_env = ops_env(cluster, env.ns, tmp_path / f"{env.ns}-audit.jsonl", **scenario.operator)
            if scripted:
                results.append(await run_with_model(scenario, env, server_env))
                return
            async with stdio_client(server_env) as client:
                results.append(await run_loop(client, scenario, env, server_env))

    try:
        async with anyio.create_task_group() as group:
            for scenario, env in envs:
                group.start_soon(one, scenario, env)
    finally:
        order = {s.name: i for i, (s, _) in enumerate(envs)}
        results.sort(key=lambda r: order[r.scenario])
        FIX_LOOP_RESULTS.extend((prefix, r) for r in results)
        write_json(results, ROOT / "artifacts" / f"fix-loop-realnode-{prefix}.json")
        for _, env in envs:
            cluster.api.delete_namespace(env.ns)
    out = io.StringIO()
    table(results, out)
    print(out.getvalue())
    failed = "\n\n".join(f"{r.scenario}: {r.reason}" for r in results if not r.ok)
    faults = [r for r in results if not r.control]
    repair = [r for r in faults if r.repairable]
    controls = [r for r in results if r.control or not r.repairable]
    assert sum(r.named for r in faults) >= NAMED * len(faults), f"causes named below {NAMED:.0%}:\n{out.getvalue()}\n{failed}"
    assert sum(r.ok for r in repair) >= REPAIRED * len(repair), f"repaired below {REPAIRED:.0%} (<= {MAX_CALLS} calls):\n{out.getvalue()}\n{failed}"
    assert all(r.ok for r in controls), f"a healthy control or an application's own fault was changed:\n{out.getvalue()}\n{failed}"
    return out.getvalue()


async def test_model_free_fix_loop_repairs_real_failures(real_cluster: Cluster, app_images: dict[str, str], registry: LoopbackRegistry, tmp_path: Path) -> None:
    """No model: diagnose once, apply findings[0].fix.apply as given (confirm=true on the tools that take it), check."""
    await run_all(real_cluster, app_images, registry, tmp_path, "fix", scripted=False)


async def test_scripted_model_fix_loop_repairs_real_failures(
    real_cluster: Cluster, app_images: dict[str, str], registry: LoopbackRegistry, tmp_path: Path
) -> None:
    """The same scenarios through `ops-mcp ask --yes` with a scripted model whose plan is composed from the real
    diagnose output (diagnose, then the fix's calls): the agent loop, its confirmation and its token count."""
    await run_all(real_cluster, app_images, registry, tmp_path, "ask", scripted=True)


async def test_a_released_volumes_admin_command_binds_the_waiting_claim(
    real_cluster: Cluster, app_images: dict[str, str], registry: LoopbackRegistry, tmp_path: Path
) -> None:
    """pv-released-new-claim is named only: its fix is a cluster admin's command (fix.note), a write of a cluster-scoped
    PersistentVolume that ops-mcp's change tools never make. Run as the note gives it, by a person with the cluster's
    admin kubeconfig, it binds the waiting claim and the Deployment mounting it rolls out."""
    scenario = next(s for s in SCENARIOS if s.name == "pv-released-new-claim")
    env = Env(real_cluster, real_cluster.fresh_namespace("admin-pv-released"), app_images, registry)
    try:
        await anyio.to_thread.run_sync(scenario.setup, env)
        async with stdio_client(ops_env(real_cluster, env.ns, tmp_path / "audit.jsonl")) as client:
            result = await client.call_tool("diagnose", {**scenario.target, "namespace": env.ns})
        first = (result.structured_content or {}).get("findings", [{}])[0]
        assert first.get("mode") == "pvc.volume_released" and not first["fix"].get("apply"), first
        command = re.search(r"`(kubectl patch pv [^`]+)`", first["fix"]["note"])
        assert command, first["fix"]
        argv = shlex.split(command.group(1))[1:]
        await anyio.to_thread.run_sync(lambda: real_cluster.kubectl(*argv))
        reason = await anyio.to_thread.run_sync(stays_healthy("reports"), env)
        assert reason is None, reason
    finally:
        real_cluster.api.delete_namespace(env.ns)
