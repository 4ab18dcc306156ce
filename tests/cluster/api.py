"""The test harness's in-process reads of the cluster: what `kubectl get ... -o json` returns, without a kubectl run.

A kubectl run costs ~75 ms of CPU (~250 ms for `apply`), and the suite made ~4,000 of them, most of them polls of a
condition: a seventh of the suite's CPU on a 2-core machine (issue 25). `Api.get` answers the plain forms of `get`
(kinds by any name kubectl accepts, from the API server's own discovery; a name; -n, -A, -l, --field-selector) through
the kubernetes client; any other form returns None and the caller runs kubectl. Writes stay with kubectl, as a
person would make them, except a test namespace's own life (create, delete).
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import urlencode

from cluster.errors import ClusterError
from kubernetes import config

FLAGS = {"-n": "namespace", "--namespace": "namespace", "-l": "labelSelector", "--selector": "labelSelector", "--field-selector": "fieldSelector"}


class Api:
    def __init__(self, kubeconfig: str):
        self.client = config.new_client_from_config(config_file=kubeconfig)
        self.default_namespace = config.list_kube_config_contexts(config_file=kubeconfig)[1]["context"].get("namespace") or "default"
        self._lock = threading.Lock()
        self._names: dict[str, tuple[str, str, bool]] | None = None  # any name of a resource -> (path, kind, namespaced)

    # -- raw ----------------------------------------------------------------------------------------------------------

    def request(self, method: str, path: str, query: dict[str, str] | None = None, body: Any = None, text: bool = False, as_user: str | None = None) -> Any:
        """One API call; its JSON answer (its text if `text`), or None for 404; any other error raises ClusterError with
        the server's words. `as_user`: impersonated, as `kubectl --as` does."""
        url = path + ("?" + urlencode(query) if query else "")
        headers = {"Accept": "*/*" if text else "application/json", **({"Content-Type": "application/json"} if body is not None else {})}
        if as_user:
            headers["Impersonate-User"] = as_user
        method, url, headers, body, _ = self.client.param_serialize(method, url, header_params=headers, body=body, auth_settings=["BearerToken"])
        response = self.client.call_api(method, url, header_params=headers, body=body, _request_timeout=60)
        response.read()
        if response.status == 404:
            return None
        if not 200 <= response.status < 300:
            raise ClusterError(f"{method} {path}: HTTP {response.status}: {response.data.decode(errors='replace')[:500]}")
        return response.data.decode() if text else json.loads(response.data)

    # -- a test namespace ---------------------------------------------------------------------------------------------

    def create_namespace(self, name: str) -> None:
        self.request("POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def delete_namespace(self, name: str) -> None:
        """Asked, not awaited (`kubectl delete namespace --wait=false`); a test's cleanup, so a refusal (one already
        being deleted) is not an error."""
        try:
            self.request("DELETE", f"/api/v1/namespaces/{name}")
        except ClusterError:
            pass

    def logs(self, namespace: str, pod: str, container: str | None = None, previous: bool = False) -> str | None:
        query = {**({"container": container} if container else {}), **({"previous": "true"} if previous else {})}
        try:
            return self.request("GET", f"/api/v1/namespaces/{namespace}/pods/{pod}/log", query, text=True)
        except ClusterError:
            return None  # not served yet (KWOK's watch has not seen its Logs object, or the container has not started)

    def can_i(self, user: str, verb: str, resource: str, namespace: str, subresource: str | None = None) -> bool:
        """`kubectl auth can-i VERB RESOURCE --as USER -n NAMESPACE [--subresource]`: the same SelfSubjectAccessReview,
        made as the impersonated user. RESOURCE is `name[.group]`; a name without a group takes its group from
        discovery (the core group first) with its plural name, as kubectl's mapper does, and "" when the server has no such resource."""
        name, _, group = resource.partition(".")
        if not group and (hit := self._discover(False).get(name.lower())) is not None:
            name, group = hit[0].rsplit("/", 1)[1], (hit[0].split("/")[2] if hit[0].startswith("/apis/") else "")
        attributes = {"namespace": namespace, "verb": verb, "group": group, "resource": name, **({"subresource": subresource} if subresource else {})}
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": {"resourceAttributes": attributes}}
        return bool(self.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=review, as_user=user)["status"].get("allowed"))

    # -- get ----------------------------------------------------------------------------------------------------------

    def get(self, args: tuple[str, ...]) -> Any:
        """`kubectl get ARGS -o json`'s answer, or None when ARGS is not a form this answers (the caller runs kubectl)."""
        if not args or args[0] != "get":
            return None
        words, query, namespace, everywhere = [], {}, None, False
        rest = list(args[1:])
        while rest:
            word = rest.pop(0)
            if word in ("-A", "--all-namespaces"):
                everywhere = True
            elif word in FLAGS and rest:
                value = rest.pop(0)
                if FLAGS[word] == "namespace":
                    namespace = value
                else:
                    query[FLAGS[word]] = value
            elif word.startswith("-"):
                return None  # -o, --raw, --show-labels, ...: kubectl's own
            else:
                words.append(word)
        if not words or len(words) > 2:
            return None
        kinds, name = words[0], (words[1] if len(words) == 2 else None)
        if "/" in kinds and name is None:
            kinds, name = kinds.split("/", 1)
        resolved = [self._resolve(k) for k in kinds.split(",")]
        if any(r is None for r in resolved) or (name and len(resolved) > 1):
            return None
        namespace = namespace or self.default_namespace
        if name:
            path, kind, namespaced = resolved[0]  # type: ignore[misc]
            found = self.request("GET", self._path(path, namespaced, namespace, everywhere=False) + f"/{name}")
            if found is None:
                raise ClusterError(f'Error from server (NotFound): {path.rsplit("/", 1)[1]} "{name}" not found')
            return found
        items = []
        for path, kind, namespaced in resolved:  # type: ignore[misc]
            listed = self.request("GET", self._path(path, namespaced, namespace, everywhere), query) or {}
            version = listed.get("apiVersion", "v1")
            items += [{"apiVersion": version, "kind": kind, **item} for item in listed.get("items") or []]
        return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}

    @staticmethod
    def _path(path: str, namespaced: bool, namespace: str, everywhere: bool) -> str:
        if not namespaced or everywhere:
            return path
        base, plural = path.rsplit("/", 1)
        return f"{base}/namespaces/{namespace}/{plural}"

    def _resolve(self, word: str) -> tuple[str, str, bool] | None:
        """kubectl's names of a resource (plural, singular, short, kind; `plural.group`), from discovery; a name not
        found reads discovery once more (a CRD made since)."""
        for fresh in (False, True):
            names = self._discover(fresh)
            if (hit := names.get(word.lower())) is not None:
                return hit
        return None

    def _discover(self, fresh: bool) -> dict[str, tuple[str, str, bool]]:
        with self._lock:
            if self._names is not None and not fresh:
                return self._names
            names: dict[str, tuple[str, str, bool]] = {}
            versions = [("", "/api/v1")]
            for group in (self.request("GET", "/apis") or {}).get("groups", []):
                versions.append((group["name"], f"/apis/{group['preferredVersion']['groupVersion']}"))
            for group, base in reversed(versions):  # the core group last: its names win, as in kubectl
                for r in (self.request("GET", base) or {}).get("resources", []):
                    if "/" in r["name"] or "list" not in r.get("verbs", []):
                        continue
                    hit = (f"{base}/{r['name']}", r["kind"], r["namespaced"])
                    for alias in (r["name"], r.get("singularName") or "", r["kind"].lower(), *r.get("shortNames", [])):
                        if alias:
                            names[alias.lower()] = hit
                    if group:
                        names[f"{r['name']}.{group}"] = hit
            self._names = names
            return names
