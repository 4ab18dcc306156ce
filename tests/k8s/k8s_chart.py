"""Helpers for the packaging tests: render the chart with the real helm binary."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "k8s" / "helm" / "todo-chatbot"
VALUES = {
    "default": [],
    "minikube": [CHART / "values-minikube.yaml"],
    "production": [CHART / "values-production.yaml"],
}
KAGENT_API_VERSIONS = [f"kagent.dev/v1alpha2/{kind}" for kind in ("Agent", "ModelConfig", "RemoteMCPServer")]


def tool(name: str) -> str:
    """helm/kubectl from the pinned toolchain (scripts/toolchain.sh)."""
    cache = Path(os.environ.get("TODO_CHATBOT_CACHE", Path.home() / ".cache" / "todo-chatbot"))
    path = cache / "bin" / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: run scripts/toolchain.sh (or make setup) to fetch the pinned {name}")
    return str(path)


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([tool("helm"), *args], capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def template_args(
    profile: str = "default", sets: dict[str, str] | None = None, *, release: str = "todo-chatbot", namespace: str = "todo", extra: tuple[str, ...] = ()
) -> list[str]:
    args = ["template", release, str(CHART), "--namespace", namespace]
    for f in VALUES[profile]:
        args += ["-f", str(f)]
    for key, value in (sets or {}).items():
        args += ["--set", f"{key}={value}"]
    return [*args, *extra]


def render(profile: str = "default", sets: dict[str, str] | None = None, **kw) -> list[dict]:
    """The chart's objects (hooks and tests included) as dicts."""
    out = helm(*template_args(profile, sets, **kw)).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def find(docs: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: list[dict], kind: str, name: str) -> dict:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}: {[d['metadata']['name'] for d in find(docs, kind)]}"
    return found[0]


def pod_specs(docs: list[dict]) -> list[tuple[str, dict]]:
    """(kind/name, pod spec) of every workload, hook Job and test Job."""
    specs = []
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet", "Job"):
            specs.append((f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]["spec"]))
    return specs


def load_yaml_docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]
