"""Containers that run but never become Ready (readiness probe failing), without restarting."""

from __future__ import annotations

from .. import fixes
from ..base import Context, Issue, container_spec, live_pods, spec_path
from ..snapshot import name_of
from .crashloop import _probe_port_problem, _probe_summary, probe_fix

check = "readiness"
needs = ("pods",)


def analyze(ctx: Context) -> list[Issue]:
    issues = []
    for pod in live_pods(ctx.scope.pods):
        status = pod.get("status") or {}
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
            issues.append(_issue(ctx, pod, cs, cspec, probe or {}, events))
    return issues


def _issue(ctx, pod, cs, cspec, probe, events) -> Issue:
    cname, owner, pname = cs["name"], ctx.owner(pod), name_of(pod)
    sp = spec_path(owner.split("/", 1)[0])
    base = f"status.containerStatuses[{cname}]"
    ev = [
        {"p": f"{base}.ready", "v": False},
        {"p": f"{base}.restartCount", "v": cs.get("restartCount", 0)},
        {"p": f"{sp}.containers[{cname}].readinessProbe", "v": _probe_summary(probe)},
    ]
    ev += [ctx.event_ev(e) for e in events[:1]]
    port_problem = _probe_port_problem(probe, cspec)
    if events:
        text = f"Readiness probe fails ({events[0]['msg'][:140]}); the container runs but gets no traffic"
    else:
        text = "The container runs but its readiness probe has not passed"
    if port_problem:
        text += f"; {port_problem}"
    index = next((i for i, c in enumerate((pod.get("spec") or {}).get("containers") or []) if c.get("name") == cname), 0)
    path = f"/{sp.replace('.', '/')}/containers/{index}/readinessProbe"
    op = (
        {"op": "replace", "path": f"{path}/httpGet/path", "value": "<ready-path>"}
        if probe.get("httpGet")
        else {"op": "replace", "path": f"{path}/timeoutSeconds", "value": 5}
    )
    do = "Point the readiness probe at an endpoint that answers when the app is ready (or fix the dependency the app waits for)"
    helm_set = {"readinessProbe.httpGet.path": "<ready-path>"}
    # The liveness and startup probes pass while the container runs unrestarted (and started).
    alive = not any("liveness probe" in e["msg"].lower() for e in ctx.events("Pod", pod, reasons=("Unhealthy",)))
    passing = [cspec[k] for k in ("livenessProbe", "startupProbe") if cspec.get(k) and alive and cs.get("started") and not cs.get("restartCount")]
    known = probe_fix(probe, cspec, " ".join(e["msg"] for e in events), passing)
    if known:
        field, value, why = known
        op = {"op": "replace", "path": f"{path}/{field}", "value": value}
        do = f"Point the readiness probe's {field.split('/')[-1]} at {value}: {why}"
        helm_set = {f"readinessProbe.{field.replace('/', '.')}": str(value)}
    issue = Issue(
        mode="readiness.failing",
        obj=f"Pod/{pname}",
        owner=owner,
        container=cname,
        ev=ev,
        subjects={f"Pod/{pname}", owner},
        cause={"text": text, "conf": "high" if port_problem or events else "medium", "basis": list(range(len(ev)))},
        fix=fixes.make(
            ctx.snap,
            owner,
            do,
            fixes.kubectl(ctx.ns, "patch", fixes.short_ref(owner), fixes.json_patch([op])),
            helm_set=helm_set,
        ),
    )
    issue.next.append(fixes.kubectl(ctx.ns, "logs", pname, "-c", cname, "--tail=50"))
    return issue
