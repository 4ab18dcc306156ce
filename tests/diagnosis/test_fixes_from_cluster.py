"""Fixes that take their value from the cluster instead of a placeholder (no cluster: plain snapshot data): a probe
pointed at the declared container port or at the path a passing probe uses, an image tag the node already has."""

from __future__ import annotations

import json
import shlex

from .factories import NS, container, cstatus, deploy_pods, deployment, event, node, replicaset, snapshot, ts
from .test_analyzers import by_mode, crashing, ev_value, image_pod, run

REFUSED = 'Get "http://10.244.0.7:{port}/healthz": dial tcp 10.244.0.7:{port}: connect: connection refused'


def patch_of(fix):
    """The JSON patch of a printed `kubectl patch ... --type=json -p=...` command."""
    return json.loads(shlex.split(fix["kubectl"])[-1].removeprefix("-p="))


def liveness_data(probe, ports, message):
    containers = [container(livenessProbe=probe, ports=ports)]
    pods = crashing(exit_code=0, reason="Completed", containers=containers)
    name = pods[0]["metadata"]["name"]
    return snapshot(
        deployments=[deployment("api", ready=0, containers=containers)],
        replicasets=[replicaset("api-7d9c", "api")],
        pods=pods,
        events=[
            event("Pod", name, "Unhealthy", f"Liveness probe failed: {message}", count=6, age=20),
            event("Pod", name, "Killing", "Container app failed liveness probe, will be restarted", type="Normal", age=20),
        ],
    )


def test_liveness_on_a_port_nothing_listens_on_is_pointed_at_the_declared_port():
    data = liveness_data({"httpGet": {"path": "/healthz", "port": 8081}}, [{"name": "http", "containerPort": 8080}], REFUSED.format(port=8081))
    f = by_mode(run(data), "crashloop.liveness")
    assert f["cause"]["conf"] == "high" and "8081" in f["cause"]["text"]
    assert patch_of(f["fix"]) == [{"op": "replace", "path": "/spec/template/spec/containers/0/livenessProbe/httpGet/port", "value": 8080}]
    assert "nothing listens on 8081" in f["fix"]["do"] and "8080" in f["fix"]["do"]


def test_liveness_with_an_undeclared_port_name_gets_the_declared_name_and_tcp_probes_their_port():
    data = liveness_data({"httpGet": {"path": "/healthz", "port": "web"}}, [{"name": "http", "containerPort": 8080}], "HTTP probe failed with statuscode: 404")
    f = by_mode(run(data), "crashloop.liveness")
    assert patch_of(f["fix"])[0]["value"] == "http" and "'web' is not a declared" in f["cause"]["text"]
    data = liveness_data({"tcpSocket": {"port": 9000}}, [{"containerPort": 5432}], "dial tcp 10.244.0.7:9000: connect: connection refused")
    f = by_mode(run(data), "crashloop.liveness")
    assert patch_of(f["fix"]) == [{"op": "replace", "path": "/spec/template/spec/containers/0/livenessProbe/tcpSocket/port", "value": 5432}]


def test_liveness_refused_without_a_single_other_declared_port_is_unknown_with_candidates():
    for ports in ([], [{"containerPort": 8081}], [{"containerPort": 8080}, {"containerPort": 8081}], [{"containerPort": 8080}, {"containerPort": 9090}]):
        data = liveness_data({"httpGet": {"path": "/healthz", "port": 8081}}, ports, REFUSED.format(port=8081))
        f = by_mode(run(data), "crashloop.liveness")
        assert f["fix"]["do"].startswith("Unknown") and "apply" not in f["fix"] and "kubectl" not in f["fix"], (ports, f["fix"])


def readiness_data(probe, message, ports=({"name": "http", "containerPort": 8080},), liveness=None, restarts=0):
    spec = {"readinessProbe": probe, "ports": list(ports)}
    if liveness:
        spec["livenessProbe"] = liveness
    c = [container(**spec)]
    status = cstatus(running=True, ready=False, restarts=restarts)
    status["started"] = True
    pods = deploy_pods("web", 1, containers=c, statuses=[status])
    return snapshot(
        deployments=[deployment("web", ready=0, containers=c)],
        replicasets=[replicaset("web-7d9c", "web")],
        pods=pods,
        events=[event("Pod", pods[0]["metadata"]["name"], "Unhealthy", f"Readiness probe failed: {message}", count=30)],
    )


def test_readiness_404_takes_the_path_the_passing_liveness_probe_asks_on_that_port():
    data = readiness_data(
        {"httpGet": {"path": "/ready", "port": 8080}}, "HTTP probe failed with statuscode: 404", liveness={"httpGet": {"path": "/healthz", "port": "http"}}
    )
    f = by_mode(run(data), "readiness.failing")
    assert patch_of(f["fix"]) == [{"op": "replace", "path": "/spec/template/spec/containers/0/readinessProbe/httpGet/path", "value": "/healthz"}]
    assert "/ready answers 404" in f["fix"]["do"]


def test_readiness_path_is_unknown_when_no_passing_probe_knows_one_and_the_container_was_not_asked():
    cases = [  # the app answers (503: not ready yet); no other probe; a liveness probe that fails too; another port
        dict(message="HTTP probe failed with statuscode: 503", liveness={"httpGet": {"path": "/healthz", "port": 8080}}),
        dict(message="HTTP probe failed with statuscode: 404"),
        dict(message="HTTP probe failed with statuscode: 404", liveness={"httpGet": {"path": "/healthz", "port": 8080}}, restarts=3),
        dict(message="HTTP probe failed with statuscode: 404", liveness={"httpGet": {"path": "/healthz", "port": 9090}}),
    ]
    for case in cases:
        f = by_mode(run(readiness_data({"httpGet": {"path": "/ready", "port": 8080}}, **case)), "readiness.failing")
        assert "Unknown" in f["fix"]["do"] and "/healthz, /health" in f["fix"]["do"] and "apply" not in f["fix"], (case, f["fix"])


def test_readiness_on_a_port_nothing_listens_on_is_pointed_at_the_declared_port():
    data = readiness_data({"httpGet": {"path": "/healthz", "port": 8081}}, REFUSED.format(port=8081), liveness={"httpGet": {"path": "/healthz", "port": 8080}})
    f = by_mode(run(data), "readiness.failing")
    assert patch_of(f["fix"]) == [{"op": "replace", "path": "/spec/template/spec/containers/0/readinessProbe/httpGet/port", "value": 8080}]
    # Two other declared ports: the one the passing liveness probe uses.
    data = readiness_data(
        {"tcpSocket": {"port": 8081}},
        "dial tcp 10.244.0.7:8081: connect: connection refused",
        ports=[{"containerPort": 9090}, {"containerPort": 8080}],
        liveness={"httpGet": {"path": "/healthz", "port": 8080}},
    )
    assert patch_of(by_mode(run(data), "readiness.failing")["fix"])[0]["value"] == 8080


def between_kills(started_ago, unhealthy_ago, killed_ago=None):
    """A container running again (Ready: it has no readiness probe) after the liveness probe killed its last run."""
    probe = {"httpGet": {"path": "/healthz", "port": 8081}, "periodSeconds": 10, "failureThreshold": 3}
    containers = [container(livenessProbe=probe, ports=[{"containerPort": 8080}])]
    killed_ago = started_ago + 1 if killed_ago is None else killed_ago
    status = {
        "name": "app",
        "image": "example/app:1.0",
        "ready": True,
        "started": True,
        "restartCount": 3,
        "state": {"running": {"startedAt": ts(started_ago)}},
        "lastState": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": ts(killed_ago + 30), "finishedAt": ts(killed_ago)}},
    }
    pods = deploy_pods("api", 1, containers=containers, statuses=[status])
    name = pods[0]["metadata"]["name"]
    return snapshot(
        deployments=[deployment("api", ready=1, containers=containers)],
        replicasets=[replicaset("api-7d9c", "api")],
        pods=pods,
        events=[
            event("Pod", name, "Unhealthy", f"Liveness probe failed: {REFUSED.format(port=8081)}", count=9, age=unhealthy_ago),
            event("Pod", name, "Killing", "Container app failed liveness probe, will be restarted", type="Normal", count=3, age=killed_ago),
        ],
    )


def test_a_container_running_between_two_liveness_kills_is_still_a_liveness_crash_loop():
    # Failing again in this run (the newest Unhealthy event is after its start), though Ready for now.
    f = by_mode(run(between_kills(started_ago=300, unhealthy_ago=2)), "crashloop.liveness")
    assert f["sev"] == "high" and patch_of(f["fix"])[0]["value"] == 8080
    # Too young to have been probed failureThreshold times since the last kill: history decides.
    by_mode(run(between_kills(started_ago=4, unhealthy_ago=6)), "crashloop.liveness")
    # Running for longer than a probe window with no failure since: recovered, nothing to report.
    out = run(between_kills(started_ago=300, unhealthy_ago=302), "deployment", "api")
    assert out["verdict"] == "healthy" and not out.get("findings")


def with_images(data, *names):
    data["nodes"] = [{**node("node-1"), "status": {**node("node-1")["status"], "images": [{"names": list(n), "sizeBytes": 1} for n in names]}}, node("node-2")]
    return data


def test_image_never_pulled_runs_the_tag_of_that_repository_the_node_has():
    data = with_images(
        image_pod("team/app:2", reason="ErrImageNeverPull", policy="Never", message='Container image "team/app:2" is not present with pull policy of Never'),
        ["docker.io/team/app:1", "docker.io/team/app@sha256:" + "a" * 64],
        ["docker.io/library/nginx:1.27", "docker.io/other/app:2"],
    )
    f = by_mode(run(data), "image_pull.never_pull")
    assert f["fix"]["kubectl"] == f"kubectl -n {NS} set image deploy/app nginx=team/app:1"
    assert "node-1" in f["fix"]["do"] and "team/app:1" in f["cause"]["text"]
    assert ev_value(f, "status.images") == ["team/app:1"]


def test_unreachable_registry_and_missing_tag_use_the_node_s_tag_and_several_tags_are_candidates():
    failed = (
        'Failed to pull image "nginx:1.99": failed to pull and unpack image "docker.io/library/nginx:1.99": '
        "failed to resolve reference: proxyconnect tcp: dial tcp 127.0.0.1:9: connect: connection refused"
    )
    data = with_images(image_pod("nginx:1.99", reason="ErrImagePull", events=[("Failed", failed, "Warning")]), ["docker.io/library/nginx:1.27"])
    f = by_mode(run(data), "image_pull.registry_unreachable")
    assert f["fix"]["kubectl"] == f"kubectl -n {NS} set image deploy/app nginx=nginx:1.27" and f["fix"]["mutates"]
    data = with_images(
        image_pod("nginx:invalid-tag", events=[("Failed", 'Failed to pull image "nginx:invalid-tag": rpc error: code = NotFound desc = not found', "Warning")]),
        ["nginx:1.27"],
        ["docker.io/library/nginx:1.26"],
    )
    f = by_mode(run(data), "image_pull.tag_not_found")
    assert "kubectl" not in f["fix"] and "apply" not in f["fix"] and "1.27, 1.26" in f["fix"]["do"], "several tags: candidates, not a guess"


def test_image_fixes_without_the_repository_on_the_node_are_unchanged():
    data = with_images(
        image_pod("app:1", reason="ErrImageNeverPull", policy="Never", message='Container image "app:1" is not present with pull policy of Never'),
        ["docker.io/library/app2:1"],
    )
    f = by_mode(run(data), "image_pull.never_pull")
    assert "imagePullPolicy" in f["fix"]["kubectl"] and not any("status.images" in e.get("p", "") for e in f["ev"])
