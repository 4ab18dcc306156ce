"""Workload-level state: stuck or paused rollouts, unavailable replicas, pods that cannot be created (quota,
PodSecurity, missing ServiceAccount), failed Jobs."""

from __future__ import annotations

import copy
import re
from decimal import Decimal

from .. import fixes
from ..base import Context, Issue, condition, key_line
from ..snapshot import Obj, name_of, quantity
from . import rbac
from .crashloop import raised_memory

check = "rollout"
needs = ("pods",)

QUOTA = re.compile(r"exceeded quota: ([\w.-]+)")
LIMIT_RANGE = re.compile(r"(maximum|minimum) (cpu|memory|ephemeral-storage) usage per (Container|Pod) is ([\w.]+), but (limit|request) is ([\w.]+)")
MIB = 1024 * 1024
SA = re.compile(r'serviceaccount "([^"]+)" not found')


def analyze(ctx: Context) -> list[Issue]:
    issues: list[Issue] = []
    refs = {f"{kind}/{name_of(workload)}" for kind, workload in ctx.scope.workloads}
    by_owner: dict[str, set[str]] = {}
    for pod in ctx.scope.pods:
        if (owner := ctx.owner(pod)) in refs:  # not a set of one for each of thousands of bare pods
            by_owner.setdefault(owner, set()).add(f"Pod/{name_of(pod)}")
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
        paused = kind == "Deployment" and bool(spec.get("paused"))
        if paused:
            # paused with a change not rolled out (or nothing running at all): the pause is what holds it
            held = (status.get("updatedReplicas") or 0) < spec.get("replicas", 1) or (status.get("readyReplicas") or 0) < spec.get("replicas", 1)
            issues.append(
                Issue(
                    mode="rollout.paused",
                    obj=ref,
                    ev=[{"p": "spec.paused", "v": True}, {"p": "status", "v": _replica_counts(kind, status, spec)}],
                    sev="high" if held else "low",
                    subjects={ref, f"{ref}#paused"},
                    cause={"text": "The rollout is paused; template changes are not rolled out", "conf": "high", "basis": [0]},
                    fix=fixes.make(
                        ctx.snap,
                        ref,
                        "Resume the rollout",
                        apply=[fixes.patch_step(ctx.snap, ref, {"spec": {"paused": False}})],
                    ),
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
                    links=pods | ({f"{ref}#paused"} if paused else set()),
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
        else "Fix the pods' failure, or roll back to the previous revision (not known to serve)",
        risk="medium",
        apply=[fixes.undo_step(ctx.snap, ref)] if healthy else None,
        mutates=healthy,
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
        issue.fix = _fit_quota(ctx, kind, workload, ref, message, quota.group(1))
    elif sa:
        issue.detail = sa.group(1)
        issue.cause = {"text": f"ServiceAccount {sa.group(1)} does not exist", "conf": "high", "basis": [0]}
        rbac.missing_serviceaccount(ctx, issue, sa.group(1))
    elif bounds := LIMIT_RANGE.findall(message):
        issue.detail = "limitrange"
        issue.cause = {"text": f"A LimitRange of {ctx.ns} rejects the pods: {message[-200:]}", "conf": "high", "basis": [0]}
        issue.fix = _fit_limit_range(ctx, workload, ref, bounds)
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
    failed_pod, failed_cs = next(
        (
            (pod, cs)
            for pod in pod_objs
            for cs in (pod.get("status") or {}).get("containerStatuses") or []
            if ((cs.get("state") or {}).get("terminated") or {}).get("exitCode", 0) != 0
        ),
        (None, None),
    )
    term = ((failed_cs or {}).get("state") or {}).get("terminated") or {}
    if failed_pod is not None:
        pname, cname = name_of(failed_pod), failed_cs["name"]
        issue.ev.append(
            {"p": f"Pod/{pname}.status.containerStatuses[{cname}].state.terminated", "v": {k: term[k] for k in ("reason", "exitCode") if k in term}}
        )
        logs = ctx.log_ev(pname, cname, previous=False)
        if logs:
            issue.ev.append(logs)
            issue.logs_read = 1
            text += f": {key_line(logs['log']['lines'])[:160]}"
        else:
            issue.next.append(fixes.kubectl(ctx.ns, "logs", pname, "-c", cname, "--tail=50"))
        text += f"; its last pod exited {term.get('exitCode')} ({term.get('reason', 'Error')})"
    issue.cause = {"text": text, "conf": "high" if issue.logs_read or term.get("reason") == "OOMKilled" else "medium", "basis": list(range(len(issue.ev)))}
    change = _job_change(ctx, job, failed_pod, failed_cs, term) if failed_pod is not None else None
    issue.fix = (
        _rerun(ctx, job, ref, change)
        if change
        else fixes.make(
            ctx.snap,
            ref,
            "Fix the error in the pod's log, then delete and re-create the Job (its pod template is immutable)",
            None,
            verify=False,
            mutates=False,
        )
    )
    return [issue]


# ---- pods that admission refuses for their resources: the change that fits, from the quota's or range's numbers ----


def _amounts(message: str, label: str) -> dict[str, Decimal]:
    found = re.search(rf"{label}: ((?:[\w./-]+=[\w.]+,?)+)", message)
    return {k: quantity(v) for k, v in re.findall(r"([\w./-]+)=([\w.]+)", found.group(1))} if found else {}


def _format(resource: str, amount: Decimal) -> str:
    if resource.endswith("memory") or resource.endswith("storage"):
        return f"{int(amount // MIB)}Mi"
    if resource.endswith("cpu"):
        return f"{int(amount * 1000)}m"
    return str(int(amount))  # pods, count/...


def _single_container(workload: Obj) -> str | None:
    spec = ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = spec.get("containers") or []
    return containers[0].get("name") if len(containers) == 1 else None


def _resources_fix(ctx: Context, workload: Obj, ref: str, cname: str, changes: dict[str, str], do: str) -> dict:
    """One container's requests/limits set as `changes` says ("limits.memory": "128Mi"); a request above its new
    limit comes down with it."""
    resources: dict[str, dict[str, str]] = {}
    for field, value in changes.items():
        kind, _, resource = field.partition(".")
        resources.setdefault(kind, {})[resource] = value
    spec = ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}
    current = ((spec.get("containers") or [{}])[0].get("resources") or {}).get("requests") or {}
    for resource, value in (resources.get("limits") or {}).items():
        if resource in current and quantity(current[resource]) > quantity(value):
            resources.setdefault("requests", {}).setdefault(resource, value)
    return fixes.make(
        ctx.snap,
        ref,
        do,
        apply=[fixes.patch_step(ctx.snap, ref, fixes.container_patch(ref, cname, resources=resources))],
    )


def _fit_quota(ctx: Context, kind: str, workload: Obj, ref: str, message: str, name: str) -> dict:
    """Per-pod requests/limits that let every replica fit the quota beside what others use; the quota itself is the
    cluster admin's to raise."""
    requested, used, limited = _amounts(message, "requested"), _amounts(message, "used"), _amounts(message, "limited")
    cname = _single_container(workload)
    replicas = 1 if kind == "Job" else int((workload.get("spec") or {}).get("replicas", 1))
    running = sum(1 for p in ctx.scope.pods if ctx.owner(p) == ref and (p.get("status") or {}).get("phase") in ("Pending", "Running"))
    changes: dict[str, str] = {}
    for resource, hard in limited.items():
        field = "requests." + resource if resource in ("cpu", "memory") else resource
        if not field.startswith(("requests.", "limits.")) or resource not in requested:
            changes = {}
            break
        others = used.get(resource, Decimal(0)) - running * requested[resource]
        per_pod = (hard - others) / replicas
        if per_pod < (16 * MIB if resource.endswith("memory") else Decimal("0.01")):
            changes = {}
            break
        changes[field] = _format(resource, per_pod)
    if not cname or not changes:
        return fixes.make(
            ctx.snap,
            ref,
            f"The pods do not fit ResourceQuota {name} ({', '.join(f'{k}={_format(k, v)}' for k, v in limited.items())}); lower their requests/limits "
            "or replicas, or ask the cluster admin to raise the quota",
            None,
            verify=False,
            mutates=False,
        )
    return _resources_fix(
        ctx,
        workload,
        ref,
        cname,
        changes,
        f"Set {cname}'s {', '.join(f'{k}={v}' for k, v in changes.items())} so {replicas} replica(s) fit ResourceQuota {name}; "
        "raising the quota instead is the cluster admin's call",
    )


def _fit_limit_range(ctx: Context, workload: Obj, ref: str, bounds: list[tuple[str, ...]]) -> dict:
    cname = _single_container(workload)
    changes = {("limits." if which == "limit" else "requests.") + resource: bound for _, resource, _, bound, which, _ in bounds}
    if not cname:
        return fixes.make(ctx.snap, ref, "Bring each container's requests/limits inside the LimitRange's bounds", None, verify=False, mutates=False)
    return _resources_fix(ctx, workload, ref, cname, changes, f"Set {cname}'s {', '.join(f'{k}={v}' for k, v in changes.items())}: the LimitRange's bound")


# ---- a failed Job: re-run it with its cause fixed ----

JOB_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid", "job-name", "batch.kubernetes.io/job-name")


def _job_change(ctx: Context, job: Obj, pod: Obj, cs: Obj, term: Obj) -> tuple[str, dict, str] | None:
    """(container, its changed fields, why) for a cause the pod's state explains; None when only the log can say."""
    if term.get("reason") != "OOMKilled":
        return None
    spec = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
    cspec = next((c for c in spec.get("containers") or [] if c.get("name") == cs["name"]), {})
    resources = cspec.get("resources") or {}
    limit = (resources.get("limits") or {}).get("memory")
    if not limit:
        return None
    new, why = raised_memory(ctx, pod, limit)
    changed = {"limits": {"memory": new}}
    request = (resources.get("requests") or {}).get("memory")
    if request is None or quantity(request) >= quantity(limit):
        changed["requests"] = {"memory": new}
    return cs["name"], {"resources": changed}, f"memory limit {limit} -> {new} ({why}): its pod was OOM-killed"


def _rerun(ctx: Context, job: Obj, ref: str, change: tuple[str, dict, str]) -> dict:
    """A CronJob's Job: the CronJob's template gets the change (its next run has it). A Job of its own: deleted and
    created again from its own spec with the change (a Job's template is immutable)."""
    cname, fields, why = change
    owner = next((o for o in (job.get("metadata") or {}).get("ownerReferences") or [] if o.get("kind") == "CronJob"), None)
    if owner:
        patch = {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": cname, **fields}]}}}}}}
        return fixes.make(
            ctx.snap,
            f"CronJob/{owner['name']}",
            f"Change CronJob {owner['name']}'s template, {why}; its next run (or `kubectl create job --from=cronjob/{owner['name']}`) has it",
            apply=[fixes.step("patch_resource", kind="cronjob", name=owner["name"], namespace=ctx.ns, patch=patch)],
            verify=False,
        )
    manifest = _job_manifest(job, cname, fields)
    return fixes.make(
        ctx.snap,
        ref,
        f"Re-run Job {name_of(job)} with {why}: delete it, then create it again from its own spec with the change",
        apply=[
            fixes.step("delete_resource", kind="job", name=name_of(job), namespace=ctx.ns),
            fixes.step("apply_manifest", manifest=[manifest], namespace=ctx.ns),
        ],
        verify=False,
        risk="medium",
    )


def _job_manifest(job: Obj, cname: str, fields: dict) -> dict:
    """The Job as its author wrote it (no selector, no controller labels, no status), with one container changed."""
    spec = copy.deepcopy(job.get("spec") or {})
    spec.pop("selector", None)
    spec.pop("manualSelector", None)
    template = spec.setdefault("template", {})
    labels = {k: v for k, v in ((template.get("metadata") or {}).get("labels") or {}).items() if k not in JOB_LABELS}
    template["metadata"] = {"labels": labels} if labels else {}
    for container in (template.get("spec") or {}).get("containers") or []:
        if container.get("name") == cname:
            for kind, values in fields.get("resources", {}).items():
                container.setdefault("resources", {}).setdefault(kind, {}).update(values)
    meta = job.get("metadata") or {}
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in JOB_LABELS}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": meta.get("name"), **({"labels": labels} if labels else {})}, "spec": spec}
