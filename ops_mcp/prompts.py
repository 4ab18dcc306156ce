"""MCP prompts and resources (filled in with the toolsets)."""


def register(ops) -> None:
    return None
