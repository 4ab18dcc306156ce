"""The write policy: what an agent's change may do, declared once as rules and evaluated on every write.

Every change tool describes what it would write as `Write`s: the object before (the live one; None for a create)
and after (as the API server would store it: the server-side dry run's result, a chart's rendered object, a
revision's template; None for a delete). `check` evaluates every rule on each and refuses the whole call, before
anything is applied, with the rules that fired and what the operator can change. The rules judge what a change
adds, not what an object already was: a workload that already runs as root may still get a new image, but no
change may make it run as root.

`risks` says which writes need a person's consent (deletes, rollbacks, scaling to zero, a new image or command,
an overwritten Secret): risk decides, not the tool's name.

The rules, their ids and their switches are listed by `ops-mcp doctor` (`describe`); ops-mcp's Role in the chart
grants no write the defaults refuse (tests/k8s check the two against each other).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from ops_mcp import redact
from ops_mcp.errors import PolicyError
from ops_mcp.settings import Settings

PSS_LABEL = "pod-security.kubernetes.io/enforce"
LEVELS = ("baseline", "restricted")


@dataclass(frozen=True)
class Write:
    """One object a call would create (before None), change, or delete (after None)."""

    kind: str  # the Kind, e.g. "Deployment"
    name: str
    namespace: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    level: str = "restricted"  # the Pod Security Standards level pod specs must meet (level_for)
    new_secrets: frozenset[str] = frozenset()  # Secrets the same call creates (set by check): their values are the caller's own

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Rule:
    id: str
    refuses: str  # what it refuses, in a line
    check: Callable[[Write, Settings], list[str]]  # what this write does that the rule refuses (empty: nothing)
    allowed_by: str | None = None  # the setting that lifts it (the rule is then not evaluated)
    fix: str = "ask a cluster administrator to make this change"

    def on(self, settings: Settings) -> bool:
        return self.id not in settings.policy_disable and not (self.allowed_by and getattr(settings, self.allowed_by))


# -- what an object holds ------------------------------------------------------------------
REPLICA_KINDS = {"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"}


def _at(obj: Any, path: Iterable[str]) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def pod_spec(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """The pod spec of a Pod or of any pod template (redact.pod_spec), None for an object without one."""
    return redact.pod_spec(obj) or None if obj else None


# -- Pod Security Standards (v1.34), each violation as "check (where)" ------------------------------
BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
}  # fmt: skip
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}


def pss_violations(spec: dict[str, Any], level: str) -> set[str]:
    """What a pod spec does that the Pod Security Standards level forbids (baseline checks, plus restricted's)."""
    out: set[str] = set()
    psc = spec.get("securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            out.add(f"{field} (host namespaces)")
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            out.add(f"hostPath volume {volume.get('name')}")
        elif level == "restricted":
            kinds = [k for k in volume if k != "name"]
            if kinds and kinds[0] not in RESTRICTED_VOLUMES:
                out.add(f"{kinds[0]} volume {volume.get('name')} (restricted allows {', '.join(sorted(RESTRICTED_VOLUMES))})")
    for sysctl in psc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            out.add(f"sysctl {sysctl.get('name')}")
    out |= _contexts(psc, "pod")
    pod_non_root, pod_seccomp = psc.get("runAsNonRoot"), _at(psc, ("seccompProfile", "type"))
    for c in redact.containers(spec):
        where = f"container {c.get('name')}"
        sc = c.get("securityContext") or {}
        if sc.get("privileged"):
            out.add(f"privileged ({where})")
        if _at(sc, ("windowsOptions", "hostProcess")):
            out.add(f"hostProcess ({where})")
        if any(p.get("hostPort") for p in c.get("ports") or []):
            out.add(f"hostPort ({where})")
        if sc.get("procMount") not in (None, "Default"):
            out.add(f"procMount {sc.get('procMount')} ({where})")
        added = {str(cap).upper().removeprefix("CAP_") for cap in _at(sc, ("capabilities", "add")) or []}
        allowed = {"NET_BIND_SERVICE"} if level == "restricted" else BASELINE_CAPABILITIES
        if added - allowed:
            out.add(f"capabilities add {','.join(sorted(added - allowed))} ({where})")
        out |= _contexts(sc, where)
        if level != "restricted":
            continue
        if sc.get("allowPrivilegeEscalation") is not False:
            out.add(f"allowPrivilegeEscalation not false ({where})")
        if not (sc.get("runAsNonRoot") is True or (sc.get("runAsNonRoot") is None and pod_non_root is True)):
            out.add(f"runAsNonRoot not true ({where})")
        if sc.get("runAsUser") == 0 or (sc.get("runAsUser") is None and psc.get("runAsUser") == 0):
            out.add(f"runAsUser 0 ({where})")
        if (_at(sc, ("seccompProfile", "type")) or pod_seccomp) not in ("RuntimeDefault", "Localhost"):
            out.add(f"seccompProfile not RuntimeDefault ({where})")
        if "ALL" not in {str(cap).upper() for cap in _at(sc, ("capabilities", "drop")) or []}:
            out.add(f"capabilities not drop ALL ({where})")
    return out


def _contexts(sc: dict[str, Any], where: str) -> set[str]:
    """Checks shared by pod- and container-level security contexts."""
    out = set()
    if _at(sc, ("seccompProfile", "type")) == "Unconfined":
        out.add(f"seccompProfile Unconfined ({where})")
    if _at(sc, ("appArmorProfile", "type")) == "Unconfined":
        out.add(f"AppArmor unconfined ({where})")
    selinux = sc.get("seLinuxOptions") or {}
    if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
        out.add(f"seLinuxOptions ({where})")
    if where == "pod" and sc.get("runAsUser") == 0:
        out.add("runAsUser 0 (pod)")
    return out


# -- the rules ------------------------------------------------------------------------------
def _changed(w: Write) -> bool:
    return w.before != w.after


def _kinds(*kinds: str, what: str) -> Callable[[Write, Settings], list[str]]:
    def check(w: Write, _: Settings) -> list[str]:
        return [f"{w.label}: {what}"] if w.kind in kinds and _changed(w) else []

    return check


RBAC_KINDS = ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
CONTROL_KINDS = (
    "CustomResourceDefinition", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding", "APIService", "Namespace",
    "CertificateSigningRequest", "PriorityClass", "RuntimeClass", "PodSecurityPolicy", "StorageClass", "Node", "PersistentVolume",
)  # fmt: skip
# Verbs and resources that hand out more than the rule names: a narrow Role may grant none of them.
ESCALATING_VERBS = {"*", "escalate", "bind", "impersonate"}
ESCALATING_RESOURCES = {
    "*", "secrets", "roles", "rolebindings", "serviceaccounts/token", "pods/exec", "pods/attach", "pods/portforward", "pods/ephemeralcontainers",
    "nodes/proxy", "services/proxy", "certificatesigningrequests/approval", "tokenreviews", "subjectaccessreviews",
}  # fmt: skip


def _rbac(w: Write, settings: Settings) -> list[str]:
    if w.kind not in RBAC_KINDS or not _changed(w):
        return []
    if not settings.allow_rbac_writes or w.kind.startswith("Cluster") or w.after is None:
        return [
            f"{w.label}: RBAC objects are not written by ops-mcp"
            + (" (only namespaced Roles/RoleBindings, never deleted)" if settings.allow_rbac_writes else "")
        ]
    out = []
    if w.kind == "RoleBinding":
        ref = w.after.get("roleRef") or {}
        if ref.get("kind") != "Role":
            out.append(f"{w.label}: binds {ref.get('kind')}/{ref.get('name')} (only a Role of its namespace)")
        for s in w.after.get("subjects") or []:
            if s.get("kind") != "ServiceAccount" or (s.get("namespace") or w.namespace) != w.namespace:
                out.append(f"{w.label}: binds {s.get('kind')} {s.get('name')} (only ServiceAccounts of {w.namespace})")
    for rule in (w.after.get("rules") or []) if w.kind == "Role" else []:
        bad = (set(rule.get("verbs") or []) & ESCALATING_VERBS) | (set(rule.get("resources") or []) & ESCALATING_RESOURCES)
        if "*" in (rule.get("apiGroups") or []):
            bad.add("apiGroups *")
        if bad:
            out.append(f"{w.label}: grants {', '.join(sorted(bad))}")
    return out


def _secret_type(w: Write) -> str:
    return str((w.before or w.after or {}).get("type") or "")


def _helm_storage(w: Write, _: Settings) -> list[str]:
    obj = w.before or w.after or {}
    owner = ((obj.get("metadata") or {}).get("labels") or {}).get("owner")
    if w.kind in ("Secret", "ConfigMap") and (_secret_type(w) == "helm.sh/release.v1" or owner == "helm") and _changed(w):
        return [f"{w.label}: Helm's release record (only helm itself, through deploy_chart and rollback_release, writes it)"]
    return []


def _token_secret(w: Write, _: Settings) -> list[str]:
    if w.kind == "Secret" and _secret_type(w) == "kubernetes.io/service-account-token" and _changed(w):
        return [f"{w.label}: a ServiceAccount token"]
    return []


def _protected(w: Write, settings: Settings) -> list[str]:
    for entry in settings.protected_objects:
        parts = entry.split("/")
        kind, name, ns = parts[0], parts[-1], parts[1] if len(parts) == 3 else None
        if kind.lower() == w.kind.lower() and name == w.name and ns in (None, w.namespace):
            return [f"{w.label}: one of ops-mcp's own objects (OPS_MCP_PROTECTED_OBJECTS)"]
    return []


def _pod_security(w: Write, _: Settings) -> list[str]:
    after = pod_spec(w.after)
    if after is None:
        return []
    before = pod_spec(w.before)
    new = pss_violations(after, w.level) - (pss_violations(before, w.level) if before is not None else set())
    return [f"{w.label}: {v}" for v in sorted(new)]


def _service_account(spec: dict[str, Any] | None) -> str:
    spec = spec or {}
    return str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")


def _identity(w: Write, _: Settings) -> list[str]:
    after = pod_spec(w.after)
    if after is None:
        return []
    before = pod_spec(w.before)
    out = []
    sa = _service_account(after)
    if before is None and sa != "default":
        out.append(f"{w.label}: runs as ServiceAccount {sa} (a new workload may use only the namespace's default account)")
    elif before is not None and sa != _service_account(before):
        out.append(f"{w.label}: switches its ServiceAccount {_service_account(before)} -> {sa}")
    if before is not None and before.get("automountServiceAccountToken") is False and after.get("automountServiceAccountToken") is not False:
        out.append(f"{w.label}: turns on ServiceAccount token automount")
    added = redact.secret_refs(w.after) - (redact.secret_refs(w.before) if before is not None else set()) - w.new_secrets
    if added:
        out.append(f"{w.label}: loads Secret {', '.join(sorted(added))}, which it did not load before")
    return out


def _exposure(w: Write, settings: Settings) -> list[str]:
    if w.kind != "Service" or w.after is None:
        return []
    before, after = (w.before or {}).get("spec") or {}, w.after.get("spec") or {}
    out = []
    if after.get("externalIPs") and after.get("externalIPs") != before.get("externalIPs"):
        out.append(f"{w.label}: externalIPs {', '.join(after['externalIPs'])} (can capture other traffic: CVE-2020-8554)")
    kind = after.get("type") or "ClusterIP"
    if kind != "ClusterIP" and kind not in settings.allow_service_types and kind != (before.get("type") or "ClusterIP"):
        out.append(f"{w.label}: type {kind} (exposes it beyond the cluster)")
    return out


def _snippets(w: Write, _: Settings) -> list[str]:
    if w.kind != "Ingress" or w.after is None:
        return []
    before = (w.before or {}).get("metadata", {}).get("annotations") or {}
    after = (w.after.get("metadata") or {}).get("annotations") or {}
    return [
        f"{w.label}: annotation {k} (configuration injected into the ingress controller)" for k, v in after.items() if "snippet" in k and before.get(k) != v
    ]


def _replicas(w: Write, settings: Settings) -> list[str]:
    if w.after is None:
        return []
    ceiling, out = settings.max_replicas, []
    before, after = (w.before or {}).get("spec") or {}, w.after.get("spec") or {}
    fields = ("replicas",) if w.kind in REPLICA_KINDS else ("minReplicas", "maxReplicas") if w.kind == "HorizontalPodAutoscaler" else ()
    for field in fields:
        value = after.get(field)
        if isinstance(value, int) and value > ceiling and value != before.get(field):
            out.append(f"{w.label}: {field} {value} (the ceiling is {ceiling})")
    return out


RULES: tuple[Rule, ...] = (
    Rule("protected-objects", "ops-mcp's own objects (OPS_MCP_PROTECTED_OBJECTS)", _protected, fix="change them with helm, as a person"),
    Rule("rbac", "writes to Roles, RoleBindings and cluster RBAC", _rbac, fix="set OPS_MCP_ALLOW_RBAC_WRITES=true to let it write narrow Roles and RoleBindings of this namespace's ServiceAccounts, or ask a cluster administrator"),
    Rule("cluster-control", "CRDs, admission webhooks and policies, APIServices, namespaces and other cluster objects", _kinds(*CONTROL_KINDS, what="a cluster-wide control object")),
    Rule("helm-storage", "writes to Helm's release records", _helm_storage, fix="use deploy_chart or rollback_release"),
    Rule("token-secrets", "writes to ServiceAccount token Secrets", _token_secret),
    Rule("secrets", "writes to Secrets", _kinds("Secret", what="a Secret"), allowed_by="allow_secret_writes", fix="set OPS_MCP_ALLOW_SECRET_WRITES=true to allow Secret writes, or ask the Secret's owner"),
    Rule("network-policies", "writes to NetworkPolicies", _kinds("NetworkPolicy", what="a NetworkPolicy"), allowed_by="allow_network_policy_writes", fix="set OPS_MCP_ALLOW_NETWORK_POLICY_WRITES=true to allow them"),
    Rule("pod-security", "pod specs beyond the namespace's Pod Security Standards level (OPS_MCP_POD_SECURITY where it enforces none)", _pod_security, fix="keep the pod spec within the level (no privileged, host namespaces, hostPath, added capabilities, root), or ask a cluster administrator"),
    Rule("workload-identity", "switching a workload's ServiceAccount, turning on token automount, loading a Secret it did not load", _identity, fix="keep the workload's ServiceAccount and Secrets as they are, or ask the workload's owner"),
    Rule("service-exposure", "Service externalIPs, and NodePort/LoadBalancer/ExternalName unless allowed", _exposure, fix="use a ClusterIP Service; OPS_MCP_ALLOW_SERVICE_TYPES lists the types an operator allows"),
    Rule("ingress-snippets", "Ingress configuration-snippet annotations", _snippets, fix="configure the ingress controller as its administrator"),
    Rule("replicas-ceiling", "replica counts (workloads, HPA bounds) above OPS_MCP_MAX_REPLICAS", _replicas, fix="choose a lower count; the ceiling is OPS_MCP_MAX_REPLICAS"),
)  # fmt: skip
# Checked on a JSON patch itself, before its dry run: no copy, move or test from a secret value.
PATCH_RULE = ("secret-values", "JSON-patch copy, move or test from a Secret's data, a credential-named field or env")
RULE_IDS = (*(r.id for r in RULES), PATCH_RULE[0])


def check(writes: Iterable[Write], settings: Settings) -> None:
    """Refuse the call (PolicyError) when any write breaks any rule; nothing has been applied then."""
    writes = list(writes)
    created = frozenset(w.name for w in writes if w.kind == "Secret" and w.before is None and w.after is not None)
    found: dict[str, list[str]] = {}
    for w in (replace(w, new_secrets=created) for w in writes):
        for rule in RULES:
            if rule.on(settings) and (hits := rule.check(w, settings)):
                found.setdefault(rule.id, []).extend(hits)
    if not found:
        return
    rules = {r.id: r for r in RULES}
    what = "; ".join(f"[{rid}] " + "; ".join(dict.fromkeys(hits)) for rid, hits in found.items())
    steps = "; ".join(dict.fromkeys(rules[rid].fix for rid in found))
    raise PolicyError(f"Refused by the write policy, nothing changed: {what}.", f"{steps} (rules: {', '.join(found)}).", rules=tuple(found))


def level_for(namespace_labels: dict[str, str] | None, settings: Settings) -> str:
    """The namespace's enforced Pod Security level, or the server's where it enforces none (or 'privileged')."""
    label = (namespace_labels or {}).get(PSS_LABEL)
    return label if label in LEVELS else settings.pod_security


# -- risk: which writes a person approves ----------------------------------------------------
def risks(writes: Iterable[Write]) -> list[str]:
    """Why these writes need a person's consent (empty: they do not)."""
    out: list[str] = []
    for w in writes:
        if w.after is None and w.before is not None:
            out.append(f"deletes {w.label}")
            continue
        if w.before is None or w.after is None:
            continue
        if w.kind == "Secret" and w.before.get("data") != w.after.get("data"):
            out.append(f"overwrites {w.label}'s data")
        replicas = ((w.before.get("spec") or {}).get("replicas"), (w.after.get("spec") or {}).get("replicas"))
        if w.kind in REPLICA_KINDS and replicas[1] == 0 and replicas[0] != 0:
            out.append(f"scales {w.label} to 0")
        before, after = pod_spec(w.before), pod_spec(w.after)
        if before is None or after is None:
            continue
        old = {c.get("name"): c for c in redact.containers(before)}
        for c in redact.containers(after):
            for field in ("image", "command", "args"):
                if c.get(field) != (old.get(c.get("name")) or {}).get(field):
                    out.append(f"changes {w.label} container {c.get('name')}'s {field}")
    return list(dict.fromkeys(out))


def describe(settings: Settings) -> list[dict[str, str]]:
    """The rules and their state, for `ops-mcp doctor`."""
    rows = []
    for r in RULES:
        state = (
            "on"
            if r.on(settings)
            else ("off (" + ("OPS_MCP_POLICY_DISABLE" if r.id in settings.policy_disable else f"OPS_MCP_{str(r.allowed_by).upper()}") + ")")
        )
        rows.append({"rule": r.id, "state": state, "refuses": r.refuses})
    rows.append({"rule": PATCH_RULE[0], "state": "on", "refuses": PATCH_RULE[1]})
    return rows
