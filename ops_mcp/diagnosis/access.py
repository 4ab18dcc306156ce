"""What a ServiceAccount may do: the `can` question parsed, its bindings and their rules, and the API server's own
answer (a LocalSubjectAccessReview: namespaced, so the namespace Role grants it; a SubjectAccessReview would need
a ClusterRole). Fetching is bounded: one page of bindings each, at most MAX_ROLE_GETS role GETs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ops_mcp.errors import Forbidden, NotFound, OpsError

from .objects import Obj, name_of

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "impersonate", "bind", "escalate", "use", "approve", "*")
BINDINGS_PAGE = 500
MAX_ROLE_GETS = 10
REVIEW = "localsubjectaccessreviews.authorization.k8s.io"


@dataclass
class Ask:
    """One access question: `verb resource[/sub] [name] [-n namespace]`."""

    verb: str
    group: str
    resource: str  # plural
    subresource: str = ""
    name: str = ""
    namespace: str | None = None  # None: the ServiceAccount's namespace
    namespaced: bool = True

    @property
    def rbac_resource(self) -> str:
        return self.resource + (f"/{self.subresource}" if self.subresource else "")

    def text(self) -> str:
        res = self.rbac_resource + (f".{self.group}" if self.group and not self.subresource else "")
        return f"{self.verb} {res}" + (f" {self.name}" if self.name else "")


def parse_can(text: str) -> Ask:
    """'list pods', 'get secrets', 'create deployments.apps', 'get pods/log', 'get configmaps app -n other'."""
    from ops_mcp.cluster import KINDS

    words, namespace = [], None
    tokens = text.split()
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in ("-n", "--namespace") and i + 1 < len(tokens):
            namespace, i = tokens[i + 1], i + 2
            continue
        if tok.startswith("--namespace="):
            namespace = tok.split("=", 1)[1]
        else:
            words.append(tok)
        i += 1
    if len(words) not in (2, 3) or words[0].lower() not in VERBS:
        raise ValueError(f"can={text!r} is not 'VERB RESOURCE [NAME] [-n NAMESPACE]'; e.g. can='list pods' or can='create deployments.apps -n other'")
    verb, resource = words[0].lower(), words[1].lower()
    main, _, sub = resource.partition("/")
    kind = KINDS.get(main)
    if kind is not None:
        plural, group, namespaced = kind.plural, kind.group, kind.namespaced
    else:  # a custom resource: plural.group as written
        plural, _, group = main.partition(".")
        namespaced = True
    return Ask(verb, group, plural, sub, words[2] if len(words) == 3 else "", namespace, namespaced)


def subject_user(namespace: str, sa: str) -> str:
    return f"system:serviceaccount:{namespace}:{sa}"


def binds(binding: Obj, namespace: str, sa: str) -> str | None:
    """How a (Cluster)RoleBinding's subjects reach the ServiceAccount: 'ServiceAccount' or 'Group <name>'."""
    for subject in binding.get("subjects") or []:
        kind, name = subject.get("kind"), subject.get("name")
        if kind == "ServiceAccount" and name == sa and (subject.get("namespace") or (binding.get("metadata") or {}).get("namespace")) == namespace:
            return "ServiceAccount"
        if kind == "User" and name == subject_user(namespace, sa):
            return "User"
        if kind == "Group" and name in ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"):
            return f"Group {name}"
    return None


@dataclass
class Access:
    """The facts a ServiceAccount diagnosis reads (stored on the snapshot; plain data in tests)."""

    sa: str
    exists: bool = True
    obj: Obj = field(default_factory=dict)
    names: list[str] = field(default_factory=list)  # other ServiceAccounts (only read when this one is missing)
    ask: Ask | None = None
    review: dict[str, Any] | None = None  # status of the access review: allowed, denied, reason, evaluationError
    bindings: list[dict[str, Any]] = field(default_factory=list)  # {"obj": "RoleBinding/x", "ns", "role": "ClusterRole/y", "via"}
    rules: dict[str, list[Obj] | None] = field(default_factory=dict)  # "Role/ns/x" | "ClusterRole/y" -> rules (None: not readable)
    unreadable: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Obj) -> Access:
        ask = data.get("ask")
        return cls(
            sa=data["sa"],
            exists=data.get("exists", True),
            obj=data.get("obj") or {},
            names=list(data.get("names") or []),
            ask=Ask(**ask) if isinstance(ask, dict) else parse_can(ask) if ask else None,
            review=data.get("review"),
            bindings=list(data.get("bindings") or []),
            rules=dict(data.get("rules") or {}),
            unreadable=dict(data.get("unreadable") or {}),
        )


def role_key(ref: Obj, binding_ns: str | None) -> str:
    kind = ref.get("kind", "Role")
    return f"ClusterRole/{ref.get('name')}" if kind == "ClusterRole" else f"Role/{binding_ns}/{ref.get('name')}"


def fetch(reader: Any, namespace: str, sa: str, ask: Ask | None) -> Access:
    """Read the ServiceAccount, the bindings that reach it (in the namespace the question is about, and cluster-wide),
    their rules, and ask the API server (blocking; `reader` is the builder's counting Reader)."""
    from ops_mcp.cluster import KINDS

    access = Access(sa=sa, ask=ask)
    try:
        access.obj = reader.get(KINDS["serviceaccounts"].path(namespace, sa), "serviceaccounts")
    except NotFound:
        access.exists = False
        try:
            access.names = [name_of(s) for s in reader.cluster.list_all("serviceaccounts", namespace, max_items=BINDINGS_PAGE)]
        except OpsError:
            pass
    except Forbidden as exc:
        access.unreadable["serviceaccounts"] = f"RBAC: {exc.what[:160]}"
    where = (ask.namespace if ask else None) or namespace
    for kind, ns in (("rolebindings", where), ("clusterrolebindings", None)):
        try:
            reader._count()
            items = reader.cluster.list_all(kind, ns, max_items=BINDINGS_PAGE)
        except Forbidden as exc:
            access.unreadable[kind] = f"RBAC: {exc.what[:160]}"
            continue
        for binding in items:
            via = binds(binding, namespace, sa)
            if via == "Group system:authenticated" and name_of(binding).startswith("system:"):
                continue  # the API server's defaults for every user (discovery, self reviews): noise in every answer
            if via:
                ref = binding.get("roleRef") or {}
                access.bindings.append(
                    {
                        "obj": f"{'RoleBinding' if ns else 'ClusterRoleBinding'}/{name_of(binding)}",
                        "ns": ns,
                        "role": role_key(ref, ns),
                        "via": via,
                    }
                )
    for key in sorted({b["role"] for b in access.bindings})[:MAX_ROLE_GETS]:
        parts = key.split("/")
        kind = KINDS["clusterroles" if parts[0] == "ClusterRole" else "roles"]
        try:
            reader._count()
            obj = reader.cluster.request(
                "GET",
                kind.path(parts[1] if len(parts) == 3 else None, parts[-1]),
                verb="get",
                resource=kind.resource,
                namespace=parts[1] if len(parts) == 3 else None,
            )
            access.rules[key] = list(obj.get("rules") or [])
        except (Forbidden, NotFound) as exc:
            access.rules[key] = None
            access.unreadable.setdefault(key, f"{type(exc).__name__}: {exc.what[:120]}")
    if ask and ask.namespaced:
        access.review = review(reader, where, subject_user(namespace, sa), namespace, ask)
        if access.review is None:
            access.unreadable["review"] = f"RBAC: cannot create {REVIEW} in {where}: judged from the rules read"
    elif ask:
        access.unreadable["review"] = f"{ask.resource} is cluster-scoped: judged from the ClusterRoleBindings' rules, not by an access review"
    return access


def review(reader: Any, where: str, user: str, sa_namespace: str, ask: Ask) -> dict[str, Any] | None:
    attrs = {"namespace": where, "verb": ask.verb, "group": ask.group, "resource": ask.resource}
    if ask.subresource:
        attrs["subresource"] = ask.subresource
    if ask.name:
        attrs["name"] = ask.name
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "LocalSubjectAccessReview",
        "metadata": {"namespace": where},
        "spec": {
            "resourceAttributes": attrs,
            "user": user,
            "groups": ["system:serviceaccounts", f"system:serviceaccounts:{sa_namespace}", "system:authenticated"],
        },
    }
    try:
        reader._count()
        out = reader.cluster.request(
            "POST",
            f"/apis/authorization.k8s.io/v1/namespaces/{where}/localsubjectaccessreviews",
            body=body,
            verb="create",
            resource=REVIEW,
            namespace=where,
        )
    except Forbidden:
        return None
    status = out.get("status") or {}
    return {k: status[k] for k in ("allowed", "denied", "reason", "evaluationError") if k in status}


def rule_grants(rule: Obj, ask: Ask) -> bool:
    """RBAC's own matching of one PolicyRule against the question (wildcards, subresources, resourceNames)."""

    def has(values: list[str] | None, want: str) -> bool:
        return bool(values) and ("*" in values or want in values)

    if rule.get("nonResourceURLs"):
        return False
    if not has(rule.get("verbs"), ask.verb) or not has(rule.get("apiGroups"), ask.group):
        return False
    resources = rule.get("resources") or []
    if not (has(resources, ask.rbac_resource) or (ask.subresource and f"*/{ask.subresource}" in resources)):
        return False
    names = rule.get("resourceNames") or []
    return not names or (bool(ask.name) and ask.name in names)
