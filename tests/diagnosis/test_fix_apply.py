"""Workload fixes carry `apply`: the ordered ops-mcp calls that repair, complete and exact (issue 14). On plain
snapshot data: the previous revision, the other workloads, the node and the container's own answers (what the
builder read through the pod proxy) are what the cluster holds; no placeholder may reach `apply`."""

from __future__ import annotations

import json

from ops_mcp.diagnosis import probes

from .factories import NS, container, cstatus, deploy_pods, deployment, event, node, pod, replicaset, snapshot, ts
from .test_analyzers import by_mode, crashing, ev_value, image_pod, run


def applied(finding):
    """The finding's apply steps, after checking what every step must hold: a namespace, no placeholder, and
    wait on each patch of a workload (the check the tool runs)."""
    steps = finding["fix"]["apply"]
    text = json.dumps(steps)
    assert "<" not in text and ">" not in text, f"placeholder in apply: {text}"
    for s in steps:
        assert s["args"]["namespace"] == NS, s
        if s["tool"] in ("patch_resource", "rollout_undo") and s["args"].get("kind", "deployment") in ("deployment", "statefulset", "daemonset"):
            assert s["args"]["wait"] is True, s
    return steps


def revisions(deploy, old, new, available=1):
    """Revision 1 (old containers, `available` pods still serving) and the failing revision 2 (new containers)."""
    return [replicaset(f"{deploy}-old", deploy, 1, containers=old, available=available), replicaset(f"{deploy}-7d9c", deploy, 2, containers=new, available=0)]


def with_revision(dep, revision=2):
    dep["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": str(revision)}
    return dep


# ---------- crashloop.bad_command ----------


def bad_command_data(containers, replicasets, others=(), code=127, message='exec: "pyhton3": executable file not found in $PATH'):
    pods = crashing("app", 1, code, "StartError", message=message, containers=containers)
    return snapshot(deployments=[with_revision(deployment("app", ready=0, containers=containers))], replicasets=[*replicasets, *others], pods=pods)


def test_bad_command_after_a_healthy_revision_rolls_back_then_keeps_its_command():
    good = [container(command=["python3", "-c", "serve()"])]
    bad = [container(command=["pyhton3", "-c", "serve()"])]
    f = by_mode(run(bad_command_data(bad, revisions("app", good, bad))), "crashloop.bad_command")
    assert applied(f) == [
        {"tool": "rollout_undo", "args": {"name": "app", "namespace": NS, "wait": True}},
        {
            "tool": "patch_resource",
            "args": {
                "kind": "deployment",
                "name": "app",
                "namespace": NS,
                "patch": {"spec": {"template": {"spec": {"containers": [{"name": "app", "command": ["python3", "-c", "serve()"]}]}}}},
                "wait": True,
            },
        },
    ]
    assert "healthy revision" in f["fix"]["do"] and "<" not in f["fix"]["kubectl"]


def test_bad_command_removes_the_override_when_the_image_entrypoint_runs_elsewhere():
    bad = [container(image="example/app:1.0", command=["/app/serve"], args=["--port", "8080"])]
    # another Deployment of the namespace runs the same image with its own entrypoint, and serves
    other = replicaset("web-1", "web", 1, containers=[container(image="example/app:1.0")], available=2)
    f = by_mode(run(bad_command_data(bad, [replicaset("app-7d9c", "app", 2)], [other])), "crashloop.bad_command")
    ops = [{"op": "remove", "path": "/spec/template/spec/containers/0/command"}, {"op": "remove", "path": "/spec/template/spec/containers/0/args"}]
    assert applied(f) == [
        {"tool": "patch_resource", "args": {"kind": "deployment", "name": "app", "namespace": NS, "patch": ops, "patch_type": "json", "wait": True}}
    ]
    assert "entrypoint" in f["fix"]["do"] and "/containers/0/command" in f["fix"]["kubectl"]


def test_bad_command_whose_binary_does_not_exist_falls_back_to_the_image_entrypoint():
    bad = [container(command=["pyhton3", "app.py"])]
    f = by_mode(run(bad_command_data(bad, [replicaset("app-7d9c", "app", 2)])), "crashloop.bad_command")
    ops = [{"op": "remove", "path": "/spec/template/spec/containers/0/command"}]
    assert applied(f) == [
        {"tool": "patch_resource", "args": {"kind": "deployment", "name": "app", "namespace": NS, "patch": ops, "patch_type": "json", "wait": True}}
    ]
    assert "'pyhton3' does not exist" in f["fix"]["do"] and "entrypoint" in f["fix"]["do"]


def test_bad_command_without_evidence_says_unknown_with_candidates_and_applies_nothing():
    bad = [container(command=["/app/run.sh"])]
    denied = 'exec: "/app/run.sh": permission denied'
    f = by_mode(run(bad_command_data(bad, [replicaset("app-7d9c", "app", 2)], code=126, message=denied)), "crashloop.bad_command")
    assert "apply" not in f["fix"] and f["fix"]["do"].startswith("Unknown which command is right")
    assert "entrypoint" in f["fix"]["do"] and "binary name" in f["fix"]["do"]
    assert "<correct>" not in json.dumps(f)


# ---------- image_pull.tag_not_found ----------

NOT_FOUND = [("Failed", 'Failed to pull image "nginx:1.27-typo": rpc error: code = NotFound desc = not found', "Warning")]


def test_bad_tag_after_a_healthy_revision_rolls_back_first_then_sets_its_image():
    data = image_pod("nginx:1.27-typo", events=NOT_FOUND)
    data["deployments"] = [with_revision(d) for d in data["deployments"]]
    data["replicasets"] = revisions("app", [container("nginx", "nginx:1.27.3")], [container("nginx", "nginx:1.27-typo")])
    f = by_mode(run(data), "image_pull.tag_not_found")
    assert applied(f) == [
        {"tool": "rollout_undo", "args": {"name": "app", "namespace": NS, "wait": True}},
        {
            "tool": "patch_resource",
            "args": {
                "kind": "deployment",
                "name": "app",
                "namespace": NS,
                "patch": {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27.3"}]}}}},
                "wait": True,
            },
        },
    ]
    assert f["fix"]["kubectl"] == f"kubectl -n {NS} rollout undo deploy/app && kubectl -n {NS} set image deploy/app nginx=nginx:1.27.3"
    assert f["fix"]["do"].startswith("Roll back to the last healthy revision") and "last healthy revision" in f["fix"]["do"]


def test_bad_tag_without_history_uses_the_tag_another_workload_runs():
    data = image_pod("nginx:1.27-typo", events=NOT_FOUND)
    data["replicasets"].append(replicaset("proxy-1", "proxy", 1, containers=[container("web", "docker.io/library/nginx:1.27.3")], available=1))
    f = by_mode(run(data), "image_pull.tag_not_found")
    (patch,) = applied(f)
    assert patch["tool"] == "patch_resource" and patch["args"]["patch"]["spec"]["template"]["spec"]["containers"] == [
        {"name": "nginx", "image": "docker.io/library/nginx:1.27.3"}
    ]
    assert "runs in this namespace" in f["fix"]["do"]


# ---------- probes ----------

PORTS = [{"name": "http", "containerPort": 8080}]


def probe_data(liveness, readiness, *, running=True, http=None, restarts=3):
    c = container(ports=PORTS, livenessProbe={"httpGet": liveness, "periodSeconds": 2}, readinessProbe={"httpGet": readiness, "periodSeconds": 1})
    status = cstatus(running=running, ready=False, restarts=restarts, last={"exitCode": 137, "reason": "Error"} if restarts else None)
    if running:
        status["state"] = {"running": {"startedAt": ts(5)}}
    pods = deploy_pods("web", 1, containers=[c], statuses=[status])
    pname = pods[0]["metadata"]["name"]
    events = [event("Pod", pname, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 404", count=8, age=2)]
    if restarts:
        events += [
            event(
                "Pod",
                pname,
                "Unhealthy",
                'Liveness probe failed: Get "http://10.0.0.5:8081/healthz": dial tcp 10.0.0.5:8081: connect: connection refused',
                age=3,
            ),
            event("Pod", pname, "Killing", "Container app failed liveness probe, will be restarted", type="Normal", age=3),
        ]
    data = snapshot(deployments=[deployment("web", ready=0, containers=[c])], replicasets=[replicaset("web-7d9c", "web")], pods=pods, events=events)
    data["http"] = {f"{pname}:{port}": path for port, path in (http or {}).items()}
    return data, pname


def test_both_probes_wrong_are_one_finding_fixed_by_one_patch_with_the_answering_path():
    data, pname = probe_data({"path": "/healthz", "port": 8081}, {"path": "/ready", "port": "http"}, http={8080: "/healthz"})
    # what the builder asks: port 8080, the liveness probe's own path first; never /ready, which answered 404 there
    assert probes.plan(snapshot_obj(data), data["pods"]) == [(pname, 8080, ["/healthz", "/health", "/readyz", "/livez", "/"])]
    out = run(data, "deployment", "web")
    assert [f["mode"] for f in out["findings"]] == ["crashloop.liveness"], "readiness is reported in the same finding"
    f = out["findings"][0]
    assert ev_value(f, "readinessProbe")["httpGet"]["path"] == "/ready" and "readiness probe fails too" in f["cause"]["text"]
    ops = [
        {"op": "replace", "path": "/spec/template/spec/containers/0/livenessProbe/httpGet/port", "value": 8080},
        {"op": "replace", "path": "/spec/template/spec/containers/0/readinessProbe/httpGet/path", "value": "/healthz"},
    ]
    assert applied(f) == [
        {"tool": "patch_resource", "args": {"kind": "deployment", "name": "web", "namespace": NS, "patch": ops, "patch_type": "json", "wait": True}}
    ]
    assert "GET /healthz on 8080 answers (asked through the pod proxy)" in f["fix"]["do"]


def test_readiness_path_is_the_one_the_container_answers():
    data, _ = probe_data({"path": "/healthz", "port": 8080}, {"path": "/ready", "port": 8080}, http={8080: "/livez"}, restarts=0)
    f = by_mode(run(data, "deployment", "web"), "readiness.failing")
    (step,) = applied(f)
    assert step["args"]["patch"] == [{"op": "replace", "path": "/spec/template/spec/containers/0/readinessProbe/httpGet/path", "value": "/livez"}]


def test_refusals_while_the_container_restarts_do_not_make_a_port_that_answered_wrong():
    """A liveness-killed container refuses the readiness probe while it starts again; the 404s say the port is right."""
    data, pname = probe_data({"path": "/livez", "port": "http"}, {"path": "/readyz", "port": "http"}, http={8080: "/healthz"})
    refusal = 'Readiness probe failed: Get "http://10.0.0.5:8080/readyz": dial tcp 10.0.0.5:8080: connect: connection refused'
    data["events"] += [event("Pod", pname, "Unhealthy", refusal, age=1)]
    data["events"][1]["message"] = "Liveness probe failed: HTTP probe failed with statuscode: 404"
    f = by_mode(run(data, "deployment", "web"), "crashloop.liveness")
    (step,) = applied(f)
    assert step["args"]["patch"] == [
        {"op": "replace", "path": "/spec/template/spec/containers/0/livenessProbe/httpGet/path", "value": "/healthz"},
        {"op": "replace", "path": "/spec/template/spec/containers/0/readinessProbe/httpGet/path", "value": "/healthz"},
    ]


def test_no_path_answers_so_the_probe_fix_is_unknown_with_candidates():
    data, _ = probe_data({"path": "/healthz", "port": 8080}, {"path": "/ready", "port": 8080}, http={8080: None}, restarts=0)
    f = by_mode(run(data, "deployment", "web"), "readiness.failing")
    assert "apply" not in f["fix"] and "unknown" in f["fix"]["do"] and "/healthz" in f["fix"]["do"]


def test_proxy_calls_are_bounded():
    many = []
    for i in range(8):
        data, _ = probe_data({"path": "/healthz", "port": 8080}, {"path": "/ready", "port": 8080}, restarts=0)
        p = data["pods"][0]
        p["metadata"] = {**p["metadata"], "name": f"w{i}", "ownerReferences": [{"kind": "ReplicaSet", "name": f"rs{i}", "controller": True}]}
        many.append((p, data["events"][0]))
    snap = snapshot_obj(
        snapshot(
            pods=[p for p, _ in many],
            events=[dict(e, involvedObject={**e["involvedObject"], "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]}) for p, e in many],
        )
    )
    wants = probes.plan(snap, snap.pods)
    assert len(wants) == 8 and all(len(paths) <= len(probes.CANDIDATE_PATHS) for _, _, paths in wants)
    assert probes.MAX_CALLS <= 10, "the builder stops at MAX_CALLS GETs in all"


def snapshot_obj(data):
    from ops_mcp.diagnosis.snapshot import Snapshot

    return Snapshot.from_dict(data)


# ---------- OOM ----------


def test_oom_fix_patches_limit_and_request_with_a_concrete_bounded_value():
    containers = [container(resources={"limits": {"memory": "3Gi"}, "requests": {"memory": "3Gi"}})]
    data = snapshot(
        deployments=[deployment("mem", ready=0, containers=containers)],
        replicasets=[replicaset("mem-7d9c", "mem")],
        pods=crashing("mem", 1, 137, "OOMKilled", containers=containers),
        nodes=[node("node-1", memory="4Gi")],
    )
    f = by_mode(run(data, "deployment", "mem"), "crashloop.oom_killed")
    (step,) = applied(f)
    assert step["args"]["patch"] == {
        "spec": {"template": {"spec": {"containers": [{"name": "app", "resources": {"limits": {"memory": "4096Mi"}, "requests": {"memory": "4096Mi"}}}]}}}
    }
    assert "capped at node node-1's allocatable memory" in f["fix"]["do"] and "usage is not known" in f["fix"]["do"]


def test_oom_fix_keeps_a_lower_request():
    containers = [container(resources={"limits": {"memory": "100Mi"}, "requests": {"memory": "50Mi"}})]
    data = snapshot(
        deployments=[deployment("mem", ready=0, containers=containers)],
        replicasets=[replicaset("mem-7d9c", "mem")],
        pods=crashing("mem", 1, 137, "OOMKilled", containers=containers),
    )
    f = by_mode(run(data, "deployment", "mem"), "crashloop.oom_killed")
    assert applied(f)[0]["args"]["patch"]["spec"]["template"]["spec"]["containers"][0]["resources"] == {"limits": {"memory": "200Mi"}}
    assert f["fix"]["kubectl"] == f"kubectl -n {NS} set resources deploy/mem -c app --limits=memory=200Mi"


# ---------- starting ----------


def test_a_pod_pulling_its_image_is_starting_not_healthy_and_not_no_cause():
    pods = deploy_pods("app", 1, phase="Pending", statuses=[cstatus(waiting="ContainerCreating")])
    data = snapshot(
        deployments=[deployment("app", ready=0)],
        replicasets=[replicaset("app-7d9c", "app")],
        pods=pods,
        events=[event("Pod", pods[0]["metadata"]["name"], "Pulling", 'Pulling image "example/app:1.0"', type="Normal", age=3)],
    )
    out = run(data, "deployment", "app")
    assert out["verdict"] != "healthy" and [f["mode"] for f in out["findings"]] == ["pod.starting"], out["findings"]
    assert "pulling its image" in out["findings"][0]["cause"]["text"] and "check again in 10 s" in out["summary"]


def test_a_container_inside_its_startup_window_is_starting():
    c = container(startupProbe={"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5, "failureThreshold": 6})
    status = cstatus(running=True, ready=False)
    status["state"], status["started"] = {"running": {"startedAt": ts(10)}}, False
    data = snapshot(
        deployments=[deployment("app", ready=0, containers=[c])],
        replicasets=[replicaset("app-7d9c", "app")],
        pods=deploy_pods("app", 1, containers=[c], statuses=[status]),
    )
    out = run(data, "deployment", "app")
    (f,) = out["findings"]
    assert f["mode"] == "pod.starting" and "check again in 20 s" in f["cause"]["text"] and out["verdict"] == "degraded"


def test_a_bare_pod_without_probes_that_restarted_is_not_starting():
    out = run(snapshot(pods=[pod("solo", statuses=[cstatus(running=True, ready=False, restarts=1)])]))
    assert not any(f["mode"] == "pod.starting" for f in out.get("findings", []))


# ---------- missing env ----------


def env_data(**kinds):
    pods = crashing()
    logs = {f"{pods[0]['metadata']['name']}/app/previous": ["Traceback (most recent call last):", "KeyError: 'DATABASE_URL'"]}
    return snapshot(deployments=[deployment("api", ready=0)], replicasets=[replicaset("api-7d9c", "api")], pods=pods, logs=logs, **kinds)


def test_missing_env_is_set_from_the_secret_that_holds_the_key():
    f = by_mode(run(env_data(secrets={"other": ["TOKEN"], "db": ["DATABASE_URL"]}), "deployment", "api"), "crashloop.app_error")
    env = [{"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "DATABASE_URL"}}}]
    assert applied(f) == [
        {
            "tool": "patch_resource",
            "args": {
                "kind": "deployment",
                "name": "api",
                "namespace": NS,
                "patch": {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": env}]}}}},
                "wait": True,
            },
        }
    ]
    assert f["fix"]["kubectl"] == f"kubectl -n {NS} set env deploy/api -c app --from=secret/db --keys=DATABASE_URL"


def test_missing_env_without_a_source_says_the_value_is_unknown():
    f = by_mode(run(env_data(), "deployment", "api"), "crashloop.app_error")
    assert "apply" not in f["fix"] and "value is unknown" in f["fix"]["do"]


def test_pods_on_a_simulated_node_or_an_unknown_one_are_never_asked():
    data, _ = probe_data({"path": "/healthz", "port": 8080}, {"path": "/ready", "port": 8080}, restarts=0)
    fake = node("node-1")
    fake["metadata"]["annotations"] = {"kwok.x-k8s.io/node": "fake"}
    for nodes in ([fake], []):
        snap = snapshot_obj({**data, "nodes": nodes})
        assert probes.plan(snap, snap.pods) == [], "no proxy call: the pod IP leads nowhere (or nowhere known)"


def test_a_stuck_rollout_whose_previous_revision_serves_is_rolled_back():
    stuck = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": 'ReplicaSet "api-7d9c" has timed out progressing.'}]
    dep = with_revision(deployment("api", replicas=2, ready=1, conditions=stuck))
    pods = deploy_pods("api", 1, statuses=[cstatus(running=True, ready=False)])
    out = run(snapshot(deployments=[dep], replicasets=revisions("api", [container(image="example/app:0.9")], [container()]), pods=pods), "deployment", "api")
    f = by_mode(out, "rollout.deadline_exceeded")
    assert applied(f) == [{"tool": "rollout_undo", "args": {"name": "api", "namespace": NS, "wait": True}}]
