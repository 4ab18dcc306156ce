"""Missing Secrets/ConfigMaps or keys referenced by env/envFrom, from the kubelet's waiting message and from a spec
cross-check against the API (so it is found even before a pod tries to start), plus runAsNonRoot violations."""

from __future__ import annotations

import re

from .. import fixes
from ..base import Context, Issue, live_pods, spec_path
from ..snapshot import name_of

check = "config"
needs = ("pods",)

MESSAGES = [
    (re.compile(r"couldn't find key (\S+) in Secret [^/\s]+/(\S+)"), "config.missing_secret_key"),
    (re.compile(r"couldn't find key (\S+) in ConfigMap [^/\s]+/(\S+)"), "config.missing_configmap_key"),
    (re.compile(r'secret "([^"]+)" not found'), "config.missing_secret"),
    (re.compile(r'configmap "([^"]+)" not found'), "config.missing_configmap"),
]


def analyze(ctx: Context) -> list[Issue]:
    issues = []
    for template in ctx.scope.templates:
        issues += _spec_issues(ctx, template)
    for pod in live_pods(ctx.scope.pods):
        status = pod.get("status") or {}
        for init, statuses in ((True, status.get("initContainerStatuses")), (False, status.get("containerStatuses"))):
            for cs in statuses or []:
                waiting = (cs.get("state") or {}).get("waiting") or {}
                if waiting.get("reason") == "CreateContainerConfigError":
                    issue = _from_message(ctx, pod, cs, waiting.get("message") or "", init)
                    if issue:
                        issues.append(issue)
    return issues


def _refs(spec):
    """(container, init, kind, name, key, path-suffix) for every non-optional Secret/ConfigMap env reference."""
    for init, key in ((True, "initContainers"), (False, "containers")):
        for c in spec.get(key) or []:
            for env in c.get("env") or []:
                source = env.get("valueFrom") or {}
                for attr, kind in (("secretKeyRef", "secret"), ("configMapKeyRef", "configmap")):
                    r = source.get(attr)
                    if r and not r.get("optional"):
                        yield c["name"], init, kind, r.get("name"), r.get("key"), f"{key}[{c['name']}].env[{env.get('name')}].valueFrom.{attr}"
            for source in c.get("envFrom") or []:
                for attr, kind in (("secretRef", "secret"), ("configMapRef", "configmap")):
                    r = source.get(attr)
                    if r and not r.get("optional"):
                        yield c["name"], init, kind, r.get("name"), None, f"{key}[{c['name']}].envFrom.{attr}"


def _spec_issues(ctx: Context, template) -> list[Issue]:
    issues = []
    sp = spec_path(template.kind)
    for cname, _init, kind, name, key, path in _refs(template.spec):
        store = ctx.snap.secrets if kind == "secret" else ctx.snap.configmaps
        known = store.get(name or "")
        if known is None:  # not fetched (RBAC or not referenced): no claim either way
            continue
        if not known.exists:
            mode, detail = f"config.missing_{kind}", name
        elif key and key not in known.keys:
            mode, detail = f"config.missing_{kind}_key", f"{name}:{key}"
        else:
            continue
        ev = [{"p": f"{sp}.{path}", "v": {"name": name, **({"key": key} if key else {})}}]
        if known.exists:
            ev.append({"p": f"{'Secret' if kind == 'secret' else 'ConfigMap'}/{name}.keys", "v": known.keys})
        else:
            ev.append({"p": f"{'Secret' if kind == 'secret' else 'ConfigMap'}/{name}", "v": "not found (GET 404)"})
        issues.append(_issue(ctx, template.owner, template.owner, cname, mode, detail, name, key, ev))
    return issues


def _from_message(ctx: Context, pod, cs, message: str, init: bool) -> Issue | None:
    owner, pname, cname = ctx.owner(pod), name_of(pod), cs["name"]
    base = f"status.{'initContainerStatuses' if init else 'containerStatuses'}[{cname}].state.waiting"
    ev = [{"p": base, "v": {"reason": "CreateContainerConfigError", "message": message[:200]}}]
    if "runAsNonRoot" in message:
        issue = Issue(
            mode="config.run_as_root",
            obj=f"Pod/{pname}",
            owner=owner,
            container=cname,
            ev=ev,
            subjects={f"Pod/{pname}", owner},
            cause={"text": "runAsNonRoot is set but the image runs as root", "conf": "high", "basis": [0]},
        )
        sp = spec_path(owner.split("/", 1)[0])
        issue.fix = fixes.make(
            ctx.snap,
            owner,
            "Run as a non-root user id (or use an image whose USER is non-root)",
            fixes.kubectl(
                ctx.ns,
                "patch",
                fixes.short_ref(owner),
                fixes.json_patch([{"op": "add", "path": f"/{sp.replace('.', '/')}/securityContext/runAsUser", "value": 10001}]),
            ),
            helm_set={"podSecurityContext.runAsUser": "10001"},
        )
        return issue
    for pattern, mode in MESSAGES:
        match = pattern.search(message)
        if not match:
            continue
        if mode.endswith("_key"):
            key, name = match.group(1), match.group(2)
            detail = f"{name}:{key}"
        else:
            key, name = None, match.group(1)
            detail = name
        kind = "secret" if "secret" in mode else "configmap"
        known = (ctx.snap.secrets if kind == "secret" else ctx.snap.configmaps).get(name)
        if known is not None and known.exists:
            ev.append({"p": f"{'Secret' if kind == 'secret' else 'ConfigMap'}/{name}.keys", "v": known.keys})
        return _issue(ctx, f"Pod/{pname}", owner, cname, mode, detail, name, key, ev)
    return None


def _issue(ctx: Context, obj: str, owner: str, cname: str, mode: str, detail: str, name: str, key: str | None, ev) -> Issue:
    kind = "secret" if "secret" in mode else "configmap"
    label = "Secret" if kind == "secret" else "ConfigMap"
    existing = next((e["v"] for e in ev if str(e.get("p", "")).endswith(".keys")), None)
    if key:
        text = f"{label} {name} has no key {key}" + (f" (it has: {', '.join(existing)})" if existing else "")
        if kind == "secret":
            command = fixes.kubectl(ctx.ns, "patch", "secret", name, fixes.merge_patch({"stringData": {key: "<value>"}}))
        else:
            command = fixes.kubectl(ctx.ns, "patch", "configmap", name, fixes.merge_patch({"data": {key: "<value>"}}))
        do = f"Add key {key} to {label} {name}, or point the reference at an existing key"
    else:
        text = f"{label} {name} does not exist"
        command = (
            fixes.kubectl(ctx.ns, "create", "secret", "generic", name, "--from-literal=<KEY>=<value>")
            if kind == "secret"
            else fixes.kubectl(ctx.ns, "create", "configmap", name, "--from-literal=<KEY>=<value>")
        )
        do = f"Create {label} {name}, fix the name in the template, or mark the reference optional: true"
    text += f"; container {cname} cannot start"
    return Issue(
        mode=mode,
        obj=obj,
        owner=owner,
        container=cname,
        ev=ev,
        detail=detail,
        subjects={obj, owner},
        cause={"text": text, "conf": "high", "basis": list(range(len(ev)))},
        fix=fixes.make(
            ctx.snap,
            owner,
            do,
            command,
            verify=False,
            note="For Helm, make the chart render it or point existingSecret-style values at one that exists." if kind == "secret" else None,
        ),
    )
