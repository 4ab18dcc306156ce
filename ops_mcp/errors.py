"""The one error type tools raise: a message that says what happened and what to do next.

OpsError subclasses the SDK's ToolError, so MCPServer turns it into a tool result with
isError=true (never a protocol error) and the text reaches the model unchanged.
"""

from __future__ import annotations

from mcp.server.mcpserver.exceptions import ToolError


class OpsError(ToolError):
    def __init__(self, what: str, next_step: str | None = None):
        self.what = what
        self.next_step = next_step
        from ops_mcp.redact import redact_text  # messages may quote API text; scrub it

        text = what if not next_step else f"{what} Next step: {next_step}"
        super().__init__(redact_text(text))


class NotFound(OpsError):
    """The named object does not exist (404)."""


class Forbidden(OpsError):
    """RBAC denied the call (403)."""


class Unreachable(OpsError):
    """The API server did not answer (connection refused, TLS, timeout)."""


class PolicyError(OpsError):
    """The server's own policy refused the call (allowlist, ceiling, read-only, a write-policy rule)."""

    def __init__(self, what: str, next_step: str | None = None, *, rules: tuple[str, ...] = ()):
        super().__init__(what, next_step)
        self.rules = rules  # the write-policy rule ids that refused it (for the audit record)


class Invalid(OpsError):
    """The API server refused the request as invalid (422, 400): a field it does not accept, or cannot change."""


class Conflict(OpsError):
    """The object changed since it was read (409: a resourceVersion precondition failed)."""


class Expired(OpsError):
    """410 Gone: a continue token (or resourceVersion) older than what the API server still keeps."""
