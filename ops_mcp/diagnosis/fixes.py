"""Fix suggestions: an exact kubectl command and, for Helm-managed objects, the helm/values variant.

The tool never applies them (`mutates` says whether running the command changes the cluster).
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from .snapshot import SHORT, Obj, Snapshot, helm_release, meta

_CHART_VERSION = re.compile(r"-v?\d+\.\d+\.\d+.*$")


def short_ref(owner: str) -> str:
    kind, name = owner.split("/", 1)
    return f"{SHORT.get(kind, kind.lower())}/{name}"


def owner_obj(snap: Snapshot, owner: str) -> Obj | None:
    kind, name = owner.split("/", 1)
    attr = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets", "Job": "jobs",
            "Pod": "pods", "Service": "services", "Ingress": "ingresses", "HorizontalPodAutoscaler": "hpas",
            "PersistentVolumeClaim": "pvcs", "ReplicaSet": "replicasets"}.get(kind)
    return snap.by_name(attr, name) if attr else None


def kubectl(ns: str, *args: str) -> str:
    return " ".join(["kubectl", "-n", shlex.quote(ns), *args])


def json_patch(ops: list[dict[str, Any]]) -> str:
    return "--type=json -p=" + shlex.quote(json.dumps(ops, separators=(",", ":")))


def merge_patch(body: dict[str, Any]) -> str:
    return "-p " + shlex.quote(json.dumps(body, separators=(",", ":")))


def make(snap: Snapshot, owner: str, do: str, command: str | None, *, helm_set: dict[str, str] | None = None,
         values: str | None = None, risk: str = "low", verify: bool = True, mutates: bool = True,
         note: str | None = None) -> dict[str, Any]:
    """Assemble a fix; adds the Helm variant when `owner` is Helm-managed and a rollout check for workloads."""
    fix: dict[str, Any] = {"do": do, "kubectl": command, "mutates": mutates, "risk": risk}
    obj = owner_obj(snap, owner)
    kind = owner.split("/", 1)[0]
    if kind == "Pod" and obj is not None and not meta(obj).get("ownerReferences") and command and " set " in command:
        note = (note + " " if note else "") + "Bare pod: most pod spec fields are immutable; edit the manifest and " \
            "recreate it (kubectl replace --force -f POD.yaml)."
    release = helm_release(obj) if obj is not None else None
    if release:
        chart = (meta(obj).get("labels") or {}).get("helm.sh/chart")
        chart = _CHART_VERSION.sub("", chart) if chart else "<chart>"
        sets = " ".join(f"--set {shlex.quote(f'{k}={v}')}" for k, v in (helm_set or {}).items())
        fix["helm"] = f"helm upgrade {release} {chart} -n {snap.namespace} --reuse-values {sets}".rstrip()
        if values:
            fix["values"] = values
        fix["note"] = ((note + " ") if note else "") + (
            f"Helm-managed: a kubectl change is reverted by the next upgrade; values keys are chart-specific "
            f"(check `helm get values {release} -n {snap.namespace}`).")
    elif note:
        fix["note"] = note
    if verify and kind in ("Deployment", "StatefulSet", "DaemonSet"):
        fix["verify"] = kubectl(snap.namespace, "rollout", "status", short_ref(owner), "--timeout=120s")
    return fix
