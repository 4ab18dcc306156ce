"""Everything around the chart: rendered manifests, kustomize overlays, kagent objects, images,
docker-compose, MCP client configs, the devcontainer and the Minikube flow's prerequisite checks."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from k8s_chart import ROOT, find, load_yaml_docs, one, tool


def kustomize(path: Path) -> list[dict]:
    out = subprocess.run([tool("kubectl"), "kustomize", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def test_rendered_manifests_are_in_sync_with_the_chart() -> None:
    env = {**os.environ, "HELM": tool("helm")}
    proc = subprocess.run([str(ROOT / "k8s" / "render-manifests.sh"), "--check"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifests = load_yaml_docs(ROOT / "k8s" / "manifests" / "todo-chatbot.yaml")
    assert not find(manifests, "Secret"), "the plain manifests must not carry a Secret"
    assert not [d for d in manifests if d["metadata"]["name"].endswith("-test")], "no helm test hook in manifests"


def test_render_check_detects_a_stale_file(tmp_path: Path) -> None:
    # A copy of k8s/ with an edited manifest: --check must fail and say how to fix it.
    copy = tmp_path / "k8s"
    shutil.copytree(ROOT / "k8s", copy)
    stale = copy / "manifests" / "todo-chatbot.yaml"
    stale.write_text(stale.read_text().replace("replicas: 1", "replicas: 3", 1))
    proc = subprocess.run([str(copy / "render-manifests.sh"), "--check"], capture_output=True, text=True, env={**os.environ, "HELM": tool("helm")}, timeout=120)
    assert proc.returncode == 1
    assert "out of date" in proc.stderr and "render-manifests.sh" in proc.stderr


def test_kustomize_overlays_build() -> None:
    base = kustomize(ROOT / "k8s" / "kustomize" / "base")
    assert one(base, "Namespace", "todo")
    assert all(d["metadata"].get("namespace") == "todo" for d in base if d["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"))
    mini = kustomize(ROOT / "k8s" / "kustomize" / "overlays" / "minikube")
    fe = one(mini, "Service", "todo-chatbot-frontend")["spec"]
    assert fe["type"] == "NodePort" and fe["ports"][0]["nodePort"] == 30080
    assert one(mini, "Ingress", "todo-chatbot")["spec"]["rules"][0]["host"] == "todo.local"
    images = {c["image"] for d in find(mini, "Deployment") for c in d["spec"]["template"]["spec"]["containers"]}
    assert images == {"todo-chatbot/frontend:dev", "todo-chatbot/backend:dev", "todo-chatbot/ops-mcp:dev"}
    prod = kustomize(ROOT / "k8s" / "kustomize" / "overlays" / "production")
    assert not find(prod, "StatefulSet") and not find(prod, "Service", "todo-chatbot-postgresql")
    assert one(prod, "Deployment", "todo-chatbot-backend")["spec"]["replicas"] == 2
    assert one(prod, "ConfigMap", "todo-chatbot-backend")["data"]["BETTER_AUTH_ISSUER"].startswith("https://")
    assert {h["spec"]["scaleTargetRef"]["name"] for h in find(prod, "HorizontalPodAutoscaler")} == {
        "todo-chatbot-frontend",
        "todo-chatbot-backend",
        "todo-chatbot-mcp",
    }


def test_kagent_objects_reference_each_other() -> None:
    docs = kustomize(ROOT / "k8s" / "kagent")
    assert {d["apiVersion"] for d in docs} == {"kagent.dev/v1alpha2"}
    model = one(docs, "ModelConfig", "todo-ops-model")
    agent = one(docs, "Agent", "todo-ops-agent")
    assert agent["spec"]["declarative"]["modelConfig"] == model["metadata"]["name"]
    servers = {d["metadata"]["name"]: d for d in find(docs, "RemoteMCPServer")}
    assert servers["todo-ops-mcp"]["spec"]["url"].endswith(":8002/mcp")
    assert servers["todo-task-mcp"]["spec"]["url"].endswith(":8001/mcp")
    (tool_ref,) = agent["spec"]["declarative"]["tools"]
    mcp = tool_ref["mcpServer"]
    assert mcp["name"] in servers and mcp["apiGroup"] == "kagent.dev"
    assert set(mcp["requireApproval"]) == {
        "scale_deployment",
        "rollout_restart",
        "rollout_undo",
        "patch_resource",
        "apply_manifest",
        "delete_resource",
        "deploy_chart",
        "rollback_release",
    }
    assert set(mcp["requireApproval"]) <= set(mcp["toolNames"])
    assert "uninstall_release" not in mcp["toolNames"]


# --- images -----------------------------------------------------------------------------------

IMAGES = {  # Dockerfile -> (build context, ports it exposes)
    "backend-app/Dockerfile": (".", {8000, 8001}),
    "frontend/Dockerfile": ("frontend", {3000}),
    "ops_mcp/Dockerfile": (".", {8002}),
}


def dockerignore_for(dockerfile: Path, context: Path) -> list[str]:
    specific = dockerfile.with_name(dockerfile.name + ".dockerignore")
    path = specific if specific.exists() else context / ".dockerignore"
    assert path.exists(), f"{dockerfile} has no .dockerignore for its context {context}"
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def ignored(rel: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; '!' re-includes. A directory match covers its files."""
    result = False
    parts = rel.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for pat in patterns:
        neg = pat.startswith("!")
        pat = pat[1:] if neg else pat
        pat = pat.rstrip("/").removeprefix("./")
        if any(fnmatch.fnmatch(p, pat) or fnmatch.fnmatch(p, pat.replace("**/", "")) for p in prefixes):
            result = not neg
    return result


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    text = re.sub(r"<<'PY'.*?\nPY\n", "\n", text, flags=re.S)  # heredoc bodies
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_dockerfile_is_multistage_nonroot_with_healthcheck(name: str) -> None:
    dockerfile = ROOT / name
    context_rel, ports = IMAGES[name]
    context = ROOT / context_rel
    steps = instructions(dockerfile)
    froms = [rest for word, rest in steps if word == "FROM"]
    assert len(froms) >= 2, "multi-stage build expected"
    assert all(" AS " in f.upper() for f in froms), "every stage is named"
    # The final stage runs as a numeric non-root user and declares a healthcheck and the interface ports.
    final = steps[max(i for i, (w, _) in enumerate(steps) if w == "FROM") :]
    users = [rest for word, rest in final if word == "USER"]
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0", users
    assert any(word == "HEALTHCHECK" for word, _ in final)
    exposed = {int(p) for word, rest in final if word == "EXPOSE" for p in rest.split()}
    assert exposed == ports
    assert not [r for w, r in steps if w in ("FROM",) and r.split()[0].endswith(":latest")]
    # Every COPY from the build context names a file that exists and the .dockerignore lets through.
    patterns = dockerignore_for(dockerfile, context)
    for word, rest in steps:
        if word != "COPY" or "--from=" in rest:
            continue
        args = [a for a in rest.split() if not a.startswith("--")]
        for src in args[:-1]:
            if src == ".":
                continue
            assert (context / src).exists(), f"{name}: COPY source {src} is missing"
            assert not ignored(src.rstrip("/"), patterns), f"{name}: COPY source {src} is excluded by .dockerignore"
    # Nothing heavy or secret is sent to the builder.
    for junk in (".venv/x", "node_modules/x", ".env", ".git/HEAD", "frontend/node_modules/x"):
        if context_rel == "." or not junk.startswith("frontend/"):
            assert ignored(junk, patterns), f"{name}: {junk} should be excluded from the context"


def test_compose_runs_every_component_hardened_without_literal_secrets() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "migrate", "backend", "mcp", "frontend", "ops-mcp"} <= set(services)
    for name, svc in services.items():
        build = svc.get("build")
        if build:
            ctx = ROOT / (build if isinstance(build, str) else build["context"])
            dockerfile = ctx / (build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile")
            assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
        for key, value in (svc.get("environment") or {}).items():
            if re.search(r"SECRET|TOKEN|PASSWORD|API_KEY", key):
                assert str(value).startswith("${"), f"{name}: {key} must come from the environment, not the file"
        if name != "postgres":
            assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"], name
    assert services["mcp"]["command"][:3] == ["python", "-m", "app.task_mcp"]
    assert services["backend"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    published = {p.split(":")[-1] for s in services.values() for p in s.get("ports", [])}
    assert published == {"3000", "8000", "8001", "8002"}


# --- client configs ------------------------------------------------------------------------------


def test_kubectl_ai_config_matches_its_loader() -> None:
    config = yaml.safe_load((ROOT / ".mcp" / "kubectl-ai" / "mcp.yaml").read_text())
    servers = config["servers"]
    assert isinstance(servers, list), "kubectl-ai reads a list of servers (pkg/mcp/config.go)"
    names = [s["name"] for s in servers]
    assert len(names) == len(set(names))
    for s in servers:
        assert bool(s.get("url")) != bool(s.get("command")), s
        # MCP_<NAME>_TOKEN must be a valid environment variable name.
        assert re.fullmatch(r"[a-z0-9_]+", s["name"]), s["name"]
        if s.get("auth"):
            assert s["auth"]["token"] == "", "tokens come from MCP_<NAME>_TOKEN, never the file"
    stdio = next(s for s in servers if s.get("command"))
    assert [stdio["command"], *stdio["args"]] == ["ops-mcp", "serve", "--transport", "stdio"]


def test_claude_desktop_and_devcontainer_are_valid_json() -> None:
    desktop = json.loads((ROOT / ".mcp" / "claude_desktop_config.example.json").read_text())
    server = desktop["mcpServers"]["todo-ops"]
    assert server["args"] == ["serve", "--transport", "stdio"] and server["command"].startswith("/")
    dev = json.loads((ROOT / ".devcontainer" / "devcontainer.json").read_text())
    assert {3000, 8000, 8001, 8002} == set(dev["forwardPorts"])
    assert "features" not in dev and dev["build"]["dockerfile"] == "Dockerfile"  # tests/devcontainer/ checks the rest


# --- Minikube flow ------------------------------------------------------------------------------


def run_flow(path: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "HOME": os.environ.get("HOME", "/root"), "TODO_CHATBOT_CACHE": "/nonexistent"}
    return subprocess.run(["/bin/bash", str(ROOT / "scripts" / "minikube-up.sh")], capture_output=True, text=True, env=env, timeout=60)


def test_minikube_flow_names_every_missing_prerequisite(tmp_path: Path) -> None:
    # A PATH with the basic tools only: no minikube, no docker, no helm.
    bare = tmp_path / "bin"
    bare.mkdir()
    for name in ("git", "date", "grep", "cat", "mktemp", "rm", "curl"):
        found = shutil.which(name)
        if found:
            (bare / name).symlink_to(found)
    proc = run_flow(str(bare))
    assert proc.returncode == 1
    assert "minikube is not installed" in proc.stderr
    assert "docker is not installed" in proc.stderr
    assert "helm is not installed" in proc.stderr
    assert "starting Minikube" not in proc.stderr


def test_minikube_flow_reports_an_unreachable_docker_engine(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if docker is None or shutil.which("minikube"):
        pytest.skip("needs a docker CLI and no minikube on this machine")
    engine_up = subprocess.run([docker, "info"], capture_output=True, timeout=30).returncode == 0
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "docker").symlink_to(docker)
    proc = run_flow(str(bare))
    assert proc.returncode == 1 and "minikube is not installed" in proc.stderr
    if not engine_up:
        assert "its engine is not reachable" in proc.stderr


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_kubectl_ai_stdio_entry_starts_the_ops_server(anyio_backend: str, tmp_path: Path) -> None:
    """The stdio server of the kubectl-ai config, started as written, answers tools/list over MCP
    (ops-mcp contacts no cluster before the first tool call)."""
    from mcp import Client, StdioServerParameters

    config = yaml.safe_load((ROOT / ".mcp" / "kubectl-ai" / "mcp.yaml").read_text())
    server = next(s for s in config["servers"] if s.get("command"))
    venv_bin = Path(sys.executable).parent
    command = shutil.which(server["command"], path=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    assert command, f"{server['command']} is not installed in {venv_bin}: pip install -e . (make setup)"
    env = {**os.environ, **server.get("env", {}), "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "none")}
    params = StdioServerParameters(command=command, args=server["args"], env=env, cwd=str(tmp_path))
    async with Client(params, read_timeout_seconds=60) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert {"get_app_status", "get_pod_logs", "diagnose", "scale_deployment"} <= names


def test_the_default_model_is_one_the_sdk_knows_and_the_same_everywhere() -> None:
    """The chat backend, `ops-mcp ask`, the chart and kagent's ModelConfig default to one model name, and
    the installed Anthropic SDK lists it as a model."""
    import typing

    from anthropic.types import Model
    from k8s_chart import render

    from app.core.config import Settings
    from ops_mcp.ask import DEFAULT_MODEL

    def names(t) -> set[str]:
        out: set[str] = set()
        for arg in typing.get_args(t):
            out |= {arg} if isinstance(arg, str) else names(arg)
        return out

    chart = one(render(), "ConfigMap", "todo-chatbot-backend")["data"]["ANTHROPIC_MODEL"]
    kagent = one(load_yaml_docs(ROOT / "k8s" / "kagent" / "modelconfig.yaml"), "ModelConfig", "todo-ops-model")["spec"]["model"]
    backend = Settings.model_fields["anthropic_model"].default
    assert {backend, DEFAULT_MODEL, chart, kagent} == {DEFAULT_MODEL}
    assert DEFAULT_MODEL in names(Model), f"{DEFAULT_MODEL!r} is not a model name the anthropic SDK knows"
