"""ServiceAccounts: what one is bound to and who uses it, whether it `can` do something (the API server's access
review), the Role + RoleBinding to add when it cannot; and the fixes other analyzers borrow: a 403 in a container's
log (the same Role + RoleBinding) and a ServiceAccount that does not exist (create it)."""

from __future__ import annotations

import re
from typing import Any

from .. import fixes
from ..access import Ask, rule_grants
from ..base import Context, Issue
from ..snapshot import Obj, Snapshot, name_of

check = "rbac"
needs = ()
targets = ("ServiceAccount",)  # the engine runs it only for these target kinds

RBAC_API = "rbac.authorization.k8s.io/v1"
# The API server's 403 Status message, as client-go, kubectl or any client logs it; its quotes are JSON-escaped
# when a client prints the Status body.
Q = r'\\?"'
FORBIDDEN = re.compile(
    rf"User {Q}system:serviceaccount:(?P<ns>[a-z0-9.-]+):(?P<sa>[a-z0-9.-]+){Q} cannot (?P<verb>[a-z*]+) resource {Q}(?P<res>[a-z0-9.*/-]+){Q}"
    rf"(?: in API group {Q}(?P<group>[a-z0-9.-]*){Q})?(?: (?:in the namespace {Q}(?P<where>[a-z0-9-]+){Q}|(?P<cluster>at the cluster scope)))?"
)


def analyze(ctx: Context) -> list[Issue]:
    access = ctx.snap.access
    if access is None:
        return []
    ref = f"ServiceAccount/{access.sa}"
    users = users_of(ctx, access.sa)
    used = {"p": "used by", "v": users or "no pod or workload"}
    if not access.exists:
        issue = Issue(mode="serviceaccount.missing", obj=ref, sev="critical" if users else "medium", subjects={ref}, ev=[{"p": ref, "v": "not found"}, used])
        issue.cause = {"text": f"ServiceAccount {access.sa} does not exist" + (f"; {', '.join(users)} use it" if users else ""), "conf": "high", "basis": [0]}
        issue.fix = create_sa_fix(ctx.snap, ref, access.sa, users[0] if users else None)
        return [issue]
    bound = [f"{b['obj']} -> {short_role(b['role'])}" + (f" (via {b['via']})" if b["via"] != "ServiceAccount" else "") for b in access.bindings]
    ev: list[dict[str, Any]] = [{"p": "bindings", "v": bound or "none"}, used]
    for what, why in access.unreadable.items():
        ev.append({"p": f"unreadable {what}", "v": why})
    ask = access.ask
    if ask is None:
        text = (f"Bound to {', '.join(bound)}" if bound else "Not bound to any Role or ClusterRole") + (
            f"; used by {', '.join(users)}" if users else "; no pod or workload uses it"
        )
        return [Issue(mode="rbac.bindings", obj=ref, sev="info", subjects={ref}, ev=ev, cause={"text": text, "conf": "high", "basis": [0, 1]})]
    where = ask.namespace or ctx.ns
    grants = granting(access, ask)
    review = access.review
    if review is not None:
        ev.insert(0, {"p": "LocalSubjectAccessReview.status", "v": review})
        allowed, conf = bool(review.get("allowed")), "high"
    else:
        allowed, conf = bool(grants), "medium"  # judged from the rules read (no access review possible)
    scope = f"in namespace {where}" if ask.namespaced else "cluster-wide"
    if allowed:
        how = f" by {', '.join(grants)}" if grants else " (by a rule outside the bindings read, e.g. another authorizer)"
        text = f"{access.sa} can {ask.text()} {scope}{how}"
        return [Issue(mode="rbac.allowed", obj=ref, sev="info", subjects={ref}, ev=ev, cause={"text": text, "conf": conf, "basis": [0]})]
    text = f"{access.sa} cannot {ask.text()} {scope}: " + (
        f"its bindings ({', '.join(bound)}) grant no such rule" if bound else "it is bound to nothing that grants it"
    )
    issue = Issue(mode="rbac.denied", obj=ref, sev="high", subjects={ref}, detail=ask.text(), ev=ev, cause={"text": text, "conf": conf, "basis": [0, 1]})
    issue.fix = role_fix(ctx.snap, ref, ctx.ns, access.sa, ask, where)
    return [issue]


def short_role(key: str) -> str:
    """'Role/ns/x' -> 'Role/x' ('ClusterRole/y' as is)."""
    parts = key.split("/")
    return f"{parts[0]}/{parts[-1]}"


def users_of(ctx: Context, sa: str) -> list[str]:
    """Workloads (and bare pods) whose pods run as this ServiceAccount, with their pod counts."""
    counts: dict[str, int] = {}
    for kind, workload in ctx.scope.workloads:
        counts.setdefault(f"{kind}/{name_of(workload)}", 0)
    for pod in ctx.scope.pods:
        counts[ctx.owner(pod)] = counts.get(ctx.owner(pod), 0) + 1
    return [f"{owner} ({n} pods)" for owner, n in counts.items()]


def granting(access, ask: Ask) -> list[str]:
    """The bindings whose role has a rule that grants the question (RoleBindings only count in their namespace)."""
    where = ask.namespace or None
    out = []
    for b in access.bindings:
        if b["ns"] and where and b["ns"] != where:
            continue
        if b["ns"] and not ask.namespaced:
            continue
        rules = access.rules.get(b["role"]) or []
        if any(rule_grants(r, ask) for r in rules):
            out.append(f"{b['obj']} ({short_role(b['role'])})")
    return out


# ---- fixes ----


def object_name(sa: str, ask: Ask) -> str:
    """<sa>-<verb>-<resource>: says what it grants to whom, and applying it twice changes nothing."""
    raw = f"{sa}-{ask.verb}-{ask.rbac_resource}".replace("*", "all").lower()
    return re.sub(r"[^a-z0-9.-]+", "-", raw).strip("-.")[:253]


def grant_manifest(sa_ns: str, sa: str, ask: Ask, where: str) -> list[Obj]:
    """A Role + RoleBinding in `where` (a ClusterRole + ClusterRoleBinding for a cluster-scoped resource)."""
    name = object_name(sa, ask)
    rule: Obj = {"apiGroups": [ask.group], "resources": [ask.rbac_resource], "verbs": [ask.verb]}
    if ask.name:
        rule["resourceNames"] = [ask.name]
    cluster = not ask.namespaced
    role_kind, binding_kind = ("ClusterRole", "ClusterRoleBinding") if cluster else ("Role", "RoleBinding")
    md: Obj = {"name": name} if cluster else {"name": name, "namespace": where}
    return [
        {"apiVersion": RBAC_API, "kind": role_kind, "metadata": dict(md), "rules": [rule]},
        {
            "apiVersion": RBAC_API,
            "kind": binding_kind,
            "metadata": dict(md),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": sa_ns}],
        },
    ]


def role_fix(snap: Snapshot, owner: str, sa_ns: str, sa: str, ask: Ask, where: str, restart: str | None = None) -> dict[str, Any]:
    """Grant exactly the missing rule; `restart`: a workload ("Deployment/api") whose crashed pods should start now
    instead of after their back-off."""
    name, cluster = object_name(sa, ask), not ask.namespaced
    apply = [fixes.step("apply_manifest", manifest=grant_manifest(sa_ns, sa, ask, where), namespace=where)]
    kind = restart.split("/", 1)[0] if restart else ""
    if restart and kind in ("Deployment", "StatefulSet", "DaemonSet"):
        apply.append(fixes.step("rollout_restart", name=restart.split("/", 1)[1], namespace=snap.namespace, kind=kind.lower(), wait=True))
    note = "ops-mcp can only grant what it holds itself (RBAC's escalation check)"
    if cluster:
        note += "; a ClusterRole needs a cluster-admin (the chart's ops-mcp Role cannot create one)"
    what = f"{'ClusterRole' if cluster else 'Role'} + binding {name}"
    return fixes.make(
        snap,
        owner,
        f"Grant {sa} '{ask.text()}' {'cluster-wide' if cluster else f'in {where}'}: {what}" + (f", then restart {restart}" if len(apply) > 1 else ""),
        verify=False,
        note=note,
        apply=apply,
    )


def log_forbidden_fix(ctx: Context, owner: str, log_text: str) -> dict[str, Any] | None:
    """A Kubernetes 403 for a ServiceAccount in the container's log: the Role + RoleBinding that allows it."""
    matches = list(FORBIDDEN.finditer(log_text or ""))
    if not matches:
        return None
    match = matches[-1]  # the newest denial
    res, sub = match["res"].partition("/")[::2]
    ask = Ask(match["verb"], match["group"] or "", res, sub, "", match["where"], namespaced=not match["cluster"])
    where = match["where"] or match["ns"]
    return role_fix(ctx.snap, owner, match["ns"], match["sa"], ask, where, restart=owner)


def create_sa_fix(snap: Snapshot, owner: str, sa: str, user: str | None = None) -> dict[str, Any]:
    manifest = [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": snap.namespace}}]
    apply = [fixes.step("apply_manifest", manifest=manifest, namespace=snap.namespace)]
    workload = (user or owner).split(" ", 1)[0]
    kind, _, name = workload.partition("/")
    if kind in ("Deployment", "StatefulSet", "DaemonSet"):  # the controller's create back-off can be minutes long
        apply.append(fixes.step("rollout_restart", name=name, namespace=snap.namespace, kind=kind.lower(), wait=True))
    return fixes.make(
        snap,
        owner,
        f"Create ServiceAccount {sa}" + (f", then restart {workload} so its pods are created now" if len(apply) > 1 else ""),
        verify=False,
        note="A new ServiceAccount has no permissions: grant what the pods need (diagnose kind=serviceaccount with can=...)",
        apply=apply,
    )


def missing_serviceaccount(ctx: Context, issue: Issue, sa: str) -> None:
    """replicas.failed_create because the ServiceAccount does not exist (rollout.py's hook)."""
    issue.fix = create_sa_fix(ctx.snap, issue.obj, sa)
    issue.links.add(f"ServiceAccount/{sa}")
