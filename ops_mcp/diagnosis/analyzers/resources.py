"""Usage against limits, from metrics-server (metrics.k8s.io): containers close to an OOM kill, and containers the
kernel throttles at their CPU limit. Without the metrics API (no metrics-server, or no permission) nothing is claimed.
A point sample of usage, so the cause is of medium confidence; a container already OOM-killed is the crashloop
check's finding, not a second one here."""

from __future__ import annotations

import math

from .. import fixes
from ..base import Context, Issue, live_pods, spec_path
from ..snapshot import millicores, name_of, quantity

check = "resources"
needs = ("pods",)
NEAR = 0.9  # usage at or above this share of the limit


def analyze(ctx: Context) -> list[Issue]:
    issues = []
    for pod in live_pods(ctx.scope.pods):
        usage = ctx.snap.usage.get(name_of(pod)) or {}
        statuses = {cs.get("name"): cs for cs in (pod.get("status") or {}).get("containerStatuses") or []}
        for c in (pod.get("spec") or {}).get("containers") or []:
            used = usage.get(c["name"])
            if not used:
                continue
            limits = (c.get("resources") or {}).get("limits") or {}
            memory, cpu = int(quantity(limits.get("memory"))), millicores(limits.get("cpu"))
            oom = ((statuses.get(c["name"]) or {}).get("lastState") or {}).get("terminated", {}).get("reason") == "OOMKilled"
            if memory and used["memory"] >= NEAR * memory and not oom:
                issues.append(_memory(ctx, pod, c["name"], used["memory"], memory, limits["memory"]))
            if cpu and used["cpu_m"] >= NEAR * cpu:
                issues.append(_cpu(ctx, pod, c["name"], used["cpu_m"], cpu, limits["cpu"]))
    return issues


def _issue(ctx: Context, pod: dict, cname: str, mode: str, resource: str, used: str, limit: str, text: str, raised: str, why: str) -> Issue:
    owner, pname = ctx.owner(pod), name_of(pod)
    sp = spec_path(owner.split("/", 1)[0])
    ev = [
        {"p": f"metrics.k8s.io PodMetrics/{pname}.containers[{cname}].usage.{resource}", "v": used},
        {"p": f"{sp}.containers[{cname}].resources.limits.{resource}", "v": limit},
    ]
    # a bare pod's resources cannot be patched: `make` says it is recreated by hand
    apply = [fixes.patch_step(ctx.snap, owner, fixes.container_patch(owner, cname, resources={"limits": {resource: raised}}))]
    return Issue(
        mode=mode,
        obj=f"Pod/{pname}",
        owner=owner,
        container=cname,
        sev="medium",
        ev=ev,
        subjects={f"Pod/{pname}", owner},
        cause={"text": text, "conf": "medium", "basis": [0, 1]},
        fix=fixes.make(
            ctx.snap,
            owner,
            f"Raise the {resource} limit of {cname} to {raised} ({why})",
            helm_set={f"resources.limits.{resource}": raised},
            apply=apply,
        ),
    )


def _memory(ctx: Context, pod: dict, cname: str, used: int, limit: int, given: str) -> Issue:
    mib = 1 << 20
    raised = f"{math.ceil(max(limit * 1.5, used * 1.3) / mib / 16) * 16}Mi"
    text = f"{cname} uses {used // mib}Mi of its {given} memory limit ({round(100 * used / limit)}%): little headroom before an OOM kill"
    return _issue(ctx, pod, cname, "resources.memory_near_limit", "memory", f"{used // mib}Mi", given, text, raised, "1.5x, above the usage")


def _cpu(ctx: Context, pod: dict, cname: str, used: int, limit: int, given: str) -> Issue:
    text = (
        f"{cname} uses {used}m of its {given} CPU limit ({round(100 * used / limit)}%): the kernel throttles it at the limit"
        " (CFS quota), so it answers slowly and its probes can time out"
    )
    return _issue(ctx, pod, cname, "resources.cpu_throttled", "cpu", f"{used}m", given, text, f"{limit * 2}m", "2x; or drop the CPU limit and keep the request")
