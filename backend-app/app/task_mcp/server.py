"""The five task tools on the official MCP SDK.

Who the acting user is, in order:
1. over HTTP, the subject of the caller's verified bearer JWT (the SDK's auth middleware
   rejects requests without a valid one before any tool runs);
2. in process, the user the backend's chat agent set with `acting_user(...)`;
3. over stdio, the user given at start (`--user-id` / TASK_MCP_USER_ID), else the `user_id`
   argument: a stdio server is a local process that already holds the database credentials.
A `user_id` argument that names someone else than the acting user is refused.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Annotated, Literal

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from app import crud
from app.core.db import session_scope
from app.models import DESCRIPTION_MAX, TITLE_MAX, Task, TaskCreate, TaskUpdate, as_utc

_acting_user: ContextVar[str | None] = ContextVar("task_mcp_acting_user", default=None)

INSTRUCTIONS = (
    "Manage the signed-in user's todo list. Task ids are numbers shown by list_tasks. "
    'To act on a task named in words ("the meeting task"), call list_tasks first and use its id. '
    "Never invent a user_id: the server knows who the user is."
)

UserIdArg = Annotated[str | None, Field(description="Optional; the server takes the user from the caller's credentials. If given, it must be that user.")]
TaskIdArg = Annotated[int, Field(description="The task's id, as shown by list_tasks", ge=1)]


class TaskAction(BaseModel):
    task_id: int
    status: Literal["created", "completed", "deleted", "updated"]
    title: str


class TaskItem(BaseModel):
    id: int
    title: str
    description: str | None
    completed: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, task: Task) -> "TaskItem":
        return cls(
            id=task.id,
            title=task.title,
            description=task.description,
            completed=task.completed,
            created_at=as_utc(task.created_at),
            updated_at=as_utc(task.updated_at),
        )


@contextmanager
def acting_user(user_id: str) -> Iterator[None]:
    """Run an in-process MCP client session on behalf of `user_id`."""
    token = _acting_user.set(user_id)
    try:
        yield
    finally:
        _acting_user.reset(token)


def build_task_mcp(engine: Engine, *, stdio_user: str | None = None, trust_user_argument: bool = False, **server_options) -> MCPServer:
    """The task MCP server over `engine`. `server_options` go to MCPServer (auth, token_verifier)."""
    mcp = MCPServer("todo-tasks", instructions=INSTRUCTIONS, version="0.1.0", **server_options)

    def resolve_user(user_id: str | None) -> str:
        token = get_access_token()
        user = (token.subject if token is not None else None) or _acting_user.get() or stdio_user
        if user is None and trust_user_argument and user_id:
            user = user_id
        if user is None:
            raise ToolError("No acting user: call this server with a bearer token (HTTP) or start it with --user-id (stdio).")
        if user_id and user_id != user:
            raise ToolError("user_id does not match the authenticated user; omit user_id.")
        return user

    @contextmanager
    def database() -> Iterator:
        try:
            with session_scope(engine) as session:
                yield session
        except crud.TaskNotFound as exc:
            raise ToolError(f"{exc}. Call list_tasks to see the user's task ids.") from None
        except SQLAlchemyError as exc:
            raise ToolError(f"The task database is unavailable ({type(exc).__name__}); try again shortly.") from None

    @mcp.tool(annotations=ToolAnnotations(title="Add task", destructiveHint=False))
    def add_task(
        title: Annotated[str, Field(description="What to do", min_length=1, max_length=TITLE_MAX)],
        description: Annotated[str | None, Field(description="Optional details", max_length=DESCRIPTION_MAX)] = None,
        user_id: UserIdArg = None,
    ) -> TaskAction:
        """Create a task for the user."""
        user = resolve_user(user_id)
        title = title.strip()
        if not title:
            raise ToolError("title must not be blank")
        with database() as session:
            task = crud.create_task(session=session, user_id=user, task_in=TaskCreate(title=title, description=description))
        return TaskAction(task_id=task.id, status="created", title=task.title)

    @mcp.tool(annotations=ToolAnnotations(title="List tasks", readOnlyHint=True))
    def list_tasks(
        status: Annotated[Literal["all", "pending", "completed"], Field(description="Which tasks to list")] = "all",
        user_id: UserIdArg = None,
    ) -> list[TaskItem]:
        """List the user's tasks (oldest first), optionally only pending or completed ones."""
        user = resolve_user(user_id)
        with database() as session:
            return [TaskItem.of(task) for task in crud.list_tasks(session=session, user_id=user, status=status)]

    @mcp.tool(annotations=ToolAnnotations(title="Complete task", destructiveHint=False, idempotentHint=True))
    def complete_task(task_id: TaskIdArg, user_id: UserIdArg = None) -> TaskAction:
        """Mark one of the user's tasks as completed."""
        user = resolve_user(user_id)
        with database() as session:
            task = crud.set_completed(session=session, user_id=user, task_id=task_id)
        return TaskAction(task_id=task.id, status="completed", title=task.title)

    @mcp.tool(annotations=ToolAnnotations(title="Delete task", destructiveHint=True))
    def delete_task(task_id: TaskIdArg, user_id: UserIdArg = None) -> TaskAction:
        """Delete one of the user's tasks for good."""
        user = resolve_user(user_id)
        with database() as session:
            task = crud.delete_task(session=session, user_id=user, task_id=task_id)
        return TaskAction(task_id=task_id, status="deleted", title=task.title)

    @mcp.tool(annotations=ToolAnnotations(title="Update task", destructiveHint=False, idempotentHint=True))
    def update_task(
        task_id: TaskIdArg,
        title: Annotated[str | None, Field(description="New title", min_length=1, max_length=TITLE_MAX)] = None,
        description: Annotated[str | None, Field(description="New description", max_length=DESCRIPTION_MAX)] = None,
        user_id: UserIdArg = None,
    ) -> TaskAction:
        """Change a task's title and/or description."""
        user = resolve_user(user_id)
        if title is None and description is None:
            raise ToolError("Nothing to update: give a new title and/or description.")
        if title is not None and not title.strip():
            raise ToolError("title must not be blank")
        with database() as session:
            changes = {"title": title, "description": description}
            task = crud.update_task(session=session, user_id=user, task_id=task_id, task_in=TaskUpdate(**{k: v for k, v in changes.items() if v is not None}))
        return TaskAction(task_id=task.id, status="updated", title=task.title)

    return mcp
