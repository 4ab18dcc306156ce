"""Diagnosis toolset: diagnose_crashloop and diagnose (engine in ops_mcp/diagnosis)."""

from datetime import timedelta
from typing import Annotated, Literal

import anyio.from_thread
from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import AfterValidator, Field

from ops_mcp.diagnosis import rbac
from ops_mcp.diagnosis.model import Report  # the outputSchema
from ops_mcp.errors import OpsError
from ops_mcp.params import KindChoice, NamespaceArg, check_name
from ops_mcp.toolkit import Ops, OpsArg, tool

CrashTarget = Annotated[
    Literal["namespace", "pod", "deployment", "statefulset", "daemonset", "job", "service", "ingress", "helm"],
    Field(description="helm = release name"),
    KindChoice,
]
TargetKind = Annotated[
    Literal[
        "namespace",
        "pod",
        "deployment",
        "statefulset",
        "daemonset",
        "job",
        "cronjob",
        "service",
        "ingress",
        "persistentvolumeclaim",
        "horizontalpodautoscaler",
        "serviceaccount",
        "helm",
    ],
    Field(description="helm = release name"),
    KindChoice,
]
TargetName = Annotated[str | None, AfterValidator(lambda v: check_name(v) if v else v), Field(description="Not needed for kind=namespace")]
Container = Annotated[str | None, Field(max_length=63)]
Can = Annotated[str | None, Field(max_length=200, description="serviceaccount: e.g. 'list pods -n other'")]
IncludeLogs = bool
MaxPods = Annotated[int, Field(ge=1, le=10, description="Pods per failure whose logs are read")]
LogTail = Annotated[int, Field(ge=10, le=1000)]
Since = Annotated[int, Field(ge=1, le=1440, description="Event window")]
DIAGNOSIS_RBAC = tuple(f"{verb} {resource}" for verb, resource in rbac())


async def run_diagnosis(
    ops: Ops,
    kind: str,
    name: str | None,
    namespace: str | None,
    checks,
    container: str | None,
    include_logs: bool,
    max_pods: int,
    log_tail: int,
    since_minutes: int,
    ctx: Context | None,
    can: str | None = None,
) -> CallToolResult:
    from ops_mcp.diagnosis import Options, diagnose_cluster

    ns = ops.policy.namespace(namespace)
    if kind != "namespace" and not name:
        raise OpsError(f"kind={kind!r} needs a name.", "pass name=..., or kind='namespace' to check everything.")
    if can:
        _check_can(ops, kind, can)
    options = Options(
        checks=checks,
        since=timedelta(minutes=since_minutes),
        max_pods=max_pods,
        log_tail=log_tail,
        include_logs=include_logs,
        container=container,
        can=can,
    )

    def progress(done: float, total: float, message: str) -> None:  # from the diagnosis' worker thread
        try:
            anyio.from_thread.run(ctx.report_progress, done, total, message)
        except Exception:  # noqa: BLE001  (best effort, as Ops.poll: a failed notification changes nothing)
            pass

    try:
        report = await ops.run(diagnose_cluster, ops.cluster, ns, kind, name if kind != "namespace" else None, options, progress if ctx else None)
    except ValueError as exc:
        raise OpsError(str(exc), "fix the arguments and retry.") from None
    return ops.result(report, _text(report))


@tool(title="Diagnose crashing containers", rbac=DIAGNOSIS_RBAC)
async def diagnose_crashloop(
    ops: OpsArg,
    ctx: Context,
    name: TargetName = None,
    kind: CrashTarget = "deployment",
    namespace: NamespaceArg = None,
    container: Container = None,
    include_logs: IncludeLogs = True,
    max_pods: MaxPods = 3,
    log_tail: LogTail = 100,
    since_minutes: Since = 60,
) -> Annotated[CallToolResult, Report]:
    """Why containers crash or fail to start (CrashLoopBackOff, OOM, command, probes, image, config, init): cause, evidence, exact fix."""
    from ops_mcp.diagnosis import CRASHLOOP_CHECKS

    return await run_diagnosis(
        ops, kind if name else "namespace", name, namespace, CRASHLOOP_CHECKS, container, include_logs, max_pods, log_tail, since_minutes, ctx
    )


@tool(title="Diagnose a workload, service or namespace", rbac=DIAGNOSIS_RBAC)
async def diagnose(
    ops: OpsArg,
    ctx: Context,
    kind: TargetKind = "namespace",
    name: TargetName = None,
    namespace: NamespaceArg = None,
    container: Container = None,
    can: Can = None,
    include_logs: IncludeLogs = True,
    max_pods: MaxPods = 3,
    log_tail: LogTail = 100,
    since_minutes: Since = 60,
) -> Annotated[CallToolResult, Report]:
    """What is failing and why (pods, scheduling, volumes, rollouts, Services, Ingress, HPA, RBAC): root causes, evidence, links, exact fixes."""
    return await run_diagnosis(ops, kind, name, namespace, None, container, include_logs, max_pods, log_tail, since_minutes, ctx, can)


def _check_can(ops: Ops, kind: str, can: str) -> None:
    from ops_mcp.diagnosis.access import parse_can

    if kind != "serviceaccount":
        raise OpsError(f"can={can!r} asks about a ServiceAccount, but kind={kind!r}.", "pass kind='serviceaccount' and its name, or drop can.")
    try:
        ask = parse_can(can)
    except ValueError as exc:
        raise OpsError(str(exc), "rephrase can as VERB RESOURCE, e.g. 'list pods'.") from None
    if ask.namespace:
        ops.policy.namespace(ask.namespace)  # the allowlist holds for the namespace asked about too


def _text(report) -> str:
    lines = [f"{report.verdict.upper()}: {report.summary}"]
    for f in report.findings:
        head = f"{f.id} {f.sev} {f.mode} {', '.join(f.objs)}" + (f" (+{f.n - len(f.objs)})" if f.n > len(f.objs) else "")
        if f.caused_by:
            head += f" <- caused by {', '.join(f.caused_by)}"
        lines.append(head)
        if f.cause:
            lines.append(f"  cause ({f.cause.conf}): {f.cause.text}")
        if f.fix and f.fix.kubectl:
            lines.append(f"  fix: {f.fix.kubectl}")
    if report.more:
        lines.append(report.more)
    if report.skipped:
        lines.append("skipped: " + "; ".join(f"{s.check} ({s.why})" for s in report.skipped))
    return "\n".join(lines)
