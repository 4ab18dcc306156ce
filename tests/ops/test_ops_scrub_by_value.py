"""No Secret value through any path: the values of the Secrets a pod references (env secretKeyRef, envFrom, secret
volumes, projected secret sources) never reach a client through get_pod_logs or describe_resource, and whatever a
Helm release renders into a Secret never reaches it through get_release_values, release_history or list_releases:
not as they are, not base64-encoded, not one line of a private key. Every value here is made up; the patterns of
ops_mcp.redact catch none of them (no credential-named key before them, no token format), so only scrubbing by
value can. exec_in_pod, which needs real containers, is in tests/realnode/test_exec_real.py."""

from __future__ import annotations

import base64
import json
import random

import pytest
import yaml
from ops_helpers import call, deployment, err, event, everything, ok, ops_env, stdio_client

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]

_rng = random.Random(23)
# A made-up "private key": random bytes in PEM armor (no real key), 8 body lines of 64 characters.
_BODY = base64.b64encode(bytes(_rng.getrandbits(8) for _ in range(6 * 64))).decode()
PEM_LINES = [_BODY[i : i + 64] for i in range(0, len(_BODY), 64)]
PEM = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(PEM_LINES) + "\n-----END PRIVATE KEY-----\n"

VALUES = {
    "env_ref": "ScrubCanaryEnvRef4417",  # env valueFrom.secretKeyRef
    "env_from": "ScrubCanaryEnvFrom9052",  # envFrom.secretRef
    "projected": "ScrubCanaryProjected3381",  # a projected volume's secret source
    "annotation": "ScrubCanaryAnnot-7719",  # a volume Secret's value, repeated in an annotation and an event
}
SHORT = "k9z"  # under 4 characters: not scrubbed by value (too many false hits)
CLEAN_LINE = "request GET /api/tasks 200 in 12ms (user-42, trace 4bf92f3577b34da6)"


def forms(value: str) -> list[str]:
    """The forms a seeded value must not take in any output: as it is, base64 (padded and not)."""
    encoded = base64.b64encode(value.encode()).decode()
    return [value, encoded, encoded.rstrip("=")]


def leaks(out: str, values: list[str]) -> list[str]:
    return [f for v in values for f in forms(v) if f in out]


def secret(name: str, data: dict[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "Opaque", "stringData": data}


def workload() -> dict:
    d = deployment("vault-app", 1, env=[{"name": "DB_LOGIN", "valueFrom": {"secretKeyRef": {"name": "db-login", "key": "login"}}}])
    spec = d["spec"]["template"]["spec"]
    c = spec["containers"][0]
    c["envFrom"] = [{"secretRef": {"name": "app-settings"}}]
    c["volumeMounts"] = [{"name": "tls", "mountPath": "/tls"}, {"name": "bundle", "mountPath": "/bundle"}]
    spec["volumes"] = [
        {"name": "tls", "secret": {"secretName": "app-tls"}},
        {"name": "bundle", "projected": {"sources": [{"secret": {"name": "app-projected"}}, {"configMap": {"name": "absent", "optional": True}}]}},
    ]
    d["spec"]["template"]["metadata"]["annotations"] = {"team/contact-note": f"on call uses {VALUES['annotation']}"}
    return d


async def test_the_values_of_the_secrets_a_pod_references_never_reach_its_logs_or_describe(cluster, namespace, audit_log):
    v = VALUES
    cluster.apply(
        [
            secret("db-login", {"login": v["env_ref"], "short": SHORT}),
            secret("app-settings", {"SETTING_A": v["env_from"]}),
            secret("app-tls", {"tls.key": PEM, "note": v["annotation"]}),
            secret("app-projected", {"bundle-id": v["projected"]}),
            workload(),
        ],
        namespace,
    )
    pod_name = cluster.wait_for(
        lambda: cluster.kubectl("get", "pods", "-n", namespace, "-l", "app=vault-app", "-o", "jsonpath={.items[0].metadata.name}", check=False).stdout,
        timeout=60,
        message="vault-app pod",
    )
    encoded = base64.b64encode(v["env_ref"].encode()).decode()
    cluster.set_logs(
        namespace,
        pod_name,
        [
            f"connected as {v['env_ref']} to db",
            f"settings loaded: A={v['env_from']}, bundle {v['projected']}",
            f"debug: login header {encoded}",
            f"tls: loaded key starting {PEM_LINES[2]}",
            CLEAN_LINE,
            f"status {SHORT} ok",
        ],
        previous=[*PEM.splitlines(), "fatal: key rejected", "  excerpt:", *PEM_LINES[3:6], "-----END PRIVATE KEY-----"],
    )
    # The kubelet recorded a restart whose termination message quotes a value, as a crashing process's last words do.
    status = {"name": "app", "restartCount": 1, "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "message": f"bad bundle {v['projected']}"}}}
    cluster.kubectl("patch", "pod", pod_name, "-n", namespace, "--subresource=status", "-p", json.dumps({"status": {"containerStatuses": [status]}}))
    cluster.apply(event(namespace, "vault-ev", "Pod", pod_name, "BackOff", f"container printed {v['annotation']}"), namespace)

    seeded = [*v.values(), *PEM_LINES]
    async with stdio_client(ops_env(cluster, namespace, audit_log)) as c:
        logs = await call(c, "get_pod_logs", {"name": pod_name})
        out = everything(logs)
        assert leaks(out, seeded) == [], out
        text = ok(logs)["logs"][0]["text"]
        # masked in place, the rest of each line kept; clean text byte for byte; a 3-character value left alone
        assert "connected as *** to db" in text and "settings loaded: A=***, bundle ***" in text and "login header ***" in text, text
        assert "tls: loaded key starting ***" in text and CLEAN_LINE in text and f"status {SHORT} ok" in text, text
        assert "note" not in ok(logs)  # every Secret was read

        previous = await call(c, "get_pod_logs", {"name": pod_name, "previous": True})
        out = everything(previous)
        assert leaks(out, seeded) == [], out
        # the whole key as one mask; its lines one by one where they show apart (the armor lines say nothing secret)
        assert ok(previous)["logs"][0]["text"] == "***\nfatal: key rejected\n  excerpt:\n***\n***\n***\n-----END PRIVATE KEY-----", out

        by_workload = await call(c, "get_pod_logs", {"name": "vault-app", "kind": "deployment"})
        assert leaks(everything(by_workload), seeded) == [] and CLEAN_LINE in everything(by_workload)

        # A grep cannot tell a value apart either: it runs over the scrubbed lines.
        for probe in (v["env_ref"], v["env_ref"][:12], PEM_LINES[2][:20]):
            found = ok(await call(c, "get_pod_logs", {"name": pod_name, "grep": probe}))
            assert found["logs"][0]["lines"] == 0, (probe, found)
        found = ok(await call(c, "get_pod_logs", {"name": pod_name, "grep": "connected"}))
        assert found["logs"][0]["text"] == "connected as *** to db"

        for kind, name in (("pod", pod_name), ("deployment", "vault-app")):
            described = await call(c, "describe_resource", {"kind": kind, "name": name})
            out = everything(described)
            assert leaks(out, seeded) == [], out
            assert "app-tls" in out and "app-projected" in out and "on call uses ***" in out, out
        pod_out = everything(await call(c, "describe_resource", {"kind": "pod", "name": pod_name}))
        assert "bad bundle ***" in pod_out and "container printed ***" in pod_out, pod_out


async def test_a_secret_the_server_may_not_read_is_masked_by_pattern_and_named_in_a_note(cluster, namespace, audit_log, tmp_path):
    """ops-mcp's Role may lack `get secrets`: the output says which Secret it could not read (its name, no value),
    and the patterns still mask what they recognise."""
    cluster.apply(
        [
            secret("db-login", {"login": VALUES["env_ref"]}),
            deployment("web", 1, env=[{"name": "DB_LOGIN", "valueFrom": {"secretKeyRef": {"name": "db-login", "key": "login"}}}]),
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "no-secrets"}},
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "no-secrets"},
                "rules": [
                    {"apiGroups": [""], "resources": ["pods", "pods/log", "events"], "verbs": ["get", "list"]},
                    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]},
                ],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "no-secrets"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "no-secrets"},
                "subjects": [{"kind": "ServiceAccount", "name": "no-secrets", "namespace": namespace}],
            },
        ],
        namespace,
    )
    pod_name = cluster.wait_for(
        lambda: cluster.kubectl("get", "pods", "-n", namespace, "-l", "app=web", "-o", "jsonpath={.items[0].metadata.name}", check=False).stdout,
        timeout=60,
        message="web pod",
    )
    cluster.set_logs(namespace, pod_name, ["db_password=Pattern-Caught-8812", CLEAN_LINE])
    token = cluster.kubectl("create", "token", "no-secrets", "-n", namespace, "--duration=1h").stdout.strip()
    admin = yaml.safe_load(open(cluster.kubeconfig))
    kubeconfig = tmp_path / "no-secrets.kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "limited",
                "clusters": [{"name": "test", "cluster": admin["clusters"][0]["cluster"]}],
                "users": [{"name": "limited", "user": {"token": token}}],
                "contexts": [{"name": "limited", "context": {"cluster": "test", "user": "limited", "namespace": namespace}}],
            }
        )
    )
    async with stdio_client(ops_env(cluster, namespace, audit_log, OPS_MCP_KUBECONFIG=str(kubeconfig))) as c:
        logs = ok(await call(c, "get_pod_logs", {"name": pod_name}))
        assert logs["note"] == "could not read Secret db-login: values masked by pattern only, not by value", logs
        assert logs["logs"][0]["text"] == f"db_password=***\n{CLEAN_LINE}", logs
        result = await call(c, "describe_resource", {"kind": "deployment", "name": "web"})
        assert ok(result)["note"] == logs["note"] and "note: could not read Secret db-login" in everything(result)
        assert leaks(everything(result), [VALUES["env_ref"]]) == []


RELEASE_VALUES = {
    "endpoint": "ScrubCanaryHelmData-6610",  # into a Secret's data (base64) under a harmless values key
    "hook": "ScrubCanaryHelmHook-2287",  # into a hook's Secret (helm get manifest leaves hooks out)
    "bad_name": "ScrubCanaryHelmFail5548",  # into a Secret and a ConfigMap's name, which the API server refuses
}
CHART_FILES = {
    "Chart.yaml": "apiVersion: v2\nname: scrubdemo\nversion: 0.1.0\n",
    "values.yaml": "settings:\n  endpoint: ''\n  visible: shown-setting-77\nblob: ''\nhookValue: ''\ncmName: plain-config\nreplicas: 2\n",
    "templates/secret.yaml": (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-conf\ntype: Opaque\n"
        "data:\n  endpoint: {{ .Values.settings.endpoint | b64enc | quote }}\n  name: {{ .Values.cmName | b64enc | quote }}\n"
        "stringData:\n  blob: {{ .Values.blob | quote }}\n"
    ),
    "templates/hook-secret.yaml": (
        'apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-hook\n  annotations:\n    "helm.sh/hook": pre-install,pre-upgrade\n'
        "type: Opaque\nstringData:\n  value: {{ .Values.hookValue | quote }}\n"
    ),
    "templates/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.cmName }}\ndata:\n  replicas: {{ .Values.replicas | quote }}\n",
}


async def test_what_a_release_renders_into_a_secret_never_reaches_its_values_or_history(cluster, namespace, audit_log, tmp_path):
    chart = tmp_path / "scrubdemo"
    for path, content in CHART_FILES.items():
        (chart / path).parent.mkdir(parents=True, exist_ok=True)
        (chart / path).write_text(content)
    r = RELEASE_VALUES
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"settings": {"endpoint": r["endpoint"]}, "blob": PEM, "hookValue": r["hook"]}))
    cluster.helm("install", "scrubrel", str(chart), "-n", namespace, "-f", str(values), "--wait", "--timeout", "120s")
    # Revision 2 fails: the API server refuses the ConfigMap's name (capitals) and helm's description quotes it.
    failed = cluster.helm("upgrade", "scrubrel", str(chart), "-n", namespace, "-f", str(values), "--set", f"cmName={r['bad_name']}", check=False)
    assert failed.returncode != 0
    raw_history = cluster.helm("history", "scrubrel", "-n", namespace, "-o", "json").stdout
    assert r["bad_name"] in raw_history, raw_history  # the path is real: helm itself shows the value
    seeded = [*r.values(), *PEM_LINES]

    async with stdio_client(ops_env(cluster, namespace, audit_log)) as c:
        for args in ({}, {"all_values": True}, {"revision": 1}, {"revision": 1, "all_values": True}):
            result = await call(c, "get_release_values", {"release": "scrubrel", **args})
            out = everything(result)
            assert leaks(out, seeded) == [], (args, out)
            got = ok(result)
            assert got["values"]["settings"]["endpoint"] == "***" and got["values"]["hookValue"] == "***" and "note" not in got, got
            if args.get("all_values"):
                assert got["values"]["settings"]["visible"] == "shown-setting-77" and got["values"]["replicas"] == 2, got
        latest = ok(await call(c, "get_release_values", {"release": "scrubrel"}))
        assert latest["values"]["cmName"] == "***"

        history = await call(c, "release_history", {"release": "scrubrel"})
        out = everything(history)
        assert leaks(out, seeded) == [], out
        rows = ok(history)["revisions"]
        assert [row["revision"] for row in rows] == [1, 2] and rows[0]["description"] == "Install complete", rows
        assert rows[1]["status"] == "failed" and "***" in rows[1]["description"], rows
        listed = await call(c, "list_releases", {})
        assert leaks(everything(listed), seeded) == [] and "scrubrel" in everything(listed)

        # A revision that does not exist is a clear error, not an unscrubbed answer.
        assert "not found" in err(await call(c, "get_release_values", {"release": "scrubrel", "revision": 9})).lower()
