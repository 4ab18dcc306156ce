"""Missing Secrets/ConfigMaps or keys referenced by env/envFrom, from the kubelet's waiting message and from a spec
cross-check against the API (so it is found even before a pod tries to start), plus runAsNonRoot violations."""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterator

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


def analyze(ctx: Context) -> Iterator[Issue]:
    for template in ctx.scope.templates:  # a namespace of bare pods is a template per pod: yielded as they come
        yield from _spec_issues(ctx, template)
    for pod in live_pods(ctx.scope.pods):
        status = pod.get("status") or {}
        for init, statuses in ((True, status.get("initContainerStatuses")), (False, status.get("containerStatuses"))):
            for cs in statuses or []:
                waiting = (cs.get("state") or {}).get("waiting") or {}
                if waiting.get("reason") == "CreateContainerConfigError":
                    issue = _from_message(ctx, pod, cs, waiting.get("message") or "", init)
                    if issue:
                        yield issue


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
        issues.append(_issue(ctx, template.owner, template.owner, cname, mode, detail, name, key, ev, template.spec))
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
        patch = {"spec": {"securityContext": {"runAsUser": "<uid>"}}}  # one the image's files allow: the cluster does not say
        issue.fix = fixes.make(
            ctx.snap,
            owner,
            "Run as a non-root user id the image's files allow (e.g. 10001), or use an image whose USER is non-root",
            apply=[fixes.patch_step(ctx.snap, owner, patch if owner.startswith("Pod/") else {"spec": {"template": patch}})],
            risk="medium",
            helm_set={"podSecurityContext.runAsUser": "<uid>"},
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
        return _issue(ctx, f"Pod/{pname}", owner, cname, mode, detail, name, key, ev, pod.get("spec") or {})
    return None


@functools.lru_cache(maxsize=256)
def _near(name: str, existing: tuple[str, ...]) -> list[str]:
    """Names like `name` (difflib is costly; thousands of bare pods that reference the same missing object ask the same)."""
    return difflib.get_close_matches(name, existing, n=3, cutoff=0.6)


def _running(ctx: Context, obj: str, owner: str, cname: str) -> bool:
    """Every live pod of this object or owner has container `cname` running (its env was read at its start)."""
    pods = ctx.live_pods_of(owner, obj)
    return bool(pods) and all(
        any(cs.get("name") == cname and "running" in (cs.get("state") or {}) for cs in (p.get("status") or {}).get("containerStatuses") or []) for p in pods
    )


def similar_key(key: str, existing: list[str]) -> str | None:
    """The one existing key the reference most likely meant: the same but for case and separators (log-level,
    LOG_LEVEL, logLevel), else a single close spelling; None when no key, or more than one, is that close."""
    norm = lambda k: re.sub(r"[^a-z0-9]", "", k.lower())  # noqa: E731
    same = [k for k in existing if norm(k) == norm(key)]
    close = same or difflib.get_close_matches(key, existing, n=2, cutoff=0.8)
    return close[0] if len(close) == 1 else None


def _env_names(spec: dict, cname: str, attr: str, name: str, key: str) -> list[str]:
    """The container's env vars whose `attr` (secretKeyRef/configMapKeyRef) names this object and key."""
    containers = (spec.get("initContainers") or []) + (spec.get("containers") or [])
    env = next((c.get("env") or [] for c in containers if c.get("name") == cname), [])
    return [e["name"] for e in env if ((e.get("valueFrom") or {}).get(attr) or {}).get("name") == name and e["valueFrom"][attr].get("key") == key]


def _key_fix(ctx: Context, owner: str, cname: str, label: str, name: str, key: str, meant: str, spec: dict, to: str | None = None) -> dict | None:
    """Point the env references at the existing key `meant` (of object `to`, default the same; the live template's
    container, matched by name)."""
    attr = "secretKeyRef" if label == "Secret" else "configMapKeyRef"
    names = _env_names(spec, cname, attr, name, key)
    if not names or owner.startswith("Pod/"):  # a bare pod's env is immutable: recreated by hand
        return None
    init = any(c.get("name") == cname for c in spec.get("initContainers") or [])
    env = [{"name": n, "valueFrom": {attr: {"name": to or name, "key": meant}}} for n in names]
    patch = fixes.container_patch(owner, cname, init, env=env)
    do = (
        f"Point {', '.join(names)} at key {meant} of {label} {to}: {name} does not exist, {to} is the only {label} with that key"
        if to
        else f"Point {', '.join(names)} at key {meant} of {label} {name}: it has {meant}, not {key}"
    )
    undo = [fixes.undo_step(ctx.snap, owner)] if fixes.healthy_previous(ctx.snap, owner) else []
    if undo:
        do = "Roll back to the last healthy revision, then " + do[0].lower() + do[1:]
    return fixes.make(ctx.snap, owner, do, apply=undo + [fixes.patch_step(ctx.snap, owner, patch)])


def _issue(ctx: Context, obj: str, owner: str, cname: str, mode: str, detail: str, name: str, key: str | None, ev, spec: dict) -> Issue:
    kind = "secret" if "secret" in mode else "configmap"
    label = "Secret" if kind == "secret" else "ConfigMap"
    existing = next((e["v"] for e in ev if str(e.get("p", "")).endswith(".keys")), None)
    meant = similar_key(key, existing) if key and existing else None
    fix = _key_fix(ctx, owner, cname, label, name, key, meant, spec) if meant else None
    if mode.endswith("_key"):
        text = f"{label} {name} has no key {key}" + (f" (it has: {', '.join(existing)})" if existing else "")
        body = {"stringData" if kind == "secret" else "data": {key: "<value>"}}  # the value is not known here
        command = fixes.kubectl_of([fixes.step("patch_resource", kind=kind, name=name, namespace=ctx.ns, patch=body, patch_type="merge")])
        do = f"Add key {key} to {label} {name} (its value is not known here), or point the reference at an existing key" + (
            f" (candidates: {', '.join(existing)})" if existing else ""
        )
    else:  # the object itself is missing: a key the reference names is the one to create it with
        text = f"{label} {name} does not exist" + (f" (the reference wants its key {key})" if key else "")
        command = fixes.kubectl(
            ctx.ns, "create", *(("secret", "generic") if kind == "secret" else ("configmap",)), name, f"--from-literal={key or '<key>'}=<value>"
        )
        store = ctx.snap.secrets if kind == "secret" else ctx.snap.configmaps
        holders = sorted(n for n, k in store.items() if k.exists and key and key in k.keys)
        if len(holders) == 1:
            fix = fix or _key_fix(ctx, owner, cname, label, name, key, key, spec, to=holders[0])
        near = _near(name, tuple(n for n, k in store.items() if k.exists))
        do = f"Create {label} {name}, fix the name in the template, or mark the reference optional: true" + (
            f" ({label}s with key {key}: {', '.join(holders[:4])})" if holders else f" ({label}s named like it: {', '.join(near)})" if near else ""
        )
    if _running(ctx, obj, owner, cname):
        # Removed or renamed after the container started: it runs on what it read then; its next start fails.
        text += f"; container {cname} runs on what it read at start, and its next start (a restart, a new pod) fails"
    else:
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
        fix=fix
        or fixes.make(
            ctx.snap,
            owner,
            do,
            command,
            verify=False,
            note="For Helm, make the chart render it or point existingSecret-style values at one that exists." if kind == "secret" else None,
        ),
    )
