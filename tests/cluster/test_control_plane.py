"""Smoke tests that prove the test control plane is a real Kubernetes, through real clients."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from cluster.harness import KUBE_VERSION, Cluster, ClusterError
from kubernetes import client, config
from kubernetes.client.rest import ApiException

pytestmark = pytest.mark.cluster

SMOKE_CHART = Path(__file__).parent / "testdata" / "smoke-chart"


def deployment(name: str, replicas: int, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> dict:
    pod_labels = {"app": name, **(labels or {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": annotations or {}},
                "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0"}]},
            },
        },
    }


def pods(cluster: Cluster, namespace: str, selector: str) -> list[dict]:
    out = cluster.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json")
    return json.loads(out.stdout)["items"]


def running_ready(pod: dict) -> bool:
    status = pod.get("status", {})
    return status.get("phase") == "Running" and any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))


@pytest.fixture(scope="module")
def api(cluster: Cluster) -> client.ApiClient:
    return config.new_client_from_config(config_file=cluster.kubeconfig)


def test_binaries_and_server_report_the_pinned_version(cluster: Cluster) -> None:
    built = subprocess.run([str(cluster.bin_dir / "kube-apiserver"), "--version"], capture_output=True, text=True, check=True).stdout.strip()
    assert built == f"Kubernetes {KUBE_VERSION}"
    server = json.loads(cluster.kubectl("version", "-o", "json").stdout)["serverVersion"]
    assert server["gitVersion"] == KUBE_VERSION
    assert (server["major"], server["minor"]) == ("1", KUBE_VERSION.split(".")[1])


def test_nodes_are_kwok_nodes_with_explicit_allocatable(api: client.ApiClient) -> None:
    nodes = client.CoreV1Api(api).list_node(label_selector="type=kwok").items
    assert sorted(n.metadata.name for n in nodes) == ["kwok-node-0", "kwok-node-1"]
    for node in nodes:
        assert node.status.allocatable["cpu"] == "4" and node.status.allocatable["memory"] == "8Gi"
        assert any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)


def test_deployment_pods_run_on_kwok_nodes_and_scale(cluster: Cluster, namespace: str, api: client.ApiClient) -> None:
    cluster.apply(deployment("web", 2), namespace)
    got = cluster.wait_for(
        lambda: (p := pods(cluster, namespace, "app=web")) and len(p) == 2 and all(map(running_ready, p)) and p, timeout=60, message="2 Ready pods"
    )
    assert {p["spec"]["nodeName"] for p in got} <= {"kwok-node-0", "kwok-node-1"}
    assert all(p["status"].get("podIP") for p in got)

    apps = client.AppsV1Api(api)
    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 4}})
    cluster.wait_for(
        lambda: len([p for p in pods(cluster, namespace, "app=web") if running_ready(p)]) == 4, timeout=60, message="4 Ready pods after scaling up"
    )
    cluster.wait_for(
        lambda: apps.read_namespaced_deployment(name="web", namespace=namespace).status.available_replicas == 4, timeout=60, message="deployment Available 4/4"
    )

    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 1}})
    cluster.wait_for(lambda: len(pods(cluster, namespace, "app=web")) == 1, timeout=60, message="1 pod after scaling down (KWOK deletes terminated pods)")


def test_kubectl_logs_current_and_previous(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("logger", 1), namespace)
    pod = cluster.wait_for(lambda: (p := pods(cluster, namespace, "app=logger")) and p[0]["metadata"]["name"], timeout=60, message="logger pod")
    cluster.set_logs(namespace, pod, current=["starting", "listening on :8080"], previous=["starting", "fatal: DATABASE_URL is not set"])
    current = cluster.wait_for(
        lambda: (out := cluster.kubectl("logs", pod, "-n", namespace, check=False)).returncode == 0 and out.stdout, timeout=30, message="kubectl logs"
    )
    assert current.splitlines() == ["starting", "listening on :8080"]
    previous = cluster.kubectl("logs", pod, "-n", namespace, "--previous").stdout
    assert previous.splitlines() == ["starting", "fatal: DATABASE_URL is not set"]
    tail = cluster.kubectl("logs", pod, "-n", namespace, "--tail=1").stdout
    assert tail.splitlines() == ["listening on :8080"]


def test_crashloop_state_is_visible_in_the_api(cluster: Cluster, namespace: str, api: client.ApiClient) -> None:
    cluster.apply(
        deployment(
            "crasher",
            1,
            labels={"kwok.todo-chatbot.test/kubelet": "crashloop"},
            annotations={"kwok.todo-chatbot.test/exit-code": "137", "kwok.todo-chatbot.test/reason": "OOMKilled", "kwok.todo-chatbot.test/restart-count": "7"},
        ),
        namespace,
    )
    core = client.CoreV1Api(api)

    def crashing():
        items = core.list_namespaced_pod(namespace, label_selector="app=crasher").items
        statuses = items[0].status.container_statuses if items else None
        return statuses and statuses[0].state.waiting and statuses[0]

    status = cluster.wait_for(crashing, timeout=60, message="a CrashLoopBackOff container status")
    assert status.state.waiting.reason == "CrashLoopBackOff"
    assert status.last_state.terminated.exit_code == 137
    assert status.last_state.terminated.reason == "OOMKilled"
    assert status.restart_count == 7
    assert status.ready is False


def test_manual_pods_keep_the_status_the_test_writes(cluster: Cluster, namespace: str) -> None:
    cluster.apply(deployment("manual", 1, labels={"kwok.todo-chatbot.test/kubelet": "manual"}), namespace)
    pod = cluster.wait_for(
        lambda: (p := pods(cluster, namespace, "app=manual")) and p[0]["spec"].get("nodeName") and p[0]["metadata"]["name"],
        timeout=60,
        message="a scheduled manual pod",
    )
    status = {
        "status": {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": "app",
                    "image": "registry.example/app:1.0",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}},
                }
            ],
        }
    }
    cluster.kubectl("patch", "pod", pod, "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps(status))
    # KWOK's default stages would have made it Running within milliseconds; give them time to (not) act.
    for _ in range(10):
        got = json.loads(cluster.kubectl("get", "pod", pod, "-n", namespace, "-o", "json").stdout)["status"]
        assert got["phase"] == "Pending"
        assert got["containerStatuses"][0]["state"]["waiting"]["reason"] == "ImagePullBackOff"
        cluster.kubectl("get", "--raw", "/readyz")


def test_scheduler_reports_insufficient_cpu(cluster: Cluster, namespace: str) -> None:
    spec = deployment("hungry", 1)
    spec["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "64"}}
    cluster.apply(spec, namespace)

    def failed_scheduling():
        events = json.loads(cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
        return [e for e in events if e["reason"] == "FailedScheduling"]

    event = cluster.wait_for(failed_scheduling, timeout=60, message="a FailedScheduling event")[0]
    assert "Insufficient cpu" in event["message"]
    assert all(p["status"]["phase"] == "Pending" for p in pods(cluster, namespace, "app=hungry"))


def test_helm_install_upgrade_rollback_uninstall(cluster: Cluster, namespace: str) -> None:
    def releases() -> list[dict]:
        return json.loads(cluster.helm("list", "-n", namespace, "-o", "json").stdout)

    cluster.helm("install", "smoke", str(SMOKE_CHART), "-n", namespace, "--wait", "--timeout", "90s")
    [rel] = releases()
    assert (rel["name"], rel["revision"], rel["status"]) == ("smoke", "1", "deployed")
    assert pods(cluster, namespace, "app.kubernetes.io/instance=smoke")

    cluster.helm("upgrade", "smoke", str(SMOKE_CHART), "-n", namespace, "--set", "replicas=3", "--wait", "--timeout", "90s")
    [rel] = releases()
    assert (rel["revision"], rel["status"]) == ("2", "deployed")
    ready = [p for p in pods(cluster, namespace, "app.kubernetes.io/instance=smoke") if running_ready(p)]
    assert len(ready) == 3

    cluster.helm("rollback", "smoke", "1", "-n", namespace, "--wait", "--timeout", "90s")
    [rel] = releases()
    assert (rel["revision"], rel["status"]) == ("3", "deployed")
    replicas = json.loads(cluster.kubectl("get", "deploy", "smoke", "-n", namespace, "-o", "json").stdout)
    assert replicas["spec"]["replicas"] == 1
    history = json.loads(cluster.helm("history", "smoke", "-n", namespace, "-o", "json").stdout)
    assert [h["status"] for h in history] == ["superseded", "superseded", "deployed"]

    cluster.helm("uninstall", "smoke", "-n", namespace, "--wait")
    assert releases() == []
    assert cluster.kubectl("get", "deploy", "smoke", "-n", namespace, check=False).returncode != 0


def test_rbac_read_only_service_account_cannot_scale(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    cluster.apply(deployment("guarded", 1), namespace)
    cluster.apply(
        [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "viewer"}},
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "viewer"},
                "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"]}],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "viewer"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "viewer"},
                "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": namespace}],
            },
        ],
        namespace,
    )
    token = cluster.kubectl("create", "token", "viewer", "-n", namespace, "--duration=10m").stdout.strip()
    admin = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    kubeconfig = tmp_path / "viewer.yaml"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "viewer",
                "clusters": [{"name": "test", "cluster": admin["clusters"][0]["cluster"]}],
                "users": [{"name": "viewer", "user": {"token": token}}],
                "contexts": [{"name": "viewer", "context": {"cluster": "test", "user": "viewer", "namespace": namespace}}],
            }
        )
    )
    apps = client.AppsV1Api(config.new_client_from_config(config_file=str(kubeconfig)))

    assert apps.read_namespaced_deployment(name="guarded", namespace=namespace).spec.replicas == 1
    with pytest.raises(ApiException) as denied:
        apps.patch_namespaced_deployment_scale("guarded", namespace, {"spec": {"replicas": 3}})
    assert denied.value.status == 403
    assert 'cannot patch resource "deployments/scale"' in json.loads(denied.value.body)["message"]

    via_kubectl = cluster.kubectl("--kubeconfig", str(kubeconfig), "scale", "deploy/guarded", "--replicas=3", "-n", namespace, check=False)
    assert via_kubectl.returncode != 0 and "forbidden" in via_kubectl.stderr.lower()
    replicas = json.loads(cluster.kubectl("get", "deploy", "guarded", "-n", namespace, "-o", "json").stdout)
    assert replicas["spec"]["replicas"] == 1


@pytest.mark.parametrize(
    "args",
    [
        ("get", "pods", "-n", "{ns}", "-l", "app=web"),
        ("get", "deploy", "web", "-n", "{ns}"),
        ("get", "deploy/web", "-n", "{ns}"),
        ("get", "deployments.apps", "-n", "{ns}"),
        ("get", "deploy,rs,svc,cm,events", "-n", "{ns}"),
        ("get", "pods", "-n", "{ns}", "--field-selector", "status.phase=Running"),
        ("get", "storageclass"),
        ("get", "svc", "kubernetes", "-n", "default"),
        ("get", "endpointslices", "-n", "{ns}", "-l", "kubernetes.io/service-name=web"),
    ],
)
def test_in_process_gets_answer_as_kubectl_does(cluster: Cluster, namespace: str, args: tuple[str, ...]) -> None:
    """The harness answers plain `kubectl get -o json` forms in process (cluster/api.py): the same objects, in the same
    order, as kubectl's own answer; a missing name fails as kubectl fails."""
    cluster.apply([deployment("web", 2), {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}], namespace)
    # Compare a settled namespace: both pods Running and the Deployment available, so no read races a change.
    cluster.wait_for(
        lambda: (
            [p["status"].get("phase") for p in cluster.kubectl_json("get", "pods", "-n", namespace, "-l", "app=web")["items"]] == ["Running"] * 2
            and cluster.kubectl_json("get", "deploy", "web", "-n", namespace)["status"].get("availableReplicas") == 2
        ),
        timeout=120,
        message="2 Running pods of web and the Deployment available",
    )
    args = tuple(a.format(ns=namespace) for a in args)
    ours = cluster.api.get(args)
    assert ours is not None, f"{args} is a plain form: it should be answered in process"
    theirs = json.loads(cluster.kubectl(*args, "-o", "json").stdout)

    def identity(obj: dict) -> tuple:
        return (obj["apiVersion"], obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"], obj["metadata"]["uid"])

    if theirs.get("kind") == "List":
        assert [identity(o) for o in ours["items"]] == [identity(o) for o in theirs["items"]]
    else:
        assert identity(ours) == identity(theirs)


def test_in_process_get_of_a_missing_name_fails_like_kubectl_and_leaves_other_forms_to_it(cluster: Cluster, namespace: str) -> None:
    with pytest.raises(ClusterError, match=r'NotFound.*"ghost" not found'):
        cluster.kubectl_json("get", "deploy", "ghost", "-n", namespace)
    with pytest.raises(ClusterError, match="NotFound"):
        cluster.kubectl("get", "deploy", "ghost", "-n", namespace)
    for other in (("get", "--raw", "/version"), ("get", "pods", "-o", "wide"), ("get", "nosuchkind"), ("logs", "x")):
        assert cluster.api.get(other) is None, other


def test_in_process_can_i_answers_as_kubectl_auth_can_i_does(cluster: Cluster, namespace: str) -> None:
    """`Api.can_i` (the RBAC tests' ~300 questions) gives kubectl's answer, for short names, groups, subresources,
    cluster-scoped resources and names the server does not serve."""
    cluster.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    cluster.kubectl("create", "role", "reader", "--verb=get,list", "--resource=pods,pods/log,deployments.apps", "-n", namespace)
    cluster.kubectl("create", "rolebinding", "reader", "--role=reader", f"--serviceaccount={namespace}:reader", "-n", namespace)
    user = f"system:serviceaccount:{namespace}:reader"
    asked = [
        ("list", "pods", None),
        ("get", "pods", "log"),
        ("create", "pods", "exec"),
        ("list", "deploy", None),
        ("get", "deployments.apps", None),
        ("patch", "deployments.apps", None),
        ("list", "nodes", None),
        ("impersonate", "users", None),
        ("escalate", "roles.rbac.authorization.k8s.io", None),
        ("create", "subjectaccessreviews.authorization.k8s.io", None),
    ]
    for verb, resource, sub in asked:
        theirs = cluster.kubectl("auth", "can-i", verb, resource, f"--as={user}", "-n", namespace, *([f"--subresource={sub}"] if sub else []), check=False)
        assert theirs.stdout.strip() in ("yes", "no"), theirs.stderr
        assert cluster.api.can_i(user, verb, resource, namespace, sub) == (theirs.stdout.strip() == "yes"), (verb, resource, sub, theirs.stdout)
    assert sum(cluster.api.can_i(user, v, r, namespace, s) for v, r, s in asked) == 4  # list/get pods, get logs, list/get deployments
