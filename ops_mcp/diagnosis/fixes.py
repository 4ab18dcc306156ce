"""Fix suggestions: an exact kubectl command, the ops-mcp calls that apply it (`apply`) and, for Helm-managed
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


def kubectl_of(apply: list[dict[str, Any]]) -> str | None:
    """The command-line form of a fix's calls, built from the same arguments (`&&`-joined)."""
    out = []
    for call in apply:
        a, tool = call["args"], call["tool"]
        ns = a.get("namespace") or ""
        if tool == "patch_resource":
            body = a["patch"]
            kind = a.get("patch_type") or "strategic"
            out.append(kubectl(ns, "patch", f"{a['kind']}/{a['name']}", f"--type={kind}", "-p", shlex.quote(json.dumps(body, separators=(",", ":")))))
        elif tool == "apply_manifest":  # the manifest is in the call's arguments: not repeated (tokens)
            out.append(kubectl(ns, "apply", "-f", "MANIFEST.yaml") + f"  # fix.apply[{len(out)}].args.manifest")
        elif tool == "delete_resource":
            out.append(kubectl(ns, "delete", a["kind"], a["name"]))
        elif tool == "scale_deployment":
            out.append(kubectl(ns, "scale", f"{a.get('kind') or 'deployment'}/{a['name']}", f"--replicas={a['replicas']}"))
        elif tool == "rollout_undo":
            out.append(kubectl(ns, "rollout", "undo", f"{a.get('kind') or 'deployment'}/{a['name']}"))
        elif tool == "rollout_restart":
            out.append(kubectl(ns, "rollout", "restart", f"{a.get('kind') or 'deployment'}/{a['name']}"))
        elif tool == "rollback_release":
            out.append(" ".join(["helm", "rollback", shlex.quote(a["name"]), *([str(a["revision"])] if a.get("revision") else []), "-n", shlex.quote(ns)]))
        else:
            return None  # a call without a command-line twin: apply is the fix
    return " && ".join(out)


def make(
    snap: Snapshot,
    owner: str,
    do: str,
    command: str | None,
    *,
    helm_set: dict[str, str] | None = None,
    values: str | None = None,
    risk: str = "low",
    verify: bool = True,
    mutates: bool = True,
    note: str | None = None,
    apply: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Assemble a fix; adds the Helm variant when `owner` is Helm-managed and a rollout check for workloads.
    apply: the ordered ops-mcp calls (see `step`) that make the change, each complete and applicable as given."""
    if command and not apply and PLACEHOLDER.search(command):
        # a command to fill in is not a fix an agent can run: it becomes a person's template, `do` says what is unknown
        note = f"For a person to fill in (the cluster does not hold it): `{command}`." + (f" {note}" if note else "")
        command = None
    fix: dict[str, Any] = {"do": do, "kubectl": command or (kubectl_of(apply) if apply else None), "mutates": mutates, "risk": risk}
    if apply:
        fix["apply"] = apply
    obj = owner_obj(snap, owner)
    kind = owner.split("/", 1)[0]
    if kind == "Pod" and obj is not None and not meta(obj).get("ownerReferences") and command and " set " in command:
        note = (
            note + " " if note else ""
        ) + "Bare pod: most pod spec fields are immutable; edit the manifest and recreate it (kubectl replace --force -f POD.yaml)."
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
    if verify and kind in ("Deployment", "StatefulSet", "DaemonSet"):
        fix["verify"] = kubectl(snap.namespace, "rollout", "status", short_ref(owner), "--timeout=120s")
    return fix
