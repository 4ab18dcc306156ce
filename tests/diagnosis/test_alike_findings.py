"""Objects of their own (bare pods) that fail alike are one finding of all of them, with one fix; objects that differ in
what the finding says, and the pods of a workload, keep findings of their own (plain snapshot data, no cluster)."""

from __future__ import annotations

from ops_mcp.diagnosis import diagnose_snapshot

from .factories import container, cstatus, deploy_pods, deployment, pod, replicaset, snapshot


def wants_secret(secret: str) -> list[dict]:
    return [container(env=[{"name": "DB_URL", "valueFrom": {"secretKeyRef": {"name": secret, "key": "url"}}}])]


def bare(name: str, secret: str, ready: bool = True) -> dict:
    """A bare pod whose container runs (it read the Secret before it went); `ready`: its Ready condition."""
    return pod(name, containers=wants_secret(secret), statuses=[cstatus(running=True, ready=True)], ready=ready)


def findings_by_secret(report) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in report.findings:
        assert f.mode == "config.missing_secret", f
        out.setdefault(f.ev[0].v["name"], []).append(f)
    return out


def test_bare_pods_alike_are_one_finding_and_those_that_differ_are_not():
    pods = [bare(f"batch-{i}", "db") for i in range(6)] + [bare(f"cache-{i}", "cache") for i in range(2)]
    report = diagnose_snapshot(snapshot(pods=pods, secrets={"db": None, "cache": None}))
    found = findings_by_secret(report)
    assert sorted(found) == ["cache", "db"] and all(len(fs) == 1 for fs in found.values()), report.findings
    db, cache = found["db"][0], found["cache"][0]
    assert db.n == 6 and db.objs == ["Pod/batch-0", "Pod/batch-1", "Pod/batch-2"]
    assert cache.n == 2 and cache.objs == ["Pod/cache-0", "Pod/cache-1"]
    assert "6 objects alike (Pod/batch-0, Pod/batch-1, ...)" in report.summary
    assert report.more is None and "create secret generic db" in db.fix.note


def test_workloads_alike_are_one_finding_and_a_workloads_pods_are_not_findings_of_their_own():
    data = snapshot(
        deployments=[deployment(n, containers=wants_secret("db"), replicas=2) for n in ("api", "worker")],
        replicasets=[replicaset(f"{n}-7d9c", n) for n in ("api", "worker")],
        pods=deploy_pods("api", 2, containers=wants_secret("db")) + deploy_pods("worker", 2, containers=wants_secret("db")) + [bare("one-off", "db")],
        secrets={"db": None},
    )
    findings = findings_by_secret(diagnose_snapshot(data))["db"]
    # a template's finding names its workload; the bare pod's evidence is its own spec's
    assert sorted(tuple(f.objs) for f in findings) == [("Deployment/api", "Deployment/worker"), ("Pod/one-off",)], findings


def test_alike_bare_pods_are_critical_only_when_none_of_them_is_ready():
    down = diagnose_snapshot(snapshot(pods=[bare(f"b-{i}", "db", ready=False) for i in range(3)], secrets={"db": None}))
    some = diagnose_snapshot(snapshot(pods=[bare(f"b-{i}", "db", ready=i == 2) for i in range(3)], secrets={"db": None}))
    assert [(f.n, f.sev) for f in down.findings] == [(3, "critical")], down.findings
    assert [(f.n, f.sev) for f in some.findings] == [(3, "high")], some.findings
