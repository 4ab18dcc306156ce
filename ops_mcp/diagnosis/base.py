"""What every analyzer shares: the `Analyzer` interface, the `Issue` it returns, and the read helpers of `Context`.

An analyzer is a module-level object with a `check` name (the `ok[]` vocabulary, also the prefix of its modes)
and `analyze(ctx) -> list[Issue]`. It reads only `ctx` (the snapshot and the resolved scope): no API calls.
Pod-level analyzers return one Issue per pod; the engine groups Issues that share a failure signature.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any, Protocol

from .scope import Scope, owner_of
from .snapshot import Obj, Snapshot, age, event_time, meta, name_of, parse_time, ref


@dataclass
class Issue:
    mode: str
    obj: str  # "Pod/api-1", "Service/web"
    ev: list[dict[str, Any]]
    cause: dict[str, Any] | None = None  # {"text", "conf", "basis"}
    fix: dict[str, Any] | None = None
    sev: str | None = None  # None: the engine derives it from replica health (pod issues)
    owner: str | None = None  # workload the pod belongs to ("Deployment/api")
    container: str | None = None
    detail: str = ""  # extra signature discriminator (missing key, image, ...)
    alt: list[dict[str, Any]] = field(default_factory=list)
    next: list[str] = field(default_factory=list)
    subjects: set[str] = field(default_factory=set)  # objects this issue is about (for caused_by matching)
    links: set[str] = field(default_factory=set)  # objects whose issues would explain this one
    symptom: bool = False  # a downstream effect; gets no fix when a root cause is linked
    logs_read: int = 0

    def __post_init__(self) -> None:
        if self.owner is not None and self.obj is not self.owner and self.obj == self.owner:
            # a bare pod's: the one string its owner is (a group of thousands of bare pods holds each one's name once)
            self.obj = self.owner
            if self.owner in self.subjects:
                self.subjects = {self.owner, *self.subjects}

    def signature(self) -> tuple[str, str, str, str]:
        return self.mode, self.owner or self.obj, self.container or "", self.detail


class Analyzer(Protocol):
    check: str

    def analyze(self, ctx: Context) -> Iterable[Issue]: ...  # grouped as they come: a generator holds fewer at once


ERROR_LINE = re.compile(
    r"(?i)(error|exception|fatal|panic|traceback|not set|undefined|missing|no such file|"
    r"connection refused|could not|couldn't|cannot|can't|failed|denied|killed|not found|invalid)"
)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
TIMESTAMP = re.compile(r"^\s*\[?\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?\]?\s*")


@dataclass
class Options:
    checks: tuple[str, ...] | None = None  # None: every analyzer
    since: timedelta = timedelta(hours=1)
    max_pods: int = 3  # pods per failure signature whose logs are read
    log_tail: int = 100
    include_logs: bool = True
    container: str | None = None
    can: str | None = None  # a ServiceAccount target's question: "list pods", "get secrets -n other"


@dataclass
class Context:
    snap: Snapshot
    scope: Scope
    options: Options = field(default_factory=Options)

    @property
    def ns(self) -> str:
        return self.snap.namespace

    def owner(self, pod: Obj) -> str:
        return owner_of(self.snap, pod)

    @cached_property
    def _live_index(self) -> tuple[dict[str, list[Obj]], dict[str, Obj]]:
        by_owner: dict[str, list[Obj]] = {}
        by_ref: dict[str, Obj] = {}
        for pod in live_pods(self.scope.pods):
            owner, name = self.owner(pod), ref("Pod", pod)
            if owner == name:  # a bare pod: found by its name alone (no list of one for each of thousands)
                name = owner
            else:
                by_owner.setdefault(owner, []).append(pod)
            by_ref[name] = pod
        return by_owner, by_ref

    def live_pods_of(self, owner: str, named: str | None = None) -> list[Obj]:
        """The scope's live pods whose owner is `owner` (e.g. "ReplicaSet/api-5d8f"; a bare pod owns itself), and the pod
        `named` ("Pod/x") whatever its owner; indexed once per diagnosis, so asking for each of n pods is not O(n^2)."""
        by_owner, by_ref = self._live_index
        bare = by_ref.get(owner) if owner.startswith("Pod/") else None
        pods = [bare] if bare is not None and self.owner(bare) == owner else list(by_owner.get(owner, ()))
        extra = by_ref.get(named) if named else None
        if extra is not None and self.owner(extra) != owner:
            pods.append(extra)
        return pods

    def recent(self, when) -> bool:
        return when is not None and when >= self.snap.now - self.options.since

    def events(self, kind: str, obj: Obj, reasons: Iterable[str] | None = None, contains: str | None = None, after=None) -> list[dict[str, Any]]:
        """Aggregated events of one object: one entry per (type, reason, message), newest first, within `since`."""
        wanted = set(reasons) if reasons else None
        groups: dict[tuple[str, str, str], dict[str, Any]] = {}
        for event in self.snap.events_for(kind, obj):
            if wanted and event.get("reason") not in wanted:
                continue
            message = event.get("message") or ""
            if contains and contains.lower() not in message.lower():
                continue
            when = event_time(event)
            if not self.recent(when) or (after is not None and when is not None and when < after):
                continue
            key = (event.get("type") or "Normal", event.get("reason") or "", message)
            item = groups.setdefault(key, {"type": key[0], "reason": key[1], "msg": message, "count": 0, "_t": when})
            item["count"] += max(1, int(event.get("count") or (event.get("series") or {}).get("count") or 1))
            item["_t"] = max(item["_t"], when)
        out = sorted(groups.values(), key=lambda g: g["_t"], reverse=True)
        return out

    def event_ev(self, aggregated: dict[str, Any]) -> dict[str, Any]:
        return {
            "event": {
                "type": aggregated["type"],
                "reason": aggregated["reason"],
                "count": aggregated["count"],
                "last": age(aggregated["_t"], self.snap.now),
                "msg": aggregated["msg"][:300],
            }
        }

    def log_ev(self, pod: str, container: str, previous: bool) -> dict[str, Any] | None:
        lines = self.snap.log(pod, container, previous)
        if not lines:
            return None
        return {"log": {"src": "previous" if previous else "current", "pod": pod, "container": container, "lines": select_log_lines(lines)}}


def select_log_lines(lines: list[str], limit: int = 10, width: int = 200) -> list[str]:
    """Error-looking lines with 2 lines of context (or the last 3 lines), ANSI codes and timestamps stripped."""
    clean = [TIMESTAMP.sub("", ANSI.sub("", line)).rstrip() for line in lines]
    clean = [line for line in clean if line.strip()]
    hits = [i for i, line in enumerate(clean) if ERROR_LINE.search(line)]
    if not hits:
        return [line[:width] for line in clean[-3:]]
    keep: list[int] = []
    for i in reversed(hits):  # the newest errors matter most
        for j in range(max(0, i - 2), min(len(clean), i + 3)):
            if j not in keep:
                keep.append(j)
        if len(keep) >= limit:
            break
    return [clean[i][:width] for i in sorted(keep)[-limit:]]


STRONG_LINE = re.compile(r"(?i)error|exception|fatal|panic|refused|denied|could not|cannot|keyerror")
WEAK_LINE = re.compile(r"(?i)not found|failed|undefined|not set|missing|invalid")


def key_line(lines: list[str]) -> str:
    """The line that best says what went wrong: the last clearly erroring one, else the last failure-ish one,
    else the last line."""
    for pattern in (STRONG_LINE, WEAK_LINE):
        hit = next((line for line in reversed(lines) if pattern.search(line)), None)
        if hit:
            return hit
    return lines[-1] if lines else ""


# ---- pod helpers ----


def container_specs(spec: Obj, init: bool = False) -> list[Obj]:
    return list(spec.get("initContainers" if init else "containers") or [])


def container_spec(spec: Obj, name: str, init: bool = False) -> Obj:
    return next((c for c in container_specs(spec, init) if c.get("name") == name), {})


def condition(obj: Obj, ctype: str) -> Obj | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == ctype), None)


def pod_ready(pod: Obj) -> bool:
    cond = condition(pod, "Ready")
    return bool(cond and cond.get("status") == "True")


def live_pods(pods: Iterable[Obj]) -> list[Obj]:
    return [p for p in pods if not meta(p).get("deletionTimestamp")]


def spec_path(owner_kind: str) -> str:
    return "spec" if owner_kind == "Pod" else "spec.template.spec"


def pod_ref(pod: Obj) -> str:
    return ref("Pod", pod)


def pod_name(pod: Obj) -> str:
    return name_of(pod)


def terminated_runtime(term: Obj) -> str | None:
    start, end = parse_time(term.get("startedAt")), parse_time(term.get("finishedAt"))
    if start and end:
        return age(start, end)
    return None
