"""Build the snapshot from the API in one pass: one list call per kind (namespace-scoped; pods narrowed by the
target's selector), a GET for each referenced ConfigMap/Secret (reduced at once to key names), then logs for at
most a few pods per failure signature. All API access goes through ops_mcp.cluster.Cluster.
"""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from ops_mcp.cluster import KINDS, METRICS_API
from ops_mcp.errors import Forbidden, NotFound, OpsError
from ops_mcp.redact import redact_obj, redact_text, scrub_values, secret_env_values

from . import access, probes, releases
from .analyzers.crashloop import is_crashing
from .base import STRONG_LINE, Options
from .gc_pause import gc_paused
from .scope import Scope, TargetNotFound, normalize_kind, resolve
from .share import Sharer
from .snapshot import SNAPSHOT_KINDS, KeySet, Obj, Snapshot, helm_release, meta, millicores, name_of, quantity

LISTS = {attr: KINDS[kind] for attr, kind in SNAPSHOT_KINDS.items()}  # snapshot attribute -> Kind
# Lists every diagnosis needs (the target's pods, their owners, events), then what each check reads besides.
CORE_LISTS = ("pods", "deployments", "replicasets", "statefulsets", "daemonsets", "jobs", "events")
CHECK_LISTS = {
    "dependency": ("services", "endpointslices", "networkpolicies"),
    "mount": ("pvcs",),
    "image_pull": ("nodes",),
    "scheduling": ("nodes", "pvcs"),
    "pvc": ("pvcs", "storageclasses"),
    "rollout": ("resourcequotas",),
    "service": ("services", "endpointslices"),
    "ingress": ("ingresses", "ingressclasses", "services", "endpointslices"),
    "hpa": ("hpas",),
    "pdb": ("pdbs",),
}
TARGET_LISTS = {
    "Service": ("services", "endpointslices"),
    "Ingress": ("ingresses", "services"),
    "HelmRelease": ("services", "ingresses", "hpas", "pvcs"),
    "PersistentVolumeClaim": ("pvcs", "storageclasses"),
    "HorizontalPodAutoscaler": ("hpas",),
}
PAGE = 500
MAX_KEYSET_GETS = 20  # beyond this many referenced ConfigMaps (or Secrets), one list call is cheaper
MAX_LOG_FETCHES = 12
PROXY_TIMEOUT = 2.0  # seconds per GET through the pod proxy
# seconds diagnose waits for a backed-off container's next run, to ask it which probe path answers: the kubelet backs
# off 10 s, 20 s, 40 s, then 80 s and on to 5 min, so this covers a crash loop's first minute; a longer wait is named in the fix
RESTART_WAIT = 60.0
LISTEN_WAIT = 10.0  # seconds from its start during which a container that does not answer yet is asked again
LISTEN_WAIT_MAX = 60.0  # ... at most, whatever its liveness probe allows
EVENT_LAG = 3.0  # seconds after a container stops before its kubelet events are taken as complete
LOG_BYTES = 64 * 1024
# What the kubelet answers in place of a log it cannot read (rotated, the runtime's file gone): not the application's.
KUBELET_SAYS = re.compile(r"(?i)^(unable to retrieve container logs for|failed to try resolving symlinks in path|failed to get parse function)")
KUBELET_LOG_NOTE = re.compile(r"^(unable to retrieve container logs|failed to try resolving symlinks)")  # the kubelet's, not the app's
Progress = Callable[[float, float, str], None]  # (done, total, message): MCP progress while diagnose waits
# only the fields analyzers read are kept from list items (memory stays flat on big namespaces)
_DROP_META = ("managedFields",)
# lists whose items share one copy of what they repeat (share.py: only typed kinds, no custom resource): a namespace's
# pods are most of a snapshot's memory, ~15 KB each decoded, ~3 KB shared
SHARED_LISTS = ("pods",)
# What of a pod no analyzer reads and the pod does not share with its siblings (its addresses, version, start, its
# containers' runtime ids and mounts): a namespace of many pods holds ~1.8 KB each instead of ~3.7 KB (bench/README).
_DROP_POD = {
    "metadata": ("resourceVersion", "generateName"),
    "status": ("podIP", "podIPs", "hostIP", "hostIPs", "startTime"),
    "container_status": ("containerID", "imageID", "volumeMounts", "user", "allocatedResources", "resources"),
    "condition": ("lastProbeTime", "lastTransitionTime"),  # PodScheduled's kept while Pending: analyzers/mount.py
}


class Reader:
    """Counts API requests and turns RBAC denials into `unreadable` entries instead of failures."""

    def __init__(self, cluster: Any, namespace: str):
        self.cluster, self.namespace = cluster, namespace
        self.requests = 0
        self.list_pages = 0
        self._lock = threading.Lock()

    def _count(self, page: bool = False) -> None:
        with self._lock:
            self.requests += 1
            self.list_pages += page

    def list(self, attr: str, label_selector: str | None = None, field_selector: str | None = None) -> list[Obj]:
        kind = LISTS.get(attr) or KINDS[attr]  # cronjobs: listed for a CronJob target only
        namespaced = kind.namespaced
        path, resource = kind.path(self.namespace), kind.resource
        items: list[Obj] = []
        sharer = Sharer() if attr in SHARED_LISTS else None
        token = None
        while True:
            self._count(page=True)
            page = self.cluster.request(
                "GET",
                path,
                query={"labelSelector": label_selector, "fieldSelector": field_selector, "limit": PAGE, "continue": token},
                verb="list",
                resource=resource,
                namespace=self.namespace if namespaced else None,
                slim=True,  # managedFields never decoded: the analyzers do not read it
            )
            page_items = page.get("items") or []
            for item in page_items:
                slim(attr, item)
            if sharer is not None:
                sharer.share_page(page_items)
            items += page_items
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items

    def get(self, path: str, resource: str) -> Obj:
        self._count()
        return self.cluster.request("GET", path, verb="get", resource=resource, namespace=self.namespace)

    def logs(self, pod: str, container: str, previous: bool, tail: int) -> str:
        self._count()
        return self.cluster.logs(self.namespace, pod, container=container, previous=previous, tail_lines=tail, limit_bytes=LOG_BYTES)


def slim(attr: str, item: Obj) -> None:
    """Drop, in place, what no analyzer reads of a listed item. A pod's own dicts are made again without it: a dict
    keeps its size after a pop, and one of five keys takes two thirds of one of ten."""
    for key in _DROP_META:
        (item.get("metadata") or {}).pop(key, None)
    (meta(item).get("annotations") or {}).pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if attr != "pods":
        return
    item["metadata"] = _without(meta(item), _DROP_POD["metadata"])
    status = item["status"] = _without(item.get("status") or {}, _DROP_POD["status"])
    for key in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
        if status.get(key):
            status[key] = [_without(cs, _DROP_POD["container_status"]) for cs in status[key]]
    if status.get("conditions"):
        pending = status.get("phase") == "Pending"
        status["conditions"] = [_without(c, _DROP_POD["condition"]) if not (pending and c.get("type") == "PodScheduled") else c for c in status["conditions"]]
    spec = item.get("spec") or {}
    tokens = {v.get("name") for v in spec.get("volumes") or [] if _injected_token(v)}
    if tokens:
        spec["volumes"] = [v for v in spec["volumes"] if v.get("name") not in tokens]
        for group in ("initContainers", "containers", "ephemeralContainers"):
            for c in spec.get(group) or []:
                if c.get("volumeMounts"):
                    c["volumeMounts"] = [m for m in c["volumeMounts"] if m.get("name") not in tokens]


def _without(obj: Obj, keys: tuple[str, ...]) -> Obj:
    return {k: v for k, v in obj.items() if k not in keys}


def _injected_token(volume: Obj) -> bool:
    """The service-account token volume the API server adds to every pod under a random name (kube-api-access-xxxxx):
    no manifest holds it, and its name alone makes each pod's containers differ from its siblings'. Only the exact
    shape the API server writes (a token, kube-root-ca.crt, the namespace): a volume of that name that projects
    anything else is a user's and is kept. A missing kube-root-ca.crt still shows, in the pod's FailedMount events."""
    sources = (volume.get("projected") or {}).get("sources") or []
    kinds = sorted(k for src in sources for k in src)
    roots = [src["configMap"].get("name") for src in sources if "configMap" in src]
    return (
        str(volume.get("name", "")).startswith("kube-api-access-")
        and kinds == ["configMap", "downwardAPI", "serviceAccountToken"]
        and roots == ["kube-root-ca.crt"]
    )


def selector_string(selector: Obj | None) -> str | None:
    if not selector:
        return None
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op, key, values = expr.get("operator"), expr.get("key"), ",".join(expr.get("values") or [])
        parts.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": key, "DoesNotExist": f"!{key}"}.get(op, key))
    return ",".join(parts) or None


def build(cluster: Any, namespace: str, kind: str | None, name: str | None, options: Options, progress: Progress | None = None) -> tuple[Snapshot, Scope]:
    """Fetch everything the analyzers need for this target; raise OpsError when the target does not exist. `progress`
    hears of a wait for a container's next run (the only wait longer than a few seconds)."""
    target_kind = normalize_kind(kind)
    reader = Reader(cluster, namespace)
    snap = Snapshot(namespace=namespace)
    pod_selector, pod_field = _pod_filter(reader, target_kind, name)
    attrs = list(LISTS) if options.checks is None else needed_lists(options.checks, target_kind)

    def fetch(attr: str) -> tuple[str, list[Obj] | None, str | None]:
        try:
            if attr == "pods":
                return attr, reader.list(attr, pod_selector, pod_field), None
            return attr, reader.list(attr), None
        except Forbidden as exc:
            return attr, None, f"RBAC: {exc.what[:160]}"
        except NotFound as exc:
            if attr in ("ingressclasses", "hpas", "endpointslices", "storageclasses"):  # API group not served
                return attr, None, f"API not served: {exc.what[:120]}"
            raise

    with gc_paused(), ThreadPoolExecutor(max_workers=6) as pool:
        for attr, items, why in pool.map(fetch, attrs):
            if why:
                snap.unreadable[attr] = why
            else:
                setattr(snap, attr, items)
    lag = _youngest_exit(snap)
    if "events" in attrs and lag is not None and lag < EVENT_LAG:
        # A container that stopped a moment ago: the kubelet writes its events (the probe's kill) asynchronously,
        # after the status that says it stopped; read them again once they have had time to land.
        time.sleep(EVENT_LAG - lag)
        _, items, why = fetch("events")
        if items is not None:
            snap.events = items
    if target_kind == "ServiceAccount":
        snap.access = access.fetch(reader, namespace, name, access.parse_can(options.can) if options.can else None)
    if target_kind == "HelmRelease":  # the release's stored records: it exists whatever objects it has
        releases.fetch(reader, snap, [name or ""])
    if target_kind == "CronJob":  # its Jobs are in the snapshot; the CronJob itself (and near names) from one list
        snap.cronjobs = reader.list("cronjobs")
    try:
        scope = resolve(snap, target_kind, name)
    except TargetNotFound as exc:
        raise OpsError(str(exc), "check the name with list_resources, or diagnose the whole namespace (omit kind and name).") from None
    owners = {r for _, w in scope.workloads if (r := helm_release(w))} | {
        r for o in scope.services + scope.ingresses + scope.hpas + scope.pvcs + scope.pods if (r := helm_release(o))
    }
    if target_kind != "HelmRelease" and (owners or target_kind == "Namespace"):  # fixes of their objects (see releases.py)
        releases.fetch(reader, snap, owners)
    _fetch_keysets(reader, snap, scope)
    if options.checks is None or "pvc" in options.checks:
        _fetch_volumes(reader, snap, scope)
    if options.include_logs:
        _fetch_logs(reader, snap, scope, options)
        _fetch_env_sources(reader, snap)
    _ask_containers(reader, snap, scope, progress)
    if options.checks is None or "resources" in options.checks:
        _fetch_usage(reader, snap, scope)
    snap.api_requests, snap.api_list_pages = reader.requests, reader.list_pages
    return snap, scope


def needed_lists(checks: tuple[str, ...] | list[str], target_kind: str) -> list[str]:
    """Only what the selected checks and the target read (diagnose_crashloop lists no Services, Ingresses, HPAs...)."""
    wanted = set(CORE_LISTS) | set(TARGET_LISTS.get(target_kind, ()))
    for check in checks:
        wanted |= set(CHECK_LISTS.get(check, ()))
    return [attr for attr in LISTS if attr in wanted]


def _pod_filter(reader: Reader, kind: str, name: str | None) -> tuple[str | None, str | None]:
    """Narrow the pod list to the target: its selector (workloads, Services) or its name (a Pod)."""
    if kind == "Pod":
        return None, f"metadata.name={name}"
    if kind == "ServiceAccount":
        return None, f"spec.serviceAccountName={name}"
    if kind not in ("Deployment", "StatefulSet", "DaemonSet", "Job", "Service"):
        return None, None
    k = KINDS[kind.lower()]
    try:
        obj = reader.get(k.path(reader.namespace, name), k.resource)
    except (NotFound, Forbidden):
        return None, None  # resolve() reports the missing target with near names
    selector = (obj.get("spec") or {}).get("selector")
    if kind == "Service":
        return (",".join(f"{k}={v}" for k, v in sorted(selector.items())) if selector else None), None
    return selector_string(selector), None


def _referenced(scope: Scope) -> tuple[set[str], set[str]]:
    configmaps, secrets = set(), set()
    for template in scope.templates:
        spec = template.spec
        for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            for env in c.get("env") or []:
                source = env.get("valueFrom") or {}
                if source.get("secretKeyRef"):
                    secrets.add(source["secretKeyRef"].get("name"))
                if source.get("configMapKeyRef"):
                    configmaps.add(source["configMapKeyRef"].get("name"))
            for source in c.get("envFrom") or []:
                if source.get("secretRef"):
                    secrets.add(source["secretRef"].get("name"))
                if source.get("configMapRef"):
                    configmaps.add(source["configMapRef"].get("name"))
        for volume in spec.get("volumes") or []:
            sources = [volume] + ((volume.get("projected") or {}).get("sources") or [])
            for source in sources:
                if source.get("configMap"):
                    configmaps.add(source["configMap"].get("name"))
                if source.get("secret"):
                    secrets.add(source["secret"].get("secretName") or source["secret"].get("name"))
    for ing in scope.ingresses:
        secrets |= {t.get("secretName") for t in (ing.get("spec") or {}).get("tls") or []}
    return {c for c in configmaps if c}, {s for s in secrets if s}


def _fetch_volumes(reader: Reader, snap: Snapshot, scope: Scope) -> None:
    """The PersistentVolume each Pending claim in scope names (spec.volumeName): one cluster-scoped GET each, to
    tell why the claim does not bind to it (released with a stale claimRef, bound to another claim, missing)."""
    kind = KINDS["persistentvolumes"]
    names = {v for p in scope.pvcs if (p.get("status") or {}).get("phase") == "Pending" and (v := (p.get("spec") or {}).get("volumeName"))}
    for volume in sorted(names):
        try:
            reader._count()
            pv = reader.cluster.request("GET", kind.path(None, volume), verb="get", resource=kind.resource)
            snap.persistentvolumes[volume] = {k: pv.get(k) for k in ("metadata", "spec", "status")}
        except NotFound:
            snap.persistentvolumes[volume] = None
        except Forbidden as exc:
            snap.unreadable["persistentvolumes"] = f"RBAC: {exc.what[:160]}"
            return


def _fetch_usage(reader: Reader, snap: Snapshot, scope: Scope) -> None:
    """metrics-server's usage of the scope's pods, when any of them has a limit to measure it against (one list).
    No metrics API (no metrics-server, or it is not ready) is not an error: the usage checks claim nothing."""
    limited = any(((c.get("resources") or {}).get("limits")) for p in scope.pods for c in (p.get("spec") or {}).get("containers") or [])
    if not limited:
        return
    reader._count()
    try:
        answer = reader.cluster.request(
            "GET", f"{METRICS_API}/namespaces/{reader.namespace}/pods", verb="list", resource="pods.metrics.k8s.io", namespace=reader.namespace
        )
    except Forbidden as exc:
        snap.unreadable["pods.metrics.k8s.io"] = f"RBAC: {exc.what[:160]}"
        return
    except OpsError:  # 404: the API is not served; 503: metrics-server not ready
        return
    wanted = {name_of(p) for p in scope.pods}
    for item in answer.get("items") or []:
        if name_of(item) in wanted:
            snap.usage[name_of(item)] = {
                c["name"]: {"cpu_m": millicores((c.get("usage") or {}).get("cpu")), "memory": int(quantity((c.get("usage") or {}).get("memory")))}
                for c in item.get("containers") or []
            }


def _fetch_keysets(reader: Reader, snap: Snapshot, scope: Scope) -> None:
    configmaps, secrets = _referenced(scope)
    for attr, plural, names in (("configmaps", "configmaps", configmaps), ("secrets", "secrets", secrets)):
        store: dict[str, KeySet] = getattr(snap, attr)
        try:
            if len(names) > MAX_KEYSET_GETS:
                reader._count()
                items = {name_of(i): i for i in reader.cluster.list_all(plural, reader.namespace)}
                for n in names:
                    store[n] = _keyset(items[n]) if n in items else KeySet(exists=False)
                continue
            for n in sorted(names):
                try:
                    store[n] = _keyset(redact_obj(reader.get(KINDS[plural].path(reader.namespace, n), plural)))
                except NotFound:
                    store[n] = KeySet(exists=False)
        except Forbidden as exc:
            snap.unreadable[attr] = f"RBAC: {exc.what[:160]}"


def _keyset(obj: Obj) -> KeySet:
    keys = sorted(set(obj.get("data") or {}) | set(obj.get("binaryData") or {}) | set(obj.get("stringData") or {}))
    return KeySet(exists=True, keys=keys, type=obj.get("type"))


def log_wants(snap: Snapshot, scope: Scope, options: Options) -> list[tuple[str, str, bool]]:
    """(pod, container, previous) worth reading: crashed containers (previous run), failed init containers,
    failed Job pods; at most `max_pods` pods per (owner, container, state) signature."""
    from .scope import owner_of

    per_signature: dict[tuple, list[tuple[str, str, bool]]] = defaultdict(list)
    for pod in scope.pods:
        if meta(pod).get("deletionTimestamp"):
            continue
        status, owner = pod.get("status") or {}, owner_of(snap, pod)
        for cs in status.get("containerStatuses") or []:
            if options.container and cs.get("name") != options.container:
                continue
            last = (cs.get("lastState") or {}).get("terminated") or {}
            term = (cs.get("state") or {}).get("terminated") or {}
            if is_crashing(cs) and cs.get("restartCount", 0) > 0 and last.get("reason") != "OOMKilled":
                key = (owner, cs["name"], "crash", last.get("exitCode"))
                per_signature[key].append((name_of(pod), cs["name"], True))
            elif term and term.get("exitCode", 0) != 0 and status.get("phase") == "Failed":
                per_signature[(owner, cs["name"], "failed", term.get("exitCode"))].append((name_of(pod), cs["name"], False))
        for cs in status.get("initContainerStatuses") or []:
            state = cs.get("state") or {}
            waiting, term = state.get("waiting") or {}, state.get("terminated") or {}
            if term.get("exitCode", 0) != 0 and term:
                per_signature[(owner, cs["name"], "init")].append((name_of(pod), cs["name"], False))
            elif waiting.get("reason") == "CrashLoopBackOff" and cs.get("restartCount", 0) > 0:
                per_signature[(owner, cs["name"], "init")].append((name_of(pod), cs["name"], True))
    wants: list[tuple[str, str, bool]] = []
    for items in per_signature.values():
        wants += items[: options.max_pods]
    # then one running container per (owner, container): the errors a Running pod's own log repeats, and what an
    # init container that does not finish is waiting for
    running: dict[tuple, tuple[str, str, bool]] = {}
    for pod in scope.pods:
        status, owner = pod.get("status") or {}, owner_of(snap, pod)
        if meta(pod).get("deletionTimestamp") or status.get("phase") != "Running" and not status.get("initContainerStatuses"):
            continue
        for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
            if "running" in (cs.get("state") or {}) and (not options.container or cs.get("name") == options.container):
                running.setdefault((owner, cs["name"]), (name_of(pod), cs["name"], False))
    wants += [w for w in running.values() if w not in wants]
    return wants[:MAX_LOG_FETCHES]


def _fetch_logs(reader: Reader, snap: Snapshot, scope: Scope, options: Options) -> None:
    def fetch(want: tuple[str, str, bool]) -> tuple[tuple[str, str, bool], str | None, str | None]:
        pod, container, previous = want
        try:
            return want, reader.logs(pod, container, previous, options.log_tail), None
        except Forbidden as exc:
            return want, None, f"RBAC: {exc.what[:160]}"
        except OpsError:
            return want, None, None  # no previous instance, pod gone: the status evidence stands alone

    wants = log_wants(snap, scope, options)
    if not wants:
        return
    pods = {name_of(p): p for p in scope.pods}
    # the values of the Secrets these pods load, as get_pod_logs scrubs them (read once; unreadable: patterns only)
    secrets = reader.cluster.secret_scrubber(reader.namespace, [pods[pod] for pod, _, _ in wants if pod in pods])
    with ThreadPoolExecutor(max_workers=4) as pool:
        for (pod, container, previous), text, why in pool.map(fetch, wants):
            if why:
                snap.unreadable["pods/log"] = why
            if not text:
                continue
            known = secret_env_values(pods.get(pod) or {})  # as get_pod_logs: the pod's own literal credentials too
            lines = []
            for line in [line for line in text.splitlines() if not KUBELET_SAYS.match(line)][-options.log_tail :]:
                clean = redact_text(secrets.text(scrub_values(line, known)))
                snap.redacted += clean != line
                lines.append(clean)
            snap.logs[f"{pod}/{container}/{'previous' if previous else 'current'}"] = lines


def _ask_containers(reader: Reader, snap: Snapshot, scope: Scope, progress: Progress | None = None) -> None:
    """For failing HTTP probes: GET the usual health paths on the declared ports through the pod proxy (read-only,
    at most probes.MAX_CALLS in all), recording per pod:port the first that answers 2xx/3xx."""
    budget = [probes.MAX_CALLS]
    lock = threading.Lock()

    def ask(item: tuple[str, int, list[str]]) -> tuple[str, str | None, bool, str | None]:
        pod, port, paths = item
        for path in paths:
            with lock:
                if budget[0] <= 0:
                    return f"{pod}:{port}", None, False, None
                budget[0] -= 1
            reader._count()
            while True:
                try:
                    status = reader.cluster.pod_http_status(reader.namespace, pod, port, path, timeout=PROXY_TIMEOUT)
                except Forbidden as exc:
                    return f"{pod}:{port}", None, False, f"RBAC: {exc.what[:160]}"
                except OpsError:
                    status = None
                # a server still starting does not answer yet: that says nothing about the path, so ask again
                if status is not None or time.monotonic() >= listen_by.get(pod, 0.0):
                    break
                time.sleep(0.25)
                reader._count()
            if status is None:  # the container cannot be reached: no path would tell anything
                return f"{pod}:{port}", None, False, None
            if 200 <= status < 400:
                return f"{pod}:{port}", path, True, None
        return f"{pod}:{port}", None, True, None

    pods = _after_back_off(reader, snap, scope.pods, progress)
    listen_by = _listen_deadlines(snap, pods)
    wants = probes.plan(snap, pods)
    if not wants:
        return
    with ThreadPoolExecutor(max_workers=4) as pool:
        for key, path, checked, why in pool.map(ask, wants):
            if why:
                snap.unreadable["pods/proxy"] = why
            elif checked:
                snap.http[key] = path


def _after_back_off(reader: Reader, snap: Snapshot, pods: list[Obj], progress: Progress | None = None) -> list[Obj]:
    """`pods`, with those whose failing-probe container is in back-off for no reason the cluster already shows
    (_explained) and runs again within RESTART_WAIT seconds re-read the moment it runs again: a liveness kill leaves it
    running only a few seconds between back-offs, so the asking starts at once (a server that does not listen yet is
    asked again, see _listen_deadlines). The wait is reported to `progress` about once a second."""
    real = [p for p in pods if probes.runs_containers(snap, p) and not _explained(snap, p)]  # a simulated (KWOK) pod never runs again
    waits = {name_of(p): left for p in real if (left := probes.next_run_in(snap, p)) is not None and left <= RESTART_WAIT}
    if not waits:
        return pods
    fresh: dict[str, Obj] = {}
    start = time.monotonic()
    deadline = start + max(waits.values()) + 10
    reported = -1
    while waits.keys() - fresh.keys() and time.monotonic() < deadline:
        elapsed = int(time.monotonic() - start)
        if progress is not None and elapsed != reported:
            reported = elapsed
            waiting = sorted(waits.keys() - fresh.keys())
            progress(elapsed, int(deadline - start), f"waiting for {', '.join(waiting[:3])} to run again after its back-off, to ask which probe path answers")
        time.sleep(0.5)
        for name in waits.keys() - fresh.keys():
            try:
                pod = reader.get(f"/api/v1/namespaces/{reader.namespace}/pods/{name}", "pods")
            except OpsError:  # gone or unreadable: asked as it was (not at all)
                fresh[name] = next(p for p in pods if name_of(p) == name)
                continue
            started = [((cs.get("state") or {}).get("running") or {}).get("startedAt") for cs in (pod.get("status") or {}).get("containerStatuses") or []]
            if started and all(started):
                fresh[name] = pod
    snap.waited_s = round(time.monotonic() - start, 1)
    return [fresh.get(name_of(p), p) for p in pods]


def _explained(snap: Snapshot, pod: Obj) -> bool:
    """Every container of the pod in back-off stopped for a reason the cluster already shows: an exit of its own (not
    0, 137 or 143, which a kill by the kubelet for a failing probe leaves), an OOM kill, a termination message, or an
    error line in the previous run's log. Then the diagnosis answers at once; waiting for the next run would only
    tell which probe path answers."""
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if ((cs.get("state") or {}).get("waiting") or {}).get("reason") != "CrashLoopBackOff":
            continue
        last = (cs.get("lastState") or {}).get("terminated") or {}
        log = [line for line in snap.log(name_of(pod), cs.get("name", ""), True) or [] if not KUBELET_LOG_NOTE.match(line)]
        own_exit = last.get("reason") == "OOMKilled" or last.get("exitCode") not in (None, 0, 137, 143)
        if not (own_exit or (last.get("message") or "").strip() or any(STRONG_LINE.search(line) for line in log)):
            return False
    return True


def _listen_deadlines(snap: Snapshot, pods: list[Obj]) -> dict[str, float]:
    """Per pod on a real kubelet, the monotonic time until which a GET it does not answer is asked again: its youngest
    running container's start plus LISTEN_WAIT, or plus the time its liveness probe gives it before a kill, when that
    is longer (a slow-starting server is not a wrong path; a loaded node starts it later still)."""
    out = {}
    for pod in pods:
        started = [
            s for cs in (pod.get("status") or {}).get("containerStatuses") or [] if (s := ((cs.get("state") or {}).get("running") or {}).get("startedAt"))
        ]
        window = max([LISTEN_WAIT, *(_until_killed(c.get("livenessProbe")) for c in (pod.get("spec") or {}).get("containers") or [])])
        if started and probes.runs_containers(snap, pod) and (left := min(window, LISTEN_WAIT_MAX) - min(_age(s) for s in started)) > 0:
            out[name_of(pod)] = time.monotonic() + left
    return out


def _until_killed(probe: Obj | None) -> float:
    """Seconds from a container's start until its liveness probe can first have failed enough to kill it (0: no probe)."""
    if not probe:
        return 0.0
    return float(probe.get("initialDelaySeconds", 0) + probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3) + probe.get("timeoutSeconds", 1))


def _youngest_exit(snap: Snapshot) -> float | None:
    """Seconds since the most recent container termination among the snapshot's pods on real kubelets (None: none)."""
    ages = [
        _age(finished)
        for pod in snap.pods
        if probes.runs_containers(snap, pod)  # simulated (KWOK) pods' events are written with their status
        for cs in (pod.get("status") or {}).get("containerStatuses") or []
        if (finished := ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))
    ]
    return max(min(ages), 0.0) if ages else None


def _age(timestamp: str) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(timestamp.replace("Z", "+00:00"))).total_seconds()


def _fetch_env_sources(reader: Reader, snap: Snapshot) -> None:
    """When a log names a variable the spec may lack, the key names of every ConfigMap and Secret of the namespace
    (one list each, reduced at once): a key of that name is where its value lives."""
    from .analyzers.crashloop import ENV_PATTERNS

    text = "\n".join(line for lines in snap.logs.values() for line in lines)
    if not any(p.search(text) for p in ENV_PATTERNS):
        return
    for attr in ("secrets", "configmaps"):
        store: dict[str, KeySet] = getattr(snap, attr)
        try:
            reader._count(page=True)
            items = reader.cluster.list_all(attr, reader.namespace, max_items=PAGE)
        except (Forbidden, OpsError):
            continue  # an optional hint: the fix then says the value is unknown
        for item in items:
            store.setdefault(name_of(item), _keyset(redact_obj({**item, "kind": "Secret"} if attr == "secrets" else item)))
