"""Policy applied on every call: namespace allowlist, replicas ceiling, destructive confirmation.

Read-only and disable-destructive are enforced earlier, at registration: those tools are
never listed (see server.Ops.tool).
"""

from __future__ import annotations

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
