"""diagnose on a big namespace stays linear in its pods (bench/scale.py: a 10k-pod namespace in under 3 s), and reads
them page by page without decoding what it does not read.

Counted, never timed: the work per pod must not grow with the namespace."""

from __future__ import annotations

import json
import sys
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from ops_helpers import call, ok, ops_env, stdio_client

from ops_mcp.cluster import without_managed_fields
from ops_mcp.diagnosis import diagnose_snapshot
from ops_mcp.diagnosis.builder import PAGE
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


def calls_to_diagnose(pods: int) -> tuple[int, object]:
    """(Python function calls made by one diagnosis of `pods` bare pods, its report): a count, not a time."""
    data = {"namespace": NS, "pods": [bare_pod(i) for i in range(pods)], "secrets": {"db": None}}
    calls = 0

    def count(frame, event, arg) -> None:
        nonlocal calls
        calls += event == "call"

    sys.setprofile(count)
    try:
        report = diagnose_snapshot(data)
    finally:
        sys.setprofile(None)
    return calls, report


def test_scale_diagnose_of_many_pods_sharing_a_missing_secret_is_linear():
    calls_to_diagnose(1)  # lazy imports and indexes: not the pods' work
    small, report = calls_to_diagnose(50)
    big, big_report = calls_to_diagnose(400)
    assert {f.mode for f in report.findings} == {f.mode for f in big_report.findings} == {"config.missing_secret"}
    # bare pods alike are one finding of all of them (engine._group)
    assert [(f.n, f.objs) for f in big_report.findings] == [(400, ["Pod/web-0000", "Pod/web-0001", "Pod/web-0002"])], big_report.findings
    # the work per pod does not grow with the namespace (it once looked each pod's owner up per failing pod: n^2)
    assert big / 400 <= small / 50 * 1.2, (small, big)


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
        self.owner = self.container = None
        self.detail, self.symptom = "", False


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
    group = Group("config", issues[0], {})
    expected: list[dict] = []
    reference_add(expected, issues[0].ev)
    assert group.ev == expected
    for issue in issues[1:]:
        reference_add(expected, issue.ev)
        group.add(issue)
        assert group.ev == expected
    assert group.objs == [i.obj for i in issues]


def test_scale_group_objs_keep_order_without_duplicates():
    a, b = FakeIssue("Pod/a", [], []), FakeIssue("Pod/b", [], [])
    group = Group("config", a, {})
    for issue in (b, a, b):
        group.add(issue)
    assert group.objs == ["Pod/a", "Pod/b"]


# ---- the pods of a namespace: page by page, managedFields never decoded ----


def managed(manager: str, fields: dict) -> dict:
    return {"manager": manager, "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": fields}


@pytest.mark.parametrize(
    "entries",
    [
        [managed("kubectl", {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}})],
        # "]}" and quotes inside strings, an escaped backslash before a closing quote, a list-valued key
        [managed('x]},"y\\', {'k:{"name":"a]}"}': {}}), managed("\\", {'f:k:{"a":[1]}': {}}), managed("]}]}", {})],
        [],
    ],
)
def test_scale_managed_fields_are_cut_before_decoding(entries):
    items = [
        {"metadata": {"name": f"p{i}", "labels": {"a": "]}"}, "managedFields": entries}, "spec": {"x": ["]}", {"y": ']},"'}]}, "status": {}} for i in range(3)
    ]
    body = json.dumps({"kind": "PodList", "metadata": {"continue": "t"}, "items": items}, separators=(",", ":")).encode()
    slim = without_managed_fields(body)
    assert b"managedFields" not in slim
    for item in items:
        item["metadata"].pop("managedFields")
    assert json.loads(slim)["items"] == items


def test_scale_managed_fields_are_kept_where_they_are_not_the_last_field_of_metadata():
    """A custom resource's JSON has sorted keys: managedFields comes before name. Cutting to the next "]}" would drop
    the name and the spec and still decode, so nothing is cut there and the decoder gets the objects whole."""
    items = [
        {"metadata": {"annotations": {"a": "b"}, "managedFields": [managed("x", {"f:spec": {}})], "name": f"n{i}"}, "spec": {"ports": [{"port": 80}]}}
        for i in range(2)
    ]
    body = json.dumps({"items": items}, separators=(",", ":")).encode()
    assert json.loads(without_managed_fields(body))["items"] == items


@pytest.mark.anyio
@pytest.mark.cluster
async def test_scale_diagnose_finds_the_one_broken_pod_among_many_reading_pods_page_by_page(cluster, namespace, audit_log, recorded):
    """More pods than a page, one of them referencing a Secret that does not exist: diagnose of the namespace names
    that pod alone, and read the pods in pages of PAGE (the API's limit and continue), never as one whole list."""
    kubeconfig, seen = recorded
    pods = []
    for i in range(PAGE + 1):
        container = {"name": "app", "image": "registry.local/app:1"}
        if i == 250:
            container["env"] = [{"name": "DB_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}]
        pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"w-{i:04d}", "labels": {"app": "w"}}, "spec": {"containers": [container]}})
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": pods}), timeout=300)
    async with stdio_client(ops_env(cluster, namespace, audit_log, OPS_MCP_KUBECONFIG=str(kubeconfig))) as c:
        report = ok(await call(c, "diagnose", {"include_logs": False}))
    assert report["limits"]["pods"] == PAGE + 1
    missing = [f for f in report["findings"] if f["mode"] == "config.missing_secret"]
    assert [(f["objs"], f["n"]) for f in missing] == [(["Pod/w-0250"], 1)], report
    lists = [parse_qs(urlsplit(path).query) for path in seen if urlsplit(path).path == f"/api/v1/namespaces/{namespace}/pods"]
    assert [q.get("limit") for q in lists] == [[str(PAGE)], [str(PAGE)]], seen
    assert "continue" not in lists[0] and lists[1]["continue"]


@pytest.mark.anyio
@pytest.mark.cluster
async def test_scale_pods_alike_but_for_one_leaf_are_each_diagnosed_by_their_own_leaf(cluster, namespace, audit_log):
    """Three pages of pods alike in all but their names and token volumes, which the builder keeps as one copy of
    what they repeat (diagnosis/share.py), and three of them one leaf apart, each on a page of its own: a Secret's
    name, a ConfigMap's name (a volume), a Secret's key. Each is diagnosed by its own leaf and names that pod alone."""
    odd = {251: ("secret", "db-old"), 777: ("configmap", "cfg-new"), 2 * PAGE + 100: ("key", "pasword")}
    pods = []
    for i in range(2 * PAGE + 201):
        leaf = {"secret": "db", "key": "url", "configmap": "cfg"}
        if i in odd:
            leaf[odd[i][0]] = odd[i][1]
        secret, key, configmap = leaf["secret"], leaf["key"], leaf["configmap"]
        container = {
            "name": "app",
            "image": "registry.local/app:1",
            "env": [{"name": "DB_URL", "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}, {"name": "LOG_LEVEL", "value": "info"}],
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
            "volumeMounts": [{"name": "cfg", "mountPath": "/etc/app"}],
        }
        spec = {"nodeName": "kwok-node-0", "containers": [container], "volumes": [{"name": "cfg", "configMap": {"name": configmap}}]}
        pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"w-{i:04d}", "labels": {"app": "w", "shard": str(i % 10)}}, "spec": spec})
    objects = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "stringData": {"url": "postgres://db"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "b"}},
        *pods,
    ]
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}), timeout=300)
    cluster.wait_for(
        lambda: cluster.kubectl("get", "pods", "-n", namespace, "--field-selector=status.phase!=Running", "-o", "name").stdout.strip() == "",
        300,
        message="every pod Running",
    )
    async with stdio_client(ops_env(cluster, namespace, audit_log)) as c:
        report = ok(await call(c, "diagnose", {"include_logs": False}))
    assert report["limits"]["pods"] == len(pods)
    named = {f["mode"]: f["objs"] for f in report["findings"]}
    assert named == {
        "config.missing_secret": ["Pod/w-0251"],
        "mount.failed": ["Pod/w-0777"],  # a volume of a ConfigMap that does not exist
        "config.missing_secret_key": [f"Pod/w-{2 * PAGE + 100:04d}"],
    }, report
