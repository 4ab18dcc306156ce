"""Where the chat agent's tools come from: MCP servers, reached through MCP client sessions.

A `ToolSource` opens one MCP client session. The agent opens every source it is given, lists their
tools and routes each call to the session that listed it, so another server (e.g. an ops MCP server
for admins) is one more source, not a change to the loop.

Two rules live here, once each:
- `is_write(tool)`: a tool is a write unless its MCP annotations say readOnlyHint=true. A source whose writes need
  a person's approval (`approval=True`: the ops tools) never runs one from the model: the agent proposes it
  (`ToolBox.propose`) and only `ToolBox.call(..., approved=True)` runs it, after the admin's click.
- `untrusted(text, source)`: every tool result reaches the model inside a `<tool_output>` delimiter, as data.
"""

import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import MCPServer
from mcp.types import ElicitRequestFormParams, ElicitRequestParams, ElicitResult, Tool

from app.task_mcp import acting_user

log = logging.getLogger(__name__)

UNTRUSTED_TAG = "tool_output"
# Any opening or closing delimiter inside a tool's output (however spaced or cased) is escaped, so the output
# cannot end its own delimiter early and pose as text from outside it.
_DELIMITER = re.compile(r"<(\s*/?\s*)(tool_output)", re.IGNORECASE)


def untrusted(text: str, source: str) -> str:
    """A tool's output as the model sees it: data inside a delimiter, never instructions (the system prompt says so)."""
    inner = _DELIMITER.sub(lambda m: f"&lt;{m.group(1)}{m.group(2)}", text)
    return f'<{UNTRUSTED_TAG} source="{source}" trust="untrusted">\n{inner}\n</{UNTRUSTED_TAG}>'


def is_write(tool: Tool) -> bool:
    """The one rule for "does this tool change anything": a tool is a write unless annotated readOnlyHint=true."""
    return not (tool.annotations is not None and tool.annotations.read_only_hint is True)


class Consent:
    """The MCP client's answer when a server asks a person through elicitation (ops-mcp before a risky write).

    "accept" only while an admin-approved action runs (`with consent.granted():`): the admin's click on
    Approve is the person's answer. At any other time, and to anything but a form whose fields can all be
    answered "yes", "decline". One per tool source instance, so per request: a grant never outlives the call.
    """

    def __init__(self) -> None:
        self._granted = False

    @contextmanager
    def granted(self) -> Iterator[None]:
        self._granted = True
        try:
            yield
        finally:
            self._granted = False

    async def __call__(self, context: Any, params: ElicitRequestParams) -> ElicitResult:
        content = _form_answer(params) if self._granted else None
        action = "accept" if content is not None else "decline"
        log.info("MCP elicitation answered", extra={"answer": action, "approved_action_running": self._granted})
        return ElicitResult(action=action, content=content) if content is not None else ElicitResult(action="decline")


def _form_answer(params: ElicitRequestParams) -> dict[str, Any] | None:
    """Answer "yes" to a confirmation form: every boolean field true, fields with a const or default take it; None when
    a required field asks for anything else (a person would have to type it), and for URL-mode requests."""
    if not isinstance(params, ElicitRequestFormParams):
        return None
    schema = params.requested_schema
    answer: dict[str, Any] = {}
    for name, spec in (schema.get("properties") or {}).items():
        spec = spec if isinstance(spec, dict) else {}
        if spec.get("type") == "boolean":
            answer[name] = True
        elif "const" in spec:
            answer[name] = spec["const"]
        elif "default" in spec:
            answer[name] = spec["default"]
        elif name in (schema.get("required") or []):
            return None
    return answer


@dataclass(frozen=True)
class ToolSource:
    name: str
    open: Callable[[], AbstractAsyncContextManager[Client]]
    # Optional sources may be unreachable: the agent runs without their tools (ToolBox.unavailable).
    optional: bool = False
    # Which of the source's tools are offered at all; the others cannot be called either.
    offers: Callable[[Tool], bool] | None = None
    # Called after every call of one of this source's tools (auditing).
    after_call: Callable[[str, dict[str, Any], "ToolOutcome"], None] | None = None
    # Extra system-prompt text for the model when this source's tools are offered.
    instructions: str | None = None
    # Its writes (is_write) run only after a person approved them: the model's calls become proposals.
    approval: bool = False
    # Answers the server's elicitations (declared to the server only when set).
    consent: Consent | None = None


def http_tool_source(
    name: str, url: str, *, bearer_token: str | None, timeout: float = 30.0, connect_timeout: float | None = None, **options: Any
) -> ToolSource:
    """An MCP server over streamable HTTP, called with the given bearer token (the user's own, or a service's)."""

    consent: Consent | None = options.get("consent")

    @asynccontextmanager
    async def open_client() -> AsyncIterator[Client]:
        headers = {"Authorization": f"Bearer {bearer_token}"} if bearer_token else {}
        limits = httpx2.Timeout(timeout, read=timeout, connect=connect_timeout or timeout)
        async with httpx2.AsyncClient(headers=headers, timeout=limits) as http:
            # With a consent the client declares elicitation support, so the server asks it before a risky write.
            async with Client(streamable_http_client(url, http_client=http), cache=None, elicitation_callback=consent) as client:
                yield client

    return ToolSource(name, open_client, **options)


def in_process_tool_source(name: str, server: MCPServer, *, user_id: str) -> ToolSource:
    """An MCP server object in this process, acting for `user_id` (used when TASK_MCP_URL is unset)."""

    @asynccontextmanager
    async def open_client() -> AsyncIterator[Client]:
        with acting_user(user_id):
            async with Client(server, cache=None) as client:
                yield client

    return ToolSource(name, open_client)


@dataclass
class ToolOutcome:
    ok: bool
    result: Any  # structured content when the tool gives it, else its text
    source: str = "tools"  # the tool source that answered (the delimiter names it)
    text: str = ""  # the tool's own text content (a change tool's diff summary)

    def as_text(self) -> str:
        return self.result if isinstance(self.result, str) else json.dumps(self.result, default=str)

    def for_model(self) -> str:
        """What the model reads of this outcome: always as untrusted data."""
        return untrusted(self.as_text(), self.source)


@dataclass
class Proposal:
    """A write the model asked for, not run: it waits for the admin's decision."""

    tool: str
    arguments: dict[str, Any]
    source: str
    preview: str | None  # the text of the tool's own dry run of exactly this call, where it has `dry_run`
    hints: dict[str, Any] = field(default_factory=dict)  # what the tool's annotations say

    def pending(self) -> ToolOutcome:
        return ToolOutcome(
            ok=True,
            source=self.source,
            result=(
                f"Not run yet: this {self.tool} call awaits the admin's decision (Approve or Deny in the chat). Nothing has "
                "changed. You will be told the decision and the real result in a later message."
                + (f" The dry run of this call says:\n{self.preview}" if self.preview else "")
            ),
        )


def tool_hints(tool: Tool) -> dict[str, Any]:
    annotations = tool.annotations
    return {
        "title": tool.title or (annotations.title if annotations else None) or tool.name,
        "description": (tool.description or "").strip().split("\n")[0] or None,
        "read_only": bool(annotations and annotations.read_only_hint),
        "destructive": None if annotations is None else annotations.destructive_hint,
        "idempotent": None if annotations is None else annotations.idempotent_hint,
        "open_world": None if annotations is None else annotations.open_world_hint,
    }


class ToolUnavailable(RuntimeError):
    """A tool source could not be reached."""


class ToolBox:
    """The open MCP sessions and the tools they list."""

    def __init__(self) -> None:
        self.tools: list[Tool] = []
        self._routes: dict[str, tuple[Client, ToolSource, Tool]] = {}
        self.unavailable: list[str] = []  # optional sources that could not be reached
        self.instructions: list[str] = []  # from the sources whose tools are offered

    @classmethod
    @asynccontextmanager
    async def open(cls, sources: Sequence[ToolSource]) -> AsyncIterator["ToolBox"]:
        box = cls()
        failure: ToolUnavailable | None = None
        async with AsyncExitStack() as stack:
            for source in sources:
                # Each source in its own stack, so an optional one that fails half-open is closed at once.
                source_stack = AsyncExitStack()
                try:
                    client = await source_stack.enter_async_context(source.open())
                    tools = await _list_all_tools(client)
                except Exception as exc:
                    await _close_quietly(source_stack)
                    if source.optional:
                        log.warning("Optional MCP tool source unavailable", extra={"source": source.name, "error": type(exc).__name__})
                        box.unavailable.append(source.name)
                        continue
                    log.error("MCP tool source unavailable", extra={"source": source.name, "error": repr(exc)})
                    failure = ToolUnavailable(f"The {source.name} tools are unavailable right now.")
                    failure.__cause__ = exc
                    break
                stack.push_async_exit(source_stack)
                if source.offers is not None:
                    tools = [tool for tool in tools if source.offers(tool)]
                if tools and source.instructions:
                    box.instructions.append(source.instructions)
                for tool in tools:
                    if tool.name in box._routes:
                        log.warning("Duplicate MCP tool ignored", extra={"source": source.name, "tool": tool.name})
                        continue
                    box._routes[tool.name] = (client, source, tool)
                    box.tools.append(tool)
            if failure is None:
                yield box
        # Raised after the sessions are closed, so it is not wrapped in their task groups' ExceptionGroup.
        if failure is not None:
            raise failure

    @property
    def names(self) -> list[str]:
        return [tool.name for tool in self.tools]

    def anthropic_tools(self) -> list[dict[str, Any]]:
        return [{"name": tool.name, "description": tool.description or tool.name, "input_schema": tool.input_schema} for tool in self.tools]

    def needs_approval(self, name: str) -> bool:
        """A write of a source whose writes wait for a person."""
        route = self._routes.get(name)
        return route is not None and route[1].approval and is_write(route[2])

    async def call(self, name: str, arguments: dict[str, Any], *, approved: bool = False) -> ToolOutcome:
        """Run a tool. A write that needs approval runs only with approved=True (the admin clicked Approve), and
        then the source's consent answers the server's elicitation "accept" for the length of this call."""
        route = self._routes.get(name)
        if route is None:
            return ToolOutcome(ok=False, result=f"Unknown tool {name!r}; available: {', '.join(self.names)}")
        client, source, _tool = route
        if self.needs_approval(name) and not approved:
            return ToolOutcome(ok=False, source=source.name, result=f"{name} changes the cluster: it runs only after the admin approves it.")
        if approved and source.consent is not None:
            with source.consent.granted():
                outcome = await self._call(client, source.name, name, arguments)
        else:
            outcome = await self._call(client, source.name, name, arguments)
        if source.after_call is not None:
            source.after_call(name, arguments, outcome)
        return outcome

    async def propose(self, name: str, arguments: dict[str, Any]) -> Proposal | ToolOutcome:
        """A write the model asked for, as a proposal for the admin; where the tool takes `dry_run`, with the text of its
        dry run of exactly these arguments (a failed dry run is returned instead: there is nothing to approve)."""
        client, source, tool = self._routes[name]
        preview = None
        if "dry_run" in ((tool.input_schema or {}).get("properties") or {}):
            dry = await self._call(client, source.name, name, {**arguments, "dry_run": True})
            if source.after_call is not None:
                source.after_call(name, {**arguments, "dry_run": True}, dry)
            if not dry.ok:
                return ToolOutcome(ok=False, source=source.name, result=f"The dry run of this call failed, so nothing was proposed or changed: {dry.as_text()}")
            preview = dry.text or dry.as_text()
        return Proposal(tool=name, arguments=arguments, source=source.name, preview=preview, hints=tool_hints(tool))

    @staticmethod
    async def _call(client: Client, source: str, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        try:
            result = await client.call_tool(name, arguments)
        except Exception as exc:  # transport or protocol failure: report it to the model and the user
            log.error("MCP tool call failed", extra={"tool": name, "error": repr(exc)})
            return ToolOutcome(ok=False, source=source, result=f"The {name} tool could not be reached: {type(exc).__name__}")
        text = "\n".join(block.text for block in result.content if getattr(block, "type", None) == "text")
        if result.is_error:
            return ToolOutcome(ok=False, source=source, result=text or f"{name} failed", text=text)
        structured = result.structured_content
        if isinstance(structured, dict) and set(structured) == {"result"}:
            structured = structured["result"]  # the SDK wraps non-object results in {"result": ...}
        return ToolOutcome(ok=True, source=source, result=structured if structured is not None else text, text=text)


async def _close_quietly(stack: AsyncExitStack) -> None:
    try:
        await stack.aclose()
    except Exception as exc:  # the session already failed; closing it must not fail the request too
        log.debug("Closing a failed MCP session raised", extra={"error": repr(exc)})


async def _list_all_tools(client: Client) -> list[Tool]:
    tools: list[Tool] = []
    cursor: str | None = None
    while True:
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            return tools
