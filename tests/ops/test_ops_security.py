"""Safety on the real control plane: secret-leak scan over every tool, RBAC 403 from a limited
ServiceAccount, HTTP auth and Host checks, and the API server going away mid-session."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
import yaml
from ops_helpers import CHARTS, HttpServer, call, deployment, err, event, everything, http_client, ok, ops_env, stdio_client, wait_ready

pytestmark = [pytest.mark.anyio, pytest.mark.cluster]

SECRETS = {
    "secret_data": "LeakCanary-SecretData-5521",
    "env_literal": "LeakCanary-EnvLiteral-7310",
    "helm_value": "LeakCanary-HelmValue-9043",
    "log_token": "LeakCanaryLogToken0123456789abcdef",
    "url_password": "LeakCanaryUrlPw4417",
    "event_password": "LeakCanaryEventPw8820",
    # values of other types under secret-named keys (Helm values given to deploy_chart)
    "helm_number": 918273645,
    "helm_list_item": "LeakCanaryHelmListTok-3391",
    "helm_nested": "LeakCanaryHelmNested-7702",
    # outside env: command-line flags in both forms and inside sh -c, probe and lifecycle headers
    "arg_separate": "LeakCanaryArgSep-1123",
    "arg_equals": "LeakCanaryArgEq-5813",
    "arg_shell": "LeakCanaryArgShell-2134",
    "probe_header": "LeakCanaryProbeHdr-5589",
    "lifecycle_header": "LeakCanaryHookHdr-1442",
    # echoed back by an error (a validation error quotes the argument it rejects)
    "error_echo": "LeakCanaryErrEcho-3377",
    # passed to the change tools: a Secret's new values (patched, applied as YAML under a harmless key), an env literal
    "patch_secret": "LeakCanaryPatchSecret-6620",
    "manifest_secret": "LeakCanaryManifest-4471",
    "patch_env": "LeakCanaryPatchEnv-9158",
}


def forms(value: str | int) -> list[str]:
    value = str(value)
    return [value, base64.b64encode(value.encode()).decode()]


def crashy(s: dict) -> dict:
    """A crash-looping Deployment whose credentials sit outside env: flags, a shell line, probe and hook headers."""
    d = deployment("crashy", 1, pod_labels={"kwok.todo-chatbot.test/kubelet": "crashloop"})
    c = d["spec"]["template"]["spec"]["containers"][0]
    c["command"] = ["sh", "-c", f"exec /app/server --password-value {s['arg_shell']}"]
    c["args"] = ["--db-password", s["arg_separate"], f"--api-token={s['arg_equals']}", "--port", "8080"]
    c["livenessProbe"] = {"httpGet": {"path": "/health", "port": 8080, "httpHeaders": [{"name": "X-Api-Key", "value": s["probe_header"]}]}}
    c["lifecycle"] = {"postStart": {"httpGet": {"path": "/warm", "port": 8080, "httpHeaders": [{"name": "Authorization", "value": s["lifecycle_header"]}]}}}
    return d


async def test_no_tool_output_contains_a_seeded_secret(cluster, namespace, audit_log):
    s = SECRETS
    cluster.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "app-secrets"},
                "type": "Opaque",
                "stringData": {"password": s["secret_data"], "api-key": s["secret_data"]},
            },
            deployment(
                "leaky",
                1,
                env=[
                    {"name": "DB_PASSWORD", "value": s["env_literal"]},
                    {"name": "DATABASE_URL", "value": f"postgres://app:{s['url_password']}@db/todo"},
                    {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "app-secrets", "key": "password"}}},
                ],
            ),
            event(namespace, "leak-ev", "Pod", "leaky", "Failed", f"auth failed: password={s['event_password']}"),
        ],
        namespace,
    )
    wait_ready(cluster, namespace, "leaky", 1)
    pod_name = cluster.kubectl("get", "pods", "-n", namespace, "-l", "app=leaky", "-o", "jsonpath={.items[0].metadata.name}").stdout
    cluster.set_logs(
        namespace,
        pod_name,
        [
            f"token={s['log_token']}",
            f"connecting to postgres://app:{s['url_password']}@db:5432/todo",
            f"Authorization: Bearer {s['log_token']}",
            f'using password {s["env_literal"]!r} from DB_PASSWORD="{s["env_literal"]}"',
        ],
        previous=[f"secret={s['secret_data']}"],
    )
    # It restarted once (as the kubelet records it), so its previous log is read too.
    cluster.kubectl(
        "patch",
        "pod",
        pod_name,
        "-n",
        namespace,
        "--subresource=status",
        "-p",
        json.dumps({"status": {"containerStatuses": [{"name": "app", "restartCount": 1}]}}),
    )
    cluster.helm("install", "leakrel", str(CHARTS / "demo"), "-n", namespace, "--set", f"db.password={s['helm_value']}", "--wait", "--timeout", "120s")
    cluster.apply(crashy(s), namespace)
    crashy_pod = cluster.wait_for(
        lambda: cluster.kubectl("get", "pods", "-n", namespace, "-l", "app=crashy", "-o", "jsonpath={.items[0].metadata.name}", check=False).stdout,
        timeout=60,
        message="crashy pod",
    )
    # The process prints its own flags and headers, without the names that would give them away.
    cluster.set_logs(
        namespace,
        crashy_pod,
        [f"started with {s['arg_separate']} and {s['arg_equals']}"],
        previous=[f"fatal: upstream refused {s['probe_header']} / {s['lifecycle_header']} ({s['arg_shell']})"],
    )
    typed_values = {
        "db": {"password": s["helm_value"]},
        "auth": {"password": s["helm_number"], "token": [s["helm_list_item"]], "credentials": {"nested": {"key": s["helm_nested"]}}},
    }

    calls = [
        ("get_app_status", {"release": "leakrel"}),
        ("list_resources", {"kind": "secrets"}),
        ("list_resources", {"kind": "pods"}),
        ("list_resources", {"kind": "deployments"}),
        ("list_resources", {"kind": "events"}),
        ("list_resources", {"kind": "configmaps"}),
        ("describe_resource", {"kind": "secret", "name": "app-secrets"}),
        ("describe_resource", {"kind": "secret", "name": "leakrel-db"}),
        ("describe_resource", {"kind": "deployment", "name": "leaky"}),
        ("describe_resource", {"kind": "pod", "name": pod_name}),
        (
            "describe_resource",
            {"kind": "replicaset", "name": cluster.kubectl("get", "rs", "-n", namespace, "-l", "app=leaky", "-o", "jsonpath={.items[0].metadata.name}").stdout},
        ),
        ("get_events", {}),
        ("get_pod_logs", {"name": pod_name}),
        ("get_pod_logs", {"name": pod_name, "previous": True}),
        ("get_pod_logs", {"name": "leaky", "kind": "deployment", "grep": "token|password"}),
        ("list_releases", {}),
        ("release_history", {"release": "leakrel"}),
        ("get_release_values", {"release": "leakrel"}),
        ("get_release_values", {"release": "leakrel", "all_values": True}),
        ("rollout_status", {"name": "leaky"}),
        ("describe_resource", {"kind": "secret", "name": "app-secret"}),  # 404 message
        ("scale_deployment", {"name": "leaky", "replicas": 1}),
        ("rollout_restart", {"name": "leaky"}),
        ("describe_resource", {"kind": "deployment", "name": "crashy"}),
        ("describe_resource", {"kind": "pod", "name": crashy_pod}),
        ("get_pod_logs", {"name": crashy_pod}),
        ("get_pod_logs", {"name": crashy_pod, "previous": True}),
        ("deploy_chart", {"confirm": True, "release": "leakrel", "chart": str(CHARTS / "demo"), "values": typed_values, "dry_run": True}),
        ("deploy_chart", {"confirm": True, "release": "leakrel", "chart": str(CHARTS / "demo"), "values": {**typed_values, "replicas": 2}}),
        ("get_release_values", {"release": "leakrel"}),
        ("get_release_values", {"release": "leakrel", "all_values": True}),
        ("deploy_chart", {"confirm": True, "release": "leakrel", "values": typed_values, "version": {"password": s["error_echo"]}}),  # invalid: echoed
        ("deploy_chart", {"confirm": True, "release": "leakrel", "values": typed_values, "values_files": {"token": s["helm_number"]}}),  # invalid: echoed
        ("rollback_release", {"name": "leakrel", "confirm": True, "timeout_seconds": 60}),
        ("patch_resource", {"kind": "secret", "name": "app-secrets", "patch": {"stringData": {"password": s["patch_secret"]}}, "dry_run": True}),
        (
            "patch_resource",
            {"kind": "Secret", "name": "app-secrets", "patch": {"stringData": {"password": s["patch_secret"], "extra": s["patch_secret"]}}, "confirm": True},
        ),
        (
            "patch_resource",
            {
                "kind": "secrets",
                "name": "app-secrets",
                "patch": [{"op": "add", "path": "/stringData", "value": {"config": s["patch_secret"]}}],
                "patch_type": "json",
                "confirm": True,
            },
        ),
        (
            "patch_resource",
            {
                "kind": "deployment",
                "name": "leaky",
                "patch": {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [{"name": "DB_PASSWORD", "value": s["patch_env"]}]}]}}}},
            },
        ),
        (
            "apply_manifest",
            {"manifest": f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-secrets\nstringData:\n  settings: {s['manifest_secret']}\n", "dry_run": True},
        ),
        (
            "apply_manifest",
            {"manifest": f"apiVersion: v1\nkind: secret\nmetadata:\n  name: applied\nstringData:\n  settings: {s['manifest_secret']}\n", "confirm": True},
        ),
        (
            "apply_manifest",
            {"manifest": f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: applied\nstringData:\n  settings: {s['manifest_secret']}x\n", "confirm": True},
        ),
        (
            "apply_manifest",
            {"manifest": f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: applied\ndata:\n  settings: {s['manifest_secret']}\n", "confirm": True},
        ),  # invalid base64
        ("delete_resource", {"kind": "secret", "name": "app-secrets", "confirm": True}),  # refused
    ]
    helm_secret = cluster.kubectl("get", "secrets", "-n", namespace, "-l", "owner=helm", "-o", "jsonpath={.items[0].metadata.name}").stdout
    calls.append(("describe_resource", {"kind": "secret", "name": helm_secret}))
    # Secret writes allowed (the write policy refuses them by default): what they return must still hold no value.
    async with stdio_client(ops_env(cluster, namespace, audit_log, OPS_MCP_CHART_SOURCES=str(CHARTS), OPS_MCP_ALLOW_SECRET_WRITES="true")) as c:
        tools = {t.name for t in (await c.list_tools()).tools}
        covered = {name for name, _ in calls}
        assert tools - covered <= {"uninstall_release", "rollout_undo", "diagnose", "diagnose_crashloop"}, tools - covered
        for extra in ("diagnose_crashloop", "diagnose") if "diagnose" in tools else ():
            calls += [(extra, {"name": "leaky"}), (extra, {"name": "crashy"}), (extra, {"kind": "pod", "name": crashy_pod})]
        calls.append(("diagnose", {}))
        seen = []
        for name, args in calls:
            result = await call(c, name, args)
            expect_error = args.get("name") == "app-secret" or "version" in args or "values_files" in args or name == "delete_resource"
            expect_error = expect_error or "data:\n  settings" in str(args.get("manifest"))
            assert result.is_error == expect_error, (name, args, everything(result)[:300])
            out = everything(result)
            seen.append(out)
            if name == "diagnose_crashloop" and args.get("name") == "crashy":
                assert "fatal: upstream refused ***" in out, out[:2000]  # the crash log is quoted, its literals scrubbed
            for label, value in SECRETS.items():
                for form in forms(value):
                    assert form not in out, f"{label} leaked through {name}({args})"
        resources = await c.read_resource(f"ops://releases/{namespace}/leakrel/values")
        assert SECRETS["helm_value"] not in resources.contents[0].text
    # The scan saw real content, not empty errors.
    joined = "\n".join(seen)
    assert "app-secrets" in joined and "DB_PASSWORD" in joined and "postgres://app:***@db" in joined and "Bearer ***" in joined
    assert "--db-password" in joined and "X-Api-Key" in joined and "fatal: upstream refused" in joined and "validation error" in joined
    # the change tools reported the Secret keys and the env entry that changed, without their values
    assert "data.password: *** -> ***" in joined and "data.extra: (none) -> ***" in joined and "data.config: (none) -> ***" in joined
    assert "env[DB_PASSWORD].value: *** -> ***" in joined and "data.settings: *** -> ***" in joined and "does not delete Secrets" in joined
    audit = audit_log.read_text()
    assert '"tool":"deploy_chart"' in audit and '"tool":"patch_resource"' in audit and '"tool":"apply_manifest"' in audit
    for label, value in SECRETS.items():
        for form in forms(value):
            assert form not in audit, f"{label} leaked into the audit log"


async def test_limited_service_account_gets_403_naming_verb_and_resource(cluster, namespace, audit_log, tmp_path):
    cluster.apply(
        [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "limited"}},
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "pods-only"},
                "rules": [{"apiGroups": [""], "resources": ["pods", "events"], "verbs": ["get", "list"]}],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "limited-pods"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pods-only"},
                "subjects": [{"kind": "ServiceAccount", "name": "limited", "namespace": namespace}],
            },
            deployment("web", 1),
        ],
        namespace,
    )
    token = cluster.kubectl("create", "token", "limited", "-n", namespace, "--duration=1h").stdout.strip()  # TokenRequest API
    admin = yaml.safe_load(open(cluster.kubeconfig))
    kc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "limited",
        "clusters": [{"name": "test", "cluster": admin["clusters"][0]["cluster"]}],
        "users": [{"name": "limited", "user": {"token": token}}],
        "contexts": [{"name": "limited", "context": {"cluster": "test", "user": "limited", "namespace": namespace}}],
    }
    path = tmp_path / "limited.kubeconfig"
    path.write_text(yaml.safe_dump(kc))
    env = ops_env(cluster, namespace, audit_log, OPS_MCP_KUBECONFIG=str(path))
    async with stdio_client(env) as c:
        ok(await call(c, "list_resources", {"kind": "pods"}))
        msg = err(await call(c, "list_resources", {"kind": "deployments"}))
        assert "Forbidden: cannot list deployments.apps in namespace" in msg and "apiGroups [apps], resources [deployments], verbs [list]" in msg
        msg = err(await call(c, "scale_deployment", {"name": "web", "replicas": 2}))
        assert "cannot get deployments.apps/scale" in msg
        msg = err(await call(c, "get_pod_logs", {"name": "web", "kind": "deployment"}))
        assert "cannot get deployments.apps" in msg
        msg = err(await call(c, "patch_resource", {"kind": "deployment", "name": "web", "patch": {"spec": {"replicas": 2}}}))
        assert "cannot get deployments.apps" in msg and "rule apiGroups [apps], resources [deployments], verbs [get]" in msg
        assert token not in msg
    assert cluster.kubectl("get", "deploy", "web", "-n", namespace, "-o", "jsonpath={.spec.replicas}").stdout == "1"


async def test_http_transport_requires_token_and_checks_host(cluster, namespace, audit_log):
    token = "t0ken-for-http-test-6b1f"
    env = ops_env(cluster, namespace, audit_log, OPS_MCP_HTTP_TOKEN=token)
    server = HttpServer(env, "--allowed-hosts", "ops-mcp.todo.svc:8002")
    try:
        init = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
        }
        headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        assert httpx.post(server.url, json=init, headers=headers).status_code == 401
        assert httpx.post(server.url, json=init, headers={**headers, "Authorization": "Bearer wrong"}).status_code == 401
        auth = {**headers, "Authorization": f"Bearer {token}"}
        assert httpx.post(server.url, json=init, headers={**auth, "Host": "evil.example:8002"}).status_code in (403, 421)
        assert httpx.post(server.url, json=init, headers={**auth, "Host": "ops-mcp.todo.svc:8002"}).status_code == 200
        cluster.apply(deployment("web", 1), namespace)
        async with http_client(server.url, token) as c:
            names = {t.name for t in (await c.list_tools()).tools}
            assert "get_app_status" in names
            rows = ok(await call(c, "list_resources", {"kind": "deployments"}))["rows"]
            assert [r["name"] for r in rows] == ["web"]
            ok(await call(c, "scale_deployment", {"name": "web", "replicas": 2}))
        record = json.loads(audit_log.read_text().splitlines()[-1])
        assert record["tool"] == "scale_deployment" and "http:127.0.0.1" in record["client"]
    finally:
        server.stop()


async def test_http_refuses_to_start_without_token_unless_loopback_no_auth(cluster, namespace, audit_log):
    import subprocess
    import sys

    env = ops_env(cluster, namespace, audit_log)
    proc = subprocess.run(
        [sys.executable, "-m", "ops_mcp.cli", "serve", "--transport", "http", "--host", "0.0.0.0", "--no-auth"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "OPS_MCP_HTTP_TOKEN" in proc.stderr
    # No token and no Host check either: a DNS-rebinding page could drive the server.
    for hosts in (["--allowed-hosts", "*"], ["--allowed-hosts", "ops-mcp.todo.svc,*"]):
        proc = subprocess.run(
            [sys.executable, "-m", "ops_mcp.cli", "serve", "--transport", "http", "--no-auth", *hosts], env=env, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode != 0 and "DNS name" in proc.stderr and "--allowed-hosts" in proc.stderr, proc.stderr
    server = HttpServer(env, "--no-auth")
    try:
        async with http_client(server.url, None) as c:
            assert (await c.list_tools()).tools
    finally:
        server.stop()


async def test_apiserver_stopped_mid_session_then_back(disposable_cluster, audit_log):
    cluster, namespace = disposable_cluster, "outage"
    cluster.fresh_namespace(namespace)
    cluster.apply(deployment("web", 1), namespace)
    async with stdio_client(ops_env(cluster, namespace, audit_log, OPS_MCP_REQUEST_TIMEOUT="3")) as c:
        ok(await call(c, "list_resources", {"kind": "deployments"}))
        cluster.stop()
        try:
            msg = err(await call(c, "list_resources", {"kind": "deployments"}))
            assert cluster.server in msg and "context" in msg and "Next step" in msg
            assert "did not answer" in err(await call(c, "get_app_status", {}))
        finally:
            cluster.start()
        rows = ok(await call(c, "list_resources", {"kind": "deployments"}))["rows"]
        assert [r["name"] for r in rows] == ["web"]
