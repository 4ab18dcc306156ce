"""Each analyzer on plain snapshot data (no cluster): modes, severity, evidence, fixes, caused_by links."""

from __future__ import annotations

import json

import pytest

from ops_mcp.diagnosis import CRASHLOOP_CHECKS, MODES, Options, Report, TargetNotFound, diagnose_snapshot
from ops_mcp.diagnosis.base import select_log_lines

from .factories import NS, container, cstatus, deploy_pods, deployment, endpointslice, event, node, pod, replicaset, service, snapshot, ts
from .fix_invariant import check_report
from .scenario_helpers import person_template


def run(data, kind=None, name=None, **options):
    report = diagnose_snapshot(data, kind, name, Options(**options) if options else None)
    out = report.dump()
    check_report(out)  # the fix invariant: kubectl == kubectl_of(apply), no placeholder in an applied call
    Report.model_validate(out)  # the wire form still satisfies the output schema
    assert len(json.dumps(out)) / 4 < 2000, "response over the ~2,000 token budget"
    for finding in out.get("findings", []):
        assert finding["mode"] in MODES
        assert finding["ev"], "every finding carries evidence"
    return out


def by_mode(out, mode):
    found = [f for f in out.get("findings", []) if f["mode"] == mode]
    assert found, f"no {mode} in {[f['mode'] for f in out.get('findings', [])]}"
    return found[0]


def ev_value(finding, path_part):
    return next(e["v"] for e in finding["ev"] if path_part in e.get("p", ""))


def crashing(deploy="api", n=1, exit_code=1, reason="Error", message=None, restarts=5, **kw):
    last = {"exitCode": exit_code, "reason": reason, **({"message": message} if message else {})}
    return deploy_pods(deploy, n, statuses=[cstatus(waiting="CrashLoopBackOff", last=last, restarts=restarts)], **kw)


# ---------- crashloop ----------


def test_app_error_names_the_missing_env_var_from_logs_and_spec():
    pods = crashing()
    data = snapshot(
        deployments=[deployment("api", ready=0, containers=[container(command=["python", "app.py"])])],
        replicasets=[replicaset("api-7d9c", "api")],
        pods=pods,
        events=[event("Pod", pods[0]["metadata"]["name"], "BackOff", "Back-off restarting failed container app", count=5)],
        logs={
            f"{pods[0]['metadata']['name']}/app/previous": [
                "2026-01-01T11:59:00Z Starting api",
                "Traceback (most recent call last):",
                '  File "app.py", line 3, in <module>',
                "KeyError: 'DATABASE_URL'",
            ]
        },
    )
    out = run(data, "deployment", "api")
    f = by_mode(out, "crashloop.app_error")
    assert out["verdict"] == "failing" and f["sev"] == "critical"
    assert f["cause"]["conf"] == "high" and "DATABASE_URL" in f["cause"]["text"]
    template = person_template(f["fix"])  # the value is not in the cluster: a person's command, no apply
    assert template.startswith(f"kubectl -n {NS} set env deploy/api -c app ") and "DATABASE_URL=<value>" in template
    log = next(e["log"] for e in f["ev"] if "log" in e)
    assert log["src"] == "previous" and "KeyError: 'DATABASE_URL'" in log["lines"]
    assert all(not line.startswith("2026") for line in log["lines"]), "timestamps are stripped"
    assert ev_value(f, "lastState.terminated")["exitCode"] == 1
    assert out["limits"]["logs_read"] == 1


def test_app_error_without_logs_is_low_confidence_and_points_at_the_logs():
    out = run(snapshot(deployments=[deployment("api", ready=0)], replicasets=[replicaset("api-7d9c", "api")], pods=crashing()), "deployment", "api")
    f = by_mode(out, "crashloop.app_error")
    assert f["cause"]["conf"] == "low"
    assert any("--previous" in n for n in f["next"])


def test_env_defined_through_envfrom_is_not_reported_missing():
    pods = crashing(containers=[container(envFrom=[{"configMapRef": {"name": "cfg"}}])])
    data = snapshot(
        deployments=[deployment("api", ready=0)],
        replicasets=[replicaset("api-7d9c", "api")],
        pods=pods,
        configmaps={"cfg": ["DATABASE_URL"]},
        logs={f"{pods[0]['metadata']['name']}/app/previous": ["KeyError: 'DATABASE_URL'"]},
    )
    f = by_mode(run(data), "crashloop.app_error")
    assert "not set" not in f["cause"]["text"] and f["cause"]["conf"] == "medium"


def test_bad_command_exit_127_quotes_the_command():
    containers = [container("app", "nginx", command=["/bin/sh", "-c"], args=["python3 -c 'print(1)'"])]
    pods = crashing(n=2, exit_code=127, message="/bin/sh: 1: python3: not found", containers=containers)
    data = snapshot(
        deployments=[deployment("app", ready=0, containers=containers)],
        replicasets=[replicaset("app-7d9c", "app")],
        pods=[dict(p, metadata={**p["metadata"], "ownerReferences": [{"kind": "ReplicaSet", "name": "app-7d9c", "controller": True}]}) for p in pods],
    )
    out = run(data)
    f = by_mode(out, "crashloop.bad_command")
    assert f["n"] == 2 and f["cause"]["conf"] == "high"
    assert ev_value(f, "containers[app].args") == ["python3 -c 'print(1)'"]
    assert "python3: not found" in f["cause"]["text"]
    assert "/spec/template/spec/containers/0/command" in f["fix"]["kubectl"]


def test_start_error_128_is_bad_command():
    pods = crashing(exit_code=128, reason="StartError", message='exec: "foo": executable file not found in $PATH')
    out = run(snapshot(deployments=[deployment("api", ready=0)], replicasets=[replicaset("api-7d9c", "api")], pods=pods))
    assert by_mode(out, "crashloop.bad_command")["cause"]["conf"] == "high"


def test_oom_killed_with_helm_variant():
    containers = [container(resources={"limits": {"memory": "50Mi"}})]
    data = snapshot(
        deployments=[deployment("mem", ready=0, containers=containers, helm="shop")],
        replicasets=[replicaset("mem-7d9c", "mem")],
        pods=crashing("mem", 3, 137, "OOMKilled", containers=containers),
    )
    out = run(data, "deployment", "mem")
    f = by_mode(out, "crashloop.oom_killed")
    assert f["sev"] == "critical" and f["cause"]["conf"] == "high" and f["n"] == 3
    assert ev_value(f, "resources.limits.memory") == "50Mi"
    assert f["fix"]["kubectl"] == (f"kubectl -n {NS} set resources deploy/mem -c app --limits=memory=100Mi --requests=memory=100Mi")
    assert f["fix"]["helm"].startswith(f"helm upgrade shop shop -n {NS} --reuse-values")
    assert "resources.limits.memory=100Mi" in f["fix"]["helm"] and "Helm-managed" in f["fix"]["note"]
    assert out["target"]["helm"] == "shop" and out["target"]["replicas"] == "0/1 ready"
    assert out["limits"]["logs_read"] == 0 and "next" not in f, "OOM is decided from status; no logs needed"
    assert "rollout" in out["ok"], "an explained (redundant) rollout symptom does not fail the rollout check"


def test_liveness_kill_is_not_app_error():
    containers = [
        container(livenessProbe={"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5, "failureThreshold": 3}, ports=[{"containerPort": 8080}])
    ]
    pods = crashing(exit_code=137, containers=containers)
    pname = pods[0]["metadata"]["name"]
    data = snapshot(
        deployments=[deployment("api", ready=0, containers=containers)],
        replicasets=[replicaset("api-7d9c", "api")],
        pods=pods,
        events=[
            event("Pod", pname, "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 404", count=9, age=20),
            event("Pod", pname, "Killing", "Container app failed liveness probe, will be restarted", type="Normal", age=20),
        ],
    )
    f = by_mode(run(data), "crashloop.liveness")
    assert f["cause"]["conf"] == "high" and "statuscode: 404" in f["cause"]["text"]
    assert ev_value(f, "livenessProbe")["httpGet"]["path"] == "/healthz"
    # the container could not be asked which path answers: unknown, with the candidates, and nothing to apply
    assert "Unknown" in f["fix"]["do"] and "/readyz" in f["fix"]["do"] and "apply" not in f["fix"] and "kubectl" not in f["fix"]


def test_old_liveness_events_before_the_last_run_do_not_count():
    containers = [container(livenessProbe={"httpGet": {"path": "/healthz", "port": 8080}})]
    pods = crashing(exit_code=1, containers=containers)
    data = snapshot(
        deployments=[deployment("api", ready=0)],
        replicasets=[replicaset("api-7d9c", "api")],
        pods=pods,
        events=[event("Pod", pods[0]["metadata"]["name"], "Unhealthy", "Liveness probe failed: timeout", age=1800)],
    )
    assert by_mode(run(data), "crashloop.app_error")


def test_a_run_whose_events_the_kubelet_dropped_is_judged_by_the_pods_earlier_runs():
    """The kubelet's spam filter stops a crash-looping pod's events after a burst: the last killed run has none. Its
    earlier runs' liveness kills and the readiness probe's 404 still tell what kills it and what else fails."""
    containers = [
        container(
            livenessProbe={"httpGet": {"path": "/livez", "port": 8080}},
            readinessProbe={"httpGet": {"path": "/readyz", "port": 8080}},
            ports=[{"containerPort": 8080}],
        )
    ]
    pods = crashing(exit_code=0, reason="Completed", containers=containers)
    pname = pods[0]["metadata"]["name"]
    old = 1800  # before the last run started
    data = snapshot(
        deployments=[deployment("api", ready=0, containers=containers)],
        replicasets=[replicaset("api-7d9c", "api")],
        pods=pods,
        events=[
            event("Pod", pname, "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 404", count=7, age=old),
            event("Pod", pname, "Unhealthy", "Readiness probe failed: Get ...: connect: connection refused", count=3, age=old),
            event("Pod", pname, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 404", count=11, age=old),
            event("Pod", pname, "Killing", "Container app failed liveness probe, will be restarted", type="Normal", count=6, age=old),
        ],
    )
    f = by_mode(run(data), "crashloop.liveness")
    assert "readiness probe fails too" in f["cause"]["text"], f["cause"]
    # an exit 1 in such a pod is the app's own failure, not the probe (test_old_liveness_events_... above)


def test_exit_zero_loop_with_undefined_variable_is_never_app_error():
    pods = crashing("crashpod", exit_code=0, reason="Completed")
    data = snapshot(
        deployments=[deployment("crashpod", ready=0)],
        replicasets=[replicaset("crashpod-7d9c", "crashpod")],
        pods=pods,
        logs={f"{pods[0]['metadata']['name']}/app/previous": ["Environment variable DEPLOY_ENV is undefined"]},
    )
    out = run(data)
    f = by_mode(out, "crashloop.exit_zero")
    assert not any(x["mode"] == "crashloop.app_error" for x in out["findings"])
    assert f["cause"]["conf"] == "medium" and "DEPLOY_ENV" in f["cause"]["text"]
    assert "set env deploy/crashpod -c app" in person_template(f["fix"]) and "DEPLOY_ENV=<value>" in f["fix"]["note"]


def test_recovered_container_produces_no_finding():
    statuses = [cstatus(running=True, ready=True, restarts=4, last={"exitCode": 1, "reason": "Error"})]
    pods = deploy_pods("api", 2, statuses=statuses)
    data = snapshot(
        deployments=[deployment("api", replicas=2)],
        replicasets=[replicaset("api-7d9c", "api")],
        pods=pods,
        events=[event("Pod", pods[0]["metadata"]["name"], "BackOff", "Back-off restarting failed container", count=4, age=900)],
    )
    out = run(data, "deployment", "api")
    assert out["verdict"] == "healthy" and not out.get("findings")
    assert "crashloop" in out["ok"] and "service" in out["ok"]


def test_partial_failure_is_high_not_critical():
    good = deploy_pods("api", 2)
    bad = crashing()
    bad[0]["metadata"]["name"] = "api-7d9c-bad"
    out = run(snapshot(deployments=[deployment("api", replicas=3, ready=2)], replicasets=[replicaset("api-7d9c", "api")], pods=good + bad))
    assert out["verdict"] == "degraded" and by_mode(out, "crashloop.app_error")["sev"] == "high"


def test_grouping_caps_objects_and_counts_all():
    out = run(snapshot(deployments=[deployment("api", replicas=10, ready=0)], replicasets=[replicaset("api-7d9c", "api")], pods=crashing(n=10)))
    f = by_mode(out, "crashloop.app_error")
    assert f["n"] == 10 and len(f["objs"]) == 3 and len(out["findings"]) == 1


# ---------- image pull ----------


def image_pod(image, reason="ImagePullBackOff", message=None, events=(), policy=None, **kw):
    c = container("nginx", image, **({"imagePullPolicy": policy} if policy else {}))
    pods = deploy_pods(
        "app", 1, containers=[c], phase="Pending", statuses=[cstatus("nginx", waiting=reason, wmsg=message or f'Back-off pulling image "{image}"')]
    )
    evs = [event("Pod", pods[0]["metadata"]["name"], r, m, type=t) for r, m, t in events]
    return snapshot(deployments=[deployment("app", ready=0, containers=[c])], replicasets=[replicaset("app-7d9c", "app")], pods=pods, events=evs, **kw)


def test_image_tag_not_found():
    data = image_pod(
        "nginx:invalid-tag",
        events=[
            (
                "Failed",
                'Failed to pull image "nginx:invalid-tag": rpc error: code = NotFound desc = failed to pull and '
                'unpack image "docker.io/library/nginx:invalid-tag": not found',
                "Warning",
            ),
            ("BackOff", 'Back-off pulling image "nginx:invalid-tag"', "Normal"),
        ],
    )
    out = run(data)
    f = by_mode(out, "image_pull.tag_not_found")
    assert f["sev"] == "critical" and f["cause"]["conf"] == "high"
    assert "kubectl" not in f["fix"] and "apply" not in f["fix"] and "check the registry's tags" in f["fix"]["do"], "no tag known: no placeholder"
    assert "config" in out["ok"] and "scheduling" in out["ok"] and "image_pull" not in out["ok"]


def test_image_auth_or_missing_repo():
    data = image_pod(
        "private.example.com/team/app:1",
        reason="ErrImagePull",
        events=[
            (
                "Failed",
                'Failed to pull image "private.example.com/team/app:1": pull access denied, repository does not exist or may require authorization',
                "Warning",
            )
        ],
    )
    f = by_mode(run(data), "image_pull.auth_or_missing_repo")
    assert "docker-registry regcred" in f["fix"]["note"]


def test_minikube_local_image_not_loaded():
    data = image_pod(
        "myapp:dev",
        reason="ErrImagePull",
        events=[
            (
                "Failed",
                'Failed to pull image "myapp:dev": Error response from daemon: pull access denied for myapp, '
                "repository does not exist or may require 'docker login'",
                "Warning",
            )
        ],
    )
    data["nodes"] = [node("minikube", labels={"minikube.k8s.io/name": "minikube"})]
    f = by_mode(run(data), "image_pull.local_image_not_loaded")
    # IfNotPresent already: loading the image is the whole fix, outside the cluster (a person's, no apply)
    assert "minikube image load myapp:dev" in f["fix"]["do"] and "apply" not in f["fix"] and "kubectl" not in f["fix"]


def test_never_pull_and_invalid_name():
    f = by_mode(
        run(image_pod("app:1", reason="ErrImageNeverPull", policy="Never", message='Container image "app:1" is not present with pull policy of Never')),
        "image_pull.never_pull",
    )
    assert ev_value(f, "imagePullPolicy") == "Never"
    by_mode(
        run(image_pod("Nginx:Bad", reason="InvalidImageName", message='Failed to apply default image tag "Nginx:Bad": couldn\'t parse image reference')),
        "image_pull.invalid_name",
    )


def test_image_pull_on_init_container():
    pods = deploy_pods(
        "app",
        1,
        phase="Pending",
        statuses=[cstatus(waiting="PodInitializing")],
        init_statuses=[cstatus("wait", waiting="ErrImagePull", wmsg="rpc error: code = NotFound")],
        spec={"initContainers": [container("wait", "busybox:nope")]},
    )
    f = by_mode(run(snapshot(deployments=[deployment("app", ready=0)], replicasets=[replicaset("app-7d9c", "app")], pods=pods)), "image_pull.tag_not_found")
    assert f["container"] == "wait"


# ---------- config / mount ----------


def secret_env(key="DB_PASSWORD"):
    return [container(env=[{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-creds", "key": key}}}, {"name": "MODE", "value": "prod"}])]


def test_missing_secret_key_found_by_spec_check_even_while_pods_run():
    c = secret_env()
    data = snapshot(
        deployments=[deployment("api", containers=c)],
        replicasets=[replicaset("api-7d9c", "api")],
        pods=deploy_pods("api", 1, containers=c),
        secrets={"db-creds": ["password"]},
    )
    out = run(data, "deployment", "api")
    f = by_mode(out, "config.missing_secret_key")
    assert f["sev"] == "high" and f["cause"]["conf"] == "high"  # pods still run; the next start fails
    assert ev_value(f, "Secret/db-creds.keys") == ["password"]
    template = person_template(f["fix"])
    assert template.startswith("kubectl -n shop patch secret/db-creds --type=merge") and '"DB_PASSWORD":"<value>"' in template
    assert "prod" not in json.dumps(out), "env literal values never appear"


def test_missing_secret_key_from_waiting_message_merges_with_spec_check():
    c = secret_env()
    pods = deploy_pods(
        "api",
        2,
        containers=c,
        phase="Pending",
        statuses=[cstatus(waiting="CreateContainerConfigError", wmsg=f"couldn't find key DB_PASSWORD in Secret {NS}/db-creds")],
    )
    out = run(
        snapshot(
            deployments=[deployment("api", ready=0, containers=c)], replicasets=[replicaset("api-7d9c", "api")], pods=pods, secrets={"db-creds": ["password"]}
        )
    )
    found = [f for f in out["findings"] if f["mode"] == "config.missing_secret_key"]
    assert len(found) == 1 and found[0]["n"] == 3 and found[0]["sev"] == "critical"
    assert "Deployment/api" in found[0]["objs"]


def test_a_missing_key_spelled_like_an_existing_one_is_pointed_at_it_and_others_list_the_candidates():
    """DB_PASSWORD when the Secret has db-password: the fix points the reference at db-password (one strategic patch
    of the container's env, matched by name); a key no existing one resembles says its value is unknown."""
    c = secret_env("DB_PASSWORD")
    pods = deploy_pods(
        "api",
        1,
        containers=c,
        phase="Pending",
        statuses=[cstatus(waiting="CreateContainerConfigError", wmsg=f"couldn't find key DB_PASSWORD in Secret {NS}/db-creds")],
    )
    data = snapshot(
        deployments=[deployment("api", ready=0, containers=c)],
        replicasets=[replicaset("api-7d9c", "api")],
        pods=pods,
        secrets={"db-creds": ["db-password", "user"]},
    )
    f = by_mode(run(data, "deployment", "api"), "config.missing_secret_key")
    env = [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-creds", "key": "db-password"}}}]
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": env}]}}}}
    assert f["fix"]["apply"] == [{"tool": "patch_resource", "args": {"kind": "deployment", "name": "api", "namespace": NS, "patch": patch, "wait": True}}], f[
        "fix"
    ]
    assert "db-password" in f["fix"]["do"] and f["fix"]["kubectl"].startswith(f"kubectl -n {NS} patch deploy/api -p "), f["fix"]

    data["secrets"] = {"db-creds": ["token", "user"]}
    f = by_mode(run(data, "deployment", "api"), "config.missing_secret_key")
    assert "apply" not in f["fix"] and "not known" in f["fix"]["do"] and "candidates: token, user" in f["fix"]["do"], f["fix"]


def test_missing_configmap_and_missing_secret():
    c = [container(envFrom=[{"configMapRef": {"name": "app-config"}}, {"secretRef": {"name": "gone"}}])]
    out = run(
        snapshot(
            deployments=[deployment("api", containers=c)],
            replicasets=[replicaset("api-7d9c", "api")],
            pods=deploy_pods("api", 1, containers=c),
            configmaps={"app-config": None},
            secrets={"gone": None},
        )
    )
    assert "create configmap app-config" in by_mode(out, "config.missing_configmap")["fix"]["note"]
    assert "create secret generic gone" in by_mode(out, "config.missing_secret")["fix"]["note"]


def test_missing_secret_named_by_a_key_reference_is_created_with_that_key_and_running_pods_are_told_apart():
    """The Secret itself is gone (not a key of it): the cause says so and the fix creates it with the key the
    reference wants (patching a Secret that does not exist fails). Pods that started before it went keep
    running, so they are not said to be unable to start: their next start is what fails."""
    env = [{"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}]
    c = [container(env=env)]
    for statuses, says in (([cstatus(running=True, ready=True)], "next start"), ([cstatus(waiting="ContainerCreating")], "cannot start")):
        data = snapshot(
            deployments=[deployment("api", containers=c)],
            replicasets=[replicaset("api-7d9c", "api")],
            pods=deploy_pods("api", 2, containers=c, statuses=statuses),
            secrets={"db": None},
        )
        f = by_mode(run(data, "deployment", "api"), "config.missing_secret")
        assert f["cause"]["text"].startswith("Secret db does not exist") and "has no key" not in f["cause"]["text"], f["cause"]
        assert says in f["cause"]["text"], f["cause"]
        assert f"kubectl -n {NS} create secret generic db --from-literal=url=<value>" in f["fix"]["note"], f["fix"]


def test_usage_near_the_memory_limit_and_at_the_cpu_limit_from_metrics_server():
    limits = {"limits": {"memory": "128Mi", "cpu": "100m"}, "requests": {"memory": "64Mi", "cpu": "50m"}}
    c = [container(resources=limits)]
    pods = deploy_pods("api", 1, containers=c, statuses=[cstatus(running=True, ready=True)])
    name = pods[0]["metadata"]["name"]
    data = snapshot(deployments=[deployment("api", containers=c)], replicasets=[replicaset("api-7d9c", "api")], pods=pods)
    mib = 1 << 20
    data["usage"] = {name: {"app": {"cpu_m": 99, "memory": 121 * mib}}}
    out = run(data, "deployment", "api")
    mem, cpu = by_mode(out, "resources.memory_near_limit"), by_mode(out, "resources.cpu_throttled")
    assert mem["sev"] == "medium" and "121Mi of its 128Mi memory limit (95%)" in mem["cause"]["text"], mem
    assert mem["fix"]["apply"][0]["args"]["patch"] == {
        "spec": {"template": {"spec": {"containers": [{"name": "app", "resources": {"limits": {"memory": "192Mi"}}}]}}}
    }
    assert "99m of its 100m CPU limit (99%)" in cpu["cause"]["text"] and "throttles" in cpu["cause"]["text"], cpu
    assert "--limits=cpu=200m" in cpu["fix"]["kubectl"], cpu["fix"]

    # headroom left, no limit, or no metrics: nothing is claimed
    for usage in ({name: {"app": {"cpu_m": 40, "memory": 70 * mib}}}, {}):
        data["usage"] = usage
        assert not {f["mode"] for f in run(data, "deployment", "api").get("findings", [])} & {"resources.memory_near_limit", "resources.cpu_throttled"}
    # a container the kernel already OOM-killed is the crashloop check's finding, not a second one
    killed = deploy_pods("api", 1, containers=c, statuses=[cstatus(running=True, restarts=1, last={"reason": "OOMKilled", "exitCode": 137})])
    data = snapshot(deployments=[deployment("api", containers=c)], replicasets=[replicaset("api-7d9c", "api")], pods=killed)
    data["usage"] = {killed[0]["metadata"]["name"]: {"app": {"cpu_m": 10, "memory": 125 * mib}}}
    assert "resources.memory_near_limit" not in {f["mode"] for f in run(data, "deployment", "api").get("findings", [])}


def test_run_as_root():
    pods = deploy_pods(
        "api", 1, phase="Pending", statuses=[cstatus(waiting="CreateContainerConfigError", wmsg="container has runAsNonRoot and image will run as root")]
    )
    f = by_mode(run(snapshot(deployments=[deployment("api", ready=0)], replicasets=[replicaset("api-7d9c", "api")], pods=pods)), "config.run_as_root")
    assert "apply" not in f["fix"] and "runAsUser" in f["fix"]["note"] and "<uid>" in f["fix"]["note"]  # which uid: the image knows, not the cluster


def test_failed_mount_of_missing_configmap():
    spec = {"volumes": [{"name": "cfg", "configMap": {"name": "app-config"}}]}
    pods = deploy_pods("api", 1, phase="Pending", statuses=[cstatus(waiting="ContainerCreating")], spec=spec)
    data = snapshot(
        deployments=[deployment("api", ready=0, pod_spec=spec)],
        replicasets=[replicaset("api-7d9c", "api")],
        pods=pods,
        configmaps={"app-config": None},
        events=[event("Pod", pods[0]["metadata"]["name"], "FailedMount", 'MountVolume.SetUp failed for volume "cfg" : configmap "app-config" not found')],
    )
    out = run(data)
    found = [f for f in out["findings"] if f["mode"] == "mount.failed"]
    assert len(found) == 1 and found[0]["cause"]["conf"] == "high"
    assert "kubectl -n shop create configmap app-config" in found[0]["fix"]["note"]


def test_sandbox_failure():
    pods = deploy_pods("api", 1, phase="Pending", statuses=[cstatus(waiting="ContainerCreating")])
    data = snapshot(
        deployments=[deployment("api", ready=0)],
        replicasets=[replicaset("api-7d9c", "api")],
        pods=pods,
        events=[event("Pod", pods[0]["metadata"]["name"], "FailedCreatePodSandBox", 'Failed to create pod sandbox: plugin type="calico" failed')],
    )
    by_mode(run(data), "sandbox.failed")


# ---------- scheduling / pvc ----------


def pending(n=1, message="", spec=None, deploy="api"):
    return deploy_pods(
        deploy,
        n,
        phase="Pending",
        node=None,
        statuses=[],
        spec=spec,
        conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}],
    )


def test_insufficient_cpu_gives_the_numbers():
    c = [container(resources={"requests": {"cpu": "6"}})]
    pods = pending(message="0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.")
    for p in pods:
        p["spec"]["containers"] = c
    out = run(snapshot(deployments=[deployment("api", ready=0, containers=c)], replicasets=[replicaset("api-7d9c", "api")], pods=pods))
    f = by_mode(out, "scheduling.insufficient_resources")
    assert f["cause"]["conf"] == "high" and "requests cpu 6 > largest node allocatable 4" in f["cause"]["text"]
    assert "--requests=cpu=" in f["fix"]["note"]


def test_stale_failed_scheduling_event_after_recovery_is_ignored():
    pods = deploy_pods("api", 1)
    data = snapshot(
        deployments=[deployment("api")],
        replicasets=[replicaset("api-7d9c", "api")],
        pods=pods,
        events=[event("Pod", pods[0]["metadata"]["name"], "FailedScheduling", "0/1 nodes are available: 1 Insufficient cpu.", age=120)],
    )
    assert run(data)["verdict"] == "healthy"


def test_selector_mismatch_names_the_label_and_links_the_service():
    spec = {"nodeSelector": {"environment": "production-gpu"}}
    pods = pending(message="0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.", spec=spec)
    data = snapshot(
        deployments=[deployment("web", ready=0, pod_spec=spec, labels={"app": "api"})],
        replicasets=[replicaset("api-7d9c", "web")],
        pods=pods,
        services=[service("api", {"app": "api"})],
        endpointslices=[endpointslice("api", [])],
    )
    data["nodes"] = [node("n1", labels={"environment": "dev"}), node("n2", labels={"environment": "dev"})]
    out = run(data)
    root = by_mode(out, "scheduling.selector_mismatch")
    assert "environment=production-gpu" in root["cause"]["text"] and "environment=dev" in root["cause"]["text"]
    assert "/spec/template/spec/nodeSelector/environment" in root["fix"]["kubectl"]
    svc = by_mode(out, "service.no_ready_endpoints")
    assert svc["caused_by"] == [root["id"]] and "fix" not in svc
    assert out["findings"][0]["id"] == root["id"], "root causes come first"


def test_untolerated_taint():
    pods = pending(message="0/2 nodes are available: 2 node(s) had untolerated taint {dedicated: gpu}.")
    data = snapshot(deployments=[deployment("api", ready=0)], replicasets=[replicaset("api-7d9c", "api")], pods=pods)
    data["nodes"] = [node(f"n{i}", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]) for i in range(2)]
    f = by_mode(run(data), "scheduling.untolerated_taint")
    assert "dedicated=gpu:NoSchedule" in f["cause"]["text"] and "tolerations" in f["fix"]["kubectl"]


def test_cordoned_nodes():
    pods = pending(message="0/2 nodes are available: 2 node(s) were unschedulable.")
    data = snapshot(deployments=[deployment("api", ready=0)], replicasets=[replicaset("api-7d9c", "api")], pods=pods)
    data["nodes"] = [node("n1", unschedulable=True), node("n2", unschedulable=True)]
    fix = by_mode(run(data), "scheduling.cordoned")["fix"]
    assert "Uncordon n1" in fix["do"] and "`kubectl uncordon n1`" in fix["note"] and "apply" not in fix  # a node: a person's call


def test_unbound_pvc_is_caused_by_missing_storage_class():
    spec = {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}
    pods = pending(message="0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims.", spec=spec)
    pvc = {
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": NS, "uid": "uid-data"},
        "spec": {"storageClassName": "sc", "accessModes": ["ReadWriteOnce"]},
        "status": {"phase": "Pending"},
    }
    sc = {"metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}}
    out = run(
        snapshot(
            deployments=[deployment("api", ready=0, pod_spec=spec)],
            replicasets=[replicaset("api-7d9c", "api")],
            pods=pods,
            pvcs=[pvc],
            storageclasses=[sc],
            events=[event("PersistentVolumeClaim", "data", "ProvisioningFailed", 'storageclass.storage.k8s.io "sc" not found')],
        ),
        "deployment",
        "api",
    )
    root = by_mode(out, "pvc.no_storageclass")
    assert "StorageClass sc does not exist (existing: standard)" in root["cause"]["text"]
    assert by_mode(out, "scheduling.unbound_pvc")["caused_by"] == [root["id"]]


# ---------- readiness / init / eviction ----------


def test_readiness_failing_links_the_service():
    c = [container(readinessProbe={"httpGet": {"path": "/ready", "port": 8080}}, ports=[{"containerPort": 8080}])]
    pods = deploy_pods("web", 2, containers=c, statuses=[cstatus(running=True, ready=False)])
    data = snapshot(
        deployments=[deployment("web", replicas=2, ready=0, containers=c)],
        replicasets=[replicaset("web-7d9c", "web")],
        pods=pods,
        services=[service("web", {"app": "web"})],
        endpointslices=[endpointslice("web", [False, False])],
        events=[event("Pod", pods[0]["metadata"]["name"], "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", count=20)],
    )
    out = run(data, "service", "web")
    root = by_mode(out, "readiness.failing")
    assert "statuscode: 503" in root["cause"]["text"] and root["n"] == 2
    svc = by_mode(out, "service.no_ready_endpoints")
    assert svc["caused_by"] == [root["id"]] and ev_value(svc, "conditions.ready") == "0/2 true"
    assert not any(f["mode"].startswith("crashloop") for f in out["findings"])


def test_init_container_failure_with_logs():
    spec = {"initContainers": [container("migrate", "postgres:16", command=["sh", "-c", "psql $DB -f m.sql"])]}
    pods = deploy_pods(
        "api",
        1,
        phase="Pending",
        spec=spec,
        statuses=[cstatus(waiting="PodInitializing")],
        init_statuses=[cstatus("migrate", waiting="CrashLoopBackOff", restarts=3, last={"exitCode": 2, "reason": "Error"})],
        conditions=[{"type": "Initialized", "status": "False", "reason": "ContainersNotInitialized"}],
    )
    pname = pods[0]["metadata"]["name"]
    out = run(
        snapshot(
            deployments=[deployment("api", ready=0, pod_spec=spec)],
            replicasets=[replicaset("api-7d9c", "api")],
            pods=pods,
            logs={f"{pname}/migrate/previous": ["psql: error: could not connect to server: Connection refused"]},
        )
    )
    f = by_mode(out, "init.failed")
    assert f["container"] == "migrate" and "could not connect to server" in f["cause"]["text"]
    assert ev_value(f, "initContainers[migrate].command") == ["sh", "-c", "psql $DB -f m.sql"]
    assert not any(x["mode"].startswith("crashloop") for x in out["findings"])


def test_init_failure_without_logs_suggests_the_logs_command():
    pods = deploy_pods(
        "api",
        1,
        phase="Pending",
        statuses=[cstatus(waiting="PodInitializing")],
        init_statuses=[cstatus("migrate", terminated={"exitCode": 1, "reason": "Error"})],
    )
    f = by_mode(run(snapshot(deployments=[deployment("api", ready=0)], replicasets=[replicaset("api-7d9c", "api")], pods=pods)), "init.failed")
    assert any(f"logs {pods[0]['metadata']['name']} -c migrate" in n for n in f["next"])


def test_evicted_pod_is_medium():
    evicted = pod(
        "api-7d9c-old",
        owner=("ReplicaSet", "api-7d9c"),
        phase="Failed",
        statuses=[],
        status={"reason": "Evicted", "message": "The node was low on resource: memory. Container app was using 1.2Gi"},
    )
    out = run(snapshot(deployments=[deployment("api")], replicasets=[replicaset("api-7d9c", "api")], pods=deploy_pods("api", 1) + [evicted]))
    f = by_mode(out, "pod.evicted")
    assert f["sev"] == "medium" and "memory" in f["cause"]["text"] and out["verdict"] == "degraded"


# ---------- workloads ----------


def test_failed_create_by_quota_explains_the_empty_service():
    rs = replicaset(
        "api-7d9c",
        "api",
        conditions=[
            {
                "type": "ReplicaFailure",
                "status": "True",
                "reason": "FailedCreate",
                "message": 'pods "api-7d9c-x" is forbidden: exceeded quota: tiny, requested: pods=1, used: pods=1, limited: pods=1',
            }
        ],
    )
    quota = {"metadata": {"name": "tiny"}, "status": {"hard": {"pods": "1"}, "used": {"pods": "1"}}}
    out = run(
        snapshot(deployments=[deployment("api", ready=0)], replicasets=[rs], pods=[], services=[service("api", {"app": "api"})], resourcequotas=[quota]),
        "service",
        "api",
    )
    root = by_mode(out, "replicas.failed_create")
    assert "ResourceQuota tiny" in root["cause"]["text"] and root["sev"] == "critical"
    assert ev_value(root, "ResourceQuota/tiny")["hard"] == {"pods": "1"}
    # a pod count cannot be met by smaller requests: the fix says what fits and whose call the quota is, with no write
    assert "apply" not in root["fix"] and root["fix"]["mutates"] is False and "ResourceQuota tiny (pods=1)" in root["fix"]["do"]
    assert by_mode(out, "service.no_ready_endpoints")["caused_by"] == [root["id"]]


def test_progress_deadline_is_a_symptom_of_the_image_pull():
    data = image_pod(
        "nginx:nope",
        message='Back-off pulling image "nginx:nope"',
        events=[("Failed", 'Failed to pull image "nginx:nope": rpc error: code = NotFound desc = not found', "Warning")],
    )
    data["deployments"][0]["status"]["conditions"] = [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": 'ReplicaSet "app-7d9c" has timed out progressing.'}
    ]
    out = run(data, "deployment", "app")
    root = by_mode(out, "image_pull.tag_not_found")
    assert by_mode(out, "rollout.deadline_exceeded")["caused_by"] == [root["id"]]


def test_unexplained_unavailable_replicas_are_reported_but_redundant_ones_are_not():
    out = run(snapshot(deployments=[deployment("api", replicas=2, ready=1)], replicasets=[replicaset("api-7d9c", "api")], pods=deploy_pods("api", 1)))
    assert by_mode(out, "rollout.unavailable")["cause"]["conf"] == "low"
    out = run(snapshot(deployments=[deployment("api", ready=0)], replicasets=[replicaset("api-7d9c", "api")], pods=crashing()))
    assert [f["mode"] for f in out["findings"]] == ["crashloop.app_error"]


def test_paused_rollout():
    d = deployment("api")
    d["spec"]["paused"] = True
    out = run(snapshot(deployments=[d], replicasets=[replicaset("api-7d9c", "api")], pods=deploy_pods("api", 1)))
    assert by_mode(out, "rollout.paused")["fix"]["kubectl"] == "kubectl -n shop rollout resume deploy/api"


def test_failed_job_reads_the_pod_log():
    job = {
        "kind": "Job",
        "metadata": {"name": "migrate", "namespace": NS, "uid": "uid-migrate"},
        "spec": {"template": {"metadata": {"labels": {"job-name": "migrate"}}, "spec": {"containers": [container()]}}},
        "status": {
            "failed": 3,
            "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}],
        },
    }
    failed = pod("migrate-abc", owner=("Job", "migrate"), phase="Failed", statuses=[cstatus(terminated={"exitCode": 1, "reason": "Error"})])
    out = run(snapshot(jobs=[job], pods=[failed], logs={"migrate-abc/app/current": ["ERROR: relation users exists"]}), "job", "migrate")
    f = by_mode(out, "job.failed")
    assert "BackoffLimitExceeded" in f["cause"]["text"] and "relation users exists" in f["cause"]["text"]


# ---------- services / ingress / hpa ----------


def test_service_selector_mismatch_prints_the_diff_and_fix():
    out = run(
        snapshot(
            deployments=[deployment("nginx")],
            replicasets=[replicaset("nginx-7d9c", "nginx")],
            pods=deploy_pods("nginx", 1),
            services=[service("nginx", {"app": "web"})],
        ),
        "service",
        "nginx",
    )
    f = by_mode(out, "service.selector_mismatch")
    assert f["cause"]["conf"] == "high" and "app: web ≠ app: nginx" in f["cause"]["text"]
    assert f["fix"]["apply"][0]["args"] == {
        "kind": "service",
        "name": "nginx",
        "namespace": NS,
        "patch": {"spec": {"selector": {"app": "nginx"}}},
        "patch_type": "merge",
    }


def test_named_target_port_missing_on_pods():
    c = [container(ports=[{"name": "http", "containerPort": 8080}])]
    out = run(
        snapshot(
            deployments=[deployment("web", containers=c)],
            replicasets=[replicaset("web-7d9c", "web")],
            pods=deploy_pods("web", 1, containers=c),
            services=[service("web", {"app": "web"}, [{"port": 80, "targetPort": "web"}])],
            endpointslices=[endpointslice("web", [True])],
        ),
        "service",
        "web",
    )
    f = by_mode(out, "service.target_port_mismatch")
    ops = f["fix"]["apply"][0]["args"]["patch"]
    assert ops[-1] == {"op": "replace", "path": "/spec/ports/0/targetPort", "value": "http"}  # by name: the container names it


def ingress(name, backend="web", port=None, cls="nginx", tls=None, age=30, address=False):
    ing = {
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}", "creationTimestamp": ts(age)},
        "spec": {
            "rules": [
                {
                    "host": "shop.local",
                    "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": backend, "port": port or {"number": 80}}}}]},
                }
            ]
        },
        "status": {},
    }
    if cls:
        ing["spec"]["ingressClassName"] = cls
    if tls:
        ing["spec"]["tls"] = [{"hosts": ["shop.local"], "secretName": tls}]
    if address:
        ing["status"] = {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}
    return ing


def web_data(**kw):
    return snapshot(
        deployments=[deployment("web")],
        replicasets=[replicaset("web-7d9c", "web")],
        pods=deploy_pods("web", 1),
        services=[service("web", {"app": "web"})],
        endpointslices=[endpointslice("web", [True])],
        ingressclasses=[{"metadata": {"name": "nginx"}}],
        **kw,
    )


def test_ingress_defects():
    out = run(
        web_data(
            ingresses=[
                ingress("a", backend="nope"),
                ingress("b", port={"number": 8080}),
                ingress("c", cls=None),
                ingress("d", cls="traefik"),
                ingress("e", tls="shop-tls"),
            ],
            secrets={"shop-tls": None},
        )
    )
    modes = sorted(f["mode"] for f in out["findings"])
    assert modes == ["ingress.bad_port", "ingress.missing_service", "ingress.missing_tls_secret", "ingress.no_class", "ingress.no_class"]
    assert "(it has [80])" in by_mode(out, "ingress.bad_port")["cause"]["text"]


def test_ingress_without_address_after_a_while_is_low():
    out = run(web_data(ingresses=[ingress("old", age=3600), ingress("ok", address=True, age=3600)]), "ingress", "old")
    assert by_mode(out, "ingress.no_address")["sev"] == "low"
    assert run(web_data(ingresses=[ingress("ok", address=True, age=3600)]), "ingress", "ok")["verdict"] == "healthy"


def hpa(target="web", metrics=None, conditions=None, **status):
    return {
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": NS, "uid": "uid-hpa"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": target},
            "minReplicas": 1,
            "maxReplicas": 3,
            "metrics": metrics
            if metrics is not None
            else [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}],
        },
        "status": {"conditions": conditions or [], **status},
    }


def test_hpa_modes():
    out = run(web_data(hpas=[hpa()]), "deployment", "web")
    f = by_mode(out, "hpa.missing_requests")
    # how much cpu it needs the cluster does not say: a person's template, no apply
    assert "apply" not in f["fix"] and "kubectl -n shop set resources deploy/web -c app '--requests=cpu=<cpu-request>'" in f["fix"]["note"]
    assert by_mode(run(web_data(hpas=[hpa(target="gone")])), "hpa.bad_target")
    nometrics = hpa(
        metrics=[],
        conditions=[
            {
                "type": "ScalingActive",
                "status": "False",
                "reason": "FailedGetResourceMetric",
                "lastTransitionTime": ts(60),
                "message": "unable to get metrics for resource cpu: unable to fetch "
                "metrics from resource metrics API: the server could not find "
                "the requested resource (get pods.metrics.k8s.io)",
            }
        ],
    )
    assert by_mode(run(web_data(hpas=[nometrics])), "hpa.no_metrics")["cause"]["conf"] == "high"
    atmax = hpa(metrics=[], conditions=[{"type": "ScalingLimited", "status": "True", "reason": "TooManyReplicas"}], currentReplicas=3)
    assert by_mode(run(web_data(hpas=[atmax])), "hpa.at_max")["sev"] == "low"


# ---------- report contract ----------


def test_healthy_namespace_lists_every_check_as_ok():
    out = run(web_data())
    assert out["verdict"] == "healthy" and "No problems found" in out["summary"]
    assert set(out["ok"]) >= {"crashloop", "image_pull", "config", "scheduling", "service", "ingress", "hpa"}


def test_rbac_denied_kind_is_skipped_not_fatal():
    data = web_data(unreadable={"nodes": "RBAC: cannot list nodes", "ingresses": "RBAC: cannot list ingresses"})
    out = run(data)
    assert {"check": "ingress", "why": "cannot list ingresses: RBAC: cannot list ingresses"} in out["skipped"]
    assert any(s["check"] == "nodes" for s in out["skipped"]) and "ingress" not in out["ok"]
    out = run(snapshot(unreadable={"pods": "RBAC: cannot list pods"}))
    assert out["verdict"] == "unknown"


def test_crashloop_tool_checks_only_container_failures():
    data = snapshot(
        deployments=[deployment("nginx")],
        replicasets=[replicaset("nginx-7d9c", "nginx")],
        pods=deploy_pods("nginx", 1),
        services=[service("nginx", {"app": "web"})],
    )
    out = run(data, checks=CRASHLOOP_CHECKS)
    assert out["verdict"] == "healthy" and sorted(out["ok"]) == sorted(CRASHLOOP_CHECKS)


def test_many_signatures_stay_within_budget_and_say_what_was_cut():
    deployments, pods, rss = [], [], []
    for i in range(9):
        name = f"svc{i}"
        deployments.append(deployment(name, ready=0))
        rss.append(replicaset(f"{name}-7d9c", name))
        pods += crashing(name, n=4, exit_code=[1, 137, 127][i % 3], reason=["Error", "OOMKilled", "Error"][i % 3])
    out = run(snapshot(deployments=deployments, replicasets=rss, pods=pods))
    assert len(out["findings"]) == 5 and out["more"].startswith("+4 findings")
    assert out["limits"]["truncated"] is True


def test_log_secrets_are_scrubbed_and_counted():
    pods = crashing()
    out = run(
        snapshot(
            deployments=[deployment("api", ready=0)],
            replicasets=[replicaset("api-7d9c", "api")],
            pods=pods,
            logs={
                f"{pods[0]['metadata']['name']}/app/previous": [
                    "connecting with password=hunter2 to postgres://app:s3cr3t@db:5432/app",
                    "Error: auth failed for Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
                ]
            },
        )
    )
    text = json.dumps(out)
    assert "hunter2" not in text and "s3cr3t" not in text and "eyJzdWIiOiIxIn0" not in text
    assert out["limits"]["redacted"] >= 2


def test_unknown_target_suggests_near_names():
    with pytest.raises(TargetNotFound, match="Did you mean: api"):
        diagnose_snapshot(snapshot(deployments=[deployment("api")]), "deployment", "apii")
    with pytest.raises(ValueError, match="unknown target kind"):
        diagnose_snapshot(snapshot(), "cronjobx", "x")


def test_helm_release_target_scopes_to_its_objects():
    data = snapshot(
        deployments=[deployment("api", ready=0, helm="shop"), deployment("other", ready=0)],
        replicasets=[replicaset("api-7d9c", "api"), replicaset("other-7d9c", "other")],
        pods=crashing("api") + crashing("other"),
    )
    out = run(data, "helm", "shop")
    assert out["target"] == {"kind": "HelmRelease", "ns": NS, "name": "shop", "helm": "shop"}
    assert [f["objs"] for f in out["findings"]] == [["Pod/api-7d9c-0"]]


def test_log_line_selection_keeps_errors_with_context():
    lines = [f"\x1b[32minfo {i}\x1b[0m" for i in range(50)] + ["FATAL: boom", "bye"]
    picked = select_log_lines(lines)
    assert picked == ["info 48", "info 49", "FATAL: boom", "bye"]
    assert select_log_lines(["a", "b", "c", "d"]) == ["b", "c", "d"]


def test_statefulset_and_daemonset_targets_use_their_own_fix_references():
    def workload(kind, name, **status):
        return {
            "kind": kind,
            "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}", "generation": 1},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container(resources={"limits": {"memory": "128Mi"}})]}},
            },
            "status": {"observedGeneration": 1, **status},
        }

    oom = dict(
        statuses=[cstatus(waiting="CrashLoopBackOff", last={"exitCode": 137, "reason": "OOMKilled"}, restarts=2)],
        containers=[container(resources={"limits": {"memory": "128Mi"}})],
    )
    data = snapshot(
        statefulsets=[workload("StatefulSet", "db", readyReplicas=0)],
        daemonsets=[workload("DaemonSet", "agent", desiredNumberScheduled=2, numberReady=1)],
        pods=[
            pod("db-0", owner=("StatefulSet", "db"), **oom),
            pod("agent-x", owner=("DaemonSet", "agent"), **oom),
            pod("agent-y", owner=("DaemonSet", "agent")),
        ],
    )
    out = run(data, "statefulset", "db")
    f = by_mode(out, "crashloop.oom_killed")
    assert f["sev"] == "critical" and "set resources statefulset/db -c app --limits=memory=256Mi" in f["fix"]["kubectl"]
    assert out["target"]["replicas"] == "0/2 ready"
    out = run(data, "daemonset", "agent")
    f = by_mode(out, "crashloop.oom_killed")
    assert f["sev"] == "high" and "daemonset/agent" in f["fix"]["kubectl"] and out["target"]["replicas"] == "1/2 ready"


def test_key_line_prefers_a_clear_error_over_a_closing_remark():
    from ops_mcp.diagnosis.base import key_line

    assert key_line(["start", "ERROR: relation exists", "migration failed"]) == "ERROR: relation exists"
    assert key_line(["start", "job failed"]) == "job failed"
    assert key_line(["a", "b"]) == "b"


def test_helm_variant_uses_this_repos_chart_sections():
    d = deployment("todo-backend", ready=0, helm="todo", containers=[container("backend", resources={"limits": {"memory": "384Mi"}})])
    d["metadata"]["labels"].update({"helm.sh/chart": "todo-chatbot-0.1.0", "app.kubernetes.io/component": "backend"})
    pods = crashing("todo-backend", 1, 137, "OOMKilled", containers=[container("backend", resources={"limits": {"memory": "384Mi"}})])
    for p in pods:
        p["status"]["containerStatuses"][0]["name"] = "backend"
    f = by_mode(run(snapshot(deployments=[d], replicasets=[replicaset("todo-backend-7d9c", "todo-backend")], pods=pods)), "crashloop.oom_killed")
    assert f["fix"]["helm"] == (
        f"helm upgrade todo todo-chatbot -n {NS} --reuse-values --set backend.resources.limits.memory=768Mi --set backend.resources.requests.memory=768Mi"
    )
    assert f["fix"]["values"].startswith("backend:\n  resources:\n    limits:\n      memory: 768Mi")
    assert "section backend" in f["fix"]["note"]


def test_pod_target_reports_on_the_pod_and_fixes_its_workload():
    pods = crashing(n=2, exit_code=137, reason="OOMKilled", containers=[container(resources={"limits": {"memory": "1Gi"}})])
    data = snapshot(deployments=[deployment("api", replicas=2, ready=0)], replicasets=[replicaset("api-7d9c", "api")], pods=pods)
    out = run(data, "pod", "api-7d9c-1")
    f = by_mode(out, "crashloop.oom_killed")
    assert f["objs"] == ["Pod/api-7d9c-1"] and out["target"] == {"kind": "Pod", "ns": NS, "name": "api-7d9c-1"}
    step = f["fix"]["apply"][0]["args"]
    assert (step["kind"], step["name"]) == ("deployment", "api")
    assert step["patch"]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {"memory": "2048Mi"}
    bare = pod(
        "solo",
        statuses=[cstatus(waiting="CrashLoopBackOff", last={"exitCode": 137, "reason": "OOMKilled"}, restarts=1)],
        containers=[container(resources={"limits": {"memory": "64Mi"}})],
    )
    f = by_mode(run(snapshot(pods=[bare]), "pod", "solo"), "crashloop.oom_killed")
    # a bare pod's resources cannot change in place: nothing to apply, the note says it is recreated with the change
    assert "apply" not in f["fix"] and "Pod solo: its spec is immutable" in f["fix"]["note"] and "set resources pod/solo" in f["fix"]["note"]
