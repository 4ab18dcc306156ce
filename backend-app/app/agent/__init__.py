"""The chat agent: one stateless run per request over MCP tool sources."""

from collections.abc import Sequence

from app.agent.llm import run_llm_agent, unavailable_note
from app.agent.offline import OfflineAgent
from app.agent.reply import AgentError, AgentReply
from app.agent.tools import Proposal, ToolBox, ToolOutcome, ToolSource, ToolUnavailable, http_tool_source, in_process_tool_source
from app.core.config import Settings

__all__ = [
    "AgentError",
    "AgentReply",
    "Proposal",
    "ToolOutcome",
    "ToolSource",
    "ToolUnavailable",
    "execute_approved",
    "http_tool_source",
    "in_process_tool_source",
    "run_agent",
]


async def execute_approved(*, sources: Sequence[ToolSource], tool: str, arguments: dict) -> ToolOutcome:
    """Run one write the admin approved: exactly this tool with exactly these arguments. Raises ToolUnavailable when
    the tool cannot be reached (nothing ran), so the approval can be tried again."""
    outcome: ToolOutcome | None = None
    async with ToolBox.open(sources) as toolbox:
        # Unless its source is unreachable, the server no longer lists it, or it is no longer a write: a stale
        # approval never runs as something else. (Raised outside the sessions, whose task groups would wrap it.)
        if toolbox.needs_approval(tool):
            outcome = await toolbox.call(tool, arguments, approved=True)
    if outcome is None:
        raise ToolUnavailable(f"The {tool} tool cannot be reached for approved changes right now; nothing was changed. Try again in a moment.")
    return outcome


async def run_agent(*, settings: Settings, sources: Sequence[ToolSource], history: list[tuple[str, str]], message: str) -> AgentReply:
    """Answer `message` using the tools of every source: with Claude when ANTHROPIC_API_KEY is set, else offline."""
    failure: AgentError | None = None
    try:
        async with ToolBox.open(sources) as toolbox:
            # Errors are carried out of the MCP sessions rather than raised through them: their task
            # groups would wrap the error in an ExceptionGroup.
            try:
                if settings.anthropic_api_key:
                    reply = await run_llm_agent(settings=settings, history=history, message=message, toolbox=toolbox)
                else:
                    reply = await OfflineAgent(toolbox).reply(message)
            except AgentError as exc:
                failure = exc
    except ToolUnavailable as exc:
        raise AgentError(str(exc)) from exc
    if failure is not None:
        raise failure
    if toolbox.unavailable:  # said in the reply too, whatever the model made of it
        reply.text = "\n\n".join([reply.text, *(unavailable_note(name) for name in toolbox.unavailable)])
    return reply
