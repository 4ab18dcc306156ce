"""Database operations. Keyword-only; every query is scoped to `user_id`."""

from sqlmodel import Session, col, select

from app.models import (
    Conversation,
    Message,
    Task,
    TaskCreate,
    TaskSort,
    TaskStatus,
    TaskUpdate,
    utcnow,
)


class TaskNotFound(LookupError):
    def __init__(self, task_id: int) -> None:
        super().__init__(f"Task {task_id} not found")
        self.task_id = task_id


def create_task(*, session: Session, user_id: str, task_in: TaskCreate) -> Task:
    task = Task(user_id=user_id, title=task_in.title, description=task_in.description)
    session.add(task)
    session.commit()
    session.refresh(task)
    return task


def list_tasks(
    *, session: Session, user_id: str, status: TaskStatus = "all", sort: TaskSort = "created_at", limit: int | None = None, offset: int = 0
) -> list[Task]:
    statement = select(Task).where(Task.user_id == user_id)
    if status == "pending":
        statement = statement.where(col(Task.completed).is_(False))
    elif status == "completed":
        statement = statement.where(col(Task.completed).is_(True))
    field = col(getattr(Task, sort.lstrip("-")))
    order = field.desc() if sort.startswith("-") else field.asc()
    # The id breaks ties so pages are stable.
    statement = statement.order_by(order, col(Task.id).asc()).offset(offset)
    if limit is not None:
        statement = statement.limit(limit)
    return list(session.exec(statement).all())


def get_task(*, session: Session, user_id: str, task_id: int) -> Task:
    task = session.exec(select(Task).where(Task.id == task_id, Task.user_id == user_id)).first()
    if task is None:
        raise TaskNotFound(task_id)
    return task


def update_task(*, session: Session, user_id: str, task_id: int, task_in: TaskUpdate) -> Task:
    task = get_task(session=session, user_id=user_id, task_id=task_id)
    changes = task_in.model_dump(exclude_unset=True)
    # A null description clears it; title and completed cannot be null.
    changes = {name: value for name, value in changes.items() if value is not None or name == "description"}
    for name, value in changes.items():
        setattr(task, name, value)
    task.updated_at = utcnow()
    session.add(task)
    session.commit()
    session.refresh(task)
    return task


def set_completed(*, session: Session, user_id: str, task_id: int, completed: bool = True) -> Task:
    return update_task(session=session, user_id=user_id, task_id=task_id, task_in=TaskUpdate(completed=completed))


def delete_task(*, session: Session, user_id: str, task_id: int) -> Task:
    task = get_task(session=session, user_id=user_id, task_id=task_id)
    session.delete(task)
    session.commit()
    return task


# --- Conversations ---------------------------------------------------------


class ConversationNotFound(LookupError):
    def __init__(self, conversation_id: int) -> None:
        super().__init__(f"Conversation {conversation_id} not found")
        self.conversation_id = conversation_id


def get_conversation(*, session: Session, user_id: str, conversation_id: int) -> Conversation:
    conversation = session.exec(select(Conversation).where(Conversation.id == conversation_id, Conversation.user_id == user_id)).first()
    if conversation is None:
        raise ConversationNotFound(conversation_id)
    return conversation


def get_or_create_conversation(*, session: Session, user_id: str, conversation_id: int | None) -> Conversation:
    if conversation_id is not None:
        return get_conversation(session=session, user_id=user_id, conversation_id=conversation_id)
    conversation = Conversation(user_id=user_id)
    session.add(conversation)
    session.commit()
    session.refresh(conversation)
    return conversation


def list_conversations(*, session: Session, user_id: str) -> list[Conversation]:
    statement = select(Conversation).where(Conversation.user_id == user_id).order_by(col(Conversation.updated_at).desc(), col(Conversation.id).desc())
    return list(session.exec(statement).all())


def list_messages(*, session: Session, user_id: str, conversation_id: int, last: int | None = None) -> list[Message]:
    statement = select(Message).where(Message.conversation_id == conversation_id, Message.user_id == user_id)
    if last is not None:
        newest = statement.order_by(col(Message.id).desc()).limit(last)
        return list(reversed(session.exec(newest).all()))
    return list(session.exec(statement.order_by(col(Message.id).asc())).all())


def add_message(*, session: Session, user_id: str, conversation_id: int, role: str, content: str, tool_calls: list[dict] | None = None) -> Message:
    message = Message(user_id=user_id, conversation_id=conversation_id, role=role, content=content, tool_calls=tool_calls)
    conversation = get_conversation(session=session, user_id=user_id, conversation_id=conversation_id)
    conversation.updated_at = utcnow()
    session.add(message)
    session.add(conversation)
    session.commit()
    session.refresh(message)
    return message
