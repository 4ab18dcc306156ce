"""Wrong probes: which of a container's probes fail, and the port and path the container answers instead.

The builder asks the container itself, read-only, through the API server's pod proxy (`plan` says what to ask,
a few GETs with short timeouts); the answers sit in `Snapshot.http` and `repair` reads them. Pure otherwise.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from .snapshot import Obj, Snapshot, meta, name_of

PROBES = {"startupProbe": "Startup", "livenessProbe": "Liveness", "readinessProbe": "Readiness"}
CANDIDATE_PATHS = ("/healthz", "/health", "/ready", "/readyz", "/livez", "/")
MAX_PORTS = 2  # declared ports asked per container
MAX_CALLS = 10  # proxy GETs per diagnosis
BACK_OFF = re.compile(r"back-off (?:(\d+)m)?(\d+)s")  # the kubelet's waiting message: "back-off 20s restarting failed container=..."


def port_number(port: Any, declared: list[Obj]) -> Any:
    """A probe port as a number (a named port resolved against the declared ones; unknown names stay names)."""
    return next((p.get("containerPort") for p in declared if isinstance(port, str) and p.get("name") == port), port)


def declared_ports(cspec: Obj) -> list[Obj]:
    return [p for p in cspec.get("ports") or [] if p.get("containerPort") and p.get("protocol", "TCP") == "TCP"]


def handler(probe: Obj) -> str | None:
    return "httpGet" if probe.get("httpGet") else "tcpSocket" if probe.get("tcpSocket") else None


def port_problem(probe: Obj, cspec: Obj) -> str | None:
    port = (probe.get("httpGet") or probe.get("tcpSocket") or {}).get("port")
    declared = cspec.get("ports") or []
    if isinstance(port, str) and port not in {p.get("name") for p in declared}:
        return f"probe port {port!r} is not a declared container port name"
    if isinstance(port, int) and declared and port not in {p.get("containerPort") for p in declared}:
        return f"probe port {port} is not among the container ports {[p.get('containerPort') for p in declared]}"
    return None


def summary(probe: Obj) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if probe.get("httpGet"):
        out["httpGet"] = {k: probe["httpGet"][k] for k in ("path", "port") if k in probe["httpGet"]}
    elif probe.get("tcpSocket"):
        out["tcpSocket"] = probe["tcpSocket"].get("port")
    elif probe.get("exec"):
        out["exec"] = probe["exec"].get("command")
    for key in ("initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold"):
        if key in probe:
            out[key] = probe[key]
    return out


def failure_messages(snap: Snapshot, pod: Obj, key: str) -> list[str]:
    """Messages of the kubelet's Unhealthy events for one kind of probe of the pod (any container, any time)."""
    word = PROBES[key].lower() + " probe"
    return [e.get("message") or "" for e in snap.events_for("Pod", pod) if e.get("reason") == "Unhealthy" and word in (e.get("message") or "").lower()]


def refused(failure: str) -> bool:
    """Nothing listened on the probe's port. A run's messages also hold the refusals of a (re)starting container:
    once the port answered with a status code, the port is right and the path is what fails."""
    return ("connection refused" in failure or "connect: " in failure) and "statuscode:" not in failure


def runs_containers(snap: Snapshot, pod: Obj) -> bool:
    """The pod's node is a real kubelet: known, and not a simulated (KWOK) node, whose pod IPs lead nowhere."""
    node = snap.by_name("nodes", (pod.get("spec") or {}).get("nodeName") or "")
    return node is not None and (meta(node).get("annotations") or {}).get("kwok.x-k8s.io/node") != "fake"


def failing_http_probes(snap: Snapshot, pod: Obj, cspec: Obj) -> dict[str, str]:
    """The container's HTTP probes that the kubelet reported failing, each with its failure messages."""
    failing = {k: " ".join(failure_messages(snap, pod, k)) for k in PROBES if (cspec.get(k) or {}).get("httpGet")}
    return {k: v for k, v in failing.items() if v}


def next_run_in(snap: Snapshot, pod: Obj, now: datetime | None = None) -> float | None:
    """Seconds until the kubelet runs again a container that is in back-off and has a failing HTTP probe (only a
    running container can be asked which path answers); None when no such container."""
    now = now or snap.now
    soonest = None
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        finished = ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        match = BACK_OFF.search(waiting.get("message") or "")
        cspec = next((c for c in (pod.get("spec") or {}).get("containers") or [] if c.get("name") == cs.get("name")), {})
        if waiting.get("reason") != "CrashLoopBackOff" or not match or not finished or not failing_http_probes(snap, pod, cspec):
            continue
        delay = int(match.group(1) or 0) * 60 + int(match.group(2))
        left = (datetime.fromisoformat(finished.replace("Z", "+00:00")) - now).total_seconds() + delay
        soonest = max(left, 0.0) if soonest is None else min(soonest, max(left, 0.0))
    return soonest


def plan(snap: Snapshot, pods: list[Obj]) -> list[tuple[str, int, list[str]]]:
    """(pod, port, paths in the order to try) for running containers with a failing HTTP probe: each declared port,
    first the paths the container's other probes use (not known to fail there), then the usual health paths."""
    out: list[tuple[str, int, list[str]]] = []
    seen: set[tuple[str, str]] = set()
    for pod in pods:
        if meta(pod).get("deletionTimestamp") or (pod.get("status") or {}).get("phase") != "Running" or not runs_containers(snap, pod):
            continue
        owner = next((o.get("name", "") for o in meta(pod).get("ownerReferences") or []), name_of(pod))
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            cspec = next((c for c in (pod.get("spec") or {}).get("containers") or [] if c.get("name") == cs.get("name")), {})
            failing = failing_http_probes(snap, pod, cspec)
            if not failing or "running" not in (cs.get("state") or {}) or (owner, cs["name"]) in seen:
                continue
            seen.add((owner, cs["name"]))
            declared = declared_ports(cspec)
            for port in [p["containerPort"] for p in declared][:MAX_PORTS]:
                bad, first = set(), []
                for key in PROBES:
                    http = (cspec.get(key) or {}).get("httpGet")
                    if not http or port_number(http.get("port"), declared) != port and key not in failing:
                        continue
                    path = http.get("path", "/")
                    same_port = port_number(http.get("port"), declared) == port
                    if key in failing and same_port and not refused(failing[key]):
                        bad.add(path)  # answered on this very port with a failing status
                    elif path not in first:
                        first.append(path)
                paths = [p for p in first + [c for c in CANDIDATE_PATHS if c not in first] if p not in bad]
                out.append((name_of(pod), port, paths))
    return out


def answered(snap: Snapshot, pod: str, port: int) -> tuple[bool, str | None]:
    """(checked, the first path that answered 2xx/3xx on the port)."""
    key = f"{pod}:{port}"
    return key in snap.http, snap.http.get(key)


def repair(snap: Snapshot, pod: Obj, cspec: Obj, key: str, failure: str, passing: list[Obj]) -> tuple[dict[str, Any], str] | str:
    """The fields of one wrong probe to change ({"httpGet/port": 8080, "httpGet/path": "/healthz"}) and why; or, when
    what the container answers is not known, a text saying so with the candidates."""
    probe = cspec.get(key) or {}
    kind = handler(probe)
    if kind is None:
        return "an exec probe: check its command by hand"
    port, declared = probe[kind].get("port"), declared_ports(cspec)
    number, undeclared = port_number(port, declared), port_problem(probe, cspec) is not None
    changes: dict[str, Any] = {}
    why: list[str] = []
    if undeclared or refused(failure):
        others = [p for p in declared if p["containerPort"] != number]
        used = [p for p in others if any(port_number((handler(q) and q[handler(q)] or {}).get("port"), declared) == p["containerPort"] for q in passing)]
        asked = [p for p in others if answered(snap, name_of(pod), p["containerPort"])[1]]
        # a port another passing probe uses, or the one the container answered on, or the only other declared one
        pick = used[0] if len(used) == 1 else asked[0] if len(asked) == 1 else others[0] if undeclared and len(others) == 1 else None
        if pick is None:
            return f"nothing answers on {port}; candidates: the declared ports {[p['containerPort'] for p in declared]}"
        changes[f"{kind}/port"] = pick["name"] if isinstance(port, str) and pick.get("name") else pick["containerPort"]
        problem = f"nothing listens on {port}" if refused(failure) else f"{port} is not a declared container port"
        seen = " and another probe of it passes there" if pick in used else ""
        why.append(f"{problem}, the container declares {pick['containerPort']}{seen}")
        number = pick["containerPort"]
    if kind == "httpGet":
        path = probe["httpGet"].get("path", "/")
        checked, found = answered(snap, name_of(pod), number)
        if checked and found:
            if found != path:
                changes["httpGet/path"] = found
                why.append(f"{path} fails")
        elif checked:
            return f"no usual health path answers on {number} (tried {', '.join(CANDIDATE_PATHS)}): the app's health endpoint is unknown"
        elif not changes:  # not asked (container not running): a path a passing probe uses on the same port
            paths = {q["httpGet"].get("path", "/") for q in passing if q.get("httpGet") and port_number(q["httpGet"].get("port"), declared) == number}
            paths.discard(path)
            if len(paths) != 1 or "statuscode: 404" not in failure:
                state = next(
                    (cs.get("state") or {} for cs in (pod.get("status") or {}).get("containerStatuses") or [] if cs.get("name") == cspec.get("name")), {}
                )
                now = next(iter(state), "unknown") + (f" ({state['waiting'].get('reason')})" if state.get("waiting") else "")
                left = next_run_in(snap, pod)
                when = f"diagnose again in {round(left) + 3} s, while it runs" if left is not None else "diagnose again while it runs"
                return f"{path} fails and the container could not be asked which path answers (it was {now}; {when}); candidates: {', '.join(CANDIDATE_PATHS)}"
            changes["httpGet/path"] = paths.pop()
            why.append(f"{path} answers 404; {changes['httpGet/path']} on the same port answers another probe of this container")
    return changes, "; ".join(why)


def fix(snap: Snapshot, owner: str, pod: Obj, cspec: Obj, base: str, wrong: dict[str, str], passing: list[Obj]) -> dict[str, Any]:
    """One fix for every wrong probe of a container (`wrong`: probe key -> the kubelet's failure messages): a single
    JSON patch of all of them, applied with one patch_resource call; nothing to apply while any of them is unknown."""
    from . import fixes  # fixes -> base -> scope: imported on use to keep this module's imports light

    ops: list[dict[str, Any]] = []
    whys, unknown, helm_set, asked = [], [], {}, set()
    for key, failure in wrong.items():
        result = repair(snap, pod, cspec, key, failure, passing)
        name = PROBES[key].lower() + " probe"
        if isinstance(result, str):
            unknown.append(f"{name}: {result}")
            continue
        changes, why = result
        port = changes.get(f"{handler(cspec[key])}/port", (cspec[key].get("httpGet") or {}).get("port"))
        number = port_number(port, declared_ports(cspec))
        found = answered(snap, name_of(pod), number)[1]
        if found and "httpGet" in cspec[key]:
            asked.add(f"GET {found} on {number} answers")
        for field, value in changes.items():
            ops.append({"op": "replace", "path": f"{base}/{key}/{field}", "value": value})
            helm_set[f"{key}.{field.replace('/', '.')}"] = str(value)
        if changes:
            what = ", ".join(f"{field.split('/')[-1]} at {value}" for field, value in changes.items())
            whys.append(f"the {name}'s {what}" + (f" ({why})" if why else ""))
    if unknown or not ops:
        known = f"; known: {'; '.join(whys)}" if whys else ""
        return fixes.make(
            snap, owner, "Unknown what the container answers: " + "; ".join(unknown or ["no probe change found"]) + known, None, verify=False, mutates=False
        )
    do = "Point " + "; ".join(whys) + (f"; {', '.join(sorted(asked))} (asked through the pod proxy)" if asked else "") + "; do not just remove the probes"
    return fixes.make(snap, owner, do, helm_set=helm_set, apply=[fixes.patch_step(snap, owner, ops, "json")])
