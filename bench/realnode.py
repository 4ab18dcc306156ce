"""The Todo Chatbot on the local cluster's real node (make up's cluster): numbers, never pass/fail.

- `make up` cold (no cluster: control plane, real node, image load, install) and warm (everything reused),
  as the time of scripts/up.py until it prints "Up in"; setup (toolchain, images) is not in these: a warm
  setup adds about 5 s (its own numbers are in bench/README.md);
- `helm install` to every pod Ready on the running cluster, against a one-container baseline pod
  (python -m http.server in the backend image, a readiness probe) started the same way in the same run;
  the plan's target: within 5 minutes;
- availability: one probe a second to each component's Service (frontend, backend, task MCP, ops-mcp)
  for --availability-seconds (the plan: 10 minutes, 100%), with a `helm upgrade` to new image tags in
  the middle;
- image sizes against their base image; memory: the control plane, the node's processes and each pod's
  working set (the kubelet's summary API).

    .venv/bin/python bench/realnode.py [--availability-seconds 600]

Needs the toolchain and images (make setup) and the machine's real-node slot (no `make up` cluster or
real-node test session running: this script makes and removes its own `make up` cluster).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from cluster import deploy, sandbox  # noqa: E402
from cluster.harness import Cluster  # noqa: E402
from cluster.node import NODE_NAME  # noqa: E402

COMPONENTS = {"frontend": (3000, "/api/health"), "backend": (8000, "/ready"), "mcp": (8001, "/health"), "ops-mcp": (8002, "/health")}


def run_up(timeout: float = 900) -> float:
    """scripts/up.py until it reports "Up in"; then Ctrl-C. Seconds."""
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "up.py")], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("Up in"):
            elapsed = time.monotonic() - start
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
            return elapsed
        if time.monotonic() - start > timeout:
            break
    proc.kill()
    raise RuntimeError("make up did not come up:\n" + "".join(lines[-40:]))


def baseline_pod_ready(cluster: Cluster, image: str, namespace: str) -> float:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "baseline", "namespace": namespace},
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": ["python", "-m", "http.server", "8080"],
                    "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1},
                }
            ]
        },
    }
    cluster.kubectl("create", "namespace", namespace)
    start = time.monotonic()
    cluster.apply(pod)
    cluster.kubectl("wait", "--for=condition=Ready", "pod/baseline", "-n", namespace, "--timeout=120s")
    elapsed = time.monotonic() - start
    cluster.kubectl("delete", "namespace", namespace, "--wait=false")
    return elapsed


def install_to_ready(cluster: Cluster, refs: dict[str, str], namespace: str) -> float:
    start = time.monotonic()
    deploy.install(cluster, namespace, refs, public_url="http://localhost:3999")
    return time.monotonic() - start


def availability(cluster: Cluster, refs: dict[str, str], seconds: float) -> dict:
    """One GET a second to each Service for `seconds`, a helm upgrade to new image tags half-way."""
    urls = {name: f"http://{deploy.cluster_ip(cluster, 'todo', f'todo-chatbot-{name}')}:{port}{path}" for name, (port, path) in COMPONENTS.items()}
    results = {name: {"ok": 0, "failed": []} for name in urls}
    stop = threading.Event()

    def probe(name: str, url: str) -> None:
        next_at = time.monotonic()
        while not stop.is_set():
            try:
                code = httpx.get(url, timeout=2, headers={"Connection": "close"}).status_code
                if code == 200:
                    results[name]["ok"] += 1
                else:
                    results[name]["failed"].append(f"{time.strftime('%H:%M:%S')} HTTP {code}")
            except httpx.HTTPError as exc:
                results[name]["failed"].append(f"{time.strftime('%H:%M:%S')} {type(exc).__name__}")
            next_at += 1.0
            stop.wait(max(0.0, next_at - time.monotonic()))

    threads = [threading.Thread(target=probe, args=item, daemon=True) for item in urls.items()]
    for t in threads:
        t.start()
    time.sleep(seconds / 2)
    env = {**os.environ, **deploy.engine_env()}
    new = {}
    for key, ref in refs.items():
        new[key] = f"{ref}-bench"
        subprocess.run(["docker", "tag", ref, new[key]], env=env, check=True, capture_output=True)
    deploy.load_images(cluster, new)
    upgrade_start = time.monotonic()
    deploy.install(cluster, "todo", new)
    upgrade_s = time.monotonic() - upgrade_start
    time.sleep(seconds / 2)
    stop.set()
    for t in threads:
        t.join(5)
    deploy.install(cluster, "todo", refs)  # back to the images make up runs
    out = {"seconds": seconds, "upgrade_s": round(upgrade_s, 1)}
    for name, r in results.items():
        total = r["ok"] + len(r["failed"])
        out[name] = {"probes": total, "ok_percent": round(100 * r["ok"] / total, 3) if total else None, "failed": r["failed"][:5]}
    return out


def image_sizes(refs: dict[str, str]) -> dict:
    env = {**os.environ, **deploy.engine_env()}

    def size(ref: str) -> int:
        return int(subprocess.run(["docker", "image", "inspect", "-f", "{{.Size}}", ref], env=env, capture_output=True, text=True, check=True).stdout)

    bases = {"backend": "todo-chatbot/base-python:bookworm", "ops-mcp": "todo-chatbot/base-python:bookworm", "frontend": "todo-chatbot/base-node:20-bookworm"}
    out = {}
    for key, ref in refs.items():
        mib, base = size(ref) / 2**20, size(bases[key]) / 2**20
        out[key] = {"mib": round(mib), "base_mib": round(base), "ratio_to_base": round(mib / base, 2)}
    return out


def rss_mib(names: tuple[str, ...], only_under: str | None = None) -> dict[str, float]:
    """RSS by process name; with `only_under`, only processes whose command line names that folder (the node's
    containerd, not the Docker engine's)."""
    out: dict[str, float] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            comm = (proc / "comm").read_text().strip()
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            rss = next(int(line.split()[1]) for line in (proc / "status").read_text().splitlines() if line.startswith("VmRSS:"))
        except (OSError, StopIteration, ValueError):
            continue
        for name in names:
            if comm.startswith(name[:15]) and (only_under is None or only_under in cmdline):
                out[name] = out.get(name, 0) + rss / 1024
    return {k: round(v, 1) for k, v in sorted(out.items())}


def memory(cluster: Cluster) -> dict:
    summary = json.loads(cluster.kubectl("get", "--raw", f"/api/v1/nodes/{NODE_NAME}/proxy/stats/summary").stdout)
    pods = {p["podRef"]["name"]: round(p["memory"]["workingSetBytes"] / 2**20, 1) for p in summary["pods"] if p["podRef"]["namespace"] == "todo"}
    control_plane = rss_mib(("kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler", "kwok"))
    node = rss_mib(("kubelet", "kube-proxy", "coredns", "hostpath-provisioner", "kube-router", "socat"))
    node.update(rss_mib(("containerd", "containerd-shim-runc-v2"), only_under=str(cluster.node.folder)))
    return {
        "app_pods_working_set_mib": pods,
        "app_total_mib": round(sum(pods.values()), 1),
        "control_plane_rss_mib": control_plane,
        "control_plane_total_mib": round(sum(control_plane.values()), 1),
        "node_rss_mib": node,
        "node_total_mib": round(sum(node.values()), 1),
        "machine_working_set_mib": round(summary["node"]["memory"]["workingSetBytes"] / 2**20, 1),  # the whole VM
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--availability-seconds", type=float, default=600)
    args = parser.parse_args()
    refs = deploy.built_images()
    result: dict = {}
    sandbox.down()
    result["make_up_cold_s"] = round(run_up(), 1)
    result["make_up_warm_s"] = round(run_up(), 1)
    result["make_up_warm_to_cold"] = round(result["make_up_warm_s"] / result["make_up_cold_s"], 3)
    cluster = sandbox.existing()
    baseline = baseline_pod_ready(cluster, refs["backend"], "bench-baseline")
    install = install_to_ready(cluster, refs, "bench-install")
    cluster.helm("uninstall", "todo-chatbot", "-n", "bench-install", "--wait=false")
    cluster.kubectl("delete", "namespace", "bench-install", "--wait=false")
    result["helm_install_to_all_ready_s"] = round(install, 1)
    result["baseline_pod_ready_s"] = round(baseline, 1)
    result["install_to_baseline"] = round(install / baseline, 1)
    result["install_target_s"] = 300
    result["images"] = image_sizes(refs)
    result["memory"] = memory(cluster)
    result["availability"] = availability(cluster, refs, args.availability_seconds)
    print(json.dumps(result, indent=2))
    if os.environ.get("BENCH_KEEP_CLUSTER") != "1":
        sandbox.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
