"""patch_resource, apply_manifest and delete_resource over MCP on the real control plane: the dry run's diff changes
nothing, applies and waits, the three patch types, refusals (bad patch, allowlist, cluster scope, Secrets,
confirmation), all-or-nothing manifests, Helm-managed objects, grace periods, audit records."""

from __future__ import annotations

import json

import pytest
import yaml
from mcp_types import ElicitResult
from ops_helpers import CHARTS, call, deployment, err, ok, ops_env, stdio_client, text_of, wait_ready

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]


def audit_records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def jsonpath(cluster, namespace, obj, path) -> str:
    return cluster.kubectl("get", obj, "-n", namespace, "-o", f"jsonpath={path}").stdout


def exists(cluster, namespace, obj) -> bool:
    return cluster.kubectl("get", obj, "-n", namespace, check=False).returncode == 0


async def test_patch_dry_run_diff_apply_wait_and_patch_types(cluster, namespace, audit_log):
    cluster.apply(deployment("web", 2), namespace)
    wait_ready(cluster, namespace, "web", 2)
    version = jsonpath(cluster, namespace, "deploy/web", "{.metadata.resourceVersion}")
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(p, total, message):
        progress.append((p, total, message))

    image = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "registry.local/app:2"}]}}}}
    async with stdio_client(ops_env(cluster, namespace, audit_log, OPS_MCP_NAMESPACES=namespace)) as c:
        dry = ok(await call(c, "patch_resource", {"kind": "Deployment", "name": "web", "patch": image, "dry_run": True}))
        assert dry["applied"] is False and dry["dry_run"] is True
        assert dry["changes"] == [
            {
                "obj": "deployment/web",
                "action": "patched",
                "diff": [{"p": "spec.template.spec.containers[app].image", "was": "registry.local/app:1", "now": "registry.local/app:2"}],
            }
        ]
        assert jsonpath(cluster, namespace, "deploy/web", "{.metadata.resourceVersion}") == version  # nothing written

        done = await call(
            c,
            "patch_resource",
            {"kind": "deploy", "name": "web", "patch": image, "wait": True, "timeout_seconds": 90, "confirm": True},
            progress_callback=on_progress,
        )
        applied = ok(done)
        assert applied["applied"] is True and applied["changes"][0]["diff"] == dry["changes"][0]["diff"]
        assert applied["rollout"]["complete"] and applied["rollout"]["ready"] == 2, applied
        assert "containers[app].image: registry.local/app:1 -> registry.local/app:2" in text_of(done)
        assert progress and progress[-1][:2] == (2, 2) and "deployment/web" in progress[-1][2]
        assert jsonpath(cluster, namespace, "deploy/web", "{.spec.template.spec.containers[0].image}") == "registry.local/app:2"
        managers = jsonpath(cluster, namespace, "deploy/web", "{.metadata.managedFields[*].manager}")
        assert "ops-mcp" in managers.split()

        merge = ok(
            await call(
                c, "patch_resource", {"kind": "deployments.apps", "name": "web", "patch": {"metadata": {"labels": {"tier": "web"}}}, "patch_type": "merge"}
            )
        )
        assert merge["changes"][0]["diff"] == [{"p": "metadata.labels.tier", "was": None, "now": "web"}]
        ops = [{"op": "replace", "path": "/spec/replicas", "value": 3}]
        jp = ok(await call(c, "patch_resource", {"kind": "deployment", "name": "web", "patch": ops, "patch_type": "json"}))
        assert jp["changes"][0]["diff"] == [{"p": "spec.replicas", "was": 2, "now": 3}]
        same = ok(await call(c, "patch_resource", {"kind": "deployment", "name": "web", "patch": ops, "patch_type": "json"}))
        assert same["applied"] is False and same["changes"] == [{"obj": "deployment/web", "action": "unchanged", "diff": []}]

        # Refused: by the API server's dry run (nothing written), by shape, by the allowlist, by scope. The spec's
        # generation tells (the resourceVersion also moves when KWOK reports the third pod Ready).
        version = jsonpath(cluster, namespace, "deploy/web", "{.metadata.generation}")
        msg = err(await call(c, "patch_resource", {"kind": "deployment", "name": "web", "patch": {"spec": {"replicas": -4}}}))
        assert "deployment/web: refused by the API server's dry run, so nothing changed" in msg and "spec.replicas" in msg
        msg = err(
            await call(c, "patch_resource", {"kind": "deployment", "name": "web", "patch": [{"op": "remove", "path": "/spec/nope"}], "patch_type": "json"})
        )
        assert "nothing changed" in msg
        msg = err(await call(c, "patch_resource", {"kind": "deployment", "name": "web", "patch": {"spec": {"selector": {"matchLabels": {"app": "other"}}}}}))
        assert "immutable" in msg and "apply_manifest the full manifest with replace=true" in msg
        assert "takes a list of JSON-patch operations" in err(
            await call(c, "patch_resource", {"kind": "deployment", "name": "web", "patch": {"a": 1}, "patch_type": "json"})
        )
        assert jsonpath(cluster, namespace, "deploy/web", "{.metadata.generation}") == version
        msg = err(await call(c, "patch_resource", {"kind": "configmap", "name": "x", "namespace": "default", "patch": {"data": {"a": "b"}}}))
        assert "outside this server's allowlist" in msg
        assert "cluster-scoped" in err(await call(c, "patch_resource", {"kind": "node", "name": "kwok-node-0", "patch": {"metadata": {"labels": {"x": "y"}}}}))
        assert "'web'" in err(await call(c, "patch_resource", {"kind": "deployment", "name": "wbe", "patch": image}))
        # a new image is risky: without the user's approval (confirm=true from this client) nothing changes
        msg = err(
            await call(
                c,
                "patch_resource",
                {
                    "kind": "deployment",
                    "name": "web",
                    "patch": {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "registry.local/app:3"}]}}}},
                },
            )
        )
        assert "changes Deployment/web container app's image" in msg and "confirm=true" in msg, msg
    outcomes = [(r["tool"], r["outcome"]) for r in audit_records(audit_log)]
    assert outcomes[:5] == [
        ("patch_resource", "not_applied"),
        ("patch_resource", "applied"),
        ("patch_resource", "applied"),
        ("patch_resource", "applied"),
        ("patch_resource", "not_applied"),
    ]
    assert outcomes[5:] == [("patch_resource", "error")] * 8


async def test_patch_of_a_helm_managed_object_says_the_next_upgrade_overwrites_it(cluster, namespace, audit_log):
    cluster.helm("install", "shop", str(CHARTS / "demo"), "-n", namespace, "--wait", "--timeout", "120s")
    async with stdio_client(ops_env(cluster, namespace, audit_log)) as c:
        out = ok(await call(c, "patch_resource", {"kind": "service", "name": "shop-web", "patch": {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}}))
        assert out["applied"] and out["changes"][0]["diff"] == [{"p": "spec.ports[0].targetPort", "was": 8080, "now": 9090}]
        assert "release 'shop'" in out["note"] and "helm upgrade" in out["note"] and "deploy_chart" in out["note"]
        plain = ok(await call(c, "apply_manifest", {"manifest": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "own"}}], "confirm": True}))
        assert plain["applied"] and "note" not in plain


MANIFEST = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
data:
  mode: fast
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 2
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
        - name: app
          image: registry.local/app:1
"""


async def test_apply_manifest_dry_run_confirm_all_or_nothing_and_wait(cluster, namespace, audit_log):
    # MANIFEST's pod spec is no restricted one: an operator who enforces baseline (no privileged, host access, ...)
    env = ops_env(cluster, namespace, audit_log, OPS_MCP_NAMESPACES=namespace, OPS_MCP_POD_SECURITY="baseline")
    invalid = MANIFEST.replace("replicas: 2", "replicas: -2")
    async with stdio_client(env) as c:
        msg = err(await call(c, "apply_manifest", {"manifest": invalid, "confirm": True}))
        assert "deployment/api: refused by the API server's dry run, so nothing was applied" in msg
        assert not exists(cluster, namespace, "configmap/app-config")  # the first object, valid, was not applied either
        elsewhere = MANIFEST.replace("name: api\n", "name: api\n  namespace: default\n")
        assert "outside this server's allowlist" in err(await call(c, "apply_manifest", {"manifest": elsewhere, "dry_run": True}))
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "x"}, "rules": []}
        assert "ClusterRole is cluster-scoped" in err(await call(c, "apply_manifest", {"manifest": [role], "confirm": True}))
        assert "no kind 'Gizmo'" in err(
            await call(c, "apply_manifest", {"manifest": [{"apiVersion": "v1", "kind": "Gizmo", "metadata": {"name": "g"}}], "dry_run": True})
        )

        dry = ok(await call(c, "apply_manifest", {"manifest": MANIFEST, "dry_run": True}))
        assert dry["applied"] is False and [(x["obj"], x["action"]) for x in dry["changes"]] == [
            ("configmap/app-config", "created"),
            ("deployment/api", "created"),
        ]
        assert not exists(cluster, namespace, "deploy/api")

        done = ok(await call(c, "apply_manifest", {"manifest": MANIFEST, "confirm": True, "wait": True, "timeout_seconds": 90}))
        assert done["applied"] and done["rollout"]["complete"] and done["rollout"]["ready"] == 2, done
        assert jsonpath(cluster, namespace, "configmap/app-config", "{.data.mode}") == "fast"
        assert "ops-mcp" in jsonpath(cluster, namespace, "deploy/api", "{.metadata.managedFields[*].manager}").split()

        objects = list(yaml.safe_load_all(MANIFEST))
        objects[1]["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.local/app:2"
        objects[1]["kind"] = "deployment"  # kinds in any case
        again = ok(await call(c, "apply_manifest", {"manifest": objects, "confirm": True, "wait": True, "timeout_seconds": 90}))
        assert again["changes"] == [
            {"obj": "configmap/app-config", "action": "unchanged", "diff": []},
            {
                "obj": "deployment/api",
                "action": "configured",
                "diff": [{"p": "spec.template.spec.containers[app].image", "was": "registry.local/app:1", "now": "registry.local/app:2"}],
            },
        ]
        assert again["rollout"]["complete"]

    asked: list[str] = []

    async def decline(context, params):
        asked.append(params.message)
        return ElicitResult(action="decline")

    async with stdio_client(env, elicitation_callback=decline) as c:
        changed = MANIFEST.replace("mode: fast", "mode: slow").replace("app:1", "app:3")
        out = ok(await call(c, "apply_manifest", {"manifest": changed, "confirm": True}))  # confirm=true never skips the question
        assert out["applied"] is False and asked and "Apply configmap/app-config" in asked[0]
        assert "changes Deployment/api container app's image" in asked[0] and "registry.local/app:2 -> registry.local/app:3" in asked[0], asked[0]
    assert jsonpath(cluster, namespace, "configmap/app-config", "{.data.mode}") == "fast"
    outcomes = [(r["tool"], r["outcome"]) for r in audit_records(audit_log)]
    assert outcomes == [("apply_manifest", "error")] * 4 + [
        ("apply_manifest", "not_applied"),
        ("apply_manifest", "applied"),
        ("apply_manifest", "applied"),
        ("apply_manifest", "not_applied"),
    ]


async def test_apply_manifest_replace_recreates_what_cannot_change_in_place_with_consent(cluster, namespace, audit_log):
    """An immutable change (a Deployment's selector, a claim's storageClassName): refused in place with the way out;
    with replace=true it is dry-run created (validated, admitted, policy-checked), a person's consent asked for the
    delete, then the object is deleted and created again; a Secret is never replaced."""
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "labels": {"app": "db"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "storageClassName": "missing-class"},
    }
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token"}, "type": "Opaque", "stringData": {"k": "v"}}
    cluster.apply([deployment("web", 2), claim, secret], namespace)
    wait_ready(cluster, namespace, "web", 2)
    uid = jsonpath(cluster, namespace, "deploy/web", "{.metadata.uid}")
    moved = deployment("web", 2, labels={"app": "web", "tier": "front"})
    fixed = {**claim, "spec": {**claim["spec"], "storageClassName": "standard"}}
    env = ops_env(cluster, namespace, audit_log, OPS_MCP_NAMESPACES=namespace)
    async with stdio_client(env) as c:
        msg = err(await call(c, "apply_manifest", {"manifest": [moved], "confirm": True}))
        assert "refused by the API server's dry run, so nothing was applied" in msg and "replace=true" in msg
        dry = ok(await call(c, "apply_manifest", {"manifest": [moved, fixed], "replace": True, "dry_run": True}))
        assert [(x["obj"], x["action"]) for x in dry["changes"]] == [("deployment/web", "replaced"), ("persistentvolumeclaim/data", "replaced")]
        assert {"p": "spec.storageClassName", "was": "missing-class", "now": "standard"} in dry["changes"][1]["diff"]
        assert jsonpath(cluster, namespace, "deploy/web", "{.metadata.uid}") == uid  # a dry run deletes nothing
        invalid = {**moved, "spec": {**moved["spec"], "replicas": -1}}
        msg = err(await call(c, "apply_manifest", {"manifest": [invalid], "replace": True, "confirm": True}))
        assert "created anew it is refused too" in msg and jsonpath(cluster, namespace, "deploy/web", "{.metadata.uid}") == uid
        changed_secret = {**secret, "type": "kubernetes.io/basic-auth", "stringData": {"username": "u", "password": "p"}}
        msg = err(await call(c, "apply_manifest", {"manifest": [changed_secret], "replace": True, "confirm": True}))
        assert "does not delete Secrets" in msg and jsonpath(cluster, namespace, "secret/token", "{.type}") == "Opaque"

    asked: list[str] = []

    async def accept(context, params):
        asked.append(params.message)
        return ElicitResult(action="accept", content={"confirm": True})

    async with stdio_client(env, elicitation_callback=accept) as c:
        done = ok(await call(c, "apply_manifest", {"manifest": [moved, fixed], "replace": True, "wait": True, "timeout_seconds": 90}))
    assert asked and "deletes Deployment/web" in asked[0] and "deletes PersistentVolumeClaim/data" in asked[0], asked
    assert done["applied"] and done["rollout"]["complete"], done
    # the cluster has no StorageClass "standard": the wait stops at the volume controller's word, not at the timeout
    assert "claim data cannot bind: StorageClass standard does not exist" in done["note"], done
    assert jsonpath(cluster, namespace, "deploy/web", "{.metadata.uid}") != uid
    assert jsonpath(cluster, namespace, "deploy/web", "{.spec.selector.matchLabels.tier}") == "front"
    assert jsonpath(cluster, namespace, "pvc/data", "{.spec.storageClassName}") == "standard"
    assert "ops-mcp" in jsonpath(cluster, namespace, "deploy/web", "{.metadata.managedFields[*].manager}").split()


async def test_delete_resource_confirmation_grace_period_and_secrets_refused(cluster, namespace, audit_log):
    cluster.apply(
        [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old"}},
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "keep"}, "stringData": {"k": "v"}},
            # Bound to a node no kubelet runs: a graceful deletion would leave it terminating.
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stuck"}, "spec": {"nodeName": "ghost-node", "containers": [{"name": "a", "image": "x"}]}},
            deployment("gone", 2),
        ],
        namespace,
    )
    wait_ready(cluster, namespace, "gone", 2)
    async with stdio_client(ops_env(cluster, namespace, audit_log, OPS_MCP_NAMESPACES=namespace)) as c:
        msg = err(await call(c, "delete_resource", {"kind": "configmap", "name": "old"}))
        assert "Delete configmap/old in namespace" in msg and "needs the user's approval" in msg and "confirm=true" in msg
        assert exists(cluster, namespace, "configmap/old")
        msg = err(await call(c, "delete_resource", {"kind": "secret", "name": "keep", "confirm": True}))
        assert "does not delete Secrets" in msg and exists(cluster, namespace, "secret/keep")
        assert "outside this server's allowlist" in err(
            await call(c, "delete_resource", {"kind": "cm", "name": "x", "namespace": "kube-system", "confirm": True})
        )
        assert "cluster-scoped" in err(await call(c, "delete_resource", {"kind": "namespace", "name": namespace, "confirm": True}))
        assert "'old'" in err(await call(c, "delete_resource", {"kind": "configmap", "name": "olf", "confirm": True}))

        out = ok(await call(c, "delete_resource", {"kind": "ConfigMap", "name": "old", "confirm": True}))
        assert out == {"applied": True, "dry_run": False, "changes": [{"obj": "configmap/old", "action": "deleted", "diff": []}]}
        assert not exists(cluster, namespace, "configmap/old")
        out = ok(await call(c, "delete_resource", {"kind": "pod", "name": "stuck", "grace_period": 0, "confirm": True}))
        assert out["changes"][0]["action"] == "deleted" and "note" not in out, out  # gone at once, not left terminating
        assert not exists(cluster, namespace, "pod/stuck")
        out = ok(await call(c, "delete_resource", {"kind": "deploy", "name": "gone", "confirm": True}))
        assert not exists(cluster, namespace, "deploy/gone")
    outcomes = [(r["tool"], r["outcome"]) for r in audit_records(audit_log)]
    assert outcomes == [("delete_resource", "error")] * 5 + [("delete_resource", "applied")] * 3


async def test_custom_resources_are_applied_patched_and_deleted(cluster, namespace, audit_log):
    """KWOK's Logs (kwok.x-k8s.io) stands for any CRD: found by discovery, applied server-side, patched as a merge patch."""
    logs = {"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Logs", "metadata": {"name": "some-pod"}, "spec": {"logs": [{"logsFile": "/dev/null"}]}}
    async with stdio_client(ops_env(cluster, namespace, audit_log)) as c:
        created = ok(await call(c, "apply_manifest", {"manifest": [logs], "confirm": True}))
        assert created["changes"] == [{"obj": "logs/some-pod", "action": "created", "diff": []}]
        patched = ok(await call(c, "patch_resource", {"kind": "logs", "name": "some-pod", "patch": {"metadata": {"labels": {"a": "b"}}}}))
        assert patched["changes"][0]["diff"] == [{"p": "metadata.labels", "was": None, "now": {"a": "b"}}]  # a new subtree: one entry
        assert "sent as a JSON merge patch" in patched["note"]
        assert jsonpath(cluster, namespace, "logs.kwok.x-k8s.io/some-pod", "{.metadata.labels.a}") == "b"
        assert ok(await call(c, "delete_resource", {"kind": "logs.kwok.x-k8s.io", "name": "some-pod", "confirm": True}))["applied"]
    assert not exists(cluster, namespace, "logs.kwok.x-k8s.io/some-pod")
