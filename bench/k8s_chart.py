"""The todo-chatbot chart on the test control plane (real apiserver, KWOK nodes): how long helm takes to
render it, install it until every Deployment is Available (hooks included), roll one component on upgrade,
and roll back, each as a ratio to the same helm operation on the one-Deployment smoke chart in the same run.

KWOK turns pods Ready at once, so this measures helm, the apiserver and the controllers, not image pulls
or app start-up; the Minikube flow (scripts/minikube-up.sh) reports the real wall time against 5 minutes.

    .venv/bin/python bench/k8s_chart.py [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from cluster.harness import Cluster  # noqa: E402

CHART = ROOT / "k8s" / "helm" / "todo-chatbot"
SMOKE = ROOT / "tests" / "cluster" / "testdata" / "smoke-chart"
KWOK = ["--set", "postgresql.persistence.enabled=false", "--set", "backend.replicaCount=2"]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def one_run(cluster: Cluster, i: int) -> dict[str, float]:
    ns, base_ns = f"bench-chart-{i}", f"bench-smoke-{i}"
    for n in (ns, base_ns):
        cluster.kubectl("create", "namespace", n)
    wait = ["--wait", "--timeout", "300s"]
    r: dict[str, float] = {}
    r["render"] = timed(lambda: cluster.helm("template", "todo-chatbot", str(CHART), "-n", ns))
    r["render_base"] = timed(lambda: cluster.helm("template", "smoke", str(SMOKE), "-n", base_ns))
    r["install"] = timed(lambda: cluster.helm("install", "todo-chatbot", str(CHART), "-n", ns, *KWOK, *wait))
    r["install_base"] = timed(lambda: cluster.helm("install", "smoke", str(SMOKE), "-n", base_ns, *wait))
    r["upgrade"] = timed(lambda: cluster.helm("upgrade", "todo-chatbot", str(CHART), "-n", ns, *KWOK,
                                              "--set", f"anthropicModel=bench-{i}", *wait))
    r["upgrade_base"] = timed(lambda: cluster.helm("upgrade", "smoke", str(SMOKE), "-n", base_ns,
                                                   "--set", f"image=registry.example/smoke:1.1.{i}", *wait))
    r["rollback"] = timed(lambda: cluster.helm("rollback", "todo-chatbot", "1", "-n", ns, *wait))
    r["rollback_base"] = timed(lambda: cluster.helm("rollback", "smoke", "1", "-n", base_ns, *wait))
    for n in (ns, base_ns):
        cluster.kubectl("delete", "namespace", n, "--wait=false")
    return r


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-k8s-chart-"))
    cluster = Cluster.create(workdir, "bench")
    try:
        runs = [one_run(cluster, i) for i in range(args.runs)]
    finally:
        cluster.delete()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"todo-chatbot chart vs the one-Deployment smoke chart, median of {args.runs} runs (seconds)")
    print(f"{'operation':<10} {'chart':>8} {'smoke':>8} {'ratio':>7}")
    for op in ("render", "install", "upgrade", "rollback"):
        chart = statistics.median(r[op] for r in runs)
        base = statistics.median(r[f"{op}_base"] for r in runs)
        print(f"{op:<10} {chart:8.2f} {base:8.2f} {chart / base:7.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
