"""The chart's default database, the bundled PostgreSQL, on the real node (a Debian-built stand-in for the
public image, tests/cluster/postgres/): the backend takes traffic only once its schema exists."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from cluster import deploy
from realnode_helpers import DeployedApp, deploy_app

pytestmark = pytest.mark.realnode


def _backend_ready(cluster, namespace: str) -> list[bool]:
    pods = cluster.kubectl_json("get", "pods", "-n", namespace, "-l", "app.kubernetes.io/component=backend")["items"]
    return [
        any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])
        for p in pods
        if not p["metadata"].get("deletionTimestamp")  # a pod the rollout replaced, still stopping
    ]


def test_backend_is_ready_only_once_its_schema_exists(real_cluster, app_images, real_namespace, tmp_path):
    """With the database up but the migrations held back, the backend stays out of its Service (its /ready says
    the schema is missing); the migration Job of the next revision makes it Ready, without a deadlock."""
    postgres = deploy.postgres_standin()
    deploy.load_images(real_cluster, {"postgres": postgres})
    repository, _, tag = postgres.rpartition(":")
    sets = {
        "postgresql.enabled": "true",
        "postgresql.image.repository": repository,
        "postgresql.image.tag": tag,
        "postgresql.image.pullPolicy": "Never",
    }
    deploy.install(real_cluster, real_namespace, app_images, sets={**sets, "migrations.enabled": "false"}, wait=False)
    real_cluster.kubectl("rollout", "status", "statefulset/todo-chatbot-postgresql", "-n", real_namespace, "--timeout=180s")
    real_cluster.wait_for(
        lambda: real_cluster.kubectl_json("get", "deploy", "todo-chatbot-backend", "-n", real_namespace)["status"].get("replicas"),
        timeout=60,
        message="the backend pod",
    )
    pod = real_cluster.kubectl_json("get", "pods", "-n", real_namespace, "-l", "app.kubernetes.io/component=backend")["items"][0]
    name = pod["metadata"]["name"]
    # The process is up and the database answers; only the schema is missing.
    proxy = f"/api/v1/namespaces/{real_namespace}/pods/{name}:8000/proxy"
    real_cluster.wait_for(lambda: real_cluster.kubectl("get", "--raw", f"{proxy}/health", check=False).returncode == 0, timeout=120, message="backend /health")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert _backend_ready(real_cluster, real_namespace) == [False], "the backend turned Ready without its schema"
        time.sleep(0.5)
    ready = real_cluster.kubectl("get", "--raw", f"{proxy}/ready", check=False)
    assert "503" in ready.stderr or "ServiceUnavailable" in ready.stderr or "unavailable" in ready.stdout, (ready.stdout, ready.stderr)
    endpoints = real_cluster.kubectl_json("get", "endpointslices", "-n", real_namespace, "-l", "kubernetes.io/service-name=todo-chatbot-backend")
    assert not any(e.get("conditions", {}).get("ready") for s in endpoints["items"] for e in s.get("endpoints") or []), endpoints

    # The next revision runs its migration Job: the backend turns Ready (helm --wait returns).
    app = deploy_app(real_cluster, real_namespace, app_images, tmp_path, sets=sets)
    try:
        assert _backend_ready(real_cluster, real_namespace) == [True]

        # The Job's status says so a moment after its pod has migrated (helm --wait does not wait for a Job, and the
        # backend turns Ready as soon as the schema exists): waited for, then exactly revision 2's Job succeeded.
        def succeeded() -> list[str]:
            jobs = real_cluster.kubectl_json("get", "jobs", "-n", real_namespace)["items"]
            return [j["metadata"]["name"] for j in jobs if (j.get("status") or {}).get("succeeded")]

        real_cluster.wait_for(succeeded, timeout=60, interval=0.5, message="the migration Job of revision 2 succeeded")
        assert succeeded() == ["todo-chatbot-migrate-r2"]
        serving = [p for p in app.pods()["backend"] if p["ready"]][0]["name"]
        body = json.loads(real_cluster.kubectl("get", "--raw", f"/api/v1/namespaces/{real_namespace}/pods/{serving}:8000/proxy/ready").stdout)
        assert body == {"status": "ok", "database": "ok"}, body
        _app_works(app)
    finally:
        app.close()


def _app_works(app: DeployedApp) -> None:
    with httpx.Client(base_url=app.frontend_url, timeout=30, headers={"Origin": app.frontend_url}) as client:
        body = {"name": "PG", "email": "pg@example.com", "password": "correct horse battery"}
        assert client.post("/api/auth/sign-up/email", json=body).status_code == 200
        assert client.post("/api/backend/tasks", json={"title": "on postgres"}).status_code == 201
        assert [t["title"] for t in client.get("/api/backend/tasks").json()] == ["on postgres"]
