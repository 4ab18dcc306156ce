"""Evidence-based failure diagnosis: one snapshot of a target, pure analyzers over it, a compact report.

    snapshot, scope = builder.build(cluster, ns, kind, name, options)   # the only part that does I/O
    report = engine.diagnose(snapshot, scope, options, scrub)          # pure

Analyzers live in `analyzers/`, one module per failure family, each with `check`, `needs` and `analyze(ctx)`.
"""

from __future__ import annotations

from ops_mcp.redact import redact_text

from .base import Options
from .engine import CHECKS, CRASHLOOP_CHECKS, diagnose
from .model import MODES, Report
from .scope import TargetNotFound, resolve
from .snapshot import Snapshot


def scrub(text: str) -> tuple[str, int]:
    clean = redact_text(text)
    return clean, int(clean != text)


def diagnose_snapshot(snapshot: Snapshot | dict, kind: str | None = None, name: str | None = None,
                      options: Options | None = None) -> Report:
    """Diagnose plain snapshot data (no cluster): what the unit tests and offline callers use."""
    snap = snapshot if isinstance(snapshot, Snapshot) else Snapshot.from_dict(snapshot)
    return diagnose(snap, resolve(snap, kind, name), options, scrub)


def diagnose_cluster(cluster, namespace: str, kind: str | None, name: str | None,
                     options: Options | None = None) -> Report:
    """Fetch the snapshot through ops_mcp.cluster.Cluster, then diagnose it (blocking; run it in a thread)."""
    from .builder import build

    options = options or Options()
    snap, scope = build(cluster, namespace, kind, name, options)
    return diagnose(snap, scope, options, scrub)


__all__ = ["CHECKS", "CRASHLOOP_CHECKS", "MODES", "Options", "Report", "Snapshot", "TargetNotFound",
           "diagnose_cluster", "diagnose_snapshot"]
