"""Ingress defects: missing backend Service or port, no IngressClass, missing TLS Secret, no address."""

from __future__ import annotations

from datetime import timedelta

from .. import fixes
from ..base import Context, Issue
from ..snapshot import Obj, meta, name_of, parse_time

check = "ingress"
needs = ("ingresses",)
NO_ADDRESS_AFTER = timedelta(minutes=5)


def analyze(ctx: Context) -> list[Issue]:
    issues = []
    for ing in ctx.scope.ingresses:
        issues += _ingress(ctx, ing)
    return issues


def _backends(ing: Obj):
    spec = ing.get("spec") or {}
    if (spec.get("defaultBackend") or {}).get("service"):
        yield "spec.defaultBackend.service", spec["defaultBackend"]["service"]
    for rule in spec.get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            svc = (path.get("backend") or {}).get("service")
            if svc:
                yield f"spec.rules[{rule.get('host', '*')}].http.paths[{path.get('path', '/')}].backend.service", svc


def _ingress(ctx: Context, ing: Obj) -> list[Issue]:
    issues, name = [], name_of(ing)
    ref = f"Ingress/{name}"
    spec = ing.get("spec") or {}
    cls = spec.get("ingressClassName") or (meta(ing).get("annotations") or {}).get("kubernetes.io/ingress.class")
    classes = {name_of(c): c for c in ctx.snap.ingressclasses}
    class_ok = True
    if "ingressclasses" not in ctx.snap.unreadable:
        default = [n for n, c in classes.items() if (meta(c).get("annotations") or {}).get("ingressclass.kubernetes.io/is-default-class") == "true"]
        if not cls and not default:
            class_ok = False
            issues.append(
                _issue(
                    ctx,
                    ref,
                    "ingress.no_class",
                    "",
                    [{"p": "spec.ingressClassName", "v": None}, {"p": "IngressClass[*]", "v": sorted(classes)}],
                    "No ingressClassName and no default IngressClass: no controller will serve it",
                    "Set ingressClassName (install a controller first if none exists, e.g. minikube addons enable ingress)",
                    fixes.kubectl(
                        ctx.ns, "patch", "ingress", name, fixes.merge_patch({"spec": {"ingressClassName": sorted(classes)[0] if classes else "nginx"}})
                    ),
                    {"ingress.className": sorted(classes)[0] if classes else "nginx"},
                )
            )
        elif cls and cls not in classes:
            class_ok = False
            issues.append(
                _issue(
                    ctx,
                    ref,
                    "ingress.no_class",
                    cls,
                    [{"p": "spec.ingressClassName", "v": cls}, {"p": "IngressClass[*]", "v": sorted(classes)}],
                    f"IngressClass {cls} does not exist" + (f" (existing: {', '.join(sorted(classes))})" if classes else " (none installed)"),
                    "Use an existing IngressClass or install its controller",
                    fixes.kubectl(
                        ctx.ns, "patch", "ingress", name, fixes.merge_patch({"spec": {"ingressClassName": sorted(classes)[0] if classes else "<class>"}})
                    ),
                    {"ingress.className": sorted(classes)[0] if classes else "<class>"},
                )
            )
    for path, backend in _backends(ing):
        svc_name, port = backend.get("name"), backend.get("port") or {}
        svc = ctx.snap.by_name("services", svc_name)
        if svc is None:
            near = sorted(name_of(s) for s in ctx.snap.services)
            issues.append(
                _issue(
                    ctx,
                    ref,
                    "ingress.missing_service",
                    svc_name,
                    [{"p": f"{path}.name", "v": svc_name}, {"p": f"Service/{svc_name}", "v": "not found"}],
                    f"Backend Service {svc_name} does not exist" + (f" (Services: {', '.join(near[:5])})" if near else ""),
                    "Point the backend at an existing Service (or create it)",
                    fixes.kubectl(ctx.ns, "edit", "ingress", name),
                    None,
                )
            )
            continue
        ports = (svc.get("spec") or {}).get("ports") or []
        wanted = port.get("number") if port.get("number") is not None else port.get("name")
        if wanted is not None and wanted not in {p.get("port") for p in ports} | {p.get("name") for p in ports}:
            have = [p.get("port") for p in ports]
            issues.append(
                _issue(
                    ctx,
                    ref,
                    "ingress.bad_port",
                    f"{svc_name}:{wanted}",
                    [{"p": f"{path}.port", "v": port}, {"p": f"Service/{svc_name}.spec.ports[*].port", "v": have}],
                    f"Backend port {wanted} is not a port of Service {svc_name} (it has {have})",
                    "Use one of the Service's ports",
                    fixes.kubectl(ctx.ns, "edit", "ingress", name),
                    {"ingress.servicePort": str(have[0]) if have else "<port>"},
                )
            )
    for i, tls in enumerate(spec.get("tls") or []):
        secret = tls.get("secretName")
        known = ctx.snap.secrets.get(secret or "")
        if secret and known is not None and not known.exists:
            issues.append(
                _issue(
                    ctx,
                    ref,
                    "ingress.missing_tls_secret",
                    secret,
                    [{"p": f"spec.tls[{i}].secretName", "v": secret}, {"p": f"Secret/{secret}", "v": "not found (GET 404)"}],
                    f"TLS Secret {secret} does not exist, so the controller serves a default certificate (or rejects the host)",
                    "Create the TLS Secret",
                    fixes.kubectl(ctx.ns, "create", "secret", "tls", secret, "--cert=<cert.pem>", "--key=<key.pem>"),
                    None,
                )
            )
    created = parse_time(meta(ing).get("creationTimestamp"))
    lb = ((ing.get("status") or {}).get("loadBalancer") or {}).get("ingress")
    if class_ok and not lb and created and ctx.snap.now - created > NO_ADDRESS_AFTER:
        issue = _issue(
            ctx,
            ref,
            "ingress.no_address",
            "",
            [{"p": "status.loadBalancer.ingress", "v": []}],
            f"No address after {int((ctx.snap.now - created).total_seconds() // 60)} min: no ingress controller has picked it up",
            "Check that the controller for its class is running",
            None,
            None,
        )
        issue.sev, issue.cause["conf"], issue.fix = "low", "medium", None
        issues.append(issue)
    return issues


def _issue(ctx, ref, mode, detail, ev, text, do, command, helm_set) -> Issue:
    return Issue(
        mode=mode,
        obj=ref,
        ev=ev,
        sev="high",
        subjects={ref},
        detail=detail,
        cause={"text": text, "conf": "high", "basis": list(range(len(ev)))},
        fix=fixes.make(ctx.snap, ref, do, command, helm_set=helm_set, verify=False) if command else None,
    )
