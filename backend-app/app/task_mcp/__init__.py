"""The task MCP server: add_task, list_tasks, complete_task, delete_task, update_task."""

from app.task_mcp.server import acting_user, build_task_mcp

__all__ = ["acting_user", "build_task_mcp"]
