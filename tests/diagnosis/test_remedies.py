"""Remedies built from what the snapshot holds (issue 24): the near-named Service or its port for a wrong address,
the lost Service of a Ready workload, requests that fit a quota or a LimitRange, a failed Job re-run with its cause
fixed, hard placement rules made preferences; and nothing invented for a healthy log that speaks of errors."""

from __future__ import annotations

from .factories import NS, container, cstatus, deploy_pods, deployment, event, node, pod, replicaset, service, snapshot
from .test_analyzers import by_mode, run


def client(upstream: str, lines: list[str], *, ready: bool = False, var: str = "UPSTREAM", init: bool = False) -> dict:
    """A Deployment `web` whose container (or init container) is given `upstream` and logs `lines`."""
    spec = container(env=[{"name": var, "value": upstream}])
    pods = deploy_pods("web", 1, statuses=[cstatus(running=True, ready=ready)], containers=[spec])
    name = pods[0]["metadata"]["name"]
    if init:
        pods[0]["spec"]["initContainers"] = [{**spec, "name": "wait"}]
        pods[0]["spec"]["containers"] = [container()]
        pods[0]["status"]["initContainerStatuses"] = [cstatus("wait", running=True)]
        pods[0]["status"]["containerStatuses"] = [cstatus(waiting="PodInitializing")]
        pods[0]["status"]["phase"] = "Pending"
    return {
        "deployments": [deployment("web", ready=int(ready), containers=[container()] if init else [spec])],
        "replicasets": [replicaset("web-7d9c", "web")],
        "pods": pods,
        "logs": {f"{name}/{'wait' if init else 'app'}/current": lines},
    }


DNS = "ERROR upstream http://backend/healthz: URLError: <urlopen error [Errno -2] Name or service not known>"


def test_a_renamed_service_is_found_by_its_near_name_and_the_env_value_rewritten():
    data = snapshot(**client("http://backend/healthz", [DNS] * 3), services=[service("backend-api", {"app": "backend"}), service("db", {"app": "db"})])
    out = run(data, "deployment", "web")
    f = out["findings"][0]
    assert f["mode"] == "dependency.missing_service" and "backend" in f["cause"]["text"]
    step = f["fix"]["apply"][0]
    assert step["tool"] == "patch_resource" and step["args"]["kind"] == "deployment"
    env = step["args"]["patch"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "UPSTREAM", "value": "http://backend-api/healthz"}]
    assert "backend-api" in f["fix"]["kubectl"] and "<" not in f["fix"]["kubectl"]


def test_the_readiness_failure_of_the_same_container_is_caused_by_the_address():
    data = snapshot(**client("http://backend/healthz", [DNS] * 3), services=[service("backend-api", {"app": "backend"})])
    data["pods"][0]["spec"]["containers"][0]["readinessProbe"] = {"httpGet": {"path": "/healthz", "port": 8080}}
    name = data["pods"][0]["metadata"]["name"]
    data["events"] = [event("Pod", name, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", count=9)]
    out = run(data, "deployment", "web")
    assert out["findings"][0]["mode"] == "dependency.missing_service"
    readiness = by_mode(out, "readiness.failing")
    assert readiness["caused_by"] == [out["findings"][0]["id"]] and "fix" not in readiness


def test_a_deleted_service_is_created_again_for_the_ready_workload_of_that_name():
    data = snapshot(**client("http://store:80/healthz", ["ERROR upstream http://store:80/healthz: Name or service not known"] * 3))
    store = deployment("store", containers=[container(ports=[{"name": "http", "containerPort": 8080}])])
    data["deployments"].append(store)
    out = run(data, "deployment", "web")
    f = out["findings"][0]
    step = f["fix"]["apply"][0]
    assert step["tool"] == "apply_manifest"
    (svc,) = step["args"]["manifest"]
    assert svc["metadata"]["name"] == "store" and svc["spec"]["selector"] == {"app": "store"}
    assert svc["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]


def test_a_port_the_service_does_not_serve_is_replaced_by_the_one_it_does():
    lines = ["ERROR upstream http://catalog:8080/healthz: TimeoutError: timed out"] * 3
    data = snapshot(**client("http://catalog:8080/healthz", lines), services=[service("catalog", {"app": "catalog"})])
    f = run(data, "deployment", "web")["findings"][0]
    assert f["mode"] == "dependency.wrong_port"
    env = f["fix"]["apply"][0]["args"]["patch"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "UPSTREAM", "value": "http://catalog:80/healthz"}]


def test_an_init_container_waiting_for_a_host_gets_its_host_var_fixed():
    lines = ["waiting for db-main:5432: [Errno -2] Name or service not known"] * 4
    data = snapshot(**client("db-main", lines, var="DB_HOST", init=True), services=[service("db", {"app": "db"}, ports=[{"port": 5432, "targetPort": 8080}])])
    f = run(data, "deployment", "web")["findings"][0]
    assert f["mode"] == "dependency.missing_service" and f["container"] == "wait"
    patch = f["fix"]["apply"][0]["args"]["patch"]["spec"]["template"]["spec"]
    assert patch == {"initContainers": [{"name": "wait", "env": [{"name": "DB_HOST", "value": "db"}]}]}


def test_an_address_of_another_namespace_or_an_external_host_is_left_alone():
    for upstream in ("http://backend.other/healthz", "https://api.example.com/v1"):
        data = snapshot(**client(upstream, [DNS] * 3, ready=True))
        out = run(data, "deployment", "web")
        assert not any(f["mode"].startswith("dependency.") for f in out["findings"]), upstream


def test_no_service_near_the_name_says_so_and_lists_the_candidates_without_a_write():
    data = snapshot(**client("http://zebra/healthz", [DNS.replace("backend", "zebra")] * 3), services=[service("catalog", {"app": "catalog"})])
    f = run(data, "deployment", "web")["findings"][0]
    assert f["mode"] == "dependency.missing_service"
    assert "apply" not in f["fix"] and f["fix"]["mutates"] is False and "catalog" in f["fix"]["do"]


def test_a_ready_app_whose_log_repeats_errors_is_reported_and_a_chatty_healthy_one_is_not():
    failing = ["ERROR payment provider rejected charge 7: HTTP 503"] * 6
    out = run(snapshot(**client("http://x.example.com", failing, ready=True)), "deployment", "web")
    f = by_mode(out, "app.log_errors")
    assert f["sev"] == "medium" and "503" in f["cause"]["text"] and "apply" not in f["fix"]
    chatty = ["INFO processed batch 4: 10 items, 0 errors, error_count=0"] * 20
    out = run(snapshot(**client("http://x.example.com", chatty, ready=True)), "deployment", "web")
    assert out["verdict"] == "healthy" and not out.get("findings")


def test_pods_refused_by_a_quota_get_requests_that_fit_it():
    spec = container(resources={"requests": {"memory": "300Mi"}, "limits": {"memory": "300Mi"}})
    message = (
        'pods "search-1" is forbidden: exceeded quota: team, requested: limits.memory=300Mi,requests.memory=300Mi, '
        "used: limits.memory=0,requests.memory=0, limited: limits.memory=256Mi,requests.memory=256Mi"
    )
    data = snapshot(
        deployments=[deployment("search", ready=0, containers=[spec])],
        replicasets=[replicaset("search-7d9c", "search")],
        pods=[],
        events=[event("ReplicaSet", "search-7d9c", "FailedCreate", message, count=12)],
    )
    f = by_mode(run(data, "deployment", "search"), "replicas.failed_create")
    resources = f["fix"]["apply"][0]["args"]["patch"]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"memory": "256Mi"}, "limits": {"memory": "256Mi"}}
    assert "<" not in f["fix"]["kubectl"]


def test_pods_refused_by_a_limit_range_get_its_bound():
    spec = container(resources={"requests": {"memory": "64Mi"}, "limits": {"memory": "256Mi"}})
    message = 'pods "report-1" is forbidden: maximum memory usage per Container is 128Mi, but limit is 256Mi'
    data = snapshot(
        deployments=[deployment("report", ready=0, containers=[spec])],
        replicasets=[replicaset("report-7d9c", "report")],
        pods=[],
        events=[event("ReplicaSet", "report-7d9c", "FailedCreate", message, count=12)],
    )
    f = by_mode(run(data, "deployment", "report"), "replicas.failed_create")
    resources = f["fix"]["apply"][0]["args"]["patch"]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {"limits": {"memory": "128Mi"}}


def _failed_job(owner=None) -> dict:
    spec = container("main", resources={"limits": {"memory": "48Mi"}, "requests": {"memory": "48Mi"}})
    labels = {"app": "export", "batch.kubernetes.io/controller-uid": "u1", "batch.kubernetes.io/job-name": "export"}
    job = {
        "kind": "Job",
        "metadata": {"name": "export", "namespace": NS, "uid": "uid-export", "labels": {"app": "export"}, "creationTimestamp": "2026-01-01T11:00:00Z"},
        "spec": {
            "backoffLimit": 1,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}},
            "template": {"metadata": {"labels": labels}, "spec": {"restartPolicy": "Never", "containers": [spec]}},
        },
        "status": {
            "failed": 2,
            "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}],
        },
    }
    if owner:
        job["metadata"]["ownerReferences"] = [{"kind": "CronJob", "name": owner, "controller": True, "uid": "uid-cron"}]
    oom = cstatus("main", terminated={"exitCode": 137, "reason": "OOMKilled"})
    failed = pod("export-abc", owner=("Job", "export"), labels=labels, phase="Failed", statuses=[oom], containers=[spec])
    return snapshot(jobs=[job], pods=[failed])


def test_a_job_killed_to_its_backoff_limit_is_re_run_with_its_cause_fixed():
    f = by_mode(run(_failed_job(), "job", "export"), "job.failed")
    delete, create = f["fix"]["apply"]
    assert delete["tool"] == "delete_resource" and delete["args"]["name"] == "export"
    (job,) = create["args"]["manifest"]
    assert "selector" not in job["spec"] and job["metadata"] == {"name": "export", "labels": {"app": "export"}}
    assert job["spec"]["template"]["metadata"]["labels"] == {"app": "export"}
    assert job["spec"]["template"]["spec"]["containers"][0]["resources"] == {"limits": {"memory": "96Mi"}, "requests": {"memory": "96Mi"}}


def test_a_cronjobs_failed_run_changes_the_cronjob_template():
    f = by_mode(run(_failed_job(owner="rollup"), None, None), "job.failed")
    (step,) = f["fix"]["apply"]
    assert step["tool"] == "patch_resource" and step["args"]["kind"] == "cronjob" and step["args"]["name"] == "rollup"
    container_patch = step["args"]["patch"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container_patch["resources"]["limits"] == {"memory": "96Mi"}


def test_unsatisfiable_anti_affinity_and_spread_become_preferences():
    term = {"labelSelector": {"matchLabels": {"app": "fe"}}, "topologyKey": "kubernetes.io/hostname"}
    spread = [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule"}]
    pod_spec = {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}, "topologySpreadConstraints": spread}
    message = "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules, 2 node(s) didn't match pod topology spread constraints."
    pending = deploy_pods(
        "fe",
        1,
        statuses=[cstatus(waiting="ContainerCreating")],
        node=None,
        spec=pod_spec,
        conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}],
    )
    data = snapshot(deployments=[deployment("fe", ready=0, pod_spec=pod_spec)], replicasets=[replicaset("fe-7d9c", "fe")], pods=pending)
    f = by_mode(run(data, "deployment", "fe"), "scheduling.affinity")
    ops = f["fix"]["apply"][0]["args"]["patch"]
    assert ops[0]["value"] == {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": term}]}
    assert ops[1]["value"][0]["whenUnsatisfiable"] == "ScheduleAnyway" and len(ops) == 2  # no pod placed: the rollout is free

    # one pod runs, with the required rule: the new pods would be refused while it stops, and not tried again for
    # minutes (kube-scheduler); Recreate stops it first
    running = [pod("fe-7d9c-run", owner=("ReplicaSet", "fe-7d9c"), labels={"app": "fe"}, spec=pod_spec)]
    data = snapshot(deployments=[deployment("fe", ready=1, pod_spec=pod_spec)], replicasets=[replicaset("fe-7d9c", "fe")], pods=running + pending)
    ops = by_mode(run(data, "deployment", "fe"), "scheduling.affinity")["fix"]["apply"][0]["args"]["patch"]
    assert {"op": "replace", "path": "/spec/strategy", "value": {"type": "Recreate"}} in ops


def test_a_missing_program_file_is_a_bad_command_whose_fix_drops_the_override():
    spec = container(command=["python3", "/app/server.py"])
    pods = deploy_pods("gw", 1, statuses=[cstatus(waiting="CrashLoopBackOff", last={"exitCode": 2, "reason": "Error"}, restarts=3)], containers=[spec])
    line = "python3: can't open file '/app/server.py': [Errno 2] No such file or directory"
    data = snapshot(
        deployments=[deployment("gw", ready=0, containers=[spec])],
        replicasets=[replicaset("gw-7d9c", "gw")],
        pods=pods,
        logs={f"{pods[0]['metadata']['name']}/app/previous": [line]},
    )
    f = by_mode(run(data, "deployment", "gw"), "crashloop.bad_command")
    assert "/app/server.py" in f["cause"]["text"] and "/app/server.py" in f["fix"]["do"]
    assert f["fix"]["apply"][-1]["args"]["patch"] == [{"op": "remove", "path": "/spec/template/spec/containers/0/command"}]


def test_a_service_that_exists_but_does_not_resolve_points_at_the_pods_dns_policy():
    data = snapshot(**client("http://backend/healthz", [DNS] * 3), services=[service("backend", {"app": "backend"})])
    for obj in (data["pods"][0]["spec"], data["deployments"][0]["spec"]["template"]["spec"]):
        obj.update({"dnsPolicy": "None", "dnsConfig": {"nameservers": ["10.96.0.254"]}})
    f = run(data, "deployment", "web")["findings"][0]
    assert f["mode"] == "dependency.dns"
    assert f["fix"]["apply"][0]["args"]["patch"] == [
        {"op": "replace", "path": "/spec/template/spec/dnsPolicy", "value": "ClusterFirst"},
        {"op": "remove", "path": "/spec/template/spec/dnsConfig"},
    ]


def _unschedulable(message: str, node_selector: dict, nodes: list) -> dict:
    pending = deploy_pods(
        "gpu",
        1,
        statuses=[cstatus(waiting="ContainerCreating")],
        node=None,
        spec={"nodeSelector": node_selector},
        conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}],
    )
    return snapshot(
        deployments=[deployment("gpu", ready=0, pod_spec={"nodeSelector": node_selector})],
        replicasets=[replicaset("gpu-7d9c", "gpu")],
        pods=pending,
        nodes=nodes,
    )


def test_a_taint_on_a_node_the_selector_excludes_is_not_blamed():
    taint = [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}]
    nodes = [node("a", labels={"disk": "hdd"}), node("b", labels={"disk": "hdd"}, taints=taint)]
    message = "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {dedicated: batch}."
    f = run(_unschedulable(message, {"disk": "ssd"}, nodes), "deployment", "gpu")["findings"][0]
    assert f["mode"] == "scheduling.selector_mismatch" and "disk=ssd" in f["cause"]["text"]


def test_a_selector_that_matches_only_tainted_nodes_is_reported_as_the_taint():
    taint = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
    nodes = [node("a", labels={"accel": "none"}), node("b", labels={"accel": "gpu"}, taints=taint)]
    message = "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {dedicated: gpu}."
    f = run(_unschedulable(message, {"accel": "gpu"}, nodes), "deployment", "gpu")["findings"][0]
    assert f["mode"] == "scheduling.untolerated_taint" and "dedicated=gpu:NoSchedule" in f["cause"]["text"]
    ops = f["fix"]["apply"][0]["args"]["patch"]
    assert ops[0]["value"] == [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]


def test_a_node_condition_taint_is_not_tolerated_away():
    taint = [{"key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule"}]
    message = "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/disk-pressure: }."
    f = run(_unschedulable(message, {}, [node("a", taints=taint)]), "deployment", "gpu")["findings"][0]
    assert f["mode"] == "scheduling.untolerated_taint" and "apply" not in f["fix"] and f["fix"]["mutates"] is False


def _policy(name, selector, types, **rules):
    return {
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"podSelector": {"matchLabels": selector}, "policyTypes": types, **rules},
    }


def _blocked_client(lines, policy):
    data = snapshot(**client("http://inventory/healthz", lines), services=[service("inventory", {"app": "inventory"})])
    data["deployments"].append(deployment("inventory"))
    data["networkpolicies"] = [policy]
    return data


def test_an_ingress_policy_that_does_not_admit_the_client_is_named_and_a_narrow_allow_is_the_fix():
    policy = _policy("admin-only", {"app": "inventory"}, ["Ingress"], ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "admin"}}}]}])
    lines = ["ERROR upstream http://inventory/healthz: TimeoutError: timed out"] * 3
    f = run(_blocked_client(lines, policy), "deployment", "web")["findings"][0]
    assert f["mode"] == "dependency.network_policy" and "admin-only" in f["cause"]["text"]
    (allow,) = f["fix"]["apply"][0]["args"]["manifest"]
    assert allow["spec"]["podSelector"] == {"matchLabels": {"app": "inventory"}}
    assert allow["spec"]["ingress"] == [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": 8080, "protocol": "TCP"}]}]
    assert f["fix"]["kubectl"] == "kubectl -n shop apply -f MANIFEST.yaml  # fix.apply[0].args.manifest", "built from the same call"


def test_an_egress_lockdown_that_also_blocks_dns_opens_exactly_the_server_and_dns():
    lines = ["ERROR upstream http://inventory/healthz: URLError: <urlopen error [Errno -3] Temporary failure in name resolution>"] * 3
    f = run(_blocked_client(lines, _policy("web-locked", {"app": "web"}, ["Egress"])), "deployment", "web")["findings"][0]
    assert f["mode"] == "dependency.network_policy" and "nor DNS" in f["cause"]["text"]
    (allow,) = f["fix"]["apply"][0]["args"]["manifest"]
    to_server, to_dns = allow["spec"]["egress"]
    assert to_server["to"] == [{"podSelector": {"matchLabels": {"app": "inventory"}}}]
    assert to_dns == {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}


def test_a_policy_that_admits_the_client_is_not_blamed():
    policy = _policy("web-ok", {"app": "inventory"}, ["Ingress"], ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}])
    lines = ["ERROR upstream http://inventory/healthz: TimeoutError: timed out"] * 3
    out = run(_blocked_client(lines, policy), "deployment", "web")
    assert not any(f["mode"] == "dependency.network_policy" for f in out.get("findings", []))


def test_anti_affinity_on_the_one_usable_node_is_the_cause_not_a_tainted_node_beside_it():
    taint = [{"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}]
    nodes = [node("real"), node("fake", taints=taint)]
    term = {"labelSelector": {"matchLabels": {"app": "gpu"}}, "topologyKey": "kubernetes.io/hostname"}
    message = "0/2 nodes are available: 1 node(s) didn't match pod anti-affinity rules, 1 node(s) had untolerated taint {kwok.x-k8s.io/node: fake}."
    data = _unschedulable(message, {}, nodes)
    for spec in (data["pods"][0]["spec"], data["deployments"][0]["spec"]["template"]["spec"]):
        spec["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    f = run(data, "deployment", "gpu")["findings"][0]
    assert f["mode"] == "scheduling.affinity" and "tolerations" not in str(f["fix"]["apply"])
