"""PersistentVolumeClaims that stay Pending: unknown or no StorageClass, provisioning errors.

storageClassName is immutable, so a claim that never bound (it holds no data) is fixed by deleting it and applying
it again, everything kept from the live object but the class; then the workload's pending pods bind and start."""

from __future__ import annotations

import copy
from typing import Any

from .. import fixes
from ..base import Context, Issue
from ..snapshot import Obj, age, event_time, meta, name_of
from . import volume

check = "pvc"
needs = ("pvcs",)

DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
# annotations the control plane writes on a claim: a recreated claim must not carry them
SYSTEM_ANNOTATIONS = ("pv.kubernetes.io/", "volume.beta.kubernetes.io/", "volume.kubernetes.io/", "kubectl.kubernetes.io/last-applied-configuration")
SPEC_KEPT = ("accessModes", "resources", "volumeMode", "selector", "dataSource", "dataSourceRef", "volumeAttributesClassName")
PROVISIONER_WAIT = 120  # seconds of "waiting for the external provisioner" before it counts as not answering


def analyze(ctx: Context) -> list[Issue]:
    issues = []
    classes = {name_of(sc): sc for sc in ctx.snap.storageclasses}
    classes_known = "storageclasses" not in ctx.snap.unreadable
    default = next((n for n, sc in classes.items() if (meta(sc).get("annotations") or {}).get(DEFAULT_CLASS) == "true"), None)
    for pvc in ctx.scope.pvcs:
        if ((pvc.get("status") or {}).get("phase")) != "Pending":
            continue
        if taken := volume.claim_issue(ctx, pvc):  # the volume it names is another claim's (volume.py)
            issues.append(taken)
            continue
        spec, name = pvc.get("spec") or {}, name_of(pvc)
        sc_name = spec.get("storageClassName")
        ev = [{"p": "status.phase", "v": "Pending"}, {"p": "spec.storageClassName", "v": sc_name}]
        subject = f"PersistentVolumeClaim/{name}"
        failed = ctx.events("PersistentVolumeClaim", pvc, reasons=("ProvisioningFailed", "FailedBinding"))
        if sc_name and classes_known and sc_name not in classes:
            ev.append({"p": "StorageClass[*]", "v": sorted(classes) or "none"})
            issue = Issue(
                mode="pvc.no_storageclass",
                obj=subject,
                ev=ev + [ctx.event_ev(e) for e in failed[:1]],
                sev="critical",
                subjects={subject},
                cause={
                    "text": f"StorageClass {sc_name} does not exist" + (f" (existing: {', '.join(sorted(classes))})" if classes else " (the cluster has none)"),
                    "conf": "high",
                    "basis": [1, 2],
                },
            )
            issue.fix = recreate_fix(ctx, pvc, classes, default, f"StorageClass {sc_name} does not exist")
            issues.append(issue)
        elif not sc_name and not default and not spec.get("volumeName") and classes_known:
            ev.append({"p": "StorageClass[is-default-class]", "v": "none"})
            issue = Issue(
                mode="pvc.no_storageclass",
                obj=subject,
                ev=ev + [ctx.event_ev(e) for e in failed[:1]],
                sev="critical",
                subjects={subject},
                cause={"text": "No storageClassName and no default StorageClass, so nothing provisions a volume", "conf": "high", "basis": [1, 2]},
            )
            issue.fix = recreate_fix(ctx, pvc, classes, None, "the claim names no class and none is the default")
            if issue.fix.get("apply") and len(classes) == 1:
                only = next(iter(classes))
                issue.fix["note"] = (issue.fix.get("note") or "") + (
                    f" Alternatively a cluster admin marks {only} the default class (kubectl patch storageclass {only} "
                    + fixes.merge_patch({"metadata": {"annotations": {DEFAULT_CLASS: "true"}}})
                    + "): pending claims without a class then get it."
                )
            issues.append(issue)
        else:
            waiting = _waiting_for_provisioner(ctx, pvc)
            if not failed and not waiting:
                continue
            shown = failed[0] if failed else waiting
            ev.append(ctx.event_ev(shown))
            provisioner = (classes.get(sc_name or default or "") or {}).get("provisioner")
            if failed:
                text = f"The provisioner{f' {provisioner}' if provisioner else ''} fails: {failed[0]['msg'][:160]}"
            else:
                text = f"No provisioner answers for class {sc_name or default}: {provisioner or 'its provisioner'} has waited {age(waiting['_t'], ctx.snap.now)} without creating a volume (not running?)"
            issue = Issue(
                mode="pvc.provisioning_failed",
                obj=subject,
                ev=ev,
                sev="critical",
                subjects={subject},
                cause={"text": text, "conf": "medium", "basis": [2]},
                next=[fixes.kubectl(ctx.ns, "describe", "pvc", name)],
            )
            working = sorted(_working_classes(ctx, classes) - {sc_name or default})
            issue.fix = recreate_fix(ctx, pvc, {c: classes[c] for c in working}, None, f"class {sc_name or default} does not provision", proven=True)
            issues.append(issue)
    return issues


def _waiting_for_provisioner(ctx: Context, pvc: Obj) -> dict[str, Any] | None:
    waiting = ctx.events("PersistentVolumeClaim", pvc, reasons=("ExternalProvisioning",))
    created = event_time({"metadata": meta(pvc)})
    if waiting and created and (ctx.snap.now - created).total_seconds() > PROVISIONER_WAIT:
        return waiting[0]
    return None


def _working_classes(ctx: Context, classes: dict[str, Obj]) -> set[str]:
    """Classes that bound a claim in this namespace: their provisioner demonstrably works."""
    bound = {(p.get("spec") or {}).get("storageClassName") for p in ctx.snap.pvcs if (p.get("status") or {}).get("phase") == "Bound"}
    return {c for c in bound if c in classes}


def claim_manifest(pvc: Obj, storage_class: str) -> Obj:
    """The live claim as a manifest to apply again: name, labels, annotations (not the control plane's), accessModes,
    resources... kept; only the class changes."""
    md = meta(pvc)
    annotations = {k: v for k, v in (md.get("annotations") or {}).items() if not k.startswith(SYSTEM_ANNOTATIONS)}
    out_meta: Obj = {"name": md.get("name"), "namespace": md.get("namespace")}
    if md.get("labels"):
        out_meta["labels"] = dict(md["labels"])
    if annotations:
        out_meta["annotations"] = annotations
    spec = {k: v for k, v in (pvc.get("spec") or {}).items() if k in SPEC_KEPT}
    spec["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": out_meta, "spec": spec}


def statefulset_manifest(sts: Obj, storage_class: str) -> Obj:
    """The StatefulSet as its author wrote it (no status, no server fields), every claim template on `storage_class`."""
    spec = copy.deepcopy(sts.get("spec") or {})
    for template in spec.get("volumeClaimTemplates") or []:
        template.pop("status", None)
        template.setdefault("spec", {})["storageClassName"] = storage_class
        template["metadata"] = {k: v for k, v in (template.get("metadata") or {}).items() if k in ("name", "labels", "annotations")}
    meta = sts.get("metadata") or {}
    kept = {k: meta[k] for k in ("name", "labels", "annotations") if meta.get(k)}
    kept.get("annotations", {}).pop("kubectl.kubernetes.io/last-applied-configuration", None)
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": kept, "spec": spec}


def _users(ctx: Context, claim: str) -> list[tuple[str, str]]:
    """(kind, name) of the workloads in scope whose pods mount the claim."""
    out = []
    for kind, workload in ctx.scope.workloads:
        spec = ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}
        if any((v.get("persistentVolumeClaim") or {}).get("claimName") == claim for v in spec.get("volumes") or []):
            out.append((kind, name_of(workload)))
    return out


def _never_bound(ctx: Context, sts: str) -> list[Obj]:
    """The StatefulSet's claims (by the template-sts-ordinal name) that are Pending with no volume: nothing in them."""
    out = []
    for pvc in ctx.snap.pvcs:
        if _statefulset_of(ctx, name_of(pvc)) == sts and (pvc.get("status") or {}).get("phase") == "Pending":
            if not (pvc.get("spec") or {}).get("volumeName"):
                out.append(pvc)
    return out


def _statefulset_of(ctx: Context, claim: str) -> str | None:
    for sts in ctx.snap.statefulsets:
        for template in (sts.get("spec") or {}).get("volumeClaimTemplates") or []:
            if claim.startswith(f"{name_of(template)}-{name_of(sts)}-"):
                return name_of(sts)
    return None


def recreate_fix(ctx: Context, pvc: Obj, classes: dict[str, Obj], default: str | None, why: str, proven: bool = False) -> dict[str, Any]:
    """Delete the never-bound claim and apply it again with an existing class (the default, else the only one);
    several candidates and no default: say so, no apply."""
    name, ns = name_of(pvc), ctx.ns
    owner = f"PersistentVolumeClaim/{name}"
    pick = default or (next(iter(classes)) if len(classes) == 1 else None)
    sts = _statefulset_of(ctx, name)
    if sts and pick and ((pvc.get("status") or {}).get("phase")) == "Pending" and not (pvc.get("spec") or {}).get("volumeName"):
        # the claim template is immutable: the StatefulSet is created again from its own spec with the class (its pods
        # cannot have started without the claim), and so are its never-bound claims, or its new pods would reuse them
        claims = [claim_manifest(c, pick) for c in _never_bound(ctx, sts)]
        manifest = [*claims, statefulset_manifest(ctx.snap.by_name("statefulsets", sts), pick)]
        return fixes.make(
            ctx.snap,
            f"StatefulSet/{sts}",
            f"{why}: StatefulSet {sts} makes this claim from its volumeClaimTemplates, which are immutable: recreate it from its own spec with "
            f"storageClassName {pick}{' (the default)' if pick == default else ''}, and its never-bound claims with it (they hold no data)",
            None,
            apply=[fixes.step("apply_manifest", manifest=manifest, namespace=ns, replace=True, wait=True)],
            risk="medium",
            verify=False,
        )
    if sts:
        return fixes.make(
            ctx.snap,
            owner,
            f"{why}: StatefulSet {sts} creates this claim from its volumeClaimTemplates (immutable): recreate the StatefulSet with "
            f"storageClassName {pick or 'one of ' + ', '.join(sorted(classes))} (kubectl delete statefulset {sts} --cascade=orphan, "
            f"then apply it with the class), then delete this claim",
            None,
            verify=False,
            mutates=False,
        )
    if not pick:
        where = "provisions in this namespace" if proven else "exists"
        candidates = ", ".join(sorted(classes))
        return fixes.make(
            ctx.snap,
            owner,
            f"{why}; no other class {where} to move the claim to"
            if not classes
            else f"{why}; pick the class for the claim (no default): {candidates}, then recreate it with that class",
            None,
            verify=False,
            mutates=False,
            note="storageClassName is immutable: delete the unbound claim and apply it again with the class.",
        )
    if ((pvc.get("status") or {}).get("phase")) != "Pending" or (pvc.get("spec") or {}).get("volumeName"):
        return fixes.make(ctx.snap, owner, f"{why}; the claim is bound to a volume: move its data before recreating it", None, verify=False, mutates=False)
    # replace: storageClassName is immutable, the claim is deleted and created again; wait: until it is Bound (its
    # pending pods are scheduled again and start)
    apply = [fixes.step("apply_manifest", manifest=[claim_manifest(pvc, pick)], namespace=ns, replace=True, wait=True)]
    users = _users(ctx, name)
    return fixes.make(
        ctx.snap,
        owner,
        f"Recreate claim {name} with StorageClass {pick}{' (the default)' if pick == default else ''}: storageClassName is immutable; "
        "the claim never bound, so it holds no data"
        + (f"; the pending pods of {', '.join(f'{k}/{n}' for k, n in users)} then bind and start" if users else ""),
        None,
        helm_set={"persistence.storageClass": pick},
        risk="medium",
        verify=False,
        apply=apply,
    )
