"""PodDisruptionBudgets that refuse every eviction (a node drain, a cluster upgrade, a descheduler) while the pods
they select are all healthy: the budget's own numbers allow no disruption (minAvailable at or above the pods the
controller expects, maxUnavailable 0, a percentage that rounds to that); and pods two budgets select, which the
eviction API refuses outright. A budget that selects no pod protects nothing.

The numbers are the disruption controller's (status.expectedPods, currentHealthy, disruptionsAllowed) when it has
seen the budget's current spec; the spec's rule is applied to them as the controller does (a percentage of
minAvailable or maxUnavailable rounds up)."""

from __future__ import annotations

import math
from typing import Any

from .. import fixes
from ..base import Context, Issue, live_pods, pod_ready
from ..scope import pdb_selects
from ..snapshot import Obj, helm_release, meta, name_of

check = "pdb"
needs = ("pdbs",)


def scaled(value: Any, total: int) -> int:
    """An int-or-percent of `total`, rounded up (the controller's GetScaledValueFromIntOrPercent(..., true))."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1] or 0) * total / 100)
    return int(value)


def budget(pdb: Obj, selected: list[Obj]) -> tuple[int, int, int]:
    """(expected pods, healthy pods, disruptions allowed) of a budget over the pods it selects."""
    spec, status = pdb.get("spec") or {}, pdb.get("status") or {}
    current = status.get("observedGeneration", 0) >= meta(pdb).get("generation", 0) and "expectedPods" in status
    expected = int(status["expectedPods"]) if current else len(selected)
    healthy = int(status.get("currentHealthy", 0)) if current else sum(1 for p in selected if pod_ready(p))
    if spec.get("maxUnavailable") is not None:
        desired = expected - scaled(spec["maxUnavailable"], expected)
    elif spec.get("minAvailable") is not None:
        desired = scaled(spec["minAvailable"], expected)
    else:
        desired = 0  # neither set (policy/v1 defaults neither): every healthy pod may go
    allowed = int(status["disruptionsAllowed"]) if current and "disruptionsAllowed" in status else max(0, healthy - desired)
    return expected, healthy, allowed


def relaxed(pdb: Obj, expected: int) -> tuple[Any, str, str]:
    """The smallest change of the budget's own rule that allows one eviction with every pod healthy: (patch, its
    type, what changes)."""
    spec = pdb.get("spec") or {}
    if spec.get("minAvailable") is not None and expected >= 2:
        return {"spec": {"minAvailable": expected - 1}}, "merge", f"minAvailable {spec['minAvailable']} -> {expected - 1} of {expected} expected pods"
    if spec.get("minAvailable") is not None:  # one pod: no minAvailable above 0 lets it go; say so as maxUnavailable (a JSON patch: no null)
        ops = [{"op": "remove", "path": "/spec/minAvailable"}, {"op": "add", "path": "/spec/maxUnavailable", "value": 1}]
        return ops, "json", f"minAvailable {spec['minAvailable']} -> maxUnavailable 1 (1 expected pod)"
    return {"spec": {"maxUnavailable": 1}}, "merge", f"maxUnavailable {spec.get('maxUnavailable')} -> 1 of {expected} expected pods"


def analyze(ctx: Context) -> list[Issue]:
    issues: list[Issue] = []
    pods = live_pods(ctx.snap.pods)
    covering: dict[str, list[str]] = {}  # pod -> the budgets that select it
    for pdb in ctx.scope.pdbs:
        name, spec = name_of(pdb), pdb.get("spec") or {}
        selected = [p for p in pods if pdb_selects(pdb, meta(p).get("labels") or {})]
        for pod in selected:
            covering.setdefault(name_of(pod), []).append(name)
        expected, healthy, allowed = budget(pdb, selected)
        rule = {k: spec[k] for k in ("minAvailable", "maxUnavailable") if spec.get(k) is not None}
        subject = f"PodDisruptionBudget/{name}"
        ev = [
            *({"p": f"spec.{k}", "v": v} for k, v in rule.items()),
            {"p": "status.expectedPods", "v": expected},
            {"p": "status.currentHealthy", "v": healthy},
            {"p": "status.disruptionsAllowed", "v": allowed},
        ]
        if expected > 0 and healthy >= expected and allowed == 0:
            patch, patch_type, change = relaxed(pdb, expected)
            what = ", ".join(f"{k} {v}" for k, v in rule.items()) or "its rule"
            issue = Issue(
                mode="pdb.blocks_eviction",
                obj=subject,
                ev=ev,
                sev="medium",
                detail="spec",
                subjects={subject},
                cause={
                    "text": f"PodDisruptionBudget {name} allows 0 disruptions with all {healthy} of its {expected} expected pods healthy ({what}): "
                    "every eviction of its pods (a node drain, a cluster upgrade) is refused and hangs",
                    "conf": "high",
                    "basis": list(range(len(ev))),
                },
            )
            release = helm_release(pdb)
            issue.fix = fixes.make(
                ctx.snap,
                subject,
                f"Relax PodDisruptionBudget {name} so one pod may be evicted at a time ({change}); the others keep serving",
                None,
                apply=[fixes.patch_step(ctx.snap, subject, patch, patch_type)],
                verify=False,
                risk="medium",
                note=(f"Helm-managed (release {release}): set the chart's disruption budget values too, or the next upgrade restores it. " if release else "")
                + "If no eviction is ever wanted, drains of this node need a person to move these pods first.",
            )
            issues.append(issue)
        elif expected == 0 and not selected and not any(pdb_selects(pdb, t.labels) for t in ctx.scope.templates):
            issues.append(
                Issue(
                    mode="pdb.no_pods",
                    obj=subject,
                    ev=[{"p": "spec.selector", "v": spec.get("selector")}, {"p": "status.expectedPods", "v": 0}],
                    sev="low",
                    subjects={subject},
                    cause={
                        "text": f"PodDisruptionBudget {name} selects no pod and no workload's template: it protects nothing",
                        "conf": "high",
                        "basis": [0, 1],
                    },
                    fix=fixes.make(
                        ctx.snap,
                        subject,
                        f"Point PodDisruptionBudget {name}'s selector at the labels of the workload it is meant to protect, or delete it",
                        None,
                        verify=False,
                        mutates=False,
                    ),
                )
            )
    for pod, names in covering.items():
        if len(names) < 2:
            continue
        owner = ctx.owner(next(p for p in pods if name_of(p) == pod))
        issues.append(
            Issue(
                mode="pdb.blocks_eviction",
                obj=f"Pod/{pod}",
                owner=owner,
                ev=[{"p": "PodDisruptionBudget[selects]", "v": sorted(names)}],
                sev="medium",
                detail="overlap",
                subjects={f"PodDisruptionBudget/{n}" for n in names},
                cause={
                    "text": f"{len(names)} PodDisruptionBudgets ({', '.join(sorted(names))}) select the pod: the eviction API refuses to evict a pod "
                    "that more than one budget covers",
                    "conf": "high",
                    "basis": [0],
                },
                fix=fixes.make(
                    ctx.snap,
                    f"PodDisruptionBudget/{sorted(names)[0]}",
                    f"Keep one PodDisruptionBudget per pod: narrow the selector of, or delete, all but one of {', '.join(sorted(names))}",
                    None,
                    verify=False,
                    mutates=False,
                ),
            )
        )
    return issues
