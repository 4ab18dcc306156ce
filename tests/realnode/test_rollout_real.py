"""Zero-downtime rollouts on the real node: `helm upgrade` to new image tags, then `helm rollback`, while a
prober sends a request to the frontend and one to the backend every 100 ms through their Services
(kube-proxy on the node): not one request may fail."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

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
        # dropped requests are what this counts (refused, reset, 5xx): a slow answer on a loaded machine is latency,
        # which bench/ measures, so a request may take up to 10 s (CI once saw the new frontend pod answer in over 2 s)
        with Prober(urls, interval=0.1, timeout=10) as upgrade:
            deploy.install(real_cluster, real_namespace, new, public_url=app.frontend_url)
        assert rollout_images(real_cluster, real_namespace) == {"frontend": new["frontend"], "backend": new["backend"]}
        with Prober(urls, interval=0.1, timeout=10) as rollback:
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
        # A deleted pod of each component stops cleanly on SIGTERM: exit 0, not 143 (the frontend's used to).
        for component, items in pods.items():
            assert last_exit_code(real_cluster, real_namespace, items[0]["name"]) == 0, component
    finally:
        app.close()


def json_objects(lines) -> Iterator[dict]:
    """The JSON objects of a stream of pretty-printed documents, one after the other."""
    buffer, decoder = "", json.JSONDecoder()
    for line in lines:
        buffer += line
        try:
            obj, end = decoder.raw_decode(buffer.lstrip())
        except ValueError:
            continue
        buffer = buffer.lstrip()[end:]
        yield obj


def last_exit_code(cluster, namespace: str, pod: str) -> int | None:
    """Delete the pod and watch every update until it is gone; the exit code of its container's last state."""
    argv = [
        str(cluster.bin_dir / "kubectl"),
        "--kubeconfig",
        cluster.kubeconfig,
        "get",
        "pod",
        pod,
        "-n",
        namespace,
        "-w",
        "-o",
        "json",
        "--request-timeout=90s",
    ]
    watch = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=cluster.env)
    try:
        assert watch.stdout is not None
        objects = json_objects(watch.stdout)
        # kubectl prints the pod as listed, then watches from that list's resourceVersion: once it is printed, no later
        # change can be missed (a condition, not a pause)
        next(objects)
        cluster.kubectl("delete", "pod", pod, "-n", namespace, "--wait=false")
        code = None
        for obj in objects:
            statuses = obj["status"].get("containerStatuses") or []
            terminated = statuses[0].get("state", {}).get("terminated") if statuses else None
            if terminated:
                code = terminated["exitCode"]
                if obj["metadata"].get("deletionTimestamp"):
                    return code
        return code
    finally:
        watch.kill()
