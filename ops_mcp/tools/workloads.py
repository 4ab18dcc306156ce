"""Workloads toolset: scale_deployment, rollout_status, rollout_restart, rollout_undo."""

import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve
from mcp.server.mcpserver.resolve import AcceptedElicitation
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from ops_mcp import guard
from ops_mcp.errors import Conflict, OpsError
from ops_mcp.params import Confirm, KindChoice, Name, NamespaceArg, Timeout, Wait
from ops_mcp.policy import Confirmation
from ops_mcp.toolkit import Ops, OpsArg, tool

WorkloadKind = Annotated[Literal["deployment", "statefulset"], KindChoice]  # what scales
RolloutKind = Annotated[Literal["deployment", "statefulset", "daemonset"], KindChoice]  # what rolls out
KIND_NAMES = {"deployment": "Deployment", "statefulset": "StatefulSet", "daemonset": "DaemonSet"}
REVISION = "deployment.kubernetes.io/revision"


class Rollout(BaseModel):
    kind: str
    name: str
    namespace: str
    desired: int
    updated: int
    ready: int
    available: int
    complete: bool
    message: str
    revision: str | None = None


class ScaleResult(BaseModel):
    kind: str
    name: str
    namespace: str
    before: int
    after: int
    applied: bool
    rollout: dict[str, Any] | None = None  # a Rollout (flattened to keep outputSchema small)
    hpa: dict[str, Any] | None = None  # the autoscaler's bounds before/after, when adjust_hpa changed them


class UndoPlan(BaseModel):
    """What rollout_undo will do, read before the user is asked (so the question names it)."""

    obj: dict[str, Any]  # the workload as read: its resourceVersion guards the patch
    current: int
    target: int
    body: Any
    patch_type: str


class ChangeResult(BaseModel):
    kind: str
    name: str
    namespace: str
    applied: bool
    detail: str
    rollout: dict[str, Any] | None = None


def rollout_of(kind: str, obj: dict[str, Any]) -> Rollout:
    """kubectl-rollout-status logic for a Deployment, StatefulSet or DaemonSet."""
    meta, spec, st = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    if kind == "DaemonSet":  # one pod per eligible node
        desired = int(st.get("desiredNumberScheduled") or 0)
        updated, ready = int(st.get("updatedNumberScheduled") or 0), int(st.get("numberReady") or 0)
        available, total = int(st.get("numberAvailable") or 0), int(st.get("currentNumberScheduled") or 0)
    else:
        desired = int(spec.get("replicas", 1))
        updated, ready = int(st.get("updatedReplicas") or 0), int(st.get("readyReplicas") or 0)
        available, total = int(st.get("availableReplicas") or 0), int(st.get("replicas") or 0)
    observed = int(st.get("observedGeneration") or 0) >= int(meta.get("generation") or 0)
    message = ""
    complete = False
    if not observed:
        message = "waiting for the controller to observe the new spec"
    elif kind == "Deployment":
        deadline = next((c for c in st.get("conditions") or [] if c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded"), None)
        if deadline:
            message = f"rollout failed: {deadline.get('message')}"
        elif updated < desired:
            message = f"{updated} of {desired} updated replicas"
        elif total > updated:
            message = f"{total - updated} old replicas pending termination"
        elif available < updated:
            message = f"{available} of {updated} updated replicas available"
        else:
            complete, message = True, "rollout complete"
    elif kind == "DaemonSet":
        if updated < desired:
            message = f"{updated} of {desired} updated pods scheduled"
        elif available < desired:
            message = f"{available} of {desired} updated pods available"
        else:
            complete, message = True, "rollout complete"
    else:  # StatefulSet
        strategy = spec.get("updateStrategy") or {}
        partition = (strategy.get("rollingUpdate") or {}).get("partition")
        if strategy.get("type") == "OnDelete":
            message = "updateStrategy OnDelete: pods are replaced only when deleted (no rollout to follow)"
        elif ready < desired:
            message = f"{ready} of {desired} pods ready"
        elif partition:  # only ordinals >= partition roll: done when those are updated
            if updated < desired - int(partition):
                message = f"partitioned rollout: {updated} of {max(desired - int(partition), 0)} pods (ordinals >= {partition}) updated"
            else:
                complete, message = True, f"partitioned rollout complete: {updated} pod(s) updated, ordinals below {partition} kept"
        elif st.get("updateRevision") and st.get("currentRevision") != st.get("updateRevision"):
            message = f"{updated} of {desired} pods updated"
        else:
            complete, message = True, "rollout complete"
    return Rollout(
        kind=kind,
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
        desired=desired,
        updated=updated,
        ready=ready,
        available=available,
        complete=complete,
        message=message,
        revision=(meta.get("annotations") or {}).get(REVISION),
    )


async def follow_rollout(ops: Ops, kind: str, name: str, ns: str, timeout_s: int, ctx: Context | None) -> Rollout:
    """Poll a deployment/statefulset/daemonset until its rollout completes and no pod of an old revision is left
    (terminating ones included: a check on the selector right after sees only new pods), fails or times out, with
    ready/desired as MCP progress (the one rollout wait of every tool that starts one)."""
    start = time.monotonic()

    async def sample():
        obj = await ops.run(ops.cluster.get, kind, name, ns)
        r = rollout_of(KIND_NAMES[kind], obj)
        if r.complete:  # the status counts no terminating pod: ask the pods themselves
            old = await old_pods(ops, kind, obj)
            if old:
                r.complete = False
                r.message = f"new pods ready; waiting for {len(old)} terminating or old-revision pod(s) to be gone: {', '.join(sorted(old)[:3])}"
            else:
                r.message += f": {r.ready} pod(s) ready, no terminating or old-revision pod left"
        return r, r.ready, max(r.desired, 1), f"{kind}/{name}: {r.message}", r.complete or r.message.startswith("rollout failed")

    r = await ops.poll(ctx, sample, timeout_s=timeout_s)
    if not r.complete and not r.message.startswith("rollout failed") and time.monotonic() - start > timeout_s:
        r.message = f"timed out after {timeout_s}s: {r.message}"
    return r


# What follow_rollout reads besides the workload (ROLLOUT_WAIT_RBAC: every tool that waits declares it).
ROLLOUT_WAIT_RBAC = ("list pods", "list replicasets.apps", "list controllerrevisions.apps")


async def old_pods(ops: Ops, kind: str, obj: dict[str, Any]) -> list[str]:
    """The workload's pods that are terminating or of another revision than its current one (finished pods aside:
    they run nothing and are not replaced)."""
    meta, spec, st = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    ns, uid = meta["namespace"], meta["uid"]
    match = (spec.get("selector") or {}).get("matchLabels") or {}
    selector = ",".join(f"{k}={v}" for k, v in sorted(match.items())) or None

    def owned(child: dict[str, Any], uids: set[str]) -> bool:
        return any(o.get("uid") in uids for o in child["metadata"].get("ownerReferences") or [])

    owners, label, current = {uid}, "controller-revision-hash", None
    if kind == "deployment":  # pods belong to its ReplicaSets; the current one carries the deployment's revision
        sets = [rs for rs in await ops.run(ops.cluster.list_all, "replicasets", ns, label_selector=selector) if owned(rs, {uid})]
        owners = {rs["metadata"]["uid"] for rs in sets}
        label, revision = "pod-template-hash", (meta.get("annotations") or {}).get(REVISION)
        current = next((rs["metadata"]["labels"].get(label) for rs in sets if (rs["metadata"].get("annotations") or {}).get(REVISION) == revision), None)
    elif kind == "statefulset":  # a partitioned rollout keeps the old revision below the partition on purpose
        partitioned = ((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition")
        current = None if partitioned else st.get("updateRevision")
    else:  # a DaemonSet's revisions are ControllerRevisions; its pods carry the newest one's hash
        revisions = [cr for cr in await ops.run(ops.cluster.list_all, "controllerrevisions", ns, label_selector=selector) if owned(cr, {uid})]
        newest = max(revisions, key=lambda cr: int(cr.get("revision") or 0), default=None)
        current = (newest["metadata"].get("labels") or {}).get(label) if newest else None
    old = []
    for pod in await ops.run(ops.cluster.list_all, "pods", ns, label_selector=selector):
        pmeta = pod["metadata"]
        if not owned(pod, owners) or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed") and not pmeta.get("deletionTimestamp"):
            continue
        if pmeta.get("deletionTimestamp") or (current and (pmeta.get("labels") or {}).get(label) != current):
            old.append(pmeta["name"])
    return old


async def pss_level(ops: Ops, namespace: str) -> str:
    """The Pod Security Standards level pod specs in the namespace must meet (guard.level_for)."""
    try:
        labels = ((await ops.run(ops.cluster.get, "namespaces", namespace)).get("metadata") or {}).get("labels")
    except OpsError:  # no read on namespaces (the chart's Role has none): the server's own level
        labels = None
    return guard.level_for(labels, ops.settings)


def kind_name(kind: str) -> str:
    return KIND_NAMES[kind]


async def adjust(ops: Ops, hpa: dict[str, Any], kind: str, name: str, ns: str, replicas: int) -> dict[str, Any]:
    """Asked for explicitly: the HPA keeps at least `replicas` (and may go that high), so it no longer fights them."""
    spec = hpa["spec"]
    lo, hi = int(spec.get("minReplicas") or 1), int(spec["maxReplicas"])
    new_hi = max(hi, replicas)
    ops.policy.replicas(new_hi)
    # resourceVersion: fail rather than overwrite a concurrent change to the HPA.
    body = {"metadata": {"resourceVersion": hpa["metadata"]["resourceVersion"]}, "spec": {"minReplicas": replicas, "maxReplicas": new_hi}}
    await ops.run(ops.cluster.patch, "horizontalpodautoscalers", hpa["metadata"]["name"], ns, body)
    return {"name": hpa["metadata"]["name"], "min_before": lo, "max_before": hi, "min_after": replicas, "max_after": new_hi}


class ScalePlan(BaseModel):
    before: int
    hpa: dict[str, Any] | None
    risks: list[str]


async def plan_scale(ops: OpsArg, name: str, replicas: int, namespace: str | None, kind: str, adjust_hpa: bool) -> ScalePlan:
    """The scale and the HPA that governs it, read before anyone is asked; the write policy on the new count."""
    ns = ops.policy.namespace(namespace)
    ops.policy.replicas(replicas)
    scale, hpas = await ops.gather(
        lambda: ops.run(ops.cluster.get, kind, name, ns, "scale"), lambda: ops.run(ops.cluster.list_all, "horizontalpodautoscalers", ns)
    )
    before = int((scale.get("spec") or {}).get("replicas") or 0)
    write = guard.Write(kind_name(kind), name, ns, {"spec": {"replicas": before}}, {"spec": {"replicas": replicas}})
    guard.check([write], ops.settings)
    hpa = next(
        (
            h
            for h in hpas
            if ((h.get("spec") or {}).get("scaleTargetRef") or {}).get("kind") == kind_name(kind) and h["spec"]["scaleTargetRef"].get("name") == name
        ),
        None,
    )
    if hpa and adjust_hpa and replicas < 1:
        raise OpsError(
            f"{kind_name(kind)} {ns}/{name} is scaled by HorizontalPodAutoscaler {hpa['metadata']['name']!r}, whose minimum cannot be 0.",
            "delete or suspend the HPA first if the workload must stop; nothing changed.",
        )
    if hpa and not adjust_hpa:
        spec = hpa["spec"]
        raise OpsError(
            f"{kind_name(kind)} {ns}/{name} is scaled by HorizontalPodAutoscaler {hpa['metadata']['name']!r} "
            f"({spec.get('minReplicas', 1)}..{spec.get('maxReplicas')} replicas, now {before}): it would undo a manual scale to {replicas}. Nothing changed.",
            "change the autoscaler's bounds instead: call again with adjust_hpa=true (its minReplicas becomes the replicas you ask for), "
            "or leave the scaling to the HPA.",
        )
    return ScalePlan(before=before, hpa=hpa, risks=guard.risks([write]))


async def approve_scale(
    ops: OpsArg, plan: Annotated[ScalePlan, Resolve(plan_scale)], name: str, replicas: int, namespace: str | None, kind: str, confirm: bool, ctx: Context
) -> Confirmation | Elicit[Confirmation]:
    question = f"Scale {kind_name(kind)} {name!r} in namespace {ops.policy.namespace(namespace)!r} from {plan.before} to {replicas}?"
    return ops.ask(question, confirm, ctx, risks=plan.risks)


@tool(
    title="Scale a Deployment or StatefulSet",
    kind="write",
    idempotent=True,
    rbac=(
        "get deployments.apps/scale",
        "patch deployments.apps/scale",
        "get statefulsets.apps/scale",
        "patch statefulsets.apps/scale",
        "list horizontalpodautoscalers.autoscaling",
        "patch horizontalpodautoscalers.autoscaling",
        *ROLLOUT_WAIT_RBAC,
    ),
)
async def scale_deployment(
    ops: OpsArg,
    name: Name,
    replicas: int,
    plan: Annotated[ScalePlan, Resolve(plan_scale)],
    approval: Annotated[ElicitationResult[Confirmation], Resolve(approve_scale)],
    ctx: Context,
    namespace: NamespaceArg = None,
    kind: WorkloadKind = "deployment",
    wait: Wait = False,
    timeout_seconds: Timeout = 120,
    adjust_hpa: Annotated[bool, Field(description="Set the HPA's min to replicas")] = False,
    confirm: Confirm = False,
) -> Annotated[CallToolResult, ScaleResult]:
    """Set replicas (before/after, optional wait); a workload an HPA scales needs adjust_hpa."""
    ns = ops.policy.namespace(namespace)
    before = plan.before
    if not isinstance(approval, AcceptedElicitation) or not approval.data.confirm:
        out = ScaleResult(kind=kind_name(kind), name=name, namespace=ns, before=before, after=before, applied=False)
        return ops.result(out, f"Not approved by the user: {out.kind} {ns}/{name} stays at {before}.")
    hpa_change = await adjust(ops, plan.hpa, kind, name, ns, replicas) if plan.hpa else None
    await ops.run(ops.cluster.patch, kind, name, ns, {"spec": {"replicas": replicas}}, sub="scale")
    rollout = await follow_rollout(ops, kind, name, ns, timeout_seconds, ctx) if wait else None
    out = ScaleResult(
        kind=kind_name(kind),
        name=name,
        namespace=ns,
        before=before,
        after=replicas,
        applied=True,
        rollout=rollout.model_dump(exclude_none=True) if rollout else None,
        hpa=hpa_change,
    )
    text = f"{out.kind} {ns}/{name} scaled {before} -> {replicas}"
    if hpa_change:
        text += (
            f"; HPA {hpa_change['name']} bounds {hpa_change['min_before']}..{hpa_change['max_before']} -> {hpa_change['min_after']}..{hpa_change['max_after']}"
        )
    if rollout:
        text += f"; {rollout.message} ({rollout.ready}/{rollout.desired} ready)"
    return ops.result(out, text)


@tool(title="Rollout status", rbac=("get deployments.apps", "get statefulsets.apps", "get daemonsets.apps", *ROLLOUT_WAIT_RBAC))
async def rollout_status(
    ops: OpsArg,
    name: Name,
    ctx: Context,
    namespace: NamespaceArg = None,
    kind: RolloutKind = "deployment",
    wait: Wait = False,
    timeout_seconds: Timeout = 120,
) -> Annotated[CallToolResult, Rollout]:
    """Progress of a Deployment/StatefulSet/DaemonSet rollout (like kubectl rollout status)."""
    ns = ops.policy.namespace(namespace)
    if wait:
        r = await follow_rollout(ops, kind, name, ns, timeout_seconds, ctx)
    else:
        r = rollout_of(kind_name(kind), await ops.run(ops.cluster.get, kind, name, ns))
    text = f"{r.kind} {ns}/{name}: {r.message} (desired {r.desired}, updated {r.updated}, ready {r.ready}, available {r.available})"
    if r.revision:
        text += f", revision {r.revision}"
    return ops.result(r, text)


@tool(
    title="Restart a rollout",
    kind="write",
    rbac=(
        "get deployments.apps",
        "get statefulsets.apps",
        "get daemonsets.apps",
        "patch deployments.apps",
        "patch statefulsets.apps",
        "patch daemonsets.apps",
        *ROLLOUT_WAIT_RBAC,
    ),
)
async def rollout_restart(
    ops: OpsArg,
    name: Name,
    ctx: Context,
    namespace: NamespaceArg = None,
    kind: RolloutKind = "deployment",
    wait: Wait = False,
    timeout_seconds: Timeout = 120,
) -> Annotated[CallToolResult, ChangeResult]:
    """Rolling restart of every pod (like kubectl rollout restart)."""
    ns = ops.policy.namespace(namespace)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}}
    guard.check([guard.Write(kind_name(kind), name, ns, {}, body)], ops.settings)  # a restart changes no pod spec: ops-mcp's own objects
    await ops.run(ops.cluster.patch, kind, name, ns, body, patch_type="strategic")
    rollout = await follow_rollout(ops, kind, name, ns, timeout_seconds, ctx) if wait else None
    out = ChangeResult(
        kind=kind_name(kind),
        name=name,
        namespace=ns,
        applied=True,
        detail=f"restartedAt={stamp}",
        rollout=rollout.model_dump(exclude_none=True) if rollout else None,
    )
    return ops.result(out, f"{out.kind} {ns}/{name} restart triggered ({stamp})" + (f"; {rollout.message}" if rollout else ""))


async def patch_unchanged(ops: Ops, kind: str, name: str, ns: str, obj: dict[str, Any], body: Any, patch_type: str) -> None:
    """Patch with the resourceVersion read as a precondition: a spec changed meanwhile (a new generation)
    is refused rather than overwritten; a conflict from a mere status update is retried."""
    for _ in range(5):
        rv = obj["metadata"]["resourceVersion"]
        guarded = (
            body + [{"op": "replace", "path": "/metadata/resourceVersion", "value": rv}]
            if patch_type == "json"
            else {**body, "metadata": {**(body.get("metadata") or {}), "resourceVersion": rv}}
        )
        try:
            await ops.run(ops.cluster.patch, kind, name, ns, guarded, patch_type=patch_type)
            return
        except Conflict:
            fresh = await ops.run(ops.cluster.get, kind, name, ns)
        if fresh["metadata"].get("generation") != obj["metadata"].get("generation"):
            raise OpsError(
                f"{KIND_NAMES[kind]} {ns}/{name} was changed by someone else while the rollback was prepared "
                f"(generation {obj['metadata'].get('generation')} -> {fresh['metadata'].get('generation')}); nothing was rolled back.",
                "look at what changed (rollout_status, describe_resource), then call rollout_undo again if still wanted.",
            )
        obj = fresh
    raise OpsError(f"{KIND_NAMES[kind]} {ns}/{name} kept changing; nothing was rolled back.", "retry in a moment.")


async def plan_undo(ops: OpsArg, name: str, namespace: str | None, kind: str, revision: int | None) -> UndoPlan:
    """Read the workload and its revisions; refuse what cannot be undone before anyone is asked to confirm."""
    ns = ops.policy.namespace(namespace)
    kname = kind_name(kind)
    obj = await ops.run(ops.cluster.get, kind, name, ns)
    if (obj.get("spec") or {}).get("paused"):
        raise OpsError(
            f"{kname} {ns}/{name} is paused: a rollback would not roll out, and resuming later would mix it with the changes made while paused.",
            f"resume it first (kubectl rollout resume {kind}/{name} -n {ns}), then undo; nothing changed.",
        )
    uid = obj["metadata"].get("uid")

    def owned_by_it(child: dict[str, Any]) -> bool:
        return any(o.get("uid") == uid for o in child["metadata"].get("ownerReferences") or [])

    # Revision number -> the patch that restores its pod template.
    patches: dict[int, tuple[Any, str]] = {}
    if kind == "deployment":  # revisions are the ReplicaSets, numbered by an annotation
        current = int((obj["metadata"].get("annotations") or {}).get(REVISION, 0) or 0)
        for rs in filter(owned_by_it, await ops.run(ops.cluster.list_all, "replicasets", ns)):
            template = dict(rs["spec"]["template"])
            labels = {k: v for k, v in ((template.get("metadata") or {}).get("labels") or {}).items() if k != "pod-template-hash"}
            template["metadata"] = {**(template.get("metadata") or {}), "labels": labels}
            rev = int((rs["metadata"].get("annotations") or {}).get(REVISION, 0) or 0)
            patches[rev] = ([{"op": "replace", "path": "/spec/template", "value": template}], "json")
    else:  # ControllerRevisions hold the template as a strategic merge patch, as kubectl applies it
        for cr in filter(owned_by_it, await ops.run(ops.cluster.list_all, "controllerrevisions", ns)):
            patches[int(cr.get("revision") or 0)] = (cr.get("data") or {}, "strategic")
        current = max(patches, default=0)
    history = sorted(patches)
    if revision is None:
        older = [r for r in history if r < current]
        if not older:
            raise OpsError(f"{kname} {ns}/{name} has no previous revision (current {current}).", "nothing to roll back to; deploy a fixed version instead.")
        target = older[-1]
    else:
        if revision not in patches:
            raise OpsError(f"{kname} {ns}/{name} has no revision {revision}.", f"available revisions: {', '.join(map(str, history)) or 'none'}.")
        if revision == current:
            raise OpsError(f"Revision {revision} is already the current one.", "pick an older revision.")
        target = revision
    body, patch_type = patches[target]
    template = body[0]["value"] if patch_type == "json" else ((body.get("spec") or {}).get("template") or {})
    after = {**obj, "spec": {**(obj.get("spec") or {}), "template": template}}
    guard.check([guard.Write(kname, name, ns, obj, after, await pss_level(ops, ns))], ops.settings)
    return UndoPlan(obj=obj, current=current, target=target, body=body, patch_type=patch_type)


async def confirm_undo(
    ops: OpsArg, plan: Annotated[UndoPlan, Resolve(plan_undo)], name: str, namespace: str | None, kind: str, confirm: bool, ctx: Context
) -> Confirmation | Elicit[Confirmation]:
    # The question names the revisions: if the workload changes while the user decides, the next round's
    # question differs, so the earlier answer no longer counts and the user is asked about the new state.
    ns = ops.policy.namespace(namespace)
    return ops.ask(
        f"Roll back {kind_name(kind)} {name!r} in namespace {ns!r} from revision {plan.current} to {plan.target}?",
        confirm,
        ctx,
        risks=["rolls back the pod template"],
    )


@tool(
    title="Undo a rollout",
    kind="destructive",
    rbac=(
        "get deployments.apps",
        "patch deployments.apps",
        "list replicasets.apps",
        "patch statefulsets.apps",
        "patch daemonsets.apps",
        "list controllerrevisions.apps",
        "get statefulsets.apps",
        "get daemonsets.apps",
        "list pods",
    ),
)
async def rollout_undo(
    ops: OpsArg,
    name: Name,
    plan: Annotated[UndoPlan, Resolve(plan_undo)],
    approval: Annotated[ElicitationResult[Confirmation], Resolve(confirm_undo)],
    ctx: Context,
    namespace: NamespaceArg = None,
    kind: RolloutKind = "deployment",
    revision: Annotated[int | None, Field(ge=1, description="Default: previous")] = None,
    confirm: Annotated[bool, Field(description="User approved")] = False,
    wait: Wait = False,
    timeout_seconds: Timeout = 120,
) -> Annotated[CallToolResult, ChangeResult]:
    """Roll back to the previous (or a given) revision's pod template (like kubectl rollout undo)."""
    ns = ops.policy.namespace(namespace)
    kname = kind_name(kind)
    if not isinstance(approval, AcceptedElicitation) or not approval.data.confirm:
        out = ChangeResult(kind=kname, name=name, namespace=ns, applied=False, detail="not confirmed by the user")
        return ops.result(out, f"Rollback of {kname} {ns}/{name} cancelled: the user did not confirm. Nothing changed.")
    current, target = plan.current, plan.target
    # The patch carries the resourceVersion the plan was read at: a change since then is refused, not overwritten.
    await patch_unchanged(ops, kind, name, ns, plan.obj, plan.body, plan.patch_type)
    rollout = await follow_rollout(ops, kind, name, ns, timeout_seconds, ctx) if wait else None
    out = ChangeResult(
        kind=kname,
        name=name,
        namespace=ns,
        applied=True,
        detail=f"rolled back from revision {current} to {target}",
        rollout=rollout.model_dump(exclude_none=True) if rollout else None,
    )
    return ops.result(out, f"{kname} {ns}/{name} rolled back to revision {target} (was {current})" + (f"; {rollout.message}" if rollout else ""))
