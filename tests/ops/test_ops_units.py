"""Pure unit tests: redaction, shaping, validation, policy, settings, schema slimming."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from ops_mcp import shaping
from ops_mcp.cluster import discovered_kinds, resolve_kind
from ops_mcp.errors import NotFound, OpsError, PolicyError, Unreachable
from ops_mcp.helm import check_chart_source, translate_helm_error
from ops_mcp.params import check_name, check_namespace, check_release
from ops_mcp.policy import Policy
from ops_mcp.redact import MASK, redact_obj, redact_text, secret_env_values
from ops_mcp.settings import load_settings
from ops_mcp.toolkit import slim_schema
from ops_mcp.tools.logs import grep_lines
from ops_mcp.tools.releases import diff_manifests
from ops_mcp.tools.workloads import rollout_of

SECRET = "hunter2-Zq9"


# -- redaction -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "line",
    [
        f"connecting with password={SECRET} to db",
        f'{{"password": "{SECRET}", "user": "app"}}',
        f"DB_PASSWORD='{SECRET}'",
        f"url=postgres://app:{SECRET}@db:5432/todo",
        f"Authorization: Bearer {SECRET}abcdef",
        f"api_key: {SECRET}",
        f"client-secret={SECRET}",
        f"x-token={SECRET}",
    ],
)
def test_redact_text_scrubs_credentials(line):
    out = redact_text(line)
    assert SECRET not in out
    assert MASK in out


def test_redact_text_scrubs_jwt_pem_and_known_tokens():
    jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
    text = f"got {jwt} and {pem} and sk-ant-api03-abcdefghijklmnop and AKIAABCDEFGHIJKLMNOP"
    out = redact_text(text)
    for leaked in (jwt, "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "sk-ant-api03-abcdefghijklmnop", "AKIAABCDEFGHIJKLMNOP"):
        assert leaked not in out


def test_redact_text_keeps_ordinary_lines():
    for line in ("GET /api/tasks 200 12ms", "secretName: todo-db", "tokens used: 1024", "password reset page rendered"):
        assert redact_text(line) == line


def test_redact_text_scrubs_a_whole_log_line_by_line():
    """The whole text is scrubbed in one pass per pattern; no match may run across a newline."""
    log = "\n".join(
        [
            "INFO auth token",  # a credential word at the end of a line ...
            "abcdefghijklmnopqrstuvwxyz0123",  # ... does not make the next line a token
            'WARN password = "hunter2',  # an unclosed quote ...
            'next line stays" readable',  # ... does not swallow the next line
            "DEBUG Authorization: Bearer abcdefgh12345678",
            "ERROR connect postgresql://app:s3cretpw@db:5432/todo failed",
        ]
    )
    out = redact_text(log).split("\n")
    assert out[1] == "abcdefghijklmnopqrstuvwxyz0123" and out[3] == 'next line stays" readable'
    assert "hunter2" not in out[2] and "abcdefgh12345678" not in out[4] and "s3cretpw" not in out[5]
    assert len(out) == 6


def test_redact_obj_masks_secret_data_env_and_last_applied():
    obj = {
        "kind": "Secret",
        "metadata": {"name": "db", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": json.dumps({"data": {"password": "aHVudGVyMg=="}})}},
        "data": {"password": "aHVudGVyMg=="},
        "stringData": {"token": SECRET},
    }
    out = json.dumps(redact_obj(obj))
    assert "aHVudGVyMg==" not in out and SECRET not in out
    assert '"password": "***"' in out

    pod = {
        "spec": {
            "containers": [
                {
                    "env": [
                        {"name": "DATABASE_PASSWORD", "value": SECRET},
                        {"name": "DATABASE_URL", "value": f"postgresql://app:{SECRET}@db/todo"},
                        {"name": "LOG_LEVEL", "value": "info"},
                        {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                    ]
                }
            ]
        }
    }
    out = redact_obj(pod)
    env = out["spec"]["containers"][0]["env"]
    assert SECRET not in json.dumps(out)
    assert env[2]["value"] == "info"
    assert env[3]["valueFrom"]["secretKeyRef"]["name"] == "db"


def test_redact_obj_masks_helm_values_by_key():
    values = {"postgresql": {"auth": {"password": SECRET, "existingSecret": "db"}}, "anthropicApiKey": SECRET, "replicas": 2}
    out = redact_obj(values)
    assert SECRET not in json.dumps(out)
    assert out["postgresql"]["auth"]["existingSecret"] == "db"
    assert out["replicas"] == 2


def test_redact_text_on_the_labelled_log_corpus():
    """Every seeded credential of tests/ops/redaction_corpus.py is masked; every clean line is left as it is
    (bench/redaction.py scores detect-secrets on the same corpus)."""
    from redaction_corpus import CLEAN, LEAKS

    leaks = [(line, s) for line, secrets in LEAKS for s in secrets if s in redact_text(line)]
    changed = [line for line in CLEAN if redact_text(line) != line]
    assert leaks == [] and changed == []


def test_redact_obj_masks_any_type_under_a_secret_name_and_secrets_outside_env():
    values = {
        "auth": {
            "password": 12345678,
            "token": ["tok-aaaa", "tok-bbbb"],
            "credentials": {"user": {"key": "k-cccc"}},
            "enabled": True,
            "passwordFile": "/run/secrets/pw",
        },
        "replicas": 2,
    }
    out = redact_obj(values)
    assert out == {
        "auth": {"password": MASK, "token": [MASK, MASK], "credentials": {"user": {"key": MASK}}, "enabled": True, "passwordFile": "/run/secrets/pw"},
        "replicas": 2,
    }
    container = {
        "command": ["sh", "-c", f"run --password-value {SECRET} -v"],
        "args": ["--db-password", SECRET, f"--token={SECRET}", "--port", "80"],
        "readinessProbe": {"httpGet": {"httpHeaders": [{"name": "X-Api-Key", "value": SECRET}, {"name": "Accept", "value": "json"}]}},
        "lifecycle": {"preStop": {"httpGet": {"httpHeaders": [{"name": "Authorization", "value": SECRET}]}}},
    }
    out = redact_obj(container)
    assert SECRET not in json.dumps(out)
    assert out["args"] == ["--db-password", MASK, f"--token={MASK}", "--port", "80"]
    assert out["readinessProbe"]["httpGet"]["httpHeaders"][1] == {"name": "Accept", "value": "json"}
    assert secret_env_values({"spec": {"containers": [container]}}) == {SECRET}


# -- validation ------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["", "Web", "web_app", "-web", "web-", "a" * 254, "web app", "../etc"])
def test_check_name_rejects_invalid(bad):
    with pytest.raises(ValueError, match="invalid name"):
        check_name(bad)


def test_check_name_namespace_release_accept_valid():
    assert check_name("web-1.v2") == "web-1.v2"
    assert check_namespace("todo") == "todo"
    assert check_namespace(None) is None
    assert check_release("todo-chatbot") == "todo-chatbot"
    with pytest.raises(ValueError):
        check_namespace("a.b")
    with pytest.raises(ValueError):
        check_release("x" * 54)


# -- policy ----------------------------------------------------------------------------------
def test_policy_allowlist_and_replicas(monkeypatch):
    settings = load_settings(namespace="todo", namespaces="todo,staging", max_replicas=5)
    policy = Policy(settings)
    assert policy.namespace(None) == "todo"
    assert policy.namespace("staging") == "staging"
    with pytest.raises(PolicyError, match="outside this server's allowlist"):
        policy.namespace("kube-system")
    assert policy.scope(None, True) == ["todo", "staging"]
    assert policy.replicas(0) == 0 and policy.replicas(5) == 5
    for bad in (-1, 6, 10_000):
        with pytest.raises(PolicyError, match=r"0\.\.5"):
            policy.replicas(bad)
    assert Policy(load_settings(namespace="x")).scope(None, True) == [None]


def test_settings_precedence_flags_env_file(tmp_path, monkeypatch):
    cfg = tmp_path / "ops.yaml"
    cfg.write_text("namespace: from-file\nmax-replicas: 7\nnamespaces: [from-file, from-env]\n")
    monkeypatch.setenv("OPS_MCP_NAMESPACE", "from-env")
    s = load_settings(config_file=str(cfg))
    assert s.namespace == "from-env" and s.max_replicas == 7 and s.namespaces == ["from-file", "from-env"]
    s = load_settings(config_file=str(cfg), namespace="from-file", max_replicas=3)
    assert s.namespace == "from-file" and s.max_replicas == 3
    with pytest.raises(ValueError, match="outside the allowlist"):
        load_settings(config_file=str(cfg), namespace="other")
    with pytest.raises(ValueError, match="does not exist"):
        load_settings(config_file=str(tmp_path / "missing.yaml"))


# -- shaping ---------------------------------------------------------------------------------
def _pod(name, *, waiting=None, ready=True, restarts=0, phase="Running"):
    cs = {"name": "app", "ready": ready, "restartCount": restarts, "state": {"waiting": {"reason": waiting}} if waiting else {"running": {}}}
    return {
        "metadata": {"name": name, "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": [{"x": 1}]},
        "spec": {"nodeName": "n1", "containers": [{"name": "app"}]},
        "status": {"phase": phase, "containerStatuses": [cs], "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


# A Table as kube-apiserver v1.34 prints pods (includeObject=None); the values are kubectl's.
POD_TABLE = {
    "kind": "Table",
    "apiVersion": "meta.k8s.io/v1",
    "metadata": {"resourceVersion": "42"},
    "columnDefinitions": [
        {"name": n, "type": "string", "priority": p}
        for n, p in [("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0), ("IP", 1), ("Node", 1), ("Nominated Node", 1)]
    ],
    "rows": [
        {"cells": ["web-1", "1/1", "Running", "0", "2d4h", "10.0.0.5", "kwok-node-0", "<none>"]},
        {"cells": ["web-2", "0/1", "CrashLoopBackOff", "7 (61s ago)", "5m", "10.0.0.6", "kwok-node-1", "<none>"]},
        {"cells": ["web-3", "0/2", "Running", "0", "5m", "", "kwok-node-1", "<none>"]},
        {"cells": ["job-x", "0/1", "Completed", "0", "1h", "<none>", "kwok-node-0", "<none>"]},
        {"cells": ["pend", "0/1", "Pending", "0", "3s", "<none>", "<none>", "<none>"]},
    ],
}


def test_table_rows_keep_default_columns_plus_node_and_drop_empty_cells():
    rows = shaping.table_rows(POD_TABLE, "Pod")
    assert rows[0] == {"name": "web-1", "ready": "1/1", "status": "Running", "restarts": "0", "age": "2d4h", "node": "kwok-node-0"}
    assert rows[4] == {"name": "pend", "ready": "0/1", "status": "Pending", "restarts": "0", "age": "3s"}
    assert shaping.table_rows(POD_TABLE, "Pod", namespace="shop")[0]["namespace"] == "shop"
    # Cluster-wide rows carry their object's metadata; other kinds get no wide columns.
    wide = {**POD_TABLE, "rows": [{**POD_TABLE["rows"][0], "object": {"metadata": {"name": "web-1", "namespace": "a"}}}]}
    assert list(shaping.table_rows(wide, "Pod")[0])[:2] == ["name", "namespace"]
    assert "node" not in shaping.table_rows(POD_TABLE, "Deployment")[0]
    assert [shaping.column_key(c) for c in ("Cluster-IP", "Port(s)", "Last Seen", "Up-to-date")] == ["cluster_ip", "ports", "last_seen", "up_to_date"]


def test_pod_row_problems_follow_kubectl_status():
    problems = {r["name"]: shaping.pod_row_problem(r) for r in shaping.table_rows(POD_TABLE, "Pod")}
    assert problems == {"web-1": None, "web-2": "CrashLoopBackOff", "web-3": "NotReady", "job-x": None, "pend": "Pending"}
    assert shaping.leading_int("7 (61s ago)") == 7 and shaping.leading_int("") == 0


TRICKY_STRINGS = [
    "",
    " ",
    "yes",
    "No",
    "on",
    "OFF",
    "true",
    "False",
    "null",
    "Null",
    "~",
    "1",
    "-1",
    "1.5",
    ".5",
    "1e3",
    "0x1F",
    "0o17",
    "010",
    "1_000",
    "12:30",
    "2026-01-01",
    "2026-11-25T22:32:44Z",
    ".inf",
    ".NaN",
    "=",
    "<<",
    "*ref",
    "&anchor",
    "!tag",
    "%x",
    "@at",
    "`tick",
    "'single'",
    '"double"',
    "a: b",
    "a:b",
    "a #b",
    "#comment",
    "- item",
    "-",
    "?",
    ": x",
    "x:",
    "[1]",
    "{a: 1}",
    "trailing ",
    " leading",
    "two  spaces",
    "line\nbreak",
    "tab\there",
    "caf\u00e9",
    "nel\x85x",
    "\u2028sep",
    "back\\slash",
    "Back-off restarting failed container",
    "registry.local/todo/backend:1.4.2",
    "app.kubernetes.io/name",
    "10m",
    "256Mi",
    "--port=9090",
    "http://x:80/",
    "a,b",
    "f(x)",
]


def test_to_yaml_reads_back_exactly():
    obj = {
        "strings": TRICKY_STRINGS,
        "as_keys": {s: s for s in TRICKY_STRINGS},
        "numbers": [0, -3, 2.5, 1e21, 1.5e-07, -0.0, float("inf"), True, False, None],
        "empty": {"map": {}, "list": [], "str": ""},
        "nested": [[1, [2, {"a": [{"b": None}]}]], {"x": {"y": {"z": []}}}, []],
        "pod": _pod("web-1"),
    }
    text = shaping.to_yaml(obj)
    assert yaml.safe_load(text) == obj
    assert "image: registry.local/todo/backend:1.4.2" in shaping.to_yaml({"image": "registry.local/todo/backend:1.4.2"})
    assert shaping.to_yaml({"v": "yes", "n": "1"}) == 'v: "yes"\nn: "1"\n'  # strings stay strings
    for top in ("scalar", 3, None, [], {}):
        assert yaml.safe_load(shaping.to_yaml(top)) == top


def test_discovered_kinds_take_the_preferred_version_and_every_kubectl_name():
    doc = {
        "kind": "APIGroupDiscoveryList",
        "items": [
            {
                "metadata": {"name": "example.com"},
                "versions": [
                    {
                        "version": "v2",
                        "resources": [
                            {
                                "resource": "widgets",
                                "responseKind": {"group": "example.com", "version": "v2", "kind": "Widget"},
                                "scope": "Namespaced",
                                "singularResource": "widget",
                                "shortNames": ["wdg"],
                                "verbs": ["get", "list"],
                            },
                            {"resource": "gadgets", "responseKind": {"kind": "Gadget"}, "scope": "Cluster", "verbs": ["get", "list"]},
                            {"resource": "tokenreviews", "responseKind": {"kind": "TokenReview"}, "scope": "Cluster", "verbs": ["create"]},
                        ],
                    },
                    {"version": "v1", "resources": [{"resource": "widgets", "responseKind": {"kind": "Widget"}, "scope": "Namespaced", "verbs": ["list"]}]},
                ],
            }
        ],
    }
    kinds = discovered_kinds(doc)
    widget = kinds["widgets"]
    assert widget.path("ns", "w1") == "/apis/example.com/v2/namespaces/ns/widgets/w1" and widget.resource == "widgets.example.com"
    assert all(kinds[a] is widget for a in ("widget", "wdg", "widgets.example.com"))
    assert kinds["gadget"].namespaced is False and "tokenreviews" not in kinds  # not listable
    assert resolve_kind("Widget", kinds) is widget and resolve_kind("deploy", kinds).kind == "Deployment"
    with pytest.raises(OpsError, match="Did you mean Widget"):
        resolve_kind("widgte", kinds)


def test_compact_object_drops_noise_and_clips():
    obj = _pod("web-1")
    obj["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{...}", "team": "a"}
    obj["metadata"]["uid"] = "u"
    obj["spec"]["big"] = "x" * 5000
    obj["spec"]["empty"] = {}
    out = shaping.compact_object(obj)
    assert "managedFields" not in out["metadata"] and "uid" not in out["metadata"]
    assert out["metadata"]["annotations"] == {"team": "a"}
    assert "empty" not in out["spec"]
    assert len(out["spec"]["big"]) < 2100


def test_compact_object_leaves_out_kubernetes_defaults_and_keeps_what_was_set():
    probe = {
        "httpGet": {"path": "/healthz", "port": 8000, "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 2,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    container = {
        "name": "app",
        "image": "todo/api:1.4",
        "imagePullPolicy": "IfNotPresent",
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "ports": [{"containerPort": 8000, "protocol": "TCP"}],
        "readinessProbe": probe,
        "resources": {"requests": {"cpu": "10m"}},
    }
    latest = {"name": "side", "image": "proxy", "imagePullPolicy": "IfNotPresent", "terminationMessagePolicy": "FallbackToLogsOnError"}
    pod = {
        "kind": "Pod",
        "metadata": {
            "name": "api-7d9c-x1",
            "generateName": "api-7d9c-",
            "ownerReferences": [{"kind": "ReplicaSet", "name": "api-7d9c", "uid": "u", "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": {
            "containers": [container, latest],
            "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler",
            "serviceAccountName": "api",
            "serviceAccount": "api",
            "priority": 0,
            "enableServiceLinks": True,
            "terminationGracePeriodSeconds": 5,
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "dedicated", "operator": "Equal", "value": "api", "effect": "NoSchedule"},
            ],
        },
        "status": {
            "podIP": "10.0.0.5",
            "podIPs": [{"ip": "10.0.0.5"}],
            "observedGeneration": 1,
            "containerStatuses": [
                {
                    "name": "app",
                    "containerID": "containerd://abc",
                    "restartCount": 2,
                    "resources": {"requests": {"cpu": "10m"}},
                    "allocatedResources": {"cpu": "10m"},
                    "lastState": {"terminated": {"exitCode": 3, "containerID": "containerd://def"}},
                }
            ],
        },
    }
    out = shaping.compact_object(pod)
    app, side = out["spec"]["containers"]
    # the defaults are gone
    assert set(out["spec"]) == {"containers", "serviceAccountName", "terminationGracePeriodSeconds", "tolerations"}, out["spec"]
    assert out["spec"]["tolerations"] == [{"key": "dedicated", "operator": "Equal", "value": "api", "effect": "NoSchedule"}]
    assert set(app) == {"name", "image", "ports", "readinessProbe", "resources"} and app["ports"] == [{"containerPort": 8000}]
    assert app["readinessProbe"] == {"httpGet": {"path": "/healthz", "port": 8000}, "periodSeconds": 2}
    assert "generateName" not in out["metadata"] and out["metadata"]["ownerReferences"] == [{"kind": "ReplicaSet", "name": "api-7d9c", "controller": True}]
    assert out["status"] == {"podIP": "10.0.0.5", "containerStatuses": [{"name": "app", "restartCount": 2, "lastState": {"terminated": {"exitCode": 3}}}]}
    # what differs from the default stays: an untagged image pulls Always by default, so IfNotPresent is news
    assert side["imagePullPolicy"] == "IfNotPresent" and side["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert pod["spec"]["restartPolicy"] == "Always"  # the caller's object is not changed


def test_aggregate_events_groups_and_sorts():
    def ev(reason, msg, t, count=1, typ="Warning"):
        return {"type": typ, "reason": reason, "message": msg, "count": count, "lastTimestamp": t, "involvedObject": {"kind": "Pod", "name": "web-1"}}

    rows = shaping.aggregate_events(
        [
            ev("BackOff", "Back-off restarting", "2026-01-01T00:00:00Z", 3),
            ev("BackOff", "Back-off restarting", "2026-01-01T00:05:00Z", 2),
            ev("Failed", "Error: bad", "2026-01-01T00:01:00Z"),
        ],
        ref=datetime(2026, 1, 1, 0, 10, tzinfo=UTC),
    )
    assert [(r["reason"], r["count"]) for r in rows] == [("BackOff", 5), ("Failed", 1)]
    assert rows[0]["last_seen"] == "300s ago" or rows[0]["last_seen"] == "5m ago"


def test_age_formats():
    ref = datetime(2026, 1, 10, tzinfo=UTC)
    iso = lambda d: (ref - d).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    assert shaping.age(iso(timedelta(seconds=30)), ref) == "30s"
    assert shaping.age(iso(timedelta(minutes=30)), ref) == "30m"
    assert shaping.age(iso(timedelta(days=3)), ref) == "3d"
    assert shaping.age(None, ref) == "?"


def test_table_and_grep():
    assert shaping.table([{"name": "a", "ready": "1/1"}, {"name": "bbb", "ready": "0/1"}]) == "NAME  READY\na     1/1\nbbb   0/1"
    lines = [f"line {i}" for i in range(10)] + ["ERROR boom"] + [f"tail {i}" for i in range(5)]
    import regex

    assert grep_lines(lines, regex.compile("ERROR"), 1) == ["line 9", "ERROR boom", "tail 0"]
    assert grep_lines(["a err", "b", "c", "d", "e err"], regex.compile("err"), 0) == ["a err", "--", "e err"]


def test_grep_stops_a_catastrophic_pattern_at_its_deadline():
    import time

    import regex

    # Unbounded, this search walks ~2^40 paths; the deadline ends it with TimeoutError.
    with pytest.raises(TimeoutError):
        grep_lines(["ok line", "a" * 40 + "!"], regex.compile("(a|aa)+$"), 0, deadline=time.monotonic() + 0.3)


def test_rollout_status_logic():
    dep = {
        "metadata": {"name": "web", "namespace": "ns", "generation": 2},
        "spec": {"replicas": 3},
        "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3},
    }
    assert rollout_of("Deployment", dep).complete
    dep["status"].update(updatedReplicas=1)
    r = rollout_of("Deployment", dep)
    assert not r.complete and r.message == "1 of 3 updated replicas"
    dep["status"]["observedGeneration"] = 1
    assert "observe" in rollout_of("Deployment", dep).message
    ds = {
        "metadata": {"name": "agent", "generation": 2},
        "spec": {},
        "status": {"observedGeneration": 2, "desiredNumberScheduled": 3, "updatedNumberScheduled": 2, "numberReady": 3, "numberAvailable": 3},
    }
    r = rollout_of("DaemonSet", ds)
    assert not r.complete and r.message == "2 of 3 updated pods scheduled" and r.desired == 3
    ds["status"]["updatedNumberScheduled"] = 3
    assert rollout_of("DaemonSet", ds).complete


def test_diff_manifests():
    old = "kind: Service\nmetadata: {name: web}\nspec: {port: 80}\n---\nkind: ConfigMap\nmetadata: {name: old}\n"
    new = "kind: Service\nmetadata: {name: web}\nspec: {port: 8080}\n---\nkind: Deployment\nmetadata: {name: web}\n"
    ch = diff_manifests(old, new)
    assert ch.added == ["Deployment/web"] and ch.changed == ["Service/web"] and ch.removed == ["ConfigMap/old"] and ch.unchanged == 0


def test_slim_schema_drops_titles_and_null_unions():
    schema = {
        "title": "X",
        "type": "object",
        "properties": {
            "title": {"type": "string", "title": "Title"},
            "ns": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None, "title": "Ns", "description": "d"},
        },
    }
    assert slim_schema(schema) == {"type": "object", "properties": {"title": {"type": "string"}, "ns": {"type": "string", "description": "d"}}}


def test_opserror_message_has_next_step_and_is_scrubbed():
    err = OpsError(f"failed with password={SECRET}", "retry")
    assert SECRET not in str(err) and str(err).endswith("Next step: retry")


# -- helm errors and chart sources -------------------------------------------------------------
# stderr exactly as helm v4.1.4 prints it.
@pytest.mark.parametrize(
    ("stderr", "kind", "says"),
    [
        (
            'Error: looks like "http://127.0.0.1:1" is not a valid chart repository or cannot be reached: Get "http://127.0.0.1:1/index.yaml": '
            "dial tcp 127.0.0.1:1: connect: connection refused",
            Unreachable,
            "chart repository could not be read",
        ),
        ('Error: chart "demo" version "9.9.9" not found in http://127.0.0.1:18765 repository', NotFound, "versions the repository offers"),
        ('Error: chart "release-tools" not found in https://charts.example.com repository', NotFound, "versions the repository offers"),
        ('Error: Get "https://127.0.0.1:1/v2/charts/demo/tags/list": dial tcp 127.0.0.1:1: connect: connection refused', Unreachable, "OCI registry"),
        ('Error: failed to perform "FetchReference" on source: 127.0.0.1:18766/charts/demo:9.9.9: not found', NotFound, "no such chart or version"),
        (
            'Error: GET "http://127.0.0.1:18766/v2/charts/nope/tags/list": response status code 404: name unknown: Unknown name',
            NotFound,
            "no such chart or version",
        ),
        ('Error: Get "https://127.0.0.1:18766/v2/charts/demo/tags/list": http: server gave HTTP response to HTTPS client', Unreachable, "OCI registry"),
        ("Error: uninstall: Release not loaded: nope: release: not found", NotFound, "list_releases"),
        ("Error: release: not found", NotFound, "list_releases"),
        (
            'Error: Kubernetes cluster unreachable: Get "https://127.0.0.1:6443/version": dial tcp 127.0.0.1:6443: connect: connection refused',
            Unreachable,
            "Kubernetes cluster is unreachable",
        ),
    ],
)
def test_helm_errors_name_their_real_cause(stderr, kind, says):
    error = translate_helm_error("upgrade", stderr)
    assert type(error) is kind and says in str(error), str(error)


@pytest.mark.parametrize(
    "url", ["https://charts.example.com", "oci://ghcr.io/org/charts/app", "http://127.0.0.1:8879", "http://localhost:8080/charts", "http://[::1]:80"]
)
def test_chart_sources_accepted(url):
    check_chart_source(url, "repo")


@pytest.mark.parametrize("url", ["http://charts.example.com", "http://10.0.0.5:8080", "file:///etc/charts", "ftp://x/y", "https://"])
def test_chart_sources_refused_without_tls_off_loopback(url):
    with pytest.raises(OpsError, match="only https:// and oci://"):
        check_chart_source(url, "repo")


def test_fold_repeats_keeps_each_messages_first_two_and_last_lines_in_place():
    from ops_mcp.shaping import fold_repeats

    # three occurrences: below the fold threshold, nothing goes
    few = ["retry 1 failed", "retry 2 failed", "retry 3 failed"]
    assert fold_repeats(few) == (few, 0)
    # interleaved messages (timestamps, counters and pod hashes differ) fold together; a unique line breaks the run
    lines = [f"12:00:{i:02d} GET /healthz 200 from web-7d9c8b6f5-{i:x}bcd1" for i in range(6)]
    lines[3:3] = ["12:00:03 scaled to 2 replicas"]
    lines += [f"12:01:{i:02d} connection refused (attempt {i})" for i in range(5)] + ["--", "--", "--", "--", "fatal: giving up"]
    out, folded = fold_repeats(lines)
    assert out == [
        lines[0],
        lines[1],
        lines[2],  # a run of one line stays: its marker would cost as much
        "12:00:03 scaled to 2 replicas",
        "[... 2 repeated lines folded]",
        lines[6],
        "12:01:00 connection refused (attempt 0)",
        "12:01:01 connection refused (attempt 1)",
        "[... 2 repeated lines folded]",
        "12:01:04 connection refused (attempt 4)",
        "--",
        "--",
        "--",
        "--",
        "fatal: giving up",
    ]
    assert folded == 4 and len(out) + folded - 2 == len(lines)
    # request ids (UUIDs, whose letters differ too) do not make each line a message of its own
    import uuid

    requests = [f"request {uuid.uuid4()} served" for _ in range(10)]
    assert fold_repeats(requests) == ([*requests[:2], "[... 7 repeated lines folded]", requests[-1]], 7)
