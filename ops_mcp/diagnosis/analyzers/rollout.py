"""Workload-level state: stuck or paused rollouts, unavailable replicas, pods that cannot be created (quota,
PodSecurity, missing ServiceAccount), failed Jobs."""

from __future__ import annotations

import re

from .. import fixes
from ..base import Context, Issue, condition, key_line
from ..snapshot import Obj, name_of

check = "rollout"
needs = ("pods",)

QUOTA = re.compile(r"exceeded quota: ([\w.-]+)")
SA = re.compile(r'serviceaccount "([^"]+)" not found')


def analyze(ctx: Context) -> list[Issue]:
    issues: list[Issue] = []
    by_owner: dict[str, set[str]] = {}
    for pod in ctx.scope.pods:
        by_owner.setdefault(ctx.owner(pod), set()).add(f"Pod/{name_of(pod)}")
    for kind, workload in ctx.scope.workloads:
        ref = f"{kind}/{name_of(workload)}"
        pods = by_owner.get(ref, set())
        status, spec = workload.get("status") or {}, workload.get("spec") or {}
        created = _failed_create(ctx, kind, workload, ref)
        if created:
            issues.append(created)
        if kind == "Job":
            issues += _job(ctx, workload, ref, pods)
            continue
        if kind == "Deployment" and spec.get("paused"):
            issues.append(
                Issue(
                    mode="rollout.paused",
                    obj=ref,
                    ev=[{"p": "spec.paused", "v": True}],
                    sev="low",
                    subjects={ref},
                    cause={"text": "The rollout is paused; template changes are not rolled out", "conf": "high", "basis": [0]},
                    fix=fixes.make(ctx.snap, ref, "Resume the rollout", fixes.kubectl(ctx.ns, "rollout", "resume", fixes.short_ref(ref))),
                )
            )
        progressing = condition(workload, "Progressing")
        if kind == "Deployment" and progressing and progressing.get("reason") == "ProgressDeadlineExceeded" and progressing.get("status") == "False":
            issues.append(
                Issue(
                    mode="rollout.deadline_exceeded",
                    obj=ref,
                    sev="high",
                    symptom=True,
                    links=pods,
                    subjects={ref},
                    ev=[
                        {"p": "status.conditions[Progressing]", "v": {"reason": "ProgressDeadlineExceeded", "message": progressing.get("message", "")[:200]}},
                        {"p": "status", "v": _replica_counts(kind, status, spec)},
                    ],
                    cause={"text": "The new ReplicaSet did not become available within progressDeadlineSeconds", "conf": "high", "basis": [0]},
                    fix=_deadline_fix(ctx, ref),
                )
            )
            continue
        desired, ready = _desired_ready(kind, status, spec)
        if desired and ready < desired and not created and _settled(workload):
            issues.append(
                Issue(
                    mode="rollout.unavailable",
                    obj=ref,
                    sev="high" if ready else "critical",
                    symptom=True,
                    links=pods,
                    subjects={ref},
                    detail="redundant",
                    ev=[{"p": "status", "v": _replica_counts(kind, status, spec)}],
                    cause={"text": f"{ready}/{desired} replicas ready and no pod-level cause was found", "conf": "low", "basis": [0]},
                    next=[fixes.kubectl(ctx.ns, "describe", fixes.short_ref(ref))],
                )
            )
    return issues


def _deadline_fix(ctx: Context, ref: str) -> dict:
    """Roll back (applied) when the previous revision still serves; otherwise the pods' own failure is the fix."""
    healthy = fixes.healthy_previous(ctx.snap, ref) is not None
    return fixes.make(
        ctx.snap,
        ref,
        "Roll back to the previous revision, which still serves, then fix the new one"
        if healthy
        else "Fix the pods' failure, or roll back to the previous revision",
        fixes.kubectl(ctx.ns, "rollout", "undo", fixes.short_ref(ref)),
        risk="medium",
        apply=[fixes.undo_step(ctx.snap, ref)] if healthy else None,
    )


def _settled(workload: Obj) -> bool:
    """The controller has observed the latest spec (otherwise the counts are simply not updated yet)."""
    return (workload.get("status") or {}).get("observedGeneration", 0) >= (workload.get("metadata") or {}).get("generation", 0)


def _desired_ready(kind: str, status: Obj, spec: Obj) -> tuple[int, int]:
    if kind == "DaemonSet":
        return status.get("desiredNumberScheduled", 0), status.get("numberReady", 0)
    return spec.get("replicas", 1), status.get("readyReplicas", 0)


def _replica_counts(kind: str, status: Obj, spec: Obj) -> dict:
    desired, ready = _desired_ready(kind, status, spec)
    out = {"desired": desired, "ready": ready}
    for key in ("updatedReplicas", "availableReplicas", "unavailableReplicas"):
        if key in status:
            out[key.replace("Replicas", "")] = status[key]
    return out


def _failed_create(ctx: Context, kind: str, workload: Obj, ref: str) -> Issue | None:
    """ReplicaFailure on the Deployment/newest RS, or recent FailedCreate events while replicas are short."""
    sources = [(kind, workload)]
    if kind == "Deployment":
        rss = [rs for rs in ctx.snap.replicasets if ctx.snap.controller_of(rs) == ("Deployment", name_of(workload))]
        rss.sort(key=lambda rs: int(((rs.get("metadata") or {}).get("annotations") or {}).get("deployment.kubernetes.io/revision", "0")), reverse=True)
        sources += [("ReplicaSet", rs) for rs in rss[:1]]
    failure = next((c for _, o in sources if (c := condition(o, "ReplicaFailure")) and c.get("status") == "True"), None)
    events = []
    for okind, obj in sources:
        events += ctx.events(okind, obj, reasons=("FailedCreate",))
    desired, ready = _desired_ready(kind, workload.get("status") or {}, workload.get("spec") or {})
    if kind == "Job":
        desired, ready = 1, 1 if condition(workload, "Complete") else 0
    if not failure and not (events and ready < desired):
        return None
    message = (failure or {}).get("message") or (events[0]["msg"] if events else "")
    ev = []
    if failure:
        ev.append({"p": "status.conditions[ReplicaFailure]", "v": {"reason": failure.get("reason"), "message": message[:300]}})
    ev += [ctx.event_ev(e) for e in events[:1]]
    issue = Issue(
        mode="replicas.failed_create", obj=ref, ev=ev, sev="critical" if not ready else "high", subjects={ref} | {f"{k}/{name_of(o)}" for k, o in sources}
    )
    quota, sa = QUOTA.search(message), SA.search(message)
    if quota:
        issue.detail = quota.group(1)
        quotas = ctx.snap.by_name("resourcequotas", quota.group(1))
        if quotas:
            issue.ev.append(
                {
                    "p": f"ResourceQuota/{quota.group(1)}.status",
                    "v": {"hard": (quotas.get("status") or {}).get("hard"), "used": (quotas.get("status") or {}).get("used")},
                }
            )
        issue.cause = {
            "text": f"Pod creation is rejected by ResourceQuota {quota.group(1)}: {message[-200:]}",
            "conf": "high",
            "basis": list(range(len(issue.ev))),
        }
        limited = re.findall(r"limited: ([^,]+)", message)
        resource = limited[0].split("=", 1)[0].strip() if limited else "<resource>"
        issue.fix = fixes.make(
            ctx.snap,
            ref,
            f"Raise ResourceQuota {quota.group(1)} ({resource}) or lower the pods' requests/replicas to fit it",
            fixes.kubectl(ctx.ns, "patch", "resourcequota", quota.group(1), fixes.merge_patch({"spec": {"hard": {resource: "<higher>"}}})),
            verify=False,
            risk="medium",
        )
    elif sa:
        issue.detail = sa.group(1)
        issue.cause = {"text": f"ServiceAccount {sa.group(1)} does not exist", "conf": "high", "basis": [0]}
        issue.fix = fixes.make(
            ctx.snap, ref, f"Create ServiceAccount {sa.group(1)}", fixes.kubectl(ctx.ns, "create", "serviceaccount", sa.group(1)), verify=False
        )
    else:
        issue.cause = {
            "text": f"Pods cannot be created: {message[:200]}",
            "conf": "high" if "forbidden" in message or "denied" in message else "medium",
            "basis": [0],
        }
        issue.fix = fixes.make(
            ctx.snap,
            ref,
            "Make the pod template acceptable to admission (securityContext for PodSecurity, the webhook's rule)",
            None,
            verify=False,
            mutates=False,
        )
    return issue


def _job(ctx: Context, job: Obj, ref: str, pods: set[str]) -> list[Issue]:
    failed = condition(job, "Failed")
    if not failed or failed.get("status") != "True":
        return []
    status = job.get("status") or {}
    ev = [
        {"p": "status.conditions[Failed]", "v": {"reason": failed.get("reason"), "message": (failed.get("message") or "")[:200]}},
        {"p": "status.failed", "v": status.get("failed", 0)},
    ]
    text = f"The Job failed ({failed.get('reason')})"
    issue = Issue(mode="job.failed", obj=ref, ev=ev, sev="high", subjects={ref} | pods)
    pod_objs = [p for p in ctx.scope.pods if f"Pod/{name_of(p)}" in pods]
    pod_objs.sort(key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "", reverse=True)
    for pod in pod_objs:
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            term = (cs.get("state") or {}).get("terminated") or {}
            if term.get("exitCode", 0) != 0:
                issue.ev.append(
                    {
                        "p": f"Pod/{name_of(pod)}.status.containerStatuses[{cs['name']}].state.terminated",
                        "v": {k: term[k] for k in ("reason", "exitCode") if k in term},
                    }
                )
                logs = ctx.log_ev(name_of(pod), cs["name"], previous=False)
                if logs:
                    issue.ev.append(logs)
                    issue.logs_read = 1
                    text += f": {key_line(logs['log']['lines'])[:160]}"
                else:
                    issue.next.append(fixes.kubectl(ctx.ns, "logs", name_of(pod), "-c", cs["name"], "--tail=50"))
                text += f"; its last pod exited {term.get('exitCode')} ({term.get('reason', 'Error')})" if not logs else ""
                break
        else:
            continue
        break
    issue.cause = {"text": text, "conf": "high" if issue.logs_read else "medium", "basis": list(range(len(issue.ev)))}
    issue.fix = fixes.make(
        ctx.snap,
        ref,
        "Fix the error in the pod's log, then delete and re-create the Job (its pod template is immutable)",
        fixes.kubectl(ctx.ns, "delete", "job", name_of(job)) + "  # then re-apply the fixed manifest",
        verify=False,
        risk="medium",
    )
    return [issue]
