"""Pure unit tests: redaction, shaping, validation, policy, settings, schema slimming."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from ops_mcp import shaping
from ops_mcp.errors import OpsError, PolicyError
from ops_mcp.params import check_name, check_namespace, check_release
from ops_mcp.policy import Policy
from ops_mcp.redact import MASK, redact_obj, redact_text
from ops_mcp.server import slim_schema
from ops_mcp.settings import load_settings
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

    pod = {"spec": {"containers": [{"env": [
        {"name": "DATABASE_PASSWORD", "value": SECRET},
        {"name": "DATABASE_URL", "value": f"postgresql://app:{SECRET}@db/todo"},
        {"name": "LOG_LEVEL", "value": "info"},
        {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
    ]}]}}
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


def test_pod_rows_and_states():
    ref = datetime(2026, 1, 3, 4, 0, tzinfo=timezone.utc)
    row = shaping.row("Pod", _pod("web-1"), ref)
    assert row == {"name": "web-1", "namespace": "ns", "ready": "1/1", "status": "Running", "restarts": 0, "node": "n1", "age": "2d4h"}
    crash = _pod("web-2", waiting="CrashLoopBackOff", ready=False, restarts=7)
    assert shaping.pod_state(crash) == ("CrashLoopBackOff", "CrashLoopBackOff")
    assert shaping.pod_restarts(crash) == 7
    pending = {"metadata": {"name": "p"}, "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}}
    assert shaping.pod_state(pending) == ("Pending", "Unschedulable")


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


def test_aggregate_events_groups_and_sorts():
    def ev(reason, msg, t, count=1, typ="Warning"):
        return {"type": typ, "reason": reason, "message": msg, "count": count, "lastTimestamp": t, "involvedObject": {"kind": "Pod", "name": "web-1"}}

    rows = shaping.aggregate_events([
        ev("BackOff", "Back-off restarting", "2026-01-01T00:00:00Z", 3),
        ev("BackOff", "Back-off restarting", "2026-01-01T00:05:00Z", 2),
        ev("Failed", "Error: bad", "2026-01-01T00:01:00Z"),
    ], ref=datetime(2026, 1, 1, 0, 10, tzinfo=timezone.utc))
    assert [(r["reason"], r["count"]) for r in rows] == [("BackOff", 5), ("Failed", 1)]
    assert rows[0]["last_seen"] == "300s ago" or rows[0]["last_seen"] == "5m ago"


def test_age_formats():
    ref = datetime(2026, 1, 10, tzinfo=timezone.utc)
    iso = lambda d: (ref - d).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    assert shaping.age(iso(timedelta(seconds=30)), ref) == "30s"
    assert shaping.age(iso(timedelta(minutes=30)), ref) == "30m"
    assert shaping.age(iso(timedelta(days=3)), ref) == "3d"
    assert shaping.age(None, ref) == "?"


def test_table_and_grep():
    assert shaping.table([{"name": "a", "ready": "1/1"}, {"name": "bbb", "ready": "0/1"}]) == "NAME  READY\na     1/1\nbbb   0/1"
    lines = [f"line {i}" for i in range(10)] + ["ERROR boom"] + [f"tail {i}" for i in range(5)]
    import re

    assert grep_lines(lines, re.compile("ERROR"), 1) == ["line 9", "ERROR boom", "tail 0"]
    assert grep_lines(["a err", "b", "c", "d", "e err"], re.compile("err"), 0) == ["a err", "--", "e err"]


def test_rollout_status_logic():
    dep = {"metadata": {"name": "web", "namespace": "ns", "generation": 2}, "spec": {"replicas": 3},
           "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3}}
    assert rollout_of("Deployment", dep).complete
    dep["status"].update(updatedReplicas=1)
    r = rollout_of("Deployment", dep)
    assert not r.complete and r.message == "1 of 3 updated replicas"
    dep["status"]["observedGeneration"] = 1
    assert "observe" in rollout_of("Deployment", dep).message


def test_diff_manifests():
    old = "kind: Service\nmetadata: {name: web}\nspec: {port: 80}\n---\nkind: ConfigMap\nmetadata: {name: old}\n"
    new = "kind: Service\nmetadata: {name: web}\nspec: {port: 8080}\n---\nkind: Deployment\nmetadata: {name: web}\n"
    ch = diff_manifests(old, new)
    assert ch.added == ["Deployment/web"] and ch.changed == ["Service/web"] and ch.removed == ["ConfigMap/old"] and ch.unchanged == 0


def test_slim_schema_drops_titles_and_null_unions():
    schema = {"title": "X", "type": "object", "properties": {"title": {"type": "string", "title": "Title"},
              "ns": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None, "title": "Ns", "description": "d"}}}
    assert slim_schema(schema) == {"type": "object", "properties": {"title": {"type": "string"}, "ns": {"type": "string", "description": "d"}}}


def test_opserror_message_has_next_step_and_is_scrubbed():
    err = OpsError(f"failed with password={SECRET}", "retry")
    assert SECRET not in str(err) and str(err).endswith("Next step: retry")
