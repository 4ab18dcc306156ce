"""Helm toolset: deploy_chart, list_releases, release_history, get_release_values,
rollback_release, uninstall_release (all through ops_mcp.helm)."""

import asyncio
import base64
import functools
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve
from mcp.server.mcpserver.resolve import AcceptedElicitation
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from ops_mcp import guard, shaping
from ops_mcp.cluster import digest
from ops_mcp.errors import OpsError
from ops_mcp.helm import check_chart_source, is_local_chart, latest_record, manifest_objects, merge_values, write_chart
from ops_mcp.params import Confirm, NamespaceArg, OptReleaseName, ReleaseArg, check_release
from ops_mcp.policy import Confirmation
from ops_mcp.redact import Scrubber, redact_obj, secret_forms
from ops_mcp.settings import base_dir
from ops_mcp.toolkit import Ops, OpsArg, confirmation, tool

# helm keeps releases in Secrets and applies the chart's objects (the app chart's kinds).
HELM_WRITE = (
    "list secrets",
    "get secrets",
    "create secrets",
    "update secrets",
    "get deployments.apps",
    "create deployments.apps",
    "patch deployments.apps",
    "create services",
    "patch services",
    "create configmaps",
    "patch configmaps",
)

Release = ReleaseArg
OptRelease = OptReleaseName
TimeoutS = Annotated[int, Field(ge=10, le=3600)]


class Changes(BaseModel):
    added: list[str]
    changed: list[str]
    removed: list[str]
    unchanged: int


class DeployResult(BaseModel):
    release: str
    namespace: str
    chart: str
    applied: bool
    dry_run: bool
    revision: int | None = None
    status: str | None = None
    changes: dict[str, Any] | None = None  # added/changed/removed/unchanged
    resources: list[str] = []


class ReleaseList(BaseModel):
    releases: list[dict[str, Any]]


class History(BaseModel):
    release: str
    namespace: str
    revisions: list[dict[str, Any]]
    note: str | None = None  # set when a revision's rendered Secrets could not be read (see rendered_secrets)


class ReleaseValues(BaseModel):
    release: str
    namespace: str
    values: dict[str, Any]
    note: str | None = None  # set when the revision's rendered Secrets could not be read (see rendered_secrets)


class ReleaseChange(BaseModel):
    release: str
    namespace: str
    applied: bool
    detail: str


def _release_row(r: dict[str, Any]) -> dict[str, Any]:
    row = {k: r.get(k) for k in ("name", "namespace", "revision", "status", "chart", "app_version") if r.get(k) is not None}
    if str(row.get("revision", "")).isdigit():
        row["revision"] = int(row["revision"])  # helm list prints it as a string
    if r.get("updated"):
        row["updated"] = str(r["updated"])[:19]
    return row


def diff_manifests(old: str, new: str) -> Changes:
    before, after = manifest_objects(old), manifest_objects(new)
    changed = [k for k in after if k in before and _spec_view(after[k]) != _spec_view(before[k])]
    return Changes(
        added=sorted(k for k in after if k not in before),
        changed=sorted(changed),
        removed=sorted(k for k in before if k not in after),
        unchanged=sum(1 for k in after if k in before and k not in changed),
    )


def _spec_view(obj: dict[str, Any]) -> Any:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k in ("labels", "annotations", "name", "namespace")}
    meta.get("labels", {}).pop("helm.sh/chart", None) if isinstance(meta.get("labels"), dict) else None
    return {**{k: v for k, v in obj.items() if k != "metadata"}, "metadata": meta}


def load_values_files(files: list[str], chart_dir: Path | None) -> dict[str, Any]:
    """Merge YAML values files (later wins). Only files inside the checkout (else the working directory) or the chart are read."""
    from pyhelm3.client import mergeconcat

    roots = [base_dir().resolve()] + ([chart_dir.resolve()] if chart_dir else [])
    merged: dict[str, Any] = {}
    for f in files:
        p = Path(f)
        if not p.is_absolute():
            p = (chart_dir or base_dir()) / p
        p = p.resolve()
        if not any(p.is_relative_to(r) for r in roots):
            raise OpsError(
                f"values file {f!r} is outside the repository and the chart directory.", "put the values file next to the chart or pass values inline."
            )
        if not p.is_file():
            raise OpsError(f"values file {f!r} does not exist ({p}).", "check the path (relative paths are resolved against the chart directory).")
        import yaml  # not at import time: tools/list must stay fast

        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError:
            raise OpsError(f"values file {f!r} is not valid YAML.", "fix the file.") from None
        if not isinstance(data, dict):
            raise OpsError(f"values file {f!r} must hold a YAML mapping.", "fix the file.")
        merged = mergeconcat(merged, data)
    return merged


def ns_release(ops: Ops, namespace: str | None, release: str | None) -> tuple[str, str]:
    return ops.policy.namespace(namespace), check_release(release or ops.settings.release)


async def watch_progress(ops: Ops, release: str, ns: str, ctx: Context, done: anyio.Event, timeout_s: int) -> None:
    """While helm waits, report ready/desired pods of the release as MCP progress (best effort)."""
    start = time.monotonic()
    selector = f"app.kubernetes.io/instance={release}"

    async def sample():
        elapsed = time.monotonic() - start
        try:
            _, pods = await ops.run(shaping.pod_rows, functools.partial(ops.cluster.table, "pods", ns, label_selector=selector))
        except OpsError:
            return None, min(elapsed, timeout_s), timeout_s, f"{release}: waiting ({int(elapsed)}s)", False
        pods = [p for p in pods if p.get("status") != "Terminating"]
        ready = sum(1 for p in pods if p.get("status") == "Running" and shaping.pod_row_problem(p) is None)
        return None, min(elapsed, timeout_s), timeout_s, f"{release}: {ready}/{len(pods)} pods ready ({int(elapsed)}s)", False

    await ops.poll(ctx, sample, timeout_s=timeout_s + 60, every=2.0, stop=done)


@dataclass
class ChartPlan:
    """A deploy's chart, values and rendered manifest (helm's server dry run), checked by the write policy."""

    ref: str
    values: dict[str, Any]
    old_manifest: str
    result: dict[str, Any]  # helm's dry-run answer (manifest, chart)
    risks: list[str]
    stalled: bool = False  # a Deployment of the release exceeded its progress deadline (see Helm._wait_flag)
    workdir: Any = None  # the stored chart's temporary directory, removed with the plan


def _unchanged(rendered: Any, live: Any) -> bool:
    """Would applying `rendered` leave `live` as it is? Every field it sets already has that value (server-side
    apply's view: fields the server defaults, and ones the chart does not set, do not count)."""
    if isinstance(rendered, dict):
        return isinstance(live, dict) and all(k in live and _unchanged(v, live[k]) for k, v in rendered.items())
    if isinstance(rendered, list):
        return isinstance(live, list) and len(rendered) == len(live) and all(_unchanged(a, b) for a, b in zip(rendered, live, strict=True))
    return rendered == live or (rendered is not None and str(rendered) == str(live))


def _as_stored(obj: dict[str, Any]) -> dict[str, Any]:
    """A rendered Secret's values as the cluster layer shows a live one (keyed digests of the base64 data)."""
    if obj.get("kind") != "Secret":
        return obj
    data = dict(obj.get("data") or {})
    data.update({k: base64.b64encode(str(v).encode()).decode() for k, v in (obj.get("stringData") or {}).items()})
    return {**{k: v for k, v in obj.items() if k != "stringData"}, "data": {k: digest(v) for k, v in data.items()}}


async def manifest_writes(ops: Ops, old: str, new: str, namespace: str) -> list[guard.Write]:
    """What a release change writes: each rendered object that differs from the live one, and each one dropped."""
    from ops_mcp.tools.workloads import pss_level

    level = await pss_level(ops, namespace)
    writes = []
    rendered, before = manifest_objects(new), manifest_objects(old)
    for key, obj in [*rendered.items(), *((k, o) for k, o in before.items() if k not in rendered)]:
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace") or namespace
        try:
            live = await ops.run(
                ops.cluster.get, await ops.run(ops.cluster.manifest_kind, obj.get("apiVersion", "v1"), obj["kind"]), meta.get("name"), ns, digests=True
            )
        except OpsError:  # missing, or not readable: judged as a create
            live = None
        after = _as_stored(obj) if key in rendered else None
        if after is not None and live is not None and _unchanged(after, live):
            continue
        if after is None and live is None:
            continue
        writes.append(guard.Write(obj["kind"], str(meta.get("name")), ns, live, after, level))
    return writes


async def progress_stalled(ops: Ops, manifest: str, namespace: str) -> bool:
    """Has a Deployment of this manifest exceeded its progress deadline (its Progressing condition says so now)?"""
    for obj in manifest_objects(manifest).values():
        if obj.get("kind") != "Deployment":
            continue
        try:
            live = await ops.run(ops.cluster.get, "deployments", (obj.get("metadata") or {}).get("name"), namespace)
        except OpsError:
            continue
        if any(c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded" for c in (live.get("status") or {}).get("conditions") or []):
            return True
    return False


async def plan_deploy(
    ops: OpsArg,
    release: str | None,
    namespace: str | None,
    chart: str | None,
    repo: str | None,
    values: dict[str, Any] | None,
    values_files: list[str] | None,
    version: str | None,
    timeout_seconds: int,
) -> ChartPlan:
    """The chart's source allowed, its manifest rendered with the values (helm's server dry run), and every object it
    would write checked by the write policy: a chart may mount any Secret, run as any ServiceAccount or bind any Role,
    and an upgrade deletes what the new manifest drops. Without chart= an installed release keeps its own chart (from
    its release record, the chart it already runs: no source to allow) and its values, with `values` merged over them."""
    ns, rel = ns_release(ops, namespace, release)
    stored = await ops.run(latest_record, ops.cluster, rel, ns) if chart is None and not repo else None
    if stored is not None:
        workdir = tempfile.TemporaryDirectory(prefix="ops-mcp-chart-")
        ref = str(write_chart(stored, Path(workdir.name) / "chart"))
        app_chart = Path(ops.settings.chart_path) if ops.settings.chart_path else None  # values files are still looked up beside it
        app_chart = app_chart if app_chart is None or app_chart.is_absolute() else base_dir() / app_chart
        return await _plan(ops, rel, ns, ref, stored.get("config") or {}, values, values_files, None, timeout_seconds, app_chart, None, workdir)
    if not (chart or ops.settings.chart_path):
        raise OpsError(
            "No default chart: ops-mcp runs from an installed package (no source checkout beside it) and OPS_MCP_CHART_PATH is not set.",
            "pass chart= (a directory, oci:// reference, or a name with repo=), or set OPS_MCP_CHART_PATH to the app's chart directory.",
        )
    ops.policy.chart_source(chart or ops.settings.chart_path, repo)
    ref = chart or ops.settings.chart_path
    chart_dir = None
    if repo:
        check_chart_source(repo, "repo")
        if chart is None or "://" in chart or is_local_chart(chart):
            raise OpsError(
                f"repo={repo!r} needs chart= set to a chart's name in that repository (got {chart!r}).",
                "pass chart='<name>' (and version= to pin one), or drop repo= for a local path or an oci:// reference.",
            )
    elif is_local_chart(ref) or chart is None:
        chart_dir = Path(ref).expanduser()
        if not chart_dir.is_absolute():
            chart_dir = base_dir() / chart_dir
        if not (chart_dir / "Chart.yaml").is_file():
            raise OpsError(
                f"No Helm chart at {chart_dir} (Chart.yaml missing).", "pass chart= a chart directory, a repo chart with repo=, or an oci:// reference."
            )
        ref = str(chart_dir)
    elif "://" in ref:
        check_chart_source(ref, "chart")
    return await _plan(ops, rel, ns, ref, {}, values, values_files, version, timeout_seconds, chart_dir, repo)


async def _plan(
    ops: Ops,
    rel: str,
    ns: str,
    ref: str,
    merged: dict[str, Any],
    values: dict[str, Any] | None,
    values_files: list[str] | None,
    version: str | None,
    timeout_seconds: int,
    chart_dir: Path | None,
    repo: str | None,
    workdir: Any = None,
) -> ChartPlan:
    if values_files:
        merged = merge_values(merged, load_values_files(values_files, chart_dir))
    if values:
        merged = merge_values(merged, values)
    try:
        old_manifest = await ops.helm.get_manifest(rel, ns)
    except OpsError:
        old_manifest = ""
    res = await ops.helm.upgrade(
        rel, ref, ns, merged, version=version, repo=repo, wait=False, timeout_s=timeout_seconds, rollback_on_failure=False, dry_run=True
    )
    writes = await manifest_writes(ops, old_manifest, res.get("manifest") or "", ns)
    guard.check(writes, ops.settings)
    stalled = await progress_stalled(ops, old_manifest, ns)
    return ChartPlan(ref=ref, values=merged, old_manifest=old_manifest, result=res, risks=guard.risks(writes), stalled=stalled, workdir=workdir)


async def confirm_deploy(
    ops: OpsArg, plan: Annotated[ChartPlan, Resolve(plan_deploy)], release: str | None, namespace: str | None, dry_run: bool, confirm: bool, ctx: Context
) -> Confirmation | Elicit[Confirmation]:
    if dry_run:
        return Confirmation(confirm=True)
    ns, rel = ns_release(ops, namespace, release)
    changes = diff_manifests(plan.old_manifest, plan.result.get("manifest") or "")
    shown = "; ".join(
        f"{label} {', '.join(items)}" for label, items in (("adds", changes.added), ("changes", changes.changed), ("removes", changes.removed)) if items
    )
    return ops.ask(
        f"Install or upgrade Helm release {rel!r} in namespace {ns!r} from {_chart_label(plan.result, plan.ref)}?", confirm, ctx, risks=plan.risks, diff=shown
    )


@tool(title="Install or upgrade a Helm chart", kind="destructive", idempotent=True, rbac=HELM_WRITE)
async def deploy_chart(
    ops: OpsArg,
    ctx: Context,
    plan: Annotated[ChartPlan, Resolve(plan_deploy)],
    approval: Annotated[ElicitationResult[Confirmation], Resolve(confirm_deploy)],
    release: OptRelease = None,
    chart: Annotated[str | None, Field(description="Path, repo chart or oci://; default: an installed release's own, else the app's")] = None,
    namespace: NamespaceArg = None,
    values: dict[str, Any] | None = None,
    values_files: Annotated[list[str] | None, Field(description="In the repo/chart")] = None,
    version: str | None = None,
    repo: Annotated[str | None, Field(description="Repo URL")] = None,
    timeout_seconds: TimeoutS = 300,
    rollback_on_failure: bool = True,
    dry_run: Annotated[bool, Field(description="Summarize, apply nothing")] = False,
    confirm: Confirm = False,
) -> Annotated[CallToolResult, DeployResult]:
    """helm upgrade --install, policy-checked; waits, rolls back on failure; dry_run applies nothing. No chart: an installed
    release keeps its own chart and values, `values` merged in."""
    ns, rel = ns_release(ops, namespace, release)
    ref, merged = plan.ref, plan.values
    if not isinstance(approval, AcceptedElicitation) or not approval.data.confirm:
        out = DeployResult(release=rel, namespace=ns, chart=chart or ops.settings.chart_path, applied=False, dry_run=False)
        return ops.result(out, f"Deploy of {rel} in {ns} cancelled: the user did not approve. Nothing changed.")
    previous = await ops.helm.release_status(rel, ns) if not dry_run else None
    if dry_run:
        res = plan.result
        changes = diff_manifests(plan.old_manifest, res.get("manifest") or "")
        out = DeployResult(
            release=rel,
            namespace=ns,
            chart=_chart_label(res, ref),
            applied=False,
            dry_run=True,
            changes=changes.model_dump(),
            resources=sorted(manifest_objects(res.get("manifest") or "")),
        )
        text = (
            f"DRY RUN {rel} in {ns} ({out.chart}): nothing applied. "
            f"{len(changes.added)} added, {len(changes.changed)} changed, {len(changes.removed)} removed, {changes.unchanged} unchanged"
        )
        for label, items in (("+", changes.added), ("~", changes.changed), ("-", changes.removed)):
            text += "".join(f"\n{label} {i}" for i in items)
        return ops.result(out, text)
    done = anyio.Event()
    watcher = asyncio.create_task(watch_progress(ops, rel, ns, ctx, done, timeout_seconds))
    try:
        res = await ops.helm.upgrade(
            rel,
            ref,
            ns,
            merged,
            version=None if plan.workdir else version,
            repo=repo,
            wait=True,
            timeout_s=timeout_seconds,
            rollback_on_failure=rollback_on_failure,
            dry_run=False,
            stalled=plan.stalled,
        )
    except OpsError as exc:
        after = None
        try:
            after = await ops.helm.release_status(rel, ns)
        except OpsError:
            pass
        state = f" Release now: {after.get('status')} (revision {after.get('revision')})." if after else " The release is not installed."
        raise OpsError(f"{exc.what}{state}" + (" It was rolled back." if rollback_on_failure and previous else ""), exc.next_step) from None
    finally:
        done.set()
        await watcher
    info = res.get("info") or {}
    out = DeployResult(
        release=rel,
        namespace=ns,
        chart=_chart_label(res, ref),
        applied=True,
        dry_run=False,
        revision=res.get("version"),
        status=info.get("status"),
        resources=sorted(manifest_objects(res.get("manifest") or "")),
    )
    verb = "upgraded" if previous else "installed"
    return ops.result(out, f"{rel} {verb} in {ns}: revision {out.revision}, {out.status} ({out.chart}); {len(out.resources)} resources")


@tool(title="List Helm releases", rbac=("list secrets",))
async def list_releases(ops: OpsArg, namespace: NamespaceArg = None, all_namespaces: bool = False) -> Annotated[CallToolResult, ReleaseList]:
    """Helm releases with status, revision, chart and last update."""
    rows: list[dict[str, Any]] = []
    for ns in ops.policy.scope(namespace, all_namespaces):
        rows += [_release_row(r) for r in await ops.helm.list_releases(ns)]
    return ops.result(ReleaseList(releases=rows), f"{len(rows)} releases\n" + shaping.table(rows))


@tool(title="Helm release history", rbac=("list secrets",))
async def release_history(
    ops: OpsArg, release: OptRelease = None, namespace: NamespaceArg = None, max_revisions: Annotated[int, Field(ge=1, le=256)] = 10
) -> Annotated[CallToolResult, History]:
    """Revisions of a release (status, chart, description), newest last."""
    ns, rel = ns_release(ops, namespace, release)
    revs = await ops.helm.history(rel, ns, max_revisions)
    # A description in helm's own words names no value; any other (a failure's error) may quote what the revision
    # rendered into a Secret: it is scrubbed of that revision's Secret values (before it is clipped).
    free = [r for r in revs if not HELM_DESCRIPTION.fullmatch(str(r.get("description", "")))]
    scrubbers = await ops.gather(*(functools.partial(rendered_secrets, ops, rel, ns, r.get("revision")) for r in free))
    scrub = {id(r): s for r, s in zip(free, scrubbers, strict=True)}
    rows = [
        {
            "revision": r.get("revision"),
            "status": r.get("status"),
            "chart": r.get("chart"),
            "app_version": r.get("app_version"),
            "updated": str(r.get("updated", ""))[:19],
            "description": shaping.clip(scrub.get(id(r), Scrubber()).text(str(r.get("description", ""))), 120),
        }
        for r in revs
    ]
    note = next((s.note for s in scrubbers if s.note), None)
    out = History(release=rel, namespace=ns, revisions=rows, note=note)
    return ops.result(out, f"{rel} in {ns}: {len(rows)} revisions\n" + shaping.table(rows) + (f"\nnote: {note}" if note else ""))


@tool(title="Helm release values", rbac=("get secrets", "list secrets"))
async def get_release_values(
    ops: OpsArg,
    release: OptRelease = None,
    namespace: NamespaceArg = None,
    all_values: Annotated[bool, Field(description="With chart defaults")] = False,
    revision: Annotated[int | None, Field(ge=1)] = None,
) -> Annotated[CallToolResult, ReleaseValues]:
    """A release's values (user-supplied, or all); secret-looking values are masked."""
    ns, rel = ns_release(ops, namespace, release)
    # Masked by key name (redact_obj), and by value: whatever the revision renders into a Secret, whatever its key.
    raw, secrets = await ops.gather(
        functools.partial(ops.helm.get_values, rel, ns, revision, all_values), functools.partial(rendered_secrets, ops, rel, ns, revision)
    )
    values = redact_obj(secrets.obj(raw))
    text = shaping.to_yaml(values) if values else "(no user-supplied values)"
    out = ReleaseValues(release=rel, namespace=ns, values=values, note=secrets.note)
    return ops.result(out, f"{rel} values:\n{text}" + (f"\nnote: {secrets.note}" if secrets.note else ""))


async def check_rollback(ops: OpsArg, name: str, namespace: str | None, revision: int | None) -> bool:
    """The revision rolled back to is a manifest like any other: what it would write is checked by the write policy.
    True when a Deployment of the release has exceeded its progress deadline (how helm must wait, see Helm._wait_flag)."""
    ns, rel = ns_release(ops, namespace, name)
    status = await ops.helm.release_status(rel, ns)
    target = revision or int((status or {}).get("revision") or 0) - 1
    if status is None or target < 1:
        return False  # the tool body says why there is nothing to roll back
    current, old = await ops.helm.get_manifest(rel, ns), await ops.helm.get_manifest(rel, ns, revision=target)
    guard.check(await manifest_writes(ops, current, old, ns), ops.settings)
    return await progress_stalled(ops, current, ns)


async def check_uninstall(ops: OpsArg, name: str, namespace: str | None) -> bool:
    """An uninstall deletes every object of the release: each one is a write the policy checks (RBAC, Secrets, ops-mcp's own)."""
    ns, rel = ns_release(ops, namespace, name)
    try:
        current = await ops.helm.get_manifest(rel, ns)
    except OpsError:
        return True  # not installed: the tool body says so
    guard.check(await manifest_writes(ops, current, "", ns), ops.settings)
    return True


@tool(title="Roll back a Helm release", kind="destructive", rbac=HELM_WRITE)
async def rollback_release(
    ops: OpsArg,
    name: Release,
    stalled: Annotated[bool, Resolve(check_rollback)],
    approval: Annotated[ElicitationResult[Confirmation], Resolve(confirmation("Roll back Helm release"))],
    namespace: NamespaceArg = None,
    revision: Annotated[int | None, Field(ge=1, description="Default: previous")] = None,
    confirm: Confirm = False,
    timeout_seconds: TimeoutS = 300,
) -> Annotated[CallToolResult, ReleaseChange]:
    """helm rollback to the previous or a given revision, waiting for readiness."""
    ns, rel = ns_release(ops, namespace, name)
    if not isinstance(approval, AcceptedElicitation) or not approval.data.confirm:
        return ops.result(
            ReleaseChange(release=rel, namespace=ns, applied=False, detail="not confirmed"), f"Rollback of {rel} cancelled by the user. Nothing changed."
        )
    before = await ops.helm.release_status(rel, ns)
    if before is None:
        raise OpsError(f"Release {rel!r} is not installed in {ns!r}.", "list_releases shows the releases there.")
    if revision is None and int(before.get("revision") or 0) <= 1:
        raise OpsError(f"Release {rel!r} has no previous revision to roll back to.", "release_history lists its revisions.")
    await ops.helm.rollback(rel, ns, revision, wait=True, timeout_s=timeout_seconds, stalled=stalled)
    after = await ops.helm.release_status(rel, ns) or {}
    detail = f"revision {before.get('revision')} -> {after.get('revision')} (content of {'revision ' + str(revision) if revision else 'the previous revision'}), {after.get('status')}"
    return ops.result(ReleaseChange(release=rel, namespace=ns, applied=True, detail=detail), f"{rel} in {ns} rolled back: {detail}")


@tool(
    title="Uninstall a Helm release",
    kind="destructive",
    rbac=("list secrets", "delete secrets", "delete deployments.apps", "delete services", "delete configmaps"),
)
async def uninstall_release(
    ops: OpsArg,
    name: Release,
    checked: Annotated[bool, Resolve(check_uninstall)],
    approval: Annotated[ElicitationResult[Confirmation], Resolve(confirmation("Uninstall Helm release"))],
    namespace: NamespaceArg = None,
    confirm: Confirm = False,
    timeout_seconds: TimeoutS = 300,
) -> Annotated[CallToolResult, ReleaseChange]:
    """helm uninstall: deletes every resource of the release."""
    ns, rel = ns_release(ops, namespace, name)
    if not isinstance(approval, AcceptedElicitation) or not approval.data.confirm:
        return ops.result(
            ReleaseChange(release=rel, namespace=ns, applied=False, detail="not confirmed"), f"Uninstall of {rel} cancelled by the user. Nothing changed."
        )
    if await ops.helm.release_status(rel, ns) is None:
        raise OpsError(f"Release {rel!r} is not installed in {ns!r}.", "list_releases shows the releases there.")
    await ops.helm.uninstall(rel, ns, wait=True, timeout_s=timeout_seconds)
    return ops.result(ReleaseChange(release=rel, namespace=ns, applied=True, detail="uninstalled"), f"{rel} uninstalled from {ns}")


def _chart_label(res: dict[str, Any], ref: str) -> str:
    meta = (res.get("chart") or {}).get("metadata") or {}
    return f"{meta.get('name')}-{meta.get('version')}" if meta.get("name") else ref


# -- the Secrets a release renders (read tools: values and history are scrubbed of their values) ---------------------
# helm's own descriptions of a revision (helm 3 and 4): they quote no value, so no manifest is read for them.
HELM_DESCRIPTION = re.compile(
    r"Install complete|Upgrade complete|Uninstallation complete|Dry run complete|Rollback to \d+|Initial install underway"
    r"|Preparing (?:install|upgrade|rollback)|Deletion in progress \(or silently failed\)|"  # the last: no description
)
_SECRET_DOC = re.compile(r"^kind:[ \t]*[\"']?Secret[\"']?[ \t]*$", re.MULTILINE)


async def rendered_secrets(ops: Ops, release: str, namespace: str, revision: int | None = None) -> Scrubber:
    """A Scrubber of the values a release revision (default: the latest) renders into Secrets, in its manifest and
    in its hooks' (helm get manifest / get hooks): `data` base64-decoded and `stringData`, whatever the values key
    that fed them is called. When they cannot be read the Scrubber is empty and its note says so."""
    try:
        texts = await ops.gather(
            functools.partial(ops.helm.get_manifest, release, namespace, revision), functools.partial(ops.helm.get_hooks, release, namespace, revision)
        )
    except OpsError:
        return Scrubber(unread=[f"the Secrets release {release} renders" + (f" (revision {revision})" if revision else "")])
    import yaml  # not at import time: tools/list must stay fast

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    forms: set[str] = set()
    for text in texts:
        for doc in re.split(r"^---[ \t]*$", text, flags=re.MULTILINE):
            if not _SECRET_DOC.search(doc):  # only the Secrets are parsed
                continue
            try:
                obj = yaml.load(doc, Loader=loader)  # noqa: S506 (a safe loader)
            except yaml.YAMLError:
                continue
            if isinstance(obj, dict) and obj.get("kind") == "Secret":
                forms |= secret_forms(obj)
    return Scrubber(forms)
