"""Pods the kubelet evicted (node memory/disk pressure, ephemeral-storage limits)."""

from __future__ import annotations

from .. import fixes
from ..base import Context, Issue
from ..snapshot import name_of

check = "eviction"
needs = ("pods",)


def analyze(ctx: Context) -> list[Issue]:
    issues = []
    for pod in ctx.scope.pods:
        status = pod.get("status") or {}
        if status.get("phase") != "Failed" or status.get("reason") != "Evicted":
            continue
        owner, pname = ctx.owner(pod), name_of(pod)
        message = status.get("message") or ""
        resource = (
            "ephemeral-storage"
            if "ephemeral" in message
            else "memory"
            if "memory" in message
            else "disk"
            if "disk" in message.lower() or "storage" in message
            else "a node resource"
        )
        ev = [{"p": "status.reason", "v": "Evicted"}, {"p": "status.message", "v": message[:300]}]
        if (pod.get("spec") or {}).get("nodeName"):
            ev.append({"p": "spec.nodeName", "v": pod["spec"]["nodeName"]})
        issues.append(
            Issue(
                mode="pod.evicted",
                obj=f"Pod/{pname}",
                owner=owner,
                ev=ev,
                sev="medium",
                detail=resource,
                subjects={f"Pod/{pname}"},
                cause={"text": f"The kubelet evicted the pod under {resource} pressure", "conf": "high", "basis": [1]},
                fix=fixes.make(
                    ctx.snap,
                    owner,
                    f"Delete evicted pod {pname}; set requests close to real usage (and an ephemeral-storage limit or "
                    "emptyDir.sizeLimit) so the kubelet spares its successors",
                    # a bare pod is not made again: deleting it is a person's call (its spec is all that is left)
                    apply=[fixes.step("delete_resource", kind="pod", name=pname, namespace=ctx.ns)] if owner != f"Pod/{pname}" else None,
                    verify=False,
                    risk="low",
                ),
            )
        )
    return issues
