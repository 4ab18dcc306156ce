"""The write policy's rules on plain objects (ops_mcp.guard): what each refuses, what it lets through, and that a
change is judged by what it adds (a workload that already breaks a rule may still be repaired)."""

from __future__ import annotations

import pytest

from ops_mcp import guard
from ops_mcp.errors import PolicyError
from ops_mcp.settings import load_settings
from security.attacks import workload

SETTINGS = load_settings()


def spec_of(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


def refused(*writes: guard.Write, settings=SETTINGS) -> tuple[str, ...]:
    with pytest.raises(PolicyError) as caught:
        guard.check(writes, settings)
    return caught.value.rules


def with_pod(**pod) -> dict:
    obj = workload("web")
    obj["spec"]["template"]["spec"].update(pod)
    return obj


@pytest.mark.parametrize(
    "pod, level, found",
    [
        ({"hostNetwork": True}, "baseline", "hostNetwork (host namespaces)"),
        ({"volumes": [{"name": "r", "hostPath": {"path": "/"}}]}, "baseline", "hostPath volume r"),
        ({"containers": [{"name": "c", "image": "i", "securityContext": {"privileged": True}}]}, "baseline", "privileged (container c)"),
        (
            {"containers": [{"name": "c", "image": "i", "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}]},
            "baseline",
            "capabilities add SYS_ADMIN (container c)",
        ),
        ({"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80, "hostPort": 80}]}]}, "baseline", "hostPort (container c)"),
        ({"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}}, "baseline", "sysctl kernel.msgmax"),
        ({"containers": [{"name": "c", "image": "i"}]}, "restricted", "runAsNonRoot not true (container c)"),
        ({"containers": [{"name": "c", "image": "i"}]}, "restricted", "allowPrivilegeEscalation not false (container c)"),
        ({"volumes": [{"name": "n", "nfs": {"server": "x", "path": "/"}}]}, "restricted", "nfs volume n (restricted allows"),
    ],
)
def test_pod_security_checks_name_what_breaks_the_level(pod: dict, level: str, found: str) -> None:
    violations = guard.pss_violations(spec_of(with_pod(**pod)), level)
    assert any(v.startswith(found) for v in violations), violations


def test_a_restricted_pod_spec_meets_both_levels_and_baseline_allows_its_capabilities() -> None:
    assert guard.pss_violations(spec_of(workload("web")), "restricted") == set()
    chown = with_pod(containers=[{"name": "c", "image": "i", "securityContext": {"capabilities": {"add": ["CHOWN"]}}}])
    assert guard.pss_violations(spec_of(chown), "baseline") == set()


def test_a_change_is_judged_by_what_it_adds() -> None:
    rooted = with_pod(containers=[{"name": "app", "image": "i:1"}])  # already breaks restricted
    new_image = with_pod(containers=[{"name": "app", "image": "i:2"}])
    guard.check([guard.Write("Deployment", "web", "ns", rooted, new_image)], SETTINGS)  # a repair passes
    privileged = with_pod(containers=[{"name": "app", "image": "i:2", "securityContext": {"privileged": True}}])
    assert refused(guard.Write("Deployment", "web", "ns", rooted, privileged)) == ("pod-security",)


def test_secret_references_are_new_only_when_the_call_does_not_create_the_secret() -> None:
    loads = with_pod(containers=[{**spec_of(workload("web"))["containers"][0], "envFrom": [{"secretRef": {"name": "db"}}]}])
    assert refused(guard.Write("Deployment", "web", "ns", workload("web"), loads)) == ("workload-identity",)
    secret = {"kind": "Secret", "metadata": {"name": "db"}, "stringData": {"a": "b"}}
    settings = load_settings(allow_secret_writes=True)
    guard.check([guard.Write("Secret", "db", "ns", None, secret), guard.Write("Deployment", "web", "ns", None, loads)], settings)


def test_rbac_writes_when_allowed_are_narrow() -> None:
    allowed = load_settings(allow_rbac_writes=True)
    role = {"kind": "Role", "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]}
    assert refused(guard.Write("Role", "r", "ns", None, role)) == ("rbac",)
    guard.check([guard.Write("Role", "r", "ns", None, role)], allowed)
    wide = {"kind": "Role", "rules": [{"apiGroups": ["*"], "resources": ["secrets"], "verbs": ["get"]}]}
    assert refused(guard.Write("Role", "r", "ns", None, wide), settings=allowed) == ("rbac",)
    binding = {"kind": "RoleBinding", "roleRef": {"kind": "Role", "name": "r"}, "subjects": [{"kind": "ServiceAccount", "name": "a", "namespace": "other"}]}
    assert refused(guard.Write("RoleBinding", "b", "ns", None, binding), settings=allowed) == ("rbac",)


def test_an_operator_can_turn_off_a_rule_and_doctor_says_so() -> None:
    settings = load_settings(policy_disable=["pod-security"], allow_service_types=["NodePort"])
    guard.check([guard.Write("Deployment", "web", "ns", None, with_pod(hostNetwork=True))], settings)
    rows = {r["rule"]: r["state"] for r in guard.describe(settings)}
    assert rows["pod-security"] == "off (OPS_MCP_POLICY_DISABLE)" and rows["rbac"] == "on" and set(rows) == set(guard.RULE_IDS)


def test_risk_decides_which_writes_a_person_approves() -> None:
    web = workload("web")
    scaled = {**web, "spec": {**web["spec"], "replicas": 3}}
    stopped = {**web, "spec": {**web["spec"], "replicas": 0}}
    image = with_pod(containers=[{**spec_of(web)["containers"][0], "image": "registry.local/app:2"}])
    assert guard.risks([guard.Write("Deployment", "web", "ns", web, scaled)]) == []
    assert guard.risks([guard.Write("Deployment", "web", "ns", web, stopped)]) == ["scales Deployment/web to 0"]
    assert guard.risks([guard.Write("Deployment", "web", "ns", web, image)]) == ["changes Deployment/web container app's image"]
    assert guard.risks([guard.Write("ConfigMap", "c", "ns", None, {"data": {}})]) == []
    assert guard.risks([guard.Write("ConfigMap", "c", "ns", {"data": {}}, None)]) == ["deletes ConfigMap/c"]
