"""Helm releases whose last operation did not finish (pending-install/upgrade/rollback) or failed, from their stored
records (snap.releases: a release target's, or every release of a namespace)."""

from __future__ import annotations

from .. import fixes
from ..base import Context, Issue
from ..releases import DEPLOYED, status

check = "helm"
needs = ()
STORAGE = {"secrets": "Secret", "configmaps": "ConfigMap"}


def analyze(ctx: Context) -> list[Issue]:
    names = [ctx.scope.helm] if ctx.scope.helm else sorted(ctx.snap.releases) if ctx.scope.kind == "Namespace" else []
    issues = []
    for name in names:
        revisions = ctx.snap.releases.get(name) or []
        state = status(revisions[-1]) if revisions else None
        if not state or state in DEPLOYED or state == "uninstalled":
            continue
        latest = revisions[-1]
        info = (latest.get("record") or {}).get("info") or {}
        back = next((r["revision"] for r in reversed(revisions[:-1]) if status(r) in DEPLOYED), None)
        obj = f"HelmRelease/{name}"
        ev = [{"p": f"{STORAGE.get(latest['kind'], latest['kind'])}/{latest['object']}", "v": {"revision": latest["revision"], "status": state}}]
        if info.get("description"):
            ev.append({"p": "info.description", "v": str(info["description"])[:300]})
        issue = Issue(mode="helm.failed", obj=obj, ev=ev, sev="low", subjects={obj})
        if state.startswith("pending") or state == "uninstalling":
            issue.mode, issue.sev = "helm.pending", "high"
            issue.cause = {
                "text": f"Helm release {name} is {state} at revision {latest['revision']}: a helm operation that did not finish (interrupted, "
                "or still running); until it ends every upgrade and rollback of it fails with 'another operation is in progress'",
                "conf": "high",
                "basis": [0],
            }
            rollback = fixes.step("rollback_release", name=name, namespace=ctx.ns, revision=back) if back else None
            issue.fix = fixes.make(
                ctx.snap,
                obj,
                f"Roll the release back to revision {back}, the last one deployed (no helm operation may be running on it)"
                if back
                else "Nothing of it was ever deployed: uninstall the release, then install it again",
                None if back else f"helm uninstall {name} -n {ctx.ns}",
                risk="medium" if back else "high",
                apply=[rollback] if rollback else None,
                mutates=True,
            )
        else:
            issue.cause = {"text": f"helm's last operation on release {name} failed (revision {latest['revision']}, {state})", "conf": "high", "basis": [0]}
            issue.next = ["the release's workloads' findings say what failed; the owner's next upgrade replaces the failed revision"]
        issues.append(issue)
    return issues
