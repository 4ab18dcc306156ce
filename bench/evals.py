"""Scenario evals with a real model: `ANTHROPIC_API_KEY=... .venv/bin/python bench/evals.py [scenario ...]`.

Without ANTHROPIC_API_KEY it runs the scripted model (the same as the CI test). It starts its own test
control plane, runs each scenario in a fresh namespace, and prints pass/fail, tool calls, tokens in
tool outputs and total tokens per scenario.
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


async def main(names: list[str]) -> int:
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
