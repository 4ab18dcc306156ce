"""Where the chat agent's tools come from: MCP servers, reached through MCP client sessions.

A `ToolSource` opens one MCP client session. The agent opens every source it is given, lists their
tools and routes each call to the session that listed it, so another server (e.g. an ops MCP server
for admins) is one more source, not a change to the loop.
"""

import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import MCPServer
from mcp.types import Tool

from app.task_mcp import acting_user

log = logging.getLogger(__name__)


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


def http_tool_source(
    name: str, url: str, *, bearer_token: str | None, timeout: float = 30.0, connect_timeout: float | None = None, **options: Any
) -> ToolSource:
    """An MCP server over streamable HTTP, called with the given bearer token (the user's own, or a service's)."""

    @asynccontextmanager
    async def open_client() -> AsyncIterator[Client]:
        headers = {"Authorization": f"Bearer {bearer_token}"} if bearer_token else {}
        limits = httpx2.Timeout(timeout, read=timeout, connect=connect_timeout or timeout)
        async with httpx2.AsyncClient(headers=headers, timeout=limits) as http:
            async with Client(streamable_http_client(url, http_client=http), cache=None) as client:
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

    def as_text(self) -> str:
        return self.result if isinstance(self.result, str) else json.dumps(self.result, default=str)


class ToolUnavailable(RuntimeError):
    """A tool source could not be reached."""


class ToolBox:
    """The open MCP sessions and the tools they list."""

    def __init__(self) -> None:
        self.tools: list[Tool] = []
        self._routes: dict[str, tuple[Client, ToolSource]] = {}
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
                    box._routes[tool.name] = (client, source)
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

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        route = self._routes.get(name)
        if route is None:
            return ToolOutcome(ok=False, result=f"Unknown tool {name!r}; available: {', '.join(self.names)}")
        client, source = route
        outcome = await self._call(client, name, arguments)
        if source.after_call is not None:
            source.after_call(name, arguments, outcome)
        return outcome

    @staticmethod
    async def _call(client: Client, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        try:
            result = await client.call_tool(name, arguments)
        except Exception as exc:  # transport or protocol failure: report it to the model and the user
            log.error("MCP tool call failed", extra={"tool": name, "error": repr(exc)})
            return ToolOutcome(ok=False, result=f"The {name} tool could not be reached: {type(exc).__name__}")
        text = "\n".join(block.text for block in result.content if getattr(block, "type", None) == "text")
        if result.is_error:
            return ToolOutcome(ok=False, result=text or f"{name} failed")
        structured = result.structured_content
        if isinstance(structured, dict) and set(structured) == {"result"}:
            structured = structured["result"]  # the SDK wraps non-object results in {"result": ...}
        return ToolOutcome(ok=True, result=structured if structured is not None else text)


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
