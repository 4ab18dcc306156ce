"""ServiceAccount, PVC and HPA targets and the applicable fixes of Services, claims, RBAC and Minikube images (plain
snapshot data, no cluster): each fix's `apply` steps are complete, with the value the cluster holds."""

from __future__ import annotations

import pytest

from ops_mcp.diagnosis.access import Ask, parse_can, rule_grants

from .factories import NS, container, cstatus, deploy_pods, deployment, endpointslice, event, node, replicaset, service, snapshot
from .test_analyzers import by_mode, crashing, image_pod, run


def no_placeholders(fix):
    assert "<" not in repr(fix.get("apply")), fix["apply"]


# ---------- Services ----------


def test_selector_mismatch_is_patched_to_the_nearest_workload_by_name_and_ports():
    web = [container(ports=[{"name": "http", "containerPort": 8080}])]
    api = [container(ports=[{"containerPort": 9000}])]
    data = snapshot(
        deployments=[deployment("web", containers=web), deployment("api", containers=api)],
        replicasets=[replicaset("web-7d9c", "web"), replicaset("api-7d9c", "api")],
        pods=deploy_pods("web", 1, containers=web) + deploy_pods("api", 1, containers=api),
        services=[service("frontend", {"app": "frontend"}, [{"port": 80, "targetPort": 8080}])],
    )
    f = by_mode(run(data, "service", "frontend"), "service.selector_mismatch")
    assert f["fix"]["apply"] == [
        {
            "tool": "patch_resource",
            "args": {"kind": "service", "name": "frontend", "namespace": NS, "patch": {"spec": {"selector": {"app": "web"}}}, "patch_type": "merge"},
        }
    ]


def test_selector_mismatch_between_equally_near_workloads_gives_candidates_not_a_patch():
    data = snapshot(
        deployments=[deployment("blue"), deployment("green")],
        replicasets=[replicaset("blue-7d9c", "blue"), replicaset("green-7d9c", "green")],
        pods=deploy_pods("blue", 1) + deploy_pods("green", 1),
        services=[service("shop", {"app": "shop"})],
    )
    f = by_mode(run(data, "service", "shop"), "service.selector_mismatch")
    assert "apply" not in f["fix"] and "Deployment/blue" in f["fix"]["do"] and "Deployment/green" in f["fix"]["do"]


def test_selector_key_the_pods_lack_is_dropped_by_a_json_replace():
    data = snapshot(
        deployments=[deployment("web")],
        replicasets=[replicaset("web-7d9c", "web")],
        pods=deploy_pods("web", 1),
        services=[service("web", {"app": "web", "tier": "front"})],
    )
    f = by_mode(run(data, "service", "web"), "service.selector_mismatch")
    assert f["fix"]["apply"][0]["args"]["patch"] == [{"op": "replace", "path": "/spec/selector", "value": {"app": "web"}}]
    assert f["fix"]["apply"][0]["args"]["patch_type"] == "json"


def test_service_of_a_workload_scaled_to_zero_scales_it_back():
    data = snapshot(
        deployments=[deployment("web", replicas=0)], replicasets=[replicaset("web-7d9c", "web", replicas=0)], pods=[], services=[service("web", {"app": "web"})]
    )
    out = run(data, "service", "web")
    f = by_mode(out, "service.no_ready_endpoints")
    assert "scaled to 0" in f["cause"]["text"] and not f.get("caused_by")
    assert f["fix"]["apply"] == [{"tool": "scale_deployment", "args": {"name": "web", "replicas": 1, "namespace": NS, "kind": "deployment", "wait": True}}]
    hpa = {"metadata": {"name": "web"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 2, "maxReplicas": 4}}
    f = by_mode(run({**data, "hpas": [hpa]}, "service", "web"), "service.no_ready_endpoints")
    assert f["fix"]["apply"][0]["args"] | {} == {"name": "web", "replicas": 2, "namespace": NS, "kind": "deployment", "wait": True, "adjust_hpa": True}


def test_service_whose_pods_are_not_ready_is_caused_by_the_pod_finding():
    pods = deploy_pods("web", 1, statuses=[cstatus(waiting="CrashLoopBackOff", last={"exitCode": 1, "reason": "Error"}, restarts=4)])
    data = snapshot(
        deployments=[deployment("web", ready=0)],
        replicasets=[replicaset("web-7d9c", "web")],
        pods=pods,
        services=[service("web", {"app": "web"})],
        endpointslices=[endpointslice("web", [False])],
    )
    out = run(data, "service", "web")
    assert by_mode(out, "service.no_ready_endpoints")["caused_by"] == [by_mode(out, "crashloop.app_error")["id"]]


@pytest.mark.parametrize(
    ("ports", "service_port", "value"),
    [
        ([{"name": "http", "containerPort": 8080}], {"port": 80, "targetPort": 9999}, "http"),  # the only one, by its name
        ([{"containerPort": 8080}], {"port": 80, "targetPort": "web"}, 8080),  # unnamed: by number
        ([{"containerPort": 8080, "name": "http"}, {"containerPort": 9090, "name": "metrics"}], {"name": "metrics", "port": 90, "targetPort": 9091}, "metrics"),
    ],
)
def test_target_port_is_patched_to_the_declared_container_port(ports, service_port, value):
    c = [container(ports=ports)]
    data = snapshot(
        deployments=[deployment("web", containers=c)],
        replicasets=[replicaset("web-7d9c", "web")],
        pods=deploy_pods("web", 1, containers=c),
        services=[service("web", {"app": "web"}, [service_port])],
        endpointslices=[endpointslice("web", [True])],
    )
    f = by_mode(run(data, "service", "web"), "service.target_port_mismatch")
    (step,) = f["fix"]["apply"]
    assert step["tool"] == "patch_resource" and step["args"]["patch_type"] == "json"
    assert step["args"]["patch"] == [
        {"op": "test", "path": "/spec/ports/0/port", "value": service_port["port"]},
        {"op": "replace", "path": "/spec/ports/0/targetPort", "value": value},
    ]


def test_target_port_among_several_unrelated_ports_stays_a_choice():
    c = [container(ports=[{"containerPort": 8080}, {"containerPort": 9090}])]
    data = snapshot(
        deployments=[deployment("web", containers=c)],
        replicasets=[replicaset("web-7d9c", "web")],
        pods=deploy_pods("web", 1, containers=c),
        services=[service("web", {"app": "web"}, [{"port": 80, "targetPort": 7000}])],
        endpointslices=[endpointslice("web", [True])],
    )
    f = by_mode(run(data, "service", "web"), "service.target_port_mismatch")
    assert "apply" not in f["fix"] and "[8080, 9090]" in f["fix"]["do"]


# ---------- PVC / HPA targets ----------


def claim(name="data", sc="fast", phase="Pending", **meta):
    return {
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": f"uid-{name}",
            "labels": {"app": "api"},
            "annotations": {"volume.beta.kubernetes.io/storage-provisioner": "x", "team": "shop"},
            "creationTimestamp": "2026-01-01T11:00:00Z",
            **meta,
        },
        "spec": {"storageClassName": sc, "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "volumeMode": "Filesystem"},
        "status": {"phase": phase},
    }


def sc(name, default=False, provisioner="example.com/hostpath"):
    md = {"name": name, **({"annotations": {"storageclass.kubernetes.io/is-default-class": "true"}} if default else {})}
    return {"metadata": md, "provisioner": provisioner}


def claim_data(classes, pvcs=None):
    spec = {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}
    pods = deploy_pods(
        "api",
        1,
        phase="Pending",
        node=None,
        statuses=[],
        spec=spec,
        conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "pod has unbound immediate PersistentVolumeClaims"}],
    )
    return snapshot(
        deployments=[deployment("api", ready=0, pod_spec=spec)],
        replicasets=[replicaset("api-7d9c", "api")],
        pods=pods,
        pvcs=pvcs or [claim()],
        storageclasses=classes,
        events=[event("PersistentVolumeClaim", "data", "ProvisioningFailed", 'storageclass.storage.k8s.io "fast" not found')],
    )


@pytest.mark.parametrize("kind", ["pvc", "persistentvolumeclaim", "deployment"])
def test_missing_storage_class_recreates_the_claim_with_the_default_class_and_waits_until_it_binds(kind):
    out = run(claim_data([sc("standard", default=True), sc("slow")]), kind, "data" if kind != "deployment" else "api")
    f = by_mode(out, "pvc.no_storageclass")
    assert out["findings"][0]["id"] == f["id"]
    (apply,) = f["fix"]["apply"]  # one call: the claim deleted and created again with the class (storageClassName is immutable)
    assert apply["tool"] == "apply_manifest" and apply["args"]["namespace"] == NS
    assert apply["args"]["replace"] is True and apply["args"]["wait"] is True
    assert apply["args"]["manifest"] == [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": NS, "labels": {"app": "api"}, "annotations": {"team": "shop"}},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
                "volumeMode": "Filesystem",
                "storageClassName": "standard",
            },
        }
    ]
    assert "holds no data" in f["fix"]["do"] and "(the default)" in f["fix"]["do"]
    assert by_mode(out, "scheduling.unbound_pvc")["caused_by"] == [f["id"]] if kind != "pvc" else True


def test_missing_storage_class_takes_the_only_class_and_names_candidates_otherwise():
    f = by_mode(run(claim_data([sc("local")]), "pvc", "data"), "pvc.no_storageclass")
    assert f["fix"]["apply"][0]["args"]["manifest"][0]["spec"]["storageClassName"] == "local"
    f = by_mode(run(claim_data([sc("a"), sc("b")]), "pvc", "data"), "pvc.no_storageclass")
    assert "apply" not in f["fix"] and "a, b" in f["fix"]["do"]


def test_provisioning_failure_moves_the_claim_to_a_class_that_bound_a_claim_here():
    data = claim_data([sc("fast", provisioner="broken.io/x"), sc("standard")], pvcs=[claim(sc="fast"), claim("other", sc="standard", phase="Bound")])
    data["events"] = [event("PersistentVolumeClaim", "data", "ProvisioningFailed", 'failed to provision volume with StorageClass "fast": quota exceeded')]
    f = by_mode(run(data, "pvc", "data"), "pvc.provisioning_failed")
    assert "quota exceeded" in f["cause"]["text"] and "broken.io/x" in f["cause"]["text"]
    assert f["fix"]["apply"][0]["args"]["manifest"][0]["spec"]["storageClassName"] == "standard"
    data["pvcs"] = [claim(sc="fast")]  # nothing proves another class works: no apply
    assert "apply" not in by_mode(run(data, "pvc", "data"), "pvc.provisioning_failed")["fix"]


def test_provisioner_that_never_answers_is_provisioning_failed():
    data = claim_data([sc("fast", provisioner="gone.io/x")])
    data["events"] = [
        event(
            "PersistentVolumeClaim", "data", "ExternalProvisioning", "Waiting for a volume to be created by the external provisioner 'gone.io/x'", type="Normal"
        )
    ]
    f = by_mode(run(data, "pvc", "data"), "pvc.provisioning_failed")
    assert "gone.io/x" in f["cause"]["text"] and "not running" in f["cause"]["text"]


def test_bound_claim_and_unknown_names_of_the_new_targets():
    out = run(claim_data([sc("fast")], pvcs=[claim(sc="fast", phase="Bound")]), "pvc", "data")
    assert out["target"] == {"kind": "PersistentVolumeClaim", "ns": NS, "name": "data"} and not [f for f in out["findings"] if f["mode"].startswith("pvc.")]
    with pytest.raises(Exception, match="PersistentVolumeClaim 'dat' not found.*data"):
        run(claim_data([sc("fast")]), "pvc", "dat")


def test_hpa_target_reads_its_workload():
    hpa = {
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web-hpa", "namespace": NS, "uid": "uid-hpa"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 3,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}],
        },
        "status": {},
    }
    data = snapshot(deployments=[deployment("web")], replicasets=[replicaset("web-7d9c", "web")], pods=deploy_pods("web", 1), hpas=[hpa])
    for kind in ("hpa", "horizontalpodautoscaler"):
        out = run(data, kind, "web-hpa")
        assert out["target"]["kind"] == "HorizontalPodAutoscaler"
        assert "--requests=cpu=<cpu-request>" in by_mode(out, "hpa.missing_requests")["fix"]["note"]


# ---------- RBAC ----------


def test_can_is_parsed_into_the_access_review_attributes():
    assert parse_can("list pods") == Ask("list", "", "pods")
    assert parse_can("create deployments.apps -n other") == Ask("create", "apps", "deployments", namespace="other")
    assert parse_can("create deployments") == Ask("create", "apps", "deployments")
    assert parse_can("get pods/log") == Ask("get", "", "pods", "log")
    assert parse_can("get configmaps app-config") == Ask("get", "", "configmaps", name="app-config")
    assert parse_can("list nodes").namespaced is False
    assert parse_can("list widgets.example.com") == Ask("list", "example.com", "widgets")
    for bad in ("pods", "fly pods", "list pods a b c"):
        with pytest.raises(ValueError, match="VERB RESOURCE"):
            parse_can(bad)


def test_rule_matching_follows_rbac():
    ask = Ask("get", "", "pods", "log")
    assert rule_grants({"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}, ask)
    assert rule_grants({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, ask)
    assert not rule_grants({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}, ask)
    assert not rule_grants({"apiGroups": [""], "resources": ["pods"], "verbs": ["list"], "resourceNames": ["x"]}, Ask("list", "", "pods"))


def sa_data(access, pods=None, deployments=None):
    return snapshot(deployments=deployments or [], replicasets=[], pods=pods or [], access=access)


def test_service_account_denied_gets_the_role_and_binding_to_add():
    access = {
        "sa": "reader",
        "ask": "list pods",
        "review": {"allowed": False},
        "bindings": [{"obj": "RoleBinding/reader-cm", "ns": NS, "role": f"Role/{NS}/cm", "via": "ServiceAccount"}],
        "rules": {f"Role/{NS}/cm": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]},
    }
    out = run(sa_data(access), "serviceaccount", "reader")
    f = by_mode(out, "rbac.denied")
    assert out["verdict"] == "degraded" and "RoleBinding/reader-cm -> Role/cm" in f["cause"]["text"]
    (step,) = f["fix"]["apply"]
    assert step == {
        "tool": "apply_manifest",
        "args": {
            "namespace": NS,
            "manifest": [
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "Role",
                    "metadata": {"name": "reader-list-pods", "namespace": NS},
                    "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
                },
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": {"name": "reader-list-pods", "namespace": NS},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader-list-pods"},
                    "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": NS}],
                },
            ],
        },
    }
    assert f["fix"]["kubectl"] == f"kubectl -n {NS} apply -f MANIFEST.yaml  # fix.apply[0].args.manifest", "the command of the same call"


def test_service_account_allowed_names_the_binding_and_is_healthy():
    access = {
        "sa": "reader",
        "ask": "get secrets -n other",
        "review": {"allowed": True},
        "bindings": [{"obj": "RoleBinding/r", "ns": "other", "role": "ClusterRole/view-secrets", "via": "ServiceAccount"}],
        "rules": {"ClusterRole/view-secrets": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]},
    }
    out = run(sa_data(access), "serviceaccount", "reader")
    f = by_mode(out, "rbac.allowed")
    assert out["verdict"] == "healthy" and "in namespace other by RoleBinding/r (ClusterRole/view-secrets)" in f["cause"]["text"]


def test_service_account_without_can_lists_bindings_and_users():
    pods = deploy_pods("api", 2, spec={"serviceAccountName": "reader"})
    dep = deployment("api", replicas=2, pod_spec={"serviceAccountName": "reader"})
    access = {"sa": "reader", "bindings": [{"obj": "ClusterRoleBinding/view", "ns": None, "role": "ClusterRole/view", "via": "Group system:serviceaccounts"}]}
    data = snapshot(deployments=[dep, deployment("other")], replicasets=[replicaset("api-7d9c", "api")], pods=pods, access=access)
    f = by_mode(run(data, "serviceaccount", "reader"), "rbac.bindings")
    assert f["cause"]["text"] == "Bound to ClusterRoleBinding/view -> ClusterRole/view (via Group system:serviceaccounts); used by Deployment/api (2 pods)"
    f = by_mode(run(sa_data({"sa": "lonely"}), "serviceaccount", "lonely"), "rbac.bindings")
    assert f["cause"]["text"] == "Not bound to any Role or ClusterRole; no pod or workload uses it"


def test_denied_service_account_comes_first_and_its_failing_workload_is_caused_by_it():
    """The app answers 503 because the API server answers 403: asked about its account, the denial is the root."""
    statuses = [cstatus(waiting="CrashLoopBackOff", last={"exitCode": 1, "reason": "Error"}, restarts=4)]
    pods = deploy_pods("api", 1, spec={"serviceAccountName": "reader"}, statuses=statuses)
    dep = deployment("api", ready=0, pod_spec={"serviceAccountName": "reader"})
    access = {"sa": "reader", "ask": "list pods", "review": {"allowed": False}, "bindings": [], "rules": {}}
    out = run(snapshot(deployments=[dep], replicasets=[replicaset("api-7d9c", "api")], pods=pods, access=access), "serviceaccount", "reader")
    denied = by_mode(out, "rbac.denied")
    assert out["findings"][0]["id"] == denied["id"] and denied["fix"]["apply"][0]["tool"] == "apply_manifest"
    assert by_mode(out, "crashloop.app_error")["caused_by"] == [denied["id"]]
    # a workload target asks no question about the account: nothing is linked to it
    assert not by_mode(
        run(snapshot(deployments=[dep], replicasets=[replicaset("api-7d9c", "api")], pods=pods), "deployment", "api"), "crashloop.app_error"
    ).get("caused_by")


def test_cluster_scoped_question_gets_a_cluster_role():
    access = {"sa": "reader", "ask": "list nodes", "unreadable": {"review": "nodes is cluster-scoped"}}
    f = by_mode(run(sa_data(access), "serviceaccount", "reader"), "rbac.denied")
    kinds = [o["kind"] for o in f["fix"]["apply"][0]["args"]["manifest"]]
    assert kinds == ["ClusterRole", "ClusterRoleBinding"] and f["cause"]["conf"] == "medium" and "cluster-admin" in f["fix"]["note"]


def test_missing_service_account_is_created_and_the_workload_restarted():
    rs = replicaset(
        "api-7d9c",
        "api",
        conditions=[
            {
                "type": "ReplicaFailure",
                "status": "True",
                "reason": "FailedCreate",
                "message": 'pods "api-7d9c-" is forbidden: error looking up service account shop/robot: serviceaccount "robot" not found',
            }
        ],
    )
    dep = deployment("api", ready=0, pod_spec={"serviceAccountName": "robot"})
    expected = [
        {
            "tool": "apply_manifest",
            "args": {"manifest": [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot", "namespace": NS}}], "namespace": NS},
        },
        {"tool": "rollout_restart", "args": {"name": "api", "namespace": NS, "kind": "deployment", "wait": True}},
    ]
    f = by_mode(run(snapshot(deployments=[dep], replicasets=[rs], pods=[]), "deployment", "api"), "replicas.failed_create")
    assert f["fix"]["apply"] == expected
    out = run(snapshot(deployments=[dep], replicasets=[rs], pods=[], access={"sa": "robot", "exists": False}), "serviceaccount", "robot")
    root = by_mode(out, "serviceaccount.missing")
    assert root["fix"]["apply"] == expected and by_mode(out, "replicas.failed_create")["caused_by"] == [root["id"]]
    with pytest.raises(Exception, match="ServiceAccount 'robo' not found.*robot"):
        run(snapshot(deployments=[], pods=[], access={"sa": "robo", "exists": False, "names": ["robot", "default"]}), "serviceaccount", "robo")


def test_forbidden_in_the_log_grants_the_rule_and_restarts_the_workload():
    line = 'Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:shop:lister" cannot list resource "pods" in API group "" in the namespace "shop"'
    pods = crashing("api")
    data = snapshot(
        deployments=[deployment("api", ready=0)],
        replicasets=[replicaset("api-7d9c", "api")],
        pods=pods,
        logs={f"{pods[0]['metadata']['name']}/app/previous": [line]},
    )
    f = by_mode(run(data), "crashloop.app_error")
    grant, restart = f["fix"]["apply"]
    role, binding = grant["args"]["manifest"]
    assert role["metadata"] == {"name": "lister-list-pods", "namespace": NS} and role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}
    ]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "lister", "namespace": NS}]
    assert restart == {"tool": "rollout_restart", "args": {"name": "api", "namespace": NS, "kind": "deployment", "wait": True}}
    no_placeholders(f["fix"])
    line = 'HTTP response body: {"message":"pods is forbidden: User \\"system:serviceaccount:shop:lister\\" cannot list resource \\"pods\\" in API group \\"\\" in the namespace \\"shop\\""}'
    data["logs"] = {f"{pods[0]['metadata']['name']}/app/previous": [line]}
    assert by_mode(run(data), "crashloop.app_error")["fix"]["apply"][0] == grant, "a JSON-escaped Status body (the Python client)"
    line = 'deployments.apps is forbidden: User "system:serviceaccount:shop:lister" cannot get resource "deployments" in API group "apps" at the cluster scope'
    data["logs"] = {f"{pods[0]['metadata']['name']}/app/previous": [line]}
    role = by_mode(run(data), "crashloop.app_error")["fix"]["apply"][0]["args"]["manifest"][0]
    assert role["kind"] == "ClusterRole" and role["rules"] == [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}]


# ---------- Minikube ----------


def minikube(data, images=()):
    data["nodes"] = [node("minikube", labels={"minikube.k8s.io/name": "minikube"})]
    data["nodes"][0]["status"]["images"] = [{"names": list(images)}]
    for p in data["pods"]:
        p["spec"]["nodeName"] = "minikube"
    return data


def person_command(fix):
    """The command a fix leaves for a person to run (outside the cluster: no ops-mcp call makes it)."""
    assert "apply" not in fix and "kubectl" not in fix, fix
    return fix["note"].split("For a person to run: `", 1)[1].split("`", 1)[0]


def test_minikube_local_image_is_loaded_not_pulled():
    refused = ("Failed", 'Failed to pull image "todo/api:dev": pull access denied for todo/api, repository does not exist', "Warning")
    f = by_mode(run(minikube(image_pod("todo/api:dev", reason="ErrImagePull", events=[refused]))), "image_pull.local_image_not_loaded")
    # loading runs where the image was built: a person's command (no ops-mcp call loads images), nothing to apply
    assert "minikube image load todo/api:dev" in f["fix"]["do"] and "apply" not in f["fix"] and "kubectl" not in f["fix"]
    f = by_mode(run(minikube(image_pod("todo/api:latest", reason="ErrImagePull", events=[refused]))), "image_pull.local_image_not_loaded")
    load, pull = person_command(f["fix"]).split(" && ")
    assert load == "minikube image load todo/api:latest" and pull.startswith("kubectl -n shop patch deploy/app") and "IfNotPresent" in pull
    never = image_pod(
        "todo/api:dev", reason="ErrImageNeverPull", policy="Never", message='Container image "todo/api:dev" is not present with pull policy of Never'
    )
    f = by_mode(run(minikube(never)), "image_pull.never_pull")
    assert "minikube image load todo/api:dev" in f["fix"]["do"] and "apply" not in f["fix"], "never a pull policy that sends the kubelet to a registry"


def test_minikube_image_already_on_the_node_with_pull_always_gets_if_not_present():
    refused = ("Failed", 'Failed to pull image "todo/api:latest": pull access denied for todo/api', "Warning")
    data = minikube(image_pod("todo/api:latest", reason="ErrImagePull", events=[refused], policy="Always"), images=["docker.io/todo/api:latest"])
    f = by_mode(run(data), "image_pull.local_image_not_loaded")
    (step,) = f["fix"]["apply"]
    assert step == {
        "tool": "patch_resource",
        "args": {
            "kind": "deployment",
            "name": "app",
            "namespace": NS,
            "patch": {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "imagePullPolicy": "IfNotPresent"}]}}}},
            "wait": True,
        },
    }
