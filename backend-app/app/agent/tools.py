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


def http_tool_source(name: str, url: str, *, bearer_token: str, timeout: float = 30.0) -> ToolSource:
    """An MCP server over streamable HTTP, called with the user's own bearer token."""

    @asynccontextmanager
    async def open_client() -> AsyncIterator[Client]:
        headers = {"Authorization": f"Bearer {bearer_token}"}
        async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(timeout, read=timeout)) as http:
            async with Client(streamable_http_client(url, http_client=http), cache=None) as client:
                yield client

    return ToolSource(name, open_client)


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
        self._routes: dict[str, Client] = {}

    @classmethod
    @asynccontextmanager
    async def open(cls, sources: Sequence[ToolSource]) -> AsyncIterator["ToolBox"]:
        box = cls()
        failure: ToolUnavailable | None = None
        async with AsyncExitStack() as stack:
            for source in sources:
                try:
                    client = await stack.enter_async_context(source.open())
                    tools = await _list_all_tools(client)
                except Exception as exc:
                    log.error("MCP tool source unavailable", extra={"source": source.name, "error": repr(exc)})
                    failure = ToolUnavailable(f"The {source.name} tools are unavailable right now.")
                    failure.__cause__ = exc
                    break
                for tool in tools:
                    if tool.name in box._routes:
                        log.warning("Duplicate MCP tool ignored", extra={"source": source.name, "tool": tool.name})
                        continue
                    box._routes[tool.name] = client
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
        return [{"name": tool.name, "description": tool.description or tool.name, "input_schema": tool.input_schema}
                for tool in self.tools]

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        client = self._routes.get(name)
        if client is None:
            return ToolOutcome(ok=False, result=f"Unknown tool {name!r}; available: {', '.join(self.names)}")
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


async def _list_all_tools(client: Client) -> list[Tool]:
    tools: list[Tool] = []
    cursor: str | None = None
    while True:
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            return tools
