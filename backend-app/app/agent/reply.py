from dataclasses import dataclass, field
from typing import Any


@dataclass
class AgentReply:
    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


class AgentError(RuntimeError):
    """The agent could not produce a reply (model unreachable, tools unavailable). Safe to show."""
