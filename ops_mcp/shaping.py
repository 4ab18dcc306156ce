"""Output shaping: turn API objects into compact rows, compact describes and short text.

Everything a tool returns passes through here, so token economy lives in one place:
- rows carry only what an operator reads in `kubectl get` (per-kind columns),
- describes drop managedFields, last-applied, uid/resourceVersion noise and empty fields,
- long strings are clipped, text tables are plain aligned columns.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Any, Iterable

MAX_STRING = 2_000  # longest single string value kept in a describe


def now() -> datetime:
    return datetime.now(timezone.utc)


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def age(value: str | None, ref: datetime | None = None) -> str:
    """'3d4h', '5m', '42s' like kubectl."""
    t = parse_time(value)
    if t is None:
        return "?"
    secs = max(0, int(((ref or now()) - t).total_seconds()))
    if secs < 120:
        return f"{secs}s"
    mins = secs // 60
    if mins < 120:
        return f"{mins}m"
    hours = mins // 60
    if hours < 48:
        return f"{hours}h{mins % 60}m" if hours < 10 and mins % 60 else f"{hours}h"
    return f"{hours // 24}d{hours % 24}h" if hours // 24 < 10 and hours % 24 else f"{hours // 24}d"


# -- pods ------------------------------------------------------------------------------------
def pod_state(pod: dict[str, Any]) -> tuple[str, str | None]:
    """(status as kubectl shows it, failure reason or None if the pod looks healthy)."""
    status = pod.get("status") or {}
    meta = pod.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return "Terminating", None
    phase = status.get("phase") or "Unknown"
    reason = None
    for cs in (status.get("initContainerStatuses") or []):
        st = cs.get("state") or {}
        if "waiting" in st and (st["waiting"] or {}).get("reason") not in (None, "PodInitializing"):
            return f"Init:{st['waiting'].get('reason')}", st["waiting"].get("reason")
        if "terminated" in st and (st["terminated"] or {}).get("exitCode", 0) != 0:
            return f"Init:{st['terminated'].get('reason') or 'Error'}", st["terminated"].get("reason") or "InitError"
    for cs in (status.get("containerStatuses") or []):
        st = cs.get("state") or {}
        if "waiting" in st and (st["waiting"] or {}).get("reason"):
            reason = st["waiting"]["reason"]
            return reason, reason
        if "terminated" in st and (st["terminated"] or {}).get("reason"):
            r = st["terminated"]["reason"]
            if r != "Completed":
                return r, r
            phase = r
    if phase == "Pending":
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                return "Pending", cond.get("reason") or "Unschedulable"
        return "Pending", "Pending"
    if phase == "Failed":
        return status.get("reason") or "Failed", status.get("reason") or "Failed"
    if phase == "Running":
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        if not ready and status.get("containerStatuses"):
            return "Running", "NotReady"
    return phase, None


def pod_ready(pod: dict[str, Any]) -> str:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    total = len(statuses) or len(((pod.get("spec") or {}).get("containers")) or [])
    return f"{sum(1 for c in statuses if c.get('ready'))}/{total}"


def pod_restarts(pod: dict[str, Any]) -> int:
    return sum(int(c.get("restartCount") or 0) for c in (pod.get("status") or {}).get("containerStatuses") or [])


# -- rows per kind ---------------------------------------------------------------------------
def _replicas(obj: dict[str, Any]) -> str:
    st = obj.get("status") or {}
    return f"{st.get('readyReplicas') or 0}/{(obj.get('spec') or {}).get('replicas', 0)}"


def row(kind: str, obj: dict[str, Any], ref: datetime | None = None) -> dict[str, Any]:
    """The compact row for one object (what `kubectl get` would show, minus noise)."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    r: dict[str, Any] = {"name": meta.get("name")}
    if meta.get("namespace"):
        r["namespace"] = meta["namespace"]
    if kind == "Pod":
        state, _ = pod_state(obj)
        r.update(ready=pod_ready(obj), status=state, restarts=pod_restarts(obj), node=spec.get("nodeName"))
    elif kind in ("Deployment", "StatefulSet"):
        r.update(ready=_replicas(obj), updated=status.get("updatedReplicas") or 0, available=status.get("availableReplicas") or 0)
    elif kind == "ReplicaSet":
        r.update(ready=_replicas(obj))
    elif kind == "DaemonSet":
        r.update(ready=f"{status.get('numberReady') or 0}/{status.get('desiredNumberScheduled') or 0}")
    elif kind == "Service":
        ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or [])
        r.update(type=spec.get("type"), cluster_ip=spec.get("clusterIP"), ports=ports)
    elif kind == "Job":
        r.update(completions=f"{status.get('succeeded') or 0}/{spec.get('completions', 1)}", failed=status.get("failed") or 0)
    elif kind == "CronJob":
        r.update(schedule=spec.get("schedule"), suspend=bool(spec.get("suspend")), last=age(status.get("lastScheduleTime"), ref) if status.get("lastScheduleTime") else None)
    elif kind in ("ConfigMap", "Secret"):
        r.update(keys=len((obj.get("data") or {})) + len(obj.get("binaryData") or {}))
        if kind == "Secret":
            r["type"] = obj.get("type")
    elif kind == "Node":
        ready = next((c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), "Unknown")
        r.update(ready=ready == "True", version=(status.get("nodeInfo") or {}).get("kubeletVersion"))
    elif kind == "Namespace":
        r.update(phase=status.get("phase"))
    elif kind == "PersistentVolumeClaim":
        r.update(phase=status.get("phase"), capacity=(status.get("capacity") or {}).get("storage"))
    elif kind == "Event":
        r.update(type=obj.get("type"), reason=obj.get("reason"), object=f"{(obj.get('involvedObject') or {}).get('kind')}/{(obj.get('involvedObject') or {}).get('name')}", message=clip(obj.get("message") or "", 200))
    elif kind == "Ingress":
        r.update(hosts=",".join(rule.get("host", "*") for rule in spec.get("rules") or []))
    elif kind == "HorizontalPodAutoscaler":
        r.update(min=spec.get("minReplicas"), max=spec.get("maxReplicas"), current=status.get("currentReplicas"))
    r["age"] = age(meta.get("creationTimestamp"), ref)
    return {k: v for k, v in r.items() if v is not None}


# -- describe --------------------------------------------------------------------------------
_DROP_META = ("managedFields", "uid", "resourceVersion", "generation", "selfLink")


def compact_object(obj: dict[str, Any]) -> dict[str, Any]:
    """A describe-sized copy: no managedFields, no last-applied, no empty fields, clipped strings."""
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    for key in _DROP_META:
        meta.pop(key, None)
    ann = {k: v for k, v in (meta.get("annotations") or {}).items() if k != "kubectl.kubernetes.io/last-applied-configuration" and not k.startswith("deployment.kubernetes.io/revision-history")}
    if ann:
        meta["annotations"] = ann
    else:
        meta.pop("annotations", None)
    out["metadata"] = meta
    return _prune(out)


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, {}, [], "")}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    if isinstance(value, str):
        return clip(value, MAX_STRING)
    return value


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"...[+{len(text) - limit} chars]"


# -- events ----------------------------------------------------------------------------------
def event_time(ev: dict[str, Any]) -> str | None:
    return ev.get("lastTimestamp") or ev.get("eventTime") or (ev.get("series") or {}).get("lastObservedTime") or ev.get("firstTimestamp") or (ev.get("metadata") or {}).get("creationTimestamp")


def aggregate_events(events: Iterable[dict[str, Any]], ref: datetime | None = None) -> list[dict[str, Any]]:
    """Group events by (type, reason, object, message): count and last seen, newest first."""
    groups: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for ev in events:
        inv = ev.get("involvedObject") or ev.get("regarding") or {}
        key = (ev.get("type") or "", ev.get("reason") or "", f"{inv.get('kind')}/{inv.get('name')}", ev.get("message") or ev.get("note") or "")
        count = int(ev.get("count") or (ev.get("series") or {}).get("count") or 1)
        when = event_time(ev) or ""
        g = groups.get(key)
        if g is None:
            groups[key] = {"type": key[0], "reason": key[1], "object": key[2], "message": clip(key[3], 300), "count": count, "_last": when}
        else:
            g["count"] += count
            g["_last"] = max(g["_last"], when)
    rows = sorted(groups.values(), key=lambda g: g["_last"], reverse=True)
    for g in rows:
        g["last_seen"] = age(g.pop("_last"), ref) + " ago" if g.get("_last") else "?"
    return rows


# -- text ------------------------------------------------------------------------------------
def table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """Plain aligned columns (UPPERCASE header), the cheapest readable form for a model."""
    if not rows:
        return "(none)"
    cols = columns or list(dict.fromkeys(k for r in rows for k in r))
    cells = [[str(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(cols, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def to_yaml(obj: Any) -> str:
    """YAML text for a model to read; libyaml's C emitter when present (the pure-Python one is ~10x slower)."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(obj, Dumper=dumper, sort_keys=False, width=120, default_flow_style=False)


def counts(values: Iterable[str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in Counter(values).most_common())
