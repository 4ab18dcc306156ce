"""`ops-mcp doctor` and the MCP resources against the real control plane."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from ops_helpers import ROOT, deployment, ops_env, stdio_client

pytestmark = pytest.mark.cluster


def doctor(env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ops_mcp.cli", "doctor", *flags], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)


def test_doctor_passes_with_admin_and_names_missing_rbac_for_a_limited_identity(cluster, namespace, audit_log, tmp_path):
    proc = doctor(ops_env(cluster, namespace, audit_log))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["CHECK", "OK", "DETAIL"]
    assert any(line.startswith("cluster") and cluster.server in line for line in lines)
    assert any(line.startswith("rbac scale_deployment") and " yes " in line for line in lines)
    assert any(line.startswith("helm ") and "v4." in line and "(helm 4: rollback with --rollback-on-failure)" in line for line in lines)
    # the write policy and the consent mode, as this server runs them
    assert any(line.startswith("consent") and "client (OPS_MCP_CONSENT=auto" in line for line in lines), lines
    assert any(line.startswith("policy rbac") and "on: refuses writes to Roles" in line for line in lines)
    over_http = doctor(ops_env(cluster, namespace, audit_log, OPS_MCP_ALLOW_SECRET_WRITES="true"), "--transport", "http").stdout.splitlines()
    assert any(line.startswith("consent") and "elicit" in line for line in over_http)
    assert any(line.startswith("policy secrets") and "off (OPS_MCP_ALLOW_SECRET_WRITES)" in line for line in over_http), over_http
    helm3 = doctor(ops_env(cluster, namespace, audit_log, OPS_MCP_HELM_BINARY=str(cluster.bin_dir / "helm3"))).stdout.splitlines()
    assert any(line.startswith("helm ") and "v3." in line and "(helm 3: rollback with --atomic)" in line for line in helm3), helm3

    cluster.apply(
        [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "viewer"}},
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "viewer"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": namespace}],
            },
        ],
        namespace,
    )
    token = cluster.kubectl("create", "token", "viewer", "-n", namespace).stdout.strip()
    admin = yaml.safe_load(open(cluster.kubeconfig))
    kc = tmp_path / "viewer.kubeconfig"
    kc.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "v",
                "clusters": [{"name": "c", "cluster": admin["clusters"][0]["cluster"]}],
                "users": [{"name": "v", "user": {"token": token}}],
                "contexts": [{"name": "v", "context": {"cluster": "c", "user": "v"}}],
            }
        )
    )
    proc = doctor(ops_env(cluster, namespace, audit_log, OPS_MCP_KUBECONFIG=str(kc)))
    assert proc.returncode == 1
    scale = next(line for line in proc.stdout.splitlines() if line.startswith("rbac scale_deployment"))
    assert " NO " in scale and f"patch deployments.apps/scale in {namespace}" in scale
    status = next(line for line in proc.stdout.splitlines() if line.startswith("rbac rollout_status"))
    assert " yes " in status
    # Read-only mode checks only what the listed (read) tools need.
    proc = doctor(ops_env(cluster, namespace, audit_log, OPS_MCP_KUBECONFIG=str(kc)), "--read-only")
    assert "rbac scale_deployment" not in proc.stdout


@pytest.mark.anyio
async def test_app_status_resource(cluster, namespace, audit_log):
    cluster.apply(deployment("web", 1), namespace)
    async with stdio_client(ops_env(cluster, namespace, audit_log)) as c:
        res = await c.read_resource("ops://app/status")
    data = yaml.safe_load(res.contents[0].text)
    assert data["namespace"] == namespace and data["workloads"][0]["name"] == "web"


@pytest.mark.anyio
async def test_installed_package_has_no_checkout_paths(cluster, namespace, audit_log, tmp_path):
    """ops-mcp installed as a package (not the checkout): no default chart under site-packages, relative chart and
    values paths read against the working directory."""
    import json
    import shutil

    from ops_helpers import CHARTS, call, err, ok

    site, source = tmp_path / "site", tmp_path / "source"  # built from a copy: setuptools leaves build/ in the tree
    shutil.copytree(ROOT / "ops_mcp", source / "ops_mcp", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "uv"), "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    work = tmp_path / "work"
    shutil.copytree(CHARTS / "demo", work / "demo")
    (work / "mine.yaml").write_text(json.dumps({"replicas": 2}))
    env = {**ops_env(cluster, namespace, audit_log, OPS_MCP_CHART_SOURCES="*"), "PYTHONPATH": str(site)}
    probe = subprocess.run([sys.executable, "-c", "import ops_mcp, sys; print(ops_mcp.__file__)"], env=env, cwd=work, capture_output=True, text=True)
    assert probe.stdout.startswith(str(site)), probe.stdout + probe.stderr  # really the installed copy
    async with stdio_client(env, cwd=str(work)) as c:
        msg = err(await call(c, "deploy_chart", {"dry_run": True}))
        assert "No default chart" in msg and "OPS_MCP_CHART_PATH" in msg and "site-packages" not in msg and str(site) not in msg
        dry = ok(await call(c, "deploy_chart", {"release": "pkg", "chart": "./demo", "values_files": [str(work / "mine.yaml")], "dry_run": True}))
        assert dry["chart"] == "demo-0.1.0" and "Deployment/pkg-web" in dry["changes"]["added"]
