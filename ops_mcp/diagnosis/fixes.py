"""Fix suggestions: an exact kubectl command, the ops-mcp calls that apply it (`apply`) and, for Helm-managed
objects, the helm/values variant.

Diagnosis never applies them (`mutates` says whether running the command changes the cluster).
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from .base import pod_ready
from .snapshot import SHORT, Obj, Snapshot, helm_release, meta

_CHART_VERSION = re.compile(r"-v?\d+\.\d+\.\d+.*$")
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
    """The remediation: back to the previous revision (helm rollback for a Helm release: it waits on its own)."""
    kind, name = owner.split("/", 1)
    release = helm_release(owner_obj(snap, owner) or {})
    if release:
        return step("rollback_release", name=release, namespace=snap.namespace)
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
    fix: dict[str, Any] = {"do": do, "kubectl": command, "mutates": mutates, "risk": risk}
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
        # deploy_chart replaces the release's values (no --reuse-values), so `apply` patches the live object instead
        patched = any(s["tool"] == "patch_resource" for s in apply or [])
        undone = any(s["tool"] == "rollback_release" for s in apply or [])
        how = (
            "apply patches the live object; the next upgrade reverts it unless the values change goes into the release's values"
            if patched
            else ("a kubectl change is reverted by the next upgrade")
        )
        fix["note"] = (
            ((note + " ") if note else "") + ("rollback_release restores the previous release revision. " if undone else "") + f"Helm-managed: {how}; {keys}."
        )
    elif note:
        fix["note"] = note
    if verify and kind in ("Deployment", "StatefulSet", "DaemonSet"):
        fix["verify"] = kubectl(snap.namespace, "rollout", "status", short_ref(owner), "--timeout=120s")
    return fix
