"""HorizontalPodAutoscaler misconfiguration: missing target, containers without requests, no metrics, at max."""

from __future__ import annotations

import difflib

from .. import fixes
from ..base import Context, Issue, condition
from ..snapshot import name_of, parse_time

check = "hpa"
needs = ("hpas",)


def analyze(ctx: Context) -> list[Issue]:
    issues = []
    for hpa in ctx.scope.hpas:
        spec, name = hpa.get("spec") or {}, name_of(hpa)
        ref = f"HorizontalPodAutoscaler/{name}"
        target = spec.get("scaleTargetRef") or {}
        tref = f"{target.get('kind')}/{target.get('name')}"
        workload = ctx.snap.workload(target.get("kind"), target.get("name"))
        if workload is None:
            issues.append(
                Issue(
                    mode="hpa.bad_target",
                    obj=ref,
                    sev="high",
                    subjects={ref},
                    ev=[{"p": "spec.scaleTargetRef", "v": tref}, {"p": tref, "v": "not found"}],
                    cause={"text": f"scaleTargetRef {tref} does not exist", "conf": "high", "basis": [1]},
                    fix=_target_fix(ctx, ref, name, target),
                )
            )
            continue
        containers = (((workload.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
        missing = []
        for metric in spec.get("metrics") or []:
            resource = metric.get("resource") or metric.get("containerResource") or {}
            if metric.get("type") in ("Resource", "ContainerResource") and (resource.get("target") or {}).get("type") == "Utilization":
                res = resource.get("name")
                missing += [(c["name"], res) for c in containers if res not in ((c.get("resources") or {}).get("requests") or {})]
        active = condition(hpa, "ScalingActive")
        if missing:
            cname, res = missing[0]
            request, example = f"<{res}-request>", "100m" if res == "cpu" else "128Mi"  # how much it uses: the cluster does not say
            issues.append(
                Issue(
                    mode="hpa.missing_requests",
                    obj=ref,
                    sev="high",
                    subjects={ref},
                    detail=res,
                    ev=[
                        {"p": "spec.metrics[Resource]", "v": f"{res} utilization"},
                        {"p": f"{tref}.spec.template.spec.containers[{cname}].resources.requests.{res}", "v": "unset"},
                    ],
                    cause={
                        "text": f"Utilization targets need {res} requests; container {cname} of {tref} has none, so the HPA cannot compute a ratio",
                        "conf": "high",
                        "basis": [0, 1],
                    },
                    fix=fixes.make(
                        ctx.snap,
                        tref,
                        f"Add a {res} request to {cname} from its real usage (e.g. {example})",
                        helm_set={f"resources.requests.{res}": request},
                        apply=[fixes.patch_step(ctx.snap, tref, fixes.container_patch(tref, cname, resources={"requests": {res: request}}))],
                    ),
                )
            )
        elif active and active.get("status") == "False" and ctx.recent(parse_time(active.get("lastTransitionTime")) or ctx.snap.now):
            message = active.get("message") or ""
            issues.append(
                Issue(
                    mode="hpa.no_metrics",
                    obj=ref,
                    sev="medium",
                    subjects={ref},
                    ev=[{"p": "status.conditions[ScalingActive]", "v": {"reason": active.get("reason"), "message": message[:240]}}],
                    cause={
                        "text": "The HPA cannot read metrics" + (" (metrics API not available: install metrics-server)" if "metrics" in message else ""),
                        "conf": "high" if "metrics.k8s.io" in message else "medium",
                        "basis": [0],
                    },
                    fix=fixes.make(ctx.snap, ref, "Install metrics-server (minikube addons enable metrics-server)", None, verify=False, mutates=False),
                )
            )
        limited = condition(hpa, "ScalingLimited")
        status = hpa.get("status") or {}
        if (
            limited
            and limited.get("status") == "True"
            and limited.get("reason") == "TooManyReplicas"
            and status.get("currentReplicas") == spec.get("maxReplicas")
        ):
            issues.append(
                Issue(
                    mode="hpa.at_max",
                    obj=ref,
                    sev="low",
                    subjects={ref},
                    ev=[{"p": "status.currentReplicas", "v": status.get("currentReplicas")}, {"p": "spec.maxReplicas", "v": spec.get("maxReplicas")}],
                    cause={"text": "The HPA is pinned at maxReplicas and wants more", "conf": "high", "basis": [0, 1]},
                    fix=fixes.make(
                        ctx.snap,
                        ref,
                        f"Raise maxReplicas above {spec.get('maxReplicas')} if the nodes have room (a capacity decision)",
                        apply=[fixes.patch_step(ctx.snap, ref, {"spec": {"maxReplicas": "<max-replicas>"}}, "merge")],
                        helm_set={"autoscaling.maxReplicas": "<max-replicas>"},
                        verify=False,
                    ),
                )
            )
    return issues


def _target_fix(ctx: Context, ref: str, name: str, target: dict) -> dict:
    """Point scaleTargetRef at the one workload of that kind named like the missing one; else name the candidates."""
    kind = target.get("kind") or "Deployment"
    attr = {"Deployment": "deployments", "StatefulSet": "statefulsets", "ReplicaSet": "replicasets"}.get(kind)
    names = [name_of(o) for o in getattr(ctx.snap, attr)] if attr else []
    near = difflib.get_close_matches(target.get("name") or "", names, n=2, cutoff=0.6)
    if len(near) == 1:
        patch = {"spec": {"scaleTargetRef": {"apiVersion": target.get("apiVersion") or "apps/v1", "kind": kind, "name": near[0]}}}
        return fixes.make(
            ctx.snap,
            ref,
            f"Point scaleTargetRef at {kind} {near[0]}, the one named like it",
            apply=[fixes.patch_step(ctx.snap, ref, patch, "merge")],
            verify=False,
        )
    return fixes.make(
        ctx.snap,
        ref,
        f"Point scaleTargetRef at the workload to scale ({kind}s here: {', '.join(sorted(names)[:6]) or 'none'})",
        fixes.kubectl_of([fixes.patch_step(ctx.snap, ref, {"spec": {"scaleTargetRef": {"name": "<workload>"}}}, "merge")]),
        verify=False,
    )
