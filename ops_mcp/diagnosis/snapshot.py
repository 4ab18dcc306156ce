"""The in-memory snapshot the analyzers read: plain Kubernetes JSON dicts (camelCase, as `kubectl get -o json`).

A snapshot is built once per diagnosis (builder.py does it against the API; tests write the dict by hand).
Nothing here talks to the network. Its objects are read-only: the builder gives the pods one copy of the subtrees
they repeat (share.py), so a change made through one pod would show in every other; copy before changing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ops_mcp.shaping import parse_time  # re-exported: the analyzers import it from here

from .access import Access
from .objects import Obj, meta, name_of

# kind -> snapshot attribute; also the vocabulary of `ListedKinds`
KINDS = (
    "pods",
    "deployments",
    "replicasets",
    "statefulsets",
    "daemonsets",
    "jobs",
    "services",
    "endpointslices",
    "ingresses",
    "ingressclasses",
    "hpas",
    "pvcs",
    "storageclasses",
    "nodes",
    "events",
    "resourcequotas",
    "networkpolicies",
    "pdbs",
    "cronjobs",
)

KIND_NAMES = {
    "pods": "Pod",
    "deployments": "Deployment",
    "replicasets": "ReplicaSet",
    "statefulsets": "StatefulSet",
    "daemonsets": "DaemonSet",
    "jobs": "Job",
    "services": "Service",
    "ingresses": "Ingress",
    "hpas": "HorizontalPodAutoscaler",
    "pvcs": "PersistentVolumeClaim",
    "nodes": "Node",
    "pdbs": "PodDisruptionBudget",
    "cronjobs": "CronJob",
}

# What a diagnosis snapshot lists: snapshot attribute -> the cluster layer's kind (its path and RBAC resource).
SNAPSHOT_KINDS = {
    "pods": "pods",
    "deployments": "deployments",
    "replicasets": "replicasets",
    "statefulsets": "statefulsets",
    "daemonsets": "daemonsets",
    "jobs": "jobs",
    "services": "services",
    "endpointslices": "endpointslices",
    "ingresses": "ingresses",
    "hpas": "horizontalpodautoscalers",
    "pvcs": "persistentvolumeclaims",
    "events": "events",
    "resourcequotas": "resourcequotas",
    "nodes": "nodes",
    "storageclasses": "storageclasses",
    "ingressclasses": "ingressclasses",
    "networkpolicies": "networkpolicies",
    "pdbs": "poddisruptionbudgets",
}
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
SHORT = {
    "Deployment": "deploy",
    "StatefulSet": "statefulset",
    "DaemonSet": "daemonset",
    "Job": "job",
    "Pod": "pod",
    "ReplicaSet": "rs",
    "Service": "svc",
    "Ingress": "ingress",
    "HorizontalPodAutoscaler": "hpa",
    "PersistentVolumeClaim": "pvc",
    "PodDisruptionBudget": "pdb",
    "CronJob": "cronjob",
}


def ref(kind: str, obj_or_name: Obj | str) -> str:
    return f"{kind}/{obj_or_name if isinstance(obj_or_name, str) else name_of(obj_or_name)}"


def quantity(value: Any) -> Decimal:
    try:
        from kubernetes.utils import parse_quantity  # costs ~1 s to import: keep it off the start-up path

        return parse_quantity(value) if value not in (None, "") else Decimal(0)
    except ValueError:
        return Decimal(0)


def millicores(value: Any) -> int:
    return int(quantity(value) * 1000)


def age(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "?"
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def event_time(event: Obj) -> datetime | None:
    """Newest moment an (aggregated) event was seen: max of every timestamp the API may fill."""
    stamps = [
        event.get("lastTimestamp"),
        event.get("eventTime"),
        (event.get("series") or {}).get("lastObservedTime"),
        event.get("firstTimestamp"),
        meta(event).get("creationTimestamp"),
    ]
    times = [t for t in map(parse_time, stamps) if t]
    return max(times) if times else None


def helm_release(obj: Obj) -> str | None:
    annotations = meta(obj).get("annotations") or {}
    labels = meta(obj).get("labels") or {}
    if annotations.get("meta.helm.sh/release-name"):
        return annotations["meta.helm.sh/release-name"]
    if labels.get("app.kubernetes.io/managed-by") == "Helm":
        return labels.get("app.kubernetes.io/instance") or labels.get("release")
    return None


def selector_matches(selector: Obj | None, labels: dict[str, str]) -> bool:
    """LabelSelector (matchLabels + matchExpressions) or a plain Service selector map against labels."""
    if not selector:
        return False
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        return all(labels.get(k) == v for k, v in selector.items())
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


@dataclass
class KeySet:
    """A ConfigMap or Secret reduced to what diagnosis may know: it exists, its type, its key names."""

    exists: bool
    keys: list[str] = field(default_factory=list)
    type: str | None = None


@dataclass
class Snapshot:
    namespace: str
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    pods: list[Obj] = field(default_factory=list)
    deployments: list[Obj] = field(default_factory=list)
    replicasets: list[Obj] = field(default_factory=list)
    statefulsets: list[Obj] = field(default_factory=list)
    daemonsets: list[Obj] = field(default_factory=list)
    jobs: list[Obj] = field(default_factory=list)
    services: list[Obj] = field(default_factory=list)
    endpointslices: list[Obj] = field(default_factory=list)
    ingresses: list[Obj] = field(default_factory=list)
    ingressclasses: list[Obj] = field(default_factory=list)
    hpas: list[Obj] = field(default_factory=list)
    pvcs: list[Obj] = field(default_factory=list)
    storageclasses: list[Obj] = field(default_factory=list)
    nodes: list[Obj] = field(default_factory=list)
    events: list[Obj] = field(default_factory=list)
    resourcequotas: list[Obj] = field(default_factory=list)
    networkpolicies: list[Obj] = field(default_factory=list)
    pdbs: list[Obj] = field(default_factory=list)
    cronjobs: list[Obj] = field(default_factory=list)  # listed only for a CronJob target
    # PersistentVolumes by name: only those a Pending claim in scope names in spec.volumeName (one GET each; None: 404)
    persistentvolumes: dict[str, Obj | None] = field(default_factory=dict)
    configmaps: dict[str, KeySet] = field(default_factory=dict)
    secrets: dict[str, KeySet] = field(default_factory=dict)
    # "pod/container/previous|current" -> log lines (already redacted by whoever fetched them)
    logs: dict[str, list[str]] = field(default_factory=dict)
    # "pod:port" -> the first usual health path the container answered 2xx/3xx to (None: none did), via the pod proxy
    http: dict[str, str | None] = field(default_factory=dict)
    # pod -> container -> {"cpu_m": millicores, "memory": bytes}: metrics-server's usage (empty without metrics.k8s.io)
    usage: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    # kinds that could not be read: kind -> reason (e.g. RBAC 403); analyzers needing them are skipped
    unreadable: dict[str, str] = field(default_factory=dict)
    access: Access | None = None  # a ServiceAccount target's bindings, rules and access review
    # Helm release name -> its stored revisions, oldest first: {revision, status, kind, object, record} (see releases.py)
    releases: dict[str, list[Obj]] = field(default_factory=dict)
    api_requests: int = 0
    api_list_pages: int = 0
    redacted: int = 0
    waited_s: float = 0.0

    @classmethod
    def from_dict(cls, data: Obj) -> Snapshot:
        """Build from plain data (tests, fixtures): lists of objects per kind plus `configmaps`/`secrets` maps
        of name -> list of key names (or None for "GET returned 404")."""
        snap = cls(namespace=data["namespace"])
        if data.get("now"):
            snap.now = parse_time(data["now"]) or snap.now
        for kind in KINDS:
            setattr(snap, kind, list(data.get(kind, [])))
        for attr in ("configmaps", "secrets"):
            for name, keys in (data.get(attr) or {}).items():
                getattr(snap, attr)[name] = KeySet(exists=keys is not None, keys=list(keys or []))
        snap.persistentvolumes = dict(data.get("persistentvolumes") or {})
        snap.logs = dict(data.get("logs") or {})
        snap.http = dict(data.get("http") or {})
        snap.usage = {pod: dict(containers) for pod, containers in (data.get("usage") or {}).items()}
        snap.unreadable = dict(data.get("unreadable") or {})
        snap.releases = {name: [dict(r) for r in revisions] for name, revisions in (data.get("releases") or {}).items()}
        if data.get("access"):
            snap.access = Access.from_dict(data["access"])
        return snap

    # ---- lookups (built lazily, the snapshot is immutable once analysis starts) ----
    def by_name(self, kind: str, name: str) -> Obj | None:
        index = self.__dict__.setdefault("_by_name", {})
        if kind not in index:
            index[kind] = {name_of(o): o for o in getattr(self, kind)}
        return index[kind].get(name)

    def events_for(self, kind: str, obj: Obj) -> list[Obj]:
        """Events whose involvedObject is this object (by uid when both sides have one)."""
        index = self.__dict__.get("_events")
        if index is None:
            index = defaultdict(list)
            for event in self.events:
                involved = event.get("involvedObject") or {}
                index[(involved.get("kind"), involved.get("name"))].append(event)
            self.__dict__["_events"] = index
        uid = meta(obj).get("uid")
        return [
            e for e in index.get((kind, name_of(obj)), []) if not uid or not (e.get("involvedObject") or {}).get("uid") or e["involvedObject"]["uid"] == uid
        ]

    def pods_with_labels(self, selector: dict[str, str]) -> list[Obj]:
        """Pods whose labels include every pair of a plain (Service-style) selector, via a label index."""
        index = self.__dict__.get("_label_index")
        if index is None:
            index = defaultdict(list)
            for pod in self.pods:
                for pair in (meta(pod).get("labels") or {}).items():
                    index[pair].append(pod)
            self.__dict__["_label_index"] = index
        if not selector:
            return []
        pairs = sorted(selector.items(), key=lambda pair: len(index.get(pair, ())))
        return [p for p in index.get(pairs[0], []) if selector_matches(selector, meta(p).get("labels") or {})]

    def controller_of(self, obj: Obj) -> tuple[str, str] | None:
        """The top controlling workload (kind, name): Pod -> ReplicaSet -> Deployment, Pod -> Job -> CronJob..."""
        cache = self.__dict__.setdefault("_controllers", {})
        key = id(obj)
        if key not in cache:
            cache[key] = self._controller_of(obj)
        return cache[key]

    def owner_of(self, pod: Obj) -> str:
        """The pod's owner ("ReplicaSet/api-5d8f"; "Pod/x" for a bare pod): one string per pod however often it is asked (thousands of
        bare pods would otherwise hold a copy of their name in each index and group that names them)."""
        cache = self.__dict__.setdefault("_owners", {})
        owner = cache.get(id(pod))
        if owner is None:
            controller = self._controller_of(pod)  # not cached twice: a pod is no other object's owner
            owner = cache[id(pod)] = f"{controller[0]}/{controller[1]}" if controller else ref("Pod", pod)
        return owner

    def _controller_of(self, obj: Obj) -> tuple[str, str] | None:
        owners = [o for o in meta(obj).get("ownerReferences") or [] if o.get("controller")] or (meta(obj).get("ownerReferences") or [])
        if not owners:
            return None
        kind, name = owners[0].get("kind"), owners[0].get("name")
        if kind == "ReplicaSet":
            rs = self.by_name("replicasets", name)
            if rs is not None:
                return self.controller_of(rs) or ("ReplicaSet", name)
        return kind, name

    def workload(self, kind: str, name: str) -> Obj | None:
        attr = {
            "Deployment": "deployments",
            "StatefulSet": "statefulsets",
            "DaemonSet": "daemonsets",
            "Job": "jobs",
            "ReplicaSet": "replicasets",
            "Pod": "pods",
        }.get(kind)
        return self.by_name(attr, name) if attr else None

    def log(self, pod: str, container: str, previous: bool) -> list[str] | None:
        return self.logs.get(f"{pod}/{container}/{'previous' if previous else 'current'}")
