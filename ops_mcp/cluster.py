"""The only module that talks to the Kubernetes API.

- The kubernetes client is imported and configured lazily, on the first call (start-up and
  tools/list never touch the cluster).
- Calls go through the client's raw REST layer and return plain JSON dicts: no model
  (de)serialization, so listing 1,000 pods stays cheap.
- Every call has a (connect, read) timeout; failures become OpsError subclasses whose
  message names the cause and the next step (403: verb + resource; 404: near names;
  unreachable: server + kubeconfig context).
- Secret objects never leave this module with their data: values are masked here, so no
  caller can leak them by accident. The one read of raw values, secret_scrubber, hands out a
  Scrubber (ops_mcp.redact), which removes them from text and shows none.
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from ops_mcp import tainted
from ops_mcp.errors import Conflict, Expired, Forbidden, Invalid, NotFound, OpsError, Unreachable
from ops_mcp.redact import MASK, Scrubber, redact_obj, secret_forms, secret_refs
from ops_mcp.settings import Settings

CONNECT_TIMEOUT = 5.0
# Server-side printing (what kubectl get asks for); every kube-apiserver resource serves it.
TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io"
# Aggregated discovery (GA in 1.30): every group, version and resource in one answer.
NO_STRATEGIC = "does not take a strategic merge patch"
FIELD_MANAGER = "ops-mcp"  # the managedFields entry of every change ops-mcp makes
DISCOVERY_ACCEPT = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    group: str  # "" for core
    version: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> str:
        """RBAC resource name, e.g. deployments.apps."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name, safe='')}"
        if sub:
            base += f"/{sub}"
        return base


_KINDS = [
    Kind("Pod", "pods", "", "v1"),
    Kind("Service", "services", "", "v1"),
    Kind("Endpoints", "endpoints", "", "v1"),
    Kind("ConfigMap", "configmaps", "", "v1"),
    Kind("Secret", "secrets", "", "v1"),
    Kind("Event", "events", "", "v1"),
    Kind("ServiceAccount", "serviceaccounts", "", "v1"),
    Kind("PersistentVolumeClaim", "persistentvolumeclaims", "", "v1"),
    Kind("ResourceQuota", "resourcequotas", "", "v1"),
    Kind("LimitRange", "limitranges", "", "v1"),
    Kind("Namespace", "namespaces", "", "v1", namespaced=False),
    Kind("Node", "nodes", "", "v1", namespaced=False),
    Kind("PersistentVolume", "persistentvolumes", "", "v1", namespaced=False),
    Kind("Deployment", "deployments", "apps", "v1"),
    Kind("StatefulSet", "statefulsets", "apps", "v1"),
    Kind("DaemonSet", "daemonsets", "apps", "v1"),
    Kind("ReplicaSet", "replicasets", "apps", "v1"),
    Kind("ControllerRevision", "controllerrevisions", "apps", "v1"),
    Kind("Job", "jobs", "batch", "v1"),
    Kind("CronJob", "cronjobs", "batch", "v1"),
    Kind("Ingress", "ingresses", "networking.k8s.io", "v1"),
    Kind("IngressClass", "ingressclasses", "networking.k8s.io", "v1", namespaced=False),
    Kind("NetworkPolicy", "networkpolicies", "networking.k8s.io", "v1"),
    Kind("EndpointSlice", "endpointslices", "discovery.k8s.io", "v1"),
    Kind("HorizontalPodAutoscaler", "horizontalpodautoscalers", "autoscaling", "v2"),
    Kind("PodDisruptionBudget", "poddisruptionbudgets", "policy", "v1"),
    Kind("Role", "roles", "rbac.authorization.k8s.io", "v1"),
    Kind("RoleBinding", "rolebindings", "rbac.authorization.k8s.io", "v1"),
    Kind("ClusterRole", "clusterroles", "rbac.authorization.k8s.io", "v1", namespaced=False),
    Kind("ClusterRoleBinding", "clusterrolebindings", "rbac.authorization.k8s.io", "v1", namespaced=False),
    Kind("StorageClass", "storageclasses", "storage.k8s.io", "v1", namespaced=False),
    Kind("CustomResourceDefinition", "customresourcedefinitions", "apiextensions.k8s.io", "v1", namespaced=False),
]
_SHORT = {
    "po": "pods",
    "svc": "services",
    "ep": "endpoints",
    "cm": "configmaps",
    "ev": "events",
    "sa": "serviceaccounts",
    "pvc": "persistentvolumeclaims",
    "ns": "namespaces",
    "no": "nodes",
    "pv": "persistentvolumes",
    "deploy": "deployments",
    "sts": "statefulsets",
    "ds": "daemonsets",
    "rs": "replicasets",
    "cj": "cronjobs",
    "ing": "ingresses",
    "netpol": "networkpolicies",
    "hpa": "horizontalpodautoscalers",
    "pdb": "poddisruptionbudgets",
    "sc": "storageclasses",
    "crd": "customresourcedefinitions",
    "crds": "customresourcedefinitions",
}
METRICS_API = "/apis/metrics.k8s.io/v1beta1"  # metrics-server (top_pods, top_nodes, diagnosis' usage checks)
KINDS: dict[str, Kind] = {}
for _k in _KINDS:
    for alias in (_k.kind.lower(), _k.plural, _k.resource):
        KINDS[alias] = _k
for _short, _plural in _SHORT.items():
    KINDS[_short] = KINDS[_plural]
KIND_NAMES = sorted(k.kind for k in _KINDS)


def resolve_kind(kind: str, served: dict[str, Kind] | None = None) -> Kind:
    """Map 'deploy', 'Deployment', 'deployments' or 'deployments.apps' to a Kind.

    `served` adds what the API server's discovery lists (custom resources); built-ins win.
    """
    key = kind.strip().lower()
    if key in KINDS:
        return KINDS[key]
    if served and key in served:
        return served[key]
    known = {**(served or {}), **KINDS}
    near = difflib.get_close_matches(key, list(known), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(sorted({known[n].kind for n in near}))}?" if near else ""
    raise OpsError(
        f"Unknown kind {kind!r}.{hint}", f"use a built-in kind ({', '.join(KIND_NAMES)}) or a custom resource this cluster serves (kubectl api-resources)."
    )


def discovered_kinds(groups: dict[str, Any]) -> dict[str, Kind]:
    """Aliases -> Kind for the listable resources of an aggregated discovery document (preferred versions)."""
    kinds: dict[str, Kind] = {}
    for group in groups.get("items") or []:
        name = (group.get("metadata") or {}).get("name") or ""
        versions = group.get("versions") or []
        if not versions:
            continue
        preferred = versions[0]  # the server lists the preferred version first
        for res in preferred.get("resources") or []:
            if "list" not in (res.get("verbs") or []) or not res.get("resource"):
                continue
            kind_name = (res.get("responseKind") or {}).get("kind") or res["resource"]
            k = Kind(kind_name, res["resource"], name, preferred.get("version") or "v1", namespaced=res.get("scope") != "Cluster")
            for alias in (kind_name.lower(), k.plural, k.resource, (res.get("singularResource") or "").lower(), *(res.get("shortNames") or [])):
                if alias:
                    kinds.setdefault(alias.lower(), k)
    return kinds


def _read_capped(raw: Any, cap: int) -> bytes:
    """The whole body, or an OpsError once it passes `cap` bytes (read in chunks: memory stays bounded)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in raw.stream(256 * 1024, decode_content=True):
        size += len(chunk)
        if size > cap:
            raise OpsError(
                f"The API server's answer is larger than {cap} bytes (OPS_MCP_MAX_RESPONSE_BYTES); it was not read.",
                "narrow the query (a namespace, a label_selector, a smaller limit), or raise OPS_MCP_MAX_RESPONSE_BYTES.",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _status_message(body: bytes) -> str:
    try:
        data = json.loads(body)
        return str(data.get("message") or data)
    except Exception:
        return body[:300].decode("utf-8", "replace")


@dataclass
class ExecOutput:
    exit_code: int | None  # None: timed out
    stdout: str
    stderr: str
    truncated: bool
    timed_out: bool


class Cluster:
    """Lazily configured access to one cluster (kubeconfig + context, or in-cluster)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()
        self._api: Any = None
        self.server: str = "(not loaded)"
        self.context_name: str = settings.context or "(current)"
        self.source: str = "(not loaded)"
        self._served: dict[str, Kind] = {}  # custom resources from discovery, refreshed on a miss

    # -- configuration -------------------------------------------------------------------
    def _load(self) -> Any:
        with self._lock:
            if self._api is not None:
                return self._api
            from kubernetes import client, config  # heavy import: only on first use
            from kubernetes.config.config_exception import ConfigException

            cfg = client.Configuration()
            s = self.settings
            try:
                if s.in_cluster or (s.in_cluster is None and not s.kubeconfig and _in_cluster_available()):
                    config.load_incluster_config(client_configuration=cfg)
                    self.source, self.context_name = "in-cluster service account", "in-cluster"
                else:
                    path = s.kubeconfig or str(config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION)
                    config.load_kube_config(config_file=path, context=s.context, client_configuration=cfg, persist_config=False)
                    _, active = config.list_kube_config_contexts(path)
                    self.context_name = s.context or (active or {}).get("name", "(current)")
                    self.source = f"kubeconfig {path}"
            except (ConfigException, FileNotFoundError, OSError, TypeError, ValueError) as exc:
                raise Unreachable(
                    f"Cannot load cluster credentials ({exc}).",
                    "set OPS_MCP_KUBECONFIG or KUBECONFIG to a valid kubeconfig (and OPS_MCP_CONTEXT to a context in it), "
                    "or run inside a pod with a ServiceAccount.",
                ) from None
            cfg.retries = 0  # our own timeouts bound every call; no silent retry storms
            self.server = cfg.host
            self._api = client.ApiClient(cfg)
            return self._api

    def describe_target(self) -> str:
        return f"API server {self.server} (context {self.context_name!r}, from {self.source})"

    # -- the one request primitive ------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        verb: str = "get",
        resource: str = "",
        namespace: str | None = None,
        stream: bool = False,
        timeout: float | None = None,
        accept: str = "application/json",
        slim: bool = False,
    ) -> Any:
        """Perform one API call; return parsed JSON (or the raw urllib3 response if stream). slim: every object's
        managedFields is cut from the body before it is decoded (see without_managed_fields)."""
        api = self._load()
        import urllib3

        q = {k: v for k, v in (query or {}).items() if v is not None and v != ""}
        url_path = path + ("?" + urlencode(q, doseq=True) if q else "")
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        read_timeout = timeout or self.settings.request_timeout
        try:
            m, url, hdrs, b, _ = api.param_serialize(method, url_path, header_params=headers, body=body, auth_settings=["BearerToken"])
            resp = api.call_api(m, url, header_params=hdrs, body=b, _request_timeout=(CONNECT_TIMEOUT, read_timeout))
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unreachable(
                f"The Kubernetes API did not answer: {self.describe_target()}: {type(exc).__name__}.",
                "check that the cluster is running (kubectl cluster-info), or point OPS_MCP_KUBECONFIG / OPS_MCP_CONTEXT at a reachable one; then retry.",
            ) from None
        except Exception as exc:  # ApiException from the REST layer (SSL and protocol errors)
            raise Unreachable(
                f"Calling the Kubernetes API failed: {self.describe_target()}: {str(exc).splitlines()[0][:200]}.",
                "check the kubeconfig's server address and certificates; then retry.",
            ) from None
        raw = resp.response
        if 200 <= raw.status < 300:
            if stream:
                return raw
            try:
                data = _read_capped(raw, self.settings.max_response_bytes)
            except (urllib3.exceptions.HTTPError, OSError):
                raise Unreachable(
                    f"The Kubernetes API stopped answering mid-response ({self.describe_target()}).",
                    "retry; if it persists check the API server's health.",
                ) from None
            finally:
                raw.release_conn()
            if slim and data:
                try:
                    return json.loads(without_managed_fields(data))
                except ValueError:  # a cut that went wrong: decode it whole
                    pass
            return json.loads(data) if data else {}
        data = raw.read(64 * 1024)  # a Status: small; never more
        raw.release_conn()
        self._raise_for_status(raw.status, _status_message(data), verb, resource, namespace)

    def _raise_for_status(self, status: int, message: str, verb: str, resource: str, namespace: str | None) -> None:
        where = f" in namespace {namespace!r}" if namespace else " (cluster-wide)"
        if status == 401:
            raise Forbidden(
                f"The API server rejected our credentials (401) — {self.describe_target()}.",
                "refresh the kubeconfig token or ServiceAccount token.",
            )
        if status == 403:
            raise Forbidden(
                f"Forbidden: cannot {verb} {resource}{where}. API server said: {message}",
                f"grant the identity a Role/ClusterRole rule {_rbac_rule(verb, resource)}, or ask for something it may read.",
            )
        if status == 404:
            raise NotFound(f"Not found: {message}.", "check the name and namespace (list_resources shows what exists).")
        if status == 409:
            raise Conflict(f"Conflict: {message}.", "the object changed meanwhile; read it again and retry.")
        if status == 410:
            raise Expired(f"Expired: {message}.", "repeat the list from its first page.")
        if status == 422 or status == 400:
            raise Invalid(f"The API server rejected the request as invalid: {message}.", "fix the arguments and retry.")
        if status == 429 or status >= 500:
            raise Unreachable(f"The API server is unavailable or overloaded ({status}): {message}.", "wait a few seconds and retry.")
        raise OpsError(f"Kubernetes API error {status}: {message}.")

    # -- kinds ----------------------------------------------------------------------------
    def kind(self, kind: Kind | str) -> Kind:
        """A built-in kind, or a custom resource the API server serves (looked up by discovery:
        on first need, and again whenever a name is not found, e.g. a CRD installed since)."""
        if isinstance(kind, Kind):
            return kind
        if known := self.known_kind(kind):
            return known
        self._served = self._discover()
        return resolve_kind(kind, self._served)

    def known_kind(self, kind: str) -> Kind | None:
        """The kind if no API call is needed to resolve it (built-in, or already discovered)."""
        key = kind.strip().lower()
        return KINDS.get(key) or self._served.get(key)

    def manifest_kind(self, api_version: str, kind: str) -> Kind:
        """The Kind of a manifest's apiVersion + kind (kind in any case), at the manifest's version."""
        group, _, version = api_version.rpartition("/")
        for attempt in range(2):
            candidates = [*_KINDS, *self._served.values()]
            found = next((k for k in candidates if k.group == group and k.kind.lower() == kind.strip().lower()), None)
            if found:
                return Kind(found.kind, found.plural, group, version, found.namespaced)
            if attempt == 0:
                self._served = self._discover()
        raise OpsError(
            f"This cluster serves no kind {kind!r} in apiVersion {api_version!r}.",
            "check apiVersion and kind (kubectl api-resources lists what the cluster serves).",
        )

    def _discover(self) -> dict[str, Kind]:
        try:
            groups = self.request("GET", "/apis", accept=DISCOVERY_ACCEPT, verb="get", resource="discovery (/apis)")
        except (Forbidden, NotFound):
            return self._served  # no discovery for this identity: built-in kinds only
        if groups.get("kind") != "APIGroupDiscoveryList":  # an API server older than 1.30
            return self._served
        return discovered_kinds(groups)

    # -- typed helpers --------------------------------------------------------------------
    def get(self, kind: Kind | str, name: str, namespace: str | None = None, sub: str | None = None, *, digests: bool = False) -> dict[str, Any]:
        """One object; digests: Secret values as keyed digests instead of "***" (for ops_mcp.diff, see _scrub)."""
        k = self.kind(kind)
        ns = namespace if k.namespaced else None
        try:
            obj = self.request("GET", k.path(ns, name, sub), verb="get", resource=k.resource + (f"/{sub}" if sub else ""), namespace=ns)
        except NotFound:
            raise self._not_found(k, name, ns) from None
        return _scrub(obj, digests)

    def secret_scrubber(self, namespace: str, objects: Iterable[dict[str, Any]]) -> Scrubber:
        """A Scrubber of the values of the Secrets these pods (or workloads) reference (redact.secret_refs), each
        Secret read once: their values never leave this module but inside it. A Secret that does not exist has
        nothing to scrub; one that cannot be read (403, or any other failure) is named in the Scrubber's `unread`,
        and only the patterns cover it."""
        k = KINDS["secrets"]
        forms: set[str] = set()
        unread: list[str] = []
        for name in sorted({name for obj in objects for name in secret_refs(obj)}):
            try:
                secret = self.request("GET", k.path(namespace, name), verb="get", resource=k.resource, namespace=namespace)
            except NotFound:
                continue
            except OpsError:
                unread.append(f"Secret {name}")
                continue
            forms |= secret_forms(secret)
        return Scrubber(forms, unread)

    def list(
        self,
        kind: Kind | str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> dict[str, Any]:
        """One page of a list (namespace None = all namespaces for namespaced kinds)."""
        k = self.kind(kind)
        ns = namespace if k.namespaced else None
        query = {"labelSelector": label_selector, "fieldSelector": field_selector, "limit": limit, "continue": continue_token}
        return _scrub(self._list_request(k, ns, query))

    def table(
        self,
        kind: Kind | str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
        with_metadata: bool = False,
    ) -> dict[str, Any]:
        """One page as the API server's own Table (the columns `kubectl get` prints).

        The server renders the rows, so this reads a small fraction of the objects' bytes
        (1,000 pods: 133 KB instead of 6.2 MB). Only cells unless with_metadata (then each row
        carries its object's metadata, e.g. the namespace of a cluster-wide list).
        """
        k = self.kind(kind)
        ns = namespace if k.namespaced else None
        query = {
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
            "limit": limit,
            "continue": continue_token,
            "includeObject": "Metadata" if with_metadata else "None",
        }
        return self._list_request(k, ns, query, accept=TABLE_ACCEPT)

    def _list_request(self, k: Kind, ns: str | None, query: dict[str, Any], accept: str = "application/json") -> dict[str, Any]:
        try:
            return self.request("GET", k.path(ns), query=query, accept=accept, verb="list", resource=k.resource, namespace=ns)
        except NotFound:
            if ns:
                raise NotFound(f"Namespace {ns!r} does not exist.", "list namespaces with list_resources(kind='namespaces').") from None
            raise
        except Expired:
            raise Expired(
                "The continue token has expired: the API server keeps a list's snapshot for a few minutes only.",
                "repeat the list from its first page (without a continue token).",
            ) from None
        except OpsError as exc:
            if "continue" in str(exc).lower() and query.get("continue"):
                raise OpsError("The continue token does not match this query.", "repeat the list without `continue`.") from None
            raise

    def list_all(self, kind: Kind | str, namespace: str | None = None, *, max_items: int | None = None, **kw: Any) -> list[dict[str, Any]]:
        """Every item (at most max_items: pages stop there), following continue tokens (for internal aggregation, not for output)."""
        items: list[dict[str, Any]] = []
        token = None
        restarted = False
        while True:
            try:
                page = self.list(kind, namespace, limit=min(500, max_items - len(items)) if max_items else 500, continue_token=token, **kw)
            except Expired:
                if restarted:
                    raise
                items, token, restarted = [], None, True  # a slow walk outlived the snapshot: once more from the top
                continue
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token or (max_items and len(items) >= max_items):
                return items

    def patch(
        self,
        kind: Kind | str,
        name: str,
        namespace: str | None,
        body: Any,
        *,
        patch_type: str = "merge",
        sub: str | None = None,
        dry_run: bool = False,
        digests: bool = False,
    ) -> dict[str, Any]:
        """patch_type: merge, strategic, json, or apply (server-side apply as field manager ops-mcp, forced);
        dry_run: the API server validates, admits and returns the result without persisting it."""
        k = self.kind(kind)
        ns = namespace if k.namespaced else None
        ctype = {
            "merge": "application/merge-patch+json",
            "strategic": "application/strategic-merge-patch+json",
            "json": "application/json-patch+json",
            "apply": "application/apply-patch+yaml",  # JSON is YAML
        }[patch_type]
        query = {"dryRun": "All" if dry_run else None, "fieldManager": FIELD_MANAGER, "force": "true" if patch_type == "apply" else None}
        resource = k.resource + (f"/{sub}" if sub else "")
        try:
            obj = self.request("PATCH", k.path(ns, name, sub), query=query, body=body, content_type=ctype, verb="patch", resource=resource, namespace=ns)
        except NotFound as exc:
            if patch_type != "apply":
                raise self._not_found(k, name, ns) from None
            # apply creates what is missing: a 404 is the namespace, a version the cluster does not serve,
            # or an object this one needs (a RoleBinding's Role, for an identity that may not `bind`)
            if f'namespaces "{ns}" not found' in exc.what:
                raise NotFound(f"Cannot apply {k.kind} {name!r}: namespace {ns!r} does not exist.", "apply into an existing namespace.") from None
            if "could not find the requested resource" in exc.what:
                raise NotFound(
                    f"Cannot apply {k.kind} {name!r}: this cluster does not serve {k.api_version} {k.plural}.",
                    "use an apiVersion the cluster serves (kubectl api-resources).",
                ) from None
            step = (
                "apply the Role it binds first, in an earlier call: RBAC binds only a Role that exists, unless the identity may `bind`."
                if k.kind == "RoleBinding"
                else "what it refers to must exist first: apply that in an earlier call."
            )
            raise NotFound(f"Cannot apply {k.kind} {name!r}: {exc.what}", step) from None
        except OpsError as exc:
            if "415" in exc.what and patch_type == "strategic":
                raise OpsError(f"{k.kind} {NO_STRATEGIC} (custom resources do not).", "use patch_type=merge or json.") from None
            raise
        return _scrub(obj, digests)

    def delete(self, kind: Kind | str, name: str, namespace: str | None, *, grace_period: int | None = None) -> dict[str, Any]:
        """Delete (dependents in the background, as kubectl does); the answer is the object, marked for deletion, or a Status."""
        k = self.kind(kind)
        ns = namespace if k.namespaced else None
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        if grace_period is not None:
            body["gracePeriodSeconds"] = grace_period
        try:
            obj = self.request("DELETE", k.path(ns, name), body=body, verb="delete", resource=k.resource, namespace=ns)
        except NotFound:
            raise self._not_found(k, name, ns) from None
        return _scrub(obj)

    def create(self, kind: Kind | str, namespace: str | None, body: dict[str, Any], *, dry_run: bool = False, digests: bool = False) -> dict[str, Any]:
        """dry_run: validated and admitted, returned as it would be stored, not persisted."""
        k = self.kind(kind)
        ns = namespace if k.namespaced else None
        query = {"dryRun": "All" if dry_run else None, "fieldManager": FIELD_MANAGER}
        return _scrub(self.request("POST", k.path(ns), query=query, body=body, verb="create", resource=k.resource, namespace=ns), digests)

    def logs(
        self,
        namespace: str,
        pod: str,
        *,
        container: str | None = None,
        tail_lines: int | None = None,
        previous: bool = False,
        since_seconds: int | None = None,
        limit_bytes: int | None = None,
    ) -> str:
        """Container log text, capped at limit_bytes (streamed, so memory stays flat); see log_tail."""
        return self.log_tail(
            namespace, pod, container=container, tail_lines=tail_lines, previous=previous, since_seconds=since_seconds, limit_bytes=limit_bytes
        )[0]

    def log_tail(
        self,
        namespace: str,
        pod: str,
        *,
        container: str | None = None,
        tail_lines: int | None = None,
        previous: bool = False,
        since_seconds: int | None = None,
        limit_bytes: int | None = None,
    ) -> tuple[str, bool]:
        """(text, truncated): whole lines within limit_bytes; with tail_lines, the newest ones.

        The kubelet applies limitBytes from the start of the requested tail, so one read of a tail over the cap holds
        its oldest lines. Such a tail is read again with as many lines as fitted in the cap (fewer each time, a few
        reads at most) until the newest lines fit: every read stays under the cap.
        """
        cap = limit_bytes or self.settings.log_bytes_limit
        data = self._read_log(namespace, pod, container, tail_lines, previous, since_seconds, cap)
        if len(data) < cap:
            return data.decode("utf-8", "replace"), False
        lines = tail_lines or 0
        for _ in range(5):
            if lines <= 1:
                break
            lines = max(1, min(lines - 1, data.count(b"\n")))  # the whole lines that fitted
            data = self._read_log(namespace, pod, container, lines, previous, since_seconds, cap)
            if len(data) < cap:
                return data.decode("utf-8", "replace"), True
        whole = data[: data.rfind(b"\n") + 1] or data  # the cap cuts the last line (unless it is the only one)
        return whole.decode("utf-8", "replace"), True

    def _read_log(self, namespace: str, pod: str, container: str | None, tail_lines: int | None, previous: bool, since_seconds: int | None, cap: int) -> bytes:
        query = {
            "container": container,
            "tailLines": tail_lines,
            "previous": "true" if previous else None,
            "sinceSeconds": since_seconds,
            "limitBytes": cap,
        }
        pods = KINDS["pods"]
        try:
            raw = self.request("GET", pods.path(namespace, pod, "log"), query=query, verb="get", resource="pods/log", namespace=namespace, stream=True)
        except NotFound:
            raise self._not_found(pods, pod, namespace) from None
        except OpsError as exc:
            if previous and "previous terminated container" in str(exc):
                raise OpsError(f"Container of pod {pod!r} has no previous (terminated) instance.", "call again with previous=false.") from None
            raise
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in raw.stream(16384, decode_content=True):
                chunks.append(chunk)
                size += len(chunk)
                if size >= cap:
                    break
        finally:
            raw.release_conn()
        return b"".join(chunks)[:cap]

    def pod_http_status(self, namespace: str, pod: str, port: int, path: str, timeout: float = 2.0) -> int | None:
        """The HTTP status a pod's container answers to GET `path` on `port`, asked through the API server's pod proxy
        (read-only; redirects not followed; the body is not read); None when the proxy cannot reach the container.
        A 403 of the API server itself raises Forbidden."""
        api = self._load()
        import urllib3

        url_path = f"{KINDS['pods'].path(namespace)}/{quote(pod, safe='')}:{int(port)}/proxy/{quote(path.lstrip('/'), safe='/?=&')}"
        try:
            m, url, hdrs, _, _ = api.param_serialize("GET", url_path, header_params={"Accept": "*/*"}, auth_settings=["BearerToken"])
            raw = api.rest_client.pool_manager.request(
                m, url, headers=hdrs, redirect=False, retries=False, preload_content=False, timeout=urllib3.Timeout(connect=timeout, read=timeout)
            )
        except (urllib3.exceptions.HTTPError, OSError):
            return None
        try:
            body = raw.read(2048) if raw.status >= 400 else b""
        except (urllib3.exceptions.HTTPError, OSError):
            body = b""
        finally:
            raw.close()  # the rest of the body is never read: the connection is not reused
            raw.release_conn()
        # the API server's own answers are a Status object: RBAC refused the proxy, no such pod, or it could not dial it
        if raw.status >= 400 and b'"kind":"Status"' in body.replace(b" ", b""):
            if raw.status == 403:
                raise Forbidden(
                    f"Forbidden: cannot get pods/proxy in namespace {namespace!r}.", f"grant the identity a Role rule {_rbac_rule('get', 'pods/proxy')}."
                )
            if raw.status == 404 or b"error trying to reach service" in body:
                return None
        return raw.status

    def exec(self, namespace: str, pod: str, container: str, argv: list[str], *, timeout: float, cap: int) -> ExecOutput:
        """Run argv (no shell) in a running container through the API server's exec stream (websocket); stdout and
        stderr are kept up to `cap` bytes each. At `timeout` the stream is closed (the runtime may let the process
        run on; argv wrapped in `timeout` bounds it)."""
        api = self._load()
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException
        from kubernetes.stream import stream

        out, err = bytearray(), bytearray()
        truncated = timed_out = False
        try:
            ws = stream(
                # its own ApiClient: stream() swaps the client's call_api while the websocket connects, which would
                # break any other request made through the shared client at that moment
                client.CoreV1Api(client.ApiClient(api.configuration)).connect_get_namespaced_pod_exec,
                pod,
                namespace,
                command=argv,
                container=container,
                stdin=False,
                stdout=True,
                stderr=True,
                tty=False,
                _preload_content=False,
                _request_timeout=(CONNECT_TIMEOUT, timeout),
                binary=True,
            )
        except ApiException as exc:
            status, message = exc.status or 0, _status_message((exc.body or b"") if isinstance(exc.body, bytes) else str(exc.body or exc.reason).encode())
            if status == 403:
                raise Forbidden(
                    f"Forbidden: cannot create pods/exec in namespace {namespace!r}.", f"grant the identity a Role rule {_rbac_rule('create', 'pods/exec')}."
                ) from None
            if status == 404:
                raise self._not_found(KINDS["pods"], pod, namespace) from None
            raise OpsError(
                f"The API server refused the exec into {pod}/{container}: {message or exc.reason} (HTTP {status}).",
                "check that the container is running (describe_resource kind=pod).",
            ) from None
        except Exception as exc:  # websocket handshake and TLS errors
            raise Unreachable(
                f"The exec stream could not be opened: {self.describe_target()}: {str(exc).splitlines()[0][:200]}.",
                "check that the cluster is reachable; then retry.",
            ) from None
        deadline = time.monotonic() + timeout
        try:
            while ws.is_open():
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    break
                ws.update(timeout=min(left, 1.0))
                for buffer, data in ((out, ws.read_stdout() if ws.peek_stdout() else b""), (err, ws.read_stderr() if ws.peek_stderr() else b"")):
                    room = cap - len(buffer)
                    truncated |= len(data) > room
                    buffer += data[: max(room, 0)]
            status = {} if timed_out else _exec_status(ws.read_channel(3))  # 3: the error channel, a Status
        finally:
            ws.close()
        code = None
        if not status and not timed_out:
            raise Unreachable(f"The exec stream into {pod}/{container} ended without an exit status.", "retry; if it persists check the node's kubelet.")
        if status.get("status") == "Success":
            code = 0
        elif status:
            causes = (status.get("details") or {}).get("causes") or []
            exit_cause = next((c for c in causes if c.get("reason") == "ExitCode"), None)
            if exit_cause is None:  # the runtime could not start argv at all
                raise OpsError(
                    f"The command could not be run in {pod}/{container}: {str(status.get('message') or 'no reason given')[:300]}.",
                    "check that argv[0] exists in the image (an absolute path, or on its PATH); there is no shell unless argv runs one.",
                )
            code = int(exit_cause.get("message") or 1)
        return ExecOutput(code, out.decode(errors="replace"), err.decode(errors="replace"), truncated, timed_out)

    def can_i(self, verb: str, resource: str, namespace: str | None = None, subresource: str | None = None) -> bool:
        plural, _, group = resource.partition(".")
        attrs = {"verb": verb, "resource": plural, "group": group}
        if namespace:
            attrs["namespace"] = namespace
        if subresource:
            attrs["subresource"] = subresource
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": {"resourceAttributes": attrs}}
        out = self.request(
            "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=body, verb="create", resource="selfsubjectaccessreviews.authorization.k8s.io"
        )
        return bool((out.get("status") or {}).get("allowed"))

    def version(self) -> dict[str, Any]:
        return self.request("GET", "/version", verb="get", resource="version")

    # -- 404 with suggestions --------------------------------------------------------------
    def _not_found(self, k: Kind, name: str, namespace: str | None) -> NotFound:
        where = f" in namespace {namespace!r}" if namespace else ""
        names: list[str] = []
        try:
            page = self.request("GET", k.path(namespace), query={"limit": 500}, verb="list", resource=k.resource, namespace=namespace)
            names = [i["metadata"]["name"] for i in page.get("items") or []]
        except NotFound:
            if namespace:
                return NotFound(f"Namespace {namespace!r} does not exist.", "list namespaces with list_resources(kind='namespaces').")
        except OpsError:
            pass  # suggestions are best effort (we may not be allowed to list)
        if not names and namespace and k.kind != "Namespace":
            try:
                self.request("GET", KINDS["namespaces"].path(None, namespace), verb="get", resource="namespaces")
            except NotFound:
                return NotFound(f"Namespace {namespace!r} does not exist.", "list namespaces with list_resources(kind='namespaces').")
            except OpsError:
                pass
        near = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        if near:
            return NotFound(f"{k.kind} {name!r} not found{where}.", f"did you mean {', '.join(repr(n) for n in near)}?")
        if names:
            shown = ", ".join(names[:8]) + (" ..." if len(names) > 8 else "")
            return NotFound(f"{k.kind} {name!r} not found{where}.", f"existing {k.plural}: {shown}.")
        return NotFound(f"{k.kind} {name!r} not found{where}; there are no {k.plural} there.", "check the namespace.")


MANAGED_FIELDS = b',"managedFields":['
# the whole array, strings and their escapes included (its entries hold objects only: the first "]" outside a string ends it)
MANAGED_FIELDS_ARRAY = re.compile(rb',"managedFields":\[(?:[^"\]]++|"(?:[^"\\]++|\\.)*+")*+\]')


def without_managed_fields(data: bytes) -> bytes:
    """A list's JSON body with every object's metadata.managedFields cut out, before it is decoded. Of a page of pods it
    is a third of the bytes and ~80% of json.loads' time (thousands of tiny field-trie dicts), and no reader of a list
    wants it. Its entries hold objects only, so the array ends at the first "]" outside a string (found by counting
    unescaped quotes, exact while the array holds no escaped backslash, else by the regex, 6x slower). It is cut only
    where it is the last field of its metadata, as the API server writes a built-in kind; elsewhere (a custom
    resource's sorted keys) the rest of the body is left whole for the decoder."""
    parts, pos = [], 0
    while (start := data.find(MANAGED_FIELDS, pos)) >= 0:
        end = data.find(b"]", start)
        while end >= 0 and (data.count(b'"', start, end) - data.count(b'\\"', start, end)) % 2:
            end = data.find(b"]", end + 1)
        if end < 0 or data.find(b"\\\\", start, end) >= 0:
            match = MANAGED_FIELDS_ARRAY.match(data, start)
            end = match.end() - 1 if match else -1
        if end < 0 or data[end + 1 : end + 2] != b"}":  # not the last field of metadata: no cut from here on
            break
        parts.append(data[pos:start])
        pos = end + 1  # the "}" that closes metadata stays
    parts.append(data[pos:])
    return b"".join(parts)


def _exec_status(raw: Any) -> dict[str, Any]:
    if isinstance(raw, bytes):
        raw = raw.decode(errors="replace")
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {"message": raw}


def _scrub(obj: Any, digests: bool = False) -> Any:
    """Mask Secret data at the source (a Secret, or a SecretList whose items carry no kind).

    digests: each value becomes "***" + a keyed digest instead, equal exactly when the values are, so a diff can
    tell which keys changed; the key is random per process and never leaves it, so a digest reveals nothing.
    """
    if isinstance(obj, dict) and obj.get("kind") in ("Secret", "SecretList"):
        obj = tainted.scrub_fields(obj)  # remembered for the call's result, and gone from the Secret's own other fields
    if digests and isinstance(obj, dict) and obj.get("kind") == "Secret":
        return {**redact_obj(obj), "data": {k: _digest(v) for k, v in (obj.get("data") or {}).items()}}
    if isinstance(obj, dict):
        if obj.get("kind") == "Secret":
            return redact_obj(obj)
        if obj.get("kind") == "SecretList":
            return redact_obj({**obj, "items": [{**i, "kind": "Secret"} for i in obj.get("items") or []]})
    return obj


_DIGEST_KEY = secrets.token_bytes(32)


def _digest(value: Any) -> str:
    return MASK + hmac.new(_DIGEST_KEY, str(value).encode(), hashlib.sha256).hexdigest()[:16]


digest = _digest  # a rendered Secret value as Cluster.get(..., digests=True) shows a live one (to compare them)


def _rbac_rule(verb: str, resource: str) -> str:
    """'deployments.apps/scale' -> 'apiGroups [apps], resources [deployments/scale], verbs [get]'."""
    main, _, sub = resource.partition("/")
    plural, _, group = main.partition(".")
    groups = group or '""'
    subpath = f"{plural}/{sub}" if sub else plural
    return f"apiGroups [{groups}], resources [{subpath}], verbs [{verb}]"


def _in_cluster_available() -> bool:
    import os

    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and os.path.exists("/var/run/secrets/kubernetes.io/serviceaccount/token")


def iter_items(page: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from page.get("items") or []
