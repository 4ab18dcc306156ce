"""Resolve a diagnosis target into the objects the analyzers look at (pure; reads only the snapshot)."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import releases
from .snapshot import WORKLOAD_KINDS, Obj, Snapshot, helm_release, meta, name_of, ref, selector_matches

TARGET_KINDS = {
    "pod": "Pod",
    "po": "Pod",
    "pods": "Pod",
    "deployment": "Deployment",
    "deploy": "Deployment",
    "deployments": "Deployment",
    "statefulset": "StatefulSet",
    "sts": "StatefulSet",
    "statefulsets": "StatefulSet",
    "daemonset": "DaemonSet",
    "ds": "DaemonSet",
    "daemonsets": "DaemonSet",
    "job": "Job",
    "jobs": "Job",
    "cronjob": "CronJob",
    "cj": "CronJob",
    "cronjobs": "CronJob",
    "service": "Service",
    "svc": "Service",
    "services": "Service",
    "ingress": "Ingress",
    "ing": "Ingress",
    "ingresses": "Ingress",
    "helm": "HelmRelease",
    "release": "HelmRelease",
    "helmrelease": "HelmRelease",
    "serviceaccount": "ServiceAccount",
    "sa": "ServiceAccount",
    "serviceaccounts": "ServiceAccount",
    "persistentvolumeclaim": "PersistentVolumeClaim",
    "pvc": "PersistentVolumeClaim",
    "persistentvolumeclaims": "PersistentVolumeClaim",
    "horizontalpodautoscaler": "HorizontalPodAutoscaler",
    "hpa": "HorizontalPodAutoscaler",
    "horizontalpodautoscalers": "HorizontalPodAutoscaler",
    "namespace": "Namespace",
    "ns": "Namespace",
}
WORKLOAD_ATTR = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets", "Job": "jobs"}


class TargetNotFound(LookupError):
    """The named target does not exist; `suggestions` holds near names of the same kind."""

    def __init__(self, kind: str, name: str, namespace: str, suggestions: list[str]):
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"{kind} {name!r} not found in namespace {namespace!r}.{hint}")
        self.suggestions = suggestions


def normalize_kind(kind: str | None) -> str:
    if not kind:
        return "Namespace"
    resolved = TARGET_KINDS.get(kind.strip().lower())
    if resolved is None:
        raise ValueError(
            f"unknown target kind {kind!r}; use one of: pod, deployment, statefulset, daemonset, job, cronjob, service, ingress, pvc, hpa, serviceaccount, "
            "helm (a release name), namespace"
        )
    return resolved


@dataclass(slots=True)  # a namespace of n bare pods is n templates
class Template:
    """A pod spec that pods are (or would be) created from: a workload's template or a bare pod's spec."""

    owner: str  # "Deployment/api" or "Pod/x"
    kind: str
    obj: Obj  # the workload (or bare pod)
    spec: Obj  # the pod spec
    labels: dict[str, str]


@dataclass
class Scope:
    kind: str
    name: str | None
    namespace: str
    pods: list[Obj] = field(default_factory=list)
    workloads: list[tuple[str, Obj]] = field(default_factory=list)
    templates: list[Template] = field(default_factory=list)
    services: list[Obj] = field(default_factory=list)
    ingresses: list[Obj] = field(default_factory=list)
    hpas: list[Obj] = field(default_factory=list)
    pvcs: list[Obj] = field(default_factory=list)
    pdbs: list[Obj] = field(default_factory=list)  # PodDisruptionBudgets that select the pods or templates in scope
    helm: str | None = None

    def template_for(self, owner: str) -> Template | None:
        return next((t for t in self.templates if t.owner == owner), None)


def owner_of(snap: Snapshot, pod: Obj) -> str:
    return snap.owner_of(pod)


def resolve(snap: Snapshot, kind: str | None, name: str | None) -> Scope:
    kind = normalize_kind(kind)
    if kind != "Namespace" and not name:
        raise ValueError(f"a {kind} target needs a name")
    scope = Scope(kind=kind, name=name if kind != "Namespace" else None, namespace=snap.namespace)
    if kind == "Namespace":
        for wkind in WORKLOAD_KINDS:
            scope.workloads += [(wkind, w) for w in getattr(snap, WORKLOAD_ATTR[wkind])]
        scope.pods = list(snap.pods)
        scope.services, scope.ingresses = list(snap.services), list(snap.ingresses)
        scope.hpas, scope.pvcs, scope.pdbs = list(snap.hpas), list(snap.pvcs), list(snap.pdbs)
    elif kind == "CronJob":  # the Jobs it made (ownerReferences), then their pods (_expand)
        cron = _find(snap, "cronjobs", "CronJob", name)
        scope.workloads = [
            ("Job", j) for j in snap.jobs if any(o.get("kind") == "CronJob" and o.get("name") == name for o in meta(j).get("ownerReferences") or [])
        ]
        scope.helm = helm_release(cron)
    elif kind in WORKLOAD_KINDS:
        workload = _find(snap, WORKLOAD_ATTR[kind], kind, name)
        scope.workloads = [(kind, workload)]
        scope.helm = helm_release(workload)
    elif kind == "Pod":
        pod = _find(snap, "pods", "Pod", name)
        scope.pods = [pod]
        scope.helm = helm_release(pod)
    elif kind == "Service":
        svc = _find(snap, "services", "Service", name)
        scope.services = [svc]
        scope.helm = helm_release(svc)
    elif kind == "Ingress":
        ing = _find(snap, "ingresses", "Ingress", name)
        scope.ingresses = [ing]
        scope.services = [s for s in snap.services if name_of(s) in ingress_backends(ing)]
        scope.helm = helm_release(ing)
    elif kind == "PersistentVolumeClaim":
        pvc = _find(snap, "pvcs", "PersistentVolumeClaim", name)
        scope.pvcs = [pvc]
        scope.helm = helm_release(pvc)
        scope.workloads = [(k, w) for k, w in _all_workloads(snap) if name in claims_of(_template_spec(w)) or _sts_claims(k, w, name)]
        scope.pods = [p for p in snap.pods if name in claims_of(p.get("spec") or {})]
    elif kind == "HorizontalPodAutoscaler":
        hpa = _find(snap, "hpas", "HorizontalPodAutoscaler", name)
        scope.hpas = [hpa]
        scope.helm = helm_release(hpa)
        target = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        workload = snap.workload(target.get("kind") or "", target.get("name") or "") if target.get("kind") in WORKLOAD_KINDS else None
        scope.workloads = [(target["kind"], workload)] if workload is not None else []
    elif kind == "ServiceAccount":
        access = snap.access
        scope.workloads = template_users(snap, name)
        scope.pods = [p for p in snap.pods if uses_sa(p.get("spec") or {}, name)]
        if access is not None and not access.exists and not scope.workloads and not scope.pods:
            near = sorted(access.names, key=lambda n: _distance(n, name))[:3]
            raise TargetNotFound("ServiceAccount", name, snap.namespace, [n for n in near if _distance(n, name) <= max(3, len(name) // 2)])
    elif kind == "HelmRelease":
        scope.helm = name
        named = releases.objects_of(snap, name)  # its record's manifest and hooks: also what helm does not label

        def mine(okind: str, obj: Obj) -> bool:
            return helm_release(obj) == name or f"{okind}/{name_of(obj)}" in named

        for wkind in WORKLOAD_KINDS:
            scope.workloads += [(wkind, w) for w in getattr(snap, WORKLOAD_ATTR[wkind]) if mine(wkind, w)]
        scope.services = [s for s in snap.services if mine("Service", s)]
        scope.ingresses = [i for i in snap.ingresses if mine("Ingress", i)]
        scope.hpas = [h for h in snap.hpas if mine("HorizontalPodAutoscaler", h)]
        scope.pvcs = [p for p in snap.pvcs if mine("PersistentVolumeClaim", p)]
        scope.pods = [p for p in snap.pods if (meta(p).get("labels") or {}).get("app.kubernetes.io/instance") == name or mine("Pod", p)]
        if name not in snap.releases and not (scope.workloads or scope.services or scope.pods):
            labelled = {r for o in snap.deployments + snap.statefulsets + snap.daemonsets + snap.jobs + snap.services if (r := helm_release(o))}
            known = [f"{r} ({releases.summary(snap, r) or 'no stored record'})" for r in sorted(set(snap.releases) | labelled)]
            raise TargetNotFound("Helm release", name, snap.namespace, known)
    _expand(snap, scope)
    return scope


def _all_workloads(snap: Snapshot) -> list[tuple[str, Obj]]:
    return [(k, w) for k in WORKLOAD_KINDS for w in getattr(snap, WORKLOAD_ATTR[k])]


def _template_spec(workload: Obj) -> Obj:
    return ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}


def uses_sa(spec: Obj, sa: str) -> bool:
    return (spec.get("serviceAccountName") or spec.get("serviceAccount") or "default") == sa


def template_users(snap: Snapshot, sa: str) -> list[tuple[str, Obj]]:
    """The workloads whose pod template runs as the ServiceAccount."""
    return [(kind, w) for kind, w in _all_workloads(snap) if uses_sa(_template_spec(w), sa)]


def claims_of(spec: Obj) -> set[str]:
    return {c for v in spec.get("volumes") or [] if (c := (v.get("persistentVolumeClaim") or {}).get("claimName"))}


def _sts_claims(kind: str, workload: Obj, claim: str) -> bool:
    """A StatefulSet's volumeClaimTemplates make <template>-<sts>-<ordinal> claims."""
    if kind != "StatefulSet":
        return False
    return any(claim.startswith(f"{name_of(t)}-{name_of(workload)}-") for t in (workload.get("spec") or {}).get("volumeClaimTemplates") or [])


def ingress_backends(ing: Obj) -> set[str]:
    spec = ing.get("spec") or {}
    names = set()
    default = ((spec.get("defaultBackend") or {}).get("service") or {}).get("name")
    if default:
        names.add(default)
    for rule in spec.get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            svc = ((path.get("backend") or {}).get("service") or {}).get("name")
            if svc:
                names.add(svc)
    return names


def _find(snap: Snapshot, attr: str, kind: str, name: str) -> Obj:
    obj = snap.by_name(attr, name)
    if obj is None:
        names = [name_of(o) for o in getattr(snap, attr)]
        near = sorted(names, key=lambda n: _distance(n, name))[:3]
        raise TargetNotFound(kind, name, snap.namespace, [n for n in near if _distance(n, name) <= max(3, len(name) // 2)])
    return obj


def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _expand(snap: Snapshot, scope: Scope) -> None:
    """Close the scope over relations: workload <-> pods, pods <-> services, services <-> ingresses, HPAs, PVCs."""
    seen = {id(p) for p in scope.pods}
    workload_refs = {f"{k}/{name_of(w)}" for k, w in scope.workloads}
    for pod in snap.pods:  # pods of the workloads in scope
        if id(pod) not in seen and owner_of(snap, pod) in workload_refs:
            scope.pods.append(pod)
            seen.add(id(pod))
    for svc in scope.services:  # pods behind the services in scope
        selector = (svc.get("spec") or {}).get("selector")
        for pod in snap.pods:
            if id(pod) not in seen and selector and selector_matches(selector, meta(pod).get("labels") or {}):
                scope.pods.append(pod)
                seen.add(id(pod))
    for svc in scope.services:  # workloads whose template the services select
        selector = (svc.get("spec") or {}).get("selector")
        for wkind in WORKLOAD_KINDS:
            for workload in getattr(snap, WORKLOAD_ATTR[wkind]):
                ref_ = f"{wkind}/{name_of(workload)}"
                labels = (((workload.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels")
                if ref_ not in workload_refs and selector and selector_matches(selector, labels or {}):
                    scope.workloads.append((wkind, workload))
                    workload_refs.add(ref_)
    for pod in scope.pods:  # the workloads of those pods
        owner = owner_of(snap, pod)
        okind, oname = owner.split("/", 1)
        if owner not in workload_refs and okind in WORKLOAD_KINDS:
            workload = snap.workload(okind, oname)
            if workload is not None:
                scope.workloads.append((okind, workload))
                workload_refs.add(owner)
    for okind, workload in scope.workloads:
        template = (workload.get("spec") or {}).get("template") or {}
        scope.templates.append(
            Template(f"{okind}/{name_of(workload)}", okind, workload, template.get("spec") or {}, (template.get("metadata") or {}).get("labels") or {})
        )
    owners = {t.owner for t in scope.templates}  # a set: a namespace of n bare pods is n templates
    for pod in scope.pods:
        owner = owner_of(snap, pod)
        if (owner == ref("Pod", pod) or owner not in workload_refs) and owner not in owners:
            owners.add(owner)
            scope.templates.append(Template(owner, "Pod", pod, pod.get("spec") or {}, meta(pod).get("labels") or {}))
    if scope.kind != "Namespace":
        known = {id(s) for s in scope.services}
        for svc in snap.services:  # services that select the templates in scope
            selector = (svc.get("spec") or {}).get("selector")
            if id(svc) not in known and selector and any(selector_matches(selector, t.labels) for t in scope.templates):
                scope.services.append(svc)
                known.add(id(svc))
        names = {name_of(s) for s in scope.services}
        scope.ingresses += [i for i in snap.ingresses if i not in scope.ingresses and ingress_backends(i) & names]
        scope.hpas += [
            h
            for h in snap.hpas
            if h not in scope.hpas
            and f"{(h.get('spec') or {}).get('scaleTargetRef', {}).get('kind')}/{(h.get('spec') or {}).get('scaleTargetRef', {}).get('name')}" in workload_refs
        ]
        scope.pdbs += [b for b in snap.pdbs if b not in scope.pdbs and any(pdb_selects(b, t.labels) for t in scope.templates)]
        claims = referenced_claims(scope)
        scope.pvcs += [
            p
            for p in snap.pvcs
            if p not in scope.pvcs and (name_of(p) in claims or any(name_of(p).startswith(prefix) for prefix in _sts_claim_prefixes(scope)))
        ]


def pdb_selects(pdb: Obj, labels: dict[str, str]) -> bool:
    """policy/v1: a null selector selects no pod, an empty one every pod of the namespace."""
    selector = (pdb.get("spec") or {}).get("selector")
    if selector is None:
        return False
    return not (selector.get("matchLabels") or selector.get("matchExpressions")) or selector_matches(selector, labels)


def referenced_claims(scope: Scope) -> set[str]:
    names = set()
    for template in scope.templates:
        for volume in template.spec.get("volumes") or []:
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                names.add(claim)
    return names


def _sts_claim_prefixes(scope: Scope) -> list[str]:
    return [f"{name_of(t)}-{name_of(w)}-" for k, w in scope.workloads if k == "StatefulSet" for t in (w.get("spec") or {}).get("volumeClaimTemplates") or []]
