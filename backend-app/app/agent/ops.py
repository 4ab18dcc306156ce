"""Chat ops: the ops MCP server's tools for admins, read-only unless OPS_CHAT_ALLOW_WRITES, audited.

Who is an admin: a user id listed in ADMIN_USER_IDS, or a verified token whose `role` claim is "admin"
(a string, a comma-separated string or a list containing "admin"). Everyone else never gets the source,
so the ops tools are neither offered to the model nor callable by name.

With OPS_CHAT_ALLOW_WRITES a write is never run from the model's call: it becomes a proposal the admin approves
or denies in the chat (app/api/routes/chat.py), and the ops server's elicitation before a risky write is answered
"accept" only while that approved call runs (tools.Consent).
"""

import logging
from typing import Any

from mcp.types import Tool

from app.agent.tools import Consent, ToolOutcome, ToolSource, http_tool_source, is_write
from app.core.config import Settings
from app.core.security import Principal

SOURCE_NAME = "ops"
# Always emitted, whatever LOG_LEVEL says: these records are the backend's audit trail.
audit_log = logging.getLogger("app.audit")
audit_log.setLevel(logging.INFO)

INSTRUCTIONS = """This user is an administrator: you also have ops tools for the Kubernetes deployment of this
app (status, diagnosis, logs{writes}). For "why is X failing?" call diagnose (or get_app_status) and answer
with the root cause, the evidence and the fix the tool gives; never guess. Only change the cluster when the
user asks for that change explicitly, and report the before/after the tool returns. Never reveal secret values.{approval}"""

APPROVAL = """
A call of a tool that changes the cluster is never run at once: it is shown to the administrator, who approves or
denies it, and its result says it awaits that decision. Propose one change at a time, then say in one or two
sentences what you proposed and why, and stop. The decision and the real result come in a later message."""


def role_claims(claims: dict[str, Any]) -> set[str]:
    role = claims.get("role")
    if isinstance(role, str):
        return {part.strip() for part in role.split(",") if part.strip()}
    if isinstance(role, (list, tuple)):
        return {part.strip() for part in role if isinstance(part, str) and part.strip()}
    return set()


def is_admin(principal: Principal, settings: Settings) -> bool:
    return principal.user_id in settings.admin_user_ids or "admin" in role_claims(principal.claims)


def offers_tool(settings: Settings):
    """Without OPS_CHAT_ALLOW_WRITES only tools annotated readOnlyHint=true are offered (an unannotated tool
    counts as a write), whatever the ops server itself allows."""

    def offers(tool: Tool) -> bool:
        return settings.ops_chat_allow_writes or not is_write(tool)

    return offers


def audit_call(user_id: str):
    # The redaction rules are ops-mcp's own (one module for both): imported here, where chat ops are
    # switched on, so a backend without them never needs the ops_mcp package.
    from ops_mcp.redact import redact_obj

    def record(tool: str, arguments: dict[str, Any], outcome: ToolOutcome) -> None:
        # The outcome only: error texts may echo argument values (validation errors do).
        audit_log.info(
            "ops_tool_call",
            extra={"event": "ops_tool_call", "user_id": user_id, "tool": tool, "arguments": redact_obj(arguments), "outcome": "ok" if outcome.ok else "error"},
        )

    return record


def redacted(arguments: dict[str, Any]) -> dict[str, Any]:
    """Arguments as they may be shown or logged: ops-mcp's redaction rules (credentials masked)."""
    from ops_mcp.redact import redact_obj

    return redact_obj(arguments)


def audit_action(event: str, *, user_id: str, action_id: int, conversation_id: int, tool: str, arguments: dict[str, Any], **fields: Any) -> None:
    """A proposal, an approval or a denial of an ops write, in the backend's audit trail (arguments redacted)."""
    audit_log.info(
        event,
        extra={
            "event": event,
            "user_id": user_id,
            "action_id": action_id,
            "conversation_id": conversation_id,
            "tool": tool,
            "arguments": redacted(arguments),
            **fields,
        },
    )


def ops_tool_source(settings: Settings, *, user_id: str, user_token: str | None = None) -> ToolSource:
    """The ops MCP server over streamable HTTP with the backend's own token (OPS_MCP_TOKEN), or with the admin's own
    token when OPS_MCP_FORWARD_USER_TOKEN is set (the ops server then audits the person)."""
    assert settings.ops_mcp_url
    writes = ", and changes such as scaling, each approved by the administrator" if settings.ops_chat_allow_writes else "; read-only"
    return http_tool_source(
        SOURCE_NAME,
        settings.ops_mcp_url,
        bearer_token=user_token if settings.ops_mcp_forward_user_token and user_token else settings.ops_mcp_token,
        timeout=120.0,
        connect_timeout=5.0,
        optional=True,
        offers=offers_tool(settings),
        after_call=audit_call(user_id),
        instructions=INSTRUCTIONS.format(writes=writes, approval=APPROVAL if settings.ops_chat_allow_writes else ""),
        approval=True,
        consent=Consent(),
    )
