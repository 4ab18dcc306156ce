from dataclasses import dataclass, field
from typing import Any


@dataclass
class AgentReply:
    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    # Writes the model asked for, not run (app.agent.tools.Proposal); tool_calls[i]["proposal"] is the index here.
    proposals: list[Any] = field(default_factory=list)


class AgentError(RuntimeError):
    """The agent could not produce a reply (model unreachable, tools unavailable). Safe to show."""
