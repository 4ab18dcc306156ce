"""PersistentVolumeClaims that stay Pending: unknown or no StorageClass, provisioning errors."""

from __future__ import annotations

from .. import fixes
from ..base import Context, Issue
from ..snapshot import meta, name_of

check = "pvc"
needs = ("pvcs",)


def analyze(ctx: Context) -> list[Issue]:
    issues = []
    classes = {name_of(sc): sc for sc in ctx.snap.storageclasses}
    classes_known = "storageclasses" not in ctx.snap.unreadable
    default = next((n for n, sc in classes.items() if (meta(sc).get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class") == "true"), None)
    for pvc in ctx.scope.pvcs:
        if ((pvc.get("status") or {}).get("phase")) != "Pending":
            continue
        spec, name = pvc.get("spec") or {}, name_of(pvc)
        sc_name = spec.get("storageClassName")
        ev = [{"p": "status.phase", "v": "Pending"}, {"p": "spec.storageClassName", "v": sc_name}]
        subject = f"PersistentVolumeClaim/{name}"
        failed = ctx.events("PersistentVolumeClaim", pvc, reasons=("ProvisioningFailed", "FailedBinding"))
        helm_owner = subject
        if sc_name and classes_known and sc_name not in classes:
            ev.append({"p": "StorageClass[*]", "v": sorted(classes) or "none"})
            issues.append(
                Issue(
                    mode="pvc.no_storageclass",
                    obj=subject,
                    ev=ev + [ctx.event_ev(e) for e in failed[:1]],
                    sev="critical",
                    subjects={subject},
                    cause={
                        "text": f"StorageClass {sc_name} does not exist"
                        + (f" (existing: {', '.join(sorted(classes))})" if classes else " (the cluster has none)"),
                        "conf": "high",
                        "basis": [1, 2],
                    },
                    fix=fixes.make(
                        ctx.snap,
                        helm_owner,
                        f"Recreate the claim with an existing class{' such as ' + (default or sorted(classes)[0]) if classes else ''} (the field is immutable)",
                        fixes.kubectl(ctx.ns, "delete", "pvc", name) + "  # then re-apply it with the right storageClassName",
                        risk="medium",
                        helm_set={"persistence.storageClass": default or "<class>"},
                        verify=False,
                    ),
                )
            )
        elif not sc_name and not default and not spec.get("volumeName") and classes_known:
            ev.append({"p": "StorageClass[is-default-class]", "v": "none"})
            issues.append(
                Issue(
                    mode="pvc.no_storageclass",
                    obj=subject,
                    ev=ev + [ctx.event_ev(e) for e in failed[:1]],
                    sev="critical",
                    subjects={subject},
                    cause={"text": "No storageClassName and no default StorageClass, so nothing provisions a volume", "conf": "high", "basis": [1, 2]},
                    fix=fixes.make(
                        ctx.snap,
                        helm_owner,
                        "Mark a StorageClass as default (or install a provisioner)",
                        "kubectl patch storageclass <class> "
                        + fixes.merge_patch({"metadata": {"annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}}),
                        verify=False,
                    ),
                )
            )
        elif failed:
            ev.append(ctx.event_ev(failed[0]))
            issues.append(
                Issue(
                    mode="pvc.provisioning_failed",
                    obj=subject,
                    ev=ev,
                    sev="critical",
                    subjects={subject},
                    cause={"text": f"The provisioner fails: {failed[0]['msg'][:160]}", "conf": "medium", "basis": [2]},
                    next=[fixes.kubectl(ctx.ns, "describe", "pvc", name)],
                )
            )
    return issues
