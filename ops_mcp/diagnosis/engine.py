"""Run the analyzers over one snapshot and shape the report: group by failure signature, link symptoms to root
causes, order, derive severity and verdict, list what passed and what was skipped, keep it under the token budget."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any, NamedTuple

from .analyzers import (
    config,
    crashloop,
    dependency,
    disruption,
    eviction,
    hpa,
    image_pull,
    ingress,
    init,
    mount,
    pvc,
    rbac,
    readiness,
    release,
    resources,
    rollout,
    scheduling,
    service,
)
from .base import Context, Issue, Options, pod_ready
from .model import SEVERITY_ORDER, Finding, Report, prune_dump
from .releases import summary as release_summary
from .scope import Scope, owner_of
from .snapshot import Snapshot, helm_release, name_of

ALL = (
    dependency,
    crashloop,
    image_pull,
    config,
    mount,
    init,
    scheduling,
    pvc,
    readiness,
    eviction,
    rollout,
    service,
    ingress,
    hpa,
    resources,
    rbac,
    release,
    disruption,
)
CRASHLOOP_CHECKS = ("dependency", "crashloop", "init", "image_pull", "config", "mount")
CHECKS = tuple(a.check for a in ALL)
MAX_FINDINGS = 5
MAX_OBJS = 3
TOKEN_BUDGET_CHARS = 8000  # ~2,000 tokens at 4 chars per token

Scrubber = Callable[[str], tuple[str, int]]


def diagnose(snap: Snapshot, scope: Scope, options: Options | None = None, scrub: Scrubber | None = None) -> Report:
    options = options or Options()
    ctx = Context(snap, scope, options)
    selected = [a for a in ALL if (options.checks is None or a.check in options.checks) and scope.kind in getattr(a, "targets", (scope.kind,))]
    groups: dict[tuple, Group] = {}
    alike: dict[str, Group] = {}
    seen: dict[str, Any] = {}
    skipped: list[dict[str, str]] = []
    for analyzer in selected:
        blocked = [k for k in analyzer.needs if k in snap.unreadable]
        if blocked:
            skipped.append({"check": analyzer.check, "why": f"cannot list {blocked[0]}: {snap.unreadable[blocked[0]]}"})
            continue
        for issue in analyzer.analyze(ctx):  # grouped as they come: an issue is not kept past its group's making
            _group(groups, alike, seen, analyzer.check, issue)
    for kind, why in snap.unreadable.items():
        if not any(kind in a.needs for a in selected) and not any(s["why"].endswith(why) for s in skipped):
            skipped.append({"check": kind, "why": why})
    groups = list(dict.fromkeys(groups.values()))  # a group of alike objects is there under each one's signature
    _severity(ctx, groups)
    _link_denied_account(ctx, groups)
    _link_same_container(groups)
    findings = _link_and_order(groups)
    failing_checks = {g.check for g in findings}
    ok = [a.check for a in selected if a.check not in failing_checks and a.check not in {s["check"] for s in skipped}]
    report, rest = _report(ctx, findings, ok, skipped)
    return _fit(report, rest, scrub)


# ---- grouping ----


NONE: frozenset[str] = frozenset()


class Head(NamedTuple):
    """What a group keeps of its first issue: what names and links it."""

    mode: str
    obj: str
    owner: str | None
    container: str | None
    detail: str
    symptom: bool


class Group:
    """The issues of one failure signature. A namespace of thousands of bare pods with one fault is thousands of
    groups of one issue each, so a group holds little of its own: of its first issue only what names the group
    (`first`), the evidence items and causes equal across groups as one object (`seen`, by their JSON), its first
    issue's sets until a second issue adds to them, and the indexes that find a repeated evidence item only once a
    second issue arrives."""

    __slots__ = (
        "check", "first", "objs", "subjects", "links", "ev", "cause", "fix", "alt", "next",
        "logs_read", "sev", "caused_by", "id", "_seen", "_index", "_objs", "_own_sets",
    )  # fmt: skip

    def __init__(self, check: str, issue: Issue, seen: dict[str, Any]):
        self._seen = seen  # JSON -> the first equal value (evidence item, cause, fix, ...) met in this diagnosis
        self.check = check
        self.first = Head(issue.mode, issue.obj, issue.owner, issue.container, issue.detail, issue.symptom)
        self.objs: list[str] = []
        self.subjects: set[str] | frozenset[str] = issue.subjects or NONE  # one empty set for every group without
        self.links: set[str] | frozenset[str] = issue.links or NONE
        self.ev: list[dict[str, Any]] = []
        self.cause: dict[str, Any] | None = None  # _add sets these three from the first issue
        self.fix: dict[str, Any] | None = None
        self.alt: list[dict[str, Any]] = [] if issue.cause else self._one(issue.alt)
        self.next: list[str] = []
        self.logs_read = 0
        self.sev = issue.sev
        self.caused_by: list[Group] = []
        self.id = ""
        self._own_sets = False  # subjects and links are still the first issue's
        self._objs: set[str] | None = None  # the objs as a set, from the second one on
        # (JSON -> index, probe path -> index, index of the first log) in self.ev; None: not built (one issue so far)
        self._index: tuple[dict[str, int], dict[Any, int], list[int | None]] | None = None
        self._add(issue)
        self._index = None  # a group of one issue keeps no index

    def add(self, issue: Issue) -> None:
        if not self._own_sets:  # the first issue's (maybe another's too): copied before they grow
            self.subjects, self.links, self._own_sets = set(self.subjects), set(self.links), True
        self._add(issue)

    def _add(self, issue: Issue) -> None:
        if not self.objs:
            self.objs.append(issue.obj)
        elif issue.obj not in (self._objs if self._objs is not None else self.objs):
            self._objs = self._objs or set(self.objs)
            self._objs.add(issue.obj)
            self.objs.append(issue.obj)
        if self._own_sets:
            self.subjects |= issue.subjects
            self.links |= issue.links
        self.logs_read += issue.logs_read
        where: list[int] = []  # index in self.ev of each of this issue's evidence items
        for e in issue.ev:
            key = json.dumps(e, sort_keys=True, default=str)  # once per item: a namespace of bare pods is thousands of groups
            same = self._same_ev(e, key) if self.ev else None
            if same is None:
                e = self._seen.setdefault(key, e)  # _one(e), its JSON already made
                self._index_ev(e, len(self.ev), key)
                self.ev.append(e)
                same = len(self.ev) - 1
            where.append(same)
        if issue.cause and (self.cause is issue.cause or not self.cause or _conf(issue.cause) < _conf(self.cause)):
            cause = {**issue.cause, "basis": sorted({where[i] for i in issue.cause.get("basis", []) if i < len(where)})}
            self.cause = self._one(cause)
            self.alt = self._one(issue.alt) or self.alt
            self.fix = self._one(issue.fix) or self.fix
        self.fix = self.fix or self._one(issue.fix)
        if not self.next:  # the representative's next steps; siblings would only repeat them
            self.next = self._one(issue.next)

    def _one(self, value: Any) -> Any:
        """The first value equal to this one met in this diagnosis (by its JSON)."""
        return self._seen.setdefault(json.dumps(value, sort_keys=True, default=str), value) if value else value

    def _indexes(self) -> tuple[dict[str, int], dict[Any, int], list[int | None]]:
        if self._index is None:
            self._index = ({}, {}, [None])
            for i, x in enumerate(self.ev):
                self._index_ev(x, i, json.dumps(x, sort_keys=True, default=str))
        return self._index

    def _same_ev(self, e: dict[str, Any], key: str) -> int | None:
        """The first evidence item that is e (`key`: its JSON), is about the same probe path ("p"), or is a log when e is one."""
        p = e.get("p") if "p" in e else None
        if "p" in e and (p is None or not isinstance(p, str | int | float | bool)):
            # x.get("p") == None also matches items without "p"; an unhashable p: the plain scan
            return next(
                (i for i, x in enumerate(self.ev) if json.dumps(x, sort_keys=True, default=str) == key or x.get("p") == p or ("log" in e and "log" in x)),
                None,
            )
        keys, paths, log = self._indexes()
        found = [keys.get(key)]
        if "p" in e:
            found.append(paths.get(p))
        if "log" in e:
            found.append(log[0])
        return min((i for i in found if i is not None), default=None)

    def _index_ev(self, x: dict[str, Any], i: int, key: str) -> None:
        keys, paths, log = self._indexes()
        keys.setdefault(key, i)
        p = x.get("p")
        if p is not None and isinstance(p, str | int | float | bool):
            paths.setdefault(p, i)
        if "log" in x and log[0] is None:
            log[0] = i

    @property
    def mode(self) -> str:
        return self.first.mode


def _conf(cause: dict[str, Any]) -> int:
    return {"high": 0, "medium": 1, "low": 2}.get(cause.get("conf", "low"), 2)


def _group(groups: dict[tuple, Group], alike: dict[str, Group], seen: dict[str, Any], check: str, issue: Issue) -> None:
    """Add the issue to the group of its failure signature, or make that group. An object that is its own owner (a bare
    pod, a Service) joins the group of the same finding on another such object instead, when all but the object is
    equal: its evidence, cause, fix, alternatives, next steps and links (a finding that names its object, as a pod's
    events or a patch of it do, stays its own). Ten thousand bare pods missing one Secret are one finding of
    ten thousand objects, with one fix, not ten thousand copies of it."""
    key = issue.signature()
    group = groups.get(key)
    if group is not None:
        group.add(issue)
        return
    like = _likeness(check, issue) if (issue.owner or issue.obj) == issue.obj else None
    group = alike.get(like) if like else None
    if group is not None:
        group.add(issue)
    else:
        group = Group(check, issue, seen)
        if like:
            alike[like] = group
    groups[key] = group


def _likeness(check: str, issue: Issue) -> str:
    """Everything of a finding but its object, as one key."""
    what = (check, issue.mode, issue.container, issue.detail, issue.sev, issue.symptom, issue.ev, issue.cause, issue.fix, issue.alt, issue.next)
    return json.dumps([*what, sorted(issue.links)], sort_keys=True, default=str)


def _severity(ctx: Context, groups: list[Group]) -> None:
    """Pod-level groups: critical when the workload has no ready pod left, high when some still serve."""
    ready_by_owner: dict[str, int] = {}
    for pod in ctx.snap.pods:
        if pod_ready(pod):
            owner = owner_of(ctx.snap, pod)
            ready_by_owner[owner] = ready_by_owner.get(owner, 0) + 1
    for group in groups:
        if group.sev:
            continue
        owner = group.first.owner or group.first.obj
        # objects of their own alike are one group (_group): high while one of them still serves
        owners = group.objs if owner == group.first.obj else (owner,)
        group.sev = "high" if any(_serving(ctx, ready_by_owner, o) for o in owners) else "critical"


def _serving(ctx: Context, ready_by_owner: dict[str, int], owner: str) -> int:
    """Ready pods of an owner ("Deployment/api", or a bare "Pod/x"): those listed, or the workload's own count, which
    also covers sibling pods outside a narrowed snapshot (a Pod target)."""
    kind, _, name = owner.partition("/")
    workload = ctx.snap.workload(kind, name) if kind != "Pod" else None
    reported = ((workload or {}).get("status") or {}).get("readyReplicas" if kind != "DaemonSet" else "numberReady", 0)
    return max(ready_by_owner.get(owner, 0), reported or 0)


def _link_denied_account(ctx: Context, groups: list[Group]) -> None:
    """Asked about a ServiceAccount (`can`) and denied: its workloads' failures are linked to the denial, which then
    comes first (the question names the suspected cause; a workload target asks nothing, so nothing is linked)."""
    if ctx.scope.kind != "ServiceAccount":
        return
    denied = {g.first.obj for g in groups if g.mode == "rbac.denied"}
    for group in groups if denied else ():
        if not group.mode.startswith("rbac."):
            group.links = group.links | denied  # a new set: a group's first sets are its issue's


def _link_same_container(groups: list[Group]) -> None:
    """A dependency finding explains the crash, the failed init or the failing readiness of the same container."""
    causes = {s for g in groups if g.mode.startswith("dependency.") for s in g.subjects if "#" in s}
    for group in groups if causes else ():
        if not group.mode.startswith("dependency.") and group.first.container:
            group.links = group.links | ({f"{obj}#{group.first.container}" for obj in group.objs} & causes)


def _link_and_order(groups: list[Group]) -> list[Group]:
    for group in groups:
        if not group.links:
            continue
        causes = [g for g in groups if g is not group and g.subjects & group.links and not g.first.symptom]
        causes += [g for g in groups if g is not group and g not in causes and g.subjects & group.links]
        group.caused_by = [g for g in causes if group not in g.caused_by]
    # a redundant symptom ("replicas unavailable") says nothing once a root cause explains it
    groups = [g for g in groups if not (g.first.detail == "redundant" and g.caused_by)]
    for group in groups:
        group.caused_by = [g for g in group.caused_by if g in groups]
    roots = [g for g in groups if not g.caused_by]
    symptoms = [g for g in groups if g.caused_by]
    order = sorted(roots, key=lambda g: (SEVERITY_ORDER[g.sev], -len(g.objs))) + sorted(symptoms, key=lambda g: SEVERITY_ORDER[g.sev])
    for i, group in enumerate(order, 1):
        group.id = f"F{i}"
    return order


# ---- report ----


def _report(ctx: Context, groups: list[Group], ok: list[str], skipped: list[dict[str, str]]) -> tuple[Report, list[dict[str, Any]]]:
    """The report with the first MAX_FINDINGS findings, and the findings after them (plain; _fit counts them)."""
    scope, snap = ctx.scope, ctx.snap
    target: dict[str, Any] = {"kind": "HelmRelease" if scope.kind == "HelmRelease" else scope.kind, "ns": snap.namespace, "name": scope.name}
    if scope.helm:
        target["helm"] = scope.helm
        target["release"] = release_summary(snap, scope.helm)
    if scope.kind in ("Deployment", "StatefulSet", "DaemonSet"):
        workload = scope.workloads[0][1]
        status, spec = workload.get("status") or {}, workload.get("spec") or {}
        if scope.kind == "DaemonSet":
            target["replicas"] = f"{status.get('numberReady', 0)}/{status.get('desiredNumberScheduled', 0)} ready"
        else:
            target["replicas"] = f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)} ready"
        target["helm"] = target.get("helm") or helm_release(workload)
    findings = []
    for group in groups:
        finding: dict[str, Any] = {
            "id": group.id,
            "sev": group.sev,
            "mode": group.mode,
            "objs": group.objs[:MAX_OBJS],
            "n": len(group.objs),
            "container": group.first.container,
            "ev": group.ev,
            "cause": group.cause,
            "alt": group.alt,
            "caused_by": [g.id for g in group.caused_by],
            "next": group.next,
        }
        if not group.caused_by:
            finding["fix"] = group.fix
        findings.append(finding)
    worst = min((SEVERITY_ORDER[f["sev"]] for f in findings), default=None)
    if worst is None:
        verdict = "unknown" if any(s["check"] in ("crashloop", "scheduling") for s in skipped) else "healthy"
    else:
        verdict = "failing" if worst == 0 else "degraded" if worst <= 3 else "healthy"
    report = Report.model_validate(
        {
            "target": target,
            "verdict": verdict,
            "summary": _summary(scope, groups, verdict, len(scope.pods)),
            "findings": findings[:MAX_FINDINGS],
            "ok": ok,
            "skipped": skipped,
            "limits": {
                "pods": len(scope.pods),
                "logs_read": sum(g.logs_read for g in groups),
                "events_since": f"{int(ctx.options.since.total_seconds() // 60)}m",
                "redacted": snap.redacted,
                "api_requests": snap.api_requests or None,
                "waited_s": snap.waited_s or None,
            },
            "next": [],
        }
    )
    return report, findings[MAX_FINDINGS:]


def _summary(scope: Scope, groups: list[Group], verdict: str, pods: int) -> str:
    what = f"{scope.kind} {scope.name}" if scope.name else f"namespace {scope.namespace}"
    if verdict == "healthy" and not groups:
        return f"No problems found in {what} ({pods} pods checked)."
    roots = [g for g in groups if not g.caused_by][:3]
    parts = []
    for g in roots:
        if len(g.objs) == 1:
            who = g.objs[0]
        elif g.first.owner in (None, g.objs[0]):  # objects of their own, alike (_group)
            who = f"{len(g.objs)} objects alike ({', '.join(g.objs[:2])}, ...)"
        else:
            who = f"{len(g.objs)} objects ({g.first.owner})"
        text = (g.cause or {}).get("text", "")
        parts.append(f"{g.mode} on {who}: {text[:140]}")
    extra = len(groups) - len(roots)
    return "; ".join(parts) + (f" (+{extra} linked or further findings)" if extra > 0 else "") + "."


def _fit(report: Report, rest: list[dict[str, Any]], scrub: Scrubber | None) -> Report:
    """Scrub free text, keep at most MAX_FINDINGS full findings (`rest`: those after them, only counted: their redactions
    and modes), then trim evidence until the budget fits."""
    # A namespace of bare pods sharing one fault is thousands of findings: the rest are validated one at a time (their
    # texts as the report would hold them), and what is kept is pruned (Report.dump) only once cut, as pruning drops no
    # non-empty string (the scrub counts are the same).
    data = report.dump(prune=False)
    redacted = 0
    if scrub:
        scrub = _memo(scrub)
        dumped = (Finding.model_validate(f).model_dump(mode="json", exclude_none=True) for f in rest)
        for finding in itertools.chain(data.get("findings", []), dumped):
            for item in finding.get("ev", []):
                redacted += _scrub_in_place(item, scrub)
            for key in ("cause", "alt"):
                if key in finding:
                    redacted += _scrub_in_place(finding[key], scrub)
        summary, n = scrub(data["summary"])
        data["summary"], redacted = summary, redacted + n
    data["limits"]["redacted"] = data["limits"].get("redacted", 0) + redacted
    if rest:
        counts: dict[str, int] = {}
        for f in rest:
            counts[f["mode"]] = counts.get(f["mode"], 0) + f.get("n", 1)
        data["more"] = f"+{len(rest)} findings: " + ", ".join(f"{m} x{c}" for m, c in counts.items())
        data["limits"]["truncated"] = True
        kept = {f["id"] for f in data["findings"]}
        for f in data["findings"]:
            f["caused_by"] = [c for c in f.get("caused_by", []) if c in kept] or f.get("caused_by", [])
    data = prune_dump(data)
    for trim in (_trim_logs, _trim_ev, _drop_extras):
        if len(json.dumps(data, separators=(",", ":"), ensure_ascii=False)) <= TOKEN_BUDGET_CHARS:
            break
        trim(data)
        data["limits"]["truncated"] = True
    return Report.model_validate(data)


def _memo(scrub: Scrubber) -> Scrubber:
    """The scrubber, asked once per distinct text (the findings of many pods with one fault repeat the same texts)."""
    seen: dict[str, tuple[str, int]] = {}

    def scrub_once(text: str) -> tuple[str, int]:
        if text not in seen:
            seen[text] = scrub(text)
        return seen[text]

    return scrub_once


def _scrub_in_place(value: Any, scrub: Scrubber) -> int:
    count = 0
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str):
                value[key], n = scrub(item)
                count += n
            else:
                count += _scrub_in_place(item, scrub)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, str):
                value[i], n = scrub(item)
                count += n
            else:
                count += _scrub_in_place(item, scrub)
    return count


def _trim_logs(data: dict[str, Any]) -> None:
    for f in data.get("findings", []):
        for e in f.get("ev", []):
            if "log" in e:
                e["log"]["lines"] = [line[:120] for line in e["log"]["lines"][-4:]]


def _trim_ev(data: dict[str, Any]) -> None:
    for f in data.get("findings", [])[1:]:
        basis = set((f.get("cause") or {}).get("basis", []))
        keep = [e for i, e in enumerate(f.get("ev", [])) if i in basis][:3] or f.get("ev", [])[:2]
        f["ev"] = keep
        if "cause" in f:
            f["cause"]["basis"] = list(range(len(keep)))


def _drop_extras(data: dict[str, Any]) -> None:
    for f in data.get("findings", []):
        f.pop("alt", None)
        f.pop("next", None)
        if "fix" in f:
            for key in ("values", "note", "verify"):
                f["fix"].pop(key, None)


__all__ = ["CHECKS", "CRASHLOOP_CHECKS", "diagnose", "name_of"]
