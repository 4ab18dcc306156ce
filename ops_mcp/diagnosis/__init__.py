"""Evidence-based failure diagnosis: one snapshot of a target, pure analyzers over it, a compact report.

    snapshot, scope = builder.build(cluster, ns, kind, name, options)   # the only part that does I/O
    report = engine.diagnose(snapshot, scope, options, scrub)          # pure

Analyzers live in `analyzers/`, one module per failure family, each with `check`, `needs` and `analyze(ctx)`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ops_mcp.redact import redact_text

if TYPE_CHECKING:
    from .base import Options
    from .model import Report
    from .snapshot import Snapshot

# Loaded on first use: the server imports `diagnosis.model` for the tools' outputSchema at start-up,
# and must not pay for the engine and every analyzer before the first diagnosis.
_LAZY = {
    "Options": "base",
    "CHECKS": "engine",
    "CRASHLOOP_CHECKS": "engine",
    "diagnose": "engine",
    "MODES": "model",
    "Report": "model",
    "TargetNotFound": "scope",
    "resolve": "scope",
    "Snapshot": "snapshot",
}


def rbac() -> list[tuple[str, str]]:
    """(verb, resource) a diagnosis uses: the snapshot's lists, the GETs of the target and of referenced
    ConfigMaps/Secrets (key names only; all of them listed when a log names a variable the spec may lack), the logs of failing containers,
    GETs of health paths through the pod proxy for failing probes, a ServiceAccount target's RBAC, metrics-server's
    pod usage, a CronJob target's CronJobs and the PersistentVolume a Pending claim names."""
    from ops_mcp.cluster import KINDS

    from .snapshot import SNAPSHOT_KINDS

    lists = [("list", KINDS[k].resource) for k in (*SNAPSHOT_KINDS.values(), "configmaps", "secrets")]
    rbac = "rbac.authorization.k8s.io"
    # a ServiceAccount target: the account, its bindings and their rules, the API server's access review
    access = [("get", "serviceaccounts"), ("list", "serviceaccounts"), ("list", f"rolebindings.{rbac}"), ("list", f"clusterrolebindings.{rbac}")]
    access += [("get", f"roles.{rbac}"), ("get", f"clusterroles.{rbac}"), ("create", "localsubjectaccessreviews.authorization.k8s.io")]
    gets = ("deployments.apps", "statefulsets.apps", "daemonsets.apps", "jobs.batch", "services", "configmaps", "secrets", "pods/log", "pods/proxy")
    usage = [("list", "pods.metrics.k8s.io")]  # usage against limits, when metrics-server serves it
    # a CronJob target (its Jobs are in the lists), and the PersistentVolume a Pending claim names (cluster-scoped)
    named = [("list", "cronjobs.batch"), ("get", "persistentvolumes")]
    return lists + access + usage + named + [("get", r) for r in gets]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def scrub(text: str) -> tuple[str, int]:
    clean = redact_text(text)
    return clean, int(clean != text)


def diagnose_snapshot(snapshot: Snapshot | dict, kind: str | None = None, name: str | None = None, options: Options | None = None) -> Report:
    """Diagnose plain snapshot data (no cluster): what the unit tests and offline callers use."""
    from .engine import diagnose
    from .scope import resolve
    from .snapshot import Snapshot

    snap = snapshot if isinstance(snapshot, Snapshot) else Snapshot.from_dict(snapshot)
    return diagnose(snap, resolve(snap, kind, name), options, scrub)


def diagnose_cluster(cluster, namespace: str, kind: str | None, name: str | None, options: Options | None = None, progress=None) -> Report:
    """Fetch the snapshot through ops_mcp.cluster.Cluster, then diagnose it (blocking; run it in a thread). progress:
    called with (done, total, message) while it waits for a container's next run (builder.Progress)."""
    from .base import Options
    from .builder import build
    from .engine import diagnose
    from .gc_pause import gc_paused

    options = options or Options()
    snap, scope = build(cluster, namespace, kind, name, options, progress)
    with gc_paused():
        return diagnose(snap, scope, options, scrub)


__all__ = ["CHECKS", "CRASHLOOP_CHECKS", "MODES", "Options", "Report", "Snapshot", "TargetNotFound", "diagnose_cluster", "diagnose_snapshot"]
