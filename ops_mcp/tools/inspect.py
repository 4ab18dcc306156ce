"""Inspect toolset: get_app_status, list_resources, describe_resource, get_events."""

import base64
import functools
import json
from typing import Annotated, Any, Literal

import anyio
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from ops_mcp import shaping
from ops_mcp.errors import Expired, OpsError
from ops_mcp.params import AnyKind, Name, NamespaceArg, OptReleaseName, check_release
from ops_mcp.redact import Scrubber, redact_obj, secret_env_values, secret_refs
from ops_mcp.toolkit import Ops, OpsArg, tool

Kind = AnyKind
Selector = Annotated[str | None, Field(description="e.g. app=web")]
POD_PAGE = 500  # pods per Table page when get_app_status walks a namespace


class ResourcePage(BaseModel):
    kind: str
    namespace: str | None = None
    rows: list[dict[str, Any]]
    continue_token: str | None = None
    remaining: int | None = None
    note: str | None = None  # set when an expired continue_token made the list start again


class ObjectDescription(BaseModel):
    kind: str
    name: str
    namespace: str | None = None
    object: dict[str, Any]
    events: list[dict[str, Any]]
    note: str | None = None  # set when a Secret the pod (template) references could not be read


class EventSummary(BaseModel):
    namespace: str | None = None
    groups: list[dict[str, Any]]
    total: int
    capped: bool | None = None  # true: more events exist than were read (max_events)


class AppStatus(BaseModel):
    namespace: str
    release: str
    healthy: bool
    helm: dict[str, Any]
    workloads: list[dict[str, Any]]
    failing_pods: list[dict[str, Any]]
    services_without_endpoints: list[str]
    warnings: list[dict[str, Any]]
    problems: list[str]
    terminating_pods: int | None = None  # being deleted (rollouts, scale-down): neither failing nor ready


def _encode(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def _decode(token: str) -> dict[str, Any]:
    try:
        state = json.loads(base64.urlsafe_b64decode(token.encode()))
        assert isinstance(state, dict) and isinstance(state.get("i"), int)
        return state
    except Exception:
        raise OpsError("The continue_token is not one this server issued.", "repeat the list without continue_token.") from None


def parse_since(value: str | None) -> int | None:
    """'90s', '15m', '2h', '1d' or plain seconds -> seconds."""
    if value is None or value == "":
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    v = value.strip().lower()
    try:
        if v[-1] in units:
            secs = int(float(v[:-1]) * units[v[-1]])
        else:
            secs = int(v)
    except (ValueError, IndexError):
        raise OpsError(f"Cannot read since={value!r}.", "use a duration like 90s, 15m, 2h or 1d.") from None
    if secs <= 0:
        raise OpsError(f"since={value!r} must be positive.", "use a duration like 15m.")
    return secs


class ContextRow(BaseModel):
    name: str
    cluster: str | None = None
    server: str | None = None
    namespace: str | None = None
    default: bool = False


class Contexts(BaseModel):
    contexts: list[ContextRow]


# -- list_contexts (only with OPS_MCP_CONTEXTS) ------------------------------------------------
@tool(title="List kubeconfig contexts", listed=lambda settings: bool(settings.contexts), cluster=False, rbac=(), open_world=False)
async def list_contexts(ops: OpsArg) -> Annotated[CallToolResult, Contexts]:
    """The contexts tools accept as `context` (server, namespace; the default marked)."""
    from ops_mcp import contexts

    found = [ContextRow(**row) for row in await ops.run(contexts.rows, ops.settings)]
    lines = [f"{'*' if c.default else ' '} {c.name}  {c.server or '?'}" + (f"  ns={c.namespace}" if c.namespace else "") for c in found]
    return ops.result(Contexts(contexts=found), "\n".join(lines) + "\n(* = default; pass context=NAME to a tool)")


async def kind_of(ops: Ops, name: str):
    """Built-in kinds resolve at once; others (custom resources) through discovery, in a worker thread."""
    return ops.cluster.known_kind(name) or await ops.run(ops.cluster.kind, name)


# -- list_resources -------------------------------------------------------------------
@tool(title="List resources", rbac=("list pods", "list deployments.apps"))  # any kind; these for the app
async def list_resources(
    ops: OpsArg,
    kind: Kind,
    namespace: NamespaceArg = None,
    all_namespaces: bool = False,
    label_selector: Selector = None,
    field_selector: Selector = None,
    limit: Annotated[int | None, Field(ge=1, le=500)] = None,
    continue_token: Annotated[str | None, Field(description="From the previous page")] = None,
) -> Annotated[CallToolResult, ResourcePage]:
    """List objects of a kind as compact rows (kubectl-get columns), paginated."""
    k = await kind_of(ops, kind)
    scopes = ops.policy.scope(namespace, all_namespaces) if k.namespaced else [None]
    page_size = limit or ops.settings.page_size
    state = _decode(continue_token) if continue_token else {"i": 0, "c": None}
    i, token = state["i"], state.get("c")
    if i >= len(scopes):
        raise OpsError("The continue_token is past the end of this list.", "repeat the list without continue_token.")
    rows: list[dict[str, Any]] = []
    next_state = None
    remaining = None
    note = None
    while i < len(scopes):
        scope = scopes[i]
        fetch = functools.partial(
            ops.cluster.table, k, scope, label_selector=label_selector, field_selector=field_selector, limit=page_size - len(rows), continue_token=token
        )
        label = scope if all_namespaces else None
        try:
            if k.kind == "Pod":
                page, got = await ops.run(shaping.pod_rows, lambda with_metadata: fetch(with_metadata=with_metadata or scope is None), label)  # noqa: B023 (called at once)
            else:
                page = await ops.run(fetch, with_metadata=k.namespaced and scope is None)
                got = shaping.table_rows(page, k.kind, namespace=label)
        except Expired:
            if note or token is None:
                raise
            # The API server no longer has the snapshot this token continued: start the whole list again.
            note = "The continue_token had expired (a list snapshot lasts a few minutes): this is the list again from its first page."
            rows, i, token = [], 0, None
            continue
        rows.extend(got)
        meta = page.get("metadata") or {}
        token = meta.get("continue")
        remaining = meta.get("remainingItemCount")
        if token:
            next_state = {"i": i, "c": token}
            break
        i, token = i + 1, None
        if len(rows) >= page_size and i < len(scopes):
            next_state = {"i": i, "c": None}
            break
    ns_label = scopes[0] if len(scopes) == 1 and not all_namespaces else None
    out = ResourcePage(kind=k.kind, namespace=ns_label, rows=rows, remaining=remaining if next_state else None, note=note)
    out.continue_token = _encode(next_state) if next_state else None
    where = f" in {ns_label}" if ns_label else (" (all namespaces)" if k.namespaced else "")
    head = f"{len(rows)} {k.plural}{where}"
    if next_state:
        head += f"; more remain{f' ({remaining})' if remaining else ''}: pass continue_token={out.continue_token}"
    text = (note + "\n" if note else "") + head + "\n" + shaping.table(rows)
    if k.kind == "Pod" and rows:
        text += "\nstatus: " + shaping.counts(r.get("status", "?") for r in rows)
    return ops.result(out, text)


# -- describe_resource ----------------------------------------------------------------
@tool(title="Describe a resource", rbac=("get pods", "get deployments.apps", "list events"))
async def describe_resource(ops: OpsArg, kind: Kind, name: Name, namespace: NamespaceArg = None) -> Annotated[CallToolResult, ObjectDescription]:
    """One object, compact (no managedFields/last-applied, Secret values masked), with its recent events."""
    k = await kind_of(ops, kind)
    ns = ops.policy.namespace(namespace) if k.namespaced else None
    if k.kind == "Namespace":
        ops.policy.namespace(name)  # a namespace outside the allowlist is not described either

    async def fetch_events() -> list[dict[str, Any]]:
        if k.kind == "Event":
            return []
        selector = f"involvedObject.name={name},involvedObject.kind={k.kind}"
        # A cluster-scoped object's events live in namespace default (the API server validates that),
        # which the allowlist may exclude.
        events_ns = ns if k.namespaced else "default"
        if ops.settings.namespaces and events_ns not in ops.settings.namespaces:
            return []
        try:
            return (await ops.run(ops.cluster.list, "events", events_ns, field_selector=selector, limit=200)).get("items") or []
        except OpsError:
            return []  # events are a bonus; a missing permission must not hide the object

    # The object and its events in parallel.
    obj, events_raw = await ops.gather(functools.partial(ops.run, ops.cluster.get, k, name, ns), fetch_events)
    # A pod's (or a pod template's) Secrets: their values are scrubbed wherever they show (a status message, an
    # annotation, an event), and so are its env literals outside env.
    secrets = await ops.run(ops.cluster.secret_scrubber, ns, [obj]) if ns and secret_refs(obj) else Scrubber()
    secrets |= secret_env_values(obj)
    compact = redact_obj(shaping.compact_object(secrets.obj(obj)))  # scrubbed before compact_object clips a string
    events = secrets.obj(shaping.aggregate_events(events_raw)[:10])
    out = ObjectDescription(kind=k.kind, name=name, namespace=ns, object=compact, events=events, note=secrets.note)
    text = shaping.to_yaml(compact)
    if events:
        text += "events:\n" + shaping.table(events, ["type", "reason", "count", "last_seen", "message"])
    if secrets.note:
        text += f"note: {secrets.note}\n"
    return ops.result(out, text)


# -- get_events -----------------------------------------------------------------------
@tool(title="Get events", rbac=("list events",))
async def get_events(
    ops: OpsArg,
    namespace: NamespaceArg = None,
    all_namespaces: bool = False,
    object_name: str | None = None,
    object_kind: str | None = None,
    type: Literal["Normal", "Warning"] | None = None,
    reason: str | None = None,
    since: Annotated[str | None, Field(description="e.g. 15m, 2h")] = None,
    limit: Annotated[int, Field(ge=1, le=200)] = 30,
) -> Annotated[CallToolResult, EventSummary]:
    """Events aggregated by reason and message, with count and last seen (newest first)."""
    since_s = parse_since(since)
    selectors = []
    if object_name:
        selectors.append(f"involvedObject.name={object_name}")
    if object_kind:
        selectors.append(f"involvedObject.kind={(await kind_of(ops, object_kind)).kind}")
    if type:
        selectors.append(f"type={type}")
    if reason:
        selectors.append(f"reason={reason}")
    items: list[dict[str, Any]] = []
    scopes = ops.policy.scope(namespace, all_namespaces)
    cap = ops.settings.max_events  # read at most this many (the API's own pages), then aggregate
    for ns in scopes:
        if len(items) < cap:
            items += await ops.run(ops.cluster.list_all, "events", ns, field_selector=",".join(selectors) or None, max_items=cap - len(items))
    capped = len(items) >= cap
    ref = shaping.now()
    if since_s:
        items = [e for e in items if (t := shaping.parse_time(shaping.event_time(e))) is None or (ref - t).total_seconds() <= since_s]
    groups = shaping.aggregate_events(items, ref)
    out = EventSummary(namespace=scopes[0] if len(scopes) == 1 else None, groups=groups[:limit], total=len(items), capped=capped or None)
    cols = ["type", "reason", "object", "count", "last_seen", "message"]
    more = f" (showing {limit} of {len(groups)} groups)" if len(groups) > limit else ""
    head = f"{len(items)} events in {len(groups)} groups{more}"
    if capped:
        head += f"; stopped reading at {cap} events (OPS_MCP_MAX_EVENTS): narrow with a namespace, object_name, type or reason"
    return ops.result(out, head + "\n" + shaping.table(out.groups, cols))


# -- get_app_status -------------------------------------------------------------------
@tool(
    title="App health at a glance",
    rbac=(
        "list deployments.apps",
        "list statefulsets.apps",
        "list pods",
        "list services",
        "list endpointslices.discovery.k8s.io",
        "list events",
        "list secrets",
    ),
)
async def get_app_status(ops: OpsArg, namespace: NamespaceArg = None, release: OptReleaseName = None) -> Annotated[CallToolResult, AppStatus]:
    """Is the app healthy? Helm release, workload replicas, failing pods, Services without endpoints, recent warnings."""
    ns = ops.policy.namespace(namespace)
    rel = check_release(release or ops.settings.release)
    c = ops.cluster
    results: dict[str, Any] = {}

    async def fetch(key: str, fn, *args, **kw) -> None:
        try:
            results[key] = await ops.run(fn, *args, **kw)
        except OpsError as exc:
            results[key] = exc

    async def fetch_helm() -> None:
        from ops_mcp.helm import release_status_from_storage

        try:  # helm's own storage labels: one API call instead of a helm process
            results["helm"] = await ops.run(release_status_from_storage, c, rel, ns)
        except OpsError as exc:
            results["helm"] = exc

    async with anyio.create_task_group() as tg:
        tg.start_soon(fetch, "deploy", c.list_all, "deployments", ns)
        tg.start_soon(fetch, "sts", c.list_all, "statefulsets", ns)
        # kubectl's rows (a fraction of the pods' bytes), page by page: one page held at a time
        tg.start_soon(fetch, "pods", shaping.tally_pods, functools.partial(c.table, "pods", ns, limit=POD_PAGE))
        tg.start_soon(fetch, "svc", c.list_all, "services", ns)
        tg.start_soon(fetch, "slices", c.list_all, "endpointslices", ns)
        tg.start_soon(fetch, "events", functools.partial(c.list_all, "events", ns, field_selector="type=Warning", max_items=ops.settings.max_events))
        tg.start_soon(fetch_helm)
    # The cluster being unreachable or forbidden is the answer, not a partial status.
    for key in ("deploy", "pods"):
        if isinstance(results[key], OpsError):
            raise results[key]
    problems: list[str] = []
    helm = results["helm"]
    if isinstance(helm, OpsError):
        helm = {"status": "unknown", "error": str(helm)}
    elif helm is None:
        helm = {"status": "not-installed"}
    if helm.get("status") not in ("deployed", "not-installed", "unknown"):
        problems.append(f"helm release {rel} is {helm.get('status')}")

    label = "app.kubernetes.io/instance"

    def mine(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        owned = [o for o in items if ((o.get("metadata") or {}).get("labels") or {}).get(label) == rel]
        return owned or items  # no release labels: report the whole namespace

    workloads = []
    for key, kind in (("deploy", "Deployment"), ("sts", "StatefulSet")):
        if isinstance(results[key], OpsError):
            continue
        for o in mine(results[key]):
            desired = (o.get("spec") or {}).get("replicas", 1)
            ready = (o.get("status") or {}).get("readyReplicas") or 0
            workloads.append({"kind": kind, "name": o["metadata"]["name"], "ready": ready, "desired": desired})
            if ready < desired:
                problems.append(f"{kind} {o['metadata']['name']}: {ready}/{desired} ready")

    tally: shaping.PodTally = results["pods"]
    failing, terminating = tally.failing, tally.terminating
    if tally.reasons:
        problems.append(f"{tally.reasons.total()} failing pod(s): " + shaping.counts(tally.reasons))

    no_endpoints: list[str] = []
    if not isinstance(results["svc"], OpsError) and not isinstance(results["slices"], OpsError):
        ready_by_svc: dict[str, int] = {}
        for s in results["slices"]:
            svc = ((s.get("metadata") or {}).get("labels") or {}).get("kubernetes.io/service-name")
            n = sum(1 for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready", True))
            ready_by_svc[svc] = ready_by_svc.get(svc, 0) + n
        for s in mine(results["svc"]):
            spec = s.get("spec") or {}
            if spec.get("selector") and spec.get("type") != "ExternalName" and not ready_by_svc.get(s["metadata"]["name"]):
                no_endpoints.append(s["metadata"]["name"])
        if no_endpoints:
            problems.append("Services without ready endpoints: " + ", ".join(no_endpoints))

    warnings = []
    if not isinstance(results["events"], OpsError):
        ref = shaping.now()
        recent = [e for e in results["events"] if (t := shaping.parse_time(shaping.event_time(e))) is None or (ref - t).total_seconds() <= 3600]
        warnings = shaping.aggregate_events(recent, ref)[:8]

    out = AppStatus(
        namespace=ns,
        release=rel,
        healthy=not problems,
        helm=helm,
        workloads=workloads,
        failing_pods=failing,
        services_without_endpoints=no_endpoints,
        warnings=warnings,
        problems=problems,
        terminating_pods=terminating or None,
    )
    lines = [
        f"{'HEALTHY' if out.healthy else 'UNHEALTHY'}: release {rel} in {ns} (helm: {helm.get('status')}"
        + (f", rev {helm['revision']}" if helm.get("revision") else "")
        + ")"
    ]
    lines += [f"- {p}" for p in problems]
    if terminating:
        lines.append(f"({terminating} pod(s) terminating)")
    if workloads:
        lines.append(shaping.table([{"workload": f"{w['kind']}/{w['name']}", "ready": f"{w['ready']}/{w['desired']}"} for w in workloads]))
    if failing:
        more = tally.reasons.total() - len(failing)
        lines.append("failing pods:\n" + shaping.table(failing) + (f"\n(and {more} more)" if more else ""))
    if warnings:
        lines.append("warnings (1h):\n" + shaping.table(warnings, ["reason", "object", "count", "last_seen", "message"]))
    return ops.result(out, "\n".join(lines))
