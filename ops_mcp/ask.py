"""`ops-mcp ask "why is the backend crashing?"`: a kubectl-ai-style agent over the ops tools.

The agent is the Anthropic Messages API with tool use; its tools are the ops MCP
server's, reached through an MCP client session (a stdio child by default, or a
remote server over streamable HTTP). It prints each step as it goes, asks before any
tool that writes (--yes skips the question), and ends with the answer and the tool
calls and tokens it used.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

DEFAULT_MODEL = "claude-sonnet-5-5"
SYSTEM = (
    "You are an SRE assistant operating a Kubernetes deployment (by default the Todo Chatbot Helm release) "
    "through the tools you are given. Investigate before acting: prefer get_app_status and diagnose for "
    "'why' questions, read only what you need, and never guess object names: list them. Change the cluster "
    "only when the user asked for a change. Finish with a short answer: the cause or the result, the "
    "evidence in a line or two, and the exact next step if one is needed."
)
TOOL_RESULT_LIMIT = 24_000  # characters of one tool result passed back to the model


@dataclass
class Step:
    tool: str
    arguments: dict[str, Any]
    ok: bool
    output_chars: int
    skipped: bool = False


@dataclass
class AskResult:
    answer: str
    steps: list[Step] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    turns: int = 0

    @property
    def tool_output_tokens(self) -> int:
        """Tokens spent on tool outputs, estimated as characters / 4."""
        return sum(s.output_chars for s in self.steps) // 4


class AskError(Exception):
    """The question could not be answered; the message says why and what to do."""


def _writes(tool: types.Tool) -> bool:
    hints = tool.annotations
    return not (hints is not None and hints.read_only_hint)


def _anthropic_tools(tools: list[types.Tool]) -> list[dict[str, Any]]:
    return [{"name": t.name, "description": t.description or t.name, "input_schema": t.input_schema} for t in tools]


def _texts(result: types.CallToolResult) -> tuple[str, str]:
    """(what the model gets: the structured result when there is one; the short text shown to the person)."""
    text = "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))
    model = text if result.structured_content is None else json.dumps(result.structured_content, separators=(",", ":"), default=str)
    return model[:TOOL_RESULT_LIMIT], (text.splitlines() or [""])[0][:160]


def _args(args: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v if isinstance(v, (int, float, bool)) else json.dumps(v, default=str)}" for k, v in args.items())


def _ask_tty(prompt: str, stream: TextIO) -> bool:
    if not sys.stdin.isatty():
        return False
    stream.write(prompt)
    stream.flush()
    return sys.stdin.readline().strip().lower() in {"y", "yes"}


async def ask(
    question: str,
    *,
    client: Client,
    anthropic_client: Any,
    model: str = DEFAULT_MODEL,
    yes: bool = False,
    max_turns: int = 12,
    max_tokens: int = 2048,
    out: TextIO = sys.stderr,
    confirm: Callable[[str, TextIO], bool] = _ask_tty,
) -> AskResult:
    """Run the tool-use loop until the model answers or `max_turns` is reached."""
    tools = (await client.list_tools()).tools
    by_name = {t.name: t for t in tools}
    result = AskResult(answer="")
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    for _ in range(max_turns):
        response = await anthropic_client.messages.create(model=model, max_tokens=max_tokens, system=SYSTEM, tools=_anthropic_tools(tools), messages=messages)
        result.turns += 1
        result.input_tokens += response.usage.input_tokens
        result.output_tokens += response.usage.output_tokens
        messages.append({"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in response.content]})
        uses = [b for b in response.content if b.type == "tool_use"]
        if not uses:
            result.answer = "\n".join(b.text for b in response.content if b.type == "text").strip()
            return result
        replies = []
        for use in uses:
            replies.append(await _run_tool(use, by_name, client, result, yes=yes, out=out, confirm=confirm))
        messages.append({"role": "user", "content": replies})
    raise AskError(f"no answer after {max_turns} model turns; ask a narrower question or raise --max-turns")


async def _run_tool(
    use: Any, by_name: dict[str, types.Tool], client: Client, result: AskResult, *, yes: bool, out: TextIO, confirm: Callable[[str, TextIO], bool]
) -> dict[str, Any]:
    args = dict(use.input or {})
    shown = _args(args)
    tool = by_name.get(use.name)
    if tool is None:
        out.write(f"  ✗ {use.name}: not a tool this server offers\n")
        result.steps.append(Step(use.name, args, ok=False, output_chars=0, skipped=True))
        return {
            "type": "tool_result",
            "tool_use_id": use.id,
            "is_error": True,
            "content": f"There is no tool named {use.name!r}. Available: {', '.join(sorted(by_name))}.",
        }
    if _writes(tool):
        if not (yes or confirm(f"  ? {use.name}({shown}) changes the cluster. Run it? [y/N] ", out)):
            out.write(f"  ⊘ {use.name}({shown}) not run: not confirmed (pass --yes to allow changes)\n")
            result.steps.append(Step(use.name, args, ok=False, output_chars=0, skipped=True))
            return {
                "type": "tool_result",
                "tool_use_id": use.id,
                "is_error": True,
                "content": "The user declined this change. Do not retry it; say what you would have done.",
            }
        if "confirm" in (tool.input_schema.get("properties") or {}):
            args["confirm"] = True  # the user has just confirmed this exact call
    out.write(f"  → {use.name}({shown})\n")
    out.flush()
    called = await client.call_tool(use.name, args)
    text, first = _texts(called)
    out.write(f"    {'✗' if called.is_error else '←'} {first}\n")
    result.steps.append(Step(use.name, args, ok=not called.is_error, output_chars=len(text)))
    return {"type": "tool_result", "tool_use_id": use.id, "content": text or "(empty)", "is_error": bool(called.is_error)}


def person(yes: bool, out: TextIO, confirm: Callable[[str, TextIO], bool] = _ask_tty) -> Any:
    """An elicitation callback: the server's question (what makes the write risky, the dry run's diff) put to the
    person at the terminal; --yes answers yes (the person said so when starting the agent)."""

    async def answer(context: Any, params: Any) -> types.ElicitResult:
        out.write(f"  ? {params.message}\n")
        if yes or confirm("  Approve? [y/N] ", out):
            return types.ElicitResult(action="accept", content={"confirm": True})
        return types.ElicitResult(action="decline")

    return answer


def server_client(*, url: str | None, token: str | None, serve_flags: list[str], env: dict[str, str] | None = None, elicit: Any = None) -> Client:
    """An MCP client for the ops server: remote over HTTP, or this package as a stdio child. Over HTTP the server asks
    a person itself before a risky write, so the client answers its questions (`elicit`); on stdio the agent asks
    before every write and says confirm=true."""
    if url:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        transport = streamable_http_client(url, http_client=create_mcp_http_client(headers=headers))
        return Client(transport, read_timeout_seconds=180, elicitation_callback=elicit)
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "ops_mcp.cli", "serve", "--transport", "stdio", *serve_flags], env=env if env is not None else dict(os.environ)
    )
    return Client(params, read_timeout_seconds=180)


async def run_cli(question: str, *, settings_flags: list[str], url: str | None, model: str | None, yes: bool, max_turns: int, out: TextIO = sys.stderr) -> int:
    """`ops-mcp ask`: print the steps to `out`, the answer to stdout, then the usage line."""
    import anthropic

    if not (os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")):
        out.write("ops-mcp ask: set ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL for a compatible endpoint) to use the agent\n")
        return 2
    token = os.environ.get("OPS_MCP_HTTP_TOKEN")
    try:
        async with anthropic.AsyncAnthropic() as model_api, server_client(url=url, token=token, serve_flags=settings_flags, elicit=person(yes, out)) as client:
            result = await ask(
                question,
                client=client,
                anthropic_client=model_api,
                model=model or os.environ.get("ANTHROPIC_MODEL", DEFAULT_MODEL),
                yes=yes,
                max_turns=max_turns,
                out=out,
            )
    except AskError as exc:
        out.write(f"ops-mcp ask: {exc}\n")
        return 1
    except anthropic.APIError as exc:
        out.write(f"ops-mcp ask: the model API failed: {exc}. Check ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL and the model name.\n")
        return 1
    print(result.answer)
    out.write(f"-- {summary(result)}\n")
    return 0


def summary(result: AskResult) -> str:
    calls = len([s for s in result.steps if not s.skipped])
    return (
        f"{calls} tool call(s)"
        f"{f', {len(result.steps) - calls} not run' if len(result.steps) > calls else ''}; "
        f"{result.turns} model turn(s); tokens: {result.input_tokens} in, {result.output_tokens} out; "
        f"tool outputs ≈{result.tool_output_tokens} tokens"
    )
