"""Policy applied on every call: namespace allowlist, replicas ceiling, destructive confirmation.

Read-only and disable-destructive are enforced earlier, at registration: those tools are
never listed (see toolkit.Ops.add_tool).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ops_mcp.errors import PolicyError
from ops_mcp.settings import Settings


class Policy:
    def __init__(self, settings: Settings):
        self.settings = settings

    def namespace(self, namespace: str | None) -> str:
        """The namespace a call acts on: the given one or the default, if the allowlist permits."""
        ns = namespace or self.settings.namespace
        allowed = self.settings.namespaces
        if allowed and ns not in allowed:
            raise PolicyError(
                f"Namespace {ns!r} is outside this server's allowlist ({', '.join(allowed)}).",
                "use one of the allowed namespaces, or ask the operator to extend OPS_MCP_NAMESPACES.",
            )
        return ns

    def scope(self, namespace: str | None, all_namespaces: bool) -> list[str | None]:
        """Namespaces to query: [ns], or for 'all' either [None] (cluster-wide) or the allowlist."""
        if not all_namespaces:
            return [self.namespace(namespace)]
        return list(self.settings.namespaces) if self.settings.namespaces else [None]

    def replicas(self, replicas: int) -> int:
        ceiling = self.settings.max_replicas
        if replicas < 0 or replicas > ceiling:
            raise PolicyError(
                f"replicas={replicas} is outside the allowed range 0..{ceiling}.",
                f"choose a value from 0 to {ceiling} (the ceiling is OPS_MCP_MAX_REPLICAS).",
            )
        return replicas

    def chart_source(self, chart: str, repo: str | None = None) -> None:
        """Refuse a chart from outside OPS_MCP_CHART_SOURCES (default: the app's own chart, OPS_MCP_CHART_PATH).

        chart is a local directory, an oci:// reference or (with repo) a chart name in that repository.
        Entries: directories (their charts and any below), repository URLs, oci:// prefixes, "*" (any).
        """
        allowed = self.settings.chart_sources or [c for c in [self.settings.chart_path] if c]
        if "*" in allowed:
            return
        if repo:
            source, urls = f"{repo.rstrip('/')} (chart {chart})", [repo]
        elif "://" in chart:
            source, urls = chart, [chart]
        else:
            source, urls = str(_local(chart)), []
        for entry in allowed:
            if "://" in entry:
                base = entry.rstrip("/")
                if any(u.rstrip("/") == base or u.startswith(base + "/") for u in urls):
                    return
            elif not urls and _local(chart).is_relative_to(_local(entry)):
                return
        raise PolicyError(
            f"Chart source {source!r} is not allowed on this server (OPS_MCP_CHART_SOURCES: {', '.join(allowed)}).",
            "deploy a chart from an allowed source, or ask the operator to add this one to OPS_MCP_CHART_SOURCES.",
        )


def _local(path: str) -> Path:
    from ops_mcp.settings import base_dir

    p = Path(path).expanduser()
    return (p if p.is_absolute() else base_dir() / p).resolve()


class Confirmation(BaseModel):
    """What a destructive tool asks the user through MCP elicitation."""

    confirm: bool = Field(description="Proceed with this change?")


def client_can_elicit(ctx: Any) -> bool:
    try:
        caps = ctx.client_capabilities
    except Exception:
        return False
    elicitation = getattr(caps, "elicitation", None) if caps is not None else None
    # A bare `elicitation: {}` means form support; url-only does not.
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)
