"""Inspect and logs tools against the real control plane, over stdio."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest
from ops_helpers import call, deployment, err, event, ok, ops_env, pod, stdio_client, text_of, wait_ready

from ops_mcp.tools.inspect import POD_PAGE

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]


async def test_list_resources_paginates_compact_rows(cluster, namespace, audit_log):
    cluster.apply([pod(f"p{i}") for i in range(5)], namespace)
    async with stdio_client(ops_env(cluster, namespace, audit_log)) as c:
        first = ok(await call(c, "list_resources", {"kind": "pods", "limit": 2}))
        assert len(first["rows"]) == 2 and first["continue_token"]
        assert set(first["rows"][0]) <= {"name", "ready", "status", "restarts", "node", "age"}
        names = [r["name"] for r in first["rows"]]
        token = first["continue_token"]
        while token:
            page = ok(await call(c, "list_resources", {"kind": "po", "limit": 2, "continue_token": token}))
            names += [r["name"] for r in page["rows"]]
            token = page.get("continue_token")
        assert sorted(names) == [f"p{i}" for i in range(5)]
        # Selectors reach the API server.
        none = ok(await call(c, "list_resources", {"kind": "pods", "label_selector": "app=nothing"}))
        assert none["rows"] == []
        # Cluster-wide rows name their namespace (read from each row's object metadata).
        wide = ok(await call(c, "list_resources", {"kind": "pods", "all_namespaces": True, "field_selector": f"metadata.namespace={namespace}"}))
        assert sorted((r["namespace"], r["name"]) for r in wide["rows"]) == [(namespace, f"p{i}") for i in range(5)]
        # Bad inputs: unknown kind, bad token, bad selector, bad limit.
        assert "Did you mean Deployment" in err(await call(c, "list_resources", {"kind": "deploymnet"}))
        assert "continue_token" in err(await call(c, "list_resources", {"kind": "pods", "continue_token": "garbage"}))
        assert "invalid" in err(await call(c, "list_resources", {"kind": "pods", "label_selector": "a b c"})).lower()
        assert "limit" in err(await call(c, "list_resources", {"kind": "pods", "limit": 0}))
        assert "invalid namespace" in err(await call(c, "list_resources", {"kind": "pods", "namespace": "Not_Valid"}))


async def test_a_list_continued_after_its_token_expired_starts_again_and_says_so(cluster, namespace, audit_log):
    """A real 410: etcd's history is compacted past the revision the continue token names (the API server itself
    compacts every 5 minutes, so a slow reader meets this), and the API server can no longer continue that list."""
    cluster.apply([pod(f"p{i}") for i in range(5)], namespace)
    async with stdio_client(ops_env(cluster, namespace, audit_log)) as c:
        first = ok(await call(c, "list_resources", {"kind": "pods", "limit": 2}))
        assert first["continue_token"] and "note" not in first
        cluster.apply(pod("p5"), namespace)  # a write after the page, so the page's revision is behind the current one
        cluster.compact_etcd()
        deadline = time.monotonic() + 60
        while "note" not in (again := ok(await call(c, "list_resources", {"kind": "pods", "limit": 2, "continue_token": first["continue_token"]}))):
            # Until the API server's watch cache has dropped the compacted snapshot, the token still continues.
            assert [r["name"] for r in again["rows"]] == ["p2", "p3"] and time.monotonic() < deadline, again
            await anyio.sleep(1)
        assert "expired" in again["note"] and "first page" in again["note"]
        assert [r["name"] for r in again["rows"]] == ["p0", "p1"] and again["continue_token"]
        names, token = [], again["continue_token"]
        while token:  # the new token is a fresh snapshot: the list completes, now with p5
            page = ok(await call(c, "list_resources", {"kind": "pods", "limit": 2, "continue_token": token}))
            names += [r["name"] for r in page["rows"]]
            token = page.get("continue_token")
        assert names == ["p2", "p3", "p4", "p5"]


async def test_describe_is_compact_with_events_and_404_suggests_names(cluster, namespace, audit_log):
    cluster.apply(deployment("web-frontend", 1), namespace)
    wait_ready(cluster, namespace, "web-frontend", 1)
    cluster.kubectl("annotate", "deploy", "web-frontend", "-n", namespace, "team=todo")
    cluster.apply(event(namespace, "ev1", "Deployment", "web-frontend", "ScalingTrouble", "could not scale", count=3), namespace)
    async with stdio_client(ops_env(cluster, namespace, audit_log)) as c:
        d = ok(await call(c, "describe_resource", {"kind": "deployment", "name": "web-frontend"}))
        meta = d["object"]["metadata"]
        assert "managedFields" not in meta and "kubectl.kubernetes.io/last-applied-configuration" not in str(meta)
        assert meta["annotations"]["team"] == "todo"
        assert d["events"][0]["reason"] == "ScalingTrouble" and d["events"][0]["count"] == 3
        msg = err(await call(c, "describe_resource", {"kind": "deployment", "name": "web-frontnd"}))
        assert "not found" in msg and "'web-frontend'" in msg
        assert "invalid name" in err(await call(c, "describe_resource", {"kind": "pod", "name": "Bad_Name"}))
        assert "does not exist" in err(await call(c, "describe_resource", {"kind": "pod", "name": "x", "namespace": "no-such-ns-zz"}))


async def test_custom_resources_are_found_by_discovery(cluster, namespace, audit_log):
    """A CRD installed while the server runs: listed with its printer columns, described, named any kubectl way."""
    group = f"{namespace}.example.com"  # cluster-scoped name, unique per test
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "shortNames": ["wdg"]},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                    "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}],
                }
            ],
        },
    }
    async with stdio_client(ops_env(cluster, namespace, audit_log)) as c:
        assert "Unknown kind 'widgets'" in err(await call(c, "list_resources", {"kind": "widgets"}))  # not installed yet
        try:
            cluster.apply(crd)
            cluster.kubectl("wait", "--for=condition=Established", f"crd/widgets.{group}", "--timeout=60s")
            cluster.apply({"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}}, namespace)
            rows = ok(await call(c, "list_resources", {"kind": "widgets"}))["rows"]
            assert rows == [{"name": "w1", "size": 3}]  # the columns the CRD declares, as kubectl prints them
            for alias in ("wdg", "Widget", f"widgets.{group}"):
                assert ok(await call(c, "list_resources", {"kind": alias}))["kind"] == "Widget", alias
            d = ok(await call(c, "describe_resource", {"kind": "widget", "name": "w1"}))
            assert d["object"]["spec"] == {"size": 3} and d["object"]["apiVersion"] == f"{group}/v1"
            assert "Did you mean Widget" in err(await call(c, "list_resources", {"kind": "widgts"}))
            assert "'w2'" in err(await call(c, "describe_resource", {"kind": "widget", "name": "w2"}))
        finally:
            cluster.kubectl("delete", "crd", f"widgets.{group}", "--ignore-not-found", "--wait=false")


async def test_get_events_aggregates_and_filters(cluster, namespace, audit_log):
    cluster.apply(
        [
            event(namespace, "e1", "Pod", "web-1", "BackOff", "Back-off restarting failed container", count=4),
            event(namespace, "e2", "Pod", "web-1", "BackOff", "Back-off restarting failed container", count=2),
            event(namespace, "e3", "Pod", "web-2", "FailedMount", "secret db not found"),
            event(namespace, "e4", "Pod", "web-2", "Pulled", "image pulled", type_="Normal"),
        ],
        namespace,
    )
    async with stdio_client(ops_env(cluster, namespace, audit_log)) as c:
        all_ = ok(await call(c, "get_events", {}))
        backoff = [g for g in all_["groups"] if g["reason"] == "BackOff"]
        assert len(backoff) == 1 and backoff[0]["count"] == 6 and all_["total"] == 4
        warn = ok(await call(c, "get_events", {"type": "Warning", "object_name": "web-2", "since": "1h"}))
        assert [g["reason"] for g in warn["groups"]] == ["FailedMount"]
        assert "15m" in err(await call(c, "get_events", {"since": "yesterday"}))


async def test_get_app_status_reports_failures(cluster, namespace, audit_log):
    labels = {"app.kubernetes.io/instance": "shop", "app": "web"}
    cluster.apply(deployment("web", 2, labels=labels), namespace)
    wait_ready(cluster, namespace, "web", 2)
    cluster.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "orphan", "labels": labels},
                "spec": {"selector": {"app": "nothing-matches"}, "ports": [{"port": 80}]},
            },
            pod(
                "worker-0",
                labels={"app.kubernetes.io/instance": "shop", "kwok.todo-chatbot.test/kubelet": "crashloop"},
                annotations={"kwok.todo-chatbot.test/exit-code": "137", "kwok.todo-chatbot.test/reason": "OOMKilled"},
            ),
            event(namespace, "warn1", "Pod", "worker-0", "BackOff", "Back-off restarting failed container app"),
        ],
        namespace,
    )
    cluster.wait_for(
        lambda: (
            "CrashLoopBackOff"
            in cluster.kubectl("get", "pod", "worker-0", "-n", namespace, "-o", "jsonpath={.status.containerStatuses[*].state.waiting.reason}").stdout
        ),
        30,
    )
    async with stdio_client(ops_env(cluster, namespace, audit_log, OPS_MCP_RELEASE="shop")) as c:
        s = ok(await call(c, "get_app_status", {}))
        assert s["healthy"] is False and s["release"] == "shop"
        assert s["helm"] == {"status": "not-installed"}
        assert {"kind": "Deployment", "name": "web", "ready": 2, "desired": 2} in s["workloads"]
        assert s["failing_pods"] == [{"name": "worker-0", "status": "CrashLoopBackOff", "reason": "CrashLoopBackOff", "restarts": 5}]
        assert s["services_without_endpoints"] == ["orphan"]
        assert s["warnings"][0]["reason"] == "BackOff"
        assert text_of(await call(c, "get_app_status", {})).startswith("UNHEALTHY")
        cluster.kubectl("delete", "pod/worker-0", "service/orphan", "-n", namespace, "--wait=true")
        healthy = ok(await call(c, "get_app_status", {}))
        assert healthy["failing_pods"] == [] and healthy["services_without_endpoints"] == []


async def test_get_app_status_counts_failing_pods_on_every_page_of_a_big_namespace(cluster, namespace, audit_log, recorded):
    """More pods than two of get_app_status's pages: the crash-looping ones listed last (the API lists by name) are
    counted, the first 20 listed as rows and the rest counted in the text, whatever page they are on; the pods are
    read in pages of POD_PAGE (the API's limit and continue), never as one Table of the whole namespace."""
    healthy = [pod(f"aa-{i:04d}") for i in range(2 * POD_PAGE)]
    for p in healthy:
        p["spec"]["nodeName"] = "kwok-node-0"  # bound: no scheduling of a thousand pods
    crashing = [pod(f"zz-{i:02d}", labels={"kwok.todo-chatbot.test/kubelet": "crashloop"}) for i in range(25)]
    for p in crashing:
        p["spec"]["nodeName"] = "kwok-node-1"
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": healthy + crashing}), timeout=300)

    def settled() -> bool:
        phases = cluster.kubectl(
            "get",
            "pods",
            "-n",
            namespace,
            "-o",
            "jsonpath={range .items[*]}{.status.phase}{' '}{.status.containerStatuses[0].state.waiting.reason}{'\\n'}{end}",
        ).stdout
        lines = phases.splitlines()
        return sum(line.strip() == "Running" for line in lines) == len(healthy) and sum("CrashLoopBackOff" in line for line in lines) == len(crashing)

    cluster.wait_for(settled, 300)
    kubeconfig, seen = recorded
    async with stdio_client(ops_env(cluster, namespace, audit_log, OPS_MCP_KUBECONFIG=str(kubeconfig))) as c:
        result = await call(c, "get_app_status", {})
    s, text = ok(result), text_of(result)
    lists = [parse_qs(urlsplit(path).query) for path in seen if urlsplit(path).path == f"/api/v1/namespaces/{namespace}/pods"]
    assert len(lists) >= 3 and all(q.get("limit") == [str(POD_PAGE)] for q in lists), seen
    assert "continue" not in lists[0] and all(q.get("continue") for q in lists[1:]), seen
    # A crash-looping pod has not ended, so its row already says whether it is being deleted: each page is read once.
    assert all(q.get("includeObject") == ["None"] for q in lists) and len({q.get("continue", [""])[0] for q in lists}) == len(lists), seen
    assert s["healthy"] is False
    assert f"{len(crashing)} failing pod(s): CrashLoopBackOff={len(crashing)}" in s["problems"], s["problems"]
    assert [f["name"] for f in s["failing_pods"]] == [f"zz-{i:02d}" for i in range(20)]
    assert "(and 5 more)" in text, text


async def test_namespace_allowlist_is_enforced_on_every_call(cluster, namespace, audit_log):
    cluster.apply(pod("mine"), namespace)
    env = ops_env(cluster, namespace, audit_log, OPS_MCP_NAMESPACES=namespace)
    async with stdio_client(env) as c:
        for tool, args in [
            ("list_resources", {"kind": "pods", "namespace": "kube-system"}),
            ("get_pod_logs", {"name": "x", "namespace": "default"}),
            ("scale_deployment", {"name": "x", "replicas": 1, "namespace": "default"}),
            ("uninstall_release", {"name": "x", "namespace": "default", "confirm": True}),
            ("get_app_status", {"namespace": "kube-system"}),
        ]:
            assert "outside this server's allowlist" in err(await call(c, tool, args)), tool
        rows = ok(await call(c, "list_resources", {"kind": "pods", "all_namespaces": True}))["rows"]
        assert {r["namespace"] for r in rows} == {namespace}


async def test_get_pod_logs_tail_grep_previous_and_scrubbing(cluster, namespace, audit_log):
    cluster.apply(deployment("api", 1), namespace)
    wait_ready(cluster, namespace, "api", 1)
    name = cluster.kubectl("get", "pods", "-n", namespace, "-l", "app=api", "-o", "jsonpath={.items[0].metadata.name}").stdout
    current = (
        ["a" * 40 + "!"]
        + [f"GET /api/tasks {i} 200" for i in range(200)]
        + ["ERROR db connection failed: postgres://todo:Sup3rS3cret@db:5432/todo", "retrying in 5s", "Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345"]
    )
    cluster.set_logs(namespace, name, current, previous=["starting", "panic: out of memory"])
    # It restarted once (what the kubelet records), so a previous instance exists.
    cluster.kubectl(
        "patch", "pod", name, "-n", namespace, "--subresource=status", "-p", json.dumps({"status": {"containerStatuses": [{"name": "app", "restartCount": 1}]}})
    )
    async with stdio_client(ops_env(cluster, namespace, audit_log)) as c:
        tail = ok(await call(c, "get_pod_logs", {"name": name}))
        log = tail["logs"][0]
        assert log["lines"] == 100 and log["container"] == "app"
        assert "Sup3rS3cret" not in log["text"] and "abcdefghijklmnop" not in log["text"] and "postgres://todo:***@db" in log["text"]
        # One message repeated 97 times (the numbers differ) is folded to its first two lines and its last; the
        # lines around it keep their places. fold=false gives the tail verbatim.
        assert log["folded"] == 94 and log["text"].splitlines()[:4] == [
            "GET /api/tasks 103 200",
            "GET /api/tasks 104 200",
            "[... 94 repeated lines folded]",
            "GET /api/tasks 199 200",
        ]
        assert log["text"].splitlines()[4].startswith("ERROR db connection failed")
        whole = ok(await call(c, "get_pod_logs", {"name": name, "fold": False}))["logs"][0]
        assert whole["folded"] == 0 and whole["text"].splitlines()[:97] == [f"GET /api/tasks {i} 200" for i in range(103, 200)]
        grep = ok(await call(c, "get_pod_logs", {"name": "api", "kind": "deployment", "grep": "ERROR", "context_lines": 1}))
        assert grep["logs"][0]["text"].splitlines() == [
            "GET /api/tasks 199 200",
            "ERROR db connection failed: postgres://todo:***@db:5432/todo",
            "retrying in 5s",
        ]
        prev = ok(await call(c, "get_pod_logs", {"name": name, "previous": True, "tail_lines": 1}))
        assert prev["logs"][0]["text"] == "panic: out of memory"
        assert "not a valid regular expression" in err(await call(c, "get_pod_logs", {"name": name, "grep": "(unclosed"}))
        # A pattern that backtracks without end is stopped at its deadline; the server keeps answering.
        assert "did not finish within 2s" in err(await call(c, "get_pod_logs", {"name": name, "grep": "(a|aa)+$", "tail_lines": 500}))
        assert ok(await call(c, "get_pod_logs", {"name": name, "tail_lines": 1}))["logs"][0]["lines"] == 1
        assert "use one of: app" in err(await call(c, "get_pod_logs", {"name": name, "container": "sidecar"}))
        assert "tail_lines" in err(await call(c, "get_pod_logs", {"name": name, "tail_lines": -5}))
        near = name[:-1] + ("y" if name[-1] != "y" else "z")  # one character off, never the name itself
        assert repr(name) in err(await call(c, "get_pod_logs", {"name": near}))
        assert "not found" in err(await call(c, "get_pod_logs", {"name": "nope-nope"}))


async def test_pods_being_deleted_are_terminating_not_failing(cluster, namespace, audit_log, recorded):
    """A pod that exited (phase Failed, Error 143: a SIGTERM'd container) and is being deleted is what a rollout
    restart leaves behind for a moment: kubectl's STATUS says Error, but it is terminating, not failing (an ended
    pod's row does not say so: the pods are read again with their metadata)."""
    manual = {"kwok.todo-chatbot.test/kubelet": "manual"}
    doomed = pod("old-web", labels={**manual, "app": "web"})
    doomed["metadata"]["finalizers"] = ["test.todo-chatbot/hold"]  # keeps it visible while it is being deleted
    cluster.apply([doomed, pod("web-live", labels={"app": "web"})], namespace)
    now = "2026-01-01T00:00:00Z"
    status = {
        "phase": "Failed",
        "conditions": [{"type": "Ready", "status": "False"}],
        "containerStatuses": [
            {
                "name": "app",
                "image": "registry.local/app:1",
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {"terminated": {"exitCode": 143, "reason": "Error", "startedAt": now, "finishedAt": now}},
            }
        ],
    }
    cluster.kubectl("patch", "pod", "old-web", "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps({"status": status}))
    cluster.wait_for(
        lambda: cluster.kubectl("get", "pod", "web-live", "-n", namespace, "-o", "jsonpath={.status.phase}").stdout == "Running",
        timeout=60,
        message="web-live running",
    )
    try:
        cluster.kubectl("delete", "pod", "old-web", "-n", namespace, "--wait=false")
        assert "Error" in cluster.kubectl("get", "pod", "old-web", "-n", namespace).stdout  # what kubectl shows
        kubeconfig, seen = recorded
        async with stdio_client(ops_env(cluster, namespace, audit_log, OPS_MCP_KUBECONFIG=str(kubeconfig))) as c:
            status = ok(await call(c, "get_app_status", {"release": "none"}))
            assert status["failing_pods"] == [] and status["healthy"], status
            assert status["terminating_pods"] == 1
            lists = [parse_qs(urlsplit(path).query) for path in seen if urlsplit(path).path == f"/api/v1/namespaces/{namespace}/pods"]
            assert [q.get("includeObject") for q in lists] == [["None"], ["Metadata"]], seen
            rows = {r["name"]: r["status"] for r in ok(await call(c, "list_resources", {"kind": "pods"}))["rows"]}
            assert rows == {"old-web": "Terminating", "web-live": "Running"}
            wide = ok(await call(c, "list_resources", {"kind": "pods", "all_namespaces": True, "field_selector": f"metadata.namespace={namespace}"}))
            assert {r["name"]: r["status"] for r in wide["rows"]} == rows and all(r["namespace"] == namespace for r in wide["rows"])
            report = ok(await call(c, "diagnose", {}))
            assert report["verdict"] == "healthy" and "old-web" not in json.dumps(report.get("findings")), report
    finally:
        cluster.kubectl("patch", "pod", "old-web", "-n", namespace, "--type=json", "-p", '[{"op": "remove", "path": "/metadata/finalizers"}]', check=False)


async def test_kinds_are_case_insensitive_in_every_tool(cluster, namespace, audit_log):
    cluster.apply(deployment("web", 1), namespace)
    wait_ready(cluster, namespace, "web", 1)
    pod_name = cluster.kubectl("get", "pods", "-n", namespace, "-l", "app=web", "-o", "jsonpath={.items[0].metadata.name}").stdout
    cluster.set_logs(namespace, pod_name, ["ready"])
    async with stdio_client(ops_env(cluster, namespace, audit_log)) as c:
        assert ok(await call(c, "diagnose", {"kind": "Deployment", "name": "web"}))["target"]
        assert ok(await call(c, "diagnose_crashloop", {"kind": "deploy", "name": "web"}))["target"]
        assert ok(await call(c, "rollout_status", {"kind": "Deployment", "name": "web"}))["complete"]
        assert ok(await call(c, "get_pod_logs", {"kind": "Deployment", "name": "web"}))["target"] == "deployment/web"
        assert ok(await call(c, "scale_deployment", {"kind": "deployments.apps", "name": "web", "replicas": 1}))["kind"] == "Deployment"
        assert "Input should be" in err(await call(c, "rollout_status", {"kind": "CronJob", "name": "web"}))


async def test_previous_logs_of_a_container_that_never_restarted_say_so(cluster, namespace, audit_log):
    cluster.apply([pod("steady", labels={"app": "steady"}), pod("crashy", labels={"kwok.todo-chatbot.test/kubelet": "crashloop"})], namespace)
    cluster.wait_for(
        lambda: cluster.kubectl("get", "pod", "steady", "-n", namespace, "-o", "jsonpath={.status.phase}").stdout == "Running",
        timeout=60,
        message="steady running",
    )
    cluster.wait_for(
        lambda: cluster.kubectl("get", "pod", "crashy", "-n", namespace, "-o", "jsonpath={.status.containerStatuses[0].restartCount}").stdout == "5",
        timeout=60,
        message="crashy restarted",
    )
    cluster.set_logs(namespace, "steady", ["serving"], previous=[])
    cluster.set_logs(namespace, "crashy", ["starting"], previous=["panic: boom"])
    async with stdio_client(ops_env(cluster, namespace, audit_log)) as c:
        msg = err(await call(c, "get_pod_logs", {"name": "steady", "previous": True}))
        assert "steady/app never restarted" in msg and "previous=false" in msg
        assert "panic: boom" in text_of(await call(c, "get_pod_logs", {"name": "crashy", "previous": True}))
        assert ok(await call(c, "get_pod_logs", {"name": "steady"}))["logs"][0]["text"] == "serving"


async def test_describe_of_a_cluster_scoped_object_takes_events_from_default_if_allowed(cluster, namespace, audit_log):
    """Events about a cluster-scoped object (a PersistentVolume, a Node) live in namespace default: shown
    unless the allowlist excludes default; a Namespace outside the allowlist is not described at all."""
    pv = f"pv-{namespace}"[:63]
    ev = event("default", f"ev-{namespace}"[:63], "PersistentVolume", pv, "VolumeTrouble", "disk detached")
    ev["involvedObject"].pop("namespace")
    try:
        cluster.apply(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": pv},
                "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp/pv"}},
            }
        )
        cluster.apply(ev, "default")
        async with stdio_client(ops_env(cluster, namespace, audit_log)) as c:
            events = ok(await call(c, "describe_resource", {"kind": "pv", "name": pv}))["events"]
            assert [e["reason"] for e in events] == ["VolumeTrouble"]
        async with stdio_client(ops_env(cluster, namespace, audit_log, OPS_MCP_NAMESPACES=namespace)) as c:
            d = ok(await call(c, "describe_resource", {"kind": "pv", "name": pv}))
            assert d["object"]["metadata"]["name"] == pv and d["events"] == []  # default is outside the allowlist
            assert "outside this server's allowlist" in err(await call(c, "describe_resource", {"kind": "namespace", "name": "kube-system"}))
            assert ok(await call(c, "describe_resource", {"kind": "namespace", "name": namespace}))["name"] == namespace
    finally:
        cluster.kubectl("delete", "pv", pv, "--wait=false", check=False)
        cluster.kubectl("delete", "event", ev["metadata"]["name"], "-n", "default", check=False)


async def test_reads_are_bounded_at_the_api(cluster, namespace, audit_log):
    """Events are read up to OPS_MCP_MAX_EVENTS (API pages) before aggregating; no answer is read past
    OPS_MCP_MAX_RESPONSE_BYTES; diagnose_crashloop lists only what its checks read."""
    cluster.apply([event(namespace, f"ev{i}", "Pod", f"p{i}", "BackOff", f"back-off {i}") for i in range(130)], namespace)
    big = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"blob": "x" * 500_000}}
    cluster.kubectl("create", "-f", "-", "-n", namespace, input=json.dumps(big))  # create: apply's annotation would double it
    crashing = deployment("crashy", 1, pod_labels={"kwok.todo-chatbot.test/kubelet": "crashloop"})
    cluster.apply(crashing, namespace)
    env = ops_env(cluster, namespace, audit_log, OPS_MCP_MAX_EVENTS="100", OPS_MCP_MAX_RESPONSE_BYTES="300000")
    async with stdio_client(env) as c:
        result = await call(c, "get_events", {})
        events = ok(result)
        assert events["total"] == 100 and events["capped"] is True and "stopped reading at 100 events" in text_of(result)
        assert ok(await call(c, "get_events", {"object_name": "p7"}))["total"] == 1  # narrowed: under the cap
        msg = err(await call(c, "describe_resource", {"kind": "configmap", "name": "big"}))
        assert "larger than 300000 bytes" in msg and "narrow the query" in msg
        assert ok(await call(c, "describe_resource", {"kind": "deployment", "name": "crashy"}))["name"] == "crashy"
        cluster.wait_for(
            lambda: "CrashLoopBackOff" in cluster.kubectl("get", "pods", "-n", namespace, "-l", "app=crashy").stdout, timeout=60, message="crashy crash-looping"
        )
        narrow = ok(await call(c, "diagnose_crashloop", {"name": "crashy", "include_logs": False}))
        wide = ok(await call(c, "diagnose", {"kind": "deployment", "name": "crashy", "include_logs": False}))
        assert narrow["findings"] and narrow["findings"][0]["mode"].startswith("crashloop")
        assert narrow["limits"]["api_requests"] < wide["limits"]["api_requests"], (narrow["limits"], wide["limits"])


async def test_top_tools_say_when_the_cluster_has_no_metrics_server(cluster, namespace, audit_log):
    """The plain test cluster runs no metrics-server: both top tools say so and how to install it."""
    async with stdio_client(ops_env(cluster, namespace, audit_log, OPS_MCP_TOOLSETS="inspect,metrics")) as client:
        for tool in ("top_pods", "top_nodes"):
            message = err(await client.call_tool(tool, {}))
            assert "metrics.k8s.io is not served in this cluster" in message and "minikube addons enable metrics-server" in message, message
