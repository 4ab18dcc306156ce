"""diagnose on a big namespace stays linear in its pods (bench/scale.py: a 10k-pod namespace in under 3 s).

Counted, never timed: the work per pod must not grow with the namespace."""

from __future__ import annotations

import json

import pytest

from ops_mcp.diagnosis import diagnose_snapshot, scope
from ops_mcp.diagnosis.engine import Group

NS = "shop"


def bare_pod(i: int) -> dict:
    name = f"web-{i:04d}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "uid": f"uid-{i}", "labels": {"app": "web"}, "creationTimestamp": "2026-12-07T09:00:00Z"},
        "spec": {
            "nodeName": "node-a",
            "containers": [
                {"name": "app", "image": "registry.local/web:1", "env": [{"name": "DB_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}]}
            ],
        },
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "app", "ready": True, "restartCount": 0, "state": {"running": {"startedAt": "2026-12-07T09:00:00Z"}}}],
        },
    }


def owner_lookups(monkeypatch, pods: int) -> tuple[int, object]:
    calls = 0
    real = scope.owner_of

    def counting(snap, pod):
        nonlocal calls
        calls += 1
        return real(snap, pod)

    monkeypatch.setattr(scope, "owner_of", counting)
    monkeypatch.setattr("ops_mcp.diagnosis.base.owner_of", counting)
    report = diagnose_snapshot({"namespace": NS, "pods": [bare_pod(i) for i in range(pods)], "secrets": {"db": None}})
    return calls, report


def test_scale_diagnose_of_many_pods_sharing_a_missing_secret_is_linear(monkeypatch):
    small, report = owner_lookups(monkeypatch, 50)
    big, big_report = owner_lookups(monkeypatch, 400)
    assert {f.mode for f in report.findings} == {f.mode for f in big_report.findings} == {"config.missing_secret"}
    # each pod's owner is looked up a bounded number of times (it was once per pod per failing pod: n^2)
    assert big / 400 <= small / 50 * 1.5, (small, big)


def reference_add(ev: list[dict], issue_ev: list[dict]) -> list[int]:
    """Group.add's evidence merge as it was: the first item that is the same, names the same "p", or is a log."""
    where = []
    for e in issue_ev:
        key = json.dumps(e, sort_keys=True, default=str)
        same = next(
            (
                i
                for i, x in enumerate(ev)
                if json.dumps(x, sort_keys=True, default=str) == key or ("p" in e and x.get("p") == e["p"]) or ("log" in e and "log" in x)
            ),
            None,
        )
        if same is None:
            ev.append(e)
            same = len(ev) - 1
        where.append(same)
    return where


class FakeIssue:
    def __init__(self, obj: str, ev: list[dict], basis: list[int]):
        self.obj, self.ev = obj, ev
        self.subjects, self.links, self.logs_read = set(), set(), 0
        self.cause = {"conf": "high", "basis": basis}
        self.alt = self.fix = None
        self.next = []
        self.mode = "config.missing_secret"
        self.sev = "high"


@pytest.mark.parametrize(
    "evidence",
    [
        [[{"p": "Secret/db", "v": 1}], [{"p": "Secret/db", "v": 2}], [{"p": "Secret/other", "v": 1}]],
        [[{"log": ["a"], "pod": "x"}, {"p": "a"}], [{"log": ["b"], "pod": "y"}], [{"p": "a"}, {"e": "ev"}], [{"e": "ev"}]],
        [[{"e": "x"}], [{"p": None, "v": 1}], [{"p": None}, {"e": "x"}], [{"p": ["unhashable"]}], [{"p": ["unhashable"]}, {"q": 1}]],
        [[{"p": 1}], [{"p": 1.0}], [{"p": True}], [{"p": "1"}], [{"log": "l"}, {"p": "1"}], [{"log": "m"}]],
    ],
)
def test_scale_group_merges_evidence_as_the_linear_scan_did(evidence):
    issues = [FakeIssue(f"Pod/p{i}", ev, list(range(len(ev)))) for i, ev in enumerate(evidence)]
    group = Group("config", issues[0])
    expected: list[dict] = []
    for issue in issues:
        reference_add(expected, issue.ev)
        group.add(issue)
        assert group.ev == expected
    assert group.objs == [i.obj for i in issues]


def test_scale_group_objs_keep_order_without_duplicates():
    a, b = FakeIssue("Pod/a", [], []), FakeIssue("Pod/b", [], [])
    group = Group("config", a)
    for issue in (a, b, a, b):
        group.add(issue)
    assert group.objs == ["Pod/a", "Pod/b"]
