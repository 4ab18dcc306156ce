"""Scenario evals with a real model: `ANTHROPIC_API_KEY=... .venv/bin/python bench/evals.py [--real-node] [scenario ...]`.

Without ANTHROPIC_API_KEY it runs the scripted model (the same as the CI test). It starts its own test
control plane, runs each scenario in a fresh namespace, and prints pass/fail, tool calls, tokens in
tool outputs and total tokens per scenario.

--real-node: the fix-loop scenarios (tests/evals/fix_scenarios.py: real failures on the real kubelet node, each
with its own check of the repair) through `ops-mcp ask --yes`; the machine's one real node is claimed (set
TODO_CHATBOT_NODE_WAIT=<seconds> to wait for it).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import anyio  # noqa: E402

from cluster.harness import Cluster  # noqa: E402
from evals.scenarios import SCENARIOS, report, run  # noqa: E402


async def real_node(names: list[str], scripted: bool) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from cluster import deploy
    from evals.fix_loop import table
    from evals.fix_loop_model import run_with_model
    from evals.fix_scenarios import SCENARIOS as FIX_SCENARIOS
    from evals.fix_scenarios import Env
    from evals.loopback_registry import LoopbackRegistry

    chosen = [s for s in FIX_SCENARIOS if not names or s.name in names]
    if not chosen:
        print(f"no such scenario; choose from: {', '.join(s.name for s in FIX_SCENARIOS)}", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="todo-chatbot-evals-real-"))
    cluster = Cluster.create(workdir, name="real", real_node=True, timeout=240)
    results = []
    try:
        images = deploy.built_images()
        deploy.load_images(cluster, images)
        registry = LoopbackRegistry(cluster, workdir / "registry.log")
        envs = []
        for i, scenario in enumerate(chosen):
            ns = f"eval{i}-{scenario.name}"[:63]
            cluster.kubectl("create", "namespace", ns)
            cluster.wait_for(lambda: cluster.kubectl("get", "sa", "default", "-n", ns, check=False).returncode == 0, 30)
            envs.append((scenario, Env(cluster, ns, images, registry)))
        with ThreadPoolExecutor(len(envs)) as pool:
            for future in [pool.submit(s.setup, env) for s, env in envs]:
                future.result()
        for scenario, env in envs:
            server_env = {k: v for k, v in cluster.env.items() if not k.startswith("OPS_MCP_")}
            server_env.update(
                OPS_MCP_NAMESPACE=env.ns, OPS_MCP_AUDIT_LOG=str(workdir / f"{env.ns}-audit.jsonl"), OPS_MCP_HELM_BINARY=str(cluster.bin_dir / "helm")
            )
            server_env.update(scenario.operator)  # what the operator allowed for this repair (an RBAC grant, a NetworkPolicy)
            results.append(await run_with_model(scenario, env, server_env, scripted=scripted))
            print(f"  {scenario.name}: {'pass' if results[-1].ok else 'FAIL: ' + results[-1].reason[:300]}", flush=True)
        registry.stop()
    finally:
        cluster.delete()
    table(results, sys.stdout)
    return 0 if all(r.ok for r in results) else 1


async def main(names: list[str]) -> int:
    if "--real-node" in names:
        scripted = not os.environ.get("ANTHROPIC_API_KEY")
        print(f"model: {'scripted (set ANTHROPIC_API_KEY for a real one)' if scripted else os.environ.get('ANTHROPIC_MODEL', 'default')}")
        return await real_node([n for n in names if n != "--real-node"], scripted)
    chosen = [s for s in SCENARIOS if not names or s.name in names]
    if not chosen:
        print(f"no such scenario; choose from: {', '.join(s.name for s in SCENARIOS)}", file=sys.stderr)
        return 2
    scripted = not os.environ.get("ANTHROPIC_API_KEY")
    print(f"model: {'scripted (set ANTHROPIC_API_KEY for a real one)' if scripted else os.environ.get('ANTHROPIC_MODEL', 'default')}")
    workdir = Path(tempfile.mkdtemp(prefix="todo-chatbot-evals-"))
    cluster = Cluster.create(workdir)
    results = []
    try:
        for i, scenario in enumerate(chosen):
            ns = f"eval{i}-{scenario.name}"
            cluster.kubectl("create", "namespace", ns)
            cluster.wait_for(lambda: cluster.kubectl("get", "sa", "default", "-n", ns, check=False).returncode == 0, 30)
            results.append(await run(cluster, ns, scenario, workdir, scripted=scripted))
            print(f"  {scenario.name}: {'pass' if results[-1].passed else 'FAIL: ' + results[-1].reason}", flush=True)
    finally:
        cluster.delete()
    report(results)
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(anyio.run(main, sys.argv[1:]))
