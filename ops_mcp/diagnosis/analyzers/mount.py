"""Pods stuck in ContainerCreating: volumes that cannot mount (missing ConfigMap/Secret, attach errors) or sandbox
creation failures. The spec cross-check finds volumes whose ConfigMap/Secret does not exist even without events."""

from __future__ import annotations

import difflib
import re

from .. import fixes
from ..base import Context, Issue, condition, live_pods, spec_path
from ..snapshot import name_of, parse_time

check = "mount"
needs = ("pods",)

MISSING = re.compile(r'(configmap|secret)s? "([^"]+)" not found', re.I)


def analyze(ctx: Context) -> list[Issue]:
    issues = []
    for template in ctx.scope.templates:
        issues += _spec_issues(ctx, template)
    for pod in live_pods(ctx.scope.pods):
        status = pod.get("status") or {}
        if status.get("phase") != "Pending" or not (pod.get("spec") or {}).get("nodeName"):
            continue
        statuses = (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
        if any(((cs.get("state") or {}).get("waiting") or {}).get("reason") not in (None, "ContainerCreating", "PodInitializing") for cs in statuses):
            continue  # another analyzer owns that waiting reason
        scheduled = parse_time((condition(pod, "PodScheduled") or {}).get("lastTransitionTime"))
        mount_events = ctx.events("Pod", pod, reasons=("FailedMount", "FailedAttachVolume"), after=scheduled)
        sandbox = ctx.events("Pod", pod, reasons=("FailedCreatePodSandBox",), after=scheduled)
        owner, pname = ctx.owner(pod), name_of(pod)
        if mount_events:
            event = mount_events[0]
            missing = MISSING.search(event["msg"])
            ev = [{"p": "status.phase", "v": "Pending"}, ctx.event_ev(event)]
            detail = f"{missing.group(1).lower()}/{missing.group(2)}" if missing else event["reason"]
            issue = Issue(
                mode="mount.failed",
                obj=f"Pod/{pname}",
                owner=owner,
                ev=ev,
                detail=detail,
                subjects={f"Pod/{pname}", owner},
                cause={"text": f"A volume cannot be mounted: {event['msg'][:160]}", "conf": "high" if missing else "medium", "basis": [1]},
            )
            if missing:
                issue.fix = _create_fix(ctx, owner, missing.group(1).lower(), missing.group(2))
            elif "Multi-Attach" in event["msg"]:
                kind, wname = owner.split("/", 1)
                scalable = kind in ("Deployment", "StatefulSet")
                issue.fix = fixes.make(
                    ctx.snap,
                    owner,
                    ("Scale to one replica: " if scalable else "") + "a ReadWriteOnce volume is attached elsewhere (or use per-pod claims: a StatefulSet)",
                    apply=[fixes.step("scale_deployment", name=wname, replicas=1, namespace=ctx.ns, kind=kind.lower(), wait=True)] if scalable else None,
                    mutates=scalable,
                    risk="medium",
                )
            issues.append(issue)
        elif sandbox:
            issues.append(
                Issue(
                    mode="sandbox.failed",
                    obj=f"Pod/{pname}",
                    owner=owner,
                    ev=[ctx.event_ev(sandbox[0])],
                    subjects={f"Pod/{pname}", owner},
                    cause={"text": f"The runtime cannot create the pod sandbox (CNI/runtime): {sandbox[0]['msg'][:160]}", "conf": "medium", "basis": [0]},
                    next=[fixes.kubectl(ctx.ns, "get", "pods", "-n", "kube-system", "-o", "wide")],
                )
            )
    return issues


def _spec_issues(ctx: Context, template) -> list[Issue]:
    issues = []
    sp = spec_path(template.kind)
    for volume in template.spec.get("volumes") or []:
        sources = [(k, volume.get(k)) for k in ("configMap", "secret") if volume.get(k)]
        for projected in (volume.get("projected") or {}).get("sources") or []:
            sources += [(k, projected.get(k)) for k in ("configMap", "secret") if projected.get(k)]
        for kind, source in sources:
            name = source.get("name") if kind == "configMap" else source.get("secretName") or source.get("name")
            store = ctx.snap.configmaps if kind == "configMap" else ctx.snap.secrets
            known = store.get(name or "")
            if not name or source.get("optional") or known is None or known.exists:
                continue
            word = "configmap" if kind == "configMap" else "secret"
            ev = [{"p": f"{sp}.volumes[{volume.get('name')}].{kind}", "v": {"name": name}}, {"p": f"{word.capitalize()}/{name}", "v": "not found (GET 404)"}]
            issues.append(
                Issue(
                    mode="mount.failed",
                    obj=template.owner,
                    owner=template.owner,
                    ev=ev,
                    detail=f"{word}/{name}",
                    subjects={template.owner},
                    cause={"text": f"Volume {volume.get('name')} mounts {word} {name}, which does not exist", "conf": "high", "basis": [0, 1]},
                    fix=_create_fix(ctx, template.owner, word, name),
                )
            )
    return issues


def _create_fix(ctx: Context, owner: str, word: str, name: str) -> dict:
    if word == "configmap":
        command = fixes.kubectl(ctx.ns, "create", "configmap", name, "--from-file=<file>")
    else:
        command = fixes.kubectl(ctx.ns, "create", "secret", "generic", name, "--from-literal=<key>=<value>")
    store = ctx.snap.configmaps if word == "configmap" else ctx.snap.secrets
    near = difflib.get_close_matches(name, [n for n, k in store.items() if k.exists], n=3, cutoff=0.6)
    do = f"Create {word} {name} (or mark the volume source optional: true)" + (f"; named like it here: {', '.join(near)}" if near else "")
    return fixes.make(ctx.snap, owner, do, command, verify=False)
