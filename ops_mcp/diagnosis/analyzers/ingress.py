"""Ingress defects: missing backend Service or port, no IngressClass, missing TLS Secret, no address."""

from __future__ import annotations

import difflib
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
        yield "spec.defaultBackend.service", spec["defaultBackend"]["service"], "/spec/defaultBackend/service"
    for r, rule in enumerate(spec.get("rules") or []):
        for n, path in enumerate((rule.get("http") or {}).get("paths") or []):
            svc = (path.get("backend") or {}).get("service")
            if svc:
                where = f"spec.rules[{rule.get('host', '*')}].http.paths[{path.get('path', '/')}].backend.service"
                yield where, svc, f"/spec/rules/{r}/http/paths/{n}/backend/service"


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
                    "Set ingressClassName"
                    + (f" to {sorted(classes)[0]}, the only IngressClass" if len(classes) == 1 else f" (IngressClasses: {', '.join(sorted(classes))})")
                    if classes
                    else "Install an ingress controller (e.g. minikube addons enable ingress), then set ingressClassName to its class",
                    _class_patch(ctx, ref, classes),
                    {"ingress.className": sorted(classes)[0] if len(classes) == 1 else "<class>"},
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
                    f"Use the only IngressClass, {sorted(classes)[0]}"
                    if len(classes) == 1
                    else f"Use an existing IngressClass ({', '.join(sorted(classes))}) or install {cls}'s controller"
                    if classes
                    else f"Install the controller of IngressClass {cls}",
                    _class_patch(ctx, ref, classes),
                    {"ingress.className": sorted(classes)[0] if len(classes) == 1 else "<class>"},
                )
            )
    for path, backend, pointer in _backends(ing):
        svc_name, port = backend.get("name"), backend.get("port") or {}
        svc = ctx.snap.by_name("services", svc_name)
        if svc is None:
            near = sorted(name_of(s) for s in ctx.snap.services)
            close = difflib.get_close_matches(svc_name or "", near, n=3, cutoff=0.6)
            repoint = _service_patch(ctx, ref, pointer, svc_name, port, close)
            issues.append(
                _issue(
                    ctx,
                    ref,
                    "ingress.missing_service",
                    svc_name,
                    [{"p": f"{path}.name", "v": svc_name}, {"p": f"Service/{svc_name}", "v": "not found"}],
                    f"Backend Service {svc_name} does not exist" + (f" (Services: {', '.join(near[:5])})" if near else ""),
                    f"Point the backend at Service {close[0]}, the one named like it"
                    if repoint
                    else "Point the backend at an existing Service (or create it)" + (f"; named like it: {', '.join(close)}" if close else ""),
                    repoint,
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
                    f"Use {'the' if len(have) == 1 else 'one of the'} Service's port{'' if len(have) == 1 else 's'} ({', '.join(map(str, have))})",
                    _port_patch(ctx, ref, pointer, svc_name, have),
                    {"ingress.servicePort": str(have[0]) if len(have) == 1 else "<port>"},
                )
            )
    for i, tls in enumerate(spec.get("tls") or []):
        secret = tls.get("secretName")
        known = ctx.snap.secrets.get(secret or "")
        if secret and known is not None and not known.exists:
            tls_secrets = sorted(n for n, k in ctx.snap.secrets.items() if k.exists and (k.type == "kubernetes.io/tls" or "tls.crt" in k.keys))
            issues.append(
                _issue(
                    ctx,
                    ref,
                    "ingress.missing_tls_secret",
                    secret,
                    [{"p": f"spec.tls[{i}].secretName", "v": secret}, {"p": f"Secret/{secret}", "v": "not found (GET 404)"}],
                    f"TLS Secret {secret} does not exist, so the controller serves a default certificate (or rejects the host)",
                    "Create the TLS Secret" + (f" (TLS Secrets here: {', '.join(tls_secrets[:4])})" if tls_secrets else ""),
                    fixes.kubectl(ctx.ns, "create", "secret", "tls", secret, "--cert=<cert-file>", "--key=<key-file>"),
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


def _class_patch(ctx: Context, ref: str, classes: dict) -> list[dict] | str | None:
    """The only IngressClass set as the Ingress's class (apply); with several, a person's template."""
    if not classes:
        return []
    pick = sorted(classes)[0] if len(classes) == 1 else "<class>"
    steps = [fixes.patch_step(ctx.snap, ref, {"spec": {"ingressClassName": pick}}, "merge")]
    return steps if len(classes) == 1 else fixes.kubectl_of(steps)


def _service_patch(ctx: Context, ref: str, base: str, svc_name: str, port: Obj, close: list[str]) -> list[dict]:
    """The backend pointed at the one Service named like the missing one, when it serves the backend's port (or a
    single port, which the backend then takes); else nothing to apply (`do` names the candidates)."""
    svc = ctx.snap.by_name("services", close[0]) if len(close) == 1 else None
    ports = ((svc or {}).get("spec") or {}).get("ports") or []
    wanted = port.get("number") if port.get("number") is not None else port.get("name")
    if svc is None or not (wanted in {p.get("port") for p in ports} | {p.get("name") for p in ports} or len(ports) == 1):
        return []
    value = {"name": close[0], "port": port if wanted in {p.get("port") for p in ports} | {p.get("name") for p in ports} else {"number": ports[0]["port"]}}
    ops = [{"op": "test", "path": f"{base}/name", "value": svc_name}, {"op": "replace", "path": base, "value": value}]
    return [fixes.patch_step(ctx.snap, ref, ops, "json")]


def _port_patch(ctx: Context, ref: str, base: str, svc_name: str, have: list) -> list[dict] | str:
    """The backend's port set to the Service's only port (a JSON patch at the backend's place), else a template."""
    value = have[0] if len(have) == 1 else "<port>"
    ops = [{"op": "test", "path": f"{base}/name", "value": svc_name}, {"op": "replace", "path": f"{base}/port", "value": {"number": value}}]
    steps = [fixes.patch_step(ctx.snap, ref, ops, "json")]
    return steps if len(have) == 1 else fixes.kubectl_of(steps)


def _issue(ctx, ref, mode, detail, ev, text, do, command, helm_set) -> Issue:
    return Issue(
        mode=mode,
        obj=ref,
        ev=ev,
        sev="high",
        subjects={ref},
        detail=detail,
        cause={"text": text, "conf": "high", "basis": list(range(len(ev)))},
        # command: the calls that fix it, or a person's template (str), or [] for `do` alone
        fix=fixes.make(
            ctx.snap,
            ref,
            do,
            command if isinstance(command, str) else None,
            helm_set=helm_set,
            verify=False,
            apply=command if isinstance(command, list) else None,
            mutates=bool(command),  # [] : `do` alone
        )
        if command is not None
        else None,
    )
