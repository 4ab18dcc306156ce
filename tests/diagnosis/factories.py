"""Plain-dict Kubernetes objects for analyzer unit tests (the shapes `kubectl get -o json` returns)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
NS = "shop"


def ts(seconds_ago: float = 0) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _meta(name: str, labels=None, owner=None, helm: str | None = None, uid=None, **extra) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": NS,
        "uid": uid or f"uid-{name}",
        "labels": dict(labels or {}),
        "creationTimestamp": ts(3600),
        "generation": 1,
    }
    if owner:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True, "uid": f"uid-{owner[1]}"}]
    if helm:
        meta["labels"].update({"app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/instance": helm, "helm.sh/chart": "shop-1.2.3"})
        meta["annotations"] = {"meta.helm.sh/release-name": helm, "meta.helm.sh/release-namespace": NS}
    meta.update(extra)
    return meta


def container(name="app", image="example/app:1.0", **spec) -> dict[str, Any]:
    return {"name": name, "image": image, **spec}


def deployment(name, containers=None, replicas=1, ready=None, labels=None, helm=None, conditions=None, pod_spec=None, **status) -> dict[str, Any]:
    labels = labels or {"app": name}
    ready = replicas if ready is None else ready
    spec = {"containers": containers or [container()], **(pod_spec or {})}
    return {
        "kind": "Deployment",
        "metadata": _meta(name, labels, helm=helm),
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": spec}},
        "status": {"observedGeneration": 1, "replicas": replicas, "readyReplicas": ready, "availableReplicas": ready, "conditions": conditions or [], **status},
    }


def replicaset(name, deploy, revision=1, conditions=None, replicas=1, containers=None, available=None) -> dict[str, Any]:
    """A Deployment's revision; `containers` gives it a pod template, `available` its available pods."""
    meta = _meta(name, owner=("Deployment", deploy))
    meta["annotations"] = {"deployment.kubernetes.io/revision": str(revision)}
    spec: dict[str, Any] = {"replicas": replicas}
    if containers:
        spec["template"] = {"metadata": {"labels": {"app": deploy}}, "spec": {"containers": containers}}
    status: dict[str, Any] = {"replicas": replicas, "conditions": conditions or []}
    if available is not None:
        status["availableReplicas"] = available
    return {"kind": "ReplicaSet", "metadata": meta, "spec": spec, "status": status}


def cstatus(name="app", *, waiting=None, wmsg=None, last=None, running=False, ready=False, restarts=0, terminated=None) -> dict[str, Any]:
    state: dict[str, Any] = {}
    if waiting:
        state["waiting"] = {"reason": waiting, **({"message": wmsg} if wmsg else {})}
    elif running:
        state["running"] = {"startedAt": ts(600)}
    elif terminated:
        state["terminated"] = terminated
    out = {"name": name, "image": "example/app:1.0", "ready": ready, "restartCount": restarts, "state": state, "lastState": {}}
    if last:
        out["lastState"] = {"terminated": {"startedAt": ts(70), "finishedAt": ts(60), **last}}
    return out


def pod(
    name,
    *,
    owner=None,
    containers=None,
    statuses=None,
    init_statuses=None,
    phase="Running",
    labels=None,
    ready=None,
    node="node-1",
    conditions=None,
    spec=None,
    status=None,
) -> dict[str, Any]:
    statuses = statuses if statuses is not None else [cstatus(running=True, ready=True)]
    ready = bool(statuses) and all(s.get("ready") for s in statuses) if ready is None else ready
    conds = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": ts(3000)}, {"type": "Ready", "status": "True" if ready else "False"}]
    if conditions:
        conds = [c for c in conds if c["type"] not in {x["type"] for x in conditions}] + conditions
    body: dict[str, Any] = {"containers": containers or [container()], **(spec or {})}
    if node:
        body["nodeName"] = node
    st = {"phase": phase, "conditions": conds, "containerStatuses": statuses, **(status or {})}
    if init_statuses:
        st["initContainerStatuses"] = init_statuses
    return {"kind": "Pod", "metadata": _meta(name, labels or {}, owner=owner), "spec": body, "status": st}


def deploy_pods(deploy: str, n: int, **kw) -> list[dict[str, Any]]:
    return [pod(f"{deploy}-7d9c-{i}", owner=("ReplicaSet", f"{deploy}-7d9c"), labels={"app": deploy}, **kw) for i in range(n)]


def event(kind, name, reason, message, *, type="Warning", count=1, age=30, uid=None) -> dict[str, Any]:
    return {
        "kind": "Event",
        "metadata": {"name": f"{name}.{reason}.{age}", "namespace": NS, "creationTimestamp": ts(age)},
        "involvedObject": {"kind": kind, "name": name, "namespace": NS, "uid": uid or f"uid-{name}"},
        "reason": reason,
        "message": message,
        "type": type,
        "count": count,
        "firstTimestamp": ts(age + 60),
        "lastTimestamp": ts(age),
        "source": {"component": "kubelet"},
    }


def service(name, selector, ports=None) -> dict[str, Any]:
    return {
        "kind": "Service",
        "metadata": _meta(name),
        "spec": {"selector": selector, "type": "ClusterIP", "ports": ports or [{"port": 80, "targetPort": 8080}]},
    }


def endpointslice(service_name, ready: list[bool]) -> dict[str, Any]:
    return {
        "kind": "EndpointSlice",
        "metadata": _meta(f"{service_name}-abc", {"kubernetes.io/service-name": service_name}),
        "endpoints": [{"addresses": [f"10.0.0.{i}"], "conditions": {"ready": r}} for i, r in enumerate(ready)],
    }


def node(name, cpu="4", memory="8Gi", labels=None, taints=None, unschedulable=False) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "kind": "Node",
        "metadata": {"name": name, "labels": labels or {"kubernetes.io/os": "linux"}},
        "spec": spec,
        "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": "110"}},
    }


def snapshot(**kinds) -> dict[str, Any]:
    data: dict[str, Any] = {"namespace": NS, "now": NOW.isoformat(), "nodes": [node("node-1"), node("node-2")]}
    data.update(kinds)
    return data
