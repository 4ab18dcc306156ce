"""Database operations. Keyword-only; every query is scoped to `user_id`."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from app.models import (
    Conversation,
    Message,
    OpsAction,
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


# --- Ops actions -------------------------------------------------------------


class ActionNotFound(LookupError):
    def __init__(self, action_id: int) -> None:
        super().__init__(f"Action {action_id} not found")
        self.action_id = action_id


class ActionNotPending(RuntimeError):
    """Decided already, or expired: it can never run (again)."""

    def __init__(self, action: OpsAction, status: str) -> None:
        super().__init__(f"Action {action.id} is {status}")
        self.action = action
        self.status = status


def action_status(action: OpsAction, now: datetime | None = None) -> str:
    from app.models import as_utc

    if action.status == "pending" and as_utc(action.expires_at) <= (now or utcnow()):
        return "expired"
    return action.status


def add_reply(
    *, session: Session, user_id: str, conversation_id: int, text: str, tool_calls: list[dict[str, Any]], proposals: list[Any], ttl_seconds: float
) -> tuple[Message, list[OpsAction]]:
    """The assistant's reply and the writes it proposed, in one transaction; each proposing tool call gets the
    stored action's id ("action_id") in place of its index ("proposal")."""
    get_conversation(session=session, user_id=user_id, conversation_id=conversation_id)
    now = utcnow()
    actions = [
        OpsAction(
            conversation_id=conversation_id,
            user_id=user_id,
            tool=p.tool,
            arguments=p.arguments,
            preview=p.preview,
            hints=p.hints,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
        for p in proposals
    ]
    session.add_all(actions)
    session.flush()
    calls = []
    for call in tool_calls:
        call = dict(call)
        if "proposal" in call:
            call["action_id"] = actions[call.pop("proposal")].id
        calls.append(call)
    message = add_message(session=session, user_id=user_id, conversation_id=conversation_id, role="assistant", content=text, tool_calls=calls or None)
    for action in actions:
        session.refresh(action)
    return message, actions


def get_action(*, session: Session, user_id: str, action_id: int) -> OpsAction:
    action = session.exec(select(OpsAction).where(OpsAction.id == action_id, OpsAction.user_id == user_id)).first()
    if action is None:
        raise ActionNotFound(action_id)
    return action


def list_actions(*, session: Session, user_id: str, conversation_id: int) -> list[OpsAction]:
    statement = select(OpsAction).where(OpsAction.conversation_id == conversation_id, OpsAction.user_id == user_id)
    return list(session.exec(statement.order_by(col(OpsAction.id).asc())).all())


def claim_action(*, session: Session, user_id: str, action_id: int, decision: str) -> OpsAction:
    """Move a pending, unexpired action of this user to `decision` ("approved" or "denied") in one conditional
    UPDATE, so of any number of concurrent clicks (on any replica) exactly one wins."""
    now = utcnow()
    claimed = session.execute(
        update(OpsAction)
        .where(
            col(OpsAction.id) == action_id,
            col(OpsAction.user_id) == user_id,
            col(OpsAction.status) == "pending",
            col(OpsAction.expires_at) > now,
        )
        .values(status=decision, decided_at=now)
    )
    session.commit()
    action = get_action(session=session, user_id=user_id, action_id=action_id)
    session.refresh(action)
    if claimed.rowcount != 1:
        raise ActionNotPending(action, action_status(action, now))
    return action


def release_action(*, session: Session, action: OpsAction) -> None:
    """Back to pending: the approved call could not be started at all (its server was unreachable)."""
    session.execute(update(OpsAction).where(col(OpsAction.id) == action.id, col(OpsAction.status) == "approved").values(status="pending", decided_at=None))
    session.commit()


def finish_action(*, session: Session, action: OpsAction, ok: bool | None, result: Any, result_text: str) -> OpsAction:
    action.result_ok = ok
    action.result = result
    action.result_text = result_text
    session.add(action)
    session.commit()
    session.refresh(action)
    return action
