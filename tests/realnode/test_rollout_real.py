"""Zero-downtime rollouts on the real node: `helm upgrade` to new image tags, then `helm rollback`, while a
prober sends a request to the frontend and one to the backend every 100 ms through their Services
(kube-proxy on the node): not one request may fail."""

from __future__ import annotations

import os
import subprocess

import pytest
from cluster import deploy
from realnode_helpers import Prober, deploy_app

pytestmark = pytest.mark.realnode


def retag(refs: dict[str, str], suffix: str) -> dict[str, str]:
    """The same images under new tags (so the pod specs change and the Deployments roll)."""
    env = deploy.engine_env()
    out = {}
    for key, ref in refs.items():
        out[key] = f"{ref}-{suffix}"
        subprocess.run(["docker", "tag", ref, out[key]], env={**os.environ, **env}, check=True, capture_output=True)
    return out


def rollout_images(real_cluster, namespace: str) -> dict[str, str]:
    images = {}
    for name in ("frontend", "backend"):
        deployment = real_cluster.kubectl_json("get", "deploy", f"todo-chatbot-{name}", "-n", namespace)
        images[name] = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    return images


def test_upgrade_to_new_image_tags_and_rollback_drop_no_request(real_cluster, app_images, real_namespace, tmp_path):
    app = deploy_app(real_cluster, real_namespace, app_images, tmp_path)
    try:
        urls = {"frontend": app.service_url("frontend", 3000) + "/sign-in", "backend": app.service_url("backend", 8000) + "/ready"}
        new = retag(app_images, "v2")
        deploy.load_images(real_cluster, new)
        with Prober(urls, interval=0.1) as upgrade:
            deploy.install(real_cluster, real_namespace, new, public_url=app.frontend_url)
        assert rollout_images(real_cluster, real_namespace) == {"frontend": new["frontend"], "backend": new["backend"]}
        with Prober(urls, interval=0.1) as rollback:
            proc = real_cluster.helm("rollback", "todo-chatbot", "1", "-n", real_namespace, "--wait", "--timeout", "5m")
            assert proc.returncode == 0, proc.stderr
        assert rollout_images(real_cluster, real_namespace) == {"frontend": app_images["frontend"], "backend": app_images["backend"]}
        for phase, prober in (("upgrade", upgrade), ("rollback", rollback)):
            for name in urls:
                # A rollout takes several seconds: at 10 requests a second, dozens must have been sent.
                assert prober.ok[name] >= 30, (phase, name, prober.ok)
                assert prober.failed[name] == [], (phase, name, prober.failed[name][:10], app.logs())
        pods = app.pods()
        assert all(p["ready"] and p["restarts"] == 0 for ps in pods.values() for p in ps), pods
    finally:
        app.close()
