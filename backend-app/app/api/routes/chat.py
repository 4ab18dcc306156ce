"""POST /api/{user_id}/chat and the conversation history.

Stateless per request: the history comes from the database, the user's message is stored before
the agent runs and the reply after, so any replica (or a restarted one) can continue a conversation.
"""

import logging

from fastapi import APIRouter, HTTPException, Request, status
from starlette.concurrency import run_in_threadpool

from app import crud
from app.agent import AgentError, ToolSource, http_tool_source, in_process_tool_source, run_agent
from app.agent.ops import is_admin, ops_tool_source
from app.api.deps import BearerToken, CurrentUser, PrincipalDep, SessionDep
from app.core.db import session_scope
from app.core.security import Principal
from app.models import ChatRequest, ChatResponse, ConversationDetail, ConversationPublic, MessagePublic

router = APIRouter(prefix="/api/{user_id}", tags=["chat"])
log = logging.getLogger(__name__)


def tool_sources(request: Request, *, principal: Principal, token: str) -> list[ToolSource]:
    """The MCP servers the agent may use for this user: the task tools, and for admins the ops tools.

    The ops tools need the model (the offline mode does not understand ops requests), so they are only
    opened when ANTHROPIC_API_KEY is set.
    """
    settings = request.app.state.settings
    user_id = principal.user_id
    if settings.task_mcp_url:
        sources = [http_tool_source("task", settings.task_mcp_url, bearer_token=token)]
    else:
        sources = [in_process_tool_source("task", request.app.state.task_mcp, user_id=user_id)]
    if settings.ops_mcp_url and settings.anthropic_api_key and is_admin(principal, settings):
        sources.append(ops_tool_source(settings, user_id=user_id, user_token=token))
    return sources


def _start_turn(engine, *, user_id: str, conversation_id: int | None, message: str, history_limit: int):
    with session_scope(engine) as session:
        conversation = crud.get_or_create_conversation(session=session, user_id=user_id, conversation_id=conversation_id)
        history = crud.list_messages(session=session, user_id=user_id, conversation_id=conversation.id, last=history_limit) if history_limit else []
        crud.add_message(session=session, user_id=user_id, conversation_id=conversation.id, role="user", content=message)
    turns = [(m.role, m.content) for m in history if m.role in ("user", "assistant")]
    while turns and turns[0][0] != "user":  # the Messages API starts with a user turn
        turns.pop(0)
    return conversation.id, turns


def _finish_turn(engine, *, user_id: str, conversation_id: int, text: str, tool_calls: list[dict]) -> None:
    with session_scope(engine) as session:
        crud.add_message(session=session, user_id=user_id, conversation_id=conversation_id, role="assistant", content=text, tool_calls=tool_calls or None)


@router.post(
    "/chat",
    response_model=ChatResponse,
    summary="Talk to the todo assistant",
    responses={404: {"description": "Unknown conversation"}, 502: {"description": "AI model or tools failed"}},
)
async def chat(request: Request, user_id: CurrentUser, principal: PrincipalDep, token: BearerToken, body: ChatRequest) -> ChatResponse:
    settings = request.app.state.settings
    engine = request.app.state.engine
    try:
        conversation_id, history = await run_in_threadpool(
            _start_turn, engine, user_id=user_id, conversation_id=body.conversation_id, message=body.message, history_limit=settings.agent_history_messages
        )
    except crud.ConversationNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Conversation {exc.conversation_id} not found") from None

    try:
        reply = await run_agent(settings=settings, sources=tool_sources(request, principal=principal, token=token), history=history, message=body.message)
    except AgentError as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, str(exc)) from None

    await run_in_threadpool(_finish_turn, engine, user_id=user_id, conversation_id=conversation_id, text=reply.text, tool_calls=reply.tool_calls)
    log.info("chat turn", extra={"conversation_id": conversation_id, "tools": [call["tool"] for call in reply.tool_calls]})
    return ChatResponse(conversation_id=conversation_id, response=reply.text, tool_calls=reply.tool_calls)


@router.get("/conversations", response_model=list[ConversationPublic], summary="The user's conversations, newest first")
def list_conversations(session: SessionDep, user_id: CurrentUser):
    return crud.list_conversations(session=session, user_id=user_id)


@router.get("/conversations/{conversation_id}", response_model=ConversationDetail, responses={404: {"description": "Unknown conversation"}})
def get_conversation(session: SessionDep, user_id: CurrentUser, conversation_id: int):
    try:
        conversation = crud.get_conversation(session=session, user_id=user_id, conversation_id=conversation_id)
    except crud.ConversationNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Conversation {exc.conversation_id} not found") from None
    messages = crud.list_messages(session=session, user_id=user_id, conversation_id=conversation_id)
    return ConversationDetail(
        id=conversation.id,
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
        messages=[MessagePublic.model_validate(m, from_attributes=True) for m in messages],
    )
