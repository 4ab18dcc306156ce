"""Helm releases in a diagnosis: their stored records, and the repair of a Helm-managed object as a release operation.

A live change to an object that a Helm release manages does not last: the release keeps its values, so the owner's
next `helm upgrade` puts the broken value back (helm 4, applying server-side, refuses instead: a field-manager conflict
with ops-mcp). So the steps of a fix that change the release's objects become, in this order of preference:
- `rollback_release` to the previous revision when it was healthy: a deployed revision whose pod template a ReplicaSet
  of the Deployment still serves (for other objects: one that holds the very values the fix sets);
- `deploy_chart` with a values change: each live value the fix replaces is looked up in the release's values (the
  user-supplied ones first, then the chart's defaults) and the key holding it gets the new value; the release keeps
  its own chart and all its other values;
- the live change, with the reason no release operation could be made.
"""

from __future__ import annotations

import copy
import json
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from ops_mcp.errors import Forbidden, OpsError
from ops_mcp.helm import manifest_objects, merge_values, read_record, release_records

from .objects import Obj, meta
from .snapshot import helm_release

# This repo's chart (k8s/helm/todo-chatbot): component label -> values section
OWN_CHART = "todo-chatbot"
OWN_CHART_SECTIONS = {
    "frontend": "frontend",
    "backend": "backend",
    "task-mcp": "mcpServer",
    "ops-mcp": "opsMcp",
    "database": "postgresql",
    "migrations": "migrations",
}
DEPLOYED = ("deployed", "superseded")  # revisions helm finished (superseded: deployed, then upgraded)
MAX_RELEASES = 5  # releases whose records one diagnosis decodes
# a step's kind -> (snapshot attribute, Kind); listed objects carry no kind of their own
KINDS = {
    "deployment": ("deployments", "Deployment"),
    "statefulset": ("statefulsets", "StatefulSet"),
    "daemonset": ("daemonsets", "DaemonSet"),
    "job": ("jobs", "Job"),
    "pod": ("pods", "Pod"),
    "service": ("services", "Service"),
    "ingress": ("ingresses", "Ingress"),
    "horizontalpodautoscaler": ("hpas", "HorizontalPodAutoscaler"),
    "persistentvolumeclaim": ("pvcs", "PersistentVolumeClaim"),
}
_IMAGE_KEYS = ("tag", "repository", "image", "registry", "digest", "name")
_SEPARATORS = ":/@=.-_, "


# ---- the records ----


def fetch(reader: Any, snap: Any, names: Iterable[str]) -> None:
    """Every release stored in the namespace (Secrets of type helm.sh/release.v1, or ConfigMaps named like them,
    whatever their labels say) into snap.releases: name -> revisions, oldest first, each {revision, status, kind,
    object, record}; the records of `names` (at most MAX_RELEASES) decoded: the latest and the last deployed before it."""
    try:
        reader._count(page=True)
        reader._count(page=True)
        listed = release_records(reader.cluster, snap.namespace)
    except Forbidden as exc:
        snap.unreadable["helm releases"] = f"RBAC: {exc.what[:160]}"
        return
    except OpsError as exc:
        snap.unreadable["helm releases"] = exc.what[:160]
        return
    for rev in listed:
        snap.releases.setdefault(rev["release"], []).append({**rev, "record": None})
    for name in sorted(set(names) & set(snap.releases))[:MAX_RELEASES]:
        revisions = snap.releases[name]
        for i, rev in enumerate(reversed(revisions)):
            if i and rev["status"] and rev["status"] not in DEPLOYED:
                continue
            try:
                reader._count()
                rev["record"] = read_record(reader.cluster, snap.namespace, rev)
            except OpsError as exc:  # unreadable, or not helm's encoding
                snap.unreadable.setdefault("helm releases", f"{rev['object']}: {exc.what[:160]}")
                break
            rev["status"] = rev["status"] or (rev["record"].get("info") or {}).get("status")
            if i and rev["status"] in DEPLOYED:
                break


def status(rev: Obj) -> str | None:
    return rev.get("status") or ((rev.get("record") or {}).get("info") or {}).get("status")


def summary(snap: Any, name: str) -> str | None:
    """'revision 3, failed, chart demo-0.1.0 (Secret)' for a stored release, else None."""
    revisions = snap.releases.get(name) or []
    if not revisions:
        return None
    latest = revisions[-1]
    chart = ((latest.get("record") or {}).get("chart") or {}).get("metadata") or {}
    where = {"secrets": "Secret", "configmaps": "ConfigMap"}.get(latest.get("kind") or "", latest.get("kind"))
    return (
        f"revision {latest['revision']}, {status(latest) or 'unknown status'}"
        + (f", chart {chart['name']}-{chart.get('version')}" if chart else "")
        + (f" ({where})" if where else "")
    )


def objects_of(snap: Any, name: str) -> set[str]:
    """'Kind/name' of every object the release's latest decoded record renders, its hooks included."""
    revisions = [r for r in snap.releases.get(name) or [] if r.get("record")]
    if not revisions:
        return set()
    record = revisions[-1]["record"]
    hooks = [h.get("manifest") or "" for h in record.get("hooks") or []]
    return set(_objects(revisions[-1])) | {key for text in hooks for key in manifest_objects(text)}


def _objects(rev: Obj) -> dict[str, Obj]:
    if "_objects" not in rev:
        rev["_objects"] = manifest_objects((rev.get("record") or {}).get("manifest") or "")
    return rev["_objects"]


# ---- the repair ----


@dataclass
class Repair:
    apply: list[dict[str, Any]]
    note: str
    helm: str | None = None  # the helm command of the same change
    values: str | None = None  # the values change as YAML
    head: str | None = None  # what the release operation does, before the fix's own words

    def do(self, text: str) -> str:
        return f"{self.head}. {text}" if self.head else text


def repair(snap: Any, release: str, apply: list[dict[str, Any]], previous_template: Obj | None) -> Repair | None:
    """The fix's steps with those that change the release's objects made one release operation (see the module doc);
    None when no step changes them. previous_template: the pod template of the Deployment's previous ReplicaSet when it
    still serves (what a rollout undo returns to)."""
    mine = [(i, s, found) for i, s in enumerate(apply) if (found := _changed_object(snap, release, s)) is not None]
    if not mine:
        return None
    revisions = snap.releases.get(release) or []
    current = revisions[-1] if revisions and revisions[-1].get("record") else None
    if current is None:
        why = snap.unreadable.get("helm releases") or "none is stored in this namespace"
        return Repair(apply, f"no record of release {release} could be read ({why}): apply changes the live object, which the next helm upgrade reverts")
    changes: list[tuple[str, Obj, tuple, Any, Any]] = []
    for _, step, (kind, obj) in mine:
        changes += [(kind, obj, *c) for c in _changes(step, obj, previous_template)]
    if not changes:
        return Repair(apply, f"the change to release {release}'s objects is not known field by field: apply changes the live object")
    first = mine[0][0]
    rest = [s for i, s in enumerate(apply) if i not in {i for i, _, _ in mine}]
    ns = snap.namespace
    pending = (status(current) or "").startswith("pending")  # helm refuses an upgrade then; a rollback ends it
    back = last_deployed(revisions) if pending else _healthy_previous(revisions, current, changes, previous_template)
    if back is not None:
        step = {"tool": "rollback_release", "args": {"name": release, "namespace": ns, "revision": back["revision"]}}
        note = (
            f"rollback_release returns release {release} to revision {back['revision']} "
            + (f"(the last deployed: it is {status(current)}, which refuses upgrades)" if pending else "(deployed, and it served)")
            + ", with that revision's values: the owner's next helm upgrade keeps it unless it brings the change back"
        )
        head = f"Roll back Helm release {release} to revision {back['revision']}, " + ("the last deployed" if pending else "which served")
        return Repair(rest[:first] + [step] + rest[first:], note, helm=f"helm rollback {release} {back['revision']} -n {ns}", head=head)
    found = _values_change(current["record"], changes)
    if isinstance(found, str):
        return Repair(
            apply,
            f"{found}: apply changes the live object, so the next helm upgrade of release {release} reverts it (helm 4: refuses it, "
            "a field-manager conflict with ops-mcp) unless the change goes into the release's values too",
        )
    change, sets = found
    step = {"tool": "deploy_chart", "args": {"release": release, "namespace": ns, "values": change}}
    chart = ((current["record"].get("chart") or {}).get("metadata") or {}).get("name") or "<chart>"
    shown = ", ".join(f"{key}={value}" for key, value in sets)
    note = (
        f"deploy_chart upgrades release {release} with its own chart and values, changing only {shown} "
        "(the values key that holds the live value): the owner's next helm upgrade keeps it"
    )
    helm = f"helm upgrade {release} {chart} -n {ns} --reuse-values " + " ".join(
        f"--set-json {shlex.quote(f'{key}={json.dumps(value)}')}" if isinstance(value, (dict, list)) else f"--set {shlex.quote(f'{key}={value}')}"
        for key, value in sets
    )
    head = f"Upgrade Helm release {release} with {shown} (its own chart and values otherwise)"
    return Repair(rest[:first] + [step] + rest[first:], note, helm=helm, values=yaml.safe_dump(change, sort_keys=False).strip(), head=head)


def _changed_object(snap: Any, release: str, step: dict[str, Any]) -> tuple[str, Obj] | None:
    """(Kind, live object) of the release that this step changes (a patch, a scale, a rollout undo), if any."""
    args = step.get("args") or {}
    if step.get("tool") == "patch_resource":
        kind = str(args.get("kind") or "").lower()
    elif step.get("tool") in ("rollout_undo", "scale_deployment"):
        kind = str(args.get("kind") or "deployment").lower()
    else:
        return None
    attr, kind = KINDS.get(kind, (None, ""))
    obj = snap.by_name(attr, args.get("name")) if attr else None
    return (kind, obj) if obj is not None and helm_release(obj) == release else None


def _changes(step: dict[str, Any], obj: Obj, previous_template: Obj | None) -> list[tuple[tuple, Any, Any]]:
    """(path, live value, new value) for every field the step sets."""
    args = step["args"]
    out: list[tuple[tuple, Any, Any]] = []
    if step["tool"] == "scale_deployment":
        out.append((("spec", "replicas"), (obj.get("spec") or {}).get("replicas", 1), args.get("replicas")))
    elif step["tool"] == "rollout_undo":
        if previous_template is not None:
            _diff(((obj.get("spec") or {}).get("template") or {}), previous_template, ("spec", "template"), out)
    elif args.get("patch_type") == "json":
        for op in args.get("patch") or []:
            path = _pointer(obj, op.get("path") or "")
            old = _get(obj, path)
            if op.get("op") in ("replace", "add"):
                out.append((path, old, op.get("value")))
            elif op.get("op") == "remove":
                out.append((path, old, type(old)() if isinstance(old, (list, dict, str)) else None))
    else:
        _walk(obj, args.get("patch"), (), args.get("patch_type") != "merge", out)
    return out


def _walk(live: Any, patch: Any, path: tuple, strategic: bool, out: list) -> None:
    if isinstance(patch, dict):
        for key, value in patch.items():
            if not key.startswith("$"):  # strategic merge directives
                _walk(live.get(key) if isinstance(live, dict) else None, value, (*path, key), strategic, out)
    elif strategic and isinstance(patch, list) and patch and all(isinstance(i, dict) and "name" in i for i in patch):
        items = live if isinstance(live, list) else []
        for item in patch:  # merged by name (containers, env, ports, volumes)
            index = next((n for n, x in enumerate(items) if isinstance(x, dict) and x.get("name") == item["name"]), None)
            if index is None:
                out.append(((*path, len(items)), None, item))
            else:
                _walk(items[index], {k: v for k, v in item.items() if k != "name"}, (*path, index), strategic, out)
    else:
        out.append((path, live, patch))


def _diff(live: Any, wanted: Any, path: tuple, out: list) -> None:
    if isinstance(live, dict) and isinstance(wanted, dict):
        for key in sorted(set(live) | set(wanted)):
            if key not in ("pod-template-hash",) and not str(key).startswith("deployment.kubernetes.io/"):
                _diff(live.get(key), wanted.get(key), (*path, key), out)
    elif isinstance(live, list) and isinstance(wanted, list) and len(live) == len(wanted):
        for i, (a, b) in enumerate(zip(live, wanted, strict=True)):
            _diff(a, b, (*path, i), out)
    elif live != wanted:
        out.append((path, live, wanted))


def _pointer(obj: Obj, pointer: str) -> tuple:
    """A JSON pointer as a path, list indices as ints where the object has a list."""
    path: list[Any] = []
    node: Any = obj
    for part in pointer.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and part.isdigit():
            path.append(int(part))
            node = node[int(part)] if int(part) < len(node) else None
        else:
            path.append(part)
            node = node.get(part) if isinstance(node, dict) else None
    return tuple(path)


def _get(obj: Any, path: tuple) -> Any:
    for part in path:
        if isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(obj, list) and isinstance(part, int) and part < len(obj):
            obj = obj[part]
        else:
            return None
    return obj


def _same(a: Any, b: Any) -> bool:
    """Equal as the API server would keep them (a rendered "8080" and a live 8080 alike)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(v, b[k]) for k, v in a.items())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same, a, b))
    if a is None or b is None or isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return a is b or (a in ({}, [], "") and b is None) or (b in ({}, [], "") and a is None)
    return str(a) == str(b)


def _within(rendered: Any, live: Any) -> bool:
    """Does the live object hold everything the rendered one sets (defaults and added labels aside)?"""
    if isinstance(rendered, dict):
        return all(_within(v, (live or {}).get(k) if isinstance(live, dict) else None) for k, v in rendered.items())
    if isinstance(rendered, list):
        return isinstance(live, list) and len(rendered) == len(live) and all(map(_within, rendered, live))
    return _same(rendered, live)


def last_deployed(revisions: list[Obj]) -> Obj | None:
    """The newest revision before the latest that helm deployed, decoded."""
    return next((r for r in reversed(revisions[:-1]) if status(r) in DEPLOYED and r.get("record")), None)


def _healthy_previous(revisions: list[Obj], current: Obj, changes: list, previous_template: Obj | None) -> Obj | None:
    """The last deployed revision before the current one when rolling back to it repairs every changed object:
    a Deployment's pod template there is the one its previous ReplicaSet still serves; another object there holds
    the values the fix sets. None when not (then the values change)."""
    back = last_deployed(revisions)
    if back is None or not changes:
        return None
    then, now = _objects(back), _objects(current)
    for key in {f"{kind}/{meta(obj).get('name')}" for kind, obj, *_ in changes}:
        if key not in then or _same(then[key], now.get(key)):
            return None  # not in that revision, or unchanged since: a rollback does not change it
        if key.startswith("Deployment/"):
            template = (then[key].get("spec") or {}).get("template")
            if previous_template is None or not _within(template, previous_template):
                return None
        elif not all(_same(_get(then[key], path), new) for kind, obj, path, _, new in changes if f"{kind}/{meta(obj).get('name')}" == key):
            return None
    return back


def _values_change(record: Obj, changes: list) -> tuple[dict[str, Any], list[tuple[str, Any]]] | str:
    """The values change that makes each change (the key holding each live value, set to the new value), or why none."""
    user = record.get("config") or {}
    every = merge_values((record.get("chart") or {}).get("values") or {}, user)
    sets: list[tuple[tuple, Any]] = []
    for _, obj, path, old, new in changes:
        component = (meta(obj).get("labels") or {}).get("app.kubernetes.io/component") or ""
        field = next((p for p in reversed(path) if isinstance(p, str)), "")
        where = ".".join(str(p) for p in path)
        if _same(old, new):
            continue
        if old is None:
            return f"no values key of the release holds {where} (the fix adds it)"
        hits = _hits(user, old, new, field) or _hits(every, old, new, field)
        hits = _narrow(hits, obj, component, path)
        if len({h[0] for h in hits}) != 1:
            related = sorted({_dotted(p) for p, _ in _leaves(every, ()) if _related(_last_key(p), field)})[:5]
            if hits:
                return f"several values keys hold the live {where} ({', '.join(sorted({_dotted(h[0]) for h in hits})[:5])})"
            return f"no values key of the release holds the live {where}" + (f" (keys that might: {', '.join(related)})" if related else "")
        vpath, leaf, value, _ = hits[0]
        if value is None:  # the fix drops the field: the chart's default, else an empty value of the same type
            value = _get((record.get("chart") or {}).get("values") or {}, vpath)
            value = type(leaf)() if value is None and isinstance(leaf, (str, list, dict)) else value
        sets.append((vpath, _typed(value, leaf)))
    if not sets:
        return "the fix changes no value the release sets"
    change: dict[str, Any] = {}
    for vpath, value in sets:
        cut = next((i for i, p in enumerate(vpath) if isinstance(p, int)), None)
        if cut is None:
            _put(change, vpath, value)
        else:  # a key inside a list: the whole list, with that item changed (helm replaces lists)
            items = copy.deepcopy(_get(change, vpath[:cut]) or _get(user, vpath[:cut]) or _get(every, vpath[:cut]))
            _put_in(items, vpath[cut:], value)
            _put(change, vpath[:cut], items)
    return change, [(_dotted(p), v) for p, v in sets]


def _leaves(values: Any, path: tuple) -> Iterable[tuple[tuple, Any]]:
    if isinstance(values, dict):
        for key, value in values.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(values, list):
        yield path, values
        for i, item in enumerate(values):
            if isinstance(item, (dict, list)):
                yield from _leaves(item, (*path, i))
            else:
                yield (*path, i), item
    else:
        yield path, values


def _hits(values: Any, old: Any, new: Any, field: str) -> list[tuple[tuple, Any, Any, bool]]:
    """(path, value, new value, exact) of each values key that holds the live value, whole or as a token of a string
    (an image's tag), and whose new value makes the rendered one the fix's."""
    out = []
    for path, leaf in _leaves(values, ()):
        related = _related(_last_key(path), field)
        if isinstance(old, (dict, list)) or isinstance(leaf, (dict, list)):
            exact = isinstance(leaf, type(old)) and _same(leaf, old)
        else:
            exact = leaf is not None and str(leaf) == str(old) and (isinstance(leaf, str) == isinstance(old, str) or str(old).isdigit())
        distinct = isinstance(old, str) and len(old) >= 3 and not old.isdigit()
        if exact and (distinct or related):
            out.append((path, leaf, new, True))
        elif isinstance(leaf, str) and isinstance(old, str) and leaf != old and (len(leaf) >= 3 or related) and (value := _splice(old, leaf, new)):
            out.append((path, leaf, value, False))
    return out


def _narrow(hits: list, obj: Obj, component: str, path: tuple) -> list:
    """The likeliest keys when several hold the value: whole values, then keys under the object's own values section,
    then keys that end like the field's path (limits.memory, readinessProbe.httpGet.path), then keys named like it."""
    hits = [h for h in hits if h[3]] or hits
    names = {OWN_CHART_SECTIONS.get(component, component).lower()} if component else set()
    names |= {p.lower() for p in str(meta(obj).get("name") or "").split("-") if len(p) > 2}
    keys = [str(p).lower() for p in path if isinstance(p, str)]

    def suffix(vpath: tuple) -> int:
        mine = [str(p).lower() for p in vpath if isinstance(p, str)]
        n = 0
        while n < min(len(mine), len(keys)) and mine[-1 - n] == keys[-1 - n]:
            n += 1
        return n

    best = max((suffix(h[0]) for h in hits), default=0)
    for keep in (
        lambda h: any(str(p).lower() in names for p in h[0][:-1]),
        lambda h: suffix(h[0]) == best,
        lambda h: _related(_last_key(h[0]), keys[-1] if keys else ""),
    ):
        if len({h[0] for h in hits}) > 1:
            hits = [h for h in hits if keep(h)] or hits
    return hits


def _related(key: str, field: str) -> bool:
    key, field = key.lower(), field.lower()
    if not key or not field:
        return False
    if field == "image" and key in _IMAGE_KEYS:
        return True
    return key in field or field in key or (len(key) >= 4 and key[:4] == field[:4])


def _last_key(path: tuple) -> str:
    return next((str(p) for p in reversed(path) if isinstance(p, str)), "")


def _token(text: str, part: str) -> int | None:
    """Where `part` stands in `text` as a whole token (between separators), else None."""
    start = text.rfind(part)
    while start >= 0:
        end = start + len(part)
        if (start == 0 or text[start - 1] in _SEPARATORS) and (end == len(text) or text[end] in _SEPARATORS):
            return start
        start = text.rfind(part, 0, start)
    return None


def _splice(old: str, leaf: str, new: Any) -> str | None:
    """The value for the key that holds `leaf` of `old`, so that the rendered value becomes `new`."""
    start = _token(old, leaf)
    if start is None or not isinstance(new, (str, int)):
        return None
    new = str(new)
    prefix, suffix = old[:start], old[start + len(leaf) :]
    if not new.startswith(prefix) or not new.endswith(suffix) or len(new) <= len(prefix) + len(suffix):
        return None
    return new[len(prefix) : len(new) - len(suffix)]


def _typed(value: Any, like: Any) -> Any:
    if isinstance(like, bool) or isinstance(value, (dict, list)):
        return value
    if isinstance(like, int) and str(value).isdigit():
        return int(value)
    return str(value) if isinstance(like, str) and value is not None else value


def _dotted(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part).replace(".", "\\.")
    return out


def _put(target: dict, path: tuple, value: Any) -> None:
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value


def _put_in(target: Any, path: tuple, value: Any) -> None:
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
