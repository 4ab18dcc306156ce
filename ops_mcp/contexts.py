"""Kubeconfig contexts: which ones a call may name (OPS_MCP_CONTEXTS), and the one the current call acts on.

With OPS_MCP_CONTEXTS unset the server acts on one context (OPS_MCP_CONTEXT, else the kubeconfig's current one)
and no tool takes a `context` argument. With it set (names, or `*` for every context of the kubeconfig), every
cluster tool takes an optional `context`, `list_contexts` is listed, and each context gets its own cached client.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from ops_mcp.errors import OpsError
from ops_mcp.settings import Settings

# The context named by the tool call being served (None: the server's default); set by the server's middleware.
CURRENT: ContextVar[str | None] = ContextVar("ops_mcp_context", default=None)


def kubeconfig_contexts(settings: Settings) -> tuple[list[dict[str, Any]], str | None]:
    """The kubeconfig's contexts ({name, context: {cluster, namespace, user}}) and the current one's name."""
    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException

    path = settings.kubeconfig or str(config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION)
    try:
        contexts, active = config.list_kube_config_contexts(path)
    except (ConfigException, OSError, TypeError, ValueError) as exc:
        raise OpsError(
            f"Cannot read the kubeconfig's contexts ({exc}).", "set OPS_MCP_KUBECONFIG to a kubeconfig file; contexts need one (not in-cluster config)."
        ) from None
    return contexts or [], (active or {}).get("name")


def allowed(settings: Settings) -> list[str]:
    """The context names calls may use, in the kubeconfig's order."""
    contexts, _ = kubeconfig_contexts(settings)
    names = [c["name"] for c in contexts]
    if "*" in settings.contexts:
        return names
    missing = [n for n in settings.contexts if n not in names]
    if missing:
        raise OpsError(
            f"OPS_MCP_CONTEXTS names {', '.join(missing)}, which the kubeconfig does not have (it has: {', '.join(names) or 'none'}).", "fix OPS_MCP_CONTEXTS."
        )
    return [n for n in names if n in settings.contexts]


def check(settings: Settings, name: str) -> str:
    names = allowed(settings)
    if name not in names:
        raise OpsError(f"Context {name!r} is not one this server may use.", f"use one of: {', '.join(names)} (list_contexts), or omit context for the default.")
    return name


def default(settings: Settings) -> str:
    """The context a call without `context` acts on."""
    return settings.context or kubeconfig_contexts(settings)[1] or "(current)"


def rows(settings: Settings) -> list[dict[str, Any]]:
    """The allowed contexts as {name, cluster, server, namespace, default}: no user names, no credentials."""
    import yaml
    from kubernetes import config

    path = settings.kubeconfig or str(config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION)
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    servers = {c.get("name"): (c.get("cluster") or {}).get("server") for c in data.get("clusters") or []}
    contexts, _ = kubeconfig_contexts(settings)
    by_name, chosen, first = {c["name"]: c.get("context") or {} for c in contexts}, default(settings), allowed(settings)
    return [
        {
            "name": n,
            "cluster": by_name[n].get("cluster"),
            "server": servers.get(by_name[n].get("cluster")),
            "namespace": by_name[n].get("namespace"),
            "default": n == chosen,
        }
        for n in first
    ]
