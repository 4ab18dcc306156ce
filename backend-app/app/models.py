"""Tables and API schemas (Base / Create / Update / Public families, as in full-stack-fastapi-template)."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import StringConstraints, field_validator
from sqlalchemy import JSON, Boolean, Column, DateTime, ForeignKey, Integer, Text
from sqlmodel import Field, SQLModel

TITLE_MAX = 200
DESCRIPTION_MAX = 1000
MESSAGE_MAX = 4000

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=DESCRIPTION_MAX)]


def utcnow() -> datetime:
    return datetime.now(UTC)


def _timestamp_column(**kwargs: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=DateTime(timezone=True), nullable=False, **kwargs)


def as_utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything is stored in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# --- Tasks -----------------------------------------------------------------


class Task(SQLModel, table=True):
    __tablename__ = "tasks"

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(max_length=255, index=True)
    title: str = Field(max_length=TITLE_MAX)
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)
    completed: bool = Field(default=False, index=True)
    created_at: datetime = _timestamp_column()
    updated_at: datetime = _timestamp_column()


class TaskCreate(SQLModel):
    title: Title
    description: Description | None = None


class TaskUpdate(SQLModel):
    """PUT body: send the fields to change (at least one)."""

    title: Title | None = None
    description: Description | None = None
    completed: bool | None = None


class TaskPublic(SQLModel):
    id: int
    user_id: str
    title: str
    description: str | None
    completed: bool
    created_at: datetime
    updated_at: datetime

    _utc = field_validator("created_at", "updated_at")(as_utc)


TaskStatus = Literal["all", "pending", "completed"]
TaskSort = Literal["created_at", "-created_at", "updated_at", "-updated_at", "title", "-title", "id", "-id"]


# --- Conversations ---------------------------------------------------------


class Conversation(SQLModel, table=True):
    __tablename__ = "conversations"

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(max_length=255, index=True)
    created_at: datetime = _timestamp_column()
    updated_at: datetime = _timestamp_column()


class Message(SQLModel, table=True):
    __tablename__ = "messages"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(sa_column=Column(Integer, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False, index=True))
    user_id: str = Field(max_length=255, index=True)
    role: str = Field(max_length=16)  # "user" | "assistant"
    content: str = Field(sa_column=Column(Text, nullable=False))
    tool_calls: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = _timestamp_column()


class MessagePublic(SQLModel):
    id: int
    role: str
    content: str
    tool_calls: list[dict[str, Any]] | None
    created_at: datetime

    _utc = field_validator("created_at")(as_utc)


class ConversationPublic(SQLModel):
    id: int
    created_at: datetime
    updated_at: datetime

    _utc = field_validator("created_at", "updated_at")(as_utc)


# --- Ops actions: writes the chat agent proposed, waiting for the admin's decision ---------------------------

ActionStatus = Literal["pending", "approved", "denied", "expired"]


class OpsAction(SQLModel, table=True):
    """One proposed ops write: exactly the call that runs if its owner approves it (once, before expires_at)."""

    __tablename__ = "ops_actions"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(sa_column=Column(Integer, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False, index=True))
    user_id: str = Field(max_length=255, index=True)  # the admin it was proposed to: the only one who may decide
    tool: str = Field(max_length=128)
    arguments: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # exact, for the run; shown redacted
    preview: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # the dry run's text
    hints: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))  # the tool's annotations
    status: str = Field(default="pending", max_length=16)  # pending | approved | denied (expired: pending past expires_at)
    created_at: datetime = _timestamp_column()
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    decided_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True), nullable=True)
    result: Any | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    result_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    result_ok: bool | None = Field(default=None, sa_column=Column(Boolean, nullable=True))


class OpsActionPublic(SQLModel):
    id: int
    conversation_id: int
    tool: str
    arguments: dict[str, Any]  # redacted
    preview: str | None
    hints: dict[str, Any] | None
    status: ActionStatus
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    result: Any | None  # null while an approved action runs
    result_text: str | None
    result_ok: bool | None

    _utc = field_validator("created_at", "expires_at")(as_utc)

    @field_validator("decided_at")
    @classmethod
    def _utc_or_none(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)


class ConversationDetail(ConversationPublic):
    messages: list[MessagePublic]
    actions: list[OpsActionPublic] = []


class ChatRequest(SQLModel):
    conversation_id: int | None = None
    message: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MESSAGE_MAX)]


class ChatResponse(SQLModel):
    conversation_id: int
    response: str
    tool_calls: list[dict[str, Any]]
    # Writes proposed in this turn, waiting for the admin (a tool call with "action_id" refers to one).
    actions: list[OpsActionPublic] = []


class DecisionResponse(ChatResponse):
    """The decided action (with its real result when approved), and the model's answer to the decision."""

    action: OpsActionPublic
