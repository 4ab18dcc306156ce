"""Containers that run but never become Ready (readiness probe failing), without restarting; and pods still starting."""

from __future__ import annotations

from .. import fixes, probes
from ..base import Context, Issue, container_spec, live_pods, spec_path
from ..snapshot import Obj, name_of, parse_time
from .crashloop import between_liveness_kills, is_crashing

check = "readiness"
needs = ("pods",)


def analyze(ctx: Context) -> list[Issue]:
    issues = []
    crashloop_reports = ctx.options.checks is None or "crashloop" in ctx.options.checks
    for pod in live_pods(ctx.scope.pods):
        status = pod.get("status") or {}
        starting = _starting(ctx, pod)
        if starting:
            issues.append(starting)
            continue
        if status.get("phase") != "Running":
            continue
        for cs in status.get("containerStatuses") or []:
            if cs.get("ready") or "running" not in (cs.get("state") or {}):
                continue
            cspec = container_spec(pod.get("spec") or {}, cs["name"])
            probe = cspec.get("readinessProbe")
            events = [e for e in ctx.events("Pod", pod, reasons=("Unhealthy",)) if "readiness probe" in e["msg"].lower()]
            if not probe and not events:
                continue
            if cs.get("started") is False and cspec.get("startupProbe"):
                continue  # still in its startup window
            if crashloop_reports and (is_crashing(cs) or between_liveness_kills(ctx, pod, cs)):
                continue  # the crash-loop finding reports (and fixes) this probe with the one that kills
            issues.append(_issue(ctx, pod, cs, cspec, probe or {}, events))
    return issues


def _issue(ctx, pod, cs, cspec, probe, events) -> Issue:
    cname, owner, pname = cs["name"], ctx.owner(pod), name_of(pod)
    sp = spec_path(owner.split("/", 1)[0])
    base = f"status.containerStatuses[{cname}]"
    ev = [
        {"p": f"{base}.ready", "v": False},
        {"p": f"{base}.restartCount", "v": cs.get("restartCount", 0)},
        {"p": f"{sp}.containers[{cname}].readinessProbe", "v": probes.summary(probe)},
    ]
    ev += [ctx.event_ev(e) for e in events[:1]]
    port_problem = probes.port_problem(probe, cspec)
    if events:
        text = f"Readiness probe fails ({events[0]['msg'][:140]}); the container runs but gets no traffic"
    else:
        text = "The container runs but its readiness probe has not passed"
    if port_problem:
        text += f"; {port_problem}"
    index = next((i for i, c in enumerate((pod.get("spec") or {}).get("containers") or []) if c.get("name") == cname), 0)
    # The liveness and startup probes pass while the container runs unrestarted (and started).
    alive = not any("liveness probe" in e["msg"].lower() for e in ctx.events("Pod", pod, reasons=("Unhealthy",)))
    passing = [cspec[k] for k in ("livenessProbe", "startupProbe") if cspec.get(k) and alive and cs.get("started") and not cs.get("restartCount")]
    base = f"/{sp.replace('.', '/')}/containers/{index}"
    fix = probes.fix(ctx.snap, owner, pod, cspec, base, {"readinessProbe": " ".join(e["msg"] for e in events)}, passing)
    if not fix.get("apply"):
        fix["do"] += " (or fix the dependency the app waits for)"
    issue = Issue(
        mode="readiness.failing",
        obj=f"Pod/{pname}",
        owner=owner,
        container=cname,
        ev=ev,
        subjects={f"Pod/{pname}", owner},
        cause={"text": text, "conf": "high" if port_problem or events else "medium", "basis": list(range(len(ev)))},
        fix=fix,
    )
    issue.next.append(fixes.kubectl(ctx.ns, "logs", pname, "-c", cname, "--tail=50"))
    return issue


PULL_WAIT = 10  # seconds to suggest while an image is being pulled


def _starting(ctx: Context, pod: Obj) -> Issue | None:
    """A pod whose containers have not restarted and are only still starting: creating or pulling the image, inside
    the startup probe's window, or inside the readiness probe's first checks with no failure yet."""
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    if not (pod.get("spec") or {}).get("nodeName") or not statuses or all(cs.get("ready") for cs in statuses):
        return None
    if any(cs.get("restartCount") for cs in statuses) or any(e["type"] == "Warning" for e in ctx.events("Pod", pod)):
        return None
    waits: list[tuple[str, int]] = []
    for cs in statuses:
        if cs.get("ready"):
            continue
        state, cspec = cs.get("state") or {}, container_spec(pod.get("spec") or {}, cs["name"])
        reason = (state.get("waiting") or {}).get("reason")
        if reason in ("ContainerCreating", "PodInitializing"):
            pulling = ctx.events("Pod", pod, reasons=("Pulling",))
            waits.append((f"{cs['name']}: pulling its image" if pulling else f"{cs['name']}: being created", PULL_WAIT))
            continue
        started = parse_time((state.get("running") or {}).get("startedAt"))
        key = "startupProbe" if cs.get("started") is False and cspec.get("startupProbe") else "readinessProbe"
        probe = cspec.get(key)
        if not started or not probe:
            return None
        window = probe.get("initialDelaySeconds", 0) + probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)
        left = int(window - (ctx.snap.now - started).total_seconds())
        if left <= 0:
            return None
        waits.append((f"{cs['name']}: inside its {key[:-5]} probe's first {window} s", left))
    if not waits:
        return None
    owner, pname = ctx.owner(pod), name_of(pod)
    seconds = max(w for _, w in waits)
    return Issue(
        mode="pod.starting",
        obj=f"Pod/{pname}",
        owner=owner,
        sev="low",
        ev=[{"p": f"status.containerStatuses[{cs['name']}].state", "v": cs.get("state")} for cs in statuses if not cs.get("ready")][:2],
        subjects={f"Pod/{pname}", owner},
        cause={"text": f"Starting ({'; '.join(w for w, _ in waits)}), check again in {seconds} s", "conf": "medium", "basis": [0]},
    )
