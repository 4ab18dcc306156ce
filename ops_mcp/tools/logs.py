"""Logs toolset: get_pod_logs (a pod, or a workload/release resolved to its pods)."""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from ops_mcp.errors import OpsError
from ops_mcp.params import KindChoice, Name, NamespaceArg
from ops_mcp.redact import redact_text, scrub_values, secret_env_values
from ops_mcp.shaping import fold_repeats
from ops_mcp.toolkit import Ops, OpsArg, tool

if TYPE_CHECKING:
    import regex


class ContainerLog(BaseModel):
    pod: str
    container: str
    lines: int
    folded: int = 0
    truncated: bool
    text: str


class PodLogs(BaseModel):
    namespace: str
    target: str
    logs: list[ContainerLog]
    pods_total: int
    note: str | None = None  # set when a Secret the pods reference could not be read (its values masked by pattern only)


# A model-supplied pattern can backtrack without end ("(a|aa)+$"): `regex` stops it at a deadline
# (the stdlib `re` cannot be interrupted), and the search runs in a worker thread with the GIL released.
# `regex` is imported on the first grep: its import builds tables for ~40 ms, too much for start-up.
GREP_SECONDS = 2.0


def grep_lines(lines: list[str], pattern: regex.Pattern[str], context: int, deadline: float | None = None) -> list[str]:
    """Matching lines with `context` lines around them; '--' separates non-adjacent groups.
    Raises TimeoutError once time.monotonic() passes `deadline`."""
    keep: list[int] = []
    for i, line in enumerate(lines):
        timeout = None if deadline is None else deadline - time.monotonic()
        if timeout is not None and timeout <= 0:
            raise TimeoutError("grep deadline passed")
        if pattern.search(line, timeout=timeout, concurrent=True):
            keep.extend(range(max(0, i - context), min(len(lines), i + context + 1)))
    out: list[str] = []
    last = -2
    for i in sorted(set(keep)):
        if out and i != last + 1:
            out.append("--")
        out.append(lines[i])
        last = i
    return out


async def pods_for(ops: Ops, target_kind: str, name: str, ns: str) -> list[dict[str, Any]]:
    c = ops.cluster
    if target_kind == "pod":
        return [await ops.run(c.get, "pods", name, ns)]
    if target_kind == "release":
        selector = f"app.kubernetes.io/instance={name}"
    else:
        obj = await ops.run(c.get, target_kind, name, ns)
        match = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        if not match:
            raise OpsError(f"{target_kind} {name!r} has no matchLabels selector to find its pods.", "pass a pod name with kind='pod'.")
        selector = ",".join(f"{k}={v}" for k, v in sorted(match.items()))
    pods = (await ops.run(c.list, "pods", ns, label_selector=selector, limit=200)).get("items") or []
    if not pods:
        raise OpsError(
            f"No pods found for {target_kind} {name!r} in {ns!r} (selector {selector}).",
            "check the name with list_resources, or its events with get_events.",
        )
    # Most interesting first: not-ready / restarting pods, then newest.
    pods.sort(
        key=lambda p: (
            all(cs.get("ready") for cs in (p.get("status") or {}).get("containerStatuses") or [{}]),
            -sum(int(cs.get("restartCount") or 0) for cs in (p.get("status") or {}).get("containerStatuses") or []),
        )
    )
    return pods


@tool(
    title="Get pod logs",
    rbac=("get pods", "list pods", "get pods/log", "get deployments.apps", "get statefulsets.apps", "get daemonsets.apps", "get jobs.batch"),
)
async def get_pod_logs(
    ops: OpsArg,
    name: Name,
    namespace: NamespaceArg = None,
    kind: Annotated[Literal["pod", "deployment", "statefulset", "daemonset", "job", "release"], Field(description="What name is"), KindChoice] = "pod",
    container: Annotated[str | None, Field(description="Default: all")] = None,
    include_init: bool = False,
    tail_lines: Annotated[int, Field(ge=1, le=5000)] = 100,
    previous: Annotated[bool, Field(description="Crashed instance")] = False,
    since_seconds: Annotated[int | None, Field(ge=1)] = None,
    grep: Annotated[str | None, Field(description="Regex filter")] = None,
    context_lines: Annotated[int, Field(ge=0, le=20)] = 0,
    max_pods: Annotated[int, Field(ge=1, le=20)] = 3,
    fold: Annotated[bool, Field(description="Fold repeated lines")] = True,
) -> Annotated[CallToolResult, PodLogs]:
    """Tail container logs (byte-capped, credentials scrubbed); optional regex filter with context."""
    ns = ops.policy.namespace(namespace)
    pattern = None
    if grep:
        if len(grep) > 500:
            raise OpsError("grep is longer than 500 characters.", "use a shorter pattern.")
        import regex

        try:
            pattern = regex.compile(grep)
        except regex.error as exc:
            raise OpsError(f"grep={grep!r} is not a valid regular expression ({exc}).", "fix the pattern (Python re syntax).") from None
    cap = ops.settings.log_bytes_limit

    async def read_log(pname: str, cname: str) -> tuple[str, bool] | OpsError:
        try:  # the newest whole lines of the tail within the cap, and whether the cap cut it
            return await ops.run(
                ops.cluster.log_tail, ns, pname, container=cname, tail_lines=tail_lines, previous=previous, since_seconds=since_seconds, limit_bytes=cap
            )
        except OpsError as exc:  # raised by the caller, after the container name was checked
            return exc

    early: dict[tuple[str, str], tuple[str, bool] | OpsError] = {}
    if kind == "pod" and container:
        # Nothing to resolve first: the pod (its containers, its secret env values) and the log at once.
        pods, early[(name, container)] = await ops.gather(functools.partial(pods_for, ops, kind, name, ns), functools.partial(read_log, name, container))
    else:
        pods = await pods_for(ops, kind, name, ns)
    jobs: list[tuple[str, str, set[str]]] = []  # (pod, container, the pod's secret env values)
    fresh: list[str] = []  # pod/container that never restarted: no previous instance to read
    for pod in pods[:max_pods]:
        pname = pod["metadata"]["name"]
        known = secret_env_values(pod)
        spec = pod.get("spec") or {}
        names = [c["name"] for c in spec.get("containers") or []]
        init_names = [c["name"] for c in spec.get("initContainers") or []]
        if container:
            if container not in names + init_names:
                raise OpsError(f"Pod {pname!r} has no container {container!r}.", f"use one of: {', '.join(names + init_names)}.")
            wanted = [container]
        else:
            wanted = (init_names if include_init else []) + names
        if previous:
            restarted = {
                cs.get("name")
                for cs in ((pod.get("status") or {}).get("containerStatuses") or []) + ((pod.get("status") or {}).get("initContainerStatuses") or [])
                if cs.get("restartCount") or (cs.get("lastState") or {}).get("terminated")
            }
            fresh += [f"{pname}/{c}" for c in wanted if c not in restarted]
            wanted = [c for c in wanted if c in restarted]
        jobs += [(pname, cname, known) for cname in wanted]
    if previous and not jobs:
        raise OpsError(
            f"No previous log: {', '.join(fresh[:5])} never restarted (restart count 0), so there is no earlier instance.",
            "call again with previous=false for the current log.",
        )

    async def log_text(pname: str, cname: str) -> tuple[str, bool]:
        got = early.pop((pname, cname), None)
        if got is None:
            got = await read_log(pname, cname)
        if isinstance(got, OpsError):
            raise got
        return got

    # All logs at once, and the values of the Secrets the pods reference (each Secret read once), to scrub by value.
    *texts, secrets = await ops.gather(
        *(functools.partial(log_text, pname, cname) for pname, cname, _ in jobs),
        functools.partial(ops.run, ops.cluster.secret_scrubber, ns, pods[:max_pods]),
    )
    budget = ops.settings.output_limit
    deadline = time.monotonic() + GREP_SECONDS
    results: list[ContainerLog] = []
    for (pname, cname, known), (text, truncated) in zip(jobs, texts, strict=False):
        # Scrubbed before grep and fold: a grep that matches a credential's value must not tell it apart.
        lines = redact_text(secrets.text(scrub_values(text, known), cut=truncated)).splitlines()
        if pattern is not None:
            try:
                lines = await ops.run(grep_lines, lines, pattern, context_lines, deadline)
            except TimeoutError:
                raise OpsError(
                    f"grep={grep!r} did not finish within {GREP_SECONDS:.0f}s over the logs (nested repetition like '(x+)+' can backtrack without end).",
                    "use a simpler pattern: a word, or an alternation like 'error|fatal'.",
                ) from None
        shown, folded = fold_repeats(lines) if fold else (lines, 0)
        body = "\n".join(shown)
        if len(body) > budget:
            body = body[-budget:]
            truncated = True
        budget = max(0, budget - len(body))
        results.append(ContainerLog(pod=pname, container=cname, lines=len(lines), folded=folded, truncated=truncated, text=body))
    out = PodLogs(namespace=ns, target=f"{kind}/{name}", logs=results, pods_total=len(pods), note=secrets.note)
    parts = []
    for r in results:
        flag = (f", {r.folded} repeats folded (fold=false: all)" if r.folded else "") + (" (truncated)" if r.truncated else "")
        parts.append(f"== {r.pod}/{r.container}: {r.lines} lines{' matching' if pattern else ''}{flag}\n{r.text}".rstrip())
    if fresh:
        parts.append(f"(no previous log for {', '.join(fresh[:5])}: never restarted)")
    if len(pods) > max_pods:
        parts.append(f"({len(pods) - max_pods} more pods not shown; raise max_pods or name a pod)")
    if secrets.note:
        parts.append(f"(note: {secrets.note})")
    return ops.result(out, "\n".join(parts))
