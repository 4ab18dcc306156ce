"""Pure unit tests of the change tools' parts: the field diff, Secret digests, manifest parsing, argument views."""

from __future__ import annotations

import copy
import json

import pytest

from ops_mcp.cluster import _scrub
from ops_mcp.diff import diff_text, object_diff
from ops_mcp.errors import OpsError
from ops_mcp.redact import MASK, redact_obj, secret_values
from ops_mcp.tools.changes import apply_view, helm_note, parse_manifest, patch_view

CANARY = "Canary-Value-8841"


def deployment() -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "resourceVersion": "7", "generation": 2, "managedFields": [{"manager": "kubectl"}], "labels": {"app": "web"}},
        "spec": {
            "replicas": 1,
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "app:1",
                            "args": ["--port", "80"],
                            "env": [{"name": "MODE", "value": "a"}, {"name": "DB_PASSWORD", "value": "old-pw-1"}],
                        },
                        {"name": "side", "image": "side:1"},
                    ]
                }
            },
        },
        "status": {"readyReplicas": 1},
    }


def test_diff_paths_key_named_items_by_name_and_ignore_server_fields():
    before, after = deployment(), deployment()
    c = after["spec"]["template"]["spec"]["containers"]
    c.reverse()  # order of named items does not matter
    c[1]["image"] = "app:2"
    c[1]["args"] = ["--port", "8080"]
    after["metadata"].update(resourceVersion="8", generation=3, managedFields=[])
    after["status"] = {"readyReplicas": 0}
    after["metadata"]["labels"]["app.kubernetes.io/version"] = "2"
    assert object_diff(before, after) == [
        {"p": "metadata.labels[app.kubernetes.io/version]", "was": None, "now": "2"},
        {"p": "spec.template.spec.containers[app].image", "was": "app:1", "now": "app:2"},
        {"p": "spec.template.spec.containers[app].args", "was": ["--port", "80"], "now": ["--port", "8080"]},
    ]
    assert object_diff(before, copy.deepcopy(before)) == []


def test_diff_adds_and_removes_subtrees_as_one_entry():
    before, after = deployment(), deployment()
    containers = after["spec"]["template"]["spec"]["containers"]
    containers.pop()
    containers.append({"name": "new", "image": "new:1"})
    assert object_diff(before, after) == [
        {"p": "spec.template.spec.containers[side]", "was": {"name": "side", "image": "side:1"}, "now": None},
        {"p": "spec.template.spec.containers[new]", "was": None, "now": {"name": "new", "image": "new:1"}},
    ]
    assert "containers[new]: (none) -> {" in diff_text(object_diff(before, after))


def test_diff_reports_a_changed_credential_without_its_value():
    before, after = deployment(), deployment()
    after["spec"]["template"]["spec"]["containers"][0]["env"][1]["value"] = CANARY
    diff = object_diff(before, after)
    assert diff == [{"p": "spec.template.spec.containers[app].env[DB_PASSWORD].value", "was": MASK, "now": MASK}]
    assert "old-pw-1" not in json.dumps(diff) and CANARY not in json.dumps(diff)


def test_secret_digests_tell_which_keys_changed_never_the_values():
    def secret(data: dict) -> dict:
        return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": data}

    live = _scrub(secret({"a": "b2xk", "same": "eA=="}), digests=True)
    new = _scrub(secret({"a": "bmV3", "same": "eA==", "added": "eQ=="}), digests=True)
    assert "b2xk" not in json.dumps(live) and "bmV3" not in json.dumps(new)
    assert live["data"]["same"] == new["data"]["same"] and live["data"]["a"] != new["data"]["a"]
    assert object_diff(live, new) == [{"p": "data.a", "was": MASK, "now": MASK}, {"p": "data.added", "was": None, "now": MASK}]
    assert _scrub(secret({"a": "b2xk"}))["data"] == {"a": MASK}  # without digests: masked as always


def test_diff_is_capped():
    before = {"data": {f"k{i}": "a" for i in range(60)}}
    after = {"data": {f"k{i}": "b" for i in range(60)}}
    diff = object_diff(before, after)
    assert len(diff) == 41 and diff[-1]["p"] == "(+20 more changes)"


def test_parse_manifest_documents_lists_and_errors():
    objs = parse_manifest(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: b}}\n"
    )
    assert [o["metadata"]["name"] for o in objs] == ["a", "b"]
    with pytest.raises(OpsError) as exc:
        parse_manifest(f"apiVersion: v1\nkind: Secret\nstringData:\n  k: {CANARY}\n\tbad: [")
    assert "not valid YAML at line" in str(exc.value) and CANARY not in str(exc.value)
    for bad, expected in [
        ("", "no object"),
        ("- 1", "not a Kubernetes object"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: x-}", "no metadata.name"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}", "invalid name"),
    ]:
        with pytest.raises(OpsError, match=expected):
            parse_manifest(bad)


def test_views_let_redaction_find_secret_values_in_any_spelling():
    text = f"apiVersion: v1\nkind: secret\nmetadata: {{name: s}}\nstringData:\n  conf: {CANARY}\n"
    for args in (
        {"manifest": text},
        {"manifest": [{"apiVersion": "v1", "kind": "Secrets", "metadata": {"name": "s"}, "data": {"conf": CANARY}}]},
    ):
        view = apply_view(args)
        assert CANARY not in json.dumps(redact_obj(view)) and CANARY in secret_values(view)
    for patch in ({"stringData": {"conf": CANARY}}, [{"op": "add", "path": "/stringData/conf", "value": CANARY}]):
        view = patch_view({"kind": "Secret", "name": "s", "patch": patch})
        assert CANARY not in json.dumps(redact_obj(view)) and CANARY in secret_values(view)
    plain = {"kind": "configmap", "name": "c", "patch": {"data": {"conf": "visible"}}}
    assert patch_view(plain) == plain
    by_index = [
        {"op": "replace", "path": "/spec/template/spec/containers/0/env/1/value", "value": CANARY},
        {"op": "replace", "path": "/spec/replicas", "value": 2},
    ]
    view = patch_view({"kind": "deployment", "name": "d", "patch": by_index, "patch_type": "json"})
    assert [op["value"] for op in view["patch"]] == [MASK, 2]


def test_helm_note_names_the_release():
    managed = {"metadata": {"labels": {"app.kubernetes.io/managed-by": "Helm"}, "annotations": {"meta.helm.sh/release-name": "shop"}}}
    note = helm_note([("configmap/x", {"metadata": {}}), ("deployment/web", managed)])
    assert "deployment/web belongs to release 'shop'" in note and "deploy_chart" in note
    assert helm_note([("configmap/x", {"metadata": {}}), ("service/y", None)]) is None
