"""The diagnosis output contract (compact keys on purpose: every character is paid for in tokens).

Keys follow the shared diagnosis reference (diagnosis.md §3): `sev`, `objs`, `ev` (evidence), `p`/`v` (field path/value),
`conf` (confidence). Empty and null keys are dropped when the report is serialised (`Report.dump`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Verdict = Literal["healthy", "degraded", "failing", "unknown"]
Severity = Literal["critical", "high", "medium", "low", "info"]
Confidence = Literal["high", "medium", "low"]

SEVERITY_ORDER: dict[str, int] = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}

# Every `mode` the engine can emit; tests and agents may rely on these strings.
MODES: tuple[str, ...] = (
    "dependency.missing_service",
    "dependency.wrong_port",
    "dependency.dns",
    "dependency.network_policy",
    "app.log_errors",
    "crashloop.app_error",
    "crashloop.bad_command",
    "crashloop.oom_killed",
    "crashloop.liveness",
    "crashloop.exit_zero",
    "image_pull.tag_not_found",
    "image_pull.auth_or_missing_repo",
    "image_pull.registry_unreachable",
    "image_pull.invalid_name",
    "image_pull.local_image_not_loaded",
    "image_pull.never_pull",
    "config.missing_secret",
    "config.missing_secret_key",
    "config.missing_configmap",
    "config.missing_configmap_key",
    "config.run_as_root",
    "mount.failed",
    "sandbox.failed",
    "scheduling.insufficient_resources",
    "scheduling.selector_mismatch",
    "scheduling.untolerated_taint",
    "scheduling.affinity",
    "scheduling.unbound_pvc",
    "scheduling.cordoned",
    "pvc.no_storageclass",
    "pvc.provisioning_failed",
    "pvc.volume_released",
    "pvc.volume_taken",
    "pdb.blocks_eviction",
    "pdb.no_pods",
    "readiness.failing",
    "init.failed",
    "pod.evicted",
    "pod.starting",
    "job.failed",
    "rollout.deadline_exceeded",
    "rollout.paused",
    "rollout.unavailable",
    "replicas.failed_create",
    "service.selector_mismatch",
    "service.no_ready_endpoints",
    "service.target_port_mismatch",
    "ingress.missing_service",
    "ingress.bad_port",
    "ingress.no_class",
    "ingress.missing_tls_secret",
    "ingress.no_address",
    "hpa.no_metrics",
    "hpa.missing_requests",
    "hpa.bad_target",
    "hpa.at_max",
    "resources.memory_near_limit",
    "resources.cpu_throttled",
    "serviceaccount.missing",
    "rbac.denied",
    "rbac.allowed",
    "rbac.bindings",
    "helm.pending",
    "helm.failed",
)


class _Compact(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Target(_Compact):
    kind: str
    ns: str
    name: str | None = None
    helm: str | None = None
    release: str | None = None  # the Helm release's latest stored revision: "revision 3, failed, chart demo-0.1.0 (Secret)"
    replicas: str | None = None


class EventEv(_Compact):
    type: str
    reason: str
    count: int
    last: str = ...
    msg: str


class LogEv(_Compact):
    src: Literal["previous", "current"]
    pod: str
    container: str | None = None
    lines: list[str]


class Evidence(_Compact):
    p: str | None = None
    v: Any = None
    event: EventEv | None = None
    log: LogEv | None = None


class Cause(_Compact):
    text: str
    conf: Confidence
    basis: list[int] = Field(default_factory=list)


class Step(_Compact):
    """One ops-mcp tool call that applies (part of) a fix, exactly as an agent should make it."""

    tool: str  # patch_resource, apply_manifest, delete_resource, rollout_undo, rollback_release, deploy_chart, scale_deployment
    args: dict[str, Any]  # the complete arguments: no placeholder where the cluster holds the answer; `wait` set where a rollout follows


class Fix(_Compact):
    do: str
    apply: list[Step] = Field(default_factory=list)  # the ops-mcp calls that apply the fix, in order (first the remediation)
    kubectl: str | None = None
    helm: str | None = None
    values: str | None = None
    note: str | None = None
    verify: str | None = None
    mutates: bool = True
    risk: Literal["low", "medium", "high"] = "low"


class Finding(_Compact):
    id: str
    sev: Severity
    mode: str
    objs: list[str] = ...
    n: int = 1
    container: str | None = None
    ev: list[Evidence]
    cause: Cause | None = None
    alt: list[Cause] = Field(default_factory=list)
    caused_by: list[str] = Field(default_factory=list)
    fix: Fix | None = None
    next: list[str] = Field(default_factory=list)


class Skipped(_Compact):
    check: str
    why: str


class Limits(_Compact):
    pods: int = 0
    logs_read: int = 0
    events_since: str | None = None
    truncated: bool = False
    redacted: int = 0
    api_requests: int | None = None
    waited_s: float | None = None  # for a backed-off container's next run, to ask it which probe path answers


class Report(_Compact):
    target: Target
    verdict: Verdict
    summary: str
    findings: list[Finding] = Field(default_factory=list)
    more: str | None = None
    ok: list[str] = Field(default_factory=list)
    skipped: list[Skipped] = Field(default_factory=list)
    limits: Limits
    next: list[str] = Field(default_factory=list)

    def dump(self, prune: bool = True) -> dict[str, Any]:
        """JSON-ready dict without null or empty values (the token-cheap wire form); without null values only when not
        `prune` (prune_dump() later)."""
        return self.model_dump(mode="json", exclude_none=True) if prune else super().model_dump(mode="json", exclude_none=True)

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        data = super().model_dump(**kwargs)
        return _prune(data) if kwargs.get("exclude_none") else data


def prune_dump(data: dict[str, Any]) -> dict[str, Any]:
    """What dump() drops besides nulls: empty values (but an empty `v`)."""
    return _prune(data)


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = _prune(item)
            if item in ({}, [], None, "") and key not in ("v",):
                continue
            out[key] = item
        return out
    if isinstance(value, list):
        return [_prune(item) for item in value]
    return value
