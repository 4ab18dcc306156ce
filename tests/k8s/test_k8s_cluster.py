"""The chart, the manifests and the kagent objects against the real apiserver of the test control plane
(KWOK nodes): server-side dry runs, a real helm install/upgrade/rollback, and the ops-mcp RBAC."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import yaml
from cluster.harness import Cluster
from k8s_chart import CHART, KAGENT_API_VERSIONS, ROOT, VALUES
from kubernetes import client, config, watch

pytestmark = pytest.mark.cluster

HERE = Path(__file__).resolve().parent
RELEASE = "todo-chatbot"
APP = ["frontend", "backend", "mcp", "ops-mcp"]
# The images do not exist here: KWOK never pulls; the pods turn Ready on the fake nodes.
KWOK_VALUES = ["--set", "postgresql.persistence.enabled=false"]


def dry_run(cluster: Cluster, manifest: str, namespace: str) -> str:
    proc = cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=manifest, check=False)
    assert proc.returncode == 0, f"the apiserver refused:\n{proc.stderr}"
    return proc.stdout


def template(cluster: Cluster, namespace: str, *args: str) -> str:
    return cluster.helm("template", RELEASE, str(CHART), "--namespace", namespace, *args).stdout


@pytest.mark.parametrize("profile", ["default", "minikube", "production"])
def test_rendered_chart_passes_server_side_dry_run(cluster: Cluster, namespace: str, profile: str) -> None:
    restrict(cluster, namespace)
    args = [a for f in VALUES[profile] for a in ("-f", str(f))]
    manifest = template(cluster, namespace, *args, "--set", "networkPolicy.enabled=true")
    proc = cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=manifest, check=False)
    assert proc.returncode == 0, f"the apiserver refused:\n{proc.stderr}"
    assert "PodSecurity" not in proc.stderr, proc.stderr  # PSA warns about workloads whose pods it would refuse
    # ...and it is live: the same Deployment without its security contexts draws the warning.
    loose = [d for d in yaml.safe_load_all(manifest) if d and d["kind"] == "Deployment"][0]
    loose["spec"]["template"]["spec"].pop("securityContext")
    loose["spec"]["template"]["spec"]["containers"][0].pop("securityContext")
    warned = cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=yaml.safe_dump(loose))
    assert 'would violate PodSecurity "restricted' in warned.stderr
    out = proc.stdout
    assert "deployment.apps/todo-chatbot-backend created (server dry run)" in out
    assert "networkpolicy.networking.k8s.io/todo-chatbot-default-deny created (server dry run)" in out


def relocate(docs: list[dict], namespace: str) -> str:
    """Kustomize output moved to the test's namespace (the overlays target namespace `todo`)."""
    kept = []
    for d in docs:
        if d["kind"] == "Namespace":
            continue
        if "namespace" in d["metadata"]:
            d["metadata"]["namespace"] = namespace
        for subject in d.get("subjects", []):
            subject["namespace"] = namespace
        if d["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            d["metadata"]["name"] += f"-{namespace}"
            if "roleRef" in d:
                d["roleRef"]["name"] += f"-{namespace}"
        kept.append(d)
    return yaml.safe_dump_all(kept)


@pytest.mark.parametrize("overlay", ["base", "overlays/minikube", "overlays/production"])
def test_kustomize_output_passes_server_side_dry_run(cluster: Cluster, namespace: str, overlay: str) -> None:
    built = cluster.kubectl("kustomize", str(ROOT / "k8s" / "kustomize" / overlay)).stdout
    docs = [d for d in yaml.safe_load_all(built) if d]
    out = dry_run(cluster, relocate(docs, namespace), namespace)
    assert "deployment.apps/todo-chatbot-frontend created (server dry run)" in out


@pytest.fixture(scope="module")
def kagent_crds(cluster: Cluster) -> None:
    cluster.kubectl("apply", "--server-side", "-f", str(HERE / "testdata" / "kagent-crds"))

    def established(crd: str) -> bool:
        obj = json.loads(cluster.kubectl("get", "crd", f"{crd}.kagent.dev", "-o", "json").stdout)
        conditions = (obj.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    for crd in ("agents", "modelconfigs", "remotemcpservers"):
        cluster.wait_for(lambda: established(crd), timeout=60, message=f"CRD {crd}.kagent.dev established")  # noqa: B023 (called at once)
    cluster.wait_for(
        lambda: "agents" in cluster.kubectl("api-resources", "--api-group=kagent.dev", "-o", "name").stdout,
        timeout=30,
        message="kagent.dev served by discovery",
    )


def test_kagent_objects_pass_server_side_dry_run(cluster: Cluster, namespace: str, kagent_crds: None) -> None:
    built = cluster.kubectl("kustomize", str(ROOT / "k8s" / "kagent")).stdout
    out = dry_run(cluster, relocate([d for d in yaml.safe_load_all(built) if d], namespace), namespace)
    for line in (
        "modelconfig.kagent.dev/todo-ops-model created",
        "remotemcpserver.kagent.dev/todo-ops-mcp created",
        "remotemcpserver.kagent.dev/todo-task-mcp created",
        "agent.kagent.dev/todo-ops-agent created",
    ):
        assert line in out
    # The chart's kagent objects, read-write (tools behind requireApproval), against the real CRDs.
    extra = [a for v in KAGENT_API_VERSIONS for a in ("--api-versions", v)]
    chart = template(cluster, namespace, "--set", "kagent.enabled=true", "--set", "opsMcp.readOnly=false", *extra)
    out = dry_run(cluster, chart, namespace)
    assert "agent.kagent.dev/todo-ops-agent created (server dry run)" in out


def test_kagent_validation_is_real(cluster: Cluster, namespace: str, kagent_crds: None) -> None:
    # The CRD's CEL rule: every requireApproval entry must be one of toolNames. A dry run must refuse it.
    agent = next(d for d in yaml.safe_load_all((ROOT / "k8s" / "kagent" / "agent.yaml").read_text()) if d)
    agent["spec"]["declarative"]["tools"][0]["mcpServer"]["requireApproval"].append("uninstall_release")
    proc = cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=yaml.safe_dump(agent), check=False)
    assert proc.returncode != 0 and "each RequireApproval entry must also appear in ToolNames" in proc.stderr


def test_chart_capability_guard_sees_the_real_crds(cluster: Cluster, namespace: str, kagent_crds: None) -> None:
    # --dry-run=server takes the API versions from the cluster's discovery: no --api-versions needed.
    proc = cluster.helm("install", RELEASE, str(CHART), "-n", namespace, "--dry-run=server", "--set", "kagent.enabled=true")
    assert "kind: Agent" in proc.stdout and "kind: RemoteMCPServer" in proc.stdout


# --- a real install, upgrade and rollback ---------------------------------------------------------


class Recorder:
    """Watches Deployments and Jobs of a namespace in the background (the real watch API)."""

    def __init__(self, kubeconfig: str, namespace: str):
        self.api = config.new_client_from_config(config_file=kubeconfig)
        self.namespace = namespace
        self.deployments: list[dict] = []
        self.jobs: list[dict] = []
        self._watches: list[watch.Watch] = []
        self._threads = [
            threading.Thread(target=self._run, args=(fn, sink), daemon=True)
            for fn, sink in (
                (client.AppsV1Api(self.api).list_namespaced_deployment, self.deployments),
                (client.BatchV1Api(self.api).list_namespaced_job, self.jobs),
            )
        ]

    def _run(self, fn, sink: list[dict]) -> None:
        w = watch.Watch()
        self._watches.append(w)
        try:
            for event in w.stream(fn, self.namespace, timeout_seconds=600):
                obj = self.api.sanitize_for_serialization(event["object"])
                sink.append({"type": event["type"], "object": obj})
        except Exception as exc:  # a watch that breaks mid-test would make the checks vacuous
            if not self._stopped:
                self.errors.append(exc)

    def __enter__(self) -> Recorder:
        self._stopped = False
        self.errors: list[Exception] = []
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self._stopped = True
        for w in self._watches:
            w.stop()
        self.api.close()  # ends the blocked streams
        if exc_type is None:
            assert not self.errors, f"the watch broke during the test: {self.errors}"

    def backend_states(self, since: int) -> list[dict]:
        return [e["object"] for e in self.deployments[since:] if e["object"]["metadata"]["name"] == "todo-chatbot-backend"]


def get_json(cluster: Cluster, namespace: str, *what: str) -> dict:
    return json.loads(cluster.kubectl("get", *what, "-n", namespace, "-o", "json").stdout)


def pod_uids(cluster: Cluster, namespace: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for pod in get_json(cluster, namespace, "pods")["items"]:
        component = pod["metadata"]["labels"].get("app.kubernetes.io/component", "?")
        if pod["metadata"].get("deletionTimestamp"):
            continue
        out.setdefault(component, set()).add(pod["metadata"]["uid"])
    return out


def assert_all_available(cluster: Cluster, namespace: str, replicas: dict[str, int]) -> None:
    for name, want in replicas.items():
        dep = get_json(cluster, namespace, "deployment", f"todo-chatbot-{name}")
        status = dep["status"]
        available = {c["type"]: c["status"] for c in status.get("conditions", [])}.get("Available")
        assert available == "True", f"{name}: {status}"
        assert status.get("availableReplicas") == status.get("updatedReplicas") == want, f"{name}: {status}"


def assert_services_have_endpoints(cluster: Cluster, namespace: str) -> None:
    slices = get_json(cluster, namespace, "endpointslices")["items"]
    for svc in ("frontend", "backend", "mcp", "ops-mcp", "postgresql"):
        ready = [
            ep
            for s in slices
            if s["metadata"]["labels"].get("kubernetes.io/service-name") == f"todo-chatbot-{svc}"
            for ep in s.get("endpoints") or []
            if ep.get("conditions", {}).get("ready")
        ]
        assert ready, f"Service todo-chatbot-{svc} has no ready endpoint"


def migration_runs(recorder: Recorder) -> dict[str, dict]:
    """Migration Job runs seen by the watch, by uid: the last state of each."""
    runs: dict[str, dict] = {}
    for e in recorder.jobs:
        job = e["object"]
        if job["metadata"]["name"].startswith("todo-chatbot-migrate-r"):
            runs[job["metadata"]["uid"]] = job
    return runs


def assert_never_below(states: list[dict], desired: int) -> None:
    """Every backend state the watch saw during a rollout keeps `desired` replicas available."""
    assert states, "the watch saw no backend change"
    for s in states:
        available = (s.get("status") or {}).get("availableReplicas") or 0
        assert available >= desired, f"available replicas dropped to {available} < {desired}: {s['status']}"


def restrict(cluster: Cluster, namespace: str) -> None:
    """Pod Security Admission `restricted`, enforced: a pod that breaks it is never created."""
    cluster.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/warn=restricted", "--overwrite"
    )


def test_install_upgrade_rollback(cluster: Cluster, namespace: str, uninstall) -> None:
    uninstall(cluster, namespace)
    restrict(cluster, namespace)
    base = ["-n", namespace, *KWOK_VALUES, "--set", "backend.replicaCount=2", "--wait", "--timeout", "240s"]
    with Recorder(cluster.kubeconfig, namespace) as rec:
        cluster.helm("install", RELEASE, str(CHART), *base)
        status = json.loads(cluster.helm("status", RELEASE, "-n", namespace, "-o", "json").stdout)
        assert status["info"]["status"] == "deployed"
        assert_all_available(cluster, namespace, {"frontend": 1, "backend": 2, "mcp": 1, "ops-mcp": 1})
        sts = get_json(cluster, namespace, "statefulset", "todo-chatbot-postgresql")["status"]
        assert sts.get("readyReplicas") == 1
        assert_services_have_endpoints(cluster, namespace)
        # Chat ops: the live backend reads its ops token from the key the live Secret holds for ops-mcp.
        backend = get_json(cluster, namespace, "deployment", "todo-chatbot-backend")["spec"]["template"]["spec"]
        token_ref = {e["name"]: e for e in backend["containers"][0]["env"]}["OPS_MCP_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert token_ref["key"] in get_json(cluster, namespace, "secret", token_ref["name"])["data"]
        # The migration Job of revision 1 runs to completion with the install (helm --wait does not wait for a Job:
        # on a loaded machine its pod can still be finishing when helm returns).
        done = lambda: [j for j in migration_runs(rec).values() if (j.get("status") or {}).get("succeeded") == 1]  # noqa: E731
        cluster.wait_for(done, timeout=60, interval=0.5, message="migration Job of revision 1 succeeded")
        runs = migration_runs(rec)
        assert len(runs) == 1 and list(runs.values())[0]["status"].get("succeeded") == 1, runs
        assert list(runs.values())[0]["metadata"]["name"] == "todo-chatbot-migrate-r1"

        # `helm test` runs a real container: tests/realnode/test_app_real.py runs it on the real node.

        before = pod_uids(cluster, namespace)
        events_before = len(rec.deployments)
        cluster.helm("upgrade", RELEASE, str(CHART), *base, "--set", "anthropicModel=claude-upgraded")
        after = pod_uids(cluster, namespace)
        # Only the backend read the changed value: its pods are all new, every other pod is untouched.
        assert after["backend"].isdisjoint(before["backend"]) and len(after["backend"]) == 2
        for component in ("frontend", "task-mcp", "ops-mcp", "database"):
            assert after[component] == before[component], f"{component} pods were replaced"
        upgrade_states = rec.backend_states(events_before)
        assert any((s["status"].get("updatedReplicas") or 0) < 2 for s in upgrade_states), "no rollout observed"
        assert_never_below(upgrade_states, 2)
        # The upgrade's revision ran its own migration Job; revision 1's is gone with its manifest.
        runs = migration_runs(rec)
        assert sorted(j["metadata"]["name"] for j in runs.values()) == ["todo-chatbot-migrate-r1", "todo-chatbot-migrate-r2"]
        assert cluster.kubectl("get", "job", "todo-chatbot-migrate-r1", "-n", namespace, check=False).returncode != 0
        cm = get_json(cluster, namespace, "configmap", "todo-chatbot-backend")["data"]
        assert cm["ANTHROPIC_MODEL"] == "claude-upgraded"

        events_before = len(rec.deployments)
        cluster.helm("rollback", RELEASE, "1", "-n", namespace, "--wait", "--timeout", "240s")
        cm = get_json(cluster, namespace, "configmap", "todo-chatbot-backend")["data"]
        assert cm["ANTHROPIC_MODEL"] == "claude-sonnet-5-5"
        assert_all_available(cluster, namespace, {"frontend": 1, "backend": 2, "mcp": 1, "ops-mcp": 1})
        rollback_states = rec.backend_states(events_before)
        assert any((s["status"].get("updatedReplicas") or 0) < 2 for s in rollback_states), "no rollback rollout observed"
        assert_never_below(rollback_states, 2)
        history = json.loads(cluster.helm("history", RELEASE, "-n", namespace, "-o", "json").stdout)
        assert [h["revision"] for h in history] == [1, 2, 3] and history[-1]["status"] == "deployed"
        assert "Rollback to 1" in history[-1]["description"]
