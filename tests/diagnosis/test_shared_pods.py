"""The builder keeps one copy of what the pods of a list repeat (diagnosis/share.py, fed page by page as
builder.Reader.list does; tests/ops/test_ops_scale_diagnosis.py diagnoses such pods on the API server): diagnoses are the same as
without the sharing, a pod that differs in one shared-looking subtree is still diagnosed by its own difference, and
a diagnosis changes nothing of the snapshot it reads (the shared objects are read by every pod), and what the builder
drops of each pod (builder.slim) is what no diagnosis reads."""

from __future__ import annotations

import copy
import json

from ops_mcp.diagnosis import builder, diagnose_snapshot
from ops_mcp.diagnosis.base import Options
from ops_mcp.diagnosis.share import Sharer
from ops_mcp.diagnosis.snapshot import Snapshot

from .factories import NS

PODS = 2 * builder.PAGE + 201  # three pages
SECRET_MISSING, CONFIGMAP_MISSING, IMAGE_PULL = 251, 777, PODS - 1  # one differing pod on each page (bare ones but the last)


def api_pod(i: int) -> dict:
    """A pod as the API server returns it: defaulted fields, the service-account token volume under a random name (so
    its containers and volumes are never equal to another pod's as a whole), two default tolerations..."""
    name, token = f"web-{i:04d}", f"kube-api-access-{i:05x}"
    started = "2026-12-07T09:00:00Z"
    app = {
        "name": "app",
        "image": "registry.local/web:1",
        "env": [{"name": "DB_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}, {"name": "LOG_LEVEL", "value": "info"}],
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
        "volumeMounts": [
            {"name": "cfg", "mountPath": "/etc/web"},
            {"name": token, "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"},
        ],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
    }
    sidecar = {"name": "proxy", "image": "registry.local/proxy:2", "args": ["--port=9090"], "resources": {}, "imagePullPolicy": "IfNotPresent"}
    projected = {
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
        ],
        "defaultMode": 420,
    }
    toleration = {"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
    conditions = [
        {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": started} for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
    ]
    statuses = [
        {
            "name": c,
            "state": {"running": {"startedAt": started}},
            "lastState": {},
            "ready": True,
            "restartCount": 0,
            "image": image,
            "imageID": "",
            "started": True,
        }
        for c, image in (("app", app["image"]), ("proxy", sidecar["image"]))
    ]
    owned = i % 2 == 0  # half of them a ReplicaSet's (listed with their siblings), half copies of one bare pod
    return {
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": f"uid-{i}",
            "resourceVersion": str(1000 + i),
            "creationTimestamp": started,
            "labels": {"app": "web", "shard": str(i % 10)},
            **(
                {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9c", "uid": "uid-rs", "controller": True}]} if owned else {}
            ),
        },
        "spec": {
            "volumes": [{"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 420}}, {"name": token, "projected": projected}],
            "containers": [app, sidecar],
            "restartPolicy": "Always",
            "nodeName": f"node-{i % 2}",
            "securityContext": {},
            "tolerations": [{"key": "node.kubernetes.io/not-ready", **toleration}, {"key": "node.kubernetes.io/unreachable", **toleration}],
        },
        "status": {
            "phase": "Running",
            "conditions": conditions,
            "podIP": f"10.0.{i // 250}.{i % 250}",
            "podIPs": [{"ip": f"10.0.{i // 250}.{i % 250}"}],
            "startTime": started,
            "containerStatuses": statuses,
            "qosClass": "Burstable",
        },
    }


def namespace_pods() -> list[dict]:
    pods = [api_pod(i) for i in range(PODS)]
    # one pod's env names a Secret that does not exist, one's volume a ConfigMap that does not exist, one's container
    # another image that cannot be pulled: each differs from the others in one subtree they otherwise share
    pods[SECRET_MISSING]["spec"]["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]["name"] = "db-old"
    pods[CONFIGMAP_MISSING]["spec"]["volumes"][0]["configMap"]["name"] = "cfg-new"
    pull = pods[IMAGE_PULL]
    pull["spec"]["containers"][1]["image"] = "registry.local/proxy:2-typo"
    pull["status"]["containerStatuses"][1].update(
        image="registry.local/proxy:2-typo",
        ready=False,
        started=False,
        state={"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "registry.local/proxy:2-typo"'}},
    )
    for c in pull["status"]["conditions"][1:3]:
        c["status"] = "False"
    return pods


def shared(pods: list[dict]) -> list[dict]:
    """The pods as the builder keeps them: one Sharer for the list, fed page by page (diagnosis/builder.Reader.list)."""
    sharer = Sharer()
    for i in range(0, len(pods), builder.PAGE):
        sharer.share_page(pods[i : i + builder.PAGE])
    return pods


def diagnose(pods: list[dict]) -> tuple[dict, Snapshot]:
    snap = Snapshot.from_dict(
        {
            "namespace": NS,
            "pods": pods,
            "secrets": {"db": ["url"], "db-old": None},
            "configmaps": {"cfg": ["a"], "cfg-new": None, "kube-root-ca.crt": ["ca.crt"]},
        }
    )
    return diagnose_snapshot(snap, options=Options(include_logs=False)).dump(), snap


def test_sharing_pods_changes_no_diagnosis_and_each_differing_pod_is_named_by_its_own_difference():
    plain = namespace_pods()
    pods = shared(copy.deepcopy(plain))
    # the sharing did take place (else this test would prove nothing), and every pod is equal to itself unshared
    assert pods[0]["spec"]["tolerations"] is pods[1]["spec"]["tolerations"]
    assert pods[0]["spec"]["containers"][0]["env"] is pods[1]["spec"]["containers"][0]["env"]
    assert pods[0]["spec"]["volumes"][1]["projected"] is pods[PODS - 2]["spec"]["volumes"][1]["projected"]  # across pages
    assert pods[0]["spec"]["containers"] is not pods[1]["spec"]["containers"]  # each has its own token mount
    assert pods == plain
    report, _ = diagnose(pods)
    assert report == diagnose(plain)[0]

    findings = {f["mode"]: f for f in report["findings"]}
    secret = findings["config.missing_secret"]
    assert secret["objs"] == [f"Pod/web-{SECRET_MISSING:04d}"] and secret["n"] == 1
    assert "db-old" in json.dumps(secret)
    configmap = next(f for f in report["findings"] if f["mode"].startswith("mount."))
    assert configmap["objs"] == [f"Pod/web-{CONFIGMAP_MISSING:04d}"] and "cfg-new" in json.dumps(configmap)
    pull = next(f for f in report["findings"] if f["mode"].startswith("image_pull."))
    assert pull["objs"] == [f"Pod/web-{IMAGE_PULL:04d}"] and "registry.local/proxy:2-typo" in json.dumps(pull)
    assert len(report["findings"]) == 3, [f["mode"] for f in report["findings"]]


def test_what_the_builder_drops_of_a_pod_changes_no_diagnosis_and_lets_siblings_share_their_containers():
    plain = namespace_pods()
    pods = copy.deepcopy(plain)
    for pod in pods:
        builder.slim("pods", pod)  # as builder.Reader.list does to each listed pod before the sharing
    shared(pods)
    # the API server's token volume (its random name) was all that kept the containers of siblings apart
    assert all(v["name"] == "cfg" for v in pods[0]["spec"]["volumes"])
    assert pods[0]["spec"]["containers"] is pods[2]["spec"]["containers"]
    assert pods[0]["status"]["conditions"] is pods[2]["status"]["conditions"]  # no time of their own once Running
    assert diagnose(pods)[0] == diagnose(plain)[0]

    # a volume under the token's name that projects something else is a user's: kept, and its missing Secret named
    mimic = api_pod(1)
    mimic["spec"]["volumes"][1]["projected"] = {"sources": [{"serviceAccountToken": {"path": "token"}}, {"secret": {"name": "db-old"}}]}
    builder.slim("pods", mimic)
    assert [v["name"] for v in mimic["spec"]["volumes"]] == ["cfg", "kube-api-access-00001"]
    found = diagnose([mimic])[0]["findings"]
    assert [f["mode"] for f in found] == ["mount.failed"] and "db-old" in json.dumps(found), found

    pending = api_pod(0)
    pending["status"]["phase"] = "Pending"
    builder.slim("pods", pending)
    scheduled = next(c for c in pending["status"]["conditions"] if c["type"] == "PodScheduled")
    assert scheduled["lastTransitionTime"]  # what bounds a Pending pod's mount events (analyzers/mount.py)


def test_a_diagnosis_changes_nothing_of_the_shared_pods_it_reads():
    pods = shared(namespace_pods())
    before = copy.deepcopy(pods)
    first, snap = diagnose(pods)
    assert snap.pods == before
    assert diagnose_snapshot(snap, options=Options(include_logs=False)).dump() == first
    assert snap.pods == before


def test_sharer_keeps_every_item_equal_to_itself():
    a, b = {"x": [1, 2], "y": {"z": "v"}, "w": "s"}, {"x": [1, 2], "y": {"z": "u"}, "w": "s"}  # one leaf apart
    items = [{"spec": copy.deepcopy(a)}, {"spec": copy.deepcopy(b)}, {"spec": copy.deepcopy(a)}, {"spec": {}}, {"spec": {"y": {}}}]
    Sharer().share_page(items[:2])
    Sharer().share_page(items[2:])  # another list: nothing in common with the first
    assert [i["spec"] for i in items] == [a, b, a, {}, {"y": {}}]
    assert items[1]["spec"]["x"] is items[0]["spec"]["x"] and items[1]["spec"]["w"] is items[0]["spec"]["w"]
    assert items[1]["spec"]["y"] is not items[0]["spec"]["y"]
    assert items[2]["spec"]["x"] is not items[0]["spec"]["x"]
