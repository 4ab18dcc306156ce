"""Fix suggestions, built by one builder (`make`) from a structured remedy: the ops-mcp calls that apply it (`apply`),
their command line (`kubectl`, derived from those calls by `kubectl_of`: never written by hand) and, for Helm-managed
objects, the helm/values variant.

Diagnosis never applies them (`mutates` says whether running the command changes the cluster).
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from . import releases
from .base import pod_ready
from .releases import OWN_CHART, OWN_CHART_SECTIONS
from .snapshot import SHORT, Obj, Snapshot, helm_release, meta

PLACEHOLDER = re.compile(r"<[a-z][\w-]*>")
_CHART_VERSION = re.compile(r"-v?\d+\.\d+\.\d+.*$")


def _own_chart_keys(helm_set: dict[str, str], section: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in helm_set.items():
        if key.startswith("env."):  # the chart takes a list: extraEnv[].{name,value}
            out[f"{section}.extraEnv[0].name"] = key[4:]
            out[f"{section}.extraEnv[0].value"] = value
        else:
            out[f"{section}.{key}"] = value
    return out


def short_ref(owner: str) -> str:
    kind, name = owner.split("/", 1)
    return f"{SHORT.get(kind, kind.lower())}/{name}"


def owner_obj(snap: Snapshot, owner: str) -> Obj | None:
    kind, name = owner.split("/", 1)
    attr = {
        "Deployment": "deployments",
        "StatefulSet": "statefulsets",
        "DaemonSet": "daemonsets",
        "Job": "jobs",
        "Pod": "pods",
        "Service": "services",
        "Ingress": "ingresses",
        "HorizontalPodAutoscaler": "hpas",
        "PersistentVolumeClaim": "pvcs",
        "ReplicaSet": "replicasets",
    }.get(kind)
    return snap.by_name(attr, name) if attr else None


def kubectl(ns: str, *args: str) -> str:
    return " ".join(["kubectl", "-n", shlex.quote(ns), *args])


def json_patch(ops: list[dict[str, Any]]) -> str:
    return "--type=json -p=" + shlex.quote(json.dumps(ops, separators=(",", ":")))


def merge_patch(body: dict[str, Any]) -> str:
    return "-p " + shlex.quote(json.dumps(body, separators=(",", ":")))


def step(tool: str, **args: Any) -> dict[str, Any]:
    """One ops-mcp call of a fix: `step("patch_resource", kind="deployment", name=..., namespace=..., patch={...}, wait=True)`."""
    return {"tool": tool, "args": {k: v for k, v in args.items() if v is not None}}


ROLLOUT_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


def patch_step(snap: Snapshot, owner: str, patch: Any, patch_type: str = "strategic") -> dict[str, Any]:
    """patch_resource on `owner`; waits for the rollout the change starts (a workload), strategic is the tool's default."""
    kind, name = owner.split("/", 1)
    return step(
        "patch_resource",
        kind=kind.lower(),
        name=name,
        namespace=snap.namespace,
        patch=patch,
        patch_type=None if patch_type == "strategic" else patch_type,
        wait=True if kind in ROLLOUT_KINDS else None,
    )


def container_patch(owner: str, cname: str, init: bool = False, **fields: Any) -> dict[str, Any]:
    """A strategic merge patch of one container (matched by name) of a workload's pod template or a bare pod."""
    spec = {"initContainers" if init else "containers": [{"name": cname, **fields}]}
    return {"spec": spec} if owner.startswith("Pod/") else {"spec": {"template": {"spec": spec}}}


def undo_step(snap: Snapshot, owner: str) -> dict[str, Any]:
    """The remediation: back to the previous revision (`make` turns it into a release rollback for a Helm release)."""
    kind, name = owner.split("/", 1)
    return step("rollout_undo", name=name, namespace=snap.namespace, kind=None if kind == "Deployment" else kind.lower(), wait=True)


def _revision(obj: Obj) -> int:
    return int((meta(obj).get("annotations") or {}).get("deployment.kubernetes.io/revision", "0") or 0)


def healthy_previous(snap: Snapshot, owner: str) -> Obj | None:
    """The pod template of a Deployment's previous revision when it is healthy (its ReplicaSet still has available
    pods while the new one fails), else None: the evidence that `rollout_undo` repairs."""
    kind, name = owner.split("/", 1)
    deploy = snap.by_name("deployments", name) if kind == "Deployment" else None
    if deploy is None:
        return None
    current = _revision(deploy)
    older = sorted((rs for rs in snap.replicasets if snap.controller_of(rs) == ("Deployment", name) and _revision(rs) < current), key=_revision)
    if not older or not ((older[-1].get("status") or {}).get("availableReplicas") or 0):
        return None
    return (older[-1].get("spec") or {}).get("template") or None


def running_templates(snap: Snapshot) -> list[Obj]:
    """Pod specs that run in this namespace now: ReplicaSets with available pods, Ready StatefulSets/DaemonSets, Ready pods."""
    specs = [((rs.get("spec") or {}).get("template") or {}).get("spec") or {} for rs in snap.replicasets if (rs.get("status") or {}).get("availableReplicas")]
    for attr, ready in (("statefulsets", "readyReplicas"), ("daemonsets", "numberReady")):
        specs += [((o.get("spec") or {}).get("template") or {}).get("spec") or {} for o in getattr(snap, attr) if (o.get("status") or {}).get(ready)]
    specs += [p.get("spec") or {} for p in snap.pods if pod_ready(p)]
    return specs


# a step's kind -> kubectl's short name (the same object, fewer tokens)
_KUBECTL_KIND = {
    "deployment": "deploy",
    "service": "svc",
    "horizontalpodautoscaler": "hpa",
    "persistentvolumeclaim": "pvc",
    "serviceaccount": "sa",
    "configmap": "cm",
}


def _ref(kind: str, name: str) -> str:
    return f"{_KUBECTL_KIND.get(kind.lower(), kind.lower())}/{name}"


def _quote_json(body: Any) -> str:
    return shlex.quote(json.dumps(body, separators=(",", ":")))


def _container_change(a: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(container, its fields) when a strategic patch changes exactly one app container of a template or a pod."""
    body = a.get("patch")
    if a.get("patch_type") or not isinstance(body, dict) or list(body) != ["spec"] or not isinstance(body["spec"], dict):
        return None
    spec = body["spec"]
    if a.get("kind") != "pod":
        template = spec.get("template") if list(spec) == ["template"] else None
        spec = template.get("spec") if isinstance(template, dict) and list(template) == ["spec"] else None
    if not isinstance(spec, dict) or list(spec) != ["containers"] or not isinstance(spec["containers"], list) or len(spec["containers"]) != 1:
        return None
    fields = dict(spec["containers"][0])
    return (fields.pop("name"), fields) if isinstance(fields.get("name"), str) else None


def _set_form(ns: str, ref: str, cname: str, fields: dict[str, Any]) -> str | None:
    """kubectl's `set image|resources|env` for a container change it can express exactly, else None."""
    if list(fields) == ["image"]:
        return kubectl(ns, "set", "image", ref, shlex.quote(f"{cname}={fields['image']}"))
    if list(fields) == ["resources"] and isinstance(fields["resources"], dict) and set(fields["resources"]) <= {"limits", "requests"}:
        sets = []
        for which, values in fields["resources"].items():
            if not isinstance(values, dict) or not values:
                return None
            sets.append(shlex.quote(f"--{which}=" + ",".join(f"{r}={v}" for r, v in values.items())))
        return kubectl(ns, "set", "resources", ref, "-c", shlex.quote(cname), *sets)
    env = fields.get("env") if list(fields) == ["env"] else None
    if not isinstance(env, list) or not env:
        return None
    if all(set(e) == {"name", "value"} for e in env):
        return kubectl(ns, "set", "env", ref, "-c", shlex.quote(cname), *(shlex.quote(f"{e['name']}={e['value']}") for e in env))
    sources = set()
    for e in env:  # --from=secret/S --keys=K sets variable K from key K of S
        ref_kind, ref_obj = next(iter((e.get("valueFrom") or {}).items()), (None, {}))
        if set(e) != {"name", "valueFrom"} or ref_kind not in ("secretKeyRef", "configMapKeyRef") or set(ref_obj) != {"name", "key"}:
            return None
        if ref_obj["key"] != e["name"]:
            return None
        sources.add(("secret" if ref_kind == "secretKeyRef" else "configmap", ref_obj["name"]))
    if len(sources) != 1:
        return None
    (skind, sname) = sources.pop()
    keys = ",".join(e["name"] for e in env)
    return kubectl(ns, "set", "env", ref, "-c", shlex.quote(cname), shlex.quote(f"--from={skind}/{sname}"), shlex.quote(f"--keys={keys}"))


def _command(call: dict[str, Any], index: int) -> str | None:
    a, tool = call["args"], call["tool"]
    ns = a.get("namespace") or ""
    if tool == "patch_resource":
        ref = _ref(a["kind"], a["name"])
        change = _container_change(a)
        short = _set_form(ns, ref, *change) if change else None
        if short:
            return short
        if a["kind"] == "deployment" and a.get("patch") == {"spec": {"paused": False}}:
            return kubectl(ns, "rollout", "resume", ref)
        kind = a.get("patch_type")
        return kubectl(ns, "patch", ref, *([f"--type={kind}"] if kind else []), "-p", _quote_json(a["patch"]))
    if tool == "apply_manifest":  # the manifest is in the call's arguments: not repeated (tokens)
        how = ("replace", "--force") if a.get("replace") else ("apply",)
        return kubectl(ns, *how, "-f", f"MANIFEST.yaml#{index}")  # the file is named in `kubectl_of`
    if tool == "delete_resource":
        return kubectl(ns, "delete", _ref(a["kind"], a["name"]))
    if tool == "scale_deployment":
        return kubectl(ns, "scale", _ref(a.get("kind") or "deployment", a["name"]), f"--replicas={a['replicas']}")
    if tool == "rollout_undo":
        to = [f"--to-revision={a['revision']}"] if a.get("revision") else []
        return kubectl(ns, "rollout", "undo", _ref(a.get("kind") or "deployment", a["name"]), *to)
    if tool == "rollout_restart":
        return kubectl(ns, "rollout", "restart", _ref(a.get("kind") or "deployment", a["name"]))
    if tool == "rollback_release":
        return " ".join(["helm", "rollback", shlex.quote(a["name"]), *([str(a["revision"])] if a.get("revision") else []), "-n", shlex.quote(ns)])
    # deploy_chart upgrades with the chart stored in the release's record, which helm's command line cannot name:
    # its command-line form is the fix's `helm` (built by releases.repair from the same values); other tools: none
    return None


def kubectl_of(apply: list[dict[str, Any]]) -> str | None:
    """The command-line form of a fix's calls, built from their arguments (`&&`-joined); None when a call has none
    (then `apply` alone is the fix). The only source of a fix's `kubectl`: see `make`."""
    out, files = [], []
    for i, call in enumerate(apply):
        command = _command(call, i)
        if command is None:
            return None
        out.append(command)
        if call["tool"] == "apply_manifest":  # a manifest's file is named once, after the whole chain (a # ends it)
            files.append(i)
    text = " && ".join(out)
    for i in files:
        name = "MANIFEST.yaml" if len(files) == 1 else f"MANIFEST-{i}.yaml"
        text = text.replace(f"MANIFEST.yaml#{i}", name, 1)
    if files:
        text += "  # " + ", ".join(("" if len(files) == 1 else f"MANIFEST-{i}.yaml: ") + f"fix.apply[{i}].args.manifest" for i in files)
    return text or None


def _in_place(step: dict[str, Any]) -> bool:
    """Can the API server make this change in place? A pod's spec changes only in its containers' images and added
    tolerations; a Job's pod template not at all."""
    a = step.get("args") or {}
    if step.get("tool") != "patch_resource" or a.get("kind") not in ("pod", "job"):
        return True
    body = a.get("patch")
    if a.get("kind") == "job":
        paths = [str(op.get("path", "")) for op in body or []] if a.get("patch_type") == "json" else []
        return not (any(p.startswith("/spec/template") for p in paths) or (isinstance(body, dict) and "template" in (body.get("spec") or {})))
    if a.get("patch_type") == "json":
        return all(str(op.get("path", "")).endswith("/image") or str(op.get("path", "")).startswith("/spec/tolerations") for op in body or [])
    spec = body.get("spec") if isinstance(body, dict) else None
    if not isinstance(spec, dict):
        return True  # metadata only
    for key, value in spec.items():
        if key in ("containers", "initContainers") and isinstance(value, list):
            if any(set(c) - {"name", "image"} for c in value if isinstance(c, dict)):
                return False
        elif key != "tolerations":
            return False
    return True


def make(
    snap: Snapshot,
    owner: str,
    do: str,
    person: str | None = None,
    *,
    helm_set: dict[str, str] | None = None,
    values: str | None = None,
    risk: str = "low",
    verify: bool = True,
    mutates: bool = True,
    note: str | None = None,
    apply: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Assemble a fix from its structured remedy: `apply`, the ordered ops-mcp calls (see `step`) that make the change,
    each complete as given. Its `kubectl` is always `kubectl_of` the final calls (after a Helm release's repair too),
    never written by hand; the Helm variant is added when `owner` is Helm-managed, a rollout check for workloads.

    person: a command for a person, not an agent: with a `<placeholder>` for what the cluster does not hold (`do`
    names the candidates it has), or one no ops-mcp call makes (outside the cluster). It goes to `note`. A command
    without a placeholder beside `apply` is that apply's twin: dropped (kubectl_of derives it)."""
    apply = list(apply or [])
    kind = owner.split("/", 1)[0]
    obj = owner_obj(snap, owner)
    for i, call in enumerate(apply):
        if PLACEHOLDER.search(json.dumps(call.get("args"))):  # a call to fill in is no call: a person's template
            person = person or kubectl_of(apply[i:]) or kubectl_of([call])
            apply = apply[:i]
            break
    if not all(map(_in_place, apply)):  # a bare pod's spec, a Job's template: recreated with the change, by hand
        shown = kubectl_of(apply)
        apply = [s for s in apply if _in_place(s)]
        what = "its pod template" if kind == "Job" else "its spec"
        note = (note + " " if note else "") + (
            f"{kind} {owner.split('/', 1)[1]}: {what} is immutable; edit its manifest and recreate it (kubectl replace --force -f FILE.yaml)"
            + (f" with the change of `{shown}`." if shown else ".")
        )
    if person and apply and not PLACEHOLDER.search(person):
        person = None
    if person:
        lead = "For a person to fill in (the cluster does not hold it)" if PLACEHOLDER.search(person) else "For a person to run"
        note = f"{lead}: `{person}`." + (f" {note}" if note else "")
    fix: dict[str, Any] = {"do": do, "kubectl": None, "mutates": mutates, "risk": risk}
    if apply:
        fix["apply"] = apply
    release = helm_release(obj) if obj is not None else None
    if release:
        labels = meta(obj).get("labels") or {}
        chart = _CHART_VERSION.sub("", labels["helm.sh/chart"]) if labels.get("helm.sh/chart") else "<chart>"
        section = OWN_CHART_SECTIONS.get(labels.get("app.kubernetes.io/component", "")) if chart == OWN_CHART else None
        helm_set = _own_chart_keys(helm_set or {}, section) if section else (helm_set or {})
        if section and values:
            values = f"{section}:\n" + "\n".join(f"  {line}" for line in values.splitlines())
            values = (
                values.replace(f"{section}:\n  env:\n    ", f"{section}:\n  extraEnv:\n    - name: ").replace(": <value>", "\n      value: <value>")
                if "env:" in values
                else values
            )
        sets = " ".join(f"--set {shlex.quote(f'{k}={v}')}" for k, v in helm_set.items())
        fix["helm"] = f"helm upgrade {release} {chart} -n {snap.namespace} --reuse-values {sets}".rstrip()
        if values:
            fix["values"] = values
        keys = (
            f"values keys follow this repo's chart ({OWN_CHART}, section {section})"
            if section
            else f"values keys are chart-specific (check `helm get values {release} -n {snap.namespace}`)"
        )
        # a change to the release's objects is made a release operation: a live one would not last
        done = releases.repair(snap, release, apply or [], healthy_previous(snap, owner))
        how, own = (done.note, done.values is not None or done.helm is not None) if done else ("a kubectl change is reverted by the next upgrade", False)
        if done is not None:
            fix["apply"] = done.apply
            fix["do"] = done.do(do)
            fix["helm"] = done.helm or fix["helm"]
            if done.values is not None:
                fix["values"] = done.values
        fix["note"] = ((note + " ") if note else "") + f"Helm-managed: {how}" + ("." if own else f"; {keys}.")
    elif note:
        fix["note"] = note
    # the invariant: a fix's command line is its final calls' (a Helm repair's included), never a second source
    fix["kubectl"] = kubectl_of(fix["apply"]) if fix.get("apply") else None
    if fix.get("helm") and fix["helm"] == fix["kubectl"]:  # a release rollback: the same command once (tokens)
        del fix["helm"]
    if verify and kind in ("Deployment", "StatefulSet", "DaemonSet"):
        fix["verify"] = kubectl(snap.namespace, "rollout", "status", short_ref(owner), "--timeout=120s")
    return fix
