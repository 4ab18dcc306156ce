"""The Helm chart rendered by the real helm binary: lint, structure, hardening, rollout wiring, schema."""

from __future__ import annotations

import copy
import json
import re

import pytest
import yaml
from k8s_chart import CHART, KAGENT_API_VERSIONS, find, helm, one, pod_specs, render, template_args

PROFILES = ["default", "minikube", "production"]
APP_DEPLOYMENTS = ["frontend", "backend", "mcp", "ops-mcp"]
PORTS = {"frontend": 3000, "backend": 8000, "mcp": 8001, "ops-mcp": 8002}


@pytest.mark.parametrize("profile", PROFILES)
def test_lint_strict(profile: str) -> None:
    args = ["lint", "--strict", str(CHART)]
    if profile != "default":
        args += ["-f", str(CHART / f"values-{profile}.yaml")]
    proc = helm(*args, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


@pytest.mark.parametrize("profile", PROFILES)
def test_every_object_has_standard_labels_and_no_hardcoded_namespace(profile: str) -> None:
    docs = render(profile, namespace="somewhere-else")
    assert len(docs) > 15
    for d in docs:
        labels = d["metadata"].get("labels", {})
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "app.kubernetes.io/version", "helm.sh/chart"):
            assert key in labels, f"{d['kind']}/{d['metadata']['name']} lacks label {key}"
        assert "namespace" not in d["metadata"], f"{d['kind']}/{d['metadata']['name']} hard-codes a namespace"
        for subject in d.get("subjects", []):
            assert subject["namespace"] == "somewhere-else", "binding subjects must follow the release namespace"


@pytest.mark.parametrize("profile", PROFILES)
def test_pods_are_hardened(profile: str) -> None:
    docs = render(profile)
    specs = pod_specs(docs)
    assert len(specs) >= 5
    for where, spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        mounts_token = spec.get("automountServiceAccountToken")
        if "ops-mcp" in where:
            assert mounts_token is True and spec["serviceAccountName"].endswith("ops-mcp"), where
        else:
            assert mounts_token is False, f"{where} mounts a ServiceAccount token it does not need"
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert sc["runAsNonRoot"] is True, where
            assert c["resources"]["requests"] and c["resources"]["limits"], where
            tmp = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in volumes[tmp[0]["name"]], f"{where}: /tmp must be a writable emptyDir"


RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}


def restricted_violations(spec: dict) -> list[str]:
    """What a pod spec does that the Pod Security Standards' restricted level forbids (a container's securityContext
    field overrides the pod's)."""
    found = [f for f in ("hostNetwork", "hostPID", "hostIPC") if spec.get(f)]
    found += [f"volume {v['name']}" for v in spec.get("volumes", []) if not set(v) - {"name"} <= RESTRICTED_VOLUMES]
    pod = spec.get("securityContext") or {}
    for c in spec["containers"] + spec.get("initContainers", []):
        sc = c.get("securityContext") or {}
        caps = sc.get("capabilities") or {}
        checks = {
            "privileged": not sc.get("privileged"),
            "allowPrivilegeEscalation": sc.get("allowPrivilegeEscalation") is False,
            "runAsNonRoot": sc.get("runAsNonRoot", pod.get("runAsNonRoot")) is True,
            "runAsUser": sc.get("runAsUser", pod.get("runAsUser")) != 0,
            "seccompProfile": (sc.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type") in ("RuntimeDefault", "Localhost"),
            "capabilities": "ALL" in caps.get("drop", []) and set(caps.get("add", [])) <= {"NET_BIND_SERVICE"},
            "hostPort": not any(p.get("hostPort") for p in c.get("ports", [])),
        }
        found += [f"{c['name']}: {check}" for check, ok in checks.items() if not ok]
    return found


# Values that bring in the pods the defaults leave out: the bundled PostgreSQL and its migration Job (default), SQLite,
# an external database's hook Job, the metrics and exec options.
POD_VARIANTS = [
    {},
    {"postgresql.enabled": "false"},
    {"postgresql.enabled": "false", "externalDatabase.enabled": "true", "secrets.databaseUrl": "postgresql://u:p@db.example:5432/todo"},
    {"opsMcp.readOnly": "false", "opsMcp.allowExec": "true", "frontend.persistence.enabled": "true"},
]


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("sets", POD_VARIANTS)
def test_every_pod_meets_the_pod_security_level_the_namespace_enforces(profile: str, sets: dict[str, str]) -> None:
    """`make up` (tests/cluster/deploy.py) labels the namespace to enforce the chart's level, and the kustomize base's
    Namespace carries the same labels: every pod of the chart, hooks and helm test included, must meet it."""
    from cluster.deploy import POD_SECURITY, pod_security_labels

    assert POD_SECURITY == "restricted", "this check is restricted's"
    docs = render(profile, sets=sets)
    specs = pod_specs(docs) + [(f"Pod/{d['metadata']['name']}", d["spec"]) for d in find(docs, "Pod")]
    assert {"Deployment/todo-chatbot-ops-mcp", "Pod/todo-chatbot-test"} <= {where for where, _ in specs}
    assert {where: v for where, spec in specs if (v := restricted_violations(spec))} == {}
    namespace = yaml.safe_load((CHART.parents[1] / "kustomize" / "base" / "namespace.yaml").read_text())
    assert pod_security_labels().items() <= namespace["metadata"]["labels"].items()


@pytest.mark.cluster
@pytest.mark.parametrize("profile", PROFILES)
def test_the_api_servers_pod_security_admission_accepts_every_pod_template(profile: str, cluster, namespace: str) -> None:
    """The real admission plugin judges the rendered workloads in a namespace labelled as deploy.py labels it (a pod
    that breaks the level is refused, a workload's template warned about: shown for one that adds a capability)."""
    from cluster.deploy import pod_security_labels

    cluster.kubectl("label", "namespace", namespace, *(f"{k}={v}" for k, v in pod_security_labels().items()), "--overwrite")
    workloads = [d for d in render(profile, namespace=namespace) if d["kind"] in ("Deployment", "StatefulSet", "Job", "Pod")]
    proc = cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(workloads))
    assert "would violate PodSecurity" not in proc.stderr, proc.stderr
    bad = copy.deepcopy(workloads[0])
    bad["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] = ["NET_ADMIN"]
    proc = cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=yaml.safe_dump(bad))
    assert 'would violate PodSecurity "restricted' in proc.stderr, proc.stderr


@pytest.mark.parametrize("profile", PROFILES)
def test_deployments_probe_and_roll_without_dropping_below_desired(profile: str) -> None:
    docs = render(profile)
    for name in APP_DEPLOYMENTS:
        dep = one(docs, "Deployment", f"todo-chatbot-{name}")
        strategy = dep["spec"]["strategy"]
        assert strategy["type"] == "RollingUpdate"
        assert strategy["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
        pod = dep["spec"]["template"]
        assert {"checksum/config", "checksum/secret"} <= set(pod["metadata"]["annotations"])
        (container,) = pod["spec"]["containers"]
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert container[probe]["httpGet"]["port"] in ("http", "mcp"), f"{name} {probe}"
        assert container["ports"][0]["containerPort"] == PORTS[name]
    backend = one(docs, "Deployment", "todo-chatbot-backend")["spec"]["template"]["spec"]["containers"][0]
    assert backend["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert backend["livenessProbe"]["httpGet"]["path"] == "/health"


def test_component_commands_match_the_interfaces() -> None:
    docs = render()
    cmd = {n: one(docs, "Deployment", f"todo-chatbot-{n}")["spec"]["template"]["spec"]["containers"][0]["command"] for n in APP_DEPLOYMENTS}
    assert cmd["backend"] == ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]
    assert cmd["mcp"] == ["python", "-m", "app.task_mcp", "--transport", "http", "--host", "0.0.0.0", "--port", "8001"]
    assert cmd["frontend"] == ["node", "server.js"]
    assert cmd["ops-mcp"] == ["ops-mcp", "serve", "--transport", "http", "--host", "0.0.0.0", "--port", "8002"]


def test_service_wiring_uses_in_cluster_names_and_the_public_url() -> None:
    docs = render(sets={"publicUrl": "https://todo.example.org"}, namespace="apps")
    backend = one(docs, "ConfigMap", "todo-chatbot-backend")["data"]
    assert backend["BETTER_AUTH_JWKS_URL"] == "http://todo-chatbot-frontend:3000/api/auth/jwks"
    assert backend["BETTER_AUTH_ISSUER"] == backend["BETTER_AUTH_AUDIENCE"] == "https://todo.example.org"
    assert backend["TASK_MCP_URL"] == "http://todo-chatbot-mcp:8001/mcp"
    assert json.loads(backend["CORS_ORIGINS"]) == ["https://todo.example.org"]
    assert one(docs, "ConfigMap", "todo-chatbot-frontend")["data"]["BACKEND_URL"] == "http://todo-chatbot-backend:8000"
    ops = one(docs, "ConfigMap", "todo-chatbot-ops-mcp")["data"]
    assert ops["OPS_MCP_NAMESPACE"] == "apps" and ops["OPS_MCP_NAMESPACES"] == "apps"
    hosts = ops["OPS_MCP_ALLOWED_HOSTS"].split(",")
    assert "todo-chatbot-ops-mcp.apps.svc.cluster.local:*" in hosts and "todo-chatbot-ops-mcp:*" in hosts
    assert ops["OPS_MCP_READ_ONLY"] == "true"


def secret_ref(docs: list[dict], deployment: str, env_name: str) -> dict | None:
    container = one(docs, "Deployment", f"todo-chatbot-{deployment}")["spec"]["template"]["spec"]["containers"][0]
    refs = [e["valueFrom"]["secretKeyRef"] for e in container.get("env", []) if e["name"] == env_name]
    return refs[0] if refs else None


@pytest.mark.parametrize("sets", [{}, {"secrets.existingSecret": "vault-synced"}])
def test_chat_ops_wire_the_backend_to_the_ops_mcp_service_and_its_token(sets: dict[str, str]) -> None:
    docs = render(sets={**sets, "opsMcp.service.port": "9002", "backend.chatOps.adminUserIds": "{u-1,u-2}"})
    backend = one(docs, "ConfigMap", "todo-chatbot-backend")["data"]
    svc = one(docs, "Service", "todo-chatbot-ops-mcp")
    assert backend["OPS_MCP_URL"] == f"http://{svc['metadata']['name']}:{svc['spec']['ports'][0]['port']}/mcp"
    assert backend["OPS_MCP_URL"] == "http://todo-chatbot-ops-mcp:9002/mcp"
    assert backend["ADMIN_USER_IDS"] == "u-1,u-2" and backend["OPS_CHAT_ALLOW_WRITES"] == "false"
    # The backend's token is the very Secret key the ops server checks.
    ops_ref = secret_ref(docs, "ops-mcp", "OPS_MCP_HTTP_TOKEN")
    assert secret_ref(docs, "backend", "OPS_MCP_TOKEN") == ops_ref
    assert ops_ref == {"name": sets.get("secrets.existingSecret", "todo-chatbot"), "key": "OPS_MCP_HTTP_TOKEN"}
    assert "OPS_MCP_TOKEN" not in backend, "the token must come from the Secret, never the ConfigMap"
    writes = one(render(sets={"backend.chatOps.allowWrites": "true"}), "ConfigMap", "todo-chatbot-backend")
    assert writes["data"]["OPS_CHAT_ALLOW_WRITES"] == "true"


@pytest.mark.parametrize("sets", [{"backend.chatOps.enabled": "false"}, {"opsMcp.enabled": "false"}])
def test_chat_ops_off_leaves_no_trace_on_the_backend(sets: dict[str, str]) -> None:
    docs = render(sets={**sets, "networkPolicy.enabled": "true"})
    backend = one(docs, "ConfigMap", "todo-chatbot-backend")["data"]
    assert not {"OPS_MCP_URL", "ADMIN_USER_IDS", "OPS_CHAT_ALLOW_WRITES"} & backend.keys()
    assert secret_ref(docs, "backend", "OPS_MCP_TOKEN") is None
    egress = one(docs, "NetworkPolicy", "todo-chatbot-backend")["spec"]["egress"]
    assert not any(r["ports"] == [{"port": 8002, "protocol": "TCP"}] for r in egress)
    for policy in find(docs, "NetworkPolicy", "todo-chatbot-ops-mcp"):
        assert all(
            p.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component") != "backend" for p in policy["spec"]["ingress"][0]["from"]
        )


def test_mcp_services_are_labelled_for_kagent_discovery() -> None:
    docs = render()
    for name, port in (("mcp", 8001), ("ops-mcp", 8002)):
        svc = one(docs, "Service", f"todo-chatbot-{name}")
        assert svc["metadata"]["labels"]["kagent.dev/mcp-service"] == "true"
        ann = svc["metadata"]["annotations"]
        assert ann["kagent.dev/mcp-service-path"] == "/mcp"
        assert ann["kagent.dev/mcp-service-port"] == str(port)
        assert ann["kagent.dev/mcp-service-protocol"] == "STREAMABLE_HTTP"
        assert svc["spec"]["ports"][0]["appProtocol"] == "mcp"
    assert "kagent.dev/mcp-service" not in one(docs, "Service", "todo-chatbot-backend")["metadata"]["labels"]


def pod_template(docs: list[dict], name: str) -> dict:
    return one(docs, "Deployment", f"todo-chatbot-{name}")["spec"]["template"]


def test_a_config_change_rolls_only_the_pods_that_read_it() -> None:
    before = render()
    after = render(sets={"anthropicModel": "claude-other-model"})
    changed = [n for n in APP_DEPLOYMENTS if pod_template(before, n) != pod_template(after, n)]
    assert changed == ["backend"]
    after_ops = render(sets={"opsMcp.maxReplicas": "4"})
    assert [n for n in APP_DEPLOYMENTS if pod_template(before, n) != pod_template(after_ops, n)] == ["ops-mcp"]
    for chat_ops in ({"backend.chatOps.adminUserIds": "{u-9}"}, {"backend.chatOps.allowWrites": "true"}):
        after_chat = render(sets=chat_ops)
        assert [n for n in APP_DEPLOYMENTS if pod_template(before, n) != pod_template(after_chat, n)] == ["backend"]
    # A secret input rolls every pod that reads the Secret.
    after_secret = render(sets={"secrets.anthropicApiKey": "sk-test-value"})
    assert all(pod_template(before, n) != pod_template(after_secret, n) for n in APP_DEPLOYMENTS)


def test_secrets_have_no_default_values() -> None:
    first = one(render(), "Secret", "todo-chatbot")["data"]
    second = one(render(), "Secret", "todo-chatbot")["data"]
    for key in ("BETTER_AUTH_SECRET", "OPS_MCP_HTTP_TOKEN", "POSTGRES_PASSWORD"):
        assert first[key] != second[key], f"{key} must be generated per install, not a fixed default"
    assert "ANTHROPIC_API_KEY" not in first
    existing = render(sets={"secrets.existingSecret": "mine"})
    assert not find(existing, "Secret"), "with existingSecret the chart must not create a Secret"
    refs = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for _, spec in pod_specs(existing)
        for c in spec["containers"]
        for e in c.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert refs == {"mine"}


def test_pdb_only_when_more_than_one_replica_and_hpa_owns_replicas() -> None:
    assert not find(render(), "PodDisruptionBudget")
    docs = render(sets={"backend.replicaCount": "2"})
    assert [p["metadata"]["name"] for p in find(docs, "PodDisruptionBudget")] == ["todo-chatbot-backend"]
    prod = render("production")
    assert {h["metadata"]["name"] for h in find(prod, "HorizontalPodAutoscaler")} == {"todo-chatbot-frontend", "todo-chatbot-backend", "todo-chatbot-mcp"}
    assert "replicas" not in one(prod, "Deployment", "todo-chatbot-backend")["spec"]


def test_migrations_hook_follows_the_database() -> None:
    # Bundled: a regular Job per revision (a post-install hook would wait for Deployments that are Ready only
    # once the schema exists), which first waits for the database it starts with.
    bundled = one(render(), "Job", "todo-chatbot-migrate-r1")
    assert "helm.sh/hook" not in (bundled["metadata"].get("annotations") or {})
    spec = bundled["spec"]["template"]["spec"]
    assert spec["containers"][0]["command"] == ["alembic", "upgrade", "head"]
    assert spec["initContainers"][0]["command"][-1] == "todo-chatbot-postgresql"
    external = render(sets={"postgresql.enabled": "false", "externalDatabase.enabled": "true", "secrets.databaseUrl": "postgresql://u:p@db.example:5432/todo"})
    job = one(external, "Job", "todo-chatbot-migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    # At pre-install the release's Secret does not exist yet: a hook Secret created first carries the URL.
    hook_secret = one(external, "Secret", "todo-chatbot-migrate")
    weight = "helm.sh/hook-weight"
    assert int(hook_secret["metadata"]["annotations"][weight]) < int(job["metadata"]["annotations"][weight])
    url_ref = job["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]
    assert url_ref["name"] == "todo-chatbot-migrate"
    assert not find(external, "StatefulSet")
    sqlite = render(sets={"postgresql.enabled": "false"})
    assert not find(sqlite, "Job", "todo-chatbot-migrate")


def test_ingress_and_network_policies() -> None:
    docs = render("minikube")
    ingress = one(docs, "Ingress", "todo-chatbot")
    assert ingress["spec"]["rules"][0]["host"] == "todo.local"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    policies = {p["metadata"]["name"]: p for p in find(render("production"), "NetworkPolicy")}
    deny = policies["todo-chatbot-default-deny"]
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in deny["spec"]
    backend_in = policies["todo-chatbot-backend"]["spec"]["ingress"][0]["from"]
    assert {"app.kubernetes.io/component": "frontend"}.items() <= backend_in[0]["podSelector"]["matchLabels"].items()
    mcp_from = policies["todo-chatbot-mcp"]["spec"]["ingress"][0]["from"]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kagent"}}} in mcp_from
    ops_from = policies["todo-chatbot-ops-mcp"]["spec"]["ingress"][0]["from"]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kagent"}}} in ops_from
    db_egress = policies["todo-chatbot-backend"]["spec"]["egress"]
    assert any(rule["ports"] == [{"port": 5432, "protocol": "TCP"}] for rule in db_egress)
    # Chat ops: backend -> ops-mcp on the ops server's container port, both directions.
    ops_selector = policies["todo-chatbot-ops-mcp"]["spec"]["podSelector"]["matchLabels"]
    assert {"to": [{"podSelector": {"matchLabels": ops_selector}}], "ports": [{"port": 8002, "protocol": "TCP"}]} in db_egress
    backend_selector = policies["todo-chatbot-backend"]["spec"]["podSelector"]["matchLabels"]
    ops_in = policies["todo-chatbot-ops-mcp"]["spec"]["ingress"]
    assert len(ops_in) == 1 and ops_in[0]["ports"] == [{"port": 8002, "protocol": "TCP"}]
    assert {"podSelector": {"matchLabels": backend_selector}} in ops_in[0]["from"]
    # ...and nothing else new: the frontend and task MCP still cannot reach ops-mcp.
    for other in ("todo-chatbot-frontend", "todo-chatbot-mcp"):
        assert not any(r["ports"] == [{"port": 8002, "protocol": "TCP"}] for r in policies[other]["spec"]["egress"])


def rbac_rules(docs: list[dict]) -> list[dict]:
    return [r for kind in ("Role", "ClusterRole") for d in find(docs, kind) for r in d["rules"]]


WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "escalate", "bind", "impersonate"}


def test_ops_mcp_rbac_is_least_privilege() -> None:
    read_only = rbac_rules(render())
    writable = rbac_rules(render(sets={"opsMcp.readOnly": "false"}))
    for rules in (read_only, writable):
        for rule in rules:
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], f"wildcard in {rule}"
    # an access review (diagnose kind=serviceaccount) is a create that persists nothing
    assert not [r for r in read_only if WRITE_VERBS & set(r["verbs"]) and r["resources"] != ["localsubjectaccessreviews"]], "read-only Role grants a write verb"
    granted = {(g, res, v) for r in writable for g in r["apiGroups"] for res in r["resources"] for v in r["verbs"]}
    for needed in [
        ("apps", "deployments/scale", "patch"),
        ("apps", "deployments", "patch"),
        ("apps", "statefulsets/scale", "patch"),
        ("", "configmaps", "create"),
    ]:
        assert needed in granted, f"readOnly=false must allow {needed}"
    assert not any(res in ("pods/exec", "nodes/proxy", "namespaces") for r in writable for res in r["resources"])


def test_ops_mcp_gets_a_role_in_each_allowed_namespace() -> None:
    docs = render(sets={"opsMcp.namespaces": "{todo,staging}"})
    roles = {r["metadata"].get("namespace", "<release>") for r in find(docs, "Role")}
    assert roles == {"<release>", "staging"}
    assert one(docs, "ConfigMap", "todo-chatbot-ops-mcp")["data"]["OPS_MCP_NAMESPACES"] == "todo,staging"
    no_secrets = rbac_rules(render(sets={"opsMcp.rbac.helmReleaseSecrets": "false"}))
    assert not [r for r in no_secrets if "secrets" in r["resources"]]


def test_kagent_objects_need_the_crds_and_render_with_them() -> None:
    proc = helm(*template_args(sets={"kagent.enabled": "true"}), check=False)
    assert proc.returncode != 0
    assert "does not serve kagent.dev/v1alpha2" in proc.stderr and "kagent.enabled=false" in proc.stderr
    extra: list[str] = []
    for v in KAGENT_API_VERSIONS:
        extra += ["--api-versions", v]
    docs = render(sets={"kagent.enabled": "true"}, extra=tuple(extra))
    agent = one(docs, "Agent", "todo-ops-agent")
    (tool,) = agent["spec"]["declarative"]["tools"]
    assert tool["mcpServer"]["kind"] == "RemoteMCPServer" and tool["mcpServer"]["name"] == "todo-chatbot-ops-mcp"
    # read-only by default: no write tool offered
    assert "requireApproval" not in tool["mcpServer"] and "scale_deployment" not in tool["mcpServer"]["toolNames"]
    writable = render(sets={"kagent.enabled": "true", "opsMcp.readOnly": "false"}, extra=tuple(extra))
    mcp = one(writable, "Agent", "todo-ops-agent")["spec"]["declarative"]["tools"][0]["mcpServer"]
    assert set(mcp["requireApproval"]) <= set(mcp["toolNames"]) and "scale_deployment" in mcp["requireApproval"]
    ops = one(docs, "RemoteMCPServer", "todo-chatbot-ops-mcp")
    assert ops["spec"]["url"] == "http://todo-chatbot-ops-mcp.todo.svc.cluster.local:8002/mcp"
    assert ops["spec"]["headersFrom"][0]["valueFrom"]["key"] == "OPS_MCP_AUTHORIZATION"


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        ({"backend.replicaCount": "two"}, "at '/backend/replicaCount': got string, want integer"),
        ({"frontend.service.type": "Ingress"}, "at '/frontend/service/type': value must be one of"),
        ({"backend.image.pullPolicy": "Sometimes"}, "at '/backend/image/pullPolicy'"),
        ({"replicas": "3"}, "additional properties 'replicas' not allowed"),
        ({"secrets.betterAuthSecret": "short"}, "at '/secrets/betterAuthSecret'"),
        ({"secrets.databaseUrl": "mysql://u:p@h/db"}, "at '/secrets/databaseUrl'"),
        ({"opsMcp.namespaces": "{Not_A_Namespace}"}, "at '/opsMcp/namespaces/0'"),
        ({"publicUrl": "todo.local"}, "at '/publicUrl'"),
        ({"kagent.agent.requireApproval": "{delete_everything}"}, "at '/kagent/agent/requireApproval/0'"),
        ({"backend.chatOps.adminUserIds": "u-1"}, "at '/backend/chatOps/adminUserIds': got string, want array"),
        ({"backend.chatOps.adminUserIds": "{u 1}"}, "at '/backend/chatOps/adminUserIds/0'"),
        ({"backend.chatOps.allowWrites": "maybe"}, "at '/backend/chatOps/allowWrites': got string, want boolean"),
    ],
)
def test_schema_rejects_bad_values_with_the_path(sets: dict[str, str], expected: str) -> None:
    proc = helm(*template_args(sets=sets), check=False)
    assert proc.returncode != 0
    assert "values don't meet the specifications of the schema" in proc.stderr
    assert expected in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        ({"externalDatabase.enabled": "true"}, "postgresql.enabled and externalDatabase.enabled are both true"),
        ({"postgresql.enabled": "false", "externalDatabase.enabled": "true"}, "externalDatabase.enabled=true needs secrets.databaseUrl"),
    ],
)
def test_inconsistent_values_fail_with_a_clear_message(sets: dict[str, str], expected: str) -> None:
    proc = helm(*template_args(sets=sets), check=False)
    assert proc.returncode != 0 and expected in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-f", str(CHART / "values-minikube.yaml")], ["http://todo.local", "minikube addons enable ingress"]),
        (["--set", "frontend.service.type=NodePort"], ["minikube service todo-chatbot-frontend -n todo --url"]),
        (["--set", "postgresql.enabled=false"], ["Database: SQLite on the claim todo-chatbot-sqlite"]),
    ],
)
def test_notes_print_minikube_access_commands(args: list[str], expected: list[str]) -> None:
    out = helm("install", "todo-chatbot", str(CHART), "-n", "todo", "--dry-run=client", *args).stdout
    notes = out[out.index("NOTES:") :]
    for line in expected:
        assert line in notes, notes
    assert "helm test todo-chatbot -n todo" in notes


@pytest.mark.parametrize("profile", PROFILES)
def test_only_the_frontend_gets_the_better_auth_secret(profile: str) -> None:
    """The backend and the task MCP server verify tokens against the frontend's JWKS: the secret that signs
    sessions would only let them (or whoever reads their env) mint HS256 tokens."""
    holders = {
        where
        for where, spec in pod_specs(render(profile))
        for c in spec["containers"] + spec.get("initContainers", [])
        for e in c.get("env", [])
        if e["name"] == "BETTER_AUTH_SECRET" or e.get("valueFrom", {}).get("secretKeyRef", {}).get("key") == "BETTER_AUTH_SECRET"
    }
    assert holders == {"Deployment/todo-chatbot-frontend"}
    config = one(render(profile), "ConfigMap", "todo-chatbot-backend")["data"]
    assert config["BETTER_AUTH_JWKS_URL"].endswith("/api/auth/jwks") and "AUTH_DEVELOPMENT_MODE" not in config


def granted(rules: list[dict], verb: str, resource: str) -> bool:
    main, _, sub = resource.partition("/")
    plural, _, group = main.partition(".")
    name = f"{plural}/{sub}" if sub else plural
    return any(group in r.get("apiGroups", []) and name in r.get("resources", []) and verb in r.get("verbs", []) and not r.get("resourceNames") for r in rules)


def ops_config(docs: list[dict]) -> dict[str, str]:
    return one(docs, "ConfigMap", "todo-chatbot-ops-mcp")["data"]


def ops_settings(docs: list[dict]):
    """The Settings ops-mcp runs with in the chart: every OPS_MCP_* of its ConfigMap, read as ops-mcp reads its
    environment (an unknown name fails: settings forbid extra fields)."""
    from ops_mcp.settings import load_settings

    return load_settings(**{k.removeprefix("OPS_MCP_").lower(): v for k, v in ops_config(docs).items() if k.startswith("OPS_MCP_")})


def ops_server(docs: list[dict]):
    """The chart's ops-mcp as built from its ConfigMap: its registered tools (`kinds`), their toolsets and RBAC."""
    from ops_mcp.server import build_server

    return build_server(ops_settings(docs)).ops


@pytest.mark.parametrize(
    "sets",
    [
        {},
        {"opsMcp.readOnly": "false"},
        {"opsMcp.readOnly": "false", "opsMcp.allowExec": "true", "opsMcp.toolsets": "{inspect,logs,workloads,releases,changes,diagnose,metrics}"},
        {"opsMcp.readOnly": "false", "opsMcp.helmWrites": "true"},
        {"opsMcp.readOnly": "false", "opsMcp.writePolicy.allowSecretWrites": "true", "opsMcp.writePolicy.allowRbacWrites": "true"},
    ],
)
def test_the_ops_mcp_role_grants_what_each_tool_declares(sets: dict[str, str]) -> None:
    """Every (verb, resource) a tool the chart's ops-mcp lists declares beside its code (@tool(rbac=...)) is granted by
    the chart's Role, or its ClusterRole for cluster-scoped kinds; doctor checks the same declarations on a live cluster."""
    from ops_mcp.cluster import KINDS

    docs = render(sets=sets)
    role = [r for d in find(docs, "Role") if d["metadata"]["name"].endswith("ops-mcp") for r in d["rules"]]
    cluster_role = [r for d in find(docs, "ClusterRole") if "ops-mcp" in d["metadata"]["name"] for r in d["rules"]]
    ops = ops_server(docs)
    assert ("top_pods" in ops.kinds) is ("opsMcp.toolsets" in sets)
    assert ("exec_in_pod" in ops.kinds) is ("opsMcp.allowExec" in sets)
    assert any("pods/exec" in r["resources"] for r in role) is ("opsMcp.allowExec" in sets), "pods/exec only for exec_in_pod"
    assert ("deploy_chart" in ops.kinds) is ("opsMcp.helmWrites" in sets)
    missing = []
    for tool, needs in ops.rbac.items():
        assert needs, f"{tool} declares no RBAC"
        for verb, resource in needs:
            kind = KINDS.get(resource.split("/")[0]) or KINDS.get(resource.split("/")[0].split(".")[0])  # nodes.metrics.k8s.io: as nodes
            rules = role if kind is None or kind.namespaced else cluster_role
            if not granted(rules, verb, resource):
                missing.append(f"{tool}: {verb} {resource}")
    assert missing == []


# The writes ops-mcp's write policy refuses by default, by the value that allows them (and, for the Helm write tools,
# opsMcp.helmWrites allows them all): the Role grants a write verb on these only then.
POLICY_GATED = {
    "opsMcp.writePolicy.allowSecretWrites": {("", "secrets")},
    "opsMcp.writePolicy.allowNetworkPolicyWrites": {("networking.k8s.io", "networkpolicies")},
    "opsMcp.writePolicy.allowRbacWrites": {("rbac.authorization.k8s.io", "roles"), ("rbac.authorization.k8s.io", "rolebindings")},
}
WRITES = ("create", "update", "patch", "delete")


def role_grants(docs: list[dict]) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) the ops-mcp Role grants."""
    rules = [r for d in find(docs, "Role") if d["metadata"]["name"] == "todo-chatbot-ops-mcp" for r in d["rules"]]
    return {(g, res, v) for r in rules for g in r["apiGroups"] for res in r["resources"] for v in r["verbs"]}


@pytest.mark.parametrize("value", [*POLICY_GATED, "opsMcp.helmWrites"])
def test_the_role_grants_a_write_the_policy_refuses_only_with_the_value_that_allows_it(value: str) -> None:
    """Without the value, no write verb on the gated resources; with it, exactly their write verbs and nothing else, and
    the server gets the same switch (OPS_MCP_ALLOW_*); read-only, the value grants nothing."""
    gated = set().union(*POLICY_GATED.values())
    writable = {"opsMcp.readOnly": "false"}
    base = role_grants(render(sets=writable))
    assert not {(g, res, v) for g, res, v in base if (g, res) in gated and v in WRITE_VERBS}
    docs = render(sets={**writable, value: "true"})
    expected = gated if value == "opsMcp.helmWrites" else POLICY_GATED[value]
    assert role_grants(docs) - base == {(g, res, v) for g, res in expected for v in WRITES}
    assert not base - role_grants(docs)
    settings = ops_settings(docs)
    switches = {"allow_secret_writes", "allow_network_policy_writes", "allow_rbac_writes"}
    on = {f for f in switches if getattr(settings, f)}
    assert on == ({re.sub(r"([A-Z])", r"_\1", value.rpartition(".")[2]).lower()} if value in POLICY_GATED else set())
    assert role_grants(render(sets={value: "true"})) == role_grants(render())


def test_ops_mcp_gets_the_write_policy_and_consent_from_values() -> None:
    default = ops_settings(render())
    assert (default.allow_secret_writes, default.allow_network_policy_writes, default.allow_rbac_writes) == (False, False, False)
    assert (default.allow_service_types, default.pod_security, default.policy_disable, default.consent) == ([], "restricted", [], "auto")
    assert "OPS_MCP_CONSENT" not in ops_config(render()), "empty consent leaves the server's default"
    sets = {
        "opsMcp.writePolicy.allowServiceTypes": "{NodePort,LoadBalancer}",
        "opsMcp.writePolicy.podSecurity": "baseline",
        "opsMcp.writePolicy.disable": "{service-exposure,replicas-ceiling}",
        "opsMcp.consent": "elicit",
    }
    chosen = ops_settings(render(sets=sets))
    assert chosen.allow_service_types == ["NodePort", "LoadBalancer"] and chosen.pod_security == "baseline"
    assert chosen.policy_disable == ["service-exposure", "replicas-ceiling"] and chosen.consent == "elicit"


def test_the_helm_write_tools_are_listed_only_with_helm_writes() -> None:
    """Without opsMcp.helmWrites the writable server lists every write tool but the ones that run helm (OPS_MCP_TOOLS
    denies them), and kagent's Agent names none of them; read-only, nothing is denied (no write tool is listed)."""
    with_helm = ops_server(render(sets={"opsMcp.readOnly": "false", "opsMcp.helmWrites": "true"}))
    helm_writes = {t for t, kind in with_helm.kinds.items() if with_helm.catalog[t] == "releases" and kind != "read"}
    assert helm_writes == {"deploy_chart", "rollback_release", "uninstall_release"}
    docs = render(sets={"opsMcp.readOnly": "false"})
    without = ops_server(docs)
    assert set(with_helm.kinds) - set(without.kinds) == helm_writes
    assert sorted(ops_config(docs)["OPS_MCP_TOOLS"].split(",")) == sorted(f"-{t}" for t in helm_writes)
    assert ops_config(render())["OPS_MCP_TOOLS"] == ""
    extra = tuple(a for v in KAGENT_API_VERSIONS for a in ("--api-versions", v))
    for helm_on in (False, True):
        sets = {"kagent.enabled": "true", "opsMcp.readOnly": "false", "opsMcp.helmWrites": str(helm_on).lower()}
        agent = one(render(sets=sets, extra=extra), "Agent", "todo-ops-agent")
        names = set(agent["spec"]["declarative"]["tools"][0]["mcpServer"]["toolNames"])
        assert helm_writes & names == (helm_writes if helm_on else set()), names


def test_ops_mcp_protects_its_own_objects() -> None:
    """OPS_MCP_PROTECTED_OBJECTS names every object of ops-mcp the chart renders (its component's, with every optional
    one on), the NetworkPolicies that select its pods and the Secret holding its token; nothing of the other components."""
    sets = {"networkPolicy.enabled": "true", "opsMcp.autoscaling.enabled": "true", "kagent.enabled": "true", "opsMcp.readOnly": "false"}
    extra = tuple(a for v in KAGENT_API_VERSIONS for a in ("--api-versions", v))
    for more in ({}, {"secrets.existingSecret": "vault-synced"}):
        docs = render(sets={**sets, **more}, extra=extra)
        protected = ops_config(docs)["OPS_MCP_PROTECTED_OBJECTS"].split(",")
        own = {f"{d['kind']}/{d['metadata']['name']}" for d in docs if d["metadata"]["labels"].get("app.kubernetes.io/component") == "ops-mcp"}
        assert {f"{kind}/todo-chatbot-ops-mcp" for kind in ("Deployment", "ServiceAccount", "Role", "PodDisruptionBudget")} <= own
        pod_labels = pod_template(docs, "ops-mcp")["metadata"]["labels"]
        policies = find(docs, "NetworkPolicy")
        selecting = {f"NetworkPolicy/{p['metadata']['name']}" for p in policies if p["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()}
        assert selecting == {"NetworkPolicy/todo-chatbot-ops-mcp", "NetworkPolicy/todo-chatbot-default-deny"}
        token = f"Secret/{secret_ref(docs, 'ops-mcp', 'OPS_MCP_HTTP_TOKEN')['name']}"
        assert set(protected) == own | selecting | {token}, set(protected) ^ (own | selecting | {token})
        assert all(entry.count("/") == 1 for entry in protected)


def test_sqlite_mode_gives_the_backend_and_the_task_mcp_server_one_database() -> None:
    """SQLite (neither PostgreSQL enabled): both Deployments mount the one claim at /data, so the chat's tool
    calls (task MCP server) and the REST API (backend) see the same tasks; an emptyDir each is refused."""
    docs = render(sets={"postgresql.enabled": "false"})
    claims = {}
    for name in ("todo-chatbot-backend", "todo-chatbot-mcp"):
        spec = one(docs, "Deployment", name)["spec"]["template"]["spec"]
        [data] = [v for v in spec["volumes"] if v["name"] == "data"]
        [mount] = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "data"]
        claims[name] = (data["persistentVolumeClaim"]["claimName"], mount["mountPath"])
    assert set(claims.values()) == {("todo-chatbot-sqlite", "/data")}, claims
    assert one(docs, "PersistentVolumeClaim", "todo-chatbot-sqlite")["spec"]["accessModes"] == ["ReadWriteOnce"]
    proc = helm(*template_args(sets={"postgresql.enabled": "false", "sqlite.persistence.enabled": "false"}), check=False)
    assert proc.returncode != 0 and "a database each" in proc.stderr, proc.stderr
    # With PostgreSQL there is no SQLite claim at all.
    assert not find(render(), "PersistentVolumeClaim", "todo-chatbot-sqlite")


def test_pods_keep_serving_through_a_pre_stop_sleep_before_sigterm() -> None:
    docs = render(sets={"backend.preStopSleepSeconds": "7"})
    for name, seconds in (("todo-chatbot-backend", 7), ("todo-chatbot-frontend", 5), ("todo-chatbot-mcp", 5), ("todo-chatbot-ops-mcp", 5)):
        spec = one(docs, "Deployment", name)["spec"]["template"]["spec"]
        assert spec["containers"][0]["lifecycle"]["preStop"] == {"sleep": {"seconds": seconds}}, name
        assert spec["terminationGracePeriodSeconds"] == seconds + 30, name
    spec = one(render(sets={"frontend.preStopSleepSeconds": "0"}), "Deployment", "todo-chatbot-frontend")
    assert "lifecycle" not in spec["spec"]["template"]["spec"]["containers"][0]


def test_ops_mcp_egress_goes_to_the_api_server_only() -> None:
    """Policies match after Service translation: the API server's own addresses and ports count, not 10.96.0.1:443.
    Given ones are used as they are; helm template has no cluster to look the live ones up in: the ports alone (the
    looked-up addresses: tests/realnode/test_network_policy_real.py)."""

    def egress(**sets: str) -> list[dict]:
        [policy] = find(render(sets={"networkPolicy.enabled": "true", **sets}), "NetworkPolicy", "todo-chatbot-ops-mcp")
        return policy["spec"]["egress"]

    assert egress() == [{"ports": [{"port": p, "protocol": "TCP"} for p in (443, 6443, 8443)]}]
    given = egress(**{"networkPolicy.apiServer.cidrs": "{10.0.0.2/32,fd00::2/128}", "networkPolicy.apiServer.ports": "{16443}"})
    assert given == [{"to": [{"ipBlock": {"cidr": "10.0.0.2/32"}}, {"ipBlock": {"cidr": "fd00::2/128"}}], "ports": [{"port": 16443, "protocol": "TCP"}]}]


def test_forwarding_the_admins_token_makes_ops_mcp_verify_the_apps_tokens_of_the_admins() -> None:
    """backend.chatOps.forwardUserToken: the backend forwards the admin's token, ops-mcp verifies it against the
    frontend's JWKS (issuer and audience as the backend's), only for adminUserIds, and may reach the JWKS."""
    sets = {
        "backend.chatOps.forwardUserToken": "true",
        "backend.chatOps.adminUserIds": "{u-admin}",
        "networkPolicy.enabled": "true",
        "networkPolicy.ingressControllerNamespace": "ingress",
    }
    docs = render(sets=sets)
    backend = one(docs, "ConfigMap", "todo-chatbot-backend")["data"]
    ops = one(docs, "ConfigMap", "todo-chatbot-ops-mcp")["data"]
    assert backend["OPS_MCP_FORWARD_USER_TOKEN"] == "true"
    assert (ops["OPS_MCP_OIDC_ISSUER"], ops["OPS_MCP_OIDC_AUDIENCE"]) == (backend["BETTER_AUTH_ISSUER"], backend["BETTER_AUTH_AUDIENCE"])
    assert ops["OPS_MCP_OIDC_JWKS_URL"] == backend["BETTER_AUTH_JWKS_URL"] and ops["OPS_MCP_OIDC_SUBJECTS"] == "u-admin"
    egress = one(docs, "NetworkPolicy", "todo-chatbot-ops-mcp")["spec"]["egress"]
    assert any(port["port"] == 3000 for rule in egress for port in rule["ports"]), egress
    frontend_from = one(docs, "NetworkPolicy", "todo-chatbot-frontend")["spec"]["ingress"][0]["from"]
    assert any("ops-mcp" in expr["values"] for peer in frontend_from for expr in (peer.get("podSelector") or {}).get("matchExpressions", []))
    # Off (the default): no OIDC, and ops-mcp reaches only the API server.
    docs = render(sets={"networkPolicy.enabled": "true"})
    assert not any(k.startswith("OPS_MCP_OIDC") for k in one(docs, "ConfigMap", "todo-chatbot-ops-mcp")["data"])
    assert not any(port["port"] == 3000 for rule in one(docs, "NetworkPolicy", "todo-chatbot-ops-mcp")["spec"]["egress"] for port in rule["ports"])
    proc = helm(*template_args(sets={"backend.chatOps.forwardUserToken": "true"}), check=False)
    assert proc.returncode != 0 and "needs backend.chatOps.adminUserIds" in proc.stderr, proc.stderr
