"""Init containers that fail (non-zero exit, CrashLoopBackOff) and so keep the pod from starting."""

from __future__ import annotations

from .. import fixes
from ..base import Context, Issue, container_spec, key_line, live_pods, spec_path, terminated_runtime
from ..snapshot import name_of
from .crashloop import EXIT_CLASS

check = "init"
needs = ("pods",)


def analyze(ctx: Context) -> list[Issue]:
    issues = []
    for pod in live_pods(ctx.scope.pods):
        for cs in (pod.get("status") or {}).get("initContainerStatuses") or []:
            state = cs.get("state") or {}
            waiting, term = state.get("waiting") or {}, state.get("terminated")
            last = (cs.get("lastState") or {}).get("terminated")
            failed_now = term and term.get("exitCode", 0) != 0
            looping = waiting.get("reason") == "CrashLoopBackOff" and last
            if not (failed_now or looping):
                continue
            issues.append(_issue(ctx, pod, cs, term if failed_now else last, waiting))
    return issues


def _issue(ctx, pod, cs, term, waiting) -> Issue:
    cname, owner, pname = cs["name"], ctx.owner(pod), name_of(pod)
    sp = spec_path(owner.split("/", 1)[0])
    cspec = container_spec(pod.get("spec") or {}, cname, init=True)
    base = f"status.initContainerStatuses[{cname}]"
    ev = []
    if waiting.get("reason"):
        ev.append({"p": f"{base}.state.waiting.reason", "v": waiting["reason"]})
    detail = {k: term[k] for k in ("reason", "exitCode") if k in term}
    if terminated_runtime(term):
        detail["ranFor"] = terminated_runtime(term)
    if term.get("message"):
        detail["message"] = term["message"][-300:]
    ev.append({"p": f"{base}.{'lastState' if waiting else 'state'}.terminated", "v": detail})
    ev.append({"p": f"{base}.restartCount", "v": cs.get("restartCount", 0)})
    for key in ("command", "args"):
        if cspec.get(key):
            ev.append({"p": f"{sp}.initContainers[{cname}].{key}", "v": cspec[key]})
    previous = bool(waiting) and cs.get("restartCount", 0) > 0
    logs = ctx.log_ev(pname, cname, previous)
    exit_code = term.get("exitCode")
    text = f"Init container {cname} exits with code {exit_code} ({EXIT_CLASS.get(exit_code, 'error')}), so the pod never starts its app containers"
    issue = Issue(mode="init.failed", obj=f"Pod/{pname}", owner=owner, container=cname, ev=ev, subjects={f"Pod/{pname}", owner})
    if logs:
        ev.append(logs)
        issue.logs_read = 1
        text += f": {key_line(logs['log']['lines'])[:160]}"
    else:
        issue.next.append(fixes.kubectl(ctx.ns, "logs", pname, "-c", cname, *(["--previous"] if previous else []), "--tail=50"))
    issue.cause = {
        "text": text,
        "conf": "high" if logs else "medium",
        "basis": [i for i, e in enumerate(ev) if "terminated" in (e.get("p") or "") or "log" in e],
    }
    issue.fix = fixes.make(
        ctx.snap,
        owner,
        f"Fix what {cname} needs (its command, or the dependency it reaches for in the log), then the pod restarts it",
        None,
        verify=False,
        mutates=False,
    )
    issue.next.append(fixes.kubectl(ctx.ns, "describe", "pod", pname))
    return issue
