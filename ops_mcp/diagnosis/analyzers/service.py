"""Services: selectors that match no pod (with the label diff to the nearest workload), no ready endpoints
(a symptom linked to the pods' own failures), and target ports the pods do not declare."""

from __future__ import annotations

from .. import fixes
from ..base import Context, Issue, live_pods, pod_ready
from ..snapshot import WORKLOAD_KINDS, Obj, meta, name_of, selector_matches

check = "service"
needs = ("services",)


def analyze(ctx: Context) -> list[Issue]:
    issues = []
    for svc in ctx.scope.services:
        spec = svc.get("spec") or {}
        selector = spec.get("selector")
        if not selector or spec.get("type") == "ExternalName":
            continue
        name, ref = name_of(svc), f"Service/{name_of(svc)}"
        pods = [p for p in live_pods(ctx.snap.pods_with_labels(selector)) if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        if not pods:
            templates = _templates(ctx)
            owners = [ref_ for ref_, labels in templates if selector_matches(selector, labels)]
            if owners:  # the right workload exists but has no pods: scaled to 0, or its own failure explains it
                issue = Issue(
                    mode="service.no_ready_endpoints",
                    obj=ref,
                    sev="high",
                    symptom=True,
                    subjects={ref},
                    links=set(owners),
                    ev=[{"p": "spec.selector", "v": selector}, {"p": f"{owners[0]}.pods", "v": "0 pods exist"}],
                    cause={"text": f"{owners[0]} matches the selector but has no running pods", "conf": "high", "basis": [1]},
                )
                scaled_to_zero(ctx, issue, owners)
                issues.append(issue)
            else:
                issues.append(_selector_mismatch(ctx, svc, selector, templates))
            continue
        issues += _target_ports(ctx, svc, pods)
        ready, total = _endpoints(ctx, name, pods)
        if ready == 0:
            issues.append(
                Issue(
                    mode="service.no_ready_endpoints",
                    obj=ref,
                    sev="high",
                    symptom=True,
                    subjects={ref},
                    links={f"Pod/{name_of(p)}" for p in pods} | {ctx.owner(p) for p in pods},
                    ev=[{"p": f"EndpointSlice[kubernetes.io/service-name={name}].endpoints[*].conditions.ready", "v": f"0/{total} true"}],
                    cause={"text": f"None of the {len(pods)} selected pods is ready", "conf": "high", "basis": [0]},
                    next=[fixes.kubectl(ctx.ns, "get", "pods", "-l", ",".join(f"{k}={v}" for k, v in selector.items()))],
                )
            )
    return issues


def _endpoints(ctx: Context, name: str, pods: list[Obj]) -> tuple[int, int]:
    slices = [s for s in ctx.snap.endpointslices if (meta(s).get("labels") or {}).get("kubernetes.io/service-name") == name]
    if slices and "endpointslices" not in ctx.snap.unreadable:
        endpoints = [e for s in slices for e in s.get("endpoints") or []]
        ready = sum(1 for e in endpoints if (e.get("conditions") or {}).get("ready") is not False)
        if endpoints or not any(pod_ready(p) for p in pods):
            return ready, len(endpoints)
    return sum(1 for p in pods if pod_ready(p)), len(pods)  # no slice yet: judge by the pods


def _templates(ctx: Context) -> list[tuple[str, dict[str, str]]]:
    out = []
    for kind, attr in zip(WORKLOAD_KINDS, ("deployments", "statefulsets", "daemonsets", "jobs"), strict=True):
        for w in getattr(ctx.snap, attr):
            labels = (((w.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
            out.append((f"{kind}/{name_of(w)}", labels))
    out += [(f"Pod/{name_of(p)}", meta(p).get("labels") or {}) for p in ctx.snap.pods if not meta(p).get("ownerReferences")]
    return out


def _selector_mismatch(ctx: Context, svc: Obj, selector: dict, templates) -> Issue:
    name, ref = name_of(svc), f"Service/{name_of(svc)}"
    ev = [{"p": "spec.selector", "v": selector}, {"p": "pods matching", "v": 0}]
    scored = []
    for owner, labels in templates:
        diff = {k: labels.get(k) for k, v in selector.items() if labels.get(k) != v}
        same = len(selector) - len(diff)
        scored.append((len(diff), -same, _name_distance(name, owner.split("/", 1)[1]) + _port_distance(ctx, svc, owner), owner, diff, labels))
    scored.sort(key=lambda s: s[:3])
    issue = Issue(
        mode="service.selector_mismatch", obj=ref, ev=ev, sev="high", subjects={ref}, detail=",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    )
    if not scored or scored[0][0] == len(selector) and not any(set(selector) & set(labels) for *_, labels in scored[:1]):
        issue.cause = {"text": "No pod or workload in the namespace carries these labels", "conf": "medium", "basis": [0, 1]}
        issue.fix = fixes.make(ctx.snap, ref, "Deploy the backend this Service should route to, or correct the selector", None, verify=False, mutates=False)
        return issue
    count, _, _, owner, diff, labels = scored[0]
    unique = len(scored) == 1 or scored[1][:3] != scored[0][:3]
    wanted = {k: labels[k] for k in diff if k in labels}
    ev.append(
        {
            "p": f"{owner}.spec.template.metadata.labels" if not owner.startswith("Pod/") else f"{owner}.metadata.labels",
            "v": {k: labels.get(k) for k in selector},
        }
    )
    pretty = ", ".join(f"{k}: {selector[k]} ≠ {k}: {labels.get(k, '<unset>')}" for k in diff)
    issue.cause = {"text": f"Selector matches 0 pods; nearest is {owner}: {pretty}", "conf": "high" if count == 1 and unique else "medium", "basis": [0, 2]}
    issue.links = set()
    if not unique:
        tied = [s[3] for s in scored if s[:3] == scored[0][:3]]
        issue.cause["conf"] = "medium"
        issue.fix = fixes.make(
            ctx.snap,
            ref,
            f"Point the selector at the labels of the workload this Service should reach; equally near: {', '.join(tied[:4])}",
            verify=False,
            mutates=False,
        )
    elif wanted and len(wanted) == len(diff):
        patch = {"spec": {"selector": wanted}}
        issue.fix = fixes.make(
            ctx.snap,
            ref,
            f"Point the selector at {owner}'s labels",
            helm_set={"service.selector": "<chart selectorLabels>"},
            verify=False,
            apply=[fixes.step("patch_resource", kind="service", name=name, namespace=ctx.ns, patch=patch, patch_type="merge")],
        )
        issue.fix["verify"] = fixes.kubectl(ctx.ns, "get", "endpointslices", "-l", f"kubernetes.io/service-name={name}")
    else:  # keys the pods lack: replace the whole selector (a merge patch cannot carry the removals)
        new = {k: labels[k] for k in selector if k in labels}
        ops = [{"op": "replace", "path": "/spec/selector", "value": new}]
        issue.fix = fixes.make(
            ctx.snap,
            ref,
            f"Set the selector to {owner}'s labels {new}, dropping the keys {sorted(k for k in diff if k not in labels)} its pods lack",
            verify=False,
            apply=[fixes.step("patch_resource", kind="service", name=name, namespace=ctx.ns, patch=ops, patch_type="json")],
        )
    return issue


def _target_ports(ctx: Context, svc: Obj, pods: list[Obj]) -> list[Issue]:
    issues = []
    ref = f"Service/{name_of(svc)}"
    declared_names, declared_numbers = set(), set()
    for pod in pods:
        for c in (pod.get("spec") or {}).get("containers") or []:
            for port in c.get("ports") or []:
                declared_names.add(port.get("name"))
                declared_numbers.add(port.get("containerPort"))
    for i, port in enumerate((svc.get("spec") or {}).get("ports") or []):
        target = port.get("targetPort", port.get("port"))
        bad = (isinstance(target, str) and target not in declared_names) or (isinstance(target, int) and declared_numbers and target not in declared_numbers)
        if not bad:
            continue
        choices = sorted(n for n in declared_numbers if n)
        value = _target_port(port, pods)
        ev = [
            {"p": f"spec.ports[{port.get('name') or i}].targetPort", "v": target},
            {"p": "Pod[*].spec.containers[*].ports", "v": {"names": sorted(n for n in declared_names if n), "numbers": choices}},
        ]
        issues.append(
            Issue(
                mode="service.target_port_mismatch",
                obj=ref,
                sev="high",
                ev=ev,
                subjects={ref},
                detail=str(target),
                cause={
                    "text": f"targetPort {target!r} is not a port the selected pods declare",
                    "conf": "high" if isinstance(target, str) else "medium",
                    "basis": [0, 1],
                },
                fix=_target_port_fix(ctx, svc, i, port, value, choices),
            )
        )
    return issues


def _declared(pods: list[Obj]) -> list[Obj]:
    """Distinct container ports the pods declare ({containerPort, name?})."""
    seen, out = set(), []
    for pod in pods:
        for c in (pod.get("spec") or {}).get("containers") or []:
            for p in c.get("ports") or []:
                key = (p.get("containerPort"), p.get("name"))
                if p.get("containerPort") and key not in seen:
                    seen.add(key)
                    out.append(p)
    return out


def _target_port(port: Obj, pods: list[Obj]) -> int | str | None:
    """The declared port the Service port should reach: the only one, else the one named like the Service port, else
    the one with the Service port's number; by name when the container names it. None: several, no clue."""
    declared = _declared(pods)
    pick = declared[0] if len(declared) == 1 else None
    if pick is None and port.get("name"):
        pick = next((p for p in declared if p.get("name") == port["name"]), None)
    if pick is None:
        pick = next((p for p in declared if p.get("containerPort") == port.get("port")), None)
    if pick is None:
        return None
    return pick.get("name") or pick["containerPort"]


def _target_port_fix(ctx: Context, svc: Obj, i: int, port: Obj, value: int | str | None, choices: list[int]) -> dict:
    name = name_of(svc)
    if value is None:
        return fixes.make(
            ctx.snap,
            f"Service/{name}",
            f"Set targetPort to the container port the app listens on: the pods declare {choices or 'no ports'}, which one is unclear",
            fixes.kubectl_of(
                [
                    fixes.step(
                        "patch_resource",
                        kind="service",
                        name=name,
                        namespace=ctx.ns,
                        patch=[{"op": "replace", "path": f"/spec/ports/{i}/targetPort", "value": "<container-port>"}],
                        patch_type="json",
                    )
                ]
            ),
            verify=False,
            mutates=False,
        )
    # the test op makes the patch fail rather than change another port if the list moved since the diagnosis
    ops = [{"op": "test", "path": f"/spec/ports/{i}/port", "value": port.get("port")}, {"op": "replace", "path": f"/spec/ports/{i}/targetPort", "value": value}]
    fix = fixes.make(
        ctx.snap,
        f"Service/{name}",
        f"Set targetPort of port {port.get('name') or port.get('port')} to the container's declared port {value}",
        verify=False,
        apply=[fixes.step("patch_resource", kind="service", name=name, namespace=ctx.ns, patch=ops, patch_type="json")],
    )
    fix["verify"] = fixes.kubectl(ctx.ns, "get", "endpointslices", "-l", f"kubernetes.io/service-name={name}")
    return fix


def scaled_to_zero(ctx: Context, issue: Issue, owners: list[str]) -> None:
    """The selected workload has replicas 0: scale it back (the HPA's minimum when one scales it, else 1)."""
    scalable = [o for o in owners if o.split("/", 1)[0] in ("Deployment", "StatefulSet")]
    zero = [o for o in scalable if ((ctx.snap.workload(*o.split("/", 1)) or {}).get("spec") or {}).get("replicas") == 0]
    if len(zero) != 1:
        return
    kind, wname = zero[0].split("/", 1)
    hpa = next((h for h in ctx.snap.hpas if _scales(h, kind, wname)), None)
    replicas = int((hpa or {}).get("spec", {}).get("minReplicas") or 1)
    issue.ev.append({"p": f"{zero[0]}.spec.replicas", "v": 0})
    issue.cause = {"text": f"{zero[0]} is scaled to 0 replicas, so the Service has no pod to route to", "conf": "high", "basis": [1, 2]}
    issue.symptom, issue.links = False, set()
    issue.fix = fixes.make(
        ctx.snap,
        zero[0],
        f"Scale {zero[0]} to {replicas}" + (f" (HPA {name_of(hpa)}'s minimum)" if hpa else ""),
        helm_set={"replicaCount": str(replicas)},
        apply=[fixes.step("scale_deployment", name=wname, replicas=replicas, namespace=ctx.ns, kind=kind.lower(), wait=True, adjust_hpa=True if hpa else None)],
    )


def _scales(hpa: Obj, kind: str, name: str) -> bool:
    target = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
    return target.get("kind") == kind and target.get("name") == name


def _port_distance(ctx: Context, svc: Obj, owner: str) -> int:
    """0 when the workload's containers declare a port the Service targets (by number or name), else 1."""
    kind, name = owner.split("/", 1)
    obj = ctx.snap.workload(kind, name) or {}
    spec = obj.get("spec") or {}
    pod_spec = spec if kind == "Pod" else ((spec.get("template") or {}).get("spec") or {})
    declared = {v for c in pod_spec.get("containers") or [] for p in c.get("ports") or [] for v in (p.get("containerPort"), p.get("name")) if v}
    targets = {p.get("targetPort", p.get("port")) for p in (svc.get("spec") or {}).get("ports") or []}
    return 0 if declared & targets else 1


def _name_distance(a: str, b: str) -> int:
    return 0 if a == b else 1 if a in b or b in a else 2
