"""Change toolset: patch_resource, apply_manifest, delete_resource, for any namespaced kind (custom resources too).

A patch or apply is first sent as a server-side dry run: the API server validates and admits it and returns the
object it would store, so nothing is written unless every object passes, and the diff against the live object
(ops_mcp.diff) is what would change. Secret values never appear: the diff says that a key changed, not its value.
"""

import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import yaml
from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve
from mcp.server.mcpserver.resolve import AcceptedElicitation
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field, WithJsonSchema

from ops_mcp import guard, tainted
from ops_mcp.cluster import KINDS, NO_STRATEGIC, Kind
from ops_mcp.diff import diff_text, object_diff
from ops_mcp.errors import Conflict, Invalid, NotFound, OpsError, PolicyError
from ops_mcp.params import AnyKind, Confirm, DryRun, Name, NamespaceArg, Timeout, Wait, check_name
from ops_mcp.policy import Confirmation
from ops_mcp.redact import MASK, is_secret_key, secret_values
from ops_mcp.toolkit import Ops, OpsArg, tool
from ops_mcp.tools.inspect import kind_of
from ops_mcp.tools.workloads import ROLLOUT_WAIT_RBAC, follow_rollout, pss_level

WORKLOADS = {"Deployment": "deployment", "StatefulSet": "statefulset", "DaemonSet": "daemonset"}  # kinds whose rollout `wait` follows
MAX_OBJECTS = 50
JSON_PATCH_OPS = {"add", "remove", "replace", "move", "copy", "test"}
SERVER_FIELDS = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink")  # not applied


def _needs(verbs: tuple[str, ...], resources: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{v} {r}" for r in resources for v in verbs)


# The tools take any kind; these are the app's kinds the fixes change, which the chart's Role grants (least privilege:
# a kind outside them gets the API server's 403 with the rule to add). Roles, RoleBindings, Secrets and NetworkPolicies
# are not among them: the write policy (ops_mcp.guard) refuses those writes unless the operator allows them.
PATCH_RBAC = _needs(
    ("get", "patch"),
    (
        "deployments.apps",
        "statefulsets.apps",
        "daemonsets.apps",
        "services",
        "configmaps",
        "persistentvolumeclaims",
        "serviceaccounts",
        "horizontalpodautoscalers.autoscaling",
        "cronjobs.batch",  # a failing CronJob's template (diagnose's job.failed fix)
        "poddisruptionbudgets.policy",  # a budget that allows no eviction, relaxed (pdb.blocks_eviction)
    ),
)
APPLY_RBAC = _needs(
    # server-side apply is a PATCH; one that creates is authorized as a create too; replace=true deletes first
    ("get", "create", "patch", "delete"),
    (
        "deployments.apps",
        "statefulsets.apps",
        "services",
        "configmaps",
        "persistentvolumeclaims",
        "serviceaccounts",
    ),
)
DELETE_RBAC = _needs(
    ("get", "delete"),
    (
        "deployments.apps",
        "services",
        "configmaps",
        "persistentvolumeclaims",
        "jobs.batch",
    ),
)

# Shown as one JSON-schema type list (half the tokens of the anyOf pydantic writes); validated as typed.
Patch = Annotated[dict[str, Any] | list[dict[str, Any]], WithJsonSchema({"type": ["object", "array"], "description": "Object; for json a list of ops"})]
Manifest = Annotated[str | list[dict[str, Any]], WithJsonSchema({"type": ["string", "array"], "description": "YAML or a list of objects"})]


class Change(BaseModel):
    obj: str  # kind/name
    action: Literal["patched", "created", "configured", "replaced", "unchanged", "deleted"]
    diff: list[dict[str, Any]] = []  # {"p": field path, "was": ..., "now": ...}


class ChangeSet(BaseModel):
    applied: bool
    dry_run: bool
    changes: list[Change]
    rollout: dict[str, Any] | None = None  # the rollout `wait` followed (the first unfinished one)
    note: str | None = None


@dataclass
class Planned:
    kind: Kind
    name: str
    namespace: str
    body: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.kind.kind.lower()}/{self.name}"


def namespaced(k: Kind) -> None:
    if not k.namespaced:
        raise OpsError(
            f"{k.kind} is cluster-scoped: ops-mcp changes only namespaced objects, inside its namespace allowlist.",
            "leave it out, or ask a cluster administrator to apply it.",
        )


def refused_in_dry_run(label: str, exc: OpsError, nothing: str) -> OpsError:
    """A dry run's refusal: which object, the API server's reason, and that nothing changed."""
    step = exc.next_step
    if in_place_refused(exc):
        step = "if the field cannot change in place, apply_manifest the full manifest with replace=true (deletes and recreates it)."
    return OpsError(f"{label}: refused by the API server's dry run, so {nothing}. {exc.what}", step)


def in_place_refused(exc: OpsError) -> bool:
    """The API server's 422 for a change an existing object cannot take (an immutable field, a StatefulSet's claim
    templates, a pod's spec): the object as a whole may still be valid, created anew."""
    return isinstance(exc, Invalid) and any(words in exc.what for words in ("immutable", "Forbidden", "may not change once set"))


def helm_note(objects: list[tuple[str, dict[str, Any] | None]]) -> str | None:
    """For objects a Helm release manages: the next helm upgrade puts back what the chart renders."""
    for label, obj in objects:
        meta = (obj or {}).get("metadata") or {}
        release = (meta.get("annotations") or {}).get("meta.helm.sh/release-name")
        if release or (meta.get("labels") or {}).get("app.kubernetes.io/managed-by") == "Helm":
            rel = f"release {release!r}" if release else "its Helm release"
            return f"{label} belongs to {rel}: the next helm upgrade of it would overwrite this change; make it lasting with deploy_chart values."
    return None


def parse_manifest(manifest: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects of YAML text (documents, kind List expanded) or of a list; shape errors name the document."""
    if isinstance(manifest, str):
        try:
            docs = [d for d in yaml.safe_load_all(manifest) if d is not None]
        except yaml.YAMLError as exc:  # its text quotes the manifest's lines: only the problem and where
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise OpsError(f"The manifest is not valid YAML{where}: {getattr(exc, 'problem', None) or 'parse error'}.", "fix the YAML and retry.") from None
    else:
        docs = list(manifest)
    objects: list[dict[str, Any]] = []
    for doc in docs:
        items = doc.get("items") if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") else [doc]
        objects.extend(items if isinstance(items, list) else [items])
    if not objects:
        raise OpsError("The manifest holds no object.", "pass YAML documents or a list of objects with apiVersion, kind and metadata.name.")
    if len(objects) > MAX_OBJECTS:
        raise OpsError(f"The manifest holds {len(objects)} objects; at most {MAX_OBJECTS} are applied in one call.", "split it into several calls.")
    for i, obj in enumerate(objects, 1):
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        if not isinstance(obj, dict) or not isinstance(obj.get("apiVersion"), str) or not isinstance(obj.get("kind"), str) or not isinstance(meta, dict):
            raise OpsError(f"Manifest object {i} is not a Kubernetes object (apiVersion, kind and metadata are needed).", "fix it and retry.")
        if not isinstance(meta.get("name"), str):
            raise OpsError(f"Manifest object {i} ({obj['kind']}) has no metadata.name (generateName is not applied).", "give it a name and retry.")
        try:
            check_name(meta["name"])
        except ValueError as exc:
            raise OpsError(f"Manifest object {i} ({obj['kind']}): {exc}.", "fix the name and retry.") from None
    return objects


def _is_secret(kind: Any) -> bool:
    return isinstance(kind, str) and KINDS.get(kind.strip().lower()) is KINDS["secrets"]


def _mark_secrets(value: Any) -> Any:
    """Every object whose kind names a Secret, in any spelling, as kind Secret (what redact_obj masks)."""
    if isinstance(value, list):
        return [_mark_secrets(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _mark_secrets(v) for k, v in value.items()}
    return {**out, "kind": "Secret"} if _is_secret(value.get("kind")) else out


def apply_view(arguments: dict[str, Any]) -> dict[str, Any]:
    """apply_manifest's arguments for redaction: the manifest's objects (text parsed), Secrets marked."""
    manifest = arguments.get("manifest")
    if manifest is None:
        return arguments
    return {**arguments, "manifest": _mark_secrets(list(yaml.safe_load_all(manifest)) if isinstance(manifest, str) else manifest)}


def patch_view(arguments: dict[str, Any]) -> dict[str, Any]:
    """patch_resource's arguments for redaction: a Secret's patch marked as a Secret (its values masked and scrubbed
    from outputs); a JSON-patch value set into an env entry or a credential-named field masked in the audit record
    (a path by index names no variable, so redact_obj could not tell)."""
    patch, secret = arguments.get("patch"), _is_secret(arguments.get("kind"))
    if isinstance(patch, dict) and secret:
        return {**arguments, "patch": {**patch, "kind": "Secret"}}
    if not isinstance(patch, list):
        return arguments

    def op_view(op: Any) -> Any:
        if not isinstance(op, dict) or "value" not in op:
            return op
        if secret:
            return {**op, "value": {"kind": "Secret", "data": {"value": op["value"]}}}
        segments = str(op.get("path", "")).split("/")
        if "env" in segments or any(is_secret_key(s) for s in segments):
            return {**op, "value": MASK}
        return op

    return {**arguments, "patch": [op_view(op) for op in patch]}


def check_patch(patch: Any, patch_type: str, secret: bool = False) -> None:
    """The patch's shape; and no JSON-patch op that reads a value it could carry elsewhere or test for (copy, move,
    test) from a Secret's data, a credential-named field or an env entry: a diff would show it, a test answers it."""
    if patch_type == "json":
        if not isinstance(patch, list) or not patch:
            raise OpsError("patch_type=json takes a list of JSON-patch operations.", 'pass e.g. [{"op": "replace", "path": "/spec/replicas", "value": 2}].')
        for i, op in enumerate(patch, 1):
            if not isinstance(op, dict) or op.get("op") not in JSON_PATCH_OPS or not str(op.get("path", "")).startswith("/"):
                raise OpsError(
                    f"JSON-patch operation {i} needs op ({', '.join(sorted(JSON_PATCH_OPS))}) and a path starting with '/'.",
                    "fix it and retry.",
                )
            source = str(op.get("from", "")) if op["op"] in ("copy", "move") else str(op["path"]) if op["op"] == "test" else ""
            segments = [s.replace("~1", "/").replace("~0", "~") for s in source.split("/")[1:]]
            if segments and ((secret and segments[0] in ("data", "stringData")) or "env" in segments or any(is_secret_key(s) for s in segments)):
                raise PolicyError(
                    f"Refused by the write policy, nothing changed: [secret-values] JSON-patch operation {i} ({op['op']} {source}) reads a secret value.",
                    "set values explicitly with add or replace; ops-mcp never copies, moves or tests secret values.",
                    rules=("secret-values",),
                )
    elif not isinstance(patch, dict) or not patch:
        raise OpsError(
            f"patch_type={patch_type} takes an object (the fields to change).", "pass e.g. {'spec': {'replicas': 2}}, or patch_type=json for a list of ops."
        )


async def live_or_none(ops: Ops, k: Kind, name: str, ns: str) -> dict[str, Any] | None:
    try:
        return await ops.run(ops.cluster.get, k, name, ns, digests=True)
    except NotFound:
        return None


async def follow_rollouts(ops: Ops, targets: list[tuple[Kind, str, str]], timeout_s: int, ctx: Context) -> dict[str, Any] | None:
    """Wait for each workload's rollout (one shared deadline); the first unfinished one, else the last."""
    deadline = time.monotonic() + timeout_s
    last = None
    for k, name, ns in targets:
        r = await follow_rollout(ops, WORKLOADS[k.kind], name, ns, max(1, int(deadline - time.monotonic())), ctx)
        last = r.model_dump(exclude_none=True)
        if not r.complete:
            return last
    return last


# What claims_bound reads besides the claims: their events, to stop at one that cannot bind.
CLAIM_WAIT_RBAC = ("list events",)


async def claims_bound(ops: Ops, claims: list[tuple[Kind, str, str]], timeout_s: int, ctx: Context) -> str | None:
    """Wait until each applied PersistentVolumeClaim is Bound (a WaitForFirstConsumer class binds once its pending
    pod is scheduled again), or cannot bind: its StorageClass does not exist (the volume controller's
    ProvisioningFailed event says so; it binds only once a person creates the class). A note naming those unbound."""
    blocked: dict[str, str] = {}

    async def sample() -> Any:
        claimed = [(k, name, ns, await ops.run(ops.cluster.get, k, name, ns)) for k, name, ns in claims]
        unbound = [(name, ns, obj) for _, name, ns, obj in claimed if (obj.get("status") or {}).get("phase") != "Bound"]
        for name, ns, obj in unbound:
            if name not in blocked and (why := await no_class(ops, name, ns, obj)):
                blocked[name] = why
        done = len(claims) - len(unbound)
        return [name for name, _, _ in unbound], done, len(claims), f"{done}/{len(claims)} claims bound", all(n in blocked for n, _, _ in unbound)

    unbound = await ops.poll(ctx, sample, timeout_s=timeout_s)
    waiting = [name for name in unbound if name not in blocked]
    notes = [f"claim {name} cannot bind: {blocked[name]}" for name in unbound if name in blocked]
    if waiting:
        notes.append(f"claims not Bound after {timeout_s}s: {', '.join(waiting)} (describe them for the provisioner's events)")
    return "; ".join(notes) or None


async def no_class(ops: Ops, name: str, ns: str, claim: dict[str, Any]) -> str | None:
    """Why a claim cannot bind if its StorageClass does not exist (from the volume controller's event), else None."""
    cls = (claim.get("spec") or {}).get("storageClassName")
    if not cls or (claim.get("spec") or {}).get("volumeName"):
        return None
    events = await ops.run(
        ops.cluster.list_all, "events", ns, field_selector=f"involvedObject.kind=PersistentVolumeClaim,involvedObject.name={name}", max_items=50
    )
    uid = claim["metadata"].get("uid")
    missing = f'storageclass.storage.k8s.io "{cls}" not found'
    if any(
        e.get("reason") == "ProvisioningFailed" and missing in (e.get("message") or "") and (e.get("involvedObject") or {}).get("uid") == uid for e in events
    ):
        return f"StorageClass {cls} does not exist (ProvisioningFailed): create it, or apply the claim naming an existing class with replace=true (a claim's class cannot change in place)"
    return None


def summary(out: ChangeSet, where: str) -> str:
    head = ("DRY RUN, nothing applied: " if out.dry_run else "") + f"in {where}:"
    lines = [head]
    for c in out.changes:
        lines.append(f"{c.obj} {c.action}" + (f" ({len(c.diff)} fields)" if c.diff else ""))
        if c.diff:
            lines.append(diff_text(c.diff))
    if out.rollout:
        r = out.rollout
        lines.append(f"rollout {r['kind'].lower()}/{r['name']}: {r['message']} ({r['ready']}/{r['desired']} ready)")
    if out.note:
        lines.append(f"note: {out.note}")
    return "\n".join(lines)


# -- the plan: dry runs, the write policy, the risks -----------------------------------------
@dataclass
class Step:
    planned: Planned
    live: dict[str, Any] | None  # None: the object does not exist yet
    result: dict[str, Any]  # as the API server would store it (its dry run)
    patch: Any  # what is sent (a patch, or the object for server-side apply)
    patch_type: str
    replace: bool = False  # deleted and created again: the change cannot be made in place

    @property
    def changes(self) -> bool:
        return self.live is None or self.replace or bool(object_diff(self.live, self.result))


@dataclass
class Plan:
    """What a patch or apply would write, checked by the write policy; read again on every round of a question."""

    steps: list[Step]
    risks: list[str]
    diff: str  # the diff a person is shown
    notes: list[str]

    @property
    def changes(self) -> bool:
        return any(s.changes for s in self.steps)


async def checked(ops: Ops, steps: list[Step], notes: list[str]) -> Plan:
    """The write policy on every object that would change (a refusal raises: nothing applied), and the risks."""
    levels = {ns: await pss_level(ops, ns) for ns in {s.planned.namespace for s in steps}}
    writes = [guard.Write(s.planned.kind.kind, s.planned.name, s.planned.namespace, s.live, s.result, levels[s.planned.namespace]) for s in steps if s.changes]
    writes += [guard.Write(s.planned.kind.kind, s.planned.name, s.planned.namespace, s.live, None) for s in steps if s.replace]  # its delete
    guard.check(writes, ops.settings)
    shown = ChangeSet(applied=False, dry_run=True, changes=change_list(steps))
    diff = tainted.scrub(summary(shown, ", ".join(sorted(levels))), tainted.current() | secret_values([s.live for s in steps] + [s.result for s in steps]))
    return Plan(steps=steps, risks=guard.risks(writes), diff=diff, notes=notes)


def change_list(steps: list[Step]) -> list[Change]:
    out = []
    for s in steps:
        if not s.changes:
            out.append(Change(obj=s.planned.label, action="unchanged"))
        elif s.live is None:
            out.append(Change(obj=s.planned.label, action="created"))
        else:
            action = "replaced" if s.replace else "patched" if s.patch_type != "apply" else "configured"
            # a replaced object is new to the API server: what it adds anew (a uid, a token volume's random name) is
            # no change of the manifest's, and would make the question differ on every round
            live, result = (shaped_like(s.live, s.patch), shaped_like(s.result, s.patch)) if s.replace else (s.live, s.result)
            out.append(Change(obj=s.planned.label, action=action, diff=object_diff(live, result)))
    return out


def shaped_like(obj: Any, shape: Any) -> Any:
    """`obj` cut to the fields `shape` (a manifest) sets: keys of maps, items of lists of named objects by name."""
    if isinstance(shape, dict) and isinstance(obj, dict):
        return {k: shaped_like(obj[k], v) for k, v in shape.items() if k in obj}
    if isinstance(shape, list) and isinstance(obj, list) and shape and all(isinstance(x, dict) and "name" in x for x in shape):
        named = {x.get("name"): x for x in obj if isinstance(x, dict)}
        return [shaped_like(named[x["name"]], x) for x in shape if x["name"] in named]
    return obj


def guarded(step: Step) -> Any:
    """The write with the dry run's resourceVersion as a precondition: what the policy checked is what is applied,
    or nothing (409) when the object changed in between."""
    rv = ((step.live or {}).get("metadata") or {}).get("resourceVersion")
    if not rv:
        return step.patch
    if step.patch_type == "json":
        return [{"op": "test", "path": "/metadata/resourceVersion", "value": rv}, *step.patch]
    return {**step.patch, "metadata": {**(step.patch.get("metadata") or {}), "resourceVersion": rv}}


async def apply_step(ops: Ops, step: Step) -> dict[str, Any]:
    """Apply one checked write. A conflict from a status update alone (same generation: a controller reporting
    progress) is retried on the fresh resourceVersion: the spec the policy checked is still the one patched."""
    p = step.planned
    for _ in range(5):
        try:
            return await ops.run(ops.cluster.patch, p.kind, p.name, p.namespace, guarded(step), patch_type=step.patch_type, digests=True)
        except OpsError as exc:
            if not (isinstance(exc, Conflict) or "/metadata/resourceVersion" in exc.what):
                raise
        fresh = await live_or_none(ops, p.kind, p.name, p.namespace)
        generation = ((step.live or {}).get("metadata") or {}).get("generation")
        if fresh is None or generation is None or (fresh.get("metadata") or {}).get("generation") != generation:
            break
        step = Step(p, fresh, step.result, step.patch, step.patch_type)
    raise OpsError(f"{p.label} changed after its dry run, so the checked change was not applied.", "call again: it is dry-run and checked anew.")


async def approve(ops: Ops, plan: Plan, question: str, dry_run: bool, confirm: bool, ctx: Context) -> Confirmation | Elicit[Confirmation]:
    if dry_run or not plan.changes:
        return Confirmation(confirm=True)
    return ops.ask(question, confirm, ctx, risks=plan.risks, diff=plan.diff)


def cancelled(where: str) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=f"Not approved by the user: nothing changed in {where}.")],
        structured_content=ChangeSet(applied=False, dry_run=False, changes=[], note="not approved by the user; nothing changed").model_dump(exclude_none=True),
    )


# -- patch_resource -----------------------------------------------------------------------
async def plan_patch(ops: OpsArg, kind: str, name: str, patch: Any, namespace: str | None, patch_type: str) -> Plan:
    ns = ops.policy.namespace(namespace)
    k = await kind_of(ops, kind)
    namespaced(k)
    check_patch(patch, patch_type, k.kind == "Secret")
    label = f"{k.kind.lower()}/{name}"
    notes = []
    live = await ops.run(ops.cluster.get, k, name, ns, digests=True)
    try:
        try:
            result = await ops.run(ops.cluster.patch, k, name, ns, patch, patch_type=patch_type, dry_run=True, digests=True)
        except OpsError as exc:
            if patch_type != "strategic" or NO_STRATEGIC not in exc.what:
                raise
            patch_type = "merge"  # custom resources take no strategic merge patch; for an object, merge is the same
            notes.append("sent as a JSON merge patch (custom resources take no strategic merge patch)")
            result = await ops.run(ops.cluster.patch, k, name, ns, patch, patch_type=patch_type, dry_run=True, digests=True)
    except OpsError as exc:
        raise refused_in_dry_run(label, exc, "nothing changed") from None
    return await checked(ops, [Step(Planned(k, name, ns, {}), live, result, patch, patch_type)], notes)


async def approve_patch(
    ops: OpsArg, plan: Annotated[Plan, Resolve(plan_patch)], dry_run: bool, confirm: bool, ctx: Context
) -> Confirmation | Elicit[Confirmation]:
    p = plan.steps[0].planned
    return await approve(ops, plan, f"Patch {p.label} in namespace {p.namespace!r}?", dry_run, confirm, ctx)


@tool(title="Patch an object", kind="write", rbac=PATCH_RBAC + ROLLOUT_WAIT_RBAC, view=patch_view)
async def patch_resource(
    ops: OpsArg,
    kind: AnyKind,
    name: Name,
    patch: Patch,
    plan: Annotated[Plan, Resolve(plan_patch)],
    approval: Annotated[ElicitationResult[Confirmation], Resolve(approve_patch)],
    ctx: Context,
    namespace: NamespaceArg = None,
    patch_type: Literal["strategic", "merge", "json"] = "strategic",
    dry_run: DryRun = False,
    wait: Wait = False,
    timeout_seconds: Timeout = 120,
    confirm: Confirm = False,
) -> Annotated[CallToolResult, ChangeSet]:
    """Patch an object: server dry-run diff, write-policy check, applied unless dry_run."""
    step = plan.steps[0]
    p, notes = step.planned, list(plan.notes)
    if not isinstance(approval, AcceptedElicitation) or not approval.data.confirm:
        return cancelled(p.namespace)
    applied = step.changes and not dry_run
    if applied:
        step = Step(p, step.live, await apply_step(ops, step), step.patch, step.patch_type)
    if step.changes and (note := helm_note([(p.label, step.live)])):
        notes.append(note)
    rollout = None
    if wait and not dry_run and p.kind.kind in WORKLOADS:  # unchanged too: the caller waits for the workload to be done
        rollout = await follow_rollouts(ops, [(p.kind, p.name, p.namespace)], timeout_seconds, ctx)
    out = ChangeSet(applied=applied, dry_run=dry_run, changes=change_list([step]), rollout=rollout, note="; ".join(notes) or None)
    return ops.result(out, summary(out, p.namespace))


# -- apply_manifest -----------------------------------------------------------------------
async def plan_manifest(ops: Ops, manifest: str | list[dict[str, Any]], namespace: str | None) -> list[Planned]:
    """Each object with its kind, name and namespace (the default one when it names none), all checked."""
    planned: list[Planned] = []
    seen: set[tuple[str, str, str]] = set()
    for obj in parse_manifest(manifest):
        meta = obj["metadata"]
        k = await ops.run(ops.cluster.manifest_kind, obj["apiVersion"], obj["kind"])
        namespaced(k)
        ns = ops.policy.namespace(meta.get("namespace") or namespace)
        key = (k.resource, ns, meta["name"])
        if key in seen:
            raise OpsError(f"The manifest holds {k.kind.lower()}/{meta['name']} in {ns} twice.", "keep one of them.")
        seen.add(key)
        meta = {**{f: v for f, v in meta.items() if f not in SERVER_FIELDS}, "namespace": ns}  # `kubectl get -o yaml` output applies too
        body = {f: v for f, v in obj.items() if f != "status"}
        planned.append(Planned(k, meta["name"], ns, {**body, "kind": k.kind, "metadata": meta}))
    return planned


async def plan_apply(ops: OpsArg, manifest: Any, namespace: str | None, replace: bool = False) -> Plan:
    """Every object dry-run (a refusal of one and nothing is applied), then the write policy on all of them.
    replace: an existing object the change cannot be made to in place is planned as deleted and created again."""
    steps = []
    for p in await plan_manifest(ops, manifest, namespace):
        live = await live_or_none(ops, p.kind, p.name, p.namespace)
        try:
            result = await ops.run(ops.cluster.patch, p.kind, p.name, p.namespace, p.body, patch_type="apply", dry_run=True, digests=True)
        except OpsError as exc:
            if not (replace and live is not None and in_place_refused(exc)):
                raise refused_in_dry_run(p.label, exc, "nothing was applied") from None
            steps.append(Step(p, live, await as_created(ops, p, live), p.body, "apply", replace=True))
            continue
        steps.append(Step(p, live, result, p.body, "apply"))
    return await checked(ops, steps, [])


async def as_created(ops: Ops, p: Planned, live: dict[str, Any]) -> dict[str, Any]:
    """The object as creating the manifest would store it, for the write policy and the diff: a dry-run create under a
    generated name (the API server's validation and admission, nothing persisted); the status stays the live one's."""
    if p.kind.kind == "Secret":
        raise OpsError(
            f"{p.label} cannot change in place, and ops-mcp does not delete Secrets: it never reads their values, so it could not put one back.",
            "ask the Secret's owner to recreate it.",
        )
    meta = {k: v for k, v in p.body["metadata"].items() if k != "name"}
    body = {**p.body, "metadata": {**meta, "generateName": f"{p.name[:50]}-"}}
    try:
        result = await ops.run(ops.cluster.create, p.kind, p.namespace, body, dry_run=True, digests=True)
    except OpsError as exc:
        raise refused_in_dry_run(p.label, exc, "nothing was applied (created anew it is refused too)") from None
    # the dry run's own identity (its generated name and uid, which a Job copies into its selector and labels) reads
    # as the live object's: the diff shows only the change, and is the same on every round of the question
    generated = {result["metadata"]["name"]: p.name, result["metadata"].get("uid"): live["metadata"].get("uid")}
    out = _same_identity({k: v for k, v in result.items() if k != "status"}, generated)
    out["metadata"].pop("generateName", None)
    return {**out, "status": live["status"]} if "status" in live else out


def _same_identity(value: Any, generated: dict[Any, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _same_identity(v, generated) for k, v in value.items()}
    if isinstance(value, list):
        return [_same_identity(v, generated) for v in value]
    return generated.get(value, value) if isinstance(value, str) else value


async def wait_gone(ops: Ops, ctx: Context, k: Kind, name: str, ns: str, uid: str | None, timeout_s: int) -> dict[str, Any] | None:
    """Until the object is gone (or a controller made a new one under its name); what is still terminating at the
    deadline, else None."""
    label = f"{k.kind.lower()}/{name}"

    async def sample():
        try:
            now = await ops.run(ops.cluster.get, k, name, ns)
        except NotFound:
            return None, 1, 1, f"{label}: gone", True
        if now["metadata"].get("uid") != uid:
            return None, 1, 1, f"{label}: gone (recreated by its controller)", True
        return now, 0, 1, f"{label}: terminating", False

    return await ops.poll(ctx, sample, timeout_s=timeout_s)


def terminating(obj: dict[str, Any]) -> str:
    finalizers = (obj.get("metadata") or {}).get("finalizers") or []
    return "still terminating" + (f", waiting for finalizers {', '.join(finalizers)}" if finalizers else "")


CONTROLLERS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")  # they make objects by name


async def remove_replaced(ops: Ops, steps: list[Step], ctx: Context, timeout_s: int) -> None:
    """Delete every object to be replaced, controllers first (a StatefulSet would make its claims again), each until
    it is gone; one left terminating: those already gone are created again as they were, and the call fails."""
    gone: list[Step] = []
    for step in sorted(steps, key=lambda s: s.planned.kind.kind not in CONTROLLERS):
        p = step.planned
        await ops.run(ops.cluster.delete, p.kind, p.name, p.namespace)
        if (left := await wait_gone(ops, ctx, p.kind, p.name, p.namespace, (step.live or {})["metadata"].get("uid"), timeout_s)) is not None:
            back = await restore(ops, gone)
            raise OpsError(f"{p.label} was deleted but is {terminating(left)}, so nothing was created again{back}.", "once it is gone, apply_manifest again.")
        gone.append(step)


async def restore(ops: Ops, steps: list[Step]) -> str:
    """Create the deleted objects again as they were (without their server fields): what happened, for the error."""
    failed = []
    for step in steps:
        live, p = step.live or {}, step.planned
        meta = {k: v for k, v in live["metadata"].items() if k not in (*SERVER_FIELDS, "deletionTimestamp", "deletionGracePeriodSeconds")}
        try:
            await ops.run(
                ops.cluster.patch, p.kind, p.name, p.namespace, {**{k: v for k, v in live.items() if k != "status"}, "metadata": meta}, patch_type="apply"
            )
        except OpsError as exc:
            failed.append(f"{p.label} ({exc.what})")
    if not steps:
        return ""
    restored = ", ".join(s.planned.label for s in steps)
    return f"; {restored} created again as before" if not failed else f"; creating these again as before failed: {', '.join(failed)}"


async def approve_apply(
    ops: OpsArg, plan: Annotated[Plan, Resolve(plan_apply)], dry_run: bool, confirm: bool, ctx: Context
) -> Confirmation | Elicit[Confirmation]:
    shown = ", ".join(f"{s.planned.label} in {s.planned.namespace}" for s in plan.steps[:5]) + (
        f" and {len(plan.steps) - 5} more" if len(plan.steps) > 5 else ""
    )
    return await approve(ops, plan, f"Apply {shown}?", dry_run, confirm, ctx)


@tool(title="Apply a manifest", kind="destructive", idempotent=True, rbac=APPLY_RBAC + ROLLOUT_WAIT_RBAC + CLAIM_WAIT_RBAC, view=apply_view)
async def apply_manifest(
    ops: OpsArg,
    manifest: Manifest,
    plan: Annotated[Plan, Resolve(plan_apply)],
    approval: Annotated[ElicitationResult[Confirmation], Resolve(approve_apply)],
    ctx: Context,
    namespace: NamespaceArg = None,
    dry_run: DryRun = False,
    replace: Annotated[bool, Field(description="Recreate if immutable")] = False,
    wait: Wait = False,
    timeout_seconds: Timeout = 120,
    confirm: Confirm = False,
) -> Annotated[CallToolResult, ChangeSet]:
    """Server-side apply; each object dry-run, diffed and policy-checked first."""
    where = ", ".join(sorted({s.planned.namespace for s in plan.steps}))
    if not isinstance(approval, AcceptedElicitation) or not approval.data.confirm:
        return cancelled(where)
    steps: list[Step] = []
    replaced = [s for s in plan.steps if s.replace and not dry_run]
    await remove_replaced(ops, replaced, ctx, min(timeout_seconds, 120))
    for i, step in enumerate(plan.steps):
        if step.changes and not dry_run:
            try:
                written = await (
                    ops.run(ops.cluster.patch, step.planned.kind, step.planned.name, step.planned.namespace, step.patch, patch_type="apply", digests=True)
                    if step.replace
                    else apply_step(ops, step)
                )
                step = Step(step.planned, step.live, written, step.patch, step.patch_type, step.replace)
            except OpsError as exc:
                done = ", ".join(s.planned.label for s in steps if s.changes) or "none"
                back = await restore(ops, [s for s in plan.steps[i:] if s.replace and not dry_run])
                raise OpsError(
                    f"{step.planned.label}: the apply failed after its dry run passed (already applied: {done}{back}). {exc.what}", exc.next_step
                ) from None
        steps.append(step)
    touched = [s for s in steps if s.changes]
    rollout, unbound = None, None
    if wait and not dry_run:
        rollout = await follow_rollouts(
            ops, [(s.planned.kind, s.planned.name, s.planned.namespace) for s in steps if s.planned.kind.kind in WORKLOADS], timeout_seconds, ctx
        )
        claims = [(s.planned.kind, s.planned.name, s.planned.namespace) for s in steps if s.planned.kind.kind == "PersistentVolumeClaim"]
        unbound = await claims_bound(ops, claims, timeout_seconds, ctx) if claims else None
    note = "; ".join(filter(None, [helm_note([(s.planned.label, s.live) for s in touched]), unbound])) or None
    out = ChangeSet(applied=bool(touched) and not dry_run, dry_run=dry_run, changes=change_list(steps), rollout=rollout, note=note)
    return ops.result(out, summary(out, where))


# -- delete_resource ----------------------------------------------------------------------
@dataclass
class Deletion:
    kind: Kind
    name: str
    namespace: str
    live: dict[str, Any]


async def plan_delete(ops: OpsArg, kind: str, name: str, namespace: str | None) -> Deletion:
    """The object as it is, checked by the write policy (a delete is a write) before anyone is asked."""
    ns = ops.policy.namespace(namespace)
    k = await kind_of(ops, kind)
    namespaced(k)
    if k.kind == "Secret":
        raise OpsError(
            "ops-mcp does not delete Secrets: it never reads their values, so it could neither show what would be lost nor "
            "put it back, and Helm keeps its release records in Secrets.",
            "change what uses the Secret instead, or ask its owner to delete it.",
        )
    live = await ops.run(ops.cluster.get, k, name, ns)
    guard.check([guard.Write(k.kind, name, ns, live, None)], ops.settings)
    return Deletion(k, name, ns, live)


async def confirm_delete(ops: OpsArg, plan: Annotated[Deletion, Resolve(plan_delete)], confirm: bool, ctx: Context) -> Confirmation | Elicit[Confirmation]:
    label = f"{plan.kind.kind.lower()}/{plan.name}"
    return ops.ask(f"Delete {label} in namespace {plan.namespace!r}?", confirm, ctx, risks=[f"deletes {label}"])


@tool(title="Delete an object", kind="destructive", rbac=DELETE_RBAC)
async def delete_resource(
    ops: OpsArg,
    kind: AnyKind,
    name: Name,
    plan: Annotated[Deletion, Resolve(plan_delete)],
    approval: Annotated[ElicitationResult[Confirmation], Resolve(confirm_delete)],
    ctx: Context,
    namespace: NamespaceArg = None,
    grace_period: Annotated[int | None, Field(ge=0, le=3600, description="Seconds")] = None,
    confirm: Confirm = False,
) -> Annotated[CallToolResult, ChangeSet]:
    """Delete an object (not a Secret) and wait until it is gone."""
    k, ns, live = plan.kind, plan.namespace, plan.live
    label = f"{k.kind.lower()}/{name}"
    if not isinstance(approval, AcceptedElicitation) or not approval.data.confirm:
        return cancelled(ns)
    await ops.run(ops.cluster.delete, k, name, ns, grace_period=grace_period)
    timeout = min((grace_period if grace_period is not None else 30) + 30, 300)
    remaining = await wait_gone(ops, ctx, k, name, ns, live["metadata"].get("uid"), timeout)
    notes = [terminating(remaining)] if remaining is not None else []
    if note := helm_note([(label, live)]):
        notes.append(note.replace("overwrite this change", "create it again"))
    out = ChangeSet(applied=True, dry_run=False, changes=[Change(obj=label, action="deleted")], note="; ".join(notes) or None)
    return ops.result(out, f"{label} deleted in {ns}" + ("; " + out.note if out.note else ""))
