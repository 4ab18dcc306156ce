"""Output shaping: turn API answers into compact rows, compact describes and short text.

Everything a tool returns passes through here, so token economy lives in one place:
- rows are the API server's own Table (the columns `kubectl get` prints, rendered server-side,
  so a list reads a fraction of the objects' bytes), empty cells left out,
- describes drop managedFields, last-applied, uid/resourceVersion noise, empty fields and the values the API
  server fills in when a manifest leaves them out (Kubernetes' defaults), as YAML,
- long strings are clipped, text tables are plain aligned columns,
- log lines that repeat one message (the same line but for its numbers: timestamps, counters, ids) are folded.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ops_mcp.errors import Expired

MAX_STRING = 2_000  # longest single string value kept in a describe


def now() -> datetime:
    return datetime.now(UTC)


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


# -- rows: the API server's own table ----------------------------------------------------------
# Columns kubectl shows only with -o wide that an operator still wants in the compact form.
WIDE_COLUMNS = {"Pod": ("Node",)}
_NONE = (None, "", "<none>", "<unknown>")


def column_key(name: str) -> str:
    """'Cluster-IP' -> 'cluster_ip', 'Port(s)' -> 'ports', 'Last Seen' -> 'last_seen'."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower().replace("(s)", "s")).strip("_")


def table_rows(tbl: dict[str, Any], kind: str = "", namespace: str | None = None, own_namespace: bool = True) -> list[dict[str, Any]]:
    """Compact rows from a meta.k8s.io Table: its default columns (+ WIDE_COLUMNS), empty cells left out.

    `namespace` labels every row (one namespace of several); with own_namespace, rows that carry
    object metadata (a cluster-wide list) get their own namespace. A pod whose metadata has a
    deletion timestamp is "Terminating" whatever its phase (kubectl prints Error/Completed for a
    terminal pod being deleted).
    """
    wide = WIDE_COLUMNS.get(kind, ())
    cols = [(i, column_key(c.get("name", ""))) for i, c in enumerate(tbl.get("columnDefinitions") or []) if not c.get("priority") or c.get("name") in wide]
    rows = []
    for r in tbl.get("rows") or []:
        cells = r.get("cells") or []
        row = {key: clip(v, 200) if isinstance(v, str) else v for i, key in cols if i < len(cells) and (v := cells[i]) not in _NONE}
        meta = (r.get("object") or {}).get("metadata") or {}
        if kind == "Pod" and meta.get("deletionTimestamp"):
            row["status"] = "Terminating"
        ns = (own_namespace and meta.get("namespace")) or namespace
        if ns:
            row = {"name": row.pop("name", None), "namespace": ns, **row}
        rows.append(row)
    return rows


def pod_row_problem(row: dict[str, Any]) -> str | None:
    """Why a pod table row looks unhealthy (kubectl's STATUS, or NotReady), None if it is fine."""
    status = str(row.get("status") or "Unknown")
    if status in ("Completed", "Succeeded", "Terminating"):
        return None
    if status == "Running":
        ready, _, total = str(row.get("ready") or "0/0").partition("/")
        return "NotReady" if ready != total else None
    return status


# STATUS values the API server's pod printer gives only a pod that has not ended (phase Pending or Running): the
# phase, or a waiting container's reason (kubelet's), also behind "Init:". Such a pod being deleted already prints
# "Terminating"; an ended pod being deleted prints how it ended (Error, OOMKilled, Evicted, ...), so only rows
# outside this set need the pods' metadata to tell. A value not listed costs that second read, never a wrong row.
LIVE_POD_STATUSES = frozenset(
    {
        "Running",
        "Pending",
        "Terminating",
        "SchedulingGated",
        "ContainerCreating",
        "PodInitializing",
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "PreStartHookError",
        "PostStartHookError",
    }
)


def may_have_ended(row: dict[str, Any]) -> bool:
    """Whether an unhealthy pod row could be an ended pod being deleted (which its STATUS cell does not say)."""
    status = str(row.get("status") or "Unknown")
    return pod_row_problem(row) is not None and status not in LIVE_POD_STATUSES and status.removeprefix("Init:") not in LIVE_POD_STATUSES


def pod_rows(fetch: Any, namespace: str | None = None, own_namespace: bool = True) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(table, rows) of pods from fetch(with_metadata=...): rendered cells only, and once more with
    metadata when some row could be an ended pod being deleted, so that it reads as Terminating."""
    tbl = fetch(with_metadata=False)
    rows = table_rows(tbl, "Pod", namespace, own_namespace)
    if any(may_have_ended(r) for r in rows):
        tbl = fetch(with_metadata=True)
        rows = table_rows(tbl, "Pod", namespace, own_namespace)
    return tbl, rows


@dataclass
class PodTally:
    """Failing and terminating pods over every page of a namespace's pods (get_app_status)."""

    terminating: int = 0
    reasons: Counter = field(default_factory=Counter)  # every failing pod's reason
    failing: list[dict[str, Any]] = field(default_factory=list)  # the first `keep` of them, as rows


def tally_pods(fetch: Any, keep: int = 20) -> PodTally:
    """Walk the pods' Table page by page, fetch(with_metadata=..., continue_token=...) -> one page, holding one
    page at a time: a namespace of 100k pods is read in pages rather than as one Table the API server
    cannot render within a request's timeout."""
    try:
        return _tally_walk(fetch, keep)
    except Expired:  # the walk outlived its list snapshot: once more from the top
        return _tally_walk(fetch, keep)


def _tally_walk(fetch: Any, keep: int) -> PodTally:
    tally, token = PodTally(), None
    while True:
        page, rows = pod_rows(functools.partial(fetch, continue_token=token))  # the same token again: the same page
        for r in rows:
            if r.get("status") == "Terminating":
                tally.terminating += 1
            elif reason := pod_row_problem(r):
                tally.reasons[reason] += 1
                if len(tally.failing) < keep:
                    tally.failing.append(
                        {"name": r["name"], "status": r.get("status", "Unknown"), "reason": reason, "restarts": leading_int(r.get("restarts"))}
                    )
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return tally


def leading_int(value: Any) -> int:
    """The count in a table cell such as '5 (2m ago)'."""
    m = re.match(r"\s*(\d+)", str(value))
    return int(m.group(1)) if m else 0


# -- describe --------------------------------------------------------------------------------
_DROP_META = ("managedFields", "uid", "resourceVersion", "generation", "selfLink")


def compact_object(obj: dict[str, Any]) -> dict[str, Any]:
    """A describe-sized copy: no managedFields, no last-applied, no empty fields, no defaults, clipped strings."""
    out = copy.deepcopy(obj)
    meta = dict(out.get("metadata") or {})
    for key in _DROP_META:
        meta.pop(key, None)
    ann = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if k != "kubectl.kubernetes.io/last-applied-configuration" and not k.startswith("deployment.kubernetes.io/revision-history")
    }
    if ann:
        meta["annotations"] = ann
    else:
        meta.pop("annotations", None)
    if meta.get("generateName") and str(meta.get("name", "")).startswith(meta["generateName"]):
        meta.pop("generateName")
    meta["ownerReferences"] = [{k: v for k, v in ref.items() if k not in ("uid", "blockOwnerDeletion")} for ref in meta.get("ownerReferences") or []]
    out["metadata"] = meta
    _drop_defaults(out)
    return _prune(out)


# Kubernetes' defaults: what the API server writes into an object whose manifest left the field out. They tell a
# reader nothing (every object has them), so a describe leaves them out; a value set to anything else stays.
POD_SPEC_DEFAULTS = {
    "restartPolicy": "Always",
    "terminationGracePeriodSeconds": 30,
    "dnsPolicy": "ClusterFirst",
    "schedulerName": "default-scheduler",
    "serviceAccountName": "default",
    "priority": 0,
    "enableServiceLinks": True,
    "preemptionPolicy": "PreemptLowerPriority",
}
CONTAINER_DEFAULTS = {"terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}
PROBE_DEFAULTS = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
# Added to every pod by the DefaultTolerationSeconds admission plugin.
DEFAULT_TOLERATIONS = [
    {"key": f"node.kubernetes.io/{key}", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300} for key in ("not-ready", "unreachable")
]
WORKLOAD_DEFAULTS = {"revisionHistoryLimit": 10, "progressDeadlineSeconds": 600}
SERVICE_DEFAULTS = {"sessionAffinity": "None", "internalTrafficPolicy": "Cluster", "ipFamilyPolicy": "SingleStack"}


def _drop_equal(obj: dict[str, Any], defaults: dict[str, Any]) -> None:
    for key, value in defaults.items():
        if key in obj and obj[key] == value:
            del obj[key]


def _pod_spec_of(obj: dict[str, Any]) -> dict[str, Any] | None:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "Pod":
        return spec
    if obj.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return (spec.get("template") or {}).get("spec")


def _drop_pod_spec_defaults(spec: dict[str, Any]) -> None:
    if spec.get("serviceAccount") == spec.get("serviceAccountName"):
        spec.pop("serviceAccount", None)  # the deprecated twin of serviceAccountName
    _drop_equal(spec, POD_SPEC_DEFAULTS)
    spec["tolerations"] = [t for t in spec.get("tolerations") or [] if t not in DEFAULT_TOLERATIONS]
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or []:
            _drop_equal(c, CONTAINER_DEFAULTS)
            image = str(c.get("image", "")).rsplit("/", 1)[-1]
            pinned = "@" in image or (":" in image and not image.endswith(":latest"))
            if c.get("imagePullPolicy") == ("IfNotPresent" if pinned else "Always"):
                del c["imagePullPolicy"]
            for port in c.get("ports") or []:
                _drop_equal(port, {"protocol": "TCP"})
            for probe in (c.get(k) for k in ("livenessProbe", "readinessProbe", "startupProbe")):
                if isinstance(probe, dict):
                    _drop_equal(probe, PROBE_DEFAULTS)
                    _drop_equal(probe.get("httpGet") or {}, {"scheme": "HTTP"})


def _drop_pod_status_noise(obj: dict[str, Any]) -> None:
    status = obj.get("status") or {}
    status.pop("observedGeneration", None)
    for key, single in (("hostIPs", "hostIP"), ("podIPs", "podIP")):
        if status.get(key) == [{"ip": status.get(single)}]:
            del status[key]
    for cond in status.get("conditions") or []:
        cond.pop("observedGeneration", None)
    resources = {
        c.get("name"): c.get("resources") or {}
        for c in ((obj.get("spec") or {}).get("initContainers") or []) + ((obj.get("spec") or {}).get("containers") or [])
    }
    for key in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
        for cs in status.get(key) or []:
            cs.pop("containerID", None)  # the runtime's id; the image and the restart count identify a run
            for state in (cs.get("state") or {}, cs.get("lastState") or {}):
                for detail in state.values():
                    if isinstance(detail, dict):
                        detail.pop("containerID", None)
            wanted = resources.get(cs.get("name"), {})
            if cs.get("resources") == wanted:
                cs.pop("resources")
            if cs.get("allocatedResources") == wanted.get("requests"):
                cs.pop("allocatedResources", None)


def _drop_defaults(obj: dict[str, Any]) -> None:
    """Kubernetes' defaults out of a (copied) object, in place: pod specs wherever they are, pod status noise,
    workload and Service defaults."""
    spec = _pod_spec_of(obj)
    if isinstance(spec, dict):
        _drop_pod_spec_defaults(spec)
    kind = obj.get("kind")
    if kind == "Pod":
        _drop_pod_status_noise(obj)
    elif kind in ("Deployment", "StatefulSet", "DaemonSet"):
        _drop_equal(obj.get("spec") or {}, WORKLOAD_DEFAULTS)
    elif kind == "Service":
        svc = obj.get("spec") or {}
        _drop_equal(svc, SERVICE_DEFAULTS)
        if svc.get("clusterIPs") == [svc.get("clusterIP")]:
            del svc["clusterIPs"]
        if svc.get("ipFamilies") == ["IPv4"]:
            del svc["ipFamilies"]
        for port in svc.get("ports") or []:
            _drop_equal(port, {"protocol": "TCP"})


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
    return (
        ev.get("lastTimestamp")
        or ev.get("eventTime")
        or (ev.get("series") or {}).get("lastObservedTime")
        or ev.get("firstTimestamp")
        or (ev.get("metadata") or {}).get("creationTimestamp")
    )


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
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(cols, widths, strict=False)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=False)).rstrip() for row in cells]
    return "\n".join(lines)


def to_yaml(obj: Any) -> str:
    """Block-style YAML of JSON-like data (what `kubectl get -o yaml` looks like), for a model to read.

    Written here rather than with PyYAML's dumper because its pure-Python representer was the
    largest CPU cost of a describe (1.4 ms of ~3 ms for one pod). Strings that are not plainly
    strings to a YAML reader are written JSON-quoted, which is valid YAML; yaml.safe_load of the
    output gives back the input (tests/ops/test_ops_units.py checks that on tricky values).
    """
    out: list[str] = []
    _yaml_block(obj, "", out)
    return "\n".join(out) + "\n"


def _yaml_block(value: Any, pad: str, out: list[str]) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            key = _yaml_scalar(str(k))
            if _yaml_nested(v):
                out.append(f"{pad}{key}:")
                _yaml_block(v, pad if isinstance(v, list) else pad + "  ", out)  # lists sit at their key's indent
            else:
                out.append(f"{pad}{key}: {_yaml_scalar(v)}")
    elif isinstance(value, list) and value:
        for item in value:
            if not _yaml_nested(item):
                out.append(f"{pad}- {_yaml_scalar(item)}")
                continue
            inner: list[str] = []
            _yaml_block(item, pad + "  ", inner)
            out.append(f"{pad}- {inner[0][len(pad) + 2 :]}")  # the first line shares the dash
            out.extend(inner[1:])
    else:
        out.append(pad + _yaml_scalar(value))


def _yaml_nested(value: Any) -> bool:
    return isinstance(value, (dict, list)) and bool(value)


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return ".nan" if value != value else ("-.inf" if value < 0 else ".inf")
        text = repr(value)
        return text.replace("e", ".0e") if "e" in text and "." not in text else text  # YAML 1.1 floats need a dot
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _yaml_str(str(value))


# Plain (unquoted) only for a conservative character set; the YAML resolver then rules out
# strings that would read back as something else (true, no, 1.5, 0x1F, 2026-01-01, null, ~).
_YAML_PLAIN = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./@+=,()-]*(?:[: ][A-Za-z0-9_./@+=,()-]+)*")


@functools.lru_cache(maxsize=8192)
def _yaml_str(text: str) -> str:
    if _YAML_PLAIN.fullmatch(text) and _yaml_reads_as_str(text):
        return text
    # Raw non-ASCII reads better; the line breaks YAML knows beyond \n stay escaped.
    return json.dumps(text, ensure_ascii=any(ch in text for ch in "\x85\u2028\u2029\ufeff"))


def _yaml_reads_as_str(text: str) -> bool:
    import yaml

    return yaml.SafeLoader.resolve(yaml.SafeLoader, yaml.ScalarNode, text, (True, False)) == "tag:yaml.org,2002:str"


def counts(values: Iterable[str]) -> str:  # values, or a Counter of them
    return ", ".join(f"{k}={v}" for k, v in Counter(values).most_common())


# A log message is its line with the numbers masked: timestamps, counters, durations, ports, UUIDs, hex ids, pod hashes.
_LOG_VARIABLE = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}|0x[0-9a-fA-F]+|\b[0-9a-f]{7,}\b|\d+")
FOLD_MIN = 4  # a message seen this often in one log is folded: its first two lines and its last stay


def fold_repeats(lines: list[str]) -> tuple[list[str], int]:
    """The lines with each often-repeated message folded, and how many lines were folded away.

    A message (the line with its numbers masked) that occurs FOLD_MIN times or more keeps its first two lines (the
    pattern) and its last one (where it ended); the lines between go, each run of them replaced by one marker line.
    Lines of other messages keep their places, so the order of what happened stays readable.
    """
    messages = [_LOG_VARIABLE.sub("#", line) for line in lines]
    total = Counter(messages)
    last = {m: i for i, m in enumerate(messages)}
    seen: Counter[str] = Counter()
    out: list[str] = []
    run: list[str] = []
    folded = 0
    for i, (line, message) in enumerate(zip(lines, messages, strict=True)):
        seen[message] += 1
        if total[message] >= FOLD_MIN and seen[message] > 2 and i != last[message] and len(message.strip()) > 3:
            run.append(line)
            continue
        if len(run) > 1:
            out.append(f"[... {len(run)} repeated lines folded]")
            folded += len(run)
        else:  # one line costs no more than its marker
            out += run
        run = []
        out.append(line)
    return out, folded  # no run is left open: the last line is its message's last, so it always stays
